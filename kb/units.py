"""The one unit registry, built once from ``schema/units.txt``.

Units live at the edges: facts, queries and scenarios are checked and converted
to SI base units when they load; evaluation runs on plain floats.

What kb needs to know of a unit (its size in SI base units, its dimension, its SI unit) is asked of pint
once per unit text and remembered in the user's cache folder (:mod:`kb.cache`, keyed on units.txt and
pint's version), so a command whose units were all seen before never imports pint or builds the registry
(about 150 ms). A unit pint refuses is never remembered: its error comes from pint each time.
"""

from __future__ import annotations

import atexit
import functools
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from . import cache
from .errors import DimensionError, KBError, UnitError, ValueSyntaxError, clip
from .shipped import SCHEMA_DIR
from .values import ACCEPTED_FORMS, GROUPED_DIGITS, Value, parse_value, split_quantity

UNITS_FILE = SCHEMA_DIR / "units.txt"


@functools.cache
def registry(path: str | None = None) -> Any:
    """The pint registry for ``path`` (default: the project's schema/units.txt)."""
    import pint

    ureg: Any = pint.UnitRegistry(None, autoconvert_offset_to_baseunit=False)
    ureg.load_definitions(str(path or UNITS_FILE))
    ureg.formatter.default_format = "~"
    return ureg


def _normalise(unit: str) -> str:
    text = (unit or "").strip()
    return "" if text in ("", "1") else text


MAX_UNIT_LENGTH = 100
MAX_EXPONENT = 12  # m^2, s^-1, ... (a power like 2000000000 would take pint minutes and overflow)


def _quoted(text: str) -> str:
    return repr(clip(text, 60))


def _check_text(unit: str, text: str) -> None:
    """What is refused before pint sees a unit: odd characters, length, powers that are not small numbers."""
    if not re.fullmatch(r"[A-Za-zµ_%0-9 ./*^()\-+]+", text):
        raise UnitError(f"unit {_quoted(unit)} does not parse; use names from schema/units.txt, e.g. 'TFLOP/s'")
    if len(text) > MAX_UNIT_LENGTH:
        raise UnitError(f"unit {_quoted(unit)} is longer than {MAX_UNIT_LENGTH} characters")
    # a power is a plain number (m^2, s^-1, s^(-1)): an expression such as W^(9^9^9) would take pint minutes
    for m in re.finditer(r"(?:\^|\*\*)\s*(\(\s*[-+]?\s*[0-9]+(?:\.[0-9]+)?\s*\)|[-+]?\s*[0-9]+(?:\.[0-9]+)?)?", text):
        power = m.group(1)
        if power is None or abs(float(power.strip("() ").replace(" ", ""))) > MAX_EXPONENT:
            raise UnitError(f"unit {_quoted(unit)}: a power must be a number of at most {MAX_EXPONENT} (units are "
                            "written like 'm^2' or 's^-1')")
    # W^9^9^9 is W^(9^(9^9)): each power a small number, the whole beyond computing ((W^2)^3 is fine)
    if re.search(r"(?:\^|\*\*)\s*(?:\(\s*[-+]?\s*[0-9.]+\s*\)|[-+]?\s*[0-9.]+)\s*(?:\^|\*\*)", text):
        raise UnitError(f"unit {_quoted(unit)}: a power of a power; write one power, e.g. 'm^2' or '(m^2)^3'")


@functools.lru_cache(maxsize=4096)
def parse_unit(unit: str) -> Any:
    """A pint Unit for ``unit``; ``""`` or ``"1"`` is dimensionless."""
    text = _normalise(unit)
    ureg = registry()
    if not text:
        return ureg.dimensionless
    _check_text(unit, text)
    try:
        parsed = ureg.parse_units(text)
    except Exception as exc:  # pint raises several unrelated exception types here
        import difflib

        from pint.errors import UndefinedUnitError

        if isinstance(exc, UndefinedUnitError):
            names = [str(n) for n in getattr(exc, "unit_names", ())] or [text]
            if re.fullmatch(r"[kKMGTPE]?b", names[0]):  # Gb: gigabits or gigabytes? 8x apart, so not guessed
                raise UnitError(f"unit {unit!r}: {names[0]!r} is not defined in schema/units.txt; write bits as "
                                f"'{names[0][:-1]}bit' ('{names[0][:-1]}bit/s', '{names[0][:-1]}bps') or bytes as "
                                f"'{names[0][:-1]}B'") from None
            close = _other_case(ureg, names[0]) or difflib.get_close_matches(
                names[0], [n for n in dir(ureg) if not n.startswith("_")], n=1)  # kw -> kW before a near name
            raise UnitError(f"unit {unit!r}: {names[0]!r} is not defined in schema/units.txt"
                            + (f"; did you mean {close[0]!r}?" if close else "")) from None
        raise UnitError(f"unit {unit!r} does not parse; write units like 'TFLOP/s', 'USD/GPU_hour' or 'kW'") from None
    if any(abs(power) > MAX_EXPONENT for power in dict(parsed._units).values()):  # (W^12)^12, W*W*...*W
        raise UnitError(f"unit {_quoted(unit)}: a unit's power must be at most {MAX_EXPONENT} in all")
    return parsed


def _other_case(ureg: Any, name: str) -> list[str]:
    """The same letters in other cases that name a unit (``kw`` -> ``kW``, ``tflop`` -> ``TFLOP``), if any."""
    import itertools

    if not name.isalpha() or len(name) > 8:
        return []
    variants = sorted({"".join(cs) for cs in itertools.product(*((c, c.swapcase()) for c in name))} - {name},
                      key=lambda v: sum(a != b for a, b in zip(v, name)))  # the fewest letters changed first
    for variant in variants:
        try:
            ureg.parse_units(variant)
            return [variant]
        except Exception:  # noqa: BLE001,S112  (not a unit in this case either)
            continue
    return []


class Dimension:
    """A dimensionality such as ``[compute] / [time]``, as pint's ``UnitsContainer`` computes it (the same order
    of terms, products, quotients and powers, order-blind equality), without importing pint."""

    __slots__ = ("terms",)

    def __init__(self, terms: Iterable[tuple[str, float]] = ()) -> None:
        self.terms = tuple((k, v) for k, v in terms if v != 0)

    def _combine(self, other: Dimension, sign: int) -> Dimension:
        out = dict(self.terms)
        for key, power in other.terms:
            out[key] = out.get(key, 0) + sign * power
            if out[key] == 0:
                del out[key]
        return Dimension(out.items())

    def __mul__(self, other: Dimension) -> Dimension:
        return self._combine(other, 1)

    def __truediv__(self, other: Dimension) -> Dimension:
        return self._combine(other, -1)

    def __pow__(self, power: float) -> Dimension:
        return Dimension((k, v * power) for k, v in self.terms)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Dimension) and dict(self.terms) == dict(other.terms)

    def __hash__(self) -> int:
        return hash(frozenset(self.terms))

    def __bool__(self) -> bool:
        return bool(self.terms)

    def __str__(self) -> str:
        if not self.terms:
            return "dimensionless"
        from pint.util import UnitsContainer  # only for a message: pint's own wording

        return str(UnitsContainer(dict(self.terms)))


@dataclass(frozen=True)
class UnitFacts:
    """What kb uses of a unit: SI size (None when it is not a finite number), dimension and SI unit."""

    factor: float | None
    dimension: Dimension
    dimension_text: str
    si_unit: str

    def saved(self) -> list[Any]:
        return [self.factor, [list(t) for t in self.dimension.terms], self.dimension_text, self.si_unit]

    @classmethod
    def from_saved(cls, v: Any) -> UnitFacts | None:
        try:
            factor, terms, text, si = v
            ok = ((factor is None or (isinstance(factor, float) and factor > 0)) and isinstance(text, str)
                  and isinstance(si, str) and all(isinstance(k, str) and isinstance(p, (int, float)) for k, p in terms))
            return cls(factor, Dimension((k, p) for k, p in terms), text, si) if ok else None
        except (TypeError, ValueError):
            return None


_remembered: dict[str, UnitFacts] | None = None
_learned: dict[str, UnitFacts] = {}
_pint_only = False  # set for a write: nothing stored rests on the cache


def ask_pint_only() -> None:
    """From now on in this process every unit is asked of pint (a write stores SI values in an append-only
    history: they must not rest on a cache file that could have been changed)."""
    global _pint_only
    if not _pint_only:
        _pint_only = True
        unit_facts.cache_clear()


@functools.cache
def _cache_name() -> str:
    """The cache file's name: a digest of units.txt and of the installed pint (its path and the time it was
    written, found without importing it: another pint could parse or convert differently)."""
    import os
    from importlib.util import find_spec

    spec = find_spec("pint")
    origin = spec.origin if spec is not None and spec.origin else ""
    stamp = f"{origin} {os.stat(origin).st_mtime_ns if origin else 0} facts:1"
    digest = hashlib.sha256(UNITS_FILE.read_bytes() + stamp.encode()).hexdigest()
    return f"units-{digest[:16]}.json"


def _from_cache() -> dict[str, UnitFacts]:
    global _remembered
    if _remembered is None:
        _remembered = {}
        saved = cache.read(_cache_name())
        if isinstance(saved, dict):
            for text, v in saved.items():
                facts = UnitFacts.from_saved(v)
                if facts is not None:
                    _remembered[text] = facts
    return _remembered


@atexit.register
def _save_learned() -> None:
    if not _learned:
        return
    name = _cache_name()
    saved = cache.read(name)  # another command may have added units meanwhile: keep them
    merged = saved if isinstance(saved, dict) and len(saved) < 10_000 else {}
    merged.update({text: f.saved() for text, f in _learned.items()})
    if saved is None:
        cache.prune("units-*.json", keep=name)  # a new cache: those of other versions of units.txt or pint go
    cache.write(name, merged)
    _learned.clear()


@functools.lru_cache(maxsize=4096)
def unit_facts(unit: str) -> UnitFacts:
    """``unit`` checked, with what kb uses of it; pint is asked only for a unit text not seen before."""
    text = _normalise(unit)
    if not text:
        return UnitFacts(1.0, Dimension(), "dimensionless", "")
    _check_text(unit, text)
    known = None if _pint_only else _from_cache().get(text)
    if known is not None:
        return known
    facts = _ask_pint(unit)
    _learned[text] = facts
    return facts


def _ask_pint(unit: str) -> UnitFacts:
    import math

    parsed = parse_unit(unit)
    ureg = registry()
    try:
        base = ureg.Quantity(1.0, parsed).to_base_units()
        factor: float | None = float(base.magnitude)
    except (OverflowError, ZeroDivisionError, MemoryError):
        base, factor = None, None
    if factor is not None and (not math.isfinite(factor) or factor == 0):
        factor = None
    dims = parsed.dimensionality
    si = f"{base.units:~}" if base is not None else ""
    return UnitFacts(factor, Dimension(dims.items()), str(dims) if dims else "dimensionless",
                     "" if si in ("", "dimensionless") else si)


def verify_cache() -> list[str]:
    """Each cached unit re-asked of pint (``kb check``): the units whose cached facts disagree. A cache that
    disagrees is removed and not used again by this process, so what follows is computed by pint."""
    global _remembered
    wrong = []
    for text, facts in sorted(_from_cache().items()):
        try:
            truth = _ask_pint(text)
        except KBError:
            wrong.append(f"{text!r}: cached, but pint does not know it")
            continue
        if not _agree(facts, truth):
            wrong.append(f"{text!r}: cached as {_said(facts)}, pint says {_said(truth)}")
    if wrong:
        cache.remove(_cache_name())
        _remembered = {}
        _learned.clear()
        unit_facts.cache_clear()
    return wrong


def _agree(a: UnitFacts, b: UnitFacts) -> bool:
    import math

    same_size = (a.factor is None and b.factor is None) or (
        a.factor is not None and b.factor is not None and math.isclose(a.factor, b.factor, rel_tol=1e-12))
    return same_size and (a.dimension, a.dimension_text, a.si_unit) == (b.dimension, b.dimension_text, b.si_unit)


def _said(f: UnitFacts) -> str:
    return f"{f.factor:g} {f.si_unit or '(a count)'} ({f.dimension_text})" if f.factor is not None else "out of range"


def cache_file() -> str:
    """Where the unit cache is (for messages), or 'off'."""
    at = cache.path(_cache_name())
    return str(at) if at is not None else "off"


def check_unit(unit: str) -> None:
    """Raise UnitError unless ``unit`` is a unit of schema/units.txt."""
    unit_facts(unit)


def dimensionality(unit: str) -> Dimension:
    return unit_facts(unit).dimension


def dimension(unit: str) -> str:
    """A readable dimension such as ``[compute] / [time]``; ``dimensionless`` for counts."""
    return unit_facts(unit).dimension_text


def si_factor(unit: str) -> float:
    """Multiply a value in ``unit`` by this to get SI base units."""
    factor = unit_facts(unit).factor
    if factor is None:
        raise UnitError(f"unit {_quoted(unit)} is out of range (its size in SI units is not a finite number)")
    return factor


def si_unit(unit: str) -> str:
    """The SI base unit string for ``unit``'s dimension (``""`` when dimensionless)."""
    facts = unit_facts(unit)
    si_factor(unit)
    return facts.si_unit


def same_dimension(a: str, b: str) -> bool:
    return unit_facts(a).dimension == unit_facts(b).dimension


def bare_percent(unit: str, expected_unit: str, point: float, high: float | None) -> bool:
    """True for a number with no unit, above 1, where percent is expected: ``utilization 40`` would be 4000%.
    Such a value is almost surely a percentage written without its unit, and callers refuse it."""
    return not unit and expected_unit.strip() in ("%", "percent") and max(point, high or 0) > 1


def check_dimension(unit: str, expected_unit: str, what: str, *, where: str | None = None) -> None:
    """Raise DimensionError unless ``unit`` has the dimension of ``expected_unit``."""
    if not same_dimension(unit, expected_unit):
        example = repr(expected_unit) if expected_unit else "a plain count ('')"
        hint = f"use a unit like {example}"
        if unit.endswith(("FLOPs", "OPs")) and dimension(expected_unit).endswith("/ [time]"):
            hint = f"{unit!r} is a count (FLOPs, lower-case s); for a rate write {unit[:-1]}/s or {unit[:-1]}S"
        raise DimensionError(
            f"{what} in {unit or 'a plain count'!r}",
            dimension(expected_unit),
            dimension(unit),
            where=where,
            hint=hint,
        )


def parse_quantity(text: str, *, interval: str | None = None, point: str | None = None) -> tuple[Value, str]:
    """A value with an optional unit: ``"2 to 4 month"`` -> (Value 2..4, "month"); ``"40 %"``; ``"3e12"`` -> unit ""."""
    if GROUPED_DIGITS.search(text or ""):
        raise ValueSyntaxError(f"{text!r}: write numbers without thousands separators (16384, not 16,384)")
    parts = _range_with_units(text) or split_quantity(text)
    if not parts:
        raise ValueSyntaxError(f"{(text or '').strip()!r} is not a value with an optional unit; write a value "
                               f"({ACCEPTED_FORMS}) and a unit, e.g. '40 %', '2 to 4 month', '3 TB/s'")
    value, unit = parts
    _refuse_half_range(text, unit)
    check_unit(unit)
    if interval is not None or point is not None:
        value = parse_value(value.text, interval=interval, point=point, percent_ok=True)
    return value, "" if unit == "1" else unit


DISTRIBUTIONS = ("uniform", "loguniform", "normal", "lognormal")
_SHAPED = re.compile(r"\s*(uniform|loguniform|normal|lognormal)\s*\((.*)\)\s*(.*?)\s*", re.S)


def parse_shaped(text: str, *, interval: str | None = None,
                 point: str | None = None) -> tuple[Value, str, str | None]:
    """A value with its distribution for --samples: ``"lognormal(2 to 4) month"`` (or ``lognormal(2, 4)``,
    the unit inside or after) -> (Value 2..4 as a 90% interval, "month", "lognormal"). normal and
    lognormal read the range as its 5th and 95th percentiles; uniform and loguniform as hard bounds.
    Anything else is :func:`parse_quantity`'s, with no distribution."""
    m = _SHAPED.fullmatch(text or "")
    if not m:
        return (*parse_quantity(text, interval=interval, point=point), None)
    shape, inner, unit_after = m.group(1), m.group(2).strip(), m.group(3)
    example = f"{shape}(2 to 4) month"
    if interval is not None:
        raise ValueSyntaxError(f"{text.strip()!r} already says how to read its range ({shape}); drop 'interval'")
    parts = inner.split(",")
    if len(parts) == 2:
        inner = f"{parts[0].strip()} to {parts[1].strip()}"
    elif len(parts) > 2:
        raise ValueSyntaxError(f"{text.strip()!r}: {shape}(...) takes one range, e.g. {example!r}")
    value, unit = parse_quantity(inner, point=point)
    if value.kind not in ("range", "ci90"):
        raise ValueSyntaxError(f"{text.strip()!r}: {shape}(...) needs a range, e.g. {example!r}")
    if unit and unit_after:
        raise ValueSyntaxError(f"{text.strip()!r} gives a unit inside and after {shape}(...); give it once")
    unit = unit or unit_after
    check_unit(unit)
    if shape in ("lognormal", "loguniform") and (value.low or 0) <= 0:
        raise ValueSyntaxError(f"{text.strip()!r}: {shape} needs a range above zero (its logarithm is drawn)")
    if shape in ("normal", "lognormal"):
        value = parse_value(value.text, interval="ci90", point=point, percent_ok=True)
    return value, "" if unit == "1" else unit, shape


def _refuse_half_range(text: str, unit: str) -> None:
    """``500 ms to 2``, ``1 s to``, ``0 to inf``: a range the grammar cannot read, said as such (not as a bad unit)."""
    words = unit.split()
    if "to" not in words:
        return
    raw = text.strip()
    if words[-1] == "to":
        raise ValueSyntaxError(f"range {raw!r} has no high end; write e.g. '1 s to 2 s'")
    if words[-1] in ("inf", "infinity"):
        raise ValueSyntaxError(f"range {raw!r}: write an open-ended range as a bound, e.g. '>= 1'")
    raise ValueSyntaxError(f"range {raw!r}: give a unit on both ends ('500 ms to 2 s') or once after both "
                           "numbers ('1 to 3 kW')")


def _range_with_units(text: str) -> tuple[Value, str] | None:
    """``1 s to 2 s``, ``500 ms to 2 s``, ``1e23 FLOP to 2e23 FLOP``: a range with a unit on each end, in the
    high end's unit. None if ``text`` is not two such ends (``2 to 4 month`` is read by :func:`split_quantity`)."""
    raw = (text or "").strip()
    between = re.fullmatch(r"between\s+(.+?)\s+and\s+(.+)", raw, flags=re.IGNORECASE)
    ends = list(between.groups()) if between else re.split(r"\s+to\s+", raw)
    if len(ends) != 2:
        return None
    try:
        low, high = split_quantity(ends[0]), split_quantity(ends[1])
    except ValueSyntaxError:
        return None
    if not (low and high and low[1] and high[1]) or low[0].kind != "exact" or high[0].kind != "exact":
        return None
    (lv, lu), (hv, hu) = low, high
    check_unit(lu)
    check_unit(hu)
    if not same_dimension(lu, hu):
        raise ValueSyntaxError(f"range {raw!r}: its two ends must be in units of one kind, not {lu!r} and {hu!r}")
    lo = lv.point * si_factor(lu) / si_factor(hu)
    if lo > hv.point:
        raise ValueSyntaxError(f"range {raw!r} has its low end above its high end")
    return parse_value(f"{lo:.15g} to {hv.point:.15g}".replace("e+", "e")), hu


def split_quantity_unit(text: str) -> bool:
    """True if ``text`` is one number with an optional unit (``100 PFLOP/s``, ``1%``)."""
    try:
        parts = split_quantity(text)
    except ValueSyntaxError:
        return False
    return parts is not None and parts[0].kind == "exact"


def to_si(value: float, unit: str) -> float:
    return value * si_factor(unit)


def from_si(value: float, unit: str) -> float:
    return value / si_factor(unit)


def quantity(value: float, unit: str) -> Any:
    return registry().Quantity(value, parse_unit(unit))
