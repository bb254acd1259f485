"""Charts as PNG or SVG files (matplotlib, Agg backend): a sweep's line chart or heatmap, a Monte Carlo
histogram with its percentiles marked, and a sensitivity tornado. Axes are labelled in display units."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import KBError

if TYPE_CHECKING:
    from .engine import Swing
    from .sweep import Sweep

FORMATS = (".png", ".svg")
MAX_LINES = 10  # a second axis with more values than this is drawn as a heatmap


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _check_path(path: Path) -> None:
    if path.suffix.lower() not in FORMATS:
        raise KBError(f"--plot {str(path)!r}: give a .png or .svg file name")


def _label(name: str, unit: str) -> str:
    return f"{name} ({unit})" if unit else name


def _save(fig: Any, path: Path | None) -> bytes:
    """The figure as PNG or SVG bytes, written atomically to ``path`` if given (PNG when ``path`` is None)."""
    import io

    fmt = path.suffix.lower()[1:] if path is not None else "png"
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=120, bbox_inches="tight", metadata={"Software": None} if fmt == "png" else None)
    _pyplot().close(fig)
    data = buf.getvalue()
    if path is not None:
        write_bytes(path, data)
    return data


def write_bytes(path: Path, data: bytes) -> None:
    """A binary file whole or not at all (the one atomic writer, :func:`kb.yamlio.write_chunks`)."""
    from .yamlio import write_chunks

    write_chunks(path, [data], binary=True)


def sweep_chart(s: Sweep, path: Path | None = None) -> bytes:
    """One axis: a line. Two: a family of lines (up to 10 values of the second), else a heatmap."""
    if path is not None:
        _check_path(path)
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    x = s.axes[0]
    if len(s.axes) == 1:
        ax.plot(x.values, s.values, marker="o" if len(x.values) <= 30 else None)
        ax.set_ylabel(_label(s.query, s.unit))
    elif len(s.axes[1].values) <= MAX_LINES:
        y = s.axes[1]
        for j, v in enumerate(y.values):
            ax.plot(x.values, s.values[:, j], label=f"{y.name} = {v:.4g} {y.unit}".rstrip())
        ax.set_ylabel(_label(s.query, s.unit))
        ax.legend(fontsize="small")
    else:
        y = s.axes[1]
        # a vector file embeds the mesh as one image (a cell per path made a 1000 x 1000 sweep a 190 MB SVG)
        mesh = ax.pcolormesh(x.values, y.values, s.values.T, shading="auto", rasterized=True)
        fig.colorbar(mesh, ax=ax, label=_label(s.query, s.unit))
        ax.set_ylabel(_label(y.name, y.unit))
        if y.log:
            ax.set_yscale("log")
    ax.set_xlabel(_label(x.name, x.unit))
    if x.log:
        ax.set_xscale("log")
    ax.set_title(f"{s.query} [{s.scenario}]")
    ax.grid(True, alpha=0.3)
    return _save(fig, path)


def histogram(values: np.ndarray, unit: str, query: str, scenario: str, path: Path | None = None) -> bytes:
    """The samples' histogram with p5, p50 and p95 marked."""
    if path is not None:
        _check_path(path)
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.hist(values, bins=60, color="#7a9cc6")
    for q, style in ((5, ":"), (50, "-"), (95, ":")):
        v = float(np.percentile(values, q))
        ax.axvline(v, color="black", linestyle=style, linewidth=1)
        ax.annotate(f"p{q} {v:.3g}", (v, ax.get_ylim()[1] * 0.95), rotation=90, va="top", ha="right", fontsize="small")
    ax.set_xlabel(_label(query, unit))
    ax.set_ylabel("samples")
    ax.set_title(f"{query} [{scenario}]: {values.size} samples")
    return _save(fig, path)


def tornado(swings: list[Swing], point: float, unit: str, query: str, scenario: str, path: Path,
            factor: float) -> None:
    """One bar per input from the result at its low end to the result at its high end, largest on top."""
    _check_path(path)
    if not swings:
        raise KBError(f"{query} [{scenario}] has no ranged input with two finite ends: no tornado to draw")
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 1 + 0.5 * len(swings)))
    for i, w in enumerate(reversed(swings)):
        lo, hi = sorted((w.at_low / factor, w.at_high / factor))
        ax.barh(i, hi - lo, left=lo, color="#c67a7a")
    ax.set_yticks(range(len(swings)), [w.name for w in reversed(swings)])
    ax.axvline(point / factor, color="black", linewidth=1)
    ax.set_xlabel(_label(query, unit))
    ax.set_title(f"{query} [{scenario}]: one-at-a-time swings")
    _save(fig, path)
