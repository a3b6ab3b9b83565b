"""`d2s check`: the rules, ignore comments, --fix, the output formats, exit codes, Dockerfiles.

The verdicts on definition files are held to the real Apptainer by
tests/integration/test_apptainer_agreement.py; these tests pin each rule and the command itself, and
run without Apptainer.
"""

import io
import json
import os
import re
import shutil
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

from dockerfile2def.check import (CHECK_CODES, FIXABLE, apply_fixes, check_command, check_definition,
                                  check_file, expand_paths, is_dockerfile)
from dockerfile2def.cli import run
from dockerfile2def.output import stamp

ROOT = Path(__file__).resolve().parents[1]
DEFS = ROOT / "fixtures" / "defs"
BB = "Bootstrap: docker\nFrom: 127.0.0.1:5000/busybox:latest\n"


def found(text, context=()):
    return [(f.code, f.line) for f in check_definition(text, "t.def", context)]


def codes(text, context=()):
    return {f.code for f in check_definition(text, "t.def", context)}


def run_cli(argv, cwd=None):
    out, err = io.StringIO(), io.StringIO()
    here = os.getcwd()
    if cwd:
        os.chdir(str(cwd))
    try:
        with redirect_stdout(out), redirect_stderr(err):
            status = run(argv)
    finally:
        os.chdir(here)
    return status, out.getvalue(), err.getvalue()


# -- every code: registered, documented, severities ------------------------------------------------


def test_every_check_code_is_documented_with_its_title():
    doc = (ROOT / "docs" / "diagnostics.md").read_text(encoding="utf-8")
    headings = dict(re.findall(r"^## (D2S2\d\d) — (.+)$", doc, re.M))
    for code, (severity, title) in CHECK_CODES.items():
        assert headings.get(code) == title, code
    for code in FIXABLE:
        section = doc.split("## %s — " % code, 1)[1].split("\n## ", 1)[0]
        assert "**Fixable**" in section, code


def test_every_code_the_checker_emits_is_registered():
    used = set()
    for name in ("check.py", "deffile.py"):
        used.update(re.findall(r'"(D2S2\d\d)"', (ROOT / "dockerfile2def" / name).read_text()))
    assert used == set(CHECK_CODES)


def test_errors_are_what_apptainer_refuses_and_warnings_the_rest():
    assert {c for c, (s, _) in CHECK_CODES.items() if s == "error"} == {
        "D2S2%02d" % n for n in range(18)} | {"D2S240", "D2S241", "D2S243"}


# -- the fixtures, without Apptainer ---------------------------------------------------------------

EXPECTED = {
    "refused-invalid-section.def": "D2S206", "refused-two-invalid-sections.def": "D2S206",
    "refused-header-keyword.def": "D2S202", "refused-header-no-colon.def": "D2S201",
    "refused-bootstrap-no-colon.def": "D2S201", "refused-bootstrap-case.def": "D2S204",
    "refused-bootstrap-unknown.def": "D2S204", "refused-bootstrap-buildkit.def": "D2S204",
    "refused-header-1.5-keyword.def": "D2S202", "refused-header-above-bootstrap.def": "D2S203",
    "refused-no-header.def": "D2S208", "refused-section-alone.def": "D2S208", "refused-empty.def": "D2S200",
    "refused-comments-only.def": "D2S200", "refused-appinstall-no-name.def": "D2S207",
    "refused-appinstall-empty-name.def": "D2S207", "refused-app-section-upper.def": "D2S206",
    "refused-indented-percent-line.def": "D2S206", "refused-percent-line-in-heredoc.def": "D2S206",
    "refused-bootstrap-line-in-heredoc.def": "D2S204", "refused-undefined-placeholder.def": "D2S211",
    "refused-placeholder-other-stage.def": "D2S211", "refused-placeholder-jinja.def": "D2S211",
    "refused-files-from-unknown.def": "D2S209", "refused-files-from-later.def": "D2S210",
    "refused-post-c-no-shell.def": "D2S212", "refused-setup-c-no-shell.def": "D2S212",
    "refused-files-lone-quote.def": "D2S213", "refused-header-continuation-comment.def": "D2S214",
    "refused-byte-order-mark.def": "D2S216", "refused-tab-after-section.def": "D2S206",
    "refused-docker-no-from.def": "D2S205", "refused-docker-empty-from.def": "D2S205",
    "refused-bootstrap-empty.def": "D2S205", "refused-from-lost-continuation.def": "D2S205",
    "refused-section-too-long.def": "D2S215", "refused-from-uppercase.def": "D2S217",
    "refused-from-registry-twice.def": "D2S217", "refused-from-with-transport.def": "D2S217",
    "hazard-relative-destination.def": "D2S220", "hazard-tmp-destination.def": "D2S222",
    "hazard-files-ignored.def": "D2S223", "hazard-environment.def": "D2S226", "hazard-labels.def": "D2S232",
    "hazard-conda-path.def": "D2S225", "hazard-header-comment.def": "D2S233", "hazard-duplicate-stage.def": "D2S234",
    "hazard-arguments-line.def": "D2S235", "hazard-single-quoted-file.def": "D2S224",
}


def test_each_fixture_has_an_expectation():
    names = {p.name for p in DEFS.glob("*.def") if p.name.startswith(("refused-", "hazard-"))}
    assert names == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(p.name for p in DEFS.glob("*.def")))
def test_fixture_findings(name, monkeypatch):
    monkeypatch.chdir(str(DEFS))
    report = check_file(name)
    assert report.unreadable is None
    errors = [f.code for f in report.findings if f.severity == "error"]
    warnings = [f.code for f in report.findings if f.severity == "warning"]
    if name.startswith("refused-"):
        assert EXPECTED[name] in errors
    elif name.startswith("hazard-"):
        assert not errors and EXPECTED[name] in warnings
    else:
        assert report.findings == [], [(f.code, f.line, f.message) for f in report.findings]


# -- rules -----------------------------------------------------------------------------------------


def test_header_rules():
    assert found("Bootstrap: docker\n") == [("D2S205", 1)]
    assert found("Bootstrap: scratch\n") == []
    assert found("Bootstrap: Scratch\n") == [("D2S204", 1)]
    assert found("Bootstrap: busybox\n") == [("D2S205", 1)]
    assert found("Bootstrap: debootstrap\nOSVersion: bookworm\n") == [("D2S205", 1)]
    assert found("Bootstrap: localimage\n") == []
    assert found("Bootstrap: docker\nFrom: x:1 # a comment\n") == []
    assert found("Bootstrap: docker\nFrom: x:1#frag\n") == [("D2S233", 2)]


@pytest.mark.parametrize("reference, bad", [
    ("ubuntu:22.04", False), ("127.0.0.1:5000/busybox:", False), ("Registry.Example.com/x/y:1", False),
    ("x@sha256:" + "a" * 64, False), ("x/Y:1", True), ("x:1 y", True), ("docker://x", True),
    ("x@sha256:abc", True), ("x:1:2", True), ("h:5000/h:5000/x", True),
])
def test_docker_references(reference, bad):
    assert ("D2S217" in codes("Bootstrap: docker\nFrom: %s\n" % reference)) == bad


def test_registry_and_namespace_prefix_from():
    assert codes("Bootstrap: docker\nNamespace: library\nFrom: 127.0.0.1:5000/busybox\n") == {"D2S217"}
    assert codes("Bootstrap: docker\nNamespace: library\nFrom: busybox\n") == set()
    assert codes("Bootstrap: docker\nRegistry: r.example.org\nFrom: busybox\n") == set()


def test_stage_references():
    two = BB + "Stage: a\n%post\n echo\n" + BB + "%files from a\n /x /y\n"
    assert found(two) == []
    assert found(BB + "%files from b\n" + BB + "Stage: b\n") == []  # nothing to copy: accepted
    assert found(BB + "%files from b\n /x\n" + BB + "Stage: b\n") == [("D2S210", 3)]
    assert found(BB + "%files from c\n") == [("D2S209", 3)]
    assert found(BB + "%files from a # comment\n /x\n" + BB + "Stage: a\n") == [("D2S210", 3)]
    assert found(BB + "Stage: a\n" + BB + "Stage: a\n") == [("D2S234", 6)]


def test_script_arguments():
    assert found(BB + "%post -c\n echo\n") == [("D2S212", 3)]
    assert found(BB + "%post -c\n") == []  # no script, nothing run
    assert found(BB + "%post -c # bash\n echo\n") == [("D2S212", 3)]
    assert found(BB + "%post -c /bin/bash\n echo\n") == []
    assert found(BB + "%post -c\n%appinstall x\n make\n") == [("D2S212", 3)]  # appinstall joins %post
    assert found(BB + "%test -c\n echo\n") == []  # %test arguments are not read


def test_files_rules(tmp_path):
    (tmp_path / "here.txt").write_text("x")
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "a.conf").write_text("x")
    context = [str(tmp_path)]
    text = BB + ("%files\n here.txt /opt/\n dir/*.conf /etc/\n dir/**/*.conf /etc/\n missing.txt /opt/\n"
                 " nomatch*.txt /opt/\n /abs/path /opt/\n here.txt rel/dst\n here.txt /tmp/x\n here.txt var/tmp\n"
                 " /tmp/y\n 'q x' /opt/\n here.txt {{ D }}\n%arguments\n D=/opt/d\n")
    assert found(text, context) == [("D2S221", 7), ("D2S221", 8), ("D2S220", 10), ("D2S222", 11), ("D2S220", 12),
                                    ("D2S222", 12), ("D2S222", 13), ("D2S224", 14)]
    assert found(BB + "%files from a\n rel /x\n" + BB[:-1] + "\nStage: a\n", context) == [("D2S210", 3)]
    assert found(BB + "%files --chown=1\n a b\n") == [("D2S223", 3)]
    assert found(BB + "%files  \n a /b\n") == [("D2S223", 3)]
    assert found(BB + "%files # comment\n") == []


def test_docker_env_rule():
    assert found(BB + "%post\n    conda install -y x\n") == [("D2S225", 4)]
    assert found(BB + "%post\n    apt-get update && go build ./...\n") == [("D2S225", 4)]
    assert found(BB + "%post\n    export PATH=/opt/conda/bin:$PATH\n    conda install x\n") == []
    assert found(BB + "%post\n    . /.singularity.d/env/10-docker2singularity.sh\n    conda install x\n") == []
    assert found(BB + "%post\n    /opt/conda/bin/conda install x\n    echo conda\n") == []
    assert found("Bootstrap: scratch\n%post\n    conda install x\n") == []  # no Docker ENV there


def test_environment_rules():
    assert found(BB + "%environment\n    export A=$(date)\n    export B=`hostname`\n    export C='$(literal)'\n") == [
        ("D2S226", 4), ("D2S226", 5)]
    assert found(BB + "%environment\n    export O=-Xmx1g -Xms1g\n    V=a b\n    export Q='a b' R=\"c d\"\n") == [
        ("D2S227", 4), ("D2S227", 5)]
    assert found(BB + "%environment\n    A=1\n    B=2\n    export B\n    C=3\n    export D=$C\n"
                 "    PATH=/x:$PATH\n    LC_ALL=C\n") == [("D2S228", 4)]
    assert found(BB + "%environment\n    set -a\n    A=1\n") == []
    assert found(BB + "%appenv app\n    A=1\n") == [("D2S228", 4)]


def test_label_rules():
    text = BB + '%labels\n    version=1.0\n    Author: me\n    "My key" v\n    a=b c\n    good value\n'
    assert found(text) == [("D2S232", 4), ("D2S232", 5), ("D2S231", 6), ("D2S232", 7)]


def test_arguments_rule():
    assert found(BB + "%arguments\n    V\n    =x\n    W=1\n") == [("D2S235", 4), ("D2S235", 5)]


def test_heredoc_cuts():
    text = BB + "%post\n    cat > /etc/x <<'EOF'\n%post\nEOF\n    echo after\n"
    assert found(text) == [("D2S229", 5)]
    assert found(BB + "%post\n    cat <<-EOF\n%files\n\tEOF\n    echo\n") == [("D2S229", 5)]
    assert found(BB + "%post\n    cat <<-EOF\n\t%files\n\tEOF\n") == [("D2S206", 5), ("D2S229", 5)]
    assert found(BB + "%post\n    echo '<<EOF'\n%runscript\n    echo\n") == []  # quoted: no heredoc
    assert found(BB + "%post\n    cat <<EOF\nx\nEOF\n%runscript\n    echo\n") == []
    text = BB + "%post\n    cat > /x.yml <<Y\nbootstrap: true\nY\n"
    assert ("D2S230", 5) in found(text)
    text = BB + "%help\n    How to use it.\nBootstrap: docker is the base\n"
    assert ("D2S230", 5) in found(text) and ("D2S204", 5) in found(text)
    assert "D2S230" not in codes(BB + "%post\n    echo\n" + BB)  # a real second stage
    assert "D2S230" not in codes(BB + "%post\n    echo\nBootstrap: Docker\nFrom: x\n")  # a mistyped one


def test_edited_generated_file():
    body = BB + "%post\n    echo\n"
    assert found(stamp("Dockerfile", body)) == []
    edited = stamp("Dockerfile", body).replace("echo", "echo changed")
    assert found(edited) == [("D2S237", 1)]


# -- ignore comments -------------------------------------------------------------------------------


def test_ignore_comments():
    def base(comment):
        return BB + "%files\n    a.txt rel/x" + comment + "\n"

    assert found(base("")) == [("D2S220", 4)]
    assert found(base("  # d2s: ignore[D2S220]")) == []
    assert found(base("  # d2s: ignore[D2S221, D2S220]")) == []
    assert found(base("  # d2s: ignore")) == []
    assert found(base("  # d2s: ignore[D2S222]")) == [("D2S220", 4)]
    assert found(BB + "%files\n    # d2s: ignore[D2S220]\n    a.txt rel/x\n") == []
    assert found(BB + "%labels\n    # d2s: ignore[D2S232]\n    version=1\n") == []


def test_errors_cannot_be_ignored():
    assert found(BB + "# d2s: ignore[D2S206]\n%psot\n    x\n") == [("D2S206", 4)]


# -- --fix -----------------------------------------------------------------------------------------


FIX_CASES = [
    ("Bootstrap: Docker\nFrom: x:1\n", "Bootstrap: docker\nFrom: x:1\n"),
    (BB + "%post\t-c /bin/bash\n    echo\n", BB + "%post -c /bin/bash\n    echo\n"),
    ("\ufeff" + BB, BB),
    (BB + "%files\n    a rel/dst\n    b \"sp ace/x\"\n", BB + "%files\n    a /rel/dst\n    b \"/sp ace/x\"\n"),
    (BB + "%files  \n    a /b\n", BB + "%files\n    a /b\n"),
    (BB + "%files   # keep\n    a /b\n", BB + "%files # keep\n    a /b\n"),
    (BB + "%labels\n    version=\"1.0\"\n    Author: me\n", BB + "%labels\n    version 1.0\n    Author me\n"),
    (BB + "%post\n    conda install x\n",
     BB + "%post\n    if [ -f /.singularity.d/env/10-docker2singularity.sh ] && sh -n "
     "/.singularity.d/env/10-docker2singularity.sh 2>/dev/null; then . /.singularity.d/env/10-docker2singularity.sh;"
     " fi\n    conda install x\n"),
]


@pytest.mark.parametrize("before, after", FIX_CASES)
def test_fixes(before, after, tmp_path):
    path = tmp_path / "x.def"
    path.write_bytes(before.encode("utf-8"))
    report = check_file(str(path), fix=True)
    assert path.read_bytes().decode("utf-8") == after
    assert report.fixed and all(f.code in FIXABLE for f in report.fixed)
    assert not any(f.fix for f in report.findings)
    again = check_file(str(path), fix=True)
    assert not again.fixed and path.read_bytes().decode("utf-8") == after


def test_fix_keeps_crlf_line_endings(tmp_path):
    path = tmp_path / "x.def"
    path.write_bytes(b"Bootstrap: Docker\r\nFrom: x:1\r\n%files\r\n    a rel\r\n")
    check_file(str(path), fix=True)
    assert path.read_bytes() == b"Bootstrap: docker\r\nFrom: x:1\r\n%files\r\n    a /rel\r\n"


def test_fix_splits_a_long_section_into_the_same_script(tmp_path):
    from dockerfile2def.deffile import parse_definition

    lines = "".join("    echo line %05d %s\n" % (n, "x" * 50) for n in range(2500))
    heredoc = "    cat > /f <<EOF\n" + "".join("data %d\n" % n for n in range(3000)) + "EOF\n"
    text = BB + "%post -c /bin/sh\n" + lines + heredoc + lines + "%runscript\n    run\n"
    path = tmp_path / "x.def"
    path.write_text(text)
    assert "D2S215" in {f.code for f in check_file(str(path)).findings}
    report = check_file(str(path), fix=True)
    assert [f.code for f in report.fixed] == ["D2S215"] and report.findings == []
    new = path.read_text()
    before, after = parse_definition(text).stages[0], parse_definition(new).stages[0]
    assert after.post_script() == before.post_script()
    assert all(s.args == "-c /bin/sh" for s in after.sections if s.name == "post")
    assert new.count("%post -c /bin/sh\n") >= 4
    inside = new.split("<<EOF\n", 1)[1].split("\nEOF\n", 1)[0]
    assert "%post" not in inside  # not cut inside the heredoc


def test_apply_fixes_skips_overlapping_edits():
    from dockerfile2def.check import Finding, Fix

    a = Finding("D2S220", "a", 1, fix=Fix({1: ["one"]}))
    b = Finding("D2S220", "b", 1, fix=Fix({1: ["two"]}))
    text, applied = apply_fixes("x\ny\n", [a, b])
    assert text == "one\ny\n" and applied == [a]


# -- the command -----------------------------------------------------------------------------------


def test_exit_status_and_text_format(tmp_path):
    (tmp_path / "good.def").write_text(BB + "%post\n    echo\n")
    (tmp_path / "warn.def").write_text(BB + "%files\n    good.def rel\n")
    (tmp_path / "bad.def").write_text(BB + "%psot\n    echo\n")
    assert run_cli(["check", "good.def"], tmp_path)[0] == 0
    status, out, err = run_cli(["check", "warn.def"], tmp_path)
    assert status == 0 and out == (
        "warn.def:4:14: warning[D2S220]: %files destination 'rel' is relative: Apptainer puts it under / ('/rel'), "
        "not under the image's WORKDIR\n")
    assert "1 fixable with --fix" in err
    assert run_cli(["check", "--strict", "warn.def"], tmp_path)[0] == 1
    status, out, _ = run_cli(["check", "bad.def", "good.def"], tmp_path)
    assert status == 1 and re.match(r"bad\.def:3:1: error\[D2S206\]: ", out)
    status, _, err = run_cli(["check", "good.def", "nothere.def"], tmp_path)
    assert status == 2 and "nothere.def:1:1: error: no such file" in err
    assert run_cli(["check", "--format", "xml", "good.def"], tmp_path)[0] == 2


def test_json_format(tmp_path):
    (tmp_path / "a.def").write_text(BB + "%files\n    a.def rel\n%psot\n x\n")
    status, out, _ = run_cli(["check", "--format", "json", "a.def", "gone.def"], tmp_path)
    data = json.loads(out)
    assert status == 2
    assert data["summary"] == {"errors": 1, "warnings": 1}
    assert data["unreadable"] == [{"path": "gone.def", "message": "no such file"}]
    first = data["diagnostics"][0]
    assert first == {"path": "a.def", "line": 4, "column": 11, "severity": "warning", "code": "D2S220",
                     "message": first["message"], "fixable": True}


def test_sarif_format(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.def").write_text(BB + "%files\n    a.def rel\n%psot\n x\n")
    status, out, _ = run_cli(["check", "--format", "sarif", "sub"], tmp_path)
    assert status == 1
    sarif = json.loads(out)
    assert sarif["version"] == "2.1.0"
    (run_,) = sarif["runs"]
    rules = {r["id"]: r for r in run_["tool"]["driver"]["rules"]}
    assert set(rules) == {"D2S220", "D2S206"}
    assert rules["D2S206"]["defaultConfiguration"]["level"] == "error"
    assert rules["D2S206"]["shortDescription"]["text"] == CHECK_CODES["D2S206"][1]
    result = [r for r in run_["results"] if r["ruleId"] == "D2S206"][0]
    assert result["level"] == "error"
    assert run_["tool"]["driver"]["rules"][result["ruleIndex"]]["id"] == "D2S206"
    location = result["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"] == "sub/a.def"
    assert location["region"] == {"startLine": 5, "startColumn": 1}


def test_fix_from_the_command_line(tmp_path):
    (tmp_path / "a.def").write_text("Bootstrap: Docker\nFrom: x:1\n%files\n    a.def rel\n")
    status, out, err = run_cli(["check", "--fix", "a.def"], tmp_path)
    assert status == 0 and out == ""
    assert "a.def:1:12: fixed[D2S204]" in err and "a.def:4:11: fixed[D2S220]" in err
    assert (tmp_path / "a.def").read_text() == "Bootstrap: docker\nFrom: x:1\n%files\n    a.def /rel\n"


def test_folders_are_searched(tmp_path):
    for name in ("a.def", "Singularity", "Singularity.gpu", "Apptainer", "Dockerfile", "x.Dockerfile",
                 "Dockerfile.dev", "Containerfile", "README.md", "Singularity.md", "notes.txt"):
        (tmp_path / name).write_text("")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "x.def").write_text("")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.def").write_text("")
    names = sorted(os.path.relpath(p, str(tmp_path)) for p in expand_paths([str(tmp_path)]))
    assert names == sorted(["a.def", "Singularity", "Singularity.gpu", "Apptainer", "Dockerfile", "x.Dockerfile",
                            "Dockerfile.dev", "Containerfile", os.path.join("sub", "b.def")])
    assert is_dockerfile("app.Dockerfile") and not is_dockerfile("app.def")


def test_non_utf8_definition_is_checked_and_fixed_byte_for_byte(tmp_path):
    path = tmp_path / "x.def"
    path.write_bytes(b"Bootstrap: Docker\nFrom: x:1\n%post\n    echo \xff\xfe\n")
    report = check_file(str(path), fix=True)
    assert [f.code for f in report.fixed] == ["D2S204"]
    assert path.read_bytes() == b"Bootstrap: docker\nFrom: x:1\n%post\n    echo \xff\xfe\n"


# -- Dockerfiles -----------------------------------------------------------------------------------

DOCKERFILE = "FROM scratch\nCOPY hello.txt /opt/hello.txt\nEXPOSE 8080\n"


@pytest.fixture
def project(tmp_path):
    (tmp_path / "hello.txt").write_text("hello\n")
    (tmp_path / "Dockerfile").write_text(DOCKERFILE)
    return tmp_path


def _convert(project, name="app.def"):
    status, out, _ = run_cli(["convert", "Dockerfile", name], project)
    assert status == 0
    return project / name


def test_dockerfile_diagnostics(project):
    status, out, _ = run_cli(["check", "Dockerfile"], project)
    assert status == 0
    assert re.search(r"^Dockerfile:3:1: warning\[D2S004\]: ", out, re.M)
    assert run_cli(["check", "--strict", "Dockerfile"], project)[0] == 1


def test_dockerfile_ignore_comment(project):
    (project / "Dockerfile").write_text(DOCKERFILE.replace("EXPOSE", "# d2s: ignore[D2S004]\nEXPOSE"))
    assert run_cli(["check", "--strict", "Dockerfile"], project)[:2] == (0, "")


def test_dockerfile_up_to_date(project):
    (project / "Dockerfile").write_text(DOCKERFILE.replace("EXPOSE 8080\n", ""))
    (project / "unrelated.def").write_text("Bootstrap: scratch\n")
    assert run_cli(["check", "--strict", "Dockerfile"], project) == (0, "", "")  # no .def generated from it
    generated = _convert(project)
    assert generated.read_text().startswith("# Generated by d2s from Dockerfile;")
    assert run_cli(["check", "--strict", "Dockerfile"], project) == (0, "", "")
    assert run_cli(["check", "--strict", "Dockerfile", "--against", "app.def"], project) == (0, "", "")
    (project / "Dockerfile").write_text(DOCKERFILE.replace("/opt/hello.txt", "/srv/hello.txt"))
    status, out, _ = run_cli(["check", "Dockerfile"], project)
    assert status == 1
    assert out.startswith("Dockerfile:1:1: error[D2S240]: app.def is out of date with this Dockerfile: "
                          "run `d2s convert Dockerfile app.def`")


def test_dockerfile_against_an_edited_or_foreign_def(project):
    generated = _convert(project, "app.def")
    generated.write_text(generated.read_text().replace("Bootstrap: scratch", "Bootstrap: scratch\nStage: x"))
    status, out, _ = run_cli(["check", "Dockerfile"], project)
    assert status == 0 and "warning[D2S242]: app.def was generated by d2s and then edited by hand" in out
    (project / "other.def").write_text("Bootstrap: scratch\n")
    status, out, _ = run_cli(["check", "Dockerfile", "--against", "other.def"], project)
    assert "warning[D2S242]: other.def was not generated by d2s" in out
    assert run_cli(["check", "--against", "other.def", "a.def", "b.def"], project)[0] == 2  # needs one Dockerfile


def test_dockerfile_that_does_not_convert(project):
    (project / "Dockerfile").write_text("FROM scratch\nCOPY --bogus=1 a /b\n")
    status, out, _ = run_cli(["check", "Dockerfile"], project)
    assert status == 1 and re.match(r"Dockerfile:\d+:\d+: error\[D2S241\]: d2s cannot convert this Dockerfile", out)


def test_binary_dockerfile_is_unreadable(project):
    (project / "Dockerfile").write_bytes(b"FROM scratch\n\x00\xff")
    assert run_cli(["check", "Dockerfile"], project)[0] == 2


# -- the converter's output passes -----------------------------------------------------------------


def test_converter_outputs_for_the_corpus_are_accepted(tmp_path):
    """What d2s convert writes for every corpus Dockerfile is a definition Apptainer reads."""
    from dockerfile2def import D2SError, convert

    from .shared import corpus_files

    refused = []
    converted = 0
    for path in corpus_files():
        try:
            result = convert(path.read_text(encoding="utf-8", errors="replace"), path=path.name,
                             context=str(tmp_path))
        except D2SError:
            continue
        converted += 1
        errors = [f for f in check_definition(result.definition, path.name) if f.severity == "error"]
        if any(d.code == "D2S024" for d in result.diagnostics):  # {{ ARG }} left for --build-arg on purpose
            errors = [f for f in errors if f.code != "D2S211"]
        if errors:
            refused.append((path.name, [(f.code, f.line, f.message[:100]) for f in errors[:3]]))
    assert converted > 150
    assert refused == []


# -- cost ------------------------------------------------------------------------------------------


def test_checking_many_files_builds_the_grammar_once(tmp_path, monkeypatch):
    from dockerfile2def import deffile, generated

    sources = sorted(p for p in DEFS.glob("*.def") if not p.name.startswith("refused-section-too-long"))
    for n in range(500):
        shutil.copy(str(sources[n % len(sources)]), str(tmp_path / ("%03d.def" % n)))
    loaded = []
    original = generated._load

    def counting(*args, **kwargs):
        loaded.append(args[0])
        return original(*args, **kwargs)

    monkeypatch.setattr(deffile, "_PARSER", None)
    monkeypatch.setattr(generated, "_TABLES", {})
    monkeypatch.setattr(generated, "_load", counting)
    status, out, _ = run_cli(["check", "--format", "json", "."], tmp_path)
    assert len(json.loads(out)["diagnostics"]) > 100
    assert loaded == ["deffile.lark"]  # speed itself is bench/run's row 4, not a test's


def test_a_generated_file_with_an_undecodable_byte_is_reported_not_a_crash(tmp_path):
    """Found by the long fuzz run: the d2s digest check encoded the text strictly and raised."""
    text = ("# Generated by d2s from Dockerfile; edits are lost on the next conversion.\n"
            "# d2s-digest: sha256:" + "0" * 64 + "\nBootstrap: docker\nFrom: busybox\n").encode() + b"\xff\n"
    (tmp_path / "x.def").write_bytes(text)
    status, out, err = run_cli(["check", "x.def"], tmp_path)
    assert status == 1 and "Traceback" not in err and "D2S237" in out + err
