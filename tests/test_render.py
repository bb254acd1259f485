"""Reports: the shipped writeups, footnotes, determinism, drift, bad templates, user templates."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import postgres_database

from kb.cli import cli
from kb.project import Project
from kb.report import find_template, list_templates, render

CHECKOUT = Path(__file__).resolve().parent.parent
SHIPPED = ["distributed-training-bandwidth", "goodyear-phoenix-cluster", "anthropic-trainium-compute",
           "frontier-training-cost", "diloco-bandwidth", "brain-parameters", "epoch-audit"]
# Names that contain digits and may appear in a template's literal text.
ALLOWED = ["Llama 3 405B", "Llama 3", "Llama-3-405B", "H100", "B200", "GB200", "NVL72", "Trainium 2", "Trainium2", "Trn2", "BF16", "FP32", "INT8",
           "Claude 3.5 Sonnet", "Claude 3.5 Opus", "Sonnet 3.5", "Opus 3.5", "GPT-4", "INTELLECT-1",
           "GB300s", "GB300", "8-bit", "16-bit", "GloVe's 6B and 32B", "Stargate UAE\nPhase 1's"]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def shipped(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    """The shipped project, on a SQLite file and on a PostgreSQL database: the writeups are the same."""
    if request.param == "postgresql":
        for url in postgres_database():
            project = Project.open(CHECKOUT, url)
            yield project
            project.close()
        return
    yield Project.open(CHECKOUT, tmp_path_factory.mktemp("render") / "kb.sqlite")


@pytest.fixture
def own(tmp_path: Path, db: Path | str) -> Iterator[Project]:
    """A private copy of the shipped project, for tests that add facts."""
    root = tmp_path / "proj"
    for folder in ("schema", "facts", "queries", "scenarios", "templates"):
        shutil.copytree(CHECKOUT / folder, root / folder)
    project = Project.open(root, db)
    yield project
    project.close()


def invoke(project: Project, *args: str) -> tuple[int, str, str]:
    r = CliRunner().invoke(cli, ["--root", str(project.root), "--db", project.db, *args])
    return r.exit_code, r.stdout, r.stderr


def test_the_shipped_templates_are_listed(shipped: Project) -> None:
    assert sorted(t.name for t in list_templates(shipped.templates_dir)) == sorted(SHIPPED)
    code, out, _ = invoke(shipped, "templates")
    assert code == 0 and all(name in out for name in SHIPPED)


@pytest.mark.parametrize("name", [n for n in SHIPPED if n != "epoch-audit"])  # that one: test_epoch_import
def test_shipped_writeup(shipped: Project, name: str) -> None:
    first = render(shipped, find_template(shipped, name))
    text = first.text
    # no leftover template syntax
    assert not re.search(r"\{\{|\}\}|\{%|%\}|\{#|#\}", text)
    # every footnote mark resolves, every definition is used, numbered in order of first use
    body, _, notes = text.partition("\n[^1]: ")
    notes = "[^1]: " + notes
    used = [int(n) for n in re.findall(r"\[\^(\d+)\]", body)]
    defined = [int(n) for n in re.findall(r"^\[\^(\d+)\]: ", notes, flags=re.M)]
    assert used and defined == list(range(1, len(defined) + 1))
    assert set(used) == set(defined)
    assert list(dict.fromkeys(used)) == sorted(set(used))  # first uses appear in order 1, 2, 3 ...
    # every footnote names a source recorded in the database
    titles = {s["title"] for s in shipped.store.sources().values()}
    for line in notes.strip().splitlines():
        computed = re.match(r"\[\^\d+\]: Computed \(scenario [^)]+\): .*, \((\d+)\)\.$", line)
        if computed:  # a derived number's one note: its last step, and its item in the computed-numbers section
            assert f"**({computed.group(1)})** `" in body, line
        else:
            assert any(f"*{t}*" in line for t in titles), line
    # no value carries a stack of marks: more than three in a row would be unreadable
    for line in text.splitlines():
        assert not re.search(r"(\[\^\d+\]){4}", line), line
    # every number printed is the query result it came from
    from kb.report.render import RenderContext

    ctx = RenderContext(shipped, None)
    for n in first.numbers:
        if n["kind"] == "query":
            claims = json.loads(n["claims"]) if n["claims"] else None
            samples = claims.pop("__samples__", None) if claims else None
            r = ctx.evaluate(n["ref"], n["scenario"], claims or None, *(samples or (None, None)))
            value, low, high = r.shown(n["unit"])
            assert n["value"] == pytest.approx(value)
            if low is None:
                assert n["low"] is None
            else:
                assert (n["low"], n["high"]) == (pytest.approx(low), pytest.approx(high))
        assert n["text"] in body
    # the same inputs give identical bytes
    assert render(shipped, find_template(shipped, name)).text == text


def test_key_numbers_of_the_bandwidth_writeup(shipped: Project) -> None:
    text = render(shipped, find_template(shipped, "distributed-training-bandwidth")).text
    for fragment in ("1.6 TB", "13 Tbps", "2K", "16M tokens", "3.6T", "6.9K", "290 Tbps", "156K", "1.25M"):
        assert fragment in text, fragment


def test_goodyear_shows_the_conflict(shipped: Project) -> None:
    text = render(shipped, find_template(shipped, "goodyear-phoenix-cluster")).text
    assert "- ~100K[^" in text and "- 150K[^" in text
    assert "1.5 kW" in text and "1 kW" in text
    assert "Competing claims for openai-goodyear.gpu_count" in text


# Not quantities: years, and the labels of figures, tables and sections the prose points to.
NOT_QUANTITIES = re.compile(r"\b(?:19|20)\d\d\b|\b(?:Figures?|Tables?|Sections?) \d+[a-z]?(?:\.\d+)*(?: and \d+[a-z]?)?")


def _unquoted(text: str, sources: str) -> str:
    """The text without its "double-quoted" passages, each of which must be the comment's own words."""
    def drop(m: re.Match[str]) -> str:
        assert " ".join(m.group(1).split()) in sources, f"quoted but not in the comments: {m.group(1)!r}"
        return " "
    return re.sub(r'"([^"{}]+)"', drop, text)


@pytest.mark.parametrize("name", SHIPPED)
def test_no_number_is_typed_into_a_template(name: str) -> None:
    """Every quantity comes from the knowledge base; the only digits typed are years, figure and table
    labels, names (H100) and the comment's own words quoted verbatim."""
    source = (CHECKOUT / "templates" / f"{name}.md.j2").read_text()
    comments = " ".join((CHECKOUT / "facts" / "texts" / "nesov-comments.txt").read_text().split())
    literal = re.sub(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", " ", source, flags=re.S)
    literal = _unquoted(literal, comments)
    for allowed in ALLOWED:
        literal = literal.replace(allowed, " ")
    literal = NOT_QUANTITIES.sub(" ", literal)
    digits = re.findall(r"\S*\d\S*", literal)
    assert not digits, f"{name}: numbers typed into the template: {digits}"


def test_new_preferred_fact_changes_the_report_and_check_reports_drift(own: Project, tmp_path: Path) -> None:
    out = tmp_path / "goodyear.md"
    code, _, err = invoke(own, "render", "goodyear-phoenix-cluster", "-o", str(out))
    assert code == 0, err
    before = out.read_text()
    code, stdout, _ = invoke(own, "render", "goodyear-phoenix-cluster", "--check")
    assert code == 0 and "unchanged" in stdout
    code, stdout, _ = invoke(own, "stale")
    assert code == 0 and "No stale renders" in stdout
    # the scenario pins the comment's claim (source: nesov-comments): a correction of it changes the report
    code, stdout, _ = invoke(own, "facts", "openai-goodyear", "--property", "site_power", "--json")
    old = json.loads(stdout)[0]["id"]
    code, stdout, err = invoke(own, "supersede", old, "200", "MW", "--source", "nesov-comments", "--locator", "test",
                               "--confidence", "confirmed", "--reason", "newer figure")
    assert code == 0, err
    fact_id = stdout.split()[2]
    code, stdout, _ = invoke(own, "render", "goodyear-phoenix-cluster", "--check")
    assert code == 1
    assert "power_per_gpu [openai-goodyear]: 1.5 kW -> 2 kW" in stdout
    assert f"now uses fact {fact_id}" in stdout
    code, stdout, _ = invoke(own, "stale")
    assert code == 1 and "goodyear-phoenix-cluster" in stdout and fact_id in stdout
    code, _, _ = invoke(own, "render", "goodyear-phoenix-cluster", "-o", str(out))
    after = out.read_text()
    assert after != before and "2 kW" in after
    code, stdout, _ = invoke(own, "render", "goodyear-phoenix-cluster", "--check")
    assert code == 0 and "unchanged" in stdout


def test_render_is_recorded_in_the_manifest(own: Project) -> None:
    code, text, _ = invoke(own, "render", "brain-parameters")
    assert code == 0 and text.startswith("# Parameters per synapse")
    renders = own.store.sql("SELECT * FROM render")
    assert len(renders) == 1 and renders[0]["template"] == "brain-parameters"
    numbers = own.store.sql("SELECT * FROM render_number WHERE render = ?", (renders[0]["id"],))
    assert any(n["ref"] == "params_per_synapse" and n["low"] == pytest.approx(333333.33, rel=1e-6) for n in numbers)
    inputs = own.store.sql("SELECT * FROM render_input WHERE render = ?", (renders[0]["id"],))
    assert any(i["kind"] == "fact" and "human-brain.synapse_count" in i["detail"] for i in inputs)
    assert any(i["kind"] == "assumption" for i in inputs)


def test_misspelt_query_fails_with_its_line(own: Project, tmp_path: Path) -> None:
    bad = tmp_path / "bad.md.j2"
    bad.write_text("# Title\n\nSome text.\n{{ q(\"step_tme\", \"llama-3-405b\") }}\n")
    code, out, err = invoke(own, "render", str(bad))
    assert code == 1 and out == ""
    assert "line 4" in err and "unknown query 'step_tme'" in err and "did you mean 'step_time'" in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_undefined_name_fails_loudly(own: Project, tmp_path: Path) -> None:
    bad = tmp_path / "undefined.md.j2"
    bad.write_text("Line one\n{{ missing_variable }}\n")
    code, _, err = invoke(own, "render", str(bad))
    assert code == 1 and "line 2" in err and "missing_variable" in err


def test_user_template_by_path_renders(own: Project, tmp_path: Path) -> None:
    mine = tmp_path / "elsewhere" / "mine.md.j2"
    mine.parent.mkdir()
    mine.write_text('{# My note #}\nA step takes {{ q("step_time", unit="s") }}.\n')
    code, out, err = invoke(own, "render", str(mine), "-s", "llama-3-405b")
    assert code == 0, err
    assert out.startswith("A step takes 6.1 s[^") and "\n[^1]: " in out
    code, _, err = invoke(own, "render", str(mine))
    assert code == 1 and "no default scenario" in err


def test_render_all_writes_every_template(own: Project, tmp_path: Path) -> None:
    code, out, err = invoke(own, "render", "--all", "-o", str(tmp_path / "out"))
    assert code == 0, err
    assert sorted(p.stem for p in (tmp_path / "out").glob("*.md")) == sorted(SHIPPED)
    code, _, err = invoke(own, "render", "--all")
    assert code == 2
    code, _, err = invoke(own, "render")
    assert code == 2


def test_check_reports_template_problems(own: Project) -> None:
    (own.templates_dir / "broken.md.j2").write_text('{{ q("nope", "llama-3-405b") }} {{ stray }}\n')
    code, out, _ = invoke(own, "check")
    assert code == 1
    assert "template broken, line 1: [template] name 'stray' is not provided" in out
    assert "unknown query 'nope'" in out


def test_a_database_from_before_a_migration_is_upgraded(tmp_path: Path) -> None:
    """Opening an older database applies the migrations it lacks (here: render_number.claims)."""
    import sqlite3

    from sqlmodel import create_engine

    from kb import db

    path = tmp_path / "old.sqlite"
    engine = create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE _kb_migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
        for name, step in db.MIGRATIONS[:4]:
            step(conn)
            conn.exec_driver_sql("INSERT INTO _kb_migrations VALUES (?, 'then')", (name,))
        conn.exec_driver_sql("ALTER TABLE render_number DROP COLUMN claims")
    engine.dispose()
    project = Project.open(CHECKOUT, path)
    code, _, err = invoke(project, "load")  # the old database existed, so nothing was loaded into it
    assert code == 0, err
    code, _, err = invoke(project, "render", "goodyear-phoenix-cluster")
    assert code == 0, err
    conn = sqlite3.connect(path)
    columns = {row[1] for row in conn.execute("PRAGMA table_info(render_number)")}
    applied = [row[0] for row in conn.execute("SELECT name FROM _kb_migrations ORDER BY name")]
    conn.close()
    assert "claims" in columns
    assert applied == [name for name, _ in db.MIGRATIONS]


@pytest.mark.parametrize(("name", "present", "absent"), [
    ("goodyear-phoenix-cluster",
     ["shows that in September 2024 only the first 3[^", "about\n4.5[^", "\"Patel's claim is 100K H100s at 150 megawatts.\""],
     ["Two figures circulate", "Dylan Patel's account", "when the comment was written only"]),
    ("anthropic-trainium-compute",
     ["mid to late 2025", "7e25-1e26 FLOPs[^", "2e26 FLOPs[^", "capped at\n4e25 FLOPs[^", "$3.6[^",
      "(the comment: $300M[^", "*In Good Company* podcast", "Anthropic might have the largest cluster[^"],
     ["probably up to"]),
    ("distributed-training-bandwidth",
     ["need about 300 Tbps[^", "could be very wrong", "if the network\ncould handle it",
      "longer sequences mean more time between optimizer\nsteps, and so less bandwidth", "(the comment: \"about 9 times larger\", 3.5T[^",
      "higher\", 300 Tbps[^"],
     []),
    ("diloco-bandwidth",
     ["\"comparing with 4x batch size baseline\"", "spent by step\n32K[^", "benchmark results seem similar",
      "the comment does\nnot give the factor"],
     []),
    ("frontier-training-cost",
     ["\"in the later part of this year\"\n(2024)[^", "The Information reported", "rounds this down to\n300K[^"],
     []),
])
def test_the_writeups_say_what_the_comments_say(shipped: Project, name: str, present: list[str], absent: list[str]) -> None:
    text = render(shipped, find_template(shipped, name)).text
    for fragment in present:
        assert fragment in text, fragment
    for fragment in absent:
        assert fragment not in text, fragment


def test_check_pairs_numbers_by_what_they_are_not_by_position(own: Project, tmp_path: Path) -> None:
    """A claim added to a conflicts() list is one new number; the numbers after it are unchanged."""
    out = tmp_path / "goodyear.md"
    code, _, err = invoke(own, "render", "goodyear-phoenix-cluster", "-o", str(out))
    assert code == 0, err
    code, _, err = invoke(own, "add", "fact", "openai-goodyear", "gpu_count", "120000", "", "--source",
                          "semianalysis-100k-h100", "--locator", "elsewhere", "--confidence", "speculative")
    assert code == 0, err
    code, stdout, _ = invoke(own, "render", "goodyear-phoenix-cluster", "--check")
    assert code == 1
    moved = [line for line in stdout.splitlines() if line.strip().startswith("#")]
    assert len(moved) == 1 and "(absent) -> 120K" in moved[0], stdout


def test_stale_lists_a_render_that_no_longer_renders(own: Project, tmp_path: Path) -> None:
    code, _, err = invoke(own, "render", "goodyear-phoenix-cluster", "-o", str(tmp_path / "g.md"))
    assert code == 0, err
    # a second claim from the source the template pins makes that pin ambiguous
    code, _, err = invoke(own, "add", "fact", "openai-goodyear", "gpu_count", "120000", "", "--source",
                          "phoenix-150k-comment", "--locator", "elsewhere")
    assert code == 0, err
    code, stdout, _ = invoke(own, "stale")
    assert code == 1
    assert "goodyear-phoenix-cluster: no longer renders: template goodyear-phoenix-cluster, line" in stdout
    assert "2 active claims of openai-goodyear.gpu_count match source: phoenix-150k-comment" in stdout


@pytest.mark.parametrize("call, message", [
    ('q("gradient_bandwidth", "b200-500k-nvl72", digits=1000)', "digits=1000 must be a whole number of significant figures, 1 to 17"),
    ('fact(None)', "fact(): ref must be text, not None"),
    ('fact(5)', "fact(): ref must be text, not 5"),
    ('cite(5)', "cite(): source must be text, not 5"),
    ('q("gradient_bandwidth", "b200-500k-nvl72", unit=5)', "q(): unit must be text, not 5"),
    ('derivation("abc")', "derivation() takes a q(), fact() or given() result, not 'abc'"),
    ('conflicts(["h100-sxm.tdp"])', "conflicts(): ref must be text"),
    ('q("gradient_bandwidth", "b200-500k-nvl72", claims={"h100-sxm.tdp": "llama-3-paper"})',
     "pins h100-sxm.tdp, which query gradient_bandwidth in scenario b200-500k-nvl72 does not use"),
])
def test_a_helper_called_wrongly_says_what_is_wrong(own: Project, tmp_path: Path, call: str, message: str) -> None:
    bad = tmp_path / "wrong.md.j2"
    bad.write_text(f"# Title\n\n{{{{ {call} }}}}\n")
    code, out, err = invoke(own, "render", str(bad))
    assert code == 1 and out == "", (code, out, err)
    assert message in err and "line 3" in err, err
    assert err.count("\n") == 1 and "Traceback" not in err and "Error: " in err
