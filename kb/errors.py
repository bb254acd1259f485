"""The one error hierarchy. The core raises these; the CLI prints ``str(err)``.

Every message is one line that says what is wrong, where, and how to fix it.
"""

from __future__ import annotations

QUOTED = 200  # characters of a bad value an error message quotes


def clip(text: str, limit: int = 80) -> str:
    """``text`` for a message: at most ``limit`` characters, cut with ``...``."""
    return text if len(text) <= limit else text[:limit - 3] + "..."


def shorten(message: str) -> str:
    """A message whose quoted values (``'...'`` or ``"..."``, as ``repr`` writes them) are at most
    :data:`QUOTED` characters each: a 10 MB value in a file is named, not printed."""
    import re

    def cut(m: re.Match[str]) -> str:
        q, body = m.group(1), m.group(2)
        return f"{q}{body[:QUOTED - 3]}...{q} ({len(body)} characters)"

    return re.sub(r"(['\"])([^'\"\n]{" + str(QUOTED + 1) + r",})\1", cut, message)


class KBError(Exception):
    """Base class of every error the knowledge base raises on purpose."""

    slug = "error"

    def __init__(self, message: str, *, where: str | None = None) -> None:
        self.message = shorten(message)
        self.where = where
        super().__init__(f"{where}: {self.message}" if where else self.message)

    def at(self, where: str) -> KBError:
        """The same error, located at ``where`` (a file and line, a query and term)."""
        self.where = where or None
        self.args = (f"{where}: {self.message}" if where else self.message,)
        return self


class UnitError(KBError):
    """A unit that does not parse, or a quantity of the wrong dimension."""

    slug = "unit-mismatch"


_DIMENSION_NAMES = {
    "[mass] * [length] ** 2 / [time] ** 3": "power",
    "[mass] * [length] ** 2 / [time] ** 2": "energy",
    "[compute] / [time]": "compute rate",
    "[compute]": "compute",
    "[information] / [time]": "bandwidth",
    "[information]": "data size",
    "[time]": "time",
    "1 / [time]": "frequency",
    "[currency]": "money",
    "[currency] / [time]": "price per time",
    "[token]": "tokens",
    "dimensionless": "a plain count",
}


def _named(dimension: str) -> str:
    """``[compute] / [time]`` -> ``[compute] / [time] (compute rate)``: the exact form plus a reader's word."""
    name = _DIMENSION_NAMES.get(dimension)
    return f"{dimension} ({name})" if name and name not in dimension else dimension


class DimensionError(UnitError):
    """A quantity whose dimension is not the one expected."""

    def __init__(
        self, what: str, expected: str, actual: str, *, where: str | None = None, hint: str = ""
    ) -> None:
        self.expected = expected
        self.actual = actual
        msg = f"{what} has dimension {_named(actual)}, expected {_named(expected)}"
        super().__init__(msg + (f"; {hint}" if hint else ""), where=where)


class ValueSyntaxError(KBError):
    """A value such as ``24 to 27`` or ``>=5`` that does not parse."""

    slug = "bad-value"


class FileFormatError(KBError):
    """A declarative file (YAML) with a missing, unknown or malformed entry."""

    slug = "bad-file"


class NotFoundError(KBError):
    """An unknown entity, property, source, fact, query, scenario or template."""

    slug = "not-found"

    def __init__(
        self, kind: str, name: str, choices: list[str] | None = None, *, hint: str = "",
        where: str | None = None,
    ) -> None:
        self.kind = kind
        self.name = name
        msg = f"unknown {kind} {name!r}"
        if choices:
            from difflib import get_close_matches

            close = get_close_matches(name, choices, n=1, cutoff=0.6)
            if close:
                msg += f" (did you mean {close[0]!r}?)"
        if hint:
            msg += f"; {hint}"
        super().__init__(msg, where=where)


class AmbiguousClaims(KBError):
    """A reference or pin that matches several claims (or claims of different kinds) where one is needed."""

    slug = "ambiguous-pin"


class PinMissError(NotFoundError):
    """A pin that matches no active claim: the message says so and lists the candidates."""

    slug = "pin-misses"

    def __init__(self, kind: str, name: str, choices: list[str] | None = None, *, hint: str = "",
                 where: str | None = None) -> None:
        NotFoundError.__init__(self, kind, name, hint=hint, where=where)
        self.message = (f"the pin on {name!r} matches no active claim" + (f"; {hint}" if hint else "") if hint
                        else f"{name!r} has no active claims (none recorded, or none by --known-at)")
        self.args = (f"{where}: {self.message}" if where else self.message,)


class ConflictError(KBError):
    """Something that already exists with different content."""

    slug = "conflict"


class AppendOnlyError(KBError):
    """An attempt to change or delete recorded history."""

    slug = "append-only"


class TamperedError(KBError):
    """A stored row that was changed in place, behind kb's back (see :mod:`kb.integrity`)."""

    slug = "tampered"


class FormulaError(KBError):
    """A formula that does not parse or names something undeclared."""

    slug = "bad-formula"


class EvaluationError(KBError):
    """A query that cannot be evaluated (unbound input, division by zero, cycle)."""

    slug = "evaluation"


class TemplateError(KBError):
    """A report template that does not compile or render."""

    slug = "template"
