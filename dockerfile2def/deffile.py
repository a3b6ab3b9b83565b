"""Definition files (Apptainer/SingularityCE ``.def``): the IR and the parser.

``parse_definition(text, path)`` reads a definition file the way Apptainer 1.4 does (spec digest B.1,
B.2, B.6, B.7) and returns a :class:`Definition`: its stages, each with header entries and sections,
every node with its line and column. It never raises for bad content: what Apptainer's parser would
refuse is recorded in ``Definition.problems`` (a D2S2xx code, a message, a position), so that
``d2s check`` can report every problem at once where Apptainer stops at the first.

How Apptainer reads a file, and so how this module does:

1. Stages: the text is cut in front of every line that begins with ``bootstrap:`` (any case, column 0,
   also inside a script). Text before the first such line is a stage of its own unless it holds
   nothing (only blank lines and comments).
2. Each stage is scanned line by line: a line whose first word begins with ``%`` starts a section
   (indentation does not protect it); the lines before the first section are the header. The
   scanner reads at most 64 KiB at a time (Go's bufio.Scanner), so a section longer than that,
   counted up to the end of the next section's first line, makes the file unreadable.
3. The header is ``Key: value`` lines; ``#`` cuts a line; a value ending in ``\\`` continues on the
   next line. Section names are case-insensitive; ``%files``, ``%labels`` and ``%arguments`` have
   line formats of their own.
4. Templating: ``{{ name }}`` placeholders are replaced, everywhere in the stage's text, by the
   values of the stage's ``%arguments`` (build args are not known to a checker); the stage is then
   read again from the replaced text, which is what Apptainer builds.

The line formats are parsed by the Lark grammar ``grammar/deffile.lark`` (one start rule per
format); the splitting into stages and sections is line-oriented and done here. One Transformer,
``_builder()``, turns the parse trees into the IR nodes.
"""

import re
from typing import Dict, List, Optional

from .records import Record

# Go's unicode.IsSpace, which strings.TrimSpace and bufio.ScanWords use.
GO_SPACE = "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"

# bufio.MaxScanTokenSize: the scanner Apptainer reads a stage with gives up on longer tokens.
SCANNER_LIMIT = 64 * 1024
# A section longer than that is cut into sections of the same name, which Apptainer joins back in
# order (D2S215): `d2s check --fix` and `d2s convert` cut into pieces of at most this many bytes,
# less room for the section line and the next one.
SECTION_PIECE = 60000


def section_budget(header: str) -> int:
    """The bytes of body lines one piece of the section with this ``%...`` line may hold."""
    return SECTION_PIECE - 2 * (len(header.encode("utf-8", "surrogateescape")) + 1)


def section_cuts(sizes: List[int], safe: List[bool], budget: int) -> List[int]:
    """Where to repeat a section's line so that no piece holds more than ``budget`` bytes: indexes
    of the body lines (``sizes`` in bytes, line break included) a new piece starts at. A piece ends
    at the last line before which ``safe`` allows a cut, or, with none, where it must."""
    cuts, start, last_safe, used = [], 0, None, 0
    for index, size in enumerate(sizes):
        if index > start and safe[index]:
            last_safe = index
        if used + size > budget and index > start:
            cut = last_safe if last_safe is not None and last_safe > start else index
            cuts.append(cut)
            start, last_safe = cut, None
            used = sum(sizes[cut:index])
        used += size
    return cuts

VALID_SECTIONS = ("help", "setup", "files", "labels", "environment", "pre", "post", "runscript", "test",
                  "startscript", "arguments")
APP_SECTIONS = ("appinstall", "applabels", "appfiles", "appenv", "apptest", "apphelp", "apprun", "appstart")
# Header keywords of Apptainer 1.4 (SingularityCE has the same, less confurl); otherurl<N> is matched apart.
VALID_HEADERS = ("bootstrap", "from", "includecmd", "mirrorurl", "updateurl", "osversion", "include", "library",
                 "registry", "namespace", "stage", "product", "user", "regcode", "productpgp", "registerurl",
                 "modules", "fingerprints", "confurl", "setopt")
# Header keywords only Apptainer 1.5 and later know (the buildkit/dockerfile bootstrap agents).
HEADERS_1_5 = ("target", "frontend", "filename", "buildargs")
# Sections whose body is a shell script.
SCRIPT_SECTIONS = ("setup", "pre", "post", "test", "runscript", "startscript", "environment",
                   "appinstall", "apptest", "apprun", "appstart", "appenv")

_STAGE_START = re.compile(r"bootstrap:", re.I)
_OTHERURL = re.compile(r"otherurl[0-9]+\Z")


def go_trim(text: str) -> str:
    return text.strip(GO_SPACE)


# -- the IR ----------------------------------------------------------------------------------------
#
# Plain classes rather than dataclasses: importing ``dataclasses`` (and ``inspect`` with it) and
# generating the methods of ten classes made every `d2s check` pay for them at start-up. Each class
# lists its fields in ``__slots__``, in constructor order; a list or dict field whose dataclass had a
# ``default_factory`` takes None and gets a fresh one. Equality and repr come from records.Record.


class Problem(Record):
    """Something Apptainer's parser refuses (or, for a few codes, quietly mishandles)."""

    __slots__ = ("code", "message", "line", "column")

    def __init__(self, code: str, message: str, line: int, column: int = 1):
        self.code = code
        self.message = message
        self.line = line
        self.column = column


class HeaderEntry(Record):
    """``Key: value``: ``key`` lower-cased as Apptainer compares it, ``value`` trimmed and cut at ``#``."""

    __slots__ = ("key", "value", "line", "column", "value_column", "raw_key", "end_line", "comment",
                 "comment_column")

    def __init__(self, key: str, value: str, line: int, column: int, value_column: int, raw_key: str = "",
                 end_line: int = 0, comment: str = "", comment_column: int = 0):
        self.key = key
        self.value = value
        self.line = line
        self.column = column
        self.value_column = value_column
        self.raw_key = raw_key
        self.end_line = end_line  # the last line of a value continued with "\"
        self.comment = comment  # the text from "#" on, as written
        self.comment_column = comment_column


class FileEntry(Record):
    """One ``src [dst]`` line of a %files section; ``dst`` is None when omitted."""

    __slots__ = ("src", "dst", "line", "column", "src_token", "dst_token", "dst_column", "extra")

    def __init__(self, src: str, dst: Optional[str], line: int, column: int, src_token: str = "",
                 dst_token: str = "", dst_column: int = 0, extra: int = 0):
        self.src = src
        self.dst = dst
        self.line = line
        self.column = column
        self.src_token = src_token  # as written (quotes included)
        self.dst_token = dst_token
        self.dst_column = dst_column
        self.extra = extra  # words after the destination, which Apptainer ignores


class LabelEntry(Record):
    __slots__ = ("key", "value", "line", "column")

    def __init__(self, key: str, value: str, line: int, column: int):
        self.key = key
        self.value = value
        self.line = line
        self.column = column


class ArgumentEntry(Record):
    """A ``KEY=value`` line of %arguments; ``key`` is None for a line Apptainer skips."""

    __slots__ = ("key", "value", "line", "column", "text")

    def __init__(self, key: Optional[str], value: str, line: int, column: int, text: str = ""):
        self.key = key
        self.value = value
        self.line = line
        self.column = column
        self.text = text


class BodyLine(Record):
    __slots__ = ("line", "text")

    def __init__(self, line: int, text: str):
        self.line = line
        self.text = text  # without the line break (and without a carriage return before it)


class Section(Record):
    """A section: ``%name args`` and the lines up to the next section.

    ``name`` is what Apptainer matches (lower-cased, every leading ``%`` removed); ``kind`` is
    ``"standard"``, ``"files"``, ``"app"`` or ``"invalid"``. ``args`` is None when the section line has
    no space after the name. For app sections ``app`` is the app name.
    """

    __slots__ = ("name", "kind", "line", "column", "header_text", "args", "app", "body", "files", "labels",
                 "arguments")

    def __init__(self, name: str, kind: str, line: int, column: int, header_text: str, args: Optional[str] = None,
                 app: Optional[str] = None, body: Optional[List[BodyLine]] = None,
                 files: Optional[List[FileEntry]] = None, labels: Optional[List[LabelEntry]] = None,
                 arguments: Optional[List[ArgumentEntry]] = None):
        self.name = name
        self.kind = kind
        self.line = line
        self.column = column
        self.header_text = header_text
        self.args = args
        self.app = app
        self.body = [] if body is None else body
        self.files = [] if files is None else files
        self.labels = [] if labels is None else labels
        self.arguments = [] if arguments is None else arguments

    @property
    def script(self) -> str:
        return "".join(line.text + "\n" for line in self.body)

    @property
    def clean_args(self) -> str:
        """The arguments as Apptainer uses them for %files and scripts: cut at the first ``#``."""
        return (self.args or "").split("#", 1)[0]


class Placeholder(Record):
    """A ``{{ name }}``; ``commented`` ones (a ``#`` and another character before them) stay as written."""

    __slots__ = ("name", "line", "column", "text", "commented", "defined")

    def __init__(self, name: str, line: int, column: int, text: str, commented: bool = False,
                 defined: bool = False):
        self.name = name
        self.line = line
        self.column = column
        self.text = text
        self.commented = commented
        self.defined = defined


class Stage(Record):
    """One stage: the header entries in file order and the sections in file order."""

    __slots__ = ("index", "line", "end_line", "entries", "sections", "placeholders", "defaults", "templated")

    def __init__(self, index: int, line: int, end_line: int, entries: Optional[List[HeaderEntry]] = None,
                 sections: Optional[List[Section]] = None, placeholders: Optional[List[Placeholder]] = None,
                 defaults: Optional[Dict[str, str]] = None, templated: bool = False):
        self.index = index
        self.line = line  # first line of the stage
        self.end_line = end_line  # last line of the stage
        self.entries = [] if entries is None else entries
        self.sections = [] if sections is None else sections
        self.placeholders = [] if placeholders is None else placeholders
        self.defaults = {} if defaults is None else defaults  # %arguments
        self.templated = templated  # read again after {{ }} replacement

    @property
    def header(self) -> Dict[str, HeaderEntry]:
        """The header as Apptainer keeps it: the last entry of each key wins."""
        found = {}
        for entry in self.entries:
            found[entry.key] = entry
        return found

    @property
    def has_header(self) -> bool:
        return bool(self.entries)

    @property
    def bootstrap(self) -> Optional[HeaderEntry]:
        return self.header.get("bootstrap")

    @property
    def name(self) -> Optional[str]:
        entry = self.header.get("stage")
        return entry.value if entry else None

    def sections_named(self, name: str) -> List[Section]:
        return [s for s in self.sections if s.name == name]

    def post_script(self) -> str:
        """%post as Apptainer runs it: the %post sections, then every %appinstall."""
        text = "".join(s.script for s in self.sections if s.name == "post" and s.kind == "standard")
        return text + "".join(s.script for s in self.sections if s.name == "appinstall" and s.kind == "app")


class Definition(Record):
    __slots__ = ("path", "text", "lines", "stages", "problems", "bom")

    def __init__(self, path: str, text: str, lines: List[str], stages: Optional[List[Stage]] = None,
                 problems: Optional[List[Problem]] = None, bom: bool = False):
        self.path = path
        self.text = text
        self.lines = lines  # the physical lines, without their "\n"
        self.stages = [] if stages is None else stages
        self.problems = [] if problems is None else problems
        self.bom = bom

    def problem(self, code: str, message: str, line: int, column: int = 1) -> None:
        self.problems.append(Problem(code, message, line, column))


# -- the grammar -----------------------------------------------------------------------------------

_STARTS = ["header", "section_line", "files_body", "labels_body", "arguments_body", "template"]
_PARSER = None


def grammar_parser():
    """The LALR parser of grammar/deffile.lark: its tables are compiled by Lark on first use and kept
    in the cache folder (generated.py), so checking needs no import of lark after the first run."""
    global _PARSER
    if _PARSER is None:
        from .generated import tables
        from .lalr import Parser

        _PARSER = Parser(tables("deffile.lark", ("deffile.lark",), start=_STARTS, maybe_placeholders=False),
                         _BuilderRules())
    return _PARSER


_SECTION_LINES: Dict[str, tuple] = {}
_HEADER_LINES: Dict[str, object] = {}


def _parse(text: str, start: str):
    return grammar_parser().parse(text, start=start)


def _parse_header_line(text: str):
    """A header line's pieces; header lines recur across files too ("Bootstrap: docker")."""
    found = _HEADER_LINES.get(text)
    if found is None:
        found = _parse(text, "header")[0]
        if len(_HEADER_LINES) < 4096:
            _HEADER_LINES[text] = found
    return found


def _parse_section_line(text: str) -> tuple:
    """(name, args) of a section line; the same few lines recur in every file, so results are kept."""
    found = _SECTION_LINES.get(text)
    if found is None:
        found = _parse(text, "section_line")
        if len(_SECTION_LINES) < 4096:
            _SECTION_LINES[text] = found
    return found


# -- the transformer: parse trees -> IR pieces -----------------------------------------------------

class _BuilderRules:
    """Turns each start rule's tree into IR pieces (positions relative to the parsed text).

    lalr.Parser calls it as it reduces (LALR), so no parse tree is built.
    """

    # header: one tuple per physical line
    def header(self, items):
        return items

    def header_line(self, items):
        key = colon = value = comment = None
        for token in items:
            kind = token.type
            if kind == "HKEY":
                key = token
            elif kind == "COLON":
                colon = token
            elif kind == "HVALUE":
                value = token
            elif kind == "HCOMMENT":
                comment = token
        return _HeaderLine(key, colon, value, comment)

    def section_line(self, items):
        name, args, space = "", None, False
        for token in items:
            if token.type == "SNAME":
                name = str(token)
            elif token.type == "SPACE":
                space = True
                args = ""
            elif token.type == "SARGS":
                args = str(token)
        return name, (args if space else None)

    def files_body(self, items):
        return items

    def files_line(self, items):
        words = [t for t in items if t.type in ("FWORD", "FDQUOTED", "FSQUOTED")]
        return words

    def labels_body(self, items):
        return items

    def labels_line(self, items):
        key = value = None
        for token in items:
            if token.type == "LKEY":
                key = token
            elif token.type == "LVALUE":
                value = token
        return key, value

    def arguments_body(self, items):
        return items

    def arguments_line(self, items):
        key = value = None
        equals = False
        for token in items:
            if token.type == "AKEY":
                key = token
            elif token.type == "EQUALS":
                equals = True
            elif token.type == "AVALUE":
                value = token
        return key, equals, value

    def template(self, items):
        return [t for t in items if t.type == "PLACEHOLDER"]


class _HeaderLine:
    __slots__ = ("key", "colon", "value", "comment")

    def __init__(self, key, colon, value, comment):
        self.key, self.colon, self.value, self.comment = key, colon, value, comment

    def before_comment(self) -> str:
        return "%s%s%s" % (self.key or "", ":" if self.colon else "", self.value or "")


# -- the reader ------------------------------------------------------------------------------------


class _Line:
    """A physical line: its number, text without "\\n" (and without the "\\r" Go's line scanner drops),
    and its size in bytes with the line break."""

    __slots__ = ("number", "raw", "text", "size", "broken")

    def __init__(self, number: int, raw: str, broken: bool, ascii_only: bool):
        self.number = number
        self.raw = raw
        self.text = raw[:-1] if raw.endswith("\r") else raw
        size = len(raw) if ascii_only else len(raw.encode("utf-8", "surrogateescape"))
        self.size = size + (1 if broken else 0)
        self.broken = broken  # ends with "\n"


def _is_section_line(text: str) -> bool:
    # bufio.ScanWords: the first word, after any leading (Unicode) space, begins with "%".
    return text.lstrip(GO_SPACE)[:1] == "%"


def parse_definition(text: str, path: str = "<definition>") -> Definition:
    """Read a definition file as Apptainer does; problems go to ``Definition.problems``, never raised."""
    raw_lines = text.split("\n")
    broken_last = text.endswith("\n")
    if broken_last:
        raw_lines.pop()
    definition = Definition(path=path, text=text, lines=[l[:-1] if l.endswith("\r") else l for l in raw_lines])
    definition.bom = text.startswith("\ufeff")
    ascii_only = text.isascii()
    lines = [_Line(i + 1, raw, i < len(raw_lines) - 1 or broken_last, ascii_only) for i, raw in enumerate(raw_lines)]

    # 1. Stages: cut in front of every "bootstrap:" at the start of a line.
    starts = [0] + [i for i, line in enumerate(lines) if i > 0 and _STAGE_START.match(line.text)]
    chunks = []
    for n, first in enumerate(starts):
        last = starts[n + 1] if n + 1 < len(starts) else len(lines)
        if last > first:
            chunks.append(lines[first:last])
    reader = _StageReader(definition)
    for chunk in chunks:
        stage = reader.read(chunk, len(definition.stages))
        if stage is not None:
            definition.stages.append(stage)
    if not definition.stages and not definition.problems:
        definition.problem("D2S200", "no stages found in definition file: a definition needs at least a "
                           "'Bootstrap:' header line", 1, 1)
    # 2. Templating, stage by stage.
    for index, stage in enumerate(definition.stages):
        replaced = _template(definition, stage, lines)
        if replaced is not None:
            again = _StageReader(definition, quiet_lines=True).read(replaced, stage.index)
            if again is not None:
                again.placeholders = stage.placeholders
                again.defaults = stage.defaults
                again.templated = True
                definition.stages[index] = again
    return definition


class _StageReader:
    """Reads one stage's lines into a :class:`Stage` (or None when Apptainer would skip it as empty)."""

    def __init__(self, definition: Definition, quiet_lines: bool = False):
        self.definition = definition
        # A stage read again after templating reports only problems not already reported.
        self.quiet = quiet_lines

    def problem(self, code: str, message: str, line: int, column: int = 1) -> None:
        if self.quiet and any(p.code == code and p.line == line for p in self.definition.problems):
            return
        self.definition.problem(code, message, line, column)

    def read(self, chunk: List[_Line], index: int) -> Optional[Stage]:
        section_at = [i for i, line in enumerate(chunk) if _is_section_line(line.text)]
        self._check_scanner_limit(chunk, section_at)
        stage = Stage(index=index, line=chunk[0].number, end_line=chunk[-1].number)
        first_section = section_at[0] if section_at else len(chunk)
        header = chunk[:first_section]
        if any(go_trim(line.text) for line in header):
            self._read_header(header, stage)
        for n, start in enumerate(section_at):
            end = section_at[n + 1] if n + 1 < len(section_at) else len(chunk)
            # The scanner's first token is trimmed when the stage starts with a section line.
            self._read_section(chunk[start:end], stage, trimmed=(start == 0))
        if self._is_empty(stage):
            return None
        return stage

    # -- the 64 KiB scanner window --------------------------------------------------------------

    def _check_scanner_limit(self, chunk: List[_Line], section_at: List[int]) -> None:
        offsets = [0]
        for line in chunk:
            offsets.append(offsets[-1] + line.size)
        total = offsets[-1]
        if total < SCANNER_LIMIT:
            return
        token_starts = ([0] if not section_at or section_at[0] != 0 else []) + section_at
        ends = section_at[1:] + [None] if token_starts[0] in section_at else section_at + [None]
        for start, following in zip(token_starts, ends):
            if following is not None and chunk[following].broken:
                size = offsets[following + 1] - offsets[start]
                over = size > SCANNER_LIMIT
            else:
                size = total - offsets[start]
                over = size >= SCANNER_LIMIT
            if over:
                line = chunk[start]
                what = ("the %s section" % line.text.strip(GO_SPACE).split(" ", 1)[0]
                        if start in section_at else "the header")
                self.problem("D2S215", "%s is %d bytes long, counted to the end of the next section line; Apptainer "
                             "reads a section in one piece of at most 65536 bytes and refuses the file "
                             "(bufio.Scanner: token too long)" % (what, size), line.number, 1)
                return  # the scanner stops at the first one

    # -- header ---------------------------------------------------------------------------------

    def _read_header(self, header: List[_Line], stage: Stage) -> None:
        last = max(i for i, line in enumerate(header) if go_trim(line.text))
        pending_key, pending_val, pending_entry = "", "", None
        for i, line in enumerate(header):
            if i > last:
                break  # trailing blank lines are trimmed away with the header
            stripped = go_trim(line.text)
            if not stripped or stripped.startswith("#"):
                if pending_key:
                    self.problem("D2S214", "the value of '%s' ends with '\\' and the next line is %s: Apptainer "
                                 "crashes on this header (assignment to entry in nil map)"
                                 % (pending_key, "blank" if not stripped else "a comment"), line.number, 1)
                    pending_key, pending_val, pending_entry = "", "", None
                continue
            item = _parse_header_line(line.text)
            if self.definition.bom and line.number == 1 and stripped.startswith("\ufeff"):
                self.problem("D2S216", "the file starts with a byte-order mark; Apptainer reads it as part of the "
                             "first header key and refuses the file", 1, 1)
                stripped = stripped[1:]
                item = _parse_header_line(line.text.lstrip(GO_SPACE)[1:])
            cut = stripped.split("#", 1)[0]
            comment = item.comment
            if not pending_val:
                if item.colon is None:
                    self.problem("D2S201", "header line is not 'Key: value': Apptainer refuses it (header key %s "
                                 "had no val)" % cut, line.number, _first_col(line.text))
                    continue
                key = go_trim(str(item.key or "")).lower()
                value = go_trim(str(item.value or ""))
                key_col = _first_col(line.text)
                value_col = (item.value.column + len(item.value) - len(str(item.value).lstrip(GO_SPACE))
                             if item.value is not None else item.colon.column + 1)
                entry = HeaderEntry(key=key, value=value, line=line.number, column=key_col,
                                    value_column=value_col, raw_key=go_trim(str(item.key or "")),
                                    end_line=line.number)
            else:
                key, value = pending_key, pending_val + go_trim(cut)
                entry = pending_entry
                entry.end_line = line.number
                pending_key, pending_val, pending_entry = "", "", None
            if comment is not None:
                entry.comment = str(comment)
                entry.comment_column = comment.column
            if value.endswith("\\"):
                pending_key, pending_val, pending_entry = key, value[:-1], entry
                if pending_val.endswith("\\n"):
                    pending_val = pending_val[:-2] + "\n"
                continue
            entry.value = value
            if key not in VALID_HEADERS and not _OTHERURL.match(key):
                if key in HEADERS_1_5:
                    why = "it is a keyword of the buildkit/dockerfile bootstrap of Apptainer 1.5 and later"
                else:
                    why = "Apptainer refuses the file"
                self.problem("D2S202", "unknown header keyword '%s': %s (invalid header keyword found: %s)"
                             % (entry.raw_key or key, why, key), entry.line, entry.column)
                continue
            stage.entries.append(entry)
        if pending_key:
            self.problem("D2S236", "the value of '%s' ends with '\\' at the end of the header: Apptainer drops "
                         "the key" % pending_key, pending_entry.end_line if pending_entry else stage.line, 1)

    # -- sections -------------------------------------------------------------------------------

    def _read_section(self, lines: List[_Line], stage: Stage, trimmed: bool) -> None:
        first = lines[0]
        head = first.text
        column = 1
        body = lines[1:]
        if trimmed:
            # The stage's first scanner token is trimmed: leading space of the section line goes, and
            # so do trailing blank lines, which leaves a lone section line without its line break.
            stripped = head.lstrip(GO_SPACE)
            column = len(head) - len(stripped) + 1
            head = stripped
            while body and not go_trim(body[-1].text):
                body = body[:-1]
            if not body:
                self.problem("D2S208", "section %s: could not be split into section name and body (a stage "
                             "that starts with a section has no header; Apptainer refuses it)"
                             % go_trim(head), first.number, column)
                return
        name, args = _parse_section_line(head)
        name = name.lower()
        bare = head.lstrip("%")
        section = Section(name=name, kind="standard", line=first.number, column=column, header_text=head, args=args,
                          body=[BodyLine(line.number, line.text) for line in body])
        if name == "files":
            section.kind = "files"
            section.files = self._read_files(body)
        elif name in APP_SECTIONS:
            parts = bare.split(" ", 2)
            if len(parts) < 2:
                self.problem("D2S207", "%%%s needs an app name: Apptainer refuses the file (app section %s: could not "
                             "be split into section name and app name)" % (name, parts[0]), first.number, column)
                return
            section.kind = "app"
            section.app = parts[1]
            section.args = parts[2] if len(parts) > 2 else None
            if parts[0] not in APP_SECTIONS:
                self.problem("D2S206", "invalid section '%%%s %s': app section names must be lower case (invalid "
                             "section(s) specified: %s %s)" % (parts[0], parts[1], parts[0], parts[1]),
                             first.number, column)
                section.kind = "invalid"
            elif parts[1] == "":
                self.problem("D2S207", "%%%s has an empty app name (two spaces or a trailing space after the "
                             "section name): Apptainer refuses the file (no BuildApp record for app)" % name,
                             first.number, column)
        elif name not in VALID_SECTIONS:
            section.kind = "invalid"
            self.problem("D2S206", _invalid_section_message(head, name), first.number, column)
        if name == "labels" and section.kind == "standard":
            section.labels = self._read_labels(body)
        if name == "arguments" and section.kind == "standard":
            section.arguments = self._read_arguments(body)
        stage.sections.append(section)

    def _read_files(self, body: List[_Line]) -> List[FileEntry]:
        if not body:
            return []
        found = []
        parsed = _parse("\n".join(line.text for line in body), "files_body")
        for line, words in zip(body, parsed):
            stripped = go_trim(line.text)
            if not stripped or stripped.startswith("#"):
                continue
            if not words:
                self.problem("D2S213", "%files line has no path Apptainer can read (a lone double quote): "
                             "Apptainer crashes on it (index out of range)", line.number, _first_col(line.text))
                continue
            src_tok = words[0]
            src = go_trim(str(src_tok)).strip('"')
            dst, dst_tok, dst_col = None, "", 0
            if len(words) > 1:
                dst_tok = str(words[1])
                dst = go_trim(dst_tok).strip('"')
                dst_col = words[1].column
            found.append(FileEntry(src=src, dst=dst, line=line.number, column=src_tok.column, src_token=str(src_tok),
                                   dst_token=dst_tok, dst_column=dst_col, extra=max(0, len(words) - 2)))
        return found

    def _read_labels(self, body: List[_Line]) -> List[LabelEntry]:
        if not body:
            return []
        found = []
        parsed = _parse("\n".join(line.text for line in body), "labels_body")
        for line, (key, value) in zip(body, parsed):
            if key is None or str(key).startswith("#"):
                continue
            found.append(LabelEntry(key=str(key).rstrip(GO_SPACE), value=go_trim(str(value or "")),
                                    line=line.number, column=key.column))
        return found

    def _read_arguments(self, body: List[_Line]) -> List[ArgumentEntry]:
        if not body:
            return []
        found = []
        parsed = _parse("\n".join(line.text for line in body), "arguments_body")
        for line, (key, equals, value) in zip(body, parsed):
            stripped = go_trim(line.text)
            if not stripped or stripped.startswith("#"):
                continue
            col = _first_col(line.text)
            name = go_trim(str(key or ""))
            if not equals or not name:
                found.append(ArgumentEntry(key=None, value="", line=line.number, column=col, text=stripped))
                continue
            found.append(ArgumentEntry(key=name, value=go_trim(str(value or "")), line=line.number, column=col,
                                       text=stripped))
        return found

    # -- Apptainer's "empty definition" ---------------------------------------------------------

    @staticmethod
    def _is_empty(stage: Stage) -> bool:
        # Apptainer compares what it keeps of the stage with an empty definition: the header, the
        # scripts and their arguments, the %files list (an empty %files counts), the labels parsed
        # from %labels (not its text), the apps.
        if stage.entries:
            return False
        for section in stage.sections:
            if section.kind != "standard":
                return False
            if section.name == "labels":
                if section.labels:
                    return False
            elif section.body or section.args:
                return False
        return True


def _first_col(text: str) -> int:
    return len(text) - len(text.lstrip(GO_SPACE)) + 1


def _invalid_section_message(head: str, name: str) -> str:
    if head[:1] in GO_SPACE:
        word = head.lstrip(GO_SPACE).split(None, 1)[0]
        return ("line begins with '%s' after indentation: Apptainer starts a section at every line whose first word "
                "begins with %%, indented or not, and refuses this one (invalid section(s) specified: %s)"
                % (word, name))
    if "\t" in name:
        before = name.split("\t", 1)[0]
        if before in VALID_SECTIONS or before in APP_SECTIONS:
            return ("a tab follows %%%s: Apptainer splits the section line at the first space only and refuses "
                    "the section name '%s'" % (before, name.replace("\t", "\\t")))
    return ("invalid section '%%%s': Apptainer refuses the file (invalid section(s) specified: %s); a script line "
            "that begins with %% is read as a section header" % (name, name))


# -- templating ------------------------------------------------------------------------------------


def _template(definition: Definition, stage: Stage, lines: List[_Line]) -> Optional[List[_Line]]:
    """Replace the stage's {{ }} placeholders as Apptainer does; the replaced lines, or None if none were."""
    chunk = lines[stage.line - 1:stage.end_line]
    text = "\n".join(line.raw for line in chunk)
    defaults = {}
    for section in stage.sections:
        if section.name == "arguments" and section.kind == "standard":
            for arg in section.arguments:
                if arg.key is None:
                    continue
                defaults[arg.key] = arg.value
    stage.defaults = defaults
    if "{{" not in text:
        return None
    placeholders = _parse(text, "template")
    if not placeholders:
        return None
    out = []
    done = 0  # end of the last replaced placeholder
    changed = False
    for token in placeholders:
        start = token.start_pos
        name = token.strip("{} \t\n\f\r")
        line = chunk[0].number + token.line - 1
        ph = Placeholder(name=name, line=line, column=token.column, text=str(token))
        stage.placeholders.append(ph)
        # The text from the last line break (no further back than the last replacement) to here.
        cut = text.rfind("\n", done, start + 1)
        segment = text[cut if cut != -1 else done:start]
        if _commented(segment):
            ph.commented = True
            continue
        if name not in defaults:
            definition.problem("D2S211", "{{ %s }} has no value: no %%arguments default in this stage, and Apptainer "
                               "refuses to build without --build-arg %s=... (build var %s is not defined through "
                               "either --build-arg (--build-arg-file) or 'arguments' section)" % (name, name, name),
                               line, token.column)
            continue
        ph.defined = True
        out.append(text[done:start])
        out.append(_nested(defaults[name], defaults))
        done = token.end_pos
        changed = True
    if not changed:
        return None
    out.append(text[done:])
    replaced = "".join(out).split("\n")
    if len(replaced) != len(chunk):  # a placeholder spanning lines: keep the line count for positions
        replaced = (replaced + [""] * len(chunk))[:len(chunk)]
    ascii_only = all(part.isascii() for part in replaced)
    return [_Line(line.number, new, line.broken, ascii_only) for line, new in zip(chunk, replaced)]


def _commented(segment: str) -> bool:
    # A "#" followed by any character but "!" (so "#!" shebangs do not count) before the placeholder.
    at = segment.find("#")
    while at != -1:
        if at + 1 < len(segment) and segment[at + 1] != "!":
            return True
        at = segment.find("#", at + 1)
    return False


def _nested(value: str, defaults: Dict[str, str]) -> str:
    """A default value's own placeholders are replaced once, from the other defaults (unknown ones stay)."""
    if "{{" not in value:
        return value
    for token in _parse(value, "template"):
        name = token.strip("{} \t\n\f\r")
        if name in defaults:
            value = value.replace(str(token), defaults[name])
    return value
