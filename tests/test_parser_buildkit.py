"""Differential test: d2s's parser against BuildKit's own.

For every real Dockerfile of the corpus and every BuildKit parser fixture, each instruction's
keyword, flags, values (rebuilt from the IR the way BuildKit's AST shows them), JSON-ness,
``original`` text, line range and heredocs equal what BuildKit's Go parser returns through the
PyPI ``dockerfile`` binding. The fixtures' ``result`` files (BuildKit's expected AST dumps) are
checked too. BuildKit's AST layer accepts some fixtures its instruction layer refuses (unknown
flags, no FROM, a bare HEALTHCHECK): d2s reads them the same way and refuses them, as BuildKit
does. Every negative fixture is refused.

The corpus lives in ``shared/`` beside the repository (or ``$D2S_SHARED``); CI always has it, so
its absence fails the run.
"""

import re

import dockerfile as buildkit
import pytest

from dockerfile2def import D2SError
from dockerfile2def.ir import (
    Arg, Cmd, Copy, Entrypoint, Env, ExecForm, Expose, From, Healthcheck, Label, Maintainer, Onbuild,
    Run, Shell, StopSignal, User, Volume, Workdir,
)
from dockerfile2def.parser import instructions, parse

from .shared import CORPUS, corpus_files

REAL = corpus_files()
FIXTURES = sorted((CORPUS / "buildkit-testfiles").glob("*/Dockerfile"))
FILES = REAL + FIXTURES
NEGATIVE = sorted((CORPUS / "buildkit-negative").glob("*/Dockerfile"))

# Fixtures BuildKit's AST parser reads but its instruction layer refuses, and the reason d2s gives.
REFUSED = {
    "flags": "unknown flag: --user",
    "health": "HEALTHCHECK requires at least one argument",
    "json": "no build stage in current context",
    "jeztah-invalid-json-json-inside-string": "no build stage in current context",
    "jeztah-invalid-json-json-inside-string-double": "no build stage in current context",
    "jeztah-invalid-json-single-quotes": "no build stage in current context",
    "jeztah-invalid-json-unterminated-bracket": "no build stage in current context",
    "jeztah-invalid-json-unterminated-string": "no build stage in current context",
}


def test_corpus_is_there():
    assert len(REAL) >= 200, "expected the real-world corpus in %s" % CORPUS
    assert len(FIXTURES) >= 30 and len(NEGATIVE) >= 4, "expected BuildKit's fixtures in %s" % CORPUS


def _command_view(command):
    if command is None:
        return (), False
    if isinstance(command, ExecForm):
        return tuple(command.argv), True
    return ((command.text,) if command.text else ()), False


def buildkit_view(node):
    """(value, json) of an IR instruction, the way BuildKit's AST presents them."""
    if isinstance(node, From):
        return (node.image,) + (("AS", node.stage_name) if node.stage_name else ()), False
    if isinstance(node, (Run, Cmd, Entrypoint)):
        return _command_view(node.command)
    if isinstance(node, Shell):
        return tuple(node.argv), True
    if isinstance(node, (Env, Label)):
        return tuple(x for pair in node.pairs for x in (pair.key, pair.value)), False
    if isinstance(node, Arg):
        return tuple(d.name if d.default is None else "%s=%s" % (d.name, d.default) for d in node.declarations), False
    if isinstance(node, Copy):
        return tuple(node.sources) + ((node.destination,) if node.destination or node.sources else ()), node.json
    if isinstance(node, Volume):
        return tuple(node.paths), node.json
    if isinstance(node, Expose):
        return tuple(node.ports), False
    if isinstance(node, Workdir):
        return (node.path,), False
    if isinstance(node, User):
        return (node.user,), False
    if isinstance(node, StopSignal):
        return (node.signal,), False
    if isinstance(node, Maintainer):
        return (node.name,), False
    if isinstance(node, Healthcheck):
        value, is_json = _command_view(node.command)
        return ((node.kind,) if node.kind else ()) + value, is_json
    if isinstance(node, Onbuild):
        return buildkit_view(node.trigger)
    return None, None  # an instruction BuildKit does not know: its arguments are ignored


def _normalise(value, keyword):
    """BuildKit keeps `AS name` and a HEALTHCHECK type as written; the IR stores them normalised."""
    if keyword == "FROM" and value and len(value) == 3:
        return (value[0], value[1].upper(), value[2].lower())
    if keyword == "HEALTHCHECK" and value:
        return (value[0].upper(),) + tuple(value[1:])
    return value


def _oracle_original(command):
    return command.original


def _our_original(node):
    original = node.original
    heredocs = getattr(node, "heredocs", None)
    if heredocs:
        original += "\n" + "".join(h.body + h.name + "\n" for h in heredocs)
    return original


def _ascii(command):
    return all(ord(c) < 128 for f in command.flags for c in f)


@pytest.mark.parametrize("path", FILES, ids=[p.parent.name if p.name == "Dockerfile" else p.name[:60] for p in FILES])
def test_same_reading_as_buildkit(path):
    _assert_same_reading(path.read_text(encoding="utf-8"), path.name)


# A quote-aware word list that ends in a lone escape after a blank: the line does not continue (a \v or
# \f follows the escape) but is trimmed, so the escape ends it; BuildKit drops it. d2s's grammar once
# had no parse for it and crashed.
TRIMMED_ESCAPES = [
    "FROM x\nENV a=1 \\\v\n",
    "FROM x\nARG a \\\f\n",
    "FROM x\nLABEL a=1 b=2\t\\\v\n",
    "FROM x\nARG `\u2028\\\x85\n",
    "# escape=`\nFROM x\nENV a=1 `\v\n",
]


@pytest.mark.parametrize("text", TRIMMED_ESCAPES)
def test_same_reading_as_buildkit_on_a_trimmed_lone_escape(text):
    _assert_same_reading(text, "Dockerfile")


def _assert_same_reading(text, name):
    expected = buildkit.parse_string(text)
    nodes = instructions(text, name)
    assert len(nodes) == len(expected)
    for (node, _), command in zip(nodes, expected):
        where = "%s:%d" % (name, command.start_line)
        assert node.keyword == (command.cmd or "").upper(), where
        assert (node.span.line, node.span.end_line) == (command.start_line, command.end_line), where
        if _ascii(command):  # BuildKit reads flag bytes as Latin-1 (a known quirk d2s does not copy)
            assert tuple(f.text() for f in node.flags) == command.flags, where
        if isinstance(node, Onbuild):
            assert node.trigger.keyword == (command.sub_cmd or "").upper(), where
            assert node.original == command.original, where  # the binding shows no ONBUILD heredocs
        else:
            assert _our_original(node) == _oracle_original(command), where
            heredocs = getattr(node, "heredocs", [])
            assert [(h.name, h.body, h.file_descriptor) for h in heredocs] == [
                (h.name, h.content, h.file_descriptor) for h in command.heredocs], where
        value, is_json = buildkit_view(node)
        if value is not None:
            keyword = node.trigger.keyword if isinstance(node, Onbuild) else node.keyword
            # The binding passes strings through C: a JSON "\u0000" ends its copy of the value there
            # (the fixture's result file, checked below, has the whole string).
            value = tuple(v.split("\x00")[0] for v in value)
            assert (_normalise(value, keyword), is_json) == (_normalise(command.value, keyword), command.json), where


@pytest.mark.parametrize("path", FILES, ids=[p.parent.name if p.name == "Dockerfile" else p.name[:60] for p in FILES])
def test_accepted_or_refused_like_buildkit(path):
    text = path.read_text(encoding="utf-8")
    name = path.parent.name if path.name == "Dockerfile" else None
    if name in REFUSED:
        with pytest.raises(D2SError) as err:
            parse(text, str(path))
        assert err.value.message.startswith(REFUSED[name])
        assert err.value.line >= 1 and err.value.column >= 1
    else:
        parsed = parse(text, str(path))
        assert parsed.stages


@pytest.mark.parametrize("path", NEGATIVE, ids=[p.parent.name for p in NEGATIVE])
def test_negative_fixtures_are_refused(path):
    text = path.read_text(encoding="utf-8")
    with pytest.raises(Exception):
        buildkit.parse_string(text)  # the oracle refuses them too
    with pytest.raises(D2SError) as err:
        parse(text, str(path))
    assert err.value.line >= 1 and err.value.column >= 1


# -- BuildKit's expected AST dumps (testfiles/*/result) -------------------------------------------------

_GO_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\", '"': '"',
               "'": "'"}


def _go_unquote(text, i):
    """A Go strconv.Quote string starting at text[i] == '"': (value, index after it)."""
    out = []
    i += 1
    while text[i] != '"':
        c = text[i]
        if c != "\\":
            out.append(c)
            i += 1
            continue
        kind = text[i + 1]
        if kind in _GO_ESCAPES:
            out.append(_GO_ESCAPES[kind])
            i += 2
        elif kind in "xuU":
            width = {"x": 2, "u": 4, "U": 8}[kind]
            out.append(chr(int(text[i + 2:i + 2 + width], 16)))
            i += 2 + width
        else:  # octal
            out.append(chr(int(text[i + 1:i + 4], 8)))
            i += 4
    return "".join(out), i + 1


def _read_dump(text, i=0):
    """One `(keyword ["flags"...] "arg"... (sub-node))` of BuildKit's Node.Dump."""
    assert text[i] == "("
    match = re.compile(r"[a-zA-Z0-9_-]*").match(text, i + 1)
    node = {"keyword": match.group(0), "flags": [], "args": [], "sub": None}
    i = match.end()
    while True:
        while text[i] in " \n":
            i += 1
        c = text[i]
        if c == ")":
            return node, i + 1
        if c == "(":
            node["sub"], i = _read_dump(text, i)
        elif c == "[":
            i += 1
            while text[i] != "]":
                if text[i] == " ":
                    i += 1
                    continue
                value, i = _go_unquote(text, i)
                node["flags"].append(value)
            i += 1
        else:
            value, i = _go_unquote(text, i)
            node["args"].append(value)


def _dumps(text):
    nodes = []
    i = 0
    while i < len(text):
        if text[i] == "(":
            node, i = _read_dump(text, i)
            nodes.append(node)
        else:
            i += 1
    return nodes


def _dump_view(node):
    """The IR instruction as BuildKit's dump shows it: (keyword, flags, args)."""
    if isinstance(node, Onbuild):
        return node.keyword.lower(), [f.text() for f in node.flags], _dump_view(node.trigger)
    if isinstance(node, (Env, Label)):
        args = []
        for pair in node.pairs:
            args += [pair.key, pair.value, "" if node.legacy else "="]
        return node.keyword.lower(), [f.text() for f in node.flags], args
    value, _ = buildkit_view(node)
    return node.keyword.lower(), [f.text() for f in node.flags], list(_normalise(value, node.keyword))


def _expected_view(entry):
    if entry["sub"] is not None:
        return entry["keyword"], entry["flags"], _expected_view(entry["sub"])
    args = entry["args"]
    if entry["keyword"] == "from" and len(args) == 3:
        args = [args[0], args[1].upper(), args[2].lower()]
    if entry["keyword"] == "healthcheck" and args:
        args = [args[0].upper()] + args[1:]
    return entry["keyword"], entry["flags"], args


@pytest.mark.parametrize("path", FIXTURES, ids=[p.parent.name for p in FIXTURES])
def test_buildkit_result_dumps(path):
    result = path.parent / "result"
    assert result.exists()
    expected = _dumps(result.read_text(encoding="utf-8"))
    nodes = instructions(path.read_text(encoding="utf-8"), str(path))
    assert [_dump_view(node) for node, _ in nodes] == [_expected_view(e) for e in expected]
