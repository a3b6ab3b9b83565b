"""The typed IR of a Dockerfile: a Dockerfile holds stages, a stage holds instructions.

Every node keeps its source span. Values are kept raw, exactly as written (quotes and escapes
included); variable expansion happens in a pass, never in the parser. Passes return new or
updated nodes; the fields marked "resolved" are filled in by passes and are ``None`` straight
out of the parser.

The classes are records.Record (Span: records.Frozen) with hand-written constructors rather than
dataclasses, for start-up time (records.py). A constructor argument that defaults to ``None`` where the field is a list, dict or command gets
a fresh one, never a shared one.
"""

from __future__ import annotations  # annotations stay strings: nothing to evaluate at import

from types import FunctionType
from typing import List, Optional, Tuple, Union

from .records import Frozen, Record


class Span(Frozen):
    """1-based line and column of the first character, and the last line of the instruction.

    Immutable and hashable; ``end_line`` 0 means the instruction ends on ``line``.
    """

    __slots__ = ("line", "column", "end_line")

    def __init__(self, line: int, column: int = 1, end_line: int = 0):
        _set_line(self, line)
        _set_column(self, column)
        _set_end_line(self, end_line or line)


# The slots' own setters: they go past Frozen.__setattr__, which refuses every change, and cost less
# than object.__setattr__ (a Span is made for every instruction and flag).
_set_line, _set_column, _set_end_line = Span.line.__set__, Span.column.__set__, Span.end_line.__set__


_Node = Record  # the IR's nodes


class Flag(_Node):
    """A builder flag such as ``--from=build``; ``value`` is None for a bare ``--link``."""

    __slots__ = ("name", "value", "span")

    def __init__(self, name: str, value: Optional[str], span: Span):
        self.name = name
        self.value = value
        self.span = span

    def text(self) -> str:
        return "--%s" % self.name if self.value is None else "--%s=%s" % (self.name, self.value)


class Heredoc(_Node):
    """One here-document attached to RUN, COPY or ADD."""

    __slots__ = ("name", "body", "expand", "chomp", "file_descriptor", "span")

    def __init__(self, name: str, body: str, expand: bool, chomp: bool, file_descriptor: int = 0,
                 span: Optional[Span] = None):
        self.name = name
        # raw, trailing newline kept (BuildKit strips leading tabs for <<- where it uses the body)
        self.body = body
        self.expand = expand  # False when any part of the delimiter was quoted
        self.chomp = chomp  # <<-
        self.file_descriptor = file_descriptor
        self.span = span


class ShellForm(_Node):
    """Shell form: the text after the flags, continuation lines joined, as one string."""

    __slots__ = ("text",)

    def __init__(self, text: str):
        self.text = text


class ExecForm(_Node):
    """Exec (JSON) form: a list of strings, no shell, no expansion."""

    __slots__ = ("argv",)

    def __init__(self, argv: List[str]):
        self.argv = argv


Command = Union[ShellForm, ExecForm]


class Instruction(_Node):
    """One instruction: its keyword, flags and source; the fields below the first four are resolved by passes."""

    __slots__ = ("keyword", "span", "flags", "original", "workdir", "user", "shell")

    def __init__(self, keyword: str, span: Span, flags: Optional[List[Flag]] = None, original: str = "",
                 workdir: Optional[str] = None, user: Optional[str] = None, shell: Optional[List[str]] = None):
        self.keyword = keyword  # upper case, as Docker names it
        self.span = span
        self.flags = [] if flags is None else flags
        self.original = original  # the logical line, continuations joined
        # Resolved by passes (None straight out of the parser):
        self.workdir = workdir  # absolute working directory in effect (resolve_workdir)
        self.user = user  # USER in effect, expanded (resolve_workdir)
        self.shell = shell  # SHELL in effect for shell-form commands (resolve_shell)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        # Each instruction class sets Instruction's fields with its own copy of the code above, and
        # one inheriting its constructor (Env, Label) runs its own copy of that too. The interpreter
        # specializes an attribute store of a code object for the one class it meets there: shared by
        # all the node classes, the stores were left generic, four times as slow (~0.2 us a node).
        cls._init_instruction = _own_copy(Instruction.__init__)
        if "__init__" not in cls.__dict__:
            cls.__init__ = _own_copy(cls.__init__)

    def flag(self, name: str) -> Optional[Flag]:
        """The last flag with this name (Docker takes the last one of a non-list flag)."""
        found = None
        for f in self.flags:
            if f.name == name:
                found = f
        return found

    def flag_values(self, name: str) -> List[str]:
        return [f.value or "" for f in self.flags if f.name == name]


def _own_copy(function: FunctionType) -> FunctionType:
    """``function`` running a copy of its code object, which the interpreter specializes on its own."""
    copy = FunctionType(function.__code__.replace(), function.__globals__, function.__name__,
                        function.__defaults__)
    copy.__qualname__, copy.__doc__ = function.__qualname__, function.__doc__
    copy.__annotations__ = function.__annotations__
    return copy


# The instructions' constructors take Instruction's seven parameters first, as a dataclass
# subclass would, and hand them to their copy of Instruction.__init__.


class From(Instruction):
    """FROM: the image (expanded by resolve_global_args), the stage name and --platform."""

    __slots__ = ("image", "stage_name", "platform")

    def __init__(self, keyword: str, span: Span, flags: Optional[List[Flag]] = None, original: str = "",
                 workdir: Optional[str] = None, user: Optional[str] = None, shell: Optional[List[str]] = None,
                 image: str = "", stage_name: Optional[str] = None, platform: Optional[str] = None):
        self._init_instruction(keyword, span, flags, original, workdir, user, shell)
        self.image = image
        self.stage_name = stage_name  # lowercased, as BuildKit stores it
        self.platform = platform


class Run(Instruction):
    """RUN: the command, its heredocs, and what translate_run adds."""

    __slots__ = ("command", "heredocs", "files", "mounts")

    def __init__(self, keyword: str, span: Span, flags: Optional[List[Flag]] = None, original: str = "",
                 workdir: Optional[str] = None, user: Optional[str] = None, shell: Optional[List[str]] = None,
                 command: Optional[Command] = None, heredocs: Optional[List[Heredoc]] = None,
                 files: Optional[List[Tuple[str, str, str]]] = None, mounts: Optional[List[Mount]] = None):
        self._init_instruction(keyword, span, flags, original, workdir, user, shell)
        self.command = ShellForm("") if command is None else command
        self.heredocs = [] if heredocs is None else heredocs
        # (path, content, mode) files written just before the command runs (translate_run)
        self.files = [] if files is None else files
        self.mounts = [] if mounts is None else mounts  # RUN --mount, resolved (translate_run, plan_copies)


class Mount(_Node):
    """A RUN --mount as d2s makes it: the target holds ``source`` (or nothing) during that RUN only."""

    __slots__ = ("kind", "target", "options", "source")

    def __init__(self, kind: str, target: str, options: Optional[dict] = None,
                 source: Optional[StagedSource] = None):
        self.kind = kind  # bind, cache, tmpfs, secret, ssh
        self.target = target  # absolute
        self.options = {} if options is None else options
        self.source = source  # bind: what is staged to appear at target


class Cmd(Instruction):
    """CMD: the default command."""

    __slots__ = ("command",)

    def __init__(self, keyword: str, span: Span, flags: Optional[List[Flag]] = None, original: str = "",
                 workdir: Optional[str] = None, user: Optional[str] = None, shell: Optional[List[str]] = None,
                 command: Optional[Command] = None):
        self._init_instruction(keyword, span, flags, original, workdir, user, shell)
        self.command = ShellForm("") if command is None else command


class Entrypoint(Instruction):
    """ENTRYPOINT: the command the image runs."""

    __slots__ = ("command",)

    def __init__(self, keyword: str, span: Span, flags: Optional[List[Flag]] = None, original: str = "",
                 workdir: Optional[str] = None, user: Optional[str] = None, shell: Optional[List[str]] = None,
                 command: Optional[Command] = None):
        self._init_instruction(keyword, span, flags, original, workdir, user, shell)
        self.command = ShellForm("") if command is None else command


class Shell(Instruction):
    """SHELL: the shell for later shell forms (JSON form only)."""

    __slots__ = ("argv",)

    def __init__(self, keyword: str, span: Span, flags: Optional[List[Flag]] = None, original: str = "",
                 workdir: Optional[str] = None, user: Optional[str] = None, shell: Optional[List[str]] = None,
                 argv: Optional[List[str]] = None):
        self._init_instruction(keyword, span, flags, original, workdir, user, shell)
        self.argv = [] if argv is None else argv


class KeyValue(_Node):
    """One ``key=value`` of ENV or LABEL."""

    __slots__ = ("key", "value")

    def __init__(self, key: str, value: str):
        self.key = key  # raw word
        self.value = value  # raw word (quotes kept) or, in the legacy form, the raw rest of the line


class _KeyValues(Instruction):
    """ENV and LABEL: their pairs; ``legacy`` for the ``KEY value`` form."""

    __slots__ = ("pairs", "legacy")

    def __init__(self, keyword: str, span: Span, flags: Optional[List[Flag]] = None, original: str = "",
                 workdir: Optional[str] = None, user: Optional[str] = None, shell: Optional[List[str]] = None,
                 pairs: Optional[List[KeyValue]] = None, legacy: bool = False):
        self._init_instruction(keyword, span, flags, original, workdir, user, shell)
        self.pairs = [] if pairs is None else pairs
        self.legacy = legacy


class Env(_KeyValues):
    """ENV: its pairs; ``legacy`` for the ``ENV key value`` form."""

    __slots__ = ()


class Label(_KeyValues):
    """LABEL: its pairs; ``legacy`` for the ``LABEL key value`` form."""

    __slots__ = ()


class ArgDeclaration(_Node):
    """One name of an ARG, with its default."""

    __slots__ = ("name", "default", "value")

    def __init__(self, name: str, default: Optional[str], value: Optional[str] = None):
        self.name = name  # raw
        self.default = default  # raw; None when the word has no '='
        self.value = value  # resolved: --build-arg, else inherited global, else default (expand_variables)


class Arg(Instruction):
    """ARG: one or more declarations."""

    __slots__ = ("declarations",)

    def __init__(self, keyword: str, span: Span, flags: Optional[List[Flag]] = None, original: str = "",
                 workdir: Optional[str] = None, user: Optional[str] = None, shell: Optional[List[str]] = None,
                 declarations: Optional[List[ArgDeclaration]] = None):
        self._init_instruction(keyword, span, flags, original, workdir, user, shell)
        self.declarations = [] if declarations is None else declarations


class Copy(Instruction):
    """COPY and ADD (``keyword`` tells which)."""

    __slots__ = ("sources", "destination", "json", "heredocs", "plan")

    def __init__(self, keyword: str, span: Span, flags: Optional[List[Flag]] = None, original: str = "",
                 workdir: Optional[str] = None, user: Optional[str] = None, shell: Optional[List[str]] = None,
                 sources: Optional[List[str]] = None, destination: str = "", json: bool = False,
                 heredocs: Optional[List[Heredoc]] = None, plan: Optional[List[StagedSource]] = None):
        self._init_instruction(keyword, span, flags, original, workdir, user, shell)
        self.sources = [] if sources is None else sources  # raw words
        self.destination = destination  # raw word
        self.json = json
        self.heredocs = [] if heredocs is None else heredocs
        self.plan = [] if plan is None else plan  # resolved by plan_copies


class StagedSource(_Node):
    """One COPY/ADD source as d2s stages it in the image before putting it in place (plan_copies).

    ``kind``: "context" (from the build context, staged in %setup), "stage" (from an earlier stage,
    through %files from), "heredoc" (written in %post), "download" (an ADD <url> d2s downloaded into
    the context when converting, copied in %setup), "url" and "git" (fetched in %setup).
    """

    __slots__ = ("kind", "source", "staged", "name", "directory", "stage", "body", "extract", "entries",
                 "wildcard", "checksum", "mode", "keep_git_dir", "parents", "leave_out")

    def __init__(self, kind: str, source: str, staged: str, name: str, directory: bool = False,
                 stage: Optional[str] = None, body: Optional[str] = None, extract: bool = False,
                 entries: Optional[List[str]] = None, wildcard: bool = False, checksum: Optional[str] = None,
                 mode: Optional[str] = None, keep_git_dir: bool = False, parents: Optional[str] = None,
                 leave_out: Optional[List[str]] = None):
        self.kind = kind
        self.source = source
        self.staged = staged  # where it sits in the image until the COPY's turn, under /.d2s
        self.name = name  # its name at the destination when it is a file
        self.directory = directory  # a directory: its contents are copied (Docker's rule)
        self.stage = stage  # the Apptainer stage to copy from
        self.body = body  # heredoc content
        self.extract = extract  # ADD of a local archive: unpack it
        self.entries = entries  # a directory some of whose files are ignored: what to take (None: all)
        self.wildcard = wildcard  # a pattern resolved inside another stage: ``staged`` holds the matches
        self.checksum = checksum
        self.mode = mode  # file mode Docker gives it (heredocs 0644, URLs 0600)
        self.keep_git_dir = keep_git_dir  # ADD --keep-git-dir
        self.parents = parents  # COPY --parents: the source's parent folders, kept under the destination
        self.leave_out = [] if leave_out is None else leave_out  # d2s's own outputs inside a staged folder


class Workdir(Instruction):
    """WORKDIR: the path as written."""

    __slots__ = ("path",)

    def __init__(self, keyword: str, span: Span, flags: Optional[List[Flag]] = None, original: str = "",
                 workdir: Optional[str] = None, user: Optional[str] = None, shell: Optional[List[str]] = None,
                 path: str = ""):
        self._init_instruction(keyword, span, flags, original, workdir, user, shell)
        self.path = path


class User(Instruction):
    """USER: the user (and group) as written."""

    # Its own field ``user`` is Instruction's ``user`` (a dataclass field of the same name is one
    # field, kept in the base's place): no new slot.
    __slots__ = ()

    def __init__(self, keyword: str, span: Span, flags: Optional[List[Flag]] = None, original: str = "",
                 workdir: Optional[str] = None, user: str = "", shell: Optional[List[str]] = None):
        self._init_instruction(keyword, span, flags, original, workdir, user, shell)


class Expose(Instruction):
    """EXPOSE: the ports as written."""

    __slots__ = ("ports",)

    def __init__(self, keyword: str, span: Span, flags: Optional[List[Flag]] = None, original: str = "",
                 workdir: Optional[str] = None, user: Optional[str] = None, shell: Optional[List[str]] = None,
                 ports: Optional[List[str]] = None):
        self._init_instruction(keyword, span, flags, original, workdir, user, shell)
        self.ports = [] if ports is None else ports


class Volume(Instruction):
    """VOLUME: the paths; ``json`` when written as a JSON array."""

    __slots__ = ("paths", "json")

    def __init__(self, keyword: str, span: Span, flags: Optional[List[Flag]] = None, original: str = "",
                 workdir: Optional[str] = None, user: Optional[str] = None, shell: Optional[List[str]] = None,
                 paths: Optional[List[str]] = None, json: bool = False):
        self._init_instruction(keyword, span, flags, original, workdir, user, shell)
        self.paths = [] if paths is None else paths
        self.json = json


class StopSignal(Instruction):
    """STOPSIGNAL: the signal as written."""

    __slots__ = ("signal",)

    def __init__(self, keyword: str, span: Span, flags: Optional[List[Flag]] = None, original: str = "",
                 workdir: Optional[str] = None, user: Optional[str] = None, shell: Optional[List[str]] = None,
                 signal: str = ""):
        self._init_instruction(keyword, span, flags, original, workdir, user, shell)
        self.signal = signal


class Healthcheck(Instruction):
    """HEALTHCHECK: NONE, or CMD and its command."""

    __slots__ = ("kind", "command")

    def __init__(self, keyword: str, span: Span, flags: Optional[List[Flag]] = None, original: str = "",
                 workdir: Optional[str] = None, user: Optional[str] = None, shell: Optional[List[str]] = None,
                 kind: str = "NONE", command: Optional[Command] = None):
        self._init_instruction(keyword, span, flags, original, workdir, user, shell)
        self.kind = kind  # "CMD" or "NONE"
        self.command = command


class Maintainer(Instruction):
    """MAINTAINER: the name as written."""

    __slots__ = ("name",)

    def __init__(self, keyword: str, span: Span, flags: Optional[List[Flag]] = None, original: str = "",
                 workdir: Optional[str] = None, user: Optional[str] = None, shell: Optional[List[str]] = None,
                 name: str = ""):
        self._init_instruction(keyword, span, flags, original, workdir, user, shell)
        self.name = name


class Onbuild(Instruction):
    """ONBUILD: the trigger instruction, parsed but not checked."""

    __slots__ = ("trigger",)

    def __init__(self, keyword: str, span: Span, flags: Optional[List[Flag]] = None, original: str = "",
                 workdir: Optional[str] = None, user: Optional[str] = None, shell: Optional[List[str]] = None,
                 trigger: Optional[Instruction] = None):
        self._init_instruction(keyword, span, flags, original, workdir, user, shell)
        self.trigger = trigger


Argument = Tuple[str, Optional[str]]


class Runtime(_Node):
    """What a stage's image does when run, as Docker's image config records it (resolve_runtime)."""

    __slots__ = ("entrypoint", "cmd", "workdir", "user", "env", "labels", "inherits_runscript", "base_known")

    def __init__(self, entrypoint: Optional[Command] = None, cmd: Optional[Command] = None, workdir: str = "/",
                 user: Optional[str] = None, env: Optional[List[Tuple[str, str]]] = None,
                 labels: Optional[List[Tuple[str, str]]] = None, inherits_runscript: bool = False,
                 base_known: bool = True):
        self.entrypoint = entrypoint
        self.cmd = cmd
        self.workdir = workdir
        self.user = user
        self.env = [] if env is None else env  # final values, in order of definition
        self.labels = [] if labels is None else labels
        self.inherits_runscript = inherits_runscript  # neither ENTRYPOINT nor CMD known: keep the base's runscript
        self.base_known = base_known  # the base image's config was known


class Stage(_Node):
    """One build stage: its FROM and the instructions after it."""

    __slots__ = ("index", "base", "instructions", "runtime", "parent", "ancestry")

    def __init__(self, index: int, base: From, instructions: Optional[List[Instruction]] = None,
                 runtime: Optional[Runtime] = None, parent: Optional[str] = None,
                 ancestry: Optional[List[int]] = None):
        self.index = index
        self.base = base
        self.instructions = [] if instructions is None else instructions
        self.runtime = runtime  # resolved by passes
        self.parent = parent  # name of the stage this one is based on (FROM <stage>), resolved
        # FROM lines of the stages replayed into this one (FROM <stage> chains), oldest first.
        self.ancestry = [] if ancestry is None else ancestry

    @property
    def name(self) -> Optional[str]:
        return self.base.stage_name

    @property
    def span(self) -> Span:
        return self.base.span


class Dockerfile(_Node):
    """The whole file: its stages, the global ARGs before the first FROM, and its parser directives."""

    __slots__ = ("stages", "global_args", "directives", "escape", "path", "global_scope", "image_stages")

    def __init__(self, stages: List[Stage], global_args: Optional[List[Arg]] = None,
                 directives: Optional[dict] = None, escape: str = "\\", path: str = "Dockerfile",
                 global_scope: Optional[dict] = None, image_stages: Optional[List[Tuple[str, str]]] = None):
        self.stages = stages
        self.global_args = [] if global_args is None else global_args  # ARGs before the first FROM
        self.directives = {} if directives is None else directives  # lowercased key -> value
        self.escape = escape
        self.path = path
        # resolved global ARG values (resolve_global_args)
        self.global_scope = {} if global_scope is None else global_scope
        # (image, stage name) of the stages d2s adds for COPY --from=<image> (plan_copies)
        self.image_stages = [] if image_stages is None else image_stages

    def stage_named(self, name: str) -> Optional[Stage]:
        """A stage by name (case-insensitive) or by index, as ``COPY --from`` and ``FROM`` refer to it."""
        lowered = name.lower()
        for stage in self.stages:
            if stage.name == lowered:
                return stage
        if name.isdigit():
            for stage in self.stages:
                if stage.index == int(name):
                    return stage
        return None
