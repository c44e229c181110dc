"""What the Rust gateway (rfqcore.gateway.native) adds over the Python one, end to end over a
real media driver: tests/test_gateway.py runs every behaviour test against both gateways; the
gateway's logic is also tested without Aeron in core_ext/crates/rfq-gateway/tests/gateway.rs
(3,000 mutated and truncated frames against an independent oracle among them)."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from typing import Any

import pytest

from rfqcore.gateway.aeron import EmbeddedDriver
from rfqcore.gateway.native import NativeGateway
from test_gateway import ACME, Agent, loopback_desk


@pytest.fixture
def desk(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, NativeGateway]]:
    """A loopback core behind the native gateway, on a driver that notices a dead client within
    2 s (Aeron's client liveness timeout; 10 s by default)."""
    monkeypatch.setenv("AERON_CLIENT_LIVENESS_TIMEOUT", "2s")
    monkeypatch.setenv("AERON_PUBLICATION_LINGER_TIMEOUT", "100ms")
    with loopback_desk(NativeGateway) as (_core, driver, gw):
        yield driver.dir, gw


def _wait(pred: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.05)
    return False


def test_a_session_ends_when_its_client_process_dies(desk: tuple[str, NativeGateway]) -> None:
    """kill -9 of a logged-on client: once the driver drops its publication, the gateway ends the
    session, so the token it left on the response stream cannot be used by anybody."""
    aeron_dir, gw = desk
    agent = Agent()
    try:
        agent("new", "victim", "client", ACME.id, ACME.secret.hex(), aeron_dir)
        agent("call", "victim", "logon")
        assert gw.stats()["sessions_by_role"]["client"] == 1
        os.kill(agent.proc.pid, signal.SIGKILL)
        assert _wait(lambda: gw.stats()["sessions_ended_image_gone"] == 1, 20.0), gw.stats()
        st = gw.stats()
        assert st["sessions"] == 0 and st["images_gone"] >= 1
    finally:
        agent.proc.join(5)


def test_a_client_that_logs_out_and_back_on_keeps_working(desk: tuple[str, NativeGateway]) -> None:
    """An image that goes away ends only the sessions bound to it: a new logon from a new
    publication of the same client is unaffected by the old one's departure."""
    aeron_dir, gw = desk
    agent = Agent()
    try:
        agent("new", "a", "client", ACME.id, ACME.secret.hex(), aeron_dir)
        agent("call", "a", "logon")
        agent("close", "a")  # logout + close: the old publication goes away
        agent("new", "b", "client", ACME.id, ACME.secret.hex(), aeron_dir)
        agent("call", "b", "logon")
        assert _wait(lambda: gw.stats()["images_gone"] >= 1, 20.0)
        q = agent("call", "b", "request_quote", "BTC", "buy", "1", timeout=5.0)
        assert q.buy_qty == 1
        assert gw.stats()["sessions_by_role"]["client"] == 1
    finally:
        agent.close()


def test_start_failures_are_one_line(tmp_path: Any) -> None:
    """A gateway that cannot start says why (here: its ring does not exist), without a traceback
    from the agent thread."""
    driver = EmbeddedDriver()
    try:
        gw = NativeGateway(str(tmp_path / "missing.ring"), str(tmp_path / "tap.ring"), aeron_dir=driver.dir)
        with pytest.raises(RuntimeError, match=r"gateway failed to start: gateway ring: .*missing\.ring"):
            gw.start()
        assert gw.stop() is None
    finally:
        driver.close()


def test_a_fill_booked_before_a_restart_can_still_be_asked_for(tmp_path: Any) -> None:
    """The desk books a fill and goes down; the client never saw its report (here: it asks from a
    new process). The restarted desk gives the gateway the settlement store's recent trades, so
    `executions_since` still returns the fill, field for field, and `quote_status` says its quote
    was filled by it."""
    from decimal import Decimal

    from desk_market import feed_market

    from rfqcore.client import RfqClient
    from rfqcore.serve import Server
    from rfqcore.settlement.store import open_store

    store = f"sqlite:///{tmp_path}/settlement.db"
    with Server(market_files=[], settlement_store=store) as desk:
        feed_market(desk.engine)
        with RfqClient("acme-capital", aeron_dir=desk.aeron_dir) as c:
            ex = c.accept(c.request_quote("BTC", "buy", "0.5"))
    with open_store(store) as st:  # stopping the desk flushed its settlement writer
        assert [t.trade_id for t in st.trades()] == [ex.trade_id]
    with Server(market_files=[], settlement_store=store) as desk, \
            RfqClient("acme-capital", aeron_dir=desk.aeron_dir) as again:
        got = again.executions_since(0)
        status = again.quote_status(ex.quote_id)  # and what became of the quote: filled, by that trade
    assert got.complete and len(got.executions) == 1
    assert (status.state.name, status.trade_id, status.rfq_id, status.side) == ("FILLED", ex.trade_id, ex.rfq_id,
                                                                                   ex.side)
    assert (status.price, status.qty, status.core_time) == (ex.price, ex.qty, ex.core_time)
    e = got.executions[0]
    assert (e.trade_id, e.quote_id, e.rfq_id, e.accept_id, e.side) == (ex.trade_id, ex.quote_id, ex.rfq_id,
                                                                         ex.accept_id, ex.side)
    assert (e.price, e.qty, e.notional, e.fee, e.core_time) == (ex.price, ex.qty, ex.notional, ex.fee, ex.core_time)
    assert e.qty == Decimal("0.5")
