//! The request path does not allocate: a long random stream of every request type, counted by
//! a global allocator on this thread (the sink's Vec is reserved up front).

use rfq_match::*;
use rfq_model::Side;
#[global_allocator]
static A: rfq_testkit::CountingAlloc = rfq_testkit::CountingAlloc;

#[test]
fn requests_do_not_allocate() {
    let mut b = OrderBook::new(BookConfig {
        tick: 1,
        lot: 1,
        max_qty: 1_000,
        min_price: 1,
        max_price: 10_000,
        max_orders: 4_096,
        max_accounts: 16,
        default_account: AccountConfig { stp: StpMode::CancelOldest, maker_cbps: -10, taker_cbps: 40 },
    })
    .unwrap();
    let mut ev: Vec<Event> = Vec::with_capacity(1 << 16);
    let mut s = 0x2545_F491_4F6C_DD1D_u64;
    let mut rnd = |n: u64| {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s % n
    };
    let ((), allocs) = rfq_testkit::count_allocs(|| for _ in 0..200_000 {
        ev.clear();
        let id = 1 + rnd(3_000);
        let price = 4_900 + rnd(200) as i64;
        let qty = 1 + rnd(50) as i64;
        match rnd(10) {
            0..=4 => b.submit(
                &NewOrder {
                    id,
                    account: rnd(16) as u32,
                    side: if rnd(2) == 0 { Side::Bid } else { Side::Ask },
                    kind: if rnd(20) == 0 { OrderType::Market } else { OrderType::Limit },
                    tif: [TimeInForce::Gtc, TimeInForce::Gtc, TimeInForce::Ioc, TimeInForce::Fok][rnd(4) as usize],
                    post_only: PostOnly::Off,
                    price,
                    qty,
                },
                &mut ev,
            ),
            5 => b.cancel(id, &mut ev),
            _ => b.replace(id, price, qty, &mut ev),
        }
    });
    assert_eq!(allocs, 0);
    assert!(!b.is_empty());
}
