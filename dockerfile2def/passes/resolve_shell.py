"""Record the shell in effect for every shell-form RUN, CMD, ENTRYPOINT and HEALTHCHECK.

SHELL replaces the shell for the instructions after it; the default is ``/bin/sh -c`` (or the
base image's Shell, which the Docker image format records).
"""

from ..conversion import Context
from ..ir import Dockerfile, Shell
from .scope import base_config

DEFAULT_SHELL = ["/bin/sh", "-c"]


def resolve_shell(dockerfile: Dockerfile, ctx: Context) -> Dockerfile:
    for stage in dockerfile.stages:
        config = base_config(stage.base.image, ctx) or {}
        shell = list(config.get("Shell") or DEFAULT_SHELL)
        for instruction in stage.instructions:
            if instruction.__class__ is Shell:  # the IR's instruction classes have no subclasses
                shell = list(instruction.argv)
            # One list for the instructions a SHELL governs, not a copy each: later passes and
            # the emitter only read it.
            instruction.shell = shell
    return dockerfile
