"""Adversarial values survive a real build byte for byte, and none of them runs (SECURITY.md).

One Dockerfile (tests/test_safety.py ``adversarial``) carries hostile values through every channel:
ENV, LABEL, ARG, --build-arg (newlines), WORKDIR, context file names, COPY and RUN heredoc bodies, a
stage name, exec-form ENTRYPOINT/CMD. d2s converts it; Apptainer builds it with --fakeroot from the
context folder (busybox from the local registry, one image); the image must hold every value exactly
and no ``PWNED`` file may appear, in the image or on the host.
"""

import json
import os
import subprocess
from pathlib import Path

import pytest

from dockerfile2def.__main__ import main

from ..test_safety import ADVERSARIAL, MULTILINE, adversarial, apptainer_split, def_problems, make_context

pytestmark = pytest.mark.integration


def _run(command, cwd=None, timeout=600):
    return subprocess.run([str(c) for c in command], cwd=None if cwd is None else str(cwd), capture_output=True,
                          stdin=subprocess.DEVNULL, timeout=timeout)


@pytest.fixture(scope="module")
def built(engine_only, tmp_path_factory):
    """(case, image, context): the adversarial Dockerfile converted by `d2s convert` and built."""
    apptainer = engine_only
    case = adversarial(ADVERSARIAL, MULTILINE)
    root = tmp_path_factory.mktemp("adversarial")
    context = make_context(root, case)
    argv = ["convert", "--offline", str(context / "Dockerfile"), str(context / "app.def")]
    for name, value in case.build_args.items():
        argv[1:1] = ["--build-arg", "%s=%s" % (name, value)]
    assert main(argv) == 0
    definition = (context / "app.def").read_text()
    assert def_problems(definition) == []
    image = root / "app.sif"
    done = _run([apptainer, "build", "--fakeroot", "--force", image, "app.def"], cwd=context)
    log = (done.stdout + done.stderr).decode("utf-8", "replace")
    assert done.returncode == 0, "apptainer build failed:\n%s\n--- app.def ---\n%s" % (log[-6000:], definition)
    return case, image, context, apptainer


def test_nothing_ran_on_the_host_or_in_the_image(built):
    case, image, context, apptainer = built
    assert not list(context.rglob("PWNED")) and not list(Path.cwd().glob("PWNED"))
    done = _run([apptainer, "exec", "--cleanenv", "--no-eval", image, "find", "/", "-xdev", "-name", "PWNED*"])
    assert done.returncode == 0 and done.stdout == b"", done.stdout


def test_environment_holds_every_value(built):
    case, image, _, apptainer = built
    done = _run([apptainer, "exec", "--cleanenv", "--no-eval", image, "cat", "/proc/self/environ"])
    assert done.returncode == 0, done.stderr
    env = {}
    for entry in done.stdout.split(b"\0"):
        key, _, value = entry.partition(b"=")
        env[key.decode()] = value.decode("utf-8", "surrogateescape")
    for name, value in case.env.items():
        assert env.get(name) == value, "%s: want %r, image has %r" % (name, value, env.get(name))


def test_files_hold_every_value(built):
    """ARG values as RUN saw them, WORKDIR, context files with hostile names, heredoc bodies, --from."""
    case, image, _, apptainer = built
    paths = sorted(case.files)
    script = 'for f; do printf "%s\\0" "$(wc -c < "$f")"; cat "$f"; done'
    done = _run([apptainer, "exec", "--cleanenv", "--no-eval", image, "sh", "-c", script, "sh"] + paths)
    assert done.returncode == 0, done.stderr
    data = done.stdout
    for path in paths:
        size, _, data = data.partition(b"\0")
        content, data = data[: int(size)], data[int(size):]
        assert content == case.files[path], "%s: want %r, image has %r" % (path, case.files[path], content)


def test_labels_hold_every_value(built):
    case, image, _, apptainer = built
    done = _run([apptainer, "inspect", "--labels", "--json", image])
    assert done.returncode == 0, done.stderr
    labels = json.loads(done.stdout)["data"]["attributes"]["labels"]
    wrong = {key: (value, labels.get(key)) for key, value in case.labels.items() if labels.get(key) != value}
    assert not wrong, "label: (want, image has): %r" % wrong


def test_run_passes_exec_form_arguments_verbatim(built):
    case, image, tmp, apptainer = built
    empty = tmp.parent / "empty"
    empty.mkdir(exist_ok=True)
    done = _run([apptainer, "run", "--cleanenv", image], cwd=empty)
    assert done.returncode == 0, done.stderr
    assert done.stdout == case.run_output
    # Arguments given to run replace CMD, verbatim.
    done = _run([apptainer, "run", "--cleanenv", image, "$(touch PWNED)", "%post"], cwd=empty)
    assert done.stdout == b"[$(touch PWNED)][%post]" and not list(empty.iterdir())
