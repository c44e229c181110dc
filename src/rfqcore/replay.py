"""Replay recorded venue data through the handlers into a ring.

Formats (see ``../shared/data/README.md``):

* **F1** (hftbacktest collector, Binance): gzip text, ``<recv_ts_ns> <raw json>`` per line.
* **F2** (cryptofeed capture, OKX, Coinbase, Kraken): ``<float_ts>: <payload>`` lines are
  received messages; sent (``<url> <- ts: ...``), connect (``<url> <-> ts``), REST
  (``<url> -> ts: ...``) and ``configuration:`` lines are skipped and counted. The float
  timestamp is converted to integer ns from its digits (no float arithmetic).
* **F4** (Bybit order-book history download, a zip of NDJSON): one message per line. The file
  has no receive stamp: the message's own ``ts`` (ms) is used as the receive time.

:class:`ReplayDriver` merges files by receive timestamp (``heapq.merge``; files of one stream,
e.g. two days of the same symbol, are chained in the order given), routes each message to its
stream's handler and pushes the records with back-pressure (``push_batch_blocking``), as fast as
possible or paced at the recorded pace times ``speed``.
"""

from __future__ import annotations

import gzip
import heapq
import os
import re
import time
import zipfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Final, Literal, Protocol

import numpy as np

from rfqcore._decode import copy_records
from rfqcore.errors import DecodeError, MalformedMessage, RingTimeout
from rfqcore.handlers.base import Handler, RecordArray
from rfqcore.handlers.binance import BINANCE_VENUES, BinanceHandler
from rfqcore.handlers.bybit import BYBIT_VENUES, BybitHandler
from rfqcore.handlers.coinbase import CoinbaseHandler
from rfqcore.handlers.kraken import KrakenHandler
from rfqcore.handlers.okx import OkxHandler
from rfqcore.instruments import Registry
from rfqcore.records import RECORD_DTYPE

if TYPE_CHECKING:
    from rfqcore._ring import Idle

__all__ = [
    "Format",
    "ReplayFile",
    "ReplayStats",
    "ReplayDriver",
    "RecordSink",
    "detect_format",
    "read_f1",
    "read_f2",
    "read_f4",
    "iter_f1",
    "iter_f2",
    "read_messages",
    "default_data_root",
    "default_data_files",
    "make_handler",
]

Format = Literal["f1", "f2", "f4"]
Message = tuple[int, bytes]  # (recv ts ns, raw payload)

_F1_RE: Final = re.compile(rb"^[0-9]+ [\[{]")
_F2_RECV_RE: Final = re.compile(rb"^([0-9]+)(?:\.([0-9]+))?: ")
_F2_OTHER_RE: Final = re.compile(rb"^(\S+ (<-|<->|->) [0-9.]+|configuration: )")
_F4_TS_RE: Final = re.compile(rb'"ts":([0-9]+)[,}]')
_DATE_RE: Final = re.compile(r"^(?P<sym>.+?)_(?P<date>[0-9]{8})$")
_BINANCE_DIRS: Final = {
    "spot": "binance-spot",
    "usdm_futures": "binance-usdm",
    "usdm": "binance-usdm",
    "coinm_futures": "binance-coinm",
    "cm": "binance-coinm",
}


def _open(path: Path) -> IO[bytes] | gzip.GzipFile:
    with open(path, "rb") as fh:
        magic = fh.read(2)
    return gzip.open(path, "rb") if magic == b"\x1f\x8b" else open(path, "rb")


def detect_format(path: str | os.PathLike[str]) -> Format:
    """``"f4"`` for a zip, else ``"f1"`` or ``"f2"`` from the first non-blank line of a (gzip or
    plain) capture file.

    Raises ``MalformedMessage`` naming the file when no format matches.
    """
    p = Path(path)
    if zipfile.is_zipfile(p):
        return "f4"
    with _open(p) as fh:
        for line in fh:
            if not line.strip():
                continue
            if _F1_RE.match(line):
                return "f1"
            if _F2_RECV_RE.match(line) or _F2_OTHER_RE.match(line):
                return "f2"
            break
    raise MalformedMessage(f"{p}: neither F1 ('<ts_ns> <json>') nor F2 (cryptofeed) format")


def _wrap(raw: IO[bytes]) -> IO[bytes] | gzip.GzipFile:
    """Gzip-decompressing view of an open binary file when it starts with the gzip magic."""
    magic = raw.peek(2)[:2] if hasattr(raw, "peek") else b""
    return gzip.GzipFile(fileobj=raw, mode="rb") if magic == b"\x1f\x8b" else raw


def iter_f1(stream: Iterable[bytes], name: object = "<stream>") -> Iterator[Message]:
    """Yield ``(recv_ts_ns, payload)`` of an open F1 stream; blank lines are skipped.

    A line that is not ``<digits> <payload>`` raises ``MalformedMessage`` naming file and line.
    """
    for lineno, line in enumerate(stream, 1):
        line = line.rstrip(b"\r\n")
        if not line:
            continue
        ts, sep, payload = line.partition(b" ")
        if not sep or not ts.isdigit() or not payload:
            raise MalformedMessage(f"{name}:{lineno}: not an F1 '<ts_ns> <json>' line",
                                   value=line[:80])
        yield int(ts), payload


def read_f1(path: str | os.PathLike[str]) -> Iterator[Message]:
    """:func:`iter_f1` over a (gzip or plain) file."""
    with _open(Path(path)) as fh:
        yield from iter_f1(fh, path)


def _f2_ns(whole: bytes, frac: bytes | None) -> int:
    digits = (frac or b"")[:9].ljust(9, b"0")
    return int(whole) * 1_000_000_000 + int(digits)


def iter_f2(stream: Iterable[bytes], name: object = "<stream>",
            skipped: Counter[str] | None = None) -> Iterator[Message]:
    """Yield ``(recv_ts_ns, payload)`` of the *received* lines of an open F2 stream.

    Sent/connect/REST/configuration/blank lines are skipped and counted in ``skipped`` by kind;
    any other line raises ``MalformedMessage`` naming file and line. Timestamps beyond ns
    precision are truncated.
    """
    for lineno, line in enumerate(stream, 1):
        line = line.rstrip(b"\r\n")
        m = _F2_RECV_RE.match(line)
        if m is not None:
            yield _f2_ns(m.group(1), m.group(2)), line[m.end():]
            continue
        if not line.strip():
            kind = "blank"
        else:
            o = _F2_OTHER_RE.match(line)
            if o is None:
                raise MalformedMessage(f"{name}:{lineno}: not an F2 cryptofeed line",
                                       value=line[:80])
            kind = {"<-": "sent", "<->": "connect", "->": "http"}.get(
                (o.group(2) or b"").decode(), "configuration")
        if skipped is not None:
            skipped[kind] += 1


def read_f2(path: str | os.PathLike[str], skipped: Counter[str] | None = None) -> Iterator[Message]:
    """:func:`iter_f2` over a (gzip or plain) file."""
    with _open(Path(path)) as fh:
        yield from iter_f2(fh, path, skipped)


def read_f4(path: str | os.PathLike[str]) -> Iterator[Message]:
    """``(ts_ns, payload)`` of each line of a Bybit order-book history zip (F4), in file order.

    The zip must hold exactly one file; ``ts_ns`` is the message's ``"ts"`` (ms) in ns. A line
    without a top-level integer ``"ts"`` raises ``MalformedMessage`` naming file and line.
    """
    with zipfile.ZipFile(path) as z:
        names = [n for n in z.namelist() if not n.endswith("/")]
        if len(names) != 1:
            raise MalformedMessage(f"{path}: an F4 zip holds exactly one data file, found {len(names)}")
        with z.open(names[0]) as fh:
            for lineno, line in enumerate(fh, 1):
                line = line.rstrip(b"\r\n")
                if not line.strip():
                    continue
                m = _F4_TS_RE.search(line)
                if m is None or not line.startswith(b"{"):
                    raise MalformedMessage(f"{path}:{lineno}: not an F4 JSON line with an integer \"ts\"",
                                           value=line[:80])
                yield int(m.group(1)) * 1_000_000, line


def read_messages(path: str | os.PathLike[str], fmt: Format | None = None,
                  skipped: Counter[str] | None = None) -> Iterator[Message]:
    """Messages of a capture file in file order, format auto-detected unless given."""
    fmt = fmt or detect_format(path)
    if fmt == "f4":
        return read_f4(path)
    return read_f1(path) if fmt == "f1" else read_f2(path, skipped)


@dataclass(frozen=True, slots=True)
class ReplayFile:
    """One capture file and the stream it belongs to.

    ``symbol`` is the venue symbol for one-symbol streams (Binance, whose REST snapshot lines
    carry no symbol) and ``None`` for multi-instrument captures (OKX, Coinbase, Kraken, Bybit).
    """

    path: Path
    venue: str
    symbol: str | None
    format: Format

    @classmethod
    def infer(cls, path: str | os.PathLike[str]) -> ReplayFile:
        """Guess venue/symbol/format from the data-set layout (``binance/<market>/<sym>_<date>.gz``,
        ``okx/cryptofeed_*OKX*``, ``coinbase/cryptofeed_*COINBASE*``, ``kraken/cryptofeed_*KRAKEN.ws*``,
        a Bybit zip); raises ``ValueError`` if it cannot."""
        p = Path(path)
        fmt = detect_format(p)
        if fmt == "f4":
            return cls(p, "bybit-linear", None, fmt)
        if fmt == "f2":
            upper = p.name.upper()
            venue = ("okx" if "OKX" in upper else "coinbase" if "COINBASE" in upper
                     else "kraken" if "KRAKEN" in upper and "KRAKEN_FUTURES" not in upper else None)
            if venue is not None:
                return cls(p, venue, None, fmt)
            raise ValueError(f"{p}: cannot infer the venue of an F2 capture; build ReplayFile "
                             "explicitly")
        venue = _BINANCE_DIRS.get(p.parent.name)
        m = _DATE_RE.match(p.name.split(".")[0])
        if venue is None or m is None:
            raise ValueError(f"{p}: expected binance/<spot|usdm_futures|coinm_futures>/"
                             "<symbol>_<yyyymmdd>.gz; build ReplayFile explicitly")
        return cls(p, venue, m.group("sym").upper(), fmt)

    @property
    def stream_key(self) -> tuple[str, str | None]:
        return (self.venue, self.symbol)

    def __fspath__(self) -> str:
        return str(self.path)

    def __str__(self) -> str:
        """The path, so ``str(f)`` / ``open(f)`` work where a path is expected."""
        return str(self.path)


def default_data_root() -> Path:
    """``$RFQCORE_DATA`` or ``<repo>/../shared/data``."""
    env = os.environ.get("RFQCORE_DATA")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2].parent / "shared" / "data"


_DEFAULT_FILES: Final = (
    ("binance-spot", "BTCUSDT", ("spot/btcusdt_20240808.gz", "spot/btcusdt_20240809.gz")),
    ("binance-spot", "ETHUSDT", ("spot/ethusdt_20240808.gz", "spot/ethusdt_20240809.gz")),
    ("binance-usdm", "BTCUSDT", ("usdm_futures/btcusdt_20240808.gz",)),
    ("binance-usdm", "ETHUSDT", ("usdm_futures/ethusdt_20240808.gz",)),
    ("binance-coinm", "BTCUSD_PERP", ("coinm_futures/btcusd_perp_20240808.gz",
                                      "coinm_futures/btcusd_perp_20240809.gz")),
    ("binance-coinm", "ETHUSD_PERP", ("coinm_futures/ethusd_perp_20240808.gz",
                                      "coinm_futures/ethusd_perp_20240809.gz")),
)


def recorded_files(venue: str, symbol: str, root: str | os.PathLike[str] | None = None) -> list[Path]:
    """The recorded files of one Binance stream of the default set, in order (the first holds
    the REST snapshot), whether present or not; ``[]`` for a stream the set does not have."""
    base = Path(root) if root is not None else default_data_root()
    return [base / "binance" / rel for v, sym, rels in _DEFAULT_FILES if (v, sym) == (venue, symbol.upper())
            for rel in rels]


def default_data_files(root: str | os.PathLike[str] | None = None) -> list[ReplayFile]:
    """The Binance BTC+ETH spot/USD-M/COIN-M files (both days, in order) under ``root``.

    ``root`` is the shared data directory (default :func:`default_data_root`). Raises
    ``FileNotFoundError`` listing every missing file.
    """
    base = Path(root) if root is not None else default_data_root()
    files = [ReplayFile(base / "binance" / rel, venue, sym, "f1")
             for venue, sym, rels in _DEFAULT_FILES for rel in rels]
    missing = [str(f.path) for f in files if not f.path.is_file()]
    if missing:
        raise FileNotFoundError(f"recorded data missing under {base}: {', '.join(missing)}")
    return files


def make_handler(registry: Registry, venue: str, symbol: str | None, source: int = 0) -> Handler:
    """The handler for one stream: Binance per symbol; OKX, Coinbase, Kraken and Bybit for all
    registry symbols of the venue (or ``symbol``)."""
    syms = None if symbol is None else [symbol]
    if venue in BINANCE_VENUES:
        return BinanceHandler(registry, venue, syms, source)
    if venue == "okx":
        return OkxHandler(registry, syms, source)
    if venue == "coinbase":
        return CoinbaseHandler(registry, syms, source)
    if venue == "kraken":
        return KrakenHandler(registry, syms, source)
    if venue in BYBIT_VENUES:
        return BybitHandler(registry, syms, source, venue=venue)
    raise ValueError(f"no handler for venue {venue!r}")


class RecordSink(Protocol):
    """What the driver pushes to: :class:`rfqcore._ring.RingProducer` or a test double."""

    def push_batch_blocking(self, arr: RecordArray, idle: Idle = ...,
                            timeout_ns: int | None = ...) -> int: ...


#: how long a push waits for room before it looks whether the replay was stopped
_STOP_CHECK_NS: Final = 50_000_000


class _Stopped(Exception):
    """:meth:`ReplayDriver.stop` while a push waited for room."""


@dataclass(slots=True)
class ReplayStats:
    """Outcome of :meth:`ReplayDriver.run`."""

    messages: int = 0
    records: int = 0
    pushes: int = 0
    rejects: Counter[str] = field(default_factory=Counter)
    reject_examples: list[str] = field(default_factory=list)
    skipped_lines: Counter[str] = field(default_factory=Counter)
    elapsed_s: float = 0.0
    first_ts_ns: int | None = None
    last_ts_ns: int | None = None
    handlers: dict[str, dict[str, int]] = field(default_factory=dict)


ProgressFn = Callable[[int], None]


class ReplayDriver:
    """Merge capture files by receive time, decode, push to a ring.

    ``speed=None`` replays as fast as the consumer drains the ring (records of consecutive
    messages are staged and pushed in batches of up to ``batch_records``); ``speed=k`` paces
    messages at ``k`` times the recorded pace and pushes each message as it becomes due.
    ``producer=None`` decodes only (benchmarks). With ``strict=True`` the first
    ``DecodeError`` propagates; otherwise refused messages are counted by class in
    ``rejects`` (plus a few examples) and the replay goes on. ``progress(bytes_done)`` gets
    the compressed bytes consumed so far (out of :meth:`total_bytes`) every
    ``progress_every`` messages and once at the end.

    ``live_clock=True`` restamps receive times to the wall clock, as a live feed would carry
    them (paced: ``start + elapsed recorded time / speed``; unpaced: the time of decoding), so
    recorded data can drive a core that also serves live RFQs stamped with ``time.time_ns()``.
    """

    def __init__(self, files: Iterable[ReplayFile | str | os.PathLike[str]], registry: Registry,
                 producer: RecordSink | None, speed: float | None = None, *,
                 strict: bool = True, batch_records: int = 8192, idle: Idle = "yield",
                 progress: ProgressFn | None = None, progress_every: int = 4096,
                 source: int = 0, live_clock: bool = False) -> None:
        if speed is not None and not speed > 0:
            raise ValueError(f"speed must be > 0 or None, got {speed}")
        self.files = [f if isinstance(f, ReplayFile) else ReplayFile.infer(f) for f in files]
        if not self.files:
            raise ValueError("no files to replay")
        self.registry = registry
        self.producer = producer
        self.speed = speed
        self.live_clock = live_clock
        self._stopping = False
        self.strict = strict
        self.idle = idle
        self.progress = progress
        self.progress_every = max(1, progress_every)
        self.result = ReplayStats()
        self._stage: RecordArray = np.zeros(max(1, batch_records), dtype=RECORD_DTYPE)
        self._fill = 0
        self._done_bytes = 0
        self._open_raw: dict[int, IO[bytes]] = {}
        self._keys: list[tuple[str, str | None]] = []
        self.handlers: dict[tuple[str, str | None], Handler] = {}
        for f in self.files:
            if f.stream_key not in self.handlers:
                self.handlers[f.stream_key] = make_handler(registry, f.venue, f.symbol, source)

    def stop(self) -> None:
        """Ask a running :meth:`run` (on another thread) to return after the current message."""
        self._stopping = True

    def total_bytes(self) -> int:
        """Total on-disk (compressed) size of the files, the unit of ``progress``."""
        return sum(f.path.stat().st_size for f in self.files)

    def bytes_done(self) -> int:
        """Compressed bytes consumed so far."""
        return self._done_bytes + sum(r.tell() for r in self._open_raw.values() if not r.closed)

    def stats(self) -> dict[str, Any]:
        """The replay counters as a plain dict (``messages``, ``records``, ``rejects``...)."""
        r = self.result
        return {
            "messages": r.messages, "records": r.records, "pushes": r.pushes,
            "rejects": dict(r.rejects), "reject_examples": list(r.reject_examples),
            "skipped_lines": dict(r.skipped_lines), "elapsed_s": r.elapsed_s,
            "first_ts_ns": r.first_ts_ns, "last_ts_ns": r.last_ts_ns,
            "handlers": {k: dict(v) for k, v in r.handlers.items()},
        }

    def _tagged(self, idx: int, files: list[ReplayFile]) -> Iterator[tuple[int, int, bytes]]:
        for f in files:
            if f.format == "f4":  # a zip: read through zipfile, counted as done at its end
                for ts, payload in read_f4(f.path):
                    yield ts, idx, payload
                self._done_bytes += f.path.stat().st_size
                continue
            with open(f.path, "rb") as raw:
                self._open_raw[idx] = raw
                stream = _wrap(raw)
                it = (iter_f1(stream, f.path) if f.format == "f1"
                      else iter_f2(stream, f.path, self.result.skipped_lines))
                for ts, payload in it:
                    yield ts, idx, payload
                del self._open_raw[idx]
            self._done_bytes += f.path.stat().st_size

    def _streams(self) -> list[Iterator[tuple[int, int, bytes]]]:
        groups: dict[tuple[str, str | None], list[ReplayFile]] = {}
        for f in self.files:
            groups.setdefault(f.stream_key, []).append(f)
        self._keys = list(groups)
        return [self._tagged(idx, groups[key]) for idx, key in enumerate(self._keys)]

    def _push(self, arr: RecordArray) -> None:
        """Push every record of ``arr``, waiting for room while the ring is full — but not past
        :meth:`stop`: a desk standing down stops its replay before its core, and a core that
        takes no more input (a cluster leader cut off from its majority) would otherwise keep
        this thread waiting on a ring that is about to be removed."""
        assert self.producer is not None
        done = 0
        while True:
            try:
                self.producer.push_batch_blocking(arr[done:], self.idle, timeout_ns=_STOP_CHECK_NS)
                return
            except RingTimeout as e:
                done += e.pushed
                if self._stopping:
                    raise _Stopped from None

    def _flush(self) -> None:
        if self._fill and self.producer is not None:
            self._push(self._stage[: self._fill])
            self.result.pushes += 1
        self._fill = 0

    def _emit(self, out: RecordArray, n: int) -> None:
        if self.producer is None:
            return
        if self.speed is not None or n > len(self._stage):
            self._flush()
            self._push(out[:n])
            self.result.pushes += 1
            return
        if self._fill + n > len(self._stage):
            self._flush()
        copy_records(self._stage, self._fill, out[:n])
        self._fill += n

    def run(self, limit: int | None = None, progress: ProgressFn | None = None) -> ReplayStats:
        """Replay everything (or the first ``limit`` messages); returns the stats.

        ``progress`` overrides the constructor's callback for this run.
        """
        st = self.result
        report = progress if progress is not None else self.progress
        merged = heapq.merge(*self._streams(), key=lambda m: m[0])
        handlers = [self.handlers[k] for k in self._keys]
        t0 = time.perf_counter()
        wall0 = time.monotonic_ns()
        epoch0 = time.time_ns()
        live, paced = self.live_clock, self.speed is not None
        ts0: int | None = None
        every = self.progress_every
        try:
            for ts, idx, raw in merged:
                if limit is not None and st.messages >= limit or self._stopping:
                    break
                if ts0 is None:
                    ts0 = ts
                    st.first_ts_ns = ts
                st.last_ts_ns = ts
                if self.speed is not None:
                    due = wall0 + int((ts - ts0) / self.speed)
                    delay = due - time.monotonic_ns()
                    if delay > 0:
                        time.sleep(delay / 1e9)
                h = handlers[idx]
                st.messages += 1
                if live:
                    ts = epoch0 + int((ts - ts0) / (self.speed or 1.0)) if paced else time.time_ns()
                try:
                    n = h.on_message(ts, raw)
                except DecodeError as exc:
                    if self.strict:
                        raise
                    st.rejects[type(exc).__name__] += 1
                    if len(st.reject_examples) < 20:
                        st.reject_examples.append(f"{h.venue} ts={ts}: {exc}")
                    continue
                if n:
                    st.records += n
                    self._emit(h.out, n)
                if report is not None and st.messages % every == 0:
                    report(self.bytes_done())
            self._flush()
        except _Stopped:  # stopped while the ring was full: what was not pushed is dropped
            self._fill = 0
        finally:
            st.elapsed_s = time.perf_counter() - t0
            st.handlers = {f"{k[0]}:{k[1] or '*'}": self.handlers[k].stats.as_dict()
                           for k in self.handlers}
        if report is not None:
            report(self.bytes_done())
        return st
