"""Monte Carlo inputs: each ranged input as a distribution, drawn once per sample and shared wherever the
input appears (a quantity used twice is not drawn twice).

A plain range (``24 to 27``) is uniform between its ends; a 90% interval (``interval: ci90``) is
lognormal with its ends at the 5th and 95th percentiles when both are positive, normal otherwise
(truncated at 0 when its low end is 0: never negative). A
scenario binding may say ``distribution: uniform | loguniform | normal | lognormal``. A one-sided bound
(``>= 5``) has no distribution: sampling it is an error that says so.
"""

from __future__ import annotations

import numpy as np

from .errors import EvaluationError

Z95 = 1.6448536269514722  # the standard normal's 95th percentile
DEFAULT_SEED = 1  # a run without --seed is reproducible too


def draw(name: str, kind: str, point: float, low: float | None, high: float | None, n: int,
         rng: np.random.Generator, distribution: str | None = None) -> np.ndarray:
    """``n`` samples of one input (SI values). ``distribution`` (a scenario's ``distribution:``) shapes a
    range: uniform or loguniform between its ends; normal or lognormal with its ends at p5 and p95."""
    if low is None and high is None:
        return np.full(n, point)
    if low is None or high is None:
        raise EvaluationError(f"input {name} is a one-sided bound ({'>=' if high is None else '<='} ...): "
                              "--samples needs a range or a 90% interval for it (bind or --set one)")
    if distribution == "loguniform":
        if low <= 0:
            raise EvaluationError(f"input {name}: distribution loguniform needs a positive range, not {low:g} to {high:g}")
        return np.exp(rng.uniform(np.log(low), np.log(high), n))
    if distribution == "uniform":
        return rng.uniform(low, high, n)
    if distribution == "lognormal" and low <= 0:
        raise EvaluationError(f"input {name}: distribution lognormal needs a positive range, not {low:g} to {high:g}")
    if kind == "ci90" or distribution in ("normal", "lognormal"):
        if low > 0 and distribution != "normal":
            mu, sigma = (np.log(low) + np.log(high)) / 2, (np.log(high) - np.log(low)) / (2 * Z95)
            return rng.lognormal(mu, sigma, n)
        mean, sd = (low + high) / 2, (high - low) / (2 * Z95)
        out = rng.normal(mean, sd, n)
        if low >= 0:  # an interval from 0 is of a quantity that is never negative: truncate there (redraw)
            for _ in range(100):
                below = out < 0
                if not below.any():
                    break
                out[below] = rng.normal(mean, sd, int(below.sum()))
            out = np.maximum(out, 0.0)
        return out
    return rng.uniform(low, high, n)


def summary(values: np.ndarray, factor: float, seed: int) -> dict[str, float | int]:
    """``{n, mean, p5, p50, p95, seed}`` of SI samples, in the display unit (SI / ``factor``)."""
    p5, p50, p95 = np.percentile(values, [5, 50, 95])
    return {"n": int(values.size), "mean": float(values.mean()) / factor, "p5": float(p5) / factor,
            "p50": float(p50) / factor, "p95": float(p95) / factor, "seed": seed}
