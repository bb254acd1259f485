"""What a template printed, as an explicit list: each number, claim and mark is a token in the text,
replaced (in text order) once the whole text is known. Footnote labels and the manifest's list of
numbers both come from that one pass, so nothing is recorded that the output does not show."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ..engine import Result

TOKEN = re.compile("\x00([0-9]+)\x00")


@dataclass
class Printed:
    text: str  # as formatted, without marks
    marks: str  # none | sources (the facts' own notes) | computed (one note for a derived number) | cite | note
    kind: str | None = None  # query | fact | input | claim | step: a number the manifest records; None: a bare mark
    ref: str | None = None
    scenario: str | None = None
    unit: str = ""
    value: float | None = None
    low: float | None = None
    high: float | None = None
    claims: dict[str, Any] | None = None
    result: Result | None = None
    # (source, locator, quote, note, the URLs the claim cites) for a bare or a listed claim's mark
    cite: tuple[str, str | None, str | None, str | None, list[str]] | None = None
    fact: dict[str, Any] | None = None  # the claim a listed claim (conflicts()) prints
    note: tuple[Any, str] | None = None  # (key, text) of the one note of a figure computed outside a query


class Page:
    """The tokens of one render, in the order the template made them."""

    def __init__(self) -> None:
        self.items: list[Printed] = []

    def token(self, item: Printed) -> str:
        self.items.append(item)
        return f"\x00{len(self.items) - 1}\x00"
