"""Resolve the working directory and user in effect at every instruction.

WORKDIR paths chain (``WORKDIR /a``, ``b`` -> ``/a/b``) from the base image's WorkingDir (``/``
when it has none); relative COPY/ADD destinations are resolved against the WORKDIR, keeping the
"directory" meaning of a trailing ``/`` or ``.``. Apptainer resolves a relative ``%files``
destination against ``/``, which is the first hand fix HPC guides list for spython's output.
"""

import posixpath

from ..conversion import Context
from ..ir import Copy, Dockerfile, User, Workdir
from .scope import DEFERRED_OPEN, base_config


def normalize(path: str) -> str:
    if path == "/":  # every stage's start when the base image's WorkingDir is unknown
        return path
    if path.startswith(DEFERRED_OPEN):
        return posixpath.normpath(path)
    # One leading "/" in, one out (normpath keeps a leading "//", which POSIX leaves undefined)
    # (and normpath drops trailing ones)
    path = "/" + path.strip("/")
    if "//" in path or "/." in path:
        return posixpath.normpath(path)
    return path  # no empty, "." or ".." part to take out: normpath (a Python function) would return it as is


def is_absolute(path: str) -> bool:
    # A path that starts with a variable only the base image sets (its config unknown) is taken
    # as absolute: such variables hold absolute paths ($HOME, $CONDA_DIR) in practice (D2S002).
    return path.startswith(("/", DEFERRED_OPEN))


def resolve_against(workdir: str, path: str) -> str:
    """Resolve ``path`` like BuildKit: absolute as is, relative against ``workdir``.

    A trailing slash (or a final ``.``) means a directory and is kept as a trailing slash.
    """
    directory = path.endswith(("/", "/.", "/..")) or path == "." or path == ".."
    # is_absolute, else under the workdir: posixpath.join's path but for a "//" after a workdir "/",
    # which normalize takes out
    joined = path if path.startswith(("/", DEFERRED_OPEN)) else workdir + "/" + path
    resolved = normalize(joined)
    if directory and resolved != "/":
        resolved += "/"
    return resolved


def resolve_workdir(dockerfile: Dockerfile, ctx: Context) -> Dockerfile:
    for stage in dockerfile.stages:
        config = base_config(stage.base.image, ctx) or {}
        workdir = normalize(config.get("WorkingDir") or "/")
        user = config.get("User") or None
        for instruction in stage.instructions:
            kind = instruction.__class__  # the IR's instruction classes have no subclasses
            if kind is Copy:  # the most common of the three: tested first
                instruction.destination = resolve_against(workdir, instruction.destination)
            elif kind is Workdir:
                workdir = resolve_against(workdir, instruction.path).rstrip("/") or "/"
                instruction.path = workdir
            elif kind is User:
                user = instruction.user or None
            instruction.workdir = workdir
            instruction.user = user
    return dockerfile
