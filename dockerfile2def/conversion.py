"""The conversion pipeline: parse -> passes -> emit, and its public result type."""

import gc
from operator import attrgetter
from typing import Callable, Dict, List, Mapping, Optional

from .errors import D2SError, Diagnostic
from .records import Record


class Context(Record):
    """What the passes know besides the IR: the user's options and the diagnostics found so far."""

    __slots__ = ("path", "context_dir", "build_args", "target", "base_configs", "config_loader", "downloader",
                 "cloner", "own_outputs", "diagnostics")

    def __init__(
        self,
        path: str = "Dockerfile",
        context_dir: Optional[str] = None,
        build_args: Optional[Dict[str, str]] = None,
        target: Optional[str] = None,
        base_configs: Optional[Dict[str, dict]] = None,
        config_loader: Optional[Callable[[str], Optional[dict]]] = None,
        downloader: Optional[Callable[..., str]] = None,
        cloner: Optional[Callable[..., str]] = None,
        own_outputs: Optional[List[str]] = None,
        diagnostics: Optional[List[Diagnostic]] = None,
    ):
        self.path = path
        self.context_dir = context_dir  # the build context folder; None: no file system access
        self.build_args = {} if build_args is None else build_args
        self.target = target
        # Base image configs by image reference ({"Env": [...], "Entrypoint": [...], ...}), when known.
        self.base_configs = {} if base_configs is None else base_configs
        # Reads a config the caller did not give (registry.load_config); None: never look one up.
        self.config_loader = config_loader
        # Downloads ADD <url> when converting (download.fetch); None: %setup downloads at build time.
        self.downloader = downloader
        # Checks out ADD <git repository> when converting (download.clone); None: %setup clones it.
        self.cloner = cloner
        # Files d2s itself writes into the context (the .def, the image): never copied into the image.
        self.own_outputs = [] if own_outputs is None else own_outputs
        self.diagnostics = [] if diagnostics is None else diagnostics

    def warn(self, code: str, message: str, line: int, column: int = 1) -> None:
        if "\0" in message:  # a base-image variable's marker (passes/scope.py), shown as ${NAME}
            from .passes.scope import show_deferred

            message = show_deferred(message)
        self.diagnostics.append(Diagnostic(code, message, line, column, "warning", self.path))

    def error(self, message: str, line: int, column: int = 1) -> D2SError:
        """An error to raise: bad input the translation cannot go on with."""
        return D2SError(message, line, column, self.path)


class Conversion(Record):
    """The result of :func:`convert`: the definition file text and what d2s had to say about it."""

    __slots__ = ("definition", "diagnostics")

    def __init__(self, definition: str, diagnostics: Optional[List[Diagnostic]] = None):
        self.definition = definition
        self.diagnostics = [] if diagnostics is None else diagnostics
        # Files the definition needs beside it (relative path -> bytes), e.g. none today.


def convert(
    text: str,
    *,
    context: Optional[str] = None,
    build_args: Optional[Mapping[str, str]] = None,
    target: Optional[str] = None,
    path: str = "Dockerfile",
    base_configs: Optional[Mapping[str, dict]] = None,
    lookup_base: bool = False,
    own_outputs: Optional[List[str]] = None,
) -> Conversion:
    """Convert Dockerfile text into a definition file.

    ``context`` is the build context folder (COPY sources are read from it); ``base_configs`` maps
    image references to their configs; with ``lookup_base`` the configs of other base images are
    read from their registries (registry.py). ``own_outputs`` are files d2s writes (the .def, the
    image), which a ``COPY .`` must not take along. Raises :class:`D2SError` (and nothing else) for bad
    input.
    """
    parse, run_passes, emit = _pipeline()
    # (positional arguments: keywords cost each conversion a few microseconds more)
    ctx = Context(path, context, dict(build_args or {}), target, dict(base_configs or {}), None, None, None,
                  [o for o in (own_outputs or []) if o])
    for name, value in ctx.build_args.items():
        if "\0" in name + value:  # no shell variable, file or label can hold it
            raise D2SError("build arg %r contains a NUL byte" % name, 1, 1, path)
    if lookup_base:
        from .registry import load_config

        from .download import clone, fetch

        ctx.config_loader = load_config
        ctx.downloader = fetch
        ctx.cloner = clone
    # The cyclic garbage collector is paused while converting: a conversion makes no cycles worth
    # collecting early, and the collector's passes over a growing parse tree made a 10 MB
    # Dockerfile twice as slow per byte as a 1 MB one.
    collecting = gc.isenabled()
    gc.disable()
    try:
        dockerfile = parse(text, path=path)
        dockerfile = run_passes(dockerfile, ctx, in_place=True)  # the parsed tree is ours alone: no copy
        definition = emit(dockerfile, ctx)
    except D2SError as err:
        raise err.with_path(path) if err.path is None else err
    finally:
        if collecting:
            gc.enable()
    return Conversion(definition, sorted(ctx.diagnostics, key=_order))


_PIPELINE: tuple = ()


def _pipeline() -> tuple:
    """parse, run_passes and emit, imported on first use (importing this module stays cheap) and
    then kept: an import statement in convert() cost every conversion microseconds."""
    global _PIPELINE
    if not _PIPELINE:
        from .emit import emit
        from .parser import parse
        from .passes import run_passes

        _PIPELINE = (parse, run_passes, emit)
    return _PIPELINE


# Diagnostics in file order: by line, column and code (a C key function: no Python call per diagnostic).
_order = attrgetter("line", "column", "code")


def decode_source(raw: bytes, path: str) -> str:
    """Decode a Dockerfile's bytes as UTF-8, refusing binary input with the position of the first bad byte."""
    nul = raw.find(b"\0")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        bad = err.start
        if nul != -1 and nul < bad:
            bad = nul
        raise _position_error("input is not valid UTF-8 text (binary file?)", raw, bad, path)
    if nul != -1:
        raise _position_error("input contains a NUL byte (binary file?)", raw, nul, path)
    return text


def _position_error(message: str, raw: bytes, offset: int, path: str) -> D2SError:
    before = raw[:offset]
    line = before.count(b"\n") + 1
    column = offset - (before.rfind(b"\n") + 1) + 1
    return D2SError(message, line, column, path)
