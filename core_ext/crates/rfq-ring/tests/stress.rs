//! Cross-thread stress: 10M records through a small ring with every push/pop flavour mixed;
//! order, loss, duplication and tearing are checked through the sequence-derived payload.

mod common;

use common::{check, rec, Rng};
use rfq_ring::{Consumer, Producer, Record};
use std::hint::spin_loop;

const N: u64 = 10_000_000;

/// Pushes `0..n` using a random mix of `try_push`, `try_claim`, `claim_up_to` and `push_slice`.
pub fn produce(mut p: Producer, n: u64, seed: u64) {
    let mut rng = Rng(seed);
    let mut next = 0u64;
    let mut buf = [Record::ZERO; 64];
    while next < n {
        let want = (rng.below(64) + 1).min(n - next) as usize;
        let pushed = match rng.below(4) {
            0 => usize::from(p.try_push(&rec(next)).is_ok()),
            1 => match p.try_claim(want) {
                Some(mut claim) => {
                    for i in 0..want {
                        claim.write(i, rec(next + i as u64));
                    }
                    claim.commit();
                    want
                }
                None => 0,
            },
            2 => {
                let mut claim = p.claim_up_to(want);
                let k = claim.len();
                let (a, b) = claim.as_mut_slices();
                for (i, slot) in a.iter_mut().chain(b.iter_mut()).enumerate() {
                    *slot = rec(next + i as u64);
                }
                // Sometimes publish only a prefix.
                let publish = if k > 1 && rng.below(2) == 0 { k / 2 } else { k };
                claim.commit_n(publish);
                publish
            }
            _ => {
                for (i, slot) in buf[..want].iter_mut().enumerate() {
                    *slot = rec(next + i as u64);
                }
                p.push_slice(&buf[..want])
            }
        };
        if pushed == 0 {
            spin_loop();
        }
        next += pushed as u64;
    }
}

/// Consumes `n` records with a random mix of pop flavours, checking each one.
pub fn consume(mut c: Consumer, n: u64, seed: u64) {
    let mut rng = Rng(seed);
    let mut expected = 0u64;
    let mut buf = [Record::ZERO; 64];
    while expected < n {
        let max = rng.below(64) as usize + 1;
        let got = match rng.below(4) {
            0 => match c.try_pop() {
                Some(r) => {
                    check(&r, expected);
                    1
                }
                None => 0,
            },
            1 => {
                let mut e = expected;
                c.read_batch(max, |r| {
                    check(r, e);
                    e += 1;
                })
            }
            2 => {
                let k = c.poll_into(&mut buf[..max]);
                for (i, r) in buf[..k].iter().enumerate() {
                    check(r, expected + i as u64);
                }
                k
            }
            _ => {
                let chunk = c.peek(max);
                for (i, r) in chunk.iter().enumerate() {
                    check(r, expected + i as u64);
                }
                let k = chunk.len();
                let take = if k > 1 && rng.below(2) == 0 { k / 2 } else { k };
                chunk.commit_n(take);
                take
            }
        };
        if got == 0 {
            spin_loop();
        }
        expected += got as u64;
    }
    assert_eq!(c.try_pop(), None, "no extra records");
}

#[test]
fn cross_thread_10m_mixed_ops() {
    let (p, c) = rfq_ring::channel(1024).unwrap();
    let t = std::thread::spawn(move || produce(p, N, 0x1234_5678));
    consume(c, N, 0x9abc_def0);
    t.join().unwrap();
}

#[test]
fn cross_thread_tiny_ring() {
    // Capacity 2: producer and consumer are constantly full/empty.
    let (p, c) = rfq_ring::channel(2).unwrap();
    let t = std::thread::spawn(move || produce(p, 200_000, 7));
    consume(c, 200_000, 11);
    t.join().unwrap();
}
