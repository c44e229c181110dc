"""``rfqcore serve``: the desk process — media driver, core, market data, Aeron gateway.

:class:`Server` starts, in order:

1. the embedded Aeron media driver (``pyaeron``; or uses a running one given ``aeron_dir``),
2. the :class:`~rfqcore.engine.Engine` (Rust core thread + output pump) with the RFQ settings,
   a ``gateway`` input ring and a tap ring for the gateway's answers,
3. market data: the recorded Binance streams replayed in a thread with receive times
   restamped to the wall clock (``live_clock``) — the stand-in for live venue handlers — or
   nothing (``market_data=False``; feed the engine yourself),
4. the gateway in its own process (no GIL shared with the engine), which authenticates client
   and operator sessions on the request stream and answers on per-principal streams.

Clients connect with :class:`rfqcore.client.RfqClient`, operators with
:class:`rfqcore.client.OperatorClient` (or the ``rfqcore op`` commands).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from rfqcore.engine import Engine
from rfqcore.gateway.aeron import EmbeddedDriver, wait_for_driver
from rfqcore.gateway.server import GatewayProcess
from rfqcore.instruments import Registry
from rfqcore.hedger import Hedger, VenueLink
from rfqcore.journal import JournalSettings
from rfqcore.records import BookStatus
from rfqcore.rfqconfig import RfqSettings

__all__ = ["Server"]


class Server:
    """Everything ``rfqcore serve`` runs, as a context manager."""

    def __init__(self, registry: Registry | None = None, settings: RfqSettings | None = None, *,
                 config_path: str | None = None, rfq_config_path: str | None = None,
                 aeron_dir: str | None = None, channel: str | None = None,
                 market_files: list[Path] | None = None, speed: float | None = None,
                 idle: str = "yield", journal: JournalSettings | None = None,
                 settlement_store: str | None = None, settlement_spill: str | None = None,
                 venues: list[VenueLink] | None = None) -> None:
        self.registry = registry if registry is not None else Registry.load(config_path)
        self.settings = settings if settings is not None else RfqSettings.load(rfq_config_path, self.registry)
        self.config_path, self.rfq_config_path = config_path, rfq_config_path
        self.aeron_dir = aeron_dir or self.settings.gateway.aeron_dir
        self.channel = channel
        self.market_files = market_files or []
        self.speed = speed
        self.idle = idle
        self.journal = journal
        self.settlement_store = settlement_store
        self.settlement_spill = settlement_spill
        self.settlement: Any = None
        self.venues = venues or []
        self.hedger: Hedger | None = None
        self.driver: EmbeddedDriver | None = None
        self.engine: Engine | None = None
        self.gateway: GatewayProcess | None = None
        self.replay_stats: dict[str, Any] | None = None
        self.replay_error: BaseException | None = None
        self._replay: threading.Thread | None = None
        self._driver_replay: Any = None

    # -- lifetime ----------------------------------------------------------------------------

    def start(self) -> Server:
        if self.aeron_dir:
            try:
                wait_for_driver(self.aeron_dir, timeout=0.5)  # an external driver is running
            except Exception:  # noqa: BLE001 - none there: embed one in that directory
                self.driver = EmbeddedDriver(self.aeron_dir)
        else:
            self.driver = EmbeddedDriver()
            self.aeron_dir = self.driver.dir
        eng = self.engine = Engine(self.registry, rfq=self.settings, idle=self.idle,  # type: ignore[arg-type]
                                   journal=self.journal)
        if self.settlement_store:
            from rfqcore.settlement.model import Catalog
            from rfqcore.settlement.store import open_store
            from rfqcore.settlement.writer import SettlementWriter

            url = self.settlement_store
            # executions reach the store from the output pump, through the writer's own queue
            # and thread: the core never waits for the store (docs/settlement.md)
            spill = self.settlement_spill or (url[len("sqlite:///"):] + ".spill.jsonl" if url.startswith("sqlite:///")
                                              else "rfqcore-settlement.spill.jsonl")
            self.settlement = SettlementWriter(lambda: open_store(url), Catalog.from_engine(eng), spill_path=spill)
            self.settlement.attach_events(eng)
            self.settlement.start()
        eng.add_producer("gateway")
        tap = eng.add_tap("gateway")
        eng.start(heartbeat_ms=1)
        if self.venues:
            # the venue link: hedge orders out, venue reports, link state and market data in
            self.hedger = Hedger(eng, self.venues)
            self.hedger.start()
        self.gateway = GatewayProcess(eng.ring_path("gateway"), tap, aeron_dir=self.aeron_dir,
                                      settings_path=self.rfq_config_path, registry_path=self.config_path,
                                      channel=self.channel, idle="yield", idle_spins=0).start()
        if self.market_files:
            from rfqcore.replay import ReplayDriver

            self._driver_replay = ReplayDriver(
                [str(f) for f in self.market_files], self.registry, eng.add_producer("md"),
                speed=self.speed, strict=False, live_clock=True)
            self._replay = threading.Thread(target=self._run_replay, name="rfqcore-replay", daemon=True)
            self._replay.start()
        return self

    def _run_replay(self) -> None:
        try:
            self._driver_replay.run()
            self.replay_stats = self._driver_replay.stats()
        except BaseException as e:  # noqa: BLE001 - reported by the caller
            self.replay_error = e

    def wait_live(self, composites: list[str] | None = None, timeout: float = 30.0) -> bool:
        """Wait until every member book of ``composites`` (default: all) is live."""
        assert self.engine is not None
        names = composites or [c.name for c in self.registry.composites]
        members = [m for n in names for m in self.registry.composite(n).members]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(self.engine.book_status(m) == BookStatus.LIVE for m in members):
                return True
            if self.replay_error is not None:
                raise self.replay_error
            time.sleep(0.05)
        return False

    def stop(self) -> None:
        if self._replay is not None:
            if self._driver_replay is not None:
                self._driver_replay.stop()
            self._replay.join(10)
            self._replay = None
        if self.gateway is not None:
            self.gateway.stop()
            self.gateway = None
        if self.hedger is not None:
            self.hedger.stop()
            self.hedger = None
        if self.engine is not None:
            self.engine.close()  # stops the core after it drained its inputs
        if self.settlement is not None:
            self.settlement.stop()  # flushes, or spills what the store could not take
            self.settlement = None
        if self.driver is not None:
            self.driver.close()
            self.driver = None

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
