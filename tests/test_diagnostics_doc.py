"""Every diagnostic code is documented in docs/diagnostics.md, and every code used is registered."""

import re
from pathlib import Path

from dockerfile2def.codes import CODES

ROOT = Path(__file__).resolve().parents[1]


def test_every_code_is_documented():
    doc = (ROOT / "docs" / "diagnostics.md").read_text()
    documented = set(re.findall(r"^## (D2S\d{3}) — ", doc, re.M))
    assert set(CODES) <= documented, sorted(set(CODES) - documented)


def test_every_code_used_in_the_converter_is_registered():
    used = set()
    for path in (ROOT / "dockerfile2def").rglob("*.py"):
        used.update(re.findall(r'"(D2S0\d\d)"', path.read_text()))
    used.discard("D2S000")
    assert used <= set(CODES), sorted(used - set(CODES))
