"""Facts as claims: validation, content-derived ids, effective rank and the best-value policy.

Pure functions over plain dicts (rows of the ``fact`` and ``event`` tables); no database here.

Best-value policy (documented in the README): among the claims for one entity
and property that are neither deprecated nor superseded, prefer rank
``preferred``, then the higher confidence (confirmed > likely > speculative),
then the most recent as-of date (undated last), then the most recently
recorded, then the smallest id (so the choice is always deterministic). A newer
claim of lower confidence therefore never displaces a disagreeing one by
recency alone: only a ``preferred`` rank (with its reason) does.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterable, Mapping
from typing import Any, cast

from . import units
from .errors import FileFormatError, KBError, NotFoundError, ValueSyntaxError, clip
from .rows import ClaimRow, FactRow, PropertyRow
from .values import parse_date, parse_value

METHODS = ("reported", "calculated", "estimated")
CONFIDENCES = ("confirmed", "likely", "speculative")
UNSET = "unset"  # a confidence the claimant did not give (an imported row's empty or "Unknown"); ranks as likely
RANKS = ("preferred", "normal", "deprecated")
SOURCE_KINDS = (
    "paper", "datasheet", "whitepaper", "blog", "news", "analyst", "podcast", "talk", "comment",
    "announcement", "observation", "book", "dataset", "other",
)
ENTITY_KINDS = (
    "accelerator", "system", "cluster", "site", "model", "training-run", "organization", "method",
    "organism", "other",
)

STATUSES = ("planned", "under-construction", "operational", "decommissioned")
# Qualifiers: what analysts record beside a value. Claims that differ in one of GROUP_QUALIFIERS are
# different quantities (a chip's TDP and a facility's power; a planned and a built site), not competing values.
QUALIFIERS = ("scope", "status", "configuration", "conditions", "dollar_year", "method_detail")
GROUP_QUALIFIERS = ("scope", "status", "configuration")

# Fields whose content defines a claim (and so its id). recorded_at is not one.
ID_FIELDS = (
    "entity", "property", "value_text", "unit", "interval_kind", "value", "as_of", "source",
    "locator", "quote", "method", "confidence", "rank", "rank_reason", "note", "supersedes",
)
# Part of the id only when set, so a claim without them keeps the id it had before they existed.
OPTIONAL_ID_FIELDS = QUALIFIERS + ("plausibility", "plausibility_reason")
_SLUG = re.compile(r"[a-z0-9][a-z0-9._-]*")


def content_id(payload: dict[str, Any], prefix: str = "") -> str:
    blob = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return prefix + hashlib.sha256(blob.encode("utf-8")).hexdigest()[:12]


def fact_id(row: Mapping[str, Any]) -> str:
    payload = {k: row.get(k) for k in ID_FIELDS}
    payload.update({k: row[k] for k in OPTIONAL_ID_FIELDS if row.get(k) is not None})
    if row.get("cites"):
        payload["cites"] = row["cites"]
    return content_id(payload)


def event_id(fact: str, rank: str, reason: str, recorded_at: str) -> str:
    return content_id({"fact": fact, "rank": rank, "reason": reason, "at": recorded_at}, "e")


def _choice(value: str | None, allowed: tuple[str, ...], what: str, default: str) -> str:
    if value is None or value == "":
        return default
    if value not in allowed:
        raise ValueSyntaxError(f"{what} {value!r} is not one of: {', '.join(allowed)}")
    return value


def build_fact(spec: Mapping[str, Any], properties: Mapping[str, PropertyRow], recorded_at: str) -> FactRow:
    """Validate a fact spec (as written in YAML or on the CLI) into a ``fact`` row.

    ``spec`` keys: entity, property, value, unit, source, and optionally interval, point, as_of,
    locator, quote, method, confidence, rank, rank_reason, note, supersedes, the qualifiers
    (scope, status, configuration, conditions, dollar_year, method_detail) and plausibility,
    plausibility_reason. Entity and source existence are checked by the caller.
    """
    prop_name = spec["property"]
    prop = properties.get(prop_name)
    if prop is None:
        raise NotFoundError("property", prop_name, list(properties), hint="see `kb properties`, or declare it "
                            "under 'properties:' (README: The vocabulary grows)")
    unit = (spec.get("unit") or "").strip()
    if unit == "1":
        unit = ""
    value = parse_value(str(spec["value"]), interval=spec.get("interval"), point=spec.get("point"), percent_ok=True)
    if "%" in value.text:  # "38%": the unit is written with the value
        if unit not in ("", "%"):
            raise ValueSyntaxError(f"value {value.text!r} is a percentage, but the unit is {unit!r}; give one")
        unit = "%"
    units.check_dimension(unit, prop["unit"], f"a value for {prop_name}")
    if units.bare_percent(unit, prop["unit"], value.point, value.high):
        raise KBError(f"a value for {prop_name} of {value.text} with no unit reads as a fraction "
                      f"({value.point * 100:g}%); give the unit '%', or write a fraction such as 0.4")
    factor = units.si_factor(unit)

    if not all(math.isfinite(x * factor) for x in (value.point, value.low or 0.0, value.high or 0.0)):
        raise ValueSyntaxError(f"a value for {prop_name} of {value.text} {unit}".rstrip() + " is out of range: in SI "
                               "units it is not a finite number")
    as_of, precision = parse_date(spec.get("as_of"), "as_of")
    row: FactRow = {
        "id": "",
        "entity": spec["entity"],
        "property": prop_name,
        "value_text": value.text,
        "unit": unit,
        "interval_kind": value.kind,
        "value": value.point,
        "low": value.low,
        "high": value.high,
        "si_value": value.point * factor,
        "si_low": None if value.low is None else value.low * factor,
        "si_high": None if value.high is None else value.high * factor,
        "as_of": as_of,
        "as_of_precision": precision,
        "source": spec["source"],
        "locator": spec.get("locator") or None,
        "quote": spec.get("quote") or None,
        "method": _choice(spec.get("method"), METHODS, "method", "reported"),
        "confidence": _choice(spec.get("confidence"), (*CONFIDENCES, UNSET), "confidence", "likely"),
        "rank": _choice(spec.get("rank"), RANKS, "rank", "normal"),
        "rank_reason": spec.get("rank_reason") or None,
        "note": spec.get("note") or None,
        "supersedes": spec.get("supersedes") or None,
        **qualifiers(spec, prop),  # type: ignore[typeddict-item]
        "cites": _cites(spec.get("cites")),
        "recorded_at": recorded_at,
    }
    _check_plausible(row, prop, spec)
    row["id"] = fact_id(row)
    given = spec.get("id")
    if given and given != row["id"]:
        raise FileFormatError(
            f"fact id {given!r} does not match its content (expected {row['id']!r}); "
            "an exported fact was edited: remove its id to record it as a new claim"
        )
    return row


def _cites(value: Any) -> str | None:
    """``cites:``: a URL or a list of URLs (the primary sources a dataset row cites), stored as a JSON list."""
    if value is None or value == "" or value == []:
        return None
    urls = [value] if isinstance(value, str) else list(value) if isinstance(value, (list, tuple)) else None
    if urls is None or not all(isinstance(u, str) and u.strip() for u in urls):
        raise ValueSyntaxError("cites must be a URL or a list of URLs")
    return json.dumps([check_url(u.strip(), "cites") for u in urls])


def qualifiers(spec: Mapping[str, Any], prop: PropertyRow) -> dict[str, str | None]:
    """The qualifier and plausibility fields of a fact spec, checked."""
    out: dict[str, str | None] = {k: (str(spec[k]).strip() or None) if spec.get(k) is not None else None
                                  for k in OPTIONAL_ID_FIELDS}
    for key in ("scope", "configuration"):
        if out[key] is not None and not _SLUG.fullmatch(out[key] or ""):
            raise ValueSyntaxError(f"{key} {out[key]!r} must be a slug (lower-case words joined by '-'), "
                                   f"e.g. {'it-load' if key == 'scope' else 'hgx-b200'!r}")
    for key in ("conditions", "method_detail"):  # a qualifier is a phrase shown in one table cell
        text = out[key] or ""
        if "\n" in text or "\r" in text or len(text) > 300:
            raise ValueSyntaxError(f"{key} must be one line of at most 300 characters (it is a qualifier, shown "
                                   "in tables); put longer text in the note")
    allowed = json.loads(prop.get("scopes") or "[]")
    if out["scope"] is not None and allowed and out["scope"] not in allowed:
        raise ValueSyntaxError(f"scope {out['scope']!r} is not one of {prop['name']}'s scopes: {', '.join(allowed)}")
    if out["status"] is not None and out["status"] not in STATUSES:
        raise ValueSyntaxError(f"status {out['status']!r} is not one of: {', '.join(STATUSES)}")
    if out["dollar_year"] is not None:
        if "[currency]" not in prop["dimension"]:
            raise ValueSyntaxError(f"dollar_year is for amounts of money; {prop['name']} is not one")
        if not re.fullmatch(r"(19|20)[0-9]{2}", out["dollar_year"] or ""):
            raise ValueSyntaxError(f"dollar_year {out['dollar_year']!r} must be a year such as 2023")
    if out["plausibility"] is not None:
        if out["plausibility"] != "accepted":
            raise ValueSyntaxError(f"plausibility {out['plausibility']!r} must be 'accepted' (with a plausibility_reason)")
        if not out["plausibility_reason"]:
            raise ValueSyntaxError("plausibility: accepted needs a plausibility_reason (why the value is right)")
    elif out["plausibility_reason"] is not None:
        raise ValueSyntaxError("plausibility_reason goes with plausibility: accepted")
    return out


def outside_plausible(prop: Mapping[str, Any], *si_values: float | None) -> bool:
    """Whether any of the values (SI; None ignored) lies outside the property's plausible range."""
    low, high = prop.get("plausible_low"), prop.get("plausible_high")
    return any(v is not None and ((low is not None and v < low * (1 - 1e-12))
                                  or (high is not None and v > high * (1 + 1e-12))) for v in si_values)


def _check_plausible(row: FactRow, prop: PropertyRow, spec: Mapping[str, Any]) -> None:
    """A value outside the property's plausible range is refused unless the fact accepts it with a reason."""
    if row["plausibility"] != "accepted" and outside_plausible(prop, row["si_low"], row["si_value"], row["si_high"]):
        raise KBError(f"a value for {prop['name']} of {row['value_text']} {row['unit']}".rstrip()
                      + f" is outside its plausible range ({prop['plausible']}); check the value and the "
                      "unit, or accept it with a reason (--accept-implausible REASON; in a fact file, "
                      "plausibility: accepted and a plausibility_reason)")


def check_entity_kind(kind: str) -> str:
    return _choice(kind, ENTITY_KINDS, "entity kind", "other")


def check_source_kind(kind: str | None) -> str:
    return _choice(kind, SOURCE_KINDS, "source kind", "other")


# letters and marks that show nothing: combining grapheme joiner, Hangul fillers, braille blank
_INVISIBLE = frozenset("\u034f\u115f\u1160\u3164\uffa0\u2800")


def check_visible(text: str, what: str) -> str:
    """A name or alias: no invisible or direction-changing characters (``H100\u200b`` would be a second
    ``H100`` that looks the same), and no control characters."""
    import unicodedata

    bad = next((c for c in text if unicodedata.category(c) in ("Cc", "Cf", "Co", "Cs", "Zl", "Zp")
                or (unicodedata.category(c) == "Zs" and c != " ") or c in _INVISIBLE
                or 0xFE00 <= ord(c) <= 0xFE0F or 0xE0100 <= ord(c) <= 0xE01EF), None)
    if bad is None and unicodedata.normalize("NFC", text) != text:
        raise ValueSyntaxError(f"{what} {text[:80]!r} is not in Unicode's composed form (NFC): an accent written as "
                               "a separate mark would be a second name that looks like the first; retype it")
    if bad is not None:
        name = unicodedata.name(bad, "a control character").lower()
        raise ValueSyntaxError(f"{what} {clip(text)!r} holds U+{ord(bad):04X} ({name}), an invisible or control "
                               "character; write the name without it")
    return text


WEB_SCHEMES = ("http", "https")


def check_url(url: str, what: str) -> str:
    """A source's ``url`` or ``archive_url``, or a URL a claim ``cites``: a web address (http or https, with
    a host), since it is shown as a link; ``javascript:``, ``data:``, ``file:`` and bare paths are refused."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        ok = parts.scheme.lower() in WEB_SCHEMES and bool(parts.hostname)
    except ValueError:  # an unbalanced [ in the host
        ok = False
    if not ok or re.search(r"[\s\x00-\x1f\x7f]", url):
        raise ValueSyntaxError(f"{what} {clip(url)!r} is not an http:// or https:// address")
    return url


def annotate(facts: Iterable[Mapping[str, Any]], events: Iterable[Mapping[str, Any]]) -> list[ClaimRow]:
    """Add ``effective_rank``, ``rank_reason`` from the latest event, and ``superseded_by``.

    ``events`` must be those visible at the time of interest; facts likewise.
    """
    facts = list(facts)
    latest: dict[str, Mapping[str, Any]] = {}
    for event in sorted(events, key=lambda e: (e["recorded_at"], e["id"])):
        latest[event["fact"]] = event
    superseded: dict[str, str] = {}
    for f in sorted(facts, key=lambda f: (f["recorded_at"], f["id"])):
        if f.get("supersedes"):
            superseded[f["supersedes"]] = f["id"]
    out: list[ClaimRow] = []
    for f in facts:
        g: dict[str, Any] = dict(f)
        ev: Mapping[str, Any] | None = latest.get(f["id"])
        g["effective_rank"] = ev["rank"] if ev else f["rank"]
        g["effective_reason"] = ev["reason"] if ev else f.get("rank_reason")
        g["superseded_by"] = superseded.get(f["id"])
        out.append(cast(ClaimRow, g))
    return out


def is_active(fact: Mapping[str, Any]) -> bool:
    return fact["effective_rank"] != "deprecated" and not fact["superseded_by"]


def policy_key(fact: Mapping[str, Any]) -> tuple[Any, ...]:
    as_of = fact.get("as_of") or ""
    return (
        0 if fact["effective_rank"] == "preferred" else 1,
        CONFIDENCES.index(fact.get("confidence") if fact.get("confidence") in CONFIDENCES else "likely"),
        0 if as_of else 1,
        _Desc(as_of),
        _Desc(fact["recorded_at"]),
        METHODS.index(fact["method"]) if fact.get("method") in METHODS else len(METHODS),
        fact["id"],
    )


POLICY_STEPS = ("rank preferred", "higher confidence", "dated", "more recent as-of", "recorded later",
                "reported before calculated before estimated", "smaller id")


def why_better(a: Mapping[str, Any], b: Mapping[str, Any]) -> str:
    """The policy step that puts claim ``a`` before ``b`` (for notes that say why the best claim changed)."""
    for step, x, y in zip(POLICY_STEPS, policy_key(a), policy_key(b)):
        if x != y:
            return step
    return "the same"


class _Desc:
    """Wraps a string so that sorting puts larger values first."""

    __slots__ = ("v",)

    def __init__(self, v: str) -> None:
        self.v = v

    def __lt__(self, other: _Desc) -> bool:
        return self.v > other.v

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Desc) and self.v == other.v


def best(claims: Iterable[ClaimRow]) -> ClaimRow | None:
    """The best active claim by the policy, or None if every claim is deprecated or superseded."""
    active = [c for c in claims if is_active(c)]
    return min(active, key=policy_key) if active else None


def normalise_text(text: str) -> str:
    """Whitespace-insensitive form for comparing a quote with a source's text."""
    return " ".join(text.split())


def quote_in_text(quote: str, text: str) -> bool:
    """A verbatim quote appears in the source text (line breaks and runs of spaces aside)."""
    return normalise_text(quote) in normalise_text(text)


def split_ref(ref: str) -> tuple[str, str]:
    """``entity.property`` -> (entity, property). Entity ids may contain dots
    (``opendiloco-1.1b``); property names never do, so the last dot separates them."""
    entity, dot, prop = ref.strip().rpartition(".")
    if not dot or not entity or not prop.isidentifier():
        raise KBError(f"{ref!r} must be written ENTITY.PROPERTY, e.g. h100-sxm.dense_bf16_flops")
    return entity, prop


def resolve_prefix(prefix: str, ids: Iterable[str], what: str = "fact") -> str:
    prefix = prefix.strip()
    if not prefix:
        raise KBError(f"give a {what} id (or its first characters); see `kb facts --all` for {what} ids")
    matches = [i for i in ids if i.startswith(prefix)]
    if not matches:
        raise NotFoundError(what, prefix, hint=f"see `kb facts --all` for {what} ids")
    if len(matches) > 1:
        raise KBError(f"{what} id {prefix!r} is ambiguous ({len(matches)} match); give more characters")
    return matches[0]
