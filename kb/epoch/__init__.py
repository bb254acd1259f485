"""``kb import epoch``: Epoch AI's hardware, cluster and model datasets as sourced claims.

Each non-empty cell of a mapped column (see :mod:`kb.epoch.datasets`) becomes one claim whose source
is the dataset snapshot (publisher Epoch AI, the dataset page, CC BY 4.0), whose locator names the
file, the row and the column, and which keeps the row's own links as the URLs it ``cites``. Rows are
placed on entities by :mod:`kb.epoch.names`. A cell already imported with the same value adds nothing;
one whose value changed supersedes the earlier claim ("revised in <snapshot>"). A cell that does not
parse, or lies outside its property's plausible range, is skipped and reported. One transaction.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import FileFormatError, KBError
from . import cells
from .datasets import METHODS, Column, Dataset, recognise
from .names import Placer

if TYPE_CHECKING:
    from ..store import Store

# The snapshot in the shared data folder (late October / early November 2025), known by content.
KNOWN_SNAPSHOTS = {
    "520f5b6c49e4d253d447599d423789c0301a8edb1b46da7a2f6ecde826000daa": "2025-11",
    "51873fa9c702920a60a1b86fd381fa8603ffb23aff74696eae90e495be893942": "2025-11",
    "f21737d09217c087416112c28013738838ab1ea76991497afc5923f043f2a5bf": "2025-11",
}
LICENCE = "CC BY 4.0"
MAX_CELL = 1_000_000  # characters in one cell (the largest real cell is a few thousand)


@dataclass
class Skipped:
    file: str
    row: str
    column: str
    cell: str
    reason: str


@dataclass
class FileReport:
    file: str
    dataset: str
    snapshot: str
    rows: int = 0
    claims: int = 0  # claims the file's cells make (new, revised or already recorded)
    new_entities: list[str] = field(default_factory=list)


@dataclass
class ImportReport:
    files: list[FileReport] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    added: dict[str, int] = field(default_factory=dict)
    revised: int = 0
    unchanged: int = 0  # cells already recorded with this value
    older: int = 0  # cells of an older snapshot than the one recorded (not imported)
    fact_ids: list[str] = field(default_factory=list)  # the claims added (or that a dry run would add)
    notes: list[str] = field(default_factory=list)  # what the files lack that the import would use


def source_id(dataset: Dataset, snapshot: str) -> str:
    return f"epoch-{dataset.key}-{snapshot}"


def _snapshot(data: bytes, given: str | None, label: str) -> str:
    if given:
        if not re.fullmatch(r"[0-9]{4}-[0-9]{2}(-[0-9]{2})?", given):
            raise KBError(f"--snapshot {given!r} must be a date such as 2025-11 or 2025-11-03")
        return given
    known = KNOWN_SNAPSHOTS.get(hashlib.sha256(data).hexdigest())
    if known is None:
        raise KBError(f"{label}: not a snapshot this version knows; give --snapshot YYYY-MM (when it was downloaded)")
    return known


def read_file(path: Path, snapshot: str | None) -> tuple[Dataset, str, list[dict[str, str]]]:
    """The dataset a CSV file holds (by its header), its snapshot date, and its rows."""
    label = str(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise KBError(f"cannot read {label!r}: {exc.strerror}") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise FileFormatError("not UTF-8 text; expected one of Epoch AI's CSV downloads", where=label) from None
    csv.field_size_limit(MAX_CELL)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)  # an unterminated quote is an error
    try:
        header = next(reader, [])
        matches = recognise(header)
        if not matches:
            raise FileFormatError("not one of Epoch AI's datasets (no header of ml_hardware.csv, gpu_clusters.csv "
                                  "or notable_ai_models.csv)", where=label)
        if len(matches) > 1:
            raise FileFormatError(f"the header has the columns of {' and '.join(d.file for d in matches)}; "
                                  "give one dataset per file", where=label)
        dataset = matches[0]
        twice = sorted({h for h in header if h and header.count(h) > 1})
        if twice:
            raise FileFormatError(f"column {twice[0]!r} appears twice in the header", where=label)
        rows = [dict(zip(header, r)) for r in reader if any(c.strip() for c in r)]
    except csv.Error as exc:
        raise FileFormatError(f"not valid CSV at line {reader.line_num}: {exc}", where=label) from None
    return dataset, _snapshot(data, snapshot, label), rows


def _note(*parts: str | None) -> str | None:
    kept = [p for p in parts if p]
    return "\n\n".join(kept) or None


def _labelled(column: str, row: Mapping[str, str]) -> str | None:
    """A note cell with the column it comes from (``Certainty Note: Reported to be online by Musk``)."""
    text = cells.text(row.get(column))
    return f"{column}: {text}" if text else None


def _conditions(col: Column, row: Mapping[str, str]) -> str | None:
    if callable(col.conditions):
        return col.conditions(row)
    named = " ".join((row.get(col.conditions) or "").split()) if col.conditions else ""
    return f"of {named}" if named else None


class _Builder:
    """Turns the rows of one file into sources, entities, aliases and fact specs."""

    def __init__(self, store: Store, placer: Placer, report: ImportReport) -> None:
        self.store = store
        self.placer = placer
        self.report = report
        self.sources: dict[str, dict[str, Any]] = {}
        self.entities: dict[str, dict[str, Any]] = {}
        self.aliases: dict[str, dict[str, Any]] = {}
        self.facts: list[dict[str, Any]] = []
        self.properties = store.properties()
        self._earlier: dict[tuple[str, str, str], Mapping[str, Any]] | None = None
        self.snapshot = ""

    def earlier(self) -> dict[tuple[str, str, str], Mapping[str, Any]]:
        """Active claims from any snapshot of Epoch's datasets, by (entity, property, locator)."""
        if self._earlier is None:
            from ..claims import is_active

            self._earlier = {(c["entity"], c["property"], c["locator"] or ""): c
                             for c in self.store.claims(None, None) if c["source"].startswith("epoch-")
                             and is_active(c)}
        return self._earlier

    def file(self, path: Path, dataset: Dataset, snapshot: str, rows: list[dict[str, str]]) -> FileReport:
        src = source_id(dataset, snapshot)
        self.snapshot = snapshot
        self.sources[src] = {
            "id": src, "title": f"{dataset.title} ({snapshot} snapshot, {LICENCE})", "publisher": "Epoch AI",
            "url": dataset.url, "published": snapshot, "kind": "dataset"}
        fr = FileReport(str(path), dataset.key, snapshot, rows=len(rows))
        seen: dict[str, int] = {}
        for number, row in enumerate(rows, start=1):
            name = cells.clean_name(row.get(dataset.name) or "")
            if not name:
                self.report.skipped.append(Skipped(str(path), f"(row {number})", dataset.name, "",
                                                   "a row without a name"))
                continue
            # Two rows of one name are two things: the second is "NAME (2)", by its order among rows of that
            # name (not its line, which a row inserted above it would change)
            seen[name.casefold()] = seen.get(name.casefold(), 0) + 1
            if seen[name.casefold()] > 1:
                name = f"{name} ({seen[name.casefold()]})"
            self.row(path, dataset, src, name, row, fr)
        return fr

    def row(self, path: Path, dataset: Dataset, src: str, name: str, row: Mapping[str, str], fr: FileReport) -> None:
        place = self.placer.place(dataset.key, dataset.kind, name)
        if place.new and place.entity not in self.entities:
            self.entities[place.entity] = {"id": place.entity, "kind": dataset.kind, "name": name,
                                           "aliases": [name] if name.casefold() not in self.placer.names else [],
                                           "part_of": place.part_of}
            self.placer.names.setdefault(name.casefold(), place.entity)
            fr.new_entities.append(name)
        elif not place.new and name.casefold() not in self.placer.names:
            self.aliases[name.casefold()] = {"alias": name, "entity": place.entity, "source": src}
            self.placer.names[name.casefold()] = place.entity
        try:
            as_of = cells.date(row.get(dataset.date))
        except cells.BadCell as exc:
            self.report.skipped.append(Skipped(str(path), name, dataset.date, (row.get(dataset.date) or "").strip(),
                                               f"{exc}; the row's claims have no as-of"))
            as_of = None
        links = [u for col in dataset.row_links for u in cells.urls(row.get(col))]
        row_note = _note(*(_labelled(c, row) for c in dataset.row_notes))
        confidence = cells.confidence(row.get(dataset.confidence)) if dataset.confidence else "unset"
        status = cells.status(row.get(dataset.status)) if dataset.status else None
        for col in dataset.columns:
            cell = (row.get(col.header) or "").strip()
            if not cell or (col.only_if and not col.only_if(row)):
                continue
            try:
                x = cells.number(cell)
            except cells.BadCell as exc:
                self.report.skipped.append(Skipped(str(path), name, col.header, cell, str(exc)))
                continue
            spec = self.spec(dataset, src, name, place, row, col, x, as_of, links, row_note, confidence, status)
            if spec is None:
                fr.claims += 1  # recorded already, with this value
                continue
            problem = self.implausible(spec)
            if problem:
                self.report.skipped.append(Skipped(str(path), name, col.header, cell, problem))
                continue
            fr.claims += 1
            self.facts.append(spec)

    def spec(self, dataset: Dataset, src: str, name: str, place: Any, row: Mapping[str, str], col: Column,
             x: float, as_of: str | None, links: list[str], row_note: str | None, confidence: str,
             status: str | None) -> dict[str, Any] | None:
        value = x * col.scale
        value_text, unit = cells.prefixed(value, col.unit)
        locator = f'{dataset.file}, row "{name}", column "{col.header}"'
        method, detail = col.method, None
        if dataset.method_column and col.prop == "training_compute" and (row.get(dataset.method_column) or "").strip():
            detail = " ".join(row[dataset.method_column].split())
            first = detail.split(",")[0].strip().casefold()
            method = METHODS.get(first, "estimated")
        note = _note(_labelled(col.note, row) if col.note else None, row_note,
                     f"{cells.written(x)} (a fraction) in the dataset." if col.scale != 1.0 else None)
        quote = cells.text(row.get(col.quote or dataset.quote or ""), 1000) if (col.quote or dataset.quote) else None
        spec: dict[str, Any] = {
            "entity": place.entity, "property": col.prop, "value": value_text, "unit": unit,
            "source": src, "locator": locator, "quote": quote, "as_of": as_of, "method": method,
            "confidence": confidence, "note": note, "status": status, "configuration": place.configuration or (col.configuration(row) if col.configuration else None),
            "dollar_year": col.dollar_year, "method_detail": detail,
            "conditions": _conditions(col, row), "scope": col.scope,
            "cites": [*links, *[u for c in col.cites for u in cells.urls(row.get(c))]] or None,
        }
        spec = {k: v for k, v in spec.items() if v is not None}
        old = self.earlier().get((place.entity, col.prop, locator))
        if old is not None and old["source"] > src:  # epoch-<dataset>-<snapshot>: a later snapshot's claim
            self.report.older += 1
            return None  # an older snapshot does not revise a newer one
        if old is not None:
            from ..units import si_factor

            if abs(old["si_value"] - value * si_factor(col.unit)) <= 1e-9 * abs(old["si_value"]) and \
                    old["interval_kind"] == "exact":
                self.report.unchanged += 1
                return None  # the same value as an earlier import of this cell: nothing to add
            spec["supersedes"] = old["id"]
            spec["rank_reason"] = f"revised in the {self.snapshot} snapshot"
            self.report.revised += 1
        return spec

    def implausible(self, spec: Mapping[str, Any]) -> str | None:
        """Why a value lies outside its property's plausible range, if it does."""
        from ..units import si_factor

        prop = self.properties.get(spec["property"])
        if prop is None:
            raise KBError(f"property {spec['property']!r} is not in the vocabulary; the Epoch import needs it")
        from ..claims import outside_plausible

        if outside_plausible(prop, float(spec["value"]) * si_factor(spec["unit"])):
            return f"outside the plausible range of {prop['name']} ({prop['plausible']})"
        return None


def import_files(store: Store, root: Path, paths: list[Path], *, snapshot: str | None = None,
                 dry_run: bool = False, strict: bool = False) -> ImportReport:
    """Import Epoch AI CSV files into ``store``: all of them in one transaction, or nothing."""
    from ..load import load_specs

    report = ImportReport()
    builder = _Builder(store, Placer(store, root), report)
    seen: dict[str, Path] = {}
    for path in paths:
        dataset, snap, rows = read_file(path, snapshot)
        if dataset.key in seen:
            raise KBError(f"{path}: a second {dataset.file} in one import (the first was {seen[dataset.key]}); "
                          "import snapshots one after the other")
        seen[dataset.key] = path
        report.files.append(builder.file(path, dataset, snap, rows))
        if dataset.method_column and rows and dataset.method_column not in rows[0]:
            report.notes.append(f"{path}: no {dataset.method_column!r} column, so every training-compute claim "
                                "is method estimated (the dataset does not say which were reported)")
    if strict and report.skipped:
        s = report.skipped[0]
        raise KBError(f"{len(report.skipped)} cell(s) cannot be imported (--strict); the first: {s.file}, "
                      f"row {s.row!r}, column {s.column!r}: {s.cell!r} is {s.reason}")
    cited = {f["source"] for f in builder.facts} | {a["source"] for a in builder.aliases.values()}  # a file with no new claims (a header only) adds no source
    sources = [src for src in builder.sources.values() if src["id"] in cited]
    loaded = load_specs(store, sources=sources, entities=list(builder.entities.values()),
                        aliases=list(builder.aliases.values()), facts=builder.facts, dry_run=dry_run)
    report.added = loaded.added
    report.fact_ids = loaded.fact_ids
    report.unchanged += len(builder.facts) - loaded.added["facts"]  # claims only, not sources or entities
    return report
