"""Journal, recovery and the crash test: nothing acknowledged is ever lost.

The crash test runs the engine in a child process under market-data + RFQ + accept load,
kills it with SIGKILL at random moments and restarts it on the same journal. After every life,
before the next one is fed anything, a copy of the journal is recovered and every trade any life
acknowledged (an execution report the subscriber received) must already be in that recovered
state: the next life re-feeds the inputs after the journal's end, so a trade whose input was not
journaled would be regenerated and its loss hidden. No trade id is delivered twice, except a
re-publication recovery announced (outputs of records after the published marker). Finally the
journal replays to the uninterrupted run's state hash (books, quotes, positions, limits, counters).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, NamedTuple

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
        trades.extend((e.trade_id, e.price_raw, e.qty_raw) for e in evs if isinstance(e, Execution))

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
                push([_rec(Kind.ACCEPT, 1, client_side, Flag.END, 1, q.quote_id, ts, s.price_raw, s.qty_raw, 5000 + i)])
        eng.stop()
        state = eng.state_hash()
        fills = eng.rfq_stats()["fills"]
    arr = np.array(inputs, dtype=RECORD_DTYPE)
    assert fills > 20
    return arr, state, trades


class Ack(NamedTuple):
    """An execution report as the client side received it (one line of the acknowledgement file)."""

    trade_id: int
    side: int  # 0: the client bought at the quote's ask, 1: sold at its bid
    price: int
    qty: int
    quote_id: int
    accept_id: int


def child_main(journal_dir: str, inputs_path: str, ack_path: str, ring_dir: str, durability: str = "group",
               ready: Any = None) -> None:
    """One life of the desk process: recover, then consume the rest of the input, publishing
    executions (each acknowledged one is appended to ``ack_path`` by the subscriber). ``ready``
    (an Event) is set once recovered, before anything is fed."""
    inputs = np.load(inputs_path)
    # snapshots every 150 records: most lives recover from a snapshot + the journal tail, and
    # re-publish the outputs of records journaled after the last publication
    eng = Engine(journal=JournalSettings(journal_dir, durability=durability, snapshot_every=150),
                 ring_dir=ring_dir)
    done = int(eng.recovery["last_seq"])  # records in the journal = inputs consumed  # type: ignore[index, arg-type]
    fd = os.open(ack_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)

    def on_exec(batch: np.ndarray) -> None:
        for r in batch[batch["kind"] == Kind.EXEC].tolist():
            # trade id, side, price, qty, quote id, accept id
            os.write(fd, f"{r[5]} {r[2]} {r[8]} {r[9]} {r[10]} {r[6]}\n".encode())

    eng.subscribe(on_exec, kinds=(Kind.EXEC,))
    eng.start(heartbeat_ms=None)  # inputs carry the time; no wall-clock heartbeats
    if ready is not None:
        ready.set()
    for k in range(done, len(inputs), 5):  # ~1.5 s for the whole session: kills land mid-way
        eng.feed(inputs[k:k + 5])
        time.sleep(0.008)
    eng.stop()
    os.write(fd, b"DONE\n")
    os.close(fd)
    eng.close()


def kill_sometime(p: Any, ready: Any, ack: Path, rng: random.Random, when: str, upto_s: float) -> bool:
    """SIGKILL the child ``p`` at a random moment ``when``: ``startup`` (during start-up and
    recovery), ``running`` (up to ``upto_s`` after it signalled ``ready``: a loaded machine can
    take longer than any fixed delay to start a child) or ``trading`` (just after it delivered
    its first execution report, whose input is then at the very end of the journal). True if
    it was killed (had not finished)."""
    if when == "startup":
        time.sleep(rng.uniform(0.2, 1.0))
    else:
        assert ready.wait(60), "the child did not recover within 60 s"
        if when == "trading":
            size = ack.stat().st_size if ack.exists() else 0
            while p.is_alive() and (ack.stat().st_size if ack.exists() else 0) == size:
                time.sleep(0.002)
            time.sleep(rng.uniform(0, 0.05))
        else:
            time.sleep(rng.uniform(0.05, upto_s))
    if not p.is_alive():
        return False
    os.kill(p.pid, signal.SIGKILL)
    return True


def read_acks(path: Path) -> list[Ack]:
    """Every execution report received so far, in order (a line torn by a kill is ignored)."""
    if not path.exists():
        return []
    text = path.read_text()
    lines = text.splitlines() if text.endswith("\n") else text.splitlines()[:-1]
    return [Ack(*map(int, ln.split())) for ln in lines if ln and ln != "DONE"]


class Recovered(NamedTuple):
    missing: list[str]  # acknowledged trades the recovered state does not hold, one line each
    records: int  # journaled records recovered
    republish_after: int  # journal seq after which recovery publishes the outputs again


def check_recovered(journal_dir: Path, scratch: Path, acked: list[Ack]) -> Recovered:
    """Recover a copy of the journal — exactly the state the next life starts from, before it is
    fed anything — and look up every acknowledged trade in it: the trade id must be among the
    fills so far (ids count the fills) and its quote filled at the acknowledged price and size."""
    if not journal_dir.exists():  # killed before it was created: nothing recovered
        return Recovered([f"trade {a.trade_id} (quote {a.quote_id}): no journal" for a in acked], 0, 0)
    shutil.copytree(journal_dir, scratch)
    try:
        with Engine(journal=JournalSettings(str(scratch))) as eng:
            rec = eng.recovery
            assert rec is not None
            fills = int(eng.rfq_stats()["fills"])  # type: ignore[arg-type]
            missing = []
            for a in acked:
                q = eng.quote_state_raw(a.quote_id)
                held = None if q is None else (q["state"], q["ask" if a.side == 0 else "bid"])
                if a.trade_id > fills or held != ("filled", (a.price, a.qty)):
                    missing.append(f"trade {a.trade_id} (quote {a.quote_id}): {fills} fills recovered, quote {held}")
            last = int(rec["last_seq"])  # type: ignore[call-overload]
            after = last - int(rec["republished_records"])  # type: ignore[call-overload]
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return Recovered(missing, last, after)


def repeated_deliveries(lives: list[list[Ack]], republish_after: list[int], inputs: np.ndarray) -> list[str]:
    """Trade ids delivered more than once, other than re-publications recovery announced: a life
    may deliver again a trade of an earlier life only when the trade's ACCEPT lies after the
    journal seq from which that life's recovery published outputs again (journal seq k is input
    row k-1: one producer, no heartbeats); within one life, never."""
    accepts = np.flatnonzero(inputs["kind"] == Kind.ACCEPT)
    seq_of_accept = {int(inputs["aux"][i]): int(i) + 1 for i in accepts}
    seen: set[int] = set()
    bad = []
    for life, acks in enumerate(lives):
        ids = [a.trade_id for a in acks]
        bad += [f"life {life}: trade {t} delivered {ids.count(t)} times" for t in sorted(set(ids)) if ids.count(t) > 1]
        bad += [f"life {life}: trade {a.trade_id} delivered again although its accept (journal seq "
                f"{seq_of_accept[a.accept_id]}) is not after {republish_after[life]}"
                for a in acks if a.trade_id in seen and seq_of_accept[a.accept_id] <= republish_after[life]]
        seen.update(ids)
    return bad


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int, list[tuple[int, int, int]]]:
    inputs, state, trades = build_session()
    p = tmp_path_factory.mktemp("session") / "inputs.npy"
    np.save(p, inputs)
    return p, state, trades


def test_crash_kill9_recover_nothing_acknowledged_lost(tmp_path: Path, session) -> None:  # noqa: ANN001
    inputs_path, want_state, want_trades = session
    inputs = np.load(inputs_path)
    jdir, ack = tmp_path / "journal", tmp_path / "acks.txt"
    ctx = mp.get_context("spawn")
    rng = random.Random(7)
    kills = mid_session_kills = 0
    lives: list[list[Ack]] = []
    republish_after = [0]  # the first life starts from an empty journal
    journaled = 0
    for life in range(12):
        ring_dir = tmp_path / f"rings-{life}"
        ready = ctx.Event()
        p = ctx.Process(target=child_main, args=(str(jdir), str(inputs_path), str(ack), str(ring_dir), "group", ready))
        p.start()
        when = ("startup", "running", "trading")[life % 3]
        killed = life < 11 and kill_sometime(p, ready, ack, rng, when, upto_s=0.3)
        kills += killed
        p.join(60)
        assert p.exitcode is not None
        acked = read_acks(ack)
        lives.append(acked[sum(map(len, lives)):])
        # before anything is fed again: every trade acknowledged so far is in the recovered state
        rec = check_recovered(jdir, tmp_path / "recovered", acked)
        assert not rec.missing, f"after life {life}, acknowledged but not recovered:\n" + "\n".join(rec.missing)
        republish_after.append(rec.republish_after)
        mid_session_kills += killed and rec.records > journaled
        journaled = rec.records
        if ack.exists() and ack.read_text().endswith("DONE\n"):
            break
    assert ack.read_text().endswith("DONE\n"), "the last life did not finish"
    assert kills >= 3 and mid_session_kills >= 3, (kills, mid_session_kills)
    assert sum(map(len, lives[:-1])) > 0, "no killed life acknowledged a trade: the loss check checked nothing"

    # the journal replays to exactly the uninterrupted run's state
    registry = Registry.load()
    settings = RfqSettings.load(registry=registry)
    rep = journal.replay(jdir, registry, settings)
    assert rep["records"] == len(inputs)
    assert rep["state_hash"] == want_state
    assert rep["first_divergence"] is None

    # every acknowledged trade exists, identical, in the uninterrupted run; none delivered twice
    # but what a recovery re-published
    want = {t: (px, q) for t, px, q in want_trades}
    acked = [a for life_acks in lives for a in life_acks]
    assert len(acked) > 20, "too few trades acknowledged for the test to mean anything"
    for a in acked:
        assert want.get(a.trade_id) == (a.price, a.qty), f"acknowledged trade {a.trade_id} differs or is missing"
    assert repeated_deliveries(lives, republish_after, inputs) == []
    # the final life recovered all of them: same positions as the uninterrupted run
    with Engine(journal=JournalSettings(str(jdir), snapshot_every=150),
                ring_dir=str(tmp_path / "rings-final")) as eng:
        assert eng.state_hash() == want_state
        assert eng.rfq_stats()["fills"] == len(want_trades)
        assert eng.recovery["snapshot"] is not None  # type: ignore[index]
        assert eng.recovery["tail_records"] < len(inputs)  # type: ignore[index, operator]


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
