"""Go's ``path/filepath.Match`` and ``.dockerignore`` with ``moby/patternmatcher`` semantics.

Two pattern languages live here, because BuildKit uses two:

* :func:`match` is Go's ``filepath.Match`` on ``/``-separated paths, used by COPY/ADD wildcards:
  ``*`` (never crosses ``/``), ``?`` (one character, not ``/``), ``[...]`` classes with ranges and
  ``^`` negation (a class *can* match ``/``), ``\\`` escapes. Malformed patterns raise
  :class:`PatternError` (Go's ``ErrBadPattern``) whatever the name, as Go does since 1.16. The
  algorithm is Go's own (chunks after each ``*`` matched at the leftmost place, no backtracking),
  so its rare incompleteness with classes that match ``/`` is reproduced too.
* :class:`IgnoreMatcher` is ``patternmatcher`` (``.dockerignore``, ``COPY --exclude``, the include
  pattern of ``COPY --parents``): the same syntax plus ``**``; each pattern is turned into the
  same regular expression patternmatcher builds, including its fast exact/prefix/suffix cases and
  quirks (``**foo`` also matches ``xfoo``; ``dir/**`` does not match ``dir`` itself). A path is
  judged with ``MatchesUsingParentResults`` walked from the top folder down, as BuildKit's file
  transfer does: a pattern matches a path or one of its parents, the last matching pattern
  wins, ``!`` patterns re-include.

:func:`read_ignore_file` reads a ``.dockerignore`` like ``ignorefile.ReadAll`` (comments only with
``#`` in column 1, whitespace trimmed, ``filepath.Clean``, one leading ``/`` dropped) and
validates each line like ``patternmatcher.New`` (a lone ``!`` and malformed patterns are errors,
reported with their line). :func:`find_ignore_file` picks ``<Dockerfile>.dockerignore`` over the
context's ``.dockerignore``.

Only ``.`` patterns are dropped beyond what BuildKit drops (they can match nothing). Escapes of
letters and digits in ``.dockerignore`` patterns keep Go regexp's meaning for ``\\d \\s \\w`` (and
their negations) and the control escapes ``\\a \\f \\t \\n \\r \\v``; other ones (``\\x41``, ``\\pL``,
``\\b``...) are refused with a PatternError rather than guessed.
"""

import os
import posixpath
import re
from typing import Iterable, List, Optional, Sequence, Tuple, Union

__all__ = [
    "PatternError",
    "match",
    "has_wildcards",
    "has_wildcard",
    "split_wildcards",
    "clean",
    "Rule",
    "IgnoreMatcher",
    "read_ignore_file",
    "find_ignore_file",
]


class PatternError(ValueError):
    """A malformed pattern (Go's ``filepath.ErrBadPattern`` and friends); ``line`` when known."""

    def __init__(self, message: str, pattern: Optional[str] = None, line: Optional[int] = None):
        super().__init__(message)
        self.message = message
        self.pattern = pattern
        self.line = line


def _bad(pattern: str) -> PatternError:
    return PatternError("syntax error in pattern: %r" % pattern, pattern)


# Go's unicode.IsSpace, for strings.TrimSpace.
_GO_SPACE = "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a" \
            "\u2028\u2029\u202f\u205f\u3000"


def _trim_space(text: str) -> str:
    return text.strip(_GO_SPACE)


def clean(path: str) -> str:
    """Go's ``path.Clean`` (``filepath.Clean`` on Linux): ``""`` is ``.``; ``//a`` is ``/a``."""
    if not path:
        return "."
    cleaned = posixpath.normpath(path)
    if cleaned.startswith("//"):
        cleaned = "/" + cleaned.lstrip("/")
    return cleaned


# -- filepath.Match ----------------------------------------------------------------------------

def _scan_chunk(pattern: str) -> Tuple[bool, str, str]:
    """Leading stars, then the run up to the next ``*`` outside a class."""
    star = False
    while pattern.startswith("*"):
        pattern = pattern[1:]
        star = True
    in_range = False
    i = 0
    n = len(pattern)
    while i < n:
        c = pattern[i]
        if c == "\\":
            if i + 1 < n:
                i += 1
        elif c == "[":
            in_range = True
        elif c == "]":
            in_range = False
        elif c == "*" and not in_range:
            break
        i += 1
    return star, pattern[:i], pattern[i:]


def _class_char(chunk: str, i: int, pattern: str) -> Tuple[str, int]:
    """Go's ``getEsc``: one (possibly escaped) class character; something must follow it."""
    if i >= len(chunk) or chunk[i] == "-" or chunk[i] == "]":
        raise _bad(pattern)
    if chunk[i] == "\\":
        i += 1
        if i >= len(chunk):
            raise _bad(pattern)
    ch = chunk[i]
    i += 1
    if i >= len(chunk):
        raise _bad(pattern)
    return ch, i


def _match_chunk(chunk: str, s: str, pattern: str) -> Optional[str]:
    """Match ``chunk`` (no ``*``) at the start of ``s``: the rest of ``s``, or None.

    Like Go, the whole chunk is checked for syntax even after the match has failed.
    """
    failed = False
    ci = 0
    si = 0
    cn = len(chunk)
    sn = len(s)
    while ci < cn:
        if not failed and si >= sn:
            failed = True
        c = chunk[ci]
        if c == "[":
            r = None
            if not failed:
                r = s[si]
                si += 1
            ci += 1
            negated = False
            if ci < cn and chunk[ci] == "^":
                negated = True
                ci += 1
            matched = False
            ranges = 0
            while True:
                if ci < cn and chunk[ci] == "]" and ranges > 0:
                    ci += 1
                    break
                lo, ci = _class_char(chunk, ci, pattern)
                hi = lo
                if chunk[ci] == "-":
                    hi, ci = _class_char(chunk, ci + 1, pattern)
                if r is not None and lo <= r <= hi:
                    matched = True
                ranges += 1
            if matched == negated:
                failed = True
        elif c == "?":
            if not failed:
                if s[si] == "/":
                    failed = True
                si += 1
            ci += 1
        else:
            if c == "\\":
                ci += 1
                if ci >= cn:
                    raise _bad(pattern)
                c = chunk[ci]
            if not failed:
                if c != s[si]:
                    failed = True
                si += 1
            ci += 1
    if failed:
        return None
    return s[si:]


def match(pattern: str, name: str) -> bool:
    """Go's ``filepath.Match(pattern, name)`` with ``/`` as the separator."""
    whole = pattern
    while pattern:
        star, chunk, pattern = _scan_chunk(pattern)
        if star and not chunk:
            return "/" not in name  # a trailing * matches the rest unless it has a /
        rest = _match_chunk(chunk, name, whole)
        if rest is not None and (not rest or pattern):
            name = rest
            continue
        if star:
            found = False
            i = 0
            while i < len(name) and name[i] != "/":
                rest = _match_chunk(chunk, name[i + 1:], whole)
                if rest is not None:
                    if not pattern and rest:  # the last chunk must use up the name
                        i += 1
                        continue
                    name = rest
                    found = True
                    break
                i += 1
            if found:
                continue
        # No match: Go still reports a malformed remainder of the pattern.
        while pattern:
            _, chunk, pattern = _scan_chunk(pattern)
            _match_chunk(chunk, "", whole)
        return False
    return not name


def has_wildcards(path: str) -> bool:
    """BuildKit/fsutil ``containsWildcards``: ``*``, ``?`` or ``[`` not escaped by ``\\``."""
    i = 0
    n = len(path)
    while i < n:
        ch = path[i]
        if ch == "\\":
            i += 1
        elif ch == "*" or ch == "?" or ch == "[":
            return True
        i += 1
    return False


has_wildcard = has_wildcards  # the older name


def split_wildcards(path: str) -> Tuple[str, str]:
    """fsutil ``splitWildcards``: the folders before the first component with a wildcard, and
    the rest (``"a/b*/c"`` gives ``("a", "b*/c")``); either may be empty."""
    head = []
    tail = []
    found = False
    for part in path.split("/"):
        if not found and has_wildcards(part):
            found = True
        (tail if found else head).append(part)
    return "/".join(p for p in head if p), "/".join(tail)


# -- patternmatcher ----------------------------------------------------------------------------

_EXACT, _PREFIX, _SUFFIX, _REGEXP = "exact", "prefix", "suffix", "regexp"
_META = frozenset(".+()|{}$")  # escaped by patternmatcher: regexp syntax with no glob meaning

_MAX_CODE = 0x10FFFF
_ASCII_DIGIT = ((0x30, 0x39),)
_ASCII_SPACE = ((0x09, 0x0A), (0x0C, 0x0D), (0x20, 0x20))  # Go's \s: [\t\n\f\r ]
_ASCII_WORD = ((0x30, 0x39), (0x41, 0x5A), (0x5F, 0x5F), (0x61, 0x7A))
_POSIX = {
    "alnum": ((0x30, 0x39), (0x41, 0x5A), (0x61, 0x7A)),
    "alpha": ((0x41, 0x5A), (0x61, 0x7A)),
    "ascii": ((0x00, 0x7F),),
    "blank": ((0x09, 0x09), (0x20, 0x20)),
    "cntrl": ((0x00, 0x1F), (0x7F, 0x7F)),
    "digit": _ASCII_DIGIT,
    "graph": ((0x21, 0x7E),),
    "lower": ((0x61, 0x7A),),
    "print": ((0x20, 0x7E),),
    "punct": ((0x21, 0x2F), (0x3A, 0x40), (0x5B, 0x60), (0x7B, 0x7E)),
    "space": ((0x09, 0x0D), (0x20, 0x20)),
    "upper": ((0x41, 0x5A),),
    "word": _ASCII_WORD,
    "xdigit": ((0x30, 0x39), (0x41, 0x46), (0x61, 0x66)),
}
_CLASS_ESCAPES = {"d": _ASCII_DIGIT, "s": _ASCII_SPACE, "w": _ASCII_WORD}
_CONTROL_ESCAPES = {"a": "\a", "f": "\f", "t": "\t", "n": "\n", "r": "\r", "v": "\v"}


def _complement(ranges: Sequence[Tuple[int, int]]) -> Tuple[Tuple[int, int], ...]:
    out = []
    nxt = 0
    for lo, hi in sorted(ranges):
        if lo > nxt:
            out.append((nxt, lo - 1))
        nxt = max(nxt, hi + 1)
    if nxt <= _MAX_CODE:
        out.append((nxt, _MAX_CODE))
    return tuple(out)


class _Set:
    """A set of characters: code point ranges, possibly negated."""

    __slots__ = ("ranges", "negated")

    def __init__(self, ranges, negated=False):
        self.ranges = tuple(ranges)
        self.negated = negated

    def __contains__(self, ch: str) -> bool:
        code = ord(ch)
        inside = any(lo <= code <= hi for lo, hi in self.ranges)
        return inside != self.negated

    def to_regex(self) -> str:
        body = "".join(("\\U%08x" % lo) if lo == hi else ("\\U%08x-\\U%08x" % (lo, hi)) for lo, hi in self.ranges)
        if not body:
            return "[^\\x00-\\U0010ffff]" if not self.negated else "[\\x00-\\U0010ffff]"
        return "[%s%s]" % ("^" if self.negated else "", body)


_NOT_NEWLINE = _Set(((0x0A, 0x0A),), negated=True)  # Go regexp's '.'

# Token kinds of a compiled .dockerignore regexp.
_ONE, _STAR, _OPT = 0, 1, 2
_T_SET, _T_DIRS, _T_BOT, _T_EOT = "set", "dirs", "bot", "eot"


def _translate(pattern: str) -> Tuple[str, str]:
    """patternmatcher's ``compile``: the match type and the regexp text it builds."""
    out = ["^"]
    kind = _EXACT
    n = len(pattern)
    i = 0
    count = 0
    while i < n:
        ch = pattern[i]
        i += 1
        if ch == "*":
            if i < n and pattern[i] == "*":
                i += 1
                if i < n and pattern[i] == "/":  # **/ is the same as **
                    i += 1
                if i >= n:
                    if kind == _EXACT:
                        kind = _PREFIX
                    else:
                        out.append(".*")
                        kind = _REGEXP
                else:
                    out.append("(.*/)?")
                    kind = _REGEXP
                if count == 0:
                    kind = _SUFFIX
            else:
                out.append("[^/]*")
                kind = _REGEXP
        elif ch == "?":
            out.append("[^/]")
            kind = _REGEXP
        elif ch in _META:
            out.append("\\" + ch)
        elif ch == "\\":
            if i < n:
                out.append("\\" + pattern[i])
                i += 1
                kind = _REGEXP
            else:
                out.append("\\")
        elif ch == "[" or ch == "]":
            out.append(ch)
            kind = _REGEXP
        else:
            out.append(ch)
        count += 1
    if kind == _REGEXP:
        out.append("$")
    return kind, "".join(out)


def _parse_escape(regex: str, i: int, pattern: str, in_class: bool):
    """``regex[i]`` follows a backslash: a set of ranges, or one literal character."""
    if i >= len(regex):
        raise PatternError("trailing backslash in pattern %r" % pattern, pattern)
    e = regex[i]
    lower = e.lower()
    if lower in _CLASS_ESCAPES and e.isalpha():
        ranges = _CLASS_ESCAPES[lower]
        return (_complement(ranges) if e.isupper() else ranges), None, i + 1
    if e in _CONTROL_ESCAPES:
        return None, _CONTROL_ESCAPES[e], i + 1
    if e.isalnum() or (ord(e) < 128 and not e.isprintable()):
        raise PatternError("unsupported escape '\\%s' in pattern %r" % (e, pattern), pattern)
    return None, e, i + 1


def _parse_class(regex: str, i: int, pattern: str) -> Tuple[_Set, int]:
    """A Go regexp bracket class starting at ``regex[i] == '['``."""
    i += 1
    negated = False
    if i < len(regex) and regex[i] == "^":
        negated = True
        i += 1
    ranges = []
    first = True
    while True:
        if i >= len(regex):
            raise PatternError("missing closing ] in pattern %r" % pattern, pattern)
        c = regex[i]
        if c == "]" and not first:
            i += 1
            break
        first = False
        if c == "[" and regex.startswith("[:", i):
            end = regex.find(":]", i + 2)
            name = regex[i + 2:end] if end >= 0 else ""
            negate_posix = name.startswith("^")
            posix = _POSIX.get(name[1:] if negate_posix else name)
            if end >= 0 and posix is not None:
                ranges.extend(_complement(posix) if negate_posix else posix)
                i = end + 2
                continue
        if c == "\\":
            got, lo, i = _parse_escape(regex, i + 1, pattern, True)
            if got is not None:
                ranges.extend(got)
                continue
        else:
            lo = c
            i += 1
        if i + 1 < len(regex) and regex[i] == "-" and regex[i + 1] != "]":
            hi = regex[i + 1]
            i += 2
            if hi == "\\":
                got, hi, i = _parse_escape(regex, i, pattern, True)
                if got is not None:
                    raise PatternError("bad character class range in pattern %r" % pattern, pattern)
            if ord(hi) < ord(lo):
                raise PatternError("invalid character class range %s-%s in pattern %r" % (lo, hi, pattern),
                                   pattern)
            ranges.append((ord(lo), ord(hi)))
        else:
            ranges.append((ord(lo), ord(lo)))
    return _Set(ranges, negated), i


def _parse_regex(regex: str, pattern: str) -> list:
    """The subset of Go regexp syntax patternmatcher's translation can produce, as tokens."""
    tokens = []  # [kind, set_or_None, quantifier]
    i = 0
    n = len(regex)
    while i < n:
        c = regex[i]
        if c == "^":
            tokens.append([_T_BOT, None, _ONE])
            i += 1
            continue
        if c == "$":
            tokens.append([_T_EOT, None, _ONE])
            i += 1
            continue
        if c == "(":
            if regex.startswith("(.*/)?", i):
                tokens.append([_T_DIRS, None, _ONE])
                i += 6
                continue
            raise PatternError("unexpected group in pattern %r" % pattern, pattern)
        if c in "*+?":
            if not tokens or tokens[-1][0] != _T_SET or tokens[-1][2] != _ONE:
                if tokens and tokens[-1][0] in (_T_BOT, _T_EOT):
                    tokens.pop()  # a repeated empty assertion may match nowhere: no constraint
                    i += 1
                    continue
                raise PatternError("invalid repetition in pattern %r" % pattern, pattern)
            if c == "*":
                tokens[-1][2] = _STAR
            elif c == "?":
                tokens[-1][2] = _OPT
            else:  # x+ is x x*
                tokens.append([_T_SET, tokens[-1][1], _STAR])
            i += 1
            continue
        if c == ".":
            tokens.append([_T_SET, _NOT_NEWLINE, _ONE])
            i += 1
            continue
        if c == "[":
            char_set, i = _parse_class(regex, i, pattern)
            tokens.append([_T_SET, char_set, _ONE])
            continue
        if c == "\\":
            got, lit, i = _parse_escape(regex, i + 1, pattern, False)
            tokens.append([_T_SET, _Set(got) if got is not None else _Set(((ord(lit), ord(lit)),)), _ONE])
            continue
        tokens.append([_T_SET, _Set(((ord(c), ord(c)),)), _ONE])
        i += 1
    return tokens


class _Program:
    """A compiled .dockerignore regexp: Python's re when that cannot blow up, else an automaton."""

    __slots__ = ("regex", "tokens", "masks", "eps", "dirs", "m")

    def __init__(self, tokens: list):
        unbounded = sum(1 for kind, _, quant in tokens if kind == _T_DIRS or (kind == _T_SET and quant == _STAR))
        self.tokens = tokens
        self.m = len(tokens)
        self.regex = None
        self.masks = {}  # type: Dict[str, Tuple[int, int]]
        if unbounded <= 2:
            parts = []
            for kind, char_set, quant in tokens:
                if kind == _T_BOT:
                    parts.append("\\A")
                elif kind == _T_EOT:
                    parts.append("\\Z")
                elif kind == _T_DIRS:
                    parts.append("(?:[^\\n]*/)?")
                else:
                    parts.append(char_set.to_regex() + ("*" if quant == _STAR else "?" if quant == _OPT else ""))
            self.regex = re.compile("".join(parts))
        self.eps = [k for k, (kind, _, quant) in enumerate(tokens)
                    if kind in (_T_BOT, _T_EOT, _T_DIRS) or quant != _ONE]
        self.dirs = [k for k, (kind, _, _) in enumerate(tokens) if kind == _T_DIRS]

    def _closure(self, state: int, pos: int, n: int) -> int:
        tokens = self.tokens
        inner_base = self.m + 1
        for k in self.eps:
            if not state >> k & 1:
                continue
            kind = tokens[k][0]
            if kind == _T_BOT:
                if pos == 0:
                    state |= 1 << (k + 1)
            elif kind == _T_EOT:
                if pos == n:
                    state |= 1 << (k + 1)
            elif kind == _T_DIRS:
                state |= (1 << (k + 1)) | (1 << (inner_base + k))
            else:
                state |= 1 << (k + 1)
        return state

    def _masks(self, ch: str) -> Tuple[int, int]:
        got = self.masks.get(ch)
        if got is None:
            advance = stay = 0
            for k, (kind, char_set, quant) in enumerate(self.tokens):
                if kind == _T_SET and ch in char_set:
                    if quant == _STAR:
                        stay |= 1 << k
                    else:
                        advance |= 1 << k
            got = self.masks[ch] = (advance, stay)
        return got

    def search(self, text: str) -> bool:
        if self.regex is not None:
            return self.regex.search(text) is not None
        n = len(text)
        inner_base = self.m + 1
        state = self._closure(1, 0, n)
        for pos, ch in enumerate(text):
            advance, stay = self._masks(ch)
            nxt = ((state & advance) << 1) | (state & stay)
            for k in self.dirs:
                if state >> k & 1 or state >> (inner_base + k) & 1:
                    if ch != "\n":
                        nxt |= 1 << (inner_base + k)
                    if ch == "/":
                        nxt |= 1 << (k + 1)
            state = self._closure(nxt, pos + 1, n)
            if not state:
                return False
        return bool(state >> self.m & 1)


class Rule:
    """One cleaned pattern: ``pattern`` (without ``!``), ``exclusion`` (a ``!`` rule), ``line``."""

    __slots__ = ("pattern", "exclusion", "line", "kind", "_program", "_arg")

    def __init__(self, pattern: str, exclusion: bool = False, line: Optional[int] = None):
        self.pattern = pattern
        self.exclusion = exclusion
        self.line = line
        try:
            match(pattern, ".")  # patternmatcher.New's syntax check
            self.kind, regex = _translate(pattern)
            self._program = None
            if self.kind == _PREFIX:
                self._arg = pattern[:-2]
            elif self.kind == _SUFFIX:
                self._arg = pattern[2:]
            elif self.kind == _REGEXP:
                self._program = _Program(_parse_regex(regex, pattern))
                self._arg = None
            else:
                self._arg = pattern
        except PatternError as err:
            where = " (line %d)" % line if line is not None else ""
            raise PatternError("invalid pattern %r%s: %s" % (("!" if exclusion else "") + pattern, where,
                                                             err.message), pattern, line) from None

    def match(self, path: str) -> bool:
        """Whether this pattern (ignoring ``!``) matches exactly ``path``, no parent folders."""
        kind = self.kind
        if kind == _EXACT:
            return path == self._arg
        if kind == _PREFIX:
            return path.startswith(self._arg)
        if kind == _SUFFIX:
            suffix = self._arg
            return path.endswith(suffix) or (suffix[:1] == "/" and path == suffix[1:])
        return self._program.search(path)

    def __repr__(self):
        return "Rule(%r%s)" % (("!" if self.exclusion else "") + self.pattern,
                               ", line=%d" % self.line if self.line is not None else "")


def _new_rule(text: str, line: Optional[int] = None) -> Optional[Rule]:
    """``patternmatcher.New`` for one pattern: trimmed, cleaned, ``!`` split off."""
    text = _trim_space(text)
    if not text:
        return None
    text = clean(text)
    exclusion = text.startswith("!")
    if exclusion:
        if len(text) == 1:
            where = " (line %d)" % line if line is not None else ""
            raise PatternError('illegal exclusion pattern: "!"%s' % where, text, line)
        text = text[1:]
    if text == ".":
        return None  # matches nothing: BuildKit never asks about the context root itself
    return Rule(text, exclusion, line)


ParentInfo = Optional[Tuple[bool, ...]]


class IgnoreMatcher:
    """``patternmatcher.PatternMatcher``: is a context path left out?

    Built from :class:`Rule` objects (from :func:`read_ignore_file`) or from pattern strings,
    which get ``patternmatcher.New``'s treatment (used for ``COPY --exclude`` values).
    """

    def __init__(self, rules: Iterable[Union[Rule, str]] = ()):
        built = []
        for rule in rules:
            if isinstance(rule, str):
                rule = _new_rule(rule)
                if rule is None:
                    continue
            built.append(rule)
        self.rules = built  # type: List[Rule]
        self.has_exclusions = any(rule.exclusion for rule in built)
        self._cache = {}  # type: Dict[str, Tuple[bool, Tuple[bool, ...]]]

    def __bool__(self) -> bool:
        return bool(self.rules)

    def match_entry(self, path: str, parent: ParentInfo = None) -> Tuple[bool, Tuple[bool, ...]]:
        """``MatchesUsingParentResults``: (left out?, per-rule results to hand to the children).

        ``parent`` is what this returned for the parent folder, or None for a top-level path
        (then the parent folders are tried directly, as patternmatcher does).
        """
        matched = False
        info = [False] * len(self.rules)
        for i, rule in enumerate(self.rules):
            hit = parent[i] if parent is not None else False
            if not hit:
                if rule.exclusion != matched:
                    continue  # cannot change the outcome: not even evaluated
                hit = rule.match(path)
                if not hit and parent is None:
                    parts = path.split("/")[:-1]
                    for k in range(1, len(parts) + 1):
                        if rule.match("/".join(parts[:k])):
                            hit = True
                            break
            info[i] = hit
            if hit:
                matched = not rule.exclusion
        return matched, tuple(info)

    def _dir_info(self, path: str) -> Tuple[bool, Tuple[bool, ...]]:
        got = self._cache.get(path)
        if got is None:
            head, _, _ = path.rpartition("/")
            parent = self._dir_info(head)[1] if head else None
            got = self._cache[path] = self.match_entry(path, parent)
        return got

    def parent_info(self, path: str) -> ParentInfo:
        """What :meth:`match_entry` needs as ``parent`` for ``path`` (None at the top level)."""
        head, _, _ = path.rpartition("/")
        return self._dir_info(head)[1] if head else None

    def matches(self, path: str) -> bool:
        """Whether the context-relative ``path`` is left out, judged as BuildKit's file transfer
        judges it: each parent folder first, from the top down. The root is never left out."""
        path = path.strip("/")
        if not path or path == "." or not self.rules:
            return False
        return self.match_entry(path, self.parent_info(path))[0]

    def may_include_below(self, folder: str) -> bool:
        """Whether anything under a left-out ``folder`` could be brought back by a ``!`` rule."""
        return self.has_exclusions


def read_ignore_file(text: str) -> List[Rule]:
    """The rules of a ``.dockerignore`` (``ignorefile.ReadAll`` then ``patternmatcher.New``).

    Raises :class:`PatternError` (with ``line``) for a lone ``!`` or a malformed pattern, which
    make BuildKit refuse the build.
    """
    rules = []
    for number, line in enumerate(text.split("\n"), 1):
        if line.endswith("\r"):
            line = line[:-1]
        if number == 1 and line.startswith("\ufeff"):
            line = line[1:]
        if line.startswith("#"):
            continue
        line = _trim_space(line)
        if not line:
            continue
        invert = line.startswith("!")
        if invert:
            line = _trim_space(line[1:])
        if line:
            line = clean(line)
            if len(line) > 1 and line.startswith("/"):
                line = line[1:]
        if invert:
            line = "!" + line
        rule = _new_rule(line, number)
        if rule is not None:
            rules.append(rule)
    return rules


def find_ignore_file(context_dir: Optional[str], dockerfile_path: Optional[str] = None) -> Optional[str]:
    """The ignore file BuildKit uses: ``<Dockerfile>.dockerignore`` beside the Dockerfile, else
    ``<context>/.dockerignore``, else None."""
    if dockerfile_path and dockerfile_path not in ("-", "<stdin>"):
        specific = dockerfile_path + ".dockerignore"
        if os.path.isfile(specific):
            return specific
    if context_dir:
        # os.path.join's path, without its call
        general = context_dir + (".dockerignore" if context_dir.endswith("/") else "/.dockerignore")
        if os.path.isfile(general):
            return general
    return None
