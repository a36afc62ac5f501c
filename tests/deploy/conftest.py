"""A throwaway PostgreSQL server for the production instance test.

``initdb`` + ``pg_ctl`` from the installed PostgreSQL in a temp dir on a free port, stopped and
removed afterwards. PostgreSQL refuses to run as root, so as root the server runs as the
``postgres`` user. If no server can be started that way, the machine's own server on 5432 (trust
auth, database ``test``) is used, in a fresh database of its own.
"""

from __future__ import annotations

import getpass
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

START_TIMEOUT_S = 60


@dataclass(frozen=True)
class Postgres:
    host: str
    port: int
    user: str
    password: str
    db: str

    @property
    def env(self) -> dict[str, str]:
        return {
            "TWILIGHT_PG_HOST": self.host, "TWILIGHT_PG_PORT": str(self.port),
            "TWILIGHT_PG_USER": self.user, "TWILIGHT_PG_PASSWORD": self.password,
            "TWILIGHT_PG_DB": self.db,
        }  # fmt: skip


def _bin_dir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _as_server_user(cmd: list[str]) -> tuple[list[str], str]:
    """Run as ``postgres`` when we are root (initdb refuses root); returns (argv, user)."""
    if os.geteuid() != 0:
        return cmd, getpass.getuser()
    return ["runuser", "-u", "postgres", "--", *cmd], "postgres"


def _accepts(port: int, dbname: str, user: str) -> bool:
    import psycopg2

    try:
        psycopg2.connect(host="127.0.0.1", port=port, dbname=dbname, user=user,
                         connect_timeout=2).close()  # fmt: skip
        return True
    except psycopg2.OperationalError:
        return False


def _can_run_server() -> bool:
    """Not as root without a ``postgres`` user to run it as."""
    if os.geteuid() != 0:
        return True
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        return False
    return shutil.which("runuser") is not None


@pytest.fixture(scope="package")
def postgres_server() -> Iterator[Postgres]:
    bin_dir = _bin_dir()
    root = Path(tempfile.mkdtemp(prefix="twilight-pg-"))
    data, port = root / "data", _free_port()
    started = False
    user = "twilight"  # the superuser initdb creates; trust auth on loopback
    try:
        if bin_dir is not None and _can_run_server():
            if os.geteuid() == 0:
                pw = pwd.getpwnam("postgres")
                os.chown(root, pw.pw_uid, pw.pw_gid)
            init, _ = _as_server_user(
                [str(bin_dir / "initdb"), "-D", str(data), "-U", "twilight", "-A", "trust",
                 "--no-sync", "-E", "UTF8"]
            )  # fmt: skip
            if subprocess.run(init, capture_output=True).returncode == 0:
                ctl, _ = _as_server_user(
                    [str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(root / "server.log"),
                     "-o", f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off",
                     "-w", "-t", str(START_TIMEOUT_S), "start"]
                )  # fmt: skip
                started = subprocess.run(ctl, capture_output=True).returncode == 0
        if started:
            yield Postgres("127.0.0.1", port, user, "unused", "postgres")
        else:
            system = _system_server()
            try:
                yield system
            finally:
                _drop(system)
    finally:
        if started and bin_dir is not None:
            stop, _ = _as_server_user(
                [str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"]
            )
            subprocess.run(stop, capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


def _system_server() -> Postgres:
    """The machine's server on 5432 (trust auth), in a database created for this session."""
    import psycopg2

    for user in ("postgres", getpass.getuser()):
        if _accepts(5432, "test", user):
            break
    else:
        pytest.skip("no PostgreSQL server could be started or reached")
    db = f"twilight_{uuid.uuid4().hex[:8]}"
    conn = psycopg2.connect(host="127.0.0.1", port=5432, dbname="test", user=user)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE {db}")
    conn.close()
    deadline = time.monotonic() + 10
    while not _accepts(5432, db, user) and time.monotonic() < deadline:
        time.sleep(0.2)
    return Postgres("127.0.0.1", 5432, user, "unused", db)


def _drop(server: Postgres) -> None:
    import psycopg2

    conn = psycopg2.connect(host=server.host, port=server.port, dbname="test", user=server.user)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {server.db} WITH (FORCE)")
    conn.close()
