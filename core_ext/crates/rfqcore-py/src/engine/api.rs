//! The Python methods of `Engine`. Each one reaches the core through `mod.rs`'s accessors and
//! returns plain values or a `Wrap`ped view (converted in `crate::conversion`).
use super::build::{build_core, durability, not_journaled};
use super::{Engine, State};
use crate::conversion::{to_side, CoreStatsView, JournalStatsView, SnapshotMade, Wrap};
use crate::errors::{config_err, journal_err, ring_err};
use hdrhistogram::Histogram;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use rfq_engine::{
    ClientView, HedgeOrderView, HedgeView, InstrumentView, PendingView, PositionView, QuoteView, RecoveryReport, RfqStats, Runner,
};
use rfq_journal::JournalConfig;
use rfq_model::{DeskSpec, PricingParams, Side, TierSpec};
use rfq_ring::{IdleKind, RingFile};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

#[pymethods]
impl Engine {
    #[new]
    #[pyo3(signature = (instruments, composites, out_ring, idle = "yield", book_capacity = 65536, rfq = None))]
    fn new(
        instruments: &Bound<'_, PyList>,
        composites: &Bound<'_, PyList>,
        out_ring: &str,
        idle: &str,
        book_capacity: usize,
        rfq: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        let idle: IdleKind = idle.parse().map_err(config_err)?;
        let (core, _) = build_core(instruments, composites, book_capacity, rfq)?;
        let out = RingFile::open(out_ring).map_err(ring_err)?.into_producer();
        let need = 2 * core.max_out_per_record();
        if out.capacity() < need {
            return Err(config_err(format!("out ring holds {} records; the core needs at least {need}", out.capacity())));
        }
        let runner = Box::new(Runner::new(core, out));
        Ok(Engine { state: Mutex::new(State::Stopped(runner)), idle, journaled: AtomicBool::new(false) })
    }

    // ---- lifecycle ---------------------------------------------------------------------------

    /// Register an input ring (its consumer side); returns its place in the merge order.
    fn add_input(&self, py: Python<'_>, path: &str) -> PyResult<usize> {
        let consumer = RingFile::open(path).map_err(ring_err)?.into_consumer();
        self.add_consumer(py, consumer)
    }

    /// Start the core thread (no-op if running).
    fn start(&self, py: Python<'_>) -> PyResult<()> {
        self.spawn(py)
    }

    /// Stop the core thread after it drained its inputs (no-op if stopped).
    fn stop(&self, py: Python<'_>) -> PyResult<()> {
        self.join(py)
    }

    /// True while the core thread runs.
    #[getter]
    fn running(&self, py: Python<'_>) -> bool {
        matches!(self.lock_state(py).as_deref(), Ok(State::Running(_)))
    }

    /// Inline mode: consume what the input rings hold now; returns records processed.
    #[pyo3(signature = (max_records = 1 << 20))]
    fn run_once(&self, py: Python<'_>, max_records: usize) -> PyResult<usize> {
        self.with_stopped(py, "run_once needs a stopped engine (the core thread is running)", |r| {
            // with a journal: make what was consumed durable and publish its outputs before returning
            Ok(py.detach(|| {
                let n = r.run_once(max_records);
                r.flush_journal();
                n
            }))
        })
    }

    /// Register the tap ring (RFQ-family outputs are copied there, for the gateway).
    fn add_tap(&self, py: Python<'_>, path: &str) -> PyResult<()> {
        let tap = RingFile::open(path).map_err(ring_err)?.into_producer();
        self.with_runner(py, move |r: &mut Runner| r.add_tap(tap))
    }

    /// Heartbeats the core thread injected so far (they count as input records).
    fn heartbeats(&self, py: Python<'_>) -> PyResult<u64> {
        self.with_runner(py, |r: &mut Runner| r.heartbeats())
    }

    /// Times the core thread found the output (or tap) ring too full to take input.
    fn out_waits(&self, py: Python<'_>) -> PyResult<u64> {
        self.with_runner(py, |r: &mut Runner| r.out_waits())
    }

    /// Heartbeat interval of the core thread when idle (None = off).
    fn set_heartbeat(&self, py: Python<'_>, interval_ns: Option<u64>) -> PyResult<()> {
        self.with_runner(py, move |r: &mut Runner| r.set_heartbeat(interval_ns))
    }

    // ---- market state: venue books, composites, pricing v1 -------------------------------------

    /// `(bid_px, bid_qty, ask_px, ask_qty)` of a venue book, or None unless both sides exist.
    fn best(&self, py: Python<'_>, instrument: u16) -> PyResult<Option<(i64, i64, i64, i64)>> {
        self.with_core(py, move |c| {
            let b = &c.instrument(instrument)?.book;
            let ((bp, bq), (ap, aq)) = (b.best_bid()?, b.best_ask()?);
            Some((bp, bq, ap, aq))
        })
    }

    /// Up to `levels` levels of a venue book side.
    fn depth(&self, py: Python<'_>, instrument: u16, side: u8, levels: usize) -> PyResult<Vec<(i64, i64)>> {
        let s = to_side(side)?;
        self.with_core(py, move |c| c.instrument(instrument).map(|st| st.book.depth(s, levels)).unwrap_or_default())
    }

    /// VWAP to take `qty` from a venue book side (rounded against the taker).
    fn vwap(&self, py: Python<'_>, instrument: u16, side: u8, qty: i64) -> PyResult<Option<i64>> {
        let s = to_side(side)?;
        self.with_core(py, move |c| c.instrument(instrument).and_then(|st| st.book.vwap(s, qty)))
    }

    /// VWAP to take `qty` (composite units) from the composite's usable members.
    fn composite_vwap(&self, py: Python<'_>, composite: u16, side: u8, qty: i64) -> PyResult<Option<i64>> {
        let s = to_side(side)?;
        if qty <= 0 {
            return Ok(None);
        }
        self.with_core(py, move |c| c.composite_sweep(composite, s, qty).map(|n| vwap_of(s, n, qty)))
    }

    /// Price sweeps by searching cumulative depth (default) or, `False`, by walking every
    /// merged level: a verification and benchmark switch; results are identical.
    fn set_depth_search(&self, py: Python<'_>, on: bool) -> PyResult<()> {
        self.with_core_mut(py, move |c| c.set_depth_search(on))
    }

    /// Whether sweeps of the composite over its usable members search depth (`None`: unknown).
    fn depth_searchable(&self, py: Python<'_>, composite: u16) -> PyResult<Option<bool>> {
        self.with_core(py, move |c| c.depth_searchable(composite))
    }

    /// Composite mid `(best bid + best ask) / 2` over the usable, basis-adjusted books.
    fn composite_mid(&self, py: Python<'_>, composite: u16) -> PyResult<Option<i64>> {
        self.with_core(py, move |c| c.composite_mid(composite))
    }

    /// Core time (ns, `CLOCK_REALTIME`): the largest receive time of any input it accepted, the
    /// clock its market freshness is judged by; None before its first input.
    fn now(&self, py: Python<'_>) -> PyResult<Option<i64>> {
        self.with_core(py, move |c| Some(c.now()).filter(|&t| t != i64::MIN))
    }

    /// Last published quote ladder: list of `(flags, reason, bid, ask)` per size.
    fn quotes(&self, py: Python<'_>, composite: u16) -> PyResult<Vec<(u8, u8, i64, i64)>> {
        self.with_core(py, move |c| {
            c.quotes(composite).map(|q| q.iter().map(|l| (l.flags, l.reason, l.bid, l.ask)).collect()).unwrap_or_default()
        })
    }

    /// Live pricing v1 of a composite: `(sizes, base_cbps, size_cbps_per_unit)`, None if unknown.
    fn pricing(&self, py: Python<'_>, composite: u16) -> PyResult<Option<(Vec<i64>, i64, i64)>> {
        self.with_core(py, move |c| c.pricing(composite).map(|p| (p.sizes.clone(), p.base_cbps, p.size_cbps_per_unit)))
    }

    /// `BOOK_STATUS` code of a venue book (0 live, 1 stale, 2 crossed, 3 building).
    fn book_status(&self, py: Python<'_>, instrument: u16) -> PyResult<i64> {
        self.with_core(py, move |c| c.status_code(instrument))?.ok_or_else(|| config_err(format!("unknown instrument {instrument}")))
    }

    /// Receive time (ns) of the last record that reached a venue book; None before the first.
    fn book_last_seen(&self, py: Python<'_>, instrument: u16) -> PyResult<Option<i64>> {
        self.with_core(py, move |c| c.instrument(instrument).map(|st| st.last_seen_ns))?
            .map(|t| Some(t).filter(|&t| t != i64::MIN))
            .ok_or_else(|| config_err(format!("unknown instrument {instrument}")))
    }

    /// Basis offsets of a composite's members: list of (instrument, offset, known).
    fn basis(&self, py: Python<'_>, composite: u16) -> PyResult<Vec<(u16, i64, bool)>> {
        self.with_core(py, move |c| c.basis(composite).unwrap_or_default())
    }

    /// Change a composite's pricing parameters live (refused with a journal attached).
    fn set_pricing(&self, py: Python<'_>, composite: u16, base_cbps: i64, size_cbps_per_unit: i64, sizes: Vec<i64>) -> PyResult<()> {
        self.refuse_if_journaled("set_pricing")?;
        let p = PricingParams { sizes, base_cbps, size_cbps_per_unit };
        self.with_core_mut(py, move |c| c.set_pricing(composite, p))?.map_err(config_err)
    }

    /// Include or exclude a venue book from a composite live (refused with a journal attached).
    fn set_member(&self, py: Python<'_>, composite: u16, instrument: u16, included: bool) -> PyResult<()> {
        self.refuse_if_journaled("set_member")?;
        self.with_core_mut(py, move |c| c.set_member(composite, instrument, included))?.map_err(config_err)
    }

    // ---- counters and latency ------------------------------------------------------------------

    /// Counters of the core.
    fn stats(&self, py: Python<'_>) -> PyResult<Wrap<CoreStatsView>> {
        let view = self.with_core(py, |c| CoreStatsView {
            stats: c.stats().clone(),
            book_levels: c.instruments().iter().map(|i| (i.spec.id, i.book.len())).collect(),
        })?;
        Ok(Wrap(view))
    }

    /// Counters of the RFQ workflow (rejects by reason code).
    fn rfq_stats(&self, py: Python<'_>) -> PyResult<Wrap<RfqStats>> {
        self.with_core(py, |c| c.rfq_stats().clone()).map(Wrap)
    }

    /// Tick-to-quote latency measured by the core thread: from the `ts_send` of the record
    /// that caused quotes to their publication on the out ring. Percentiles in ns.
    #[pyo3(signature = (reset = false))]
    fn tick_to_quote(&self, py: Python<'_>, reset: bool) -> PyResult<Wrap<Histogram<u64>>> {
        self.latency(py, reset, Runner::tick_to_quote)
    }

    /// RFQ-to-answer latency measured by the core thread: from an `RFQ` record's `ts_send` to
    /// the publication of its quote, reject or pending-approval record. Percentiles in ns.
    #[pyo3(signature = (reset = false))]
    fn rfq_to_quote(&self, py: Python<'_>, reset: bool) -> PyResult<Wrap<Histogram<u64>>> {
        self.latency(py, reset, Runner::rfq_to_quote)
    }

    /// Gateway-in latency of RFQs, read by the core thread off the records: from the client's
    /// send time to the gateway handing the RFQ on (wall clocks: meaningful for clients on the
    /// desk's host; only RFQs whose sender stamped an earlier send time). Percentiles in ns.
    #[pyo3(signature = (reset = false))]
    fn gateway_in(&self, py: Python<'_>, reset: bool) -> PyResult<Wrap<Histogram<u64>>> {
        self.latency(py, reset, Runner::gateway_in)
    }

    // ---- the desk: positions, clients, composites, quotes, approvals ---------------------------

    /// The desk's position in a composite (dict of exact ints), None for an unknown composite.
    fn position(&self, py: Python<'_>, composite: u16) -> PyResult<Option<Wrap<PositionView>>> {
        self.with_core(py, move |c| c.position(composite).map(Wrap))
    }

    /// A client's position in a composite.
    fn client_position(&self, py: Python<'_>, client: u16, composite: u16) -> PyResult<Option<Wrap<PositionView>>> {
        self.with_core(py, move |c| c.client_position(client, composite).map(Wrap))
    }

    /// A client's risk state: limits, utilisation (cents), open quotes, kill/halt flags.
    fn client_view(&self, py: Python<'_>, client: u16) -> PyResult<Wrap<ClientView>> {
        let v = self.with_core(py, move |c| c.client_view(client))?;
        v.map(Wrap).ok_or_else(|| config_err(format!("unknown client {client}")))
    }

    /// A composite's risk limits, kill/halt/restricted flags and pricing knobs.
    fn instrument_view(&self, py: Python<'_>, composite: u16) -> PyResult<Wrap<InstrumentView>> {
        let v = self.with_core(py, move |c| c.instrument_view(composite))?;
        v.map(Wrap).ok_or_else(|| config_err(format!("unknown composite {composite}")))
    }

    /// A client tier's settings now: id, name, markup_cbps, fee_cbps, ttl_ns, max_ttl_ns,
    /// allow_partial.
    fn tier_view(&self, py: Python<'_>, tier: u8) -> PyResult<Wrap<TierSpec>> {
        let v = self.with_core(py, move |c| c.tier_view(tier).cloned())?;
        v.map(Wrap).ok_or_else(|| config_err(format!("unknown tier {tier}")))
    }

    /// The desk-wide settings now: exec_count, exec_window_ns, quote_table, max_pending.
    fn desk_view(&self, py: Python<'_>) -> PyResult<Wrap<DeskSpec>> {
        self.with_core(py, |c| c.desk_settings().clone()).map(Wrap)
    }

    /// Whether the desk-wide kill switch is on.
    fn desk_killed(&self, py: Python<'_>) -> PyResult<bool> {
        self.with_core(py, |c| c.desk_killed())
    }

    /// A quote by id (live or recently ended), None if unknown or fallen out of the table.
    fn quote_view(&self, py: Python<'_>, quote_id: u64) -> PyResult<Option<Wrap<QuoteView>>> {
        self.with_core(py, move |c| c.quote_view(quote_id).map(Wrap))
    }

    /// RFQs waiting for an operator.
    fn pending(&self, py: Python<'_>) -> PyResult<Vec<Wrap<PendingView>>> {
        self.with_core(py, |c| c.pending().into_iter().map(Wrap).collect())
    }

    // ---- hedging -------------------------------------------------------------------------------

    /// Hedging state per hedged composite (docs/hedging.md): policy, client flow, hedged and
    /// pending quantities, slippage and fees (exact ints), venues.
    fn hedge_views(&self, py: Python<'_>) -> PyResult<Vec<Wrap<HedgeView>>> {
        self.with_core(py, |c| c.hedge_views().into_iter().map(Wrap).collect())
    }

    /// Every hedge order the core's OMS holds: cl_ord_id, venue, instrument, side, price, qty,
    /// filled, notional, state (rfq_oms::OrderState code).
    fn hedge_orders(&self, py: Python<'_>) -> PyResult<Vec<Wrap<HedgeOrderView>>> {
        self.with_core(py, |c| c.hedge_orders().into_iter().map(Wrap).collect())
    }

    // ---- durability: journal, snapshots, state hash --------------------------------------------

    /// Attach a journal before start: recovers it (a torn tail is truncated, any other damage
    /// refused), replays what it holds into this engine's core (which must not have processed
    /// anything) and journals every input from then on, before its outputs are published.
    ///
    /// Recovery starts from the newest valid snapshot in `<dir>/snapshots/` and replays only
    /// the journal after it (falling back to older snapshots, then to a full replay); outputs
    /// of records after the `published` marker are published again. With `snapshot_every > 0`
    /// the core thread writes a snapshot every that many journaled records, keeping
    /// `snapshot_keep` files; `prune_segments` deletes the journal segments entirely before the
    /// oldest kept snapshot. The chain is keyed with `key` (`None`: `RFQCORE_JOURNAL_KEY`, unset
    /// = unkeyed; docs/journal.md, "Keyed chain"); a keyed journal is refused without its key.
    #[pyo3(signature = (dir, fingerprint, policy = "fsync_each", segment_bytes = 67_108_864, group_max_records = 256, group_max_ns = 1_000_000, snapshot_every = 0, snapshot_keep = 2, prune_segments = false, key = None))]
    #[allow(clippy::too_many_arguments, reason = "Python keyword arguments")]
    fn attach_journal(
        &self,
        py: Python<'_>,
        dir: &str,
        fingerprint: u64,
        policy: &str,
        segment_bytes: u64,
        group_max_records: u64,
        group_max_ns: u64,
        snapshot_every: u64,
        snapshot_keep: usize,
        prune_segments: bool,
        key: Option<&str>,
    ) -> PyResult<Wrap<RecoveryReport>> {
        let durability = durability(policy, group_max_records, group_max_ns)?;
        let key = crate::journal::journal_key(key)?;
        let cfg = JournalConfig { dir: dir.into(), fingerprint, segment_bytes, durability, key };
        let rep = self.with_stopped(py, "attach_journal needs a stopped engine (before start)", |r| {
            py.detach(|| {
                let rep = r.recover_journal(cfg)?;
                r.set_snapshots(snapshot_every, snapshot_keep, prune_segments);
                Ok::<_, rfq_engine::RecoveryError>(rep)
            })
            .map_err(journal_err)
        })?;
        self.journaled.store(true, Ordering::Release);
        Ok(Wrap(rep))
    }

    /// Write a snapshot of the whole core now (after making the journal durable and publishing
    /// what waited); returns path, seq, bytes, state_hash, encode_seconds. Needs a journal.
    fn snapshot_now(&self, py: Python<'_>) -> PyResult<Wrap<SnapshotMade>> {
        let (path, written, encode_ns) = self.with_runner(py, |r: &mut Runner| r.snapshot_now())?.map_err(journal_err)?;
        Ok(Wrap(SnapshotMade { path, written, encode_ns }))
    }

    /// The attached journal: committed/durable sequence numbers, counters, output-stream hash,
    /// the I/O error that stopped the core (None if fine); None without a journal.
    fn journal_stats(&self, py: Python<'_>) -> PyResult<Option<Wrap<JournalStatsView>>> {
        self.with_runner(py, |r: &mut Runner| {
            let (output_hash, error) = (r.output_hash(), r.journal_error().map(ToString::to_string));
            r.journal().map(|w| {
                let segment = w.segment_path().display().to_string();
                let (committed_seq, durable_seq, writer) = (w.committed_seq(), w.durable_seq(), w.stats());
                Wrap(JournalStatsView { committed_seq, durable_seq, writer, segment, output_hash, error })
            })
        })
    }

    /// True once this engine, a cluster leader's runner (`ClusterNode.lead`), lost leadership: it
    /// takes no input and publishes nothing more; stop it and build a new one.
    #[getter]
    fn leadership_lost(&self, py: Python<'_>) -> PyResult<bool> {
        self.with_runner(py, |r: &mut Runner| r.leadership_lost())
    }

    /// Deterministic hash of the whole trading state.
    fn state_hash(&self, py: Python<'_>) -> PyResult<u64> {
        self.with_core(py, |c| c.state_hash())
    }
}

impl Engine {
    /// A live change that bypasses the input records is refused once a journal is attached.
    fn refuse_if_journaled(&self, what: &str) -> PyResult<()> {
        if self.journaled.load(Ordering::Acquire) {
            return Err(not_journaled(what));
        }
        Ok(())
    }

    /// A copy of one of the runner's latency histograms, then (with `reset`) zero them all.
    fn latency(&self, py: Python<'_>, reset: bool, which: fn(&Runner) -> &Histogram<u64>) -> PyResult<Wrap<Histogram<u64>>> {
        let h = self.with_runner(py, move |r: &mut Runner| {
            let h = which(r).clone();
            if reset {
                r.reset_latency();
            }
            h
        })?;
        Ok(Wrap(h))
    }
}

/// Average price of a sweep of `qty` for `notional`, rounded against the taker.
fn vwap_of(side: Side, notional: i128, qty: i64) -> i64 {
    let q = i128::from(qty);
    let v = match side {
        Side::Ask => rfq_model::fixed::div_ceil_i128(notional, q),
        Side::Bid => rfq_model::fixed::div_floor_i128(notional, q),
    };
    v as i64
}
