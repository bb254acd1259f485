"""The formula language, table-driven: input -> canonical fully parenthesised string."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from kb import formula, units
from kb.errors import DimensionError, EvaluationError, FormulaError

NAMES = {"x", "y", "z"}


@pytest.mark.parametrize(
    "text,canonical",
    [
        ("x", "x"),
        ("1 + 2 * 3", "(1 + (2 * 3))"),
        ("(1 + 2) * 3", "((1 + 2) * 3)"),
        ("x - y - z", "((x - y) - z)"),
        ("x / y / z", "((x / y) / z)"),
        ("x ^ 2", "(x ^ 2)"),
        ("x ** 2", "(x ^ 2)"),
        ("2 ^ 3 ^ 2", "(2 ^ (3 ^ 2))"),
        ("-x ^ 2", "(-(x ^ 2))"),
        ("-x * y", "((-x) * y)"),
        ("x ^ -1", "(x ^ (-1))"),
        ("+x", "x"),
        ("sqrt(x) * 2", "(sqrt(x) * 2)"),
        ("max(x, y, z)", "max(x, y, z)"),
        ("4 byte * x", "(4 byte * x)"),
        ("6 [FLOP/token] * x", "(6 [FLOP/token] * x)"),
        ("1.5e3 s / x", "(1.5e3 s / x)"),
        ("ceil(x / 1000)", "ceil((x / 1000))"),
    ],
)
def test_parse_canonical(text: str, canonical: str) -> None:
    assert str(formula.parse(text, NAMES)) == canonical


@pytest.mark.parametrize(
    "text,fragment",
    [
        ("", "empty formula"),
        ("x +", "ends too early"),
        ("x y", "unexpected 'y'"),
        ("2 x", "write '2 * x'"),
        ("w * 2", "unknown name 'w'"),
        ("seconds * x", "unknown name 'seconds'"),  # never silently a unit
        ("foo(x)", "unknown function 'foo'"),
        ("sqrt(x, y)", "takes one argument"),
        ("min(x)", "two or more"),
        ("(x + y", "ends too early"),
        ("x $ y", "unexpected character '$' at position 3"),
        ("3 furlong", "'furlong' is not defined in schema/units.txt"),
        ("__import__(x)", "unknown function"),
    ],
)
def test_parse_errors(text: str, fragment: str) -> None:
    with pytest.raises(FormulaError, match=None) as exc:
        formula.parse(text, NAMES)
    assert fragment in str(exc.value)


def test_unit_literals_are_si() -> None:
    node = formula.parse("4 byte", set())
    assert isinstance(node, formula.Num) and node.value == 32.0  # bits
    node = formula.parse("3 [TB/s]", set())
    assert node.value == pytest.approx(2.4e13)


def _dims(**units_by_name: str) -> dict:
    return {k: units.dimensionality(v) for k, v in units_by_name.items()}


def test_infer_dimensions() -> None:
    d = _dims(x="TB", y="s", z="")
    assert formula.infer(formula.parse("x / y", NAMES), d, "q") == units.dimensionality("bit/s")
    assert formula.infer(formula.parse("sqrt(x * x)", NAMES), d, "q") == units.dimensionality("bit")
    assert not formula.infer(formula.parse("log(z) + exp(z) + ceil(z)", NAMES), d, "q")
    with pytest.raises(DimensionError):
        formula.infer(formula.parse("x + y", NAMES), d, "q")
    with pytest.raises(DimensionError):
        formula.infer(formula.parse("min(x, y)", NAMES), d, "q")
    with pytest.raises(DimensionError):
        formula.infer(formula.parse("exp(y)", NAMES), d, "q")
    with pytest.raises(FormulaError):
        formula.infer(formula.parse("x ^ z", NAMES), d, "q")  # non-constant power of a dimensioned value
    assert formula.infer(formula.parse("y ^ (1 / 2)", NAMES), d, "q") == units.dimensionality("s") ** 0.5


def _run(text: str, **env: float) -> float:
    fn = formula.compile_node(formula.parse(text, set(env)))
    return float(np.ravel(fn({k: np.array([v]) for k, v in env.items()}))[0])


def test_evaluate() -> None:
    assert _run("x ^ 2 + y", x=3, y=1) == 10
    assert _run("max(x, y) - min(x, y)", x=3, y=7) == 4
    assert _run("floor(x / 1000)", x=16000 / (3 * 2 * 1e15 / (2 * 3e12)) * 1000) == 16
    assert _run("ceil(x)", x=15.999999999999998) == 16  # SI round-off is not a partial tile
    assert _run("ceil(x)", x=15.2) == 16 and _run("floor(x)", x=15.8) == 15
    assert _run("log10(x) + abs(y)", x=1000, y=-2) == 5
    with pytest.raises(EvaluationError, match="division by zero"):
        _run("x / y", x=1, y=0)
    with pytest.raises(EvaluationError, match="square root of a negative"):
        _run("sqrt(x)", x=-1)
    with pytest.raises(EvaluationError, match="log of a number that is not positive"):
        _run("log(x)", x=0)


_leaf = st.sampled_from(["x", "y", "z", "2", "3.5", "1e3"])


@st.composite
def expressions(draw: st.DrawFn, depth: int = 0) -> str:
    if depth > 3 or draw(st.booleans()):
        return draw(_leaf)
    kind = draw(st.sampled_from(["bin", "neg", "call", "paren"]))
    if kind == "bin":
        op = draw(st.sampled_from(["+", "-", "*", "/", "^"]))
        return f"{draw(expressions(depth + 1))} {op} {draw(expressions(depth + 1))}"
    if kind == "neg":
        return f"-{draw(expressions(depth + 1))}"
    if kind == "call":
        return f"{draw(st.sampled_from(['sqrt', 'abs', 'exp']))}({draw(expressions(depth + 1))})"
    return f"({draw(expressions(depth + 1))})"


@given(expressions())
def test_canonical_form_is_a_fixed_point(text: str) -> None:
    once = str(formula.parse(text, NAMES))
    assert str(formula.parse(once, NAMES)) == once


@given(
    st.floats(1, 1e6), st.floats(1, 1e6), st.floats(1, 1e3), st.floats(1, 1e3),
    st.sampled_from(["x * y", "x / y", "x + y", "sqrt(x) * y", "x ^ 2 / y", "x / (x + y)"]),
)
def test_corner_interval_contains_point(a: float, b: float, c: float, d: float, text: str) -> None:
    lo_x, hi_x = sorted((a, b))
    lo_y, hi_y = sorted((c, d))
    xs = np.array([(lo_x + hi_x) / 2, lo_x, hi_x, lo_x, hi_x])
    ys = np.array([(lo_y + hi_y) / 2, lo_y, lo_y, hi_y, hi_y])
    out = formula.compile_node(formula.parse(text, {"x", "y"}))({"x": xs, "y": ys})
    by_hand = {"x * y": lambda x, y: x * y, "x / y": lambda x, y: x / y, "x + y": lambda x, y: x + y,
               "sqrt(x) * y": lambda x, y: x ** 0.5 * y, "x ^ 2 / y": lambda x, y: x * x / y,
               "x / (x + y)": lambda x, y: x / (x + y)}[text]
    assert out.tolist() == pytest.approx([by_hand(float(x), float(y)) for x, y in zip(xs, ys)], rel=1e-12)
    # each formula is monotone in x and in y on positive inputs: the midpoint's value lies between the
    # corners' (out[1:], not out itself: the midpoint is not among them)
    corners = out[1:]
    assert corners.min() * (1 - 1e-12) <= out[0] <= corners.max() * (1 + 1e-12)
