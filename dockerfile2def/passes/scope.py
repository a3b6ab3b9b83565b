"""Variable scope of a stage while the builder expands words, and the base image's config."""

import re
from typing import Dict, Optional

from ..conversion import Context

# A reference to a variable only the base image can know, kept for the shell to resolve.
DEFERRED_OPEN = "\ue000"
DEFERRED_CLOSE = "\ue001"
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
DEFERRED = re.compile(DEFERRED_OPEN + "([A-Za-z_][A-Za-z0-9_]*)" + DEFERRED_CLOSE)


def base_config(image: str, ctx: Context) -> Optional[dict]:
    """The base image's config (``{"Env": [...], "WorkingDir": ..., ...}``), or None when unknown."""
    if image == "scratch":
        return {}
    if "{{" in image:  # a template variable: only the build knows the image
        return None
    if image not in ctx.base_configs and ctx.config_loader is not None:
        ctx.base_configs[image] = ctx.config_loader(image)
    return ctx.base_configs.get(image)


def config_env(config: Optional[dict]) -> Dict[str, str]:
    env = {}
    for entry in (config or {}).get("Env") or []:
        key, _, value = entry.partition("=")
        env[key] = value
    return env


class Lookup(dict):
    """The environment one instruction's expansion sees.

    With the base config unknown, a name the Dockerfile never set may still be set by the base
    image: it expands to a marker that the emitter turns back into a shell reference.
    """

    deferred = False

    def __missing__(self, key):
        if self.deferred and _NAME.match(key):
            return DEFERRED_OPEN + key + DEFERRED_CLOSE
        raise KeyError(key)

    def __contains__(self, key):
        return dict.__contains__(self, key) or bool(self.deferred and _NAME.match(key))

    def get(self, key, default=None):
        try:
            return self[key]
        except KeyError:
            return default


class Scope:
    """ARGs and ENV in effect while a stage's instructions are expanded, in order."""

    def __init__(self, config: Optional[dict]):
        self.known_base = config is not None
        self.env = config_env(config)  # ENV, base image first
        self.args = {}  # ARGs in scope with a value
        # What expansion sees: the ARGs overlaid by ENV, updated in place as they change. (A copy
        # per ARG or ENV instruction made long Dockerfiles quadratic: 10 MB took minutes.)
        self.view = Lookup(self.env)
        self.view.deferred = not self.known_base

    def declare_arg(self, name: str, value: Optional[str]) -> None:
        if value is None:
            self.args.pop(name, None)
        else:
            self.args[name] = value
        if name not in self.env:  # ENV overrides an ARG of the same name
            if value is None:
                self.view.pop(name, None)
            else:
                self.view[name] = value

    def set_env(self, name: str, value: str) -> None:
        self.env[name] = value
        self.view[name] = value


def has_deferred(value: str) -> bool:
    return DEFERRED_OPEN in value
