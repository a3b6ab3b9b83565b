"""The harness checks itself: its observation script and comparison on known inputs, and, with the real
tools, a hand-written .def that must match the Dockerfile and a deliberately wrong one that must not."""

import hashlib
import json
import os
import subprocess
from pathlib import Path

import pytest

from .harness import FIXTURES, all_fixtures, compare, load_fixture, observation_script, parse_observation

SELFTEST = FIXTURES / "harness-selftest"


def test_observation_script_lists_files_and_runs_probes(tmp_path):
    """The script runs with the host's sh, find and stat here; in the images it runs with theirs."""
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "sub" / "file").write_text("content\n")
    os.chmod(tree / "sub" / "file", 0o640)
    os.symlink("sub/file", tree / "link")
    probes = ["echo out; echo err >&2", "exit 3", "printf 'no newline'"]
    script = observation_script(probes, [str(tree), str(tmp_path / "absent")])
    done = subprocess.run(["/bin/sh", "-c", script], stdout=subprocess.PIPE, env={"PATH": os.environ["PATH"],
                                                                                "FOO": "a\nb"}, check=True)
    observed = parse_observation(done.stdout, probes)
    assert observed["env"]["FOO"] == "a\nb"
    uid, gid = os.getuid(), os.getgid()
    assert observed["files"] == [
        "%s dir %o %d:%d" % (tree, os.stat(tree).st_mode & 0o7777, uid, gid),
        "%s/link link %d:%d -> sub/file" % (tree, uid, gid),
        "%s dir %o %d:%d" % (tree / "sub", os.stat(tree / "sub").st_mode & 0o7777, uid, gid),
        "%s/sub/file file 640 %d:%d 8 %s" % (tree, uid, gid, hashlib.sha256(b"content\n").hexdigest()[:16]),
        "%s missing" % (tmp_path / "absent"),
    ]
    assert [(p["output"], p["status"]) for p in observed["probes"]] == [
        ("out\nerr\n", 0), ("", 3), ("no newline", 0)]


def _truth():
    return {
        "probes": [{"command": "cat /x", "output": "x\n", "status": 0}],
        "files": ["/x file 644 0:0 2 abc"],
        "env": {"PATH": "/usr/bin:/bin", "A": "1", "LD_LIBRARY_PATH": "/opt/lib"},
        "labels": {"a": "b"},
        "runs": [{"args": [], "stdout": "hi\n", "stderr": "", "status": 0},
                 {"args": ["x"], "stdout": "", "stderr": None, "status": "nonzero"}],
    }


def _observed():
    return {
        "probes": [{"command": "cat /x", "output": "x\n", "status": 0}],
        "files": ["/x file 644 0:0 2 abc"],
        "env": {"PATH": "/usr/bin:/bin", "A": "1", "LD_LIBRARY_PATH": "/opt/lib:/.singularity.d/libs",
                "HOME": "/root", "PS1": "Apptainer> ", "APPTAINER_NAME": "d2s.sif", "PWD": "/", "SHLVL": "1"},
        "labels": {"a": "b", "org.label-schema.build-date": "today", "org.d2s.expose": "80", "own.label": "1"},
        "runs": [{"args": [], "stdout": "hi\n", "stderr": "", "status": 0},
                 {"args": ["x"], "stdout": "", "stderr": "no command specified", "status": 1}],
    }


def test_compare_ignores_apptainers_own_variables_and_labels():
    assert compare(_truth(), _observed(), {"HOME", "PS1"}, {"own.label"}) == []


@pytest.mark.parametrize("category, change", [
    ("probes", lambda o: o["probes"][0].update(status=1)),
    ("probes", lambda o: o["probes"][0].update(output="y\n")),
    ("files", lambda o: o["files"].__setitem__(0, "/x file 664 0:0 2 abc")),
    ("env", lambda o: o["env"].update(A="2")),
    ("env", lambda o: o["env"].pop("A")),
    ("env", lambda o: o["env"].update(EXTRA="1")),
    ("env", lambda o: o["env"].update(LD_LIBRARY_PATH="/.singularity.d/libs")),
    ("labels", lambda o: o["labels"].update(a="c")),
    ("labels", lambda o: o["labels"].update(new="1")),
    ("runs", lambda o: o["runs"][0].update(stdout="ho\n")),
    ("runs", lambda o: o["runs"][0].update(status=2)),
    ("runs", lambda o: o["runs"][0].update(stderr="warning\n")),
    ("runs", lambda o: o["runs"][1].update(status=0)),
])
def test_compare_finds_each_kind_of_difference(category, change):
    observed = _observed()
    change(observed)
    differences = compare(_truth(), observed, {"HOME", "PS1"}, {"own.label"})
    assert [d.category for d in differences] == [category]


def test_every_fixture_is_well_formed():
    fixtures = all_fixtures()
    assert len(fixtures) >= 6
    for fixture in fixtures:
        assert (fixture.folder / "Dockerfile").is_file(), fixture.name
        assert fixture.spec.get("description"), fixture.name
        assert fixture.probes or fixture.paths or fixture.spec.get("runs"), fixture.name
        if fixture.hand_checked:
            expected = json.loads((fixture.folder / "expected" / "observation.json").read_text())
            assert len(expected.get("probes", [])) == len(fixture.probes), fixture.name
            assert [r["args"] for r in expected.get("runs", [])] == fixture.runs, fixture.name
            assert expected.get("checked_by"), "%s: say who checked the expectations by hand" % fixture.name


def test_spython_results_cover_every_fixture():
    """tests/integration/spython_results.json (for the README) must describe the fixtures as they are."""
    results = json.loads((Path(__file__).parent / "spython_results.json").read_text())
    names = {f.name for f in all_fixtures() if not f.spec.get("definition")}
    assert set(results["fixtures"]) == names, "regenerate it: python -m tests.integration.record_spython"
    verdicts = {"pass", "differs", "build failed", "conversion failed", "not built"}
    gaps = {f.name: f.spec.get("d2s_gap") for f in all_fixtures()}
    for name, entry in results["fixtures"].items():
        assert entry["spython"]["result"] in verdicts and entry["d2s"]["result"] in verdicts, name
        assert (entry["d2s"]["result"] == "pass") == (not gaps[name]), (
            "%s: the recorded d2s result (%s) and the fixture's d2s_gap (%s) disagree; regenerate it: "
            "python -m tests.integration.record_spython" % (name, entry["d2s"]["result"], gaps[name]))


def test_harness_matches_a_known_good_definition(toolchain):
    fixture = load_fixture(SELFTEST)
    truth = toolchain.ground_truth(fixture)
    built = toolchain.build_with_d2s(fixture, label="known-good", definition="known-good.def")
    assert built.sif, built.failure()
    differences = toolchain.compare(fixture, truth, toolchain.observe(fixture, built.sif))
    assert differences == [], "\n".join(map(str, differences))
    assert len(truth["probes"]) == 3 and len(truth["files"]) >= 5 and truth["runs"][1]["stdout"] == (
        "hello: hello world in /opt/app, args: a two words\n")


def test_harness_detects_a_wrong_image(toolchain):
    fixture = load_fixture(SELFTEST)
    truth = toolchain.ground_truth(fixture)
    built = toolchain.build_with_d2s(fixture, label="wrong", definition="wrong.def")
    assert built.sif, built.failure()
    differences = toolchain.compare(fixture, truth, toolchain.observe(fixture, built.sif))
    assert {d.category for d in differences} == {"probes", "files", "env", "labels", "runs"}
    text = "\n".join(map(str, differences))
    assert "GREETING: docker 'hello world', apptainer 'hello World'" in text
    assert "/opt/app/hello.sh file 700" in text and "org.example.selftest" in text
    assert "run a 'two words'" in text
