//! The core thread: [`Runner::spawn`], its loop (merge, publication, heartbeats, commands
//! between messages, the idle strategy, the drain at stop) and the [`RunnerHandle`] that
//! talks to it.

use super::heartbeat::realtime_ns;
use super::Runner;
use crate::core::Core;
use rfq_ring::clock::monotonic_ns;
use rfq_ring::{Consumer, IdleKind, IdleStrategy, Producer};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;

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

impl Runner {
    /// Move the runner onto its own thread (the core thread). `idle` is what the thread does
    /// when no ring has work. Commands are served between messages.
    pub fn spawn(mut self, idle: IdleKind) -> std::io::Result<RunnerHandle> {
        self.threaded = true;
        if let Err(e) = self.apply_sync_thread() {
            return Err(std::io::Error::other(e.to_string()));
        }
        let (tx, rx) = channel::<Command>();
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = Arc::clone(&stop);
        let join = std::thread::Builder::new().name("rfqcore-core".into()).spawn(move || core_loop(self, rx, stop2, idle))?;
        Ok(RunnerHandle { tx, stop, join: Some(join) })
    }

    /// Serves one command, between messages, once everything the core did is journaled.
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

    /// The core thread's last steps at stop: finish what was published before the stop
    /// (nothing acknowledged is dropped: staged outputs filling the out ring are made durable
    /// and published first), serve the commands left, and hand the journal back to inline I/O.
    fn finish(&mut self, rx: &Receiver<Command>) {
        loop {
            if self.run_once(usize::MAX) > 0 {
                continue;
            }
            self.flush_journal();
            if self.run_once(usize::MAX) == 0 {
                break;
            }
        }
        while let Ok(cmd) = rx.try_recv() {
            self.serve(cmd);
        }
        self.flush_journal();
        self.reap_snapshot(true);
        if let Some(j) = self.journal.as_deref_mut() {
            j.set_wake(None);
        }
        // back to inline journal I/O unless chosen explicitly (an error is kept)
        self.threaded = false;
        let _ = self.apply_sync_thread();
    }
}

/// The core thread: merge and publish, heartbeats when idle, commands between messages.
fn core_loop(mut runner: Runner, rx: Receiver<Command>, stop: Arc<AtomicBool>, idle: IdleKind) -> Runner {
    runner.core.prefault();
    if let Some(j) = runner.journal.as_deref_mut() {
        // the sync thread, the cluster (as the gate moves) and the proposer (as it frees
        // block-ring space) unpark us
        j.set_wake(Some(std::thread::current()));
    }
    let mut idle = idle.strategy();
    let mut cycle: u32 = 0;
    let mut last_work = monotonic_ns();
    loop {
        let mut work = runner.run_once(4096);
        let published = if runner.journal.is_some() { runner.poll_journal_published() } else { 0 };
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
                runner.finish(&rx);
                return runner;
            }
        }
        idle.idle(work + published);
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
