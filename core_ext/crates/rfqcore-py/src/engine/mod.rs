//! `Engine`: the core thread, seen from Python.
//!
//! While stopped, calls reach the core directly. While the core thread runs, queries and
//! parameter changes are sent to it as commands and answered between two messages, with the
//! GIL released: Python never touches trading state concurrently with the core.
//!
//! - `mod.rs`: the engine's state (stopped runner / running thread) and access to the core;
//! - [`build`]: the core from the Python config dicts, its fingerprint, the journal policy;
//! - `api.rs`: the Python methods (results cross the boundary in `crate::conversion`).
mod api;
pub mod build;

use crate::errors::RfqCoreError;
use pyo3::prelude::*;
use rfq_engine::{Core, Runner, RunnerHandle};
use rfq_ring::IdleKind;
use std::sync::atomic::AtomicBool;
use std::sync::{Mutex, MutexGuard, TryLockError};

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
    pub(crate) journaled: AtomicBool,
}

fn thread_gone() -> PyErr {
    RfqCoreError::new_err("core thread is gone")
}

fn poisoned() -> PyErr {
    RfqCoreError::new_err("core thread panicked; engine unusable")
}

impl Engine {
    /// Take the state lock without ever blocking while attached to the interpreter: a thread
    /// holding the lock re-attaches (waits for the GIL) after a detached core query, so
    /// waiting for the lock with the GIL held would deadlock with it.
    fn lock_state(&self, py: Python<'_>) -> PyResult<MutexGuard<'_, State>> {
        loop {
            match self.state.try_lock() {
                Ok(g) => return Ok(g),
                Err(TryLockError::Poisoned(_)) => return Err(RfqCoreError::new_err("engine lock poisoned")),
                Err(TryLockError::WouldBlock) => py.detach(std::thread::yield_now),
            }
        }
    }

    /// `f` on the core: directly while stopped, as a query between two messages while running.
    fn with_core<T: Send + 'static>(&self, py: Python<'_>, f: impl FnOnce(&Core) -> T + Send + 'static) -> PyResult<T> {
        let guard = self.lock_state(py)?;
        match &*guard {
            State::Stopped(r) => Ok(f(r.core())),
            State::Running(h) => py.detach(|| h.query(f)).ok_or_else(thread_gone),
            State::Poisoned => Err(poisoned()),
        }
    }

    /// `f` changing the core (see [`Engine::with_core`]).
    fn with_core_mut<T: Send + 'static>(&self, py: Python<'_>, f: impl FnOnce(&mut Core) -> T + Send + 'static) -> PyResult<T> {
        let mut guard = self.lock_state(py)?;
        match &mut *guard {
            State::Stopped(r) => Ok(f(r.core_mut())),
            State::Running(h) => py.detach(|| h.mutate(f)).ok_or_else(thread_gone),
            State::Poisoned => Err(poisoned()),
        }
    }

    /// `f` on the runner (journal, latency, heartbeats; see [`Engine::with_core`]).
    fn with_runner<T: Send + 'static>(&self, py: Python<'_>, f: impl FnOnce(&mut Runner) -> T + Send + 'static) -> PyResult<T> {
        let mut guard = self.lock_state(py)?;
        match &mut *guard {
            State::Stopped(r) => Ok(f(r)),
            State::Running(h) => py.detach(|| h.with_runner(f)).ok_or_else(thread_gone),
            State::Poisoned => Err(poisoned()),
        }
    }

    /// Register an input ring's consumer; its place in the merge order (unknown while running: `usize::MAX`).
    fn add_consumer(&self, py: Python<'_>, consumer: rfq_ring::Consumer) -> PyResult<usize> {
        let mut guard = self.lock_state(py)?;
        match &mut *guard {
            State::Stopped(r) => Ok(r.add_input(consumer)),
            State::Running(h) => {
                let done = py.detach(|| {
                    h.send(rfq_engine::Command::AddInput(consumer));
                    h.query(|_| ())
                });
                done.ok_or_else(thread_gone)?;
                Ok(usize::MAX)
            }
            State::Poisoned => Err(poisoned()),
        }
    }

    /// Start the core thread (no-op if running).
    fn spawn(&self, py: Python<'_>) -> PyResult<()> {
        let mut guard = self.lock_state(py)?;
        if let State::Stopped(_) = &*guard {
            let State::Stopped(runner) = std::mem::replace(&mut *guard, State::Poisoned) else { unreachable!() };
            let handle = runner.spawn(self.idle).map_err(|e| RfqCoreError::new_err(format!("spawn: {e}")))?;
            *guard = State::Running(handle);
        }
        Ok(())
    }

    /// Stop the core thread after it drained its inputs (no-op if stopped).
    fn join(&self, py: Python<'_>) -> PyResult<()> {
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

    /// `f` on the runner of a stopped engine; otherwise `refusal` is the error.
    pub(crate) fn with_stopped<T>(&self, py: Python<'_>, refusal: &str, f: impl FnOnce(&mut Runner) -> PyResult<T>) -> PyResult<T> {
        let mut guard = self.lock_state(py)?;
        match &mut *guard {
            State::Stopped(r) => f(r),
            _ => Err(RfqCoreError::new_err(refusal.to_owned())),
        }
    }
}
