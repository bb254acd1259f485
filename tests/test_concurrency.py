"""Concurrent writers lose nothing: 8 processes, each running ``kb add fact`` 25 times against one database
(a SQLite file, and a PostgreSQL server), give 200 facts, none duplicated. (The hostile trial of issue 13 ran
8 x 100 by hand and kept 800 of 800; 25 each keeps all 8 writers contending for the whole run at a quarter of
the suite's time.)

Each process runs the real command 100 times in one interpreter (``kb.cli.cli.main``: a new project, store
and connections per command, as separate invocations would have), so the test measures the database's
handling of writers, not 800 interpreter start-ups.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from conftest import CHECKOUT, KB

WRITERS, EACH = 8, 25

WRITER = """
import sys
from kb.cli import cli

root, db, writer, each = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
failed = 0
for i in range(each):
    try:  # without standalone mode, a command's exit status is returned
        code = cli.main(["--root", root, "--db", db, "add", "fact", "big-run", "gpu_count", str(100000 + writer * 1000 + i),
                         "", "--source", "news-item", "--note", f"writer {writer}, fact {i}"],
                        prog_name="kb", standalone_mode=False)
        failed += bool(code)
    except SystemExit as exc:
        failed += exc.code != 0
    except Exception as exc:
        print(f"writer {writer}, fact {i}: {type(exc).__name__}: {exc}", file=sys.stderr)
        failed += 1
print(f"failed: {failed}")
"""


def test_eight_concurrent_writers_lose_nothing(db: Path | str, root: Path, tmp_path: Path) -> None:
    project = tmp_path / "writers"  # the fixture's vocabulary and facts, without queries to report changes to
    for folder in ("schema", "facts"):
        shutil.copytree(root / folder, project / folder)
    kb = KB(project, db)  # type: ignore[arg-type]
    r = kb("sql", "SELECT count(*) AS n FROM fact", "--json")  # the database exists before the writers start
    assert r.exit_code == 0, r.output
    before = json.loads(r.stdout)[0]["n"]
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(project), str(db), str(w), str(EACH)],
                              cwd=CHECKOUT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for w in range(WRITERS)]
    results = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0] * WRITERS, [err[-2000:] for _, err in results]
    assert [out.splitlines()[-1] for out, _ in results] == ["failed: 0"] * WRITERS, [err[-2000:] for _, err in results]
    r = kb("sql", "SELECT count(*) AS n, count(DISTINCT id) AS ids, count(DISTINCT note) AS notes FROM fact "
           "WHERE entity = 'big-run' AND note LIKE 'writer %'", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout) == [{"n": WRITERS * EACH, "ids": WRITERS * EACH, "notes": WRITERS * EACH}]
    r = kb("sql", "SELECT count(*) AS n FROM fact", "--json")
    assert json.loads(r.stdout) == [{"n": before + WRITERS * EACH}]
