"""Book seeds for the simulated venues, built from the recorded venue data.

:func:`load_book_seed` returns the L2 book of one recorded stream at a chosen point: the REST
snapshot plus the depth diffs that follow it, applied exactly. The Binance synchronisation
(buffer, drop ``u <= lastUpdateId``, bracket, continuity) is not re-implemented here: the
recorded lines go through :class:`rfqcore.handlers.binance.BinanceHandler` and the seed applies
the records it emits (``BOOK_CLEAR``, ``BOOK_LEVEL``; a ``BOOK_STALE`` is an error, the
recorded streams are gap-free).

Sources: the venues ``binance-spot``, ``binance-usdm`` and ``binance-coinm``; the files of each
(symbol) stream are the recorded set the replay uses (:func:`rfqcore.replay.recorded_files`:
BTC and ETH, F1 format, see ``../shared/data/README.md``).

:func:`open_book_replay` returns the same seed plus a lazy iterator over the recorded diffs that
follow it (:class:`RecordedDiff`, read on by the same reader), which the simulators replay
(``SimConfig.replay_speed``).

The data directory is ``data_dir``, else the project's default
(:func:`rfqcore.replay.default_data_root`: ``$RFQCORE_DATA``, else the repository's
``../shared/data``); :class:`SeedDataMissing` names what was looked for.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Final

from rfqcore.handlers.binance import BINANCE_VENUES, BinanceHandler
from rfqcore.instruments import Registry
from rfqcore.records import Flag, Kind, Side
from rfqcore.replay import default_data_root, read_f1, recorded_files

__all__ = ["BookSeed", "RecordedDiff", "SeedDataMissing", "SeedError", "load_book_seed", "open_book_replay",
           "resolve_data_dir", "seed_files", "DEFAULT_DIFFS"]

#: Diffs applied after the snapshot when ``at_index`` is not given (a fixed early point).
DEFAULT_DIFFS: Final = 2000

_CLEAR: Final = int(Kind.BOOK_CLEAR)
_LEVEL: Final = int(Kind.BOOK_LEVEL)
_HEARTBEAT: Final = int(Kind.HEARTBEAT)
_STALE: Final = int(Kind.BOOK_STALE)
_END: Final = int(Flag.END)
_SNAP: Final = int(Flag.SNAPSHOT)
_BID: Final = int(Side.BID)

Level = tuple[Decimal, Decimal]


class SeedError(ValueError):
    """The recorded data cannot give the requested seed (unknown source, too few diffs, a gap)."""


class SeedDataMissing(SeedError, FileNotFoundError):
    """The recorded data directory or a file of the requested stream is absent."""


@dataclass(frozen=True, slots=True)
class BookSeed:
    """An exact L2 book: bids best (highest) first, asks best (lowest) first.

    ``update_id`` is the venue update id the book is current to (the last applied diff's ``u``,
    or the snapshot's ``lastUpdateId`` when ``at_index == 0``); ``ts_ns`` its event time (for a
    snapshot without one, spot's, the recorder's receive time).
    """

    symbol: str
    bids: list[Level]
    asks: list[Level]
    update_id: int
    ts_ns: int
    source: str


def resolve_data_dir(data_dir: Path | None = None) -> Path:
    """The shared data directory (see the module doc); raises :class:`SeedDataMissing`."""
    base = Path(data_dir) if data_dir is not None else default_data_root()
    if not base.is_dir():
        raise SeedDataMissing(f"recorded data directory {base} not found (set $RFQCORE_DATA or put the "
                              "shared data at ../shared/data beside the repository)")
    return base


def seed_files(source: str, symbol: str, *, data_dir: Path | None = None) -> list[Path]:
    """The recorded files of one stream, in order (the first holds the REST snapshot)."""
    if source not in BINANCE_VENUES:
        raise SeedError(f"unknown seed source {source!r}; known: {', '.join(BINANCE_VENUES)}")
    paths = recorded_files(source, symbol, resolve_data_dir(data_dir))
    if not paths or not paths[0].is_file():
        raise SeedDataMissing(f"no recorded {source} data for {symbol}"
                              + (f": {paths[0]} not found" if paths else " in the recorded set"))
    return [p for p in paths if p.is_file()]



def _dec(units: int, decimals: int) -> Decimal:
    return Decimal(units).scaleb(-decimals)


@dataclass(frozen=True, slots=True)
class RecordedDiff:
    """One recorded depth change after the seed, as the Binance procedure applied it.

    ``index``: diffs applied after the snapshot so far, this one included (the seed's
    ``at_index`` + 1 for the first one that follows it). ``update_id`` is its ``u`` (``first_id``
    its ``U``), ``ts_ns`` its event time ``E`` (the recorder's receive time when there is none),
    ``recv_ns`` the recorder's receive time. ``bids``/``asks``: the changed levels with their new
    quantity (0 = removed), in the order the diff lists them. ``snapshot``: a re-synchronisation
    (a new REST snapshot in the recording): the levels are then the whole book, and every other
    level is gone; ``index`` restarts at 0 as it does for :func:`load_book_seed`.
    """

    index: int
    update_id: int
    first_id: int
    ts_ns: int
    recv_ns: int
    bids: list[Level]
    asks: list[Level]
    snapshot: bool = False


# one applied group of handler records: (snapshot?, u, U, event ns, receive ns, bid units, ask units)
_Group = tuple[bool, int, int, int, int, list[tuple[int, int]], list[tuple[int, int]]]


def _groups(files: list[Path], handler: BinanceHandler) -> Iterator[_Group]:
    """The depth records ``handler`` emits for ``files``, one group per applied snapshot or
    diff (a group ends with the record flagged ``END``). The only reader of the recorded files."""
    bids: list[tuple[int, int]] = []
    asks: list[tuple[int, int]] = []
    snap: tuple[int, int] | None = None  # (lastUpdateId, ns) of a snapshot being emitted
    for path in files:
        for ts, raw in read_f1(path):
            if b"@depth" not in raw[:64] and b"lastUpdateId" not in raw[:32]:
                continue  # trades, bookTicker
            n = handler.on_message(ts, raw)
            out = handler.out
            for rec in out[:n].tolist():
                kind, flags = rec[0], rec[3]
                if kind == _CLEAR:
                    bids, asks = [], []
                    snap = (rec[5], rec[6] or rec[7])  # spot snapshots carry no E
                elif kind == _LEVEL:
                    (bids if rec[2] == _BID else asks).append((rec[8], rec[9]))
                elif kind == _STALE:
                    raise SeedError(f"{path}: the recorded depth stream lost sync at u={rec[5]}")
                if not flags & _END:
                    continue
                if snap is not None and (flags & _SNAP or kind == _CLEAR):
                    yield True, snap[0], snap[0], snap[1], rec[7], bids, asks
                    snap = None
                elif kind in (_LEVEL, _HEARTBEAT) and not flags & _SNAP:
                    yield False, rec[5], rec[10], rec[6], rec[7], bids, asks
                else:
                    continue
                bids, asks = [], []


def open_book_replay(source: str, symbol: str, *, data_dir: Path | None = None,
                     at_index: int | None = None) -> tuple[BookSeed, Generator[RecordedDiff, None, None]]:
    """:func:`load_book_seed` plus an iterator over the recorded diffs that follow the seed, read
    on from the same place in the same files (lazily; it ends with the recording)."""
    want = DEFAULT_DIFFS if at_index is None else at_index
    if want < 0:
        raise SeedError(f"at_index must be >= 0, got {want}")
    files = seed_files(source, symbol, data_dir=data_dir)
    assert source in BINANCE_VENUES
    registry = Registry.load()
    ins = registry.get(source, symbol)
    if ins is None:
        raise SeedError(f"{source}:{symbol} is not in the instrument registry ({registry.source})")
    handler = BinanceHandler(registry, source, [symbol])
    pd, qd = ins.price_decimals, ins.qty_decimals
    book: tuple[dict[int, int], dict[int, int]] = ({}, {})
    applied = -1  # -1: no snapshot yet
    update_id = ts_ns = 0
    groups = _groups(files, handler)
    done = False
    for snapshot, u, _first, ts, _recv, bids, asks in groups:
        if snapshot:
            book[0].clear()
            book[1].clear()
            applied = 0
        elif applied >= 0:
            applied += 1
        for side, levels in ((book[0], bids), (book[1], asks)):
            for p, q in levels:
                if q:
                    side[p] = q
                else:
                    side.pop(p, None)
        update_id, ts_ns = u, ts
        if applied == want:
            done = True
            break
    if not done:
        raise SeedError(f"{source}:{symbol}: the recorded stream has {max(applied, 0)} diffs after the "
                        f"snapshot, fewer than at_index={want}")
    seed = BookSeed(symbol,
                    [(_dec(p, pd), _dec(q, qd)) for p, q in sorted(book[0].items(), reverse=True)],
                    [(_dec(p, pd), _dec(q, qd)) for p, q in sorted(book[1].items())],
                    update_id, ts_ns, source)

    def following(index: int) -> Generator[RecordedDiff, None, None]:
        for snapshot, u, first, ts, recv, bids, asks in groups:
            index = 0 if snapshot else index + 1
            yield RecordedDiff(index, u, first, ts, recv, [(_dec(p, pd), _dec(q, qd)) for p, q in bids],
                               [(_dec(p, pd), _dec(q, qd)) for p, q in asks], snapshot)

    return seed, following(want)


def load_book_seed(source: str, symbol: str, *, data_dir: Path | None = None,
                   at_index: int | None = None) -> BookSeed:
    """The recorded book of ``symbol`` after the snapshot and ``at_index`` diffs (default
    :data:`DEFAULT_DIFFS`) — the diffs the Binance procedure applies, counted from the first
    one that brackets the snapshot. Raises :class:`SeedError` if the stream ends earlier."""
    seed, rest = open_book_replay(source, symbol, data_dir=data_dir, at_index=at_index)
    rest.close()
    return seed
