//! `NativeGateway`: the Rust Aeron gateway (crate rfq-gateway) as a thread of the calling
//! process. Python (rfqcore.gateway.native) passes the settings in, starts and stops it, reads
//! its counters and forwards its log lines; the duty cycle never takes the GIL.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::Duration;

use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use rfq_gateway::wire::reject;
use rfq_gateway::{Config, Idle, Principal, Settings, Shared, Stats};

/// Frozen (every method takes `&self`): `stats()` from a metrics scrape, `take_logs()` from the
/// log forwarder and `stop()` may run at the same time on different Python threads.
#[pyclass(module = "rfqcore_core", frozen)]
pub struct NativeGateway {
    cfg: Mutex<Option<Config>>,
    handle: Mutex<Option<JoinHandle<()>>>,
    shared: OnceLock<Arc<Shared>>,
    final_stats: Mutex<Option<Stats>>,
}

fn poisoned<T>(_: T) -> PyErr {
    PyRuntimeError::new_err("the native gateway's state is poisoned (a thread panicked)")
}

fn stats_dict<'py>(py: Python<'py>, s: &Stats) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("in", s.n_in)?;
    d.set_item("out", s.n_out)?;
    d.set_item("pushed", s.pushed)?;
    d.set_item("tap_records", s.tap_records)?;
    d.set_item("logons", s.logons)?;
    d.set_item("logouts", s.logouts)?;
    d.set_item("sessions", s.sessions_client + s.sessions_operator)?;
    let by = PyDict::new(py);
    by.set_item("client", s.sessions_client)?;
    by.set_item("operator", s.sessions_operator)?;
    d.set_item("sessions_by_role", by)?;
    for (key, counts) in [("rejects", &s.rejects), ("unanswerable", &s.unanswerable)] {
        let r = PyDict::new(py);
        for (code, &n) in counts.iter().enumerate() {
            if n > 0 {
                r.set_item(reject::NAMES[code], n)?;
            }
        }
        d.set_item(key, r)?;
    }
    d.set_item("ring_full", s.ring_full)?;
    d.set_item("ring_backlog", s.ring_backlog)?;
    d.set_item("offer_backlogged", s.offer_backlogged)?;
    d.set_item("not_connected_drops", s.not_connected_drops)?;
    d.set_item("no_session_drops", s.no_session_drops)?;
    d.set_item("slow_consumer_disconnects", s.slow_consumer_disconnects)?;
    d.set_item("backlog_dropped", s.backlog_dropped)?;
    d.set_item("images_gone", s.images_gone)?;
    d.set_item("sessions_ended_image_gone", s.sessions_ended_image_gone)?;
    d.set_item("internal_errors", s.internal_errors)?;
    d.set_item("resent", s.resent)?;
    d.set_item("status_queries", s.status_queries)?;
    d.set_item("out_backlog", s.out_backlog)?;
    match s.core_hop {
        Some([count, p50, p99, p999, max]) => {
            let h = PyDict::new(py);
            h.set_item("count", count)?;
            h.set_item("p50", p50)?;
            h.set_item("p99", p99)?;
            h.set_item("p999", p999)?;
            h.set_item("max", max)?;
            d.set_item("core_hop", h)?;
        }
        None => d.set_item("core_hop", py.None())?,
    }
    d.set_item("gateway_out_counts", s.out_latency.clone())?;
    d.set_item("native", true)?;
    Ok(d)
}

#[pymethods]
impl NativeGateway {
    /// `principals`: `(role, id, name, secret)` with role 0 = client, 1 = operator.
    #[new]
    #[pyo3(signature = (*, aeron_dir, channel, response_channel, request_stream, response_stream_base,
                        operator_stream, input_ring, tap_ring, principals, logon_window_ns=30_000_000_000,
                        offer_retries=64, backlog_limit=65536, fragment_limit=32, idle="spin", idle_spins=1000,
                        cpu=None, measure_core_hop=false, executions=Vec::new()))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        aeron_dir: String,
        channel: String,
        response_channel: String,
        request_stream: i32,
        response_stream_base: i32,
        operator_stream: i32,
        input_ring: PathBuf,
        tap_ring: PathBuf,
        principals: Vec<(u8, u16, String, Vec<u8>)>,
        logon_window_ns: i64,
        offer_retries: u32,
        backlog_limit: usize,
        fragment_limit: usize,
        idle: &str,
        idle_spins: u64,
        cpu: Option<usize>,
        measure_core_hop: bool,
        executions: Vec<(u16, [i64; 11])>,
    ) -> PyResult<Self> {
        let idle = match idle {
            "spin" => Idle::Spin,
            "yield" => Idle::Yield,
            "sleep" => Idle::Sleep,
            other => return Err(PyValueError::new_err(format!("idle {other:?}: use spin, yield or sleep"))),
        };
        let principals = principals
            .into_iter()
            .map(|(role, id, name, secret)| Principal { role, id, name, secret })
            .collect();
        let settings = Settings {
            principals,
            response_stream_base,
            operator_stream,
            logon_window_ns,
            offer_retries,
            backlog_limit,
            measure_core_hop,
            executions,
        };
        Ok(NativeGateway {
            cfg: Mutex::new(Some(Config {
                aeron_dir,
                channel,
                response_channel,
                request_stream,
                input_ring,
                tap_ring,
                settings,
                fragment_limit: fragment_limit.max(1),
                idle,
                idle_spins,
                cpu,
            })),
            handle: Mutex::new(None),
            shared: OnceLock::new(),
            final_stats: Mutex::new(None),
        })
    }

    /// Starts the agent thread; returns once it listens. Raises RuntimeError with the reason
    /// it could not (rings, media driver, streams).
    fn start(&self, py: Python<'_>) -> PyResult<()> {
        let cfg = self.cfg.lock().map_err(poisoned)?.take();
        let cfg = cfg.ok_or_else(|| PyRuntimeError::new_err("the native gateway was already started"))?;
        let (handle, shared) = py.detach(move || rfq_gateway::spawn(cfg)).map_err(PyRuntimeError::new_err)?;
        *self.handle.lock().map_err(poisoned)? = Some(handle);
        let _ = self.shared.set(shared);
        Ok(())
    }

    /// The counters (the keys of `rfqcore.gateway.server.Gateway.stats()`, plus `native`,
    /// `images_gone`, `sessions_ended_image_gone`).
    #[pyo3(signature = (reset_histograms=false, timeout=5.0))]
    fn stats<'py>(&self, py: Python<'py>, reset_histograms: bool, timeout: f64) -> PyResult<Bound<'py, PyDict>> {
        if let Some(s) = self.final_stats.lock().map_err(poisoned)?.as_ref() {
            return stats_dict(py, s);
        }
        let shared = self.shared.get().ok_or_else(|| PyRuntimeError::new_err("the native gateway is not running"))?;
        let sh = Arc::clone(shared);
        let st = py.detach(move || sh.stats(reset_histograms, Duration::from_secs_f64(timeout.max(0.0))));
        match st {
            Some(s) => stats_dict(py, &s),
            None => Err(PyRuntimeError::new_err("the native gateway did not answer a stats request")),
        }
    }

    /// Log lines since the last call, as `(level, text)` with Python's levels.
    fn take_logs(&self) -> Vec<(u8, String)> {
        self.shared.get().map_or_else(Vec::new, |s| s.take_logs().into_iter().map(|l| (l.level, l.text)).collect())
    }

    /// True while the agent thread runs.
    fn is_alive(&self) -> bool {
        self.handle.lock().is_ok_and(|h| h.as_ref().is_some_and(|h| !h.is_finished()))
    }

    /// Stops the agent (it closes its publications, subscription and Aeron client) and returns
    /// its last counters. Idempotent.
    fn stop<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyDict>>> {
        let handle = self.handle.lock().map_err(poisoned)?.take();
        if let (Some(handle), Some(shared)) = (handle, self.shared.get()) {
            shared.request_stop();
            let sh = Arc::clone(shared);
            let last = py.detach(move || {
                let _ = handle.join();
                sh.last_stats()
            });
            *self.final_stats.lock().map_err(poisoned)? = last;
        }
        let last = self.final_stats.lock().map_err(poisoned)?.clone();
        last.as_ref().map(|s| stats_dict(py, s)).transpose()
    }
}
