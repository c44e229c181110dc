"""The crash test, bigger: SIGKILL a journaled engine many times under load, recover, compare.

    .venv/bin/python bench/crash_bench.py [--rfqs 1500] [--lives 40] [--durability group|fsync_each|none]

Same procedure as ``tests/test_journal.py::test_crash_kill9_recover_nothing_acknowledged_lost``
(the session, the child process and the checks are imported from there), sized up: a session of
market data, RFQs and accepts built against a reference core; a child process recovers from the
journal (snapshot + tail), consumes the rest of the session and appends every execution it
publishes to an acknowledgement file; the parent kills it with SIGKILL at random moments,
``--lives`` times, then lets a last life finish. After every life, before the next is fed
anything, a copy of the journal is recovered and every trade acknowledged so far must be in it
(the next life re-feeds what the journal lacks, which would hide a loss). Checks and reports:
acknowledged trades missing from a recovered state, trade ids delivered twice beyond the
re-publication recovery announces, every acknowledged trade in the uninterrupted run with the
same price and size, the journal replaying to the uninterrupted run's state hash; plus the
elapsed time.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from test_journal import (  # noqa: E402
    build_session,
    check_recovered,
    child_main,
    kill_sometime,
    read_acks,
    repeated_deliveries,
)

from rfqcore import journal  # noqa: E402
from rfqcore.instruments import Registry  # noqa: E402
from rfqcore.rfqconfig import RfqSettings  # noqa: E402


def run(rfqs: int, lives: int, seed: int, durability: str = "group") -> dict:
    inputs, want_state, want_trades = build_session(n_rfqs=rfqs, seed=seed)
    work = Path(tempfile.mkdtemp(prefix="rfqcore-crash-"))
    np.save(work / "inputs.npy", inputs)
    jdir, ack = work / "journal", work / "acks.txt"
    ctx = mp.get_context("spawn")
    rng = random.Random(seed)
    kills, t0 = 0, time.perf_counter()
    per_life: list[list] = []
    republish_after = [0]
    missing: list[str] = []
    missing_ids: set[int] = set()
    for life in range(lives + 1):
        ready = ctx.Event()
        p = ctx.Process(target=child_main, args=(str(jdir), str(work / "inputs.npy"), str(ack),
                                                 str(work / f"rings-{life}"), durability, ready))
        p.start()
        when = ("startup", "running", "trading")[life % 3]
        kills += life < lives and kill_sometime(p, ready, ack, rng, when, upto_s=1.0)
        p.join(120)
        acked_so_far = read_acks(ack)
        per_life.append(acked_so_far[sum(map(len, per_life)):])
        rec = check_recovered(jdir, work / "recovered", acked_so_far)
        missing += [f"after life {life}: {m}" for m in rec.missing]
        missing_ids |= {int(m.split()[1]) for m in rec.missing}  # "trade <id> (quote ...): ..."
        republish_after.append(rec.republish_after)
        if ack.exists() and ack.read_text().endswith("DONE\n"):
            break
    elapsed = time.perf_counter() - t0
    registry = Registry.load()
    rep = journal.replay(jdir, registry, RfqSettings.load(registry=registry))
    want = {t: (px, q) for t, px, q in want_trades}
    acked = [a for life_acks in per_life for a in life_acks]
    wrong = [a for a in acked if want.get(a.trade_id) != (a.price, a.qty)]
    twice = repeated_deliveries(per_life, republish_after, inputs)
    return {
        "bench": "crash", "inputs": int(len(inputs)), "trades": len(want_trades), "lives": life + 1, "kills": kills,
        "durability": durability, "acknowledged_publications": len(acked),
        "distinct_acknowledged_trades": len({a.trade_id for a in acked}),
        "acknowledged_but_missing_after_recovery": len(missing_ids),
        "delivered_twice_unannounced": len(twice),
        "acknowledged_but_wrong": len(wrong),
        # the headline run_all reports: acknowledged trades missing after a recovery or different
        "acknowledged_but_wrong_or_lost": len(missing_ids | {a.trade_id for a in wrong}),
        "finished": ack.read_text().endswith("DONE\n"),
        "replayed_records": rep["records"], "state_equal": rep["state_hash"] == want_state,
        "first_divergence": rep["first_divergence"], "elapsed_s": round(elapsed, 1), "dir": str(work),
        "problems": (missing + twice)[:10],
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rfqs", type=int, default=1500)
    ap.add_argument("--lives", type=int, default=40, help="lives killed before the last one finishes")
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--durability", choices=("group", "fsync_each", "none"), default="group")
    a = ap.parse_args()
    r = run(a.rfqs, a.lives, a.seed, a.durability)
    print(f"crash bench: {r['inputs']:,} input records, {r['trades']} trades in the uninterrupted run; "
          f"{r['kills']} SIGKILLs over {r['lives']} lives in {r['elapsed_s']} s (durability {r['durability']})")
    print(f"  acknowledged trades: {r['distinct_acknowledged_trades']} distinct ({r['acknowledged_publications']} "
          f"publications incl. re-publication after recovery); missing from a recovered state: "
          f"{r['acknowledged_but_missing_after_recovery']}, delivered twice unannounced: "
          f"{r['delivered_twice_unannounced']}, differing from the uninterrupted run: {r['acknowledged_but_wrong']}")
    print(f"  journal replay: {r['replayed_records']:,} records, state equal to the uninterrupted run: "
          f"{r['state_equal']}, first divergence: {r['first_divergence']}")
    for line in r["problems"]:
        print(f"  PROBLEM {line}")
    print(json.dumps(r, separators=(",", ":")))
    ok = (r["finished"] and r["state_equal"] and not r["acknowledged_but_wrong"]
          and not r["acknowledged_but_missing_after_recovery"] and not r["delivered_twice_unannounced"])
    return 0 if ok else 1

if __name__ == "__main__":
    raise SystemExit(main())
