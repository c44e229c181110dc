"""Engine.set_pricing / set_member with a journal: the change travels as CONTROL records
(SET_LADDER, SET_PRICING, SET_MEMBER), so a replay of the journal reproduces it bit for bit."""

from __future__ import annotations

import time
from decimal import Decimal

import numpy as np
import pytest

from rfqcore.engine import Engine
from rfqcore.instruments import Registry
from rfqcore.journal import JournalSettings, replay
from rfqcore.operator import ControlRejected
from rfqcore.records import RECORD_DTYPE, Flag, Kind
from rfqcore.rfqconfig import RfqSettings


def _book(inst_id: int, ts: int) -> np.ndarray:
    recs = np.zeros(41, dtype=RECORD_DTYPE)
    recs[0] = (Kind.BOOK_CLEAR, inst_id, 255, Flag.SNAPSHOT, 0, 1, 0, ts, 0, 0, 0, 0)
    for i in range(20):
        recs[1 + 2 * i] = (Kind.BOOK_LEVEL, inst_id, 0, Flag.SNAPSHOT, 0, 1, 0, ts, 6_000_000 - 100 * i, 1_000_000, 0, 0)
        recs[2 + 2 * i] = (Kind.BOOK_LEVEL, inst_id, 1, Flag.SNAPSHOT, 0, 1, 0, ts, 6_000_100 + 100 * i, 1_000_000, 0, 0)
    recs[-1]["flags"] |= Flag.END
    return recs


def test_journaled_pricing_and_membership_changes_replay(tmp_path) -> None:
    reg = Registry.load()
    settings = RfqSettings.load(registry=reg)
    spot = reg.by_key("binance-spot:BTCUSDT").id   # 2 price / 6 qty decimals
    jdir = tmp_path / "j"
    with Engine(reg, rfq=settings, journal=JournalSettings(str(jdir), durability="none")) as eng:
        eng.start(heartbeat_ms=1)
        eng.feed(_book(spot, time.time_ns()), "md")
        eng.set_pricing("BTC", base_bps=2, size_bps_per_unit="0.03", sizes=["0.1", Decimal("0.5"), 1])
        with pytest.raises(ValueError, match="increasing"):
            eng.set_pricing_raw("BTC", base_cbps=200, size_cbps_per_unit=3, sizes=[10**8, 10**7])
        with pytest.raises(ValueError, match=r"^sizes: 0.000000001 has more than 8 decimals$"):
            eng.set_pricing("BTC", base_bps=2, size_bps_per_unit=0, sizes=["0.000000001"])
        eng.set_member("BTC", "binance-usdm:BTCUSDT", False)
        with pytest.raises(ControlRejected, match="BAD_COMMAND"):
            eng.set_member("BTC", "binance-spot:ETHUSDT", False)   # not a member of BTC
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and [q.size_raw for q in eng.quotes("BTC")] != [10**7, 5 * 10**7, 10**8]:
            time.sleep(0.01)
        assert [q.size_raw for q in eng.quotes("BTC")] == [10**7, 5 * 10**7, 10**8]
    rep = replay(jdir, reg, settings)
    assert rep["first_divergence"] is None, rep
