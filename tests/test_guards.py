"""Bad or suspicious input is refused with one clear line, and a failing command leaves nothing behind."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from kb import numfmt
from kb.cli import cli

CHECKOUT = Path(__file__).resolve().parent.parent


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    for folder in ("schema", "facts", "queries", "scenarios", "templates"):
        shutil.copytree(CHECKOUT / folder, root / folder)
    return root


def kb(root: Path, *args: str, db: str | None = None) -> tuple[int, str, str]:
    r = CliRunner().invoke(cli, ["--root", str(root), "--db", db or str(root / "kb.sqlite"), *args], prog_name="kb")
    assert "Traceback" not in r.stderr
    if r.exception and not isinstance(r.exception, SystemExit):
        raise r.exception
    return r.exit_code, r.stdout, r.stderr


# ---- percent written without its unit


def test_bare_number_for_a_percent_input_is_refused(root: Path) -> None:
    code, out, err = kb(root, "query", "step_time", "-s", "llama-3-405b", "--set", "utilization=40")
    assert code == 1 and out == ""
    assert "4000%" in err and "--set utilization=40%" in err and len(err.strip().splitlines()) == 1
    _, as_fraction, _ = kb(root, "query", "step_time", "-s", "llama-3-405b", "--set", "utilization=0.4", "--json")
    _, as_percent, _ = kb(root, "query", "step_time", "-s", "llama-3-405b", "--set", "utilization=40%", "--json")
    assert json.loads(as_fraction)["value"] == pytest.approx(json.loads(as_percent)["value"])


def test_bare_number_for_a_percent_fact_is_refused(root: Path) -> None:
    code, _, err = kb(root, "add", "fact", "llama-3-405b", "utilization", "40", "", "--source", "llama-3-paper")
    assert code == 1 and "reads as a fraction (4000%)" in err
    _, listing, _ = kb(root, "facts", "llama-3-405b", "--property", "utilization", "--all", "--json")
    assert all(f["value_text"] != "40" or f["unit"] == "%" for f in json.loads(listing))
    code, out, err = kb(root, "add", "fact", "llama-3-405b", "utilization", "40", "%", "--source", "llama-3-paper")
    assert code == 0, err


def test_bare_percent_assumption_is_a_check_problem(root: Path) -> None:
    (root / "scenarios" / "mine.yaml").write_text(
        "scenarios:\n"
        "  - name: mine\n"
        "    extends: llama-3-405b\n"
        "    description: utilization written without its unit\n"
        "    queries: [step_time]\n"
        "    bindings:\n"
        "      utilization: {value: \"45\", reason: a guess}\n"
    )
    code, out, _ = kb(root, "check")
    assert code == 1
    assert "scenario mine, query step_time" in out and "4500%" in out


# ---- scenario bindings are checked even when no listed query reaches them


def test_check_flags_misspelt_binding_and_unknown_source(root: Path) -> None:
    (root / "scenarios" / "mine.yaml").write_text(
        "scenarios:\n"
        "  - name: mine\n"
        "    extends: llama-3-405b\n"
        "    description: two mistakes\n"
        "    bindings:\n"
        "      utilisation: {value: \"45 %\", reason: a guess}\n"
        "      gpu_count: {fact: llama-3-405b.gpu_count, source: no-such-source}\n"
    )
    code, out, _ = kb(root, "check")
    assert code == 1
    assert ("scenarios/mine.yaml:6 scenario mine input utilisation: [unused-binding] "
            "binding 'utilisation' is the name of no query input; did you mean 'utilization'?") in out
    assert "scenarios/mine.yaml:7" in out and "matches no active claim; pinned source: no-such-source; candidates:" in out


# ---- templates: runtime errors and styles


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("{{ 1 / 0 }}", "ZeroDivisionError: division by zero"),
        ('{{ q("training_duration", "llama-3-405b", style="si") }}', "style 'si' is for power"),
        ('{{ q("power_per_gpu", "openai-goodyear", style="money") }}', "style 'money' needs an amount of money, not 'kW'"),
        ('{{ q("step_time", "llama-3-405b", style="fancy") }}', "unknown style 'fancy'"),
        ('{{ q("step_time", "llama-3-405b", digits=0) }}', "digits=0 must be a whole number"),
        ('{{ q("step_time", "llama-3-405b", style="count") }}', "style 'count' is for plain counts"),
    ],
)
def test_template_errors_name_the_line(root: Path, body: str, expected: str) -> None:
    path = root.parent / "mine.md.j2"
    path.write_text("# Mine\n\n" + body + "\n")
    code, out, err = kb(root, "render", str(path))
    assert code == 1 and out == ""
    assert f"template {path}, line 3: " in err and expected in err
    assert len(err.strip().splitlines()) == 1


def test_non_utf8_template_is_one_line_error(root: Path) -> None:
    path = root.parent / "latin1.md.j2"
    path.write_bytes("# Caf\xe9\n".encode("latin-1"))
    code, _, err = kb(root, "render", str(path))
    assert code == 1 and "not UTF-8" in err


# ---- numbers round as readers expect


@pytest.mark.parametrize(
    ("formatted", "expected"),
    [
        (numfmt.count(1.25e6), "1.3M"),
        (numfmt.count(999_999), "1M"),
        (numfmt.count(16384), "16K"),
        (numfmt.money(2.5e9), "$2.5B"),
        (numfmt.money(999.6e6, 3), "$1B"),
        (numfmt.si_prefixed(999.9e12, "bps"), "1 Pbps"),
        (numfmt.sig(0.125, 2), "0.13"),
        (numfmt.sig(2.675, 3), "2.68"),
        (numfmt.sci(8.25e25), "8.3e25"),
    ],
)
def test_rounding_half_up_and_rolling_over(formatted: str, expected: str) -> None:
    assert formatted == expected


# ---- YAML that would crash a naive reader


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("sources:\n  - id: a\n    title: Caf\xe9\n".encode("latin-1"), "facts/bad.yaml:3: not UTF-8 text"),
        (b"sources:\n  - &a [*a]\n", "facts/bad.yaml:2: an alias refers to the value that contains it"),
        (b"a: &a [x,x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
         b"d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"
         b"f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]\ng: [*f,*f,*f,*f,*f,*f,*f,*f,*f,*f]\n", "aliases expand to too many values"),
        (b"sources: " + b"[" * 400 + b"]" * 400 + b"\n", "facts/bad.yaml:1: values are nested more than 100 deep"),
        (b"sources: " + b"{a: " * 600 + b"1" + b"}" * 600 + b"\n", "values are nested more than 100 deep"),
        (b"sources:\n  - {id: s, title: &t '" + b"x" * 2_000_000 + b"'}\nentities:\n"
         + b"".join(b"  - {id: e%d, kind: other, name: *t}\n" % i for i in range(10)),
         "facts/bad.yaml:2: aliases repeat more than 16 MB of text"),
    ],
)
def test_hostile_yaml_is_one_line_error(root: Path, content: bytes, expected: str) -> None:
    (root / "facts" / "bad.yaml").write_bytes(content)
    code, out, err = kb(root, "facts")
    assert code == 1 and expected in err and len(err.strip().splitlines()) == 1
    assert not (root / "kb.sqlite").exists()


# ---- a failing command creates nothing


def test_failing_command_leaves_no_database_or_folders(root: Path, tmp_path: Path) -> None:
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        code, _, err = kb(root, "query", "no_such_query", "-s", "llama-3-405b", db="new/dir/x.sqlite")
        assert code == 1 and "unknown query 'no_such_query'" in err
        assert not (tmp_path / "new").exists()
        code, _, err = kb(root, "query", "step_time", "-s", "llama-3-405b", db="new/dir/x.sqlite")
        assert code == 0, err
        assert (tmp_path / "new" / "dir" / "x.sqlite").is_file()
    finally:
        os.chdir(cwd)


# ---- rank changes say what they affect


def test_deprecating_a_pinned_claim_warns_which_results_break(root: Path) -> None:
    code, out, err = kb(root, "deprecate", "afb769514651", "--reason", "testing")
    assert code == 0 and "is now deprecated" in out  # the comment's dated ~100K claim still resolves the pin
    code, out, err = kb(root, "deprecate", "05959825ea34", "--reason", "testing")
    assert code == 0 and "is now deprecated" in out
    assert "warning: power_per_gpu [openai-goodyear] no longer resolves" in err
    code, out, err = kb(root, "prefer", "d49f5b46965b", "--reason", "testing")
    assert code == 0
    code, out, err = kb(root, "supersede", "4179d3239a2b", "2", "byte", "--source", "nesov-comments", "--reason", "bf16")
    assert code == 0 and "note: 5 result(s) changed" in err and "gradient_size [llama-3-405b] 1.62 TB -> 0.81 TB" in err


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('{{ conflicts("openai-goodyear.gpu_cuont") }}', "unknown property 'gpu_cuont'"),
        ('{{ conflicts("openai-goodyear.tdp") }}', "no active claims of openai-goodyear.tdp"),
    ],
)
def test_conflicts_of_nothing_is_an_error(root: Path, body: str, expected: str) -> None:
    path = root.parent / "c.md.j2"
    path.write_text(body + "\n")
    code, out, err = kb(root, "render", str(path))
    assert code == 1 and expected in err and "line 1" in err


def test_reordered_claims_are_not_drift(root: Path) -> None:
    code, _, err = kb(root, "render", "goodyear-phoenix-cluster", "-o", str(root / "g.md"))
    assert code == 0, err
    code, _, err = kb(root, "prefer", "d49f5b46965b", "--reason", "the larger count")  # reorders conflicts()
    assert code == 0, err
    code, out, _ = kb(root, "render", "goodyear-phoenix-cluster", "--check")
    assert code == 0 and "no number changed (the text did" in out
    code, out, _ = kb(root, "stale")
    assert code == 0 and "No stale renders." in out


@pytest.mark.parametrize(
    ("args", "status", "expected"),
    [
        (["--known-at", "yesterday"], 2, "Invalid value for '--known-at': --known-at 'yesterday' is not a date"),
        (["--set", "utilization=40%", "--set", "utilization=50%"], 2, "--set utilization is given twice"),
        (["--set", "utilization=40 %/"], 2, "Invalid value for '--set'"),
        (["--across", "llama-3-405b.utilisation"], 1, "unknown property 'utilisation' (did you mean 'utilization'?)"),
        (["--unit", "Wx"], 2, "'Wx' is not defined in schema/units.txt; did you mean 'W'?"),
        (["--unit", "m/"], 2, "unit 'm/' does not parse; write units like"),
        (["--unit", "kW"], 1, "has dimension [mass] * [length] ** 2 / [time] ** 3 (power), expected [time]"),
    ],
)
def test_query_option_errors(root: Path, args: list[str], status: int, expected: str) -> None:
    code, out, err = kb(root, "query", "step_time", "-s", "llama-3-405b", *args)
    assert code == status and out == "" and expected in err
    assert "UndefinedUnitError" not in err and "AssertionError" not in err


def test_export_restores_into_a_new_database_with_its_own_times(root: Path, tmp_path: Path) -> None:
    code, _, err = kb(root, "deprecate", "c1ae9c5342a9", "--reason", "rounded")
    assert code == 0, err
    backup = tmp_path / "backup.yaml"
    code, _, err = kb(root, "export", "-o", str(backup))
    assert code == 0, err
    restored = str(tmp_path / "restored.sqlite")
    code, out, err = kb(root, "load", str(backup), db=restored)
    assert code == 0, out + err
    again = tmp_path / "again.yaml"
    code, _, err = kb(root, "export", "-o", str(again), db=restored)
    assert code == 0, err
    assert again.read_text() == backup.read_text()  # same ids, same recorded_at, same events


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["add", "source", "Bad Id!", "--title", "x"], "source id 'Bad Id!' must be a slug"),
        (["add", "entity", "My GPU", "--kind", "accelerator"], "e.g. 'my-gpu'"),
        (["add", "entity", "gpu-x", "--kind", "accelerator", "--alias", "A", "--alias", "A"], "alias 'A' is given twice"),
        (["add", "entity", "gpu-y", "--kind", "accelerator", "--alias", "H100"], "alias 'H100' already names entity 'h100-sxm'"),
    ],
)
def test_ids_are_slugs_and_aliases_unique(root: Path, args: list[str], expected: str) -> None:
    code, out, err = kb(root, *args)
    assert code == 1 and out == "" and expected in err
    _, listing, _ = kb(root, "show", "h100-sxm")
    assert "gpu-x" not in listing


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["query", "step_time"], "Error: Missing option '-s' / '--scenario'. (see `kb query --help`)"),
        (["nosuch"], "Error: No such command 'nosuch'. (see `kb --help`)"),
        (["add", "fact", "h100-sxm", "tdp", "700", "Wx", "--source", "x"], "(see `kb add fact --help`)"),
    ],
)
def test_usage_errors_are_one_line_exit_2(root: Path, args: list[str], expected: str) -> None:
    code, out, err = kb(root, *args)
    assert code == 2 and out == ""
    assert err.strip().splitlines() == [err.strip()] and expected in err


def test_compare_and_query_flag_errors(root: Path) -> None:
    code, out, err = kb(root, "compare", "step_time", "-s", "llama-3-405b", "-s", "b200-500k-nvl72")
    assert code == 0, err
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines()[2:]}
    # the query's own inputs show even where a query binds them (no blank cells), in one unit per row
    assert rows["parameters"] == ["4.05e11", "3.58e12"]
    assert rows["flops_per_gpu"] == ["1e15", "FLOP/s", "2.5e15", "FLOP/s"]
    code, _, err = kb(root, "compare", "step_time", "-s", "llama-3-405b")
    assert code == 2 and "two or more scenarios" in err
    code, _, err = kb(root, "query", "step_time", "-s", "llama-3-405b", "--json", "--explain")
    assert code == 2 and "give --json or --explain" in err
    code, _, err = kb(root, "query", "power_per_gpu", "-s", "openai-goodyear", "--across",
                      "openai-goodyear.gpu_count", "--explain")
    assert code == 2 and "--across tabulates" in err


def test_one_sided_results_and_overflow(root: Path) -> None:
    code, out, _ = kb(root, "query", "gradient_bandwidth", "-s", "llama-3-405b", "--set", "sync_window=>=1 s")
    assert code == 0 and out.strip() == "gradient_bandwidth [llama-3-405b] = <= 13 Tbps"
    code, out, _ = kb(root, "query", "gradient_bandwidth", "-s", "llama-3-405b", "--set", "sync_window=>=1 s", "--json")
    data = json.loads(out)
    assert data["low"] is None and data["high"] == pytest.approx(12.96) and data["interval"] == "at_most"
    code, out, err = kb(root, "query", "gradient_bandwidth", "-s", "llama-3-405b", "--set", "sync_window=1e-320 s")
    assert code == 1 and "overflows" in err and out == ""


def test_formula_nesting_is_one_line_error(root: Path) -> None:
    deep = "(" * 1000 + "a" + ")" * 1000
    (root / "queries" / "deep.yaml").write_text(
        f'queries:\n  - name: deep\n    description: d\n    inputs: {{a: {{unit: "", description: x}}}}\n'
        f'    formula: "{deep}"\n    unit: ""\n')
    code, _, err = kb(root, "queries")
    assert code == 1 and "formula is too long" in err


def test_quote_must_be_in_the_source_text(root: Path) -> None:
    code, _, err = kb(root, "add", "fact", "h100-sxm", "tdp", "700", "W", "--source", "nesov-comments",
                      "--quote", "said nobody")
    assert code == 1 and "is not in the text of source 'nesov-comments'" in err


def test_stale_survives_a_removed_template(root: Path, tmp_path: Path) -> None:
    mine = tmp_path / "mine.md.j2"
    shutil.copy(root / "templates" / "brain-parameters.md.j2", mine)
    code, _, err = kb(root, "render", str(mine), "-o", str(tmp_path / "mine.md"))
    assert code == 0, err
    mine.unlink()
    code, out, err = kb(root, "stale")
    assert code == 0 and "No stale renders." in out and "the template is gone" in err


def test_whole_counts_print_whole(root: Path) -> None:
    _, out, _ = kb(root, "query", "tensor_parallel_gpus", "-s", "tensor-parallel-405b")
    assert out.strip() == "tensor_parallel_gpus [tensor-parallel-405b] = 6784"  # 16 x 53 x 8, not 6780
    _, out, _ = kb(root, "query", "step_time", "-s", "llama-3-405b")
    assert out.strip() == "step_time [llama-3-405b] = 6.08 s"


def test_known_at_the_shipped_date_ignores_later_changes(root: Path) -> None:
    # the shipped facts carry their recorded_at, so --known-at means the same on every machine
    _, before, _ = kb(root, "query", "step_time", "-s", "llama-3-405b-published")
    code, _, err = kb(root, "deprecate", "6981d3835375", "--reason", "use the paper's range")  # the 41% MFU claim
    assert code == 0, err
    code, _, now = kb(root, "query", "step_time", "-s", "llama-3-405b-published")
    _, then, _ = kb(root, "query", "step_time", "-s", "llama-3-405b-published", "--known-at", "2026-11-28")
    assert before.strip() == then.strip() == "step_time [llama-3-405b-published] = 6.13 s"
    # the scenario pins the preferred claim: deprecating it is loud, never a silent switch to the range
    assert code == 1 and "the pin on 'llama-3-405b.utilization' matches no active claim; pinned source: llama-3-paper, " \
        "rank: preferred" in now


def test_check_flags_an_edited_fact_file(root: Path) -> None:
    ok_code, _, _ = kb(root, "facts")  # creates the database from facts/
    assert ok_code == 0
    path = root / "facts" / "llama-3.yaml"
    text = path.read_text()
    assert 'value: "405e9"' in text
    path.write_text(text.replace('value: "405e9"', 'value: "999e9"', 1))
    # the edited entry is a new claim, but it keeps the shipped recorded_at: recording it then would say the
    # knowledge base knew 999e9 on 2026-11-28, so it is refused until it is recorded now
    backdated = ("recorded_at 2026-11-28T12:00:00Z is earlier than the latest time already recorded "
                 "(2026-12-03T12:00:00Z): it would change what --known-at says the knowledge base knew then")
    code, out, _ = kb(root, "check")
    assert code == 1 and "facts/llama-3.yaml:36: [bad-file] " + backdated in out, out
    code, _, err = kb(root, "load")
    assert code == 1 and err == f"Error: facts/llama-3.yaml:36: {backdated}; remove it, or `kb load --record-now` " \
        "(new entries are recorded now)\n", err
    code, _, err = kb(root, "load", "--record-now")
    assert code == 0, err
    code, out, _ = kb(root, "check")
    assert code == 1 and "[same-place-disagrees] 999e9" in out and "supersede or deprecate one" in out


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["add", "entity", "selfy", "--kind", "site", "--part-of", "selfy"], "cannot be part of itself"),
        (["add", "source", "s1", "--title", "T", "--author", ""], "'authors' has an empty entry"),
        (["add", "entity", "x" * 120, "--kind", "site"], "keep ids under 100"),
        (["add", "entity", "éclair", "--kind", "site"], "e.g. 'eclair'"),
    ],
)
def test_small_validations(root: Path, args: list[str], expected: str) -> None:
    code, out, err = kb(root, *args)
    assert code == 1 and out == "" and expected in err


def test_load_edge_cases(root: Path, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    code, _, err = kb(root, "load", str(tmp_path / "empty"))
    assert code == 1 and "no YAML files" in err
    events = tmp_path / "e.yaml"
    events.write_text('events:\n  - {fact: c1ae9c5342a9, rank: deprecated, reason: x, recorded_at: "yesterday"}\n')
    code, _, err = kb(root, "load", str(events))
    assert code == 1 and "e.yaml:2: time 'yesterday' is not a date" in err
    empty_db = tmp_path / "zero.sqlite"
    empty_db.touch()  # a 0-byte file is a new database: it gets the shipped facts
    code, out, _ = kb(root, "facts", "h100-sxm", db=str(empty_db))
    assert code == 0 and "989.4 TFLOP/s" in out


def test_constant_exponent_folds(root: Path) -> None:
    from kb import formula

    assert str(formula.parse("a ^ 0.5 ^ 2", {"a"})) == "(a ^ (0.5 ^ 2))"
    (root / "queries" / "pow.yaml").write_text(
        'queries:\n  - name: powered\n    description: d\n    inputs: {a: {unit: s, description: x}}\n'
        '    formula: "a ^ 0.5 ^ 2"\n    unit: s^0.25\n')
    code, out, err = kb(root, "queries")
    assert code == 0, err


def test_check_sees_numbers_in_derivation_lists(root: Path) -> None:
    code, _, err = kb(root, "render", "distributed-training-bandwidth", "-o", str(root / "d.md"))
    assert code == 0, err
    code, out, _ = kb(root, "facts", "h100-sxm", "--property", "dense_bf16_flops", "--all", "--json")
    comment = next(f["id"] for f in json.loads(out) if f["source"]["id"] == "nesov-comments")
    code, _, err = kb(root, "supersede", comment, "~1.1e15", "FLOP/s", "--source", "nesov-comments",
                      "--locator", "a later comment", "--as-of", "2025", "--reason", "a later figure")
    assert code == 0, err
    code, out, _ = kb(root, "render", "distributed-training-bandwidth", "--check")
    assert code == 1
    assert "step_time [b200-500k-nvl72]: 2.39 s -> 2.17 s" in out  # a bolded derivation result, not prose


def test_check_lists_every_query_problem(root: Path) -> None:
    (root / "queries" / "qq.yaml").write_text(
        "queries:\n"
        "  - {name: bad_one, description: d, inputs: {a: {unit: W, description: x}}, formula: a + 1 s, unit: W}\n"
        "  - {name: bad_two, description: d, inputs: {a: {unit: W, description: x}}, formula: a * 2 s, unit: W}\n"
        "  - {name: uses_bad, description: d, inputs: {b: {query: bad_one}}, formula: b, unit: W}\n")
    code, out, err = kb(root, "check")
    assert code == 1 and err.strip() == "3 problem(s)."
    assert "query bad_one: [unit-mismatch]" in out and "query bad_two: [unit-mismatch]" in out
    assert "query uses_bad uses a query with errors" in out
    code, _, err = kb(root, "queries")  # every other command stays strict: the first error, one line
    assert code == 1 and "query bad_one" in err


def test_a_very_long_chain_of_queries_is_one_line_error(root: Path) -> None:
    """q499 uses q498 ... uses q0: past 100 links a one-line error (500 was a RecursionError traceback)."""
    lines = ["queries:", "  - {name: q0, description: d, unit: W, formula: p, inputs: {p: {unit: W}}}"]
    lines += [f"  - {{name: q{i}, description: d, unit: W, formula: x, inputs: {{x: {{query: q{i - 1}}}}}}}"
              for i in range(1, 500)]
    (root / "queries" / "chain.yaml").write_text("\n".join(lines) + "\n")
    (root / "scenarios" / "chain.yaml").write_text(
        "scenarios:\n  - name: chain\n    description: d\n    bindings:\n      p: {value: '1 W', reason: r}\n")
    assert kb(root, "query", "q99", "-s", "chain")[:2] == (0, "q99 [chain] = 1 W\n")  # 100 queries
    code, _, err = kb(root, "query", "q499", "-s", "chain")
    assert code == 1 and err == ("Error: query q499 depends on a chain of more than 100 queries (through q399); a chain "
                                 "that long is not an estimate anyone can check\n")
