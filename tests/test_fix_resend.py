"""A FIX order sent again after ``serve`` restarted (docs/fix.md, NewOrderSingle): with a
settlement store, the restarted desk answers it with the report of the fill it booked before
(from the store's trades and the FIX store's record of the order), never a second fill."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from desk_market import feed_market, free_port
from fix_resend_client import resend_across_restart


def test_a_restarted_desk_answers_a_resent_order_with_its_booked_fill(tmp_path: Path) -> None:
    from rfqcore.journal import JournalSettings
    from rfqcore.serve import Server

    port = free_port()

    def start() -> Server:
        srv = Server(market_files=[], fix_port=port, fix_store=str(tmp_path / "fix"),
                     journal=JournalSettings(str(tmp_path / "journal")),
                     settlement_store=f"sqlite:///{tmp_path / 'settlement.db'}")
        srv.start()
        assert srv.engine is not None
        feed_market(srv.engine)
        return srv

    desk = [start()]

    def restart() -> None:
        desk[0].stop()   # the writer flushes the fill into the store
        desk[0] = start()

    def position() -> Any:
        eng = desk[0].engine
        assert eng is not None
        return eng.client_positions("acme-capital")["BTC"].qty

    try:
        resend_across_restart(port, tmp_path / "client", restart, position)
    finally:
        desk[0].stop()
