//! The runner's RFQ features: the tap ring (copies of kinds 110..=120, covered by
//! back-pressure), injected heartbeats (quotes expire in an idle system) and the
//! rfq-to-quote and gateway-in latency histograms.

mod common;

use common::*;
use rfq_engine::{Core, Runner, HEARTBEAT_SOURCE};
use rfq_ring::clock::monotonic_ns;
use rfq_ring::record::{kind, quote_end};
use rfq_ring::{Consumer, IdleKind, Record, RingFile};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

fn drain(c: &mut Consumer) -> Vec<Record> {
    let mut v = Vec::new();
    while let Some(r) = c.try_pop() {
        v.push(r);
    }
    v
}

#[test]
fn tap_gets_rfq_outputs_and_main_ring_everything() {
    let core = Core::new(config()).unwrap();
    let (out_p, mut out_c) = RingFile::anonymous(4096).unwrap().split();
    let (tap_p, mut tap_c) = RingFile::anonymous(1024).unwrap().split();
    let (mut in_p, in_c) = RingFile::anonymous(1024).unwrap().split();
    let mut runner = Runner::new(core, out_p);
    runner.add_input(in_c);
    runner.add_tap(tap_p);
    in_p.push_slice(&snapshot(1, T0));
    // quote id 1 for client RFQ id 42; a refused RFQ and an approval would be samples too
    let mut r = rfq(1, 255, BTC, 42, T0);
    r.ts_send = monotonic_ns();
    in_p.push_slice(&[r, rfq(99, 0, BTC, 1, T0)]);
    while runner.run_once(usize::MAX) > 0 {}
    let main = drain(&mut out_c);
    let tap = drain(&mut tap_c);
    assert!(main.iter().any(|r| r.kind == kind::QUOTE));
    assert_eq!(tap.iter().map(|r| r.kind).collect::<Vec<_>>(), vec![kind::RFQ_QUOTE, kind::RFQ_QUOTE, kind::RFQ_REJECT]);
    let main_rfq: Vec<Record> = main.into_iter().filter(|r| (110..=120).contains(&r.kind)).collect();
    assert_eq!(main_rfq, tap);
    // one RFQ carried a send time: one latency sample
    assert_eq!(runner.rfq_to_quote().len(), 1);
    let mut bad = rfq(99, 0, BTC, 7, T0);
    bad.ts_send = monotonic_ns();
    in_p.push_slice(&[bad]);
    while runner.run_once(usize::MAX) > 0 {}
    assert_eq!(runner.rfq_to_quote().len(), 2, "a reject is an answer too");
    runner.reset_latency();
    assert_eq!(runner.rfq_to_quote().len(), 0);
}

#[test]
fn a_prefilled_tap_hands_earlier_answers_first_and_keeps_half_the_ring_for_the_core() {
    let core = Core::new(config()).unwrap();
    let (out_p, _out_c) = RingFile::anonymous(4096).unwrap().split();
    assert!(2 * core.max_out_per_record() <= 512);
    let (tap_p, mut tap_c) = RingFile::anonymous(1024).unwrap().split();
    let (mut in_p, in_c) = RingFile::anonymous(1024).unwrap().split();
    let mut runner = Runner::new(core, out_p);
    assert_eq!(runner.prefill_tap(&[rfq(1, 0, BTC, 1, T0)]), 0, "no tap: nothing pushed");
    runner.add_input(in_c);
    runner.add_tap(tap_p);
    // earlier answers (a cluster's committed ones): only the newest half-ring's worth goes in
    let earlier: Vec<Record> = (0..600u64)
        .map(|i| {
            let mut r = rfq(1, 255, BTC, 1000 + i, T0);
            r.kind = kind::QUOTE_END;
            r
        })
        .collect();
    assert_eq!(runner.prefill_tap(&earlier), 512);
    in_p.push_slice(&snapshot(1, T0));
    in_p.push_slice(&[rfq(1, 255, BTC, 42, T0)]);
    while runner.run_once(usize::MAX) > 0 {}
    let tap = drain(&mut tap_c);
    assert_eq!(tap[..512], earlier[88..], "the newest earlier answers, first");
    assert_eq!(tap[512..].iter().map(|r| r.kind).collect::<Vec<_>>(), vec![kind::RFQ_QUOTE, kind::RFQ_QUOTE], "then the core's");
}

#[test]
fn gateway_in_counts_rfqs_stamped_with_an_earlier_client_send_time() {
    let core = Core::new(config()).unwrap();
    let (out_p, _out_c) = RingFile::anonymous(4096).unwrap().split();
    let (mut in_p, in_c) = RingFile::anonymous(1024).unwrap().split();
    let mut runner = Runner::new(core, out_p);
    runner.add_input(in_c);
    in_p.push_slice(&snapshot(1, T0));
    // sent 7 µs before the gateway handed it on; one stamped once (the API's way); one unstamped
    let mut sent = rfq(1, 255, BTC, 42, T0);
    sent.ts_event = T0 - 7_000;
    let mut same = rfq(1, 0, BTC, 43, T0);
    same.ts_event = T0;
    in_p.push_slice(&[sent, same, rfq(1, 1, BTC, 44, T0)]);
    while runner.run_once(usize::MAX) > 0 {}
    let h = runner.gateway_in();
    assert_eq!(h.len(), 1);
    assert!(h.equivalent(h.value_at_quantile(0.5), 7_000), "{}", h.value_at_quantile(0.5));
    runner.reset_latency();
    assert_eq!(runner.gateway_in().len(), 0);
}

#[test]
fn a_full_tap_holds_input_back_without_dropping() {
    let core = Core::new(config()).unwrap();
    let max_out = core.max_out_per_record();
    let (out_p, mut out_c) = RingFile::anonymous(4096).unwrap().split();
    let (tap_p, mut tap_c) = RingFile::anonymous(128).unwrap().split();
    let (mut in_p, in_c) = RingFile::anonymous(4096).unwrap().split();
    let mut runner = Runner::new(core, out_p);
    runner.add_input(in_c);
    runner.add_tap(tap_p);
    in_p.push_slice(&snapshot(1, T0));
    while runner.run_once(usize::MAX) > 0 {}
    drain(&mut out_c);
    // 300 refused RFQs: one tap record each; the tap holds 128 and nobody drains it
    let recs: Vec<Record> = (1..=300).map(|i| rfq(99, 0, BTC, i, T0)).collect();
    assert_eq!(in_p.push_slice(&recs), 300);
    let mut consumed = 0;
    for _ in 0..10 {
        consumed += runner.run_once(usize::MAX);
    }
    assert!(consumed < 300 && consumed >= 128 - max_out, "consumed {consumed}");
    assert!(runner.out_waits() > 0);
    let mut tap = Vec::new();
    for _ in 0..1000 {
        consumed += runner.run_once(usize::MAX);
        tap.extend(drain(&mut tap_c));
        drain(&mut out_c);
        if consumed == 300 {
            break;
        }
    }
    tap.extend(drain(&mut tap_c));
    assert_eq!(consumed, 300);
    assert_eq!(tap.iter().map(|r| r.seq).collect::<Vec<_>>(), (1..=300).collect::<Vec<_>>());
}

#[test]
fn injected_heartbeat_expires_quotes_inline() {
    let core = Core::new(config()).unwrap();
    let (out_p, mut out_c) = RingFile::anonymous(4096).unwrap().split();
    let (mut in_p, in_c) = RingFile::anonymous(1024).unwrap().split();
    let mut runner = Runner::new(core, out_p);
    runner.add_input(in_c);
    in_p.push_slice(&snapshot(1, T0));
    in_p.push_slice(&[rfq(1, 0, BTC, 1, T0)]);
    while runner.run_once(usize::MAX) > 0 {}
    drain(&mut out_c);
    assert!(runner.inject_heartbeat(T0 + TTL - 1));
    assert!(drain(&mut out_c).iter().all(|r| r.kind != kind::QUOTE_END));
    assert!(runner.inject_heartbeat(T0 + TTL));
    let out = drain(&mut out_c);
    let end = out.iter().find(|r| r.kind == kind::QUOTE_END).expect("expired");
    assert_eq!(end.aux, quote_end::EXPIRED);
    assert_eq!(runner.heartbeats(), 2);
    // never in the middle of a message
    let mut half = snapshot(1, T0 + TTL);
    half.pop();
    in_p.push_slice(&half);
    while runner.run_once(usize::MAX) > 0 {}
    assert!(!runner.inject_heartbeat(T0 + 2 * TTL));
}

#[test]
fn core_thread_injects_heartbeats_when_idle() {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as i64;
    let core = Core::new(config()).unwrap();
    let (out_p, mut out_c) = RingFile::anonymous(4096).unwrap().split();
    let (mut in_p, in_c) = RingFile::anonymous(1024).unwrap().split();
    let mut runner = Runner::new(core, out_p);
    runner.add_input(in_c);
    runner.set_heartbeat(Some(1_000_000));
    assert_eq!(runner.heartbeat(), Some(1_000_000));
    let handle = runner.spawn(IdleKind::Yield).unwrap();
    in_p.push_slice(&snapshot(1, now));
    in_p.push_slice(&[Record { aux: 5_000_000, ..rfq(1, 0, BTC, 1, now) }]); // 5 ms TTL
    let start = Instant::now();
    let mut seen = Vec::new();
    while start.elapsed() < Duration::from_secs(10) {
        seen.extend(drain(&mut out_c));
        if seen.iter().any(|r| r.kind == kind::QUOTE_END) {
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let end = seen.iter().find(|r| r.kind == kind::QUOTE_END).expect("the quote expired without any input");
    assert_eq!(end.aux, quote_end::EXPIRED);
    let runner = handle.stop().unwrap();
    assert!(runner.heartbeats() > 0);
    assert!(runner.core().now() >= now + 5_000_000);
    let _ = HEARTBEAT_SOURCE;
}
