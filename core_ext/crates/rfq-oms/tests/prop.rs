//! Property: a random venue history per order, reported shuffled and duplicated, always ends
//! with filled = Σ distinct fills, the state the history implies, and positions = Σ fills.
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

fn splitmix(s: &mut u64) -> u64 {
    *s = s.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *s;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]
    #[test]
    fn shuffled_duplicated_reports(specs in prop::collection::vec(spec(), 1..8), seed: u64,
                                   dup_pct in 0u64..100) {
        let mut oms = Oms::new();
        let mut reports = Vec::new();
        let mut exec: ExecId = 0;
        let mut expect = Vec::new();
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
            oms.new_order(&NewOrder { cl_ord_id: cl, venue: s.venue, instrument: s.instrument,
                side: s.side, price: 0, qty }).unwrap();
            oms.mark_sent(cl).unwrap();
            if s.cancel_requested {
                prop_assert_eq!(oms.request_cancel(cl), Ok(S::PendingCancel));
            }
            let mut r = |kind| {
                exec += 1;
                reports.push(VenueReport { venue: s.venue, cl_ord_id: cl,
                    venue_order_id: 1_000 + cl, exec_id: exec, kind });
            };
            if s.end == 0 {
                r(ReportKind::Reject { reason: 1 });
            } else {
                r(ReportKind::Ack);
            }
            for (k, &(q, p)) in fills.iter().enumerate() {
                let fee = q * p / 100;
                r(if k + 1 == fills.len() && s.end == 1 {
                    ReportKind::Fill { qty: q, price: p, fee }
                } else {
                    ReportKind::PartialFill { qty: q, price: p, fee }
                });
            }
            match s.end {
                2 => r(ReportKind::CancelAck),
                3 => r(ReportKind::Expired),
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
            expect.push((cl, state, fills));
        }
        // duplicate some, then shuffle
        let mut rng = seed;
        let n = reports.len();
        for i in 0..n {
            if splitmix(&mut rng) % 100 < dup_pct {
                reports.push(reports[i]);
            }
        }
        for i in (1..reports.len()).rev() {
            let j = (splitmix(&mut rng) % (i as u64 + 1)) as usize;
            reports.swap(i, j);
        }
        for r in &reports {
            let out = oms.apply(r);
            prop_assert!(out.is_ok(), "{:?} -> {:?}", r, out);
        }
        let mut pos: BTreeMap<(VenueId, InstrumentId), (i64, i128, i128)> = BTreeMap::new();
        for (cl, state, fills) in &expect {
            let o = oms.order(*cl).unwrap();
            let sum: i64 = fills.iter().map(|f| f.0).sum();
            let notional: i128 = fills.iter().map(|&(q, p)| i128::from(q) * i128::from(p)).sum();
            let fees: i128 = fills.iter().map(|&(q, p)| i128::from(q * p / 100)).sum();
            prop_assert_eq!(o.state, *state, "order {}", cl);
            prop_assert_eq!((o.filled, o.notional, o.fees), (sum, notional, fees));
            prop_assert!(o.filled <= o.req.qty);
            prop_assert_eq!(o.state == S::Filled, o.filled == o.req.qty);
            if o.state != S::Rejected {
                prop_assert!(o.acked);
                prop_assert_eq!(oms.by_venue_order_id(o.req.venue, 1_000 + cl), Some(*cl));
            }
            let sign = if o.req.side == Side::Bid { 1 } else { -1 };
            let e = pos.entry((o.req.venue, o.req.instrument)).or_default();
            e.0 += sign * sum;
            e.1 += notional;
            e.2 += fees;
        }
        for (&(v, i), &(net, notional, fees)) in &pos {
            let p = oms.position(v, i);
            prop_assert_eq!((p.net, p.buy_notional + p.sell_notional, p.fees), (net, notional, fees));
        }
        // replaying everything again changes nothing
        let snap = oms.clone();
        for r in &reports {
            let out = oms.apply(r);
            prop_assert!(matches!(out, Ok(Outcome::Duplicate | Outcome::Ignored(_))), "{:?}", out);
        }
        prop_assert_eq!(&oms, &snap);
    }
}
