//! Single-threaded unit tests of the producer/consumer protocol.

use crate::*;

fn rec(seq: u64) -> Record {
    Record {
        kind: kind::TRADE,
        seq,
        price: seq as i64 * 10,
        ..Record::ZERO
    }
}

#[test]
fn empty_and_full() {
    let (mut p, mut c) = channel(4).unwrap();
    assert_eq!(c.try_pop(), None);
    assert_eq!(c.available(), 0);
    assert_eq!(p.free_slots(), 4);
    for i in 0..4 {
        p.try_push(&rec(i)).unwrap();
    }
    assert_eq!(p.try_push(&rec(99)), Err(Full));
    assert_eq!(p.free_slots(), 0);
    assert_eq!(c.available(), 4);
    assert!(p.try_claim(1).is_none());
    assert!(p.claim_up_to(8).is_empty());
    assert_eq!(p.push_slice(&[rec(5)]), 0);
    assert_eq!(c.try_pop(), Some(rec(0)));
    p.try_push(&rec(4)).unwrap();
    let got: Vec<u64> = std::iter::from_fn(|| c.try_pop()).map(|r| r.seq).collect();
    assert_eq!(got, [1, 2, 3, 4]);
    assert!(p.is_drained());
}

#[test]
fn wrap_around_many_laps() {
    let (mut p, mut c) = channel(8).unwrap();
    let mut next_in = 0;
    let mut next_out = 0;
    for round in 0..1000u64 {
        let n = (round % 7 + 1) as usize;
        for _ in 0..n {
            p.try_push(&rec(next_in)).unwrap();
            next_in += 1;
        }
        for _ in 0..n {
            assert_eq!(c.try_pop().unwrap().seq, next_out);
            next_out += 1;
        }
    }
    assert_eq!(p.write_pos(), next_in);
    assert_eq!(c.read_pos(), next_out);
}

#[test]
fn claim_commit_wraps_in_two_slices() {
    let (mut p, mut c) = channel(8).unwrap();
    // Move positions to 6 so a claim of 5 wraps: 2 slots at the end, 3 at the start.
    assert_eq!(p.push_slice(&(0..6).map(rec).collect::<Vec<_>>()), 6);
    assert_eq!(c.skip(6), 6);
    let mut claim = p.try_claim(5).unwrap();
    {
        let (a, b) = claim.as_mut_slices();
        assert_eq!((a.len(), b.len()), (2, 3));
        for (i, slot) in a.iter_mut().chain(b.iter_mut()).enumerate() {
            *slot = rec(100 + i as u64);
        }
    }
    assert_eq!(c.available(), 0, "nothing visible before commit");
    claim.commit();
    assert_eq!(c.available(), 5);
    let chunk = c.peek(16);
    let (a, b) = chunk.as_slices();
    assert_eq!((a.len(), b.len()), (2, 3));
    let seqs: Vec<u64> = chunk.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, [100, 101, 102, 103, 104]);
    assert_eq!(chunk.get(4).map(|r| r.seq), Some(104));
    assert!(chunk.get(5).is_none());
    chunk.commit_n(2);
    let mut out = [Record::ZERO; 8];
    assert_eq!(c.poll_into(&mut out), 3);
    assert_eq!(
        out[..3].iter().map(|r| r.seq).collect::<Vec<_>>(),
        [102, 103, 104]
    );
}

#[test]
fn abort_and_partial_commit() {
    let (mut p, mut c) = channel(4).unwrap();
    let mut claim = p.try_claim(3).unwrap();
    claim.write(0, rec(1));
    claim.abort();
    assert_eq!(c.available(), 0);
    {
        let claim = p.try_claim(4).unwrap();
        drop(claim); // dropping is aborting
    }
    let mut claim = p.try_claim(3).unwrap();
    claim.write(0, rec(1));
    claim.write(1, rec(2));
    claim.commit_n(2);
    assert_eq!(p.write_pos(), 2);
    assert_eq!(p.free_slots(), 2);
    assert!(p.try_claim(3).is_none());
    assert_eq!(c.read_batch(10, |_| {}), 2);
    assert!(p.try_claim(4).is_some());
    assert!(p.try_claim(5).is_none(), "more than capacity never fits");
}

#[test]
#[should_panic(expected = "out of range")]
fn claim_write_out_of_range_panics() {
    let (mut p, _c) = channel(4).unwrap();
    let mut claim = p.try_claim(2).unwrap();
    claim.write(2, rec(0));
}

#[test]
fn uncommitted_peek_consumes_nothing() {
    let (mut p, mut c) = channel(4).unwrap();
    p.try_push(&rec(7)).unwrap();
    assert_eq!(c.peek(4).len(), 1);
    assert_eq!(c.peek(4).len(), 1);
    assert_eq!(c.try_pop(), Some(rec(7)));
}

#[test]
fn panicking_batch_consumes_nothing() {
    let (mut p, mut c) = channel(4).unwrap();
    p.try_push(&rec(1)).unwrap();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        c.read_batch(4, |_| panic!("boom"));
    }));
    assert!(r.is_err());
    assert_eq!(c.try_pop(), Some(rec(1)));
}

#[test]
fn push_slice_partial() {
    let (mut p, mut c) = channel(4).unwrap();
    let recs: Vec<Record> = (0..10).map(rec).collect();
    assert_eq!(p.push_slice(&recs), 4);
    assert_eq!(p.push_slice(&recs[4..]), 0);
    assert_eq!(c.skip(3), 3);
    assert_eq!(p.push_slice(&recs[4..]), 3);
    let mut seqs = vec![];
    c.read_batch(usize::MAX, |r| seqs.push(r.seq));
    assert_eq!(seqs, [3, 4, 5, 6]);
}

#[test]
fn header_positions_follow_handles() {
    let ring = RingFile::anonymous(16).unwrap();
    assert_eq!((ring.write_pos(), ring.read_pos()), (0, 0));
    let (mut p, mut c) = ring.split();
    p.push_slice(&[rec(0), rec(1), rec(2)]);
    c.try_pop();
    assert_eq!(p.write_pos(), 3);
    assert_eq!(c.read_pos(), 1);
    assert_eq!(c.available(), 2);
    assert_eq!(p.free_slots(), 14);
}

#[test]
fn invalid_capacities() {
    for cap in [0, 1, 3, 12, 1000] {
        match RingFile::anonymous(cap) {
            Err(RingError::InvalidCapacity { capacity }) => assert_eq!(capacity, cap as u64),
            other => panic!("capacity {cap}: {other:?}"),
        }
    }
    let msg = RingFile::anonymous(3).unwrap_err().to_string();
    assert!(msg.contains("capacity") && msg.contains('3'), "{msg}");
}

#[test]
fn handles_are_send() {
    fn assert_send<T: Send>() {}
    assert_send::<Producer>();
    assert_send::<Consumer>();
}

#[test]
fn staged_writes_are_invisible_until_published() {
    let (mut p, mut c) = channel(4).unwrap();
    p.try_push(&rec(0)).unwrap();
    p.write_unpublished(&rec(1)).unwrap();
    p.write_unpublished(&rec(2)).unwrap();
    assert_eq!(p.staged(), 2);
    assert_eq!(p.free_slots(), 1, "staged slots are taken");
    assert_eq!(p.write_pos(), 1);
    assert_eq!(c.try_pop(), Some(rec(0)));
    assert_eq!(c.try_pop(), None, "staged records are not visible");
    p.write_unpublished(&rec(3)).unwrap();
    p.write_unpublished(&rec(4)).unwrap();
    assert_eq!(p.write_unpublished(&rec(5)), Err(Full));
    assert_eq!(p.publish(), 4);
    assert_eq!(p.publish(), 0);
    assert_eq!(p.write_pos(), 5);
    let got: Vec<u64> = std::iter::from_fn(|| c.try_pop()).map(|r| r.seq).collect();
    assert_eq!(got, [1, 2, 3, 4]);
    // wrap around and discard
    for i in 0..10 {
        p.write_unpublished(&rec(10 + i)).unwrap();
        p.write_unpublished(&rec(20 + i)).unwrap();
        if i % 3 == 0 {
            p.discard_unpublished();
            continue;
        }
        assert_eq!(p.publish(), 2);
        assert_eq!(c.try_pop().map(|r| r.seq), Some(10 + i));
        assert_eq!(c.try_pop().map(|r| r.seq), Some(20 + i));
    }
    assert!(p.is_drained());
    p.try_push(&rec(7)).unwrap();
    assert_eq!(c.try_pop(), Some(rec(7)));
}
