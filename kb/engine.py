"""Evaluation: bind a query's inputs under a scenario, evaluate with intervals, keep the derivation.

A scenario resolves to a graph once (``resolve``): query nodes with their inputs bound to facts,
assumptions, ``--set`` values or other queries' nodes; every ranged leaf is one quantity wherever it
appears. Each formula is compiled to a vectorised numpy closure, and the whole graph is evaluated once
over the arrays a method designs (:mod:`kb.methods`: the corners of the input box with sound bounds per
node, Monte Carlo draws, one-at-a-time ends, a sweep's grid); index 0 is always the point value.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import formula, intervals, units
from .definitions import Binding, Catalog, QueryDef, effective_bindings, input_unit
from .errors import DimensionError, EvaluationError, KBError, NotFoundError
from .rows import ClaimRow, SourceRow
from .selection import combine_claims
from .values import Value

if TYPE_CHECKING:
    from .methods import Run
    from .store import Store



MAX_CHAIN = 100  # queries using queries (Python's stack holds about 300 of them)


@dataclass
class Leaf:
    key: str
    kind: str  # fact | assumption | set
    point: float
    low: float | None
    high: float | None
    interval_kind: str
    unit: str  # unit to show the value in
    scenario: str | None = None
    claims: tuple[ClaimRow, ...] = ()  # the fact(s) behind a fact leaf: one, or several combined
    combine: str | None = None  # how several claims became this value (min, max, median, geomean, span)
    source: SourceRow | None = None
    sources: dict[str, SourceRow] = field(default_factory=dict)  # the source of each claim, by id
    reason: str | None = None
    locator: str | None = None
    quote: str | None = None
    distribution: str | None = None  # a scenario's shape for --samples (None: uniform, or lognormal for a ci90)

    @property
    def ranged(self) -> bool:
        return self.low is not None or self.high is not None

    @property
    def fact(self) -> ClaimRow | None:
        """The one claim behind a fact leaf (the first, policy-best, of combined claims); None otherwise."""
        return self.claims[0] if self.claims else None


@dataclass
class QNode:
    query: QueryDef
    scenario: str
    inputs: list[tuple[str, Leaf | QNode]] = field(default_factory=list)
    compiled: Any = None


@dataclass
class Result:
    """An evaluated quantity and its derivation. Values are SI; ``unit`` is how to show them."""

    name: str
    kind: str  # query | fact | assumption | set
    point: float
    low: float | None
    high: float | None
    unit: str
    node: Leaf | QNode
    inputs: list[Result] = field(default_factory=list)
    # what [low, high] is: bounds | ci90 (inputs' 90% intervals carried as bounds) | samples_p5_p95 |
    # at_least | at_most; None for a single value
    meaning: str | None = None
    bounds_method: str | None = None  # how query bounds were found: monotone | branch-and-bound | interval
    samples: dict[str, Any] | None = None  # --samples: n, mean, p5, p50, p95 (display unit), seed
    draws: Any = None  # --samples: the sampled values themselves (SI), for a histogram

    @property
    def query(self) -> QueryDef | None:
        return self.node.query if isinstance(self.node, QNode) else None

    @property
    def scenario(self) -> str | None:
        return self.node.scenario

    def shown(self, unit: str | None = None) -> tuple[float, float | None, float | None]:
        """(value, low, high) in ``unit`` (default: this result's display unit)."""
        f = units.si_factor(self.unit if unit is None else unit)
        return (self.point / f, None if self.low is None else self.low / f, None if self.high is None else self.high / f)

    def walk(self) -> list[Result]:
        out = [self]
        for r in self.inputs:
            out.extend(r.walk())
        return out


def _bounds(v: Value, factor: float) -> tuple[float | None, float | None]:
    if v.kind in ("range", "ci90"):
        return v.low * factor, v.high * factor  # type: ignore[operator]
    if v.kind == "at_least":
        return v.point * factor, None
    if v.kind == "at_most":
        return None, v.point * factor
    return None, None


class Evaluator:
    """Evaluates queries under scenarios against one store; overrides apply everywhere."""

    def __init__(
        self,
        store: Store,
        catalog: Catalog,
        *,
        # NAME, or (scenario, NAME) for that scenario only -> (value, unit, distribution or None)
        overrides: dict[Any, tuple[Value, str, str | None]] | None = None,
        known_at: str | None = None,
        pins: dict[str, str] | None = None,
    ) -> None:
        self.store = store
        self.catalog = catalog
        self.overrides = overrides or {}
        self.known_at = known_at
        self.pins = pins or {}
        self._nodes: dict[tuple[str, str], QNode] = {}
        self._sources: dict[str, SourceRow] | None = None
        self.seen_inputs: set[str] = set()
        self._facts: dict[tuple[Any, ...], tuple[ClaimRow, ...]] = {}  # one lookup per binding per evaluator
        self.warnings: list[str] = []  # e.g. a --set value outside the plausible range of the fact it replaces
        # (done, total) after each step of a Monte Carlo run or a sweep: inputs drawn, then nodes computed
        self.progress: Callable[[int, int], None] | None = None

    @property
    def sources(self) -> dict[str, SourceRow]:
        if self._sources is None:
            self._sources = self.store.sources()
        return self._sources

    # ---- resolution
    def resolve(self, query: str, scenario: str, stack: tuple[tuple[str, str], ...] = ()) -> QNode:
        key = (query, scenario)
        if key in stack:
            cycle = " -> ".join(f"{q} ({s})" for q, s in stack[stack.index(key):] + (key,))
            raise EvaluationError(f"queries depend on each other in a cycle: {cycle}")
        if key in self._nodes:
            return self._nodes[key]
        if len(stack) >= MAX_CHAIN:
            raise EvaluationError(f"query {stack[0][0]} depends on a chain of more than {MAX_CHAIN} queries (through "
                                  f"{query}); a chain that long is not an estimate anyone can check")
        q = self.catalog.query(query)
        self.catalog.scenario(scenario)
        bindings = effective_bindings(self.catalog.scenarios, scenario)
        node = QNode(q, scenario)
        for decl in q.inputs:
            self.seen_inputs.add(decl.name)
            want = input_unit(q, decl, self.catalog.queries)
            where = f"query {q.name}, scenario {scenario}, input {decl.name}"
            scoped = (scenario, decl.name)  # a sweep varies the input in its own scenario only
            if scoped in self.overrides or decl.name in self.overrides:
                value, unit, shape = self.overrides[scoped if scoped in self.overrides else decl.name]
                given = self._leaf_set(decl.name, value, unit, shape)
                child: Leaf | QNode = given
                got = unit
                if decl.name in bindings and bindings[decl.name][1].kind == "fact":
                    self._check_plausible(given, bindings[decl.name][1])
            elif decl.name in bindings:
                defined_in, b = bindings[decl.name]
                child, got = self.bind(b, defined_in, scenario, stack + (key,))
            elif decl.query:
                child = self.resolve(decl.query, scenario, stack + (key,))
                got = child.query.unit
            else:
                raise EvaluationError(
                    f"input {decl.name!r} of query {q.name!r} is not bound in scenario {scenario!r}; "
                    f"bind it under the scenario's bindings (a fact, value or query) or pass --set {decl.name}=VALUE"
                )
            if not units.same_dimension(got, want):
                raise DimensionError(f"the value bound to {decl.name}", units.dimension(want), units.dimension(got),
                                     where=where, hint=f"the query expects {want or 'a plain count'!r}")
            if isinstance(child, Leaf):
                _refuse_bare_percent(child, decl.name, want, where)
            node.inputs.append((decl.name, child))
        node.compiled = formula.compile_node(q.tree)
        self._nodes[key] = node
        return node

    def _check_plausible(self, leaf: Leaf, b: Binding) -> None:
        """Warn when a --set value lies outside the plausible range of the property of the fact it replaces."""
        from .claims import split_ref

        try:
            prop = self.store.property(split_ref(str(b.fact))[1])
        except KBError:
            return
        from .claims import outside_plausible

        if outside_plausible(prop, leaf.point, leaf.low, leaf.high):
            from .numfmt import interval

            f = units.si_factor(leaf.unit)
            shown = interval(leaf.point / f, None if leaf.low is None else leaf.low / f,
                             None if leaf.high is None else leaf.high / f, leaf.unit)
            warning = (f"--set {b.name}={shown} is outside the plausible range of {prop['name']} "
                       f"({prop['plausible']}); the result uses it")
            if warning not in self.warnings:
                self.warnings.append(warning)

    def bind(self, b: Binding, defined_in: str, scenario: str, stack: tuple[tuple[str, str], ...]) -> tuple[Leaf | QNode, str]:
        if b.kind == "query":
            assert b.query is not None
            child = self.resolve(b.query, b.scenario or scenario, stack)
            return child, child.query.unit
        if b.kind == "assumption":
            assert b.value is not None
            factor = units.si_factor(b.unit)
            low, high = _bounds(b.value, factor) if b.use == "interval" else (None, None)
            src = self.sources.get(b.source) if b.source else None
            if b.source and src is None:
                raise NotFoundError("source", b.source, list(self.sources), where=b.where)
            return Leaf(f"assumption:{defined_in}:{b.name}", "assumption", b.value.point * factor, low, high,
                        _shaped(b.value.kind, b.distribution), b.unit, defined_in, source=src, reason=b.reason,
                        locator=b.locator, quote=b.quote, distribution=b.distribution), b.unit
        leaf = self.fact_leaf(b, scenario)
        return leaf, self.store.property(leaf.claims[0]["property"])["unit"]

    def fact_leaf(self, b: Binding, scenario: str | None) -> Leaf:
        """The leaf a fact binding reads: its pinned, best or combined claim(s), as of ``known_at``."""
        assert b.fact is not None
        try:
            ref = self.store.resolve_ref(b.fact)
            pins, combine = b.pin_map, b.combine
            if str(ref) in self.pins:  # --across and q(claims=...): this evaluation uses one given claim
                pins, combine = {"id": self.pins[str(ref)]}, None
            memo_key = (str(ref), tuple(sorted(pins.items())), combine)
            if memo_key not in self._facts:
                self._facts[memo_key] = tuple(self.store.select(ref, pins, combine, self.known_at))
            found = self._facts[memo_key]
        except KBError as exc:
            raise (exc if exc.where else exc.at(b.where)) from None
        use_interval = b.use == "interval"
        first = found[0]
        if combine:
            c = combine_claims(found, combine)
            point, low, high = c.point, c.low, c.high
            kind = "range" if low is not None and high is not None else "at_least" if low is not None \
                else "at_most" if high is not None else "exact"
            key = f"facts:{combine}:" + ",".join(f["id"] for f in found)
            written = {f["unit"] for f in found}  # claims written in one unit are shown in it; else the property's
            unit = first["unit"] if len(written) == 1 else self.store.property(first["property"])["unit"] or first["unit"]
        else:
            point, low, high, kind = first["si_value"], first["si_low"], first["si_high"], first["interval_kind"]
            key, unit = f"fact:{first['id']}", first["unit"]
        if not use_interval:
            low = high = None
            kind, key = "exact", key + ":point"
        if b.distribution and kind in ("range", "ci90"):
            kind, key = _shaped(kind, b.distribution), key + f":{b.distribution}"
        return Leaf(key, "fact", point, low, high, kind, unit, scenario, claims=found, combine=combine,
                    distribution=b.distribution if kind in ("range", "ci90") else None,
                    source=self.sources.get(first["source"]), reason=b.reason,
                    sources={f["source"]: self.sources[f["source"]] for f in found if f["source"] in self.sources},
                    locator=first["locator"], quote=first["quote"])

    def read_fact(self, ref: str, pins: Mapping[str, str] | None = None, combine: str | None = None) -> Result:
        """A fact reference read exactly as a scenario binding reads it: the best, pinned or combined claim(s)."""
        b = Binding(ref, "fact", f"fact({ref!r})", fact=ref, pins=tuple((pins or {}).items()), combine=combine)
        leaf = self.fact_leaf(b, None)
        return Result(ref, "fact", leaf.point, leaf.low, leaf.high, leaf.unit, leaf)

    def read_input(self, scenario: str, name: str) -> Result:
        """What ``scenario`` binds to the input ``name``: a fact or assumption as read, or a query evaluated."""
        self.catalog.scenario(scenario)
        bindings = effective_bindings(self.catalog.scenarios, scenario)
        if name not in bindings:
            raise NotFoundError("input", name, list(bindings), where=f"scenario {scenario}")
        defined_in, b = bindings[name]
        if b.kind == "query":
            assert b.query is not None
            return self.evaluate(b.query, b.scenario or scenario)
        leaf, _ = self.bind(b, defined_in, scenario, ())
        assert isinstance(leaf, Leaf)  # a fact or an assumption
        return Result(name, leaf.kind, leaf.point, leaf.low, leaf.high, leaf.unit, leaf)

    def _leaf_set(self, name: str, value: Value, unit: str, shape: str | None) -> Leaf:
        factor = units.si_factor(unit)
        low, high = _bounds(value, factor)
        return Leaf(f"set:{name}", "set", value.point * factor, low, high, value.kind, unit,
                    reason="set on the command line (--set)", distribution=shape)

    # ---- evaluation
    def evaluate(self, query: str, scenario: str, samples: int | None = None, seed: int | None = None) -> Result:
        """The query's point and interval: sound bounds over the inputs' ranges (``Corners``), or with
        ``samples`` the 5th to 95th percentiles of a Monte Carlo run (``MonteCarlo``; ``seed`` fixes the draws)."""
        from .methods import Corners, MonteCarlo

        root, leaves = self.graph(query, scenario)
        method: Corners | MonteCarlo
        if samples:
            method = MonteCarlo(samples, seed, _input_names(root))
            drawn = sum(1 for leaf in leaves.values() if leaf.ranged)
            run = method.design(leaves, self.stepper(drawn + count_nodes(root)))
        else:
            method = Corners()
            run = method.design(leaves)
        ranged = {k for k, leaf in leaves.items() if leaf.ranged}
        return self._result(query, root, run, method, ranged, {}, top=True)

    def stepper(self, total: int) -> Callable[[], None] | None:
        """A callback that reports one more of ``total`` steps to :attr:`progress` (None without one)."""
        report = self.progress
        if report is None:
            return None
        done = [0]

        def step() -> None:
            done[0] += 1
            report(done[0], total)
        return step

    def graph(self, query: str, scenario: str) -> tuple[QNode, dict[str, Leaf]]:
        """The query's resolved graph and its leaves by key; a --set name the derivation lacks is an error."""
        root = self.resolve(query, scenario)
        unknown = sorted({k for k in self.overrides if isinstance(k, str)} - self.seen_inputs)
        if unknown:
            raise NotFoundError("input", unknown[0], sorted(self.seen_inputs),
                                hint=f"--set names an input of the derivation of {query}")
        leaves: dict[str, Leaf] = {}
        _collect(root, leaves)
        return root, leaves

    def sensitivity(self, query: str, scenario: str) -> list[Swing]:
        """Each ranged input's one-at-a-time swing: the result with that input at its low end and at its high
        end, every other input at its point; largest first. ``share`` is its squared swing over the sum of
        squared swings (a variance-like share of the spread). One-sided inputs have no finite swing: skipped."""
        from .methods import OneAtATime

        root, leaves = self.graph(query, scenario)
        method = OneAtATime()
        out = method.design(leaves).array(root)
        names = _input_names(root)
        swings = [Swing(names.get(k, k), leaves[k], float(out[1 + 2 * i]), float(out[2 + 2 * i]))
                  for i, k in enumerate(method.inputs)]
        largest = max((w.swing for w in swings), default=0.0)
        total = sum((w.swing / largest) ** 2 for w in swings) if largest else 0.0  # scaled: no overflow
        for w in swings:
            w.share = (w.swing / largest) ** 2 / total if total else 0.0
        return sorted(swings, key=lambda w: -w.swing)

    def _result(self, name: str, node: Leaf | QNode, run: Run, method: Any, ranged: set[str],
                trees: dict[int, tuple[formula.Node, Any]], top: bool = False) -> Result:
        from .methods import MonteCarlo

        arr = run.array(node)
        point = float(arr[0])
        if isinstance(node, Leaf):
            return Result(name, node.kind, point, node.low, node.high, node.unit, node, meaning=LEAF_MEANING.get(
                node.interval_kind) if node.ranged else None)
        children = [self._result(n, c, run, method, ranged, trees) for n, c in node.inputs]
        unit = node.query.display_unit
        if not _depends_on_ranged(node, ranged):
            return Result(name, "query", point, None, None, unit, node, children)
        if isinstance(method, MonteCarlo):
            got = method.summarise(arr, unit, top)
        else:
            if id(node) not in trees:  # the node as one formula of the leaves, for its sound bounds
                tree = intervals.simplify(_inline(node))
                trees[id(node)] = (tree, formula.compile_node(tree))
            try:
                got = method.summarise(run, arr, *trees[id(node)])
            except intervals.Undefined as exc:
                raise EvaluationError(f"query {node.query.name} in scenario {node.scenario} is undefined inside its "
                                      f"inputs' ranges (at {exc}, for one)") from None
            except EvaluationError as exc:
                raise EvaluationError(f"query {node.query.name} in scenario {node.scenario} is {exc.message}") from None
        return Result(name, "query", point, got.low, got.high, unit, node, children, meaning=got.meaning,
                      bounds_method=got.bounds_method, samples=got.samples, draws=got.draws)


@dataclass
class Swing:
    """One input's one-at-a-time effect on a result (SI values)."""

    name: str
    leaf: Leaf
    at_low: float  # the result with this input at its low end
    at_high: float
    share: float = 0.0

    @property
    def swing(self) -> float:
        return abs(self.at_high - self.at_low)


LEAF_MEANING = {"range": "bounds", "ci90": "ci90", "at_least": "at_least", "at_most": "at_most"}


def _shaped(kind: str, distribution: str | None) -> str:
    """A range declared normal or lognormal reads its ends as the 5th and 95th percentiles: a 90% interval."""
    return "ci90" if kind == "range" and distribution in ("normal", "lognormal") else kind


def _inline(node: Leaf | QNode) -> formula.Node:
    if isinstance(node, Leaf):
        return formula.Name(node.key)
    inputs = {name: _inline(child) for name, child in node.inputs}
    return _substitute(node.query.tree, inputs)


def _substitute(tree: formula.Node, inputs: Mapping[str, formula.Node]) -> formula.Node:
    if isinstance(tree, formula.Name):
        return inputs[tree.name]
    if isinstance(tree, formula.Neg):
        return formula.Neg(_substitute(tree.operand, inputs))
    if isinstance(tree, formula.Bin):
        return formula.Bin(tree.op, _substitute(tree.left, inputs), _substitute(tree.right, inputs))
    if isinstance(tree, formula.Call):
        return formula.Call(tree.fn, tuple(_substitute(a, inputs) for a in tree.args))
    return tree


def _input_names(node: QNode, out: dict[str, str] | None = None) -> dict[str, str]:
    """Leaf key -> the input name it is first bound to in the derivation (``rack_power``)."""
    out = {} if out is None else out
    for name, child in node.inputs:
        if isinstance(child, Leaf):
            out.setdefault(child.key, name)
        else:
            _input_names(child, out)
    return out


def count_nodes(root: QNode) -> int:
    """The query nodes of a graph, each once (a query reached twice is computed once)."""
    seen: set[int] = set()

    def walk(node: Leaf | QNode) -> None:
        if isinstance(node, Leaf) or id(node) in seen:
            return
        seen.add(id(node))
        for _, child in node.inputs:
            walk(child)
    walk(root)
    return len(seen)


def _collect(node: Leaf | QNode, leaves: dict[str, Leaf]) -> None:
    if isinstance(node, Leaf):
        leaves.setdefault(node.key, node)
        return
    for _, child in node.inputs:
        _collect(child, leaves)


def _depends_on_ranged(node: Leaf | QNode, ranged: set[str]) -> bool:
    if isinstance(node, Leaf):
        return node.key in ranged
    return any(_depends_on_ranged(c, ranged) for _, c in node.inputs)


def _refuse_bare_percent(leaf: Leaf, name: str, want: str, where: str) -> None:
    """``--set utilization=40`` would be 4000%: refused (see units.bare_percent)."""
    if not units.bare_percent(leaf.unit, want, leaf.point, leaf.high):
        return
    shown = f"{leaf.point:g}"
    how = f"--set {name}={shown}%" if leaf.kind == "set" else f"'{shown} %'"
    raise KBError(f"{name} = {shown} has no unit, so it reads as a fraction ({leaf.point * 100:g}%); "
                  f"write {how}, or a fraction such as 0.4", where=where)


def parse_override(text: str) -> tuple[str, tuple[Value, str, str | None]]:
    """``NAME=VALUE`` or ``NAME=VALUE UNIT`` (``utilization=50 %``, ``window="2 to 4 s"``,
    ``window="lognormal(2 to 4) s"``): the value, its unit and its distribution under --samples."""
    from .definitions import NAME
    from .units import parse_shaped

    name, sep, rest = text.partition("=")
    name = name.strip()
    if not sep or not NAME.match(name):
        raise KBError(f"--set {text!r} must look like NAME=VALUE or NAME=\"VALUE UNIT\"")
    try:
        return name, parse_shaped(rest)
    except KBError as exc:
        raise KBError(f"--set {name}: {exc.message}") from None
