"""A real PostgreSQL for the tests: ``initdb`` into a fresh directory, ``pg_ctl start`` on a free loopback port.

PostgreSQL refuses to run as root, so as root the server runs as ``nobody`` in a
directory that user owns. Each test gets a database of its own (``fresh_database``),
made from an empty template in a few milliseconds. The server is stopped by its data
directory, never by process name.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

BIN_DIRS = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)


def pg_bin(name: str) -> str:
    """A server program (initdb, pg_ctl): Debian keeps them out of PATH, under /usr/lib/postgresql/N/bin."""
    for d in BIN_DIRS:
        if (d / name).exists():
            return str(d / name)
    found = shutil.which(name)
    if found is None:
        raise RuntimeError(
            f"PostgreSQL's {name} is not installed; `apt-get install postgresql` (as .ci/run does)"
        )
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PgServer:
    """A running server: its data directory, port and the superuser's URL."""

    root: Path
    port: int
    netns: str | None = None  # run it inside this network namespace (another "host")

    @property
    def data(self) -> Path:
        return self.root / "data"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _as_owner(self, argv: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
        if os.geteuid() == 0:
            argv = ["runuser", "-u", "nobody", "--", *argv]
        if self.netns:
            argv = ["ip", "netns", "exec", self.netns, *argv]
        return subprocess.run(argv, check=True, capture_output=True, text=True, **kw)  # type: ignore[call-overload]

    def start(self) -> None:
        opts = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
        )
        self._as_owner(
            [pg_bin("pg_ctl"), "-D", str(self.data), "-o", opts, "-l", str(self.root / "log"), "-w", "start"]
        )

    def stop(self) -> None:
        self._as_owner([pg_bin("pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"])

    def restart(self) -> None:
        self.stop()
        self.start()

    def sql(self, statement: str, database: str = "postgres") -> None:
        import psycopg

        with psycopg.connect(self.url(database), autocommit=True) as conn:
            conn.execute(statement)

    def fresh_database(self) -> str:
        """The URL of a new, empty database."""
        name = "t_" + uuid.uuid4().hex[:16]
        self.sql(f"CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8' LOCALE 'C'")
        return self.url(name)


@contextmanager
def postgres_server(netns: str | None = None) -> Iterator[PgServer]:
    root = Path(tempfile.mkdtemp(prefix="labbook-pg-"))
    if os.geteuid() == 0:
        shutil.chown(root, "nobody", "nogroup")
    os.chmod(root, 0o700)
    server = PgServer(root, free_port(), netns)
    server._as_owner(
        [
            pg_bin("initdb"),
            "-D",
            str(server.data),
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--locale=C",
        ]
    )
    server.start()
    try:
        yield server
    finally:
        try:
            server.stop()
        except subprocess.CalledProcessError:
            pass  # already stopped by the test
        shutil.rmtree(root, ignore_errors=True)
