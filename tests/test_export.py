"""Export then load is lossless: ids, recorded times, events and supersessions survive."""

from __future__ import annotations

import json
from pathlib import Path
from textwrap import dedent

from conftest import KB
from helpers import all_rows, by_value

from kb.project import Project
from kb.yamlio import read_yaml

EXTRA = """
sources:
  - id: odd-source
    title: "A title: with a colon, # a hash and 'quotes'"
    authors: [Ann, Bob]
    published: "2024"
    accessed: "2024-08-02"
    kind: blog
    url: https://example.com/odd?x=1&y=2
facts:
  - entity: b200
    property: tdp
    value: "900 to 1200"
    interval: ci90
    unit: W
    source: odd-source
    locator: "footnote 3"
    quote: 'between 900 and 1,200 W: "it depends"'
    note: |-
      first line
      second line: with a colon
  - entity: b200
    property: memory
    value: "170 to 200"
    point: "192"
    unit: GiB
    source: odd-source
    method: estimated
    confidence: speculative
  - entity: b200
    property: gpu_count
    value: "<=72"
    unit: ""
    source: odd-source
    note: "null"
  - entity: b200
    property: hbm_bandwidth
    value: "~8"
    unit: TB/s
    source: odd-source
    rank: deprecated
    rank_reason: superseded by the datasheet
"""


def build_history(kb: KB, tmp_path) -> None:
    """Extra facts with awkward text, then rank events and a supersession, all through the CLI."""
    extra = tmp_path / "extra.yaml"
    extra.write_text(dedent(EXTRA), encoding="utf-8")
    result = kb("load", str(extra))
    assert result.exit_code == 0, result.output
    # the first load into a new database takes the project's (fixture) facts/ with it: 3 sources, 4 entities, 11 facts
    assert "(a new database: the project's facts/ included): added 4 sources, 4 entities, 15 facts, 0 events" in result.output
    claims = json.loads(kb("facts", "goodyear", "--property", "gpu_count", "--all", "--json").output)
    newer, older = by_value(claims, 150000), by_value(claims, 100000)
    assert kb("deprecate", newer["id"], "--reason", "double counted").exit_code == 0
    assert kb("prefer", older["id"], "--reason", "primary source").exit_code == 0
    tdp = json.loads(kb("facts", "h100-sxm", "--property", "tdp", "--json").output)[0]
    result = kb("supersede", tdp["id"], "720", "W", "--source", "news-item", "--reason", "retabulated",
                "--as-of", "2024-03", "--quote", "720 W")
    assert result.exit_code == 0, result.output
    assert kb("deprecate", older["id"], "--reason", "changed my mind").exit_code == 0


def test_export_load_round_trip(kb, root, db, empty_root, tmp_path, request):
    build_history(kb, tmp_path)
    out = tmp_path / "export.yaml"
    result = kb("export", "-o", str(out))
    assert result.exit_code == 0, result.output
    assert result.output == f"Exported to {out}\n"
    data = read_yaml(out)
    assert [len(data[k]) for k in ("sources", "entities", "facts", "events")] == [4, 4, 16, 3]

    db2 = tmp_path / "copy.sqlite"
    assert Project.open(empty_root, db2).store.claims() == []
    result = KB(empty_root, db2)("load", str(out))
    assert result.exit_code == 0, result.output
    assert result.output == (
        "Loaded 1 file(s): added 4 sources, 4 entities, 16 facts, 3 events; 0 already recorded.\n"
    )
    original, copy = all_rows(db), all_rows(db2)
    for table in ("source", "entity", "property", "fact", "event"):
        assert copy[table] == original[table], table
    assert len(copy["event"]) == 3 and len(copy["fact"]) == 16

    # the copy answers exactly as the original does
    p1 = Project.open(root, db)
    s1, s2 = p1.store, Project.open(empty_root, db2).store
    request.addfinalizer(p1.close)
    assert s1.claims() == s2.claims()
    for entity, prop in [("b200", "memory"), ("b200", "tdp"), ("h100-sxm", "tdp"), ("goodyear", "site_power")]:
        assert s1.best(entity, prop) == s2.best(entity, prop)
    memory = s2.best("b200", "memory")
    assert (memory["value"], memory["low"], memory["high"]) == (192.0, 170.0, 200.0)
    assert memory["si_value"] == 192 * 2**30 * 8
    assert s2.best("b200", "tdp")["interval_kind"] == "ci90"
    assert s2.best("b200", "tdp")["note"] == "first line\nsecond line: with a colon"
    assert s2.best("b200", "gpu_count")["note"] == "null"
    assert [c["effective_rank"] for c in s2.claims("goodyear", "gpu_count")] == ["deprecated", "deprecated"]
    assert s2.best("h100-sxm", "tdp")["value"] == 720.0

    # and exports the same text again
    out2 = tmp_path / "export2.yaml"
    assert KB(empty_root, db2)("export", "-o", str(out2)).exit_code == 0
    assert out2.read_text() == out.read_text()


def test_export_then_load_into_the_same_database_adds_nothing(kb, db, tmp_path):
    build_history(kb, tmp_path)
    out = tmp_path / "export.yaml"
    assert kb("export", "-o", str(out)).exit_code == 0
    before = all_rows(db)
    result = kb("load", str(out))
    assert result.exit_code == 0, result.output
    assert result.output == (
        "Loaded 1 file(s): added 0 sources, 0 entities, 0 facts, 0 events; 27 already recorded.\n"
    )
    assert all_rows(db) == before


def test_export_to_stdout_matches_file(kb, tmp_path):
    out = tmp_path / "export.yaml"
    assert kb("export", "--output", str(out)).exit_code == 0
    result = kb("export")
    assert result.exit_code == 0
    assert result.stdout == out.read_text(encoding="utf-8")
    assert result.stdout.startswith("# kb export: load with `kb load FILE`\n")
    assert "id: h100-sxm" in result.stdout
    assert not (tmp_path / "export.yaml.tmp").exists()


def test_edited_export_is_refused(kb, db, tmp_path):
    out = tmp_path / "export.yaml"
    assert kb("export", "-o", str(out)).exit_code == 0
    text = out.read_text()
    assert 'value: "700"' in text  # quoted: a string, as every value is
    out.write_text(text.replace('value: "700"', 'value: "701"'))
    before = all_rows(db)
    result = kb("load", str(out))
    assert result.exit_code == 1
    assert "does not match its content" in result.stderr
    assert all_rows(db) == before


from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@given(st.text())
def test_an_exported_string_reads_back_exactly(value: str) -> None:
    """The export's own scalar writer: whatever the text, YAML (and kb's reader) gives it back unchanged."""
    import tempfile

    from kb.export import _records
    from kb.yamlio import read_yaml

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "export.yaml"
        path.write_text("facts:\n" + _records([{"note": value, "cites": [value]}]), encoding="utf-8")
        data = read_yaml(path)
    assert data["facts"][0]["note"] == value and data["facts"][0]["cites"] == [value]
