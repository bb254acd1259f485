"""The uncertainty benchmark runs, its engine and hand-written percentiles agree, and it prints ratios
(a smoke test: no timing threshold)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parent.parent


def test_bench_uncertainty_quick_prints_ratios() -> None:
    result = subprocess.run([sys.executable, "bench/bench_uncertainty.py", "--quick"], cwd=CHECKOUT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr  # it asserts the engine's p5 and p95 equal numpy's
    lines = [line for line in result.stdout.splitlines() if " ratio " in line]
    assert len(lines) in (2, 3)  # the third, against squigglepy, where the bench extra is installed
    for line in lines:
        assert float(line.split(" ratio ")[1].split()[0]) > 0
