"""The engine benches before and after a change, in one run: ``engine_bench --quick`` (core
replay, core tick-to-quote, saturated rings) and ``rfq_bench`` (per-RFQ pricing + risk, accept)
built at two revisions and run in alternating order (before/after, then after/before, ...), so
drift of the machine during the run falls on both alike. Prints the median of the rounds for each
figure and the after/before ratio, then one JSON line ``{"bench": "engine_ab", ...}``.

    .venv/bin/python bench/engine_ab.py [--before REV] [--after REV] [--rounds N] [--cpus LIST]
                                        [--binaries BEFORE_DIR AFTER_DIR] [--quick]

``--before`` defaults to ``c3a9feb``, the last commit before the engine restructure (issue 10);
``--after`` to ``HEAD``. Each revision is checked out in a git worktree under
``/tmp/rfqcore-ab`` and its two bench binaries built there (release, fat LTO: minutes);
``--binaries`` uses binaries built elsewhere instead. ``--cpus 2-7`` pins every run with taskset.
Needs the cached bench data (``bench/bench_data.py``).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WORK = Path("/tmp/rfqcore-ab")
BASELINE = "c3a9feb"
BINS = ("engine_bench", "rfq_bench")


def build(rev: str) -> Path:
    """Bench binaries of `rev`, built in a worktree of their own (kept for the next run)."""
    sha = subprocess.run(["git", "rev-parse", "--short=12", rev], cwd=REPO, check=True, capture_output=True,
                         text=True).stdout.strip()
    tree = WORK / sha
    if not tree.exists():
        WORK.mkdir(parents=True, exist_ok=True)
        subprocess.run(["git", "worktree", "add", "-q", "--detach", str(tree), sha], cwd=REPO, check=True)
    cmd = ["cargo", "build", "-q", "--release", "-p", "rfq-engine", "--features", "bench"]
    for b in BINS:
        cmd += ["--bin", b]
    print(f"building {rev} ({sha}) in {tree}", file=sys.stderr, flush=True)
    subprocess.run(cmd, cwd=tree, check=True)
    return tree / "target" / "release"


def run(binary: Path, args: list[str], cpus: str | None) -> dict:
    """The bench's JSON result line."""
    cmd = (["taskset", "-c", cpus] if cpus else []) + [str(binary), *args]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=600).stdout
    lines = [ln for ln in out.splitlines() if ln.startswith('{"bench"')]
    if not lines:
        raise SystemExit(f"{binary.name} printed no JSON result line")
    return json.loads(lines[-1])


def figures(engine: dict, rfq: dict) -> dict[str, float]:
    """The compared figures of one round."""
    f: dict[str, float] = {}
    for s in engine["scenarios"]:
        n = s["scenario"]
        f[f"{n} ns/record (inline)"] = s["ns_per_record_median"]
        f[f"{n} core tick-to-quote p50 ns"] = s["per_quoting_message"]["p50"]
        f[f"{n} core tick-to-quote p99 ns"] = s["per_quoting_message"]["p99"]
        f[f"{n} saturated via rings msg/s"] = s["saturated"]["msg_per_s"]
    for k, v in rfq.items():
        if isinstance(v, dict) and "p50" in v and k != "clock":
            f[f"{k} p50 ns"] = v["p50"]
            f[f"{k} p99 ns"] = v["p99"]
    return f


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--before", default=BASELINE)
    ap.add_argument("--after", default="HEAD")
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--cpus", help="taskset CPU list for every run, e.g. 2-7")
    ap.add_argument("--binaries", nargs=2, metavar=("BEFORE_DIR", "AFTER_DIR"))
    ap.add_argument("--quick", action="store_true", help="2 rounds (a smoke test)")
    a = ap.parse_args()
    if shutil.which("cargo") is None and not a.binaries:
        raise SystemExit("cargo is not on PATH: install Rust, or pass --binaries BEFORE_DIR AFTER_DIR")
    dirs = [Path(d) for d in a.binaries] if a.binaries else [build(a.before), build(a.after)]
    for d in dirs:
        for b in BINS:
            if not (d / b).is_file():
                raise SystemExit(f"{d / b} does not exist: build it (see the module docs) or pass another --binaries")
    rounds = 2 if a.quick else a.rounds
    got: list[list[dict[str, float]]] = [[], []]
    for r in range(rounds):
        order = (0, 1) if r % 2 == 0 else (1, 0)
        for i in order:
            e = run(dirs[i] / "engine_bench", ["--quick"], a.cpus)
            # --before-ladder: the same desk and sizes at every revision (older binaries ignore it)
            q = run(dirs[i] / "rfq_bench", ["--before-ladder", *(["--quick"] if a.quick else [])], a.cpus)
            got[i].append(figures(e, q))
        print(f"round {r + 1}/{rounds} done", file=sys.stderr, flush=True)
    med = [{k: statistics.median(x[k] for x in side) for k in side[0]} for side in got]
    print(f"| figure | before ({a.before}): median of {rounds} | after ({a.after}) | after / before |")
    print("|---|---:|---:|---:|")
    for k in med[0]:
        b, n = med[0][k], med[1].get(k, float("nan"))
        print(f"| {k} | {b:,.0f} | {n:,.0f} | {n / b:.2f} |")
    print(json.dumps({"bench": "engine_ab", "before": a.before, "after": a.after, "rounds": rounds,
                      "median": {"before": med[0], "after": med[1]}}))


if __name__ == "__main__":
    main()
