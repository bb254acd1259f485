"""Typed rows: the shapes of the tables' rows as they travel through the core (plain dicts at run time)."""

from __future__ import annotations

from typing import TypedDict


class SourceRow(TypedDict):
    id: str
    title: str
    authors: str  # JSON list
    publisher: str | None
    url: str | None
    archive_url: str | None
    published: str | None
    accessed: str | None
    kind: str
    text_path: str | None
    recorded_at: str


class EntityRow(TypedDict):
    id: str
    kind: str
    name: str
    aliases: str  # JSON list
    part_of: str | None
    recorded_at: str


class PropertyRow(TypedDict):
    name: str
    unit: str
    dimension: str
    si_unit: str
    description: str
    plausible: str | None  # as written, e.g. "1% to 100%"
    plausible_low: float | None  # SI
    plausible_high: float | None  # SI
    scopes: str | None  # JSON list of allowed scope values, or None for any slug
    origin: str  # shipped | project (schema/properties.yaml) | facts (a fact file's properties: list)


class FactRow(TypedDict):
    id: str
    entity: str
    property: str
    value_text: str
    unit: str
    interval_kind: str
    value: float
    low: float | None
    high: float | None
    si_value: float
    si_low: float | None
    si_high: float | None
    as_of: str | None
    as_of_precision: str | None
    source: str
    locator: str | None
    quote: str | None
    method: str
    confidence: str
    rank: str
    rank_reason: str | None
    note: str | None
    supersedes: str | None
    scope: str | None
    status: str | None
    configuration: str | None
    conditions: str | None
    dollar_year: str | None
    method_detail: str | None
    plausibility: str | None
    plausibility_reason: str | None
    cites: str | None  # JSON list of URLs
    recorded_at: str


class ClaimRow(FactRow):
    """A fact as a claim at some time: with its effective rank and whether a correction superseded it."""

    effective_rank: str
    effective_reason: str | None
    superseded_by: str | None


class EventRow(TypedDict):
    id: str
    fact: str
    rank: str
    reason: str
    recorded_at: str
