"""A small synthetic market for tests that run a real desk: one binance-spot BTCUSDT book deep
enough for 1..50 BTC (:mod:`rfqcore.testing`, shared with the benchmarks), fed through the
engine, and a free loopback port for a desk's listener."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any

from rfqcore.ports import free_port
from rfqcore.testing import spot_snapshot

__all__ = ["fed_desk", "feed_market", "free_port", "journaled_web_desk", "serve_http", "spot_snapshot", "web_desk"]


def feed_market(eng: Any) -> None:
    """A fresh BTCUSDT book, and wait until the core has it: a core thread that slept through
    both would merge an RFQ sent right after it first (the gateway's ring was registered first)."""
    eng.feed(spot_snapshot(eng.registry, time.time_ns()), producer="market")
    deadline = time.monotonic() + 10
    while eng.best("binance-spot:BTCUSDT") is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert eng.best("binance-spot:BTCUSDT") is not None




@contextmanager
def fed_desk(**server_args: Any) -> Iterator[Any]:
    """A started desk (rfqcore.serve.Server with ``server_args``, no market files), its BTCUSDT
    book fed, stopped on exit."""
    from rfqcore.serve import Server

    srv = Server(market_files=[], **server_args)
    srv.start()
    try:
        feed_market(srv.engine)
        yield srv
    finally:
        srv.stop()


@contextmanager
def web_desk(**server_args: Any) -> Iterator[Any]:
    """A desk serving HTTP on a free loopback port (rfqcore.serve.Server, what ``rfqcore serve
    --http`` runs; ``server_args`` go to it), its BTCUSDT book fed, stopped on exit."""
    with fed_desk(http="127.0.0.1:0", **server_args) as srv:
        yield srv


@contextmanager
def journaled_web_desk(jdir: Path, settings: Any = None, **server_args: Any) -> Iterator[Any]:
    """:func:`web_desk` journaling into ``jdir`` (what survives a restart lives there), on the
    shipped registry and, unless given, the shipped RFQ settings."""
    from rfqcore.instruments import Registry
    from rfqcore.journal import JournalSettings
    from rfqcore.rfqconfig import RfqSettings

    registry = Registry.load(None)
    if settings is None:
        settings = RfqSettings.from_toml(resources.files("rfqcore.defaults").joinpath("rfq.toml").read_text(), registry,
                                         "rfq.toml")
    with web_desk(journal=JournalSettings(str(jdir)), registry=registry, settings=settings, **server_args) as srv:
        yield srv


def serve_http(aeron: str, port: int, *args: str) -> subprocess.Popen[str]:
    """``rfqcore serve --no-market-data --http 127.0.0.1:PORT ARGS...`` in a process (and session)
    of its own, returned once its HTTP server is up (the banner's metrics line)."""
    proc = subprocess.Popen([sys.executable, "-m", "rfqcore.cli", "serve", "--no-market-data", "--aeron-dir", aeron,
                             "--http", f"127.0.0.1:{port}", "--status-every", "3600", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline, seen = time.monotonic() + 60, []
    while time.monotonic() < deadline:
        line = proc.stdout.readline()  # type: ignore[union-attr]
        if not line:
            break
        seen.append(line)
        if f"http://127.0.0.1:{port}/metrics" in line:
            return proc
    proc.kill()
    raise AssertionError(f"rfqcore serve did not come up: {seen} {proc.communicate(timeout=10)[1]}")
