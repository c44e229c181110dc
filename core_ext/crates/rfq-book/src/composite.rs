//! Sweeping several venue books as one composite book.
//!
//! Members can have different price and quantity scales and different contract types. Each
//! member's levels are converted exactly into the composite's scales while sweeping:
//! prices are multiplied up by a power of ten; linear quantities likewise; inverse contracts
//! (COIN-M) become base quantity `contracts × contract_size / price`, **rounded down** so the
//! composite never claims more depth than there is. A per-member `offset` (the basis to the
//! composite's reference member) is added to converted prices.

use crate::book::L2Book;
use crate::ladder::{Levels, WordChunk};
use rfq_model::fixed::pow10;
use rfq_model::{Instrument, InstrumentKind, Side};

/// Most members a composite may have.
pub const MAX_MEMBERS: usize = 8;

/// How one member's levels convert into composite units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conversion {
    /// Composite price = member price × `px_mult` + `offset`.
    pub px_mult: i64,
    /// Basis adjustment added to every converted price (composite price units).
    pub offset: i64,
    /// Quantity conversion.
    pub qty: QtyConversion,
}

/// Quantity conversion of one member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QtyConversion {
    /// Composite qty = member qty × mult.
    Linear(i64),
    /// Composite qty = floor(contracts × num / member price).
    Inverse(i128),
}

impl Conversion {
    /// Conversion of `inst` into a composite with the given scales; `None` if the member's
    /// scales are finer than the composite's.
    pub fn new(inst: &Instrument, price_decimals: u32, qty_decimals: u32) -> Option<Conversion> {
        if inst.price_decimals > price_decimals {
            return None;
        }
        let px_mult = pow10(price_decimals - inst.price_decimals);
        let qty = match inst.kind {
            InstrumentKind::Spot | InstrumentKind::Linear => {
                if inst.qty_decimals > qty_decimals {
                    return None;
                }
                QtyConversion::Linear(pow10(qty_decimals - inst.qty_decimals))
            }
            InstrumentKind::Inverse => {
                // contracts × cs [quote] / (px / 10^Pi) [quote/base] = base; in 10^-Qc units:
                // contracts × cs × 10^(Pi+Qc) / px, with contracts in 10^-Qi units.
                let num = i128::from(inst.contract_size) * 10_i128.pow(inst.price_decimals + qty_decimals)
                    / 10_i128.pow(inst.qty_decimals);
                QtyConversion::Inverse(num)
            }
        };
        Some(Conversion { px_mult, offset: 0, qty })
    }

    /// Convert one member level into composite `(price, qty)`.
    #[inline]
    pub fn convert(&self, price: i64, qty: i64) -> (i64, i64) {
        let q = match self.qty {
            QtyConversion::Linear(m) => qty * m,
            QtyConversion::Inverse(num) => match i64::try_from(num).ok().and_then(|n| qty.checked_mul(n)) {
                Some(x) => x / price,
                None => (i128::from(qty) * num / i128::from(price)) as i64,
            },
        };
        (price * self.px_mult + self.offset, q)
    }
}

/// Sweep `side` for every size of an increasing ladder in one pass. `out[i]` receives the
/// exact notional (composite price × qty units) to take `sizes[i]`, or `None` if too thin.
///
/// A k-way merge of the members' levels from the best outwards. When the member in front is
/// linear and the whole next 64-tick word of its window is better than every other member's
/// next level, and no ladder size ends inside it, the word is taken in one step from its
/// aggregates — exactly what taking its levels one by one would give.
pub fn sweep_ladder(books: &[(&L2Book, Conversion)], side: Side, sizes: &[i64], out: &mut [Option<i128>]) {
    debug_assert!(out.len() >= sizes.len());
    debug_assert!(books.len() <= MAX_MEMBERS);
    for o in out.iter_mut().take(sizes.len()) {
        *o = None;
    }
    if sizes.is_empty() {
        return;
    }
    let n = books.len().min(MAX_MEMBERS);
    let mut iters: [Option<Levels<'_>>; MAX_MEMBERS] = Default::default();
    // each member's next level, already taken from its iterator: converted (price, qty), and the
    // window word it opens, if it is the first level of one
    let mut heads: [Option<Head>; MAX_MEMBERS] = [None; MAX_MEMBERS];
    for m in 0..n {
        let (b, conv) = &books[m];
        let mut it = b.ladder(side).iter();
        heads[m] = take_head(&mut it, conv);
        iters[m] = Some(it);
    }
    let better = |a: i64, b: i64| match side {
        Side::Bid => a > b,
        Side::Ask => a < b,
    };
    let mut next = 0;
    let mut filled: i64 = 0;
    let mut notional: i128 = 0;
    loop {
        // the member in front (ties go to the earlier member), and the best head of the others
        let mut best: Option<(usize, i64)> = None;
        let mut second: Option<i64> = None;
        for (m, h) in heads.iter().enumerate().take(n) {
            let Some((p, _, _)) = *h else { continue };
            match best {
                None => best = Some((m, p)),
                Some((_, bp)) if better(p, bp) => {
                    second = Some(bp);
                    best = Some((m, p));
                }
                Some(_) => {
                    if second.is_none_or(|s| better(p, s)) {
                        second = Some(p);
                    }
                }
            }
        }
        let Some((m, _)) = best else { return };
        let conv = books[m].1;
        let (p, q, chunk) = heads[m].expect("the member in front has a head");
        let it = iters[m].as_mut().expect("iterator of a member with a head");
        if let (QtyConversion::Linear(qm), Some((c, w))) = (conv.qty, chunk) {
            let worst = c.worst_price * conv.px_mult + conv.offset;
            let cq = c.qty * qm;
            if second.is_none_or(|s| better(worst, s)) && filled + cq < sizes[next] {
                filled += cq;
                notional += i128::from(qm)
                    * (i128::from(conv.px_mult) * c.notional + i128::from(conv.offset) * i128::from(c.qty));
                it.skip_rest_of_word(w);
                heads[m] = take_head(it, &conv);
                continue;
            }
        }
        heads[m] = take_head(it, &conv);
        if q <= 0 {
            continue;
        }
        while next < sizes.len() {
            let need = sizes[next] - filled;
            if q >= need {
                out[next] = Some(notional + i128::from(p) * i128::from(need));
                next += 1;
            } else {
                break;
            }
        }
        if next == sizes.len() {
            return;
        }
        filled += q;
        notional += i128::from(p) * i128::from(q);
    }
}

/// A member's next level in composite units, with the window word it opens (if any).
type Head = (i64, i64, Option<WordChunk>);

#[inline]
fn take_head(it: &mut Levels<'_>, conv: &Conversion) -> Option<Head> {
    it.next_with_chunk().map(|((p, q), c)| {
        let (cp, cq) = conv.convert(p, q);
        (cp, cq, c)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inst(kind: InstrumentKind, pd: u32, qd: u32, cs: i64) -> Instrument {
        Instrument {
            id: 1,
            symbol: "X".into(),
            venue: "v".into(),
            kind,
            price_decimals: pd,
            qty_decimals: qd,
            tick: 1,
            lot: 1,
            contract_size: cs,
            max_qty: 1_000_000_000,
        }
    }

    #[test]
    fn converts_scales_exactly() {
        let lin = Conversion::new(&inst(InstrumentKind::Linear, 1, 3, 0), 2, 8).unwrap();
        assert_eq!(lin.convert(617_441, 1_500), (6_174_410, 150_000_000)); // 61744.1 x 1.5
        let inv = Conversion::new(&inst(InstrumentKind::Inverse, 1, 0, 100), 2, 8).unwrap();
        // 2 contracts of 100 USD at 50000.0 = 0.004 BTC exactly
        assert_eq!(inv.convert(500_000, 2), (5_000_000, 400_000));
        // 1 contract at 61817.4 = 0.0016176... BTC, floored to 161_766 sat
        assert_eq!(inv.convert(618_174, 1), (6_181_740, 161_766));
        assert!(Conversion::new(&inst(InstrumentKind::Spot, 3, 3, 0), 2, 8).is_none());
    }

    /// Naive reference: convert every level of every member, sort best first, sweep.
    fn naive(books: &[(&L2Book, Conversion)], side: Side, sizes: &[i64]) -> Vec<Option<i128>> {
        let mut all: Vec<(i64, usize, i64)> = vec![];
        for (m, (b, conv)) in books.iter().enumerate() {
            for (p, q) in b.ladder(side).iter() {
                let (cp, cq) = conv.convert(p, q);
                all.push((cp, m, cq));
            }
        }
        all.sort_by(|a, b| match side {
            Side::Bid => b.0.cmp(&a.0).then(a.1.cmp(&b.1)),
            Side::Ask => a.0.cmp(&b.0).then(a.1.cmp(&b.1)),
        });
        sizes
            .iter()
            .map(|&s| {
                let (mut left, mut n) = (s, 0_i128);
                for &(p, _, q) in &all {
                    let take = left.min(q);
                    n += i128::from(p) * i128::from(take);
                    left -= take;
                    if left == 0 {
                        return Some(n);
                    }
                }
                None
            })
            .collect()
    }

    proptest::proptest! {
        #[test]
        fn sweep_matches_naive_merge(
            a in proptest::collection::vec((1_i64..20_000, 1_i64..50), 0..300),
            b in proptest::collection::vec((1_i64..2_000, 1_i64..50), 0..100),
            c in proptest::collection::vec((1_i64..2_000, 1_i64..5), 0..50),
            offset in -500_i64..500,
            sizes in proptest::collection::btree_set(1_i64..100_000, 1..6),
        ) {
            let sizes: Vec<i64> = sizes.into_iter().collect();
            for side in [Side::Bid, Side::Ask] {
                let mut ba = L2Book::new(1024, 1, 4096);
                let mut bb = L2Book::new(1024, 1, 4096);
                let mut bc = L2Book::new(1024, 1, 4096);
                for &(p, q) in &a { ba.set(side, p + 100_000, q).unwrap(); }
                for &(p, q) in &b { bb.set(side, p * 10 + 100_000, q).unwrap(); }
                for &(p, q) in &c { bc.set(side, p * 10 + 100_000, q).unwrap(); }
                let lin1 = Conversion { px_mult: 1, offset: 0, qty: QtyConversion::Linear(10) };
                let lin2 = Conversion { px_mult: 1, offset, qty: QtyConversion::Linear(1) };
                let inv = Conversion { px_mult: 1, offset: -offset, qty: QtyConversion::Inverse(1_000_000_000) };
                let books = [(&ba, lin1), (&bb, lin2), (&bc, inv)];
                let mut out = vec![None; sizes.len()];
                sweep_ladder(&books, side, &sizes, &mut out);
                proptest::prop_assert_eq!(out, naive(&books, side, &sizes));
            }
        }
    }

    #[test]
    fn merges_members_best_first() {
        let mut a = L2Book::with_capacity(8);
        let mut b = L2Book::with_capacity(8);
        a.set(Side::Ask, 101, 1).unwrap();
        a.set(Side::Ask, 103, 1).unwrap();
        b.set(Side::Ask, 102, 2).unwrap();
        let conv = Conversion { px_mult: 1, offset: 0, qty: QtyConversion::Linear(1) };
        let books = [(&a, conv), (&b, conv)];
        assert_eq!(naive(&books, Side::Ask, &[1, 3, 4]), vec![Some(101), Some(101 + 204), Some(101 + 204 + 103)]);
        let mut out = [None; 3];
        sweep_ladder(&books, Side::Ask, &[1, 3, 5], &mut out);
        assert_eq!(out, [Some(101), Some(101 + 204), None]);
    }
}
