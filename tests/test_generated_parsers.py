"""The Dockerfile parsers are Lark's stand-alone modules, generated from the .lark grammars on first use.

parser.generated_module (generated.py) makes them with Lark's own generator and keeps them in d2s's cache folder,
named by a digest of the grammars (a changed grammar gets a new module); they are never in the
repository (they hold Lark's runtime). The last test parses every logical line of the corpus, the
fixtures and the BuildKit test files with the generated parser and with Lark compiling the .lark file
afresh, and wants the same tokens and rules from both.
"""

import os
import subprocess
import sys

import lark
import pytest

from dockerfile2def import parser as d2s_parser

from .shared import CORPUS, REPO, corpus_files


def _in_child(cache: str) -> str:
    """Convert in a fresh interpreter with ``cache`` as the cache folder; what it printed."""
    code = ("from dockerfile2def import convert, parser; convert('FROM busybox\\nRUN echo hi\\n'); "
            "print(parser.generated_module('\\\\').__file__ if hasattr(parser.generated_module('\\\\'), "
            "'__file__') else 'in memory')")
    env = dict(os.environ, D2S_CACHE_DIR=cache)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    return done.stdout.strip()


def test_the_parser_is_generated_once_into_the_cache(tmp_path):
    cache = tmp_path / "cache"
    first = _in_child(str(cache))
    made = sorted(p.name for p in cache.glob("parser-*.py"))
    assert made and os.path.dirname(first) == str(cache) and os.path.basename(first) in made
    assert not any(cache.glob("*.tmp"))
    stamp = os.stat(first).st_mtime_ns
    assert _in_child(str(cache)) == first and os.stat(first).st_mtime_ns == stamp  # reused, not remade
    text = open(first, encoding="utf-8").read()
    assert "Lark" in text and "d2s: the grammar needs only re" in text


def test_without_a_writable_cache_the_parser_is_made_in_memory(tmp_path):
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    assert _in_child(str(blocked / "cache")) == "in memory"


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
    """A tree as nested tuples: rule names, and each token's type, text and offset."""
    if hasattr(node, "children"):
        return (node.data, tuple(_shape(child) for child in node.children))
    return (node.type, str(node), node.start_pos)


@pytest.mark.parametrize("escape,grammar", [("\\", "dockerfile.lark"), ("`", "dockerfile_backtick.lark")])
def test_generated_parser_reads_lines_as_the_grammar_does(escape, grammar):
    generated = d2s_parser.generated_module(escape).Lark_StandAlone()
    fresh = lark.Lark.open(str(REPO / "grammar" / grammar), parser="lalr", lexer="contextual",
                           propagate_positions=False, maybe_placeholders=False)
    lines = _lines(escape)
    assert len(lines) > (1000 if escape == "\\" else 10)
    for line in lines:
        try:
            expected = _shape(fresh.parse(line))
        except lark.exceptions.LarkError as err:
            expected = type(err).__name__
        try:
            got = _shape(generated.parse(line))
        except Exception as err:  # the generated module has its own copies of lark's exception classes
            got = type(err).__name__
        assert got == expected, line


def test_a_cache_that_cannot_be_written_leaves_the_parser_in_memory(tmp_path, monkeypatch):
    from dockerfile2def import cache, generated

    def full_disk(path, text):
        raise OSError(28, "No space left on device")

    monkeypatch.setenv("D2S_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(generated, "_MODULES", {})
    monkeypatch.setattr(cache, "write_atomic", full_disk)
    module = d2s_parser.generated_module("\\")
    assert not hasattr(module, "__file__") and module.Lark_StandAlone
    assert list(tmp_path.glob("parser-*")) == []
