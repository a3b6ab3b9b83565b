"""bench/run --quick runs and prints its table. It measures nothing that a test could judge: numbers are
recorded by the full run (bench/RESULTS.md), never asserted."""

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_bench_quick_prints_the_table():
    env = dict(os.environ, PYTHON=sys.executable)
    done = subprocess.run(
        [str(REPO / "bench" / "run"), "--quick"], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    header = [line for line in done.stdout.splitlines() if line.startswith("measurement ")]
    assert header and "d2s" in header[0] and "spython" in header[0] and "d2s/spython" in header[0]
    for row in ("1. CLI latency", "2. ", "3. ", "4. "):
        assert any(line.startswith(row) for line in done.stdout.splitlines()), row
