"""Record what Apptainer has no equivalent for, and say so at the line.

EXPOSE, VOLUME, HEALTHCHECK, STOPSIGNAL and ONBUILD become ``org.d2s.*`` labels of the final
image (never %test: a HEALTHCHECK needs the running service); FROM --platform, USER and a
non-POSIX SHELL get a warning. Nothing is dropped silently.
"""

import json

from ..conversion import Context
from ..ir import Dockerfile, ExecForm, Expose, Healthcheck, Onbuild, Run, Shell, StopSignal, User, Volume

POSIX_SHELLS = ("sh", "bash", "dash", "ash", "ksh", "zsh", "busybox")
# The instructions this pass has something to say about (by exact class: the IR's have no subclasses).
_RECORDED = frozenset((Run, Expose, Volume, Healthcheck, StopSignal, Onbuild, Shell))


def _command_text(command) -> str:
    if command is None:
        return ""
    if isinstance(command, ExecForm):
        return json.dumps(command.argv)
    return command.text


def record_metadata(dockerfile: Dockerfile, ctx: Context) -> Dockerfile:
    final = dockerfile.stages[-1]
    for stage in dockerfile.stages:
        labels = {}
        warned_user = False
        if stage.base.platform:
            ctx.warn("D2S009", f"FROM --platform={stage.base.platform}: build on a {stage.base.platform} machine or "
                     "pass --arch to apptainer build", stage.base.span.line, stage.base.span.column)
        for instruction in stage.instructions:
            kind = instruction.__class__
            if kind not in _RECORDED:
                continue  # ENV, COPY, ARG, ...: nothing to record
            if kind is Run:  # the most common: tested first, and most have no USER to look at
                if not warned_user and instruction.user and _non_root(instruction.user) and ":" in instruction.user:
                    warned_user = True
                    ctx.warn("D2S018", "RUN after USER %s runs as %s through su, with that user's groups, not group %s"
                             % (instruction.user, instruction.user.split(":")[0], instruction.user.split(":", 1)[1]),
                             instruction.span.line, instruction.span.column)
                continue
            line, column = instruction.span.line, instruction.span.column
            if kind is Expose:
                labels["org.d2s.expose"] = " ".join(instruction.ports)
                ctx.warn("D2S004", f"EXPOSE {labels['org.d2s.expose']}: Apptainer shares the host network; ports "
                         "are not published", line, column)
            elif kind is Volume:
                labels["org.d2s.volume"] = " ".join(instruction.paths)
                ctx.warn("D2S005", f"VOLUME {labels['org.d2s.volume']}: no volume is created; bind a host folder "
                         "with --bind", line, column)
            elif kind is Healthcheck:
                labels["org.d2s.healthcheck"] = (
                    "NONE" if instruction.kind == "NONE" else _command_text(instruction.command))
                ctx.warn("D2S006", "HEALTHCHECK is recorded as a label; Apptainer does not run health checks",
                         line, column)
            elif kind is StopSignal:
                labels["org.d2s.stopsignal"] = instruction.signal
                ctx.warn("D2S007", f"STOPSIGNAL {instruction.signal}: use 'apptainer instance stop --signal "
                         f"{instruction.signal}'", line, column)
            elif kind is Onbuild:
                trigger = instruction.original.split(None, 1)[1] if " " in instruction.original else ""
                previous = labels.get("org.d2s.onbuild")
                labels["org.d2s.onbuild"] = trigger if not previous else previous + "\n" + trigger
                ctx.warn("D2S008", "ONBUILD is recorded as a label; images built from this one do not run it",
                         line, column)
            elif kind is Shell:
                program = (instruction.argv[0] if instruction.argv else "").rsplit("/", 1)[-1]
                if program not in POSIX_SHELLS:
                    ctx.warn("D2S022", "SHELL %s is not a POSIX shell; RUN lines are passed to it as in Docker"
                             % json.dumps(instruction.argv), line, column)
        if stage is final:
            runtime = stage.runtime
            if runtime is not None:
                for key, value in labels.items():
                    runtime.labels.append((key, value))
                if _non_root(runtime.user):
                    where = _last_user(stage)
                    ctx.warn("D2S003", f"USER {runtime.user}: Apptainer runs the container as the calling user",
                             where.span.line if where else stage.base.span.line,
                             where.span.column if where else stage.base.span.column)
    return dockerfile


def _non_root(user) -> bool:
    return bool(user) and user.split(":")[0] not in ("root", "0")


def _last_user(stage):
    found = None
    for instruction in stage.instructions:
        if isinstance(instruction, User):
            found = instruction
    return found
