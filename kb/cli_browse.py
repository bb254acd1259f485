"""``kb search`` and ``kb serve``: finding claims by their words, and browsing the knowledge base."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from .cli import cli, echo, emit_json, pass_project
from .project import Project


@cli.command()
@click.argument("text")
@click.option("--limit", type=click.IntRange(1, 1000), default=20, show_default=True, help="At most this many entities.")
@click.option("--json", "as_json", is_flag=True, help="JSON: the entities with their matching claims, and sources.")
@pass_project
def search(project: Project, text: str, limit: int, as_json: bool) -> None:
    """Ranked full-text search over quotes, notes, locators, entity names and aliases, and source titles,
    grouped by entity (each word is required; a trailing * matches a prefix).

    Example: kb search oversubscription
    """
    from .claims import is_active
    from .search import SHOWN_FACTS
    from .search import search as run
    from .store import fact_json
    from .textfmt import qualifiers

    found = run(project.store, text, limit)
    sources = project.store.sources()
    if as_json:
        emit_json({
            "query": text, "fts": found.query, "total_entities": found.total,
            "entities": [{"id": g.entity["id"], "name": g.entity["name"], "kind": g.entity["kind"],
                          "score": g.score, "name_match": g.name_snippet,
                          "claims": [{**fact_json(h.claim, sources), "snippet": h.snippet, "score": h.score}  # type: ignore[arg-type]
                                     for h in g.facts]} for g in found.groups],
            "sources": [{"id": s["source"]["id"], "title": s["source"]["title"], "url": s["source"]["url"],
                         "snippet": s["snippet"], "score": s["score"]} for s in found.sources],
        })
        return
    if not found.groups and not found.sources:
        echo(f"Nothing matches {text!r}.")
        return
    for g in found.groups:
        e = g.entity
        echo(f"{e['id']}  ({e['kind']}: {e['name']})"
                   + (f"  matched by its {g.name_snippet}" if g.name_snippet else ""))
        for h in g.facts[:SHOWN_FACTS]:
            c = h.claim
            state = "" if is_active(c) else "  (superseded)" if c["superseded_by"] else "  (deprecated)"
            kind = qualifiers(c)
            echo(f"  {c['property']} = {c['value_text']} {c['unit']}".rstrip() + (f"  ({kind})" if kind else "")
                       + f"  [{c['source']}] fact {c['id']}{state}")
            echo(f"    {h.snippet}")
        if len(g.facts) > SHOWN_FACTS:
            echo(f"  ... and {len(g.facts) - SHOWN_FACTS} more matching claims (--json lists them)")
    if found.total > len(found.groups):
        echo(f"({len(found.groups)} of {found.total} matching entities; --limit N shows more)")
    if found.sources:
        echo("Sources:")
        for s in found.sources:
            echo(f"  {s['source']['id']}: {s['snippet']}" + (f"  {s['source']['url']}" if s["source"]["url"] else ""))


class HostType(click.ParamType):  # type: ignore[type-arg]
    """An IP address or hostname to listen on; an empty or malformed one is a usage error (exit 2)."""

    name = "HOST"

    def convert(self, value: Any, param: Any, ctx: Any) -> str:
        from .errors import KBError
        from .serving import check_host

        try:
            return check_host(str(value))
        except KBError as exc:
            self.fail(exc.message, param, ctx)


@cli.command()
@click.option("--port", type=click.IntRange(1, 65535), default=8001, show_default=True)
@click.option("--host", type=HostType(), default="127.0.0.1", show_default=True,
              help="The address to listen on; 0.0.0.0 makes it reachable from other machines.")
@pass_project
def serve(project: Project, port: int, host: str) -> None:
    """Browse the knowledge base in Datasette: claims with their sources, facets, full-text search, and
    canned queries (an entity's claims, competing claims, claims without a quote or locator, claims as of
    before a date, what a render used). Datasette reads a snapshot taken at start (restart to see what was
    written since), never the database itself; Datasette reads SQLite only, so a PostgreSQL store's
    snapshot is a `kb copy` of it into a temporary SQLite file.

    Example: kb serve --port 8001

    and open http://127.0.0.1:8001/kb/claims.
    """
    import asyncio

    from datasette.app import Datasette

    from . import serving
    from .browse import DATABASE, metadata, snapshot

    serving.sweep()  # the folders of servers killed outright
    with serving.stopping_on_signals():
        sock = serving.listen(host, port)  # before anything is written: a port in use is one line
        try:
            with serving.snapshot_folder() as tmp:
                path = tmp / f"{DATABASE}.sqlite"
                counts = snapshot(project.store, path)
                ds = Datasette(immutables=[str(path)], metadata=metadata(), settings=serving.datasette_settings(),
                               template_dir=str(Path(__file__).resolve().parent / "datasette"))  # a claim's page
                serving.install_limits()
                loop = asyncio.new_event_loop()
                try:
                    loop.run_until_complete(ds.invoke_startup())
                finally:
                    loop.close()
                shown = "localhost" if host in ("127.0.0.1", "::1") else host
                echo(f"Serving a snapshot of {project.db_shown} ({counts['claims']} claims, {counts['conflicts']} "
                     f"disagreeing pairs) at http://{serving.address(shown, port)}/{DATABASE}/claims ; "
                     "Ctrl-C stops", err=True)
                serving.run(ds.app(), sock)
        finally:
            sock.close()
