"""One desk per directory: an exclusive lock file that names its owner.

``rfqcore serve`` takes an :class:`InstanceLock` on its Aeron directory (the file
``<aeron_dir>.lock`` beside it: the media driver deletes and recreates the directory itself) and
on its journal directory (``<journal>/rfqcore.lock``). The lock is a ``flock`` on that file, so
the kernel releases it when its process dies, however it dies; the file holds one JSON line
about the owner: its PID and the shared-memory paths it created (ring directory, Aeron
directory when it embedded the media driver).

* A second desk on the same directory cannot take the lock: :class:`AlreadyRunning` names the
  running PID and what to do.
* A desk killed with ``kill -9`` leaves the file behind with its record. The next desk takes
  the lock (the owner is dead: the kernel released it) and gets that record back from
  :meth:`InstanceLock.acquire` as the *stale owner*; :func:`remove_stale` deletes what it names.
  Liveness is the owner process's, never the age of a heartbeat.
* :func:`sweep_stale` does the same for every ``rfqcore-*.lock`` in ``/dev/shm`` whose owner is
  dead, so desks on fresh (unique) Aeron directories clean up after killed ones too.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
from pathlib import Path
from typing import Any

from rfqcore.errors import RfqCoreError

__all__ = ["AlreadyRunning", "InstanceLock", "pid_alive", "remove_stale", "sweep_stale"]

#: Prefix of the lock files :func:`sweep_stale` looks at (and of the desk's shared-memory paths).
SHM_PREFIX = "rfqcore-"


class AlreadyRunning(RfqCoreError):
    """Another live process holds the lock of this directory."""


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists (signal 0: no signal is sent)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by another user
        return True
    return True


def _read_record(fd: int) -> dict[str, Any]:
    os.lseek(fd, 0, os.SEEK_SET)
    raw = b""
    while chunk := os.read(fd, 65536):
        raw += chunk
    try:
        rec = json.loads(raw.decode() or "{}")
    except (UnicodeDecodeError, json.JSONDecodeError):
        return {}
    return rec if isinstance(rec, dict) else {}


class InstanceLock:
    """An exclusive ``flock`` on ``path``; ``what`` names the locked thing in messages
    (e.g. ``"Aeron directory /dev/shm/desk"``) and ``hint`` says what to do when it is taken
    (``{pid}`` in it becomes the owner's PID)."""

    def __init__(self, path: str | os.PathLike[str], what: str, hint: str) -> None:
        self.path = Path(path)
        self.what = what
        self.hint = hint
        self._fd: int | None = None
        self._record: dict[str, Any] = {}

    def acquire(self) -> dict[str, Any] | None:
        """Take the lock and record this process as its owner. Returns the record a dead
        owner left behind (``None`` when there was none); raises :class:`AlreadyRunning`."""
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                pid = _read_record(fd).get("pid")
                os.close(fd)
                who = f"PID {pid}" if isinstance(pid, int) else "another process (PID not yet written)"
                hint = self.hint.replace("{pid}", str(pid) if isinstance(pid, int) else "PID")
                raise AlreadyRunning(f"{self.what} is in use by {who}: {hint}") from None
            # The file may have been unlinked (by its owner's release or a sweep) between our
            # open and our lock: then we hold a lock nobody else sees; start again.
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if not same:
                os.close(fd)
                continue
            break
        stale = _read_record(fd) or None
        self._fd = fd
        self.update(pid=os.getpid())
        return stale

    def update(self, **fields: Any) -> None:
        """Add ``fields`` to the owner record (what a killed owner leaves for the next one)."""
        assert self._fd is not None, "lock not held"
        self._record.update(fields)
        data = (json.dumps(self._record) + "\n").encode()
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, data, 0)

    def release(self) -> None:
        """Remove the lock file and let the lock go. Idempotent."""
        if self._fd is None:
            return
        try:
            self.path.unlink(missing_ok=True)  # while still locked: nobody can take a dead file
        finally:
            os.close(self._fd)
            self._fd = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def __enter__(self) -> InstanceLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def remove_stale(record: dict[str, Any]) -> list[str]:
    """Call with the lock held (so the record's owner is dead: the kernel released its lock).
    Delete the shared-memory paths a dead owner's ``record`` names (``ring_dir``, and
    ``aeron_dir`` when it embedded the driver). Only paths under ``/dev/shm`` or the temp
    directory are touched. Returns what was removed."""
    removed: list[str] = []
    paths = [record.get("ring_dir")]
    if record.get("embedded_driver"):
        paths.append(record.get("aeron_dir"))
    for p in paths:
        if isinstance(p, str) and p and _disposable(p) and os.path.exists(p):
            shutil.rmtree(p, ignore_errors=True)
            removed.append(p)
    return removed


def _disposable(path: str) -> bool:
    import tempfile

    real = os.path.realpath(path)
    roots = ["/dev/shm", tempfile.gettempdir()]
    return any(real.startswith(os.path.realpath(r) + os.sep) for r in roots)


def sweep_stale(directory: str = "/dev/shm") -> list[str]:
    """Clean up after every desk killed without a chance to: for each ``rfqcore-*.lock`` in
    ``directory`` whose lock nobody holds, remove what its record names and the file.
    Returns the paths removed."""
    removed: list[str] = []
    try:
        names = [n for n in os.listdir(directory) if n.startswith(SHM_PREFIX) and n.endswith(".lock")]
    except OSError:
        return removed
    for n in names:
        lock = InstanceLock(os.path.join(directory, n), n, "")
        try:
            stale = lock.acquire()
        except (AlreadyRunning, OSError):
            continue  # a live desk's
        try:
            if stale:
                removed += remove_stale(stale)
        finally:
            lock.release()
        removed.append(str(lock.path))
    return removed
