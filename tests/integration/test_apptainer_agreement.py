"""`d2s check` refuses exactly the definition files the real Apptainer refuses.

Every file of fixtures/defs (hand-made broken ones for each parser error of the spec digest, good
ones, real-world ones, the converter's own outputs) and a few generated ones (the 64 KiB scanner
boundary) goes through ``apptainer build --fakeroot --sandbox`` in a scratch copy of the folder (the
build's working directory, where %files sources and %setup live), and through d2s check.

What "Apptainer refuses" means here: the build stops because of the definition's text, either
while reading it (parse errors, templating, bootstrap agent, headers: these fail within a second,
before any pull) or at a step whose outcome the text alone decides (``%files from`` a stage that
does not exist or is not built yet, ``%post -c`` without a shell, an app without a name, a
bootstrap agent without its From, a From that is no image reference). Failures that depend on the machine (a pull, a host file, a
script's exit status) mean Apptainer accepted the definition. Anything else fails the test as
unclassified, so that a fixture never passes for a reason nobody looked at.
"""

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from dockerfile2def.check import check_file

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "fixtures" / "defs"
TIMEOUT = 180

# Apptainer's messages for a definition it will not build (spec digest B.10, and the runs behind it).
REFUSED = [
    r"while parsing definition: ",
    r"Unable to create build: (multiple stages detected|unable to get conveyorpacker)",
    r"build var \w+ is not defined through either --build-arg",
    r"Unable to create apps: ",
    r"unable to copy files from stage to container fs: stage \S+ was not found",
    r"bad \w+ section '-c' parameter: missing arguments",
    r"conveyor failed to get: could not parse reference: ",
    r"conveyor failed to get: unsupported transport",
    r"conveyor failed to get: invalid busybox header",
    r"conveyor failed to get: .*not a valid Shub reference",
    r"conveyor failed to get: .*open : no such file or directory",
    r"^panic: ",
]
# For a refusal, the d2s code that must be among d2s's errors: the same reason, not only the same verdict.
REASONS = [
    (r"invalid section\(s\) specified", ("D2S206",)),
    (r"invalid header keyword found: \ufeff", ("D2S216",)),
    (r"invalid header keyword found", ("D2S202",)),
    (r"had no val", ("D2S201",)),
    (r"no stages found in definition file|empty definition file", ("D2S200",)),
    (r"could not be split into section name and body|multiple stages detected", ("D2S208",)),
    (r"could not be split into section name and app name|no BuildApp record", ("D2S207",)),
    (r"invalid build source", ("D2S204",)),
    (r"no bootstrap specification found", ("D2S203",)),
    (r"unsupported transport|could not parse reference: *$|invalid busybox header|not a valid Shub reference"
     r"|open : no such file", ("D2S205",)),
    (r"is not defined through either --build-arg", ("D2S211",)),
    (r"stage \S+ was not found", ("D2S209",)),
    (r"unable to copy files from stage to container fs: while copying", ("D2S210",)),
    (r"section '-c' parameter: missing arguments", ("D2S212",)),
    (r"index out of range", ("D2S213",)),
    (r"assignment to entry in nil map", ("D2S214",)),
    (r"token too long", ("D2S215",)),
    (r"could not parse reference: \S", ("D2S217",)),
]
# Failures after Apptainer accepted the definition: the machine, not the text.
ACCEPTED_FAILURES = [
    r"while running %post section: exit status \d+",
    r"failed to execute %test script: ",
    r"failed to run %\w+ script: ",
    r"unable to copy files from host to container fs: ",
    r"unable to copy files from stage to container fs: while copying",  # unless from a later stage: see below
    r"conveyor failed to get: (?!could not parse reference: |unsupported transport|invalid busybox header)",
]


def apptainer_verdict(apptainer: str, definition: Path, workdir: Path):
    """('refused' | 'accepted', the message that decided it, seconds)."""
    out = workdir / ("out-" + definition.stem)
    out.mkdir()
    start = time.monotonic()
    try:
        proc = subprocess.run(
            [apptainer, "build", "--fakeroot", "--sandbox", str(out / "image"), definition.name],
            cwd=str(workdir), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=TIMEOUT,
        )
        output = proc.stdout.decode("utf-8", "replace")
        status = proc.returncode
    finally:
        shutil.rmtree(str(out), ignore_errors=True)
    elapsed = time.monotonic() - start
    if status == 0:
        return "accepted", "built", elapsed
    for line in output.splitlines():
        if "unable to copy files from stage to container fs: while copying" in line and _copies_from_a_later_stage(
                definition.read_text(encoding="utf-8", errors="replace")):
            # The later stage is not built yet: its root file system is empty, whatever it installs.
            return "refused", line.strip(), elapsed
        for pattern in REFUSED:
            if re.search(pattern, line):
                return "refused", line.strip(), elapsed
    for line in output.splitlines():
        for pattern in ACCEPTED_FAILURES:
            if re.search(pattern, line):
                return "accepted", line.strip(), elapsed
    raise AssertionError("unclassified Apptainer outcome for %s (exit %d):\n%s" % (definition.name, status, output))


def _copies_from_a_later_stage(text: str) -> bool:
    """Whether a stage has ``%files from X`` for a stage X defined after it (a plain scan of the text)."""
    pieces = re.split(r"(?mi)^bootstrap:", text)[1:]
    names = []
    for piece in pieces:
        found = re.search(r"(?mi)^\s*stage:\s*(\S+)", piece.split("\n%", 1)[0])
        names.append(found.group(1) if found else None)
    for index, piece in enumerate(pieces):
        for found in re.finditer(r"(?mi)^%files\s+from\s+(\S+)", piece):
            if found.group(1) in names and names.index(found.group(1)) > index:
                return True
    return False


def d2s_verdict(definition: Path, workdir: Path):
    cwd = os.getcwd()
    os.chdir(str(workdir))
    try:
        report = check_file(definition.name)
    finally:
        os.chdir(cwd)
    errors = [f for f in report.findings if f.severity == "error"]
    return ("refused" if errors else "accepted"), errors, report.findings


def _section_of(size: int) -> str:
    """Label lines making a %labels body of exactly ``size`` bytes."""
    lines, left = [], size
    while left > 0:
        take = min(left, 80)
        if take < 3:
            lines.append("\n" * take)
        else:
            lines.append("k " + "v" * (take - 3) + "\n")
        left -= take
    return "".join(lines)


def generated_definitions():
    """The scanner's 64 KiB boundary, byte-exact: a section counted to the end of the next section line
    may be 65536 bytes; the last section, counted to the end of the file, 65535."""
    head = "Bootstrap: scratch\n"
    made = {}
    for name, window in (("gen-window-65536.def", 65536), ("gen-window-65537.def", 65537)):
        body = _section_of(window - len("%labels\n") - len("%help\n"))
        made[name] = head + "%labels\n" + body + "%help\n" + "help text\n"
    for name, window in (("gen-last-65535.def", 65535), ("gen-last-65536.def", 65536)):
        made[name] = head + "%labels\n" + _section_of(window - len("%labels\n"))
    for name, size in (("gen-header-65535.def", 65535), ("gen-header-65536.def", 65536)):
        made[name] = head + "#" + "c" * (size - len(head) - 2) + "\n"
    return made


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, apptainer, registry):
    folder = tmp_path_factory.mktemp("agreement")
    for item in FIXTURES.iterdir():
        target = folder / item.name
        if item.is_dir():
            shutil.copytree(str(item), str(target))
        else:
            shutil.copy2(str(item), str(target))
    for name, text in generated_definitions().items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def definition_names():
    names = sorted(p.name for p in FIXTURES.glob("*.def"))
    return names + sorted(generated_definitions())


def test_the_fixture_set_is_large_and_varied():
    names = sorted(p.name for p in FIXTURES.glob("*.def"))
    assert len(names) >= 40, len(names)
    kinds = {name.split("-", 1)[0] for name in names}
    assert {"refused", "ok", "hazard", "real", "converted", "style"} <= kinds, kinds


VERDICTS = {}


@pytest.mark.parametrize("name", definition_names())
def test_d2s_check_agrees_with_apptainer(name, apptainer, workdir):
    definition = workdir / name
    verdict, why, elapsed = apptainer_verdict(apptainer, definition, workdir)
    mine, errors, findings = d2s_verdict(definition, workdir)
    VERDICTS[name] = (verdict, mine, [f.code for f in findings])
    shown = "\n".join("  %s:%d: %s[%s] %s" % (name, f.line, f.severity, f.code, f.message) for f in findings)
    assert mine == verdict, "Apptainer: %s (%s); d2s check: %s\n%s" % (verdict, why, mine, shown or "  (no findings)")
    if verdict == "refused":
        codes = next((codes for pattern, codes in REASONS if re.search(pattern, why)), None)
        assert codes is not None, "no d2s code known for Apptainer's reason: %s" % why
        assert {f.code for f in errors} & set(codes), "Apptainer: %s; d2s errors:\n%s" % (why, shown)
    if verdict == "refused" and "while parsing definition" in why:
        assert elapsed < 30, "a parse error took %.1fs: did Apptainer pull first?" % elapsed
    # The names say what the file was written to show; Apptainer is the judge.
    if name.startswith(("refused-",)):
        assert verdict == "refused", why
    if name.startswith(("ok-", "hazard-", "real-", "converted-", "style-")):
        assert verdict == "accepted", why
    if name.startswith("ok-") or name.startswith("converted-"):
        assert not findings, shown
    if name.startswith("hazard-"):
        assert any(f.severity == "warning" for f in findings), "a hazard fixture without its warning"


def test_every_parser_error_code_is_exercised(workdir):
    """Each error code of the definition parser shows up on at least one fixture Apptainer refuses."""
    from dockerfile2def.check import CHECK_CODES

    seen = set()
    for name in definition_names():
        if name.startswith(("refused-", "gen-")):
            _, errors, _ = d2s_verdict(workdir / name, workdir)
            seen.update(f.code for f in errors)
    parser_errors = {code for code, (severity, _) in CHECK_CODES.items()
                     if severity == "error" and "D2S200" <= code <= "D2S217"}
    assert parser_errors <= seen, sorted(parser_errors - seen)
