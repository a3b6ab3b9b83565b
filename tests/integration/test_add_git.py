"""ADD <git repository> through a real build: d2s checks it out when converting (download.clone) and the
image holds the tree with BuildKit's modes and without .git (spec-digest A, ADD). The repository is served
by `git daemon` on loopback; Apptainer builds the converted file with --fakeroot."""

import os
import subprocess
import sys

import pytest

from ..test_download import repository  # noqa: F401 (a fixture)

pytestmark = pytest.mark.integration


def test_add_git_builds_the_checked_out_tree(engine_only, repository, tmp_path):  # noqa: F811
    apptainer = engine_only
    url, commit, _ = repository
    context = tmp_path / "ctx"
    context.mkdir()
    (context / "Dockerfile").write_text(
        "FROM 127.0.0.1:5000/busybox:latest\n"
        "ADD --checksum=%s %s#v1 /src/\n"
        "ADD %s#v1:sub /tools\n"
        "RUN ls -la /src > /src-listing\n" % (commit, url, url))
    image = tmp_path / "app.sif"
    done = subprocess.run([sys.executable, "-m", "dockerfile2def", "build", "--fakeroot", "-o", str(image),
                           str(context / "Dockerfile")], cwd=str(context), capture_output=True, text=True,
                          env=dict(os.environ, D2S_PROGRESS="plain"), timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    script = ("cat /src/README; stat -c '%a %u:%g %n' /src/README /src/sub/run.sh /tools/run.sh; "
              "[ -e /src/.git ] && echo has-git; /tools/run.sh")
    shown = subprocess.run([apptainer, "exec", "--cleanenv", str(image), "sh", "-c", script],
                           capture_output=True, text=True, timeout=300)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.splitlines() == [
        "v1",
        "644 0:0 /src/README",
        "755 0:0 /src/sub/run.sh",
        "755 0:0 /tools/run.sh",
        "hi",
    ]
