"""pytest-benchmark setup for ``bench/`` (never collected by ``pytest tests``).

    .venv/bin/python -m pytest bench/ --benchmark-enable [--bench-summary out.json]

Each benchmark test reports its per-operation time through the ``per_op`` fixture; at the end
of the session a table of ns/op (median and best round) with rfqcore-vs-NautilusTrader ratios
is printed, and written as JSON to ``--bench-summary`` if given (``bench/run_all.py`` uses it).
Every side-by-side pair runs in the same pytest session on the same delta sequence.
"""

from __future__ import annotations

import json
from collections import defaultdict

import pytest

import bench_common as bc  # noqa: F401  (puts src/ and bench/ on sys.path)

_RESULTS: dict[str, dict[str, dict]] = defaultdict(dict)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--bench-summary", default=None, help="write the ns/op summary as JSON here")


@pytest.fixture
def per_op(benchmark):
    """``per_op(group, impl, ops)``: call after ``benchmark(...)`` to record ns per operation."""

    def record(group: str, impl: str, ops: int, **extra) -> None:
        if benchmark.stats is None:  # --benchmark-disable: the code ran once, nothing measured
            return
        st = benchmark.stats.stats
        _RESULTS[group][impl] = {
            "ops_per_round": ops,
            "rounds": st.rounds,
            "ns_per_op_median": st.median / ops * 1e9,
            "ns_per_op_min": st.min / ops * 1e9,
            "ns_per_op_mean": st.mean / ops * 1e9,
            **extra,
        }
        benchmark.extra_info.update({"ops_per_round": ops, "ns_per_op_median": st.median / ops * 1e9, **extra})

    return record


def _ratios() -> dict:
    out = {}
    for group, impls in _RESULTS.items():
        nt = impls.get("nautilus")
        for impl, r in impls.items():
            if impl != "nautilus" and nt:
                r["nautilus_over_rfqcore_median"] = nt["ns_per_op_median"] / r["ns_per_op_median"]
        out[group] = impls
    return out


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    if not _RESULTS:
        return
    res = _ratios()
    tr = terminalreporter
    tr.section("rfqcore bench summary (ns per operation; ratio = NautilusTrader / rfqcore, same run)")
    for group in sorted(res):
        for impl, r in sorted(res[group].items()):
            ratio = r.get("nautilus_over_rfqcore_median")
            extra = f"  x{ratio:.2f} vs nautilus" if ratio else ""
            tr.write_line(f"{group:<34} {impl:<22} median {r['ns_per_op_median']:9.1f} ns  "
                          f"best {r['ns_per_op_min']:9.1f} ns  ({r['ops_per_round']} ops/round, "
                          f"{r['rounds']} rounds){extra}")
    path = config.getoption("--bench-summary")
    if path:
        with open(path, "w") as f:
            json.dump({"machine": bc.machine(), "groups": res}, f, indent=1)
