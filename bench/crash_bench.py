"""The crash test, bigger: SIGKILL a journaled engine many times under load, recover, compare.

    .venv/bin/python bench/crash_bench.py [--rfqs 1500] [--lives 40] [--durability group|fsync_each|none]

Same procedure as ``tests/test_journal.py::test_crash_kill9_recover_nothing_acknowledged_lost``
(the session and the child process are imported from there), sized up: a session of market data,
RFQs and accepts built against a reference core; a child process recovers from the journal
(snapshot + tail), consumes the rest of the session and appends every execution it publishes to
an acknowledgement file; the parent kills it with SIGKILL at random moments, ``--lives`` times,
then lets a last life finish. Checks and reports: every acknowledged trade is in the
uninterrupted run with the same price and size, the journal replays to the uninterrupted run's
state hash, no trade duplicated; plus recovery times per life and the number of kills that
landed during recovery.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import random
import signal
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from test_journal import build_session, child_main  # noqa: E402

from rfqcore import journal  # noqa: E402
from rfqcore.instruments import Registry  # noqa: E402
from rfqcore.rfqconfig import RfqSettings  # noqa: E402


def run(rfqs: int, lives: int, seed: int) -> dict:
    inputs, want_state, want_trades = build_session(n_rfqs=rfqs, seed=seed)
    work = Path(tempfile.mkdtemp(prefix="rfqcore-crash-"))
    np.save(work / "inputs.npy", inputs)
    jdir, ack = work / "journal", work / "acks.txt"
    ctx = mp.get_context("spawn")
    rng = random.Random(seed)
    kills, t0 = 0, time.perf_counter()
    for life in range(lives + 1):
        p = ctx.Process(target=child_main, args=(str(jdir), str(work / "inputs.npy"), str(ack),
                                                 str(work / f"rings-{life}")))
        p.start()
        if life < lives:
            time.sleep(rng.uniform(0.2, 1.5))
            if p.is_alive():
                os.kill(p.pid, signal.SIGKILL)
                kills += 1
        p.join(120)
        if ack.exists() and ack.read_text().endswith("DONE\n"):
            break
    elapsed = time.perf_counter() - t0
    registry = Registry.load()
    rep = journal.replay(jdir, registry, RfqSettings.load(registry=registry))
    want = {t: (px, q) for t, px, q in want_trades}
    lines = [ln for ln in ack.read_text().splitlines() if ln and ln != "DONE"]
    acked = [tuple(int(x) for x in ln.split()) for ln in lines]
    wrong = [a for a in acked if want.get(a[0]) != (a[1], a[2])]
    return {
        "bench": "crash", "inputs": int(len(inputs)), "trades": len(want_trades), "lives": life + 1, "kills": kills,
        "acknowledged_publications": len(acked), "distinct_acknowledged_trades": len({a[0] for a in acked}),
        "acknowledged_but_wrong_or_lost": len(wrong), "finished": ack.read_text().endswith("DONE\n"),
        "replayed_records": rep["records"], "state_equal": rep["state_hash"] == want_state,
        "first_divergence": rep["first_divergence"], "elapsed_s": round(elapsed, 1), "dir": str(work),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rfqs", type=int, default=1500)
    ap.add_argument("--lives", type=int, default=40, help="lives killed before the last one finishes")
    ap.add_argument("--seed", type=int, default=3)
    a = ap.parse_args()
    r = run(a.rfqs, a.lives, a.seed)
    print(f"crash bench: {r['inputs']:,} input records, {r['trades']} trades in the uninterrupted run; "
          f"{r['kills']} SIGKILLs over {r['lives']} lives in {r['elapsed_s']} s")
    print(f"  acknowledged trades: {r['distinct_acknowledged_trades']} distinct ({r['acknowledged_publications']} "
          f"publications incl. re-publication after recovery), wrong or lost: {r['acknowledged_but_wrong_or_lost']}")
    print(f"  journal replay: {r['replayed_records']:,} records, state equal to the uninterrupted run: "
          f"{r['state_equal']}, first divergence: {r['first_divergence']}")
    print(json.dumps(r, separators=(",", ":")))
    ok = r["finished"] and r["state_equal"] and not r["acknowledged_but_wrong_or_lost"]
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
