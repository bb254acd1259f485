"""One CSV cell at a time: numbers, URLs, dates, names, and the datasets' words for confidence and status."""

from __future__ import annotations

import math
import re
import unicodedata

CONFIDENCE = {"confident": "confirmed", "confirmed": "confirmed", "likely": "likely",
              "speculative": "speculative", "unlikely": "speculative"}  # "Unknown" and empty: unset
STATUS = {"existing": "operational", "planned": "planned", "decommissioned": "decommissioned",
          "under construction": "under-construction"}
_URL = re.compile(r"https?://[A-Za-z0-9\-._~:/?#@!$&'*+=%]+")  # RFC 3986 characters, less ( ) [ ] , ;
_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?|\.[0-9]+(?:[eE][-+]?[0-9]+)?|-[0-9.eE+-]+")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")


class BadCell(ValueError):
    """A cell that does not hold what its column promises; the import skips it and says so."""


def number(cell: str) -> float:
    """``100000.0``, ``9.894e+19``: a finite, non-negative number, else BadCell."""
    text = cell.strip()
    if text.casefold().lstrip("+-") in ("inf", "infinity", "nan"):
        raise BadCell("not a finite number")
    if not _NUMBER.fullmatch(text):  # float() would take '1_000', '٧٠٠' and '７００'
        raise BadCell("not a number")
    try:
        x = float(text)
    except ValueError:
        raise BadCell("not a number") from None
    if not math.isfinite(x):
        raise BadCell("not a finite number")
    if x < 0:
        raise BadCell("negative")
    return x


def written(x: float) -> str:
    """A number as a claim's value text: ``100000``, ``9.894e19``, ``0.4042``; ten significant figures, so a
    spreadsheet's float noise (``100000.000001472``) does not become part of the claim."""
    return f"{x:.10g}".replace("e+", "e")


_PREFIXED = {"FLOP/s": "FLOP/s", "OP/s": "OP/s", "byte/s": "B/s", "byte": "B", "bit/s": "bit/s", "W": "W"}
_PREFIXES = ((1e18, "E"), (1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"))


def prefixed(x: float, unit: str) -> tuple[str, str]:
    """A value in a column's base unit as a reader would write it: 9.894e14 FLOP/s -> (989.4, TFLOP/s),
    3.35e12 byte/s -> (3.35, TB/s), 7e5 W -> (700, kW). Counts, money, FLOP and MW stay as they are."""
    base = _PREFIXED.get(unit)
    if base is None:
        return written(x), unit
    for factor, prefix in _PREFIXES:
        if x >= factor:
            return written(float(f"{x / factor:.12g}")), prefix + base
    return written(x), base


def urls(cell: str | None) -> list[str]:
    """Every URL in a cell (one cell may hold several, on separate lines)."""
    return _URL.findall(cell or "")


def confidence(cell: str | None) -> str:
    return CONFIDENCE.get((cell or "").strip().casefold(), "unset")


def status(cell: str | None) -> str | None:
    return STATUS.get((cell or "").strip().casefold())


def date(cell: str | None) -> str | None:
    """``2024-10-02``, ``2024-10-02 16:53:19+00:00``, ``2024``: the date part; None if empty; BadCell if it
    is not a real date (``2025-13-45``, ``20245``, ``Q3 2024``)."""
    import datetime as dt

    raw = (cell or "").strip()
    if not raw:
        return None
    m = re.fullmatch(r"([0-9]{4})(?:-([0-9]{2})(?:-([0-9]{2}))?)?(?:[ T][0-9:.]+(?:Z|[+-][0-9:]+)?)?", raw)
    if not m:
        raise BadCell("not a date (YYYY, YYYY-MM or YYYY-MM-DD)")
    year, month, day = int(m.group(1)), int(m.group(2) or 1), int(m.group(3) or 1)
    try:
        dt.date(year, month, day)
    except ValueError:
        raise BadCell("not a real date") from None
    if year < 1900:
        raise BadCell("not a plausible date")
    return raw[:10] if m.group(3) else raw[:7] if m.group(2) else raw[:4]


def clean_name(cell: str) -> str:
    """A row's name as the dataset means it: without the quotes some names carry, spaces collapsed."""
    text = " ".join(_CONTROL.sub("", cell).split())  # no NUL, control or invisible direction characters
    if len(text) >= 2 and text[0] == text[-1] == '"':
        text = text[1:-1].strip()
    return text


def slug(name: str) -> str:
    """``NVIDIA H100 SXM5 80GB`` -> ``nvidia-h100-sxm5-80gb``; ``Llama 3.1-405B`` -> ``llama-3.1-405b``."""
    ascii_text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    out = re.sub(r"[^a-z0-9.]+", "-", ascii_text).strip("-.")
    out = re.sub(r"\.{2,}", ".", out)
    return (out or "unnamed")[:90].strip("-.")


def text(cell: str | None, limit: int = 2000) -> str | None:
    """A free-text cell (a quote, a note), whitespace kept readable, None if empty."""
    t = "\n".join(line.rstrip() for line in _CONTROL.sub("", cell or "").strip().splitlines()).strip()
    return (t[:limit] + "...") if len(t) > limit else (t or None)
