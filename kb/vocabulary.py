"""The property vocabulary: the shipped ``schema/properties.yaml``, a project's additions, and ``properties:``
lists in fact files, validated and mirrored into the ``property`` table.

Layers, each adding to the one before: the shipped vocabulary (always there), the project root's
``schema/properties.yaml`` (if the root is not the checkout), then properties declared in fact files
(stored with the facts that need them, and exported with them). A later layer may re-declare a property
to change its display unit, description, plausible range or scopes (what it does not restate it keeps),
but not its dimension; two fact files that declare one property differently are refused. ``origin``
says which layer a property's current declaration comes from: shipped, project or facts.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from . import db, units
from .errors import ConflictError, FileFormatError, KBError
from .rows import PropertyRow
from .shipped import SCHEMA_DIR
from .yamlio import Fields, read_yaml

if TYPE_CHECKING:
    from .store import Store

SHIPPED = SCHEMA_DIR / "properties.yaml"
PROPERTY_KEYS = {"name", "unit", "description", "plausible", "scopes"}
_NAME = re.compile(r"[a-z][a-z0-9_]*")
SLUG = re.compile(r"[a-z0-9][a-z0-9._-]*")


_SYNC_VERSION = b"origins:shipped,project,facts;"  # changing it re-reads the schema files into every database


def layered_schema_files(root: Path, name: str) -> list[Path]:
    """A schema file as the checkout ships it, then the project's own (if the root is not the checkout)."""
    shipped = SHIPPED.parent / name
    own = root / "schema" / name
    files = [shipped] if shipped.is_file() else []
    if own.is_file() and (not files or own.resolve() != shipped.resolve()):
        files.append(own)
    return files


def vocabulary_files(root: Path) -> list[Path]:
    """The schema files that make up a project's vocabulary, shipped first."""
    return layered_schema_files(root, "properties.yaml")


def property_row(f: Fields, origin: str, base: PropertyRow | None = None) -> PropertyRow:
    """One declaration (from a schema file or a fact file's ``properties:``) checked into a row.

    ``base`` is the declaration this one re-declares: what this one does not restate (unit, description,
    plausible range, scopes) it keeps, and it may not change the dimension.
    """
    name = f.req("name")
    if not _NAME.fullmatch(name):
        raise FileFormatError(f"property name {name!r} must be lower-case letters, digits and '_' "
                              "(e.g. dense_fp8_flops)", where=f.at("name"))
    if base is not None and "unit" not in f.data:
        unit = base["unit"]
    else:
        unit = f.opt("unit") or ""
    unit = "" if unit == "1" else unit
    try:
        units.check_unit(unit)
    except KBError as exc:
        raise FileFormatError(exc.message, where=f.at("unit")) from None
    plausible = f.opt("plausible")
    low = high = None
    if plausible:
        try:
            low, high = plausible_bounds(plausible, unit, name)
        except KBError as exc:
            raise FileFormatError(exc.message, where=f.at("plausible")) from None
    scopes = f.text_list("scopes")
    for s in scopes:
        if not SLUG.fullmatch(s):
            raise FileFormatError(f"scope {s!r} must be a slug such as 'it-load'", where=f.at("scopes"))
    row: PropertyRow = {
        "name": name, "unit": unit, "dimension": units.dimension(unit), "si_unit": units.si_unit(unit),
        "description": f.req("description") if base is None or "description" in f.data else base["description"],
        "plausible": plausible or None, "plausible_low": low,
        "plausible_high": high, "scopes": json.dumps(scopes) if scopes else None, "origin": origin,
    }
    if base is not None:
        if base["dimension"] != row["dimension"]:
            raise FileFormatError(
                f"property {name!r} is already in the vocabulary with unit {base['unit'] or 'a plain count'!r} "
                f"(dimension {base['dimension']}), not {unit or 'a plain count'!r}; give yours another name",
                where=f.at("unit") if "unit" in f.data else f.at("name"))
        if "plausible" not in f.data:
            row["plausible"], row["plausible_low"], row["plausible_high"] = (
                base["plausible"], base["plausible_low"], base["plausible_high"])
        if "scopes" not in f.data:
            row["scopes"] = base["scopes"]
    return row


def plausible_bounds(text: str, unit: str, name: str) -> tuple[float | None, float | None]:
    """``1 GFLOP/s to 100 PFLOP/s``, ``1% to 100%``, ``1 to 3``, ``>= 1``: SI bounds (None where open).

    The range grammar is the one values and ``--set`` use (a unit on both ends, or once after both numbers);
    a number without a unit is in the property's unit."""
    value, given = units.parse_quantity(text)
    given = given or unit
    units.check_dimension(given, unit, f"the plausible range of {name}")
    factor = units.si_factor(given)
    if value.kind == "range":
        assert value.low is not None and value.high is not None
        return value.low * factor, value.high * factor
    if value.kind not in ("at_least", "at_most"):
        raise KBError(f"plausible {text!r} must be a range ('1 W to 5 kW', '1% to 100%') or a bound ('>= 1')")
    return (None if value.low is None else value.low * factor), (None if value.high is None else value.high * factor)


_READ: dict[tuple[tuple[str, bytes], ...], dict[str, PropertyRow]] = {}  # by the files' origins and contents


def read_properties(paths: list[Path]) -> dict[str, PropertyRow]:
    """The vocabulary the schema files declare, later files adding to (or adjusting) earlier ones. Read and
    checked once per process for each content of the files (a command that creates a database syncs twice)."""
    key = tuple((_origin(p), hashlib.sha256(p.read_bytes()).digest()) for p in paths)
    if key not in _READ:
        if len(_READ) > 16:
            _READ.clear()
        _READ[key] = _read_properties(paths)
    return {name: cast(PropertyRow, dict(row)) for name, row in _READ[key].items()}


def _origin(path: Path) -> str:
    return "shipped" if path.resolve() == SHIPPED.resolve() else "project"


def _read_properties(paths: list[Path]) -> dict[str, PropertyRow]:
    out: dict[str, PropertyRow] = {}
    for path in paths:
        data = read_yaml(path)
        if not isinstance(data, dict) or not isinstance(data.get("properties"), list):
            raise FileFormatError("expected a top-level 'properties:' list", where=str(path))
        seen: set[str] = set()
        origin = _origin(path)
        for item in data["properties"]:
            f = Fields(item, str(path), "property", PROPERTY_KEYS)
            name = item.get("name") if isinstance(item, dict) else None
            if isinstance(name, str) and name in seen:
                raise FileFormatError(f"property {name!r} is declared twice", where=f.at("name"))
            row = property_row(f, origin, out.get(name) if isinstance(name, str) else None)
            seen.add(row["name"])
            out[row["name"]] = row
    return out


def same_declaration(a: PropertyRow, b: PropertyRow) -> bool:
    keys = ("unit", "description", "plausible", "scopes")
    return all((a.get(k) or None) == (b.get(k) or None) for k in keys)


def check_declared(row: PropertyRow, existing: PropertyRow | None, where: str, earlier: str | None = None) -> bool:
    """A fact file's declaration: new or a re-declaration of a schema file's property (True), the same as
    the recorded one (False), or a conflict with another fact file's declaration (``earlier`` names where)."""
    if existing is None or existing["origin"] != "facts":
        return existing is None or not same_declaration(row, existing)
    if same_declaration(row, existing):
        return False
    other = f"in {earlier}" if earlier else "in a fact file already loaded"
    raise ConflictError(f"property {row['name']!r} is already declared {other} with unit "
                        f"{existing['unit'] or 'a plain count'!r} and another description, range or scopes; "
                        "make the two declarations agree, drop one, or give the property another name", where=where)


def sync_properties(store: Store, root: Path) -> None:
    """Mirror the schema files into the database when they changed since the last sync."""
    files = vocabulary_files(root)
    if not files:
        raise KBError(f"no property vocabulary at {str(root / 'schema' / 'properties.yaml')!r}")
    digest = hashlib.sha256(_SYNC_VERSION + b"".join(hashlib.sha256(p.read_bytes()).digest() for p in files)).hexdigest()
    if store.url is None and _synced(store) == digest:  # a read: no write transaction (nor SQLAlchemy) needed
        return
    with store.engine.begin() as conn:
        db.ensure_meta(conn)
        row = db.run(conn, "SELECT value FROM _kb_meta WHERE key = 'properties_sha256'").first()
        if row and row[0] == digest:
            return
        props = read_properties(files)
        declared_in_facts = {r[0] for r in db.run(conn, "SELECT name FROM property WHERE origin = 'facts'")}
        for p in props.values():
            if p["name"] not in declared_in_facts:  # a fact file's re-declaration is the last layer; it stays
                store.upsert_property(conn, p)
        # A property the schema files no longer declare leaves the vocabulary: ``kb add`` refuses it again, and
        # ``kb check`` names the stored claims that still use it (their row stays, marked, for the foreign key).
        for (name,) in db.run(conn, "SELECT name FROM property WHERE origin != 'facts'").fetchall():
            if name not in props:
                used = db.run(conn, "SELECT 1 FROM fact WHERE property = ? LIMIT 1", (name,)).first()
                if used:
                    db.run(conn, "UPDATE property SET origin = 'undeclared' WHERE name = ?", (name,))
                else:
                    db.run(conn, "DELETE FROM property WHERE name = ?", (name,))
        db.run(conn,
            "INSERT INTO _kb_meta (key, value) VALUES ('properties_sha256', ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (digest,),
        )
    store.refresh_properties()


def _synced(store: Store) -> str | None:
    """The digest of the schema files last mirrored into a SQLite store, read without a write transaction."""
    import sqlite3

    try:
        rows = store.sql("SELECT value FROM _kb_meta WHERE key = 'properties_sha256'")
    except sqlite3.Error:
        return None  # no _kb_meta yet
    return rows[0]["value"] if rows else None


def vocabulary(store: Store) -> dict[str, PropertyRow]:
    """What the vocabulary holds now: the schema files' declarations plus those loaded from fact files."""
    props = read_properties(vocabulary_files(store.root))
    for name, row in store.properties().items():
        if row["origin"] == "facts":  # the last layer: new properties and re-declarations from fact files
            props[name] = row
    return props


def scopes_of(prop: PropertyRow) -> list[str]:
    return list(json.loads(prop.get("scopes") or "[]"))


def plausible_text(prop: PropertyRow) -> str:
    return f"{prop['plausible']}" if prop.get("plausible") else ""


def describe(prop: PropertyRow) -> dict[str, Any]:
    """The JSON shape of one property (``kb properties --json``)."""
    return {"name": prop["name"], "unit": prop["unit"], "dimension": prop["dimension"], "si_unit": prop["si_unit"],
            "description": prop["description"], "plausible": prop.get("plausible"), "scopes": scopes_of(prop),
            "origin": prop["origin"]}
