"""``kb audit epoch``: recompute Epoch AI's derived figures from the dataset's own imported claims.

Checks, each over every row where its inputs exist:

- ``6ND``: a model's training compute against 6 x parameters x training tokens x epochs (language
  models; one epoch where the dataset gives none). Fine-tunes count their base model's compute, and
  mixture-of-experts models their total parameters, so this check lists many rows that are not errors;
- ``implied-mfu``: the utilisation a model's training compute implies on its hardware
  (compute / (chips x the chip's dense BF16 peak x training time)), flagged above 100% or below 5%;
  where the dataset gives an MFU, the compute it implies is compared too;
- ``h100-equivalents``: a cluster's H100 equivalents against the sum over its chip types (primary and
  secondary) of chips x the chip's 8-bit OP/s (its 16-bit FLOP/s where it has no 8-bit figure) over the
  H100's 1,979 TOPS: the dataset's own basis (its ``Max OP/s`` column is the 8-bit figure where there is
  one, even where the 16-bit one is larger, as for the GB300, whose 8-bit figure is 165 TOPS);
- ``power``: a cluster's calculated power against the sum over its chip types of chips x TDP, x 1.82
  (server overhead) x PUE, the
  dataset's documented method; the PUE of each year is inferred from the rows themselves (the
  median), since the documentation's source table is not at hand, and rows off it are listed;
- ``name``: a model whose name gives a parameter count ("15B") that its parameters do not match.

Figures are compared by the factor max(a/b, b/a); a row is listed when it exceeds ``factor``.
"""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..claims import is_active
from ..errors import KBError
from ..numfmt import sig

if TYPE_CHECKING:
    from ..store import Store

H100_BF16 = 989.4e12  # FLOP/s, dense
SYSTEM_OVERHEAD = 1.82  # Epoch's multiplier for non-GPU server hardware (DGX H100 specifications)
DEFAULT_FACTOR = 1.5
POWER_TOLERANCE = 1.01  # the documented power method must reproduce the dataset within 1%
_NAME_SIZE = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)\s*([BM])\b(?!\s*(?:words|tokens|images|pairs|hours))", re.I)


@dataclass
class Finding:
    check: str
    entity: str
    name: str
    dataset_value: float  # SI
    recomputed: float  # SI
    unit: str  # SI unit of both
    factor: float
    facts: list[str]  # the claims the comparison used
    detail: str = ""


@dataclass
class Audit:
    checked: dict[str, int] = field(default_factory=dict)  # check -> rows with every input
    findings: list[Finding] = field(default_factory=list)  # beyond the factor, worst first
    compared: list[Finding] = field(default_factory=list)  # every comparison made, listed or not
    notes: list[str] = field(default_factory=list)
    thresholds: dict[str, float] = field(default_factory=dict)  # check -> the factor it lists rows beyond
    pue: dict[str, tuple[float, int]] = field(default_factory=dict)  # year -> (inferred PUE, rows)
    claims: int = 0  # the active Epoch AI claims audited
    criteria: dict[str, str] = field(default_factory=dict)  # check -> what a listed row does ("disagree by ...")


# checks whose rows are listed by their own test, not by --factor
CRITERIA = {"power": "are not reproduced within 1%", "implied-mfu": "imply an MFU above 100% or below 5%"}


def _ratio(a: float, b: float) -> float:
    if a <= 0 or b <= 0:
        return math.inf if a != b else 1.0
    return max(a / b, b / a)


def _epoch_claims(store: Store) -> dict[str, dict[str, list[Mapping[str, Any]]]]:
    out: dict[str, dict[str, list[Mapping[str, Any]]]] = {}
    for c in store.claims(None, None):
        if c["source"].startswith("epoch-") and is_active(c):
            out.setdefault(c["entity"], {}).setdefault(c["property"], []).append(c)
    return out


def audit(store: Store, factor: float = DEFAULT_FACTOR) -> Audit:
    """Every check over every row that has its inputs."""
    from .names import data_size_names, mapping_files

    data_sizes = data_size_names(mapping_files(store.root))  # names whose size counts data, not parameters
    claims = _epoch_claims(store)
    names = {e["id"]: e["name"] for e in store.entities().values()}
    result = Audit(claims=sum(len(v) for props in claims.values() for v in props.values()))

    def one(entity: str, prop: str, method: str | None = None) -> Mapping[str, Any] | None:
        found = [c for c in claims.get(entity, {}).get(prop, []) if method is None or c["method"] == method]
        return found[0] if len(found) == 1 else None

    known: dict[str, str | None] = {}

    def chip(conditions: str | None) -> str | None:
        """The hardware entity a count is of (``of NVIDIA H100 SXM5 80GB``), if one chip is named."""
        if not conditions or not conditions.startswith("of ") or "," in conditions:
            return None
        if conditions not in known:
            try:
                known[conditions] = store.entity(conditions[3:])["id"]
            except KBError:  # not a recorded chip
                known[conditions] = None
        return known[conditions]

    def chip_figure(entity: str, prop: str) -> Mapping[str, Any] | None:
        found = claims.get(entity, {}).get(prop, [])
        plain = [c for c in found if not c.get("configuration")] or found
        return plain[0] if len(plain) == 1 else None

    def chips_of(entity: str) -> list[tuple[str, Mapping[str, Any]]] | None:
        """A row's chips and their counts: one chip type, or each type of a mixed cluster (primary and
        secondary); None when no count names a recorded chip."""
        typed = [(hw, c) for c in claims.get(entity, {}).get("gpu_count", []) if (hw := chip(c["conditions"]))]
        return typed or None

    def basis(hw: str) -> Mapping[str, Any] | None:
        """The figure the dataset counts H100 equivalents by: the chip's 8-bit figure, else its 16-bit one."""
        return chip_figure(hw, "dense_int8_ops") or chip_figure(hw, "dense_bf16_flops")

    def flag(check: str, entity: str, ours: float, theirs: float, unit: str, used: list[Mapping[str, Any]],
             detail: str = "") -> None:
        result.checked[check] = result.checked.get(check, 0) + 1
        f = _ratio(theirs, ours)
        ids = list(dict.fromkeys(c["id"] for c in used))  # a claim used twice (the H100 as chip and basis) once
        row = Finding(check, entity, names.get(entity, entity), theirs, ours, unit, f, ids, detail)
        result.compared.append(row)
        if f > factor:
            result.findings.append(row)

    pue_rows: dict[str, list[tuple[str, float, float, list[Mapping[str, Any]]]]] = {}
    for entity, props in claims.items():
        compute, params, tokens = (one(entity, p) for p in ("training_compute", "parameters", "training_tokens"))
        if compute and params and tokens:
            passes = one(entity, "epochs")
            seen = tokens["si_value"] * (passes["si_value"] if passes else 1.0)
            flag("6ND", entity, 6 * params["si_value"] * seen, compute["si_value"], "FLOP",
                 [compute, params, tokens, *([passes] if passes else [])],
                 f"{passes['si_value']:g} epoch(s)" if passes else "one epoch assumed")
        chips = chips_of(entity)
        time = one(entity, "training_duration")
        single = chips[0] if chips and len(chips) == 1 else None
        peak = chip_figure(single[0], "dense_bf16_flops") if single else None
        if compute and single and time and peak and single[1]["si_value"] * peak["si_value"] * time["si_value"] > 0:
            count = single[1]
            capacity = count["si_value"] * peak["si_value"] * time["si_value"]
            implied = compute["si_value"] / capacity
            result.checked["implied-mfu"] = result.checked.get("implied-mfu", 0) + 1
            if implied > 1 or implied < 0.05:
                result.findings.append(Finding(
                    "implied-mfu", entity, names.get(entity, entity), compute["si_value"], capacity, "FLOP",
                    max(implied, 1 / implied) if implied > 0 else math.inf, [compute["id"], count["id"], time["id"],
                                                                             peak["id"]],
                    f"implied MFU {implied * 100:.3g}% on the chips' dense BF16 peak"))
            mfu = one(entity, "utilization")
            if mfu:
                flag("mfu-compute", entity, capacity * mfu["si_value"], compute["si_value"], "FLOP",
                     [compute, count, time, peak, mfu])
        equivalents = one(entity, "h100_equivalents")
        bases = [basis(hw) for hw, _ in chips or []]
        h100 = basis("h100-sxm")
        if equivalents and chips and h100 and h100["si_value"] > 0 and all(bases):
            total = sum(c["si_value"] * b["si_value"] for (_, c), b in zip(chips, bases) if b)
            # a chip whose 8-bit figure is below its 16-bit one (the GB300): that figure too, last
            larger = [x for (hw, _), b in zip(chips, bases) if b and (x := chip_figure(hw, "dense_bf16_flops"))
                      and x["si_value"] > b["si_value"]]
            flag("h100-equivalents", entity, total / h100["si_value"], equivalents["si_value"], "",
                 [equivalents, *(c for _, c in chips), *(b for b in bases if b), h100, *larger],
                 " + ".join(f"{sig(c['si_value'], 4)} x {b['value_text']} {b['unit']}" for (_, c), b in zip(chips, bases) if b)
                 + f" over the H100's {h100['value_text']} {h100['unit']}")
        power = one(entity, "site_power", "calculated")
        tdps = [chip_figure(hw, "tdp") for hw, _ in chips or []]
        if power and chips and all(tdps) and sum(c["si_value"] * t["si_value"] for (_, c), t in zip(chips, tdps) if t) > 0:
            year = (chips[0][1]["as_of"] or "")[:4] or "undated"
            it = sum(c["si_value"] * t["si_value"] for (_, c), t in zip(chips, tdps) if t)
            pue = power["si_value"] / (it * SYSTEM_OVERHEAD)
            pue_rows.setdefault(year, []).append((entity, pue, it, [power, *(c for _, c in chips), *(t for t in tdps if t)]))
        name_size = _NAME_SIZE.search(names.get(entity, ""))
        if params and name_size and props.get("parameters") and names.get(entity, "").casefold() not in data_sizes:
            stated = float(name_size.group(1)) * (1e9 if name_size.group(2).upper() == "B" else 1e6)
            flag("name", entity, stated, params["si_value"], "", [params],
                 f"the name says {name_size.group(0)}")
    for year, rows in sorted(pue_rows.items()):
        typical = statistics.median(p for _, p, _, _ in rows)
        result.notes.append(f"power: PUE {typical:.4g} for {year} (the median over {len(rows)} rows)")
        result.pue[year] = (typical, len(rows))
        for entity, pue, it, used in rows:
            power = used[0]
            expected = it * SYSTEM_OVERHEAD * typical
            result.checked["power"] = result.checked.get("power", 0) + 1
            off = _ratio(power["si_value"], expected)
            row = Finding("power", entity, names.get(entity, entity), power["si_value"], expected, "W", off,
                          [c["id"] for c in used], f"implied PUE {pue:.3g} against {typical:.4g} for {year}")
            result.compared.append(row)
            if off > POWER_TOLERANCE:  # the method reproduces the dataset within 1% where it applies
                result.findings.append(row)
    result.thresholds = {check: (POWER_TOLERANCE if check == "power" else factor) for check in result.checked}
    result.criteria = {check: CRITERIA.get(check, f"disagree by more than {factor:g}x") for check in result.checked}
    result.findings.sort(key=lambda f: (-f.factor, f.check, f.entity))
    return result
