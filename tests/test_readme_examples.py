"""The README's worked examples (a query, a scenario, a template, a facts file) run as written."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from kb.cli import cli

CHECKOUT = Path(__file__).resolve().parent.parent


def _block(lang: str, starts: str) -> str:
    readme = (CHECKOUT / "README.md").read_text()
    for body in re.findall(rf"```{lang}\n(.*?)```", readme, flags=re.S):
        if body.startswith(starts):
            return body
    raise AssertionError(f"README has no ```{lang} block starting with {starts!r}")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    for folder in ("schema", "facts", "queries", "scenarios", "templates"):
        shutil.copytree(CHECKOUT / folder, root / folder)
    (root / "queries" / "mine.yaml").write_text(_block("yaml", "queries:"))
    (root / "scenarios" / "mine.yaml").write_text(_block("yaml", "scenarios:"))
    (root / "templates" / "my-cluster.md.j2").write_text(_block("jinja", "{# My cluster"))
    return root


def run(root: Path, *args: str) -> tuple[int, str, str]:
    r = CliRunner().invoke(cli, ["--root", str(root), "--db", str(root / "kb.sqlite"), *args])
    return r.exit_code, r.stdout, r.stderr


def test_query_and_scenario_examples(root: Path) -> None:
    code, out, err = run(root, "query", "cluster_power", "-s", "my-h100-cluster", "--json")
    assert code == 0, err
    import json

    data = json.loads(out)
    # 100K x 700 W x PUE 1.2..1.4 = 84..98 MW, point 91 MW
    assert data["unit"] == "MW"
    assert (data["value"], data["low"], data["high"]) == (pytest.approx(91), pytest.approx(84), pytest.approx(98))
    code, out, err = run(root, "query", "power_per_flops", "-s", "my-h100-cluster-hot")
    assert code == 0, err
    code, out, err = run(root, "check")
    assert code == 0, out + err


def test_template_example(root: Path) -> None:
    code, out, err = run(root, "render", "my-cluster")
    assert code == 0, err
    assert "1.5 kW[^" in out and "1 kW[^" in out and "- 150K[^" in out


def test_facts_file_example(tmp_path: Path) -> None:
    text = _block("yaml", "sources:")
    # The example's supersedes/events refer to ids of the shipped data; drop the commented and event lines.
    text = text.split("events:")[0]
    root = tmp_path / "proj"
    shutil.copytree(CHECKOUT / "schema", root / "schema")
    (root / "facts").mkdir()
    (root / "facts" / "example.yaml").write_text(
        text.replace("part_of: llama-3-cluster", "part_of: null").replace('"...on 15.6T text tokens."', '"on 15.6T text tokens"'))
    code, out, err = run(root, "facts", "llama-3-405b", "--json")
    assert code == 0, err
    assert '"value_text": "15.6e12"' in out


def _project_copy(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    for folder in ("schema", "facts", "queries", "scenarios", "templates"):
        shutil.copytree(CHECKOUT / folder, root / folder)
    for csv_file in (CHECKOUT / "tests" / "data" / "epoch").glob("*.csv"):  # as downloaded from Epoch AI
        shutil.copy(csv_file, root / csv_file.name)
    return root


def _run_in(root: Path, command: str) -> tuple[int, str, str]:
    import os
    import shlex

    args = shlex.split(command)
    assert args[0] == "kb", command
    cwd = os.getcwd()
    os.chdir(root)  # relative paths in the examples (facts/, -o out) are the user's working directory
    try:
        return run(root, *args[1:])
    finally:
        os.chdir(cwd)


def test_every_command_table_example_runs_in_order(tmp_path: Path) -> None:
    """Each `kb ...` example in the README's command tables succeeds, run in order as a user would."""
    readme = (CHECKOUT / "README.md").read_text()
    examples = re.findall(r"^\| `kb [^|]*\| `(kb [^`]*)`", readme, flags=re.M)
    assert len(examples) >= 15
    root = _project_copy(tmp_path)
    for command in examples:
        code, out, err = _run_in(root, command)
        assert code == 0, f"{command}\n{out}{err}"
    code, out, err = run(root, "check")
    assert code == 0, out + err


def test_every_help_example_runs(tmp_path: Path) -> None:
    """The `Example:` in each command's --help works on the shipped knowledge."""
    import click

    def commands(group: click.Group):
        for cmd in group.commands.values():
            if isinstance(cmd, click.Group):
                yield from commands(cmd)
            else:
                yield cmd

    examples = [m.group(1).strip() for cmd in commands(cli)
                for m in [re.search(r"Example: (kb .*)", cmd.help or "")] if m]
    assert len(examples) >= 20
    examples.sort(key=lambda c: not c.startswith("kb import"))  # an audit needs an import before it
    examples = [c.replace(" --dry-run", "") if c.startswith("kb import") else c for c in examples
                if not c.startswith("kb serve")]  # a server runs until stopped: tests/test_serve.py runs it
    root = _project_copy(tmp_path)
    for command in examples:
        code, out, err = _run_in(root, command)
        assert code == 0, f"{command}\n{out}{err}"


def test_rendered_excerpt_is_current(tmp_path: Path) -> None:
    """Each line of the README's rendered excerpt (up to a '...') is in today's render."""
    excerpt = _block("markdown", "Llama 3 405B has")
    r = CliRunner().invoke(cli, ["--root", str(CHECKOUT), "--db", str(tmp_path / "kb.sqlite"),
                                 "render", "distributed-training-bandwidth"])
    assert r.exit_code == 0, r.stderr
    out = r.stdout
    for line in excerpt.splitlines():
        for part in line.split("..."):
            assert part.strip() in out, part


def test_console_blocks_are_verbatim(tmp_path: Path) -> None:
    """Every `$ kb ...` in a ```console block prints exactly what the README shows under it."""
    import shlex

    readme = (CHECKOUT / "README.md").read_text()
    blocks = re.findall(r"```console\n(.*?)```", readme, flags=re.S)
    assert blocks
    db = str(tmp_path / "kb.sqlite")
    for block in blocks:
        for chunk in re.split(r"^\$ ", block, flags=re.M)[1:]:
            command, _, expected = chunk.partition("\n")
            args = shlex.split(command)
            assert args[0] == "kb", command
            r = CliRunner().invoke(cli, ["--root", str(CHECKOUT), "--db", db, *args[1:]], prog_name="kb")
            assert (r.stdout + r.stderr).strip() == expected.strip(), command


def test_facts_file_example_loads_beside_the_shipped_facts(tmp_path: Path) -> None:
    """The worked facts file, saved as a user would, loads into a new database with the shipped facts."""
    example = tmp_path / "mine.yaml"
    example.write_text(_block("yaml", "sources:"))
    r = CliRunner().invoke(cli, ["--root", str(CHECKOUT), "--db", str(tmp_path / "kb.sqlite"), "load", str(example)])
    assert r.exit_code == 0, r.stderr
    assert "(a new database: the shipped facts/ included)" in r.stdout
