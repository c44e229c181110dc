"""The hedging desk, assembled: two simulated venues, the engine with the packaged hedging
configuration, and the venue link (docs/hedging.md).

Used by ``rfqcore hedge-demo``, the end-to-end tests and ``bench/hedge_bench.py``::

    with hedging_desk() as desk:
        q = desk.engine.request_quote("acme-capital", "BTC", "buy", 3)
        desk.engine.accept(q)
        desk.wait_hedged()
        print(desk.engine.hedge_status_raw())

* venue 1, **Binance-style** (`rfqcore venue-sim --style binance`): BTCUSDT spot, seeded from the
  recorded Binance spot book of 2024-08-08;
* venue 2, **OKX-style** (`--style okx`): BTC-USDT, seeded from the Binance USD-M BTCUSDT book
  recorded at the same moment (so both venues quote consistent prices; the perpetual's book sits
  a few bps from spot, which the composite's cross tolerance allows).

Each venue is a real subprocess on loopback; the desk's account there has the taker fee the
hedging configuration assumes (1.0 and 0.8 bp).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from importlib import resources
from typing import TYPE_CHECKING, Any, Literal

from rfqcore.engine import Engine
from rfqcore.hedger import Hedger, VenueLink
from rfqcore.instruments import Registry
from rfqcore.journal import JournalSettings
from rfqcore.rfqconfig import RfqSettings
from rfqcore.stop_signals import StopSignals, Stopped
from rfqcore.venuesim.sim import SimConfig, SimProcess
from rfqcore.venuesim.simbook import SimAccount

if TYPE_CHECKING:
    from rfqcore_core import HedgeView

__all__ = ["HedgeDesk", "hedging_desk", "desk_registry", "desk_settings", "sim_configs", "DESK_KEYS"]

#: the desk's API credentials at each simulated venue: (api key, secret, passphrase)
DESK_KEYS: dict[int, tuple[str, str, str]] = {
    1: ("desk-binance-key", "desk-binance-secret", ""),
    2: ("desk-okx-key", "desk-okx-secret", "desk-okx-pass"),
}
_BALANCES = {"BTC": Decimal("500"), "USDT": Decimal("50000000")}


def _text(name: str) -> str:
    return resources.files("rfqcore").joinpath(f"defaults/{name}").read_text("utf-8")


def desk_registry() -> Registry:
    return Registry.from_toml(_text("hedge-instruments.toml"), "defaults/hedge-instruments.toml")


def desk_settings(registry: Registry, overrides: str = "") -> RfqSettings:
    """The packaged hedging settings; ``overrides`` is TOML text appended before parsing."""
    return RfqSettings.from_toml(_text("hedge-rfq.toml") + overrides, registry, "defaults/hedge-rfq.toml")


def sim_configs(at_index: int | None = None, replay_speed: float | None = 1.0) -> tuple[SimConfig, SimConfig]:
    """The two venues' simulator configurations (ephemeral ports). With ``replay_speed`` the
    venues keep replaying the recorded flow after the seed (real time at 1.0), so their books move
    and stream like a live market (``None``: static books that only clients move)."""
    b_key, b_secret, _ = DESK_KEYS[1]
    o_key, o_secret, o_pass = DESK_KEYS[2]
    binance = SimConfig(style="binance", symbol="BTCUSDT", seed="binance-spot", at_index=at_index,
                        replay_speed=replay_speed,
                        accounts=[SimAccount("desk", b_key, b_secret, balances=dict(_BALANCES), taker_cbps=100)])
    okx = SimConfig(style="okx", symbol="BTC-USDT", seed="binance-usdm", seed_symbol="BTCUSDT",
                    tick=Decimal("0.1"), lot=Decimal("0.00000001"), base="BTC", quote="USDT", at_index=at_index,
                    replay_speed=replay_speed,
                    accounts=[SimAccount("desk", o_key, o_secret, o_pass, balances=dict(_BALANCES), taker_cbps=80)])
    return binance, okx


def venue_links(binance: SimProcess, okx: SimProcess) -> list[VenueLink]:
    from rfqcore.venues.binance import BinanceAdapter
    from rfqcore.venues.okx import OkxAdapter

    b_key, b_secret, _ = DESK_KEYS[1]
    o_key, o_secret, o_pass = DESK_KEYS[2]

    def make_binance(**cb: Any) -> BinanceAdapter:
        return BinanceAdapter("binance-sim", rest_url=binance.http, ws_url=binance.ws, api_key=b_key,
                              secret=b_secret, symbols=["BTCUSDT"], market_streams=("depth@100ms",),
                              backoff=(0.05, 0.5), **cb)

    def make_okx(**cb: Any) -> OkxAdapter:
        return OkxAdapter("okx-sim", public_url=okx.ws + "/ws/v5/public", private_url=okx.ws + "/ws/v5/private",
                          rest_url=okx.http, api_key=o_key, secret=o_secret, passphrase=o_pass,
                          symbols=["BTC-USDT"], backoff_initial=0.05, backoff_max=0.5, **cb)

    return [VenueLink(1, "binance-spot:BTCUSDT", make_binance), VenueLink(2, "okx:BTC-USDT", make_okx)]


@dataclass
class HedgeDesk:
    engine: Engine
    hedger: Hedger
    venues: dict[int, SimProcess]
    #: a stop request (SIGINT / SIGTERM): every wait raises ``Stopped`` once it arrived
    stop: StopSignals | None = None

    def wait(self, cond: Any, timeout: float = 10.0, what: str = "condition") -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.stop is not None:
                self.stop.check()
            if cond():
                return
            time.sleep(0.005)
        raise TimeoutError(f"{what} not reached in {timeout} s: hedge status {self.engine.hedge_status_raw()}, "
                           f"hedger {self.hedger.stats()}, errors {self.hedger.errors[-5:]}")

    def status(self) -> HedgeView:
        (s,) = self.engine.hedge_status_raw()
        return s

    def wait_available(self, timeout: float = 15.0) -> None:
        self.wait(lambda: self.status()["available"] and self.engine.composite_mid("BTC") is not None,
                  timeout, "hedging available")

    def wait_hedged(self, timeout: float = 10.0) -> HedgeView:
        """Until nothing is pending and the hedged quantity equals the policy's target."""
        def done() -> bool:
            s = self.status()
            return bool(s["pending"] == 0 and s["hedged"] == -s["client_flow"])
        self.wait(done, timeout, "hedged")
        return self.status()

    def venue_fills(self, venue: int) -> list[dict[str, Any]]:
        """The desk's fills as the venue itself recorded them (``/sim/state``)."""
        st = self.venues[venue].state()
        fills: list[dict[str, Any]] = st["accounts"]["desk"]["fills"]
        return fills

    def venue_position(self, venue: int) -> Decimal:
        """The desk's net position at ``venue`` by the venue's own record of its fills (signed by
        each order's side), to hold against the core's hedge position there."""
        st = self.venues[venue].state()["accounts"]["desk"]
        sides = {o["order_id"]: o["side"] for o in st["orders"]}
        return sum((Decimal(f["qty"]) * (1 if sides[f["order_id"]] == "BUY" else -1) for f in st["fills"]),
                   Decimal(0))


@contextmanager
def hedging_desk(*, overrides: str = "", journal: JournalSettings | str | None = None,
                 at_index: int | None = None, heartbeat_ms: float = 1.0,
                 settings: RfqSettings | None = None, replay_speed: float | None = 1.0,
                 idle: Literal["spin", "yield", "park"] = "yield",
                 stop: StopSignals | None = None, id_prefix: str | None = None) -> Iterator[HedgeDesk]:
    """Start both simulated venues, the engine and the hedger; wait until hedging is available.
    ``settings`` replaces the packaged RFQ settings (build them on :func:`desk_registry`);
    ``stop`` makes every wait of the desk end with ``Stopped`` on SIGINT / SIGTERM."""
    reg = settings.registry if settings is not None else desk_registry()
    settings = settings if settings is not None else desk_settings(reg, overrides)
    b_cfg, o_cfg = sim_configs(at_index, replay_speed)
    with SimProcess(b_cfg) as b, SimProcess(o_cfg) as o:
        eng = Engine(reg, rfq=settings, journal=journal, idle=idle)
        try:
            eng.start(heartbeat_ms=heartbeat_ms)
            hedger = Hedger(eng, venue_links(b, o), id_prefix=id_prefix)
            hedger.start()
            try:
                desk = HedgeDesk(eng, hedger, {1: b, 2: o}, stop)
                desk.wait_available()
                yield desk
            finally:
                hedger.stop()
        finally:
            eng.close()


def _fmt_units(v: int, decimals: int) -> str:
    return format(Decimal(v).scaleb(-decimals).normalize(), "f") if v else "0"


def demo(out: Any = None) -> int:
    """``rfqcore hedge-demo``: client fills hedged on the two simulated venues, then an outage.
    SIGINT (Ctrl-C) or SIGTERM stops it in order (hedger, core, venues), no traceback; exit 130."""
    import sys

    w = out or sys.stdout
    with StopSignals() as stop:
        try:
            return _demo(w, stop)
        except Stopped as e:
            print(f"hedge-demo: stopped ({e}) before the end; venues, hedger and core shut down in order",
                  file=w, flush=True)
            return 130


def _demo(w: Any, stop: StopSignals) -> int:
    from rfqcore.records import HEDGE_ORDER_STATES, ClientSide
    from rfqcore.rfq import Quote, RequestRejected

    def p(*a: object) -> None:
        print(*a, file=w, flush=True)

    t0 = time.monotonic()
    p("hedge-demo: starting two simulated venues (Binance-style REST/WS, OKX-style WS order entry) "
      "seeded from the recorded 2024-08-08 books, the core, and the venue link ...")
    with hedging_desk(stop=stop) as desk:
        eng = desk.engine
        desk.wait(lambda: all(eng.best(k) is not None for k in ("binance-spot:BTCUSDT", "okx:BTC-USDT")),
                  15, "both venues' books")
        reg = eng.registry
        comp = reg.composite("BTC")
        p(f"  up in {time.monotonic() - t0:.1f} s; composite BTC mid {_fmt_units(eng.composite_mid_raw('BTC') or 0, comp.price_decimals)}")
        names = {1: "binance-sim", 2: "okx-sim"}
        insts = {1: reg.by_key("binance-spot:BTCUSDT"), 2: reg.by_key("okx:BTC-USDT")}
        for client, side, qty in (("acme-capital", ClientSide.BUY, 12), ("beta-fund", ClientSide.SELL, 3),
                                  ("acme-capital", ClientSide.SELL, 4)):
            seen = len(eng.hedge_orders_raw())
            q = eng.request_quote(client, "BTC", side, qty)
            assert isinstance(q, Quote)
            ex = eng.accept(q)
            s = desk.wait_hedged()
            p(f"\n  {client} {'buys' if side == ClientSide.BUY else 'sells'} {qty} BTC at "
              f"{_fmt_units(ex.price_raw, comp.price_decimals)} -> hedge orders:")
            for o in eng.hedge_orders_raw()[seen:]:
                i = insts[o["venue"]]
                avg = o["notional"] // o["filled"] if o["filled"] else 0
                p(f"    #{o['cl_ord_id']:<3} {names[o['venue']]:<11} {'BUY ' if o['side'] == 0 else 'SELL'} "
                  f"{_fmt_units(o['qty'], i.qty_decimals):>10} limit {_fmt_units(o['price'], i.price_decimals):>9}  "
                  f"filled {_fmt_units(o['filled'], i.qty_decimals):>10} avg {_fmt_units(avg, i.price_decimals):>9}  "
                  f"{HEDGE_ORDER_STATES[o['state']]}")
            p(f"    desk position {_fmt_units(eng.positions()['BTC'].qty_raw, comp.qty_decimals)} BTC; "
              f"hedge slippage so far {_fmt_units(s['slippage'], comp.price_decimals + comp.qty_decimals)} USDT "
              f"against {_fmt_units(s['matched_notional'], comp.price_decimals + comp.qty_decimals)} USDT quoted "
              f"({(s['slippage'] * 10**6 // max(s['matched_notional'], 1)) / 100:+.2f} bp; negative = the desk bought "
              f"below / sold above its quotes)")
        tick = 10 ** max(comp.price_decimals - 1, 0)   # the internal book's tick: 0.1 USDT
        spot = eng.best("binance-spot:BTCUSDT")      # same price scale as the composite
        best_ask = spot.ask_price_raw if spot is not None else eng.composite_mid_raw("BTC") or 0
        px = (best_ask // tick) * tick - tick          # one tick inside the best venue ask
        ev = eng.desk_order_raw("BTC", 1, px, 2 * 10**8)    # the desk offers 2 BTC internally
        p(f"\n  internal crossing book: desk sell order #{ev.order_id % 10**6} 2 BTC at "
          f"{_fmt_units(px, comp.price_decimals)} -> {ev.event}")
        seen = len(eng.hedge_orders_raw())
        q = eng.request_quote("beta-fund", "BTC", "buy", 3)
        assert isinstance(q, Quote)
        ex = eng.accept(q)
        s = desk.wait_hedged()
        internal = s["internal"]
        assert internal is not None, "the desk's hedging has an internal crossing book"
        p(f"  beta-fund buys 3 BTC at {_fmt_units(ex.price_raw, comp.price_decimals)} -> 2 BTC crossed against the desk "
          f"order (desk book position now {_fmt_units(internal['position'], comp.qty_decimals)} BTC), "
          f"{_fmt_units(sum(o['filled'] * (100 if o['venue'] == 1 else 1) for o in eng.hedge_orders_raw()[seen:]), comp.qty_decimals)} "
          f"BTC routed to the venues; client-flow position {_fmt_units(eng.positions()['BTC'].qty_raw, comp.qty_decimals)} BTC")
        p("\n  outage: both venues drop every connection for 1.5 s ...")
        for v in desk.venues.values():
            v.admin("disconnect", ms=1500)
        outage_ends = time.monotonic() + 1.5
        desk.wait(lambda: not desk.status()["available"], 5, "hedging unavailable")
        try:
            eng.request_quote("acme-capital", "BTC", "buy", 1)
            p("    (unexpected) quoted while no venue could hedge")
            return 1
        except RequestRejected as e:
            p(f"    RFQ while no venue can hedge -> rejected {e.reason_name}")
        # past the outage (a link that came back inside it is dropped again) and every venue up
        desk.wait(lambda: time.monotonic() > outage_ends and all(v["up"] for v in desk.status()["venues"]),
                  20, "both venues back")
        desk.wait_available(timeout=20)
        q = eng.request_quote("acme-capital", "BTC", "buy", 1)
        assert isinstance(q, Quote)
        eng.accept(q)
        s = desk.wait_hedged()
        p(f"    venues back (reconnected, orders reconciled) -> quoting again; 1 BTC hedged; "
          f"desk position {_fmt_units(eng.positions()['BTC'].qty_raw, comp.qty_decimals)} BTC")
        for hv in s["venues"]:
            fills = desk.venue_fills(hv["venue"])
            qd = insts[hv["venue"]].qty_decimals
            p(f"  {names[hv['venue']]}: core's hedge position {_fmt_units(hv['position'], qd)} BTC "
              f"from {len(fills)} venue fills")
        lat = desk.hedger.fill_to_wire.summary()
        p(f"\n  client fill -> hedge order handed to the venue connection: p50 {lat.p50 / 1000:.0f} us, "
          f"max {lat.max / 1000:.0f} us over {lat.count} orders (bench/hedge_bench.py measures it properly)")
    p(f"hedge-demo done in {time.monotonic() - t0:.1f} s")
    return 0
