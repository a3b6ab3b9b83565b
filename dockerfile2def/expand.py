"""BuildKit's builder-side variable expansion (``frontend/dockerfile/shell`` ``Lex``), in Python.

What the builder does to the words of ADD/COPY/ENV/LABEL/WORKDIR/USER/EXPOSE/... before it uses
them (spec A.7): quote removal, escapes, ``$name`` / ``${name}`` and the ``${name<modifier>word}``
forms. Three entry points, one per way BuildKit calls its lexer:

* :func:`process_word` is ``ProcessWord``: one word, whitespace kept.
* :func:`process_words` is ``ProcessWords`` (EXPOSE): split on unquoted whitespace *after* expansion.
* :func:`process_word_keep_quotes` is the heredoc-body expander of COPY/ADD with an unquoted
  delimiter (``SkipProcessQuotes``): quotes are ordinary characters, ``$`` and escapes still work.

Every error is an :class:`ExpansionError` (a ``ValueError``) whose ``offset`` is the 0-based index
in the word of the construct at fault (the ``$`` of a bad ``${...}``, the opening quote of an
unterminated string), so the caller can place it on the Dockerfile line.

Semantics follow the BuildKit lexer as read in its source and tests; the few places where this
module knowingly differs are listed in :data:`DEVIATIONS`.

Pathological input is bounded: a word longer than :data:`MAX_WORD` characters, variables adding
more than :data:`MAX_WORD` characters to one word (``ARG b=$a$a`` chains), ``${`` nested more than
:data:`MAX_DEPTH` deep, or a replacement producing more than :data:`MAX_RESULT` characters is an
``ExpansionError``; the ``#``/``%``/``/`` patterns run on a bit-parallel automaton, linear in the
value, never by backtracking.
"""

import re
from typing import List, Mapping, Optional, Tuple

__all__ = [
    "ExpansionError",
    "process_word",
    "process_words",
    "process_word_keep_quotes",
    "MAX_DEPTH",
    "MAX_WORD",
    "MAX_RESULT",
    "DEVIATIONS",
]

MAX_DEPTH = 64  # nested ${...} levels
MAX_WORD = 4 * 1024 * 1024  # characters in one word (a heredoc body counts as one word)
MAX_RESULT = 64 * 1024 * 1024  # characters one ${v//p/r} may produce

DEVIATIONS = (
    "`${name` cut off right after the name reports `syntax error: missing '}'`; BuildKit reports "
    "`unsupported modifier (\\ufffd) in substitution` there (its scanner's EOF rune).",
    "A lone trailing `\\` in a `#`/`%`/`/` pattern (possible only with `# escape=``) reports "
    "`invalid escape '\\' at end of pattern` instead of BuildKit's `invalid escape '\\ufffd'`.",
    "ProcessWords: BuildKit shares one word buffer between nested lexer calls, so text before a "
    "`${v:-w}` inside the same EXPOSE word can be lost; this module keeps it (the evident intent).",
    "The leading UTF-8 BOM that Go's text/scanner skips is kept (a Dockerfile's BOM is stripped "
    "by the parser before any word reaches the lexer).",
    "An invalid `${v%p}`/`${v%%p}` pattern is quoted as written in the error; BuildKit quotes it "
    "reversed (it matches suffixes by reversing pattern and value).",
)


class ExpansionError(ValueError):
    """A word BuildKit would refuse; ``offset`` is the 0-based index of the construct at fault."""

    def __init__(self, message: str, offset: int = 0):
        super().__init__(message)
        self.message = message
        self.offset = offset


# -- public API --------------------------------------------------------------------------------

def process_word(word: str, env: Mapping[str, str], escape: str = "\\") -> str:
    """``Lex.ProcessWord``: expand one word; quotes removed, escapes applied, whitespace kept."""
    if "$" not in word and "'" not in word and '"' not in word and escape not in word:
        return word
    if (escape == "\\" or escape == "`") and escape not in word and len(word) <= MAX_WORD:
        quick = _plain_word(word, env)
        if quick is not None:
            return quick
    lexer = _Lexer(word, env, _check_escape(escape), True)
    return lexer.top(None)


# $NAME and ${NAME}, ASCII names (the lexer's name() also takes other letters and digits).
_PLAIN_REFERENCE = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))")


def _plain_word(word: str, env: Mapping[str, str]) -> Optional[str]:
    """What the lexer makes of the commonest words that need it, without it (~1.5-3 us a word):
    one quoted string (``'...'``, or ``"..."``), or unquoted text, where every ``$`` starts a
    ``$NAME`` or ``${NAME}`` and the text is ASCII. None for anything else, for the lexer to do
    (errors included). The caller checked that the word holds no escape character and is not too long."""
    first = word[0]
    if first == "'":  # nothing is special inside single quotes
        return word[1:-1] if word.find("'", 1) == len(word) - 1 else None
    if first == '"':
        inner = word[1:-1]
        if len(word) < 2 or word[-1] != '"' or '"' in inner:
            return None
        return inner if "$" not in inner else _plain_references(inner, env)  # ' is plain text here
    if "'" in word or '"' in word:
        return None
    return _plain_references(word, env)


def _plain_references(text: str, env: Mapping[str, str]) -> Optional[str]:
    """``text`` (no quotes or escapes to remove) with its ``$NAME``/``${NAME}`` expanded, or None when
    it is not ASCII or a ``$`` starts something else ("$1", "${a:-b}", a lone "$")."""
    if not text.isascii():
        return None
    parts = _PLAIN_REFERENCE.split(text)  # text, name in braces, bare name, text, ...
    if text.count("$") != len(parts) // 3:
        return None
    grown = 0
    for i in range(1, len(parts), 3):
        value = _lookup(env, parts[i] or parts[i + 1])
        if value is None:
            value = ""
        grown += len(value)
        parts[i] = value
        parts[i + 1] = ""
    if grown > MAX_WORD:
        return None  # the lexer reports it, at its offset
    return "".join(parts)


def _lookup(env: Mapping[str, str], name: str) -> Optional[str]:
    """The value of ``name`` in ``env``, None when unset."""
    try:
        return env.get(name)
    except TypeError:  # an exotic Mapping that rejects the key type; treat as unset
        return None


def process_words(text: str, env: Mapping[str, str], escape: str = "\\") -> List[str]:
    """``Lex.ProcessWords``: expand, then split on whitespace that was neither quoted nor escaped.

    Whitespace coming out of a ``$`` expansion splits too (``${PORTS}`` = ``"80 443"`` gives two
    words); whitespace from quotes or escapes does not. Empty words are dropped.
    """
    if "$" not in text and "'" not in text and '"' not in text and escape not in text:
        return [w for w in _GO_SPACE_SPLIT.split(text) if w]
    lexer = _Lexer(text, env, _check_escape(escape), True)
    pieces = []  # type: List[Tuple[str, bool]]
    lexer.top(pieces)
    return _split_pieces(pieces)


def process_word_keep_quotes(word: str, env: Mapping[str, str], escape: Optional[str] = None) -> str:
    """The heredoc-body expander of COPY/ADD with an unquoted delimiter (``SkipProcessQuotes``).

    Quotes are plain characters here; ``$`` expands and ``\\`` still escapes (``\\$X`` gives
    ``$X``, ``\\\\`` gives ``\\``, ``\\n`` gives ``n``), as BuildKit does.

    ``escape`` is accepted for symmetry with the other entry points and **ignored**: BuildKit
    expands heredoc bodies with a fresh lexer whose escape token is always ``\\``, whatever the
    ``# escape=`` directive says (``dockerfile2llb`` ``ExpandRaw``).
    """
    del escape
    if "$" not in word and "\\" not in word:
        return word
    lexer = _Lexer(word, env, "\\", False)
    return lexer.top(None)


# -- the lexer -----------------------------------------------------------------------------------

_SPECIAL_PARAMS = frozenset("@*#?-$!0")
_ASCII_NAME_RUN = re.compile("[A-Za-z0-9_]*")  # a name's ASCII characters; other letters and digits count too

# Go's unicode.IsSpace: ASCII/Latin-1 set plus the non-Latin-1 White_Space characters.
_GO_SPACE = frozenset("\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
                      "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000")
_GO_SPACE_SPLIT = re.compile("[%s]+" % "".join(sorted(_GO_SPACE)).replace("\\", "\\\\"))

_SPECIALS_CACHE = {}  # type: Dict[Tuple[str, Optional[str], bool], "re.Pattern"]


def _check_escape(escape: str) -> str:
    if not isinstance(escape, str) or len(escape) != 1:
        raise ValueError("the escape character must be one character, got %r" % (escape,))
    return escape


def _specials(escape: str, stop: Optional[str], quotes: bool):
    """A regex finding the next character the word loop must look at."""
    key = (escape, stop, quotes)
    pattern = _SPECIALS_CACHE.get(key)
    if pattern is None:
        chars = {"$", escape}
        if quotes:
            chars.update("'\"")
        if stop is not None:
            chars.add(stop)
        pattern = re.compile("[%s]" % "".join(re.escape(c) for c in sorted(chars)))
        _SPECIALS_CACHE[key] = pattern
    return pattern


class _Lexer:
    """One word being expanded: ``pos`` moves like BuildKit's scanner (errors depend on it)."""

    __slots__ = ("s", "n", "pos", "env", "esc", "quotes", "depth")

    def __init__(self, word: str, env: Mapping[str, str], escape: str, quotes: bool):
        if len(word) > MAX_WORD:
            raise ExpansionError("word too long to expand (%d characters, the limit is %d)"
                                 % (len(word), MAX_WORD), 0)
        self.s = word
        self.n = len(word)
        self.pos = 0
        self.env = env
        self.esc = escape
        self.quotes = quotes
        self.depth = 0

    # -- environment

    def lookup(self, name: str) -> Optional[str]:
        return _lookup(self.env, name)

    # -- words

    def top(self, pieces: Optional[List[Tuple[str, bool]]]) -> str:
        return self.until(None, False, pieces)

    def until(self, stop: Optional[str], raw: bool, pieces=None) -> str:
        """``processStopOn``: read up to ``stop`` (consumed) or the end of the word.

        ``raw`` keeps escape characters in the result (BuildKit's rawEscapes, used for patterns).
        ``pieces`` collects ``(text, splittable)`` for ProcessWords at the top level.
        """
        s, n, esc = self.s, self.n, self.esc
        finder = _specials(esc, stop, self.quotes)
        out = []
        grown = 0  # characters variables added: $a$a chains must not grow without bound
        while True:
            pos = self.pos
            found = finder.search(s, pos)
            if found is None:
                if pos < n:
                    out.append(s[pos:])
                    if pieces is not None:
                        pieces.append((s[pos:], True))
                self.pos = n
                break
            i = found.start()
            if i > pos:
                out.append(s[pos:i])
                if pieces is not None:
                    pieces.append((s[pos:i], True))
            ch = s[i]
            if ch == stop:
                self.pos = i + 1
                return "".join(out)
            self.pos = i
            if ch == "$":
                value = self.dollar()
                grown += len(value)
                if grown > MAX_WORD:
                    raise ExpansionError("expanded value too long (more than %d characters)" % MAX_WORD, i)
                out.append(value)
                if pieces is not None:
                    pieces.append((value, True))
            elif ch == "'" and self.quotes:
                value = self.single_quoted()
                out.append(value)
                if pieces is not None:
                    pieces.append((value, False))
            elif ch == '"' and self.quotes:
                value = self.double_quoted(raw)
                out.append(value)
                if pieces is not None:
                    pieces.append((value, False))
            else:  # the escape character
                if raw:
                    out.append(esc)
                    if pieces is not None:
                        pieces.append((esc, False))
                if i + 1 >= n:  # a trailing lone escape is dropped (kept if raw)
                    self.pos = n
                    break
                nxt = s[i + 1]
                out.append(nxt)
                if pieces is not None:
                    pieces.append((nxt, False))
                self.pos = i + 2
        if stop is not None:
            raise ExpansionError("unexpected end of statement while looking for matching %s" % stop, self.pos)
        return "".join(out)

    def single_quoted(self) -> str:
        start = self.pos
        end = self.s.find("'", start + 1)
        if end < 0:
            self.pos = self.n
            raise ExpansionError("unexpected end of statement while looking for matching single-quote", start)
        self.pos = end + 1
        return self.s[start + 1:end]

    def double_quoted(self, raw: bool) -> str:
        """Inside ``"..."``: ``$`` expands; the escape char escapes only ``"``, ``$`` and itself."""
        s, n, esc = self.s, self.n, self.esc
        start = self.pos
        finder = _specials(esc, '"', False)  # the next '"', '$' or escape (compiled once per escape)
        out = []
        pos = start + 1
        while True:
            found = finder.search(s, pos)
            if found is None:
                self.pos = n
                raise ExpansionError("unexpected end of statement while looking for matching double-quote", start)
            i = found.start()
            if i > pos:
                out.append(s[pos:i])
            ch = s[i]
            if ch == '"':
                self.pos = i + 1
                return "".join(out)
            if ch == "$":
                self.pos = i
                out.append(self.dollar())
                pos = self.pos
                continue
            # the escape character
            if raw:
                out.append(esc)
            if i + 1 >= n:
                # "Ignore \ at end of word": nothing written, then the missing quote is the error.
                self.pos = n
                raise ExpansionError("unexpected end of statement while looking for matching double-quote", start)
            nxt = s[i + 1]
            if nxt == '"' or nxt == "$" or nxt == esc:
                out.append(nxt)
                pos = i + 2
            else:
                out.append(esc)  # other escapes stay as written (and, if raw, doubled, as BuildKit does)
                pos = i + 1

    # -- $ forms

    def name(self) -> str:
        """``processName``: digits (positional), one special character, or a name."""
        s, n = self.s, self.n
        pos = self.pos
        if pos >= n:
            return ""
        ch = s[pos]
        if ch.isdecimal():
            end = pos + 1
            while end < n and s[end].isdecimal():
                end += 1
            self.pos = end
            return s[pos:end]
        if ch in _SPECIAL_PARAMS:
            self.pos = pos + 1
            return ch
        end = pos
        while True:
            end = _ASCII_NAME_RUN.match(s, end).end()  # a regex, not a loop per character
            if end < n and s[end] > "\x7f" and (s[end].isalpha() or s[end].isdecimal()):
                end += 1
            else:
                break
        self.pos = end
        return s[pos:end]

    def dollar(self) -> str:
        s, n = self.s, self.n
        start = self.pos
        i = start + 1
        if i >= n or s[i] != "{":
            self.pos = i
            name = self.name()
            if not name:
                return "$"
            value = self.lookup(name)
            return "" if value is None else value
        i += 1
        if i >= n:
            self.pos = n
            raise ExpansionError("syntax error: missing '}'", start)
        if s[i] in "{}:":
            self.pos = i
            raise ExpansionError("syntax error: bad substitution", start)
        self.pos = i
        name = self.name()
        if self.pos >= n:
            raise ExpansionError("syntax error: missing '}'", start)
        ch = s[self.pos]
        self.pos += 1
        if ch == "}":
            value = self.lookup(name)
            return "" if value is None else value
        null_is_unset = False
        chs = ch
        if ch == ":":
            null_is_unset = True
            if self.pos >= n:
                raise ExpansionError("syntax error: missing '}'", start)
            ch = s[self.pos]
            self.pos += 1
            chs += ch
        elif ch == "/":
            return self.replace(name, start)
        elif ch not in "+-?#%":
            raise ExpansionError("unsupported modifier (%s) in substitution" % chs, start)

        raw = ch == "#" or ch == "%"
        if null_is_unset and raw:
            raise ExpansionError("unsupported modifier (%s) in substitution" % chs, start)
        word = self.nested("}", raw, start, "syntax error: missing '}'")
        value = self.lookup(name)
        if value is not None and "\0" in value:
            if _DEFERRED_VALUE.fullmatch(value):
                return self.deferred_modifier(name, value, chs, word)
            if raw:  # a pattern over text holding a base-image variable: left as it is
                self.approximate(name)
                return value
        unset = value is None or (null_is_unset and value == "")
        if ch == "-":
            return word if unset else value
        if ch == "+":
            return "" if unset else word
        if ch == "?":
            if value is None:
                raise ExpansionError("%s: %s" % (name, word or "is not allowed to be unset"), start)
            if null_is_unset and value == "":
                raise ExpansionError("%s: %s" % (name, word or "is not allowed to be empty"), start)
            return value
        if ch == "#" or ch == "%":
            value = value or ""
            greedy = word[:1] == ch
            if greedy:
                word = word[1:]
            if ch == "#":
                tokens = _compile_pattern(word, start)
                end = _prefix_end(tokens, value, greedy)
                return value if end is None else value[end:]
            tokens = _compile_pattern(_reverse_pattern(word), start, word)
            backwards = value[::-1]
            end = _prefix_end(tokens, backwards, greedy)
            return value if end is None else backwards[end:][::-1]
        raise ExpansionError("unsupported modifier (%s) in substitution" % chs, start)

    def deferred_modifier(self, name: str, marker: str, modifier: str, word: str) -> str:
        """``${name<modifier>word}`` where only the base image knows ``name`` (passes/scope.py).

        POSIX modifiers with a plain word stay for the shell, as one marker; nested markers in the
        word become ``${X}``. Anything else (``${v/p/r}``, ``?``, quotes or ``$`` in the word) is
        expanded as if ``name`` were unset, and reported (D2S025).
        """
        if modifier[-1] == "?":  # the shell cannot tell Docker's "unset" check apart: kept as ${name}
            return marker
        if modifier[-1] in "-+#%" and _PLAIN_WORD.match(word):
            word = _DEFERRED_VALUE.sub(lambda m: "${%s}" % m.group(1), word)
            return "\0%s%s%s\0" % (name, modifier, word)
        self.approximate(name)
        return word if modifier[-1] == "-" else ""

    def approximate(self, name: str) -> None:
        found = getattr(self.env, "approximated", None)
        if found is not None and name not in found:
            found.append(name)

    def nested(self, stop: str, raw: bool, start: int, missing: str) -> str:
        """A modifier's word, with BuildKit's rule: any error that leaves the scanner at the end
        of the input becomes the ``missing`` error of the enclosing ``${``."""
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ExpansionError("${...} nested more than %d levels deep" % MAX_DEPTH, start)
        try:
            return self.until(stop, raw)
        except ExpansionError:
            if self.pos >= self.n:
                raise ExpansionError(missing, start) from None
            raise
        finally:
            self.depth -= 1

    def replace(self, name: str, start: int) -> str:
        """``${name/pattern/replacement}`` and ``${name//pattern/replacement}``."""
        replace_all = self.pos < self.n and self.s[self.pos] == "/"
        if replace_all:
            self.pos += 1
        pattern = self.nested("/", True, start, "syntax error: missing '/' in ${}")
        replacement = self.nested("}", True, start, "syntax error: missing '}'")
        value = self.lookup(name) or ""
        if "\0" in value:  # a base-image variable: ${v/p/r} is not POSIX, no shell form to keep
            self.approximate(name)
            return "" if _DEFERRED_VALUE.fullmatch(value) else value
        tokens = _compile_pattern(pattern, start)
        if not replace_all:
            found = _find(tokens, value, 0, _match_starts(tokens, value))
            if found is None:
                return value
            return value[:found[0]] + replacement + value[found[1]:]
        return _replace_all(tokens, value, replacement, start)


# A variable only the base image knows (passes/scope.py's marker), and a modifier word the shell
# reads the same way inside "${...}": plain characters and such variables.
_DEFERRED_VALUE = re.compile("\0([A-Za-z_][A-Za-z0-9_]*)\0")
_PLAIN_WORD = re.compile("^(?:[A-Za-z0-9_/.:@+=,*?~-]|\0[A-Za-z_][A-Za-z0-9_]*\0)*\\Z")


def _split_pieces(pieces: List[Tuple[str, bool]]) -> List[str]:
    """BuildKit's ``wordsStruct``: splittable text breaks on whitespace, the rest never does."""
    words = []
    buf = []
    in_word = False
    for text, splittable in pieces:
        if not splittable:
            buf.append(text)
            in_word = True
            continue
        for ch in text:
            if ch in _GO_SPACE:
                if in_word and buf and "".join(buf):
                    words.append("".join(buf))
                    buf = []
                    in_word = False
            else:
                buf.append(ch)
                in_word = True
    last = "".join(buf)
    if last:
        words.append(last)
    return words


# -- the ${v#p} ${v%p} ${v/p/r} pattern language ----------------------------------------------------
#
# ``*`` any run of characters, ``?`` one character, ``\*`` ``\?`` ``\\`` literals, ``\}`` and ``\/``
# the terminators; no bracket classes. BuildKit compiles it to a Go regexp whose ``.`` does not
# match a newline, so neither ``*`` nor ``?`` does here. Tokens: a literal character (str of
# length 1), ``_ANY`` or ``_STAR``.

_ANY = 1
_STAR = 2


def _reverse_pattern(pattern: str) -> str:
    """BuildKit's ``reversePattern``: reverse, keeping each ``\\x`` pair in its order."""
    chars = list(pattern)
    out = [""] * len(chars)
    last = len(chars) - 1
    i = 0
    while i <= last:
        tok = chars[i]
        at = last - i
        if tok == "\\" and i != last:
            out[at - 1] = tok
            out[at] = chars[i + 1]
            i += 2
        else:
            out[at] = tok
            i += 1
    return "".join(out)


def _compile_pattern(pattern: str, offset: int, shown: Optional[str] = None) -> list:
    tokens = []
    i = 0
    n = len(pattern)
    while i < n:
        ch = pattern[i]
        i += 1
        if ch == "*":
            if not tokens or tokens[-1] is not _STAR:  # ** is the same as *
                tokens.append(_STAR)
        elif ch == "?":
            tokens.append(_ANY)
        elif ch == "\\":
            if i < n and pattern[i] in "}/":
                continue  # the escape is not part of the pattern; the next char is a literal
            if i >= n:
                raise ExpansionError("invalid pattern (%s) in substitution: invalid escape '\\' at end of pattern"
                                     % (shown if shown is not None else pattern), offset)
            nxt = pattern[i]
            i += 1
            if nxt not in "*?\\":
                raise ExpansionError("invalid pattern (%s) in substitution: invalid escape '\\%s'"
                                     % (shown if shown is not None else pattern, nxt), offset)
            tokens.append(nxt)
        else:
            tokens.append(ch)
    return tokens


class _Automaton:
    """Shift-and automaton over the tokens: bit k set = the first k tokens are matched."""

    __slots__ = ("m", "accept", "literal_masks", "any_mask", "star_mask")

    def __init__(self, tokens: list):
        self.m = len(tokens)
        self.accept = 1 << self.m
        self.literal_masks = {}  # type: Dict[str, int]
        any_mask = 0
        star_mask = 0
        for k, tok in enumerate(tokens):
            if tok is _ANY:
                any_mask |= 1 << k
            elif tok is _STAR:
                star_mask |= 1 << k
            else:
                self.literal_masks[tok] = self.literal_masks.get(tok, 0) | (1 << k)
        self.any_mask = any_mask
        self.star_mask = star_mask

    def closure(self, state: int) -> int:
        stars = self.star_mask
        while True:
            more = state | ((state & stars) << 1)
            if more == state:
                return state
            state = more

    def step(self, state: int, ch: str) -> int:
        if ch == "\n":  # Go's regexp '.' does not match a newline
            return self.closure((state & self.literal_masks.get(ch, 0)) << 1)
        advance = (state & (self.literal_masks.get(ch, 0) | self.any_mask)) << 1
        return self.closure(advance | (state & self.star_mask))


def _is_literal(tokens: list) -> bool:
    return all(tok is not _ANY and tok is not _STAR for tok in tokens)


def _prefix_end(tokens: list, value: str, longest: bool) -> Optional[int]:
    """End of the shortest (or longest) prefix of ``value`` the pattern matches, or None."""
    if _is_literal(tokens):
        literal = "".join(tokens)
        return len(literal) if value.startswith(literal) else None
    return _anchored_end(_Automaton(tokens), value, 0, longest)


def _anchored_end(auto: _Automaton, value: str, start: int, longest: bool) -> Optional[int]:
    state = auto.closure(1)
    accept = auto.accept
    best = start if state & accept else None
    if best is not None and not longest:
        return best
    step = auto.step
    for i in range(start, len(value)):
        state = step(state, value[i])
        if not state:
            break
        if state & accept:
            best = i + 1
            if not longest:
                return best
    return best


def _match_starts(tokens: list, value: str):
    """For each position p, whether some match of the pattern starts at p.

    One backward pass of the reversed pattern over the reversed value: linear, and it lets every
    leftmost search after it jump straight to the next possible start.
    """
    n = len(value)
    starts = bytearray(n + 1)
    if _is_literal(tokens):
        literal = "".join(tokens)
        if not literal:
            return bytearray(b"\x01" * (n + 1))
        at = value.find(literal)
        while at >= 0:
            starts[at] = 1
            at = value.find(literal, at + 1)
        return starts
    auto = _Automaton(list(reversed(tokens)))
    accept = auto.accept
    init = auto.closure(1)
    state = init
    if state & accept:
        starts[n] = 1
    step = auto.step
    for p in range(n - 1, -1, -1):
        state = step(state, value[p]) | init
        if state & accept:
            starts[p] = 1
    return starts


def _find(tokens: list, value: str, search: int, starts) -> Optional[Tuple[int, int]]:
    """Go's leftmost-first match at or after ``search``: leftmost start, then the longest end
    (the greedy ``.*`` translation makes leftmost-first pick the longest here)."""
    at = starts.find(1, search)
    if at < 0:
        return None
    if _is_literal(tokens):
        return at, at + len(tokens)
    end = _anchored_end(_Automaton(tokens), value, at, True)
    return at, end


def _replace_all(tokens: list, value: str, template: str, offset: int) -> str:
    """Go's ``Regexp.ReplaceAllString``: successive non-overlapping leftmost matches; an empty
    match right after a match is skipped; ``$0``/``${0}`` is the match, ``$$`` a dollar, other
    ``$name`` references expand to nothing (the regexp has no groups)."""
    n = len(value)
    starts = _match_starts(tokens, value)
    plain = "$" not in template
    auto = None if _is_literal(tokens) else _Automaton(tokens)
    out = []
    size = 0
    last_end = 0
    search = 0
    while search <= n:
        at = starts.find(1, search)
        if at < 0:
            break
        end = at + len(tokens) if auto is None else _anchored_end(auto, value, at, True)
        out.append(value[last_end:at])
        size += at - last_end
        if end > last_end or at == 0:
            piece = template if plain else _go_expand(template, value[at:end])
            out.append(piece)
            size += len(piece)
            if size > MAX_RESULT:
                raise ExpansionError("substitution result too large (more than %d characters)" % MAX_RESULT,
                                     offset)
        last_end = end
        search = search + 1 if end <= search else end
    out.append(value[last_end:])
    return "".join(out)


def _go_expand(template: str, match: str) -> str:
    """Go's ``Regexp.Expand`` for a regexp with no capture groups."""
    out = []
    rest = template
    while rest:
        at = rest.find("$")
        if at < 0:
            break
        out.append(rest[:at])
        rest = rest[at + 1:]
        if rest.startswith("$"):
            out.append("$")
            rest = rest[1:]
            continue
        name, after = _go_template_name(rest)
        if name is None:
            out.append("$")  # malformed: the $ is text
            continue
        rest = after
        if name == "0":
            out.append(match)
        # any other number or name refers to a group that does not exist: nothing
    out.append(rest)
    return "".join(out)


def _go_template_name(text: str) -> Tuple[Optional[str], str]:
    brace = text.startswith("{")
    body = text[1:] if brace else text
    i = 0
    while i < len(body):
        c = body[i]
        if c == "_" or c.isalpha() or c.isdecimal():
            i += 1
        else:
            break
    if i == 0:
        return None, text
    name = body[:i]
    if brace:
        if i >= len(body) or body[i] != "}":
            return None, text
        i += 1
    return name, body[i:]
