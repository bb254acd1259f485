"""Cold start, side by side with `sqlite-utils --help` (another click tool over SQLite, run in the same way),
each command a fresh process, alternated so the machine's load falls on both:

1. `kb --help`;
2. `kb query gradient_bandwidth -s b200-500k-nvl72` on an existing database (the read a user runs most);
3. `kb facts h100-sxm` (a listing: the store, no engine);
4. the query of 2 with `KB_CACHE_DIR=off`: no unit cache, so pint builds its registry (a first run, or a
   unit never seen before).

kb's unit cache is the run's own (a temporary folder), warmed by one untimed query.

Printed as ratios against the median `sqlite-utils --help` (issue 13's target: `kb query` within 1.5x).

    .venv/bin/python bench/bench_cold_start.py            # 9 runs each
    .venv/bin/python bench/bench_cold_start.py --quick    # 3 runs each (the smoke test)
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def timed(cmd: list[str], env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, env=env)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    runs = 3 if parser.parse_args().quick else 9
    with tempfile.TemporaryDirectory() as tmp:
        db = str(Path(tmp) / "kb.sqlite")
        kb = [sys.executable, "-m", "kb", "--db", db]
        cached = {**os.environ, "KB_CACHE_DIR": str(Path(tmp) / "cache")}
        query = [*kb, "query", "gradient_bandwidth", "-s", "b200-500k-nvl72"]
        subprocess.run([*kb, "facts"], cwd=ROOT, stdout=subprocess.DEVNULL, check=True, env=cached)  # made once
        subprocess.run(query, cwd=ROOT, stdout=subprocess.DEVNULL, check=True, env=cached)  # the cache warmed
        baseline = [str(BIN / "sqlite-utils"), "--help"]
        commands = {
            "`kb --help`": ([sys.executable, "-m", "kb", "--help"], cached),
            "`kb query gradient_bandwidth -s b200-500k-nvl72`": (query, cached),
            "`kb facts h100-sxm`": ([*kb, "facts", "h100-sxm"], cached),
            "the same query, no unit cache": (query, {**os.environ, "KB_CACHE_DIR": "off"}),
        }
        times: dict[str, list[float]] = {"base": [], **{k: [] for k in commands}}
        for _ in range(runs):
            times["base"].append(timed(baseline))
            for name, (cmd, env) in commands.items():
                times[name].append(timed(cmd, env))
        base = statistics.median(times["base"])
        for name in commands:
            t = statistics.median(times[name])
            print(f"{name + ' / `sqlite-utils --help`':<75} ratio {t / base:8.2f}   "
                  f"({t * 1000:.0f} ms vs {base * 1000:.0f} ms, median of {runs})")


if __name__ == "__main__":
    main()
