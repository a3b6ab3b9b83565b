"""Give every RUN the exact command BuildKit runs: heredocs rebuilt, --mount and --network weighed.

Heredocs (spec-digest A.4): ``RUN <<EOF`` alone runs the body as the shell command, or, when
the body starts with ``#!``, writes it to a file (0755) and runs that; any other heredoc RUN
passes the line plus ``"\\n" + body + name`` for each heredoc to the shell, a real shell heredoc.
"""

import re

from ..conversion import Context
from ..ir import Dockerfile, Mount, Run, ShellForm
from .resolve_workdir import resolve_against

PIPES = "/.d2s/pipes"
_SINGLE_HEREDOC = re.compile(r"^\s*\d*<<-?\s*(\S+)\s*$")


def translate_run(dockerfile: Dockerfile, ctx: Context) -> Dockerfile:
    for stage in dockerfile.stages:
        for instruction in stage.instructions:
            if instruction.__class__ is Run:  # the IR's instruction classes have no subclasses
                if instruction.heredocs:  # most RUNs have none: no call
                    _heredocs(instruction)
                if instruction.flags:  # --mount, --network, --security: most RUNs have no flag
                    _mounts(instruction, ctx)
                    _network(instruction, ctx)
    return dockerfile


def _chomp(body: str) -> str:
    return "".join(line.lstrip("\t") for line in body.splitlines(True))


def _heredocs(run: Run) -> None:
    if not run.heredocs or not isinstance(run.command, ShellForm):
        return
    text = run.command.text
    if len(run.heredocs) == 1 and _SINGLE_HEREDOC.match(text):
        heredoc = run.heredocs[0]
        body = _chomp(heredoc.body) if heredoc.chomp else heredoc.body
        if body.startswith("#!"):
            path = "%s/%s" % (PIPES, heredoc.name.replace("/", "_"))
            run.files.append((path, body, "0755"))
            run.command = ShellForm(path)
        else:
            run.command = ShellForm(body)
        return
    for heredoc in run.heredocs:
        text += "\n" + heredoc.body + heredoc.name
    run.command = ShellForm(text)


def _mounts(run: Run, ctx: Context) -> None:
    """RUN --mount: the target holds the mounted files (or an empty folder) during this RUN only.

    Bind mounts are staged copies (writes are discarded afterwards, read-only is not enforced);
    cache and tmpfs mounts are empty folders, so the image ends as Docker's does (only the cache
    is lost between builds); secrets and SSH agents cannot be provided.
    """
    for value in run.flag_values("mount"):
        options = {}
        for field in value.split(","):
            key, _, val = field.partition("=")
            options[key.strip().lower()] = val
        kind = options.get("type", "bind")
        target = options.get("target") or options.get("dst") or options.get("destination") or ""
        if kind == "secret" and not target:
            target = "/run/secrets/" + (options.get("id") or "")
        where = (resolve_against(run.workdir or "/", target) if target else "").rstrip("/") or "/"
        if kind in ("bind", "cache", "tmpfs"):
            run.mounts.append(Mount(kind, where, options))
        if kind == "cache":
            ctx.warn("D2S010", f"RUN --mount={value}: {where} is an empty folder during this RUN; nothing is "
                     "cached between builds", run.span.line, run.span.column)
        elif kind == "bind":
            ctx.warn("D2S010", f"RUN --mount={value}: {where} holds a copy of the files during this RUN "
                     "(read-only is not enforced; writes are discarded)", run.span.line, run.span.column)
        elif kind == "secret":
            ctx.warn("D2S010", f"RUN --mount={value}: the secret is not available in %post; bind it with "
                     f"'apptainer build --bind FILE:{where}' (the folder must exist)",
                     run.span.line, run.span.column)
        elif kind == "ssh":
            ctx.warn("D2S010", f"RUN --mount={value}: no SSH agent is available in %post",
                     run.span.line, run.span.column)
        elif kind != "tmpfs":
            raise ctx.error("unsupported mount type %r" % kind, run.span.line, run.span.column)


def _network(run: Run, ctx: Context) -> None:
    network = run.flag("network")
    if network is not None and (network.value or "") == "none":
        ctx.warn("D2S011", "RUN --network=none: %post runs with the host network", run.span.line, run.span.column)
    security = run.flag("security")
    if security is not None and (security.value or "") == "insecure":
        ctx.warn("D2S011", "RUN --security=insecure: %post runs with the build's fakeroot privileges",
                 run.span.line, run.span.column)
