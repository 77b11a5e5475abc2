"""Opening a team server's notebook: a database (PostgreSQL, or a SQLite file) and a files area.

``lab server`` never upgrades a shared database on its own: clients of several versions
may be using it, so the upgrade is its own step (``lab server migrate``), and a server
whose schema is older refuses to start, naming both versions.
"""

from __future__ import annotations

from pathlib import Path

from labbook.errors import BadInput
from labbook.service.notebook import Notebook
from labbook.store.protocols import Store

POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def is_postgres(db: str) -> bool:
    return db.startswith(POSTGRES_SCHEMES)


def _postgres() -> None:
    try:
        import psycopg  # noqa: F401
    except ImportError:
        raise BadInput(
            "a PostgreSQL notebook needs the server extra: pip install 'labbook[server]'"
        ) from None


def schema_state(db: str) -> tuple[int, int]:
    """(the database's schema version, this labbook's)."""
    if not is_postgres(db):
        from labbook.store.sqlite import migrations as sqlite_migrations
        from labbook.store.sqlite.connection import connect

        path = Path(db).expanduser()
        if not path.exists():
            return 0, sqlite_migrations.LATEST
        conn = connect(path, read_only=True)
        try:
            return sqlite_migrations.version(conn), sqlite_migrations.LATEST
        finally:
            conn.close()
    _postgres()
    import psycopg

    from labbook.store.postgres import migrations
    from labbook.store.postgres.connection import CONNECT_TIMEOUT_S, translate

    try:
        with psycopg.connect(db, connect_timeout=CONNECT_TIMEOUT_S) as pg:
            return migrations.pending(pg)
    except psycopg.Error as err:
        failure = translate(err, db)
        if failure is None:
            raise
        raise failure from None


def open_store(db: str, migrate: bool = False) -> Store:
    """The database ``db`` names; unless ``migrate``, refused when its schema is not this labbook's."""
    if not is_postgres(db):
        from labbook.store.sqlite.store import SQLiteStore

        path = Path(db).expanduser()
        if not path.parent.is_dir():
            raise BadInput(
                f"{path.parent} is not a directory; give --db postgresql://... or a path to a .db file"
            )
        return SQLiteStore(path)
    _postgres()
    from labbook.store.postgres.store import PostgresStore

    if not migrate:
        current, latest = schema_state(db)
        if current < latest:
            what = "holds no notebook yet" if current == 0 else f"has schema v{current}"
            raise BadInput(
                f"the database {what}; this labbook needs v{latest}: run `lab server migrate --db URL` first"
            )
    return PostgresStore(db, migrate=migrate)


def open_server(db: str, files: Path) -> Notebook:
    """The server's notebook: ``db`` for its rows, ``files`` for its runs' series, output and artifacts."""
    files = files.expanduser().resolve()
    try:
        (files / "runs").mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise BadInput(
            f"cannot use {files} for the server's files ({err.strerror}); give --files DIR"
        ) from None
    return Notebook(files, open_store(db))


def migrate(db: str) -> tuple[int, int]:
    """Bring ``db`` to this labbook's schema; (version before, version after)."""
    before, latest = schema_state(db)
    open_store(db, migrate=True).close()
    return before, latest
