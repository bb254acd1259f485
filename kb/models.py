"""SQLModel table classes: plain tables that sqlite-utils and Datasette read well.

Lists (authors, aliases) are stored as JSON text. Values are stored as written
(``value_text``, ``unit``), as numbers in that unit (``value``, ``low``,
``high``) and in SI base units (``si_value``, ``si_low``, ``si_high``).
"""

from __future__ import annotations

from functools import cache
from typing import Any

from sqlmodel import Field, SQLModel


class SourceBase(SQLModel):
    title: str
    authors: str = "[]"
    publisher: str | None = None
    url: str | None = None
    archive_url: str | None = None
    published: str | None = None
    accessed: str | None = None
    kind: str = "other"
    text_path: str | None = None


class Source(SourceBase, table=True):
    __tablename__ = "source"
    id: str = Field(primary_key=True)
    recorded_at: str


class EntityBase(SQLModel):
    kind: str
    name: str
    aliases: str = "[]"
    part_of: str | None = Field(default=None, foreign_key="entity.id")


class Entity(EntityBase, table=True):
    __tablename__ = "entity"
    id: str = Field(primary_key=True)
    recorded_at: str


class Property(SQLModel, table=True):
    __tablename__ = "property"
    name: str = Field(primary_key=True)
    unit: str
    dimension: str
    si_unit: str
    description: str
    plausible: str | None = None  # as written, e.g. "1% to 100%"
    plausible_low: float | None = None  # SI
    plausible_high: float | None = None  # SI
    scopes: str | None = None  # JSON list of allowed scope values
    origin: str = "shipped"  # shipped | project (a schema/properties.yaml) | facts (a fact file's properties: list); undeclared (dropped, still used)


class FactBase(SQLModel):
    entity: str = Field(foreign_key="entity.id", index=True)
    property: str = Field(foreign_key="property.name", index=True)
    value_text: str
    unit: str
    interval_kind: str
    value: float
    low: float | None = None
    high: float | None = None
    si_value: float
    si_low: float | None = None
    si_high: float | None = None
    as_of: str | None = None
    as_of_precision: str | None = None
    source: str = Field(foreign_key="source.id", index=True)
    locator: str | None = None
    quote: str | None = None
    method: str = "reported"
    confidence: str = "likely"
    rank: str = "normal"
    rank_reason: str | None = None
    note: str | None = None
    supersedes: str | None = Field(default=None, foreign_key="fact.id", index=True)
    # qualifiers: part of the claim's content; claims that differ in scope, status or configuration
    # are different quantities, not competing values of one
    scope: str | None = None
    status: str | None = None
    configuration: str | None = None
    conditions: str | None = None
    dollar_year: str | None = None
    method_detail: str | None = None
    plausibility: str | None = None  # "accepted": a value outside the property's plausible range, on purpose
    plausibility_reason: str | None = None
    cites: str | None = None  # JSON list of the URLs the source itself cites for this claim (a dataset's row links)


class Fact(FactBase, table=True):
    __tablename__ = "fact"
    id: str = Field(primary_key=True)
    recorded_at: str


class EntityAlias(SQLModel, table=True):
    """Another name for an entity, recorded after the entity (an imported dataset's name for it)."""

    __tablename__ = "entity_alias"
    alias: str = Field(primary_key=True)  # case-folded on lookup
    entity: str = Field(foreign_key="entity.id", index=True)
    source: str | None = Field(default=None, foreign_key="source.id")
    recorded_at: str


class Event(SQLModel, table=True):
    """A change of a fact's rank, recorded instead of an update."""

    __tablename__ = "event"
    id: str = Field(primary_key=True)
    fact: str = Field(foreign_key="fact.id", index=True)
    rank: str
    reason: str
    recorded_at: str


class Render(SQLModel, table=True):
    """One recorded render of a report template (the manifest)."""

    __tablename__ = "render"
    id: str = Field(primary_key=True)
    template: str = Field(index=True)
    scenario: str | None = None
    rendered_at: str
    output_hash: str
    output_path: str | None = None


class RenderNumber(SQLModel, table=True):
    """A number as it appeared in a render, with the result it came from."""

    __tablename__ = "render_number"
    id: int | None = Field(default=None, primary_key=True)
    render: str = Field(foreign_key="render.id", index=True)
    position: int
    kind: str
    ref: str
    scenario: str | None = None
    claims: str | None = None  # JSON {ENTITY.PROPERTY: source} when q() pinned competing claims
    unit: str
    text: str
    value: float | None = None
    low: float | None = None
    high: float | None = None


class RenderInput(SQLModel, table=True):
    """A fact or assumption a render used."""

    __tablename__ = "render_input"
    id: int | None = Field(default=None, primary_key=True)
    render: str = Field(foreign_key="render.id", index=True)
    kind: str
    ref: str
    detail: str | None = None


@cache
def tables() -> dict[str, Any]:
    """Every table of a knowledge base by name (SQLAlchemy ``Table``s), ``_kb_meta`` included."""
    from sqlalchemy import Column, MetaData, String, Table

    found: dict[str, Any] = {str(m.__tablename__): m.__table__ for m in (  # type: ignore[union-attr]
        Source, Entity, Property, Fact, Event, EntityAlias, Render, RenderNumber, RenderInput)}
    found["_kb_meta"] = Table("_kb_meta", MetaData(), Column("key", String, primary_key=True), Column("value", String))
    return found
