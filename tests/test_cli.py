"""The `rfqcore` command line, run as a user would (a subprocess of the installed entry point)."""

from __future__ import annotations

import re

import os
import subprocess
import sys

import pytest

from rfqcore.replay import default_data_root


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rfqcore.cli", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
    )


@pytest.mark.parametrize("cmd", [[], ["demo"], ["replay"], ["instruments"], ["serve"], ["quote"], ["op"],
                                 ["op", "set"], ["op", "watch"], ["op", "kill"], ["op", "approve"], ["config"],
                                 ["config", "check"], ["config", "schema"], ["cluster"], ["cluster", "status"],
                                 ["cluster-demo"]])
def test_help_everywhere(cmd: list[str]) -> None:
    p = run(*cmd, "--help")
    assert p.returncode == 0, p.stderr
    assert "usage: rfqcore" in p.stdout


@pytest.mark.parametrize(("args", "error"), [
    (["--speed", "0"], "argument --speed: '0': give a positive pace (1 = recorded pace), or max"),
    (["--speed", "fast"], "argument --speed: 'fast': give a positive pace (1 = recorded pace), or max"),
    (["--market-wait", "-1"], "argument --market-wait: '-1': give a number of seconds, 0 or more"),
    (["--market-wait", "soon"], "argument --market-wait: 'soon': give a number of seconds, 0 or more"),
])
def test_serve_refuses_a_bad_pace_or_wait_in_one_line(args: list[str], error: str) -> None:
    r = run("serve", *args)
    assert r.returncode == 2 and r.stderr.strip() == f"rfqcore serve: {error}; see `rfqcore serve --help`"


def test_instruments_lists_registry() -> None:
    p = run("instruments")
    assert p.returncode == 0, p.stderr
    assert "binance-coinm:BTCUSD_PERP" in p.stdout and "composite 1 BTC" in p.stdout


def test_replay_missing_file_is_a_clear_error(tmp_path) -> None:
    p = run("replay", str(tmp_path / "nope.gz"))
    assert p.returncode == 2 and "no such file" in p.stderr


def test_demo_without_data_is_a_clear_error(tmp_path) -> None:
    p = run("demo", "--data", str(tmp_path / "missing"))
    assert p.returncode == 2 and "not found" in p.stderr


@pytest.mark.data
def test_replay_real_files() -> None:
    root = default_data_root()
    okx = root / "okx" / "cryptofeed_master_OKX.ws.1.0.gz"
    spot = root / "binance" / "spot" / "ethusdt_20240808.gz"
    if not okx.is_file() or not spot.is_file():
        pytest.skip(f"recorded venue data not found under {root}")
    p = run("replay", "--no-progress", str(okx), str(spot))
    assert p.returncode == 0, p.stderr
    out = p.stdout
    assert "core rejects 0" in out
    # the OKX capture also carries instruments that are not in the registry: counted and named
    assert "UnknownInstrument" in out and "BTC-USD-220527" in out
    lines = {line.split()[0]: line for line in out.splitlines() if line.startswith("  binance-") or line.startswith("  okx:")}
    assert " live " in lines["okx:BTC-USDT"] and " live " in lines["binance-spot:ETHUSDT"]
    assert "Composite ETH quotes" in out


@pytest.mark.data
def test_replay_coinbase_kraken_bybit_files() -> None:
    root = default_data_root()
    files = [root / "coinbase" / "cryptofeed_master_COINBASE.ws.28.0.gz",
             root / "kraken" / "cryptofeed_master_KRAKEN.ws.50.0.gz", root / "bybit" / "nautilus_xrpusdt-ob500.data.zip"]
    if not all(f.is_file() for f in files):
        pytest.skip(f"recorded venue data not found under {root}")
    p = run("replay", "--no-progress", *map(str, files))
    assert p.returncode == 0, p.stderr
    assert "core rejects 0" in p.stdout
    lines = {line.split()[0]: line for line in p.stdout.splitlines() if line.startswith("  ") and ":" in line}
    for key in ("coinbase:SKL-USD", "coinbase:DASH-BTC", "kraken:XBT/CHF", "kraken:ETH/CHF", "bybit-linear:XRPUSDT"):
        assert " live " in lines[key], key


@pytest.mark.data
def test_strict_replay_stops_at_first_refused_message() -> None:
    okx = default_data_root() / "okx" / "cryptofeed_master_OKX.ws.1.0.gz"
    if not okx.is_file():
        pytest.skip(f"recorded venue data not found at {okx}")
    p = run("replay", "--no-progress", "--strict", str(okx))
    assert p.returncode == 1 and p.stderr.startswith("rfqcore: UnknownInstrument:") and "Traceback" not in p.stderr


def test_serve_quote_and_operator_commands(tmp_path) -> None:
    """`rfqcore serve` in the background, then `rfqcore quote` and `rfqcore op` against it over
    Aeron IPC, each as its own process — as an operator at a terminal would."""
    import time

    aeron = f"/dev/shm/rfqcore-test-cli-{os.getpid()}"
    serve = subprocess.Popen([sys.executable, "-m", "rfqcore.cli", "serve", "--no-market-data", "--aeron-dir", aeron,
                              "--duration", "60", "--status-every", "1"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        line = ""
        while time.monotonic() < deadline and "requests on stream" not in line:
            line = serve.stdout.readline()  # type: ignore[union-attr]
        assert "requests on stream 1001" in line, serve.stderr.read() if serve.poll() is not None else line
        p = run("quote", "--aeron-dir", aeron, "BTC", "buy", "1")  # no market data: a clear core reject
        assert p.returncode == 1 and "rejected: NO_MARKET" in p.stderr, (p.stdout, p.stderr)
        p = run("quote", "--aeron-dir", aeron, "--client", "nobody", "BTC", "buy", "1")
        assert p.returncode != 0 and "nobody" in p.stderr and "Traceback" not in p.stderr, p.stderr
        p = run("quote", "--aeron-dir", aeron, "--secret", "00" * 16, "BTC", "buy", "1")  # wrong credentials
        assert p.returncode != 0 and "BAD_CREDENTIALS" in p.stderr and "Traceback" not in p.stderr, p.stderr
        p = run("op", "--aeron-dir", aeron, "kill", "--client", "beta-fund")
        assert p.returncode == 0 and ": OK" in p.stdout, (p.stdout, p.stderr)
        p = run("op", "--aeron-dir", aeron, "set", "instrument", "BTC", "max_qty=5", "collar_bps=50")
        assert p.returncode == 0 and p.stdout.count(": OK") == 2, (p.stdout, p.stderr)
        assert "OK  (previous value 200 BTC, new 5 BTC)" in p.stdout and "(previous value 100 bps, new 50 bps)" in \
            p.stdout, p.stdout  # in the units they were given in, not the core's integers
        p = run("op", "--aeron-dir", aeron, "set", "desk", "exec_count=5")
        assert p.returncode == 0 and ": OK" in p.stdout, (p.stdout, p.stderr)
        p = run("op", "--aeron-dir", aeron, "set", "client", "beta-fund", "tier=gold")  # a tier by its name
        assert p.returncode == 0 and ": OK  (previous value silver, new gold)" in p.stdout, (p.stdout, p.stderr)
        p = run("op", "--aeron-dir", aeron, "set", "instrument", "BTC", "min_qty=6")  # above max: refused, exit 1
        assert p.returncode == 1 and "BAD_COMMAND" in p.stdout, (p.stdout, p.stderr)
        assert p.stderr == ("rfqcore op set: refused by the core: BAD_COMMAND: the core refused the value (out of "
                            "range, or inconsistent with another limit, e.g. min_qty above max_qty); nothing was "
                            "changed\n"), p.stderr
        p = run("op", "--aeron-dir", aeron, "set", "instrument", "BTC", "colour=red")
        assert p.returncode != 0 and "unknown fields ['colour']" in p.stderr
        p = run("quote", "--aeron-dir", aeron, "BTC", "buy", "6")
        assert p.returncode == 1 and p.stderr == "rejected: ABOVE_MAX_SIZE: size > max qty\n", (p.stdout, p.stderr)
        p = run("op", "--aeron-dir", aeron, "decline", "77")
        assert p.returncode == 1 and "UNKNOWN_REQUEST" in p.stdout, (p.stdout, p.stderr)
        assert p.stderr == ("rfqcore op decline: refused by the core: UNKNOWN_REQUEST: no RFQ waits for approval "
                            "with that id (answered, declined or timed out already?); `rfqcore op watch` shows the "
                            "pending ones\n"), p.stderr
    finally:
        serve.terminate()
        out, err = serve.communicate(timeout=30)
    assert "RFQs 2" in out or "RFQs 3" in out or "RFQs" in out


@pytest.mark.data
def test_rfq_demo_session() -> None:
    """`make demo`: the client process quotes, fills, meets every scripted reject, the desk
    approves the large RFQ and prints positions and P&L."""
    if not (default_data_root() / "binance" / "spot" / "btcusdt_20240808.gz").is_file():
        pytest.skip(f"recorded venue data not found under {default_data_root()}")
    p = run("demo")
    assert p.returncode == 0, p.stderr
    out = p.stdout
    assert "client error" not in out, out
    for needle in ("logged on", "hit the ask", "hit the bid", "REJECTED TOO_LATE", "REJECTED ABOVE_MAX_SIZE",
                   "REJECTED EXCEEDS_LIMIT", "after the desk's strategy hook approved it",
                   "REJECTED INSUFFICIENT_CREDIT", "REJECTED KILL_SWITCH", "risk-reducing for the desk",
                   "desk positions and P&L", "approved 1 large RFQ",
                   "under load: the desk process replaying market data", "market replay stopped",
                   "/console/ while the demo runs", "desk-risk / risk-demo-password (risk-officer)"):
        assert needle in out, (needle, out)
    # two round-trip figures, each with its conditions; the blotter table without raw integer columns
    assert sum("RFQs back to back: RFQ -> quote round trip p50" in line for line in out.splitlines()) == 2
    assert not re.search(r"\w+_units\b", out), re.search(r".*\w+_units\b.*", out)
    assert re.search(r"notional [\d,]+\.\d\d USDT, fee \d+\.\d\d USDT", out), out
    btc = next(line for line in out.splitlines() if line.strip().startswith("BTC  position"))
    assert "-65.0" in btc  # sold 1 + ~4.04 (250k USDT) + 60 BTC to acme
