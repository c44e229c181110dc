//! Properties over random venue histories (one per order):
//! - reported shuffled and duplicated, every order ends with filled = Σ distinct fills, the
//!   state the history implies, and positions = Σ distinct fills;
//! - with only part of the reports delivered, a reconciliation against the venue's snapshot
//!   books every fill exactly once and leaves no order open that the venue does not have.
use proptest::prelude::*;
use rfq_oms::*;
use std::collections::BTreeMap;
use OrderState as S;

#[derive(Clone, Debug)]
struct Spec {
    venue: VenueId,
    instrument: InstrumentId,
    side: Side,
    /// 0 rejected, 1 filled, 2 cancelled, 3 expired, 4 still open
    end: u8,
    /// fill sizes and prices
    fills: Vec<(i64, i64)>,
    extra: i64,
    cancel_requested: bool,
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        1u16..=2,
        1u32..=2,
        any::<bool>(),
        0u8..5,
        prop::collection::vec((1i64..=10, 1i64..=1_000), 0..5),
        1i64..=5,
        any::<bool>(),
    )
        .prop_map(|(venue, instrument, bid, end, fills, extra, cancel_requested)| Spec {
            venue,
            instrument,
            side: if bid { Side::Bid } else { Side::Ask },
            end,
            fills,
            extra,
            cancel_requested,
        })
}

/// One order's venue truth.
struct Truth {
    cl: ClOrdId,
    spec: Spec,
    fills: Vec<(ExecId, i64, i64)>,
    /// the state if every report is delivered
    state: S,
}

fn splitmix(s: &mut u64) -> u64 {
    *s = s.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *s;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn fee(q: i64, p: i64) -> i64 {
    q * p / 100
}

/// The orders created and sent (and cancel-requested), and every venue report of the
/// histories in venue order.
fn histories(specs: &[Spec]) -> (Oms, Vec<VenueReport>, Vec<Truth>) {
    let mut oms = Oms::new();
    let mut reports = Vec::new();
    let mut exec: ExecId = 0;
    let mut truths = Vec::new();
    for (i, s) in specs.iter().enumerate() {
        let cl = i as ClOrdId + 1;
        let mut fills = s.fills.clone();
        if s.end == 0 {
            fills.clear();
        }
        if s.end == 1 && fills.is_empty() {
            fills.push((1, 100));
        }
        let sum: i64 = fills.iter().map(|f| f.0).sum();
        let qty = if s.end == 1 { sum } else { sum + s.extra };
        oms.new_order(&NewOrder {
            cl_ord_id: cl,
            venue: s.venue,
            instrument: s.instrument,
            side: s.side,
            price: 0,
            qty,
        })
        .unwrap();
        oms.mark_sent(cl).unwrap();
        if s.cancel_requested {
            assert_eq!(oms.request_cancel(cl), Ok(S::PendingCancel));
        }
        let mut r = |kind| {
            exec += 1;
            reports.push(VenueReport {
                venue: s.venue,
                cl_ord_id: cl,
                venue_order_id: 1_000 + cl,
                exec_id: exec,
                kind,
            });
            exec
        };
        r(if s.end == 0 { ReportKind::Reject { reason: 1 } } else { ReportKind::Ack });
        let mut tf = Vec::new();
        for (k, &(q, p)) in fills.iter().enumerate() {
            let kind = if k + 1 == fills.len() && s.end == 1 {
                ReportKind::Fill { qty: q, price: p, fee: fee(q, p) }
            } else {
                ReportKind::PartialFill { qty: q, price: p, fee: fee(q, p) }
            };
            tf.push((r(kind), q, p));
        }
        match s.end {
            2 => {
                r(ReportKind::CancelAck);
            }
            3 => {
                r(ReportKind::Expired);
            }
            _ => {}
        }
        let state = match s.end {
            0 => S::Rejected,
            1 => S::Filled,
            2 => S::Cancelled,
            3 => S::Expired,
            _ if s.cancel_requested => S::PendingCancel,
            _ if sum > 0 => S::PartiallyFilled,
            _ => S::Acknowledged,
        };
        truths.push(Truth { cl, spec: s.clone(), fills: tf, state });
    }
    (oms, reports, truths)
}

/// Duplicate about `dup_pct`% of the reports, then shuffle.
fn scramble(mut reports: Vec<VenueReport>, seed: u64, dup_pct: u64) -> Vec<VenueReport> {
    let mut rng = seed;
    for i in 0..reports.len() {
        if splitmix(&mut rng) % 100 < dup_pct {
            reports.push(reports[i]);
        }
    }
    for i in (1..reports.len()).rev() {
        let j = (splitmix(&mut rng) % (i as u64 + 1)) as usize;
        reports.swap(i, j);
    }
    reports
}

/// Orders hold Σ of all their venue fills; positions = Σ of all fills.
fn check_fills(oms: &Oms, truths: &[Truth]) -> Result<(), TestCaseError> {
    let mut pos: BTreeMap<(VenueId, InstrumentId), (i128, i128, i128)> = BTreeMap::new();
    for t in truths {
        let o = oms.order(t.cl).unwrap();
        let sum: i64 = t.fills.iter().map(|f| f.1).sum();
        let notional: i128 = t.fills.iter().map(|&(_, q, p)| i128::from(q) * i128::from(p)).sum();
        let fees: i128 = t.fills.iter().map(|&(_, q, p)| i128::from(fee(q, p))).sum();
        prop_assert_eq!((o.filled, o.notional, o.fees), (sum, notional, fees), "order {}", t.cl);
        prop_assert!(o.filled <= o.req.qty);
        prop_assert_eq!(o.state == S::Filled, o.filled == o.req.qty);
        let sign = if o.req.side == Side::Bid { 1 } else { -1 };
        let e = pos.entry((o.req.venue, o.req.instrument)).or_default();
        e.0 += i128::from(sign * sum);
        e.1 += notional;
        e.2 += fees;
    }
    for (&(v, i), &(net, notional, fees)) in &pos {
        let p = oms.position(v, i);
        prop_assert_eq!((p.net, p.buy_notional + p.sell_notional, p.fees), (net, notional, fees));
        prop_assert_eq!(p.bought - p.sold, p.net);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]
    #[test]
    fn shuffled_duplicated_reports(specs in prop::collection::vec(spec(), 1..8), seed: u64,
                                   dup_pct in 0u64..100) {
        let (mut oms, reports, truths) = histories(&specs);
        let reports = scramble(reports, seed, dup_pct);
        for r in &reports {
            let out = oms.apply(r);
            prop_assert!(out.is_ok(), "{:?} -> {:?}", r, out);
        }
        check_fills(&oms, &truths)?;
        for t in &truths {
            let o = oms.order(t.cl).unwrap();
            prop_assert_eq!(o.state, t.state, "order {}", t.cl);
            if o.state != S::Rejected {
                prop_assert!(o.acked);
                prop_assert_eq!(oms.by_venue_order_id(o.req.venue, 1_000 + t.cl), Some(t.cl));
            }
        }
        // replaying everything again changes nothing
        let snap = oms.clone();
        for r in &reports {
            let out = oms.apply(r);
            prop_assert!(matches!(out, Ok(Outcome::Duplicate | Outcome::Ignored(_))), "{:?}", out);
        }
        prop_assert_eq!(&oms, &snap);
    }

    #[test]
    fn lost_reports_recovered_by_reconciliation(specs in prop::collection::vec(spec(), 1..8),
                                                seed: u64, dup_pct in 0u64..100,
                                                keep_pct in 0u64..=100, disconnect: bool) {
        let (mut oms, reports, truths) = histories(&specs);
        let mut rng = seed ^ 0x5555;
        let delivered: Vec<_> = scramble(reports, seed, dup_pct)
            .into_iter()
            .filter(|_| splitmix(&mut rng) % 100 < keep_pct)
            .collect();
        for r in &delivered {
            prop_assert!(oms.apply(r).is_ok());
        }
        if disconnect {
            oms.disconnect(1);
        }
        for venue in [1, 2] {
            let mut snap = VenueSnapshot::default();
            for t in truths.iter().filter(|t| t.spec.venue == venue) {
                for &(exec_id, qty, price) in &t.fills {
                    snap.fills.push(VenueFill { cl_ord_id: t.cl, venue_order_id: 1_000 + t.cl,
                        exec_id, qty, price, fee: fee(qty, price) });
                }
                if t.spec.end == 4 {
                    snap.open.push(VenueOpenOrder { cl_ord_id: t.cl, venue_order_id: 1_000 + t.cl,
                        cum_qty: t.fills.iter().map(|f| f.1).sum() });
                }
            }
            snap.fills.reverse();
            let actions = oms.reconcile(venue, &snap);
            for a in &actions {
                prop_assert!(matches!(a, ReconAction::FillApplied { .. }
                    | ReconAction::Acknowledged { .. } | ReconAction::CancelAtVenue { .. }
                    | ReconAction::ClosedNotAtVenue { .. }), "{:?}", a);
            }
        }
        check_fills(&oms, &truths)?;
        for t in &truths {
            let o = oms.order(t.cl).unwrap();
            prop_assert!(!o.disconnected);
            if t.spec.end == 4 {
                // still open at the venue: open here, pending cancel if we asked for one
                let pending = t.spec.cancel_requested || (disconnect && t.spec.venue == 1);
                prop_assert_eq!(o.state == S::PendingCancel, pending, "order {}", t.cl);
                prop_assert!(o.state.is_open() && o.acked);
            } else if o.state != t.state {
                // its closing report was lost: the venue does not list it, so closed here
                prop_assert!(o.state == S::Cancelled && t.state != S::Filled, "order {} {:?}", t.cl, o.state);
            }
        }
        prop_assert!(!oms.is_disconnected(1) && !oms.is_disconnected(2));
    }
}
