"""Market data before clients: a desk that starts from a state with prices — a recovered
journal here; a cluster node taking the lead in tests/test_cluster_serve.py — opens its gateway
only once those composites' books are fresh again, so its first RFQ is priced, not refused
``STALE_MARKET`` while the feed comes back (rfqcore.serve.Server._await_market)."""

from __future__ import annotations

import time
from importlib import resources
from pathlib import Path

import pytest

from rfqcore.client import RfqClient
from rfqcore.rfq import Quote, RequestRejected
from rfqcore.journal import JournalSettings
from rfqcore.records import BookStatus
from rfqcore.instruments import Registry
from rfqcore.replay import ReplayFile, default_data_files
from rfqcore.serve import Server


STALE_MS = 1000


def _registry(tmp: Path) -> Registry:
    """The packaged instruments with books stale after 1 s (5 s shipped): a restart 1.5 s later
    starts from stale books without the test waiting 5 s."""
    text = resources.files("rfqcore").joinpath("defaults/instruments.toml").read_text("utf-8")
    assert text.count("stale_after_ms = 5000") == 2
    path = tmp / "instruments.toml"
    path.write_text(text.replace("stale_after_ms = 5000", f"stale_after_ms = {STALE_MS}"))
    return Registry.load(path)


def _priced_run(tmp: Path, files: list[ReplayFile], journal: JournalSettings, reg: Registry) -> None:
    """A first run of the desk, journaled, until the feed priced BTC; then stopped, and left
    until its books are stale."""
    with Server(reg, market_files=files, speed=1.0, journal=journal, idle="park") as desk:
        assert desk.market_waited == 0.0, "a fresh core has no prices to wait for"
        assert desk.engine is not None
        deadline = time.monotonic() + 30
        while desk.engine.composite_mid("BTC") is None:
            assert time.monotonic() < deadline, "the recorded feed never priced BTC"
            time.sleep(0.05)
        time.sleep(0.3)
    time.sleep(STALE_MS / 1e3 + 0.5)


class SlowFeed(Server):
    """A desk whose feed comes back 1 s after its core started (a loaded new leader, a venue
    reconnecting): long enough that a gateway opened at once would refuse the first RFQs."""

    def _run_replay(self) -> None:
        time.sleep(1.0)
        super()._run_replay()


def _first_quote(desk: Server) -> Quote:
    with RfqClient("acme-capital", aeron_dir=desk.aeron_dir) as c:
        return c.request_quote("BTC", "buy", "0.1", timeout=5.0)


def test_a_restarted_desk_opens_its_gateway_once_its_recovered_books_are_fresh(tmp_path: Path,
                                                                                data_dir: Path) -> None:
    files = default_data_files(data_dir)
    journal = JournalSettings(dir=str(tmp_path / "journal"))
    reg = _registry(tmp_path)
    _priced_run(tmp_path, files, journal, reg)
    # a restart: the journal brings the books back as they were, stale by the time the core runs
    with SlowFeed(reg, market_files=files, speed=1.0, journal=journal, idle="park", market_wait=30.0) as desk:
        assert desk.engine is not None and desk.engine.recovery is not None
        assert desk.market_waited >= 1.0, "the gateway opened before the feed came back"
        started = time.time_ns()
        try:
            q = _first_quote(desk)  # the first RFQ, right after the gateway opened
        except RequestRejected as e:
            pytest.fail(f"the desk opened its gateway before its market was fresh: {e}")
        assert q.rfq_id > 0
        now = desk.engine.now_ns()
        assert now is not None and started - 5_000_000_000 < now < time.time_ns() + 1_000_000_000
        btc = reg.composite("BTC")
        # priced from the feed that came back: a live member heard from since the start (the
        # recovered books, 1.5 s old by then, are stale at 1 s and price nothing)
        seen = [desk.engine.core.book_last_seen(m) for m in btc.members
                if desk.engine.book_status(m) == BookStatus.LIVE]
        assert any(t is not None and t >= started - 1_000_000_000 and now - t <= STALE_MS * 1_000_000 for t in seen)


def test_the_wait_is_bounded_and_can_be_turned_off(tmp_path: Path, data_dir: Path) -> None:
    """No feed for a recovered composite: the gateway still opens, after ``market_wait``."""
    files = default_data_files(data_dir)
    journal = JournalSettings(dir=str(tmp_path / "journal"))
    reg = _registry(tmp_path)
    _priced_run(tmp_path, files, journal, reg)
    only_eth = [f for f in files if f.symbol is not None and "ETH" in f.symbol]
    assert only_eth and len(only_eth) < len(files)
    with Server(reg, market_files=only_eth, speed=1.0, journal=journal, idle="park", market_wait=0.5) as desk:
        assert 0.5 <= desk.market_waited < 5.0
        with pytest.raises(RequestRejected, match="STALE_MARKET|NO_MARKET"):
            _first_quote(desk)  # BTC has no feed: refused, said so
    with Server(reg, market_files=only_eth, speed=1.0, journal=journal, idle="park", market_wait=0) as desk:
        assert desk.market_waited == 0.0
