"""Queries and scenarios as frozen data, read strictly from ``queries/*.yaml`` and ``scenarios/*.yaml``.

Evaluation lives in ``kb.engine``; this module only parses and checks what can be
checked without the database: formulas, units, dimensions, references between
queries and scenarios, and cycles.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import formula, units
from .claims import split_ref
from .errors import DimensionError, EvaluationError, FileFormatError, KBError, NotFoundError
from .formula import Node
from .selection import COMBINE, PIN_KEYS
from .values import Value
from .yamlio import Fields, YMap, read_yaml

NAME = re.compile(r"^[A-Za-z_][A-Za-z_0-9]*$")
SCENARIO_ID = re.compile(r"^[a-z0-9][a-z0-9._-]*$")


@dataclass(frozen=True)
class InputDecl:
    name: str
    unit: str | None  # None: taken from the default query
    description: str
    query: str | None = None  # default binding: this query, in the same scenario


@dataclass(frozen=True)
class QueryDef:
    name: str
    description: str
    inputs: tuple[InputDecl, ...]
    formula: str
    tree: Node = field(compare=False)
    unit: str
    display_unit: str
    where: str

    def input(self, name: str) -> InputDecl:
        for i in self.inputs:
            if i.name == name:
                return i
        raise NotFoundError("input", name, [i.name for i in self.inputs], where=f"query {self.name}")


@dataclass(frozen=True)
class Binding:
    """How a scenario supplies one input: a fact (claims of ENTITY.PROPERTY), an assumption, or a query."""

    name: str
    kind: str  # fact | assumption | query
    where: str
    fact: str | None = None  # entity.property
    pins: tuple[tuple[str, str], ...] = ()  # (key, value): source, locator, as_of, a qualifier, id, ...
    combine: str | None = None  # min | max | median | geomean | span: several claims as one input
    use: str = "interval"  # interval | point
    value: Value | None = None
    unit: str = ""
    reason: str | None = None
    source: str | None = None  # an assumption's cited source
    locator: str | None = None
    quote: str | None = None
    query: str | None = None
    scenario: str | None = None
    distribution: str | None = None  # under --samples: uniform | loguniform | normal | lognormal (a range's shape)

    @property
    def pin_map(self) -> dict[str, str]:
        return dict(self.pins)


@dataclass(frozen=True)
class ScenarioDef:
    name: str
    description: str
    extends: str | None
    bindings: dict[str, Binding]
    queries: tuple[str, ...]
    where: str


def _read_list(path: Path, key: str, root: Path) -> tuple[str, list[Any]]:
    try:
        label = str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        label = str(path)
    data = read_yaml(path, label=label)
    if data is None:
        return label, []
    if not isinstance(data, YMap) or set(data) != {key} or not isinstance(data[key], list):
        raise FileFormatError(f"expected one top-level '{key}:' list", where=label)
    return label, data[key]


@contextmanager
def _collecting(problems: list[KBError] | None) -> Iterator[None]:
    """Strict (``problems`` is None): errors raise. Lenient (``kb check``): each is kept, and the
    entry it concerns is skipped, so one run lists every problem."""
    try:
        yield
    except KBError as exc:
        if problems is None:
            raise
        problems.append(exc)


def read_queries(folder: Path, root: Path, problems: list[KBError] | None = None) -> dict[str, QueryDef]:
    raw: dict[str, tuple[Fields, dict[str, InputDecl]]] = {}
    for path in sorted(folder.glob("*.yaml")) if folder.is_dir() else []:
        items: list[Any] = []
        with _collecting(problems):
            label, items = _read_list(path, "queries", root)
        for item in items:
            with _collecting(problems):
                f = Fields(item, label, "query", {"name", "description", "inputs", "formula", "unit", "display_unit"})
                name = f.req("name")
                if not NAME.match(name):
                    raise FileFormatError(f"query name {name!r} must be a word (letters, digits, _)", where=f.at("name"))
                if name in raw:
                    raise FileFormatError(f"query {name!r} is declared twice (also {raw[name][0].at('name')})", where=f.at("name"))
                raw[name] = (f, _inputs(f, name))
    queries: dict[str, QueryDef] = {}
    for name, (f, inputs) in raw.items():
        with _collecting(problems):
            for decl in inputs.values():
                if decl.query and decl.query not in raw:
                    raise NotFoundError("query", decl.query, list(raw), where=f"{f.at('inputs')} query {name} input {decl.name}")
            unit = f.opt("unit") or ""
            try:
                units.check_unit(unit)
                display = f.opt("display_unit") or unit
                units.check_dimension(display, unit, "display_unit")
            except KBError as exc:
                raise exc.at(f"{f.at('unit')} query {name}") from None
            text = f.req("formula")
            try:
                tree = formula.parse(text, set(inputs))
            except KBError as exc:
                raise exc.at(f"{f.at('formula')} query {name}") from None
            unused = sorted(set(inputs) - formula.names_in(tree))
            if unused:
                raise FileFormatError(f"input {unused[0]!r} is declared but not used in the formula", where=f"{f.at('inputs')} query {name}")
            queries[name] = QueryDef(name, f.req("description"), tuple(inputs.values()), text, tree, unit, display, f.at("name"))
    checked: dict[str, QueryDef] = {}
    pending = dict(queries)
    while pending:  # a query whose sub-query has errors is skipped too (lenient mode only)
        progress = False
        for name, q in list(pending.items()):
            needs = [d.query for d in q.inputs if d.query]
            failed = [n for n in needs if n not in pending and n not in checked]  # errors, or not read at all
            if failed or all(n in checked for n in needs if n != name):
                del pending[name]
                progress = True
                with _collecting(problems):
                    if failed:
                        raise EvaluationError(f"query {name} uses a query with errors", where=q.where)
                    check_query_dimensions(q, queries)
                    checked[name] = q
        if not progress:
            for q in pending.values():  # a cycle: let the dimension check name it
                with _collecting(problems):
                    check_query_dimensions(q, queries)
                    checked[q.name] = q
            break
    return checked


def _inputs(f: Fields, query: str) -> dict[str, InputDecl]:
    data = f.raw("inputs")
    if data is None:
        return {}
    if not isinstance(data, YMap):
        raise FileFormatError("'inputs' must be a mapping of input name to {unit, description} or {query}", where=f.at("inputs"))
    out = {}
    for name, spec in data.items():
        where = f"{f.file}:{data.line_of(name)}"
        if not NAME.match(name):
            raise FileFormatError(f"input name {name!r} must be a word", where=where)
        g = Fields(spec, f.file, f"input {name} of query {query}", {"unit", "description", "query"})
        unit = g.opt("unit")
        if unit is None and not g.opt("query"):
            raise FileFormatError(f"input {name!r} needs a 'unit' (\"\" for a count) or a 'query'", where=where)
        if unit is not None:
            try:
                units.check_unit(unit)
            except KBError as exc:
                raise exc.at(where) from None
        out[name] = InputDecl(name, None if unit is None else ("" if unit == "1" else unit),
                              g.opt("description") or "", g.opt("query"))
    return out


def input_unit(q: QueryDef, decl: InputDecl, queries: dict[str, QueryDef]) -> str:
    if decl.unit is not None:
        return decl.unit
    assert decl.query is not None
    return queries[decl.query].unit


def check_query_dimensions(q: QueryDef, queries: dict[str, QueryDef]) -> None:
    """The formula's dimension must be the declared unit's; input/query units must agree."""
    where = f"{q.where} query {q.name}"
    dims = {}
    for decl in q.inputs:
        unit = input_unit(q, decl, queries)
        if decl.query and not units.same_dimension(unit, queries[decl.query].unit):
            raise DimensionError(f"input {decl.name} (query {decl.query})", units.dimension(unit),
                                 units.dimension(queries[decl.query].unit), where=where)
        dims[decl.name] = units.dimensionality(unit)
    got = formula.infer(q.tree, dims, where)
    want = units.dimensionality(q.unit)
    if got != want:
        raise DimensionError(f"formula '{q.formula}'", str(want) if want else "dimensionless",
                             str(got) if got else "dimensionless", where=where,
                             hint=f"the result must be in {q.unit or 'a plain count'!r}")


def read_scenarios(folder: Path, root: Path, queries: dict[str, QueryDef],
                   problems: list[KBError] | None = None) -> dict[str, ScenarioDef]:
    scenarios: dict[str, ScenarioDef] = {}
    for path in sorted(folder.glob("*.yaml")) if folder.is_dir() else []:
        items: list[Any] = []
        with _collecting(problems):
            label, items = _read_list(path, "scenarios", root)
        for item in items:
            with _collecting(problems):
                f = Fields(item, label, "scenario", {"name", "description", "extends", "bindings", "queries"})
                name = f.req("name")
                if not SCENARIO_ID.match(name):
                    raise FileFormatError(f"scenario name {name!r} must be lowercase letters, digits, '.', '-' or '_'", where=f.at("name"))
                if name in scenarios:
                    raise FileFormatError(f"scenario {name!r} is declared twice (also {scenarios[name].where})", where=f.at("name"))
                listed = tuple(f.text_list("queries"))
                for qn in listed:
                    if qn not in queries:
                        raise NotFoundError("query", qn, list(queries), where=f"{f.at('queries')} scenario {name}")
                scenarios[name] = ScenarioDef(name, f.req("description"), f.opt("extends"), _bindings(f, name, queries),
                                              listed, f.at("name"))
    dropped = True
    while dropped:  # lenient mode drops a scenario whose chain is broken, then those that extend or use it
        dropped = False
        for s in list(scenarios.values()):
            try:
                _check_chain(s, scenarios)
            except KBError as exc:
                if problems is None:
                    raise
                problems.append(exc)
                del scenarios[s.name]
                dropped = True
    return scenarios


def _check_chain(s: ScenarioDef, scenarios: dict[str, ScenarioDef]) -> None:
    """What it extends exists, without a cycle; a query binding's other scenario exists."""
    chain = [s.name]
    cur = s
    while cur.extends:
        if cur.extends not in scenarios:
            raise NotFoundError("scenario", cur.extends, list(scenarios), where=f"{cur.where} extends")
        if cur.extends in chain:
            raise EvaluationError(f"scenarios extend each other in a cycle: {' -> '.join(chain + [cur.extends])}", where=s.where)
        chain.append(cur.extends)
        cur = scenarios[cur.extends]
    for b in s.bindings.values():
        if b.kind == "query" and b.scenario and b.scenario not in scenarios:
            raise NotFoundError("scenario", b.scenario, list(scenarios), where=b.where)


FACT_BINDING_KEYS = {"fact", "combine", "use", "reason", "description", "distribution", *PIN_KEYS}
ASSUMPTION_KEYS = {"value", "unit", "interval", "point", "reason", "source", "locator", "quote", "use", "description",
                   "distribution"}
QUERY_BINDING_KEYS = {"query", "scenario", "reason", "description"}
BINDING_KEYS = FACT_BINDING_KEYS | ASSUMPTION_KEYS | QUERY_BINDING_KEYS


def _bindings(f: Fields, scenario: str, queries: dict[str, QueryDef]) -> dict[str, Binding]:
    data = f.raw("bindings")
    if data is None:
        return {}
    if not isinstance(data, YMap):
        raise FileFormatError("'bindings' must be a mapping of input name to a binding", where=f.at("bindings"))
    out = {}
    for name, spec in data.items():
        where = f"{f.file}:{data.line_of(name)} scenario {scenario} input {name}"
        if isinstance(spec, YMap):  # an unknown key: name the keys of this kind of binding
            kind = next((k for k in ("fact", "value", "query") if k in spec), None)
            unknown = sorted(set(spec) - BINDING_KEYS)
            if unknown and kind:
                keys = {"fact": FACT_BINDING_KEYS, "value": ASSUMPTION_KEYS, "query": QUERY_BINDING_KEYS}[kind]
                raise FileFormatError(f"unknown key {unknown[0]!r} in binding {name} of scenario {scenario}; "
                                      f"its keys: {', '.join(sorted(keys))}", where=f"{f.file}:{spec.line_of(unknown[0])}")
        g = Fields(spec, f.file, f"binding {name} of scenario {scenario}", BINDING_KEYS)
        try:
            out[name] = _binding(name, g, where, queries)
        except KBError as exc:
            raise (exc if exc.where else exc.at(where)) from None
    return out


def _binding(name: str, g: Fields, where: str, queries: dict[str, QueryDef]) -> Binding:
    kinds = [k for k in ("fact", "value", "query") if g.opt(k) is not None]
    if len(kinds) != 1:
        raise FileFormatError("a binding needs exactly one of 'fact' (entity.property), 'value' (an assumption) or 'query'")
    allowed = {"fact": FACT_BINDING_KEYS, "value": ASSUMPTION_KEYS, "query": QUERY_BINDING_KEYS}[kinds[0]]
    extra = sorted(set(g.data) - allowed)
    if extra:
        what = {"fact": "a fact binding", "value": "an assumption", "query": "a query binding"}[kinds[0]]
        raise FileFormatError(f"{extra[0]!r} does not apply to {what}; its keys are: {', '.join(sorted(allowed))}",
                              where=f"{g.at(extra[0])} scenario input {name}")
    use = g.opt("use") or "interval"
    if use not in ("interval", "point"):
        raise FileFormatError(f"use {use!r} is not one of: interval, point")
    distribution = g.opt("distribution")
    if distribution is not None and distribution not in units.DISTRIBUTIONS:
        raise FileFormatError(f"distribution {distribution!r} is not one of: {', '.join(units.DISTRIBUTIONS)}",
                              where=f"{g.at('distribution')} scenario input {name}")
    if kinds[0] == "fact":
        ref = g.req("fact")
        split_ref(ref)
        pins = tuple((k, v) for k in PIN_KEYS if (v := g.opt(k)) is not None)
        for k, v in pins:
            if not v:
                raise FileFormatError(f"pin {k!r} is empty")
        if dict(pins).get("rank") not in (None, "preferred", "normal", "deprecated"):
            raise FileFormatError(f"rank {dict(pins)['rank']!r} is not one of: preferred, normal, deprecated")
        combine = g.opt("combine")
        if combine is not None and combine not in COMBINE:
            raise FileFormatError(f"combine {combine!r} is not one of: {', '.join(COMBINE)}")
        if combine is not None and "id" in dict(pins):
            raise FileFormatError("combine uses several claims; an id pins one")
        return Binding(name, "fact", where, fact=ref, pins=pins, combine=combine, use=use, reason=g.opt("reason"),
                       distribution=distribution)
    if kinds[0] == "query":
        qn = g.req("query")
        if qn not in queries:
            raise NotFoundError("query", qn, list(queries))
        return Binding(name, "query", where, query=qn, scenario=g.opt("scenario"), reason=g.opt("reason"))
    value, unit, shape = units.parse_shaped(g.req("value"), interval=g.opt("interval"), point=g.opt("point"))
    if shape is not None:
        if distribution is not None:
            raise FileFormatError(f"value {g.req('value')!r} already says its distribution ({shape}); drop "
                                  "'distribution'", where=f"{g.at('distribution')} scenario input {name}")
        distribution = shape
    if g.opt("unit") is not None:
        if unit:
            raise FileFormatError("give the unit once: inside 'value' or as 'unit'")
        unit = g.opt("unit") or ""
        units.check_unit(unit)
    reason = g.opt("reason")
    if not reason:
        raise FileFormatError("an assumption needs a 'reason' (why this value)")
    if (g.opt("locator") or g.opt("quote")) and not g.opt("source"):
        raise FileFormatError("an assumption's locator or quote needs its 'source'")
    if distribution is not None and value.kind not in ("range", "ci90"):
        raise FileFormatError(f"distribution {distribution} needs a range such as '2 to 4', not {value.text!r}",
                              where=f"{g.at('distribution')} scenario input {name}")
    if distribution in ("lognormal", "loguniform") and (value.low or 0) <= 0:
        raise FileFormatError(f"distribution {distribution} needs a range above zero, not {value.text!r}",
                              where=f"{g.at('distribution')} scenario input {name}")
    return Binding(name, "assumption", where, value=value, unit="" if unit == "1" else unit, reason=reason,
                   source=g.opt("source"), locator=g.opt("locator"), quote=g.opt("quote"), use=use,
                   distribution=distribution)


def effective_bindings(scenarios: dict[str, ScenarioDef], name: str) -> dict[str, tuple[str, Binding]]:
    """Every binding of a scenario, inherited ones included: input -> (defining scenario, binding)."""
    chain = []
    cur: ScenarioDef | None = scenarios[name]
    while cur is not None:
        chain.append(cur)
        cur = scenarios[cur.extends] if cur.extends else None
    out: dict[str, tuple[str, Binding]] = {}
    for s in reversed(chain):
        for k, b in s.bindings.items():
            out[k] = (s.name, b)
    return out


@dataclass
class Catalog:
    """All queries and scenarios of a project, read and checked once."""

    queries: dict[str, QueryDef]
    scenarios: dict[str, ScenarioDef]

    @classmethod
    def read(cls, root: Path, problems: list[KBError] | None = None) -> Catalog:
        """Strict by default; with a ``problems`` list, every error is collected and the rest read."""
        queries = read_queries(root / "queries", root, problems)
        return cls(queries, read_scenarios(root / "scenarios", root, queries, problems))

    def query(self, name: str) -> QueryDef:
        if name not in self.queries:
            raise NotFoundError("query", name, list(self.queries), hint="see `kb queries`")
        return self.queries[name]

    def scenario(self, name: str) -> ScenarioDef:
        if name not in self.scenarios:
            raise NotFoundError("scenario", name, list(self.scenarios), hint="see `kb scenarios`")
        return self.scenarios[name]
