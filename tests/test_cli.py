"""Every ``kb`` command through click's CliRunner: exit codes and output, and clean one-line errors."""

from __future__ import annotations

import json
from textwrap import dedent

import pytest
import yaml
from conftest import CHECKOUT, KB
from helpers import all_rows, assert_clean_error, by_value

FACT_KEYS = {
    "id", "entity", "property", "value", "value_text", "unit", "si_value", "interval_kind", "low", "high",
    "as_of", "source", "locator", "quote", "method", "confidence", "rank", "supersedes",
}


def file_bytes(db) -> bytes | None:
    """A SQLite database's bytes (None for a PostgreSQL URL: all_rows compares what it holds)."""
    return None if isinstance(db, str) else db.read_bytes()


def ok(result, *fragments: str) -> str:
    assert result.exit_code == 0, (result.output, result.exception)
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in result.output, result.output
    return result.output


def facts_json(kb: KB, *args: str) -> list[dict]:
    return json.loads(ok(kb("facts", *args, "--json")))


# ---- load and export


def test_load_default_folder_and_a_file(kb, root, tmp_path):
    # the first load creates the database and says what it added; the second finds it all recorded
    ok(kb("load"), "Loaded 2 file(s) into a new database: added 3 sources, 4 entities, 11 facts, 0 events; "
       "0 already recorded.")
    ok(kb("load"), "Loaded 2 file(s): added 0 sources, 0 entities, 0 facts, 0 events; 18 already recorded.")
    extra = tmp_path / "extra.yaml"
    extra.write_text(dedent("""
        facts:
          - entity: b200
            property: tdp
            value: "1000"
            unit: W
            source: news-item
        """))
    out = ok(kb("load", str(extra)))
    assert out == "Loaded 1 file(s): added 0 sources, 0 entities, 1 facts, 0 events; 0 already recorded.\n"
    assert facts_json(kb, "b200", "--property", "tdp")[0]["si_value"] == 1000.0


def test_load_error_is_one_line_and_writes_nothing(kb, db, tmp_path):
    ok(kb("facts"))
    bad = tmp_path / "bad.yaml"
    bad.write_text("facts:\n  - entity: b200\n    property: tdp\n    value: '1000'\n    unit: TB/s\n    source: news-item\n")
    before = all_rows(db)
    stderr = assert_clean_error(kb("load", str(bad)))
    assert f"{bad}:5:" in stderr and "expected [mass]" in stderr
    assert all_rows(db) == before


def test_load_missing_path_is_a_usage_error(kb, tmp_path):
    assert_clean_error(kb("load", str(tmp_path / "nope.yaml")), exit_code=2)


def test_export_stdout_and_file(kb, tmp_path):
    out = ok(kb("export"), "sources:", "entities:", "facts:", "events: []")
    target = tmp_path / "x.yaml"
    ok(kb("export", "-o", str(target)), f"Exported to {target}")
    assert target.read_text() == out


def test_export_into_a_missing_folder_is_a_clean_error(kb, tmp_path):
    result = kb("export", "-o", str(tmp_path / "no" / "such" / "dir" / "x.yaml"))
    assert_clean_error(result)


# ---- add


def test_add_source(kb):
    ok(kb("add", "source", "epoch-2024", "--title", "Epoch AI data", "--url", "https://epoch.ai/data",
          "--author", "Ann", "--author", "Bob", "--published", "2024-05", "--kind", "dataset"),
       "Added source epoch-2024")
    src = {s["id"]: s for s in json.loads(ok(kb("sources", "--json")))}["epoch-2024"]
    assert src["title"] == "Epoch AI data"
    assert src["authors"] == ["Ann", "Bob"]
    assert (src["published"], src["kind"], src["url"]) == ("2024-05", "dataset", "https://epoch.ai/data")
    assert "already recorded" in assert_clean_error(kb("add", "source", "epoch-2024", "--title", "Epoch AI data"))
    assert "source kind 'magazine'" in assert_clean_error(kb("add", "source", "s2", "--title", "t", "--kind", "magazine"))
    assert "is not a date" in assert_clean_error(kb("add", "source", "s3", "--title", "t", "--published", "May 2024"))
    assert_clean_error(kb("add", "source", "s4"), exit_code=2)  # --title is required


def test_add_entity(kb):
    ok(kb("add", "entity", "dgx-h100", "--kind", "system", "--name", "DGX H100", "--alias", "DGX",
          "--alias", "HGX"), "Added entity dgx-h100")
    ok(kb("add", "entity", "h100-in-dgx", "--kind", "accelerator", "--part-of", "dgx-h100"), "Added entity h100-in-dgx")
    out = ok(kb("show", "dgx-h100"), "dgx-h100  (system)  DGX H100", "aliases: DGX, HGX", "parts: h100-in-dgx", "No facts.")
    assert "part of" not in out
    ok(kb("show", "DGX"), "dgx-h100  (system)")  # by alias
    ok(kb("show", "h100-in-dgx"), "part of: dgx-h100")
    assert "unknown entity 'dgx-h10'" in assert_clean_error(kb("add", "entity", "x", "--kind", "system", "--part-of", "dgx-h10"))
    assert "entity kind 'spaceship'" in assert_clean_error(kb("add", "entity", "y", "--kind", "spaceship"))
    assert "already recorded" in assert_clean_error(kb("add", "entity", "dgx-h100", "--kind", "system"))


def test_add_fact(kb):
    out = ok(kb("add", "fact", "b200", "tdp", "1000", "W", "--source", "news-item", "--locator", "para 3",
                "--quote", "a 1,000 W part", "--as-of", "2024-03", "--method", "reported", "--confidence", "confirmed",
                "--note", "board power"))
    assert out.startswith("Added fact ") and out.endswith(": b200.tdp = 1000 W\n")
    fid = out.split()[2].rstrip(":")
    [fact] = facts_json(kb, "b200", "--property", "tdp")
    assert fact["id"] == fid
    assert (fact["locator"], fact["quote"], fact["as_of"], fact["confidence"], fact["method"]) == (
        "para 3", "a 1,000 W part", "2024-03", "confirmed", "reported")
    assert "already recorded" in assert_clean_error(
        kb("add", "fact", "b200", "tdp", "1000", "W", "--source", "news-item", "--locator", "para 3",
           "--quote", "a 1,000 W part", "--as-of", "2024-03", "--confidence", "confirmed", "--note", "board power"))


def test_add_fact_values_and_units(kb):
    ok(kb("add", "fact", "b200", "memory", "192", "GiB", "--source", "news-item"), "b200.memory = 192 GiB")
    ok(kb("add", "fact", "b200", "gpu_count", ">=8", "", "--source", "news-item"), "b200.gpu_count = >=8\n")
    ok(kb("add", "fact", "b200", "training_compute", "1e24 to 3e24", "FLOP", "--source", "news-item"))
    by_prop = {f["property"]: f for f in facts_json(kb, "b200")}
    assert by_prop["memory"]["si_value"] == 192 * 2**30 * 8
    assert (by_prop["gpu_count"]["interval_kind"], by_prop["gpu_count"]["low"], by_prop["gpu_count"]["high"]) == ("at_least", 8.0, None)
    assert by_prop["gpu_count"]["unit"] == ""
    tc = by_prop["training_compute"]
    assert (tc["interval_kind"], tc["value"], tc["low"], tc["high"]) == ("range", 2e24, 1e24, 3e24)


def test_add_fact_creates_entity_with_entity_kind(kb):
    result = kb("add", "fact", "mi355x", "tdp", "1400", "W", "--source", "vendor-sheet")
    stderr = assert_clean_error(result)
    assert "unknown entity 'mi355x'" in stderr and "--entity-kind" in stderr
    ok(kb("add", "fact", "mi355x", "tdp", "1400", "W", "--source", "vendor-sheet", "--entity-kind", "accelerator"),
       "mi355x.tdp = 1400 W")
    ok(kb("show", "mi355x"), "mi355x  (accelerator)  mi355x", "1400 W")
    # a refused fact does not leave its new entity behind
    assert_clean_error(kb("add", "fact", "mi400", "tdp", "1400", "TB/s", "--source", "vendor-sheet", "--entity-kind", "accelerator"))
    assert "unknown entity 'mi400'" in assert_clean_error(kb("show", "mi400"))


def test_add_fact_wrong_dimension_changes_nothing(kb, db):
    ok(kb("facts"))
    before_bytes = file_bytes(db)
    before = all_rows(db)
    result = kb("add", "fact", "h100-sxm", "dense_bf16_flops", "700", "W", "--source", "vendor-sheet")
    stderr = assert_clean_error(result)
    assert "dense_bf16_flops" in stderr and "expected [compute] / [time]" in stderr and "'FLOP/s'" in stderr
    assert result.stdout == ""
    assert all_rows(db) == before
    assert file_bytes(db) == before_bytes


@pytest.mark.parametrize("unit", ["TFLOPZ/s", "TFLOP/s;", "watts please"])
def test_add_fact_unparseable_unit_is_a_usage_error(kb, db, unit):
    result = kb("add", "fact", "h100-sxm", "dense_bf16_flops", "700", unit, "--source", "vendor-sheet")
    stderr = assert_clean_error(result, exit_code=2)
    assert "Invalid value for 'UNIT'" in stderr


def test_add_fact_unknown_names(kb):
    stderr = assert_clean_error(kb("add", "fact", "h100-sxm", "dense_bf16_flop", "700", "TFLOP/s", "--source", "vendor-sheet"))
    assert "unknown property 'dense_bf16_flop'" in stderr and "did you mean 'dense_bf16_flops'" in stderr
    stderr = assert_clean_error(kb("add", "fact", "h100-sxm", "tdp", "700", "W", "--source", "vendor-shet"))
    assert "did you mean 'vendor-sheet'" in stderr
    stderr = assert_clean_error(kb("add", "fact", "h100-sxm", "tdp", "27 to 24", "W", "--source", "vendor-sheet"))
    assert "low end above its high end" in stderr
    assert_clean_error(kb("add", "fact", "h100-sxm", "tdp", "700", "W", "--source", "vendor-sheet",
                          "--confidence", "sure"), exit_code=2)


# ---- reading


def test_properties(kb):
    out = ok(kb("properties"))
    lines = out.splitlines()
    assert lines[0].split() == ["NAME", "UNIT", "DIMENSION", "PLAUSIBLE", "SCOPES", "ORIGIN", "DESCRIPTION"]
    assert any(line.split()[:3] == ["dense_bf16_flops", "FLOP/s", "[compute]"] for line in lines)
    assert any(line.split()[:3] == ["gpu_count", '""', "dimensionless"] for line in lines)
    props = {p["name"]: p for p in json.loads(ok(kb("properties", "--json")))}
    shipped = yaml.safe_load((CHECKOUT / "schema" / "properties.yaml").read_text())["properties"]
    assert set(props) == {p["name"] for p in shipped} | {"memory"}  # the shipped vocabulary plus the fixture's own
    assert props["hbm_bandwidth"] == {  # the fixture re-declares it: its description wins, the shipped plausible range it does not restate is kept
        "name": "hbm_bandwidth", "unit": "TB/s", "dimension": "[information] / [time]", "si_unit": "bit / s",
        "description": "Memory bandwidth of one accelerator.", "plausible": "1 GB/s to 100 TB/s", "scopes": [], "origin": "project",
    }
    assert props["gpu_count"]["unit"] == "" and props["gpu_count"]["dimension"] == "dimensionless"


def test_facts_best_per_entity_and_property(kb):
    out = ok(kb("facts"))
    lines = out.splitlines()
    assert lines[0].split() == ["ID", "ENTITY", "PROPERTY", "VALUE", "SOURCE", "LOCATOR", "QUALIFIERS", "RANK"]
    assert len(lines) == 2 + 10  # header, rule, one best claim per entity and property
    gpu = [line for line in lines if "gpu_count" in line]
    assert len(gpu) == 1 and "150000" in gpu[0] and "analyst-report" in gpu[0]
    assert any("989.4 TFLOP/s" in line and "Table 3" in line for line in lines)
    assert any("24 to 27 MW" in line for line in lines)
    ok(kb("facts", "H100"), "989.4 TFLOP/s")  # alias
    assert len(ok(kb("facts", "goodyear", "--all")).splitlines()) == 2 + 4
    assert len(ok(kb("facts", "goodyear")).splitlines()) == 2 + 3
    assert "unknown entity 'goodyeer'" in assert_clean_error(kb("facts", "goodyeer"))
    assert "did you mean 'gpu_count'" in assert_clean_error(kb("facts", "--property", "gpu_cont"))


def test_facts_json_shape(kb):
    facts = facts_json(kb, "goodyear", "--property", "gpu_count", "--all")
    assert len(facts) == 2
    for f in facts:
        assert FACT_KEYS <= set(f), FACT_KEYS - set(f)
        assert set(f["source"]) == {"id", "title", "url"}
    newer = by_value(facts, 150000)
    assert newer["source"] == {"id": "analyst-report", "title": "Analyst report on datacenter sites", "url": None}
    assert (newer["value_text"], newer["unit"], newer["si_value"], newer["interval_kind"]) == ("150000", "", 150000.0, "exact")
    assert (newer["as_of"], newer["quote"], newer["rank"], newer["supersedes"]) == ("2024-09", "the campus will hold   150,000 GPUs", "normal", None)
    [flops] = facts_json(kb, "h100-sxm", "--property", "dense_bf16_flops")
    assert flops["value"] == 989.4 and flops["unit"] == "TFLOP/s"
    assert flops["si_value"] == pytest.approx(9.894e14)
    assert flops["source"]["url"] == "https://example.com/h100.pdf"
    assert (flops["method"], flops["confidence"], flops["locator"]) == ("reported", "confirmed", "Table 3")
    [power] = facts_json(kb, "goodyear", "--property", "site_power")
    assert (power["value"], power["low"], power["high"], power["si_value"]) == (25.5, 24.0, 27.0, pytest.approx(2.55e7))
    assert facts_json(kb, "b200", "--property", "tdp") == []
    ok(kb("facts", "b200", "--property", "tdp"), "No facts.")


def test_facts_known_at(kb):
    facts = facts_json(kb, "goodyear", "--property", "gpu_count", "--known-at", "2024-08-01")
    assert [f["value"] for f in facts] == [100000.0]
    assert facts_json(kb, "goodyear", "--property", "gpu_count", "--known-at", "2024-06-01") == []
    assert "not a date" in assert_clean_error(kb("facts", "--known-at", "last tuesday"))


def test_show(kb):
    out = ok(kb("show", "h100-sxm"), "h100-sxm  (accelerator)  H100 SXM", "aliases: H100")
    lines = out.splitlines()
    assert lines[2].split()[:2] == ["ID", "ENTITY"]
    assert len(lines) == 2 + 2 + 4
    for text in ("989.4 TFLOP/s", "3.35 TB/s", "700 W", "80 GB"):
        assert text in out
    assert kb("show", "h100").output.splitlines()[0].startswith("h100-sxm  (accelerator)")  # aliases: any case
    assert "unknown entity 'h101'" in assert_clean_error(kb("show", "h101"))


def test_sources(kb):
    out = ok(kb("sources"), "vendor-sheet", "datasheet", "2022-03", "Vendor H100 datasheet", "https://example.com/h100.pdf")
    assert len(out.splitlines()) == 2 + 3
    rows = json.loads(ok(kb("sources", "--json")))
    assert [r["id"] for r in rows] == ["analyst-report", "news-item", "vendor-sheet"]
    analyst = rows[0]
    assert analyst["authors"] == ["A. Analyst", "B. Analyst"]
    assert analyst["text_path"] == "facts/texts/analyst-report.txt"
    assert analyst["kind"] == "analyst" and analyst["title"] == "Analyst report on datacenter sites"


# ---- rank events, supersession, history


def test_deprecate_prefer_and_history(kb):
    claims = facts_json(kb, "goodyear", "--property", "gpu_count", "--all")
    newer, older = by_value(claims, 150000), by_value(claims, 100000)
    result = kb("deprecate", newer["id"][:7], "--reason", "double counted")
    out = ok(result)
    assert result.stdout.startswith("Recorded event e") and result.stdout.endswith(f": fact {newer['id']} is now deprecated.\n")
    # the fixture's goodyear-analyst scenario pinned that claim: loud, on stderr
    assert result.stderr.startswith("warning: power_per_gpu [goodyear-analyst] no longer resolves: ")
    [best] = facts_json(kb, "goodyear", "--property", "gpu_count")
    assert best["id"] == older["id"]
    listed = {f["id"]: f for f in facts_json(kb, "goodyear", "--property", "gpu_count", "--all")}
    assert listed[newer["id"]]["rank"] == "deprecated"
    ok(kb("facts", "goodyear", "--all"), "deprecated")

    ok(kb("prefer", newer["id"], "--reason", "double counting was mine"), f"fact {newer['id']} is now preferred.")
    [best] = facts_json(kb, "goodyear", "--property", "gpu_count")
    assert best["id"] == newer["id"] and best["rank"] == "preferred"
    assert "already preferred" in assert_clean_error(kb("prefer", newer["id"], "--reason", "again"))
    assert_clean_error(kb("deprecate", newer["id"]), exit_code=2)  # --reason is required
    assert "unknown fact 'zzzz'" in assert_clean_error(kb("deprecate", "zzzz", "--reason", "x"))

    out = ok(kb("history", "goodyear", "gpu_count"))
    lines = out.splitlines()
    assert len(lines) == 5
    # each claim with its as-of, method, confidence and rank as recorded
    assert lines[0] == f"2024-07-01 00:00:00  claim {older['id']}  100000  [news-item]  as of 2024-06; reported; likely; rank normal"
    assert lines[1].startswith("2024-10-01 00:00:00  claim " + newer["id"] + "  150000  [analyst-report")
    assert f"fact {newer['id']} -> deprecated: double counted" in lines[2]
    assert f"fact {newer['id']} -> preferred: double counting was mine" in lines[3]
    # then the spread of the active claims: 100000 and 150000, geometric mean sqrt(1.5e10) = 122474
    assert lines[4] == "spread over 2 active claim(s): min 100000, max 150000, max/min 1.5, geometric mean 122500"

    items = json.loads(ok(kb("history", "goodyear", "gpu_count", "--json")))
    assert [i["type"] for i in items] == ["claim", "claim", "event", "event"]
    assert [i["recorded_at"] for i in items] == sorted(i["recorded_at"] for i in items)
    assert [i["rank"] for i in items[2:]] == ["deprecated", "preferred"]
    assert set(items[2]) == {"type", "id", "fact", "rank", "reason", "recorded_at"}
    assert FACT_KEYS <= set(items[0])


def test_history_unknown_names(kb):
    assert "did you mean 'goodyear'" in assert_clean_error(kb("history", "goodyeer", "gpu_count"))
    # an unknown property is an error too, not an empty history
    assert "did you mean 'gpu_count'" in assert_clean_error(kb("history", "goodyear", "gpu_cont"))


def test_supersede(kb):
    [old] = facts_json(kb, "h100-sxm", "--property", "tdp")
    out = ok(kb("supersede", old["id"][:5], "0.72", "kW", "--source", "news-item", "--reason", "retabulated",
                "--locator", "para 2"))
    assert f"superseding {old['id']}: h100-sxm.tdp = 0.72 kW" in out
    new_id = out.split()[2]
    [best] = facts_json(kb, "h100-sxm", "--property", "tdp")
    assert best["id"] == new_id and best["supersedes"] == old["id"]
    assert best["si_value"] == pytest.approx(720.0)
    listed = {f["id"]: f for f in facts_json(kb, "h100-sxm", "--property", "tdp", "--all")}
    assert listed[old["id"]]["superseded_by"] == new_id
    ok(kb("facts", "h100-sxm", "--property", "tdp", "--all"), f"superseded by {new_id}")
    history = ok(kb("history", "h100-sxm", "tdp"))
    assert f"    supersedes {old['id']}: retabulated" in history  # the correction's reason
    # ranking a superseded claim would have no effect, so it is refused
    assert f"rank {new_id} instead" in assert_clean_error(kb("prefer", old["id"], "--reason", "try"))
    [best] = facts_json(kb, "h100-sxm", "--property", "tdp")
    assert best["id"] == new_id
    assert "--reason must say why" in assert_clean_error(kb("supersede", new_id, "0.7", "kW", "--source", "news-item",
                                                            "--reason", " "), exit_code=2)
    # a correction must have the property's dimension
    assert "expected [mass]" in assert_clean_error(kb("supersede", new_id, "7", "TB/s", "--source", "news-item", "--reason", "x"))


def test_supersede_twice_is_refused(kb, db):
    [old] = facts_json(kb, "h100-sxm", "--property", "tdp")
    ok(kb("supersede", old["id"], "710", "W", "--source", "news-item", "--reason", "first fix"))
    before = all_rows(db)
    stderr = assert_clean_error(kb("supersede", old["id"], "720", "W", "--source", "news-item", "--reason", "second fix"))
    assert "already superseded" in stderr
    assert all_rows(db) == before


# ---- check


def test_check_clean(kb):
    # the fixture's two GPU counts for goodyear (100000 and 150000) compete: a warning, not a problem
    result = kb("check")
    assert result.exit_code == 0, result.output
    assert result.output == (
        "warning: goodyear.gpu_count: 2 active claims disagree by up to 1.5x; see `kb conflicts goodyear.gpu_count`\n"
        "OK: no problems (1 warning(s): claims that disagree; `kb conflicts` lists them).\n")
    strict = kb("check", "--strict")
    assert strict.exit_code == 1 and strict.stderr == "0 problem(s) and 1 warning(s) (--strict).\n"


def test_check_quote_not_in_source(kb, root):
    (root / "texts").mkdir()
    (root / "texts" / "src.txt").write_text("The cluster has\n  20,000 GPUs in   total.\n")
    (root / "facts" / "quoted.yaml").write_text(dedent("""
        sources:
          - id: src
            title: A source with its text
            text: texts/src.txt
        facts:
          - entity: goodyear
            property: gpu_count
            value: "20000"
            unit: ""
            source: src
            quote: "has 20,000 GPUs in total"
          - entity: big-run
            property: gpu_count
            value: "30000"
            unit: ""
            source: src
            quote: "has 30,000 GPUs"
        """))
    # a quote that is not in the source's text is refused when loaded, naming the file and line
    result = kb("check")
    assert result.exit_code == 1
    assert result.stderr == ("Error: facts/quoted.yaml:18: quote 'has 30,000 GPUs' is not in the text of source 'src' "
                             "(texts/src.txt); quotes are verbatim, or left out\n")
    # once loaded, a quote that no longer matches its (edited) source text is a check problem
    (root / "texts" / "src.txt").write_text("The cluster has\n  20,000 GPUs in   total, and 30,000 later.\n")
    (root / "facts" / "quoted.yaml").write_text((root / "facts" / "quoted.yaml").read_text().replace(
        "has 30,000 GPUs", "30,000 later"))
    ok(kb("facts"))
    (root / "texts" / "src.txt").write_text("The cluster has 20,000 GPUs.\n")
    result = kb("check")
    assert result.exit_code == 1
    problems = [p for p in result.stdout.splitlines() if "[quote-not-in-source]" in p]
    assert len(problems) == 2, result.stdout
    assert any("big-run.gpu_count" in p for p in problems)


def test_check_missing_text(kb, root):
    # a text must be there when its source is loaded; one removed since is reported
    (root / "facts" / "texts" / "gone.txt").write_text("The words.\n")
    (root / "facts" / "t.yaml").write_text("sources:\n  - id: gone\n    title: T\n    text: facts/texts/gone.txt\n")
    ok(kb("facts"))
    (root / "facts" / "texts" / "gone.txt").unlink()
    result = kb("check")
    assert result.exit_code == 1
    assert "source gone: [missing-text]" in result.stdout


def test_check_unit_mismatch_after_vocabulary_change(kb, root):
    ok(kb("facts"))
    vocab = root / "schema" / "properties.yaml"
    vocab.write_text(vocab.read_text().replace("name: memory\n    unit: GB", "name: memory\n    unit: W"))
    result = kb("check")
    assert result.exit_code == 1
    assert "[unit-mismatch]" in result.stdout
    assert any("h100-sxm.memory" in line and "[unit-mismatch]" in line for line in result.stdout.splitlines())
    assert "Traceback" not in result.output


def test_check_reports_a_property_removed_from_the_vocabulary(kb, root, tmp_path):
    """A stored fact whose property left schema/properties.yaml is a problem: a fresh database would refuse it."""
    ok(kb("facts"))
    vocab = root / "schema" / "properties.yaml"
    text = vocab.read_text()
    start = text.index("  - name: memory")
    vocab.write_text(text[:start])  # memory is the fixture's own addition; the shipped vocabulary has no such name
    fresh = KB(root, tmp_path / "fresh.sqlite")("facts")
    assert "unknown property 'memory'" in assert_clean_error(fresh)
    result = kb("check")
    assert result.exit_code == 1, result.output
    assert "h100-sxm.memory" in result.stdout
    refused = kb("add", "fact", "b200", "memory", "192", "GB", "--source", "news-item")
    assert "unknown property 'memory'" in assert_clean_error(refused)  # gone from the vocabulary, for add too
    assert "memory" not in kb("properties").stdout.split()


def test_check_reports_a_bad_fact_file(kb, root):
    ok(kb("facts"))
    (root / "facts" / "zz.yaml").write_text("facts:\n  - entity: b200\n    colour: red\n")
    result = kb("check")
    assert result.exit_code == 1
    assert "facts/zz.yaml:3: [bad-file] unknown key 'colour'" in result.stdout


# ---- sql


def test_sql_select(kb, db):
    out = ok(kb("sql", "SELECT entity, count(*) AS n FROM fact GROUP BY entity ORDER BY entity"))
    lines = out.splitlines()
    assert lines[0].split() == ["entity", "n"]
    assert [line.split() for line in lines[2:]] == [["b200", "1"], ["big-run", "2"], ["goodyear", "4"], ["h100-sxm", "4"]]
    rows = json.loads(ok(kb("sql", "SELECT id, si_value FROM fact WHERE entity = 'h100-sxm' AND property = 'tdp'", "--json")))
    assert len(rows) == 1 and rows[0]["si_value"] == 700.0 and len(rows[0]["id"]) == 12
    assert "SQL failed" in assert_clean_error(kb("sql", "SELECT nonsense FROM nowhere"))
    assert "not SELEC" in assert_clean_error(kb("sql", "SELEC nonsense"))
    assert "the query is empty" in assert_clean_error(kb("sql", "  "))
    if isinstance(db, str):  # PostgreSQL: PRAGMA is SQLite's, and the message says what to use instead
        assert "information_schema.columns" in assert_clean_error(kb("sql", "PRAGMA table_info(fact)"))
        assert "entity" in ok(kb("sql", "SELECT column_name FROM information_schema.columns WHERE table_name = 'fact'"))
        return
    # reading stays possible: a described table, a setting read, the full-text index
    assert "entity" in ok(kb("sql", "PRAGMA table_info(fact)"))
    assert "user_version" in ok(kb("sql", "PRAGMA user_version"))


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE source SET title = 'x'",
        "DELETE FROM entity",
        "INSERT INTO entity (id, kind, name, aliases, recorded_at) VALUES ('x', 'other', 'x', '[]', 't')",
        "CREATE TABLE t (x)",
        "DROP TABLE event",
        "WITH x AS (SELECT 1) DELETE FROM entity",
        "PRAGMA user_version = 7",
        "VACUUM INTO 'copy.sqlite'",
        "ATTACH 'other.sqlite' AS other",
        "SELECT 1; DELETE FROM entity",
    ],
)
def test_sql_is_read_only(kb, db, statement, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ok(kb("facts"))
    before = all_rows(db)
    before_bytes = file_bytes(db)
    stderr = assert_clean_error(kb("sql", statement))
    assert "readonly" in stderr or "read-only" in stderr
    assert all_rows(db) == before
    assert file_bytes(db) == before_bytes
    assert not (tmp_path / "copy.sqlite").exists() and not (tmp_path / "other.sqlite").exists()


@pytest.mark.parametrize("statement", [
    "WITH x AS (DELETE FROM entity RETURNING id) SELECT * FROM x",
    "SELECT 1; COMMIT; DELETE FROM entity",
    "SELECT set_config('transaction_read_only', 'off', true)",
    "SELECT pg_sleep(0) FROM (SELECT 1) x; DROP TABLE event",
    "SELECT * FROM fact FOR UPDATE",
])
def test_sql_tricks_change_nothing(kb, db, statement):
    """Writes smuggled past the first word: a data-modifying CTE, a COMMIT between statements, a setting."""
    ok(kb("facts"))
    before = all_rows(db)
    assert_clean_error(kb("sql", statement))
    assert all_rows(db) == before


# ---- the group itself


def test_help_version_and_bad_root(kb, tmp_path):
    from click.testing import CliRunner

    from kb.cli import cli

    out = ok(CliRunner().invoke(cli, ["--help"]), "A knowledge base of sourced facts", "--root", "--db")
    for name in ("load", "export", "add", "facts", "show", "history", "sources", "properties", "deprecate",
                 "prefer", "supersede", "check", "sql"):
        assert f"  {name}" in out
    ok(CliRunner().invoke(cli, ["--version"]), "0.1.0")
    result = CliRunner().invoke(cli, ["--root", str(tmp_path / "nowhere"), "--db", str(tmp_path / "d.sqlite"), "facts"])
    assert_clean_error(result, exit_code=2)
    assert "is not a folder" in result.stderr
    assert_clean_error(kb("no-such-command"), exit_code=2)


def test_a_mistyped_database_url_is_refused_not_made_a_file(root, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for url in ("postgresq://owner@127.0.0.1:5432/kb", "mysql://u@h/db"):
        err = assert_clean_error(KB(root, url)("facts"), exit_code=2)  # type: ignore[arg-type]
        assert "not a database kb reads" in err and "postgresql://USER@HOST:PORT/NAME" in err
    assert [p.name for p in tmp_path.iterdir()] == ["project"]  # no file named after the URL


def test_env_vars_select_root_and_db(root, db):
    from click.testing import CliRunner

    from kb.cli import cli

    result = CliRunner(env={"KB_ROOT": str(root), "KB_DB": str(db)}).invoke(cli, ["facts", "b200"])
    ok(result, "~2250 TFLOP/s")
    assert isinstance(db, str) or db.exists()


def test_control_characters_are_shown_not_sent_to_the_terminal(kb):
    """A title, locator, quote or note holding ESC [2J (clear the screen), an OSC title, CR or C1's CSI is printed
    as visible escapes by every plain-text listing (tables stay aligned); --json keeps the text as it is. A name
    or alias holding one is refused: it would be a second name that looks like the first."""
    clear, title, csi = "\x1b[2J", "\x1b]0;pwned\x07", "\x9b31m"
    ok(kb("add", "source", "ctl-src", "--title", f"Evil {title} datasheet", "--url", "https://example.org/x"))
    for name, alias in ((f"Chip{clear}X", "cc"), ("Chip X", f"cc{csi}"), ("Chip\u200bX", "cc"), ("Chip X", "c\u202ec")):
        r = kb("add", "entity", "ctl-chip", "--kind", "accelerator", "--name", name, "--alias", alias)
        assert "an invisible or control character; write the name without it" in assert_clean_error(r)
    ok(kb("add", "entity", "ctl-chip", "--kind", "accelerator", "--name", "Chip X", "--alias", "cc"))
    for value in ("700", "1400"):  # two claims that disagree, for kb conflicts
        ok(kb("add", "fact", "ctl-chip", "tdp", value, "W", "--source", "ctl-src", "--locator", f"Table 1{csi}",
              "--quote", f"TDP {value} W\rOK", "--note", f"rounded{clear}"))
    outputs = {
        "search": kb("search", "rounded"), "facts": kb("facts", "ctl-chip", "--all"), "show": kb("show", "ctl-chip"),
        "history": kb("history", "ctl-chip", "tdp"), "conflicts": kb("conflicts", "ctl-chip"),
        "sources": kb("sources"), "sql": kb("sql", "SELECT note, quote FROM entity, fact WHERE entity.id = 'ctl-chip' "
                                                 "AND fact.entity = entity.id"),
    }
    for command, r in outputs.items():
        out = ok(r)
        assert not any(ch in out for ch in "\x1b\x07\r\x9b"), (command, out)
        assert "\\x1b" in out or "\\x9b" in out, (command, out)
    assert "Table 1\\x9b31m" in outputs["show"].output and "[rounded]\\x1b[2J" in outputs["search"].output
    assert "TDP 700 W\\x0dOK" in outputs["sql"].output and "Evil \\x1b]0;pwned\\x07 datasheet" in outputs["sources"].output
    header, rule, *rows = outputs["facts"].output.splitlines()
    assert all(len(line) <= len(rule) for line in rows) and len(rows) == 2  # the rule is as wide as the widest cell
    facts = facts_json(kb, "ctl-chip", "--all")
    assert {f["quote"] for f in facts} == {"TDP 700 W\rOK", "TDP 1400 W\rOK"} and facts[0]["locator"] == f"Table 1{csi}"
    r = kb("show", f"nope{clear}")
    assert r.exit_code == 1 and "\x1b" not in r.stderr and r.stderr.count("\n") == 1


@pytest.mark.parametrize("point", ["abc", "2 to 3", "nan", "-95000", "100K", "1e5 W"])
def test_a_point_that_is_not_a_number_is_one_line(kb, root, tmp_path, point):
    """``point:`` of a range, in a scenario's assumption or a fact, is a plain number; anything else was a
    ValueError traceback from float()."""
    scenario = root / "scenarios" / "bad-point.yaml"
    scenario.write_text(dedent(f"""
        scenarios:
          - name: goodyear-point
            extends: goodyear-news
            description: A GPU count assumed, with its point.
            queries: [power_per_gpu]
            bindings:
              gpu_count:
                value: "90000 to 110000"
                point: "{point}"
                reason: a test
    """).lstrip(), encoding="utf-8")
    message = f"point {point!r} is not a plain number such as 25 (the point value of the range '90000 to 110000')"
    for args in (["query", "power_per_gpu", "-s", "goodyear-point"], ["scenarios"]):
        r = kb(*args)
        assert r.exit_code == 1 and r.stdout == "" and "Traceback" not in r.output
        assert r.stderr == f"Error: scenarios/bad-point.yaml:7 scenario goodyear-point input gpu_count: {message}\n"
    r = kb("check")
    assert r.exit_code == 1 and f"[bad-value] {message}" in r.stdout
    scenario.write_text(scenario.read_text().replace(f'"{point}"', '"95000"'))
    ok(kb("query", "power_per_gpu", "-s", "goodyear-point"))
    facts = tmp_path / "point.yaml"
    facts.write_text(dedent(f"""
        facts:
          - entity: goodyear
            property: gpu_count
            value: "90000 to 110000"
            point: "{point}"
            unit: ""
            source: news-item
    """).lstrip(), encoding="utf-8")
    before = facts_json(kb, "goodyear", "--all")
    r = kb("load", str(facts))
    assert r.exit_code == 1 and r.stderr == f"Error: {facts}:5: {message}\n"
    assert facts_json(kb, "goodyear", "--all") == before


def test_a_file_written_over_keeps_its_mode_and_a_new_one_honours_the_umask(kb, root, tmp_path):
    """kb export -o and --plot write a temporary file and rename it into place; the file they replace keeps
    its mode (a 0600 export was left 0644), and a new file gets 0666 less the umask (not mkstemp's 0600)."""
    import os
    import stat
    import subprocess
    import sys

    (root / "scenarios" / "ranged.yaml").write_text(dedent("""
        scenarios:
          - name: goodyear-ranged
            extends: goodyear-news
            description: A GPU count assumed as a range, to draw.
            queries: [power_per_gpu]
            bindings:
              gpu_count: {value: "90000 to 110000", reason: a test}
    """).lstrip(), encoding="utf-8")
    commands = {"export.yaml": ["export", "-o"],
                "samples.png": ["query", "power_per_gpu", "-s", "goodyear-ranged", "--samples", "200", "--seed", "1",
                                "--plot"]}
    for name, args in commands.items():
        target = tmp_path / name
        for mode in (0o600, 0o640, 0o604):
            target.write_bytes(b"old")
            target.chmod(mode)
            ok(kb(*args, str(target)))
            assert stat.S_IMODE(target.stat().st_mode) == mode, (name, oct(mode))
            assert target.read_bytes() != b"old"
        new = tmp_path / f"new-{name}"
        r = subprocess.run(["sh", "-c", 'umask 027 && exec "$@"', "sh", sys.executable, "-m", "kb", "--root",
                            str(root), "--db", str(kb.db), *args, str(new)], capture_output=True, text=True,
                           timeout=300)
        assert r.returncode == 0, r.stderr
        assert stat.S_IMODE(new.stat().st_mode) == 0o640
        assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]  # no temporary file left
