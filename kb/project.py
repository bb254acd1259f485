"""The project: a root folder with the content (schema/, facts/, queries/, ...) and a database."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import KBError

if TYPE_CHECKING:
    from .definitions import Catalog
    from .engine import Evaluator
    from .store import Store

CHECKOUT = Path(__file__).resolve().parent.parent


def find_root(given: str | os.PathLike[str] | None = None) -> Path:
    """``--root``/``KB_ROOT`` if given, else the current directory if it holds schema/properties.yaml,
    else the checkout this package was installed from (editable install)."""
    if given:
        root = Path(given).expanduser().resolve()
        if not root.is_dir():  # a project is a folder with any of schema/, facts/, queries/, ...
            raise KBError(f"project root {str(root)!r} is not a folder")
        return root
    cwd = Path.cwd()
    if (cwd / "schema" / "properties.yaml").is_file():  # any folder named schema/ is not enough
        return cwd
    if (CHECKOUT / "schema").is_dir():
        return CHECKOUT
    raise KBError("no project root: run inside a project (a folder with schema/properties.yaml) or pass --root")


@dataclass
class Project:
    """Knows the content folders and the database; opens the store on first use."""

    root: Path
    db_path: Path
    _store: Store | None = field(default=None, repr=False)
    _catalog: Catalog | None = field(default=None, repr=False)
    _created: list[Path] = field(default_factory=list, repr=False)  # what opening the store made
    load_shipped: bool = True  # a new database starts with facts/; `kb load PATH` into a new one does not
    remember_reads: bool = False  # one command: its store keeps what it read until it writes (Store.remember)
    db_url: str | None = None  # --db postgresql://...: a PostgreSQL database instead of a SQLite file

    @classmethod
    def open(cls, root: str | os.PathLike[str] | None = None, db: str | os.PathLike[str] | None = None) -> Project:
        from .postgres import is_url

        root_path = find_root(root)
        if db and is_url(str(db)):
            return cls(root_path, Path(str(db)), db_url=str(db))
        if db and re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", str(db)):  # a mistyped URL is not a file's name
            raise KBError(f"--db {str(db).split('://')[0]}://...: not a database kb reads; give a SQLite file's path or "
                          "postgresql://USER@HOST:PORT/NAME")
        db_path = Path(db).expanduser() if db else Path("kb.sqlite")
        return cls(root_path, db_path.resolve())

    @property
    def db(self) -> str:
        """The database as given: a SQLite file's path or a PostgreSQL URL."""
        return self.db_url or str(self.db_path)

    @property
    def db_shown(self) -> str:
        """The database for a message: a path, or a URL without its password."""
        from .postgres import shown

        return shown(self.db_url) if self.db_url else str(self.db_path)

    def is_new(self) -> bool:
        """Whether the database does not exist yet (a PostgreSQL one: holds no knowledge base yet)."""
        if self._store is not None:
            return False
        if self.db_url:
            from sqlalchemy import inspect

            from .postgres import engine, holds_nothing

            eng = engine(self.db_url)
            try:
                with eng.connect() as conn:
                    if "_kb_migrations" not in inspect(conn).get_table_names():
                        return True
                return holds_nothing(eng)  # a schema whose first load never committed
            finally:
                eng.dispose()
        return not self.db_path.exists()

    @property
    def schema_dir(self) -> Path:
        return self.root / "schema"

    @property
    def facts_dir(self) -> Path:
        return self.root / "facts"

    @property
    def queries_dir(self) -> Path:
        return self.root / "queries"

    @property
    def scenarios_dir(self) -> Path:
        return self.root / "scenarios"

    @property
    def templates_dir(self) -> Path:
        return self.root / "templates"

    @property
    def store(self) -> Store:
        """The fact store; a database that does not exist yet is created with the shipped facts."""
        if self._store is None:
            from .store import Store

            if self.db_url:
                self._store = Store.open(self.db_url, self.root, load_shipped=self.load_shipped)
            else:
                if not self.db_path.exists():
                    self._created = [p for p in self.db_path.parents if not p.exists()]  # folders, deepest first
                self._store = Store.open(self.db_path, self.root, load_shipped=self.load_shipped)
            self._store.remember = self.remember_reads
        return self._store

    def refuse_database(self, path: Path, option: str) -> None:
        """An output file must never be the database (nor its journal, WAL or shared memory): writing a report
        or an export there would destroy it."""
        if self.db_url:
            return
        db = self.db_path.resolve()
        ours = [db, *(db.with_name(db.name + extra) for extra in ("-journal", "-wal", "-shm"))]
        target = path.resolve()
        if target in ours or any(target.exists() and p.exists() and os.path.samefile(target, p) for p in ours):
            raise KBError(f"{option} {str(path)!r} is the database ({self.db_path}); write the output somewhere else")

    def close(self) -> None:
        """Close the database's connections (a command's end)."""
        if self._store is not None:
            self._store.close()

    def discard_created(self) -> None:
        """A command that failed leaves nothing behind: the database it created (if still unchanged since,
        see :mod:`kb.creation`) and the folders it made for it (if still empty)."""
        if self._store is not None:
            self._store.close()
            if self._store.made is not None:
                from .creation import discard

                discard(self._store.made)
                self._store.made = None
        for folder in self._created:
            try:
                folder.rmdir()
            except OSError:
                pass  # absent, or a folder something else has since written into
        self._created = []

    @property
    def catalog(self) -> Catalog:
        """Every query and scenario, read and checked once."""
        if self._catalog is None:
            from .definitions import Catalog

            self._catalog = Catalog.read(self.root)
        return self._catalog

    def use_catalog(self, catalog: Catalog) -> None:
        """Use this catalog (``kb check`` reads one leniently, keeping the valid rest) instead of reading it."""
        self._catalog = catalog

    def evaluator(self, **options: Any) -> Evaluator:
        from .engine import Evaluator

        return Evaluator(self.store, self.catalog, **options)
