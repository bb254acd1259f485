"""Footnotes: one per (source, locator) with its quotes and notes, and one per computed number.

Labels are numbered in the order marks appear in the final text, which is the order in which
markdown renderers (GFM, pandoc) number them, so a footnote never refers to another by number.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import NotFoundError
from ..numfmt import claim_text
from .formatting import exact_claim_value, qualifier_text

if TYPE_CHECKING:
    from ..store import Store

MAX_MARKS_IN_A_ROW = 3  # more marks than this on one value are separated by commas


_MARKDOWN = re.compile(r"([\\`\[\]<>])")


def inline(text: str, cell: bool = False) -> str:
    """Text from the data (a quote, a name, a note) as one line of literal markdown: whitespace collapsed, and
    the characters that would start a footnote, a link or HTML escaped (and ``|`` in a table ``cell``)."""
    out = _MARKDOWN.sub(r"\\\1", " ".join(str(text).split()))
    return out.replace("|", "\\|") if cell else out


@dataclass
class SourceNote:
    label: int
    source: Mapping[str, Any]
    locator: str | None
    quotes: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    cites: list[str] = field(default_factory=list)  # what the source cites for these claims (a dataset row's links)

    def text(self) -> str:
        src = self.source
        authors = ", ".join(json.loads(src.get("authors") or "[]"))
        parts = [f"*{inline(src['title'])}*"]
        who = [x for x in (authors, src.get("publisher") if src.get("publisher") != authors else None) if x]
        if who:
            parts.append(inline(", ".join(who)))
        if src.get("published"):
            parts.append(src["published"])
        line = ". ".join(parts) + "."
        if self.locator:
            line += f" {inline(self.locator)}."
        if self.cites:
            line += " Citing " + ", ".join(f"<{_url(u)}>" for u in self.cites) + "."
        for q in self.quotes:
            line += f' "{inline(q)}"'
        if src.get("url"):
            line += f" <{_url(src['url'])}>"
        for note in self.notes:
            line += f" {inline(note)}"
        return line


def _url(url: str) -> str:
    """A URL inside an autolink: nothing that would close it or start markup."""
    return re.sub(r"[\s<>\\`|\[\]]", lambda m: f"%{ord(m.group(0)):02X}", url)


@dataclass
class ComputedNote:
    label: int
    body: str

    def text(self) -> str:
        return self.body


class Footnotes:
    """The footnotes of one render, labelled in order of first use."""

    def __init__(self, sources: Mapping[str, Mapping[str, Any]]) -> None:
        self.sources = sources
        self._notes: dict[Any, SourceNote | ComputedNote] = {}

    def check_source(self, source_id: str) -> None:
        if source_id not in self.sources:
            raise NotFoundError("source", source_id, list(self.sources))

    def cite(self, source_id: str, locator: str | None, quote: str | None = None, note: str | None = None,
             cites: list[str] | None = None) -> str:
        self.check_source(source_id)
        key = ("source", source_id, locator or None)
        fn = self._notes.get(key)
        if fn is None:
            fn = self._notes[key] = SourceNote(len(self._notes) + 1, self.sources[source_id], locator or None)
        assert isinstance(fn, SourceNote)
        if quote and quote not in fn.quotes:
            fn.quotes.append(quote)
        if note and note not in fn.notes:
            fn.notes.append(note)
        fn.cites += [u for u in cites or () if u not in fn.cites]
        return f"[^{fn.label}]"

    def computed(self, key: Any, body: str) -> str:
        """One mark for a computed number; the same number printed again reuses its note."""
        fn = self._notes.get(("computed", key))
        if fn is None:
            fn = self._notes[("computed", key)] = ComputedNote(len(self._notes) + 1, body)
        return f"[^{fn.label}]"

    def block(self) -> str:
        return "\n".join(f"[^{fn.label}]: {fn.text()}" for fn in sorted(self._notes.values(), key=lambda f: f.label))

    def __bool__(self) -> bool:
        return bool(self._notes)


def join_marks(marks: list[str]) -> str:
    """Marks of one value, each once, in label order; separated by commas when there are many."""
    labels = sorted({int(m[2:-1]) for m in marks})
    out = [f"[^{n}]" for n in labels]
    return ("" if len(out) <= MAX_MARKS_IN_A_ROW else ", ").join(out)


def competing_note(store: Store, sources: Mapping[str, Mapping[str, Any]], fact: Mapping[str, Any]) -> str | None:
    """Names the other active claims of a fact: those that differ (with their values) and those that agree."""
    from .. import claims
    from ..selection import compatible

    others = sorted((c for c in store.claims(fact["entity"], fact["property"])
                     if claims.is_active(c) and c["id"] != fact["id"] and compatible(c, fact)), key=claims.policy_key)
    if not others:
        return None

    def where(c: Mapping[str, Any]) -> str:
        return f"{sources[c['source']]['title']}, {c['locator'] or 'no locator'}"

    def key(c: Mapping[str, Any]) -> tuple[Any, ...]:
        return tuple(None if v is None else float(f"{v:.9g}") for v in (c["si_value"], c["si_low"], c["si_high"]))

    differ = [c for c in others if key(c) != key(fact)]
    agree = [c for c in others if key(c) == key(fact)]
    ref = f"{fact['entity']}.{fact['property']}"
    parts = []
    if differ:
        listed = "; ".join(f"{exact_claim_value(c)} ({where(c)})" for c in differ)
        parts.append(f"Competing claims for {ref}: {listed}.")
    if agree:
        parts.append(f"The same value for {ref} is also given by {'; '.join(where(c) for c in agree)}.")
    return " ".join(parts)


def claim_note(claim: Mapping[str, Any], competing: str | None) -> str | None:
    """A footnote's note for a claim: its qualifiers (so a reader sees what the figure covers), then competitors.
    A footnote is per (source, locator) and may support several claims, so a qualified claim is named."""
    text = qualifier_text(claim)
    if text:
        ref = f"{claim['entity']}.{claim['property']}"
        text = f"For {ref} = {claim_text(claim)}" + f": {text}."
    return " ".join(x for x in (text, competing) if x) or None
