"""The property vocabulary: ``schema/properties.yaml`` validated and mirrored into the ``property`` table."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from . import units
from .errors import FileFormatError, KBError
from .yamlio import Fields, read_yaml


def read_properties(path: Path) -> list[dict[str, Any]]:
    data = read_yaml(path)
    if not isinstance(data, dict) or not isinstance(data.get("properties"), list):
        raise FileFormatError("expected a top-level 'properties:' list", where=str(path))
    out: dict[str, dict[str, Any]] = {}
    for item in data["properties"]:
        f = Fields(item, str(path), "property", {"name", "unit", "description"})
        name = f.req("name")
        if name in out:
            raise FileFormatError(f"property {name!r} is declared twice", where=f.at("name"))
        unit = f.opt("unit") or ""
        try:
            units.parse_unit(unit)
        except KBError as exc:
            raise FileFormatError(exc.message, where=f.at("unit")) from None
        out[name] = {
            "name": name,
            "unit": "" if unit == "1" else unit,
            "dimension": units.dimension(unit),
            "si_unit": units.si_unit(unit),
            "description": f.req("description"),
        }
    return list(out.values())


def sync_properties(store: Any, path: Path) -> None:
    """Mirror the vocabulary into the database when the file changed since the last sync."""
    if not path.is_file():
        raise KBError(f"no property vocabulary at {str(path)!r}")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    with store.engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE IF NOT EXISTS _kb_meta (key TEXT PRIMARY KEY, value TEXT)")
        row = conn.exec_driver_sql("SELECT value FROM _kb_meta WHERE key = 'properties_sha256'").first()
        if row and row[0] == digest:
            return
        props = read_properties(path)
        for p in props:
            conn.exec_driver_sql(
                "INSERT INTO property (name, unit, dimension, si_unit, description) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT(name) DO UPDATE SET unit = excluded.unit, dimension = excluded.dimension, "
                "si_unit = excluded.si_unit, description = excluded.description",
                (p["name"], p["unit"], p["dimension"], p["si_unit"], p["description"]),
            )
        store._properties = None  # re-read the vocabulary on next use
        conn.exec_driver_sql(
            "INSERT INTO _kb_meta (key, value) VALUES ('properties_sha256', ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (digest,),
        )
