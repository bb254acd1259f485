"""Tamper evidence (issue 13): a row changed in place through a raw connection, after removing the append-only
triggers, is found by `kb check` and refused by `kb load`; the triggers are reported and restored; sources and
entities are append-only too. On SQLite and on PostgreSQL."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from conftest import CHECKOUT, KB
from helpers import assert_clean_error


def raw(db: Path | str, *statements: str) -> None:
    """Run statements on the database behind kb's back (a plain sqlite3 or psycopg connection)."""
    if isinstance(db, str):
        import psycopg

        with psycopg.connect(db, autocommit=True) as pg:
            for s in statements:
                pg.execute(s)  # type: ignore[arg-type]
        return
    conn = sqlite3.connect(db)
    try:
        for s in statements:
            conn.execute(s)
        conn.commit()
    finally:
        conn.close()


def drop(db: Path | str, table: str) -> str:
    """The statement that removes the guard on UPDATE of ``table``."""
    return f"ALTER TABLE {table} DISABLE TRIGGER {table}_append_only" if isinstance(db, str) \
        else f"DROP TRIGGER {table}_no_update"


PARAMETERS = "UPDATE fact SET value = 1e12, value_text = '1e12', si_value = 1e12 " \
             "WHERE entity = 'llama-3-405b' AND property = 'parameters' AND value = 405e9"


@pytest.fixture
def shipped_kb(db: Path | str) -> KB:
    return KB(CHECKOUT, db)


def test_a_consistent_update_is_found_by_check_and_refused_by_load(shipped_kb: KB, db: Path | str) -> None:
    r = shipped_kb("query", "gradient_size", "-s", "llama-3-405b")
    assert (r.exit_code, r.stdout) == (0, "gradient_size [llama-3-405b] = 1.62 TB\n")
    raw(db, drop(db, "fact"), PARAMETERS)
    assert shipped_kb("query", "gradient_size", "-s", "llama-3-405b").stdout == "gradient_size [llama-3-405b] = 4 TB\n"
    r = shipped_kb("check")
    assert r.exit_code == 1
    lines = r.stdout.splitlines()
    trigger = "fact_append_only" if isinstance(db, str) else "fact_no_update"
    what = "disabled" if isinstance(db, str) else "missing"
    assert f"database: [missing-trigger] trigger {trigger} is {what}, so rows can be changed in place; " \
        "`kb check --repair-triggers` restores it" in lines
    tampered = [line for line in lines if "[tampered]" in line and line.startswith("fact ")]
    assert len(tampered) == 2  # the paper's 405e9 and the comments' (the UPDATE changed both)
    assert all("(llama-3-405b.parameters): [tampered] its content does not give its id (a field was changed in "
               "place); the database was changed outside kb" in line for line in tampered), tampered
    assert any("facts/llama-3.yaml:" in line and "[tampered] fact " in line for line in lines), lines  # vs its file
    r = shipped_kb("load")  # not "already recorded"
    message = assert_clean_error(r)
    assert "facts/llama-3.yaml:" in message and "is recorded, but the stored row differs from this entry" in message
    r = shipped_kb("check", "--repair-triggers")
    assert r.stdout.startswith(f"Restored 1 trigger(s): {trigger}.\n") and "[missing-trigger]" not in r.stdout
    r = shipped_kb("check")
    assert "[missing-trigger]" not in r.stdout and "[tampered]" in r.stdout  # the changed row stays evident
    with pytest.raises(Exception, match="append-only"):  # and the guard is back
        raw(db, "UPDATE fact SET note = 'changed'")


def test_derived_columns_changed_alone_are_found(shipped_kb: KB, db: Path | str) -> None:
    # si_value, bounds and precision are not part of the id: each is checked against what was written
    shipped_kb("facts")  # creates it
    raw(db, drop(db, "fact"),
        "UPDATE fact SET high = 99 WHERE id = (SELECT min(id) FROM fact WHERE interval_kind = 'range')",
        "UPDATE fact SET as_of_precision = 'day' WHERE id = (SELECT min(id) FROM fact WHERE as_of_precision = 'year')")
    out = shipped_kb("check").stdout
    assert "[tampered] its bounds" in out and "[tampered] its as-of precision 'day' is not that of" in out, out


def test_sources_and_entities_are_append_only(shipped_kb: KB, db: Path | str) -> None:
    shipped_kb("facts")
    for statement in ("UPDATE source SET url = 'https://evil.example/' WHERE id = 'nvidia-h100-product-page'",
                      "DELETE FROM entity WHERE id = 'anthropic'", "UPDATE entity SET name = 'X'",
                      "DELETE FROM source"):
        with pytest.raises(Exception, match="append-only"):
            raw(db, statement)
    if not isinstance(db, str):  # INSERT OR REPLACE deletes the old row without a DELETE trigger
        with pytest.raises(Exception, match="append-only"):
            raw(db, "INSERT OR REPLACE INTO source (id, title, authors, kind, recorded_at) "
                    "VALUES ('nvidia-h100-product-page', 'x', '[]', 'other', 'x')")
    else:
        with pytest.raises(Exception, match="append-only"):
            raw(db, "TRUNCATE entity CASCADE")
    # with the guard removed, the changed source is reported against its file
    statement = ("ALTER TABLE source DISABLE TRIGGER source_append_only" if isinstance(db, str)
                 else "DROP TRIGGER source_no_update")
    raw(db, statement, "UPDATE source SET url = 'https://evil.example/' WHERE id = 'nvidia-h100-product-page'")
    out = shipped_kb("check").stdout
    assert "[missing-trigger] trigger source_" in out
    assert "[conflict] source 'nvidia-h100-product-page' already exists with a different url " \
        "('https://evil.example/')" in out


def test_an_event_changed_in_place_is_found(shipped_kb: KB, db: Path | str) -> None:
    shipped_kb("facts")
    stmt = "ALTER TABLE event DISABLE TRIGGER event_append_only" if isinstance(db, str) else "DROP TRIGGER event_no_update"
    raw(db, stmt, "UPDATE event SET rank = 'preferred' WHERE id = (SELECT min(id) FROM event)")
    out = shipped_kb("check").stdout
    assert [line for line in out.splitlines() if "[tampered]" in line and line.startswith("event e")], out


def test_names_with_invisible_characters_are_refused(shipped_kb: KB, db: Path | str, tmp_path: Path) -> None:
    shipped_kb("facts")
    for name in ("H100\u200b", "H\u202e100", "B200\u2066", "GB200\ufeff", "A\x00B", "H100\u034f", "H100\ufe0f",
                 "\u3164", "H100\u00a0SXM", "H100\u2009SXM", "\u2800"):
        r = shipped_kb("add", "entity", "look-alike", "--kind", "accelerator", "--name", name)
        assert "an invisible or control character" in assert_clean_error(r)
    path = tmp_path / "alias.yaml"
    path.write_text('aliases:\n  - {alias: "H100\\u200b", entity: h100-sxm}\n', encoding="utf-8")
    r = shipped_kb("load", str(path))
    assert f"{path}:2: alias 'H100\\u200b' holds U+200B (zero width space)" in assert_clean_error(r)


def test_a_vocabulary_changed_in_the_database_is_found_and_restored(shipped_kb: KB, db: Path | str) -> None:
    shipped_kb("facts")
    raw(db, "UPDATE property SET plausible_low = 800, plausible_high = 900 WHERE name = 'tdp'",
        "DELETE FROM property WHERE name = 'memory_size' AND name NOT IN (SELECT property FROM fact)")
    out = shipped_kb("check").stdout
    assert "property tdp: [vocabulary-changed] its plausible_low is 800.0 in the database" in out, out
    r = shipped_kb("check", "--repair-triggers")
    assert "Restored 1 property from the schema files: tdp." in r.stdout or \
        "Restored 2 properties from the schema files: memory_size, tdp." in r.stdout, r.stdout
    assert "[vocabulary-changed]" not in shipped_kb("check").stdout
    r = shipped_kb("add", "fact", "h100-sxm", "tdp", "703", "W", "--source", "nvidia-h100-product-page")
    assert r.exit_code == 0, r.output  # 703 W is plausible again


def test_a_neutered_trigger_is_found_and_restored(shipped_kb: KB, db: Path | str) -> None:
    """Checked by what it does, not by its name: a trigger re-made to do nothing, one set to fire only in
    replica sessions, a swapped function, and foreign keys switched off are each reported and repaired."""
    shipped_kb("facts")
    if isinstance(db, str):
        raw(db, "ALTER TABLE fact ENABLE REPLICA TRIGGER fact_append_only",
            "CREATE OR REPLACE FUNCTION kb_append_only() RETURNS trigger LANGUAGE plpgsql AS $f$ BEGIN "
            "IF TG_OP = 'DELETE' THEN RETURN OLD; END IF; RETURN NEW; END $f$",
            "ALTER TABLE event DISABLE TRIGGER ALL")
        expected = ["trigger fact_append_only is set to fire only in replica sessions",
                    "trigger kb_append_only() is changed (the function no longer refuses)",
                    "trigger event_append_only is disabled", "trigger event_no_truncate is disabled",
                    "trigger foreign keys of event is disabled"]
    else:
        raw(db, "DROP TRIGGER fact_no_update",
            "CREATE TRIGGER fact_no_update BEFORE UPDATE ON fact WHEN 0 BEGIN SELECT 1; END")
        expected = ["trigger fact_no_update is changed (it is not the trigger kb made)"]
    out = shipped_kb("check").stdout
    for line in expected:
        assert f"database: [missing-trigger] {line}" in out, out
    r = shipped_kb("check", "--repair-triggers")
    assert r.stdout.startswith(f"Restored {len(expected)} trigger(s): "), r.stdout
    assert "[missing-trigger]" not in shipped_kb("check").stdout
    for statement in ("UPDATE fact SET note = 'x'", "DELETE FROM event"):
        with pytest.raises(Exception, match="append-only"):
            raw(db, statement)



def test_a_name_not_in_composed_form_is_refused(shipped_kb: KB, db: Path | str) -> None:
    shipped_kb("facts")
    r = shipped_kb("add", "entity", "elan-decomposed", "--kind", "other", "--name", "E\u0301lan")
    assert "is not in Unicode's composed form (NFC)" in assert_clean_error(r)
    assert shipped_kb("add", "entity", "elan", "--kind", "other", "--name", "\u00c9lan \u6a5f").exit_code == 0


def test_events_are_held_to_their_ids(shipped_kb: KB, db: Path | str, tmp_path: Path) -> None:
    shipped_kb("facts")
    fact = "962657287825"  # llama-3-405b.layer_count (facts/audit.yaml)
    path = tmp_path / "ev.yaml"
    path.write_text(f'events:\n  - {{id: my-own-event, fact: {fact}, rank: preferred, reason: "I like it"}}\n')
    assert "event id 'my-own-event' does not match its content" in assert_clean_error(shipped_kb("load", str(path)))
    # an event recorded with --record-now loads again without it: the same event, not a backdated new one
    path.write_text(f'events:\n  - {{fact: {fact}, rank: preferred, reason: "r", recorded_at: "2025-01-01"}}\n')
    assert "is earlier than the latest" in assert_clean_error(shipped_kb("load", str(path)))
    assert shipped_kb("load", "--record-now", str(path)).exit_code == 0
    r = shipped_kb("load", str(path))
    assert r.exit_code == 0 and "0 events; 1 already recorded" in r.stdout, r.output
    # a recorded event changed in place is not "already recorded"
    stmt = "ALTER TABLE event DISABLE TRIGGER event_append_only" if isinstance(db, str) else "DROP TRIGGER event_no_update"
    raw(db, stmt, "UPDATE event SET reason = 'forged' WHERE reason = 'r'")
    err = assert_clean_error(shipped_kb("load", str(path)))
    assert "is recorded, but the stored row differs from this entry" in err


def test_a_recorded_at_in_the_future_is_refused(shipped_kb: KB, db: Path | str, tmp_path: Path) -> None:
    shipped_kb("facts")
    path = tmp_path / "future.yaml"
    path.write_text('entities:\n  - {id: future-thing, kind: other, recorded_at: "2099-01-01T00:00:00Z"}\n')
    assert "recorded_at 2099-01-01T00:00:00Z is in the future" in assert_clean_error(shipped_kb("load", str(path)))


@pytest.mark.sqlite_only
def test_a_search_index_changed_behind_kbs_back_is_found_and_rebuilt(shipped_kb: KB, db: Path) -> None:
    assert shipped_kb("search", "oversubscription").stdout.startswith("llama-3-cluster")
    raw(db, "DELETE FROM entity_fts", "DELETE FROM source_fts",
        "INSERT INTO fact_fts(fact_fts, rowid, quote, note, locator) SELECT 'delete', rowid, quote, note, locator "
        "FROM fact WHERE entity = 'llama-3-cluster' AND property = 'oversubscription'")
    assert "oversubscription = 7" not in shipped_kb("search", "oversubscription").stdout  # the claim is not found
    out = shipped_kb("check").stdout
    assert "database: [search-index] the facts' search index (fact_fts) does not match the facts" in out
    assert "the entity search index (entity_fts) has" in out and "the source search index (source_fts) has" in out
    assert "Rebuilt the search index from the tables." in shipped_kb("check", "--repair-triggers").stdout
    assert "[search-index]" not in shipped_kb("check").stdout
    assert shipped_kb("search", "oversubscription").stdout.startswith("llama-3-cluster")
