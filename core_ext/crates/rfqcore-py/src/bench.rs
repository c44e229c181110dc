//! Benchmark helpers for `bench/` (not part of the trading API): compiled only with the cargo
//! feature `bench`, which `make bench` turns on (`make build` / `make test` leave it off).
//!
//! [`bench_ring_drain`] is a Rust consumer that spins on a ring file until it has consumed `n`
//! records and measures one-way latency as `CLOCK_MONOTONIC now − record timestamp`, so a Python
//! or Cython producer can be measured against the real Rust read path. `ts_send` is stamped by
//! the Cython producer with `clock_gettime(CLOCK_MONOTONIC)` (`rfq_monotonic_ns` in
//! `core_ext/cython/rfq_ring.h`); this side reads the same clock through
//! [`rfq_ring::clock::monotonic_ns`].

use std::hint::spin_loop;

use hdrhistogram::Histogram;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use rfq_ring::clock::monotonic_ns;
use rfq_ring::Record;

use crate::conversion::ToDict;
use crate::errors::ring_err;

/// Which record field holds the producer's *intended* send time (monotonic ns).
#[derive(Clone, Copy)]
enum Field {
    TsEvent,
    TsRecv,
    Aux,
    Price,
}

impl Field {
    fn parse(s: &str) -> PyResult<Field> {
        match s {
            "ts_event" => Ok(Field::TsEvent),
            "ts_recv" => Ok(Field::TsRecv),
            "aux" => Ok(Field::Aux),
            "price" => Ok(Field::Price),
            _ => Err(PyValueError::new_err(format!(
                "intended_field must be 'ts_event', 'ts_recv', 'aux' or 'price', got {s:?}"
            ))),
        }
    }

    #[inline]
    fn get(self, r: &Record) -> i64 {
        match self {
            Field::TsEvent => r.ts_event,
            Field::TsRecv => r.ts_recv,
            Field::Aux => r.aux,
            Field::Price => r.price,
        }
    }
}

fn new_hist() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000_000, 3).expect("valid histogram bounds")
}

struct Drain {
    consumed: u64,
    timed_out: bool,
    seq_errors: u64,
    negative: u64,
    t_start: i64,
    t_first: i64,
    t_last: i64,
    send: Histogram<u64>,
    intended: Option<Histogram<u64>>,
}

fn drain(
    mut c: rfq_ring::Consumer,
    n: u64,
    timeout_ns: i64,
    field: Option<Field>,
    warmup: u64,
    seq_period: u64,
    batch: usize,
) -> Drain {
    let t_start = monotonic_ns();
    let deadline = t_start.saturating_add(timeout_ns);
    let mut d = Drain {
        consumed: 0,
        timed_out: false,
        seq_errors: 0,
        negative: 0,
        t_start,
        t_first: 0,
        t_last: 0,
        send: new_hist(),
        intended: field.map(|_| new_hist()),
    };
    let mut idle: u32 = 0;
    while d.consumed < n {
        let chunk = c.peek(batch.min((n - d.consumed) as usize));
        if chunk.is_empty() {
            idle = idle.wrapping_add(1);
            if idle & 63 == 0 && monotonic_ns() > deadline {
                d.timed_out = true;
                break;
            }
            spin_loop();
            continue;
        }
        let now = monotonic_ns();
        if d.consumed == 0 {
            d.t_first = now;
        }
        for r in chunk.iter() {
            if seq_period != 0 && r.seq != d.consumed % seq_period {
                d.seq_errors += 1;
            }
            if d.consumed >= warmup {
                let lat = now - r.ts_send;
                d.negative += u64::from(lat < 0);
                d.send.saturating_record(lat.max(1) as u64);
                if let (Some(h), Some(f)) = (d.intended.as_mut(), field) {
                    let lat = now - f.get(r);
                    d.negative += u64::from(lat < 0);
                    h.saturating_record(lat.max(1) as u64);
                }
            }
            d.consumed += 1;
        }
        chunk.commit();
        d.t_last = now;
    }
    d
}

/// Consume `n_records` from the ring file at `path` on the calling thread (GIL released),
/// busy-spinning while the ring is empty, and measure one-way latency.
///
/// Latency of a record = CLOCK_MONOTONIC when the consumer sees it − `ts_send` (histogram
/// `latency_send`), and, if `intended_field` names a field holding the producer's intended send
/// time (monotonic ns), also − that field (`latency_intended`, coordinated-omission-correct).
/// The first `warmup` records are consumed but not recorded. With `seq_period > 0`, record `i`
/// must carry `seq == i % seq_period` (mismatches are counted in `seq_errors`).
///
/// Returns a dict: `consumed`, `timed_out`, `seq_errors`, `negative_latencies`,
/// `t_start_ns`/`t_first_ns`/`t_last_ns` (monotonic: call start, first and last record seen),
/// `elapsed_ns` (first to last record), `latency_send` and optionally `latency_intended`
/// (`count`, `min`, `mean`, `p50`, `p90`, `p99`, `p999`, `p9999`, `max`, ns). Stops early with
/// `timed_out=True` after `timeout_s` seconds.
#[pyfunction]
#[pyo3(signature = (path, n_records, timeout_s = 30.0, intended_field = None, warmup = 0, seq_period = 0, batch = 4096))]
#[allow(
    clippy::too_many_arguments,
    reason = "keyword arguments of a Python entry point"
)]
fn bench_ring_drain<'py>(
    py: Python<'py>,
    path: &str,
    n_records: u64,
    timeout_s: f64,
    intended_field: Option<&str>,
    warmup: u64,
    seq_period: u64,
    batch: usize,
) -> PyResult<Bound<'py, PyDict>> {
    if timeout_s.is_nan() || timeout_s <= 0.0 {
        return Err(PyValueError::new_err(format!(
            "timeout_s must be > 0, got {timeout_s}"
        )));
    }
    let field = intended_field.map(Field::parse).transpose()?;
    let consumer = rfq_ring::open_consumer(path).map_err(ring_err)?;
    let timeout_ns = (timeout_s * 1e9).min(i64::MAX as f64) as i64;
    let batch = batch.max(1);
    let r = py.detach(move || {
        drain(
            consumer, n_records, timeout_ns, field, warmup, seq_period, batch,
        )
    });
    let d = PyDict::new(py);
    d.set_item("consumed", r.consumed)?;
    d.set_item("timed_out", r.timed_out)?;
    d.set_item("seq_errors", r.seq_errors)?;
    d.set_item("negative_latencies", r.negative)?;
    d.set_item("t_start_ns", r.t_start)?;
    d.set_item("t_first_ns", r.t_first)?;
    d.set_item("t_last_ns", r.t_last)?;
    d.set_item("elapsed_ns", r.t_last - r.t_first)?;
    d.set_item("latency_send", r.send.to_dict(py)?)?;
    if let Some(h) = &r.intended {
        d.set_item("latency_intended", h.to_dict(py)?)?;
    }
    Ok(d)
}

/// CLOCK_MONOTONIC in ns as Rust reads it (to check it agrees with the Cython/Python clock).
#[pyfunction]
fn bench_monotonic_ns() -> i64 {
    monotonic_ns()
}

/// Adds the benchmark helpers to the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(bench_ring_drain, m)?)?;
    m.add_function(wrap_pyfunction!(bench_monotonic_ns, m)?)?;
    Ok(())
}
