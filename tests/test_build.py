"""`d2s build` with a fake engine: a shell script called `apptainer` (or `singularity`) on PATH that
records how it was run and plays a scenario (success, a failing %post, a known error, a hang).
The same paths against the real Apptainer are in tests/integration/test_build_engine.py."""

import json
import os
import pty
import select
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dockerfile2def import build
from dockerfile2def.build import (
    BuildFailure,
    Context,
    Engine,
    EngineVersion,
    Tracer,
    build_command,
    engine_features,
    find_engine,
    group_restricted,
    known_failures,
    parse_version,
    requirements,
    trace_matches,
    unmet,
)

REPO = Path(__file__).resolve().parents[1]

# The fake engine. $FAKE_LOG gets one JSON line per call (argv and cwd); $FAKE_SCENARIO picks what a
# build does; $FAKE_VERSION is what --version prints.
FAKE_ENGINE = r"""#!/bin/sh
if [ "$1" = "--version" ]; then echo "${FAKE_VERSION:-apptainer version 1.4.5}"; exit 0; fi
python3 - "$PWD" "$@" >> "$FAKE_LOG" <<'EOF'
import json, sys
print(json.dumps({"cwd": sys.argv[1], "argv": sys.argv[2:]}))
EOF
for last; do :; done
definition="$last"
eval "target=\${$(($# - 1))}"
echo "INFO:    Starting build..." >&2
case "${FAKE_SCENARIO:-ok}" in
ok)
    echo "INFO:    Running post scriptlet" >&2
    echo "+ cd /" >&2
    echo "+ exec /bin/sh -c 'echo hi'" >&2
    echo hi
    if [ -n "$FAKE_SANDBOX" ]; then mkdir -p "$target" && echo new > "$target/marker"; else echo new-image > "$target"; fi
    echo "INFO:    Build complete: $target" >&2
    exit 0 ;;
post-fail)
    echo partial > "$target"
    echo "INFO:    Running post scriptlet" >&2
    echo "+ umask 022" >&2
    echo "+ cd /opt" >&2
    echo "+ exec /bin/sh -c 'make all'" >&2
    echo "make: *** No rule to make target 'all'.  Stop."
    echo "FATAL:   While performing build: while running engine: while running %post section: exit status 2" >&2
    exit 255 ;;
subuid)
    echo "FATAL:   could not use fakeroot: no mapping entry found in /etc/subuid for alice" >&2
    exit 255 ;;
registry)
    echo "INFO:    Fetching OCI image..." >&2
    echo 'FATAL:   While performing build: conveyor failed to get: Get "https://registry.example.org/v2/": dial tcp: lookup registry.example.org: no such host' >&2
    exit 255 ;;
denied)
    echo "FATAL:   While performing build: open $target: permission denied" >&2
    exit 255 ;;
status3)
    exit 3 ;;
no-image)
    exit 0 ;;
hang)
    echo partial > "$target"
    sleep 300 &
    echo "$$ $!" > "$FAKE_PIDS"
    echo "INFO:    Running post scriptlet" >&2
    wait ;;
esac
"""

SIMPLE_DEF = """Bootstrap: docker
From: 127.0.0.1:5000/busybox:latest

%post
    umask 022
    # Dockerfile:2 RUN echo hi
    ( cd / && exec /bin/sh -c 'echo hi' )
    # Dockerfile:4 RUN make all
    ( cd /opt && exec /bin/sh -c 'make all' )
"""

MULTI_STAGE_DEF = """Bootstrap: docker
From: 127.0.0.1:5000/busybox:latest
Stage: build

%post
    echo built > /out

Bootstrap: docker
From: 127.0.0.1:5000/busybox:latest

%files from build
    /out /out
"""


@pytest.fixture
def fake(tmp_path, monkeypatch):
    """A fake `apptainer` first on PATH; returns a helper that reads the calls it got."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    engine = bindir / "apptainer"
    engine.write_text(FAKE_ENGINE)
    engine.chmod(0o755)
    log = tmp_path / "engine.log"
    log.write_text("")
    monkeypatch.setenv("PATH", "%s%s%s" % (bindir, os.pathsep, os.environ["PATH"]))
    monkeypatch.setenv("FAKE_LOG", str(log))
    monkeypatch.setenv("FAKE_PIDS", str(tmp_path / "pids"))
    monkeypatch.delenv("D2S_ENGINE", raising=False)
    monkeypatch.setenv("D2S_PROGRESS", "plain")

    class Fake:
        path = engine

        @staticmethod
        def calls():
            return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]

        @staticmethod
        def builds():
            return [c for c in Fake.calls() if c["argv"][:1] == ["build"]]

    return Fake


@pytest.fixture
def project(tmp_path):
    folder = tmp_path / "proj"
    folder.mkdir()
    (folder / "app.def").write_text(SIMPLE_DEF)
    return folder


def leftovers(folder):
    return sorted(p.name for p in Path(folder).iterdir() if p.name.startswith(".d2s-"))


def run_build(input=None, output=None, fakeroot=False, sandbox=False, build_args=None, target=None, force=False,
              engine=None, offline=True, extra=()):
    return build_command(input=input, output=output, fakeroot=fakeroot, sandbox=sandbox,
                         build_args=build_args or {}, target=target, force=force, engine=engine,
                         offline=offline, extra=list(extra))


# ------------------------------------------------------------------------------------------ versions


@pytest.mark.parametrize(
    "text, flavour, release",
    [
        ("apptainer version 1.4.5", "apptainer", (1, 4, 5)),
        ("apptainer version 1.3.6-1.el8", "apptainer", (1, 3, 6)),
        ("singularity-ce version 4.1.0-noble", "singularityce", (4, 1, 0)),
        ("singularity-ce version 3.8.0", "singularityce", (3, 8, 0)),
        ("SingularityPRO version 3.5-2.el7", "singularitypro", (3, 5, 0)),
        ("SingularityPRO version 4.1.7-1.el9", "singularitypro", (4, 1, 7)),
        ("singularity version 3.7.1-5.1.ohpc.2.1", "singularity", (3, 7, 1)),
        ("singularity version 3.5.3", "singularity", (3, 5, 3)),
        ("2.6.1-dist", "singularity", (2, 6, 1)),
        ("WARNING: something first\napptainer version 1.2.0-rc.1", "apptainer", (1, 2, 0)),
    ],
)
def test_parse_version(text, flavour, release):
    version = parse_version(text)
    assert (version.flavour, version.release) == (flavour, release)


def test_parse_version_refuses_text_without_a_number():
    with pytest.raises(ValueError):
        parse_version("command not found")


@pytest.mark.parametrize(
    "text, feature, expected",
    [
        ("singularity version 3.1.1", "multi_stage", False),
        ("singularity version 3.2.0", "multi_stage", True),
        ("singularity version 3.2.1", "fakeroot", False),
        ("singularity version 3.3.0", "fakeroot", True),
        ("SingularityPRO version 3.5-2.el7", "multi_stage", True),
        ("SingularityPRO version 3.5-2.el7", "files_from", True),
        ("SingularityPRO version 3.5-2.el7", "fakeroot", True),
        ("SingularityPRO version 3.5-2.el7", "build_args", False),
        ("singularity-ce version 3.11.4", "build_args", False),
        ("singularity-ce version 4.0.0", "build_args", True),
        ("apptainer version 1.1.9", "build_args", False),
        ("apptainer version 1.2.0", "build_args", True),
        ("apptainer version 1.0.0", "fakeroot_without_subuid", False),
        ("apptainer version 1.1.0", "fakeroot_without_subuid", True),
        ("apptainer version 1.4.5", "docker_env_escaping", False),
        ("apptainer version 1.5.0", "docker_env_escaping", True),
        ("apptainer version 1.4.5", "dockerfile_bootstrap", False),
        ("apptainer version 1.5.1", "dockerfile_bootstrap", True),
        ("singularity-ce version 4.2.0", "dockerfile_bootstrap", False),
        ("apptainer version 1.0.0", "multi_stage", True),
        ("apptainer version 1.0.0", "apptainer_variables", True),
        ("singularity-ce version 4.2.0", "apptainer_variables", False),
        ("2.6.1-dist", "multi_stage", False),
    ],
)
def test_engine_features(text, feature, expected):
    assert engine_features(text)[feature] is expected
    assert engine_features(parse_version(text))[feature] is expected


def test_engine_features_covers_every_feature_for_every_flavour():
    for text in ("apptainer version 1.4.5", "singularity-ce version 4.0.0", "SingularityPRO version 3.5-2",
                 "singularity version 3.5.3"):
        features = engine_features(text)
        assert set(features) == set(build.FEATURES)
        assert all(isinstance(v, bool) for v in features.values())


# ------------------------------------------------------------------------------------------ discovery


def _script(path, version):
    path.write_text("#!/bin/sh\necho '%s'\n" % version)
    path.chmod(0o755)
    return path


def test_find_engine_order(tmp_path):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    _script(bindir / "singularity", "singularity-ce version 4.1.0")
    env = {"PATH": str(bindir)}
    assert find_engine(environ=env).version.flavour == "singularityce"
    _script(bindir / "apptainer", "apptainer version 1.4.5")
    found = find_engine(environ=env)
    assert found.path == str(bindir / "apptainer") and found.version.release == (1, 4, 5)
    other = _script(tmp_path / "my-engine", "SingularityPRO version 3.5-2.el7")
    env["D2S_ENGINE"] = str(other)
    assert find_engine(environ=env).version.flavour == "singularitypro"
    assert find_engine("singularity", environ=env).version.flavour == "singularityce"


def test_find_engine_without_any(tmp_path):
    with pytest.raises(BuildFailure) as failure:
        find_engine(environ={"PATH": str(tmp_path)})
    assert failure.value.status == 127
    assert "module load apptainer" in failure.value.hint and "--engine" in failure.value.hint
    with pytest.raises(BuildFailure) as failure:
        find_engine(environ={"PATH": str(tmp_path), "D2S_ENGINE": str(tmp_path / "nope")})
    assert "D2S_ENGINE" in failure.value.message


def test_no_engine_exits_127_with_a_hint(project, monkeypatch, capsys, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.delenv("D2S_ENGINE", raising=False)
    monkeypatch.chdir(project)
    assert run_build("app.def") == 127
    err = capsys.readouterr().err
    assert "no Apptainer or Singularity found" in err and "hint:" in err
    assert not (project / "app.sif").exists()


# ------------------------------------------------------------------------------------------ requirements


def test_requirements_of_a_multi_stage_def():
    needs = {(n.feature, n.line) for n in requirements(MULTI_STAGE_DEF, fakeroot=True)}
    assert ("multi_stage", 8) in needs and ("files_from", 11) in needs and ("fakeroot", 0) in needs


def test_requirements_templating():
    assert [n.feature for n in requirements("Bootstrap: docker\nFrom: x:{{ TAG }}\n")] == ["build_args"]
    commented = "Bootstrap: docker\nFrom: x\n%post\n    # see {{ not_a_var }}\n"
    assert requirements(commented) == []
    assert [n.feature for n in requirements("Bootstrap: docker\nFrom: x\n", build_args={"A": "1"})] == ["build_args"]
    arguments = "Bootstrap: docker\nFrom: x\n%arguments\n    A=1\n"
    assert [n.feature for n in requirements(arguments)] == ["build_args"]


def test_unmet_lists_each_missing_feature_once():
    needs = requirements(MULTI_STAGE_DEF + MULTI_STAGE_DEF.replace("Stage: build", "Stage: b2"), fakeroot=True)
    missing = unmet(needs, engine_features("singularity version 3.1.0"))
    assert [n.feature for n in missing] == ["multi_stage", "files_from", "fakeroot"]
    assert unmet(needs, engine_features("SingularityPRO version 3.5-2.el7")) == []


def test_refuses_what_the_engine_lacks(fake, project, monkeypatch, capsys):
    monkeypatch.setenv("FAKE_VERSION", "singularity version 3.1.0")
    (project / "multi.def").write_text(MULTI_STAGE_DEF)
    monkeypatch.chdir(project)
    assert run_build("multi.def") == 2
    err = capsys.readouterr().err
    assert "multi.def:8: needs multi-stage builds" in err and "Singularity 3.1.0 lacks" in err
    assert "Singularity >= 3.2" in err
    assert fake.builds() == [] and not (project / "multi.sif").exists()


def test_refuses_build_args_on_an_engine_without_templating(fake, project, monkeypatch, capsys):
    monkeypatch.setenv("FAKE_VERSION", "singularity-ce version 3.11.4")
    monkeypatch.chdir(project)
    assert run_build("app.def", build_args={"TAG": "1"}) == 2
    assert "templating" in capsys.readouterr().err and fake.builds() == []


def test_passes_build_args_of_a_def_to_the_engine(fake, project, monkeypatch):
    monkeypatch.chdir(project)
    assert run_build("app.def", build_args={"TAG": "1.0"}) == 0
    argv = fake.builds()[0]["argv"]
    assert argv[argv.index("--build-arg") + 1] == "TAG=1.0"


# ------------------------------------------------------------------------------------------ running


def test_success_builds_from_the_build_folder_through_a_temporary_name(fake, project, monkeypatch, tmp_path, capsys):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    status = run_build(str(project / "app.def"), output="out.sif", fakeroot=True, extra=["--notest", "--bind", "/x"])
    assert status == 0
    out, err = capsys.readouterr()
    assert (elsewhere / "out.sif").read_text() == "new-image\n"
    [call] = fake.builds()
    assert call["cwd"] == str(project)  # %files and %setup read paths relative to it
    argv = call["argv"]
    assert argv[:2] == ["build", "--fakeroot"]
    assert argv[2:5] == ["--notest", "--bind", "/x"]
    temporary = Path(argv[-2])
    assert temporary.parent == elsewhere and temporary.name.startswith(".d2s-tmp-") and temporary.suffix == ".sif"
    assert argv[-1] == str(project / "app.def")
    assert leftovers(elsewhere) == []
    assert "hi\n" in out  # the engine's stdout stays on stdout
    assert "INFO:    Starting build..." in err and "engine: %s (Apptainer 1.4.5)" % fake.path in err
    assert "wrote out.sif" in err


def test_default_output_is_named_after_the_def(fake, project, monkeypatch):
    monkeypatch.chdir(project)
    assert run_build("app.def") == 0
    assert (project / "app.sif").read_text() == "new-image\n"


def test_refuses_to_replace_an_image_without_force(fake, project, monkeypatch, capsys):
    monkeypatch.chdir(project)
    (project / "app.sif").write_text("old")
    assert run_build("app.def") == 2
    assert "refusing to replace app.sif (use --force)" in capsys.readouterr().err
    assert fake.builds() == [] and (project / "app.sif").read_text() == "old"
    assert run_build("app.def", force=True) == 0
    assert (project / "app.sif").read_text() == "new-image\n"


def test_failed_build_keeps_the_previous_image_and_points_at_the_dockerfile_line(fake, project, monkeypatch, capsys):
    monkeypatch.setenv("FAKE_SCENARIO", "post-fail")
    monkeypatch.chdir(project)
    (project / "app.sif").write_text("previous")
    assert run_build("app.def", force=True) == 255
    assert (project / "app.sif").read_text() == "previous"
    assert leftovers(project) == []
    err = capsys.readouterr().err
    assert "hint: the build failed in the %post step for Dockerfile:4: RUN make all (exit status 2)" in err
    assert "app.def:9: ( cd /opt && exec /bin/sh -c 'make all' )" in err
    assert "the previous app.sif is unchanged" in err


def test_failed_build_names_the_dockerfile_beside_a_generated_def(fake, project, monkeypatch, capsys):
    monkeypatch.setenv("FAKE_SCENARIO", "post-fail")
    monkeypatch.chdir(project)
    from dockerfile2def.output import stamp

    (project / "Dockerfile.gpu").write_text("FROM x\n")
    (project / "gpu.def").write_text(stamp("Dockerfile.gpu", SIMPLE_DEF))
    assert run_build("gpu.def") == 255
    assert "for Dockerfile.gpu:4: RUN make all" in capsys.readouterr().err


def test_exit_status_is_the_engines(fake, project, monkeypatch, capsys):
    monkeypatch.setenv("FAKE_SCENARIO", "status3")
    monkeypatch.chdir(project)
    assert run_build("app.def") == 3
    assert leftovers(project) == [] and not (project / "app.sif").exists()


def test_success_without_an_image_is_a_failure(fake, project, monkeypatch, capsys):
    monkeypatch.setenv("FAKE_SCENARIO", "no-image")
    monkeypatch.chdir(project)
    assert run_build("app.def") == 1
    assert "wrote no image" in capsys.readouterr().err


def test_sandbox_replaces_the_previous_sandbox_only_on_success(fake, project, monkeypatch):
    monkeypatch.setenv("FAKE_SANDBOX", "1")
    monkeypatch.chdir(project)
    old = project / "app"
    old.mkdir()
    (old / "marker").write_text("old\n")
    assert run_build("app.def", sandbox=True, force=True) == 0
    assert (old / "marker").read_text() == "new\n"
    assert "--sandbox" in fake.builds()[0]["argv"] and not fake.builds()[0]["argv"][-2].endswith(".sif")
    monkeypatch.setenv("FAKE_SCENARIO", "status3")
    assert run_build("app.def", sandbox=True, force=True) == 3
    assert (old / "marker").read_text() == "new\n" and leftovers(project) == []


def test_usage_errors_exit_2(fake, project, monkeypatch, capsys, tmp_path):
    monkeypatch.chdir(project)
    assert run_build("missing.def") == 2
    assert run_build("app.def", target="build") == 2
    assert run_build("app.def", output=str(tmp_path / "no" / "such" / "dir.sif")) == 2
    (project / "folder.sif").mkdir()
    assert run_build("app.def", output="folder.sif", force=True) == 2
    err = capsys.readouterr().err
    assert "no such file: missing.def" in err and "--target" in err and "is a folder" in err
    assert fake.builds() == []


def test_no_input_and_no_dockerfile(fake, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert run_build() == 2
    assert "no Dockerfile in %s" % tmp_path in capsys.readouterr().err


# ------------------------------------------------------------------------------------------ known failures


def _context(tmp_path, fakeroot=True, flavour="apptainer", release=(1, 4, 5)):
    engine = Engine("/usr/bin/apptainer", EngineVersion(flavour, release))
    return Context(str(tmp_path / "app.def"), str(tmp_path), str(tmp_path), fakeroot, engine)


def test_hint_fakeroot_without_subuid(tmp_path):
    hints = known_failures(["FATAL:   could not use fakeroot: no mapping entry found in /etc/subuid for alice"],
                           _context(tmp_path))
    assert len(hints) == 1
    assert "no entry for alice in /etc/subuid" in hints[0] and "apptainer config fakeroot --add alice" in hints[0]
    old = known_failures(["FATAL:   could not use fakeroot: no mapping entry found in /etc/subuid for bob"],
                         _context(tmp_path, flavour="singularitypro", release=(3, 5, 0)))
    assert "singularity config fakeroot --add bob" in old[0] and "has no fallback" in old[0]


def test_hint_unreachable_registry(tmp_path):
    line = ('FATAL:   While performing build: conveyor failed to get: Get "https://127.0.0.1:5999/v2/": dial tcp '
            "127.0.0.1:5999: connect: connection refused")
    [hint] = known_failures(["INFO:    Fetching OCI image...", line], _context(tmp_path))
    assert "the registry 127.0.0.1:5999 could not be reached" in hint and "login node" in hint
    plain = 'FATAL:   pinging container registry r:5000: Get "https://r:5000/v2/": http: server gave HTTP response to HTTPS client'
    assert "--no-https" in known_failures([plain], _context(tmp_path))[0]
    assert "--nohttps" in known_failures([plain], _context(tmp_path, flavour="singularity", release=(3, 5, 3)))[0]


def test_network_errors_inside_post_are_not_registry_errors(tmp_path):
    lines = ["INFO:    Running post scriptlet", "+ apt-get update",
             "W: Failed to fetch http://deb.debian.org/  Temporary failure in name resolution",
             "FATAL:   While performing build: while running engine: while running %post section: exit status 100"]
    hints = known_failures(lines, _context(tmp_path))
    assert not any("registry" in h for h in hints)


def test_hint_newgrp_for_a_group_owned_folder(tmp_path):
    lines = ["FATAL:   While performing build: open /proj/x/.d2s-tmp-1.sif: permission denied"]
    [hint] = known_failures(lines, _context(tmp_path), group_check=lambda paths: ("projgrp", paths[0]))
    assert "newgrp projgrp" in hint and "--fakeroot" in hint
    assert known_failures(lines, _context(tmp_path), group_check=lambda paths: None) == []


class _Stat:
    def __init__(self, uid, gid, mode):
        self.st_uid, self.st_gid, self.st_mode = uid, gid, mode


def test_group_restricted():
    owned_by_group = _Stat(5000, 300, stat.S_IFDIR | 0o2770)
    look = lambda path: owned_by_group  # noqa: E731
    assert group_restricted(["/proj"], uid=1000, gid=100, groups=[100, 300], stat=look)[1] == "/proj"
    assert group_restricted(["/proj"], uid=1000, gid=300, groups=[300], stat=look) is None  # primary group
    assert group_restricted(["/proj"], uid=1000, gid=100, groups=[100], stat=look) is None  # not a member
    assert group_restricted(["/proj"], uid=5000, gid=100, groups=[100, 300], stat=look) is None  # owner
    world = lambda path: _Stat(5000, 300, stat.S_IFDIR | 0o2777)  # noqa: E731
    assert group_restricted(["/proj"], uid=1000, gid=100, groups=[100, 300], stat=world) is None
    assert group_restricted(["/proj"], uid=0, gid=0, groups=[0, 300], stat=look) is None


def test_hint_missing_files_source_and_templating(tmp_path):
    lines = ["FATAL:   While performing build: unable to copy files from host to container fs: while copying "
             "[data.txt] to /tmp/build-temp-1/rootfs/x: [-fLr data.txt /tmp/x]: cp: cannot stat 'data.txt': No such file"]
    assert "%files source (data.txt) is missing" in known_failures(lines, _context(tmp_path))[0]
    lines = ["FATAL:   Unable to build from x.def: build var TAG is not defined through either --build-arg "
             "(--build-arg-file) or 'arguments' section"]
    assert "--build-arg TAG=VALUE" in known_failures(lines, _context(tmp_path))[0]


def test_hint_for_a_tool_missing_on_the_build_host(tmp_path):
    lines = ["INFO:    Running setup scriptlet", "+ wget -q -O /tmp/build-temp-1/rootfs/.d2s/2/0 http://example.org/x",
             "/tmp/bundle-temp-1/setup: 3: wget: not found",
             "FATAL:   While performing build: failed to run %setup script: exit status 127"]
    hints = known_failures(lines, _context(tmp_path))
    assert any("`wget` must be installed on this machine" in h for h in hints)
    post = ["INFO:    Running post scriptlet", "/.post.script: line 3: wget: not found",
            "FATAL:   While performing build: while running engine: while running %post section: exit status 127"]
    assert not any("build host" in h for h in known_failures(post, _context(tmp_path)))


def test_known_failure_hints_reach_the_user(fake, project, monkeypatch, capsys):
    monkeypatch.chdir(project)
    for scenario, text in (("subuid", "apptainer config fakeroot --add alice"),
                           ("registry", "the registry registry.example.org could not be reached")):
        monkeypatch.setenv("FAKE_SCENARIO", scenario)
        assert run_build("app.def", fakeroot=True) == 255
        assert text in capsys.readouterr().err
        assert leftovers(project) == []


# ------------------------------------------------------------------------------------------ tracing


def test_trace_matches():
    assert trace_matches("exec /bin/sh -c 'echo \"two words\"; ls'",
                         "    ( cd / && exec /bin/sh -c 'echo \"two words\"; ls' )")
    assert trace_matches("cd /opt/app", "( cd /opt/app && exec /bin/sh -c 'x' )")
    assert not trace_matches("cd /opt", "( cd /opt/app && exec /bin/sh -c 'x' )")
    assert not trace_matches("true", "echo true")  # not in command position
    assert trace_matches("mkdir -p /tmp/build-temp-1/rootfs/.d2s/5",
                         '    mkdir -p "$(dirname "$R"/.d2s/5/0)" && cp -a -H main.sh "$R"/.d2s/5/0')
    assert trace_matches("R=/tmp/build-temp-1/rootfs", '    R="${APPTAINER_ROOTFS:-$SINGULARITY_ROOTFS}"')
    assert not trace_matches("echo hi", "    # Dockerfile:2 RUN echo hi")


TRACED_DEF = """Bootstrap: docker
From: 127.0.0.1:5000/busybox:latest
Stage: one

%setup
    R="${APPTAINER_ROOTFS:-$SINGULARITY_ROOTFS}"
    mkdir -p "$(dirname "$R"/.d2s/7/0)" && cp -a -H main.sh "$R"/.d2s/7/0

%post
    umask 022
    d2s_copy() {
        mkdir -p "$(dirname "$2")" && cp -a "$1" "$2"
    }
    # Dockerfile:6 WORKDIR /opt/app
    mkdir -p /opt/app
    # Dockerfile:7 COPY main.sh .
    d2s_copy /.d2s/7/0 /opt/app/main.sh
    # Dockerfile:8 RUN ./main.sh
    ( cd /opt/app && exec /bin/sh -c './main.sh' )

Bootstrap: docker
From: 127.0.0.1:5000/busybox:latest

%post
    # Dockerfile:11 RUN echo second
    ( cd / && exec /bin/sh -c 'echo second' )
    # Dockerfile:12 RUN echo third
    ( cd / && exec /bin/sh -c 'echo third' )
"""


def _follow(lines):
    tracer = Tracer(TRACED_DEF)
    for line in lines:
        tracer.feed(line)
    return tracer.step()


def test_tracer_follows_post_steps_and_skips_function_bodies():
    step = _follow(["INFO:    Running post scriptlet", "+ umask 022", "+ mkdir -p /opt/app",
                    "+ d2s_copy /.d2s/7/0 /opt/app/main.sh", "+ dirname /opt/app/main.sh", "+ mkdir -p /opt/app",
                    "+ cp -a /.d2s/7/0 /opt/app/main.sh"])
    assert (step.source_line, step.source_text, step.def_line) == (7, "COPY main.sh .", 17)
    assert (step.index, step.count) == (2, 3)
    step = _follow(["INFO:    Running post scriptlet", "+ umask 022", "+ mkdir -p /opt/app",
                    "+ d2s_copy /.d2s/7/0 /opt/app/main.sh", "+ cd /opt/app", "+ exec /bin/sh -c ./main.sh",
                    "sh: ./main.sh: Permission denied"])
    assert (step.source_line, step.def_line) == (8, 19)


def test_tracer_counts_stages_and_takes_the_shells_line_number():
    step = _follow(["INFO:    Running post scriptlet", "+ umask 022", "INFO:    Running post scriptlet",
                    "+ cd /", "+ exec /bin/sh -c 'echo second'", "+ cd /", "+ exec /bin/sh -c 'echo third'"])
    assert (step.source_line, step.def_line) == (12, 28)
    step = _follow(["INFO:    Running post scriptlet", "INFO:    Running post scriptlet", "+ cd /",
                    "/.post.script: line 4: frobnicate: not found"])
    assert step.source_line == 12


def test_source_comments_name_any_dockerfile():
    tracer = Tracer("Bootstrap: docker\nFrom: x\n%post\n    # Containerfile:3 run make\n    make\n"
                    "    # see http://x:80 for more\n    true\n")
    for line in ("INFO:    Running post scriptlet", "+ make"):
        tracer.feed(line)
    step = tracer.step()
    assert (step.source_file, step.source_line, step.source_text, step.count) == ("Containerfile", 3, "run make", 1)


def test_tracer_maps_setup_staging_to_the_copy_line():
    step = _follow(["INFO:    Running setup scriptlet", "+ R=/tmp/build-temp-1/rootfs",
                    "+ dirname /tmp/build-temp-1/rootfs/.d2s/7/0", "+ mkdir -p /tmp/build-temp-1/rootfs/.d2s/7",
                    "+ cp -a -H main.sh /tmp/build-temp-1/rootfs/.d2s/7/0",
                    "cp: cannot stat 'main.sh': No such file or directory"])
    assert step.section == "setup" and step.source_line == 7 and step.source_text == "COPY main.sh ."


def test_tracer_forgets_the_step_between_phases():
    assert _follow(["INFO:    Running post scriptlet", "+ umask 022", "+ mkdir -p /opt/app",
                    "INFO:    Adding runscript"]) is None


# ------------------------------------------------------------------------------------------ processes


def _d2s(args, cwd, env, **kwargs):
    return subprocess.Popen([sys.executable, "-m", "dockerfile2def", "build"] + args, cwd=str(cwd), env=env,
                            **kwargs)


@pytest.mark.parametrize("signum, status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_interrupt_stops_the_engine_and_leaves_no_image(fake, project, monkeypatch, tmp_path, signum, status):
    monkeypatch.setenv("FAKE_SCENARIO", "hang")
    (project / "app.sif").write_text("previous")
    pids = tmp_path / "pids"
    process = _d2s(["--force", "app.def"], project, dict(os.environ), stdout=subprocess.PIPE,
                   stderr=subprocess.PIPE)
    deadline = time.monotonic() + 20
    while not (pids.exists() and pids.read_text().strip()) and time.monotonic() < deadline:
        time.sleep(0.05)
    engine_pid, child_pid = (int(p) for p in pids.read_text().split())
    assert leftovers(project)  # the partial image is there while the engine runs
    started = time.monotonic()
    process.send_signal(signum)
    out, err = process.communicate(timeout=30)
    assert process.returncode == status, err
    assert time.monotonic() - started < 15
    assert b"interrupted; stopped the build" in err
    assert leftovers(project) == [] and (project / "app.sif").read_text() == "previous"
    for pid in (engine_pid, child_pid):
        with pytest.raises(ProcessLookupError):
            for _ in range(50):  # reaped by init shortly after the kill
                os.kill(pid, 0)
                time.sleep(0.1)


def _read_all(fd, timeout=30):
    chunks, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks).decode("utf-8", "replace")


def test_terminal_gets_a_progress_display(fake, project, monkeypatch):
    monkeypatch.setenv("FAKE_SCENARIO", "post-fail")
    env = dict(os.environ, D2S_PROGRESS="auto", TERM="xterm", COLUMNS="200")
    leader, follower = pty.openpty()
    process = _d2s(["app.def"], project, env, stdin=follower, stdout=follower, stderr=follower)
    os.close(follower)
    text = _read_all(leader)
    process.wait(30)
    os.close(leader)
    assert process.returncode == 255
    assert "\x1b[2K" in text  # the status line is redrawn in place
    assert "INFO:    Starting build..." in text  # the engine's own log lines stay
    assert "step 2/2 Dockerfile:4: RUN make all" in text
    assert "--- last" in text and "No rule to make target" in text  # the tail of the output on failure
    assert "hint: the build failed in the %post step for Dockerfile:4" in text


def test_plain_output_when_not_a_terminal(fake, project):
    env = dict(os.environ, D2S_PROGRESS="auto")
    done = subprocess.run([sys.executable, "-m", "dockerfile2def", "build", "app.def"], cwd=str(project), env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    assert done.returncode == 0
    assert b"\x1b" not in done.stderr and b"\r" not in done.stderr
    assert b"+ exec /bin/sh -c 'echo hi'\n" in done.stderr and done.stdout == b"hi\n"
    assert b"rich" not in subprocess.run(
        [sys.executable, "-c", "import sys, dockerfile2def.build; print(sorted(sys.modules))"],
        stdout=subprocess.PIPE, check=True).stdout


# ------------------------------------------------------------------------------------------ naming


@pytest.mark.parametrize(
    "path, stem",
    [("proj/Dockerfile", "proj"), ("proj/Dockerfile.gpu", "gpu"), ("proj/gpu.Dockerfile", "gpu"),
     ("proj/app.def", "app"), ("proj/Containerfile", "Containerfile")],
)
def test_stem(path, stem):
    assert build._stem(path) == stem


# ------------------------------------------------------------------------------------------ Dockerfiles

DOCKERFILE = """FROM 127.0.0.1:5000/busybox:latest
WORKDIR /app
COPY hello.txt .
RUN cat hello.txt
"""


@pytest.fixture
def dockerfile_project(tmp_path):
    folder = tmp_path / "hello"
    folder.mkdir()
    (folder / "Dockerfile").write_text(DOCKERFILE)
    (folder / "hello.txt").write_text("hi\n")
    return folder


def test_no_input_converts_the_dockerfile_beside_it_and_builds_the_folder_image(fake, dockerfile_project, monkeypatch,
                                                                                   capsys):
    monkeypatch.chdir(dockerfile_project)
    assert run_build(fakeroot=True) == 0
    definition = (dockerfile_project / "hello.def").read_text()
    assert definition.startswith("# Generated by d2s from Dockerfile")
    assert "From: 127.0.0.1:5000/busybox:latest" in definition
    assert (dockerfile_project / "hello.sif").read_text() == "new-image\n"
    [call] = fake.builds()
    assert call["cwd"] == str(dockerfile_project) and call["argv"][-1] == str(dockerfile_project / "hello.def")
    assert "wrote hello.def" in capsys.readouterr().err
    # again: d2s may replace its own .def, but not the image without --force
    assert run_build(fakeroot=True, force=True) == 0


def test_dockerfile_input_does_not_overwrite_a_foreign_def(fake, dockerfile_project, monkeypatch, capsys):
    monkeypatch.chdir(dockerfile_project)
    (dockerfile_project / "hello.def").write_text("Bootstrap: docker\nFrom: mine\n")
    assert run_build("Dockerfile") == 2
    assert "refusing to overwrite hello.def" in capsys.readouterr().err
    assert (dockerfile_project / "hello.def").read_text() == "Bootstrap: docker\nFrom: mine\n"
    assert fake.builds() == []


def test_dockerfile_errors_exit_2_before_building(fake, dockerfile_project, monkeypatch, capsys):
    monkeypatch.chdir(dockerfile_project)
    (dockerfile_project / "Dockerfile").write_text("RUN echo no FROM\n")
    assert run_build() == 2
    assert "Dockerfile:1:1: error:" in capsys.readouterr().err
    assert fake.builds() == [] and not (dockerfile_project / "hello.def").exists()


def test_no_engine_still_writes_the_def(dockerfile_project, monkeypatch, tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.delenv("D2S_ENGINE", raising=False)
    monkeypatch.chdir(dockerfile_project)
    assert run_build() == 127
    assert (dockerfile_project / "hello.def").exists()
    assert "no Apptainer or Singularity found" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------ command line


def test_cli_gives_the_arguments_after_double_dash_to_the_engine(fake, project, monkeypatch, capsys):
    from dockerfile2def.__main__ import main

    monkeypatch.chdir(project)
    assert main(["build", "app.def", "--fakeroot", "-o", "x.sif", "--", "--notest", "--section", "all"]) == 0
    argv = fake.builds()[0]["argv"]
    assert argv[1:5] == ["--fakeroot", "--notest", "--section", "all"]
    assert (project / "x.sif").exists()
    assert main(["build", "--", "--notest"]) == 2  # no ./Dockerfile: "--notest" is not the INPUT
    assert "no Dockerfile in %s" % project in capsys.readouterr().err
    assert len(fake.builds()) == 1


def test_images_in_the_build_folder_that_copy_dot_would_take(tmp_path):
    (tmp_path / "old.sif").write_text("x")
    (tmp_path / "keep.txt").write_text("x")
    assert build.images_in_context("FROM x\nRUN true\nCOPY . /app\n", str(tmp_path)) == (3, ["old.sif"])
    assert build.images_in_context('FROM x\nCOPY ["./", "/app/"]\n', str(tmp_path)) == (2, ["old.sif"])
    assert build.images_in_context("FROM x\nCOPY --chown=1:1 ./ /app/\n", str(tmp_path)) == (2, ["old.sif"])
    assert build.images_in_context("FROM x\nCOPY --from=build . /app\n", str(tmp_path)) == (None, [])
    assert build.images_in_context("FROM x\nCOPY . /app\n", str(tmp_path), [str(tmp_path / "old.sif")]) == (2, [])
    assert build.images_in_context("FROM x\nCOPY src/ /app\n", str(tmp_path)) == (None, [])
    (tmp_path / ".dockerignore").write_text("# images\n*.sif\n")
    assert build.images_in_context("FROM x\nCOPY . /app\n", str(tmp_path)) == (2, [])


def test_warns_before_copying_a_previous_image_into_the_new_one(fake, dockerfile_project, monkeypatch, capsys):
    monkeypatch.chdir(dockerfile_project)
    (dockerfile_project / "Dockerfile").write_text(DOCKERFILE.replace("COPY hello.txt .", "COPY . ."))
    assert run_build(fakeroot=True) == 0
    assert "copies the whole build folder" not in capsys.readouterr().err
    assert run_build(fakeroot=True, force=True) == 0  # its own image: the converter leaves it out
    assert "copies the whole build folder" not in capsys.readouterr().err
    (dockerfile_project / "old.sif").write_text("another image")
    assert run_build(fakeroot=True, force=True) == 0
    assert "Dockerfile:3 copies the whole build folder, and it holds old.sif" in capsys.readouterr().err
