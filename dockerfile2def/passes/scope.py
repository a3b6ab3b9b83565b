"""Variable scope of a stage while the builder expands words, and the base image's config."""

import re
from typing import Dict, List, Optional, Tuple

from ..conversion import Context

# A reference to a variable only the base image can know, kept for the shell to resolve. NUL
# brackets it: no Dockerfile text or build argument can hold a NUL (both are refused), so a
# marker is never confused with a value.
# A marker may carry a POSIX modifier with a plain word (``${NAME:-/usr}``, ``${PATH:+${PATH}:}``,
# ``${V%.*}``): see expand.py, which makes them.
DEFERRED_OPEN = "\0"
DEFERRED_CLOSE = "\0"
DEFERRED = re.compile(DEFERRED_OPEN + r"([A-Za-z_][A-Za-z0-9_]*)((?::?[-+]|##?|%%?)[^\0]*)?" + DEFERRED_CLOSE)


def is_shell_name(name: str) -> bool:
    """A name the shell can export and read (``[A-Za-z_][A-Za-z0-9_]*``: an ASCII identifier)."""
    return name.isascii() and name.isidentifier()


def deferred_pieces(value: str) -> List[Tuple[bool, str]]:
    """``value`` cut at its markers: (False, text) for literal text, (True, "NAME<modifier>") for a
    marker, which the writer turns into the ``${NAME<modifier>}`` its context needs."""
    # One C call: DEFERRED.split gives the text before the first marker, then each marker's name and
    # modifier (or None) and the text after it.
    pieces = DEFERRED.split(value)
    out = [(False, pieces[0])] if pieces[0] else []
    for index in range(1, len(pieces), 3):
        name, modifier, text = pieces[index:index + 3]
        out.append((True, name + modifier if modifier else name))
        if text:
            out.append((False, text))
    return out


def show_deferred(text: str) -> str:
    """``text`` with markers written as the shell references they stand for (``${NAME...}``)."""
    return DEFERRED.sub(lambda m: "${%s%s}" % (m.group(1), m.group(2) or ""), text) if DEFERRED_OPEN in text else text


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


class Scope:
    """ARGs and ENV in effect while a stage's instructions are expanded, in order.

    Expansion reads the scope in place through :meth:`get`. Changes an ARG or ENV makes wait in
    ``pending`` until :meth:`end_instruction`, so every substitution of one instruction sees the
    values from before it (``ENV A=1 B=$A`` gives B the old A), without copying the scope per
    instruction (a copy per ARG or ENV made long Dockerfiles quadratic).

    With the base config unknown, a name the Dockerfile never set may still be set by the base
    image: it expands to a marker that the emitter turns back into a shell reference.
    """

    def __init__(self, config: Optional[dict]):
        self.deferred = config is None
        self.env = config_env(config)  # ENV, base image first
        self.args = {}  # ARGs in scope with a value
        self.pending = []  # (is_env, name, value) of the current instruction
        # Variables of the current instruction whose modifier could not be kept for the shell
        # (expand.py): expanded as unset, and reported (D2S025).
        self.approximated = []

    def declare_arg(self, name: str, value: Optional[str]) -> None:
        self.pending.append((False, name, value))

    def set_env(self, name: str, value: str) -> None:
        self.pending.append((True, name, value))

    def end_instruction(self) -> None:
        for is_env, name, value in self.pending:
            if is_env:
                self.env[name] = value
            elif value is None:
                self.args.pop(name, None)
            else:
                self.args[name] = value
        self.pending.clear()

    def get(self, key: str, default=None):
        """The value an expansion sees: ENV overrides an ARG of the same name."""
        value = self.env.get(key)
        if value is None:
            value = self.args.get(key)
        if value is None:
            if self.deferred and key.isascii() and key.isidentifier():  # is_shell_name, without a call
                return DEFERRED_OPEN + key + DEFERRED_CLOSE
            return default
        return value


def has_deferred(value: str) -> bool:
    return DEFERRED_OPEN in value
