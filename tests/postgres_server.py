"""A real PostgreSQL server for tests, started from the Debian binaries in a temporary folder.

It listens on 127.0.0.1 on a free port, with no Unix socket, so servers of several pytest
workers never meet. PostgreSQL refuses to run as root: as root, every server command runs
as the `postgres` user (`runuser`), in a folder that user owns. Durability settings are off
(fsync): a test kills clients, never the server, so commits only need to reach PostgreSQL.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

__all__ = ["PostgresServer", "running_postgres"]

SUPERUSER = "blockpass"
# pg_ctl's own bounded waits, in seconds.
START_SECONDS = 60
STOP_SECONDS = 60
_TUNING = (
    "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    " -c unix_socket_directories='' -c listen_addresses=127.0.0.1 -c max_connections=200"
)


@dataclass(frozen=True, slots=True)
class PostgresServer:
    port: int

    def dsn(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """The address of a database of its own, for a test whose workers would take any
        job queued in a shared one."""
        import psycopg

        name = f"t{uuid.uuid4().hex[:16]}"
        with psycopg.connect(self.dsn(), autocommit=True) as connection:
            connection.execute(f"CREATE DATABASE {name}")
        return self.dsn(name)


def server_binary(name: str) -> str:
    """`name` on PATH, or where Debian's postgresql package puts it."""
    found = shutil.which(name) or next(
        iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None
    )
    if found is None:
        raise RuntimeError(
            f"PostgreSQL's {name} is not installed: the PostgreSQL store tests need the"
            " server binaries (Debian: apt-get install postgresql; .ci/run installs them)"
        )
    return found


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def running_postgres() -> Iterator[PostgresServer]:
    as_root = os.geteuid() == 0
    prefix = ["runuser", "-u", "postgres", "--"] if as_root else []
    # As root, in /tmp: the server user must be able to reach the folder, and $TMPDIR may
    # be one of root's own.
    folder = Path(tempfile.mkdtemp(prefix="blockpass-postgres-", dir="/tmp" if as_root else None))
    data = folder / "data"
    if as_root:
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            shutil.rmtree(folder)
            raise RuntimeError(
                "PostgreSQL refuses to run as root, and there is no 'postgres' user to run it"
                " as (Debian's postgresql package creates it; .ci/run installs it)"
            ) from None
        os.chown(folder, owner.pw_uid, owner.pw_gid)

    def run(*command: str) -> None:
        # In the folder the server user owns: it may not be allowed into the current one.
        try:
            subprocess.run(
                [*prefix, *command], check=True, capture_output=True, timeout=120, cwd=folder
            )
        except subprocess.CalledProcessError as exc:
            exc.add_note(exc.stderr.decode(errors="replace"))
            raise

    try:
        run(server_binary("initdb"), "-D", str(data), "-U", SUPERUSER, "--auth=trust",
            "--encoding=UTF8", "--locale=C.UTF-8", "--no-sync")  # fmt: skip
        server = _start(run, data, folder / "server.log")
        try:
            yield server
        finally:
            pg_ctl = server_binary("pg_ctl")
            run(pg_ctl, "stop", "-D", str(data), "-m", "immediate", "-w", "-t", str(STOP_SECONDS))
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _start(run: Callable[..., None], data: Path, log: Path) -> PostgresServer:
    """Start on a free port; another process may take the port first, so try a few."""
    failure: subprocess.CalledProcessError | None = None
    for _ in range(5):
        port = _free_port()
        try:
            run(server_binary("pg_ctl"), "start", "-D", str(data), "-l", str(log), "-w",
                "-t", str(START_SECONDS), "-o", f"{_TUNING} -c port={port}")  # fmt: skip
        except subprocess.CalledProcessError as exc:
            failure = exc
            continue
        return PostgresServer(port=port)
    log_text = log.read_text() if log.exists() else ""
    raise RuntimeError(f"PostgreSQL did not start: {failure}\n{log_text}")
