"""Which entity a dataset row is: the reviewed name mapping (``schema/epoch-names.yaml``), an entity
the knowledge base already names so (id or alias, same kind), or a new entity with a slug id."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import FileFormatError, KBError
from ..yamlio import Fields, read_yaml
from .cells import slug

if TYPE_CHECKING:
    from ..store import Store

KEYS = {"dataset", "name", "entity", "part_of", "configuration"}


@dataclass(frozen=True)
class Placement:
    entity: str
    new: bool  # the import creates the entity
    part_of: str | None = None
    configuration: str | None = None
    mapped: bool = False  # placed by the name mapping (else by id/alias or as a new entity)


def mapping_files(root: Path) -> list[Path]:
    from ..vocabulary import layered_schema_files

    return layered_schema_files(root, "epoch-names.yaml")


def read_mapping(paths: list[Path]) -> dict[tuple[str, str], dict[str, Any]]:
    """(dataset, name case-folded) -> the entry; a later file's entry replaces an earlier one."""
    from ..vocabulary import SHIPPED

    out: dict[tuple[str, str], dict[str, Any]] = {}
    for path in paths:
        shipped = path.resolve().parent == SHIPPED.resolve().parent
        data = read_yaml(path)
        if not isinstance(data, dict) or not isinstance(data.get("names"), list):
            raise FileFormatError("expected a top-level 'names:' list", where=str(path))
        for item in data["names"]:
            f = Fields(item, str(path), "name", KEYS)
            dataset, name = f.req("dataset"), f.req("name")
            if dataset not in ("hardware", "clusters", "models"):
                raise FileFormatError(f"dataset {dataset!r} is not one of: hardware, clusters, models",
                                      where=f.at("dataset"))
            if bool(f.opt("entity")) == bool(f.opt("part_of")):
                raise FileFormatError("give entity: (the row is that entity) or part_of: (a new entity within it)",
                                      where=f.at())
            out[(dataset, " ".join(name.split()).casefold())] = {
                "entity": f.opt("entity"), "part_of": f.opt("part_of"), "configuration": f.opt("configuration"),
                "where": f.at("name"), "shipped": shipped}
    return out


def data_size_names(paths: list[Path]) -> set[str]:
    """Model names (case-folded) whose size counts training data, not parameters (``size_is_data:``)."""
    out: set[str] = set()
    for path in paths:
        data = read_yaml(path)
        items = data.get("size_is_data") if isinstance(data, dict) else None
        if items is None:
            continue
        if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
            raise FileFormatError("'size_is_data' must be a list of model names", where=str(path))
        out |= {" ".join(i.split()).casefold() for i in items}
    return out


class Placer:
    """Places rows on entities, one import at a time (so two rows never claim one new id)."""

    def __init__(self, store: Store, root: Path) -> None:
        self.store = store
        self.mapping = read_mapping(mapping_files(root))
        self.entities = dict(store.entities())
        self.taken: dict[str, str] = {}  # new id -> the name that took it
        self.names: dict[str, str] = {}  # name (case-folded) -> entity, for every name known
        for e in self.entities.values():
            for n in (e["id"], *json.loads(e["aliases"] or "[]")):
                self.names.setdefault(n.casefold(), e["id"])
        for r in store.sql("SELECT alias, entity FROM entity_alias"):
            self.names.setdefault(r["alias"], r["entity"])

    def place(self, dataset: str, kind: str, name: str) -> Placement:
        entry = self.mapping.get((dataset, name.casefold()))
        if entry and entry["shipped"] and (entry["entity"] or entry["part_of"]) not in self.entities:
            entry = None  # the shipped mapping names the shipped entities; a project without them places anew
        if entry and entry["entity"]:
            if entry["entity"] not in self.entities:
                raise KBError(f"the name mapping places {name!r} on entity {entry['entity']!r}, which is not "
                              f"recorded", where=entry["where"])
            return Placement(entry["entity"], False, configuration=entry["configuration"], mapped=True)
        part_of = entry["part_of"] if entry else None
        if part_of and part_of not in self.entities:
            raise KBError(f"the name mapping puts {name!r} in entity {part_of!r}, which is not recorded",
                          where=entry["where"] if entry else None)
        known = self.names.get(name.casefold())
        if known and not part_of and known in self.entities and self.entities[known]["kind"] == kind:
            return Placement(known, False)
        base = slug(name)
        candidate = base
        n = 1
        while True:
            existing = self.entities.get(candidate)
            if candidate in self.taken:
                if self.taken[candidate] == name.casefold():
                    return Placement(candidate, True, part_of, entry["configuration"] if entry else None)
            elif existing is None:
                break
            elif existing["kind"] == kind and existing["name"].casefold() == name.casefold():
                return Placement(candidate, False)  # created by an earlier import of this dataset
            n += 1
            candidate = f"{base}-{kind}" if n == 2 else f"{base}-{kind}-{n - 1}"
        self.taken[candidate] = name.casefold()
        return Placement(candidate, True, part_of, entry["configuration"] if entry else None, mapped=bool(entry))
