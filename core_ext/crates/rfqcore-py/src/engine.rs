//! `Engine`: the core thread, seen from Python.
//!
//! While stopped, calls reach the core directly. While the core thread runs, queries and
//! parameter changes are sent to it as commands and answered between two messages, with the
//! GIL released: Python never touches trading state concurrently with the core.
use crate::convert::{composite, instrument, rfq_config, to_side};
use crate::bench::hist_dict;
use crate::errors::{config_err, journal_err, ring_err, JournalError as JournalErrorPy, RfqCoreError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use rfq_engine::{Core, CoreConfig, PositionView, QuoteState, Runner, RunnerHandle};
use rfq_model::{PricingParams, Side};
use rfq_ring::{IdleKind, RingFile};
use rfq_journal::{Durability, JournalConfig};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

enum State {
    Stopped(Box<Runner>),
    Running(RunnerHandle),
    Poisoned,
}

/// The rfqcore core: one thread that owns all trading state.
#[pyclass(module = "rfqcore_core")]
pub struct Engine {
    state: Mutex<State>,
    idle: IdleKind,
    /// A journal is attached: changes that bypass the input records are refused.
    journaled: AtomicBool,
}

/// Builds a core from the Python config dicts (exclusions applied) and its config fingerprint.
pub fn build_core(
    instruments: &Bound<'_, PyList>,
    composites: &Bound<'_, PyList>,
    book_capacity: usize,
    rfq: Option<&Bound<'_, PyDict>>,
) -> PyResult<(Core, u64)> {
    let mut insts = Vec::new();
    for d in instruments.iter() {
        insts.push(instrument(d.cast::<PyDict>()?)?);
    }
    let mut comps = Vec::new();
    let mut exclusions = Vec::new();
    for d in composites.iter() {
        let (spec, excluded) = composite(d.cast::<PyDict>()?)?;
        exclusions.extend(excluded.into_iter().map(|i| (spec.id, i)));
        comps.push(spec);
    }
    let cfg = CoreConfig {
        instruments: insts,
        composites: comps,
        book_capacity,
        rfq: match rfq {
            Some(d) => rfq_config(d)?,
            None => Default::default(),
        },
    };
    let fingerprint = fingerprint(&format!("{cfg:?} exclusions={exclusions:?}"));
    let mut core = Core::new(cfg).map_err(config_err)?;
    for (c, i) in exclusions {
        core.set_member(c, i, false).map_err(config_err)?;
    }
    Ok((core, fingerprint))
}

/// FNV-1a of the configuration's debug text: equal configurations (same build) give equal values.
fn fingerprint(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3))
}

/// A durability policy from its Python name.
pub fn durability(policy: &str, group_max_records: u64, group_max_ns: u64) -> PyResult<Durability> {
    match policy {
        "none" => Ok(Durability::None),
        "group" => Ok(Durability::GroupCommit { max_records: group_max_records, max_ns: group_max_ns }),
        "fsync_each" => Ok(Durability::FsyncEach),
        other => Err(config_err(format!("journal policy {other:?}: expected 'none', 'group' or 'fsync_each'"))),
    }
}

fn not_journaled(what: &str) -> PyErr {
    config_err(format!(
        "{what} changes the core outside its input records, so a journal replay would diverge; with a journal attached use a CONTROL record (Operator) instead"
    ))
}

impl Engine {
    /// Take the state lock without ever blocking while attached to the interpreter: a thread
    /// holding the lock re-attaches (waits for the GIL) after a detached core query, so
    /// waiting for the lock with the GIL held would deadlock with it.
    fn lock_state(&self, py: Python<'_>) -> PyResult<std::sync::MutexGuard<'_, State>> {
        loop {
            match self.state.try_lock() {
                Ok(g) => return Ok(g),
                Err(std::sync::TryLockError::Poisoned(_)) => return Err(RfqCoreError::new_err("engine lock poisoned")),
                Err(std::sync::TryLockError::WouldBlock) => py.detach(std::thread::yield_now),
            }
        }
    }

    fn with_core<T: Send + 'static>(&self, py: Python<'_>, f: impl FnOnce(&Core) -> T + Send + 'static) -> PyResult<T> {
        let guard = self.lock_state(py)?;
        match &*guard {
            State::Stopped(r) => Ok(f(r.core())),
            State::Running(h) => py
                .detach(|| h.query(f))
                .ok_or_else(|| RfqCoreError::new_err("core thread is gone")),
            State::Poisoned => Err(RfqCoreError::new_err("core thread panicked; engine unusable")),
        }
    }

    fn with_core_mut<T: Send + 'static>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&mut Core) -> T + Send + 'static,
    ) -> PyResult<T> {
        let mut guard = self.lock_state(py)?;
        match &mut *guard {
            State::Stopped(r) => Ok(f(r.core_mut())),
            State::Running(h) => py
                .detach(|| h.mutate(f))
                .ok_or_else(|| RfqCoreError::new_err("core thread is gone")),
            State::Poisoned => Err(RfqCoreError::new_err("core thread panicked; engine unusable")),
        }
    }
}

impl Engine {
    fn with_runner<T: Send + 'static>(&self, py: Python<'_>, f: impl FnOnce(&mut Runner) -> T + Send + 'static) -> PyResult<T> {
        let mut guard = self.lock_state(py)?;
        match &mut *guard {
            State::Stopped(r) => Ok(f(r)),
            State::Running(h) => py.detach(|| h.with_runner(f)).ok_or_else(|| RfqCoreError::new_err("core thread is gone")),
            State::Poisoned => Err(RfqCoreError::new_err("core thread panicked; engine unusable")),
        }
    }
}

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
        if out.capacity() < 2 * core.max_out_per_record() {
            return Err(config_err(format!(
                "out ring holds {} records; the core needs at least {}",
                out.capacity(),
                2 * core.max_out_per_record()
            )));
        }
        Ok(Engine { state: Mutex::new(State::Stopped(Box::new(Runner::new(core, out)))), idle, journaled: AtomicBool::new(false) })
    }

    /// Register an input ring (its consumer side); returns its place in the merge order.
    fn add_input(&self, py: Python<'_>, path: &str) -> PyResult<usize> {
        let consumer = RingFile::open(path).map_err(ring_err)?.into_consumer();
        let mut guard = self.lock_state(py)?;
        match &mut *guard {
            State::Stopped(r) => Ok(r.add_input(consumer)),
            State::Running(h) => {
                let n = py.detach(|| {
                    h.send(rfq_engine::Command::AddInput(consumer));
                    h.query(|_| ())
                });
                n.ok_or_else(|| RfqCoreError::new_err("core thread is gone"))?;
                Ok(usize::MAX)
            }
            State::Poisoned => Err(RfqCoreError::new_err("core thread panicked; engine unusable")),
        }
    }

    /// Start the core thread (no-op if running).
    fn start(&self, py: Python<'_>) -> PyResult<()> {
        let mut guard = self.lock_state(py)?;
        if let State::Stopped(_) = &*guard {
            let State::Stopped(runner) = std::mem::replace(&mut *guard, State::Poisoned) else { unreachable!() };
            let handle = runner.spawn(self.idle).map_err(|e| RfqCoreError::new_err(format!("spawn: {e}")))?;
            *guard = State::Running(handle);
        }
        Ok(())
    }

    /// Stop the core thread after it drained its inputs (no-op if stopped).
    fn stop(&self, py: Python<'_>) -> PyResult<()> {
        let mut guard = self.lock_state(py)?;
        if let State::Running(_) = &*guard {
            let State::Running(h) = std::mem::replace(&mut *guard, State::Poisoned) else { unreachable!() };
            match py.detach(|| h.stop()) {
                Ok(runner) => *guard = State::Stopped(Box::new(runner)),
                Err(_) => return Err(RfqCoreError::new_err("core thread panicked")),
            }
        }
        Ok(())
    }

    /// True while the core thread runs.
    #[getter]
    fn running(&self, py: Python<'_>) -> bool {
        matches!(self.lock_state(py).as_deref(), Ok(State::Running(_)))
    }

    /// Inline mode: consume what the input rings hold now; returns records processed.
    #[pyo3(signature = (max_records = 1 << 20))]
    fn run_once(&self, py: Python<'_>, max_records: usize) -> PyResult<usize> {
        let mut guard = self.lock_state(py)?;
        match &mut *guard {
            // with a journal: make what was consumed durable and publish its outputs before returning
            State::Stopped(r) => Ok(py.detach(|| {
                let n = r.run_once(max_records);
                r.flush_journal();
                n
            })),
            _ => Err(RfqCoreError::new_err("run_once needs a stopped engine (the core thread is running)")),
        }
    }

    /// `(bid_px, bid_qty, ask_px, ask_qty)` of a venue book, or None unless both sides exist.
    fn best(&self, py: Python<'_>, instrument: u16) -> PyResult<Option<(i64, i64, i64, i64)>> {
        self.with_core(py, move |c| {
            let b = &c.instrument(instrument)?.book;
            match (b.best_bid(), b.best_ask()) {
                (Some((bp, bq)), Some((ap, aq))) => Some((bp, bq, ap, aq)),
                _ => None,
            }
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
        self.with_core(py, move |c| {
            c.composite_sweep(composite, s, qty).map(|n| rfq_book_vwap(s, n, qty))
        })
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
        self.with_core(py, move |c| c.status_code(instrument))?
            .ok_or_else(|| config_err(format!("unknown instrument {instrument}")))
    }

    /// Counters of the core.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let (s, levels) = self.with_core(py, |c| {
            (c.stats().clone(), c.instruments().iter().map(|i| (i.spec.id, i.book.len())).collect::<Vec<_>>())
        })?;
        let d = PyDict::new(py);
        d.set_item("records", s.records)?;
        d.set_item("messages", s.messages)?;
        d.set_item("rejects", s.rejects)?;
        d.set_item("level_updates", s.level_updates)?;
        d.set_item("quotes", s.quotes)?;
        d.set_item("status_changes", s.status_changes)?;
        d.set_item("repricings", s.repricings)?;
        let r = PyDict::new(py);
        for (code, n) in s.rejects_by_reason.iter().enumerate().filter(|(_, &n)| n > 0) {
            r.set_item(code, n)?;
        }
        d.set_item("rejects_by_reason", r)?;
        d.set_item("book_levels", levels.into_iter().collect::<std::collections::BTreeMap<_, _>>())?;
        Ok(d)
    }

    /// Tick-to-quote latency measured by the core thread: from the `ts_send` of the record
    /// that caused quotes to their publication on the out ring. Percentiles in ns.
    #[pyo3(signature = (reset = false))]
    fn tick_to_quote<'py>(&self, py: Python<'py>, reset: bool) -> PyResult<Bound<'py, PyDict>> {
        let h = self.with_runner(py, move |r: &mut Runner| {
            let h = r.tick_to_quote().clone();
            if reset {
                r.reset_latency();
            }
            h
        })?;
        hist_dict(py, &h)
    }

    /// RFQ-to-answer latency measured by the core thread: from an `RFQ` record's `ts_send` to
    /// the publication of its quote, reject or pending-approval record. Percentiles in ns.
    #[pyo3(signature = (reset = false))]
    fn rfq_to_quote<'py>(&self, py: Python<'py>, reset: bool) -> PyResult<Bound<'py, PyDict>> {
        let h = self.with_runner(py, move |r: &mut Runner| {
            let h = r.rfq_to_quote().clone();
            if reset {
                r.reset_latency();
            }
            h
        })?;
        hist_dict(py, &h)
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

    /// The desk's position in a composite (dict of exact ints), None for an unknown composite.
    fn position<'py>(&self, py: Python<'py>, composite: u16) -> PyResult<Option<Bound<'py, PyDict>>> {
        let v = self.with_core(py, move |c| c.position(composite))?;
        v.map(|p| position_dict(py, &p)).transpose()
    }

    /// A client's position in a composite.
    fn client_position<'py>(&self, py: Python<'py>, client: u16, composite: u16) -> PyResult<Option<Bound<'py, PyDict>>> {
        let v = self.with_core(py, move |c| c.client_position(client, composite))?;
        v.map(|p| position_dict(py, &p)).transpose()
    }

    /// A client's risk state: limits, utilisation (cents), open quotes, kill/halt flags.
    fn client_view<'py>(&self, py: Python<'py>, client: u16) -> PyResult<Bound<'py, PyDict>> {
        let v = self
            .with_core(py, move |c| c.client_view(client))?
            .ok_or_else(|| config_err(format!("unknown client {client}")))?;
        let d = PyDict::new(py);
        d.set_item("id", v.id)?;
        d.set_item("name", v.name)?;
        d.set_item("tier", v.tier)?;
        d.set_item("enabled", v.enabled)?;
        d.set_item("killed", v.killed)?;
        d.set_item("halted", v.halted)?;
        d.set_item("credit_limit", v.credit_limit)?;
        d.set_item("utilised", v.utilised)?;
        d.set_item("open_quotes", v.open_quotes)?;
        d.set_item("max_open_quotes", v.max_open_quotes)?;
        d.set_item("rfq_rate", (v.rfq_rate.per_sec, v.rfq_rate.burst))?;
        d.set_item("accept_rate", (v.accept_rate.per_sec, v.accept_rate.burst))?;
        Ok(d)
    }

    /// A composite's risk limits, kill/halt/restricted flags and pricing knobs.
    fn instrument_view<'py>(&self, py: Python<'py>, composite: u16) -> PyResult<Bound<'py, PyDict>> {
        let v = self
            .with_core(py, move |c| c.instrument_view(composite))?
            .ok_or_else(|| config_err(format!("unknown composite {composite}")))?;
        let d = PyDict::new(py);
        d.set_item("composite", v.composite)?;
        d.set_item("killed", v.killed)?;
        d.set_item("halted", v.halted)?;
        d.set_item("restricted", v.restricted)?;
        if let Some(r) = &v.risk {
            d.set_item("min_qty", r.min_qty)?;
            d.set_item("max_qty", r.max_qty)?;
            d.set_item("max_notional", r.max_notional)?;
            d.set_item("long_limit", r.long_limit)?;
            d.set_item("short_limit", r.short_limit)?;
            d.set_item("collar_cbps", r.collar_cbps)?;
            d.set_item("approval_qty", r.approval_qty)?;
            d.set_item("approval_notional", r.approval_notional)?;
            d.set_item("approval_timeout_ns", r.approval_timeout_ns)?;
        }
        let p = &v.pricing;
        d.set_item("skew_cbps_per_unit", p.skew_cbps_per_unit)?;
        d.set_item("max_skew_cbps", p.max_skew_cbps)?;
        d.set_item("vol_mult_pct", p.vol_mult_pct)?;
        d.set_item("vol_ema_shift", p.vol_ema_shift)?;
        d.set_item("hedge_fee_cbps", p.hedge_fee_cbps)?;
        d.set_item("base_cbps", v.base_cbps)?;
        d.set_item("size_cbps_per_unit", v.size_cbps_per_unit)?;
        d.set_item("vol_cbps", v.vol_cbps)?;
        Ok(d)
    }

    /// Whether the desk-wide kill switch is on.
    fn desk_killed(&self, py: Python<'_>) -> PyResult<bool> {
        self.with_core(py, |c| c.desk_killed())
    }

    /// A quote by id (live or recently ended), None if unknown or fallen out of the table.
    fn quote_view<'py>(&self, py: Python<'py>, quote_id: u64) -> PyResult<Option<Bound<'py, PyDict>>> {
        let Some(v) = self.with_core(py, move |c| c.quote_view(quote_id))? else { return Ok(None) };
        let d = PyDict::new(py);
        d.set_item("quote_id", v.quote_id)?;
        d.set_item("client", v.client)?;
        d.set_item("composite", v.composite)?;
        d.set_item("rfq_id", v.client_rfq_id)?;
        d.set_item("ask", v.ask)?;
        d.set_item("bid", v.bid)?;
        d.set_item("created", v.created)?;
        d.set_item("valid_until", v.valid_until)?;
        d.set_item("partial_ok", v.partial_ok)?;
        d.set_item(
            "state",
            match v.state {
                QuoteState::Live => "live",
                QuoteState::Filled => "filled",
                QuoteState::Rejected => "rejected",
                QuoteState::Expired => "expired",
                QuoteState::Cancelled => "cancelled",
            },
        )?;
        Ok(Some(d))
    }

    /// RFQs waiting for an operator.
    fn pending<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyDict>>> {
        let v = self.with_core(py, |c| c.pending())?;
        v.into_iter()
            .map(|p| {
                let d = PyDict::new(py);
                d.set_item("request_id", p.request_id)?;
                d.set_item("client", p.client)?;
                d.set_item("composite", p.composite)?;
                d.set_item("side", p.side)?;
                d.set_item("qty", p.qty)?;
                d.set_item("qty_in_quote", p.qty_in_quote)?;
                d.set_item("limit", p.limit)?;
                d.set_item("indicative", p.indicative)?;
                d.set_item("deadline", p.deadline)?;
                d.set_item("rfq_id", p.client_rfq_id)?;
                Ok(d)
            })
            .collect()
    }

    /// Composite mid `(best bid + best ask) / 2` over the usable, basis-adjusted books.
    fn composite_mid(&self, py: Python<'_>, composite: u16) -> PyResult<Option<i64>> {
        self.with_core(py, move |c| c.composite_mid(composite))
    }

    /// Hedging state per hedged composite (docs/hedging.md): policy, client flow, hedged and
    /// pending quantities, slippage and fees (exact ints), venues.
    fn hedge_views<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let views = self.with_core(py, |c| c.hedge_views())?;
        let l = PyList::empty(py);
        for v in views {
            let d = PyDict::new(py);
            d.set_item("composite", v.composite)?;
            d.set_item("mode", ["off", "full", "partial", "threshold"][usize::from(v.mode)])?;
            d.set_item("available", v.available)?;
            d.set_item("client_flow", v.client_flow)?;
            d.set_item("hedged", v.hedged)?;
            d.set_item("pending", v.pending)?;
            d.set_item("slippage", v.slippage)?;
            d.set_item("matched_notional", v.matched_notional)?;
            d.set_item("fees", v.fees)?;
            d.set_item("orders", v.orders)?;
            d.set_item("fills", v.fills)?;
            d.set_item("refused", v.refused)?;
            let vs = PyList::empty(py);
            for (venue, up, position, working) in v.venues {
                let x = PyDict::new(py);
                x.set_item("venue", venue)?;
                x.set_item("up", up)?;
                x.set_item("position", position)?;
                x.set_item("working", working)?;
                vs.append(x)?;
            }
            d.set_item("venues", vs)?;
            match v.internal {
                Some((qty, cost, realised, fills, resting)) => {
                    let x = PyDict::new(py);
                    x.set_item("position", qty)?;
                    x.set_item("cost", cost)?;
                    x.set_item("realised", realised)?;
                    x.set_item("fills", fills)?;
                    x.set_item("resting_orders", resting)?;
                    d.set_item("internal", x)?;
                }
                None => d.set_item("internal", py.None())?,
            }
            l.append(d)?;
        }
        Ok(l)
    }

    /// Every hedge order the core's OMS holds: cl_ord_id, venue, instrument, side, price, qty,
    /// filled, notional, state (rfq_oms::OrderState code).
    fn hedge_orders<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let orders = self.with_core(py, |c| c.hedge_orders())?;
        let l = PyList::empty(py);
        for o in orders {
            let d = PyDict::new(py);
            d.set_item("cl_ord_id", o.cl_ord_id)?;
            d.set_item("venue", o.venue)?;
            d.set_item("instrument", o.instrument)?;
            d.set_item("side", o.side)?;
            d.set_item("price", o.price)?;
            d.set_item("qty", o.qty)?;
            d.set_item("filled", o.filled)?;
            d.set_item("notional", o.notional)?;
            d.set_item("state", o.state)?;
            l.append(d)?;
        }
        Ok(l)
    }

    /// Counters of the RFQ workflow (rejects by reason code).
    fn rfq_stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = self.with_core(py, |c| c.rfq_stats().clone())?;
        let d = PyDict::new(py);
        d.set_item("rfqs", s.rfqs)?;
        d.set_item("quotes", s.quotes)?;
        d.set_item("fills", s.fills)?;
        d.set_item("expiries", s.expiries)?;
        d.set_item("cancels", s.cancels)?;
        d.set_item("hit_rejects", s.hit_rejects)?;
        d.set_item("approvals", s.approvals)?;
        d.set_item("approved", s.approved)?;
        d.set_item("declined", s.declined)?;
        d.set_item("timeouts", s.timeouts)?;
        d.set_item("controls", s.controls)?;
        d.set_item("risk_events", s.risk_events)?;
        let r = PyDict::new(py);
        for (code, n) in s.rejects.iter().enumerate().filter(|(_, &n)| n > 0) {
            r.set_item(code, n)?;
        }
        d.set_item("rejects", r)?;
        Ok(d)
    }

    /// Attach a journal before start: recovers it (a torn tail is truncated, any other damage
    /// refused), replays what it holds into this engine's core (which must not have processed
    /// anything) and journals every input from then on, before its outputs are published.
    ///
    /// Recovery starts from the newest valid snapshot in `<dir>/snapshots/` and replays only
    /// the journal after it (falling back to older snapshots, then to a full replay); outputs
    /// of records after the `published` marker are published again. With `snapshot_every > 0`
    /// the core thread writes a snapshot every that many journaled records, keeping
    /// `snapshot_keep` files; `prune_segments` deletes the journal segments entirely before the
    /// oldest kept snapshot.
    #[pyo3(signature = (dir, fingerprint, policy = "fsync_each", segment_bytes = 67_108_864, group_max_records = 256, group_max_ns = 1_000_000, snapshot_every = 0, snapshot_keep = 2, prune_segments = false))]
    #[allow(clippy::too_many_arguments, reason = "Python keyword arguments")]
    fn attach_journal<'py>(
        &self,
        py: Python<'py>,
        dir: &str,
        fingerprint: u64,
        policy: &str,
        segment_bytes: u64,
        group_max_records: u64,
        group_max_ns: u64,
        snapshot_every: u64,
        snapshot_keep: usize,
        prune_segments: bool,
    ) -> PyResult<Bound<'py, PyDict>> {
        let cfg = JournalConfig { dir: dir.into(), fingerprint, segment_bytes, durability: durability(policy, group_max_records, group_max_ns)? };
        let mut guard = self.lock_state(py)?;
        let State::Stopped(r) = &mut *guard else {
            return Err(RfqCoreError::new_err("attach_journal needs a stopped engine (before start)"));
        };
        let rep = py
            .detach(|| {
                let rep = r.recover_journal(cfg)?;
                r.set_snapshots(snapshot_every, snapshot_keep, prune_segments);
                Ok::<_, rfq_engine::RecoveryError>(rep)
            })
            .map_err(|e| JournalErrorPy::new_err(e.to_string()))?;
        self.journaled.store(true, Ordering::Release);
        let d = replay_dict(py, &rep)?;
        d.set_item("snapshot", rep.snapshot.as_ref().map(|p| p.display().to_string()))?;
        d.set_item("snapshot_seq", rep.snapshot_seq)?;
        d.set_item("tail_records", rep.replay.records)?;
        let rejected: Vec<(String, String)> = rep.rejected_snapshots.iter().map(|(p, why)| (p.display().to_string(), why.clone())).collect();
        d.set_item("snapshots_rejected", rejected)?;
        d.set_item("published_seq", rep.published_seq)?;
        d.set_item("republished_records", rep.republished_records)?;
        d.set_item("republished_outputs", rep.republished_outputs)?;
        Ok(d)
    }

    /// Write a snapshot of the whole core now (after making the journal durable and publishing
    /// what waited); returns path, seq, bytes, state_hash, encode_seconds. Needs a journal.
    fn snapshot_now<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let (path, w, ns) = self.with_runner(py, |r: &mut Runner| r.snapshot_now())?.map_err(|e| JournalErrorPy::new_err(e.to_string()))?;
        let d = PyDict::new(py);
        d.set_item("path", path.display().to_string())?;
        d.set_item("seq", w.header.anchor.seq)?;
        d.set_item("bytes", w.bytes)?;
        d.set_item("state_hash", w.header.state_hash)?;
        d.set_item("encode_seconds", ns as f64 * 1e-9)?;
        Ok(d)
    }

    /// The attached journal: committed/durable sequence numbers, counters, output-stream hash,
    /// the I/O error that stopped the core (None if fine); None without a journal.
    fn journal_stats<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyDict>>> {
        let v = self.with_runner(py, |r: &mut Runner| {
            let hash = r.output_hash();
            let err = r.journal_error().map(ToString::to_string);
            r.journal().map(|w| (w.committed_seq(), w.durable_seq(), w.stats(), w.segment_path().display().to_string(), hash, err))
        })?;
        let Some((committed, durable, st, segment, hash, err)) = v else { return Ok(None) };
        let d = PyDict::new(py);
        d.set_item("committed_seq", committed)?;
        d.set_item("durable_seq", durable)?;
        d.set_item("commits", st.commits)?;
        d.set_item("syncs", st.syncs)?;
        d.set_item("bytes", st.bytes)?;
        d.set_item("segments_created", st.segments_created)?;
        d.set_item("segment", segment)?;
        d.set_item("output_hash", hash)?;
        d.set_item("error", err)?;
        Ok(Some(d))
    }

    /// Deterministic hash of the whole trading state.
    fn state_hash(&self, py: Python<'_>) -> PyResult<u64> {
        self.with_core(py, |c| c.state_hash())
    }

    /// Change a composite's pricing parameters live (refused with a journal attached).
    fn set_pricing(&self, py: Python<'_>, composite: u16, base_cbps: i64, size_cbps_per_unit: i64, sizes: Vec<i64>) -> PyResult<()> {
        if self.journaled.load(Ordering::Acquire) {
            return Err(not_journaled("set_pricing"));
        }
        let p = PricingParams { sizes, base_cbps, size_cbps_per_unit };
        self.with_core_mut(py, move |c| c.set_pricing(composite, p))?.map_err(config_err)
    }

    /// Basis offsets of a composite's members: list of (instrument, offset, known).
    fn basis(&self, py: Python<'_>, composite: u16) -> PyResult<Vec<(u16, i64, bool)>> {
        self.with_core(py, move |c| c.basis(composite).unwrap_or_default())
    }

    /// Include or exclude a venue book from a composite live (refused with a journal attached).
    fn set_member(&self, py: Python<'_>, composite: u16, instrument: u16, included: bool) -> PyResult<()> {
        if self.journaled.load(Ordering::Acquire) {
            return Err(not_journaled("set_member"));
        }
        self.with_core_mut(py, move |c| c.set_member(composite, instrument, included))?.map_err(config_err)
    }
}

fn position_dict<'py>(py: Python<'py>, p: &PositionView) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("composite", p.composite)?;
    d.set_item("qty", p.qty)?;
    d.set_item("cost", p.cost)?;
    d.set_item("realised", p.realised)?;
    d.set_item("unrealised", p.unrealised)?;
    d.set_item("fees", p.fees)?;
    d.set_item("trades", p.trades)?;
    Ok(d)
}

fn rfq_book_vwap(side: Side, notional: i128, qty: i64) -> i64 {
    let q = i128::from(qty);
    let v = match side {
        Side::Ask => rfq_model::fixed::div_ceil_i128(notional, q),
        Side::Bid => rfq_model::fixed::div_floor_i128(notional, q),
    };
    v as i64
}

/// The dict of a replay report (shared by `Engine.attach_journal` and `replay_journal`).
pub fn replay_dict<'py>(py: Python<'py>, rep: &rfq_engine::ReplayReport) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("records", rep.records)?;
    d.set_item("outputs", rep.outputs)?;
    d.set_item("state_hash", rep.state_hash)?;
    d.set_item("output_hash", rep.output_hash)?;
    d.set_item("last_seq", rep.last_seq)?;
    d.set_item("marks_checked", rep.marks_checked)?;
    d.set_item("first_divergence", rep.first_divergence)?;
    d.set_item("torn_bytes", rep.torn.as_ref().map_or(0, |t| t.bytes))?;
    d.set_item("elapsed", rep.elapsed.as_secs_f64())?;
    Ok(d)
}

/// Rebuild a core from scratch by replaying a journal; returns records, state_hash,
/// output_hash, outputs, last_seq, marks_checked, first_divergence (None = identical to the
/// recorded run), torn_bytes, elapsed (s). Nothing is modified on disk.
#[pyfunction]
#[pyo3(signature = (dir, instruments, composites, rfq = None, fingerprint = None, book_capacity = 65536))]
pub fn replay_journal<'py>(
    py: Python<'py>,
    dir: &str,
    instruments: &Bound<'py, PyList>,
    composites: &Bound<'py, PyList>,
    rfq: Option<&Bound<'py, PyDict>>,
    fingerprint: Option<u64>,
    book_capacity: usize,
) -> PyResult<Bound<'py, PyDict>> {
    let (mut core, fp) = build_core(instruments, composites, book_capacity, rfq)?;
    let fp = fingerprint.unwrap_or(fp);
    let dir = std::path::PathBuf::from(dir);
    let rep = py
        .detach(|| rfq_engine::replay_into(&mut core, &dir, fp, rfq_journal::OutputHash::new()))
        .map_err(journal_err)?;
    replay_dict(py, &rep)
}

/// The configuration fingerprint `replay_journal` uses by default: FNV-1a of the parsed core
/// configuration (same values, same build → same fingerprint).
#[pyfunction]
#[pyo3(signature = (instruments, composites, rfq = None, book_capacity = 65536))]
pub fn config_fingerprint(
    instruments: &Bound<'_, PyList>,
    composites: &Bound<'_, PyList>,
    rfq: Option<&Bound<'_, PyDict>>,
    book_capacity: usize,
) -> PyResult<u64> {
    build_core(instruments, composites, book_capacity, rfq).map(|(_, fp)| fp)
}

/// Verify a journal without replaying it (every CRC, sequence number and chain link); returns
/// segments, last_seq, bytes, chain (hex), torn_bytes.
#[pyfunction]
pub fn verify_journal<'py>(py: Python<'py>, dir: &str, fingerprint: u64) -> PyResult<Bound<'py, PyDict>> {
    let dir = std::path::PathBuf::from(dir);
    let s = py.detach(|| rfq_journal::verify(&dir, fingerprint, None)).map_err(journal_err)?;
    let d = PyDict::new(py);
    d.set_item("segments", s.segments)?;
    d.set_item("last_seq", s.last_seq)?;
    d.set_item("bytes", s.bytes)?;
    d.set_item("chain", s.chain.iter().map(|b| format!("{b:02x}")).collect::<String>())?;
    d.set_item("torn_bytes", s.torn.as_ref().map_or(0, |t| t.bytes))?;
    Ok(d)
}

/// Header of a snapshot file, with its body checked: version, fingerprint, seq, chain (hex),
/// output_hash, state_hash, bytes. Raises JournalError if the file is damaged.
#[pyfunction]
pub fn snapshot_info<'py>(py: Python<'py>, path: &str) -> PyResult<Bound<'py, PyDict>> {
    let p = std::path::PathBuf::from(path);
    let (h, bytes) = py.detach(|| rfq_engine::read_snapshot(&p, None)).map_err(|e| JournalErrorPy::new_err(e.to_string()))?;
    let d = PyDict::new(py);
    d.set_item("version", h.version)?;
    d.set_item("fingerprint", h.anchor.fingerprint)?;
    d.set_item("seq", h.anchor.seq)?;
    d.set_item("chain", h.anchor.chain.iter().map(|b| format!("{b:02x}")).collect::<String>())?;
    d.set_item("output_hash", h.anchor.out_hash)?;
    d.set_item("state_hash", h.state_hash)?;
    d.set_item("bytes", bytes.len())?;
    Ok(d)
}
