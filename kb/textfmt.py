"""Plain-text tables and value display for the CLI (no click here: pure string building)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .conflicts import Spread


# C0 controls but tab and newline, DEL, and C1 controls: ESC [2J clears a screen, CR overwrites a line, and a
# terminal may take U+009B alone as the start of a command
_CONTROLS = {c: f"\\x{c:02x}" for c in (*range(0x20), 0x7F, *range(0x80, 0xA0)) if c not in (0x09, 0x0A)}


def visible(text: str) -> str:
    """``text`` safe to print on a terminal: its control characters (ESC, CR, BEL, DEL, C1, ... but not
    newline or tab) as visible escapes, ``\\x1b``, so a name or quote cannot clear the screen or move the
    cursor."""
    return text.translate(_CONTROLS)


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], *, max_width: int = 60) -> str:
    """Left-aligned columns separated by two spaces; long cells are cut with an ellipsis."""
    def cell(v: Any) -> str:
        text = "" if v is None else visible(str(v).replace("\n", " "))  # escaped before it is measured
        return text if len(text) <= max_width else text[: max_width - 1] + "…"

    cells = [[cell(h) for h in headers]] + [[cell(v) for v in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def fact_value(fact: Mapping[str, Any]) -> str:
    """A fact's value as written, with its unit: ``989.4 TFLOP/s``, ``24 to 27 kW``, ``~6 s``."""
    from .numfmt import claim_text

    return claim_text(fact)


def fact_status(fact: Mapping[str, Any]) -> str:
    if fact.get("superseded_by"):
        return f"superseded by {fact['superseded_by']}"
    return str(fact.get("effective_rank", fact.get("rank")))


def qualifiers(fact: Mapping[str, Any]) -> str:
    """``scope it-load; status planned; 2023 USD``: a claim's qualifiers for a table cell ("" if none)."""
    from .claims import QUALIFIERS

    parts = []
    for q in QUALIFIERS:
        v = fact.get(q)
        if v:
            parts.append(f"{v} USD" if q == "dollar_year" else f"{q.replace('_', ' ')} {v}")
    return "; ".join(parts)


def spread_line(s: Spread | None, unit: str) -> str:
    """``spread of 3 claims: min 100000, max 150000, max/min 1.5, geometric mean 1.24e5`` (values in ``unit``)."""
    from .numfmt import sig, with_unit
    from .units import si_factor

    if s is None:
        return "spread: no active claims"
    f = si_factor(unit)
    ratio = "inf" if s.ratio == float("inf") else sig(s.ratio, 3)

    def end(x: float) -> str:  # a whole count as it is (16384, not 1.638e4); else four figures
        return str(int(x)) if float(x).is_integer() and abs(x) < 1e15 else sig(x, 4)
    return (f"spread over {s.n} active claim(s): min {with_unit(end(s.low / f), unit)}, "
            f"max {with_unit(end(s.high / f), unit)}, max/min {ratio}, "
            f"geometric mean {with_unit(sig(s.geomean / f, 4), unit)}")


CLAIM_HEADERS = ["FACT", "VALUE", "SOURCE", "LOCATOR", "AS OF", "METHOD", "CONFIDENCE", "QUALIFIERS"]


def claim_rows(facts: Sequence[Mapping[str, Any]]) -> list[list[Any]]:
    """One row per claim with what an analyst compares: as-of, method, confidence and qualifiers."""
    return [[f["id"], fact_value(f), f["source"], f["locator"], f["as_of"], f["method"], f["confidence"],
             qualifiers(f)] for f in facts]
