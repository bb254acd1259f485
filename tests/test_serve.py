"""kb serve: a real Datasette over a snapshot of the knowledge base, fetched through its JSON API; the fact
page screenshotted in headless Chromium where Chromium is installed (CI installs it: there it must run)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import CHECKOUT
from test_epoch_import import FILES, run


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(base: str, path: str) -> Any:
    with urllib.request.urlopen(base + path, timeout=30) as response:
        body = response.read()
    return json.loads(body) if path.split("?")[0].endswith(".json") else body.decode("utf-8")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    folder = tmp_path_factory.mktemp("serve")
    db = folder / "kb.sqlite"
    assert run(db, "import", "epoch", *map(str, FILES)).exit_code == 0
    rendered = run(db, "render", "anthropic-trainium-compute", "-o", str(folder / "out.md"))
    assert rendered.exit_code == 0, rendered.output
    port = free_port()
    log = (folder / "serve.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "kb", "--root", str(CHECKOUT), "--db", str(db), "serve",
                             "--port", str(port)], stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):  # up to a minute on a slow machine
            try:
                get(base, "/kb.json")
                break
            except OSError:
                if proc.poll() is not None:
                    pytest.fail(f"kb serve exited: {(folder / 'serve.log').read_text()}")
                time.sleep(0.1)
        else:
            pytest.fail("kb serve did not answer within a minute")
        yield base, db
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def test_the_claims_table_has_the_facts(served: tuple[str, Path]) -> None:
    base, db = served
    rows = get(base, "/kb/claims.json?_shape=array&entity=xai-colossus-memphis-phase-1&property=site_power")
    assert sorted(r["value"] for r in rows) == ["142.688 MW", "150 MW"]
    assert {r["method"] for r in rows} == {"reported", "calculated"}
    assert all(r["source_url"] == "https://epoch.ai/data/gpu-clusters" for r in rows)
    with sqlite3.connect(db) as conn:
        total = conn.execute("SELECT COUNT(*) FROM fact").fetchone()[0]
    assert get(base, "/kb/claims.json?_size=0")["filtered_table_rows_count"] == total


def test_a_facet_counts_as_the_database_does(served: tuple[str, Path]) -> None:
    base, db = served
    facet = get(base, "/kb/claims.json?_facet=entity_kind&_size=0")["facet_results"]["entity_kind"]["results"]
    with sqlite3.connect(db) as conn:
        clusters = conn.execute("SELECT COUNT(*) FROM fact f JOIN entity e ON e.id = f.entity "
                                "WHERE e.kind = 'cluster'").fetchone()[0]
    assert {r["value"]: r["count"] for r in facet}["cluster"] == clusters


def test_each_canned_query(served: tuple[str, Path]) -> None:
    base, db = served
    mine = get(base, "/kb/entity_claims.json?_shape=array&entity=xai-colossus-memphis-phase-1")
    assert mine and {r["property"] for r in mine} >= {"site_power", "gpu_count"}
    by_alias = get(base, "/kb/entity_claims.json?_shape=array&entity=Amazon%20Trainium2")  # an import's name
    assert by_alias and {r["entity"] for r in by_alias} == {"trn2"}
    competing = get(base, "/kb/competing_claims.json?_shape=array&_size=max")
    conflicts = json.loads(run(db, "conflicts", "--json").stdout)
    assert len(competing) == sum(len(c["pairs"]) for c in conflicts) > 0
    missing = get(base, "/kb/claims_without_quote_or_locator.json?_shape=array&_size=max")
    assert missing and all(r["missing"] in ("quote", "locator", "quote and locator") for r in missing)
    old = get(base, "/kb/claims_older_than.json?_shape=array&before=2015")
    assert old and all(r["as_of"] < "2015" for r in old)
    used = get(base, "/kb/render_used.json?_shape=array&render=anthropic-trainium-compute")
    assert used and {r["template"] for r in used} == {"anthropic-trainium-compute"}
    assert any(r["kind"] == "fact" for r in used)


def test_search_and_the_fact_page(served: tuple[str, Path]) -> None:
    base, _ = served
    hits = get(base, "/kb/claims.json?_shape=array&_search=oversubscription")
    assert hits[0]["entity"] == "llama-3-cluster"
    assert get(base, "/kb/entity.json?_shape=array&_search=Colossus")[0]["id"].startswith("xai-colossus")
    fact = get(base, "/kb/claims.json?_shape=array&entity=xai-colossus-memphis-phase-1&property=site_power"
                     "&method=reported")[0]
    other = get(base, "/kb/claims.json?_shape=array&entity=xai-colossus-memphis-phase-1&property=site_power"
                      "&method=calculated")[0]
    page = get(base, f"/kb/claims/{fact['id']}")
    assert '<tr class="kb-value"><th' in page and "<td>150 MW</td>" in page  # kb's card, not one wide row
    assert '<a href="https://epoch.ai/data/gpu-clusters">GPU Clusters (2025-11 snapshot, CC BY 4.0)</a>' in page
    assert f'<a href="/kb/claims/{other["id"]}">{other["id"]} (142.688 MW, epoch-clusters-2025-11)</a>' in page
    assert "<li><a href=\"https://archive.ph/" in page  # the row's cited links
    assert '<a href="/kb/entity/xai-colossus-memphis-phase-1">xai-colossus-memphis-phase-1</a>' in page


def test_the_fact_page_in_headless_chromium(served: tuple[str, Path], tmp_path: Path) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        if os.environ.get("CI"):
            pytest.fail("CI must run the screenshot test: chromium is not installed (.ci/run installs it)")
        pytest.skip("chromium is not installed (apt-get install chromium); CI runs this")
    base, _ = served
    fact = get(base, "/kb/claims.json?_shape=array&entity=xai-colossus-memphis-phase-1&property=site_power")[0]
    shot = tmp_path / "fact.png"
    subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}", "--window-size=1200,900",
                    f"{base}/kb/claims/{fact['id']}"], capture_output=True, timeout=120, check=False)
    assert shot.is_file(), "chromium wrote no screenshot"
    import matplotlib.image

    pixels = matplotlib.image.imread(shot)
    assert pixels.shape[0] >= 800 and pixels.shape[1] >= 1100
    assert float(pixels[..., :3].std()) > 0.02  # not a blank page


def test_hostile_text_and_urls_are_not_markup(tmp_path: Path) -> None:
    """A source whose URL is javascript: and text with HTML in it: escaped on the card, and no link made.
    kb refuses such a URL now; the source row is written as a database made before that check holds it."""
    db = tmp_path / "kb.sqlite"
    assert run(db, "sources").exit_code == 0  # creates the database
    with sqlite3.connect(db) as conn:
        conn.execute("INSERT INTO source (id, title, authors, kind, url, recorded_at) VALUES "
                     "('evil', '<script>alert(1)</script>', '[]', 'other', 'javascript:alert(1)', '2024-01-01T00:00:00Z')")
    conn.close()
    for args in (["add", "entity", "x1", "--kind", "accelerator", "--name", '"><img src=x onerror=alert(1)>'],
                 ["add", "fact", "x1", "tdp", "700", "W", "--source", "evil", "--quote", "<b>bold</b>"]):
        r = run(db, *args)
        assert r.exit_code == 0, r.output
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "kb", "--root", str(CHECKOUT), "--db", str(db), "serve",
                             "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                get(base, "/kb.json")
                break
            except OSError:
                time.sleep(0.1)
        fact = get(base, "/kb/claims.json?_shape=array&entity=x1")[0]
        page = get(base, f"/kb/claims/{fact['id']}")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<img src=x" not in page and "<b>bold</b>" not in page
    assert 'href="javascript:' not in page


def fetch(base: str, path: str) -> tuple[int, Any]:
    """The status and JSON body of a GET, an error status included."""
    import urllib.error

    try:
        with urllib.request.urlopen(base + path, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def sql(base: str, query: str) -> tuple[int, Any]:
    from urllib.parse import urlencode

    return fetch(base, "/kb.json?" + urlencode({"sql": query}))


def test_arbitrary_sql_is_bounded(served: tuple[str, Path]) -> None:
    """The SQL box stays, but no query holds the server: one step that makes a GB, a query that runs on, and
    quick rows that add up to GBs are each an error page (a billion random bytes were a 1.3 GB JSON
    answer; fifty rows of twenty 1 MB blobs took the server past 24 GB of memory until it was killed)."""
    base, db = served
    many = ",".join(["zeroblob(999999)"] * 20)
    refused = {
        "select randomblob(1000000000)": "string or blob too big",
        "with recursive r(s) as (select 'x' union all select s || s from r) select length(s) from r":
            "string or blob too big",
        "with recursive r(n) as (select 1 union all select n + 1 from r) select count(*) from r":
            "SQL query took too long",
        f"with recursive r(n) as (select 1 union all select n + 1 from r where n < 50) select {many} from r":
            "kb serve: a query's rows may hold at most 20 MB; select fewer rows or columns, or run it with kb sql",
        "select " + ",".join(["1"] * 101): "too many columns in result set",
    }
    for query, error in refused.items():
        status, body = sql(base, query)
        assert status == 400 and body["ok"] is False and error in body["error"], (query, body.get("error"))
    status, body = sql(base, "select count(*) as n from claims")
    with sqlite3.connect(db) as conn:
        assert body["rows"] == [list(conn.execute("SELECT COUNT(*) FROM fact").fetchone())]
    status, body = sql(base, "select * from claims")  # every column of a full page still fits
    assert status == 200 and len(body["rows"]) == 1000 and body["truncated"] is True
    assert sql(base, "select randomblob(999999) is not null as made")[1]["rows"] == [[1]]


def test_claims_older_than_a_non_date_is_nothing(served: tuple[str, Path]) -> None:
    base, _ = served
    assert get(base, "/kb/claims_older_than.json?_shape=array&before=2026")  # a date: the dated claims
    for before in ("abc", "2024-13", "2024-1", "20245", ""):
        assert get(base, f"/kb/claims_older_than.json?_shape=array&before={before}") == [], before


@pytest.mark.parametrize("host", ["", " ", "a" * 300, "a..b", "-bad.example", "bad-.example", "host name",
                                  "x" * 64 + ".example", "1.2.3.4.5:80", "\x1b[2J"])
def test_a_host_that_is_not_an_address_is_a_usage_error(tmp_path: Path, host: str) -> None:
    db = tmp_path / "kb.sqlite"
    r = run(db, "serve", "--host", host, "--port", str(free_port()))
    assert r.exit_code == 2 and r.stdout == ""
    assert r.stderr.startswith("Error: Invalid value for '--host': ") and r.stderr.count("\n") == 1, r.stderr
    assert "\x1b" not in r.stderr and "Serving" not in r.stderr and not db.exists()


def serve_process(db: Path, tmp: Path, *args: str) -> subprocess.Popen[str]:
    """``kb serve`` in a process of its own, with ``tmp`` as its temporary folder."""
    tmp.mkdir(exist_ok=True)
    env = {**os.environ, "TMPDIR": str(tmp)}
    return subprocess.Popen([sys.executable, "-m", "kb", "--root", str(CHECKOUT), "--db", str(db), "serve", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def wait_until_serving(proc: subprocess.Popen[str], base: str) -> None:
    for _ in range(600):  # up to a minute on a slow machine
        try:
            get(base, "/kb.json")
            return
        except OSError:
            if proc.poll() is not None:
                pytest.fail(f"kb serve exited {proc.returncode}: {proc.communicate()[1]}")
            time.sleep(0.1)
    pytest.fail("kb serve did not answer within a minute")


def test_a_port_in_use_is_one_line_and_nothing_is_made(tmp_path: Path) -> None:
    db = tmp_path / "kb.sqlite"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = serve_process(db, tmp_path / "tmp", "--port", str(port))
        out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1 and out == ""
    assert err == f"Error: kb serve: cannot listen on 127.0.0.1:{port}: Address already in use\n"
    assert not db.exists() and list((tmp_path / "tmp").iterdir()) == []  # no database, no snapshot


@pytest.mark.parametrize("sig, status", [("SIGTERM", 143), ("SIGHUP", 129), ("SIGINT", 130)])
def test_a_stop_signal_removes_the_snapshot(tmp_path: Path, sig: str, status: int) -> None:
    import signal

    db, tmp, port = tmp_path / "kb.sqlite", tmp_path / "tmp", free_port()
    assert run(db, "sources").exit_code == 0
    proc = serve_process(db, tmp, "--port", str(port))
    try:
        wait_until_serving(proc, f"http://127.0.0.1:{port}")
        folders = list(tmp.glob("kb-serve-*"))
        assert len(folders) == 1 and (folders[0] / "pid").read_text() == f"{proc.pid}\n"
        assert (folders[0] / "kb.sqlite").is_file()
        proc.send_signal(getattr(signal, sig))
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == status
    assert not folders[0].exists() and list(tmp.iterdir()) == []
    assert err.startswith("Serving a snapshot of ") and "Traceback" not in err
    assert err.splitlines()[1:] == (["Interrupted: stopped by Ctrl-C; what it had not committed is rolled back."]
                                    if sig == "SIGINT" else [])


def test_a_start_removes_the_snapshots_of_servers_that_are_gone(tmp_path: Path) -> None:
    """A server killed outright (SIGKILL) cannot clean up; the next start removes its folder, and only
    folders whose pid file names a process that is gone."""
    db, tmp, port = tmp_path / "kb.sqlite", tmp_path / "tmp", free_port()
    tmp.mkdir()
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    folders = {"dead": gone.pid, "alive": os.getpid(), "no-pid": None}
    for name, pid in folders.items():
        (tmp / f"kb-serve-{name}").mkdir()
        (tmp / f"kb-serve-{name}" / "kb.sqlite").write_text("")
        if pid is not None:
            (tmp / f"kb-serve-{name}" / "pid").write_text(f"{pid}\n")
    (tmp / "kb-serve-not-a-folder").write_text(f"{gone.pid}\n")
    proc = serve_process(db, tmp, "--port", str(port))
    try:
        wait_until_serving(proc, f"http://127.0.0.1:{port}")
        left = {p.name for p in tmp.iterdir()}
    finally:
        proc.terminate()
        proc.communicate(timeout=60)
    assert "kb-serve-dead" not in left
    assert {"kb-serve-alive", "kb-serve-no-pid", "kb-serve-not-a-folder"} < left and len(left) == 4  # + its own
    assert {p.name for p in tmp.iterdir()} == {"kb-serve-alive", "kb-serve-no-pid", "kb-serve-not-a-folder"}


def test_an_ignored_sighup_stays_ignored(tmp_path: Path) -> None:
    """``nohup kb serve``: SIGHUP (the terminal closed) does not stop it; SIGTERM still does, cleanly."""
    import signal

    db, tmp, port = tmp_path / "kb.sqlite", tmp_path / "tmp", free_port()
    tmp.mkdir()
    nohup = ("import os, signal, sys; signal.signal(signal.SIGHUP, signal.SIG_IGN); "
             "os.execv(sys.executable, [sys.executable, '-m', 'kb', *sys.argv[1:]])")
    proc = subprocess.Popen([sys.executable, "-c", nohup, "--root", str(CHECKOUT), "--db", str(db), "serve",
                             "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "TMPDIR": str(tmp)})
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(proc, base)
        proc.send_signal(signal.SIGHUP)
        assert get(base, "/kb.json")["database"] == "kb"  # still serving after the hang-up
        assert proc.poll() is None
        proc.terminate()
        proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 143 and list(tmp.iterdir()) == []


def test_sqlite_utils_reads_the_tables_as_the_readme_says(tmp_path: Path) -> None:
    """README (Browsing): the tables are plain SQLite tables that sqlite-utils reads directly."""
    db = tmp_path / "kb.sqlite"
    made = subprocess.run([sys.executable, "-m", "kb", "--db", str(db), "facts", "h100-sxm"], cwd=CHECKOUT,
                          capture_output=True, text=True)
    assert made.returncode == 0, made.stderr
    tool = str(Path(sys.executable).parent / "sqlite-utils")
    tables = subprocess.run([tool, "tables", str(db), "--counts"], capture_output=True, text=True)
    counts = {t["table"]: t["count"] for t in json.loads(tables.stdout)}
    with sqlite3.connect(db) as conn:
        facts = conn.execute("SELECT count(*) FROM fact").fetchone()[0]
    conn.close()
    assert counts["fact"] == facts > 100 and counts["source"] > 10
    rows = subprocess.run([tool, "rows", str(db), "fact", "-c", "id", "-c", "source", "--where",
                           "entity = 'h100-sxm' AND property = 'dense_bf16_flops'"], capture_output=True, text=True)
    assert {"id": "7a08f09b8290", "source": "nvidia-h100-whitepaper"} in json.loads(rows.stdout), rows.stderr
