"""Fixtures shared by several test modules, and the strict-outcome hooks (see strict_outcomes.py)."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from decimal import Decimal as D
from pathlib import Path

import pytest
import strict_outcomes

from rfqcore.settlement.pgtest import TempPostgres, TempPostgresUnavailable
from rfqcore.venuesim.seed import SeedDataMissing, resolve_data_dir

Book = tuple[dict[D, D], dict[D, D], int]


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The recorded venue data (``$RFQCORE_DATA`` or ``../shared/data``); skips when absent."""
    try:
        return resolve_data_dir()
    except SeedDataMissing as e:
        pytest.skip(f"recorded data absent: {e}")


def _reference_books(path: Path, points: list[int]) -> dict[int, Book]:
    """The recorded Binance book after the REST snapshot and ``n`` depth diffs, for each ``n`` in
    ``points``: an independent reference applied the plain way (stdlib json, dicts of Decimals),
    returning ``{n: (bids, asks, last update id)}``."""
    with gzip.open(path, "rt") as fh:
        lines = [json.loads(line.split(" ", 1)[1]) for line in fh]
    snap_at = next(i for i, m in enumerate(lines) if "stream" not in m)
    snap = lines[snap_at]
    bids = {D(p): D(q) for p, q in snap["bids"]}
    asks = {D(p): D(q) for p, q in snap["asks"]}
    sid = last = snap["lastUpdateId"]
    applied = 0
    out: dict[int, Book] = {}
    want = sorted(points)
    if want and want[0] == 0:
        out[0] = (dict(bids), dict(asks), last)
    for m in lines[:snap_at] + lines[snap_at + 1:]:
        if len(out) == len(want):
            break
        if not m["stream"].endswith("@depth@100ms"):
            continue
        d = m["data"]
        if d["u"] <= sid:
            continue
        assert (d["U"] <= sid + 1 <= d["u"]) if applied == 0 else d["U"] == last + 1
        for side, levels in ((bids, d["b"]), (asks, d["a"])):
            for p, q in levels:
                if D(q) == 0:
                    side.pop(D(p), None)
                else:
                    side[D(p)] = D(q)
        last, applied = d["u"], applied + 1
        if applied in want:
            out[applied] = (dict(bids), dict(asks), last)
    assert len(out) == len(set(want))
    return out


@pytest.fixture(scope="session")
def reference_books() -> Callable[[Path, list[int]], dict[int, Book]]:
    return _reference_books


@pytest.fixture(scope="module")
def pg_server():
    pytest.importorskip("psycopg", reason="psycopg 3 is not installed (pip install 'rfqcore[postgres]')")
    pg = TempPostgres()
    try:
        pg.start()
    except TempPostgresUnavailable as e:
        pytest.skip(f"PostgreSQL server unavailable: {e}")
    yield pg
    pg.cleanup()


# -- strict outcomes (RFQCORE_STRICT_SKIPS=1, set by `make test`) -------------------------------


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # noqa: ARG001
    outcome = yield
    if strict_outcomes.enabled():
        strict_outcomes.strict_report(outcome.get_result())
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)  # a fixture's teardown can see how its test went (test_browser)


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector):  # noqa: ARG001
    outcome = yield
    if strict_outcomes.enabled():
        strict_outcomes.strict_report(outcome.get_result())
