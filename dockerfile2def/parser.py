"""Dockerfile text -> IR (:class:`ir.Dockerfile`), the way BuildKit reads it.

Two layers, like BuildKit's own parser:

* :class:`_Source` turns physical lines into logical instructions (spec-digest A.1, A.2, A.4):
  BOM, parser directives, continuation with the escape character, comment and blank lines inside
  a continuation, the 64 KiB line limit, heredoc bodies. It keeps, for every character of a
  logical line, where it came from, so errors point at the right physical line and column.
* The LALR grammar (``grammar/dockerfile.lark``, compiled by Lark, contextual lexer) reads each
  logical line: keyword, builder flags and the arguments of each instruction family.
  :class:`_ToIR`, called by lalr.Parser as it reduces, is the only code that knows the shape of
  the parse tree; it builds the IR nodes.

Errors come in BuildKit's order. What BuildKit's AST parser rejects (directives, JSON arrays of
non-strings, ``ENV`` without a value, unterminated heredocs, ...) is raised as soon as it is met;
what its instruction layer rejects (unknown instructions and flags, argument counts, stage names,
``no build stage in current context``, ...) is raised after the whole file has been read, for the
first offending instruction. Values stay raw: quotes are kept and nothing is expanded.
"""

import _thread
import json
import re
from functools import partialmethod
from typing import Dict, List, Optional, Tuple

from .errors import D2SError
from .ir import (
    Arg,
    ArgDeclaration,
    Cmd,
    Copy,
    Dockerfile,
    Entrypoint,
    Env,
    ExecForm,
    Expose,
    Flag,
    From,
    Healthcheck,
    Heredoc,
    Instruction,
    KeyValue,
    Label,
    Maintainer,
    Onbuild,
    Run,
    Shell,
    ShellForm,
    Span,
    Stage,
    StopSignal,
    User,
    Volume,
    Workdir,
)

__all__ = ["parse", "instructions", "INSTRUCTIONS", "FLAGS"]

MAX_LINE = 65535  # bufio.MaxScanTokenSize - 1: the longest line BuildKit's scanner takes
DIRECTIVES = ("syntax", "escape", "check")

# Go's unicode.IsSpace: what strings.TrimSpace and BuildKit's word splitter treat as blank.
GO_SPACE = "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a" \
           "\u2028\u2029\u202f\u205f\u3000"

# The characters str.strip() takes for blanks besides GO_SPACE (the information separators).
_PYTHON_ONLY_BLANKS = "\x1c\x1d\x1e\x1f"

# Go's RE2 \s is [\t\n\f\r ] (no \v); the directive regex of BuildKit's parser/directives.go.
_DIRECTIVE = re.compile(r"#[\t\n\f\r ]*([a-zA-Z][a-zA-Z0-9]*)[\t\n\f\r ]*=[\t\n\f\r ]*(.+?)[\t\n\f\r ]*\Z", re.S)
_STAGE_NAME = re.compile(r"[a-z][a-z0-9\-_.]*\Z")
# The separator and the words of the grammar's LIST token (reWhitespace, spec-digest A.3).
_LIST_SEPARATOR = re.compile(r"[\t\v\f\r ]+")
_LIST_WORD = re.compile(r"[^\t\v\f\r ]+")
_HEREDOC_WORD = re.compile(r"(\d*)<<(-?)[\t\n\f\r ]*([^<]*)\Z")
# A shell word of _shell_words, read by the regex engine rather than a character at a time (heredoc
# lines are long): a heredoc opener glued to the word after its blanks (the opener alone when a blank
# that ends words follows), else a run of plain characters, escapes (the backslash and the character
# after it, if any) and quotes (an unterminated one runs to the end). GO_SPACE separates the words.
_WORD_PART = r"""[^%s'"\\]+|\\[\s\S]?|'[^']*'?|"(?:[^"\\]+|\\[\s\S]?)*"?""" % re.escape(GO_SPACE)
_SHELL_WORD = re.compile(r"\d*<<-?[ \t]+(?=[^\t\n\v\f\r <])(?:%s)*|(?:%s)+" % (_WORD_PART, _WORD_PART))

INSTRUCTIONS = (
    "ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM", "HEALTHCHECK", "LABEL",
    "MAINTAINER", "ONBUILD", "RUN", "SHELL", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR",
)

_STRING, _BOOL, _LIST = "string", "bool", "list"
# The flags each instruction accepts (BuildKit's instructions/parse.go): name -> kind.
FLAGS = {
    "FROM": {"platform": _STRING},
    "RUN": {"mount": _LIST, "network": _STRING, "security": _STRING, "device": _LIST},
    "COPY": {"from": _STRING, "chown": _STRING, "chmod": _STRING, "link": _BOOL, "parents": _BOOL,
             "exclude": _LIST},
    "ADD": {"chown": _STRING, "chmod": _STRING, "link": _BOOL, "checksum": _STRING, "keep-git-dir": _BOOL,
            "unpack": _BOOL, "exclude": _LIST},
    "HEALTHCHECK": {"interval": _STRING, "timeout": _STRING, "start-period": _STRING,
                    "start-interval": _STRING, "retries": _STRING},
}
_HEALTH_DURATIONS = ("interval", "timeout", "start-period", "start-interval")


# -- line assembly ---------------------------------------------------------------------------------

class LogicalLine:
    """One instruction as BuildKit assembles it, with a map back to the physical lines.

    ``pieces`` holds ``(offset in text, physical line, column of that offset)`` for each physical
    line the text was joined from.
    """

    __slots__ = ("text", "line", "end_line", "head_length", "column", "_pieces", "_source")

    def __init__(self, text: str, line: int, end_line: int, head_length: int, column: int,
                 pieces: Optional[List[Tuple[int, int, int]]], source: Optional["_Source"] = None):
        self.text = text
        self.line = line
        self.end_line = end_line
        # The length of the first piece and the column it starts at: a position in it is answered at once.
        self.head_length = head_length
        self.column = column
        # None: read by _Source.next_logical's quick way, which does not note the pieces. Its source
        # works them out when a position past the first piece is asked for (an error, mostly).
        self._pieces = pieces
        self._source = source

    @property
    def pieces(self) -> List[Tuple[int, int, int]]:
        if self._pieces is None:
            self._pieces = self._source.pieces_from(self.line)
        return self._pieces

    def locate(self, offset: int) -> Tuple[int, int]:
        """The physical (line, column) of a character of the logical text."""
        if offset < self.head_length:
            return self.line, self.column + offset
        pieces = self.pieces
        found = pieces[0]
        if len(pieces) == 1:  # one physical line, as most instructions are
            return found[1], found[2] + offset
        for piece in pieces:
            if piece[0] > offset:
                break
            found = piece
        return found[1], found[2] + offset - found[0]


class _Source:
    """The physical lines of a Dockerfile, read in order the way BuildKit's scanner reads them."""

    def __init__(self, text: str, path: str):
        self.path = path
        if text.startswith("\ufeff"):
            text = text[1:]
        lines = text.split("\n")  # physical lines, without their "\n"
        self.newline_at_end = lines[-1] == ""
        if self.newline_at_end:
            lines.pop()
        self.lines = lines
        self.count = len(lines)
        # Whether a line may pass BuildKit's limit (its UTF-8 is at most 4 bytes a character): only
        # then is each line's size measured as it is read.
        self.long_lines = len(text) * 4 > MAX_LINE and max(map(len, lines), default=0) * 4 > MAX_LINE
        # Every line takes the careful reading when one may be too long, or the text holds a "\r" (a
        # line ending "\r\n": the careful reading strips it) or one of the separators \x1c-\x1f, which
        # str.lstrip() takes for blanks (as the quick reading uses it) and Go does not.
        self.careful = self.long_lines or "\r" in text or any(map(text.__contains__, _PYTHON_ONLY_BLANKS))
        self.index = 0  # next physical line to read (0-based)
        self.escape = "\\"
        self.directives: Dict[str, str] = {}
        self._directives_done = False

    def _read(self) -> str:
        """The next physical line (without its "\\n"), checked against BuildKit's line limit."""
        raw = self.lines[self.index]
        self.index += 1
        if self.long_lines and len(raw.encode("utf-8", "surrogatepass")) > MAX_LINE:
            raise D2SError("dockerfile line greater than max allowed size of %d" % MAX_LINE, self.index, 1,
                           self.path)
        return raw

    def _directive(self, token: str, line: int) -> None:
        match = _DIRECTIVE.match(token)
        if not match:
            self._directives_done = True
            return
        key = match.group(1).lower()
        if key not in DIRECTIVES:
            self._directives_done = True  # an unknown key is a plain comment and ends the directives
            return
        if key in self.directives:
            raise D2SError("only one %s parser directive can be used" % key, line, 1, self.path)
        value = match.group(2)
        if key == "escape":
            if value not in ("\\", "`"):
                raise D2SError("invalid escape token '%s' does not match ` or \\" % value, line,
                               1 + token.find(value, match.start(2)), self.path)
            self.escape = value
        self.directives[key] = value

    def _continued(self, text: str) -> Tuple[str, bool]:
        """BuildKit's ``([^E])E[ \\t]*$|^E[ \\t]*$``: the escape char last, blanks after it, not doubled."""
        end = text.rstrip(" \t")
        escape = self.escape
        if end[-1:] == escape and end[-2:-1] != escape:
            return end[:-1], True
        return text, False

    def _read_directives(self) -> None:
        """The parser directives at the top of the file: the first line that is not one ends them."""
        while self.index < self.count:
            raw = self._read()
            self._directive(raw.rstrip("\r\n").lstrip(GO_SPACE), self.index)
            if self._directives_done:
                self.index -= 1  # not a directive: read again as any line
                return
        self._directives_done = True

    def next_logical(self) -> Optional[LogicalLine]:
        """The next instruction's logical line, or None at the end of the file."""
        if not self._directives_done:
            self._read_directives()
        if self.careful:
            return self._next_logical_checked()
        # The same reading as _next_logical_checked, with its calls written out: this loop sees every
        # physical line of every file. In a text that is not careful nothing else differs, and there
        # str.lstrip() strips what lstrip(GO_SPACE) does, at a fraction of the cost (no set of
        # characters to look each one up in).
        lines, count, index, escape = self.lines, self.count, self.index, self.escape
        while index < count:
            body = lines[index]
            index += 1
            token = body.lstrip()
            if not token or token[0] == "#":
                continue  # a blank line; comments never continue a line
            number = index
            end = token.rstrip(" \t")  # not empty: token starts with no blank
            if end[-1] != escape or end[-2:-1] == escape:
                self.index = index
                return LogicalLine(token, number, number, len(token), 1 + len(body) - len(token), None, self)
            # Continued: its pieces are joined without noting where each came from (LogicalLine
            # works that out only if a position past the first piece is asked for).
            head_length, column = len(end) - 1, 1 + len(body) - len(token)
            parts = [end[:-1]]
            while index < count:
                body = lines[index]
                index += 1
                # Most lines hold no "#" and are not blank: no stripped copy is made of them.
                if "#" in body or body.isspace() or not body:
                    stripped = body.lstrip()
                    if not stripped or stripped[0] == "#":
                        continue  # comment and blank lines inside a continuation are skipped
                end = body.rstrip(" \t")  # not empty: the line is not blank
                if end[-1] != escape or end[-2:-1] == escape:
                    parts.append(body)  # the last piece
                    break
                parts.append(end[:-1])
            self.index = index
            return LogicalLine("".join(parts), number, index, head_length, column, None, self)
        self.index = index
        return None

    def pieces_from(self, line: int) -> List[Tuple[int, int, int]]:
        """The pieces of the logical line that starts on physical ``line``, read line by line."""
        saved = self.index
        self.index = line - 1
        try:
            return self._next_logical_checked().pieces
        finally:
            self.index = saved

    def _next_logical_checked(self) -> Optional[LogicalLine]:
        """next_logical in a careful text (see _Source.careful); pieces_from's reading of any line."""
        while self.index < self.count:
            raw = self._read()
            number = self.index
            body = raw.rstrip("\r\n")
            token = body.lstrip(GO_SPACE)
            if token.startswith("#"):
                continue  # comments never continue a line
            piece, continued = self._continued(token)
            if not continued and not piece:
                continue  # a blank line
            head_length, column = len(piece), 1 + len(body) - len(token)
            pieces = [(0, number, column)]
            parts = [piece]
            length = head_length
            while continued and self.index < self.count:
                raw = self._read()
                body = raw.rstrip("\r\n")
                stripped = body.lstrip(GO_SPACE)
                if not stripped or stripped.startswith("#"):
                    continue  # comment and blank lines inside a continuation are skipped
                piece, continued = self._continued(body)
                pieces.append((length, self.index, 1))
                parts.append(piece)
                length += len(piece)
            return LogicalLine("".join(parts), number, self.index, head_length, column, pieces)
        return None

    def heredoc_body(self, name: str, chomp: bool, logical: LogicalLine, column: int) -> Tuple[str, int]:
        """The raw body of a heredoc (line endings kept) and the line of its terminator."""
        body = []
        while self.index < self.count:
            raw = self._read()
            candidate = raw.rstrip("\r\n")
            if chomp:
                candidate = candidate.lstrip("\t")
            if candidate == name:
                return "".join(body), self.index
            body.append(raw + "\n" if self.index < self.count or self.newline_at_end else raw)
        raise D2SError("unterminated heredoc: no line reads %s" % _go_quote(name), logical.line, column, self.path)


# -- heredoc words ---------------------------------------------------------------------------------

def _shell_words(line: str) -> List[Tuple[str, int]]:
    """The shell words of a line (quotes and escapes kept), with their offsets.

    BuildKit lexes heredoc openers with ``\\`` as the escape character whatever the directive, and
    glues ``<<`` (or ``N<<-``) to the word after the blanks that follow it.
    """
    return [(match[0], match.start()) for match in _SHELL_WORD.finditer(line)]


def _heredoc_name(word: str) -> Tuple[str, bool]:
    """The delimiter a heredoc word names, and whether its body is expanded (no part was quoted)."""
    out = []
    quoted = False
    i = 0
    n = len(word)
    while i < n:
        c = word[i]
        if c == "\\":
            if i + 1 < n:
                out.append(word[i + 1])
            i += 2
        elif c == "'":
            end = word.find("'", i + 1)
            if end < 0:
                raise ValueError("unexpected end of statement while looking for matching single-quote")
            out.append(word[i + 1:end])
            quoted = True
            i = end + 1
        elif c == '"':
            i += 1
            while True:
                if i >= n:
                    raise ValueError("unexpected end of statement while looking for matching double-quote")
                c = word[i]
                if c == '"':
                    break
                if c == "\\" and i + 1 < n and word[i + 1] in '"\\$':
                    i += 1
                    c = word[i]
                out.append(c)
                i += 1
            quoted = True
            i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out), not quoted


def _heredoc_openers(text: str) -> List[Tuple[str, bool, bool, int, int]]:
    """(name, expand, chomp, file descriptor, offset) of each heredoc a line opens, in order."""
    found = []
    for word, offset in _shell_words(text):
        if "<<" not in word:
            continue  # most words: no regex needed
        match = _HEREDOC_WORD.match(word)
        if not match or not match.group(3):
            continue
        try:
            name, expand = _heredoc_name(match.group(3))
        except ValueError as err:
            raise _HeredocWordError(str(err), offset)
        found.append((name, expand, match.group(2) == "-", int(match.group(1) or 0), offset))
    return found


class _HeredocWordError(Exception):
    def __init__(self, message: str, offset: int):
        super().__init__(message)
        self.offset = offset


def _is_heredoc_word(word: str) -> bool:
    """BuildKit's MustParseHeredoc: does this argument name a heredoc?"""
    if "<<" not in word:  # most words: no regex needed
        return False
    match = _HEREDOC_WORD.match(word)
    if not match or not match.group(3):
        return False
    try:
        _heredoc_name(match.group(3))
    except ValueError:
        return False
    return True


# -- the grammar -----------------------------------------------------------------------------------

_PARSERS: Dict[str, object] = {}


def grammar_parser(escape: str = "\\"):
    """The LALR parser for logical lines, built once per escape character.

    It runs the parse tables Lark compiles from ``grammar/dockerfile.lark`` (or its backtick variant),
    which d2s keeps in its cache folder (generated.py), with lalr.Parser: later runs import no lark.
    It calls its :class:`_ToIR` transformer as it parses: ``parse`` returns the IR instruction, with
    no parse tree built and walked again.
    """
    parser = _PARSERS.get(escape)
    if parser is None:
        from .lalr import Parser

        parser = _PARSERS[escape] = Parser(grammar_tables(escape), _ToIR(escape), matches=True)
    return parser


_GRAMMARS = ("dockerfile.lark", "dockerfile_backtick.lark")  # the backtick grammar imports the other


def grammar_tables(escape: str = "\\") -> dict:
    """The parse tables of the grammar of ``escape`` (see generated.py)."""
    from .generated import tables

    name = "dockerfile_backtick.lark" if escape == "`" else "dockerfile.lark"
    return tables(name, _GRAMMARS, start=["start"])


# -- values ----------------------------------------------------------------------------------------

def _go_quote(text: str) -> str:
    """Go's strconv.Quote (the %q of BuildKit's messages)."""
    out = ['"']
    for c in text:
        if c == '"' or c == "\\":
            out.append("\\" + c)
        elif c == "\n":
            out.append("\\n")
        elif c == "\t":
            out.append("\\t")
        elif c == "\r":
            out.append("\\r")
        elif c == "\a":
            out.append("\\a")
        elif c == "\b":
            out.append("\\b")
        elif c == "\f":
            out.append("\\f")
        elif c == "\v":
            out.append("\\v")
        elif c.isprintable() or c == " ":
            out.append(c)
        elif ord(c) < 0x100:
            out.append("\\x%02x" % ord(c))
        elif ord(c) < 0x10000:
            out.append("\\u%04x" % ord(c))
        else:
            out.append("\\U%08x" % ord(c))
    out.append('"')
    return "".join(out)


class _NotStrings(Exception):
    pass


def _no_constant(name):
    raise ValueError("not JSON: %s" % name)


def _go_float(text):
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError("number out of range")  # Go's decoder fails: BuildKit falls back to shell form
    return value


_JSON = json.JSONDecoder(parse_constant=_no_constant, parse_float=_go_float, parse_int=_go_float)


def _json_array(text: str) -> Optional[List[str]]:
    """BuildKit's parseJSON: the strings of a JSON array at the start of ``text``, or None.

    Like Go's json.Decoder, the first value counts and anything after it is ignored; text that is
    not a JSON array is not an error (it is the shell form). An array holding anything but strings
    raises :class:`_NotStrings`.
    """
    text = text.lstrip(GO_SPACE)
    if not text.startswith("["):
        return None
    try:
        value, _ = _JSON.raw_decode(text)
    except (ValueError, RecursionError):
        return None
    if not isinstance(value, list):
        return None
    for item in value:
        if not isinstance(item, str):
            raise _NotStrings()
    return [_fix_surrogates(item) for item in value]


def _fix_surrogates(text: str) -> str:
    """Go replaces a lone UTF-16 surrogate escape (``\\ud800``) with U+FFFD."""
    if text.isascii():  # most strings: known to the str object, no look at each character
        return text
    return _SURROGATE.sub("\ufffd", text)


_SURROGATE = re.compile("[\ud800-\udfff]")


_DURATION_UNITS = {"ns": 1, "us": 1000, "\u00b5s": 1000, "\u03bcs": 1000, "ms": 1000000, "s": 10 ** 9,
                   "m": 60 * 10 ** 9, "h": 3600 * 10 ** 9}
_DURATION_PART = re.compile(r"(\d*)(?:\.(\d*))?([^\d.]*)")


def _go_duration(text: str) -> int:
    """Go's time.ParseDuration, in nanoseconds; ValueError with Go's message."""
    invalid = "time: invalid duration %s" % _go_quote(text)
    rest = text
    negative = False
    if rest[:1] in ("-", "+"):
        negative = rest[0] == "-"
        rest = rest[1:]
    if rest == "0":
        return 0
    if not rest:
        raise ValueError(invalid)
    total = 0.0
    while rest:
        match = _DURATION_PART.match(rest)
        whole, fraction, unit = match.group(1), match.group(2), match.group(3)
        if not whole and not fraction:
            raise ValueError(invalid)
        if not unit:
            raise ValueError("time: missing unit in duration %s" % _go_quote(text))
        if unit not in _DURATION_UNITS:
            raise ValueError("time: unknown unit %s in duration %s" % (_go_quote(unit), _go_quote(text)))
        value = float("%s.%s" % (whole or "0", fraction or "0"))
        total += value * _DURATION_UNITS[unit]
        rest = rest[match.end():]
    if total > 2 ** 63 - 1:
        raise ValueError(invalid)
    return -int(total) if negative else int(total)


def _go_int32(text: str) -> int:
    """Go's strconv.ParseInt(text, 10, 32); ValueError with Go's message."""
    if not re.match(r"[+-]?\d+\Z", text):
        raise ValueError("strconv.ParseInt: parsing %s: invalid syntax" % _go_quote(text))
    value = int(text)
    if not -2 ** 31 <= value < 2 ** 31:
        raise ValueError("strconv.ParseInt: parsing %s: value out of range" % _go_quote(text))
    return value


def _levenshtein(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def _suggest(word: str, choices, prefix: str = "") -> str:
    """`` (did you mean X?)`` for the closest choice, when it is close enough."""
    lowered = word.lower()
    best = None
    for choice in choices:
        distance = _levenshtein(lowered, choice.lower())
        if best is None or distance < best[0]:
            best = (distance, choice)
    if best and best[0] <= max(1, min(2, len(word) // 3)) and best[0] < len(word):
        return " (did you mean %s%s?)" % (prefix, best[1])
    return ""


# -- the transformer: parse tree -> IR ---------------------------------------------------------------

_END_OF_FLAGS = object()


class _Problem(Exception):
    """An error of BuildKit's instruction layer: reported after the whole file is read."""


class _ToIR:
    """Builds the IR instruction of one logical line from its parse tree.

    Its tokens are the lexer's regex matches (lalr.Parser(..., matches=True)): ``m[0]`` is the text,
    ``m.start()`` the offset in the line and ``m.lastgroup`` the terminal.

    AST-level errors raise :class:`D2SError` at once; instruction-level errors are recorded in
    ``problems`` (by node id) and raised by :func:`parse` in file order. The trigger of an
    ONBUILD is parsed but not checked (BuildKit checks it in the downstream build).
    """

    def __init__(self, escape: str):
        self.escape = escape
        self.path = "Dockerfile"  # set for each file by _read
        # id(node) -> (node, error); holding the node keeps its id from being reused by a later
        # node of the same line (an ONBUILD trigger is replaced and freed), which once gave a
        # stale error to another instruction.
        self.problems: Dict[int, Tuple[Instruction, D2SError]] = {}
        self.logical: Optional[LogicalLine] = None
        self.line_text = ""
        self.lead = 0
        quoted_double = r'"((?:[^"%s]|%s[\s\S])*)("?)\Z' % ((re.escape(escape),) * 2)
        quoted_single = r"'((?:[^'%s]|%s[\s\S])*)('?)\Z" % ((re.escape(escape),) * 2)
        self._double = re.compile(quoted_double)
        self._single = re.compile(quoted_single)
        self._unescape = re.compile(re.escape(escape) + r"([\s\S])")

    # positions -------------------------------------------------------------------------------
    def at(self, pos: int) -> Tuple[int, int]:
        return self.logical.locate(self.lead + pos)

    def fail(self, message: str, pos) -> D2SError:
        """An error at an offset of the trimmed line, or at a Span."""
        if isinstance(pos, Span):
            return D2SError(message, pos.line, pos.column, self.path)
        line, column = self.at(pos)
        return D2SError(message, line, column, self.path)

    def problem(self, node: Instruction, message: str, pos) -> Instruction:
        if id(node) not in self.problems:
            self.problems[id(node)] = (node, self.fail(message, pos))
        return node

    # pieces ----------------------------------------------------------------------------------
    def flag(self, children):
        start = children[0]
        if len(children) == 2 and children[1].lastgroup == "FLAG_PLAIN":
            word = children[1][0]  # the common case: no quotes, no escapes
        else:
            out = []
            for part in children[1:]:
                kind = part.lastgroup
                if kind == "FLAG_PLAIN":
                    out.append(part[0])
                elif kind == "FLAG_ESCAPED":
                    out.append(part[0][1:])
                else:
                    match = (self._double if kind == "FLAG_DOUBLE" else self._single).match(part[0])
                    out.append(self._unescape.sub(r"\1", match.group(1)))
            word = "".join(out)
        name, has_value, value = word.partition("=")
        line, column = self.logical.locate(self.lead + start.start())
        return Flag(name, value if has_value else None, Span(line, column, line))

    def end_of_flags(self, children):
        return _END_OF_FLAGS

    def pairs(self, children):
        return ("pairs", children)

    def legacy_pair(self, children):
        return ("legacy", children)

    def health(self, children):
        return ("health", children)

    # instructions ----------------------------------------------------------------------------
    # The nodes are made with positional arguments (their own fields handed over or set after): a
    # keyword argument cost a constructor with eleven parameters twice the time (~0.4 us a line).
    def _split(self, children):
        # children: the keyword, its flags, the `--` marker if any, then the arguments (grammar's _tail)
        keyword = children[0]
        count = len(children)
        if count == 1 or (children[1].__class__ is not Flag and children[1] is not _END_OF_FLAGS):
            flags, args = [], children[1:]  # most lines: no flags
        else:
            i = 1
            while i < count and children[i].__class__ is Flag:
                i += 1
            flags = children[1:i]
            if i < count and children[i] is _END_OF_FLAGS:
                i += 1
            args = children[i:]
        logical = self.logical
        start = keyword.start()
        offset = self.lead + start
        if offset < logical.head_length:  # the common case: the keyword is on the first physical line
            column = logical.column + offset
        else:
            line, column = logical.locate(offset)
            if line != logical.line:
                column = 1
        original = logical.text if offset == 0 else self.line_text[start:]
        return keyword, flags, args, Span(logical.line, column, logical.end_line), original

    def _check_flags(self, node: Instruction, name: str) -> bool:
        """BuildKit's BFlags.Parse for this instruction; False once a problem is recorded.

        Its callers skip it for a line without flags (most lines): a call less.
        """
        allowed = FLAGS.get(name, {})
        seen = set()
        for flag in node.flags:
            where = flag.span
            kind = allowed.get(flag.name)
            if kind is None:
                if name == "COPY" and flag.name == "checksum":
                    self.problem(node, "checksum can't be specified for COPY", where)
                    return False
                hint = _suggest(flag.name, allowed, "--") if allowed else ""
                self.problem(node, "unknown flag: --%s%s" % (flag.name, hint), where)
                return False
            if flag.name in seen and kind != _LIST:
                self.problem(node, "duplicate flag specified: --%s" % flag.name, where)
                return False
            seen.add(flag.name)
            if kind == _BOOL:
                if flag.value == "":
                    self.problem(node, "missing a value on flag: --%s" % flag.name, where)
                    return False
                if flag.value is not None and flag.value.lower() not in ("true", "false"):
                    self.problem(node, "expecting boolean value for flag --%s, not: %s" % (flag.name, flag.value),
                                 where)
                    return False
            elif flag.value is None:
                self.problem(node, "missing a value on flag: --%s" % flag.name, where)
                return False
        return True

    def _command(self, token):
        """The exec form of a JSON array, else the shell form (parseMaybeJSON)."""
        text = token[0]
        if text[0] != "[" and text[0] not in GO_SPACE:  # not an array: the shell form
            return ShellForm(text)
        try:
            argv = _json_array(text)
        except _NotStrings:
            raise self.fail("when using JSON array syntax, arrays must be comprised of strings only",
                            token.start())
        return ExecForm(argv) if argv is not None else ShellForm(text)

    @staticmethod
    def _list_words(args) -> List[str]:
        """The words of the arguments' LIST token (none when there are no arguments)."""
        if not args:
            return []
        words = args[0][0]
        # The common case, words separated by spaces alone: a printable text holds no other blank
        # str.split would split on, and the token has none at either end.
        return words.split() if words.isprintable() else _LIST_SEPARATOR.split(words)

    @staticmethod
    def _word_at(args, index: int) -> int:
        """The offset in the line of word ``index`` of the arguments' LIST token (for an error)."""
        return args[0].start() + [m.start() for m in _LIST_WORD.finditer(args[0][0])][index]

    def _list_form(self, args):
        """parseMaybeJSONToList: a JSON array, else the whitespace-separated words."""
        if args and args[0][0].startswith("["):
            try:
                argv = _json_array(self.line_text[args[0].start():])
            except _NotStrings:
                raise self.fail("when using JSON array syntax, arrays must be comprised of strings only",
                                args[0].start())
            if argv is not None:
                return argv, True
        return self._list_words(args), False

    def from_(self, children):
        keyword, flags, args, span, original = self._split(children)
        words = self._list_words(args)
        node = From("FROM", span, flags, original)
        node.image = words[0] if words else ""
        if len(words) == 3 and words[1].lower() == "as":
            name = words[2].lower()
            if not _STAGE_NAME.match(name):
                self.problem(node, 'invalid name for build stage: %s, name can\'t start with a number or contain '
                                   "symbols" % _go_quote(words[2]), self._word_at(args, 2))
            node.stage_name = name
        elif len(words) != 1:
            self.problem(node, "FROM requires either one or three arguments", keyword.start())
        if flags and self._check_flags(node, "FROM"):
            platform = node.flag("platform")
            node.platform = platform.value if platform else None
        return node

    def _shell_dependent(self, cls, name, children):
        keyword, flags, args, span, original = self._split(children)
        command = self._command(args[0]) if args else None
        # None: the constructor's empty shell form
        node = cls(name, span, flags, original, None, None, None, command)
        if flags and not self._check_flags(node, name):
            return node
        if command is None:
            self.problem(node, "%s requires at least one argument" % name, keyword.start())
        return node

    # One instruction family, one method: the partials spare each line a call.
    run = partialmethod(_shell_dependent, Run, "RUN")
    cmd = partialmethod(_shell_dependent, Cmd, "CMD")
    entrypoint = partialmethod(_shell_dependent, Entrypoint, "ENTRYPOINT")

    def shell(self, children):
        keyword, flags, args, span, original = self._split(children)
        node = Shell("SHELL", span, flags, original)
        command = self._command(args[0]) if args else None
        if flags and not self._check_flags(node, "SHELL"):
            return node
        if command is None or (isinstance(command, ExecForm) and not command.argv):
            self.problem(node, "SHELL requires at least one argument", keyword.start())
        elif isinstance(command, ShellForm):
            self.problem(node, "SHELL requires the arguments to be in JSON form", args[0].start())
        else:
            node.argv = command.argv
        return node

    def _key_values(self, cls, name, children):
        keyword, flags, args, span, original = self._split(children)
        pairs = []
        legacy = False
        blank = None  # the first word with no key
        if args:
            kind, tokens = args[0]
            if kind == "legacy":
                if len(tokens) < 2:
                    raise self.fail("%s must have two arguments" % name, tokens[0].start())
                pairs.append(KeyValue(tokens[0][0], tokens[1][0]))
                legacy = True
            else:
                for word in tokens:
                    key, has_value, value = word[0].partition("=")
                    if not has_value:
                        raise self.fail("Syntax error - can't find = in %s. Must be of the form: name=value"
                                        % _go_quote(word[0]), word.start())
                    if not key and blank is None:
                        blank = word
                    pairs.append(KeyValue(key, value))
        node = cls(name, span, flags, original, None, None, None, pairs, legacy)
        if flags and not self._check_flags(node, name):
            return node
        if not pairs:
            return self.problem(node, "%s requires at least one argument" % name, keyword.start())
        if blank is not None:
            return self.problem(node, "%s names can not be blank" % name, blank.start())
        return node

    env = partialmethod(_key_values, Env, "ENV")
    label = partialmethod(_key_values, Label, "LABEL")

    def arg(self, children):
        keyword, flags, words, span, original = self._split(children)
        declarations = []
        blank = None  # the first word with no name
        for word in words:
            name, has_default, default = word[0].partition("=")
            if not name and blank is None:
                blank = word
            declarations.append(ArgDeclaration(name, default if has_default else None))
        node = Arg("ARG", span, flags, original, None, None, None, declarations)
        if not words:
            return self.problem(node, "ARG requires at least one argument", keyword.start())
        if flags and not self._check_flags(node, "ARG"):
            return node
        if blank is not None:
            return self.problem(node, "ARG names can not be blank", blank.start())
        return node

    def _copy(self, name, children):
        keyword, flags, args, span, original = self._split(children)
        node = Copy(name, span, flags, original)
        paths, node.json = self._list_form(args)
        if paths:
            node.sources, node.destination = paths[:-1], paths[-1]
        if len(paths) < 2:
            return self.problem(node, "%s requires at least two arguments, but only one was provided. "
                                      "Destination could not be determined" % name, keyword.start())
        if flags and not self._check_flags(node, name):
            return node
        if _is_heredoc_word(node.destination):
            where = self._word_at(args, -1) if not node.json else args[0].start()
            return self.problem(node, "%s cannot accept a heredoc as a destination" % name, where)
        return node

    copy = partialmethod(_copy, "COPY")
    add = partialmethod(_copy, "ADD")

    def volume(self, children):
        keyword, flags, args, span, original = self._split(children)
        node = Volume("VOLUME", span, flags, original)
        node.paths, node.json = self._list_form(args)
        if not node.paths and not node.json:
            return self.problem(node, "VOLUME requires at least one argument", keyword.start())
        if not node.paths:
            return self.problem(node, "VOLUME requires at least one argument", args[0].start())
        if flags and not self._check_flags(node, "VOLUME"):
            return node
        for path in node.paths:
            if not path.strip(GO_SPACE):
                return self.problem(node, "VOLUME specified can not be an empty string", args[0].start())
        return node

    def expose(self, children):
        keyword, flags, args, span, original = self._split(children)
        node = Expose("EXPOSE", span, flags, original)
        node.ports = self._list_words(args)
        if not args:
            return self.problem(node, "EXPOSE requires at least one argument", keyword.start())
        if flags:
            self._check_flags(node, "EXPOSE")
        return node

    def _one_string(self, cls, name, field, children):
        keyword, flags, args, span, original = self._split(children)
        node = cls(name, span, flags, original)
        setattr(node, field, args[0][0] if args else "")
        if not args:
            return self.problem(node, "%s requires exactly one argument" % name, keyword.start())
        if flags:
            self._check_flags(node, name)
        return node

    workdir = partialmethod(_one_string, Workdir, "WORKDIR", "path")
    user = partialmethod(_one_string, User, "USER", "user")
    stopsignal = partialmethod(_one_string, StopSignal, "STOPSIGNAL", "signal")
    maintainer = partialmethod(_one_string, Maintainer, "MAINTAINER", "name")

    def healthcheck(self, children):
        keyword, flags, args, span, original = self._split(children)
        node = Healthcheck("HEALTHCHECK", span, flags, original)
        if not args:
            node.kind = ""  # refused below; the IR keeps what was written
            return self.problem(node, "HEALTHCHECK requires at least one argument", keyword.start())
        tokens = args[0][1]
        kind_token = tokens[0]
        command = self._command(tokens[1]) if len(tokens) > 1 else None
        kind = node.kind = kind_token[0].upper()
        node.command = command
        if kind == "NONE":
            if command is not None:
                self.problem(node, "HEALTHCHECK NONE takes no arguments", tokens[1].start())
            return node  # BuildKit does not look at the flags of HEALTHCHECK NONE
        if flags and not self._check_flags(node, "HEALTHCHECK"):
            return node
        if kind != "CMD":
            return self.problem(node, "Unknown type %s in HEALTHCHECK (try CMD)" % _go_quote(kind),
                                kind_token.start())
        if command is None or (isinstance(command, ExecForm) and not command.argv):
            return self.problem(node, "Missing command after HEALTHCHECK CMD", kind_token.start())
        for flag in node.flags:
            if flag.name in _HEALTH_DURATIONS and flag.value:
                try:
                    duration = _go_duration(flag.value)
                except ValueError as err:
                    return self.problem(node, str(err), flag.span)
                if duration and duration < 1000000:
                    return self.problem(node, "Interval %s cannot be less than 1ms" % _go_quote(flag.name),
                                        flag.span)
        retries = node.flag("retries")
        if retries is not None and retries.value:
            try:
                count = _go_int32(retries.value)
            except ValueError as err:
                return self.problem(node, str(err), retries.span)
            if count < 0:
                return self.problem(node, "--retries cannot be negative (%d)" % count, retries.span)
        return node

    def onbuild(self, children):
        keyword, flags, args, span, original = self._split(children)
        node = Onbuild("ONBUILD", span, flags, original)
        if not args:
            return self.problem(node, "ONBUILD requires at least one argument", keyword.start())
        trigger = args[0]
        trigger_pos = trigger.span
        if id(trigger) in self.problems:
            # Checked only when a downstream build runs the trigger: keep it as written.
            trigger = Instruction(trigger.keyword, trigger.span, trigger.flags, original=trigger.original)
        node.trigger = trigger
        if flags and not self._check_flags(node, "ONBUILD"):
            return node
        if trigger.keyword == "ONBUILD":
            return self.problem(node, "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed", trigger_pos)
        if trigger.keyword in ("MAINTAINER", "FROM"):
            return self.problem(node, "%s isn't allowed as an ONBUILD trigger" % trigger.keyword, trigger_pos)
        return node

    def unknown(self, children):
        keyword, flags, args, span, original = self._split(children)
        name = keyword[0].rstrip(" \t\v\f\r").upper()  # the token takes the separator after it
        node = Instruction(name, span, flags, original)
        return self.problem(node, "unknown instruction: %s%s" % (name, _suggest(name, INSTRUCTIONS)),
                            keyword.start())


# -- the file --------------------------------------------------------------------------------------

_HEREDOC_KEYWORDS = ("RUN", "COPY", "ADD")


def _heredoc_target(node: Instruction) -> Optional[Instruction]:
    """The instruction whose heredocs a line opens: RUN/COPY/ADD (or one as an ONBUILD trigger), not JSON."""
    if isinstance(node, Onbuild):
        node = node.trigger
    if isinstance(node, Run):
        return node if isinstance(node.command, ShellForm) else None
    if isinstance(node, Copy):
        return None if node.json else node
    return None


def _check_text(text: str, path: str) -> None:
    nul = text.find("\x00")
    if nul != -1:
        before = text[:nul]
        raise D2SError("input contains a NUL byte (binary file?)", before.count("\n") + 1,
                       nul - (before.rfind("\n") + 1) + 1, path)
    if text.isascii():  # known to the str object: no copy of the text made to check it
        return
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as err:
        before = text[:err.start]
        raise D2SError("input is not valid UTF-8 text (binary file?)", before.count("\n") + 1,
                       err.start - (before.rfind("\n") + 1) + 1, path)


def parse(text: str, path: str = "Dockerfile") -> Dockerfile:
    """Parse Dockerfile ``text`` into the IR. Raises :class:`D2SError` (with line and column) for bad input."""
    nodes, source = _read(text, path)
    return _assemble(nodes, source, path)


def instructions(text: str, path: str = "Dockerfile") -> List[Tuple[Instruction, Optional[D2SError]]]:
    """Every instruction as BuildKit's AST layer reads it, with the error its instruction layer would give.

    Raises :class:`D2SError` only for what the AST layer itself rejects. For tests and tools that
    compare d2s's reading of a file with BuildKit's; :func:`parse` is the API.
    """
    return _read(text, path)[0]


# The grammar's transformer keeps the state of the file being read: one file at a time.
_READING = _thread.allocate_lock()


def _read(text: str, path: str):
    _check_text(text, path)
    with _READING:
        return _read_locked(text, path)


def _trim_go_space(text: str) -> str:
    return text.strip(GO_SPACE)


def _read_locked(text: str, path: str):
    source = _Source(text, path)
    parser = transformer = parse_line = problems = None
    nodes: List[Tuple[Instruction, Optional[D2SError]]] = []
    next_logical, add = source.next_logical, nodes.append  # this loop runs for every instruction
    # Out of a careful text, str.strip() strips Go's blanks (see _Source.careful), and costs less.
    trim = _trim_go_space if source.careful else str.strip
    while True:
        logical = next_logical()
        if logical is None:
            break
        escape = source.escape
        if transformer is None or transformer.escape != escape:
            parser = grammar_parser(escape)
            parse_line = parser.parse
            transformer = parser.transformer
            transformer.path = path
            problems = transformer.problems
            problems.clear()
        line_text = logical.text
        trimmed = trim(line_text)
        if not trimmed:
            # A line of nothing but continuations: BuildKit keeps an instruction with no name.
            line, column = logical.locate(0)
            node = Instruction("", Span(logical.line, column, logical.end_line), original=logical.text)
            nodes.append((node, D2SError("unknown instruction: (an empty line continued with %s)" % escape,
                                         logical.line, column, path)))
            continue
        transformer.logical = logical
        transformer.line_text = trimmed
        # No blank in front, most often nothing trimmed at all (the very same string back).
        if trimmed is line_text or line_text[0] == trimmed[0]:
            transformer.lead = 0
        else:
            transformer.lead = len(line_text) - len(line_text.lstrip(GO_SPACE))
        node = parse_line(trimmed)
        # "<" first: a search for one character is a memchr, much quicker than one for two.
        target = _heredoc_target(node) if "<" in trimmed and "<<" in trimmed else None
        if target is not None:
            try:
                openers = _heredoc_openers(logical.text)
            except _HeredocWordError as err:
                line, column = logical.locate(err.offset)
                raise D2SError(str(err), line, column, path)
            for name, expand, chomp, fd, offset in openers:
                line, column = logical.locate(offset)
                body, end = source.heredoc_body(name, chomp, logical, column)
                target.heredocs.append(Heredoc(name, body, expand, chomp, fd, Span(line, column, end)))
                logical.end_line = end
            if openers:
                node.span = Span(node.span.line, node.span.column, logical.end_line)
                if target is not node:
                    target.span = Span(target.span.line, target.span.column, logical.end_line)
        if problems:
            add((node, problems.pop(id(node), (None, None))[1]))
            problems.clear()
        else:
            add((node, None))
    if not nodes:
        raise D2SError("file with no instructions", max(source.count, 1), 1, path)
    return nodes, source


def _assemble(nodes, source: _Source, path: str) -> Dockerfile:
    """Stages and global ARGs, checked in file order like BuildKit's instructions.Parse."""
    stages: List[Stage] = []
    global_args: List[Arg] = []
    for node, problem in nodes:
        if problem is not None:
            raise problem
        if isinstance(node, From):
            stages.append(Stage(len(stages), node))
        elif stages:
            stages[-1].instructions.append(node)
        elif isinstance(node, Arg):
            global_args.append(node)
        else:
            raise D2SError("no build stage in current context", node.span.line, node.span.column, path)
    if not stages:
        first = nodes[0][0]
        raise D2SError("dockerfile contains no stages to build (no FROM)", first.span.line, first.span.column, path)
    seen = set()
    for stage in stages:
        name = stage.base.stage_name
        if name:
            if name in seen:
                raise D2SError("duplicate stage name %s" % _go_quote(name), stage.base.span.line,
                               stage.base.span.column, path)
            seen.add(name)
    return Dockerfile(stages=stages, global_args=global_args, directives=dict(source.directives),
                      escape=source.escape, path=path)
