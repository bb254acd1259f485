"""The formula language: a small safe parser, dimension inference, and a numpy compiler.

Grammar (usual precedence; ``^`` and ``**`` are the same, right-associative)::

    expr   := term (("+" | "-") term)*
    term   := unary (("*" | "/") unary)*
    unary  := ("-" | "+") unary | power
    power  := atom (("^" | "**") unary)?
    atom   := NUMBER [UNIT] | NAME "(" expr ("," expr)* ")" | NAME | "(" expr ")"
    UNIT   := NAME            -- a single unit such as ``s``, ``byte``, ``FLOP``
            | "[" text "]"    -- any unit expression, e.g. ``3 [TB/s]``

Names must be declared inputs; nothing is evaluated with ``eval`` and an
unknown name is an error (never silently a unit). Number literals with units
are converted to SI when parsed, so evaluation runs on plain floats.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import units
from .errors import DimensionError, EvaluationError, FormulaError, KBError

FUNCTIONS = ("sqrt", "log", "log10", "exp", "min", "max", "ceil", "floor", "abs")
_TOKEN = re.compile(
    r"\s*(?:(?P<num>(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)|(?P<name>[A-Za-z_][A-Za-z_0-9]*)"
    r"|(?P<unit>\[[^\]]*\])|(?P<op>\*\*|[-+*/^(),]))"
)
# Integer tolerance for ceil/floor: SI conversion leaves values such as 15.999999999999998.
INTEGER_RTOL = 1e-9


@dataclass(frozen=True)
class Num:
    value: float  # in SI base units
    text: str
    unit: str = ""

    def __str__(self) -> str:
        if not self.unit:
            return self.text
        return f"{self.text} {self.unit}" if self.unit.isidentifier() else f"{self.text} [{self.unit}]"


@dataclass(frozen=True)
class Name:
    name: str

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class Neg:
    operand: Node

    def __str__(self) -> str:
        return f"(-{self.operand})"


@dataclass(frozen=True)
class Bin:
    op: str
    left: Node
    right: Node

    def __str__(self) -> str:
        return f"({self.left} {self.op} {self.right})"


@dataclass(frozen=True)
class Call:
    fn: str
    args: tuple[Node, ...]

    def __str__(self) -> str:
        return f"{self.fn}({', '.join(str(a) for a in self.args)})"


Node = Num | Name | Neg | Bin | Call


def tokens(text: str) -> list[tuple[str, str, int]]:
    out, pos = [], 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            at = len(text) - len(text[pos:].lstrip())
            raise FormulaError(f"unexpected character {text[at]!r} at position {at + 1} in {text!r}")
        kind = m.lastgroup or ""
        out.append((kind, m.group(kind), m.start(kind)))
        pos = m.end()
    return out


MAX_TOKENS = 400  # formulas are short; limits keep every recursive walk of the tree far from Python's limit
MAX_DEPTH = 50


class _Parser:
    def __init__(self, text: str, names: set[str]) -> None:
        self.text = text
        self.names = names
        self.toks = tokens(text)
        self.i = 0
        self.depth = 0
        if len(self.toks) > MAX_TOKENS:
            raise FormulaError(f"formula is too long ({len(self.toks)} tokens, at most {MAX_TOKENS}); "
                               "split it into queries that use each other")

    def peek(self, k: int = 0) -> tuple[str, str, int] | None:
        j = self.i + k
        return self.toks[j] if j < len(self.toks) else None

    def take(self) -> tuple[str, str, int]:
        tok = self.peek()
        if tok is None:
            raise FormulaError(f"formula {self.text!r} ends too early")
        self.i += 1
        return tok

    def expect(self, op: str) -> None:
        tok = self.take()
        if tok[1] != op:
            raise FormulaError(f"expected {op!r} at position {tok[2] + 1} in {self.text!r}, found {tok[1]!r}")

    def at_op(self, *ops: str) -> bool:
        tok = self.peek()
        return tok is not None and tok[0] == "op" and tok[1] in ops

    def parse(self) -> Node:
        if not self.toks:
            raise FormulaError("empty formula")
        node = self.expr()
        if self.peek() is not None:
            tok = self.peek()
            assert tok is not None
            raise FormulaError(f"unexpected {tok[1]!r} at position {tok[2] + 1} in {self.text!r}")
        return node

    def expr(self) -> Node:
        node = self.term()
        while self.at_op("+", "-"):
            op = self.take()[1]
            node = Bin(op, node, self.term())
        return node

    def term(self) -> Node:
        node = self.unary()
        while self.at_op("*", "/"):
            op = self.take()[1]
            node = Bin(op, node, self.unary())
        return node

    def unary(self) -> Node:
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                raise FormulaError(f"formula nests more than {MAX_DEPTH} levels deep in {self.text[:40]!r}...")
            return self._unary()
        finally:
            self.depth -= 1

    def _unary(self) -> Node:
        if self.at_op("-"):
            self.take()
            return Neg(self.unary())
        if self.at_op("+"):
            self.take()
            return self.unary()
        return self.power()

    def power(self) -> Node:
        base = self.atom()
        if self.at_op("^", "**"):
            self.take()
            return Bin("^", base, self.unary())
        return base

    def atom(self) -> Node:
        kind, text, pos = self.take()
        if kind == "num":
            return self.number(text, pos)
        if kind == "name":
            if self.at_op("("):
                return self.call(text, pos)
            if text not in self.names:
                from difflib import get_close_matches

                close = get_close_matches(text, sorted(self.names), n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise FormulaError(f"unknown name {text!r} in {self.text!r}{hint}; declare it under inputs")
            return Name(text)
        if kind == "op" and text == "(":
            node = self.expr()
            self.expect(")")
            return node
        raise FormulaError(f"unexpected {text!r} at position {pos + 1} in {self.text!r}")

    def number(self, text: str, pos: int) -> Node:
        tok = self.peek()
        unit = ""
        if tok is not None and tok[0] == "unit":
            unit = tok[1][1:-1].strip()
            self.take()
        elif tok is not None and tok[0] == "name" and not (self.peek(1) or ("", "", 0))[1] == "(":
            if tok[1] in self.names:
                raise FormulaError(f"write '{text} * {tok[1]}' in {self.text!r}: there is no implicit multiplication")
            unit = tok[1]
            self.take()
        if unit:
            try:
                return Num(float(text) * units.si_factor(unit), text, unit)
            except KBError as exc:
                raise FormulaError(f"{exc.message} (after the number {text} in {self.text!r})") from None
        return Num(float(text), text)

    def call(self, fn: str, pos: int) -> Node:
        if fn not in FUNCTIONS:
            raise FormulaError(f"unknown function {fn!r} in {self.text!r}; functions: {', '.join(FUNCTIONS)}")
        self.expect("(")
        args = [self.expr()]
        while self.at_op(","):
            self.take()
            args.append(self.expr())
        self.expect(")")
        want = None if fn in ("min", "max") else 1
        if want is not None and len(args) != want:
            raise FormulaError(f"{fn}() takes one argument, got {len(args)} in {self.text!r}")
        if fn in ("min", "max") and len(args) < 2:
            raise FormulaError(f"{fn}() takes two or more arguments in {self.text!r}")
        return Call(fn, tuple(args))


def parse(text: str, names: set[str] | frozenset[str]) -> Node:
    """Parse ``text``; every name must be in ``names``."""
    return _Parser(text, set(names)).parse()


def names_in(node: Node) -> set[str]:
    if isinstance(node, Name):
        return {node.name}
    if isinstance(node, Neg):
        return names_in(node.operand)
    if isinstance(node, Bin):
        return names_in(node.left) | names_in(node.right)
    if isinstance(node, Call):
        return set().union(*(names_in(a) for a in node.args))
    return set()


# ---- dimensions -----------------------------------------------------------------------------

def _dims_str(d: Any) -> str:
    return str(d) if d else "dimensionless"


def _const(node: Node) -> float | None:
    """The value of a constant (dimensionless literal) expression, else None."""
    if isinstance(node, Num) and not node.unit:
        return node.value
    if isinstance(node, Neg):
        v = _const(node.operand)
        return None if v is None else -v
    if isinstance(node, Bin) and node.op in ("+", "-", "*", "/", "^"):
        a, b = _const(node.left), _const(node.right)
        if a is None or b is None:
            return None
        try:
            return {"+": lambda: a + b, "-": lambda: a - b, "*": lambda: a * b,
                    "/": lambda: a / b if b else math.nan, "^": lambda: float(a ** b)}[node.op]()
        except (OverflowError, ZeroDivisionError, TypeError):
            return math.nan  # not a usable constant exponent
    return None


def infer(node: Node, dims: dict[str, Any], where: str) -> Any:
    """The dimensionality of ``node`` given each input's; errors name the part of the formula."""
    none = units.Dimension()
    if isinstance(node, Num):
        return units.dimensionality(node.unit)
    if isinstance(node, Name):
        return dims[node.name]
    if isinstance(node, Neg):
        return infer(node.operand, dims, where)
    if isinstance(node, Bin):
        a, b = infer(node.left, dims, where), infer(node.right, dims, where)
        if node.op in "+-":
            if a != b:
                raise DimensionError(f"'{node.right}' in '{node}'", _dims_str(a), _dims_str(b), where=where,
                                     hint="both sides of + and - need the same dimension")
            return a
        if node.op == "*":
            return a * b
        if node.op == "/":
            return a / b
        if b != none:
            raise DimensionError(f"the exponent '{node.right}'", "dimensionless", _dims_str(b), where=where)
        if a == none:
            return none
        exponent = _const(node.right)
        if exponent is None:
            raise FormulaError(f"'{node}' raises a quantity with a dimension to a non-constant power", where=where)
        return a**exponent
    assert isinstance(node, Call)
    args = [infer(x, dims, where) for x in node.args]
    if node.fn in ("min", "max"):
        for x, d in zip(node.args[1:], args[1:]):
            if d != args[0]:
                raise DimensionError(f"'{x}' in '{node}'", _dims_str(args[0]), _dims_str(d), where=where)
        return args[0]
    if node.fn == "sqrt":
        return args[0] ** 0.5
    if node.fn == "abs":
        return args[0]
    if args[0] != none:
        raise DimensionError(f"the argument of {node.fn}() in '{node}'", "dimensionless", _dims_str(args[0]),
                             where=where, hint=f"{node.fn}() of a quantity depends on its unit; divide by a reference first")
    return none


# ---- compilation to numpy -------------------------------------------------------------------

Compiled = Callable[[dict[str, np.ndarray]], np.ndarray]


def _check(cond: bool, message: str, node: Node) -> None:
    if cond:
        raise EvaluationError(f"{message} in '{node}'")


def _near_int(x: np.ndarray) -> np.ndarray:
    r = np.round(x)
    return np.where(np.abs(x - r) <= INTEGER_RTOL * np.maximum(np.abs(x), 1.0), r, x)


def compile_node(node: Node) -> Compiled:
    """A function of a name -> array mapping. Index 0 of every array is the point value;
    invalid operations at the point raise EvaluationError naming the part of the formula."""
    if isinstance(node, Num):
        value = node.value
        return lambda env: np.float64(value)  # type: ignore[return-value]
    if isinstance(node, Name):
        name = node.name
        return lambda env: env[name]
    if isinstance(node, Neg):
        inner = compile_node(node.operand)
        return lambda env: -inner(env)
    if isinstance(node, Bin):
        left, right = compile_node(node.left), compile_node(node.right)
        if node.op == "+":
            return lambda env: left(env) + right(env)
        if node.op == "-":
            return lambda env: left(env) - right(env)
        if node.op == "*":
            return lambda env: left(env) * right(env)
        if node.op == "/":
            def divide(env: dict[str, np.ndarray]) -> np.ndarray:
                den = np.asarray(right(env))
                _check(bool(np.ravel(den)[0] == 0), "division by zero", node)
                # two reductions, no temporary arrays (NaN compares false: judged by the caller)
                _check(bool(den.size > 1 and np.fmin.reduce(den, axis=None) < 0 < np.fmax.reduce(den, axis=None)),
                       "a range in the denominator spans zero", node)
                with np.errstate(divide="ignore", invalid="ignore"):
                    return np.asarray(left(env) / den)
            return divide

        def power(env: dict[str, np.ndarray]) -> np.ndarray:
            base, exp = np.asarray(left(env)), np.asarray(right(env))
            _check(bool(np.ravel(base)[0] < 0 and np.ravel(exp)[0] % 1 != 0), "a negative number to a fractional power", node)
            with np.errstate(invalid="ignore", over="ignore"):
                return np.asarray(np.power(base, exp))
        return power
    assert isinstance(node, Call)
    args = [compile_node(a) for a in node.args]
    fn = node.fn
    if fn in ("min", "max"):
        reduce = np.minimum if fn == "min" else np.maximum

        def extreme(env: dict[str, np.ndarray]) -> np.ndarray:
            out = args[0](env)
            for a in args[1:]:
                out = reduce(out, a(env))
            return out
        return extreme
    arg = args[0]
    domain: dict[str, tuple[str, Callable[[Any], Any]]] = {"sqrt": ("the square root of a negative number", lambda v: v < 0),
              "log": ("the log of a number that is not positive", lambda v: v <= 0),
              "log10": ("the log of a number that is not positive", lambda v: v <= 0)}
    ufuncs: dict[str, Callable[[np.ndarray], np.ndarray]] = {
        "sqrt": np.sqrt, "log": np.log, "log10": np.log10, "exp": np.exp, "abs": np.abs,
        "ceil": lambda v: np.ceil(_near_int(v)), "floor": lambda v: np.floor(_near_int(v))}
    ufunc = ufuncs[fn]

    def call(env: dict[str, np.ndarray]) -> np.ndarray:
        v = np.asarray(arg(env))
        if fn in domain:
            message, bad = domain[fn]
            _check(bool(bad(np.ravel(v)[0])), message, node)
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            return ufunc(v)
    return call
