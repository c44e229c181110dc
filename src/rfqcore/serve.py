"""``rfqcore serve``: the desk process — media driver, core, market data, Aeron gateway.

:class:`Server` starts, in order:

1. the embedded Aeron media driver (``pyaeron``; or uses a running one given ``aeron_dir``),
2. the :class:`~rfqcore.engine.Engine` (Rust core thread + output pump) with the RFQ settings,
   a ``gateway`` input ring and a tap ring for the gateway's answers,
3. market data: the recorded Binance streams replayed in a thread with receive times
   restamped to the wall clock (``live_clock``) — the stand-in for live venue handlers — or
   nothing (``market_data=False``; feed the engine yourself); when the core starts from a state
   with prices (a recovered journal, a cluster's committed log) the gateway waits, at most
   ``market_wait`` seconds, until those composites' books are fresh again
   (:meth:`Server._await_market`),
4. the gateway: the Rust agent thread of this process beside the core thread
   (:class:`~rfqcore.gateway.native.NativeGateway`, no Python on its path), which authenticates
   client and operator sessions on the request stream and answers on per-principal streams; with
   ``python_gateway=True`` (``serve --python-gateway``) the Python gateway in a process of its
   own instead (the documented fallback, :mod:`rfqcore.gateway.server`),
5. with ``http="HOST:PORT"``, the HTTP endpoints ``/metrics``, ``/healthz``, the RFQ portal
   (``/api/``, ``/portal/``) and the operator console (``/console/``; docs/web.md).
6. with ``fix_port=N``, the FIX 4.4 acceptor (QuickFIX; docs/fix.md) on the engine's Python API.

Clients connect with :class:`rfqcore.client.RfqClient`, operators with
:class:`rfqcore.client.OperatorClient` (or the ``rfqcore op`` commands).

One desk per Aeron directory and per journal directory: :meth:`Server.start` takes an
:class:`~rfqcore.instance.InstanceLock` on each (a second desk is refused with
:class:`~rfqcore.instance.AlreadyRunning`, naming the running PID) and first removes what a
killed desk left in shared memory (its rings, its embedded driver's directory).
:meth:`Server.stop` stops the parts in order — the HTTP endpoints, market data and the gateway (intake), the
venue link, the core after it drained its inputs (the journal flushed), the settlement writer
(flushed), the media driver — then removes the rings and lets the locks go.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from rfqcore.engine import Engine
from rfqcore.errors import JournalError
from rfqcore.gateway.aeron import AeronUnavailable, EmbeddedDriver, unique_dir, wait_for_driver
from rfqcore.gateway.native import NativeGateway
from rfqcore.gateway.server import GatewayProcess
from rfqcore.instruments import Composite, Registry
from rfqcore.hedger import Hedger, VenueLink, journal_id_prefix
from rfqcore.instance import InstanceLock, remove_stale, sweep_stale
from rfqcore.journal import JournalSettings
from rfqcore.records import BookStatus
from rfqcore.rfqconfig import RfqSettings

if TYPE_CHECKING:
    from rfqcore.fix.acceptor import FixGateway
    from rfqcore.web.server import HttpServer

__all__ = ["Server"]

log = logging.getLogger("rfqcore.serve")

_BUSY_HINT = ("stop that desk first (Ctrl-C in its terminal, or kill -TERM {pid}), "
              "or give this one another {option}")


def _shm() -> str | None:
    return "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None



def _open_web_store(store: Callable[[str], Any], path: str, what: str, fix: str) -> Any:
    """``store(path)`` (an SQLite file the web apps keep), or one line saying why not and what to do."""
    import sqlite3

    from rfqcore.web.server import HttpUnavailable

    try:
        return store(path)
    except (sqlite3.Error, OSError) as e:
        raise HttpUnavailable(f"cannot keep {what} in {path}: {e}; {fix}") from None


#: the gateway agent's idle for the desk's ``idle``: ``park`` (the core backs off to 1 ms parks)
#: is the gateway's ``sleep`` (50 µs sleeps once idle a while)
_GATEWAY_IDLE = {"spin": "spin", "yield": "yield", "park": "sleep"}


class Server:
    """Everything ``rfqcore serve`` runs, as a context manager."""

    def __init__(self, registry: Registry | None = None, settings: RfqSettings | None = None, *,
                 config_path: str | None = None, rfq_config_path: str | None = None,
                 aeron_dir: str | None = None, channel: str | None = None, response_channel: str | None = None,
                 market_files: Sequence[os.PathLike[str]] | None = None, speed: float | None = None,
                 idle: Literal["spin", "yield", "park"] = "yield", journal: JournalSettings | None = None,
                 settlement_store: str | None = None, settlement_spill: str | None = None,
                 venues: list[VenueLink] | None = None, log_level: int = logging.WARNING,
                 http: str | None = None, http_tls: tuple[str, str] | None = None, fix_port: int | None = None,
                 fix_store: str | None = None, fix_host: str | None = None,
                 fix_tls: tuple[str, str] | None = None,
                 python_gateway: bool = False, http_sessions: str | None = None,
                 market_wait: float = 5.0) -> None:
        self.registry = registry if registry is not None else Registry.load(config_path)
        self.settings = settings if settings is not None else RfqSettings.load(rfq_config_path, self.registry)
        self.config_path, self.rfq_config_path = config_path, rfq_config_path
        self.aeron_dir = aeron_dir or self.settings.gateway.aeron_dir
        self.channel = channel
        #: the channel the gateway answers on (None: ``channel``, or the settings' ``[gateway]``)
        self.response_channel = response_channel
        self.market_files = market_files or []
        self.speed = speed
        #: at most this many seconds between the market data starting and the gateway opening, for
        #: the books of a state the core starts from (a recovered journal, a cluster's committed log)
        #: to be fresh again (:meth:`_await_market`); 0: open it at once
        self.market_wait = market_wait
        self.idle = idle
        self.journal = journal
        self.settlement_store = settlement_store
        self.settlement_spill = settlement_spill
        self.settlement: Any = None
        self.venues = venues or []
        self.log_level = log_level  # of the gateway
        self.python_gateway = python_gateway
        #: ``HOST:PORT`` of the HTTP endpoints (/metrics, /healthz; docs/web.md), None = none
        self.http = http
        #: (certificate, key) PEM files: serve HTTPS instead (docs/web.md)
        self.http_tls = http_tls
        #: the SQLite file keeping the portal's and the console's sessions across restarts (docs/web.md);
        #: None: ``web-sessions.sqlite`` in the journal directory, or (without a journal) memory only
        self.http_sessions = http_sessions
        self.session_store: Any = None  # while it serves (rfqcore.web.sessions.SessionStore)
        #: the portal's blotter rows across restarts (rfqcore.web.blotter_store.BlotterStore): with a
        #: journal, ``portal-blotter.sqlite`` in its directory (docs/web.md)
        self.blotter_store: Any = None
        self.web: HttpServer | None = None  # while it serves
        self.portal: Any = None  # the RFQ portal on it (rfqcore.web.portal.Portal)
        self.console: Any = None  # the operator console on it (rfqcore.web.console.Console)
        #: the FIX acceptor's port, message store directory and listen host (docs/fix.md): None takes
        #: the RFQ settings' [fix]; the acceptor runs when a port is given here or [fix] listen is set
        self.fix_port, self.fix_store, self.fix_host = fix_port, fix_store, fix_host
        #: (certificate, key) PEM files: FIX over TLS only (None: [fix] tls_cert/tls_key)
        self.fix_tls = fix_tls
        self.fix: FixGateway | None = None  # while it serves
        self.hedger: Hedger | None = None
        self.driver: EmbeddedDriver | None = None
        self.engine: Engine | None = None
        self.gateway: GatewayProcess | NativeGateway | None = None
        self.replay_stats: dict[str, Any] | None = None
        self.replay_error: BaseException | None = None
        #: seconds the last start waited for fresh market data before opening the gateway
        self.market_waited: float = 0.0
        self._replay: threading.Thread | None = None
        self._driver_replay: Any = None
        self._locks: list[InstanceLock] = []
        self._aeron_lock: InstanceLock | None = None
        self.ring_dir: str | None = None
        #: shared-memory paths of killed desks removed at start
        self.stale_removed: list[str] = []

    # -- lifetime ----------------------------------------------------------------------------

    def start(self) -> Server:
        """Start every part (see the module doc); on any failure, stop what was started."""
        try:
            return self._start()
        except BaseException:
            self.stop()
            raise

    def _lock(self, path: str, what: str, option: str) -> InstanceLock:
        lock = InstanceLock(path, what, _BUSY_HINT.replace("{option}", option))
        try:
            stale = lock.acquire()
        except OSError as e:  # e.g. --aeron-dir in a directory that does not exist or is not ours
            error = JournalError if option == "--journal" else AeronUnavailable
            raise error(f"cannot make the lock file {path} ({e.strerror or e}): give {option} a path in a directory "
                        "that exists and is writable") from None
        self._locks.append(lock)
        if stale:
            self.stale_removed += remove_stale(stale)
        return lock

    def _start(self) -> Server:
        self._start_driver()
        if self.journal is not None:
            try:
                Path(self.journal.dir).mkdir(parents=True, exist_ok=True)
            except OSError as e:  # a file there, or a parent that is one
                why = "a file is in the way" if isinstance(e, (FileExistsError, NotADirectoryError)) else e.strerror
                raise JournalError(f"cannot make the journal directory {self.journal.dir} ({why or e}): give "
                                   "--journal a directory (it is created when missing)") from None
            self._lock(os.path.join(self.journal.dir, "rfqcore.lock"), f"journal {self.journal.dir}", "--journal")
        self._start_core()
        self._start_doors()
        return self

    def _start_driver(self) -> None:
        """What a killed desk left removed, the Aeron directory locked, the media driver embedded
        (unless one runs there)."""
        self.stale_removed += sweep_stale(_shm() or tempfile.gettempdir())
        embedded = not self.aeron_dir
        if not self.aeron_dir:
            self.aeron_dir = unique_dir()
        self.aeron_dir = self.aeron_dir.rstrip("/") or "/"
        lock = self._aeron_lock = self._lock(self.aeron_dir + ".lock", f"Aeron directory {self.aeron_dir}", "--aeron-dir")
        if not embedded:
            try:
                wait_for_driver(self.aeron_dir, timeout=0.5)  # an external driver is running
            except Exception:  # noqa: BLE001 - none there (or a dead one's files): embed one
                embedded = True
        if embedded:
            lock.update(aeron_dir=self.aeron_dir, embedded_driver=True)
            self.driver = EmbeddedDriver(self.aeron_dir)  # deletes a dead driver's files first

    def _start_core(self) -> Engine:
        """The core and what feeds and reads it: ring directory, engine (:meth:`_before_core_start`
        sees it stopped), settlement writer, gateway, venue link, market data."""
        self.ring_dir = tempfile.mkdtemp(prefix="rfqcore-", dir=_shm())
        assert self._aeron_lock is not None
        self._aeron_lock.update(ring_dir=self.ring_dir)
        eng = self.engine = Engine(self.registry, rfq=self.settings, idle=self.idle,
                                   journal=self.journal, ring_dir=self.ring_dir)
        if self.settlement_store:
            from rfqcore.settlement.model import Catalog
            from rfqcore.settlement.store import open_store
            from rfqcore.settlement.writer import SettlementWriter

            url = self.settlement_store
            if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
                # create the file now: the read-only `rfqcore settlement` commands refuse a store
                # that does not exist (a mistyped --store), and a bad path shows at start
                from rfqcore.settlement.model import SettlementError

                try:
                    open_store(url).close()
                except SettlementError:
                    raise
                except Exception as e:  # noqa: BLE001 - sqlite3 errors: say which store
                    raise SettlementError(f"cannot open settlement store {url}: {e}") from e
            # executions reach the store from the output pump, through the writer's own queue
            # and thread: the core never waits for the store (docs/settlement.md)
            spill = self.settlement_spill or (url[len("sqlite:///"):] + ".spill.jsonl" if url.startswith("sqlite:///")
                                              else "rfqcore-settlement.spill.jsonl")
            self.settlement = SettlementWriter(lambda: open_store(url), Catalog.from_engine(eng), spill_path=spill)
            self.settlement.attach_events(eng)
            self.settlement.start()
        eng.add_producer("gateway")
        tap = eng.add_tap("gateway")
        if self.http is not None:
            # the portal's blotter listens before the core runs: the outputs that recovery
            # publishes again (after a crash) reach it as well (docs/web.md)
            from rfqcore.web.portal import Portal

            self.session_store = self._session_store()
            self.blotter_store = self._blotter_store()
            self.portal = Portal(eng, self.settings, session_store=self.session_store,
                                 blotter_store=self.blotter_store)
        self._before_core_start(eng)
        # the composites priced in the state the core starts from (a recovered journal, a
        # cluster's committed log): books from before the start, stale by the time it runs
        priced = [(c, [m for m in c.members if eng.core.book_status(m) == BookStatus.LIVE])
                  for c in self.registry.composites if eng.core.composite_mid(c.id) is not None]
        eng.start(heartbeat_ms=1)
        started_ns = time.time_ns()
        if self.venues:
            # the venue link: hedge orders out, venue reports, link state and market data in
            self.hedger = self._hedger(eng)
            self.hedger.start()
        if self.market_files:
            from rfqcore.replay import ReplayDriver

            self._driver_replay = ReplayDriver(
                [str(f) for f in self.market_files], self.registry, eng.add_producer("md"),
                speed=self.speed, strict=False, live_clock=True)
            self._replay = threading.Thread(target=self._run_replay, name="rfqcore-replay", daemon=True)
            self._replay.start()
        self._await_market(eng, priced, started_ns)
        gw_args: dict[str, Any] = dict(aeron_dir=self.aeron_dir, settings_path=self.rfq_config_path,
                                       registry_path=self.config_path, channel=self.channel,
                                       response_channel=self.response_channel,
                                       idle=_GATEWAY_IDLE[self.idle], idle_spins=0, log_level=self.log_level)
        if self.python_gateway:
            self.gateway = GatewayProcess(eng.ring_path("gateway"), tap, **gw_args).start()
        else:
            if self.settlement_store:  # fills booked before this start stay retrievable (EXEC_RESEND)
                from rfqcore.gateway.native import executions_from_store
                from rfqcore.settlement.store import open_store

                with open_store(self.settlement_store) as store:
                    gw_args["executions"] = executions_from_store(store)
            self.gateway = NativeGateway(eng.ring_path("gateway"), tap, **gw_args).start()
        return eng

    def _hedger(self, eng: Engine) -> Hedger:
        """The venue link of this desk: with a journal, venue order ids keep the journal's prefix,
        so a restart adopts the hedge orders the recovered state holds open (docs/hedging.md)."""
        prefix = journal_id_prefix(self.journal.dir) if self.journal is not None else None
        return Hedger(eng, self.venues, id_prefix=prefix)

    def _await_market(self, eng: Engine, priced: list[tuple[Composite, list[int]]], started_ns: int) -> None:
        """Market data before clients: wait (at most :attr:`market_wait` s) until every composite
        of ``priced`` is priced again with its feed back — one of its member books that was live
        in the state the core started from (``priced``'s lists) live and updated since
        ``started_ns``, and the composite with a mid by the core's clock. Opening the
        gateway at once would refuse the first RFQs (``STALE_MARKET``, ``NO_MARKET``) while the
        feed comes back and rebuilds the books (a failover's new leader, a restart from a
        journal). A desk that starts with no prices (a fresh core) or no feed does not wait; a
        feed that does not bring every composite back in time is logged, and the gateway opens
        anyway (those composites' RFQs are refused until their books are fresh)."""
        self.market_waited = 0.0
        if not priced or self.market_wait <= 0 or not (self.market_files or self.venues):
            return
        t0 = time.monotonic()
        deadline = t0 + self.market_wait

        def back(c: Composite, members: list[int]) -> bool:
            # one member heard from since the start is enough: the others' books are as fresh as
            # the core's stale_after_ms allows (waiting for every member would wait for the
            # slowest feed, e.g. a recorded stream that starts seconds after the others)
            for m in members:
                seen = eng.core.book_last_seen(m)
                if seen is not None and seen >= started_ns and eng.core.book_status(m) == BookStatus.LIVE:
                    return eng.core.composite_mid(c.id) is not None
            return False

        waiting = priced
        while True:
            now = eng.now_ns()
            if now is not None and now >= started_ns:
                waiting = [(c, ms) for c, ms in waiting if not back(c, ms)]
                if not waiting:
                    self.market_waited = time.monotonic() - t0
                    log.info("market data back for %s in %.0f ms: opening the gateway",
                             ", ".join(c.name for c, _ in priced), self.market_waited * 1e3)
                    return
            if time.monotonic() >= deadline or self.replay_error is not None:
                self.market_waited = time.monotonic() - t0
                log.warning("no fresh market for %s %.1f s after the start: opening the gateway anyway (their "
                            "RFQs are refused until their books are fresh)", ", ".join(c.name for c, _ in waiting),
                            self.market_waited)
                return
            time.sleep(0.002)

    def _before_core_start(self, eng: Engine) -> None:
        """Called with the engine built, before its core thread starts (a cluster leader attaches
        the replicated journal here)."""

    def _start_doors(self) -> None:
        """The FIX acceptor and the HTTP endpoints (portal, console, metrics), on the engine."""
        eng = self.engine
        assert eng is not None
        if self.fix_port is not None or self.settings.fix.listen is not None:
            from rfqcore.fix import start_acceptor

            self.fix = start_acceptor(eng, self.settings, port=self.fix_port, store_dir=self.fix_store,
                                      host=self.fix_host, tls=self.fix_tls, history=self._history())
        if self.http is not None:
            from rfqcore.web import HttpServer, desk_registry, parse_address

            host, port = parse_address(self.http)
            from rfqcore.web.console import Console
            from rfqcore.web.server import tls_context

            tls = tls_context(*self.http_tls) if self.http_tls is not None else None
            portal = self.portal
            console = self.console = Console(eng, self.settings, server=self, session_store=self.session_store,
                                             audit_store=self.blotter_store)

            def routes(app: Any) -> None:
                portal.add_routes(app)
                console.add_routes(app)

            self.web = HttpServer(host, port, desk_registry(self), health=self._health,
                                  routes=routes, tls=tls).start()

    def _history(self) -> list[Any] | None:
        """Client answers from before this start that the doors should know: here, with a
        settlement store, its trades of the last days as executions (a FIX order sent again
        after a restart gets its fill's report); a cluster leader gives its committed log's."""
        if not self.settlement_store:
            return None
        from rfqcore.gateway.native import STORE_DAYS
        from rfqcore.records import ClientSide
        from rfqcore.rfq import Execution, composite_units
        from rfqcore.settlement.store import open_store

        out: list[Any] = []
        with open_store(self.settlement_store) as store:
            for t in store.trades(start_ns=time.time_ns() - STORE_DAYS * 86_400_000_000_000):
                u = composite_units(self.registry, t.composite_id)
                out.append(Execution(t.client_id, t.composite_id, t.trade_id, t.quote_id, t.rfq_id, t.accept_id,
                                     ClientSide(int(t.side)), t.price, t.qty, t.notional, t.fee, t.core_time_ns, 0,
                                     u.name, u.price_decimals, u.qty_decimals, u.base, u.currency))
        return out

    def _health(self) -> dict[str, Any]:
        """``/healthz``'s answer (docs/web.md)."""
        from rfqcore.web import desk_health

        return desk_health(self)

    def _session_store(self) -> Any:
        """The web sessions' store (:attr:`http_sessions`, else in the journal directory), or None."""
        path = self.http_sessions or (os.path.join(self.journal.dir, "web-sessions.sqlite")
                                      if self.journal is not None else None)
        if path is None:
            return None
        from rfqcore.web.sessions import SessionStore

        return _open_web_store(SessionStore, path, "web sessions", "give a writable SQLite file (--http-sessions FILE)")

    def _blotter_store(self) -> Any:
        """The portal's blotter store, ``portal-blotter.sqlite`` in the journal directory; None
        without a journal (its ids start again with the core, so rows of before would clash)."""
        if self.journal is None:
            return None
        from rfqcore.web.blotter_store import BlotterStore

        return _open_web_store(BlotterStore, os.path.join(self.journal.dir, "portal-blotter.sqlite"),
                               "the portal's blotters", "give a journal directory (--journal) where the desk may write")

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
        """Stop in order: the HTTP endpoints, intake (market data, gateway), venue link, core (drains its inputs,
        flushes the journal), settlement writer (flushes), media driver; then remove the rings
        and release the locks. Every step runs even if an earlier one failed; the first
        failure is raised at the end. Idempotent."""
        first: BaseException | None = None

        def step(fn: Any) -> None:
            nonlocal first
            try:
                fn()
            except BaseException as e:  # noqa: BLE001 - finish stopping, raise the first
                log.warning("stopping %s failed: %s", getattr(fn, "__qualname__", fn), e)
                first = first or e

        if self.web is not None:  # first: its scrapes read the parts stopped below
            web, self.web = self.web, None
            step(web.stop)
        if self.session_store is not None:
            ss, self.session_store = self.session_store, None
            step(ss.close)
        if self.fix is not None:
            fx, self.fix = self.fix, None
            step(fx.stop)
        step(self._stop_replay)
        if self.gateway is not None:
            gw, self.gateway = self.gateway, None
            step(gw.stop)
        if self.hedger is not None:
            h, self.hedger = self.hedger, None
            step(h.stop)
        if self.engine is not None:
            step(self.engine.close)  # stops the core after it drained its inputs
        if self.settlement is not None:
            w, self.settlement = self.settlement, None
            step(w.stop)  # flushes, or spills what the store could not take
        if self.blotter_store is not None:  # after the core: the rows of its last outputs are written
            bs, self.blotter_store = self.blotter_store, None
            step(bs.close)
        if self.driver is not None:
            d, self.driver = self.driver, None
            step(d.close)
        if self.ring_dir is not None:
            shutil.rmtree(self.ring_dir, ignore_errors=True)
            self.ring_dir = None
        while self._locks:
            step(self._locks.pop().release)
        if first is not None:
            raise first

    def stop_market_replay(self) -> None:
        """Stop replaying market data (the books stay as they are until they go stale)."""
        self._stop_replay()

    def _stop_replay(self) -> None:
        if self._replay is not None:
            if self._driver_replay is not None:
                self._driver_replay.stop()
            self._replay.join(10)
            self._replay = None

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
