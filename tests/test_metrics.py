"""``/metrics`` and ``/healthz`` of a real desk (docs/web.md), scraped over HTTP and parsed with
Prometheus's own text parser while RFQs are quoted, filled and refused through the Aeron client."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from rfqcore.client import AcceptRejected, LogonRejected, RfqClient, RfqRejected
from rfqcore.journal import JournalSettings
from rfqcore.records import Kind
from rfqcore.web.metrics import LATENCY_BUCKETS_NS, histogram_buckets
from rfqcore.web.server import parse_address

from desk_market import feed_market, free_port

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


# ---- helpers --------------------------------------------------------------------------------------


def _get(url: str) -> tuple[int, str, str]:
    """(status, content type, body) of a GET with the stdlib HTTP client."""
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.headers.get("Content-Type", ""), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type", ""), e.read().decode()


def scrape(base: str) -> tuple[Samples, dict[str, str]]:
    """Every sample of ``base/metrics`` parsed by prometheus_client's parser, and each family's type."""
    status, ctype, body = _get(base + "/metrics")
    assert status == 200 and ctype.startswith("text/plain"), (status, ctype)
    samples: Samples = {}
    types: dict[str, str] = {}
    for fam in text_string_to_metric_families(body):
        types[fam.name] = fam.type
        for s in fam.samples:
            samples[(s.name, frozenset(s.labels.items()))] = s.value
    return samples, types


def val(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def wait_scrape(base: str, ok: Callable[[Samples], bool], timeout: float = 15.0) -> Samples:
    """Scrape until ``ok(samples)`` (the endpoint rereads the desk at most once a second)."""
    deadline = time.monotonic() + timeout
    while True:
        samples, _ = scrape(base)
        if ok(samples) or time.monotonic() > deadline:
            return samples
        time.sleep(0.2)


def assert_consistent(before: Samples, after: Samples, types: dict[str, str]) -> None:
    """Counters and histograms never go back; a histogram's buckets are cumulative and its
    +Inf bucket is its count."""
    cumulative = {n for n, t in types.items() if t in ("counter", "histogram")}
    for (name, labels), v in before.items():
        family = name.removesuffix("_total").removesuffix("_bucket").removesuffix("_count").removesuffix("_sum")
        if family in cumulative:
            assert (name, labels) in after, f"{name}{dict(labels)} disappeared"
            assert after[(name, labels)] >= v, f"{name}{dict(labels)} went back: {v} -> {after[(name, labels)]}"
    for fam in (n for n, t in types.items() if t == "histogram"):
        stages = {dict(lbl)["stage"] for (n, lbl) in after if n == fam + "_count"}
        for stage in stages:
            les = [float("inf") if b == "+Inf" else float(b) for b in
                   sorted({dict(lbl)["le"] for (n, lbl) in after if n == fam + "_bucket"},
                          key=lambda x: float("inf") if x == "+Inf" else float(x))]
            counts = [val(after, fam + "_bucket", le="+Inf" if le == float("inf") else repr(le), stage=stage)
                      for le in les]
            assert counts == sorted(counts), (fam, stage, counts)
            assert counts[-1] == val(after, fam + "_count", stage=stage), (fam, stage)








# ---- a desk in this process (rfqcore.serve.Server, what `rfqcore serve` runs) ---------------------


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from rfqcore.serve import Server

    tmp = tmp_path_factory.mktemp("metrics-desk")
    srv = Server(market_files=[], http="127.0.0.1:0", journal=JournalSettings(str(tmp / "journal")),
                 settlement_store=f"sqlite:///{tmp / 'settlement.db'}")
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


def test_counters_move_as_rfqs_are_quoted_filled_and_refused(desk: Any) -> None:
    eng, base = desk.engine, desk.web.url
    assert base.startswith("http://127.0.0.1:") and not base.endswith(":0")
    before, types = scrape(base)
    assert types["rfqcore_rfqs"] == "counter" and types["rfqcore_stage_latency_seconds"] == "histogram"
    assert types["rfqcore_ring_fill_records"] == "gauge"
    for part in ("core", "rings", "journal", "gateway", "settlement"):
        assert val(before, "rfqcore_scrape_part_ok", part=part) == 1, part

    intruder = RfqClient("acme-capital", secret="00" * 16, aeron_dir=desk.aeron_dir)
    try:
        with pytest.raises(LogonRejected) as bad:  # refused by the gateway itself
            intruder.connect()
            intruder.logon()
    finally:
        intruder.close()
    assert bad.value.reason_name == "BAD_CREDENTIALS"

    with RfqClient("acme-capital", aeron_dir=desk.aeron_dir) as c:
        feed_market(eng)
        q = c.request_quote("BTC", "two-way", "1", timeout=5.0)
        fill = c.accept(q, "buy", timeout=5.0)
        assert fill.qty_raw > 0
        with pytest.raises(AcceptRejected) as again:
            c.accept(q, "buy", timeout=5.0)
        with pytest.raises(RfqRejected) as big:
            c.request_quote("BTC", "buy", "100000", timeout=5.0)
        reasons = {again.value.reason_name, big.value.reason_name}
        assert len(reasons) == 2, reasons

        def moved(s: Samples) -> bool:
            return (val(s, "rfqcore_rfqs_total") - val(before, "rfqcore_rfqs_total") >= 2
                    and val(s, "rfqcore_settlement_trades_total") > val(before, "rfqcore_settlement_trades_total")
                    and val(s, "rfqcore_gateway_sessions", gateway="aeron", role="client") == 1)

        after = wait_scrape(base, moved)

    def delta(name: str, **labels: str) -> float:
        return val(after, name, **labels) - val(before, name, **labels)

    assert delta("rfqcore_rfqs_total") == 2
    assert delta("rfqcore_rfq_quotes_total") == 1
    assert delta("rfqcore_fills_total") == 1
    for reason in reasons:  # the label is the reject code's name, as the client was told
        assert delta("rfqcore_rejects_total", reason=reason) == 1, (reason, after)
    assert sum(v for (n, _), v in after.items() if n == "rfqcore_rejects_total") \
        - sum(v for (n, _), v in before.items() if n == "rfqcore_rejects_total") == 2
    assert delta("rfqcore_gateway_rejects_total", gateway="aeron", reason="BAD_CREDENTIALS") == 1
    assert delta("rfqcore_gateway_messages_total", gateway="aeron", direction="in") >= 4
    assert delta("rfqcore_gateway_logons_total", gateway="aeron") == 1
    # every RFQ's answer went through the core's RFQ-to-answer histogram
    assert delta("rfqcore_stage_latency_seconds_count", stage="rfq_to_answer") == 2
    # both came through the Aeron gateway, stamped with their client's send time
    assert delta("rfqcore_stage_latency_seconds_count", stage="gateway_in") == 2
    assert val(after, "rfqcore_stage_latency_seconds_sum", stage="gateway_in") > 0
    # the one quote went out through the Rust gateway's out stage (tap read -> offered)
    assert delta("rfqcore_stage_latency_seconds_count", stage="gateway_out") == 1
    assert delta("rfqcore_stage_latency_seconds_count", stage="tick_to_quote") >= 1
    assert val(after, "rfqcore_stage_latency_seconds_sum", stage="rfq_to_answer") > 0
    assert delta("rfqcore_settlement_trades_total") == 1
    assert val(after, "rfqcore_settlement_store_up") == 1
    assert delta("rfqcore_journal_committed_seq") >= 4  # market data, RFQs, accepts
    assert 0 <= val(after, "rfqcore_journal_commit_lag_records") <= val(after, "rfqcore_journal_committed_seq")
    assert val(after, "rfqcore_book_levels", instrument="binance-spot:BTCUSDT") == 4
    rings = {dict(lbl)["ring"] for (n, lbl) in after if n == "rfqcore_ring_capacity_records"}
    assert {"out", "in-gateway", "in-market", "tap-gateway"} <= rings, rings
    assert val(after, "rfqcore_ring_capacity_records", ring="in-gateway") == eng.ring_capacity
    assert val(after, "rfqcore_ring_fill_records", ring="out") <= val(after, "rfqcore_ring_capacity_records", ring="out")
    assert_consistent(before, after, types)

    time.sleep(1.1)  # past the endpoint's once-a-second reading
    later, _ = scrape(base)
    assert_consistent(after, later, types)
    assert val(later, "rfqcore_fills_total") == val(after, "rfqcore_fills_total")


def test_scrapes_within_a_second_reuse_one_reading(desk: Any) -> None:
    feed_market(desk.engine)
    time.sleep(1.1)
    first = _get(desk.web.url + "/metrics")[2]
    second = _get(desk.web.url + "/metrics")[2]  # heartbeats moved the core's counters meanwhile
    assert first == second
    time.sleep(1.1)
    assert _get(desk.web.url + "/metrics")[2] != first


def test_health_and_unknown_paths(desk: Any) -> None:
    status, ctype, body = _get(desk.web.url + "/healthz")
    assert status == 200 and ctype.startswith("application/json")
    assert json.loads(body) == {"status": "ok", "core": True, "gateway": True}
    assert _get(desk.web.url + "/nope")[0] == 404
    assert _get(desk.web.url + "/metrics/x")[0] == 404
    req = urllib.request.Request(desk.web.url + "/metrics", method="POST", data=b"")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=10)
    assert e.value.code == 405


def test_openmetrics_when_asked(desk: Any) -> None:
    req = urllib.request.Request(desk.web.url + "/metrics",
                                 headers={"Accept": "application/openmetrics-text; version=1.0.0"})
    with urllib.request.urlopen(req, timeout=10) as r:
        assert r.headers["Content-Type"].startswith("application/openmetrics-text")
        assert r.read().decode().rstrip().endswith("# EOF")


# ---- `rfqcore serve --http` as a user runs it -------------------------------------------------------


def test_serve_command_serves_metrics_and_refuses_a_busy_port(tmp_path: Path) -> None:
    port = free_port()
    aeron = f"/dev/shm/rfqcore-test-metrics-{os.getpid()}"
    cmd = [sys.executable, "-m", "rfqcore.cli", "serve", "--no-market-data", "--duration", "60"]
    serve = subprocess.Popen([*cmd, "--aeron-dir", aeron, "--http", f"127.0.0.1:{port}"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        line = ""
        while time.monotonic() < deadline and "metrics:" not in line and serve.poll() is None:
            line = serve.stdout.readline()  # type: ignore[union-attr]
        base = f"http://127.0.0.1:{port}"
        assert f"metrics: {base}/metrics" in line, serve.stderr.read() if serve.poll() is not None else line
        before, _ = scrape(base)
        assert val(before, "rfqcore_rfqs_total") == 0
        q = subprocess.run([sys.executable, "-m", "rfqcore.cli", "quote", "--aeron-dir", aeron, "BTC", "buy", "1"],
                           capture_output=True, text=True, timeout=60)
        assert q.returncode == 1 and "rejected: NO_MARKET" in q.stderr, (q.stdout, q.stderr)
        after = wait_scrape(base, lambda s: val(s, "rfqcore_rfqs_total") == 1)
        assert val(after, "rfqcore_rfqs_total") == 1
        assert val(after, "rfqcore_rejects_total", reason="NO_MARKET") == 1
        assert val(after, "rfqcore_rfq_quotes_total") == 0

        busy = subprocess.run([*cmd, "--aeron-dir", aeron + "-b", "--http", f"127.0.0.1:{port}"],
                              capture_output=True, text=True, timeout=60)
        assert busy.returncode == 1, (busy.stdout, busy.stderr)
        err = busy.stderr.strip()
        assert "Traceback" not in err and len(err.splitlines()) == 1, err
        assert f"127.0.0.1:{port}" in err and "in use" in err and "another port" in err, err
        assert _get(base + "/healthz")[0] == 200  # the first desk still serves
    finally:
        serve.terminate()
        serve.communicate(timeout=30)


# ---- pieces ---------------------------------------------------------------------------------------


def test_hdr_buckets_become_cumulative_prometheus_buckets() -> None:
    buckets, total = histogram_buckets([(999, 1), (1_000, 2), (1_001, 3), (7_000_000_000, 1)])
    by_le = dict(buckets)
    assert len(buckets) == len(LATENCY_BUCKETS_NS) + 1 and buckets[-1] == ("+Inf", 7.0)
    assert by_le["1e-06"] == 3 and by_le["2e-06"] == 6 and by_le["5.0"] == 6
    assert total == pytest.approx((999 + 2_000 + 3_003 + 7_000_000_000) / 1e9)
    assert histogram_buckets([]) == ([(le, 0.0) for le, _ in buckets], 0.0)


@pytest.mark.parametrize(("text", "want"), [("127.0.0.1:8080", ("127.0.0.1", 8080)), ("localhost:0", ("localhost", 0)),
                                            ("[::1]:9100", ("::1", 9100))])
def test_http_address(text: str, want: tuple[str, int]) -> None:
    assert parse_address(text) == want


@pytest.mark.parametrize("text", ["8080", ":8080", "127.0.0.1:", "127.0.0.1:http", "127.0.0.1:70000"])
def test_bad_http_address_says_what_to_give(text: str) -> None:
    with pytest.raises(ValueError, match="give HOST:PORT"):
        parse_address(text)


def test_ring_fill_reads_the_header_of_a_ring_in_use(tmp_path: Path) -> None:
    from rfqcore._ring import RingConsumer, RingProducer, ring_create
    from rfqcore.web.metrics import ring_fill

    path = str(tmp_path / "r.ring")
    ring_create(path, 8)
    with RingProducer(path) as p, RingConsumer(path) as c:
        assert ring_fill(path) == (0, 8)
        for i in range(3):
            assert p.try_push(Kind.BOOK_LEVEL, 1, 0, 0, 0, i, 0, 0, 1, 1, 0)
        assert ring_fill(path) == (3, 8)
        assert len(c.poll(2)) == 2
        assert ring_fill(path) == (1, 8)


def test_venue_links_and_a_part_that_does_not_answer() -> None:
    """The venue link's counters by venue (a stand-in hedger: the live one needs the simulated
    venues, tests/test_serve_venues.py), and a gateway that does not answer: its metrics are left
    out, the part is marked 0, the rest is served."""
    from types import SimpleNamespace

    from prometheus_client import generate_latest

    from rfqcore.hedger import VenueLink
    from rfqcore.web.metrics import desk_registry

    class Hedger:
        def stats(self) -> dict[int, dict[str, int]]:
            return {2: {"orders": 3, "reports": 5, "report_errors": 0, "md_messages": 70, "md_errors": 1,
                        "snapshots": 1, "foreign_reports": 0, "up": 0},
                    1: {"orders": 4, "reports": 8, "report_errors": 1, "md_messages": 90, "md_errors": 0,
                        "snapshots": 1, "foreign_reports": 0, "up": 1}}

    class DeadGateway:
        def stats(self, timeout: float = 5.0) -> dict[str, Any]:
            raise TimeoutError("gateway process did not answer a stats request")

    links = [VenueLink(1, "binance-spot:BTCUSDT", adapter=lambda **kw: None),
             VenueLink(2, "okx:BTC-USDT", adapter=lambda **kw: None)]
    srv = SimpleNamespace(engine=None, gateway=DeadGateway(), settlement=None, hedger=Hedger(), venues=links)
    samples: Samples = {}
    for fam in text_string_to_metric_families(generate_latest(desk_registry(srv)).decode()):
        for s in fam.samples:
            samples[(s.name, frozenset(s.labels.items()))] = s.value
    one, two = {"venue": "1", "instrument": "binance-spot:BTCUSDT"}, {"venue": "2", "instrument": "okx:BTC-USDT"}
    assert val(samples, "rfqcore_venue_link_up", **one) == 1 and val(samples, "rfqcore_venue_link_up", **two) == 0
    assert val(samples, "rfqcore_venue_orders_total", **one) == 4 and val(samples, "rfqcore_venue_orders_total", **two) == 3
    assert val(samples, "rfqcore_venue_reports_total", **two) == 5
    assert val(samples, "rfqcore_venue_market_data_messages_total", **one) == 90
    assert val(samples, "rfqcore_venue_errors_total", **one, kind="report") == 1
    assert val(samples, "rfqcore_venue_errors_total", **two, kind="market_data") == 1
    assert val(samples, "rfqcore_scrape_part_ok", part="venues") == 1
    assert val(samples, "rfqcore_scrape_part_ok", part="gateway") == 0
    assert not any(n.startswith("rfqcore_gateway_") for n, _ in samples)
