"""The portal's blotter rows kept across desk restarts (docs/web.md, "Blotters survive a restart").

Each row the portal's :class:`~rfqcore.web.portal.Blotter` takes (an RFQ answer, quote, fill,
reject or quote end of a client, from whatever gateway) is written to an SQLite file, by
default ``portal-blotter.sqlite`` in the journal directory: the file lives and dies with the
journal whose quote, trade and request ids its rows carry (a desk without a journal starts its
ids again, so it keeps no blotter file). At start the portal reads each of its clients' last
``max_rows`` rows back, in the order they were taken, and deletes the older ones.

Writes never hold up the engine's output pump: :meth:`BlotterStore.put` only queues the row;
a thread of its own commits what is queued in one transaction at a time. :meth:`close` (the
desk's stop, after the core drained its outputs) writes what is still queued.
"""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
from pathlib import Path
from typing import Any

import orjson

__all__ = ["BlotterStore"]

log = logging.getLogger("rfqcore.web.blotter_store")

_STOP = object()


class BlotterStore:
    """Blotter rows per client in the SQLite file ``path`` (table ``portal_blotter``): ``client``
    (the core's client id), ``kind`` and ``id`` (the row's idempotency key: a row is stored once),
    ``row`` (its JSON, as ``/api/blotter`` gives it)."""

    def __init__(self, path: str) -> None:
        self.path = path
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=5.0)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS portal_blotter ("
            " n INTEGER PRIMARY KEY AUTOINCREMENT,"  # the order rows were taken in
            " client INTEGER NOT NULL,"
            " kind TEXT NOT NULL,"
            " id TEXT NOT NULL,"  # decimal digits: ids may exceed SQLite's signed 64 bits
            " row TEXT NOT NULL,"
            " UNIQUE (client, kind, id))")
        self._lock = threading.Lock()  # the connection: one user at a time
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.written = 0  # rows committed (duplicates included)
        self.errors = 0  # commits that failed (logged; their rows are lost to the file, not to the view)
        self._thread = threading.Thread(target=self._run, name="rfqcore-blotter-store", daemon=True)
        self._thread.start()

    def load(self, client: int, max_rows: int) -> list[tuple[tuple[str, int], dict[str, Any]]]:
        """The last ``max_rows`` rows of ``client``, oldest first, as ``((kind, id), row)``; older
        rows of it are deleted. Call before rows of it are put."""
        with self._lock:
            rows = list(self._db.execute(
                "SELECT n, kind, id, row FROM portal_blotter WHERE client = ? ORDER BY n DESC LIMIT ?",
                (client, max_rows)))
            if len(rows) == max_rows:
                self._db.execute("DELETE FROM portal_blotter WHERE client = ? AND n < ?", (client, rows[-1][0]))
        return [((kind, int(id_)), orjson.loads(row)) for _n, kind, id_, row in reversed(rows)]

    def put(self, client: int, key: tuple[str, int], row: dict[str, Any]) -> None:
        """Queue ``row`` of ``client`` for writing (from any thread; never blocks). The row is
        encoded on the writer's thread, not here on the output pump: it must not change after."""
        self._queue.put((client, key[0], key[1], row))

    def _run(self) -> None:
        while True:
            batch, control = [], self._queue.get()
            while isinstance(control, tuple):  # rows: take all that are queued, up to a control item
                batch.append(control)
                try:
                    control = self._queue.get_nowait()
                except queue.Empty:
                    control = None
            if batch:
                self._write(batch)
            if isinstance(control, _Marker):
                control.done.set()
            elif control is _STOP:
                return

    def _write(self, batch: list[tuple[int, str, int, dict[str, Any]]]) -> None:
        try:
            with self._lock, self._db:  # one transaction
                self._db.execute("BEGIN")
                self._db.executemany("INSERT OR IGNORE INTO portal_blotter (client, kind, id, row) "
                                     "VALUES (?, ?, ?, ?)",
                                     [(c, kind, str(id_), orjson.dumps(row).decode()) for c, kind, id_, row in batch])
            self.written += len(batch)
        except (sqlite3.Error, orjson.JSONEncodeError):
            self.errors += 1
            log.exception("portal blotter: cannot write %d rows to %s", len(batch), self.path)

    def flush(self, timeout: float = 10.0) -> None:
        """Wait until every row queued so far is written."""
        done = threading.Event()
        self._queue.put(_Marker(done))
        done.wait(timeout)

    def close(self) -> None:
        """Write what is queued, then close the file. Idempotent."""
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join(30)
        try:
            with self._lock:
                self._db.close()
        except sqlite3.Error:  # pragma: no cover - closing anyway
            pass


class _Marker:
    """A place in the queue: set when the writer reaches it."""

    def __init__(self, done: threading.Event) -> None:
        self.done = done
