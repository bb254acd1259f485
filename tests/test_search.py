"""kb search: ranked full-text search over claims, entities and sources, grouped by entity."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import postgres_database
from test_epoch_import import FILES, run

from kb.search import fts_query


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def imported(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path | str]:
    """The Epoch datasets imported into a SQLite file, and into a PostgreSQL database."""
    if request.param == "postgresql":
        for url in postgres_database():
            r = run(url, "import", "epoch", *map(str, FILES))  # type: ignore[arg-type]
            assert r.exit_code == 0, r.output
            yield url
        return
    db = tmp_path_factory.mktemp("search") / "kb.sqlite"
    r = run(db, "import", "epoch", *map(str, FILES))
    assert r.exit_code == 0, r.output
    yield db


def found(db: Path, *args: str) -> dict:  # type: ignore[type-arg]
    r = run(db, "search", *args, "--json")
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)  # type: ignore[no-any-return]


def test_oversubscription_finds_the_llama_3_cluster_fact_first(db: Path) -> None:
    r = run(db, "search", "oversubscription")
    assert r.exit_code == 0, r.output
    first = r.stdout.splitlines()[:3]
    assert first[0].startswith("llama-3-cluster  (cluster: ")
    assert first[1].startswith("  oversubscription = 7  [llama-3-paper] fact ")
    assert "[oversubscription] ratio of 1:7" in first[2]
    data = found(db, "oversubscription")
    top = data["entities"][0]
    assert top["id"] == "llama-3-cluster" and top["claims"][0]["property"] == "oversubscription"
    assert top["claims"][0]["source"]["id"] == "llama-3-paper" and top["claims"][0]["value"] == 7


def test_colossus_finds_the_imported_xai_clusters(imported: Path) -> None:
    data = found(imported, "Colossus")
    ids = [e["id"] for e in data["entities"]]
    assert ids[0].startswith("xai-colossus")  # found by their own names first
    assert {"xai-colossus-memphis-phase-1", "xai-colossus-memphis-phase-2", "xai-colossus-memphis-phase-3"} <= set(ids)
    phase1 = next(e for e in data["entities"] if e["id"] == "xai-colossus-memphis-phase-1")
    assert phase1["name_match"] == "name"
    powers = {c["value_text"] for c in phase1["claims"] if c["property"] == "site_power"}
    assert powers == {"150", "142.688"}


def test_sources_aliases_and_prefixes_are_searched(imported: Path) -> None:
    data = found(imported, "GPU Clusters")
    assert any(s["id"].startswith("epoch-clusters") for s in data["sources"])
    assert found(imported, "Trainium2")["entities"][0]["id"] == "trn2"  # an alias recorded by the import
    prefix = found(imported, "Coloss*")
    ids = [e["id"] for e in prefix["entities"]]
    assert prefix["fts"] == '"Coloss" *' and "xai-colossus-memphis-phase-1" in ids and "igenius-colosseum" in ids
    assert len(found(imported, "Colossus", "--limit", "2")["entities"]) == 2


@pytest.mark.parametrize("text", ['"', "NEAR(a b", "a AND OR", "col:umn", "a -x", "*"])
def test_what_users_type_is_never_fts_syntax(imported: Path, text: str) -> None:
    r = run(imported, "search", text)
    if text in ('"', "*"):
        assert r.exit_code == 1 and r.stderr.startswith("Error: kb search: ") and "no words" in r.stderr
    else:
        assert r.exit_code == 0, r.output


def test_fts_query_quotes_each_word() -> None:
    assert fts_query('H100-SXM "dense" NEAR') == '"H100-SXM" "dense" "NEAR"'


def test_repeated_words_count_once_and_distinct_words_are_capped(tmp_path: Path) -> None:
    """5000 copies of one word (any case) are one phrase, so the search is as quick as one word; more than
    32 distinct words is one line, exit 1."""
    assert fts_query("H100 h100 sxm* SXM* sxm H100") == '"H100" "sxm" * "sxm"'
    db = tmp_path / "kb.sqlite"
    once = found(db, "h100 H100")  # not "h100" alone: that is an exact alias, ranked first
    many = found(db, "h100 H100 " * 5000)
    assert many["fts"] == '"h100"' and many["entities"] == once["entities"]
    assert found(db, " ".join(f"w{i}" for i in range(32)))["entities"] == []  # 32 is allowed
    r = run(db, "search", " ".join(f"w{i} W{i}" for i in range(40)))
    assert r.exit_code == 1 and r.stdout == ""
    assert r.stderr == "Error: kb search: at most 32 distinct words; got 40\n"


def test_an_older_database_gains_the_index(tmp_path: Path) -> None:
    """A database made before the search index (no entity_fts) is migrated and backfilled on open."""
    import sqlite3

    db = tmp_path / "old.sqlite"
    assert run(db, "facts").exit_code == 0
    conn = sqlite3.connect(db)
    with conn:
        conn.execute("DROP TABLE entity_fts")
        conn.execute("DROP TABLE source_fts")
        for t in ("entity_fts_insert", "entity_alias_fts_insert", "source_fts_insert"):
            conn.execute(f"DROP TRIGGER {t}")
        conn.execute("DELETE FROM _kb_migrations WHERE name = '008_search_index'")
    conn.close()
    copy = tmp_path / "copy.sqlite"
    shutil.copy(db, copy)
    data = found(copy, "Trainium")
    assert "trn2" in [e["id"] for e in data["entities"]]


def test_a_group_found_by_name_shows_its_own_claims_and_an_exact_name_comes_first(imported: Path) -> None:
    data = found(imported, "H100")
    h100 = next(e for e in data["entities"] if e["id"] == "h100-sxm")
    assert len(h100["claims"]) >= 5  # not only those among the database-wide best hits
    assert data["total_entities"] > len(data["entities"]) == 20
    assert found(imported, "NVIDIA H100 SXM5 80GB")["entities"][0]["id"] == "h100-sxm"  # an alias, exactly
    r = run(imported, "add", "entity", "tpu-v5p", "--kind", "accelerator", "--name", "Google TPU v5p chip",
            "--alias", "Viperfish")
    assert r.exit_code == 0, r.output
    viper = found(imported, "Viperfish")["entities"][0]
    assert viper["id"] == "tpu-v5p" and viper["name_match"] == "alias Viperfish"
    assert found(imported, "tpu-v5p")["entities"][0]["id"] == "tpu-v5p"  # the id, exactly: first


def test_words_with_hyphens_and_points_are_split_alike_on_both_backends(imported: Path) -> None:
    """FTS5 splits H100-SXM and 989.4 into two words each; the PostgreSQL index splits them the same way."""
    h100 = next(e for e in found(imported, "H100-SXM")["entities"] if e["id"] == "h100-sxm")
    assert len(h100["claims"]) >= 4
    assert any(c["property"] == "dense_bf16_flops" for e in found(imported, "989.4")["entities"] for c in e["claims"])
    assert sum(len(e["claims"]) for e in found(imported, "gb200-nvl72")["entities"]) >= 5
    assert found(imported, "per-GPU")["entities"]
