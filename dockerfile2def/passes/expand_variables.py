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
    Run,
    Stage,
    StopSignal,
    User,
    Volume,
    Workdir,
)
from ..expand import ExpansionError, process_word
from .expansion import expand_words, expansion_error
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
    if ctx.build_args:  # most conversions have none
        for name in PROXY_ARGS:
            if name in ctx.build_args:
                scope.args[name] = ctx.build_args[name]
    escape = dockerfile.escape
    instruction = None

    def word(raw):
        # Made once per stage: ``instruction`` is the loop's below, where errors are placed. ``scope``
        # is read in place: ARG and ENV changes apply after the instruction. What expand_word does,
        # with no call for the words with nothing to expand (most words).
        if "$" not in raw and "'" not in raw and '"' not in raw and escape not in raw:
            return raw  # what process_word would return
        try:
            return process_word(raw, scope, escape)
        except ExpansionError as err:
            raise expansion_error(err, raw, instruction, ctx)

    for instruction in stage.instructions:
        expand = _EXPANDERS.get(instruction.__class__)
        if expand is None or (expand is _run and not instruction.flags):
            continue  # CMD, ENTRYPOINT, SHELL, a RUN without --mount... : left to the shell, the scope unchanged
        expand(instruction, word, scope, dockerfile, ctx)
        if scope.approximated:
            ctx.warn("D2S025", "%s: only the base image sets %s, and d2s could not read its config: a "
                     "substitution with no POSIX shell form is made as if unset" % (instruction.keyword, ", ".join(scope.approximated)),
                     instruction.span.line, instruction.span.column)
            scope.approximated.clear()
        if scope.pending:  # only ARG and ENV change the scope
            scope.end_instruction()


# One function per kind of instruction the builder expands, each given the instruction, ``word``
# (expands one word in the scope from before the instruction), the scope, the Dockerfile and the
# context. Looked up by the node's exact class (the IR's instruction classes have no subclasses):
# one dictionary look-up instead of a chain of isinstance tests per instruction.

def _arg(instruction: Arg, word, scope: Scope, dockerfile: Dockerfile, ctx: Context) -> None:
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
        scope.declare_arg(name, declaration.value)


def _env(instruction: Env, word, scope: Scope, dockerfile: Dockerfile, ctx: Context) -> None:
    for pair in instruction.pairs:
        pair.key = word(pair.key)
        pair.value = word(pair.value)
        scope.set_env(pair.key, pair.value)


def _label(instruction: Label, word, scope: Scope, dockerfile: Dockerfile, ctx: Context) -> None:
    for pair in instruction.pairs:
        pair.key = word(pair.key)
        pair.value = word(pair.value)


def _workdir(instruction: Workdir, word, scope: Scope, dockerfile: Dockerfile, ctx: Context) -> None:
    instruction.path = word(instruction.path)


def _user(instruction: User, word, scope: Scope, dockerfile: Dockerfile, ctx: Context) -> None:
    instruction.user = word(instruction.user)


def _stop_signal(instruction: StopSignal, word, scope: Scope, dockerfile: Dockerfile, ctx: Context) -> None:
    instruction.signal = word(instruction.signal)


def _expose(instruction: Expose, word, scope: Scope, dockerfile: Dockerfile, ctx: Context) -> None:
    ports = []
    for port in instruction.ports:
        ports.extend(expand_words(port, scope, dockerfile, instruction, ctx))
    instruction.ports = ports


def _volume(instruction: Volume, word, scope: Scope, dockerfile: Dockerfile, ctx: Context) -> None:
    instruction.paths = [word(p).strip() for p in instruction.paths]
    for path in instruction.paths:
        if not path:
            raise ctx.error("VOLUME specified can not be an empty string", instruction.span.line,
                            instruction.span.column)


def _copy(instruction: Copy, word, scope: Scope, dockerfile: Dockerfile, ctx: Context) -> None:
    if instruction.heredocs:
        heredoc_names = {h.name for h in instruction.heredocs}
        instruction.sources = [
            s if _is_heredoc_word(s, heredoc_names) else word(s) for s in instruction.sources
        ]
    else:  # most COPYs: _is_heredoc_word without names, inline
        instruction.sources = [s if s.startswith("<<") else word(s) for s in instruction.sources]
    instruction.destination = word(instruction.destination)
    for flag in instruction.flags:
        if flag.name in ("chown", "chmod", "checksum", "exclude") and flag.value is not None:
            flag.value = word(flag.value)
    for heredoc in instruction.heredocs:
        if heredoc.expand:
            heredoc.body = _expand_body(heredoc.body, scope, dockerfile, instruction, ctx)


def _run(instruction: Run, word, scope: Scope, dockerfile: Dockerfile, ctx: Context) -> None:
    for flag in instruction.flags:
        if flag.name == "mount" and flag.value:
            flag.value = _expand_mount(flag.value, word)


_EXPANDERS = {
    Arg: _arg,
    Env: _env,
    Label: _label,
    Workdir: _workdir,
    User: _user,
    StopSignal: _stop_signal,
    Expose: _expose,
    Volume: _volume,
    Copy: _copy,
    Run: _run,
    # MAINTAINER is not expanded by the builder
}


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
