"""The stand-alone parsers in grammar/ are generated from the .lark grammars and stay in step with them.

grammar/dockerfile_lalr.py and grammar/dockerfile_backtick_lalr.py are what parser.py runs; the
.lark files are the source of truth (tools/generate_parsers.py). The first test fails when a grammar
changed and the modules were not regenerated; the second parses every logical line of the corpus,
the fixtures and the BuildKit test files with the generated parser and with Lark compiling the
.lark file afresh, and wants the same tokens and rules from both.
"""

import subprocess
import sys

import lark
import pytest

from dockerfile2def import parser as d2s_parser

from .shared import CORPUS, REPO, corpus_files

GENERATOR = REPO / "tools" / "generate_parsers.py"


def test_generated_parsers_match_the_grammar_files():
    done = subprocess.run([sys.executable, str(GENERATOR), "--check"], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


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


@pytest.mark.parametrize("escape,module,grammar", [
    ("\\", "dockerfile_lalr", "dockerfile.lark"),
    ("`", "dockerfile_backtick_lalr", "dockerfile_backtick.lark"),
])
def test_generated_parser_reads_lines_as_the_grammar_does(escape, module, grammar):
    generated = __import__("dockerfile2def.grammar." + module, fromlist=["Lark_StandAlone"]).Lark_StandAlone()
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
