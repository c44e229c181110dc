"""Aeron plumbing shared by the gateway, the client library, tests and benchmarks.

- :class:`EmbeddedDriver`: the C media driver (``pyaeron.MediaDriver``) run inside this
  process, in a directory of its own under ``/dev/shm`` (deleted on close). With ``aeron:ipc``
  the data path never goes through the driver (publishers write the shared log, subscribers
  read it); the driver only sets streams up, so hosting it in any process is fine.
- :func:`run_driver_process`: the same driver as a process of its own (``multiprocessing``).
- :func:`connect`: an Aeron client on a running driver, failing fast and clearly when none is.
- :func:`offer`: one message with bounded retries on back pressure (never an unbounded spin).
- :func:`response_stream`: who answers on which stream (docs/gateway-schema.md).
"""

from __future__ import annotations

import os
import struct
import tempfile
import time
from typing import Any, Final, Protocol

import pyaeron

from rfqcore.errors import RfqCoreError
from rfqcore.gateway.schema import Role
from rfqcore.stop_signals import start_shielded

__all__ = [
    "AERON_DIR_ENTRIES",
    "AeronUnavailable",
    "EmbeddedDriver",
    "IPC_TERM_LENGTH",
    "connect",
    "driver_pid",
    "not_a_driver_dir",
    "offer",
    "OfferOutcome",
    "resolve_dir",
    "response_stream",
    "run_driver_process",
    "unique_dir",
    "wait_for_driver",
]

#: Term length of IPC logs made by our embedded driver (Aeron's default is 64 MiB per term,
#: three terms per publication). 1 MiB keeps a publication at 3 MiB of /dev/shm and gives a
#: publication window of 512 KiB (~6,000 quotes) before a slow subscriber back-pressures it.
IPC_TERM_LENGTH: Final[int] = 1 << 20


class AeronUnavailable(RfqCoreError):
    """No media driver answers in the Aeron directory, or a stream could not connect."""


def _shm() -> str | None:
    return "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None


def unique_dir(prefix: str = "rfqcore-aeron-") -> str:
    """A fresh, unused Aeron directory path under ``/dev/shm`` (not created)."""
    d = tempfile.mkdtemp(prefix=prefix, dir=_shm())
    os.rmdir(d)  # the driver creates it; we only wanted a unique name
    return d


def resolve_dir(aeron_dir: str | None) -> str:
    """``aeron_dir``, or pyaeron's default directory for this user when None."""
    return aeron_dir if aeron_dir else pyaeron.default_path()


#: What an Aeron media driver keeps in its directory: all an embedded driver may delete there.
AERON_DIR_ENTRIES: Final[frozenset[str]] = frozenset({"cnc.dat", "loss-report.dat", "publications", "images"})


def not_a_driver_dir(path: str) -> str | None:
    """Why an embedded media driver must not take ``path`` (it deletes and recreates its directory
    when it starts, and deletes it when it stops), or None when it may: nothing there, an empty
    directory, or one holding only a media driver's files (a killed driver's)."""
    if not os.path.lexists(path):
        return None
    if not os.path.isdir(path):
        return f"{path} is a file, not an Aeron directory"
    try:
        foreign = sorted(set(os.listdir(path)) - AERON_DIR_ENTRIES)
    except OSError as e:
        return f"{path} cannot be read ({e.strerror})"
    if not foreign:
        return None
    shown = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
    return f"{path} holds files that are not a media driver's ({shown})"


class EmbeddedDriver:
    """An in-process Aeron C media driver. Use as a context manager or call :meth:`close`.

    The driver deletes its directory when it starts and when it stops: a directory that holds
    anything but a media driver's files (:data:`AERON_DIR_ENTRIES`), or a file at that path, is
    refused with :class:`AeronUnavailable` rather than deleted.

    ``threading="shared"`` runs conductor, sender and receiver on one driver thread (C, no GIL),
    enough for IPC; ``"dedicated"`` gives UDP its own sender/receiver threads.
    """

    def __init__(self, aeron_dir: str | None = None, *, threading: str = "shared",
                 ipc_term_length: int = IPC_TERM_LENGTH) -> None:
        self._driver: Any = None
        self.dir = aeron_dir or unique_dir()
        why = not_a_driver_dir(self.dir)
        if why is not None:
            raise AeronUnavailable(f"{why}: a media driver deletes its directory when it starts and stops; give "
                                   "--aeron-dir a path of its own")
        self._driver = pyaeron.MediaDriver(
            dir=self.dir, threading=threading, dir_delete_on_start=True, dir_delete_on_shutdown=True,
            ipc_term_buffer_length=ipc_term_length,
        )
        self.dir = self._driver.dir

    def close(self) -> None:
        """Stop the driver and delete its directory. Idempotent."""
        if self._driver is not None:
            self._driver.close()
            self._driver = None

    def __enter__(self) -> EmbeddedDriver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"EmbeddedDriver({self.dir!r}, {'closed' if self._driver is None else 'running'})"


#: cnc.dat metadata (Aeron CnC version 0.2.0 and later): version, five buffer lengths (int32),
#: client liveness timeout, start timestamp, driver PID (int64)
_CNC_META = struct.Struct("<iiiiiiqqq")
_CNC_PID_SINCE = 0x000200  # semantic version 0.2.0, packed major << 16 | minor << 8 | patch


def driver_pid(aeron_dir: str) -> int | None:
    """PID of the media driver that wrote ``aeron_dir``'s ``cnc.dat`` (None: no such file, or
    too old or too short to say)."""
    try:
        with open(os.path.join(aeron_dir, "cnc.dat"), "rb") as f:
            head = f.read(_CNC_META.size)
    except OSError:
        return None
    if len(head) < _CNC_META.size:
        return None
    meta = _CNC_META.unpack(head)
    return int(meta[8]) if meta[0] >= _CNC_PID_SINCE and meta[8] > 0 else None


def _owner_dead(aeron_dir: str) -> bool:
    from rfqcore.instance import pid_alive

    pid = driver_pid(aeron_dir)
    return pid is not None and not pid_alive(pid)


def driver_gone(aeron_dir: str | None, timeout_ms: int = 5_000) -> bool:
    """Whether the media driver of ``aeron_dir`` is gone: its process dead (``kill -9``: a fresh
    heartbeat does not count), or no heartbeat for ``timeout_ms`` (a driver on a host that
    died, a stalled one), or no ``cnc.dat`` at all."""
    d = resolve_dir(aeron_dir)
    if not os.path.exists(os.path.join(d, "cnc.dat")) or _owner_dead(d):
        return True
    return not pyaeron.is_driver_active(d, timeout_ms)


def wait_for_driver(aeron_dir: str, timeout: float = 10.0) -> None:
    """Return once a driver is active in ``aeron_dir``; ``AeronUnavailable`` after ``timeout``.

    A ``cnc.dat`` whose driver process is gone (``kill -9``) is not a driver, however fresh its
    last heartbeat: the owner's liveness is checked first."""
    deadline = time.monotonic() + timeout
    while True:
        # The driver refreshes its heartbeat in cnc.dat about once a second: judge liveness with
        # Aeron's own default (10 s), not by a fresher heartbeat than the driver ever gives.
        if not driver_gone(aeron_dir, 10_000):
            return
        if time.monotonic() > deadline:
            raise AeronUnavailable(f"no Aeron media driver active in {aeron_dir} after {timeout:g} s")
        time.sleep(0.01)


def connect(aeron_dir: str | None = None, *, timeout: float = 10.0) -> Any:
    """An Aeron client (``pyaeron.Aeron``) on the driver of ``aeron_dir`` (None = pyaeron's
    default directory). ``AeronUnavailable`` if no driver is active there within ``timeout``."""
    d = resolve_dir(aeron_dir)
    wait_for_driver(d, timeout)
    try:
        return pyaeron.Aeron(dir=d)
    except pyaeron.AeronError as e:
        raise AeronUnavailable(f"cannot connect to the Aeron driver in {d}: {e}") from e


def _driver_main(aeron_dir: str, stop: Any, ready: Any, threading: str, ipc_term_length: int) -> None:
    with EmbeddedDriver(aeron_dir, threading=threading, ipc_term_length=ipc_term_length):
        ready.set()
        stop.wait()


def run_driver_process(aeron_dir: str | None = None, *, threading: str = "shared",
                       ipc_term_length: int = IPC_TERM_LENGTH, timeout: float = 10.0) -> tuple[Any, Any, str]:
    """Start a media driver in a spawned process. Returns ``(process, stop_event, dir)``:
    ``stop_event.set(); process.join()`` shuts it down (and deletes the directory)."""
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    d = aeron_dir or unique_dir()
    stop, ready = ctx.Event(), ctx.Event()
    p = ctx.Process(target=_driver_main, args=(d, stop, ready, threading, ipc_term_length),
                    name="rfqcore-aeron-driver", daemon=True)
    start_shielded(p)  # the caller stops it (stop_event), never a Ctrl-C mid-import
    if not ready.wait(timeout):
        p.terminate()
        raise AeronUnavailable(f"media driver process did not start in {timeout:g} s ({d})")
    return p, stop, d


class _Offerable(Protocol):
    def offer(self, data: bytes | bytearray | memoryview) -> Any: ...


class OfferOutcome:
    """Result codes of :func:`offer` (ints, cheap to compare on the hot path)."""

    SENT: Final = 0
    BACK_PRESSURED: Final = 1  # still back-pressured (or admin action) after the retries
    NOT_CONNECTED: Final = 2  # no subscriber


_BACK_PRESSURED = pyaeron.BACK_PRESSURED
_ADMIN_ACTION = pyaeron.ADMIN_ACTION


def offer(pub: _Offerable, data: bytes | bytearray | memoryview, retries: int = 256) -> int:
    """Offer ``data`` once, retrying up to ``retries`` times while back-pressured.

    Returns an :class:`OfferOutcome` code; raises ``pyaeron.PublicationClosed`` when closed.
    """
    r = pub.offer(data)
    if r is True:
        return OfferOutcome.SENT
    while r is _BACK_PRESSURED or r is _ADMIN_ACTION:
        if retries <= 0:
            return OfferOutcome.BACK_PRESSURED
        retries -= 1
        r = pub.offer(data)
        if r is True:
            return OfferOutcome.SENT
    return OfferOutcome.NOT_CONNECTED


def response_stream(gateway: Any, role: int, principal_id: int) -> int:
    """Stream on which the gateway answers principal ``principal_id`` of ``role``.

    Clients: ``response_stream_base + id``; operators: ``operator_stream + id``. Id 0 is the
    *logon stream* of the role: logon rejects for ids the gateway does not know go there.
    """
    base = gateway.response_stream_base if role == Role.CLIENT else gateway.operator_stream
    return int(base) + int(principal_id)
