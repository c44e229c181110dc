//! Driving a [`Core`] from input rings to the output ring: inline or on the core thread.
//!
//! ## Merge order
//! Input rings are polled round-robin in registration order. From the current ring the runner
//! takes up to `batch` records, but never stops in the middle of a venue message: it moves to
//! the next ring only after a record flagged `END`. A message whose tail has not been published
//! yet keeps the runner on that ring (inline mode returns and resumes there). So records of
//! different producers never interleave inside a message, and the order the core saw is a pure
//! function of what each ring held — the order a journal records.
//!
//! ## Back-pressure
//! Before consuming input the runner checks that the output ring — and the tap ring, if one is
//! registered — has room for everything the records could produce
//! ([`Core::max_out_per_record`] each). If not, the input stays in its ring: nothing is ever
//! dropped, the slow consumer slows the producers.
//!
//! ## Tap
//! [`Runner::add_tap`] registers a second output ring that receives a copy of every RFQ-workflow
//! output (kinds 110..=120: quotes to clients, rejects, executions, quote ends, approvals,
//! risk events, control acks) — what the client gateway needs — while the main output ring
//! still receives everything.
//!
//! ## Heartbeat
//! With [`Runner::set_heartbeat`], the core thread processes a synthetic `HEARTBEAT` (flags
//! `END`, `ts_recv` = `CLOCK_REALTIME` ns, `source` = `0xFFFF`) whenever no input was processed
//! for the interval, so quotes expire in an idle system. Off by default; inline runs
//! (`run_once`) move time only with records.
//!
//! ## Journal
//! With [`Runner::set_journal`], every input record the core consumes (injected heartbeats too)
//! is appended to an `rfq_journal::JournalWriter` **before** the outputs it caused become
//! visible: outputs are written into the out/tap rings unpublished
//! (`Producer::write_unpublished`), the batch's records are appended and committed, and only
//! once the commit is durable under the journal's policy are the outputs published (one Release
//! store per ring). Under group commit, outputs stay staged until the group's fdatasync (forced
//! early when the out ring fills, before a command is served, and at stop). Each journaled
//! record carries the running [`OutputHash`] of the output stream after it, so a replay can name
//! the first record whose outputs differ. A journal I/O error stops the runner for good (no
//! further input, nothing more published): it is reported by [`Runner::journal_error`].

use crate::core::{Core, Sink};
use crate::replay::{replay_into, ReplayReport};
use hdrhistogram::Histogram;
use rfq_journal::{JournalConfig, JournalError, JournalWriter, OutputHash};
use rfq_ring::clock::monotonic_ns;
use rfq_ring::record::{flags, kind};
use std::time::{SystemTime, UNIX_EPOCH};
use rfq_ring::{Consumer, IdleKind, IdleStrategy, Producer, Record};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;

/// Records taken from one ring before moving on (at a message boundary).
pub const DEFAULT_BATCH: usize = 256;

/// A command for the core thread, run between messages, off the hot path.
pub enum Command {
    /// Read-only access to the core (queries).
    Query(Box<dyn FnOnce(&Core) + Send>),
    /// Mutating access (parameter changes).
    Mutate(Box<dyn FnOnce(&mut Core) + Send>),
    /// Register another input ring.
    AddInput(Consumer),
    /// Access to the runner itself (latency histogram, ring counters).
    Runner(Box<dyn FnOnce(&mut Runner) + Send>),
    /// Register the tap ring (copies of RFQ-workflow outputs, kinds 110..=120).
    AddTap(Producer),
}

/// Source id of the heartbeats the runner injects.
pub const HEARTBEAT_SOURCE: u16 = 0xFFFF;

struct RingSink<'a, const STAGED: bool> {
    out: &'a mut Producer,
    /// Running hash of the outputs (journaled runs only).
    hash: OutputHash,
    tap: Option<&'a mut Producer>,
    quotes: u32,
    /// `(client, client RFQ id)` of the RFQ being processed.
    rfq: Option<(u16, u64)>,
    /// The RFQ got its answer (RFQ_QUOTE, RFQ_REJECT or APPROVAL_PENDING).
    answered: bool,
}

impl<const STAGED: bool> Sink for RingSink<'_, STAGED> {
    #[inline]
    fn emit(&mut self, rec: &Record) {
        self.quotes += u32::from(rec.kind == kind::QUOTE);
        let pushed = if STAGED {
            self.hash.push(rec);
            self.out.write_unpublished(rec)
        } else {
            self.out.try_push(rec)
        };
        if pushed.is_err() {
            // Room for every possible output was reserved before the input was consumed.
            unreachable!("output ring full despite reserved room");
        }
        if (kind::RFQ_QUOTE..=kind::CONTROL_ACK).contains(&rec.kind) {
            if let Some(tap) = self.tap.as_deref_mut() {
                let pushed = if STAGED { tap.write_unpublished(rec) } else { tap.try_push(rec) };
                if pushed.is_err() {
                    unreachable!("tap ring full despite reserved room");
                }
            }
            // the client RFQ id is `aux` of RFQ_QUOTE, `seq` of RFQ_REJECT / APPROVAL_PENDING
            let answer = match rec.kind {
                kind::RFQ_QUOTE => Some((rec.source, rec.aux as u64)),
                kind::RFQ_REJECT | kind::APPROVAL_PENDING => Some((rec.source, rec.seq)),
                _ => None,
            };
            if answer.is_some() && answer == self.rfq {
                self.answered = true;
            }
        }
    }
}

/// `CLOCK_REALTIME` in ns (the heartbeat's `ts_recv`).
fn realtime_ns() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as i64)
}

/// The journal of a runner and what waits for its commits.
struct Journal {
    writer: JournalWriter,
    hash: OutputHash,
    /// `(ts_send, histogram)` of records whose latency sample waits for the publication
    /// (0 = tick-to-quote, 1 = RFQ-to-quote); capacity reserved once, samples beyond it dropped.
    lat: Vec<(i64, u8)>,
    error: Option<JournalError>,
}

/// Latency samples held per batch while a journal commit is pending.
const LAT_PENDING: usize = 8192;

/// A core plus its rings.
pub struct Runner {
    core: Core,
    inputs: Vec<Consumer>,
    out: Producer,
    current: usize,
    in_message: bool,
    batch: usize,
    out_waits: u64,
    tick_to_quote: Histogram<u64>,
    rfq_to_quote: Histogram<u64>,
    tap: Option<Producer>,
    heartbeat_ns: Option<u64>,
    heartbeats: u64,
    journal: Option<Box<Journal>>,
}

/// Longest tick-to-quote latency tracked (larger values are clamped to it).
const MAX_LATENCY_NS: u64 = 60_000_000_000;

impl Runner {
    /// A runner publishing to `out`.
    pub fn new(core: Core, out: Producer) -> Runner {
        Runner {
            core,
            inputs: Vec::new(),
            out,
            current: 0,
            in_message: false,
            batch: DEFAULT_BATCH,
            out_waits: 0,
            tick_to_quote: Histogram::new_with_bounds(1, MAX_LATENCY_NS, 3).expect("valid histogram bounds"),
            rfq_to_quote: Histogram::new_with_bounds(1, MAX_LATENCY_NS, 3).expect("valid histogram bounds"),
            tap: None,
            heartbeat_ns: None,
            heartbeats: 0,
            journal: None,
        }
    }

    /// Journal every consumed input record before publishing its outputs (see the module doc).
    /// The output-stream hash starts fresh: use this for a journal that is empty or whose
    /// records were not replayed into this core (else [`Runner::recover_journal`]). Replaces
    /// (after flushing) a previous journal.
    pub fn set_journal(&mut self, journal: JournalWriter) {
        self.set_journal_with_hash(journal, OutputHash::new());
    }

    /// As [`Runner::set_journal`], continuing the output-stream hash from `hash`.
    pub fn set_journal_with_hash(&mut self, journal: JournalWriter, hash: OutputHash) {
        let _ = self.take_journal();
        self.journal = Some(Box::new(Journal { writer: journal, hash, lat: Vec::with_capacity(LAT_PENDING), error: None }));
    }

    /// Crash recovery: opens the journal of `cfg` (truncating a torn tail), replays all of it
    /// into this runner's core — which must not have processed any record yet — and attaches it
    /// so the run continues exactly where the journal ends. Outputs of the replay are not
    /// published (they were, or were never acknowledged).
    ///
    /// # Errors
    /// Journal damage ([`JournalError`]); `JournalError::Config` if the core already ran.
    pub fn recover_journal(&mut self, cfg: JournalConfig) -> Result<ReplayReport, JournalError> {
        if self.core.stats().records != 0 {
            return Err(JournalError::Config("recover_journal needs a core that has processed nothing".into()));
        }
        let dir = cfg.dir.clone();
        let fingerprint = cfg.fingerprint;
        let writer = JournalWriter::open(cfg)?;
        let mut report = replay_into(&mut self.core, &dir, fingerprint, OutputHash::new())?;
        report.torn = writer.recovery().torn.clone();
        self.set_journal_with_hash(writer, OutputHash::from_value(report.output_hash));
        Ok(report)
    }

    /// Detaches the journal (after making every commit durable and publishing what waited).
    pub fn take_journal(&mut self) -> Option<JournalWriter> {
        self.flush_journal();
        self.journal.take().map(|j| j.writer)
    }

    /// The attached journal writer.
    pub fn journal(&self) -> Option<&JournalWriter> {
        self.journal.as_ref().map(|j| &j.writer)
    }

    /// The I/O error that stopped the journaled runner, if any.
    pub fn journal_error(&self) -> Option<&JournalError> {
        self.journal.as_ref().and_then(|j| j.error.as_ref())
    }

    /// Running hash of the published output stream (journaled runs; `None` without a journal).
    pub fn output_hash(&self) -> Option<u64> {
        self.journal.as_ref().map(|j| j.hash.value())
    }

    /// Makes every journal commit durable (group commit: syncs now) and publishes the outputs
    /// that waited for it. No-op without a journal or after a journal error.
    pub fn flush_journal(&mut self) {
        if let Some(j) = self.journal.as_deref_mut() {
            if j.error.is_none() {
                if let Err(e) = j.writer.sync() {
                    j.error = Some(e);
                }
            }
        }
        self.publish_durable();
    }

    /// Group commit: sync if the oldest unsynced commit is due, then publish. Called by the
    /// core thread every loop.
    pub fn poll_journal(&mut self) {
        if let Some(j) = self.journal.as_deref_mut() {
            if j.error.is_none() && j.writer.sync_pending() {
                if let Err(e) = j.writer.sync_if_due() {
                    j.error = Some(e);
                }
                self.publish_durable();
            }
        }
    }

    /// Publishes the staged outputs if every journaled record is durable.
    fn publish_durable(&mut self) {
        let Some(j) = self.journal.as_deref_mut() else { return };
        if j.error.is_some() || j.writer.durable_seq() != j.writer.committed_seq() || j.writer.pending() != 0 {
            return;
        }
        self.out.publish();
        if let Some(t) = self.tap.as_mut() {
            t.publish();
        }
        if !j.lat.is_empty() {
            let now = monotonic_ns();
            for &(ts, which) in &j.lat {
                let ns = (now - ts).clamp(1, MAX_LATENCY_NS as i64) as u64;
                if which == 0 { &mut self.tick_to_quote } else { &mut self.rfq_to_quote }.saturating_record(ns);
            }
            j.lat.clear();
        }
    }

    /// Commits the records appended for this batch, then publishes if they are durable; an I/O
    /// error is kept (fail-stop) instead of returned.
    fn journal_commit(&mut self) {
        if let Some(j) = self.journal.as_deref_mut() {
            if j.error.is_none() {
                if let Err(e) = j.writer.commit() {
                    j.error = Some(e);
                }
            }
        }
        self.publish_durable();
    }

    /// Register the tap ring: every output of kind 110..=120 is also pushed there (replaces a
    /// previous tap). Back-pressure covers it: input waits while the tap lacks room.
    pub fn add_tap(&mut self, tap: Producer) {
        self.tap = Some(tap);
    }

    /// Inject a `HEARTBEAT` on the core thread after `interval_ns` of wall time without input
    /// (`None` = never, the default).
    pub fn set_heartbeat(&mut self, interval_ns: Option<u64>) {
        self.heartbeat_ns = interval_ns.filter(|&n| n > 0);
    }

    /// The heartbeat interval.
    pub fn heartbeat(&self) -> Option<u64> {
        self.heartbeat_ns
    }

    /// Heartbeats injected so far.
    pub fn heartbeats(&self) -> u64 {
        self.heartbeats
    }

    /// Process one synthetic `HEARTBEAT` with this `ts_recv` now (what the core thread does
    /// when idle). Returns `false`, doing nothing, in the middle of an input message or when
    /// the output (or tap) ring lacks room for its outputs.
    pub fn inject_heartbeat(&mut self, ts_recv: i64) -> bool {
        if self.in_message || self.room() == 0 {
            return false;
        }
        let rec = Record {
            kind: kind::HEARTBEAT,
            flags: flags::END,
            source: HEARTBEAT_SOURCE,
            instrument: 0,
            side: 255,
            ts_recv,
            ts_send: monotonic_ns(),
            ..Record::ZERO
        };
        if let Some(j) = self.journal.as_deref_mut() {
            if j.error.is_some() {
                return false;
            }
            let Runner { core, out, tap, .. } = self;
            let mut sink = RingSink::<true> { out, hash: j.hash, tap: tap.as_mut(), quotes: 0, rfq: None, answered: false };
            core.process(&rec, &mut sink);
            j.hash = sink.hash;
            if let Err(e) = j.writer.append_marked(&rec, j.hash.value()) {
                j.error = Some(e);
            }
            self.heartbeats += 1;
            self.journal_commit();
            return true;
        }
        let Runner { core, out, tap, .. } = self;
        let mut sink = RingSink::<false> { out, hash: OutputHash::new(), tap: tap.as_mut(), quotes: 0, rfq: None, answered: false };
        core.process(&rec, &mut sink);
        self.heartbeats += 1;
        true
    }

    /// Input records the output (and tap) rings have room for now.
    #[inline]
    fn room(&self) -> usize {
        let max_out = self.core.max_out_per_record().max(1);
        let mut free = self.out.free_slots();
        if let Some(t) = &self.tap {
            free = free.min(t.free_slots());
        }
        free / max_out
    }

    /// Register an input ring; returns its index (its place in the merge order).
    pub fn add_input(&mut self, input: Consumer) -> usize {
        self.inputs.push(input);
        self.inputs.len() - 1
    }

    /// Number of input rings.
    pub fn inputs(&self) -> usize {
        self.inputs.len()
    }

    /// The core (read-only).
    pub fn core(&self) -> &Core {
        &self.core
    }

    /// The core (mutable; only while no thread runs it).
    pub fn core_mut(&mut self) -> &mut Core {
        &mut self.core
    }

    /// Tick-to-quote latency: from a record's `ts_send` (stamped by its producer) to the moment
    /// the quotes it caused were published on the output ring, in ns. Measured by the runner,
    /// outside the deterministic core (the core never reads a clock).
    pub fn tick_to_quote(&self) -> &Histogram<u64> {
        &self.tick_to_quote
    }

    /// RFQ-to-quote latency: from an `RFQ` record's `ts_send` to the moment its answer
    /// (`RFQ_QUOTE`, `RFQ_REJECT` or `APPROVAL_PENDING`) was published, in ns.
    pub fn rfq_to_quote(&self) -> &Histogram<u64> {
        &self.rfq_to_quote
    }

    /// Forget the latency recorded so far (both histograms).
    pub fn reset_latency(&mut self) {
        self.tick_to_quote.reset();
        self.rfq_to_quote.reset();
    }

    /// Times the runner found the output ring too full to consume input.
    pub fn out_waits(&self) -> u64 {
        self.out_waits
    }

    /// Consume what the input rings hold now, up to `budget` records. Returns the number of
    /// records processed (0 = nothing to do, or the output ring is full).
    pub fn run_once(&mut self, budget: usize) -> usize {
        let n = self.inputs.len();
        if n == 0 {
            return 0;
        }
        let mut done = 0;
        let mut idle_rings = 0;
        while done < budget && idle_rings < n {
            let (processed, out_full) = self.drain_current(budget - done);
            done += processed;
            if out_full {
                self.out_waits += 1;
                break;
            }
            if self.in_message {
                if processed == 0 {
                    break; // the producer has not published the rest of the message yet
                }
                continue;
            }
            self.current = (self.current + 1) % n;
            idle_rings = if processed == 0 { idle_rings + 1 } else { 0 };
        }
        done
    }

    /// Process records of the current ring: up to `batch` (or `budget`), extended to the end
    /// of the current message. Returns `(processed, output ring too full)`.
    #[inline]
    fn drain_current(&mut self, budget: usize) -> (usize, bool) {
        if self.journal.is_some() {
            return self.drain_current_journaled(budget);
        }
        let room = self.room();
        if room == 0 {
            return (0, true);
        }
        let want = room.min(budget.max(1));
        let Runner { core, inputs, out, current, in_message, batch, tick_to_quote, rfq_to_quote, tap, .. } = self;
        let chunk = inputs[*current].peek(want);
        let mut sink = RingSink::<false> { out, hash: OutputHash::new(), tap: tap.as_mut(), quotes: 0, rfq: None, answered: false };
        let mut used = 0;
        let (a, b) = chunk.as_slices();
        for rec in a.iter().chain(b.iter()) {
            sink.rfq = (rec.kind == kind::RFQ).then_some((rec.source, rec.seq));
            core.process(rec, &mut sink);
            if sink.quotes != 0 {
                sink.quotes = 0;
                if rec.ts_send > 0 {
                    let ns = (monotonic_ns() - rec.ts_send).clamp(1, MAX_LATENCY_NS as i64) as u64;
                    tick_to_quote.saturating_record(ns);
                }
            }
            if sink.answered {
                sink.answered = false;
                if rec.ts_send > 0 {
                    let ns = (monotonic_ns() - rec.ts_send).clamp(1, MAX_LATENCY_NS as i64) as u64;
                    rfq_to_quote.saturating_record(ns);
                }
            }
            used += 1;
            *in_message = rec.flags & flags::END == 0;
            if used >= *batch && !*in_message {
                break;
            }
        }
        chunk.commit_n(used);
        (used, false)
    }

    /// [`Runner::drain_current`] with a journal: outputs staged, records journaled and
    /// committed, outputs published once durable.
    fn drain_current_journaled(&mut self, budget: usize) -> (usize, bool) {
        if self.journal.as_ref().is_some_and(|j| j.error.is_some()) {
            return (0, true); // fail-stop: nothing more is consumed or published
        }
        let mut room = self.room();
        if room == 0 && self.out.staged() + self.tap.as_ref().map_or(0, Producer::staged) > 0 {
            self.flush_journal(); // group commit: the staged outputs fill the ring
            room = self.room();
        }
        if room == 0 {
            return (0, true);
        }
        let want = room.min(budget.max(1));
        let Runner { core, inputs, out, current, in_message, batch, tap, journal, .. } = self;
        let j = journal.as_deref_mut().expect("journaled");
        let chunk = inputs[*current].peek(want);
        let mut sink = RingSink::<true> { out, hash: j.hash, tap: tap.as_mut(), quotes: 0, rfq: None, answered: false };
        let mut used = 0;
        let (a, b) = chunk.as_slices();
        for rec in a.iter().chain(b.iter()) {
            sink.rfq = (rec.kind == kind::RFQ).then_some((rec.source, rec.seq));
            core.process(rec, &mut sink);
            if let Err(e) = j.writer.append_marked(rec, sink.hash.value()) {
                j.error.get_or_insert(e);
            }
            if sink.quotes != 0 {
                sink.quotes = 0;
                if rec.ts_send > 0 && j.lat.len() < j.lat.capacity() {
                    j.lat.push((rec.ts_send, 0));
                }
            }
            if sink.answered {
                sink.answered = false;
                if rec.ts_send > 0 && j.lat.len() < j.lat.capacity() {
                    j.lat.push((rec.ts_send, 1));
                }
            }
            used += 1;
            *in_message = rec.flags & flags::END == 0;
            if used >= *batch && !*in_message {
                break;
            }
        }
        j.hash = sink.hash;
        chunk.commit_n(used);
        self.journal_commit();
        (used, false)
    }

    /// Move the runner onto its own thread (the core thread). `idle` is what the thread does
    /// when no ring has work. Commands are served between messages.
    pub fn spawn(self, idle: IdleKind) -> std::io::Result<RunnerHandle> {
        let (tx, rx) = channel::<Command>();
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = Arc::clone(&stop);
        let join = std::thread::Builder::new().name("rfqcore-core".into()).spawn(move || core_loop(self, rx, stop2, idle))?;
        Ok(RunnerHandle { tx, stop, join: Some(join) })
    }

    fn serve(&mut self, cmd: Command) {
        // Nothing the core knows is shown to anyone before it is journaled.
        self.flush_journal();
        match cmd {
            Command::Query(f) => f(&self.core),
            Command::Mutate(f) => f(&mut self.core),
            Command::AddInput(c) => {
                self.add_input(c);
            }
            Command::Runner(f) => f(self),
            Command::AddTap(p) => self.add_tap(p),
        }
    }
}

fn core_loop(mut runner: Runner, rx: Receiver<Command>, stop: Arc<AtomicBool>, idle: IdleKind) -> Runner {
    runner.core.prefault();
    let mut idle = idle.strategy();
    let mut cycle: u32 = 0;
    let mut last_work = monotonic_ns();
    loop {
        let mut work = runner.run_once(4096);
        if runner.journal.is_some() {
            runner.poll_journal();
        }
        cycle = cycle.wrapping_add(1);
        if let Some(iv) = runner.heartbeat_ns {
            let t = monotonic_ns();
            if work > 0 {
                last_work = t;
            } else if t.saturating_sub(last_work) >= iv as i64 && runner.inject_heartbeat(realtime_ns()) {
                last_work = t;
                work = 1;
            }
        }
        if work == 0 || cycle.is_multiple_of(64) {
            while let Ok(cmd) = rx.try_recv() {
                runner.serve(cmd);
            }
            if stop.load(Ordering::Acquire) {
                // Finish what was published before the stop: nothing acknowledged is dropped.
                while runner.run_once(usize::MAX) > 0 {}
                while let Ok(cmd) = rx.try_recv() {
                    runner.serve(cmd);
                }
                runner.flush_journal();
                return runner;
            }
        }
        idle.idle(work);
    }
}

/// A running core thread.
pub struct RunnerHandle {
    tx: Sender<Command>,
    stop: Arc<AtomicBool>,
    join: Option<JoinHandle<Runner>>,
}

impl RunnerHandle {
    /// Send a command; it runs on the core thread between messages.
    pub fn send(&self, cmd: Command) -> bool {
        self.tx.send(cmd).is_ok()
    }

    /// Run `f` on the core thread and wait for its answer. `None` if the thread is gone.
    pub fn query<T: Send + 'static>(&self, f: impl FnOnce(&Core) -> T + Send + 'static) -> Option<T> {
        let (rtx, rrx) = channel();
        self.send(Command::Query(Box::new(move |c| {
            let _ = rtx.send(f(c));
        })));
        rrx.recv().ok()
    }

    /// Run `f` mutably on the core thread and wait for its answer.
    pub fn mutate<T: Send + 'static>(&self, f: impl FnOnce(&mut Core) -> T + Send + 'static) -> Option<T> {
        let (rtx, rrx) = channel();
        self.send(Command::Mutate(Box::new(move |c| {
            let _ = rtx.send(f(c));
        })));
        rrx.recv().ok()
    }

    /// Run `f` on the core thread with the runner itself and wait for its answer.
    pub fn with_runner<T: Send + 'static>(&self, f: impl FnOnce(&mut Runner) -> T + Send + 'static) -> Option<T> {
        let (rtx, rrx) = channel();
        self.send(Command::Runner(Box::new(move |r| {
            let _ = rtx.send(f(r));
        })));
        rrx.recv().ok()
    }

    /// Stop the thread after it has drained its inputs, and take the runner back.
    pub fn stop(mut self) -> std::thread::Result<Runner> {
        self.stop.store(true, Ordering::Release);
        self.join.take().expect("joined once").join()
    }
}

impl Drop for RunnerHandle {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(j) = self.join.take() {
            let _ = j.join();
        }
    }
}
