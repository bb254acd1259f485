"""The benchmarks run and print their ratios (smoke tests: no timing threshold)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

CHECKOUT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("script, counts", [
    ("bench/bench_core.py", (4,)),
    ("bench/bench_bulk.py", (6,)),
    ("bench/bench_cold_start.py", (4,)),
    # bench_uncertainty also asserts the engine's p5 and p95 equal hand-written numpy's; its third line,
    # against squigglepy, is printed where the bench extra is installed
    ("bench/bench_uncertainty.py", (2, 3)),
])
def test_bench_quick_prints_ratios(script: str, counts: tuple[int, ...]) -> None:
    result = subprocess.run([sys.executable, script, "--quick"], cwd=CHECKOUT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if " ratio " in line]
    assert len(lines) in counts
    for line in lines:
        assert float(line.split(" ratio ")[1].split()[0]) > 0
