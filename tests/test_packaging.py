"""The package as users get it: a wheel that carries the grammars, and code an old interpreter reads."""

import ast
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(ROOT)],
        capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    [path] = list(out.glob("dockerfile2def-*.whl"))
    return path


def test_wheel_carries_the_grammars(wheel):
    names = zipfile.ZipFile(str(wheel)).namelist()
    for grammar in sorted((ROOT / "grammar").glob("*.lark")):
        assert "dockerfile2def/grammar/%s" % grammar.name in names
    assert "dockerfile2def/passes/__init__.py" in names


def test_d2s_runs_from_the_wheel(wheel, tmp_path):
    target = tmp_path / "site"
    with zipfile.ZipFile(str(wheel)) as archive:
        archive.extractall(str(target))
    env = dict(os.environ, PYTHONPATH=str(target), XDG_CACHE_HOME=str(tmp_path / "cache"))
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text("FROM scratch\nENV A=1\nCMD [\"/a\"]\n")
    done = subprocess.run([sys.executable, "-m", "dockerfile2def", "convert", "--offline", str(dockerfile)],
                          capture_output=True, text=True, env=env, cwd=str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert "Bootstrap: scratch" in done.stdout and "export A=1" in done.stdout
    probe = subprocess.run([sys.executable, "-c", "import dockerfile2def, sys; print(dockerfile2def.__file__)"],
                           capture_output=True, text=True, env=env, cwd=str(tmp_path))
    assert probe.stdout.startswith(str(target))


@pytest.mark.parametrize("path", sorted((ROOT / "dockerfile2def").rglob("*.py")), ids=lambda p: p.name)
def test_source_is_python_3_9_syntax(path):
    ast.parse(path.read_text(encoding="utf-8"), filename=str(path), feature_version=(3, 9))
