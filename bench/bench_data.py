"""Real Binance BTC data for the benchmarks, turned into ring records (``RECORD_DTYPE``).

The recorded venue data lives outside the repository, in ``../shared/data`` relative to the repo
root (override with ``RFQCORE_DATA``). Nothing is copied into the repository: this module parses
the gzip captures once and caches the result as raw 64-byte records under
``$RFQCORE_BENCH_CACHE`` (default ``/tmp/rfqcore-bench``), where the Rust bench binaries
(``book_bench``, ``engine_bench``) read them too.

One file per stream, ``<name>.rec`` (raw ``RECORD_DTYPE`` bytes, no header), brought up the usual
Binance way (buffer diffs, REST snapshot, drop diffs the snapshot already covers, check
continuity):

- ``BOOK_CLEAR`` (seq = snapshot ``lastUpdateId``, flags SNAPSHOT), then every snapshot level as
  ``BOOK_LEVEL`` (flags SNAPSHOT, END on the last one);
- each later depth diff message: one ``BOOK_LEVEL`` per level (bids then asks; seq = ``u``,
  aux = ``U``, END on the last level of the message);
- each trade: one ``TRADE`` (END); each bookTicker: two ``BBO`` records (bid, ask; END on the ask).

``ts_recv`` is the recorder's local timestamp, clamped to never decrease within a stream (diffs
buffered before the snapshot are "received" when the snapshot arrives). ``btc_merged.rec`` is the
three BTC streams merged by ``ts_recv`` (whole messages stay contiguous).

Prices/quantities are exact fixed-point integers at the instrument's decimals from
``src/rfqcore/defaults/instruments.toml`` (decimals = fractional digits of ``tick``/``lot``;
instrument ids = 1-based file order), the same conversion as ``rfqcore.instruments``.

Run ``python bench/bench_data.py`` to (re)build the cache and print what is in it.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
PREP_VERSION = 2  # bump when the record encoding changes (invalidates the cache)

# Record constants (docs/ring-layout.md); duplicated here so the bench data does not depend on
# the Python package being importable mid-edit.
BOOK_CLEAR, BOOK_LEVEL, TRADE, BBO = 1, 2, 4, 5
END, SNAPSHOT = 1, 2
RECORD_FIELDS = (
    ("kind", "<u2", 0), ("instrument", "<u2", 2), ("side", "u1", 4), ("flags", "u1", 5),
    ("source", "<u2", 6), ("seq", "<u8", 8), ("ts_event", "<i8", 16), ("ts_recv", "<i8", 24),
    ("price", "<i8", 32), ("qty", "<i8", 40), ("aux", "<i8", 48), ("ts_send", "<i8", 56),
)
RECORD_DTYPE = np.dtype({
    "names": [f[0] for f in RECORD_FIELDS],
    "formats": [f[1] for f in RECORD_FIELDS],
    "offsets": [f[2] for f in RECORD_FIELDS],
    "itemsize": 64,
})


class DataMissing(RuntimeError):
    """The shared venue data is not there; benchmarks that need it skip with this message."""


def data_dir() -> Path:
    """``../shared/data`` relative to the repo root (or ``$RFQCORE_DATA``); raises DataMissing."""
    d = Path(os.environ.get("RFQCORE_DATA", REPO.parent / "shared" / "data")).resolve()
    if not (d / "binance" / "spot" / "btcusdt_20240808.gz").is_file():
        raise DataMissing(
            f"recorded venue data not found at {d} (expected ../shared/data beside the repo, "
            "or set RFQCORE_DATA): skipping the benchmarks that replay real data")
    return d


def cache_dir() -> Path:
    d = Path(os.environ.get("RFQCORE_BENCH_CACHE", "/tmp/rfqcore-bench"))
    d.mkdir(parents=True, exist_ok=True)
    return d


@dataclass(frozen=True)
class Stream:
    name: str
    venue: str
    symbol: str
    files: tuple[str, ...]  # relative to the data dir, in time order
    futures: bool           # continuity rule: futures `pu == prev u`, spot `U == prev u + 1`


STREAMS = (
    Stream("spot_btcusdt", "binance-spot", "BTCUSDT",
           ("binance/spot/btcusdt_20240808.gz", "binance/spot/btcusdt_20240809.gz"), False),
    Stream("usdm_btcusdt", "binance-usdm", "BTCUSDT",
           ("binance/usdm_futures/btcusdt_20240808.gz",), True),
    Stream("coinm_btcusd_perp", "binance-coinm", "BTCUSD_PERP",
           ("binance/coinm_futures/btcusd_perp_20240808.gz",
            "binance/coinm_futures/btcusd_perp_20240809.gz"), True),
)


def _frac_digits(s: str) -> int:
    return len(s.partition(".")[2])


def instruments() -> dict[tuple[str, str], dict]:
    """(venue, symbol) -> {id, price_decimals, qty_decimals} from the default registry TOML."""
    path = REPO / "src" / "rfqcore" / "defaults" / "instruments.toml"
    with open(path, "rb") as f:
        doc = tomllib.load(f)
    out = {}
    for i, e in enumerate(doc["instrument"], start=1):
        out[(e["venue"], e["symbol"])] = {
            "id": i, "price_decimals": _frac_digits(e["tick"]), "qty_decimals": _frac_digits(e["lot"]),
        }
    return out


def to_fixed(s: str, decimals: int) -> int:
    """Exact integer of decimal string ``s`` in units of 10**-decimals (error if it has more)."""
    whole, _, frac = s.partition(".")
    if len(frac) > decimals:
        if frac[decimals:].strip("0"):
            raise ValueError(f"{s!r} has more than {decimals} decimals")
        frac = frac[:decimals]
    return int(whole + frac.ljust(decimals, "0"))


def _convert(stream: Stream, inst: dict, d: Path) -> tuple[np.ndarray, dict]:
    iid, pd, qd = inst["id"], inst["price_decimals"], inst["qty_decimals"]
    rows: list[tuple] = []  # (kind, side, flags, seq, ts_event, ts_recv, price, qty, aux)
    pending: list[tuple[int, dict]] = []
    snap_id = None
    prev_u = None
    clock = 0
    n_msgs = {"depth": 0, "trade": 0, "bookTicker": 0}

    def emit_diff(ts: int, m: dict) -> None:
        nonlocal prev_u
        U, u = m["U"], m["u"]
        if prev_u is None:
            ok = (U <= snap_id <= u) if stream.futures else (U <= snap_id + 1 <= u)
        else:
            ok = (m["pu"] == prev_u) if stream.futures else (U == prev_u + 1)
        if not ok:
            raise ValueError(f"{stream.name}: depth gap at U={U} u={u} (prev u={prev_u}, snapshot {snap_id})")
        prev_u = u
        levels = [(0, p, q) for p, q in m["b"]] + [(1, p, q) for p, q in m["a"]]
        ev = m["E"] * 1_000_000
        for k, (side, p, q) in enumerate(levels):
            fl = END if k == len(levels) - 1 else 0
            rows.append((BOOK_LEVEL, side, fl, u, ev, ts, to_fixed(p, pd), to_fixed(q, qd), U))
        if levels:
            n_msgs["depth"] += 1

    for rel in stream.files:
        with gzip.open(d / rel, "rt") as f:
            for line in f:
                ts_s, _, payload = line.partition(" ")
                ts = int(ts_s)
                clock = max(clock, ts)
                msg = json.loads(payload)
                if "stream" not in msg:  # the REST snapshot
                    snap_id = msg["lastUpdateId"]
                    rows.append((BOOK_CLEAR, 255, SNAPSHOT, snap_id, 0, clock, 0, 0, 0))
                    levels = [(0, p, q) for p, q in msg["bids"]] + [(1, p, q) for p, q in msg["asks"]]
                    for k, (side, p, q) in enumerate(levels):
                        fl = SNAPSHOT | (END if k == len(levels) - 1 else 0)
                        rows.append((BOOK_LEVEL, side, fl, snap_id, 0, clock, to_fixed(p, pd), to_fixed(q, qd), 0))
                    for _, m in pending:
                        if (m["u"] < snap_id) if stream.futures else (m["u"] <= snap_id):
                            continue
                        emit_diff(clock, m)
                    pending.clear()
                    continue
                kind = msg["stream"].split("@")[1]
                m = msg["data"]
                if kind == "depth":
                    if snap_id is None:
                        pending.append((ts, m))
                    else:
                        emit_diff(clock, m)
                elif snap_id is None:
                    continue  # trades/tickers before the book exists are not replayed
                elif kind == "trade":
                    side = 1 if m["m"] else 0  # buyer is maker -> the aggressor sold
                    rows.append((TRADE, side, END, m["t"], m["E"] * 1_000_000, clock,
                                 to_fixed(m["p"], pd), to_fixed(m["q"], qd), 0))
                    n_msgs["trade"] += 1
                elif kind == "bookTicker":
                    ev = m.get("E", 0) * 1_000_000
                    rows.append((BBO, 0, 0, m["u"], ev, clock, to_fixed(m["b"], pd), to_fixed(m["B"], qd), 0))
                    rows.append((BBO, 1, END, m["u"], ev, clock, to_fixed(m["a"], pd), to_fixed(m["A"], qd), 0))
                    n_msgs["bookTicker"] += 1
    if snap_id is None:
        raise ValueError(f"{stream.name}: no REST snapshot in {stream.files}")
    arr = np.zeros(len(rows), dtype=RECORD_DTYPE)
    cols = list(zip(*rows))
    for name, col in zip(("kind", "side", "flags", "seq", "ts_event", "ts_recv", "price", "qty", "aux"), cols):
        arr[name] = col
    arr["instrument"] = iid
    meta = {
        "stream": stream.name, "venue": stream.venue, "symbol": stream.symbol, **inst,
        "records": len(arr), "snapshot_id": snap_id, "messages": n_msgs,
        "snapshot_levels": int(((arr["kind"] == BOOK_LEVEL) & (arr["flags"] & SNAPSHOT != 0)).sum()),
        "diff_level_updates": int(((arr["kind"] == BOOK_LEVEL) & (arr["flags"] & SNAPSHOT == 0)).sum()),
    }
    return arr, meta


def _source_key(d: Path) -> str:
    h = hashlib.sha256(f"v{PREP_VERSION}".encode())
    h.update((REPO / "src" / "rfqcore" / "defaults" / "instruments.toml").read_bytes())
    for s in STREAMS:
        for rel in s.files:
            st = (d / rel).stat()
            h.update(f"{rel}:{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()[:16]


def prepare(verbose: bool = False) -> dict:
    """Build (or reuse) the record cache; returns the metadata dict (also in ``meta.json``)."""
    d = data_dir()
    out = cache_dir()
    key = _source_key(d)
    meta_path = out / "meta.json"
    if meta_path.is_file():
        meta = json.loads(meta_path.read_text())
        if meta.get("key") == key and all((out / f"{s.name}.rec").is_file() for s in STREAMS) \
                and (out / "btc_merged.rec").is_file():
            return meta
    insts = instruments()
    arrays, metas = [], {}
    for s in STREAMS:
        if verbose:
            print(f"parsing {s.name} ({', '.join(s.files)}) ...", file=sys.stderr)
        arr, m = _convert(s, insts[(s.venue, s.symbol)], d)
        arr.tofile(out / f"{s.name}.rec")
        arrays.append(arr)
        metas[s.name] = m
    merged = np.concatenate(arrays)
    merged = merged[np.argsort(merged["ts_recv"], kind="stable")]
    merged.tofile(out / "btc_merged.rec")
    meta = {"key": key, "data_dir": str(d), "cache_dir": str(out), "streams": metas,
            "merged_records": len(merged)}
    meta_path.write_text(json.dumps(meta, indent=1))
    return meta


def load(name: str) -> np.ndarray:
    """The cached records of stream ``name`` (or ``btc_merged``), preparing them if needed."""
    meta = prepare()
    return np.fromfile(Path(meta["cache_dir"]) / f"{name}.rec", dtype=RECORD_DTYPE)


def book_deltas(name: str) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """BOOK_LEVEL rows of a stream split at the snapshot: (snapshot rows, diff rows, message
    boundaries of the diffs as end indexes into the diff rows)."""
    a = load(name)
    lv = a[a["kind"] == BOOK_LEVEL]
    snap = lv[lv["flags"] & SNAPSHOT != 0]
    diffs = lv[lv["flags"] & SNAPSHOT == 0]
    ends = (np.flatnonzero(diffs["flags"] & END) + 1).tolist()
    return snap, diffs, ends


if __name__ == "__main__":
    try:
        m = prepare(verbose=True)
    except DataMissing as e:
        print(f"SKIP: {e}")
        sys.exit(0)
    print(json.dumps(m, indent=1))
