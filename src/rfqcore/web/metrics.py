"""The desk's Prometheus metrics, read when scraped (``GET /metrics``; the list: docs/web.md).

:class:`DeskCollector` is a ``prometheus_client`` custom collector over a running
:class:`~rfqcore.serve.Server`. It keeps nothing between scrapes and adds nothing to any
message path: every value is a counter or histogram the desk's parts already keep, read when
Prometheus asks —

* the core's counters, HdrHistograms and journal state through the engine's queries, which the
  core thread answers between two batches of input (never inside one), as it answers
  ``rfqcore serve``'s status line; :class:`~rfqcore.web.server.HttpServer` reads them at most
  once per ``min_interval_s`` however often it is scraped;
* ring fill levels from the ring files' headers (read-only mappings; neither ring side is involved);
* the gateway's counters from its thread (or, with ``--python-gateway``, its process): the request
  is answered between two duty cycles;
* the settlement writer's, the venue link's and the output pump's counters from their Python objects.

A part that cannot answer (the gateway gone, say) leaves its metrics out of that
scrape and sets ``rfqcore_scrape_part_ok{part=...}`` to 0; the others are still served.
"""

from __future__ import annotations

import logging
import mmap
import struct
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from rfqcore._ring import ring_header_layout
from rfqcore._wire_codes import RejectReason
from rfqcore.latency import LatencyRecorder
from rfqcore.rfq import reason_name

if TYPE_CHECKING:
    from rfqcore.engine import Engine
    from rfqcore.serve import Server

__all__ = ["DeskCollector", "cluster_health", "desk_registry", "desk_health", "LATENCY_BUCKETS_NS", "histogram_buckets", "ring_fill",
           "stage_counts"]

log = logging.getLogger("rfqcore.web")

#: Upper bounds (ns) of the latency histograms' buckets (``le`` in seconds); +Inf follows.
LATENCY_BUCKETS_NS: Final = (1_000, 2_000, 5_000, 10_000, 20_000, 50_000, 100_000, 200_000, 500_000,
                             1_000_000, 2_000_000, 5_000_000, 10_000_000, 20_000_000, 50_000_000,
                             100_000_000, 200_000_000, 500_000_000, 1_000_000_000, 2_000_000_000,
                             5_000_000_000)

#: Offsets of the ring file header's capacity, write and read positions (u64 each; docs/ring-layout.md).
_HEADER = ring_header_layout()
_OFF_CAPACITY, _OFF_WRITE_POS, _OFF_READ_POS = (_HEADER[f][0] for f in ("capacity", "write_pos", "read_pos"))
_HEADER_BYTES: Final = _HEADER["records"][0]
_U64 = struct.Struct("<Q")


def histogram_buckets(counts: Iterable[tuple[int, int]]) -> tuple[list[tuple[str, float]], float]:
    """HdrHistogram buckets ``(highest equivalent value ns, count)`` as Prometheus buckets:
    cumulative ``(le seconds, count)`` over :data:`LATENCY_BUCKETS_NS` then ``+Inf``, and the sum
    in seconds. Exact to the HdrHistogram's 3 significant digits: a bucket counts under the
    first bound at or above its highest equivalent value."""
    per = [0] * (len(LATENCY_BUCKETS_NS) + 1)
    total_ns = 0
    bounds = np.asarray(LATENCY_BUCKETS_NS, dtype=np.int64)
    for value, count in counts:
        if count <= 0:
            continue
        per[int(np.searchsorted(bounds, value, side="left"))] += count
        total_ns += value * count
    out: list[tuple[str, float]] = []
    running = 0
    for i, n in enumerate(per):
        running += n
        le = "+Inf" if i == len(LATENCY_BUCKETS_NS) else repr(LATENCY_BUCKETS_NS[i] / 1e9)
        out.append((le, float(running)))
    return out, total_ns / 1e9


def _recorder_counts(rec: LatencyRecorder) -> list[tuple[int, int]]:
    """A Python :class:`LatencyRecorder`'s non-empty buckets, from one copy of its counts array
    (one C-level copy under the GIL: a consistent snapshot while another thread records)."""
    h = rec.hist
    arr = np.frombuffer(h.counts, dtype=np.uint64, count=h.counts_len).copy()
    return [(int(h.get_highest_equivalent_value(h.get_value_from_index(i))), int(arr[i]))
            for i in np.flatnonzero(arr).tolist()]


def stage_counts(eng: Engine, gateway: Any = None) -> list[tuple[str, list[tuple[int, int]]]]:
    """The desk's stage latency histograms as ``(stage, [(value_ns, count), ...])``, in the
    order an RFQ meets them: ``gateway_in`` (a client's send to the gateway handing the RFQ on,
    read by the core thread off the records), the core's ``tick_to_quote`` and ``rfq_to_answer``,
    with the Rust ``gateway``: ``gateway_out`` (a quote read off the core's tap until offered on
    the client's stream), and the output pump's ``quote_to_subscriber`` (what
    ``rfqcore_stage_latency_seconds`` and the console's latency plots show)."""
    core = eng.core
    stages = [("gateway_in", core.gateway_in(False)["counts"]),
              ("tick_to_quote", core.tick_to_quote(False)["counts"]),
              ("rfq_to_answer", core.rfq_to_quote(False)["counts"])]
    if gateway is not None:
        try:
            out = gateway.stats(timeout=2.0).get("gateway_out_counts")
        except (TimeoutError, RuntimeError) as e:  # the gateway is gone: its stage is left out
            log.warning("metrics: the gateway's out stage is missing: %s", e)
            out = None
        if out is not None:
            stages.append(("gateway_out", [(int(v), int(n)) for v, n in out]))
    stages.append(("quote_to_subscriber", _recorder_counts(eng.subscriber_latency)))
    return stages


def ring_fill(path: str | Path) -> tuple[int, int]:
    """``(records waiting, capacity)`` of a ring file, read from its header through a read-only
    mapping (neither the producer nor the consumer is involved)."""
    with open(path, "rb") as f, mmap.mmap(f.fileno(), _HEADER_BYTES, access=mmap.ACCESS_READ) as m:
        cap = _U64.unpack_from(m, _OFF_CAPACITY)[0]
        read = _U64.unpack_from(m, _OFF_READ_POS)[0]   # the consumer's first: the fill never goes negative
        write = _U64.unpack_from(m, _OFF_WRITE_POS)[0]
    return min(max(write - read, 0), cap), cap


def _counter(name: str, doc: str, value: float, labels: dict[str, str] | None = None) -> CounterMetricFamily:
    if labels is None:
        return CounterMetricFamily(name, doc, value=value)
    c = CounterMetricFamily(name, doc, labels=list(labels))
    c.add_metric(list(labels.values()), value)
    return c


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, value=value)


def _labelled(cls: Callable[..., Any], name: str, doc: str, labels: list[str],
              rows: Iterable[tuple[list[str], float]]) -> Any:
    fam = cls(name, doc, labels=labels)
    for values, v in rows:
        fam.add_metric(values, v)
    return fam


class DeskCollector(Collector):
    """Every metric of a :class:`~rfqcore.serve.Server`'s parts that are running when scraped."""

    def __init__(self, server: Server) -> None:
        self.server = server

    def describe(self) -> list[Metric]:
        return []  # the families depend on which parts run: nothing to check at registration

    def collect(self) -> Iterator[Metric]:
        srv = self.server
        eng = srv.engine
        parts: list[tuple[str, Callable[[], list[Metric]]]] = []
        if getattr(srv, "node", None) is not None:  # a cluster node (rfqcore.cluster_serve.ClusterServer)
            parts.append(("cluster", self._cluster))
        if eng is not None:
            parts += [("core", lambda: self._core(eng)), ("rings", lambda: self._rings(eng))]
            if eng.journal is not None:
                parts.append(("journal", lambda: self._journal(eng)))
        if srv.gateway is not None:
            parts.append(("gateway", self._gateway))
        if getattr(srv, "fix", None) is not None:
            parts.append(("fix", self._fix))
        if srv.settlement is not None:
            parts.append(("settlement", self._settlement))
        if srv.hedger is not None:
            parts.append(("venues", self._venues))
        if getattr(srv, "portal", None) is not None:
            parts.append(("portal", self._portal))
        if getattr(srv, "console", None) is not None:
            parts.append(("console", self._console))
        ok = GaugeMetricFamily("rfqcore_scrape_part_ok", "1 when the part answered this scrape, 0 when its "
                               "metrics are missing from it (the error is logged)", labels=["part"])
        for part, read in parts:
            try:
                families = read()
            except Exception as e:  # noqa: BLE001 - one part down must not hide the others
                log.warning("metrics: reading %s failed: %s: %s", part, type(e).__name__, e)
                ok.add_metric([part], 0)
                continue
            ok.add_metric([part], 1)
            yield from families
        yield ok

    # -- a cluster node (docs/cluster.md) ---------------------------------------------------

    def _cluster(self) -> list[Metric]:
        st = self.server.status()  # type: ignore[attr-defined]  # a ClusterServer
        roles = ("leader", "follower", "candidate", "learner", "shutdown")
        return [
            _labelled(GaugeMetricFamily, "rfqcore_cluster_role", "1 for this node's Raft role", ["role"],
                      [([r], float(st["role"] == r)) for r in roles]),
            _gauge("rfqcore_cluster_term", "current Raft term", st["term"]),
            _gauge("rfqcore_cluster_leader", "id of the leader this node knows of (0: none)", st["leader"] or 0),
            _gauge("rfqcore_cluster_last_log_index", "index of the last entry of the Raft log",
                   st["last_log_index"] or 0),
            _gauge("rfqcore_cluster_applied_index", "index of the last entry the state machine applied",
                   st["applied_index"] or 0),
            _gauge("rfqcore_cluster_journal_seq", "journal seq of the last committed record applied (commit gate)",
                   st["journal_seq"]),
            _gauge("rfqcore_cluster_desk_serving", "1 while this node's desk (core, gateway) serves: it leads",
                   float(self.server.leading is not None)),  # type: ignore[attr-defined]
        ]

    # -- the core (queries answered by the core thread between batches) -------------------

    def _core(self, eng: Engine) -> list[Metric]:
        core, reg = eng.core, eng.registry
        rs = eng.rfq_stats()
        st = core.stats()
        out: list[Metric] = [
            _counter("rfqcore_rfqs_total", "RFQ records received by the core", rs["rfqs"]),
            _counter("rfqcore_rfq_quotes_total", "firm quotes made (one per quote id, whatever its sides)", rs["quotes"]),
            _counter("rfqcore_fills_total", "fills (executions) of firm quotes", rs["fills"]),
            _labelled(CounterMetricFamily, "rfqcore_quote_ends_total",
                      "firm quotes ended other than by a fill, by how", ["end"],
                      [(["expired"], rs["expiries"]), (["cancelled"], rs["cancels"]),
                       (["hit_rejected"], rs["hit_rejects"])]),
            _counter("rfqcore_approval_requests_total", "RFQs sent to manual approval", rs["approvals"]),
            _labelled(CounterMetricFamily, "rfqcore_approvals_total", "approval requests answered, by result",
                      ["result"], [(["approved"], rs["approved"]), (["declined"], rs["declined"]),
                                   (["timed_out"], rs["timeouts"])]),
            _counter("rfqcore_controls_total", "CONTROL records (operator commands) received", rs["controls"]),
            _counter("rfqcore_risk_events_total", "RISK_EVENT records published", rs["risk_events"]),
            _labelled(CounterMetricFamily, "rfqcore_rejects_total",
                      "refusals published by the core (RFQ, accept, cancel, control), by RfqReject reason name",
                      ["reason"], sorted(([reason_name(int(k))], v) for k, v in rs["rejects"].items())),
            _counter("rfqcore_input_records_total", "input records consumed by the core (accepted or refused)",
                     st["records"]),
            _counter("rfqcore_input_messages_total", "input records carrying the END flag (whole messages)",
                     st["messages"]),
            _labelled(CounterMetricFamily, "rfqcore_input_rejects_total",
                      "market-data input records refused (nothing applied), by RejectReason name", ["reason"],
                      sorted(([_reject_name(int(k))], v) for k, v in st["rejects_by_reason"].items())),
            _counter("rfqcore_book_level_updates_total", "venue book level updates applied", st["level_updates"]),
            _counter("rfqcore_ladder_quotes_total", "QUOTE records (quote ladder rungs) published", st["quotes"]),
            _counter("rfqcore_book_status_changes_total", "BOOK_STATUS records published", st["status_changes"]),
            _counter("rfqcore_repricings_total", "composite repricings", st["repricings"]),
            _labelled(GaugeMetricFamily, "rfqcore_book_levels", "price levels held in a venue book",
                      ["instrument"], [([reg.by_id(int(i)).key], n) for i, n in sorted(st["book_levels"].items())]),
            _counter("rfqcore_core_heartbeats_total", "heartbeats the idle core thread injected", core.heartbeats()),
            _counter("rfqcore_core_out_waits_total", "back-pressure: times the core thread found the out ring "
                     "(or the gateway's tap) too full to take input", core.out_waits()),
        ]
        lat = HistogramMetricFamily("rfqcore_stage_latency_seconds", "latency of a stage, from the desk's "
                                    "HdrHistograms (3 significant digits)", labels=["stage"])
        for stage, counts in stage_counts(eng, getattr(self.server, "gateway", None)):
            buckets, total = histogram_buckets(counts)
            lat.add_metric([stage], buckets, total)
        out.append(lat)
        hedging = eng.hedge_status()
        if hedging:
            out.append(_labelled(GaugeMetricFamily, "rfqcore_hedging_available",
                                 "1 while the core can hedge the composite (a venue of it is up)", ["composite"],
                                 [([h.instrument], int(h.available)) for h in hedging]))
        return out

    def _journal(self, eng: Engine) -> list[Metric]:
        stats = eng.journal_stats()
        if stats is None:
            return []
        js: dict[str, Any] = stats
        committed, durable = int(js["committed_seq"]), int(js["durable_seq"])
        return [
            _gauge("rfqcore_journal_committed_seq", "sequence number of the last input record committed "
                   "to the journal", committed),
            _gauge("rfqcore_journal_durable_seq", "sequence number of the last input record known durable "
                   "(fdatasync done)", durable),
            _gauge("rfqcore_journal_commit_lag_records", "input records committed but not yet durable (their "
                   "outputs wait for it)", max(committed - durable, 0)),
            _counter("rfqcore_journal_commits_total", "journal commit blocks written", js["commits"]),
            _counter("rfqcore_journal_syncs_total", "journal fdatasync calls", js["syncs"]),
            _counter("rfqcore_journal_written_bytes_total", "bytes written to the journal", js["bytes"]),
            _gauge("rfqcore_journal_failed", "1 when a journal I/O error stopped the core thread",
                   int(js.get("error") is not None)),
        ]

    # -- off the core thread ------------------------------------------------------------------

    def _rings(self, eng: Engine) -> list[Metric]:
        fill = GaugeMetricFamily("rfqcore_ring_fill_records", "records written to a ring and not yet read "
                                 "(out: the core's output; in-NAME: an input; tap-NAME: the gateway's copy)",
                                 labels=["ring"])
        cap = GaugeMetricFamily("rfqcore_ring_capacity_records", "capacity of a ring", labels=["ring"])
        for path in sorted(Path(eng.ring_dir).glob("*.ring")):
            try:
                n, c = ring_fill(path)
            except (OSError, ValueError):  # removed while stopping
                continue
            fill.add_metric([path.stem], n)
            cap.add_metric([path.stem], c)
        return [fill, cap]

    def _gateway(self) -> list[Metric]:
        gw = self.server.gateway
        if gw is None:
            return []
        gs = gw.stats(timeout=2.0)
        g = ["aeron"]
        by_role = gs.get("sessions_by_role", {})
        return [
            _labelled(GaugeMetricFamily, "rfqcore_gateway_sessions", "logged-on sessions of a gateway, by role",
                      ["gateway", "role"], [([*g, r], n) for r, n in sorted(by_role.items())]),
            _labelled(CounterMetricFamily, "rfqcore_gateway_messages_total", "messages a gateway received (in) "
                      "and sent (out)", ["gateway", "direction"], [([*g, "in"], gs["in"]), ([*g, "out"], gs["out"])]),
            _counter("rfqcore_gateway_logons_total", "logons accepted", gs["logons"], {"gateway": "aeron"}),
            _counter("rfqcore_gateway_logouts_total", "logouts", gs["logouts"], {"gateway": "aeron"}),
            _labelled(CounterMetricFamily, "rfqcore_gateway_rejects_total", "requests the gateway refused "
                      "itself (answered with REJECT), by GatewayReject reason name", ["gateway", "reason"],
                      sorted(([*g, r], n) for r, n in gs["rejects"].items())),
            _labelled(CounterMetricFamily, "rfqcore_gateway_dropped_total", "messages dropped and counted, by why",
                      ["gateway", "why"],
                      [([*g, "unanswerable"], sum(gs["unanswerable"].values())),
                       ([*g, "not_connected"], gs["not_connected_drops"]), ([*g, "no_session"], gs["no_session_drops"]),
                       ([*g, "slow_consumer"], gs["backlog_dropped"])]),
            _labelled(CounterMetricFamily, "rfqcore_gateway_sessions_ended_total", "sessions the gateway ended "
                      "itself, by why: the client's publication went away, or it did not read its stream",
                      ["gateway", "why"],
                      [([*g, "publication_gone"], gs.get("sessions_ended_image_gone", 0)),
                       ([*g, "slow_consumer"], gs["slow_consumer_disconnects"])]),
            _counter("rfqcore_gateway_ring_full_total", "back-pressure: pushes that found the core's input ring "
                     "full (held in the gateway's backlog)", gs["ring_full"], {"gateway": "aeron"}),
            _counter("rfqcore_gateway_offer_backpressure_total", "back-pressure: Aeron offers that found the "
                     "publication full (held in the gateway's backlog)", gs["offer_backlogged"], {"gateway": "aeron"}),
            _labelled(GaugeMetricFamily, "rfqcore_gateway_backlog", "held for later: records for the core's "
                      "input ring (in), messages for Aeron publications (out)", ["gateway", "direction"],
                      [([*g, "in"], gs["ring_backlog"]), ([*g, "out"], gs["out_backlog"])]),
        ]

    def _fix(self) -> list[Metric]:
        fx = self.server.fix
        assert fx is not None  # collect() adds this part only while the acceptor runs
        st = fx.stats()  # per session (client name): the counters of serve's FIX status line
        on = set(fx.logged_on)
        names = sorted(set(st) | on)
        msgs, rejects, events = [], [], []
        for name in names:
            for k, v in sorted(st.get(name, {}).items()):
                if k.startswith(("in:", "out:")):
                    d, t = k.split(":", 1)
                    msgs.append(([name, d, t], v))
                elif k.startswith("reject:"):
                    rejects.append(([name, k[7:]], v))
                else:
                    events.append(([name, k], v))
        return [
            _labelled(GaugeMetricFamily, "rfqcore_fix_session_logged_on", "1 while the FIX session of this client "
                      "is logged on", ["session"], [([n], int(n in on)) for n in names]),
            _labelled(CounterMetricFamily, "rfqcore_fix_messages_total", "FIX application and admin messages of a "
                      "session, by direction and MsgType (35=)", ["session", "direction", "msg_type"], msgs),
            _labelled(CounterMetricFamily, "rfqcore_fix_rejects_total", "requests of a FIX session refused, by "
                      "reason", ["session", "reason"], rejects),
            _labelled(CounterMetricFamily, "rfqcore_fix_session_events_total", "session-level events of a FIX "
                      "session: resend requests and sequence resets each way, refused logons, session-level rejects",
                      ["session", "event"], events),
        ]

    def _portal(self) -> list[Metric]:
        ps = self.server.portal.stats()
        return [
            _gauge("rfqcore_portal_sessions", "live sessions of the RFQ portal", ps["sessions"]),
            _gauge("rfqcore_portal_streams", "open /api/stream readers of the RFQ portal", ps["streams"]),
            _labelled(CounterMetricFamily, "rfqcore_portal_logins_total", "portal logins, by outcome", ["outcome"],
                      [([o], ps["logins_" + o]) for o in ("ok", "wrong", "limited")]),
            _labelled(CounterMetricFamily, "rfqcore_portal_requests_total", "RFQs and accepts the portal sent to "
                      "the engine", ["request"], [(["rfq"], ps["rfqs"]), (["accept"], ps["accepts"])]),
            _counter("rfqcore_portal_bad_requests_total", "portal requests refused as malformed (400)",
                     ps["bad_requests"]),
        ]

    def _console(self) -> list[Metric]:
        cs = self.server.console.stats()
        return [
            _gauge("rfqcore_console_sessions", "live sessions of the operator console", cs["sessions"]),
            _gauge("rfqcore_console_streams", "open /console/api/stream readers", cs["streams"]),
            _labelled(CounterMetricFamily, "rfqcore_console_logins_total", "console logins, by outcome", ["outcome"],
                      [([o], cs["logins_" + o]) for o in ("ok", "wrong", "limited")]),
            _labelled(CounterMetricFamily, "rfqcore_console_actions_total", "operator actions the console sent "
                      "to the core, by the core's answer (timed_out: none within 5 s)", ["result"],
                      [([r], cs[r]) for r in ("applied", "rejected", "timed_out")]),
            _counter("rfqcore_console_bad_requests_total", "console requests refused as malformed (400)",
                     cs["bad_requests"]),
        ]

    def _settlement(self) -> list[Metric]:
        w = self.server.settlement
        if w is None:
            return []
        s = dict(w.stats)
        return [
            _gauge("rfqcore_settlement_backlog_items", "trades and fees offered to the settlement writer, not "
                   "yet committed to the store", w.backlog),
            _counter("rfqcore_settlement_trades_total", "trades committed to the store", s["trades"]),
            _labelled(CounterMetricFamily, "rfqcore_settlement_items_total", "items the store took, by outcome",
                      ["outcome"], [(["inserted"], s["inserted"]), (["duplicate"], s["duplicates"]),
                                    (["rejected"], s["rejected"])]),
            _counter("rfqcore_settlement_failures_total", "store writes that failed (retried)", s["failures"]),
            _counter("rfqcore_settlement_spilled_total", "items spilled to the spill file while the store was "
                     "behind", s["spilled"]),
            _gauge("rfqcore_settlement_store_up", "0 while the store is failing", int(s["store_down_since"] is None)),
        ]

    def _venues(self) -> list[Metric]:
        h = self.server.hedger
        if h is None:
            return []
        names = {v.id: v.instrument for v in self.server.venues}
        stats = sorted(h.stats().items())
        rows: dict[str, list[tuple[list[str], float]]] = {k: [] for k in ("up", "orders", "reports", "md", "err")}
        for vid, s in stats:
            v = [str(vid), names.get(vid, "")]
            rows["up"].append((v, s["up"]))
            rows["orders"].append((v, s["orders"]))
            rows["reports"].append((v, s["reports"]))
            rows["md"].append((v, s["md_messages"]))
            rows["err"] += [([*v, "report"], s["report_errors"]), ([*v, "market_data"], s["md_errors"])]
        lv = ["venue", "instrument"]
        return [
            _labelled(GaugeMetricFamily, "rfqcore_venue_link_up", "1 while the venue connection is up", lv, rows["up"]),
            _labelled(CounterMetricFamily, "rfqcore_venue_orders_total", "hedge orders sent to the venue", lv,
                      rows["orders"]),
            _labelled(CounterMetricFamily, "rfqcore_venue_reports_total", "execution reports from the venue", lv,
                      rows["reports"]),
            _labelled(CounterMetricFamily, "rfqcore_venue_market_data_messages_total", "market-data messages "
                      "from the venue", lv, rows["md"]),
            _labelled(CounterMetricFamily, "rfqcore_venue_errors_total", "venue messages refused, by kind",
                      [*lv, "kind"], rows["err"]),
        ]


def _reject_name(code: int) -> str:
    try:
        return RejectReason(code).name
    except ValueError:
        return f"code {code}"


def desk_registry(server: Server) -> CollectorRegistry:
    """A registry of its own (not the process-wide default) holding one :class:`DeskCollector`."""
    reg = CollectorRegistry(auto_describe=False)
    reg.register(DeskCollector(server))
    return reg


def cluster_health(server: Any) -> dict[str, Any]:
    """``/healthz`` of a cluster node: ``"ok"`` while it follows a known leader, or leads with its
    desk's core thread and gateway running; its role, term and leader."""
    st = server.status()
    leading = server.leading is not None
    desk = desk_health(server) if leading else {"core": False, "gateway": False}
    ok = (st["role"] == "follower" and st["leader"] is not None) or (st["role"] == "leader" and leading
                                                                    and desk["core"] and desk["gateway"])
    return {"status": "ok" if ok else "down", "role": st["role"], "term": st["term"], "leader": st["leader"],
            "journal_seq": st["journal_seq"], "core": desk["core"], "gateway": desk["gateway"]}


def desk_health(server: Server) -> dict[str, Any]:
    """``/healthz``: ``"ok"`` while the core thread and the gateway (thread or process) run."""
    eng, gw = server.engine, server.gateway
    core = eng is not None and eng.running
    gateway = gw is not None and gw.process.is_alive()
    return {"status": "ok" if core and gateway else "down", "core": core, "gateway": gateway}
