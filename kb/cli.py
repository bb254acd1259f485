"""The ``kb`` command: parse arguments, call the core, format output. Errors become one line."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from .errors import KBError
from .project import Project


def _first_line(detail: object) -> str:
    """A database's message without PostgreSQL's DETAIL/CONTEXT lines."""
    lines = str(detail).strip().splitlines()
    return lines[0] if lines else type(detail).__name__


def _database_errors() -> tuple[type[BaseException], ...]:
    """sqlite3's errors, and SQLAlchemy's if it was imported (a read of a SQLite file does not import it)."""
    import sqlite3

    wrapped = sys.modules.get("sqlalchemy.exc")
    return (sqlite3.Error, *((wrapped.DBAPIError,) if wrapped is not None else ()))


class KBGroup(click.Group):
    """Turns knowledge-base errors into one line on stderr and exit status 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KBError as exc:
            self._discard(ctx)
            echo(f"Error: {exc}", err=True)
            ctx.exit(1)
        except _database_errors() as exc:
            self._discard(ctx)
            detail = _first_line(getattr(exc, "orig", None) or exc)
            if detail == "database is locked":
                from .db import LOCK_WAIT

                detail += (f": another command kept it locked for {LOCK_WAIT:g} s; try again when it has finished "
                           "(a program holding a write transaction on the file keeps every writer waiting)")
            echo(f"Error: database {ctx.obj.db_shown if ctx.obj else ''}: {detail}", err=True)
            ctx.exit(1)
        except click.exceptions.Exit as exc:
            if exc.exit_code:
                self._discard(ctx)
            raise
        except KeyboardInterrupt:  # Ctrl-C: what was being written is rolled back with its transaction
            self._discard(ctx)
            echo("Interrupted: stopped by Ctrl-C; what it had not committed is rolled back.", err=True)
            ctx.exit(130)
        except BaseException:
            self._discard(ctx)  # usage errors raised by a command, interrupts
            raise

    def main(self, *args: Any, standalone_mode: bool = True, **kwargs: Any) -> Any:
        """As click's, but a usage error is one line too: ``Error: ... (see `kb query --help`)``, exit 2."""
        if not standalone_mode:
            return super().main(*args, standalone_mode=False, **kwargs)  # type: ignore[call-overload]
        try:
            code = super().main(*args, standalone_mode=False, **kwargs)  # type: ignore[call-overload]
        except click.UsageError as exc:
            command = exc.ctx.command_path if exc.ctx else "kb"
            echo(f"Error: {exc.format_message()} (see `{command} --help`)", err=True)
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            exc.show()
            sys.exit(exc.exit_code)
        except click.Abort:
            click.echo("Aborted!", err=True)
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)

    @staticmethod
    def _discard(ctx: click.Context) -> None:
        if ctx.obj is not None:
            ctx.obj.discard_created()


class UnitType(click.ParamType):  # type: ignore[type-arg]
    """A unit from schema/units.txt; one that does not parse is a usage error (exit 2)."""

    name = "unit"

    def convert(self, value: Any, param: Any, ctx: Any) -> str:
        from . import units

        try:
            units.si_factor(str(value).strip())  # parses it, and refuses one whose size overflows
        except KBError as exc:
            self.fail(exc.message, param, ctx)
        return "" if str(value).strip() in ("", "1") else str(value).strip()


UNIT = UnitType()


class FactorType(click.ParamType):  # type: ignore[type-arg]
    """A finite factor above 1 (``1.5``): how far apart two figures must be to be listed."""

    name = "FACTOR"

    def convert(self, value: Any, param: Any, ctx: Any) -> float:
        import math

        try:
            x = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number", param, ctx)
        if not math.isfinite(x) or x <= 1:
            self.fail(f"{value!r} must be a finite number above 1, such as 1.5", param, ctx)
        return x


FACTOR = FactorType()


def pass_project(f: Any) -> Any:
    """Pass the command the project; where none was found, the error is the command's, so `--help` still works."""
    import functools

    def new_func(*args: Any, **kwargs: Any) -> Any:
        ctx = click.get_current_context()
        project = ctx.find_object(Project)
        if project is None:
            raise click.UsageError(ctx.meta.get("kb.no_project", "no project"))
        return ctx.invoke(f, project, *args, **kwargs)

    return functools.update_wrapper(new_func, f)


def echo(message: str = "", *, err: bool = False, nl: bool = True) -> None:
    """Plain text for a terminal (every command's output but JSON and data such as ``kb export``'s YAML):
    what the knowledge base holds may contain control characters, shown as visible escapes
    (:func:`kb.textfmt.visible`), never sent to the terminal as they are."""
    from .textfmt import visible

    click.echo(visible(message), err=err, nl=nl)


def _finite(data: Any) -> Any:
    """``NaN`` and ``Infinity`` are not JSON: a number that is not finite is written as null."""
    import math

    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, dict):
        return {k: _finite(v) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [_finite(v) for v in data]
    return data


def emit_json(data: Any) -> None:
    """JSON, written as it is: it escapes control characters itself."""
    click.echo(json.dumps(_finite(data), indent=2, ensure_ascii=False, default=str, allow_nan=False))


@click.group(cls=KBGroup)
@click.option("--root", envvar="KB_ROOT", type=click.Path(file_okay=False), help="Project root (has schema/, facts/, queries/ ...). Env: KB_ROOT.")
@click.option("--db", envvar="KB_DB", type=click.Path(dir_okay=False), default="kb.sqlite", show_default=True,
              help="The database: a SQLite file (created with the project's facts/ if missing) or a PostgreSQL URL, "
              "postgresql://USER@HOST:PORT/NAME (an empty database gets the schema and shipped facts). Env: KB_DB.")
@click.version_option(package_name="ai-compute-kb")
@click.pass_context
def cli(ctx: click.Context, root: str | None, db: str) -> None:
    """A knowledge base of sourced facts about AI compute, with derived-quantity queries.

    Env: KB_CACHE_DIR, where kb remembers units between commands (default ~/.cache/kb; off to turn it off).
    """
    try:
        ctx.obj = Project.open(root, db)
        ctx.obj.remember_reads = True  # a command is short: one state of the database, read once
    except KBError as exc:
        ctx.meta["kb.no_project"] = str(exc)  # raised by the command (its --help needs no project)
        return
    ctx.call_on_close(ctx.obj.close)


# The command modules register themselves on ``cli`` when imported.
from . import cli_browse, cli_claims, cli_facts, cli_import, cli_query, cli_render  # noqa: E402,F401


def main() -> None:
    import logging
    import warnings

    # numpy's RuntimeWarnings (an overflow at a corner, a NaN in a sample) are handled by the engine, which
    # says what went wrong in one line; the warnings themselves would only add lines to stderr
    warnings.simplefilter("ignore", RuntimeWarning)
    # psycopg logs a warning when it closes a pipeline that failed ("error ignored terminating ..."): the
    # failure itself is reported in one line; the log would add another
    logging.getLogger("psycopg").setLevel(logging.ERROR)
    cli(prog_name="kb")


if __name__ == "__main__":  # pragma: no cover
    main()
