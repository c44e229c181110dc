"""The steps of ``run_all.py`` (``make bench``), in one table: what each one runs.

A step is one or more commands (its full run) and the same commands at their smallest settings
(``--quick``, a smoke test whose numbers mean nothing); a Rust step names the build command run
first, unmeasured. Each command prints a human report and JSON result line(s)
``{"bench": NAME, ...}``; ``PY`` stands for the venv's Python. ``run_all.py --list [--quick]``
prints this table, and tests/test_bench_harness.py checks it against every bench script and Rust
bench binary in the repository and every command quoted in bench/RESULTS.md.
"""

from __future__ import annotations

from dataclasses import dataclass

PY = "PY"  # replaced by sys.executable when run

# rfq_bench --journal: RFQ -> answer through a journaled core thread; the RESULTS.md variants.
JOURNAL_DISK = "/tmp/rfqcore-bench/rfq-journal-e2e"
JOURNAL_SHM = "/dev/shm/rfqcore-bench-rfq-journal-e2e"
JOURNAL_E2E = (("group", "thread", JOURNAL_DISK), ("fsync", "thread", JOURNAL_DISK),
               ("group", "core", JOURNAL_DISK), ("fsync", "core", JOURNAL_DISK), ("fsync", "thread", JOURNAL_SHM))
# pytest-benchmark; {out} is the results directory of the run.
BOOK_PY = (PY, "-m", "pytest", "bench/test_bench_book.py", "--benchmark-enable", "-q", "-p", "no:cacheprovider",
           "--bench-summary={out}/book_py_summary.json", "--benchmark-json={out}/book_py_pytest_benchmark.json")


@dataclass(frozen=True)
class Step:
    name: str
    what: str
    runs: tuple[tuple[str, ...], ...]
    quick: tuple[tuple[str, ...], ...]
    bench: str = ""  # the "bench" of its JSON line(s)
    build: tuple[str, ...] = ()
    needs_data: bool = False
    result: str = "line"  # line: the last JSON line; lines: every one, as a list; other: see run_all.step


def cargo_build(pkg: str, target: str, kind: str = "bin") -> tuple[str, ...]:
    if kind == "bench":
        return ("cargo", "bench", "-q", "-p", pkg, "--bench", target, "--no-run")
    return ("cargo", "build", "-q", "--release", "-p", pkg, "--features", "bench", "--bin", target)


def cargo_run(pkg: str, target: str, *args: str, kind: str = "bin") -> tuple[str, ...]:
    if kind == "bench":
        return ("cargo", "bench", "-q", "-p", pkg, "--bench", target, "--", *args)
    return ("cargo", "run", "-q", "--release", "-p", pkg, "--features", "bench", "--bin", target, "--", *args)


def rust(name: str, what: str, pkg: str, target: str, bench: str, args: tuple[str, ...] = (),
         quick: tuple[str, ...] = ("--quick",), kind: str = "bin", **kw) -> Step:
    return Step(name, what, (cargo_run(pkg, target, *args, kind=kind),), (cargo_run(pkg, target, *args, *quick, kind=kind),),
                bench, cargo_build(pkg, target, kind), **kw)


def py(name: str, what: str, script: str, args: tuple[str, ...] = (), quick: tuple[str, ...] = ("--quick",),
       **kw) -> Step:
    cmd = (PY, f"bench/{script}", *args)
    return Step(name, what, (cmd,), ((*cmd, *quick),), kw.pop("bench", name), **kw)


def journal_e2e(seconds: str | None) -> tuple[tuple[str, ...], ...]:
    extra = ("--seconds", seconds) if seconds else ()
    return tuple(cargo_run("rfq-engine", "rfq_bench", "--journal", d, "--durability", dur, "--io", io, *extra)
                 for dur, io, d in JOURNAL_E2E)


STEPS: tuple[Step, ...] = (
    py("data", "parse ../shared/data into /tmp/rfqcore-bench (cached)", "bench_data.py", quick=(), result="data"),
    rust("ring_rust", "Rust -> Rust ring: throughput, paced one-way latency", "rfq-ring", "ring_bench", "rfq_ring",
         kind="bench"),
    rust("book_rust", "real Binance diffs into rfq_book::L2Book, VWAP", "rfq-book", "book_bench", "rfq_book",
         needs_data=True),
    rust("engine_rust", "core replay of the merged BTC streams, tick-to-quote via rings", "rfq-engine",
         "engine_bench", "rfq_engine", needs_data=True),
    py("ring_py", "Cython producer -> Rust consumer: batch throughput, paced latency", "ring_py.py"),
    Step("book_py", "Python Book vs NautilusTrader OrderBook, same run, same deltas", (BOOK_PY,),
         ((*BOOK_PY, "--benchmark-max-time=0.2", "--benchmark-min-rounds=3"),), needs_data=True, result="book_py"),
    py("engine_py", "tick-to-quote through rfqcore.engine.Engine; replay vs bare parse", "engine_py.py",
       needs_data=True),
    py("pump_profile", "what one pass of the engine's Python output pump costs, piece by piece",
       "pump_profile.py", quick=()),
    py("book_profile", "where the real diffs land in the ladder (not a timing)", "book_profile.py", quick=(),
       needs_data=True, result="book_profile"),
    rust("rfq_rust", "per-RFQ pricing + risk and accept in the core", "rfq-engine", "rfq_bench", "rfq_core",
         args=("--json",)),
    Step("rfq_journal_rust", "RFQ -> answer through a journaled core thread, per durability and journal I/O thread",
         journal_e2e(None), journal_e2e("1"), "rfq_journal_latency", cargo_build("rfq-engine", "rfq_bench"),
         result="lines"),
    py("rfq_roundtrip", "RFQ -> quote over Aeron IPC against a raw ping-pong", "rfq_roundtrip.py",
       args=("--no-wait",)),
    py("rfq_roundtrip_python", "the same round trip through the Python fallback gateway (a process of its own)",
       "rfq_roundtrip.py", args=("--no-wait", "--gateway", "python", "--only", "pingpong,closed,paced,throughput"),
       bench="rfq_roundtrip"),
    py("client_codec", "RFQ client's Python cost per RFQ: compiled wire codec vs the struct path, one run",
       "client_codec.py"),
    py("fix_roundtrip", "FIX QuoteRequest -> Quote over TCP loopback: raw and QuickFIX clients, TCP echo floor",
       "fix_roundtrip.py", args=("--no-wait",)),
    py("hooks", "a slow strategy hook does not delay quoting", "hooks_bench.py"),
    py("hedge", "client fill -> hedge order at the gateway / on the wire at a simulated venue", "hedge_bench.py"),
    rust("journal_rust", "journal append throughput and commit latency per durability, replay speed",
         "rfq-journal", "journal_bench", "rfq_journal", result="lines"),
    py("engine_ab", "engine_bench and rfq_bench at the pre-restructure baseline vs HEAD, interleaved",
       "engine_ab.py", needs_data=True),
    py("engine_ab_split", "engine_bench and rfq_bench before the domain-crate split (2ca1c76) vs HEAD, interleaved",
       "engine_ab.py", args=("--before", "2ca1c76"), needs_data=True),
    # every book with book_window = 2^16 ticks, as a desk running 100 books configures it (btc3_w16
    # of engine_rust: no slower than the default 2^17 on the real BTC books)
    rust("scale_rust", "20 instruments x 5 venues live: RSS and where it goes, per-message core time; books alone per window",
         "rfq-engine", "scale_bench", "rfq_scale", args=("--window", "65536"), needs_data=True),
    rust("snapshot_rust", "snapshot size, encode/write/restore, recovery vs full replay", "rfq-engine",
         "snapshot_bench", "", quick=("--quotes", "1000", "--clients", "100"), needs_data=True, result="snapshot"),
    py("crash", "SIGKILL a journaled engine many times under load, recover, compare", "crash_bench.py",
       quick=("--rfqs", "200", "--lives", "3")),
    rust("match_rust", "matching core on the exchange-core mix: throughput, latency at fixed rates", "rfq-match",
         "match_bench", "rfq_match"),
    py("match_py", "MatchingBook.process batched from Python; NautilusTrader on the same requests",
       "match_py.py"),
    py("settlement", "settlement writer: offer latency with the store up and down, drain throughput",
       "settlement_bench.py"),
    rust("cluster_rust", "replicated journal blocks on loopback (issue 16): records/s, propose -> committed 3 nodes vs 1 "
         "per Raft log policy, failover", "rfq-cluster", "cluster_bench", "rfq_cluster", needs_data=True, result="lines"),
    py("cluster_e2e", "replicated desk end to end (issue 16): accept -> execution report on 3 serve --cluster nodes vs "
       "1 journaled node, failover time, committed records/s", "cluster_e2e.py", args=("--no-wait",), needs_data=True),
)

BY_NAME = {s.name: s for s in STEPS}


def commands(step: Step, quick: bool) -> tuple[tuple[str, ...], ...]:
    return step.quick if quick else step.runs
