"""PostgreSQL: its URLs, an engine for one, and the ordered migrations that give a PostgreSQL knowledge base
the guarantees SQLite's give (:mod:`kb.db`): append-only history enforced by the database, foreign keys,
full-text search (a ``tsvector`` column with a GIN index), and strings compared and sorted as SQLite does
(byte order: ``COLLATE "C"``), so a listing or an export is the same on either.

Every kb command opens a PostgreSQL store under a session advisory lock (:func:`exclusive`), so two
commands starting together on a new database create its schema and load the shipped facts once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from .errors import KBError

PREFIXES = ("postgresql://", "postgres://", "postgresql+psycopg://")
LOCK_ID = 0x6B62  # 'kb': the advisory lock a command holds while it opens (migrates, syncs, loads) the store
LOCK_WAIT = 60.0  # seconds a command waits for it
APPEND_ONLY = ("fact", "event", "entity_alias", "source", "entity")  # the tables whose rows are never changed


def is_url(target: str) -> bool:
    return target.startswith(PREFIXES)


def engine_url(url: str) -> str:
    """A PostgreSQL URL as SQLAlchemy's psycopg (3) driver takes it."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def shown(url: str) -> str:
    """A URL fit for a message: no password, neither ``USER:PASSWORD@`` (even one holding an unescaped ``@``)
    nor a ``password=`` parameter."""
    _scheme, _, rest = url.partition("://")
    at = rest.rfind("@")
    user, tail = (rest[:at], rest[at + 1:]) if at >= 0 else ("", rest)
    if ":" in user:
        user = user.split(":", 1)[0] + ":***"
    base, question, query = tail.partition("?")
    params = [p for p in query.split("&") if p and not p.lower().startswith("password=")] if question else []
    return "postgresql://" + (f"{user}@" if at >= 0 else "") + base + ("?" + "&".join(params) if params else "")


CONNECT_TIMEOUT = 10  # seconds to reach the server, unless the URL gives connect_timeout


def engine(url: str) -> Any:
    """An engine for the PostgreSQL database at ``url``, connected once to say plainly if it cannot be."""
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    if url.partition("://")[2].partition("?")[0].count("@") > 1:  # the driver would echo part of the password
        raise KBError(f"--db {shown(url)}: the URL has more than one '@'; escape an @ in the password as %40")
    try:
        parsed = make_url(engine_url(url))
        parsed.port  # noqa: B018  (a port that is not a number fails here)
    except Exception:  # noqa: BLE001  (SQLAlchemy's parser raises ValueError, ArgumentError, ...)
        raise KBError(f"--db {shown(url)}: not a PostgreSQL URL kb can read; write postgresql://USER@HOST:PORT/NAME "
                      "(escape @, : and / in a password as %40, %3A and %2F)") from None
    if not parsed.database and "dbname" not in parsed.query:
        raise KBError(f"--db {shown(url)}: the URL names no database; write postgresql://USER@HOST:PORT/NAME")
    connect_args = {} if "connect_timeout" in parsed.query else {"connect_timeout": CONNECT_TIMEOUT}
    try:
        eng = create_engine(parsed, pool_pre_ping=True, connect_args=connect_args)
        with eng.connect():
            pass
    except Exception as exc:
        raise KBError(f"cannot connect to {shown(url)}: {_reason(exc)}") from None
    return eng


def _reason(exc: BaseException) -> str:
    """The server's or the driver's own words, without SQLAlchemy's wrapping: ``connection failed: ...``."""
    detail = getattr(exc, "orig", None) or exc
    text = " ".join(str(detail).split()) if str(detail) else type(detail).__name__
    return text[:300]


@contextmanager
def exclusive(eng: Any) -> Iterator[None]:
    """Hold kb's advisory lock on this database (other kb commands opening it wait) for the block."""
    import time

    with eng.connect() as conn:
        waited = time.monotonic() + LOCK_WAIT
        while not conn.exec_driver_sql(f"SELECT pg_try_advisory_lock({LOCK_ID})").scalar():
            conn.commit()
            if time.monotonic() > waited:
                raise KBError(f"another kb command (or a session holding pg_advisory_lock({LOCK_ID})) has kept "
                              f"{shown(eng.url.render_as_string(hide_password=True))} locked for {LOCK_WAIT:g} s; "
                              "try again when it is done")
            time.sleep(0.1)
        conn.commit()
        try:
            yield
        finally:
            conn.exec_driver_sql(f"SELECT pg_advisory_unlock({LOCK_ID})")
            conn.commit()


APPEND_ONLY_FUNCTION = (
    "CREATE OR REPLACE FUNCTION kb_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    "RAISE EXCEPTION USING MESSAGE = TG_TABLE_NAME || ' is append-only: record a new fact or event instead'; "
    "END $$")
# Every trigger kb relies on, by name (PostgreSQL's search column is generated, so it needs none): `kb check`
# reports one missing or disabled, `kb check --repair-triggers` restores it.
TRIGGERS: dict[str, str] = {
    **{f"{t}_append_only": f"CREATE TRIGGER {t}_append_only BEFORE UPDATE OR DELETE ON {t} "
                           "FOR EACH ROW EXECUTE FUNCTION kb_append_only()" for t in APPEND_ONLY},
    **{f"{t}_no_truncate": f"CREATE TRIGGER {t}_no_truncate BEFORE TRUNCATE ON {t} "
                           "FOR EACH STATEMENT EXECUTE FUNCTION kb_append_only()" for t in APPEND_ONLY},
}


def _triggers(conn: Any, tables: tuple[str, ...]) -> None:
    for table in tables:
        for name in (f"{table}_append_only", f"{table}_no_truncate"):
            conn.exec_driver_sql(TRIGGERS[name])


def _schema(conn: Any) -> None:
    # the tables of SQLite's migrations 001-008 as they stand, with PostgreSQL's means to their guarantees
    from sqlmodel import SQLModel

    from .models import tables as kb_tables

    tables = kb_tables()
    SQLModel.metadata.create_all(conn, tables=[t for k, t in tables.items() if k != "_kb_meta"])
    tables["_kb_meta"].metadata.create_all(conn)
    # checked at commit, as SQLite's loads do (an entity may name as part_of one recorded later in the same load)
    for table, name in conn.exec_driver_sql(
            "SELECT conrelid::regclass::text, conname FROM pg_constraint WHERE contype = 'f' "
            "AND connamespace = current_schema()::regnamespace").all():
        conn.exec_driver_sql(f'ALTER TABLE {table} ALTER CONSTRAINT "{name}" DEFERRABLE INITIALLY DEFERRED')
    conn.exec_driver_sql(APPEND_ONLY_FUNCTION)
    _triggers(conn, ("fact", "event", "entity_alias"))
    conn.exec_driver_sql(
        "ALTER TABLE fact ADD COLUMN search tsvector GENERATED ALWAYS AS (to_tsvector('simple', "
        "coalesce(quote, '') || ' ' || coalesce(note, '') || ' ' || coalesce(locator, ''))) STORED")
    conn.exec_driver_sql("CREATE INDEX fact_search ON fact USING GIN (search)")


# the string columns kb sorts, groups or compares by (fact's quote, note and locator feed the search column)
_BYTE_ORDER = {
    "source": ("id", "kind", "title"), "entity": ("id", "kind", "name", "part_of"),
    "property": ("name", "unit", "origin"),
    "fact": ("id", "entity", "property", "source", "unit", "as_of", "recorded_at", "supersedes", "rank", "method",
             "confidence", "scope", "status", "configuration", "conditions", "dollar_year"),
    "event": ("id", "fact", "rank", "recorded_at"), "entity_alias": ("alias", "entity", "source", "recorded_at"),
    "_kb_meta": ("key",),
}


def _byte_order(conn: Any) -> None:
    # SQLite compares strings byte by byte; a server's default collation (en_US, ...) ignores case and
    # punctuation, so `ORDER BY id` and the export would differ between the two
    present = {(t, c) for t, c in conn.exec_driver_sql(
        "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = current_schema()")}
    for table, columns in _BYTE_ORDER.items():
        for column in columns:
            if (table, column) in present:
                conn.exec_driver_sql(f'ALTER TABLE {table} ALTER COLUMN {column} TYPE VARCHAR COLLATE "C"')


WORDS = "regexp_replace(coalesce({}, ''), '[^[:alnum:]]+', ' ', 'g')"  # FTS5's words: runs of letters and digits


def words(expr: str) -> str:
    """SQL for the text of ``expr`` split into words as SQLite's FTS5 splits them (``H100-SXM`` and ``989.4``
    are two words each; PostgreSQL's own parser would keep them whole)."""
    return WORDS.format(expr)


def _search_words(conn: Any) -> None:
    # the search column, words split as FTS5 splits them (kb search on either backend finds the same claims)
    conn.exec_driver_sql("ALTER TABLE fact DROP COLUMN search")
    document = words("quote || ' ' || coalesce(note, '') || ' ' || coalesce(locator, '')".replace(
        "quote ||", "coalesce(quote, '') ||"))
    conn.exec_driver_sql(f"ALTER TABLE fact ADD COLUMN search tsvector GENERATED ALWAYS AS "
                         f"(to_tsvector('simple', {document})) STORED")
    conn.exec_driver_sql("CREATE INDEX fact_search ON fact USING GIN (search)")


def _migrations_table(conn: Any) -> None:
    conn.exec_driver_sql("CREATE TABLE IF NOT EXISTS _kb_migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")


def _sources_and_entities_append_only(conn: Any) -> None:
    # a source's URL or an entity's name changed in place would go unnoticed: they are versions, as facts are
    _triggers(conn, ("source", "entity"))


# Ordered; never edit or reorder an applied migration, only append.
MIGRATIONS: list[tuple[str, Callable[[Any], None]]] = [
    ("pg_001_schema", _schema),
    ("pg_002_byte_order", _byte_order),
    ("pg_003_search_words", _search_words),
    ("pg_004_sources_and_entities_append_only", _sources_and_entities_append_only),
]


def holds_nothing(eng: Any) -> bool:
    """Whether a migrated database holds no knowledge base yet: no load has committed (each writes the
    ``last_write`` marker) and there are no facts (one copied or made by an older kb may lack the marker)."""
    with eng.connect() as conn:
        return conn.exec_driver_sql("SELECT NOT EXISTS (SELECT 1 FROM _kb_meta WHERE key = 'last_write') "
                                    "AND NOT EXISTS (SELECT 1 FROM fact)").scalar() is True


def _refuse_foreign_tables(conn: Any) -> None:
    """A database whose tables kb did not make (another application's ``event`` or ``source``) is refused
    before anything is created, so nothing of theirs is ever changed or dropped."""
    from .models import tables

    ours = [*tables(), "_kb_migrations"]
    found = [r[0] for r in conn.exec_driver_sql(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() "
        "AND table_name = ANY(%s) ORDER BY table_name", (ours,)).all()]
    if found:
        raise KBError(f"the database already has tables kb did not make ({', '.join(found)}); give kb an empty "
                      "database (createdb NAME) or a schema of its own (?options=-csearch_path%3DNAME)")


def drop_schema(eng: Any) -> None:
    """Remove what creating a knowledge base here made (its creation failed: nothing half-made stays)."""
    from .models import tables

    with eng.begin() as conn:
        names = ", ".join([*tables(), "_kb_migrations"])
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {names} CASCADE")
        conn.exec_driver_sql("DROP FUNCTION IF EXISTS kb_append_only() CASCADE")


def migrate(eng: Any) -> list[str]:
    """Apply pending migrations in order, in one transaction; the names applied."""
    from .values import now_stamp

    applied: list[str] = []
    with eng.begin() as conn:
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({LOCK_ID + 1})")  # `kb copy` migrates outside `exclusive`
        if conn.exec_driver_sql("SELECT to_regclass('_kb_migrations')").scalar() is None:
            _refuse_foreign_tables(conn)
            _migrations_table(conn)  # creating needs the CREATE privilege; an analyst's role has none
        done = {row[0] for row in conn.exec_driver_sql("SELECT name FROM _kb_migrations")}
        for name, step in MIGRATIONS:
            if name in done:
                continue
            step(conn)
            conn.exec_driver_sql("INSERT INTO _kb_migrations (name, applied_at) VALUES (%s, %s)", (name, now_stamp()))
            applied.append(name)
    return applied
