"""d2s's parsers run the parse tables Lark compiles from the .lark grammars, kept in the cache folder.

generated.py has Lark compile a grammar on first use and keeps the tables (lalr.compile_tables) in
d2s's cache folder, named by a digest of the grammars (a changed grammar gets new tables); lalr.Parser
runs them. The differential tests parse every logical line of the corpus, the fixtures and the
BuildKit test files (and every .def body the deffile grammar reads) with lalr.Parser and with Lark's
own parser on the .lark file compiled afresh, and want the same tokens and rules from both.
"""

import ast
import marshal
import os
import re
import subprocess
import sys

import lark
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dockerfile2def import deffile, lalr
from dockerfile2def import parser as d2s_parser

from .shared import CORPUS, REPO, corpus_files


def _in_child(cache: str) -> str:
    """Convert in a fresh interpreter with ``cache`` as the cache folder; whether it imported lark."""
    code = ("import sys; from dockerfile2def import convert; convert('FROM busybox\\nRUN echo hi\\n'); "
            "print('lark' in sys.modules)")
    env = dict(os.environ, D2S_CACHE_DIR=cache)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    return done.stdout.strip()


def test_the_tables_are_compiled_once_into_the_cache(tmp_path):
    cache = tmp_path / "cache"
    assert _in_child(str(cache)) == "True"  # the first run has Lark compile the grammar
    made = sorted(cache.glob("tables-dockerfile-*.marshal"))
    assert len(made) == 1 and not any(cache.glob("*.tmp"))
    stamp = made[0].stat().st_mtime_ns
    assert _in_child(str(cache)) == "False"  # later runs load the tables: no lark
    assert made[0].stat().st_mtime_ns == stamp  # reused, not remade
    assert marshal.loads(made[0].read_bytes())["format"] == lalr.FORMAT


@pytest.mark.parametrize("escape", ["\\\\", "`"])
def test_the_tables_are_plain_data(escape):
    tables = d2s_parser.grammar_tables(escape)
    assert ast.literal_eval(repr(tables)) == tables  # plain data: marshal writes it and reads it back
    assert set(tables) == lalr.PARTS  # what a cache file is checked for


def test_without_a_writable_cache_the_tables_are_made_in_memory(tmp_path):
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    assert _in_child(str(blocked / "cache")) == "True"
    assert _in_child(str(blocked / "cache")) == "True"  # nothing kept: compiled again


def test_a_damaged_cache_file_is_compiled_again(tmp_path):
    cache = tmp_path / "cache"
    _in_child(str(cache))
    made = next(cache.glob("tables-dockerfile-*.marshal"))
    whole = made.read_bytes()
    made.write_bytes(whole[:len(whole) // 2])  # cut short
    assert _in_child(str(cache)) == "True"
    # Made again (Lark numbers its states differently from run to run: same parser, other numbers).
    assert marshal.loads(made.read_bytes())["format"] == lalr.FORMAT
    made.write_bytes(marshal.dumps({"format": 0}))  # an older format
    assert _in_child(str(cache)) == "True"
    assert marshal.loads(made.read_bytes())["format"] == lalr.FORMAT
    made.write_bytes(marshal.dumps({"format": lalr.FORMAT, "starts": {}}))  # the right format, not all there
    assert _in_child(str(cache)) == "True"
    assert marshal.loads(made.read_bytes())["format"] == lalr.FORMAT
    assert _in_child(str(cache)) == "False"


def _lines(escape):
    paths = corpus_files() + sorted((CORPUS / "buildkit-testfiles").glob("*/Dockerfile"))
    paths += sorted((REPO / "fixtures").rglob("Dockerfile*"))
    lines = []
    for path in paths:
        text = path.read_bytes().decode("utf-8", "replace")
        source = d2s_parser._Source(text, str(path))
        while True:
            try:
                logical = source.next_logical()
            except Exception:  # a file the line layer refuses: its lines so far are enough
                break
            if logical is None:
                break
            trimmed = logical.text.strip(d2s_parser.GO_SPACE)
            if trimmed and source.escape == escape:
                lines.append(trimmed)
    # And some forms the files may not hold.
    extra = ["RUN", "ENV a", "ENV a=1 b='2 3'", "COPY --from=x --chmod=755 a b", "HEALTHCHECK NONE",
             "ONBUILD RUN echo", "FROM --platform=$P img AS n", "ARG a b=c \\", "LABEL \u00a0k=v", "NOPE x"]
    return lines + [line.replace("\\", escape) for line in extra]


def _shape(node):
    """A parse tree as nested tuples: rule names, and each token's type, text and offset.

    Lark's trees and lalr.Parser's ``(name, children)`` tuples (no transformer) give the same shape.
    """
    if hasattr(node, "children"):
        name, children = node.data, node.children
    elif isinstance(node, tuple):
        name, children = node
    elif isinstance(node, re.Match):  # lalr.Parser(..., matches=True)
        return (node.lastgroup, node[0], node.start())
    else:
        return (node.type, str(node), node.start_pos)
    return (str(name), tuple(_shape(child) for child in children))


def _compare(ours, theirs, text, start):
    try:
        expected = _shape(theirs.parse(text, start=start))
    except lark.exceptions.LarkError:
        expected = "refused"
    try:
        got = _shape(ours.parse(text, start))
    except lalr.ParseError:
        got = "refused"
    assert got == expected, (start, text)


def _lark(grammar, **options):
    return lark.Lark.open(str(REPO / "grammar" / grammar), parser="lalr", lexer="contextual", **options)


@pytest.mark.parametrize("matches", [False, True], ids=["tokens", "matches"])
@pytest.mark.parametrize("escape,grammar", [("\\", "dockerfile.lark"), ("`", "dockerfile_backtick.lark")])
def test_tables_read_lines_as_lark_does(escape, grammar, matches):
    ours = lalr.Parser(d2s_parser.grammar_tables(escape), matches=matches)
    theirs = _lark(grammar)
    lines = _lines(escape)
    assert len(lines) > (1000 if escape == "\\" else 10)
    for line in lines:
        _compare(ours, theirs, line, "start")


# Characters that steer the Dockerfile grammar's lexers: separators, Unicode blanks, quotes, escapes,
# flag dashes, "=", JSON brackets, and keyword letters.
_PIECES = [" ", "\t", "\v", "\f", "\r", "\n", "\u00a0", "\u2028", "\u3000", "'", '"', "\\", "`", "-", "--", "=", "[",
           "]", ",", "a", "Z", "#", "$", "{", "}", "RUN ", "ENV ", "ARG ", "LABEL ", "COPY ", "FROM ", "ONBUILD ",
           "HEALTHCHECK ", "CMD ", "NONE", "--from=", "--mount=", "x=y ", "AS ", "\\\n"]


@settings(max_examples=int(os.environ.get("D2S_FUZZ_EXAMPLES", "400")), deadline=None,
          suppress_health_check=list(HealthCheck))
@given(pieces=st.lists(st.sampled_from(_PIECES), min_size=1, max_size=14), escape=st.sampled_from(["\\", "`"]))
def test_tables_read_any_line_as_lark_does(pieces, escape):
    text = "".join(pieces)
    grammar = "dockerfile_backtick.lark" if escape == "`" else "dockerfile.lark"
    _compare(_parsers(grammar, escape)[0], _parsers(grammar, escape)[1], text, "start")


_CACHED = {}


def _parsers(grammar, escape=None, **options):
    if grammar not in _CACHED:
        tables = d2s_parser.grammar_tables(escape) if escape else deffile_tables()
        _CACHED[grammar] = (lalr.Parser(tables), _lark(grammar, **options))
    return _CACHED[grammar]


def deffile_tables():
    from dockerfile2def.generated import tables

    return tables("deffile.lark", ("deffile.lark",), start=deffile._STARTS, maybe_placeholders=False)


def test_tables_read_definition_files_as_lark_does(monkeypatch):
    """Every text d2s check hands the deffile grammar while reading the fixtures' .def files."""
    asked = []
    real = deffile._parse

    def recording(text, start):
        asked.append((text, start))
        return real(text, start)

    monkeypatch.setattr(deffile, "_parse", recording)
    monkeypatch.setattr(deffile, "_SECTION_LINES", {})
    monkeypatch.setattr(deffile, "_HEADER_LINES", {})
    for path in sorted(REPO.rglob("*.def")) + sorted((REPO / "fixtures").rglob("*.def*")):
        deffile.parse_definition(path.read_bytes().decode("utf-8", "replace"), str(path))
    starts = {start for _, start in asked}
    assert starts >= {"header", "section_line", "files_body", "template"}, starts
    ours, theirs = _parsers("deffile.lark", maybe_placeholders=False, start=deffile._STARTS)
    for text, start in asked:
        _compare(ours, theirs, text, start)


def test_a_cache_that_cannot_be_written_leaves_the_tables_in_memory(tmp_path, monkeypatch):
    from dockerfile2def import cache, generated

    def full_disk(path, text):
        raise OSError(28, "No space left on device")

    monkeypatch.setenv("D2S_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(generated, "_TABLES", {})
    monkeypatch.setattr(cache, "write_atomic", full_disk)
    assert d2s_parser.grammar_tables("\\")["format"] == lalr.FORMAT
    assert list(tmp_path.glob("tables-*")) == []


# What d2s's grammars do not use today, but lalr.Parser must still do as Lark does: %ignore'd
# terminals, string terminals a regex terminal also matches (Lark retypes the match), ?rules with
# one child, and an alias.
_SMALL = r'''
start: item*
?item: pair | WORD | "(" item* ")" -> group
pair: WORD EQUALS VALUE?
EQUALS: "="
WORD: /[a-z=]+/
VALUE: /[0-9]+/
COMMENT: /#[^\n]*/
%ignore " "
%ignore COMMENT
'''


@pytest.mark.parametrize("text", ["", "a", "a b", "a=1", "a = 1", "= =", "(a (b=2) c) # note", "a\n", "(", "a=",
                                  "  ab  ", "1", "a)(", "==1"])
def test_tables_follow_lark_on_ignored_and_retyped_terminals(text):
    theirs = lark.Lark(_SMALL, parser="lalr", lexer="contextual")
    ours = lalr.Parser(lalr.compile_tables(theirs))
    _compare(ours, theirs, text, "start")


def test_tokens_as_matches_need_plain_lexers():
    # A match cannot carry a retyped terminal or skip ignored text: such tables are refused.
    tables = lalr.compile_tables(lark.Lark(_SMALL, parser="lalr", lexer="contextual"))
    with pytest.raises(ValueError, match="matches"):
        lalr.Parser(tables, matches=True)
    assert lalr.Parser(d2s_parser.grammar_tables("\\"), matches=True).matches


# The quote-aware terminals, written one character at a time: BuildKit's reading, and what the grammar
# said before its loops were unrolled (the engine stepped through a long quoted value char by char).
_GO_BLANK = r"\t\n\v\f\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
_PER_CHARACTER = {
    "WORD": r'(?:[^%s"\'{e}]|{e}[\s\S]|"(?:[^"{e}]|{e}[\s\S])*"?|\'[^\']*\'?)+' % _GO_BLANK,
    "FLAG_DOUBLE": r'"(?:[^"{e}]|{e}[\s\S])*"?',
    "FLAG_SINGLE": r"'(?:[^'{e}]|{e}[\s\S])*'?",
}
_PAIRS: list = []


def _terminal_pairs():
    """(grammar, terminal, its regex, the per-character reference), made once."""
    if not _PAIRS:
        for escape, grammar in (("\\", "dockerfile.lark"), ("`", "dockerfile_backtick.lark")):
            terminals = {t.name: t for t in _lark(grammar).terminals}
            for name, reference in _PER_CHARACTER.items():
                _PAIRS.append((grammar, name, re.compile(terminals[name].pattern.to_regexp()),
                               re.compile(reference.format(e=re.escape(escape)))))
    return _PAIRS


@settings(max_examples=int(os.environ.get("D2S_FUZZ_EXAMPLES", "400")), deadline=None)
@given(text=st.text(alphabet=list("ab=\"'\\` \t\n\u3000\x85"), max_size=24), pos=st.integers(0, 3))
def test_quoted_terminals_match_as_their_per_character_definitions(text, pos):
    for grammar, name, ours, theirs in _terminal_pairs():
        found, expected = ours.match(text, pos), theirs.match(text, pos)
        assert (found and found.span()) == (expected and expected.span()), (grammar, name, text, pos)
