"""FIX 4.4 RFQ gateway (docs/fix.md): what needs no FIX engine — the reason-code tables, errors,
timestamps. :mod:`rfqcore.fix.acceptor` is the acceptor itself (it needs ``quickfix-py``: the
``fix`` extra); :func:`start_acceptor` imports it and says in one line when it is missing.
"""

from __future__ import annotations

import calendar
import os
import select
import signal
import socket
import stat
import sys
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from rfqcore.records import RfqReject
from rfqcore.units import from_units

if TYPE_CHECKING:
    from rfqcore.engine import Engine
    from rfqcore.fix.acceptor import FixGateway
    from rfqcore.rfqconfig import RfqSettings

__all__ = ["FixUnavailable", "QUOTE_REQUEST_REJECT_REASON", "ORD_REJ_REASON", "DESK_COMP_ID", "BEGIN_STRING",
           "data_dictionary", "fix_time", "parse_fix_time", "quote_request_reject_reason", "ord_rej_reason",
           "start_acceptor", "PollDriver", "socket_fds", "keep_python_sigint"]

#: the desk's CompID (SenderCompID of what the desk sends, TargetCompID of what clients send)
DESK_COMP_ID = "RFQCORE"
BEGIN_STRING = "FIX.4.4"

# QuoteRequestRejectReason (658) of each core reject code; every other code is 99 (Other).
# The Text (58) always carries the core's reject name.
QUOTE_REQUEST_REJECT_REASON: dict[RfqReject, int] = {
    RfqReject.UNKNOWN_INSTRUMENT: 1,  # Unknown symbol
    RfqReject.KILL_SWITCH: 2, RfqReject.HALTED: 2, RfqReject.RESTRICTED: 2,  # Exchange (security) closed
    RfqReject.ABOVE_MAX_SIZE: 3, RfqReject.BELOW_MIN_SIZE: 3, RfqReject.ABOVE_MAX_NOTIONAL: 3,
    RfqReject.EXCEEDS_LIMIT: 3, RfqReject.INSUFFICIENT_CREDIT: 3, RfqReject.POSITION_LIMIT: 3,
    RfqReject.MAX_OPEN_QUOTES: 3,  # Quote request exceeds limit
    RfqReject.TOO_LATE: 4, RfqReject.APPROVAL_TIMEOUT: 4,  # Too late to enter
    RfqReject.BAD_LIMIT: 5, RfqReject.PRICE_COLLAR: 5,  # Invalid price
    RfqReject.NOT_AUTHORISED: 6, RfqReject.UNKNOWN_CLIENT: 6,  # Not authorized to request quote
    RfqReject.NO_MARKET: 8, RfqReject.STALE_MARKET: 8, RfqReject.CROSSED_MARKET: 8,
    RfqReject.HEDGE_UNAVAILABLE: 8,  # No market for instrument
    RfqReject.APPROVAL_DECLINED: 10,  # Pass
}

# OrdRejReason (103) of an ExecutionReport reject; every other code is 99 (Other).
ORD_REJ_REASON: dict[RfqReject, int] = {
    RfqReject.UNKNOWN_INSTRUMENT: 1,  # Unknown symbol
    RfqReject.KILL_SWITCH: 2, RfqReject.HALTED: 2, RfqReject.RESTRICTED: 2,  # Exchange closed
    RfqReject.INSUFFICIENT_CREDIT: 3, RfqReject.POSITION_LIMIT: 3, RfqReject.THROTTLED: 3,  # Order exceeds limit
    RfqReject.TOO_LATE: 4,  # Too late to enter
    RfqReject.UNKNOWN_QUOTE: 5,  # Unknown order (the quote)
    RfqReject.DUPLICATE_ID: 6,  # Duplicate order
    RfqReject.QUOTE_NOT_LIVE: 8,  # Stale order
    RfqReject.SIZE_MISMATCH: 13, RfqReject.BAD_SIZE: 13,  # Incorrect quantity
}


def keep_python_sigint() -> None:
    """Call right after importing ``quickfix``: loading its C++ library sets SIGINT back to the
    default action behind Python's back (Python still reports its own handler), so Ctrl-C killed
    a desk serving FIX outright (no stop in order, its /dev/shm files left behind). Installing
    the current Python handler again restores it (only the main thread can: elsewhere a no-op)."""
    if threading.current_thread() is threading.main_thread():
        handler = signal.getsignal(signal.SIGINT)
        if handler is not None:
            signal.signal(signal.SIGINT, handler)


class FixUnavailable(Exception):
    """The FIX acceptor cannot start (port in use, data dictionary missing): one line."""


def data_dictionary() -> str:
    """Path of the FIX 4.4 data dictionary that ``quickfix-py`` installs (``share/quickfix``)."""
    import quickfix

    keep_python_sigint()
    site = os.path.dirname(quickfix.__file__)  # .../lib/python3.X/site-packages
    for root in (sys.prefix, sys.base_prefix, os.path.dirname(os.path.dirname(os.path.dirname(site)))):
        path = os.path.join(root, "share", "quickfix", "FIX44.xml")
        if os.path.isfile(path):
            return path
    raise FixUnavailable("the FIX 4.4 data dictionary (share/quickfix/FIX44.xml) is not installed: "
                         "reinstall quickfix-py (pip install 'rfqcore[fix]')")


def fix_time(ns: int) -> str:
    """UTCTimestamp (milliseconds, truncated) of a wall-clock time in ns."""
    secs, rem = divmod(ns, 10**9)
    return time.strftime("%Y%m%d-%H:%M:%S", time.gmtime(secs)) + f".{rem // 10**6:03d}"


def parse_fix_time(text: str) -> int:
    """Wall-clock ns of a UTCTimestamp (``YYYYMMDD-HH:MM:SS[.fff...]``); ``ValueError`` if malformed."""
    main, _, frac = text.partition(".")
    secs = calendar.timegm(time.strptime(main, "%Y%m%d-%H:%M:%S"))
    if frac and (not frac.isdigit() or len(frac) > 9):
        raise ValueError(f"{text!r} is not a UTCTimestamp")
    return secs * 10**9 + (int(frac.ljust(9, "0")) if frac else 0)


def decimal_text(units: int, decimals: int) -> str:
    """Exact FIX decimal string of ``units`` at ``decimals`` (no exponent)."""
    return format(from_units(units, decimals), "f")


def quote_request_reject_reason(code: int) -> int:
    try:
        return QUOTE_REQUEST_REJECT_REASON.get(RfqReject(code), 99)
    except ValueError:
        return 99


def ord_rej_reason(code: int) -> int:
    try:
        return ORD_REJ_REASON.get(RfqReject(code), 99)
    except ValueError:
        return 99


def start_acceptor(engine: Engine, settings: RfqSettings, *, port: int | None = None, store_dir: str | None = None,
                   host: str | None = None, heartbeat_s: int | None = None,
                   tls: tuple[str, str] | None = None, history: list[Any] | None = None) -> FixGateway:
    """Start a :class:`rfqcore.fix.acceptor.FixGateway` on ``settings.fix`` (``[fix]``; what is
    given here overrides it); :class:`FixUnavailable` (one line) when ``quickfix-py`` is not
    installed, the port is in use or the TLS certificate or key (``tls``: PEM files) cannot be read.
    ``history``: decoded events whose executions of this store's orders are answered again to a
    resent order (:meth:`FixGateway.seed`; a new cluster leader's committed client answers)."""
    try:
        from rfqcore.fix.acceptor import FixGateway
    except ImportError as e:
        raise FixUnavailable(f"the FIX gateway needs the QuickFIX engine ({e}): pip install 'rfqcore[fix]' "
                             f"(quickfix-py)") from None
    gw = FixGateway(engine, settings, port=port, store_dir=store_dir, host=host, heartbeat_s=heartbeat_s, tls=tls)
    if history:
        gw.seed(history)
    return gw.start()


def socket_fds(match: Callable[[socket.socket], bool] | None = None) -> set[int]:
    """This process's socket file descriptors (Linux: ``/proc/self/fd``); with ``match``, those
    whose socket it accepts (it gets a ``socket.socket`` over the descriptor, not a copy). Empty
    where ``/proc`` is missing."""
    out: set[int] = set()
    try:
        names = os.listdir("/proc/self/fd")
    except OSError:
        return out
    for name in names:
        fd = int(name)
        try:
            if not stat.S_ISSOCK(os.fstat(fd).st_mode):
                continue
            if match is None:
                out.add(fd)
                continue
            sock = socket.socket(fileno=fd)
        except OSError:
            continue  # closed meanwhile
        try:
            if match(sock):
                out.add(fd)
        except OSError:
            pass
        finally:
            sock.detach()
    return out


class PollDriver:
    """Runs a QuickFIX acceptor or initiator (``engine``) on a thread of its own through its
    non-blocking ``poll()``, so that starting, every callback and stopping happen on that one
    thread, and waits between polls in ``select`` on QuickFIX's own sockets (GIL released): a
    message in wakes the thread at once, and nothing runs while nothing comes.

    QuickFIX's sockets: ``ours(sock)`` picks the connections (the acceptor: those on its port;
    the initiator: those to the desk's port), found again when a session logs on or out
    (:meth:`rescan`), every second, and when ``select`` keeps answering without QuickFIX
    taking what it reports (a descriptor closed and reused elsewhere); plus the sockets the
    first ``poll()`` opened (the listening socket, and the socket pair QuickFIX writes to when
    a send from another thread — the engine's output pump — could not finish at once). Without
    ``/proc`` (not Linux) it falls back to a poll every ``idle_s``.

    Why not QuickFIX's own ``start()``/``stop()`` or ``block()``: in the ``quickfix-py`` build,
    ``stop()`` from another thread closes the socket server while QuickFIX's thread closes it
    too, and the process crashed (use after free in ``SocketServer::close``, seen in gdb) in
    about one stop of three; ``block()`` leaves no way to stop but that ``stop()``.

    ``poll`` is the engine's C-level poll (``functools.partial(_quickfix.Acceptor_poll, acceptor)``),
    not a Python method: QuickFIX keeps the Python frames under an exception a callback raised
    (``RejectLogon``) alive for ever, and a Python frame of ``poll`` would keep the acceptor (and
    its sessions, which a restarted acceptor registers again) alive with them. This thread's own
    frame keeps only this object, which lets go of the engine when it stops.
    """

    def __init__(self, engine: Any, poll: Callable[[], Any], name: str, *,
                 ours: Callable[[socket.socket], bool] | None = None, idle_s: float = 0.05) -> None:
        self.engine, self.name = engine, name
        self._poll: Callable[[], Any] | None = poll
        self._ours = ours
        self.idle_s = idle_s
        self._stop = threading.Event()
        self._logout: Callable[[], None] | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        self._rescan = True
        self._static: set[int] = set()
        self._wake_r, self._wake_w = os.pipe()
        #: wake-ups of the thread (select returned) and rescans of the socket set, for the curious
        self.wakeups = 0
        self.rescans = 0
        self.timeouts = 0

    def rescan(self) -> None:
        """Find QuickFIX's sockets again before the next wait (a session came or went)."""
        self._rescan = True

    def start(self) -> None:
        """Start the thread; its first poll (which binds or connects) raises here if it fails."""
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            self._thread.join()
            err, self._error = self._error, None
            self._close_pipe()
            raise err

    def _sockets(self) -> tuple[list[int], set[int]]:
        """The descriptors to wait on, and those of them that listen (a new connection there:
        find the sockets again after the poll that accepts it)."""
        self.rescans += 1
        found = socket_fds(self._ours) if self._ours is not None else set()
        self._static &= socket_fds()  # closed since: forget them
        fds = found | self._static
        return sorted(fds | {self._wake_r}), socket_fds(lambda s: s.fileno() in fds and bool(
            s.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)))

    def _run(self) -> None:
        assert self._poll is not None
        before = socket_fds() if self._ours is not None else set()
        try:
            self._poll()
        except BaseException as e:  # noqa: BLE001 - handed to start()
            self._error = e
            self._ready.set()
            self.engine = self._poll = None
            return
        if self._ours is not None:
            self._static = socket_fds() - before
        self._ready.set()
        waits = self._ours is not None and bool(self._static)
        fds: list[int] = []
        listening: set[int] = set()
        next_scan = 0.0
        busy = 0
        while not self._stop.is_set():
            self._poll()
            if not waits:
                time.sleep(self.idle_s / 50)  # no /proc: a timed poll
                continue
            now = time.monotonic()
            if self._rescan or now >= next_scan or busy > 100:
                self._rescan, busy = False, 0
                fds, listening = self._sockets()
                next_scan = now + 1.0
            try:
                ready, _, _ = select.select(fds, [], [], self.idle_s)
            except (OSError, ValueError):  # a descriptor closed meanwhile
                self._rescan = True
                continue
            if ready:
                self.wakeups += 1
                busy += 1
                if listening.intersection(ready):
                    self._rescan = True
            else:
                busy = 0
                self.timeouts += 1
            if self._wake_r in ready:
                os.read(self._wake_r, 4096)
            if ready and self._static.intersection(ready):
                # QuickFIX's wake-up socket: a send from another thread that did not finish at
                # once. The poll that reads it only marks the connection for writing; the next
                # one writes: poll twice, or the rest would wait for the next event (up to idle_s)
                self._poll()
        if self._logout is not None:  # log the sessions out and let the answers come in
            self._logout()
            self._logout = None
            deadline = time.monotonic() + 2.0
            while self.engine.isLoggedOn() and time.monotonic() < deadline:
                self._poll()
                time.sleep(0.0005)
        self.engine.stop(True)
        self.engine = self._poll = None

    def _close_pipe(self) -> None:
        for fd in (self._wake_r, self._wake_w):
            try:
                os.close(fd)
            except OSError:
                pass

    def stop(self, logout: Callable[[], None] | None = None) -> None:
        """Call ``logout`` on the thread, poll until the sessions are out (at most 2 s), stop."""
        self._logout = logout
        self._stop.set()
        os.write(self._wake_w, b"x")
        if self._thread is not None:
            self._thread.join()
            self._thread = None
            self._close_pipe()
