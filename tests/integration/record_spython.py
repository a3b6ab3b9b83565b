"""Record how spython's conversion and d2s's fare on every build fixture, for the README's comparison.

    python -m tests.integration.record_spython [--output FILE] [FIXTURE ...]

For each fixture under fixtures/build/ (the harness self-test aside) it takes the ground truth (buildah,
or the hand-checked expectations), then builds the Dockerfile two ways and compares each image with it
exactly as the integration tests do (harness.py):

* spython: ``spython recipe Dockerfile spython.def`` then ``apptainer build --fakeroot`` in the build
  context, with no hand edits. spython has no --build-arg; a fixture's build args are not given to it.
* d2s: ``d2s build --fakeroot`` (what tests/integration/test_build_fixtures.py asserts).

and writes tests/integration/spython_results.json: per fixture and tool, ``pass``, ``differs`` (with the
categories that differ and the first lines of each difference), ``build failed`` or ``not built`` (with
the reason). The spython column is recorded, not asserted. Needs the toolchain (apptainer, buildah, the
registry); run one at a time (it builds images).
"""

import argparse
import datetime
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .harness import REGISTRY, HarnessError, Toolchain, all_fixtures, registry_up, tail

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "spython_results.json"


def summarise(built, truth, toolchain, fixture) -> dict:
    if built.sif is None:
        if built.note and built.definition is not None:
            return {"result": "not built", "detail": built.note}
        if built.definition is None:
            return {"result": "conversion failed", "detail": tail(built.result.stderr or built.result.stdout, 8)}
        return {"result": "build failed", "detail": _failure_line(built.result.stderr + built.result.stdout)}
    differences = toolchain.compare(fixture, truth, toolchain.observe(fixture, built.sif))
    if not differences:
        return {"result": "pass"}
    return {
        "result": "differs",
        "categories": sorted({d.category for d in differences}),
        "differences": ["\n".join(str(d).splitlines()[:6])[:500] for d in differences][:12],
    }


def _failure_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    fatal = [line for line in lines if line.startswith(("FATAL", "ERROR"))]
    picked = (lines[-4:-1] if fatal else lines[-3:]) + fatal[-1:]
    return "\n".join(line[:300] for line in picked)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("fixtures", nargs="*")
    parser.add_argument("--output", default=str(RESULTS))
    args = parser.parse_args(argv)
    apptainer, buildah = shutil.which("apptainer") or shutil.which("singularity"), shutil.which("buildah")
    if not (apptainer and buildah and registry_up(REGISTRY)):
        sys.stderr.write("record_spython: needs apptainer, buildah and the registry at %s\n" % REGISTRY)
        return 2
    work = Path(tempfile.mkdtemp(prefix="d2s-record-spython-"))
    toolchain = Toolchain(apptainer=apptainer, buildah=buildah, registry=REGISTRY, work=work)
    output = Path(args.output)
    results = json.loads(output.read_text()) if output.exists() and args.fixtures else {"fixtures": {}}
    started = time.monotonic()
    try:
        for fixture in all_fixtures():
            if fixture.spec.get("definition") or (args.fixtures and fixture.name not in args.fixtures):
                continue
            sys.stderr.write("record_spython: %s\n" % fixture.name)
            entry = {"description": fixture.spec.get("description", "")}
            try:
                truth = toolchain.ground_truth(fixture)
            except HarnessError as err:
                entry["error"] = "no ground truth: %s" % str(err).splitlines()[0]
                results["fixtures"][fixture.name] = entry
                continue
            entry["ground_truth"] = "hand-checked" if fixture.hand_checked else "buildah"
            entry["spython"] = summarise(toolchain.build_with_spython(fixture), truth, toolchain, fixture)
            entry["d2s"] = summarise(toolchain.build_with_d2s(fixture), truth, toolchain, fixture)
            if fixture.spec.get("d2s_gap"):
                entry["d2s"]["known_gap"] = fixture.spec["d2s_gap"]
            results["fixtures"][fixture.name] = entry
    finally:
        toolchain.close()
        shutil.rmtree(str(work), ignore_errors=True)
    version = subprocess.run([apptainer, "--version"], stdout=subprocess.PIPE).stdout.decode().strip()
    try:
        import spython

        spython_version = getattr(spython, "__version__", "?")
    except ImportError:
        spython_version = "not installed"
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=str(HERE), stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL).stdout.decode().strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--", "dockerfile2def", "grammar"], cwd=str(HERE),
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL).stdout.decode().strip()
    if commit and dirty:
        commit += " plus uncommitted changes to the converter"
    results.update({
        "generated": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "engine": version,
        "spython": spython_version,
        "d2s_commit": commit,
        "seconds" if not args.fixtures else "seconds_last_partial_run": round(time.monotonic() - started, 1),
        "how": "python -m tests.integration.record_spython (see its docstring)",
    })
    results["fixtures"] = dict(sorted(results["fixtures"].items()))
    output.write_text(json.dumps(results, indent=2) + "\n")
    print(table(results))
    return 0


def table(results: dict) -> str:
    """A Markdown table of the results, for the README."""
    rows = ["| fixture | spython | d2s |", "| --- | --- | --- |"]
    for name, entry in results["fixtures"].items():
        cells = []
        for tool in ("spython", "d2s"):
            verdict = entry.get(tool, {"result": entry.get("error", "?")})
            text = verdict["result"]
            if verdict.get("categories"):
                text += " (%s)" % ", ".join(verdict["categories"])
            cells.append(text)
        rows.append("| %s | %s | %s |" % (name, cells[0], cells[1]))
    return "\n".join(rows)


if __name__ == "__main__":
    sys.exit(main())
