"""The pre-commit hooks (.pre-commit-hooks.yaml) with the real pre-commit, in throwaway git repositories.

The hook repository is a fresh git repository holding this checkout's package files, so the hooks
tested are the ones in the working tree. pre-commit installs the package and its dependencies into
its own virtualenv (language: python), which needs PyPI; that happens once per test session.
"""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GOOD_DEF = "Bootstrap: docker\nFrom: 127.0.0.1:5000/busybox:latest\n\n%post\n    echo hello\n"
BROKEN_DEF = "Bootstrap: docker\nFrom: 127.0.0.1:5000/busybox:latest\n\n%psot\n    echo hello\n"
FIXABLE_DEF = "Bootstrap: docker\nFrom: 127.0.0.1:5000/busybox:latest\n\n%files\n    app.conf etc/app.conf\n"
DOCKERFILE = "FROM scratch\nCOPY app.conf /etc/app.conf\n"


def _tool(name):
    path = shutil.which(name)
    if not path:
        pytest.skip("%s is not on PATH" % name)
    return path


def _run(argv, cwd, env, check=True):
    proc = subprocess.run(argv, cwd=str(cwd), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          timeout=900)
    output = proc.stdout.decode("utf-8", "replace")
    if check and proc.returncode != 0:
        raise AssertionError("%s failed (%d):\n%s" % (" ".join(argv), proc.returncode, output))
    return proc.returncode, output


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    _tool("git")
    _tool("pre-commit")
    home = tmp_path_factory.mktemp("pre-commit-home")
    env = dict(os.environ)
    env.update({
        "PRE_COMMIT_HOME": str(home),
        "GIT_AUTHOR_NAME": "d2s test", "GIT_AUTHOR_EMAIL": "test@example.org",
        "GIT_COMMITTER_NAME": "d2s test", "GIT_COMMITTER_EMAIL": "test@example.org",
        "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1",
        "PRE_COMMIT_COLOR": "never",
    })
    env.pop("PRE_COMMIT", None)
    return env


@pytest.fixture(scope="module")
def hook_repo(tmp_path_factory, env):
    """(path, commit) of a git repository with this checkout's package and hook definitions."""
    repo = tmp_path_factory.mktemp("d2s-hooks")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in ("pyproject.toml", "README.md", ".pre-commit-hooks.yaml"):
        shutil.copy2(str(ROOT / name), str(repo / name))
    for name in ("dockerfile2def", "grammar"):
        shutil.copytree(str(ROOT / name), str(repo / name), ignore=ignore)
    _run(["git", "init", "-q", "-b", "main"], repo, env)
    _run(["git", "add", "."], repo, env)
    _run(["git", "commit", "-q", "-m", "d2s"], repo, env)
    _, sha = _run(["git", "rev-parse", "HEAD"], repo, env)
    return repo, sha.strip()


def _project(tmp_path, env, hook_repo, args=None):
    repo, sha = hook_repo
    project = tmp_path / "project"
    project.mkdir()
    config = ("repos:\n  - repo: %s\n    rev: %s\n    hooks:\n      - id: d2s-check\n%s      - id: d2s-dockerfile\n"
              % (repo, sha, "        args: %s\n" % args if args else ""))
    (project / ".pre-commit-config.yaml").write_text(config)
    (project / "app.conf").write_text("key=value\n")
    _run(["git", "init", "-q", "-b", "main"], project, env)
    _run(["pre-commit", "install"], project, env)
    _run(["git", "add", ".pre-commit-config.yaml", "app.conf"], project, env)
    _run(["git", "commit", "-q", "-m", "config"], project, env)
    return project


def _commit(project, env, *files):
    _run(["git", "add"] + list(files), project, env)
    return _run(["git", "commit", "-m", "change"], project, env, check=False)


def test_hook_definitions():
    import yaml  # pre-commit depends on PyYAML

    hooks = {h["id"]: h for h in yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())}
    assert set(hooks) == {"d2s-check", "d2s-dockerfile"}
    for hook in hooks.values():
        assert hook["language"] == "python" and hook["entry"] == "d2s check"
    assert hooks["d2s-check"]["files"] == r"\.def$"


def test_a_clean_commit_passes_and_a_broken_recipe_is_refused(tmp_path, env, hook_repo):
    project = _project(tmp_path, env, hook_repo)
    (project / "good.def").write_text(GOOD_DEF)
    status, output = _commit(project, env, "good.def")
    assert status == 0, output
    assert "d2s check (Apptainer definition files)" in output and "Passed" in output

    (project / "broken.def").write_text(BROKEN_DEF)
    status, output = _commit(project, env, "broken.def")
    assert status != 0
    assert "Failed" in output
    assert "broken.def:4:1: error[D2S206]: invalid section '%psot'" in output
    _, log = _run(["git", "log", "--oneline"], project, env)
    assert len(log.splitlines()) == 2  # the broken recipe was not committed


def test_warnings_fail_the_hook_and_fix_rewrites_the_file(tmp_path, env, hook_repo):
    project = _project(tmp_path, env, hook_repo, args="[--strict, --fix]")
    (project / "app.def").write_text(FIXABLE_DEF)
    status, output = _commit(project, env, "app.def")
    assert status != 0
    assert "files were modified by this hook" in output
    assert "app.def:5:14: fixed[D2S220]" in output
    assert (project / "app.def").read_text() == FIXABLE_DEF.replace(" etc/app.conf", " /etc/app.conf")
    status, output = _commit(project, env, "app.def")
    assert status == 0, output


def test_the_dockerfile_hook_checks_the_generated_def(tmp_path, env, hook_repo):
    project = _project(tmp_path, env, hook_repo)
    (project / "Dockerfile").write_text(DOCKERFILE)
    _run(["d2s", "convert", "Dockerfile", "app.def"], project, env)
    status, output = _commit(project, env, "Dockerfile", "app.def")
    assert status == 0, output
    assert "d2s check (Dockerfiles and their generated .def)" in output

    (project / "Dockerfile").write_text(DOCKERFILE.replace("/etc/app.conf", "/opt/app.conf"))
    status, output = _commit(project, env, "Dockerfile")
    assert status != 0
    assert "Dockerfile:1:1: error[D2S240]: app.def is out of date with this Dockerfile" in output

    _run(["d2s", "convert", "Dockerfile", "app.def"], project, env)
    status, output = _commit(project, env, "Dockerfile", "app.def")
    assert status == 0, output
