"""Benchmarks of the design's speed choices, each as a ratio against a baseline run in the same process.

    .venv/bin/python bench/bench_core.py            # full size
    .venv/bin/python bench/bench_core.py --quick    # small sizes (what the smoke test runs)

1. inserting facts: bulk SQLAlchemy Core executemany (what `kb load` does) vs one ORM object per row;
2. evaluating a formula: the compiled numpy evaluator vs pint quantities per value;
3. a whole derivation (gradient_bandwidth under b200-500k-nvl72, nine queries, 19 inputs) vs one float
   formula in plain Python, to show the per-query overhead;
4. CLI start-up: `kb --help` vs a bare `python -c pass`.
Absolute times are printed for context only; the machines are noisy, compare the ratios.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def best_of(fn: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def fact_rows(n: int) -> list[dict[str, Any]]:
    from kb.claims import build_fact
    from kb.values import now_stamp

    props = {"tdp": {"unit": "W"}}
    stamp = now_stamp()
    return [build_fact({"entity": "gpu", "property": "tdp", "value": str(100 + i), "unit": "W", "source": "src",
                        "locator": f"row {i}"}, props, stamp) for i in range(n)]


def bench_insert(n: int) -> tuple[float, float]:
    from sqlmodel import Session

    from kb import models
    from kb.project import Project

    def fresh() -> Any:
        tmp = Path(tempfile.mkdtemp())
        (tmp / "schema").mkdir()
        (tmp / "schema" / "properties.yaml").write_text(
            "properties:\n  - {name: tdp, unit: W, description: power}\n")
        store = Project.open(tmp, tmp / "kb.sqlite").store
        store.insert("source", [{"id": "src", "title": "t", "authors": "[]", "kind": "other", "recorded_at": "x"}])
        store.insert("entity", [{"id": "gpu", "kind": "accelerator", "name": "gpu", "aliases": "[]", "recorded_at": "x"}])
        return store

    rows = fact_rows(n)

    def bulk() -> None:
        store = fresh()
        store.insert("fact", rows)

    def orm() -> None:
        store = fresh()
        with Session(store.engine) as session:
            for row in rows:
                session.add(models.Fact(**row))
            session.commit()

    return best_of(bulk, 3), best_of(orm, 3)


def bench_formula(n: int) -> tuple[float, float]:
    import numpy as np

    from kb import formula, units

    text = "6 [FLOP/token] * parameters * sequence_length / (gpus_per_domain * flops_per_gpu * utilization)"
    names = {"parameters", "sequence_length", "gpus_per_domain", "flops_per_gpu", "utilization"}
    fn = formula.compile_node(formula.parse(text, names))
    rng = np.random.default_rng(0)
    env = {"parameters": rng.uniform(1e11, 1e12, n), "sequence_length": rng.uniform(4e3, 1.6e4, n),
           "gpus_per_domain": rng.uniform(8, 72, n), "flops_per_gpu": rng.uniform(1e15, 2.5e15, n),
           "utilization": rng.uniform(0.3, 0.5, n)}
    q = units.quantity
    per_value = [(q(env["parameters"][i], ""), q(env["sequence_length"][i], "token"), q(env["gpus_per_domain"][i], ""),
                  q(env["flops_per_gpu"][i], "FLOP/s"), q(env["utilization"][i], "")) for i in range(n)]
    six = q(6, "FLOP/token")

    def vectorized() -> None:
        fn(env)

    def pint_loop() -> None:
        for p, s, g, f, u in per_value:
            (six * p * s / (g * f * u)).to("s")

    return best_of(vectorized, 5), best_of(pint_loop, 1)


def bench_derivation(repeat: int) -> tuple[float, float]:
    from kb.project import Project

    tmp = Path(tempfile.mkdtemp())
    project = Project.open(ROOT, tmp / "kb.sqlite")
    project.catalog  # noqa: B018  (read once, as a CLI invocation does)
    project.store  # noqa: B018

    def derivation() -> None:
        project.evaluator().evaluate("gradient_bandwidth", "b200-500k-nvl72")

    def plain() -> None:
        6 * 405e9 * 8000 / (8 * 1e15 * 0.4)

    return best_of(derivation, repeat), best_of(plain, repeat)


def bench_startup(repeat: int) -> tuple[float, float]:
    kb = [sys.executable, "-m", "kb", "--help"]
    bare = [sys.executable, "-c", "pass"]
    return (best_of(lambda: subprocess.run(kb, check=True, capture_output=True, cwd=ROOT), repeat),
            best_of(lambda: subprocess.run(bare, check=True, capture_output=True), repeat))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for the smoke test")
    args = parser.parse_args()
    n_rows, n_values, repeat = (500, 200, 2) if args.quick else (20_000, 20_000, 5)
    results = []
    bulk, orm = bench_insert(n_rows)
    results.append((f"insert {n_rows} facts: ORM per row / bulk Core", orm / bulk, f"bulk {bulk * 1e3:.1f} ms, ORM {orm * 1e3:.1f} ms"))
    vec, loop = bench_formula(n_values)
    results.append((f"step_time over {n_values} values: pint per value / numpy", loop / vec, f"numpy {vec * 1e3:.2f} ms, pint {loop * 1e3:.0f} ms"))
    deriv, plain = bench_derivation(repeat)
    results.append(("gradient_bandwidth derivation / one plain float formula", deriv / plain, f"derivation {deriv * 1e3:.2f} ms"))
    kb_start, bare = bench_startup(repeat)
    results.append(("`kb --help` start-up / bare python start-up", kb_start / bare, f"kb {kb_start * 1e3:.0f} ms, python {bare * 1e3:.0f} ms"))
    width = max(len(r[0]) for r in results)
    for name, ratio, detail in results:
        print(f"{name.ljust(width)}  ratio {ratio:10.1f}   ({detail})")


if __name__ == "__main__":
    main()
