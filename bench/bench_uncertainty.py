"""Monte Carlo and sweeps: the engine against the same model written by hand in numpy, in one process.

The model is the b200-500k-nvl72 gradient-bandwidth chain (eight queries in two scenarios), with three
inputs given ranges so there is something to sample: the B200's relative throughput 2 to 3, the
utilization 30% to 50%, the GPU count 400K to 700K. Ratios are printed against the hand-written numpy
run measured in the same process (these machines are noisy; absolute times are for context).

    .venv/bin/python bench/bench_uncertainty.py [--quick]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

CHECKOUT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(CHECKOUT))

from bench_core import best_of  # noqa: E402  (bench/ is on the path when this script runs)

from kb.engine import parse_override  # noqa: E402
from kb.project import Project  # noqa: E402
from kb.sampling import DEFAULT_SEED  # noqa: E402

SETS = ["relative_throughput=2 to 3", "utilization=30% to 50%", "gpu_count=400000 to 700000"]


def hand_written(n: int, facts: dict[str, float]) -> np.ndarray:
    """The chain by hand: the same draws (uniform, in the engine's order), the same formulas."""
    rng = np.random.default_rng(DEFAULT_SEED)
    # the engine draws its leaves in key order: set:gpu_count, set:relative_throughput, set:utilization
    gpu_count = rng.uniform(400_000, 700_000, n)
    relative = rng.uniform(2, 3, n)
    utilization = rng.uniform(0.30, 0.50, n)
    f = facts
    compute_ratio = gpu_count * relative / f["baseline_gpu_count"]
    params = f["baseline_params"] * np.sqrt(compute_ratio)
    gradient = params * f["bytes_per_value"]
    flops = f["h100_flops"] * relative
    step = 6 * params * f["sequence_length"] / (f["gpus_per_domain"] * flops * utilization)
    base_step = 6 * f["baseline_params"] * f["sequence_length"] / (f["baseline_gpus_per_domain"] * f["h100_flops"]
                                                                   * utilization)
    window = f["baseline_window"] * step / base_step
    out: np.ndarray = gradient / window
    return out


def chain_facts(project: Project) -> dict[str, float]:
    """The chain's point inputs, read from the engine's own derivation (SI)."""
    r = project.evaluator().evaluate("gradient_bandwidth", "b200-500k-nvl72")
    seen: dict[str, float] = {}
    for step in r.walk():
        if step.kind != "query":
            key = f"{step.name}" if step.node.scenario in (None, "b200-500k-nvl72") else f"baseline_{step.name}"
            seen.setdefault(key, step.point)
    return {"baseline_gpu_count": seen["baseline_gpu_count"], "baseline_params": seen["baseline_params"],
            "bytes_per_value": seen["bytes_per_value"], "h100_flops": seen["h100_flops"],
            "sequence_length": seen["sequence_length"], "gpus_per_domain": seen["gpus_per_domain"],
            "baseline_gpus_per_domain": seen.get("baseline_gpus_per_domain", 8.0),
            "baseline_window": seen["baseline_window"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for the smoke test")
    args = parser.parse_args()
    n = 20_000 if args.quick else 1_000_000
    with tempfile.TemporaryDirectory() as tmp:
        project = Project.open(CHECKOUT, Path(tmp) / "kb.sqlite")
        overrides = dict(parse_override(s) for s in SETS)
        facts = chain_facts(project)

        def engine() -> object:
            return project.evaluator(overrides=dict(overrides)).evaluate("gradient_bandwidth", "b200-500k-nvl72",
                                                                          samples=n)

        result = engine()
        numpy_values = hand_written(n, facts)
        p5, p95 = np.percentile(numpy_values, [5, 95])
        assert abs(result.low / p5 - 1) < 1e-9 and abs(result.high / p95 - 1) < 1e-9, (result.low, p5)  # type: ignore[attr-defined]
        t_engine = best_of(engine, 3)
        t_numpy = best_of(lambda: np.percentile(hand_written(n, facts), [5, 50, 95]), 3)
        print(f"--samples {n} gradient_bandwidth [b200-500k-nvl72] / hand-written numpy   ratio {t_engine / t_numpy:10.2f}"
              f"   (engine {t_engine * 1e3:.0f} ms, numpy {t_numpy * 1e3:.0f} ms; same draws, same percentiles)")
        from kb.sweep import parse_axis, sweep

        points = 20_000 if args.quick else 1_000_000
        axis = parse_axis(f"gpus_per_domain=8:576:{points}", False)
        t_sweep = best_of(lambda: sweep(project.evaluator(), "gradient_bandwidth", "b200-500k-nvl72", [axis]), 3)
        grid = axis.values

        def by_hand() -> np.ndarray:
            f = facts
            params = f["baseline_params"] * np.sqrt(500_000 * 2.5 / f["baseline_gpu_count"])
            step = 6 * params * f["sequence_length"] / (grid * f["h100_flops"] * 2.5 * 0.4)
            base = 6 * f["baseline_params"] * f["sequence_length"] / (f["baseline_gpus_per_domain"] * f["h100_flops"] * 0.4)
            out: np.ndarray = params * f["bytes_per_value"] / (f["baseline_window"] * step / base)
            return out

        t_hand = best_of(by_hand, 3)
        t_graph = best_of(lambda: project.evaluator().graph("gradient_bandwidth", "b200-500k-nvl72"), 3)
        print(f"sweep of {points} points / hand-written numpy                           ratio {t_sweep / t_hand:10.2f}"
              f"   (engine {t_sweep * 1e3:.0f} ms, of which resolving the scenario {t_graph * 1e3:.0f} ms; "
              f"numpy {t_hand * 1e3:.1f} ms)")
        try:
            import squigglepy as sq  # a bench extra (pip install -e '.[bench]'), never a runtime dependency
        except ImportError:
            print("squigglepy: not installed (pip install -e '.[bench]' to compare); skipped")
            return
        f = facts
        gpus, relative, util = sq.uniform(400_000, 700_000), sq.uniform(2, 3), sq.uniform(0.30, 0.50)
        params = f["baseline_params"] * (gpus * relative / f["baseline_gpu_count"]) ** 0.5
        step = 6 * params * f["sequence_length"] / (f["gpus_per_domain"] * f["h100_flops"] * relative * util)
        base = 6 * f["baseline_params"] * f["sequence_length"] / (f["baseline_gpus_per_domain"] * f["h100_flops"] * util)
        bandwidth = params * f["bytes_per_value"] / (f["baseline_window"] * step / base)
        t_sq = best_of(lambda: np.percentile(sq.sample(bandwidth, n=n), [5, 50, 95]), repeat=1 if not args.quick else 3)
        print(f"--samples {n} gradient_bandwidth / squigglepy's distribution algebra      ratio {t_engine / t_sq:10.2f}"
              f"   (engine {t_engine * 1e3:.0f} ms, squigglepy {t_sq * 1e3:.0f} ms; below 1: the engine is faster)")


if __name__ == "__main__":
    main()
