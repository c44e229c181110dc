"""Simulated venue processes: one aiohttp server on loopback per venue, one instrument each.

``python -m rfqcore.venuesim.sim --style binance --symbol BTCUSDT --seed binance-spot`` (or
``rfqcore venue-sim ...``) loads a :class:`~rfqcore.venuesim.seed.BookSeed` from the recorded data,
builds a :class:`~rfqcore.venuesim.simbook.SimBook`, mounts the style's protocol routes
(``rfqcore.venues.<style>_sim.add_routes(app, book, config)``) plus the admin routes, and prints
exactly one JSON line to stdout once it listens::

    {"ready": true, "style": "binance", "symbol": "BTCUSDT", "http": "http://127.0.0.1:PORT",
     "ws": "ws://127.0.0.1:PORT", "pid": 1234}

Admin API (not part of any venue protocol; answered to loopback clients only, even while a
``disconnect`` fault refuses everything else):

* ``POST /sim/admin`` with ``{"op": OP, ...}``: ``disconnect`` (``ms``), ``reject_next``
  (``n``), ``slow_ack`` (``ms``, 0 = off), ``gap_next``, ``cap_fill`` (``qty`` or null),
  ``clear``; answers ``{"ok": true, "faults": {...}}`` or HTTP 400 ``{"ok": false, "error": ...}``.
* ``GET /sim/state``: accounts (free and locked balances, orders, fills), ``state_hash``, the
  book's top and update id, fault state, replay progress.
* ``POST /sim/admin`` ``{"op": "replay_pause"}`` / ``{"op": "replay_resume"}``: hold / continue
  the replay of recorded flow (HTTP 400 when the sim replays nothing).

**Replay of recorded flow** (``SimConfig.replay_speed = S > 0``, ``--replay-speed S``): after
seeding at ``at_index``, :class:`Replay` applies the recorded diffs that follow the seed in the
same file at the recorded pace (event times) divided by ``S``, as the LP's activity
(:meth:`SimBook.set_lp_levels`: one update id per recorded diff, published like any other book
change). It sleeps until the next diff is due and applies every diff due by then in one go;
when the recording ends it stops (the book stays as it is) and logs it once on stderr.

:class:`SimProcess` runs one as a real subprocess for tests and the hedger.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import ipaddress
import json
import math
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import weakref
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Final

import orjson
from aiohttp import web

from rfqcore.instruments import Registry
from rfqcore.venuesim.seed import RecordedDiff, SeedError, open_book_replay
from rfqcore.venuesim.simbook import SimAccount, SimBook, SimFaults, SimOrder

__all__ = ["SimConfig", "SimFaults", "SimProcess", "SimStartError", "Replay", "make_app", "build_book", "build_sim",
           "add_arguments",
           "config_from_args", "config_argv", "main", "run", "track_ws", "drop_connection", "state_json", "STYLES",
           "DEFAULT_ACCOUNT"]

STYLES: Final = ("binance", "okx")
#: The account a sim gets when none is configured (for running one by hand).
DEFAULT_ACCOUNT: Final = "trader:sim-api-key:sim-api-secret:sim-passphrase"
_DEFAULT_BALANCES: Final = ("BTC=100", "ETH=1000", "USDT=10000000")
_WS_KEY: Final[web.AppKey[weakref.WeakSet[web.WebSocketResponse]]] = web.AppKey("sim_ws")


@dataclass
class SimConfig:
    """One simulated venue. ``tick``/``lot``/``base``/``quote`` default to the registry entry of
    ``(seed, symbol)``; ``symbol`` is the venue's own spelling (``BTCUSDT``, ``BTC-USDT``)."""

    style: str
    symbol: str
    seed: str = "binance-spot"
    seed_symbol: str | None = None        # the recorded stream's symbol (default: symbol without '-')
    host: str = "127.0.0.1"
    port: int = 0                         # 0 = ephemeral
    accounts: list[SimAccount] = field(default_factory=list)
    tick: Decimal | None = None
    lot: Decimal | None = None
    base: str | None = None
    quote: str | None = None
    at_index: int | None = None           # diffs applied to the seed (default seed.DEFAULT_DIFFS)
    band: Decimal = Decimal("0.05")
    data_dir: Path | None = None
    replay_speed: float | None = None     # > 0: replay the recorded diffs after the seed at S x the recorded pace
    recv_window_max_ms: int = 60_000


def _parse_account(spec: str, balances: dict[str, Decimal], maker: int, taker: int) -> SimAccount:
    parts = spec.split(":")
    if len(parts) not in (3, 4) or not all(parts[:3]):
        raise ValueError(f"--account must be NAME:KEY:SECRET[:PASSPHRASE], got {spec!r}")
    return SimAccount(parts[0], parts[1], parts[2], parts[3] if len(parts) == 4 else "", dict(balances),
                      maker, taker)


def _parse_balance(spec: str) -> tuple[str, Decimal]:
    asset, sep, amount = spec.partition("=")
    try:
        value = Decimal(amount)
    except InvalidOperation:
        value = Decimal("NaN")
    if not sep or not asset or not value.is_finite() or value < 0:
        raise ValueError(f"--balance must be ASSET=AMOUNT (a decimal >= 0), got {spec!r}")
    return asset.upper(), value


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``rfqcore venue-sim`` / ``python -m rfqcore.venuesim.sim``."""
    p.add_argument("--style", choices=STYLES, required=True, help="venue protocol")
    p.add_argument("--symbol", required=True, help="the venue's symbol, e.g. BTCUSDT (binance) or BTC-USDT (okx)")
    p.add_argument("--seed", default="binance-spot", help="recorded book to seed from: binance-spot (default), "
                                                          "binance-usdm, binance-coinm")
    p.add_argument("--seed-symbol", help="recorded stream symbol (default: --symbol without '-')")
    p.add_argument("--at-index", type=int, help="depth diffs applied after the snapshot (default 2000)")
    p.add_argument("--host", default="127.0.0.1", help="listen address (loopback; default 127.0.0.1)")
    p.add_argument("--port", type=int, default=0, help="listen port (0 = ephemeral, default)")
    p.add_argument("--account", action="append", metavar="NAME:KEY:SECRET[:PASSPHRASE]",
                   help=f"an account (repeatable; default {DEFAULT_ACCOUNT})")
    p.add_argument("--balance", action="append", metavar="ASSET=AMOUNT",
                   help=f"starting balance of every account (repeatable; default {' '.join(_DEFAULT_BALANCES)})")
    p.add_argument("--maker-cbps", type=int, default=0, help="maker fee, 1 cbps = 1e-6 (default 0)")
    p.add_argument("--taker-cbps", type=int, default=0, help="taker fee, 1 cbps = 1e-6 (default 0)")
    p.add_argument("--tick", help="price tick (default: the registry's)")
    p.add_argument("--lot", help="quantity step (default: the registry's)")
    p.add_argument("--band", default="0.05", help="price band around the seed's mid (default 0.05 = ±5%%)")
    p.add_argument("--data-dir", help="recorded data directory (default $RFQCORE_DATA or ../shared/data)")
    p.add_argument("--replay-speed", type=float, metavar="S",
                   help="after seeding, keep applying the recorded diffs that follow as the LP's activity, at "
                        "the recorded pace x S (1 = real time, 10 = ten times faster; default: no replay)")


def _decimal_option(option: str, text: str) -> Decimal:
    try:
        d = Decimal(text)
    except InvalidOperation:
        d = Decimal("NaN")
    if not d.is_finite() or d <= 0:
        raise ValueError(f"{option} {text!r}: give a positive decimal number, e.g. 0.01")
    return d


def config_from_args(args: argparse.Namespace) -> SimConfig:
    balances = dict(_parse_balance(b) for b in (args.balance or _DEFAULT_BALANCES))
    accounts = [_parse_account(a, balances, args.maker_cbps, args.taker_cbps)
                for a in (args.account or [DEFAULT_ACCOUNT])]
    return SimConfig(style=args.style, symbol=args.symbol, seed=args.seed, seed_symbol=args.seed_symbol,
                     host=args.host, port=args.port, accounts=accounts,
                     tick=_decimal_option("--tick", args.tick) if args.tick else None,
                     lot=_decimal_option("--lot", args.lot) if args.lot else None,
                     at_index=args.at_index, band=_decimal_option("--band", args.band),
                     data_dir=Path(args.data_dir) if args.data_dir else None,
                     replay_speed=getattr(args, "replay_speed", None))


def config_argv(cfg: SimConfig) -> list[str]:
    """The command-line form of ``cfg`` (what :class:`SimProcess` passes); every account gets its
    own balances through ``--account-json``."""
    argv = ["--style", cfg.style, "--symbol", cfg.symbol, "--seed", cfg.seed, "--host", cfg.host,
            "--port", str(cfg.port), "--band", str(cfg.band)]
    if cfg.seed_symbol:
        argv += ["--seed-symbol", cfg.seed_symbol]
    if cfg.at_index is not None:
        argv += ["--at-index", str(cfg.at_index)]
    for name, v in (("--tick", cfg.tick), ("--lot", cfg.lot)):
        if v is not None:
            argv += [name, str(v)]
    if cfg.data_dir is not None:
        argv += ["--data-dir", str(cfg.data_dir)]
    if cfg.replay_speed is not None:
        argv += ["--replay-speed", repr(float(cfg.replay_speed))]
    for a in cfg.accounts:
        argv += ["--account-json", orjson.dumps({
            "name": a.name, "api_key": a.api_key, "secret": a.secret, "passphrase": a.passphrase,
            "balances": {k: str(v) for k, v in a.balances.items()}, "maker_cbps": a.maker_cbps,
            "taker_cbps": a.taker_cbps}).decode()]
    return argv


def build_book(cfg: SimConfig) -> SimBook:
    """Seed and build the book of ``cfg`` (registry defaults for tick, lot, base, quote)."""
    return build_sim(cfg)[0]


def build_sim(cfg: SimConfig) -> tuple[SimBook, Replay | None]:
    """The book of ``cfg`` and, with ``cfg.replay_speed``, the :class:`Replay` of the recorded
    diffs that follow its seed (not started: :meth:`Replay.run` is a coroutine)."""
    if cfg.style not in STYLES:
        raise ValueError(f"style must be one of {STYLES}, got {cfg.style!r}")
    speed = cfg.replay_speed
    if speed is not None and not (isinstance(speed, (int, float)) and math.isfinite(speed) and speed > 0):
        raise ValueError(f"replay_speed must be a finite number > 0, got {speed!r}")
    seed_symbol = cfg.seed_symbol or cfg.symbol.replace("-", "")
    seed, following = open_book_replay(cfg.seed, seed_symbol, data_dir=cfg.data_dir, at_index=cfg.at_index)
    if speed is None:
        following.close()
    ins = Registry.load().get(cfg.seed, seed_symbol)
    if ins is not None:
        tick = cfg.tick if cfg.tick is not None else Decimal(ins.tick).scaleb(-ins.price_decimals)
        lot = cfg.lot if cfg.lot is not None else Decimal(ins.lot).scaleb(-ins.qty_decimals)
        base, quote = cfg.base or ins.base, cfg.quote or ins.quote
    elif cfg.tick is None or cfg.lot is None or cfg.base is None or cfg.quote is None:
        raise ValueError(f"{cfg.seed}:{seed_symbol} is not in the registry: give tick, lot, base and quote")
    else:
        tick, lot, base, quote = cfg.tick, cfg.lot, cfg.base, cfg.quote
    book = SimBook(symbol=cfg.symbol, base=base, quote=quote, tick=tick, lot=lot, seed=seed, accounts=cfg.accounts,
                   band=cfg.band)
    return book, None if speed is None else Replay(book, following, float(speed))


class Replay:
    """The recorded diffs that follow a book's seed, applied as the LP's activity at ``speed``
    times the recorded pace (the diffs' event times). :meth:`step` applies one diff (tests drive
    it directly); :meth:`run` is the paced loop of the server."""

    def __init__(self, book: SimBook, diffs: Iterator[RecordedDiff], speed: float, *,
                 log: Callable[[str], None] | None = None) -> None:
        if not (math.isfinite(speed) and speed > 0):
            raise ValueError(f"replay speed must be a finite number > 0, got {speed!r}")
        self.book = book
        self.speed = speed
        self._diffs = diffs
        self._log = log or (lambda text: print(text, file=sys.stderr, flush=True))
        self.applied = 0                 # recorded diffs applied
        self.index = 0                   # the last applied diff's index in the recording
        self.recorded_update_id = book.seed.update_id
        self.recorded_ts_ns = book.seed.ts_ns
        self.levels_changed = 0
        self.levels_skipped = 0          # outside the band / off the grid
        self.batches = 0                 # book requests made (diffs due together are one)
        self.lag_ms = 0.0                # how late the last batch was applied (CPU-bound when it grows)
        self.finished = False
        self.error: str | None = None
        self.paused = False
        self._resume = asyncio.Event()
        self._resume.set()
        self._paused_ev = asyncio.Event()

    def step(self, d: RecordedDiff) -> None:
        """Apply one recorded diff (see :meth:`SimBook.set_lp_levels`)."""
        self.step_batch([d])

    def step_batch(self, ds: list[RecordedDiff]) -> None:
        """Apply recorded diffs that are due together as one book request (one update id): per
        level the last recorded value counts, which gives the same book as applying them one
        by one (a re-synchronisation among them starts the batch afresh)."""
        if not ds:
            return
        start = max((i for i, d in enumerate(ds) if d.snapshot), default=0)
        bids: dict[Decimal, Decimal] = {}
        asks: dict[Decimal, Decimal] = {}
        for d in ds[start:]:
            bids.update(d.bids)
            asks.update(d.asks)
        r = self.book.set_lp_levels(list(bids.items()), list(asks.items()), whole_book=ds[start].snapshot)
        last = ds[-1]
        self.applied += len(ds)
        self.batches += 1
        self.index = last.index
        self.recorded_update_id, self.recorded_ts_ns = last.update_id, last.ts_ns
        self.levels_changed += r.changed
        self.levels_skipped += r.skipped

    def next_diff(self) -> RecordedDiff | None:
        """The next recorded diff, or None (and finished, logged once) when the recording ends."""
        if self.finished:
            return None
        try:
            return next(self._diffs)
        except StopIteration:
            self._finish(None)
        except (SeedError, OSError, ValueError) as e:
            self._finish(f"reading the recording: {type(e).__name__}: {e}")
        return None

    def _finish(self, error: str | None) -> None:
        self.finished = True
        self.error = error
        why = "the recording ends" if error is None else f"stopped on an error ({error})"
        self._log(f"venue-sim: replay finished: {why} after {self.applied} diffs "
                  f"(recorded u={self.recorded_update_id}, E={self.recorded_ts_ns // 1_000_000} ms); "
                  "the book stays as it is")

    def pause(self) -> None:
        self.paused = True
        self._resume.clear()
        self._paused_ev.set()

    def resume(self) -> None:
        self.paused = False
        self._paused_ev.clear()
        self._resume.set()

    def as_dict(self) -> dict[str, Any]:
        return {"speed": self.speed, "diffs_applied": self.applied, "batches": self.batches,
                "lag_ms": round(self.lag_ms, 1), "index": self.index,
                "recorded_update_id": self.recorded_update_id, "recorded_ts_ms": self.recorded_ts_ns // 1_000_000,
                "levels_changed": self.levels_changed, "levels_skipped": self.levels_skipped,
                "held": self.book.lp_held, "paused": self.paused, "finished": self.finished, "error": self.error}

    async def run(self, max_batch: int = 2000, max_read_s: float = 0.02) -> None:
        """Apply the diffs at their due times until the recording ends: sleep until the next one
        is due, then apply every diff due by now as one batch (at most ``max_batch`` diffs or
        ``max_read_s`` of reading, then the loop gets a turn), so a sim that cannot keep the
        pace falls behind (``lag_ms``) but keeps answering."""
        loop = asyncio.get_running_loop()
        nxt = self.next_diff()
        wall0, rec0 = loop.time(), self.recorded_ts_ns

        def due(d: RecordedDiff) -> float:
            return wall0 + (d.ts_ns - rec0) / 1e9 / self.speed

        while nxt is not None:
            if self.paused:
                await self._resume.wait()
                wall0, rec0 = loop.time(), self.recorded_ts_ns  # go on at the recorded pace from here
                continue
            delay = due(nxt) - loop.time()
            if delay > 0:
                try:  # sleep until due, woken early only by a pause
                    await asyncio.wait_for(self._paused_ev.wait(), timeout=delay)
                except TimeoutError:
                    pass
                continue
            now = loop.time()
            batch = [nxt]
            nxt = self.next_diff()
            while (nxt is not None and due(nxt) <= now and len(batch) < max_batch
                   and loop.time() - now < max_read_s):
                batch.append(nxt)
                nxt = self.next_diff()
            self.lag_ms = max(0.0, (now - due(batch[0])) * 1000)
            try:
                self.step_batch(batch)
            except Exception as e:  # noqa: BLE001 - a bug: stop replaying, say so, keep serving
                self._finish(f"applying diff {batch[0].index}..{batch[-1].index} failed: {type(e).__name__}: {e}")
                return
            await asyncio.sleep(0)


# -- the server ----------------------------------------------------------------------------

def track_ws(app: web.Application, ws: web.WebSocketResponse) -> None:
    """Register a protocol WebSocket so a ``disconnect`` fault closes it."""
    app[_WS_KEY].add(ws)


def _is_loopback(remote: str | None) -> bool:
    try:
        return remote is not None and ipaddress.ip_address(remote).is_loopback
    except ValueError:
        return False


def _order_json(o: SimOrder) -> dict[str, Any]:
    return {"order_id": o.order_id, "cl_ord_id": o.cl_ord_id, "side": o.side, "type": o.type, "tif": o.tif,
            "price": None if o.price is None else str(o.price), "qty": str(o.qty), "cum_qty": str(o.cum_qty),
            "cum_quote": str(o.cum_quote), "status": o.status}


def state_json(book: SimBook, replay: Replay | None = None) -> dict[str, Any]:
    bid, ask = book.top()
    return {
        "symbol": book.symbol,
        "state_hash": str(book.state_hash()),
        "update_id": book.update_id,
        "top": {"bid": None if bid is None else [str(bid[0]), str(bid[1])],
                "ask": None if ask is None else [str(ask[0]), str(ask[1])]},
        "lp_open_orders": len(book.open_orders(book.lp)),
        "seed": {"source": book.seed.source, "update_id": book.seed.update_id, "dropped": book.seed_dropped},
        "faults": book.faults.as_dict(),
        "order_recv_ns": dict(book.order_recv_ns),
        "replay": None if replay is None else replay.as_dict(),
        "accounts": {
            name: {
                "balances": {k: str(v) for k, v in a.balances.items()},
                "locked": {k: str(v) for k, v in a.locked.items()},
                "orders": [_order_json(o) for o in book.orders.values() if o.account == name],
                "fills": [{"trade_id": f.trade_id, "order_id": f.order_id, "price": str(f.price), "qty": str(f.qty),
                           "fee": str(f.fee), "fee_asset": f.fee_asset, "maker": f.maker}
                          for f in book.fills(name)],
            } for name, a in book.accounts.items()},
    }


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")


def _admin_op(faults: SimFaults, body: Any) -> None:
    if not isinstance(body, dict) or not isinstance(body.get("op"), str):
        raise ValueError('body must be a JSON object with "op"')
    op = body["op"]

    def num(key: str, default: int | None = None) -> int:
        v = body.get(key, default)
        if type(v) is not int or v < 0:
            raise ValueError(f"{op}: {key!r} must be an integer >= 0, got {v!r}")
        return v

    if op == "disconnect":
        faults.disconnect(num("ms"))
    elif op == "reject_next":
        faults.reject_next(num("n", 1))
    elif op == "slow_ack":
        faults.slow_ack(num("ms"))
    elif op == "gap_next":
        faults.gap_next()
    elif op == "cap_fill":
        q = body.get("qty")
        if q is None:
            faults.cap_fill(None)
        else:
            try:
                dq = Decimal(str(q)) if isinstance(q, str) else Decimal("NaN")
            except InvalidOperation:
                dq = Decimal("NaN")
            if not dq.is_finite() or dq < 0:
                raise ValueError(f"cap_fill: 'qty' must be a decimal string >= 0 or null, got {q!r}")
            faults.cap_fill(dq)
    elif op == "clear":
        faults.clear()
    else:
        raise ValueError(f"unknown op {op!r}; known: disconnect, reject_next, slow_ack, gap_next, cap_fill, clear, "
                         "replay_pause, replay_resume")


def make_app(book: SimBook, cfg: SimConfig, replay: Replay | None = None) -> web.Application:
    """The aiohttp application of one simulated venue: the style's routes plus the admin API;
    with ``replay``, its paced loop runs while the application does."""

    @web.middleware
    async def refuse_when_down(request: web.Request,
                               handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
        if request.path.startswith("/sim/"):
            if not _is_loopback(request.remote):
                raise web.HTTPForbidden(text="admin API is loopback only")
            return await handler(request)
        if book.faults.is_down():
            drop_connection(request)
            raise web.HTTPServiceUnavailable(text="simulated disconnect")
        return await handler(request)

    app = web.Application(middlewares=[refuse_when_down])
    app[_WS_KEY] = weakref.WeakSet[web.WebSocketResponse]()

    def close_all() -> None:
        live: weakref.WeakSet[web.WebSocketResponse] = app[_WS_KEY]
        for ws in list(live):
            asyncio.get_running_loop().create_task(ws.close(code=1012, message=b"simulated disconnect"))

    book.faults.on_disconnect(close_all)

    async def admin(request: web.Request) -> web.Response:
        try:
            body = orjson.loads(await request.read())
            op = body.get("op") if isinstance(body, dict) else None
            if op in ("replay_pause", "replay_resume"):
                if replay is None:
                    raise ValueError(f"{op}: this simulated venue replays nothing (no replay_speed)")
                if op == "replay_pause":
                    replay.pause()
                else:
                    replay.resume()
                return _json({"ok": True, "faults": book.faults.as_dict(), "replay": replay.as_dict()})
            _admin_op(book.faults, body)
        except (ValueError, orjson.JSONDecodeError) as e:
            return _json({"ok": False, "error": str(e)}, 400)
        return _json({"ok": True, "faults": book.faults.as_dict()})

    async def state(request: web.Request) -> web.Response:
        return _json(state_json(book, replay))

    app.router.add_post("/sim/admin", admin)
    app.router.add_get("/sim/state", state)
    style = importlib.import_module(f"rfqcore.venuesim.{cfg.style}_sim")
    style.add_routes(app, book, cfg)
    if replay is not None:
        tasks: list[asyncio.Task[None]] = []

        async def start_replay(_app: web.Application) -> None:
            tasks.append(asyncio.get_running_loop().create_task(replay.run()))

        async def stop_replay(_app: web.Application) -> None:
            for t in tasks:
                t.cancel()

        app.on_startup.append(start_replay)
        app.on_cleanup.append(stop_replay)
    return app


def drop_connection(request: web.Request) -> None:
    """Cut the connection under ``request`` (the client sees a transport failure)."""
    transport = request.transport
    if transport is not None:
        transport.abort()


async def _serve(cfg: SimConfig, book: SimBook, replay: Replay | None = None) -> None:
    app = make_app(book, cfg, replay)
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, cfg.host, cfg.port, reuse_address=True)
    await site.start()
    server = site._server
    assert server is not None and hasattr(server, "sockets")
    port = server.sockets[0].getsockname()[1]
    host = cfg.host if ":" not in cfg.host else f"[{cfg.host}]"
    ready = {"ready": True, "style": cfg.style, "symbol": cfg.symbol, "http": f"http://{host}:{port}",
             "ws": f"ws://{host}:{port}", "pid": os.getpid(), "port": port}
    sys.stdout.write(json.dumps(ready) + "\n")
    sys.stdout.flush()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        live: weakref.WeakSet[web.WebSocketResponse] = app[_WS_KEY]
        for ws in list(live):
            await ws.close(code=1001, message=b"venue shutting down")
        await runner.cleanup()


def _account_json(text: str) -> SimAccount:
    d = orjson.loads(text)
    return SimAccount(d["name"], d["api_key"], d["secret"], d.get("passphrase", ""),
                      {k: Decimal(v) for k, v in d.get("balances", {}).items()},
                      int(d.get("maker_cbps", 0)), int(d.get("taker_cbps", 0)))


def main(argv: Sequence[str] | None = None) -> int:
    """Run one simulated venue until SIGTERM/SIGINT (see the module doc)."""
    p = argparse.ArgumentParser(prog="python -m rfqcore.venuesim.sim", description="run one simulated venue")
    add_arguments(p)
    p.add_argument("--account-json", action="append", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    return run(args)


def run(args: argparse.Namespace) -> int:
    """``main`` after argument parsing (``rfqcore venue-sim`` calls this)."""
    try:
        cfg = config_from_args(args)
        if getattr(args, "account_json", None):
            cfg.accounts = [_account_json(t) for t in args.account_json]
        if not _is_loopback(cfg.host) and cfg.host != "localhost":
            raise ValueError(f"a simulated venue listens on loopback only, not {cfg.host!r}")
        if not 0 <= cfg.port <= 65535:
            raise ValueError(f"--port {cfg.port}: give a port number 0..65535 (0 picks a free one)")
        book, replay = build_sim(cfg)
    except (ValueError, SeedError, KeyError, orjson.JSONDecodeError) as e:
        print(f"venue-sim: {e}", file=sys.stderr)
        return 2
    try:
        asyncio.run(_serve(cfg, book, replay))
    except OSError as e:  # the port is taken (or not ours to take): one line, not a traceback
        print(f"venue-sim: cannot listen on {cfg.host}:{cfg.port} ({e.strerror or e}): give another --port (0 "
              "picks a free one)", file=sys.stderr)
        return 1
    return 0


# -- the process runner --------------------------------------------------------------------

class SimStartError(RuntimeError):
    """The simulated venue process did not become ready."""


class SimProcess:
    """A simulated venue as a real subprocess (``python -m rfqcore.venuesim.sim``).

    ``with SimProcess(cfg) as sim: sim.http, sim.ws, sim.admin("disconnect", ms=500)``. Waits for
    the ready line (``timeout`` s; :class:`SimStartError` with the process's stderr otherwise);
    :meth:`stop` sends SIGTERM, then SIGKILL after ``kill_after`` s.
    """

    def __init__(self, cfg: SimConfig, *, timeout: float = 30.0, env: dict[str, str] | None = None,
                 nice: int = 0) -> None:
        self.cfg = cfg
        self.timeout = timeout
        self.env = env
        self.nice = nice
        self.proc: subprocess.Popen[bytes] | None = None
        self.ready: dict[str, Any] = {}
        self._stderr = tempfile.TemporaryFile()

    @property
    def http(self) -> str:
        return str(self.ready["http"])

    @property
    def ws(self) -> str:
        return str(self.ready["ws"])

    @property
    def pid(self) -> int:
        return int(self.ready["pid"])

    @property
    def port(self) -> int:
        return int(self.ready["port"])

    def stderr_text(self) -> str:
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace")

    def start(self) -> SimProcess:
        cmd = [sys.executable, "-m", "rfqcore.venuesim.sim", *config_argv(self.cfg)]
        env = dict(os.environ if self.env is None else self.env)
        src = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        nice = self.nice

        def pre() -> None:
            # the venue dies with its parent (a killed test run leaves no stray venues behind)
            if sys.platform == "linux":
                import ctypes
                import signal

                ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG
            if nice:
                os.nice(nice)

        # A session of its own: Ctrl-C in the desk's terminal reaches the desk, which stops its
        # venues in order (stop(): SIGTERM) after its hedger; PDEATHSIG covers the desk dying.
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self._stderr, stdin=subprocess.DEVNULL,
                                     env=env, preexec_fn=pre, start_new_session=True)
        assert self.proc.stdout is not None
        deadline = time.monotonic() + self.timeout
        line = b""
        eof = False
        while not line.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0 or eof:
                if eof:
                    self.proc.wait(5)
                code = self.proc.poll()
                self.stop()
                why = f"exited with {code}" if code is not None else f"not ready after {self.timeout:.0f} s"
                raise SimStartError(f"simulated venue {self.cfg.style}:{self.cfg.symbol} {why}; "
                                    f"stderr:\n{self.stderr_text()}")
            if select.select([self.proc.stdout], [], [], min(left, 0.2))[0]:
                chunk = os.read(self.proc.stdout.fileno(), 4096)
                eof = not chunk
                line += chunk
        try:
            self.ready = json.loads(line.split(b"\n", 1)[0])
        except ValueError as e:
            self.stop()
            raise SimStartError(f"bad ready line {line!r}: {e}; stderr:\n{self.stderr_text()}") from None
        return self

    def __enter__(self) -> SimProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = None if body is None else orjson.dumps(body)
        req = urllib.request.Request(self.http + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return orjson.loads(resp.read())
        except urllib.error.HTTPError as e:
            raise ValueError(f"{method} {path}: HTTP {e.code}: {e.read().decode(errors='replace')}") from None

    def admin(self, op: str, **kw: Any) -> dict[str, Any]:
        """One admin operation (``disconnect``, ``reject_next``, ``slow_ack``, ``gap_next``,
        ``cap_fill``, ``clear``); returns the fault state."""
        out: dict[str, Any] = self._request("POST", "/sim/admin", {"op": op, **kw})
        return out

    def state(self) -> dict[str, Any]:
        out: dict[str, Any] = self._request("GET", "/sim/state")
        return out

    def stop(self, kill_after: float = 5.0) -> int | None:
        """SIGTERM, then SIGKILL after ``kill_after`` s; returns the exit code. Idempotent."""
        proc = self.proc
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(kill_after)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
        return proc.returncode


if __name__ == "__main__":
    # run the imported module, not this __main__ copy: the style servers import
    # rfqcore.venuesim.sim and must share its app keys
    from rfqcore.venuesim import sim as _sim

    sys.exit(_sim.main())
