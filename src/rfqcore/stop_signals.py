"""SIGINT and SIGTERM as a request to stop, for processes that shut down in order.

Python turns SIGINT into ``KeyboardInterrupt`` wherever the main thread happens to be, and
SIGTERM (what systemd and Docker send) kills the process outright: no ``finally`` runs, rings
and the Aeron directory stay in ``/dev/shm``. Inside ``with StopSignals() as stop:`` both only set
``stop.event``; the process notices, stops its parts in order and exits 0. A signal that
arrives while it is already stopping changes nothing.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any

__all__ = ["StopSignals", "Stopped", "start_shielded"]


class Stopped(Exception):
    """Raised by :meth:`StopSignals.check` once a stop signal arrived: for a program that waits
    in several places (the demos) to leave them all the same way and unwind in order."""

    def __init__(self, received: signal.Signals | None) -> None:
        self.received = received
        super().__init__(received.name if received is not None else "stopped")


class StopSignals:
    """Context manager: while active, SIGINT / SIGTERM set :attr:`event` (and :attr:`received`)."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.event = threading.Event()
        #: the first signal received (``signal.Signals``), or None
        self.received: signal.Signals | None = None
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.received is None:
            self.received = signal.Signals(signum)
        self.event.set()

    def wait(self, timeout: float | None) -> bool:
        """Wait up to ``timeout`` seconds for a stop signal; True once one arrived."""
        return self.event.wait(timeout)

    def check(self) -> None:
        """Raise :class:`Stopped` if a stop signal arrived."""
        if self.event.is_set():
            raise Stopped(self.received)

    def __enter__(self) -> StopSignals:
        for s in self.SIGNALS:
            self._previous[s] = signal.signal(s, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for s, h in self._previous.items():
            signal.signal(s, h)
        self._previous.clear()


def start_shielded(process: Any) -> None:
    """``process.start()`` (a ``multiprocessing`` child) with SIGINT blocked in the child from
    its first instruction. Ctrl-C reaches the whole process group; a spawned child still
    importing would die of it with a ``KeyboardInterrupt`` traceback before it could install a
    handler. The desk process owns the shutdown and stops its children in order, so they never
    need SIGINT (SIGTERM still works). The child inherits the blocked mask across exec; in this
    process SIGINT is only deferred while the child starts (a Ctrl-C meanwhile is delivered
    right after), never lost.

    multiprocessing's resource tracker is started first, outside the shield: CPython starts it
    on the first spawned child with SIGINT and SIGTERM blocked and then *unblocks* them (not
    restores them), which would undo the shield for this very child."""
    from multiprocessing import resource_tracker

    resource_tracker.ensure_running()
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        process.start()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)
