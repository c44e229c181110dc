"""Journal, recovery and the crash test: nothing acknowledged is ever lost.

The crash test runs the engine in a child process under market-data + RFQ + accept load,
kills it with SIGKILL at random moments, restarts it on the same journal, and finally checks
against an uninterrupted run of the same input: every trade any run acknowledged (published on
the out ring) is in the final state with the same price and size, no trade is duplicated, and
the state hash (books, quotes, positions, limits, counters) is identical.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import rfqcore_core

from rfqcore import journal
from rfqcore.engine import Engine
from rfqcore.instruments import Registry
from rfqcore.journal import JournalSettings
from rfqcore.records import RECORD_DTYPE, ClientSide, Flag, Kind, Side
from rfqcore.rfq import EventDecoder, Execution, Quote
from rfqcore.rfqconfig import RfqSettings

SPOT = 1
BTC = 10**8
T0 = 1_800_000_000_000_000_000  # record time of the synthetic session (ns)


def _rec(kind: int, inst: int, side: int, flags: int, source: int, seq: int, ts: int, price: int, qty: int,
         aux: int = 0) -> tuple:
    return (kind, inst, side, flags, source, seq, ts, ts, price, qty, aux, 0)


def _snapshot(ts: int) -> list[tuple]:
    S = int(Flag.SNAPSHOT)
    rows = [_rec(Kind.BOOK_CLEAR, SPOT, 255, S, 0, 1, ts, 0, 0)]
    for i in range(200):
        rows.append(_rec(Kind.BOOK_LEVEL, SPOT, Side.BID, S, 0, 1, ts, 6_000_000 - i, 1_000_000))
        rows.append(_rec(Kind.BOOK_LEVEL, SPOT, Side.ASK, S, 0, 1, ts, 6_000_010 + i, 1_000_000))
    last = list(rows[-1])
    last[3] |= Flag.END
    rows[-1] = tuple(last)
    return rows


def build_session(n_rfqs: int = 150, seed: int = 1) -> tuple[np.ndarray, int, list[tuple[int, int, int]]]:
    """Market data, RFQs and the accepts of their quotes, built by driving a reference core
    inline (an accept must carry the quoted price). Returns (inputs, state hash, trades)."""
    rng = random.Random(seed)
    registry = Registry.load()
    inputs: list[tuple] = []
    events: list = []
    trades: list[tuple[int, int, int]] = []
    decoder = EventDecoder()

    def on_out(b: np.ndarray) -> None:
        evs = decoder.feed(b)
        events.extend(evs)
        trades.extend((e.trade_id, e.price, e.qty) for e in evs if isinstance(e, Execution))

    with Engine(registry, rfq=RfqSettings.load(registry=registry)) as eng:
        eng.subscribe(on_out, kinds=None)

        def push(rows: list[tuple]) -> None:
            inputs.extend(rows)
            eng.feed(np.array(rows, dtype=RECORD_DTYPE))
            eng.run_once()

        ts = T0
        push(_snapshot(ts))
        for i in range(n_rfqs):
            ts += 200_000_000  # 5 steps a second: under the repeated-execution throttle (20 fills/s)
            side = rng.choice((Side.BID, Side.ASK))
            px = 6_000_000 - rng.randrange(0, 5) if side == Side.BID else 6_000_010 + rng.randrange(0, 5)
            push([_rec(Kind.BOOK_LEVEL, SPOT, side, Flag.END, 0, 2 + i, ts, px, rng.randrange(1, 5) * 500_000)])
            ts += 1_000
            client_side = rng.choice((ClientSide.BUY, ClientSide.SELL))
            qty = rng.choice((BTC // 10, BTC // 2, BTC))
            events.clear()
            push([_rec(Kind.RFQ, 1, client_side, Flag.END, 1, 1000 + i, ts, 0, qty)])
            q = next((e for e in events if isinstance(e, Quote)), None)
            if q is not None and rng.random() < 0.7:
                ts += 1_000
                s = q.side(client_side)
                assert s is not None
                push([_rec(Kind.ACCEPT, 1, client_side, Flag.END, 1, q.quote_id, ts, s.price, s.qty, 5000 + i)])
        eng.stop()
        state = eng.state_hash()
        fills = eng.rfq_stats()["fills"]
    arr = np.array(inputs, dtype=RECORD_DTYPE)
    assert fills > 20
    return arr, state, trades


def child_main(journal_dir: str, inputs_path: str, ack_path: str, ring_dir: str) -> None:
    """One life of the desk process: recover, then consume the rest of the input, publishing
    executions (each acknowledged one is appended to ``ack_path`` by the subscriber)."""
    inputs = np.load(inputs_path)
    # snapshots every 150 records: most lives recover from a snapshot + the journal tail, and
    # re-publish the outputs of records journaled after the last publication
    eng = Engine(journal=JournalSettings(journal_dir, durability="group", snapshot_every=150), ring_dir=ring_dir)
    done = int(eng.recovery["last_seq"])  # records in the journal = inputs consumed  # type: ignore[index, arg-type]
    fd = os.open(ack_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)

    def on_exec(batch: np.ndarray) -> None:
        for r in batch[batch["kind"] == Kind.EXEC].tolist():
            os.write(fd, f"{r[5]} {r[8]} {r[9]}\n".encode())

    eng.subscribe(on_exec, kinds=(Kind.EXEC,))
    eng.start(heartbeat_ms=None)  # inputs carry the time; no wall-clock heartbeats
    for k in range(done, len(inputs), 5):  # ~1.5 s for the whole session: kills land mid-way
        eng.feed(inputs[k:k + 5])
        time.sleep(0.008)
    eng.stop()
    os.write(fd, b"DONE\n")
    os.close(fd)
    eng.close()


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int, list[tuple[int, int, int]]]:
    inputs, state, trades = build_session()
    p = tmp_path_factory.mktemp("session") / "inputs.npy"
    np.save(p, inputs)
    return p, state, trades


def test_crash_kill9_recover_nothing_acknowledged_lost(tmp_path: Path, session) -> None:  # noqa: ANN001
    inputs_path, want_state, want_trades = session
    jdir, ack = tmp_path / "journal", tmp_path / "acks.txt"
    ctx = mp.get_context("spawn")
    rng = random.Random(7)
    kills = 0
    for life in range(12):
        ring_dir = tmp_path / f"rings-{life}"
        p = ctx.Process(target=child_main, args=(str(jdir), str(inputs_path), str(ack), str(ring_dir)))
        p.start()
        if life < 11:
            time.sleep(rng.uniform(0.2, 1.0))  # start-up included: some kills land during recovery
            if p.is_alive():
                os.kill(p.pid, signal.SIGKILL)
                kills += 1
        p.join(60)
        assert p.exitcode is not None
        if ack.exists() and ack.read_text().endswith("DONE\n"):
            break
    assert ack.read_text().endswith("DONE\n"), "the last life did not finish"
    assert kills >= 3

    # the journal replays to exactly the uninterrupted run's state
    registry = Registry.load()
    settings = RfqSettings.load(registry=registry)
    rep = journal.replay(jdir, registry, settings)
    assert rep["records"] == len(np.load(inputs_path))
    assert rep["state_hash"] == want_state
    assert rep["first_divergence"] is None

    # every acknowledged trade exists, identical, in the uninterrupted run; none twice per life
    want = {t: (px, q) for t, px, q in want_trades}
    lives = ack.read_text().split("DONE\n")[0].splitlines()
    acked = [tuple(int(x) for x in line.split()) for line in lives if line.strip()]
    assert acked, "no trade was acknowledged"
    for trade_id, px, q in acked:
        assert want.get(trade_id) == (px, q), f"acknowledged trade {trade_id} differs or is missing"
    # the final life recovered all of them: same positions as the uninterrupted run
    with Engine(journal=JournalSettings(str(jdir), snapshot_every=150),
                ring_dir=str(tmp_path / "rings-final")) as eng:
        assert eng.state_hash() == want_state
        assert eng.rfq_stats()["fills"] == len(want_trades)
        assert eng.recovery["snapshot"] is not None  # type: ignore[index]
        assert eng.recovery["tail_records"] < len(np.load(inputs_path))  # type: ignore[index, operator]


def test_replay_journal_cli_and_damage(tmp_path: Path, session) -> None:  # noqa: ANN001
    inputs_path, want_state, _ = session
    jdir = tmp_path / "j"
    inputs = np.load(inputs_path)
    with Engine(journal=JournalSettings(str(jdir), durability="none", segment_bytes=16 << 10)) as eng:
        for k in range(0, len(inputs), 50):  # one commit block per run_once: segments roll over between
            eng.feed(inputs[k:k + 50])
            eng.run_once()
        assert eng.state_hash() == want_state
    segs = sorted(jdir.glob("seg-*"))
    assert len(segs) >= 2, "expected rollover into several segments"
    cli = [sys.executable, "-m", "rfqcore.cli", "replay-journal", str(jdir)]
    p = subprocess.run(cli, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0 and "deterministic" in p.stdout, p.stdout + p.stderr

    # a torn last record: cut away (it was never acknowledged), the rest recovers
    last = segs[-1]
    data = last.read_bytes()
    last.write_bytes(data[:-10])
    with Engine(journal=JournalSettings(str(jdir))) as eng:
        assert eng.recovery["torn_bytes"] > 0  # type: ignore[index, operator]
        assert eng.recovery["last_seq"] < len(np.load(inputs_path))  # type: ignore[index, operator]

    # a flipped byte in the middle of an earlier segment: refused, naming file and offset
    first = segs[0]
    b = bytearray(first.read_bytes())
    b[len(b) // 2] ^= 0xFF
    first.write_bytes(bytes(b))
    with pytest.raises(rfqcore_core.JournalError, match="seg-0000000000"):
        Engine(journal=JournalSettings(str(jdir)))
    p = subprocess.run(cli, capture_output=True, text=True, timeout=120)
    assert p.returncode == 1 and "JournalError" in p.stderr and "Traceback" not in p.stderr

    # a journal written under another configuration is refused
    other = tmp_path / "other"
    with Engine(journal=JournalSettings(str(other))) as eng:
        eng.feed(np.load(inputs_path)[:10])
        eng.run_once()
    reg = Registry.load()
    changed = RfqSettings.from_toml(
        (Path(__file__).parents[1] / "src/rfqcore/defaults/rfq.toml").read_text().replace(
            'max_qty = "200"', 'max_qty = "199"'), reg)
    with pytest.raises(rfqcore_core.JournalError, match="(?i)fingerprint"):
        Engine(reg, rfq=changed, journal=JournalSettings(str(other)))
