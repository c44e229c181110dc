"""The venue handler interface: raw venue message in, input records out.

A handler turns one raw message into records in its reusable buffer ``handler.out`` and
returns how many it wrote (``handler.out[:n]``). Contract shared by every handler:

* the last record of each venue message carries ``Flag.END`` (one call may emit several
  messages' worth of records, e.g. a snapshot followed by the diffs buffered before it);
* a refused message raises a specific :class:`~rfqcore.errors.DecodeError` after changing **no**
  handler state (the message is decoded and validated in full before anything is committed);
  the buffer content is then undefined;
* nothing is dropped silently: every message that yields no records is counted in
  :class:`HandlerStats`;
* ``handler.out`` may be replaced by a larger array when a message needs more room, so read the
  attribute after each call instead of keeping a reference across calls.
"""

from __future__ import annotations

import heapq
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any, Generic, Protocol, TypeVar

import numpy as np
import numpy.typing as npt
import orjson

from rfqcore._decode import InstrumentCodec
from rfqcore.errors import DecodeError, MalformedMessage, UnknownInstrument
from rfqcore.instruments import Instrument, Registry
from rfqcore.records import RECORD_DTYPE

__all__ = ["Handler", "HandlerStats", "BookHandler", "SizeBookHandler", "VenueBook", "SizeBook",
           "RecordArray", "load_json", "codec_for", "ms_to_ns"]

RecordArray = npt.NDArray[np.void]
NS_PER_MS = 1_000_000


@dataclass(slots=True)
class HandlerStats:
    """Counters of one handler (monotonic, never reset by the handler)."""

    messages: int = 0           # raw messages accepted (decoded without error)
    records: int = 0            # records emitted
    rejects: int = 0            # messages refused with a DecodeError
    snapshots: int = 0          # book snapshots applied
    resyncs: int = 0            # snapshots applied after a loss of sync
    gaps: int = 0               # sync losses (sequence gap, bad bracket, checksum mismatch)
    checksum_failures: int = 0  # subset of gaps caused by a checksum mismatch
    buffered: int = 0           # diffs buffered while awaiting a snapshot (total)
    dropped_before_snapshot: int = 0  # buffered/received diffs older than the snapshot id
    dropped_while_stale: int = 0      # updates that cannot be buffered while awaiting a snapshot
    buffer_overflows: int = 0   # buffered diffs discarded because the buffer was full
    control: int = 0            # venue control/ack messages (subscribe acks, ...), no records

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def load_json(raw: bytes | str, where: str) -> Any:
    """``orjson.loads`` with a ``MalformedMessage`` (naming ``where``) on invalid/truncated JSON."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise MalformedMessage(f"{where}: invalid JSON ({exc})", value=raw) from None


def ms_to_ns(value: object, field: str, instrument: str | None) -> int:
    """Venue milliseconds (int, or a digit string as OKX sends) to ns since the epoch."""
    if type(value) is int:
        ms = value
    elif type(value) is str and value.isascii() and value.isdigit():
        ms = int(value)
    else:
        raise MalformedMessage("timestamp must be an integer number of ms", field=field,
                               value=value, instrument=instrument)
    if ms < 0:
        raise MalformedMessage("negative timestamp", field=field, value=value, instrument=instrument)
    return ms * NS_PER_MS


def codec_for(ins: Instrument) -> InstrumentCodec:
    """The Cython codec (scales, tick/lot/max checks) of a registry instrument."""
    return InstrumentCodec(ins.id, ins.key, ins.price_decimals, ins.qty_decimals, ins.tick,
                           ins.lot, ins.max_qty)


class Handler(ABC):
    """Base class: record buffer, stats, instrument resolution for one venue.

    ``symbols`` restricts the handler to those venue symbols (default: every registry
    instrument of ``venue``); a message for any other symbol raises ``UnknownInstrument``.
    ``source`` is written into every record's ``source`` field (producer/ring id).
    """

    venue: str

    def __init__(self, registry: Registry, venue: str, symbols: Iterable[str] | None = None,
                 source: int = 0, capacity: int = 4096) -> None:
        if not 0 <= source <= 0xFFFF:
            raise ValueError(f"source must fit a u16, got {source}")
        self.venue = venue
        self.registry = registry
        self.source = source
        self.stats = HandlerStats()
        self.out: RecordArray = np.zeros(capacity, dtype=RECORD_DTYPE)
        wanted = list(symbols) if symbols is not None else [i.symbol for i in registry.for_venue(venue)]
        self.codecs: dict[str, InstrumentCodec] = {}
        for sym in wanted:
            ins = registry.get(venue, sym)
            if ins is None:
                raise UnknownInstrument(f"{venue}:{sym} is not in the registry ({registry.source})",
                                        instrument=f"{venue}:{sym}")
            self.codecs[sym] = codec_for(ins)
        if not self.codecs:
            raise ValueError(f"no instruments for venue {venue} in {registry.source}")

    def on_message(self, ts_recv_ns: int, raw: bytes | str) -> int:
        """Decode one raw venue message received at ``ts_recv_ns``; returns records written.

        Raises a ``DecodeError`` subclass (and changes no state) if the message is refused.
        """
        try:
            n = self._on_message(ts_recv_ns, raw)
        except DecodeError:
            self.stats.rejects += 1
            raise
        self.stats.messages += 1
        self.stats.records += n
        return n

    @abstractmethod
    def _on_message(self, ts_recv_ns: int, raw: bytes | str) -> int:
        """Decode, validate, then commit; return the record count."""

    @abstractmethod
    def needs_snapshot(self) -> list[str]:
        """Symbols whose book is awaiting a snapshot (the caller should fetch/resubscribe)."""

    def codec(self, symbol: object) -> InstrumentCodec:
        """Codec of a symbol this handler decodes; ``UnknownInstrument`` otherwise."""
        codec = self.codecs.get(symbol) if type(symbol) is str else None
        if codec is None:
            raise UnknownInstrument("symbol not handled", field="symbol", value=symbol,
                                    instrument=f"{self.venue}:{symbol}")
        return codec

    def reserve(self, n: int) -> RecordArray:
        """Make ``self.out`` hold at least ``n`` records (doubling, contents kept) and return it."""
        if n > len(self.out):
            size = len(self.out)
            while size < n:
                size *= 2
            grown = np.zeros(size, dtype=RECORD_DTYPE)
            grown[: len(self.out)] = self.out  # keep records already decoded by this call
            self.out = grown
        return self.out

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.venue}, symbols={sorted(self.codecs)})"


class VenueBook(Protocol):
    """What :class:`BookHandler` reads of a handler's per-symbol book."""

    live: bool

    @property
    def bids(self) -> Mapping[int, object]: ...  # price (fixed point) -> the venue's level
    @property
    def asks(self) -> Mapping[int, object]: ...


class SizeBook(Protocol):
    """A :class:`VenueBook` whose levels are sizes: price -> size, both fixed point."""

    live: bool
    bids: dict[int, int]
    asks: dict[int, int]


_B = TypeVar("_B", bound=VenueBook)
_SB = TypeVar("_SB", bound=SizeBook)


class BookHandler(Handler, Generic[_B]):
    """A handler that keeps one book per symbol (``_books``, made by ``new_book``).

    A book is *live* once a snapshot is applied and every message since kept it in sync, by the
    venue's own check (sequence, checksum, consistency: the subclass's module doc); a book that
    is not live is awaiting a snapshot.
    """

    def __init__(self, registry: Registry, venue: str, symbols: Iterable[str] | None, source: int,
                 capacity: int, new_book: Callable[[], _B]) -> None:
        super().__init__(registry, venue, symbols, source, capacity)
        self._books: dict[str, _B] = {s: new_book() for s in self.codecs}

    def is_live(self, symbol: str) -> bool:
        """True once a snapshot is applied and the venue's check has held for every message since."""
        return self._books[symbol].live

    def needs_snapshot(self) -> list[str]:
        return [s for s, b in self._books.items() if not b.live]

    def book_top(self, symbol: str, depth: int = 1) -> tuple[list[int], list[int]]:
        """Best ``depth`` bid and ask prices (fixed point) of ``symbol``'s book."""
        b = self._books[symbol]
        return heapq.nlargest(depth, b.bids), heapq.nsmallest(depth, b.asks)


class SizeBookHandler(BookHandler[_SB]):
    """A :class:`BookHandler` whose books hold sizes, with copies of them on demand."""

    def book(self, symbol: str) -> tuple[dict[int, int], dict[int, int]]:
        """Copies of ``symbol``'s book: price -> size, fixed point, bids then asks."""
        b = self._books[symbol]
        return dict(b.bids), dict(b.asks)
