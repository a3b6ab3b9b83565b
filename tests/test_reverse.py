"""d2s to-dockerfile: the reverse direction through spython's writer, with d2s's safe I/O."""

import pytest

from dockerfile2def import D2SError
from dockerfile2def.__main__ import main
from dockerfile2def.reverse import definition_to_dockerfile

RECIPE = """Bootstrap: docker
From: ubuntu:22.04

%files
    a.txt /opt/a.txt

%post
    apt-get update

%environment
    export FOO=bar
"""


def test_reverse_gives_a_dockerfile():
    text = definition_to_dockerfile(RECIPE)
    lines = text.splitlines()
    assert lines[0].startswith("FROM ubuntu:22.04")
    assert "RUN apt-get update" in lines
    assert "ENV FOO=bar" in lines
    assert text.endswith("\n")


def test_reverse_refuses_empty_input():
    with pytest.raises(D2SError) as err:
        definition_to_dockerfile("  \n", "x.def")
    assert str(err.value) == "x.def:1:1: error: empty definition file"


def test_cli_writes_and_refuses_to_overwrite(tmp_path, capsys):
    recipe = tmp_path / "r.def"
    recipe.write_text(RECIPE)
    out = tmp_path / "Dockerfile"
    assert main(["to-dockerfile", str(recipe), str(out)]) == 0
    assert out.read_text().startswith("FROM ubuntu:22.04")
    out.write_text("FROM mine\n")
    assert main(["to-dockerfile", str(recipe), str(out)]) == 2
    assert out.read_text() == "FROM mine\n"
    assert "refusing to overwrite" in capsys.readouterr().err
