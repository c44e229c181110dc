//! The encoding of a book ladder (an `rfq-book` type, so its `Persist` lives here).

use crate::codec::{corrupt, Dec, Out, Persist, R};
use rfq_book::Ladder;

/// A ladder as its window position and its levels: the first tick index, then varint deltas
/// of tick indices and varint quantities (≈ 4–5 bytes a level instead of 16).
impl Persist for Ladder {
    fn save<O: Out>(&self, o: &mut O) {
        o.opt_i64(self.window_base());
        o.len(self.len());
        let mut prev: Option<i64> = None;
        self.for_each_raw(|p, q| {
            let idx = self.tick_index(p).expect("levels are on the grid");
            match prev {
                None => o.i64(idx),
                Some(pi) => o.var((idx - pi) as u64),
            }
            o.var(q as u64);
            prev = Some(idx);
        });
    }

    fn load(&mut self, d: &mut Dec<'_>) -> R<()> {
        let base = d.opt_i64()?;
        let k = d.len(self.capacity(), "levels")?;
        let mut levels = Vec::with_capacity(k);
        let mut prev = 0_i64;
        for j in 0..k {
            let idx = if j == 0 {
                d.i64()?
            } else {
                let delta = d.var()?;
                i64::try_from(delta).ok().and_then(|dl| prev.checked_add(dl)).ok_or_else(|| corrupt("tick index overflow"))?
            };
            let q = i64::try_from(d.var()?).map_err(|_| corrupt("quantity overflow"))?;
            levels.push((idx, q));
            prev = idx;
        }
        Ladder::load(self, base, &levels).map_err(|why| corrupt(format!("ladder: {why}")))
    }
}
