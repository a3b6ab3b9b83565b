"""Expand variables where the builder does, with BuildKit's scoping rules.

Builder-side expansion (ENV, LABEL, ARG, WORKDIR, USER, COPY/ADD paths and --chown/--chmod,
EXPOSE, VOLUME, STOPSIGNAL, COPY heredoc bodies with an unquoted delimiter) happens here, at
conversion time, so the definition file holds literal values. RUN, CMD, ENTRYPOINT, SHELL and
HEALTHCHECK are left to the shell, as in Docker.

Scope: stage ARGs from their line on (an ARG with no default inherits a global ARG's value), ENV
overriding an ARG of the same name, all substitutions of one instruction using the values from
before it. Variables of the base image's ENV are known when its config is; otherwise a reference
to a variable the Dockerfile never set is kept as a shell reference for the image to resolve
(see scope.py).
"""

from ..conversion import Context
from ..ir import (
    Arg,
    Copy,
    Dockerfile,
    Env,
    Expose,
    Label,
    Maintainer,
    Run,
    Stage,
    StopSignal,
    User,
    Volume,
    Workdir,
)
from .expansion import expand_word, expand_words
from .scope import Scope, base_config

# Usable without declaration (and left out of the image), when given as --build-arg.
PROXY_ARGS = ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY", "ftp_proxy",
              "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy")


def expand_variables(dockerfile: Dockerfile, ctx: Context) -> Dockerfile:
    for stage in dockerfile.stages:
        _expand_stage(dockerfile, stage, ctx)
    return dockerfile


def _expand_stage(dockerfile: Dockerfile, stage: Stage, ctx: Context) -> None:
    config = base_config(stage.base.image, ctx)
    scope = Scope(config)
    for name in PROXY_ARGS:
        if name in ctx.build_args:
            scope.declare_arg(name, ctx.build_args[name])
    # Every word of an instruction sees the scope from before it: the ARG and ENV changes it makes
    # wait in ``changes`` until it is done, so the one live view serves every instruction.
    before = scope.view
    for instruction in stage.instructions:
        changes = []

        def word(raw):
            return expand_word(raw, before, dockerfile, instruction, ctx)

        if isinstance(instruction, Arg):
            for declaration in instruction.declarations:
                name = word(declaration.name)
                declaration.name = name
                if name in ctx.build_args:
                    declaration.value = ctx.build_args[name]
                elif declaration.default is not None:
                    declaration.value = word(declaration.default)
                elif name in dockerfile.global_scope:
                    declaration.value = dockerfile.global_scope[name]
                else:
                    declaration.value = None
                changes.append((scope.declare_arg, name, declaration.value))
        elif isinstance(instruction, Env):
            for pair in instruction.pairs:
                pair.key = word(pair.key)
                pair.value = word(pair.value)
                changes.append((scope.set_env, pair.key, pair.value))
        elif isinstance(instruction, Label):
            for pair in instruction.pairs:
                pair.key = word(pair.key)
                pair.value = word(pair.value)
        elif isinstance(instruction, Workdir):
            instruction.path = word(instruction.path)
        elif isinstance(instruction, User):
            instruction.user = word(instruction.user)
        elif isinstance(instruction, StopSignal):
            instruction.signal = word(instruction.signal)
        elif isinstance(instruction, Maintainer):
            pass  # not expanded by the builder
        elif isinstance(instruction, Expose):
            ports = []
            for port in instruction.ports:
                ports.extend(expand_words(port, before, dockerfile, instruction, ctx))
            instruction.ports = ports
        elif isinstance(instruction, Volume):
            instruction.paths = [word(p).strip() for p in instruction.paths]
            for path in instruction.paths:
                if not path:
                    raise ctx.error("VOLUME specified can not be an empty string", instruction.span.line,
                                    instruction.span.column)
        elif isinstance(instruction, Copy):
            heredoc_names = {h.name for h in instruction.heredocs}
            instruction.sources = [
                s if _is_heredoc_word(s, heredoc_names) else word(s) for s in instruction.sources
            ]
            instruction.destination = word(instruction.destination)
            for flag in instruction.flags:
                if flag.name in ("chown", "chmod", "checksum", "exclude") and flag.value is not None:
                    flag.value = word(flag.value)
            for heredoc in instruction.heredocs:
                if heredoc.expand:
                    heredoc.body = _expand_body(heredoc.body, before, dockerfile, instruction, ctx)
        elif isinstance(instruction, Run):
            for flag in instruction.flags:
                if flag.name == "mount" and flag.value:
                    flag.value = _expand_mount(flag.value, word)
        for change, name, value in changes:
            change(name, value)


def _expand_mount(value: str, word) -> str:
    """Mount options are expanded, except ``from`` (BuildKit refuses variables there)."""
    fields = []
    for field in value.split(","):
        key, sep, val = field.partition("=")
        if sep and key.strip().lower() != "from":
            val = word(val)
        fields.append(key + sep + val)
    return ",".join(fields)


def _is_heredoc_word(source: str, names) -> bool:
    return source.startswith("<<") or any(source.endswith("<<" + n) for n in names)


def _expand_body(body: str, env, dockerfile, instruction, ctx) -> str:
    from ..expand import ExpansionError, process_word_keep_quotes

    try:
        return process_word_keep_quotes(body, env, dockerfile.escape)
    except ExpansionError as err:
        raise ctx.error("%s (in a heredoc)" % err, instruction.span.line, instruction.span.column)
