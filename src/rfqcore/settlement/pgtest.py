"""A throwaway PostgreSQL cluster for tests and benchmarks (Debian's ``postgresql`` package).

``TempPostgres().start()`` runs ``initdb`` in a temporary directory and ``pg_ctl start`` on a
free loopback port (TCP on 127.0.0.1 only, its Unix socket in the same directory), trust
authentication for the superuser ``rfq``, durability off (``fsync=off``: test data). PostgreSQL
refuses to run as root, so as root the server runs as the ``postgres`` system user via
``runuser`` (the directory is handed to that user). :class:`TempPostgresUnavailable` says
exactly why when it cannot start (no binaries, no non-root user, ...), so tests can skip.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

__all__ = ["TempPostgres", "TempPostgresUnavailable"]


class TempPostgresUnavailable(RuntimeError):
    """No PostgreSQL server can be started here (the message says why)."""


def _find_bindir() -> Path | None:
    env = os.environ.get("RFQCORE_PG_BINDIR")
    if env:
        return Path(env) if (Path(env) / "pg_ctl").exists() else None
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
                   key=lambda p: int(Path(p).parent.parent.name) if Path(p).parent.parent.name.isdigit() else 0)
    if found:
        return Path(found[-1]).parent
    w = shutil.which("pg_ctl")
    return Path(w).parent if w else None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class TempPostgres:
    """One temporary cluster: :meth:`start`, :meth:`stop`/:meth:`start` again (same data),
    :meth:`create_database`, :meth:`dsn`, :meth:`cleanup`."""

    def __init__(self, user: str = "rfq", run_as: str = "postgres") -> None:
        self.bindir = _find_bindir()
        self.user = user
        self.run_as = run_as
        self.port = 0
        self.dir: Path | None = None
        self.running = False

    def _prefix(self) -> list[str]:
        if os.geteuid() != 0:
            return []
        try:
            pwd.getpwnam(self.run_as)
        except KeyError:
            raise TempPostgresUnavailable(f"running as root and there is no {self.run_as!r} user to run PostgreSQL "
                                          "as (postgres refuses root)") from None
        runuser = shutil.which("runuser") or "/usr/sbin/runuser"
        if os.path.exists(runuser):
            return [runuser, "-u", self.run_as, "--"]
        su = shutil.which("su")
        if su is None:
            raise TempPostgresUnavailable("running as root without runuser or su to drop privileges")
        return [su, self.run_as, "-s", "/bin/sh", "-c", '"$0" "$@"']

    def _run(self, *cmd: str) -> None:
        full = self._prefix() + list(cmd)
        p = subprocess.run(full, capture_output=True, text=True, timeout=60)
        if p.returncode != 0:
            raise TempPostgresUnavailable(f"{Path(cmd[0]).name} failed ({p.returncode}): "
                                          f"{(p.stderr or p.stdout).strip()[-800:]}")

    def start(self) -> TempPostgres:
        if self.running:
            return self
        if self.bindir is None:
            raise TempPostgresUnavailable("no PostgreSQL server binaries (apt-get install postgresql; or set "
                                          "RFQCORE_PG_BINDIR)")
        if self.dir is None:
            self.dir = Path(tempfile.mkdtemp(prefix="rfqcore-pg-"))
            if os.geteuid() == 0:
                pw = pwd.getpwnam(self.run_as) if self._prefix() else None
                if pw is not None:
                    os.chown(self.dir, pw.pw_uid, pw.pw_gid)
            self._run(str(self.bindir / "initdb"), "-D", str(self.dir / "data"), "-A", "trust", "-U", self.user,
                      "--no-sync", "-E", "UTF8", "--locale=C")
        self.port = self.port or _free_port()
        opts = (f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off "
                f"-c synchronous_commit=off -c full_page_writes=off -c max_connections=40 -c shared_buffers=16MB")
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.dir / "data"), "-o", opts, "-l",
                  str(self.dir / "server.log"), "-w", "-t", "30", "start")
        self.running = True
        return self

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (``fast``: disconnect clients; ``immediate``: like a crash)."""
        if self.running and self.dir is not None and self.bindir is not None:
            self._run(str(self.bindir / "pg_ctl"), "-D", str(self.dir / "data"), "-m", mode, "-w", "-t", "30",
                      "stop")
            self.running = False

    def dsn(self, dbname: str = "postgres") -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{dbname}"

    def create_database(self, name: str) -> str:
        """Create database ``name`` (letters, digits, ``_``); returns its DSN."""
        import psycopg

        if not name.replace("_", "").isalnum():
            raise ValueError(f"bad database name {name!r}")
        with psycopg.connect(self.dsn(), autocommit=True) as c:
            c.execute(f"CREATE DATABASE {name}")
        return self.dsn(name)

    def cleanup(self) -> None:
        try:
            self.stop()
        except TempPostgresUnavailable:
            pass
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def __enter__(self) -> TempPostgres:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.cleanup()
