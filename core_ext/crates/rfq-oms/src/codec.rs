//! The OMS's part of a core snapshot: [`Oms::encode`] / [`Oms::decode`], little-endian, fixed
//! field order. (The OMS keeps its own small decoder; the core's snapshot format embeds it.)
//!
//! Layout 2 (core snapshot format 3 on) starts with [`MARK`] and keeps what pruning needs to
//! continue exactly as the original would: the table bound ([`Oms::max_orders`]), the client
//! order id each applied exec id belongs to, and [`Oms::pruned_through`]. Layout 1 (core snapshot format 2) had neither: it starts with the
//! order count, which is never [`MARK`]; its exec ids are restored without an owner (kept for
//! good) and nothing counts as pruned (the code that wrote it never pruned).

use crate::oms::{DEFAULT_MAX_ORDERS, EXEC_IDS_PER_ORDER, MAX_POSITIONS, UNKNOWN_OWNER};
use crate::store::SortedMap;
use crate::{NewOrder, Oms, Order, OrderState, Position, Side};

struct Dec<'a>(&'a [u8]);

impl Dec<'_> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N], String> {
        if self.0.len() < N {
            return Err("OMS snapshot truncated".into());
        }
        let (a, b) = self.0.split_at(N);
        self.0 = b;
        Ok(a.try_into().expect("length checked"))
    }
    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take::<1>()?[0])
    }
    fn u16(&mut self) -> Result<u16, String> {
        Ok(u16::from_le_bytes(self.take()?))
    }
    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_le_bytes(self.take()?))
    }
    fn u64(&mut self) -> Result<u64, String> {
        Ok(u64::from_le_bytes(self.take()?))
    }
    fn i64(&mut self) -> Result<i64, String> {
        Ok(i64::from_le_bytes(self.take()?))
    }
    fn i128(&mut self) -> Result<i128, String> {
        Ok(i128::from_le_bytes(self.take()?))
    }
    fn len(&mut self) -> Result<usize, String> {
        let n = self.u64()?;
        usize::try_from(n).ok().filter(|n| *n <= self.0.len()).ok_or_else(|| format!("OMS snapshot: bad count {n}"))
    }
}

/// First 8 bytes of layout 2: ASCII `OMSLAYT2` (as a layout-1 order count it would be absurd).
pub const MARK: u64 = u64::from_le_bytes(*b"OMSLAYT2");

impl Oms {
    /// Append the whole OMS state (layout 2) for a core snapshot.
    pub fn encode(&self, out: &mut Vec<u8>) {
        self.encode_with(out, true);
    }

    /// [`Oms::encode`], with or without the owners of applied exec ids. Without is what the
    /// core's state hash takes: an exec id's owner is fixed when it is applied, so within a run
    /// it says nothing the exec ids do not, and an OMS restored from layout 1 (owners unknown)
    /// hashes as the original.
    pub fn encode_with(&self, out: &mut Vec<u8>, owners: bool) {
        out.extend_from_slice(&MARK.to_le_bytes());
        out.extend_from_slice(&(self.max_orders() as u64).to_le_bytes());
        out.extend_from_slice(&(self.orders.len() as u64).to_le_bytes());
        for o in self.orders.values() {
            let r = &o.req;
            out.extend_from_slice(&r.cl_ord_id.to_le_bytes());
            out.extend_from_slice(&r.venue.to_le_bytes());
            out.extend_from_slice(&r.instrument.to_le_bytes());
            out.push(u8::from(r.side == Side::Ask));
            out.extend_from_slice(&r.price.to_le_bytes());
            out.extend_from_slice(&r.qty.to_le_bytes());
            out.push(o.state.code());
            out.extend_from_slice(&o.filled.to_le_bytes());
            out.extend_from_slice(&o.notional.to_le_bytes());
            out.extend_from_slice(&o.fees.to_le_bytes());
            out.push(u8::from(o.venue_order_id.is_some()));
            out.extend_from_slice(&o.venue_order_id.unwrap_or(0).to_le_bytes());
            out.push(u8::from(o.acked) | u8::from(o.disconnected) << 1);
            out.extend_from_slice(&o.venue_reason.to_le_bytes());
        }
        out.extend_from_slice(&(self.by_venue_id.len() as u64).to_le_bytes());
        for ((v, id), c) in self.by_venue_id.iter() {
            out.extend_from_slice(&v.to_le_bytes());
            out.extend_from_slice(&id.to_le_bytes());
            out.extend_from_slice(&c.to_le_bytes());
        }
        out.extend_from_slice(&(self.seen.len() as u64).to_le_bytes());
        for ((v, e), owner) in self.seen.iter() {
            out.extend_from_slice(&v.to_le_bytes());
            out.extend_from_slice(&e.to_le_bytes());
            if owners {
                out.extend_from_slice(&owner.to_le_bytes());
            }
        }
        out.extend_from_slice(&(self.positions.len() as u64).to_le_bytes());
        for ((v, i), p) in self.positions.iter() {
            out.extend_from_slice(&v.to_le_bytes());
            out.extend_from_slice(&i.to_le_bytes());
            for x in [p.net, p.bought, p.sold, p.buy_notional, p.sell_notional, p.fees] {
                out.extend_from_slice(&x.to_le_bytes());
            }
        }
        out.extend_from_slice(&(self.disconnected.len() as u64).to_le_bytes());
        for v in self.disconnected.iter() {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&self.pruned_through.to_le_bytes());
    }

    /// Decode what [`Oms::encode`] wrote; returns the OMS and the bytes consumed. The OMS
    /// gets the default bounds, or larger ones if the snapshot holds more. Reads layout 2 and
    /// layout 1 (whose exec ids have no known owner, so they are kept for good: see the module
    /// docs).
    pub fn decode(bytes: &[u8]) -> Result<(Oms, usize), String> {
        let layout2 = bytes.len() >= 8 && bytes[..8] == MARK.to_le_bytes();
        let mut d = Dec(if layout2 { &bytes[8..] } else { bytes });
        let bound = if layout2 { Some(d.u64()?) } else { None };
        let orders: Vec<Order> = (0..d.len()?).map(|_| decode_order(&mut d)).collect::<Result<_, _>>()?;
        let by_vid: Vec<(u16, u64, u64)> = (0..d.len()?).map(|_| Ok((d.u16()?, d.u64()?, d.u64()?))).collect::<Result<_, String>>()?;
        let seen: Vec<(u16, u64, u64)> = (0..d.len()?)
            .map(|_| Ok((d.u16()?, d.u64()?, if layout2 { d.u64()? } else { UNKNOWN_OWNER })))
            .collect::<Result<_, String>>()?;
        let positions: Vec<(u16, u32, Position)> =
            (0..d.len()?).map(|_| Ok((d.u16()?, d.u32()?, decode_position(&mut d)?))).collect::<Result<_, String>>()?;
        let disconnected: Vec<u16> = (0..d.len()?).map(|_| d.u16()).collect::<Result<_, _>>()?;
        let pruned_through = if layout2 { d.u64()? } else { 0 };
        let needed = orders.len().max(by_vid.len()).max(seen.len().div_ceil(EXEC_IDS_PER_ORDER));
        let max_orders = match bound {
            Some(b) => usize::try_from(b).ok().filter(|&b| b >= needed.max(1)).ok_or_else(|| format!("OMS snapshot: table bound {b} below its {needed} orders"))?,
            None => DEFAULT_MAX_ORDERS.max(needed),
        };
        let mut oms = Oms::with_capacity(max_orders);
        oms.positions = SortedMap::with_capacity(MAX_POSITIONS.max(positions.len()));
        for o in orders {
            oms.orders.insert(o.req.cl_ord_id, o);
        }
        for (v, id, c) in by_vid {
            oms.by_venue_id.insert((v, id), c);
        }
        for (v, e, owner) in seen {
            oms.seen.insert((v, e), owner);
        }
        for (v, i, p) in positions {
            oms.positions.insert((v, i), p);
        }
        for v in disconnected {
            oms.disconnected.insert(v);
        }
        oms.pruned_through = pruned_through;
        Ok((oms, bytes.len() - d.0.len()))
    }
}

fn decode_order(d: &mut Dec<'_>) -> Result<Order, String> {
    let cl_ord_id = d.u64()?;
    let venue = d.u16()?;
    let instrument = d.u32()?;
    let side = if d.u8()? == 0 { Side::Bid } else { Side::Ask };
    let (price, qty) = (d.i64()?, d.i64()?);
    let state = OrderState::from_code(d.u8()?).ok_or("OMS snapshot: bad order state")?;
    let (filled, notional, fees) = (d.i64()?, d.i128()?, d.i128()?);
    let has_vid = d.u8()? != 0;
    let vid = d.u64()?;
    let fl = d.u8()?;
    let venue_reason = d.u16()?;
    Ok(Order {
        req: NewOrder { cl_ord_id, venue, instrument, side, price, qty },
        state,
        filled,
        notional,
        fees,
        venue_order_id: has_vid.then_some(vid),
        acked: fl & 1 != 0,
        disconnected: fl & 2 != 0,
        venue_reason,
    })
}

fn decode_position(d: &mut Dec<'_>) -> Result<Position, String> {
    Ok(Position {
        net: d.i128()?,
        bought: d.i128()?,
        sold: d.i128()?,
        buy_notional: d.i128()?,
        sell_notional: d.i128()?,
        fees: d.i128()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ReportKind, VenueReport};

    /// Orders 1..=n on a table of 4, each filled (terminal) by one exec id, so new orders prune.
    fn step(oms: &mut Oms, id: u64) {
        oms.new_order(&NewOrder { cl_ord_id: id, venue: 3, instrument: 9, side: Side::Bid, price: 100, qty: 5 }).unwrap();
        oms.mark_sent(id).unwrap();
        let fill = ReportKind::PartialFill { qty: 5, price: 100, fee: 1 };
        oms.apply(&VenueReport { venue: 3, cl_ord_id: id, venue_order_id: 1_000 + id, exec_id: 10 * id, kind: fill }).unwrap();
    }

    fn bytes(oms: &Oms) -> Vec<u8> {
        let mut b = Vec::new();
        oms.encode(&mut b);
        b
    }

    /// Layout 1 of `oms`: layout 2 without the mark, the bound, the owners and
    /// `pruned_through`.
    fn layout1(oms: &Oms) -> Vec<u8> {
        let mut b = Vec::new();
        oms.encode_with(&mut b, false);
        b[16..b.len() - 8].to_vec()
    }

    #[test]
    fn a_decoded_oms_prunes_exactly_like_the_original() {
        let mut live = Oms::with_capacity(4);
        for id in 1..=30 {
            let (mut back, used) = Oms::decode(&bytes(&live)).unwrap();
            assert_eq!(used, bytes(&live).len());
            assert_eq!(bytes(&back), bytes(&live), "round trip before order {id}");
            step(&mut live, id);
            step(&mut back, id);
            assert_eq!(bytes(&back), bytes(&live), "after order {id}");
        }
        assert!(live.pruned_through() > 20, "the table pruned: {}", live.pruned_through());
        // layout 1 has no owners: its exec ids outlive their pruned orders, so the decoded OMS
        // drifts from the original (what layout 2 is for)
        let mut old = Oms::decode(&layout1(&live)).unwrap().0;
        assert_eq!(old.pruned_through(), 0);
        for id in 31..=40 {
            step(&mut live, id);
            step(&mut old, id);
        }
        assert_ne!(layout1(&old), layout1(&live));
    }

    #[test]
    fn layout_1_still_decodes() {
        let mut oms = Oms::new();
        for id in 1..=3 {
            step(&mut oms, id);
        }
        let (back, used) = Oms::decode(&layout1(&oms)).unwrap();
        assert_eq!(used, layout1(&oms).len());
        assert_eq!(back, oms, "same orders, exec ids (owners aside), positions");
        assert_eq!(layout1(&back), layout1(&oms));
    }

    #[test]
    fn encode_decode_round_trip() {
        let mut oms = Oms::new();
        for id in 1..=3_u64 {
            oms.new_order(&NewOrder { cl_ord_id: id, venue: 2, instrument: 7, side: if id == 2 { Side::Ask } else { Side::Bid }, price: 1_000 + id as i64, qty: 10 }).unwrap();
            oms.mark_sent(id).unwrap();
        }
        oms.apply(&VenueReport { venue: 2, cl_ord_id: 1, venue_order_id: 99, exec_id: 5, kind: ReportKind::PartialFill { qty: 4, price: 1_001, fee: 3 } }).unwrap();
        oms.apply(&VenueReport { venue: 2, cl_ord_id: 2, venue_order_id: 0, exec_id: 6, kind: ReportKind::Reject { reason: 7 } }).unwrap();
        oms.disconnect(2);
        let mut b = Vec::new();
        oms.encode(&mut b);
        b.extend_from_slice(b"tail");
        let (back, used) = Oms::decode(&b).unwrap();
        assert_eq!(back, oms);
        assert_eq!(&b[used..], b"tail");
        assert!(Oms::decode(&b[..used - 1]).is_err());
        for c in 0..9 {
            assert_eq!(OrderState::from_code(c).map(OrderState::code), Some(c));
        }
        assert_eq!(OrderState::from_code(9), None);
    }
}
