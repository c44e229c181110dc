"""OKX handler on the real cryptofeed capture: books checksums verify, corruption is detected."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import orjson
import pytest

from rfqcore.errors import MalformedMessage, NegativeQuantity, PrecisionLoss, UnknownInstrument
from rfqcore.handlers.okx import OkxHandler, okx_checksum
from rfqcore.instruments import Registry
from rfqcore.records import Flag, Kind, StaleReason
from rfqcore.replay import read_f2

DATA = Path(os.environ.get("RFQCORE_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
CAPTURE = DATA / "okx" / "cryptofeed_master_OKX.ws.1.0.gz"
pytestmark = pytest.mark.data

# the three books of the capture; contract values from the capture's instrument metadata
REGISTRY_TOML = """
[[instrument]]
symbol = "BTC-USDT"
venue = "okx"
kind = "spot"
base = "BTC"
quote = "USDT"
tick = "0.1"
lot = "0.00000001"
max_qty = "100000"

[[instrument]]
symbol = "BTC-USD-220527"
venue = "okx"
kind = "inverse"
base = "BTC"
quote = "USD"
tick = "0.1"
lot = "1"
contract_size = "100"
max_qty = "100000000"

[[instrument]]
symbol = "UNI-USD-SWAP"
venue = "okx"
kind = "inverse"
base = "UNI"
quote = "USD"
tick = "0.001"
lot = "1"
contract_size = "10"
max_qty = "100000000"
"""


@pytest.fixture(scope="module")
def messages() -> list[tuple[int, bytes]]:
    if not CAPTURE.is_file():
        pytest.skip(f"recorded OKX capture not found at {CAPTURE} (../shared/data or $RFQCORE_DATA)")
    return list(read_f2(CAPTURE))


@pytest.fixture
def handler() -> OkxHandler:
    return OkxHandler(Registry.from_toml(REGISTRY_TOML))


def test_every_checksum_verifies(messages: list[tuple[int, bytes]], handler: OkxHandler) -> None:
    n_books = 0
    for ts, raw in messages:
        n = handler.on_message(ts, raw)
        if b'"channel":"books"' in raw and b'"event"' not in raw:
            n_books += 1
            assert n > 0 and handler.out[n - 1]["flags"] & Flag.END
            assert not (handler.out[:n]["kind"] == Kind.BOOK_STALE).any()
    st = handler.stats
    assert n_books == 290 and st.snapshots == 3
    assert (st.gaps, st.checksum_failures, st.rejects) == (0, 0, 0)
    assert st.control > 0 and handler.needs_snapshot() == []
    bids, asks = handler.book_top("BTC-USDT", 1)
    assert bids[0] < asks[0]


def test_default_registry_okx_btc_usdt_on_tick_and_lot(messages: list[tuple[int, bytes]]) -> None:
    """Every BTC-USDT price/size in the capture fits the default tick 0.1 / lot 1e-8."""
    h = OkxHandler(Registry.load())
    decoded = 0
    for ts, raw in messages:
        if b'"instId":"BTC-USDT"' in raw:
            decoded += h.on_message(ts, raw)
        elif b'"arg"' in raw and b'"event"' not in raw:
            with pytest.raises(UnknownInstrument):
                h.on_message(ts, raw)
    assert decoded > 1000 and h.stats.checksum_failures == 0


def _books(messages: list[tuple[int, bytes]], inst: str) -> list[int]:
    return [i for i, (_, raw) in enumerate(messages)
            if b'"channel":"books"' in raw and inst.encode() in raw and b'"event"' not in raw]


def test_corrupted_size_detected(messages: list[tuple[int, bytes]], handler: OkxHandler) -> None:
    books = _books(messages, "BTC-USDT")
    target = books[10]
    for ts, raw in messages[:target]:
        handler.on_message(ts, raw)
    msg = orjson.loads(messages[target][1])
    level = (msg["data"][0]["bids"] or msg["data"][0]["asks"])[0]
    level[1] = "0" if level[1] != "0" else "1"  # still a valid, on-lot size: only the CRC knows
    top_before = handler.book_top("BTC-USDT", 25)
    n = handler.on_message(messages[target][0], orjson.dumps(msg))
    assert n == 1
    rec = handler.out[0]
    assert rec["kind"] == Kind.BOOK_STALE and rec["aux"] == StaleReason.CHECKSUM_MISMATCH
    assert rec["flags"] & Flag.END
    assert handler.stats.checksum_failures == 1 and not handler.is_live("BTC-USDT")
    assert handler.needs_snapshot() == ["BTC-USDT"]
    assert top_before  # the corrupt update itself was never applied
    # later updates are counted, not applied, until a snapshot arrives
    ts, raw = messages[books[11]]
    assert handler.on_message(ts, raw) == 0 and handler.stats.dropped_while_stale == 1
    # the other books are unaffected
    other = _books(messages, "UNI-USD-SWAP")[-1]
    for ts, raw in messages[target + 1 : other + 1]:
        handler.on_message(ts, raw)
    assert handler.is_live("UNI-USD-SWAP") and handler.stats.checksum_failures == 1


def test_corrupted_checksum_field_detected(messages: list[tuple[int, bytes]],
                                           handler: OkxHandler) -> None:
    snap = _books(messages, "BTC-USD-220527")[0]
    msg = orjson.loads(messages[snap][1])
    msg["data"][0]["checksum"] ^= 1
    assert handler.on_message(0, orjson.dumps(msg)) == 1
    assert handler.out[0]["kind"] == Kind.BOOK_STALE and handler.stats.gaps == 1
    assert handler.on_message(*messages[snap]) > 1  # a good snapshot resyncs
    assert handler.is_live("BTC-USD-220527") and handler.stats.resyncs == 1


def test_bad_input_changes_nothing(messages: list[tuple[int, bytes]], handler: OkxHandler) -> None:
    books = _books(messages, "BTC-USDT")
    for ts, raw in messages[: books[5]]:
        handler.on_message(ts, raw)
    before = (handler.book_top("BTC-USDT", 400), handler.stats.gaps, handler.stats.messages)
    ts, raw = messages[books[5]]
    msg = orjson.loads(raw)
    msg["data"][0]["asks"].append(["30000.05", "1", "0", "1"])
    with pytest.raises(PrecisionLoss, match="okx:BTC-USDT"):
        handler.on_message(ts, orjson.dumps(msg))
    msg["data"][0]["asks"][-1] = ["30000.1", "-1", "0", "1"]
    with pytest.raises(NegativeQuantity, match="okx:BTC-USDT"):
        handler.on_message(ts, orjson.dumps(msg))
    with pytest.raises(MalformedMessage):
        handler.on_message(ts, raw[:-10])
    assert (handler.book_top("BTC-USDT", 400), handler.stats.gaps, handler.stats.messages) == before
    assert handler.on_message(ts, raw) > 0 and handler.stats.checksum_failures == 0


def test_checksum_function_matches_okx_example() -> None:
    # OKX docs example shape: interleaved bid/ask px:sz, signed CRC32
    bids = {30: ("3366.1", "7"), 20: ("3366", "6")}
    asks = {40: ("3366.8", "9"), 50: ("3368", "8")}
    import zlib

    crc = zlib.crc32(b"3366.1:7:3366.8:9:3366:6:3368:8")
    assert okx_checksum(bids, asks) == (crc - (1 << 32) if crc >= 1 << 31 else crc)
