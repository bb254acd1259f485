"""Loading YAML: idempotent, all-or-nothing, strict about keys, errors that name file and line."""

from __future__ import annotations

import json
from pathlib import Path
from textwrap import dedent

import pytest
from helpers import all_rows, by_value

from kb.errors import ConflictError, FileFormatError, KBError, NotFoundError, UnitError
from kb.load import load_paths
from kb.project import Project


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(dedent(text).lstrip("\n"), encoding="utf-8")
    return path


GOOD = """
sources:
  - id: good-source
    title: A good source
entities:
  - id: good-chip
    kind: accelerator
facts:
  - entity: good-chip
    property: tdp
    value: "500"
    unit: W
    source: good-source
"""

BAD_UNIT_THIRD = """
facts:
  - entity: h100-sxm
    property: tdp
    value: "650"
    unit: W
    source: news-item
  - entity: b200
    property: tdp
    value: "1000"
    unit: W
    source: news-item
  - entity: b200
    property: dense_bf16_flops
    value: "2250"
    unit: W
    source: news-item
"""


def test_fresh_load_report_counts(empty_root, root, tmp_path):
    import shutil

    shutil.copytree(root / "facts" / "texts", empty_root / "facts" / "texts")  # a source's text is the project's
    store = Project.open(empty_root, tmp_path / "empty.sqlite").store
    assert store.claims() == []
    report = load_paths(store, [root / "facts"], root=root)
    assert report.files == 2
    assert report.added == {"properties": 0, "sources": 3, "entities": 4, "aliases": 0, "facts": 11, "events": 0}
    assert report.unchanged == 0
    assert len(store.claims()) == 11


def test_load_is_idempotent(store, root, db):
    before = all_rows(db)
    report = load_paths(store, [root / "facts"], root=root)
    assert report.files == 2
    assert report.added == {"properties": 0, "sources": 0, "entities": 0, "aliases": 0, "facts": 0, "events": 0}
    assert report.unchanged == 3 + 4 + 11
    assert all_rows(db) == before


def test_load_is_all_or_nothing(store, db, tmp_path):
    folder = tmp_path / "incoming"
    write(folder / "a-good.yaml", GOOD)
    bad = write(folder / "b-bad.yaml", BAD_UNIT_THIRD)
    before = all_rows(db)
    with pytest.raises(UnitError) as err:
        load_paths(store, [folder])
    message = str(err.value)
    assert message.startswith(f"{bad}:15: ")  # the 'unit: W' line of the third fact
    assert "dense_bf16_flops" in message
    assert all_rows(db) == before
    assert "good-source" not in store.sources()
    assert "good-chip" not in store.entities()


def test_error_labels_are_relative_to_the_root(store, root):
    write(root / "facts" / "zz-bad.yaml", BAD_UNIT_THIRD)
    with pytest.raises(UnitError) as err:
        load_paths(store, [root / "facts"], root=root)
    assert str(err.value).startswith("facts/zz-bad.yaml:15: ")


def test_dry_run_writes_nothing(store, db, tmp_path):
    path = write(tmp_path / "good.yaml", GOOD)
    before = all_rows(db)
    report = load_paths(store, [path], dry_run=True)
    assert report.added == {"properties": 0, "sources": 1, "entities": 1, "aliases": 0, "facts": 1, "events": 0}
    assert all_rows(db) == before


def test_facts_may_reference_sources_and_entities_of_other_files(store, tmp_path):
    write(tmp_path / "in" / "a.yaml", """
        facts:
          - entity: z-chip
            property: tdp
            value: "400"
            unit: W
            source: z-source
        """)
    write(tmp_path / "in" / "b.yaml", """
        sources:
          - id: z-source
            title: Z
        entities:
          - id: z-chip
            kind: accelerator
        """)
    report = load_paths(store, [tmp_path / "in"])
    assert report.added == {"properties": 0, "sources": 1, "entities": 1, "aliases": 0, "facts": 1, "events": 0}
    assert store.best("z-chip", "tdp")["si_value"] == 400.0


def test_changed_value_becomes_a_new_claim(store, root):
    path = root / "facts" / "hardware.yaml"
    old = store.best("h100-sxm", "tdp")
    path.write_text(path.read_text().replace('value: "700"', 'value: "720"'))
    report = load_paths(store, [root / "facts"], root=root)
    assert report.added["facts"] == 1
    values = sorted(c["value"] for c in store.claims("h100-sxm", "tdp"))
    assert values == [700.0, 720.0]
    assert by_value(store.claims("h100-sxm", "tdp"), 700)["id"] == old["id"]


def test_unquoted_scalars_are_kept_as_written(store, tmp_path):
    path = write(tmp_path / "plain.yaml", """
        facts:
          - entity: b200
            property: training_compute
            value: 1.6e12
            unit: FLOP
            source: news-item
            as_of: 2024-07
          - entity: b200
            property: gpu_count
            value: 1:7
            unit:
            source: news-item
        """)
    with pytest.raises(KBError) as err:
        load_paths(store, [path])
    assert "'1:7'" in str(err.value)  # not the YAML 1.1 sexagesimal 67
    assert str(err.value).startswith(f"{path}:10: ")
    text = path.read_text().split("  - entity: b200\n    property: gpu_count")[0]
    path.write_text(text)
    load_paths(store, [path])
    row = store.best("b200", "training_compute")
    assert (row["value_text"], row["si_value"], row["as_of"], row["as_of_precision"]) == ("1.6e12", 1.6e12, "2024-07", "month")


@pytest.mark.parametrize(
    ("snippet", "error", "fragments"),
    [
        ("    colour: red\n", FileFormatError, ["unknown key 'colour' in fact", ":7: "]),
        ("    confidence: certain\n", KBError, ["confidence 'certain' is not one of", ":7: "]),
        ("    as_of: 2024-13\n", KBError, ["as_of '2024-13' is not a real date", ":7: "]),
        ("    supersedes: abcdefabcdef\n", NotFoundError, ["unknown fact 'abcdefabcdef'", ":7: "]),
    ],
)
def test_bad_fact_fields(store, tmp_path, snippet, error, fragments):
    path = write(tmp_path / "bad.yaml", """
        facts:
          - entity: b200
            property: tdp
            value: "1000"
            unit: W
            source: news-item
        """)
    path.write_text(path.read_text() + snippet)
    with pytest.raises(error) as err:
        load_paths(store, [path])
    text = str(err.value)
    for fragment in fragments:
        assert fragment in text, text
    assert text.startswith(str(path))
    assert "\n" not in text


def test_edited_exported_fact_is_refused(store, tmp_path):
    path = write(tmp_path / "edited.yaml", """
        facts:
          - entity: b200
            property: tdp
            value: "1000"
            unit: W
            source: news-item
            id: 000000000000
        """)
    with pytest.raises(FileFormatError, match="does not match its content") as err:
        load_paths(store, [path])
    # the error points at the fact or at its id, not at an unrelated field
    assert str(err.value).startswith((f"{path}:2: ", f"{path}:7: ")), str(err.value)


@pytest.mark.parametrize(
    ("field", "wrong", "right"),
    [("entity", "b2000", "b200"), ("source", "news-items", "news-item"), ("property", "tdpp", "tdp")],
)
def test_unknown_names_did_you_mean(store, tmp_path, field, wrong, right):
    fact = {"entity": "b200", "property": "tdp", "value": '"1000"', "unit": "W", "source": "news-item"}
    fact[field] = wrong
    lines = ["facts:"] + [f"  {'- ' if i == 0 else '  '}{k}: {v}" for i, (k, v) in enumerate(fact.items())]
    path = write(tmp_path / "names.yaml", "\n".join(lines) + "\n")
    with pytest.raises(NotFoundError) as err:
        load_paths(store, [path])
    text = str(err.value)
    assert f"unknown {field} '{wrong}'" in text
    assert f"did you mean '{right}'" in text
    line = 2 + list(fact).index(field)
    assert text.startswith(f"{path}:{line}: ")


def test_duplicate_source_with_different_title_conflicts(store, tmp_path):
    path = write(tmp_path / "dup.yaml", """
        sources:
          - id: news-item
            title: Another title entirely
        """)
    with pytest.raises(ConflictError) as err:
        load_paths(store, [path])
    assert "source 'news-item' already exists with a different title" in str(err.value)
    assert str(err.value).startswith(f"{path}:2: ")
    assert store.sources()["news-item"]["title"] == "A news story about accelerators and sites"


def test_duplicate_entity_with_different_kind_conflicts(store, tmp_path):
    path = write(tmp_path / "dup.yaml", """
        entities:
          - id: b200
            kind: system
            name: B200
        """)
    with pytest.raises(ConflictError, match="different kind"):
        load_paths(store, [path])


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("stuff:\n  - 1\n", "unknown top-level key 'stuff'"),
        ("facts: 3\n", "'facts' must be a list"),
        ("- a\n- b\n", "expected a mapping"),
        ("facts:\n  - entity: b200\n    entity: b200\n", "duplicate key 'entity'"),
        ("facts:\n  - [unclosed\n", "YAML does not parse"),
        ("entities:\n  - id: x\n    kind: spaceship\n", "entity kind 'spaceship' is not one of"),
        ("entities:\n  - id: x\n    kind: other\n    part_of: nowhere\n", "unknown entity 'nowhere'"),
        ("sources:\n  - id: s\n", "source needs 'title'"),
        ("events:\n  - fact: abc\n    rank: deprecated\n    reason: r\n", "unknown fact 'abc'"),
        ("facts:\n  - entity: b200\n    property: tdp\n    unit: W\n    source: news-item\n", "fact needs a 'value'"),
    ],
)
def test_bad_files(store, db, tmp_path, text, fragment):
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    before = all_rows(db)
    with pytest.raises(KBError) as err:
        load_paths(store, [path])
    assert fragment in str(err.value)
    assert "\n" not in str(err.value)
    assert all_rows(db) == before


def test_event_with_bad_rank(store, tmp_path):
    fid = store.best("b200", "dense_bf16_flops")["id"]
    path = write(tmp_path / "ev.yaml", f"""
        events:
          - fact: {fid}
            rank: excellent
            reason: r
        """)
    with pytest.raises(FileFormatError, match="rank 'excellent' is not one of") as err:
        load_paths(store, [path])
    assert str(err.value).startswith(f"{path}:3: ")


def test_events_load_idempotently(store, tmp_path):
    fid = store.best("b200", "dense_bf16_flops")["id"]
    path = write(tmp_path / "ev.yaml", f"""
        events:
          - fact: {fid}
            rank: deprecated
            reason: speculative figure
        """)
    assert load_paths(store, [path]).added["events"] == 1
    assert load_paths(store, [path]).added["events"] == 0
    assert store.fact(fid)["effective_rank"] == "deprecated"


def test_yaml_correction_must_keep_entity_and_property(store, tmp_path):
    """A correction of another entity's fact would leave the original active; refuse it like the store does."""
    old = store.best("h100-sxm", "tdp")
    path = write(tmp_path / "fix.yaml", f"""
        facts:
          - entity: b200
            property: tdp
            value: "1000"
            unit: W
            source: news-item
            supersedes: {old['id']}
        """)
    with pytest.raises(KBError, match="must be for h100-sxm.tdp"):
        load_paths(store, [path])
    assert store.claims("b200", "tdp") == []


def test_yaml_cannot_supersede_an_already_superseded_fact(store, tmp_path):
    old = store.best("h100-sxm", "tdp")
    fact = """
          - entity: h100-sxm
            property: tdp
            value: "{value}"
            unit: W
            source: news-item
            supersedes: {old}
        """
    write(tmp_path / "one.yaml", "facts:\n" + dedent(fact.format(value=710, old=old["id"])))
    load_paths(store, [tmp_path / "one.yaml"])
    write(tmp_path / "two.yaml", "facts:\n" + dedent(fact.format(value=720, old=old["id"])))
    with pytest.raises(KBError, match="already superseded"):
        load_paths(store, [tmp_path / "two.yaml"])
    assert sorted(c["value"] for c in store.claims("h100-sxm", "tdp")) == [700.0, 710.0]


def test_bad_shipped_facts_leave_no_database(root, db):
    write(root / "facts" / "zz-bad.yaml", BAD_UNIT_THIRD)
    with pytest.raises(UnitError):
        _ = Project.open(root, db).store
    if isinstance(db, str):  # PostgreSQL: the database stays, with none of the tables creating it made
        import psycopg

        with psycopg.connect(db) as conn:
            assert conn.execute("SELECT table_name FROM information_schema.tables "
                                "WHERE table_schema = current_schema()").fetchall() == []
    else:
        assert not db.exists()


def test_missing_path(store, tmp_path):
    with pytest.raises(KBError, match="no such file or folder"):
        load_paths(store, [tmp_path / "nope.yaml"])


@pytest.mark.parametrize("url", ["javascript:alert(1)", "JavaScript:alert(1)", "data:text/html,<script>x</script>",
                                 "file:///etc/passwd", "/home/me/paper.pdf", "https:no-host", "https://exa mple.org",
                                 "java\tscript:alert(1)", "ftp://example.org/x"])
def test_a_source_url_must_be_http_or_https(kb, url):
    for option, field in (("--url", "url"), ("--archive-url", "archive_url")):
        r = kb("add", "source", "evil", "--title", "Evil", option, url)
        assert r.exit_code == 1 and r.stdout == ""
        assert r.stderr.startswith(f"Error: source 'evil': {field} ") and r.stderr.count("\n") == 1
        assert r.stderr.endswith(" is not an http:// or https:// address\n")
    assert "evil" not in kb("sources").stdout


def test_http_and_https_urls_are_recorded(kb):
    for i, url in enumerate(("http://example.org/a", "HTTPS://example.org/b?x=1#y")):
        r = kb("add", "source", f"web-{i}", "--title", "Web", "--url", url, "--archive-url", url)
        assert r.exit_code == 0, r.output
    assert [s["url"] for s in json.loads(kb("sources", "--json").stdout) if s["id"].startswith("web-")] == [
        "http://example.org/a", "HTTPS://example.org/b?x=1#y"]


def test_a_loaded_source_url_or_cited_url_must_be_http_or_https(kb, tmp_path):
    """In a facts file, the error names the file, line and field, and nothing of the file is loaded."""
    src = write(tmp_path / "src.yaml", """
        sources:
          - id: evil
            title: Evil
            url: "javascript:alert(1)"
    """)
    r = kb("load", str(src))
    assert r.exit_code == 1
    assert r.stderr == (f"Error: {src}:4: source 'evil': url 'javascript:alert(1)' is not an http:// or https:// "
                        "address\n")
    cites = write(tmp_path / "cites.yaml", GOOD.replace("    source: good-source\n", """    source: good-source
    cites:
      - https://example.org/row
      - "data:text/html,<script>alert(1)</script>"
"""))
    r = kb("load", str(cites))
    assert r.exit_code == 1
    assert r.stderr == (f"Error: {cites}:13: cites 'data:text/html,<script>alert(1)</script>' is not an http:// or "
                        "https:// address\n")
    assert "good-source" not in kb("sources").stdout and "evil" not in kb("sources").stdout
    write(cites, GOOD.replace("    source: good-source\n", "    source: good-source\n    cites: https://example.org/row\n"))
    assert kb("load", str(cites)).exit_code == 0
    assert json.loads(kb("facts", "good-chip", "--json").stdout)[0]["cites"] == ["https://example.org/row"]
