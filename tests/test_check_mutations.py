"""`kb check` on a broken project: every file of the fixture mutated one at a time.

Whatever the damage, check ends with exit 1 (0 only where the mutation is harmless), prints one line per
problem, and never a traceback.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import FIXTURE, KB

FILES = sorted(str(p.relative_to(FIXTURE)) for p in FIXTURE.rglob("*") if p.suffix in (".yaml", ".j2"))
LINE = re.compile(r"^(warning: .+|OK: no problems.*|\S.*: \[[a-z-]+\] .+)$")


def _mutations(text: str) -> dict[str, str]:
    lines = text.splitlines(keepends=True)
    middle = len(lines) // 2
    return {
        "truncated": text[: len(text) // 2],
        "line-dropped": "".join(lines[:middle] + lines[middle + 1:]),
        "colon-lost": text.replace(":", "", 1) if ":" not in text.split("\n", 1)[0] else text.replace(":", "", 2),
        "value-garbled": re.sub(r"(value|unit|formula|fact|source|name): ([^\n]+)", r"\1: ??garbled((", text, count=1),
        "tab-indented": text.replace("  ", "\t", 1),
        "jinja-broken": text.replace("}}", "}", 1),
        "empty": "",
    }


CASES = [(f, m) for f in FILES for m, text in _mutations((FIXTURE / f).read_text()).items()
         if text != (FIXTURE / f).read_text()]


@pytest.mark.parametrize(("file", "mutation"), CASES, ids=[f"{f}:{m}" for f, m in CASES])
def test_check_on_a_mutated_file_is_clean_lines(root: Path, tmp_path: Path, file: str, mutation: str) -> None:
    path = root / file
    path.write_text(_mutations(path.read_text())[mutation])
    result = KB(root, tmp_path / "check.sqlite")("check")
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit) or result.exception is None, repr(result.exception)
    assert result.exit_code in (0, 1)
    out = [line for line in result.stdout.splitlines() if line.strip()]
    err = [line for line in result.stderr.splitlines() if line.strip()]
    if result.exit_code == 1:
        # either the database could not be opened (one error line) or check listed its problems
        assert (not out and len(err) == 1 and err[0].startswith("Error: ")) or \
            (out and err == [err[0]] and err[0].endswith("problem(s).")), result.output
    for line in out:
        assert LINE.match(line), line


def test_a_scenario_extending_a_broken_one_is_reported_not_a_crash(kb, root: Path) -> None:
    (root / "scenarios" / "more.yaml").write_text(
        "scenarios:\n"
        "  - name: broken\n    description: d\n    bindings:\n      gpu_count: {fact: goodyear.gpu_count, colour: red}\n"
        "  - name: child\n    extends: broken\n    description: d\n"
        "  - name: grandchild\n    extends: child\n    description: d\n"
        "  - name: user\n    extends: goodyear-news\n    description: d\n"
        "    bindings:\n      site_power: {query: power_per_gpu, scenario: child}\n")
    result = kb("check")
    assert result.exit_code == 1 and "Traceback" not in result.output
    out = result.stdout
    assert ("scenarios/more.yaml:5: [bad-file] unknown key 'colour' in binding gpu_count of scenario broken; its keys: "
            "as_of, combine, conditions") in out
    assert "scenarios/more.yaml:6 extends: [not-found] unknown scenario 'broken'" in out
    assert "scenarios/more.yaml:9 extends: [not-found] unknown scenario 'child'" in out
    assert "scenarios/more.yaml:16 scenario user input site_power: [not-found] unknown scenario 'child'" in out
