"""Where in the book do the real Binance depth diffs land? (explains the L2Book update cost)

    .venv/bin/python bench/book_profile.py

Replays each stream's diffs (after its REST snapshot) against a plain Python model of
``rfq_book::Ladder`` (per side: keys sorted ascending, best level last; bids key = price, asks
key = -price) and reports, per stream: how many updates modify / insert / delete a level or
delete an absent one, the distance of each update from the best level (0 = the best), and for
inserts and deletes how many elements the ladder has to move (= the levels between the update
and the best, in each of its two arrays). Then, on spot BTCUSDT (``rfqcore_core.Book``), how many
levels a 100 BTC sweep takes on each side, every 500 messages. Nothing is timed.
"""

from __future__ import annotations

import bisect
import json
import sys

import numpy as np

import bench_data as bd


def profile(name: str) -> dict:
    snap, diffs, _ = bd.book_deltas(name)
    lad: dict[int, list[int]] = {0: [], 1: []}
    for s, p in zip(snap["side"].tolist(), snap["price"].tolist()):
        bisect.insort(lad[s], p if s == 0 else -p)
    counts = {"modify": 0, "insert": 0, "delete": 0, "delete_absent": 0}
    depth, moved = [], []
    for s, p, q in zip(diffs["side"].tolist(), diffs["price"].tolist(), diffs["qty"].tolist()):
        k = p if s == 0 else -p
        lv = lad[s]
        i = bisect.bisect_left(lv, k)
        found = i < len(lv) and lv[i] == k
        d = len(lv) - 1 - i if found else len(lv) - i
        depth.append(d)
        if found and q == 0:
            counts["delete"] += 1
            moved.append(d)
            lv.pop(i)
        elif found:
            counts["modify"] += 1
        elif q == 0:
            counts["delete_absent"] += 1
        else:
            counts["insert"] += 1
            moved.append(d)
            lv.insert(i, k)
    dep, mv = np.array(depth), np.array(moved)
    n = len(dep)
    return {
        "stream": name, "updates": n, **counts,
        "depth_from_best_p50": float(np.percentile(dep, 50)),
        "depth_from_best_p90": float(np.percentile(dep, 90)),
        "depth_from_best_p99": float(np.percentile(dep, 99)),
        "depth_from_best_max": int(dep.max()),
        "share_within_top8": float((dep < 8).mean()),
        "share_insert_or_delete": float(len(mv) / n),
        "elements_moved_per_insert_delete_mean": float(mv.mean()),
        "elements_moved_per_insert_delete_p50": float(np.median(mv)),
        "final_levels": [len(lad[0]), len(lad[1])],
    }


def levels_for_100btc(name: str = "spot_btcusdt", every: int = 500) -> list[tuple[int, int | None, int | None]]:
    """Levels that 100 BTC sweeps on each side of the book, sampled every ``every`` messages."""
    import rfqcore_core

    snap, diffs, ends = bd.book_deltas(name)
    qty = 100 * 10 ** bd.instruments()[("binance-spot", "BTCUSDT")]["qty_decimals"]
    b = rfqcore_core.Book()
    col = lambda a, f: np.ascontiguousarray(a[f])  # noqa: E731
    b.update_batch(col(snap, "side").astype(np.uint8), col(snap, "price"), col(snap, "qty"))

    def levels(side: int) -> int | None:
        left = qty
        for n, (_, q) in enumerate(b.depth(side, 1 << 20), start=1):
            left -= min(left, q)
            if left == 0:
                return n
        return None

    out = []
    start = 0
    for i, e in enumerate(ends):
        d = diffs[start:e]
        b.update_batch(col(d, "side").astype(np.uint8), col(d, "price"), col(d, "qty"))
        start = e
        if i % every == 0 or i == len(ends) - 1:
            out.append((i, levels(1), levels(0)))
    return out


def main() -> int:
    try:
        bd.data_dir()
    except bd.DataMissing as e:
        print(f"SKIP: {e}")
        return 0
    for name in ("spot_btcusdt", "usdm_btcusdt"):
        r = profile(name)
        print(f"{name}: {r['updates']:,} updates: modify {r['modify']:,}, insert {r['insert']:,}, "
              f"delete {r['delete']:,}, delete of an absent level {r['delete_absent']:,}")
        print(f"  distance from the best level: p50 {r['depth_from_best_p50']:.0f}, p90 {r['depth_from_best_p90']:.0f}, "
              f"p99 {r['depth_from_best_p99']:.0f}, max {r['depth_from_best_max']}; "
              f"{r['share_within_top8']:.1%} within the top 8 levels")
        print(f"  inserts+deletes: {r['share_insert_or_delete']:.1%} of updates, moving "
              f"{r['elements_moved_per_insert_delete_mean']:.0f} elements on average "
              f"(median {r['elements_moved_per_insert_delete_p50']:.0f}) in each of the two arrays")
        print("  " + json.dumps(r))
    samples = levels_for_100btc()
    asks = [a for _, a, _ in samples if a]
    bids = [b for _, _, b in samples if b]
    print(f"spot_btcusdt: levels swept by 100 BTC, sampled every 500 messages ({len(samples)} samples): "
          f"buying {min(asks)}-{max(asks)}, selling {min(bids)}-{max(bids)}")
    print("  " + json.dumps(samples))
    return 0


if __name__ == "__main__":
    sys.exit(main())
