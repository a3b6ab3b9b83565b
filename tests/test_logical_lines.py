"""The two readings of a Dockerfile's lines agree: _Source.next_logical's quick one (past the
directives, no "\\r", no line near BuildKit's limit; a continued line joined without noting its
pieces) and the careful line-by-line one, which LogicalLine also uses to work its pieces out later."""

import glob
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dockerfile2def import parser

from .shared import SHARED

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _reading(text, careful):
    """Each logical line as (text, line, end_line, position of every offset, pieces), or the error."""
    source = parser._Source(text, "Dockerfile")
    if careful:
        source.careful = True  # what sends every line through _next_logical_checked
    out = []
    while True:
        try:
            logical = source.next_logical()
        except parser.D2SError as err:
            out.append(("error", str(err)))
            return out
        if logical is None:
            return out
        # Positions first: on the quick reading they are answered before the pieces are worked out.
        positions = [logical.locate(offset) for offset in range(len(logical.text) + 1)]
        out.append((logical.text, logical.line, logical.end_line, positions, logical.pieces))


def _files():
    paths = sorted(glob.glob(os.path.join(SHARED, "corpus", "files", "*")))
    paths += sorted(glob.glob(os.path.join(SHARED, "corpus", "buildkit-*", "**", "*"), recursive=True))
    paths += sorted(glob.glob(os.path.join(REPO, "fixtures", "**", "Dockerfile*"), recursive=True))
    for path in paths:
        if os.path.isfile(path):
            with open(path, "rb") as handle:
                raw = handle.read()
            try:
                yield path, raw.decode("utf-8")
            except UnicodeDecodeError:
                continue


def test_quick_reading_is_the_careful_one_on_real_files():
    compared = continued = 0
    for path, text in _files():
        if "\r" in text:
            continue
        quick = _reading(text, careful=False)
        assert quick == _reading(text, careful=True), path
        compared += 1
        continued += sum(1 for item in quick if item[0] != "error" and len(item[4]) > 1)
    assert compared > 200 and continued > 500  # the corpus is there, and its continued lines were read


_PIECES = ["RUN a", "COPY x y", " ", "\t", "  ", "\\", " \\", "\\\\", "\\ \t", "`", " `", "#c", "# x \\", "\n",
           "\n", "\n", "\u2028", "\x85", "\xa0", "\x1c", "b", "<<EOF", "# escape=`\n", "# syntax=x\n", "\ufeff"]


@settings(max_examples=400, derandomize=True, deadline=None)
@given(st.lists(st.sampled_from(_PIECES), min_size=1, max_size=16))
def test_quick_reading_is_the_careful_one(pieces):
    text = "".join(pieces)
    if "\r" not in text:
        assert _reading(text, careful=False) == _reading(text, careful=True)


def test_carriage_returns_take_the_careful_reading():
    source = parser._Source("FROM a\r\nRUN b \\\r\n  c\r\n", "Dockerfile")
    assert source.careful
    first, second = source.next_logical(), source.next_logical()
    assert (first.text, second.text, second.pieces) == ("FROM a", "RUN b   c", [(0, 2, 1), (6, 3, 1)])


def test_information_separators_take_the_careful_reading():
    # str.lstrip() would strip them; Go's unicode.IsSpace (and so BuildKit) keeps them.
    source = parser._Source("FROM a\n \x1fRUN b\n", "Dockerfile")
    assert source.careful
    first, second = source.next_logical(), source.next_logical()
    assert (first.text, second.text, second.locate(0)) == ("FROM a", "\x1fRUN b", (2, 2))


def test_python_blanks_are_go_blanks_and_the_information_separators():
    python_blanks = {c for c in map(chr, range(0x110000)) if c.isspace()}
    assert python_blanks == set(parser.GO_SPACE + parser._PYTHON_ONLY_BLANKS)


def test_pieces_are_worked_out_only_when_asked_for():
    source = parser._Source("FROM a\nRUN --mount=x b \\\n  c \\\n\n  # note\n  d\n", "Dockerfile")
    source.next_logical()
    logical = source.next_logical()
    assert logical._pieces is None  # read quickly
    assert logical.locate(4) == (2, 5)  # in the first piece: still not worked out
    assert logical._pieces is None
    assert logical.locate(logical.text.index("d")) == (6, 3)  # past it: the careful reading's answer
    assert logical.pieces == [(0, 2, 1), (16, 3, 1), (20, 6, 1)]


# The shell words of heredoc lines, as the character-by-character reading that _shell_words's regex
# replaced gave them: quotes and escapes kept, an opener glued to its word, GO_SPACE between words.
SHELL_WORDS = [
    ("cat <<  EOF 'a <<b' \"c \\\" <<d\" \\<<X",
     [("cat", 0), ("<<  EOF", 4), ("'a <<b'", 12), ("\"c \\\" <<d\"", 20), ("\\<<X", 31)]),
    ("2<<-\tEND a\"b c\"d <<'Q R'", [("2<<-\tEND", 0), ("a\"b c\"d", 9), ("<<'Q R'", 17)]),
    ("a <<\xa0b", [("a", 0), ("<<", 2), ("b", 5)]),
    ("a << \xa0b", [("a", 0), ("<< ", 2), ("b", 6)]),  # glued to nothing: a Unicode blank ends the word
    ("x\u3000'open <<E", [("x", 0), ("'open <<E", 2)]),  # an unterminated quote runs to the end
    ("end\\", [("end\\", 0)]),
    ("\"q\\", [("\"q\\", 0)]),
]


@pytest.mark.parametrize("line, words", SHELL_WORDS)
def test_shell_words_of_heredoc_lines(line, words):
    assert parser._shell_words(line) == words
