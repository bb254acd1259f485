"""The store: competing claims, the best-value policy, rank events, supersession, known_at."""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent

import pytest
from helpers import by_value

from kb.claims import build_fact
from kb.errors import AppendOnlyError, ConflictError, DimensionError, KBError, NotFoundError, UnitError
from kb.load import load_paths, load_rows


def load_text(store, tmp_path: Path, text: str, name: str = "extra.yaml"):
    path = tmp_path / name
    path.write_text(dedent(text), encoding="utf-8")
    return load_paths(store, [path])


POD = """
entities:
  - id: pod
    kind: cluster
facts:
"""


def claim(value: str, **fields: str) -> str:
    lines = ["  - entity: pod", "    property: gpu_count", f'    value: "{value}"', '    unit: ""']
    fields.setdefault("source", "news-item")
    lines += [f'    {k}: "{v}"' for k, v in fields.items()]
    return "\n".join(lines) + "\n"


def created_with(root: Path, db, text: str):
    """The fixture project's store, created with ``text`` among its facts: a recorded_at earlier than what a
    database holds is refused by a later load, so history with times of its own is written at creation."""
    from kb.project import Project

    (root / "facts" / "extra.yaml").write_text(dedent(text), encoding="utf-8")
    project = Project.open(root, db)
    return project


def best_value(store) -> float:
    return store.best("pod", "gpu_count")["value"]


# ---- the fixture as loaded


def test_fixture_loaded(store):
    assert set(store.sources()) == {"vendor-sheet", "news-item", "analyst-report"}
    assert set(store.entities()) == {"h100-sxm", "b200", "goodyear", "big-run"}
    assert len(store.claims()) == 11
    h100 = store.best("h100-sxm", "dense_bf16_flops")
    assert h100["si_value"] == pytest.approx(9.894e14)
    assert h100["as_of"] == "2022" and h100["as_of_precision"] == "year"
    assert store.best("h100-sxm", "hbm_bandwidth")["si_value"] == pytest.approx(3.35e12 * 8)
    power = store.best("goodyear", "site_power")
    assert (power["interval_kind"], power["value"], power["low"], power["high"]) == ("range", 25.5, 24.0, 27.0)
    assert power["si_value"] == pytest.approx(2.55e7)
    buildings = store.best("goodyear", "building_count")
    assert (buildings["interval_kind"], buildings["low"], buildings["high"]) == ("at_least", 5.0, None)
    duration = store.best("big-run", "training_duration")
    assert duration["interval_kind"] == "approximate"
    assert duration["si_value"] == pytest.approx(6 * 365.25 / 12 * 86400)


def test_entity_by_alias_and_unknown_entity(store):
    assert store.entity("H100")["id"] == "h100-sxm"
    with pytest.raises(NotFoundError) as err:
        store.entity("h100-sx")
    assert "did you mean 'h100-sxm'" in str(err.value)
    with pytest.raises(NotFoundError) as err:
        store.best("h100-sxm", "dense_bf16_flop")
    assert "did you mean 'dense_bf16_flops'" in str(err.value)


# ---- competing claims and the policy


def test_competing_claims_kept_and_most_recent_as_of_wins(store):
    found = store.claims("goodyear", "gpu_count")
    assert sorted(c["value"] for c in found) == [100000.0, 150000.0]
    assert all(c["effective_rank"] == "normal" and c["superseded_by"] is None for c in found)
    best = store.best("goodyear", "gpu_count")
    assert best["value"] == 150000.0 and best["as_of"] == "2024-09"
    # pinned to a source, the other claim is the answer
    assert store.best("goodyear", "gpu_count", source="news-item")["value"] == 100000.0


def test_policy_preferred_rank_first(store, tmp_path):
    load_text(store, tmp_path, POD + claim("1", as_of="2023", rank="preferred") + claim("2", as_of="2024"))
    assert best_value(store) == 1.0


def test_policy_confidence_before_recency(store, tmp_path):
    # a newer but less certain claim does not displace a confirmed one by recency alone
    load_text(store, tmp_path, POD + claim("1", as_of="2023-05", confidence="confirmed")
              + claim("2", as_of="2024-01", confidence="speculative"))
    assert best_value(store) == 1.0


def test_policy_undated_claims_last(store, tmp_path):
    load_text(store, tmp_path, POD + claim("1", confidence="likely") + claim("2", as_of="2020", confidence="likely"))
    assert best_value(store) == 2.0


def test_policy_most_recent_as_of_among_equal_confidence(store, tmp_path):
    load_text(store, tmp_path, POD + claim("1", as_of="2023", confidence="likely")
              + claim("2", as_of="2024", confidence="likely") + claim("3", as_of="2024", confidence="speculative"))
    assert best_value(store) == 2.0


def test_policy_confidence_among_equal_as_of(store, tmp_path):
    load_text(store, tmp_path, POD + claim("1", as_of="2024", confidence="likely")
              + claim("2", as_of="2024", confidence="confirmed") + claim("3", as_of="2024", confidence="speculative"))
    assert best_value(store) == 2.0


def test_policy_most_recently_recorded_last(root, db):
    project = created_with(root, db, POD + claim("1", recorded_at="2024-03-01T00:00:00Z")
                           + claim("2", recorded_at="2024-05-01T00:00:00Z") + claim("3", recorded_at="2024-04-01T00:00:00Z"))
    try:
        assert best_value(project.store) == 2.0
    finally:
        project.close()


def test_policy_full_tie_is_deterministic(root, db):
    project = created_with(root, db, POD + claim("1", recorded_at="2024-03-01T00:00:00Z")
                           + claim("2", recorded_at="2024-03-01T00:00:00Z"))
    try:
        ids = sorted(c["id"] for c in project.store.claims("pod", "gpu_count"))
        assert len(ids) == 2 and project.store.best("pod", "gpu_count")["id"] == ids[0]
    finally:
        project.close()


def test_a_backdated_recorded_at_is_refused_once_the_database_holds_later_entries(store, tmp_path):
    before = store.sql("SELECT id, recorded_at FROM fact ORDER BY id")
    with pytest.raises(KBError, match=r"extra.yaml:\d+: recorded_at 2024-03-01T00:00:00Z is earlier than the latest "
                       r"time already recorded \(20\d\d-.*\): it would change what --known-at says"):
        load_text(store, tmp_path, POD + claim("1", recorded_at="2024-03-01T00:00:00Z"))
    assert store.sql("SELECT id, recorded_at FROM fact ORDER BY id") == before  # nothing written
    report = load_paths(store, [tmp_path / "extra.yaml"], record_now=True)  # recorded now instead
    (fact,) = [f for f in store.claims("pod", "gpu_count") if f["id"] in report.fact_ids]
    assert fact["recorded_at"] > "2026-12-01"


# ---- rank events


def test_deprecate_removes_from_best_and_prefer_makes_best(store):
    claims = store.claims("goodyear", "gpu_count")
    newer, older = by_value(claims, 150000), by_value(claims, 100000)
    ev = store.record_rank(newer["id"], "deprecated", "  misread the report ")
    assert ev["fact"] == newer["id"] and ev["rank"] == "deprecated" and ev["reason"] == "misread the report"
    assert ev["id"].startswith("e")
    assert store.best("goodyear", "gpu_count")["id"] == older["id"]
    # the deprecated claim is still listed, with its effective rank and reason
    again = by_value(store.claims("goodyear", "gpu_count"), 150000)
    assert again["effective_rank"] == "deprecated"
    assert again["effective_reason"] == "misread the report"
    assert again["rank"] == "normal"  # the stored row never changes

    store.record_rank(newer["id"], "normal", "re-read it")
    assert store.best("goodyear", "gpu_count")["id"] == newer["id"]
    store.record_rank(older["id"][:6], "preferred", "primary source")  # a unique prefix will do
    assert store.best("goodyear", "gpu_count")["id"] == older["id"]


def test_everything_deprecated_means_no_best(store):
    for c in store.claims("goodyear", "gpu_count"):
        store.record_rank(c["id"], "deprecated", "both wrong")
    with pytest.raises(NotFoundError) as err:
        store.best("goodyear", "gpu_count")
    assert "no active claim" in str(err.value)


def test_record_rank_refusals(store):
    fid = store.best("h100-sxm", "tdp")["id"]
    with pytest.raises(KBError, match="needs a reason"):
        store.record_rank(fid, "deprecated", "  ")
    with pytest.raises(ConflictError, match="already normal"):
        store.record_rank(fid, "normal", "no change")
    with pytest.raises(NotFoundError):
        store.record_rank("ffffffffffff", "deprecated", "no such fact")
    with pytest.raises(KBError, match="give a fact id"):
        store.record_rank("", "deprecated", "every id starts with the empty string")
    assert store.sql("SELECT count(*) AS n FROM event")[0]["n"] == 0


# ---- supersession


def add_fact(store, spec: dict) -> dict:
    """The one write path for a claim (what `kb add fact` calls)."""
    return load_rows(store, facts=[spec], strict=True)["fact"][0]


def supersede(store, old_id: str, value: str) -> dict:
    return add_fact(store, {
        "entity": "goodyear", "property": "gpu_count", "value": value, "unit": "", "as_of": "2024-09",
        "source": "news-item", "supersedes": old_id, "rank_reason": "correction",
    })


def test_superseded_claim_is_never_best(store):
    claims = store.claims("goodyear", "gpu_count")
    newer = by_value(claims, 150000)
    store.record_rank(newer["id"], "preferred", "analyst is primary")
    new = supersede(store, newer["id"], "140000")
    assert new["supersedes"] == newer["id"]
    after = {c["id"]: c for c in store.claims("goodyear", "gpu_count")}
    assert after[newer["id"]]["superseded_by"] == new["id"]
    assert after[newer["id"]]["effective_rank"] == "preferred"
    best = store.best("goodyear", "gpu_count")
    assert best["id"] != newer["id"]
    assert best["id"] == new["id"]
    with pytest.raises(NotFoundError):
        store.best("goodyear", "gpu_count", source="analyst-report")


def test_supersede_an_already_superseded_fact_is_refused(store):
    old = by_value(store.claims("goodyear", "gpu_count"), 100000)
    supersede(store, old["id"], "110000")
    with pytest.raises(AppendOnlyError, match="already superseded"):
        supersede(store, old["id"], "120000")


def test_correction_must_keep_entity_and_property(store):
    old = store.best("h100-sxm", "tdp")
    with pytest.raises(KBError, match="must be for h100-sxm.tdp"):
        add_fact(store, {"entity": "b200", "property": "tdp", "value": "1000", "unit": "W",
                        "source": "vendor-sheet", "supersedes": old["id"]})


# ---- adding facts


def test_add_fact_refuses_wrong_dimension_and_writes_nothing(store):
    before = store.sql("SELECT count(*) AS n FROM fact")[0]["n"]
    for unit in ("W", "TB/s", "USD"):
        with pytest.raises(DimensionError):
            add_fact(store, {"entity": "h100-sxm", "property": "dense_bf16_flops", "value": "700",
                            "unit": unit, "source": "vendor-sheet"})
    with pytest.raises(UnitError):
        add_fact(store, {"entity": "h100-sxm", "property": "dense_bf16_flops", "value": "700",
                        "unit": "furlong", "source": "vendor-sheet"})
    assert store.sql("SELECT count(*) AS n FROM fact")[0]["n"] == before


def test_add_fact_duplicate_and_unknown_source(store):
    spec = {"entity": "h100-sxm", "property": "memory", "value": "80", "unit": "GiB", "source": "vendor-sheet"}
    row = add_fact(store, dict(spec))
    assert row["si_value"] == 80 * 2**30 * 8
    with pytest.raises(ConflictError, match=row["id"]):
        add_fact(store, dict(spec))
    with pytest.raises(NotFoundError) as err:
        add_fact(store, {**spec, "source": "vendor-shet"})
    assert "did you mean 'vendor-sheet'" in str(err.value)


def test_fact_id_is_content_derived(store):
    props = store.properties()
    a = build_fact({"entity": "b200", "property": "tdp", "value": "1000", "unit": "W", "source": "news-item"},
                   props, "2024-01-01T00:00:00.000000Z")
    b = build_fact({"entity": "b200", "property": "tdp", "value": "1000", "unit": "W", "source": "news-item"},
                   props, "2025-01-01T00:00:00.000000Z")
    c = build_fact({"entity": "b200", "property": "tdp", "value": "1000", "unit": "W", "source": "vendor-sheet"},
                   props, "2025-01-01T00:00:00.000000Z")
    assert a["id"] == b["id"]  # recorded_at is not content
    assert a["id"] != c["id"]
    assert len(a["id"]) == 12


# ---- known_at


def test_known_at_hides_later_claims(store):
    assert [c["value"] for c in store.claims("goodyear", "gpu_count", known_at="2024-08-01")] == [100000.0]
    assert store.best("goodyear", "gpu_count", known_at="2024-08-01")["value"] == 100000.0
    # a date means the end of that day
    assert len(store.claims("goodyear", "gpu_count", known_at="2024-10-01")) == 2
    assert len(store.claims("goodyear", "gpu_count", known_at="2024-09-30T23:59:59Z")) == 1
    assert store.claims("goodyear", "gpu_count", known_at="2024-06-30") == []
    with pytest.raises(NotFoundError, match="recorded by 2024-06-30"):
        store.best("goodyear", "gpu_count", known_at="2024-06-30")


def test_known_at_hides_later_events_and_corrections(root, db, tmp_path):
    from kb.project import Project

    probe = Project.open(root, tmp_path / "probe.sqlite")  # the fixture's ids (a fact's id is its content)
    newer = by_value(probe.store.claims("goodyear", "gpu_count"), 150000)
    probe.close()
    project = created_with(root, db, f"""
        facts:
          - entity: goodyear
            property: gpu_count
            value: "160000"
            unit: ""
            source: analyst-report
            supersedes: {newer['id']}
            as_of: "2024-11"
            recorded_at: "2024-12-01T00:00:00Z"
        events:
          - fact: {newer['id']}
            rank: deprecated
            reason: corrected later
            recorded_at: "2024-11-01T00:00:00Z"
        """)
    store = project.store
    now = store.best("goodyear", "gpu_count")
    assert now["value"] == 160000.0
    then = {c["value"]: c for c in store.claims("goodyear", "gpu_count", known_at="2024-10-15")}
    assert set(then) == {100000.0, 150000.0}
    assert then[150000.0]["effective_rank"] == "normal" and then[150000.0]["superseded_by"] is None
    assert store.best("goodyear", "gpu_count", known_at="2024-10-15")["value"] == 150000.0
    mid = {c["value"]: c for c in store.claims("goodyear", "gpu_count", known_at="2024-11-15")}
    assert mid[150000.0]["effective_rank"] == "deprecated" and mid[150000.0]["superseded_by"] is None
    assert store.fact(newer["id"], known_at="2024-11-15")["effective_rank"] == "deprecated"
    with pytest.raises(NotFoundError):
        store.fact(now["id"], known_at="2024-11-15")
    project.close()


def test_history_in_recorded_order(store):
    newer = by_value(store.claims("goodyear", "gpu_count"), 150000)
    store.record_rank(newer["id"], "deprecated", "one")
    store.record_rank(newer["id"], "preferred", "two")
    items = store.history("goodyear", "gpu_count")
    assert [i["type"] for i in items] == ["claim", "claim", "event", "event"]
    assert [i.get("reason") for i in items[2:]] == ["one", "two"]
    assert [i["recorded_at"] for i in items] == sorted(i["recorded_at"] for i in items)
