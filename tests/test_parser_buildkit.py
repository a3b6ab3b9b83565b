"""Differential test: d2s's parser against BuildKit's own (the PyPI `dockerfile` binding).

For every real Dockerfile of the corpus and every BuildKit parser fixture, each instruction's
keyword, flags, values (rebuilt as BuildKit's AST shows them), JSON-ness, text, line range and
heredocs equal what BuildKit returns. BuildKit's AST layer accepts some files its instruction
layer then refuses (unknown flags, no FROM, ...): for those, d2s must refuse too, and its line
assembly must still agree. Every negative fixture is refused.
"""

import pytest

import dockerfile as buildkit

from dockerfile2def import D2SError
from dockerfile2def.ir import (
    Arg, Copy, Env, ExecForm, Expose, From, Healthcheck, Label, Maintainer, Onbuild, Run, Cmd, Entrypoint,
    Shell, ShellForm, StopSignal, User, Volume, Workdir,
)
from dockerfile2def.parser import parse, scan

from .shared import CORPUS, corpus_files

FILES = corpus_files() + sorted((CORPUS / "buildkit-testfiles").glob("*/Dockerfile"))
NEGATIVE = sorted((CORPUS / "buildkit-negative").glob("*/Dockerfile"))


def _command_value(command):
    if isinstance(command, ExecForm):
        return tuple(command.argv), True
    return ((command.text,) if command.text else ()), False


def buildkit_view(node):
    """(value, json) of an IR instruction, the way BuildKit's AST presents them."""
    if isinstance(node, From):
        words = [node.image] + (["AS", node.stage_name] if node.stage_name else [])
        return tuple(words), False
    if isinstance(node, (Run, Cmd, Entrypoint)):
        return _command_value(node.command)
    if isinstance(node, Shell):
        return tuple(node.argv), True
    if isinstance(node, (Env, Label)):
        return tuple(x for pair in node.pairs for x in (pair.key, pair.value)), False
    if isinstance(node, Arg):
        return tuple(d.name if d.default is None else "%s=%s" % (d.name, d.default) for d in node.declarations), False
    if isinstance(node, Copy):
        return tuple(node.sources) + (node.destination,), node.json
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
        if node.kind == "NONE":
            return ("NONE",), False
        value, is_json = _command_value(node.command)
        return ("CMD",) + value, is_json
    if isinstance(node, Onbuild):
        return buildkit_view(node.trigger)
    raise AssertionError("no view for %r" % node)


def _instructions(dockerfile):
    nodes = list(dockerfile.global_args)
    for stage in dockerfile.stages:
        nodes.append(stage.base)
        nodes.extend(stage.instructions)
    return nodes


def _normalise(value, node):
    if isinstance(node, From) and len(value) == 3:
        return (value[0], value[1].upper(), value[2].lower())
    return value


@pytest.mark.parametrize("path", FILES, ids=[p.parent.name if p.name == "Dockerfile" else p.name[:60] for p in FILES])
def test_same_parse_as_buildkit(path):
    text = path.read_text(encoding="utf-8")
    expected = buildkit.parse_string(text)
    # Line assembly first: logical lines, their ranges and heredocs.
    _, _, logical = scan(text, str(path))
    assert [(l.line, l.end_line) for l in logical] == [(c.start_line, c.end_line) for c in expected]
    assert [l.text for l in logical] == [c.original.split("\n", 1)[0] for c in expected]
    assert [[(h.name, h.body) for h in l.heredocs] for l in logical] == [
        [(h.name, h.content) for h in c.heredocs] for c in expected]
    try:
        parsed = parse(text, str(path))
    except D2SError as err:
        # BuildKit's instruction layer refuses these too; make sure this is such a file.
        assert path.parent.name in REFUSED_BY_INSTRUCTIONS, "d2s refused %s: %s" % (path, err)
        return
    nodes = _instructions(parsed)
    assert len(nodes) == len(expected)
    for node, command in zip(nodes, expected):
        where = "%s:%d" % (path.name, command.start_line)
        assert node.keyword == command.cmd.upper(), where
        assert (node.span.line, node.span.end_line) == (command.start_line, command.end_line), where
        assert tuple(f.text() for f in node.flags) == command.flags, where
        value, is_json = buildkit_view(node)
        assert (_normalise(value, node), is_json) == (_normalise(command.value, node), command.json), where
        if isinstance(node, Onbuild):
            assert node.trigger.keyword == (command.sub_cmd or "").upper(), where
        heredocs = getattr(node, "heredocs", [])
        assert [(h.name, h.body, h.file_descriptor) for h in heredocs] == [
            (h.name, h.content, h.file_descriptor) for h in command.heredocs], where


# BuildKit parser fixtures that its instruction layer (dockerfile2llb) refuses: no FROM, unknown flags,
# a bare HEALTHCHECK. d2s refuses them with a located error.
REFUSED_BY_INSTRUCTIONS = {
    "flags", "health", "json",
    "jeztah-invalid-json-json-inside-string", "jeztah-invalid-json-json-inside-string-double",
    "jeztah-invalid-json-single-quotes", "jeztah-invalid-json-unterminated-bracket",
    "jeztah-invalid-json-unterminated-string",
}


@pytest.mark.parametrize("path", NEGATIVE, ids=[p.parent.name for p in NEGATIVE])
def test_negative_fixtures_are_refused(path):
    assert NEGATIVE, "negative fixtures missing"
    with pytest.raises(D2SError) as err:
        parse(path.read_text(encoding="utf-8"), str(path))
    assert err.value.line >= 1 and err.value.column >= 1
