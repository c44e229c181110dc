"""Book seeds for the simulated venues, built from the recorded venue data.

:func:`load_book_seed` returns the L2 book of one recorded stream at a chosen point: the REST
snapshot plus the depth diffs that follow it, applied exactly. The Binance synchronisation
(buffer, drop ``u <= lastUpdateId``, bracket, continuity) is not re-implemented here: the
recorded lines go through :class:`rfqcore.handlers.binance.BinanceHandler` and the seed applies
the records it emits (``BOOK_CLEAR``, ``BOOK_LEVEL``; a ``BOOK_STALE`` is an error, the
recorded streams are gap-free).

Sources (files under the shared data directory, see ``../shared/data/README.md``):

=================  ====================================================================
``binance-spot``   ``binance/spot/<sym>_20240808.gz`` then ``_20240809.gz`` (F1)
``binance-usdm``   ``binance/usdm_futures/<sym>_20240808.gz`` (F1)
``binance-coinm``  ``binance/coinm_futures/<sym>_20240808.gz`` then ``_20240809.gz`` (F1)
=================  ====================================================================

The data directory is ``data_dir``, else ``$RFQCORE_DATA_DIR``, else ``$RFQCORE_DATA``, else
the repository's ``../shared/data``; :class:`SeedDataMissing` names what was looked for.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Final

from rfqcore.handlers.binance import BINANCE_VENUES, BinanceHandler
from rfqcore.instruments import Registry
from rfqcore.records import Flag, Kind, Side
from rfqcore.replay import default_data_root, read_f1

__all__ = ["BookSeed", "SeedDataMissing", "SeedError", "load_book_seed", "resolve_data_dir", "seed_files",
           "DEFAULT_DIFFS", "SOURCES"]

#: Diffs applied after the snapshot when ``at_index`` is not given (a fixed early point).
DEFAULT_DIFFS: Final = 2000

SOURCES: Final = {
    "binance-spot": ("spot", ("20240808", "20240809")),
    "binance-usdm": ("usdm_futures", ("20240808",)),
    "binance-coinm": ("coinm_futures", ("20240808", "20240809")),
}

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
    if data_dir is not None:
        base = Path(data_dir)
    elif os.environ.get("RFQCORE_DATA_DIR"):
        base = Path(os.environ["RFQCORE_DATA_DIR"])
    else:
        base = default_data_root()  # $RFQCORE_DATA or <repo>/../shared/data
    if not base.is_dir():
        raise SeedDataMissing(f"recorded data directory {base} not found (set $RFQCORE_DATA_DIR or put the "
                              "shared data at ../shared/data beside the repository)")
    return base


def seed_files(source: str, symbol: str, *, data_dir: Path | None = None) -> list[Path]:
    """The recorded files of one stream, in order (the first holds the REST snapshot)."""
    if source not in SOURCES:
        raise SeedError(f"unknown seed source {source!r}; known: {', '.join(SOURCES)}")
    sub, days = SOURCES[source]
    base = resolve_data_dir(data_dir) / "binance" / sub
    paths = [base / f"{symbol.lower()}_{day}.gz" for day in days]
    if not paths[0].is_file():
        raise SeedDataMissing(f"no recorded {source} data for {symbol}: {paths[0]} not found")
    return [p for p in paths if p.is_file()]



def _dec(units: int, decimals: int) -> Decimal:
    return Decimal(units).scaleb(-decimals)


def load_book_seed(source: str, symbol: str, *, data_dir: Path | None = None,
                   at_index: int | None = None) -> BookSeed:
    """The recorded book of ``symbol`` after the snapshot and ``at_index`` diffs (default
    :data:`DEFAULT_DIFFS`) — the diffs the Binance procedure applies, counted from the first
    one that brackets the snapshot. Raises :class:`SeedError` if the stream ends earlier."""
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
    done = False
    for path in files:
        for ts, raw in read_f1(path):
            if b"@depth" not in raw[:64] and b"lastUpdateId" not in raw[:32]:
                continue  # trades, bookTicker
            n = handler.on_message(ts, raw)
            out = handler.out
            for rec in out[:n].tolist():
                kind, flags = rec[0], rec[3]
                if kind == _CLEAR:
                    book[0].clear()
                    book[1].clear()
                    applied = 0
                    update_id, ts_ns = rec[5], rec[6] or rec[7]  # spot snapshots carry no E
                elif kind == _LEVEL:
                    side = book[0 if rec[2] == _BID else 1]
                    if rec[9]:
                        side[rec[8]] = rec[9]
                    else:
                        side.pop(rec[8], None)
                elif kind == _STALE:
                    raise SeedError(f"{path}: the recorded depth stream lost sync at u={rec[5]}")
                if flags & _END and not flags & _SNAP and kind in (_LEVEL, _HEARTBEAT):
                    applied += 1
                    update_id, ts_ns = rec[5], rec[6]
                if applied == want and flags & _END:
                    done = True
                    break
            if done:
                break
        if done:
            break
    if not done:
        raise SeedError(f"{source}:{symbol}: the recorded stream has {max(applied, 0)} diffs after the "
                        f"snapshot, fewer than at_index={want}")
    bids = [(_dec(p, pd), _dec(q, qd)) for p, q in sorted(book[0].items(), reverse=True)]
    asks = [(_dec(p, pd), _dec(q, qd)) for p, q in sorted(book[1].items())]
    return BookSeed(symbol, bids, asks, update_id, ts_ns, source)
