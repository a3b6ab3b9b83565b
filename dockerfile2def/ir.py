"""The typed IR of a Dockerfile: a Dockerfile holds stages, a stage holds instructions.

Every node keeps its source span. Values are kept raw, exactly as written (quotes and escapes
included); variable expansion happens in a pass, never in the parser. Passes return new or
updated nodes; the fields marked "resolved" are filled in by passes and are ``None`` straight
out of the parser.
"""

from dataclasses import dataclass, field
from typing import List, Optional, Tuple, Union


class _Node:
    """The __eq__ and __repr__ a dataclass would generate, written once for every node.

    ``@dataclass`` compiles a function per generated method and per class; the IR's thirty classes
    made importing this module a dozen milliseconds of every `d2s convert`. :func:`_node` generates
    only ``__init__``. Like a dataclass with ``eq=True``, a node is not hashable.
    """

    __slots__ = ()
    __hash__ = None

    def __eq__(self, other):
        if other.__class__ is self.__class__:
            return self._values() == other._values()
        return NotImplemented

    def __repr__(self):
        return "%s(%s)" % (self.__class__.__qualname__,
                           ", ".join("%s=%r" % (name, getattr(self, name)) for name in self.__dataclass_fields__))

    def _values(self) -> tuple:
        return tuple(getattr(self, name) for name in self.__dataclass_fields__)


def _node(cls):
    return dataclass(cls, eq=False, repr=False)


@dataclass(frozen=True)
class Span:
    """1-based line and column of the first character, and the last line of the instruction."""

    line: int
    column: int = 1
    end_line: int = 0

    def __post_init__(self):
        if not self.end_line:
            object.__setattr__(self, "end_line", self.line)


@_node
class Flag(_Node):
    """A builder flag such as ``--from=build``; ``value`` is None for a bare ``--link``."""

    name: str
    value: Optional[str]
    span: Span

    def text(self) -> str:
        return "--%s" % self.name if self.value is None else "--%s=%s" % (self.name, self.value)


@_node
class Heredoc(_Node):
    """One here-document attached to RUN, COPY or ADD."""

    name: str
    body: str  # raw, trailing newline kept (BuildKit strips leading tabs for <<- where it uses the body)
    expand: bool  # False when any part of the delimiter was quoted
    chomp: bool  # <<-
    file_descriptor: int = 0
    span: Optional[Span] = None


@_node
class ShellForm(_Node):
    """Shell form: the text after the flags, continuation lines joined, as one string."""

    text: str


@_node
class ExecForm(_Node):
    """Exec (JSON) form: a list of strings, no shell, no expansion."""

    argv: List[str]


Command = Union[ShellForm, ExecForm]


@_node
class Instruction(_Node):
    """One instruction: its keyword, flags and source; the fields below the first four are resolved by passes."""

    keyword: str  # upper case, as Docker names it
    span: Span
    flags: List[Flag] = field(default_factory=list)
    original: str = ""  # the logical line, continuations joined
    # Resolved by passes (None straight out of the parser):
    workdir: Optional[str] = None  # absolute working directory in effect (resolve_workdir)
    user: Optional[str] = None  # USER in effect, expanded (resolve_workdir)
    shell: Optional[List[str]] = None  # SHELL in effect for shell-form commands (resolve_shell)

    def flag(self, name: str) -> Optional[Flag]:
        """The last flag with this name (Docker takes the last one of a non-list flag)."""
        found = None
        for f in self.flags:
            if f.name == name:
                found = f
        return found

    def flag_values(self, name: str) -> List[str]:
        return [f.value or "" for f in self.flags if f.name == name]


@_node
class From(Instruction):
    """FROM: the image (expanded by resolve_global_args), the stage name and --platform."""

    image: str = ""
    stage_name: Optional[str] = None  # lowercased, as BuildKit stores it
    platform: Optional[str] = None


@_node
class Run(Instruction):
    """RUN: the command, its heredocs, and what translate_run adds."""

    command: Command = field(default_factory=lambda: ShellForm(""))
    heredocs: List[Heredoc] = field(default_factory=list)
    # (path, content, mode) files written just before the command runs (translate_run)
    files: List[Tuple[str, str, str]] = field(default_factory=list)
    mounts: List["Mount"] = field(default_factory=list)  # RUN --mount, resolved (translate_run, plan_copies)


@_node
class Mount(_Node):
    """A RUN --mount as d2s makes it: the target holds ``source`` (or nothing) during that RUN only."""

    kind: str  # bind, cache, tmpfs, secret, ssh
    target: str  # absolute
    options: dict = field(default_factory=dict)
    source: Optional["StagedSource"] = None  # bind: what is staged to appear at target


@_node
class Cmd(Instruction):
    """CMD: the default command."""

    command: Command = field(default_factory=lambda: ShellForm(""))


@_node
class Entrypoint(Instruction):
    """ENTRYPOINT: the command the image runs."""

    command: Command = field(default_factory=lambda: ShellForm(""))


@_node
class Shell(Instruction):
    """SHELL: the shell for later shell forms (JSON form only)."""

    argv: List[str] = field(default_factory=list)


@_node
class KeyValue(_Node):
    """One ``key=value`` of ENV or LABEL."""

    key: str  # raw word
    value: str  # raw word (quotes kept) or, in the legacy form, the raw rest of the line


@_node
class Env(Instruction):
    """ENV: its pairs; ``legacy`` for the ``ENV key value`` form."""

    pairs: List[KeyValue] = field(default_factory=list)
    legacy: bool = False


@_node
class Label(Instruction):
    """LABEL: its pairs; ``legacy`` for the ``LABEL key value`` form."""

    pairs: List[KeyValue] = field(default_factory=list)
    legacy: bool = False


@_node
class ArgDeclaration(_Node):
    """One name of an ARG, with its default."""

    name: str  # raw
    default: Optional[str]  # raw; None when the word has no '='
    value: Optional[str] = None  # resolved: --build-arg, else inherited global, else default (expand_variables)


@_node
class Arg(Instruction):
    """ARG: one or more declarations."""

    declarations: List[ArgDeclaration] = field(default_factory=list)


@_node
class Copy(Instruction):
    """COPY and ADD (``keyword`` tells which)."""

    sources: List[str] = field(default_factory=list)  # raw words
    destination: str = ""  # raw word
    json: bool = False
    heredocs: List[Heredoc] = field(default_factory=list)
    plan: List["StagedSource"] = field(default_factory=list)  # resolved by plan_copies


@_node
class StagedSource(_Node):
    """One COPY/ADD source as d2s stages it in the image before putting it in place (plan_copies).

    ``kind``: "context" (from the build context, staged in %setup), "stage" (from an earlier stage,
    through %files from), "heredoc" (written in %post), "download" (an ADD <url> d2s downloaded into
    the context when converting, copied in %setup), "url" and "git" (fetched in %setup).
    """

    kind: str
    source: str
    staged: str  # where it sits in the image until the COPY's turn, under /.d2s
    name: str  # its name at the destination when it is a file
    directory: bool = False  # a directory: its contents are copied (Docker's rule)
    stage: Optional[str] = None  # the Apptainer stage to copy from
    body: Optional[str] = None  # heredoc content
    extract: bool = False  # ADD of a local archive: unpack it
    entries: Optional[List[str]] = None  # a directory some of whose files are ignored: what to take
    wildcard: bool = False  # a pattern resolved inside another stage: ``staged`` holds the matches
    checksum: Optional[str] = None
    mode: Optional[str] = None  # file mode Docker gives it (heredocs 0644, URLs 0600)
    keep_git_dir: bool = False  # ADD --keep-git-dir
    parents: Optional[str] = None  # COPY --parents: the source's parent folders, kept under the destination
    leave_out: List[str] = field(default_factory=list)  # d2s's own outputs inside a staged folder


@_node
class Workdir(Instruction):
    """WORKDIR: the path as written."""

    path: str = ""


@_node
class User(Instruction):
    """USER: the user (and group) as written."""

    user: str = ""


@_node
class Expose(Instruction):
    """EXPOSE: the ports as written."""

    ports: List[str] = field(default_factory=list)


@_node
class Volume(Instruction):
    """VOLUME: the paths; ``json`` when written as a JSON array."""

    paths: List[str] = field(default_factory=list)
    json: bool = False


@_node
class StopSignal(Instruction):
    """STOPSIGNAL: the signal as written."""

    signal: str = ""


@_node
class Healthcheck(Instruction):
    """HEALTHCHECK: NONE, or CMD and its command."""

    kind: str = "NONE"  # "CMD" or "NONE"
    command: Optional[Command] = None


@_node
class Maintainer(Instruction):
    """MAINTAINER: the name as written."""

    name: str = ""


@_node
class Onbuild(Instruction):
    """ONBUILD: the trigger instruction, parsed but not checked."""

    trigger: Optional[Instruction] = None


Argument = Tuple[str, Optional[str]]


@_node
class Runtime(_Node):
    """What a stage's image does when run, as Docker's image config records it (resolve_runtime)."""

    entrypoint: Optional[Command] = None
    cmd: Optional[Command] = None
    workdir: str = "/"
    user: Optional[str] = None
    env: List[Tuple[str, str]] = field(default_factory=list)  # final values, in order of definition
    labels: List[Tuple[str, str]] = field(default_factory=list)
    inherits_runscript: bool = False  # neither ENTRYPOINT nor CMD known: keep the base's runscript
    base_known: bool = True  # the base image's config was known


@_node
class Stage(_Node):
    """One build stage: its FROM and the instructions after it."""

    index: int
    base: From
    instructions: List[Instruction] = field(default_factory=list)
    runtime: Optional[Runtime] = None  # resolved by passes
    parent: Optional[str] = None  # name of the stage this one is based on (FROM <stage>), resolved
    # FROM lines of the stages replayed into this one (FROM <stage> chains), oldest first.
    ancestry: List[int] = field(default_factory=list)

    @property
    def name(self) -> Optional[str]:
        return self.base.stage_name

    @property
    def span(self) -> Span:
        return self.base.span


@_node
class Dockerfile(_Node):
    """The whole file: its stages, the global ARGs before the first FROM, and its parser directives."""

    stages: List[Stage]
    global_args: List[Arg] = field(default_factory=list)  # ARGs before the first FROM
    directives: dict = field(default_factory=dict)  # lowercased key -> value
    escape: str = "\\"
    path: str = "Dockerfile"
    global_scope: dict = field(default_factory=dict)  # resolved global ARG values (resolve_global_args)
    # (image, stage name) of the stages d2s adds for COPY --from=<image> (plan_copies)
    image_stages: List[Tuple[str, str]] = field(default_factory=list)

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
