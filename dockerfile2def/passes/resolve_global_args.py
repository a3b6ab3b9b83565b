"""Resolve the global ARGs (before the first FROM) and expand FROM lines with them.

BuildKit expands FROM's image and --platform with the global ARGs only (plus the automatic
platform ARGs); a --build-arg overrides a default. Stage-level ARGs are handled later.
"""

import functools
import os
import re
from typing import Dict

from ..conversion import Context
from ..ir import Dockerfile
from .expansion import expand_word

# Characters no image reference (or stage name) has: Docker refuses them.
_NOT_IN_REFERENCE = re.compile(r"[^A-Za-z0-9._:/@-]")
_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64", "ppc64le": "ppc64le",
         "s390x": "s390x", "armv7l": "arm", "riscv64": "riscv64"}


def _machine() -> str:
    """platform.machine(): os.uname()'s on POSIX, without importing platform at every start-up."""
    if hasattr(os, "uname"):
        return os.uname().machine
    import platform

    return platform.machine()


def platform_args() -> dict:
    """The automatic platform ARGs, for a build on this machine (Apptainer builds natively)."""
    return _platform_values().copy()  # (a dict's copy costs less than a dict made from pairs)


@functools.lru_cache(maxsize=None)  # the machine's: worked out once per process, as platform.machine() is
def _platform_values() -> Dict[str, str]:
    """The values platform_args copies (this dict is never handed out)."""
    machine = _machine().lower()
    arch = _ARCH.get(machine, machine)
    variant = "v7" if arch == "arm" else ""
    plat = "linux/%s%s" % (arch, "/" + variant if variant else "")
    values = {}
    for prefix in ("TARGET", "BUILD"):
        values[prefix + "PLATFORM"] = plat
        values[prefix + "OS"] = "linux"
        values[prefix + "ARCH"] = arch
        values[prefix + "VARIANT"] = variant
    return values


def resolve_global_args(dockerfile: Dockerfile, ctx: Context) -> Dockerfile:
    scope = platform_args()  # a new dict, ours to change
    for arg in dockerfile.global_args:
        # All substitutions of one instruction use the values from before it.
        before = dict(scope)
        for declaration in arg.declarations:
            name = expand_word(declaration.name, before, dockerfile, arg, ctx)
            declaration.name = name
            if name in ctx.build_args:
                declaration.value = ctx.build_args[name]
            elif declaration.default is not None:
                declaration.value = expand_word(declaration.default, before, dockerfile, arg, ctx)
            else:
                declaration.value = None
            if declaration.value is not None:
                scope[name] = declaration.value
            else:
                scope.pop(name, None)
    dockerfile.global_scope = scope
    # (most Dockerfiles have no global ARG: no comprehension to run)
    unset = [d.name for arg in dockerfile.global_args for d in arg.declarations if d.value is None] \
        if dockerfile.global_args else None
    for stage in dockerfile.stages:
        base = stage.base
        image = expand_word(base.image, scope, dockerfile, base, ctx)
        needed = []  # unset ARGs the image names ("$" tested first: most images name no variable)
        if unset and "$" in base.image:
            # (the substring test spares a pattern made and compiled per name the image does not hold)
            needed = [name for name in unset
                      if name in base.image and re.search(r"\$\{?%s\b" % re.escape(name), base.image)]
        if needed and (not image or image.startswith((":", "/", "@")) or image.endswith((":", "/", "@"))
                       or "//" in image or ":@" in image):
            # Docker needs --build-arg here too; Apptainer takes it at build time as a template variable.
            template = dict(scope)
            template.update({name: "{{ %s }}" % name for name in needed})
            image = expand_word(base.image, template, dockerfile, base, ctx)
            ctx.warn("D2S024", "the base image needs ARG %s, which has no value: pass it to apptainer build "
                     "(--build-arg %s=...) or to d2s convert" % (", ".join(needed), needed[0] + ""),
                     base.span.line, base.span.column)
        if not image:
            raise ctx.error("base name (%s) should not be blank" % base.image, base.span.line, base.span.column)
        if _NOT_IN_REFERENCE.search(re.sub(r"\{\{ \w+ \}\}", "", image) if needed else image):
            # Docker refuses it; in the From: header a space, # or newline would cut or add header lines.
            raise ctx.error("invalid reference format: %r" % image, base.span.line, base.span.column)
        base.image = image
        if base.platform is not None:
            base.platform = expand_word(base.platform, scope, dockerfile, base, ctx)
    return dockerfile
