"""Plain-text tables and value display for the CLI (no click here: pure string building)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], *, max_width: int = 60) -> str:
    """Left-aligned columns separated by two spaces; long cells are cut with an ellipsis."""
    def cell(v: Any) -> str:
        text = "" if v is None else str(v).replace("\n", " ")
        return text if len(text) <= max_width else text[: max_width - 1] + "…"

    cells = [[cell(h) for h in headers]] + [[cell(v) for v in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def fact_value(fact: dict[str, Any]) -> str:
    """A fact's value as written, with its unit: ``989.4 TFLOP/s``, ``24 to 27 kW``, ``~6 s``."""
    unit = fact.get("unit") or ""
    return f"{fact['value_text']} {unit}".strip()


def fact_status(fact: dict[str, Any]) -> str:
    if fact.get("superseded_by"):
        return f"superseded by {fact['superseded_by']}"
    return str(fact.get("effective_rank", fact.get("rank")))
