"""How a number reads in prose: a style per kind of quantity (money, FLOPs, counts, units), qualifiers."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import ROUND_HALF_UP
from typing import Any

from .. import numfmt, units
from ..errors import KBError

_SI_UNITS = {"[information] / [time]": "bps", "[mass] * [length] ** 2 / [time] ** 3": "W",
             "[compute] / [time]": "FLOP/s", "[mass] * [length] ** 2 / [time] ** 2": "J"}

STYLES = ("plain", "si", "sci", "money", "count")

# Unit words for prose: "72 days", "4 bytes", "2 to 4 months".
_PROSE_UNITS = {"day": "days", "month": "months", "year": "years", "hour": "hours", "week": "weeks",
                "byte": "bytes", "B": "bytes", "token": "tokens", "GPU_hour": "GPU-hours"}


def auto_style(unit: str) -> str:
    """Money as $120M, FLOP counts as 8.4e25, plain counts as 16K; anything else in its own unit."""
    dim = units.dimension(unit)
    if dim == "[currency]":
        return "money"
    if dim == "[compute]":
        return "sci"
    if dim in ("dimensionless", "[token]") and unit not in ("%", "percent"):
        return "count"
    return "plain"


def prose_unit(unit: str, values: list[float]) -> str:
    plural = _PROSE_UNITS.get(unit)
    if plural is None:
        return unit
    return unit.replace("_", "-") if all(v == 1 for v in values) and unit != "B" else plural


def check_style(style: str, unit: str, digits: Any) -> None:
    """A style that cannot print this unit is the template's mistake: say so rather than print nonsense."""
    if style not in STYLES:
        raise KBError(f"unknown style {style!r}; use one of {', '.join(STYLES)}")
    if not isinstance(digits, int) or isinstance(digits, bool) or not 1 <= digits <= 17:
        raise KBError(f"digits={digits!r} must be a whole number of significant figures, 1 to 17")
    dim = units.dimension(unit)
    shown = unit or "a plain count"
    if style == "money" and "[currency]" not in dim:
        raise KBError(f"style 'money' needs an amount of money, not {shown!r}")
    if style == "si" and dim not in _SI_UNITS and dim != "[information]":
        raise KBError(f"style 'si' is for power, energy, FLOP/s, bit rates and bytes, not {shown!r}; try style='plain'")
    if style == "count" and dim not in ("dimensionless", "[token]"):
        raise KBError(f"style 'count' is for plain counts and tokens, not {shown!r}; try style='plain'")


def format_value(si_point: float, si_low: float | None, si_high: float | None, unit: str,
                 style: str | None = None, digits: int = 2) -> str:
    """Format an SI value (and optional bounds) for prose in the given style; see README."""
    style = style or auto_style(unit)
    check_style(style, unit, digits)
    values = [v for v in (si_low, si_high) if v is not None] if (si_low is not None or si_high is not None) else [si_point]
    prefix = ""
    if si_low is not None and si_high is None:
        prefix, values = "at least ", [si_low]
    elif si_high is not None and si_low is None:
        prefix, values = "at most ", [si_high]
    dim = units.dimension(unit)
    # each shown number's rounding, as ``values`` was built: a bound rounds outward (the printed range contains
    # the computed one), a single value half up
    ways = [numfmt.OUTWARD[k] for k, v in (("low", si_low), ("high", si_high)) if v is not None] or [ROUND_HALF_UP]
    if style == "money":  # in the given unit, so USD/GPU_hour prints as $2 (the template says "per hour")
        return prefix + "-".join(numfmt.money(v / units.si_factor(unit), digits, rounding=w) for v, w in zip(values, ways))
    if style == "sci":  # a FLOP count in FLOPs whatever unit it was written in (PFLOP/s*day, ZFLOP)
        shown_in = "FLOP" if dim == "[compute]" else unit
        unit_text = " FLOPs" if dim == "[compute]" else (f" {unit}" if unit else "")
        return prefix + "-".join(numfmt.sci(v / units.si_factor(shown_in), digits, w) for v, w in zip(values, ways)) + unit_text
    if style == "count":
        word = " tokens" if dim == "[token]" else ""
        return prefix + "-".join(numfmt.count(v, digits, w) for v, w in zip(values, ways)) + word
    if style == "si":
        base = "B" if dim == "[information]" else _SI_UNITS[dim]
        scale = 8.0 if base == "B" else 1.0
        top = numfmt.round_sig(max(abs(v) for v in values) / scale, digits)
        factor, letter = next(((f, p) for f, p in numfmt.PREFIXES if top >= f), numfmt.PREFIXES[-1])
        return prefix + "-".join(numfmt.sig(v / scale / factor, digits, w) for v, w in zip(values, ways)) + f" {letter}{base}"
    shown = [v / units.si_factor(unit) for v in values]
    return prefix + numfmt.with_unit("-".join(numfmt.sig(v, digits, w) for v, w in zip(shown, ways)), prose_unit(unit, shown))


def approx(claim: Mapping[str, Any]) -> str:
    """``~`` for a claim its source hedged ("about 100K")."""
    return "~" if claim["interval_kind"] == "approximate" else ""


def claim_value(claim: Mapping[str, Any], digits: int = 3) -> str:
    """A claim's value for prose: ``~100K``, ``24-27 MW``."""
    return approx(claim) + format_value(claim["si_value"], claim["si_low"], claim["si_high"], claim["unit"], None, digits)


def exact_claim_value(claim: Mapping[str, Any]) -> str:
    """A claim's value as exact as written (16,384; ~15.6T tokens; 989.4 TFLOP/s), for naming competitors."""
    if auto_style(claim["unit"]) == "count" and claim["si_low"] is None and claim["si_high"] is None \
            and abs(claim["si_value"]) < 1e6 and float(claim["si_value"]).is_integer():
        text = f"{int(claim['si_value']):,}" + (" tokens" if units.dimension(claim["unit"]) == "[token]" else "")
        return approx(claim) + text
    return claim_value(claim, 6)


def qualifier_text(claim: Mapping[str, Any], pattern: str = "{}") -> str:
    """``scope: it-load, status: planned, 2023 dollars``: a claim's qualifiers for prose ("" if none)."""
    from ..claims import QUALIFIERS

    parts = []
    for q in QUALIFIERS:
        v = claim.get(q)
        if v:
            parts.append(f"{v} dollars" if q == "dollar_year" else f"{q.replace('_', ' ')}: {v}")
    return pattern.format(", ".join(parts)) if parts else ""
