"""Work out what each stage's image does when run: Docker's ENTRYPOINT x CMD table, WORKDIR, USER, ENV.

The base image's ENTRYPOINT and CMD are inherited; setting ENTRYPOINT resets an inherited CMD
unless CMD was set earlier in the same stage. Shell forms are frozen with the shell in effect at
that instruction (``[SHELL..., "text"]``), exactly as Docker bakes them into the image config.
"""

from ..conversion import Context
from ..ir import Cmd, Command, Dockerfile, Entrypoint, Env, ExecForm, Label, Maintainer, Runtime, ShellForm
from .scope import base_config, config_env


# The instructions that change what the image does when run (by exact class: the IR's have no
# subclasses); WORKDIR and USER come from resolve_workdir.
_RUNTIME_KINDS = frozenset((Entrypoint, Cmd, Env, Label, Maintainer))


def frozen(command: Command, shell) -> ExecForm:
    if isinstance(command, ShellForm):
        return ExecForm(list(shell) + [command.text])
    return ExecForm(list(command.argv))


def resolve_runtime(dockerfile: Dockerfile, ctx: Context) -> Dockerfile:
    warned = set()
    for stage in dockerfile.stages:
        config = base_config(stage.base.image, ctx)
        known = config is not None
        if not known and stage.base.image not in warned:
            warned.add(stage.base.image)
            ctx.warn(
                "D2S002",
                f"base image {stage.base.image}: its config could not be read (offline, or registry unreachable); "
                "WORKDIR is taken as /, its ENV and ENTRYPOINT/CMD are resolved inside the image",
                stage.base.span.line,
                stage.base.span.column,
            )
        config = config or {}
        entrypoint, cmd = config.get("Entrypoint"), config.get("Cmd")
        # (entrypoint, cmd, workdir, user: by position, cheaper than by keyword)
        runtime = Runtime(None if entrypoint is None else ExecForm(list(entrypoint)),
                          None if cmd is None else ExecForm(list(cmd)),
                          config.get("WorkingDir") or "/", config.get("User") or None)
        env = config_env(config)
        labels = {}
        cmd_set_here = False
        segment = None
        replayed = bool(stage.ancestry)
        for instruction in stage.instructions:
            kind = instruction.__class__
            if kind not in _RUNTIME_KINDS:
                continue  # RUN, COPY, ...: the image config does not record them
            if replayed:
                # Instructions replayed from parent stages: "the same stage" is the one they came from.
                here = _segment(stage, instruction.span.line)
                if here != segment:
                    segment, cmd_set_here = here, False
            if kind is Env:  # the commonest of the five: tested first
                for pair in instruction.pairs:
                    env.pop(pair.key, None)
                    env[pair.key] = pair.value
            elif kind is Entrypoint:
                command = instruction.command
                empty = isinstance(command, ExecForm) and not command.argv
                runtime.entrypoint = None if empty else frozen(command, instruction.shell)
                if not cmd_set_here:
                    runtime.cmd = None
            elif kind is Cmd:
                runtime.cmd = frozen(instruction.command, instruction.shell)
                cmd_set_here = True
            elif kind is Label:
                for pair in instruction.pairs:
                    key = _label_key(pair.key, instruction, ctx)
                    if "\n" in pair.value:
                        ctx.warn("D2S019", "label %s: its value has several lines; they are joined with \\n"
                                 % key, instruction.span.line, instruction.span.column)
                    labels.pop(key, None)
                    labels[key] = pair.value
            elif kind is Maintainer:
                labels["org.opencontainers.image.authors"] = instruction.name
        if stage.instructions:  # WORKDIR and USER in effect after the last one (resolve_workdir set them)
            last = stage.instructions[-1]
            runtime.workdir = last.workdir or runtime.workdir
            runtime.user = last.user
        runtime.env = list(env.items())
        runtime.labels = list(labels.items())
        runtime.inherits_runscript = not known and runtime.entrypoint is None and runtime.cmd is None
        runtime.base_known = known
        stage.runtime = runtime
    return dockerfile


def _label_key(key: str, instruction, ctx: Context) -> str:
    if key.split() != [key]:  # empty, or blanks in it
        fixed = "_".join(key.split()) or "_"
        ctx.warn("D2S019", "label key %r has spaces, which Apptainer labels cannot; written as %r" % (key, fixed),
                 instruction.span.line, instruction.span.column)
        return fixed
    return key


def _segment(stage, line: int) -> int:
    """The FROM line of the stage (in a FROM <stage> chain) that an instruction line belongs to."""
    owner = stage.base.span.line
    for start in reversed(stage.ancestry):
        if line < owner:
            owner = start
    return owner
