"""`d2s build` against the real Apptainer: success, a failing step mapped to its Dockerfile line, a known
failure with its hint, and Ctrl-C in the middle of %post."""

import glob
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from dockerfile2def.build import engine_features, find_engine

from .harness import REGISTRY


def d2s_build(args, cwd, **kwargs):
    env = dict(os.environ, D2S_PROGRESS="plain")
    return subprocess.run([sys.executable, "-m", "dockerfile2def", "build"] + [str(a) for a in args], cwd=str(cwd),
                          env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=600, **kwargs)


def leftovers(folder):
    return sorted(p.name for p in Path(folder).iterdir() if p.name.startswith(".d2s-"))


GOOD = """Bootstrap: docker
From: {registry}/busybox:latest

%post
    umask 022
    # Dockerfile:2 RUN echo built > /built
    ( cd / && exec /bin/sh -c 'echo built > /built' )

%runscript
    cat /built
"""

BAD = """Bootstrap: docker
From: {registry}/busybox:latest

%post
    umask 022
    # Dockerfile:2 RUN echo first > /first
    ( cd / && exec /bin/sh -c 'echo first > /first' )
    # Dockerfile:3 RUN test -e /missing
    ( cd / && exec /bin/sh -c 'test -e /missing' )
    # Dockerfile:4 RUN echo never
    ( cd / && exec /bin/sh -c 'echo never' )
"""


def test_engine_version_and_features_of_the_real_engine(engine_only):
    engine = find_engine()
    assert engine.version.flavour in ("apptainer", "singularityce", "singularitypro", "singularity")
    features = engine_features(engine.version)
    assert features["fakeroot"] and features["multi_stage"]


def test_builds_atomically_and_points_at_the_failing_dockerfile_line(engine_only, tmp_path):
    (tmp_path / "good.def").write_text(GOOD.format(registry=REGISTRY))
    (tmp_path / "bad.def").write_text(BAD.format(registry=REGISTRY))
    done = d2s_build(["--fakeroot", "-o", "app.sif", "good.def"], tmp_path)
    assert done.returncode == 0, done.stderr.decode()
    ran = subprocess.run(["apptainer", "run", str(tmp_path / "app.sif")], stdout=subprocess.PIPE, timeout=120)
    assert ran.stdout == b"built\n"
    before = (tmp_path / "app.sif").read_bytes()

    done = d2s_build(["--fakeroot", "--force", "-o", "app.sif", "bad.def"], tmp_path)
    err = done.stderr.decode()
    assert done.returncode == 255, err
    assert "hint: the build failed in the %post step for Dockerfile:3: RUN test -e /missing (exit status 1)" in err
    assert "bad.def:9: ( cd / && exec /bin/sh -c 'test -e /missing' )" in err
    assert (tmp_path / "app.sif").read_bytes() == before
    assert leftovers(tmp_path) == []


def test_unreachable_registry_hint(engine_only, tmp_path):
    (tmp_path / "x.def").write_text("Bootstrap: docker\nFrom: 127.0.0.1:1/busybox:latest\n")
    done = d2s_build(["--fakeroot", "x.def"], tmp_path)
    err = done.stderr.decode()
    assert done.returncode == 255
    assert "hint: the registry 127.0.0.1:1 could not be reached" in err
    assert not (tmp_path / "x.sif").exists() and leftovers(tmp_path) == []


def _processes_running(text):
    found = []
    for cmdline in glob.glob("/proc/[0-9]*/cmdline"):
        try:
            with open(cmdline, "rb") as handle:
                if text in handle.read().replace(b"\0", b" "):
                    found.append(cmdline)
        except OSError:
            pass
    return found


def test_ctrl_c_stops_the_build_and_leaves_nothing(engine_only, tmp_path):
    marker = "d2s-interrupt-%s" % uuid.uuid4().hex[:8]
    seconds = 4000 + os.getpid() % 1000
    (tmp_path / "slow.def").write_text(
        "Bootstrap: docker\nFrom: %s/busybox:latest\n\n%%post\n    touch /%s\n    sleep %d\n" % (REGISTRY, marker, seconds))
    (tmp_path / "slow.sif").write_text("previous")
    env = dict(os.environ, D2S_PROGRESS="plain")
    process = subprocess.Popen([sys.executable, "-m", "dockerfile2def", "build", "--fakeroot", "--force", "slow.def"],
                               cwd=str(tmp_path), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    sleeper = ("sleep %d" % seconds).encode()
    deadline = time.monotonic() + 300
    while not _processes_running(sleeper) and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.2)
    assert _processes_running(sleeper), "the build never reached %post"
    process.send_signal(signal.SIGINT)
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 130, output.decode()
    assert b"interrupted; stopped the build" in output
    assert (tmp_path / "slow.sif").read_text() == "previous" and leftovers(tmp_path) == []
    for _ in range(50):
        if not _processes_running(sleeper):
            break
        time.sleep(0.2)
    assert not _processes_running(sleeper), "the engine's %post process survived"
    assert not glob.glob("/tmp/build-temp-*/rootfs/%s" % marker), "the engine left its build folder"


def test_dockerfile_build_points_at_the_dockerfile_line(engine_only, tmp_path):
    project = tmp_path / "proj"
    project.mkdir()
    (project / "Dockerfile").write_text(
        "FROM %s/busybox:latest\nRUN echo ok > /ok\nRUN test -e /missing\nRUN echo never\n" % REGISTRY)
    done = d2s_build(["--fakeroot"], project)
    err = done.stderr.decode()
    assert done.returncode == 255, err
    assert (project / "proj.def").exists() and not (project / "proj.sif").exists()
    assert "hint: the build failed in the %post step for Dockerfile:3: RUN test -e /missing" in err
