"""Number formatting for the CLI and for reports: significant figures, SI prefixes, money, counts."""

from __future__ import annotations

import math
from collections.abc import Mapping
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal
from typing import Any

PREFIXES = [(1e24, "Y"), (1e21, "Z"), (1e18, "E"), (1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"), (1, "")]
_COUNT_SUFFIXES = [(1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")]
_MONEY_SUFFIXES = [(1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")]


OUTWARD = {"low": ROUND_FLOOR, "high": ROUND_CEILING}  # a bound rounded so the printed interval still contains it


def round_sig(x: float, digits: int, rounding: str = ROUND_HALF_UP) -> float:
    """Round half up, as readers expect (1.25M -> 1.3M), on the number as written (repr), not its binary value;
    a bound of an interval rounds outward instead (``rounding``: ROUND_FLOOR for a low, ROUND_CEILING for a high)."""
    if x == 0 or not math.isfinite(x):
        return x
    d = Decimal(repr(float(x)))
    exponent = d.adjusted() - digits + 1
    return float(d.quantize(Decimal(1).scaleb(exponent), rounding=rounding))


def sig(x: float, digits: int = 3, rounding: str = ROUND_HALF_UP) -> str:
    """``x`` to ``digits`` significant figures: 6.22, 2048 -> 2050, 1.6e+12 -> 1.6e12, 0.75."""
    if x is None:
        return "?"
    if not math.isfinite(x):
        return "inf" if x > 0 else "-inf" if x < 0 else "nan"
    r = round_sig(x, digits, rounding)
    if r == 0:
        return "0"
    if 1e-3 <= abs(r) < 1e6:
        text = f"{r:.{max(digits - 1 - int(math.floor(math.log10(abs(r)))), 0)}f}"
        return text.rstrip("0").rstrip(".") if "." in text else text
    mantissa, exp = f"{r:.{digits - 1}e}".split("e")
    mantissa = mantissa.rstrip("0").rstrip(".") if "." in mantissa else mantissa
    return f"{mantissa}e{int(exp)}"


def scaled(x: float, digits: int, table: list[tuple[float, str]], rounding: str = ROUND_HALF_UP) -> str:
    """``x`` with the largest suffix from ``table`` that keeps it >= 1: 16384 -> 16K; 999999 -> 1M, not 1000K."""
    x = round_sig(x, digits, rounding)
    for factor, suffix in table:
        if abs(x) >= factor:
            return f"{sig(x / factor, digits)}{suffix}"
    return sig(x, digits)


def count(x: float, digits: int = 2, rounding: str = ROUND_HALF_UP) -> str:
    """Counts as people write them: 500K, 16K, 3.5T, 72, 2000 -> 2K."""
    if abs(x) < 1e3:
        return sig(x, digits, rounding)
    return scaled(x, digits, _COUNT_SUFFIXES, rounding)


def money(x: float, digits: int = 2, symbol: str = "$", rounding: str = ROUND_HALF_UP) -> str:
    """$120M, $3B, $2."""
    return symbol + scaled(x, digits, _MONEY_SUFFIXES, rounding)


def si_prefixed(x: float, unit: str, digits: int = 3) -> str:
    """A value in a base unit with an SI prefix: (3e14, 'bps') -> '300 Tbps'; (1.5e8, 'W') -> '150 MW'."""
    x = round_sig(x, digits)
    for factor, prefix in PREFIXES:
        if abs(x) >= factor:
            return f"{sig(x / factor, digits)} {prefix}{unit}"
    return f"{sig(x, digits)} {unit}"


def sci(x: float, digits: int = 2, rounding: str = ROUND_HALF_UP) -> str:
    """Scientific notation as people write FLOP counts: 8.4e25, 1e26."""
    mantissa, exp = f"{round_sig(x, digits, rounding):.{digits - 1}e}".split("e")
    mantissa = mantissa.rstrip("0").rstrip(".") if "." in mantissa else mantissa
    return f"{mantissa}e{int(exp)}"


def claim_text(claim: Mapping[str, Any]) -> str:
    """A claim's value as written with its unit: ``700 W``, ``54.2 %``; ``35% to 45%`` (the % written with the value)."""
    text, unit = str(claim["value_text"]), claim["unit"] or ""
    return text if unit == "%" and "%" in text else f"{text} {unit}".strip()


def with_unit(text: str, unit: str) -> str:
    if not unit:
        return text
    if unit == "%" and "%" in text:
        return text
    return f"{text}{unit}" if unit == "%" else f"{text} {unit}"


def interval(value: float, low: float | None, high: float | None, unit: str, digits: int = 3) -> str:
    """``6.22 s``; ``150 to 169 MW``; ``>= 5``; ``<= 50000``."""
    if low is None and high is None:
        return with_unit(sig(value, digits), unit)
    low_text = None if low is None else sig(low, digits, OUTWARD["low"])  # outward: the printed range holds the real one
    high_text = None if high is None else sig(high, digits, OUTWARD["high"])
    if high is None:
        return with_unit(f">= {low_text}", unit)
    if low is None:
        return with_unit(f"<= {high_text}", unit)
    return with_unit(f"{low_text} to {high_text}", unit)
