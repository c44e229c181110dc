//! The whole core's one encoding: the clock, then the market, the desk and hedging, each
//! encoded by its own crate (the snapshot body; the state hash is the same less counters and
//! caches).

use super::Core;
use rfq_kernel::codec::{Dec, Out, Persist, R};

impl Persist for Core {
    fn save<O: Out>(&self, o: &mut O) {
        let Core { now, market, desk, hedging, max_out: _ } = self;
        o.i64(*now);
        market.save(o);
        desk.save(o);
        hedging.save(o);
    }

    fn load(&mut self, d: &mut Dec<'_>) -> R<()> {
        self.now = d.i64()?;
        self.market.load(d)?;
        self.desk.load(d)?;
        self.hedging.load(d)?;
        self.sync_domains();
        Ok(())
    }
}
