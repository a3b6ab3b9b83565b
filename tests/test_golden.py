"""Golden tests: each folder of fixtures/convert converts to exactly its expected.def.

A fixture folder holds a Dockerfile, its build context, optionally ``options.json``
(``build_args``, ``target``) and ``base-configs.json`` (base image configs, so the test never needs a
registry), ``expected.def`` and ``expected.diagnostics`` (what d2s reports, one line each). The expected files were reviewed by hand and are built and
compared with Docker's result by the integration tests. To regenerate after an intended change:
``D2S_UPDATE_GOLDEN=1 python -m pytest tests/test_golden.py`` and review the diff.
"""

import json
import os
from pathlib import Path

import pytest

from dockerfile2def import convert

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "convert"
CASES = sorted(p.name for p in FIXTURES.iterdir() if (p / "Dockerfile").exists())


def _load(folder: Path, name: str) -> dict:
    path = folder / name
    return json.loads(path.read_text()) if path.exists() else {}


def render(folder: Path) -> str:
    options = _load(folder, "options.json")
    result = convert(
        (folder / "Dockerfile").read_text(encoding="utf-8"),
        context=str(folder),
        build_args=options.get("build_args"),
        target=options.get("target"),
        base_configs=_load(folder, "base-configs.json"),
    )
    findings = "".join("%s\n" % d.format("Dockerfile") for d in result.diagnostics)
    return result.definition, findings


def _compare(path: Path, actual: str):
    if os.environ.get("D2S_UPDATE_GOLDEN"):
        path.write_text(actual, encoding="utf-8")
    assert path.exists(), "no %s (run with D2S_UPDATE_GOLDEN=1 and review)" % path
    assert actual == path.read_text(encoding="utf-8")


@pytest.mark.parametrize("case", CASES)
def test_golden(case):
    folder = FIXTURES / case
    definition, findings = render(folder)
    _compare(folder / "expected.def", definition)
    _compare(folder / "expected.diagnostics", findings)


def test_every_pass_has_a_golden_fixture():
    from dockerfile2def.passes import PASSES

    covered = {
        "resolve_global_args": "args",
        "select_stages": "multi-stage",
        "expand_variables": "env-quoting",
        "resolve_workdir": "workdir-copy",
        "resolve_shell": "shell-forms",
        "translate_run": "heredocs",
        "resolve_runtime": "runtime",
        "plan_copies": "workdir-copy",
        "record_metadata": "metadata",
    }
    assert sorted(p.__name__ for p in PASSES) == sorted(covered)
    for fixture in covered.values():
        assert fixture in CASES
