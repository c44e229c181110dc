//! Model test: random single-threaded interleavings of every producer/consumer operation on
//! small rings, checked step by step against a `VecDeque` of the same capacity.

mod common;

use common::{check, rec};
use proptest::prelude::*;
use rfq_ring::{Full, Record};
use std::collections::VecDeque;

#[derive(Clone, Debug)]
enum Op {
    Push,
    PushSlice(usize),
    Claim { n: usize, commit: usize },
    ClaimUpTo { max: usize, commit: usize },
    Pop,
    ReadBatch(usize),
    PollInto(usize),
    Peek { max: usize, commit: usize },
    Skip(usize),
    Check,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => Just(Op::Push),
        2 => (0..20usize).prop_map(Op::PushSlice),
        2 => (0..20usize, 0..20usize).prop_map(|(n, commit)| Op::Claim { n, commit }),
        2 => (0..20usize, 0..20usize).prop_map(|(max, commit)| Op::ClaimUpTo { max, commit }),
        3 => Just(Op::Pop),
        2 => (0..20usize).prop_map(Op::ReadBatch),
        2 => (0..20usize).prop_map(Op::PollInto),
        2 => (0..20usize, 0..20usize).prop_map(|(max, commit)| Op::Peek { max, commit }),
        1 => (0..20usize).prop_map(Op::Skip),
        1 => Just(Op::Check),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn ring_matches_vecdeque(cap_log in 1u32..5, ops in proptest::collection::vec(op(), 1..200)) {
        let cap = 1usize << cap_log;
        let (mut p, mut c) = rfq_ring::channel(cap).unwrap();
        let mut model: VecDeque<u64> = VecDeque::new();
        let mut next = 0u64;
        for op in ops {
            let free = cap - model.len();
            match op {
                Op::Push => {
                    let r = p.try_push(&rec(next));
                    if free > 0 {
                        prop_assert_eq!(r, Ok(()));
                        model.push_back(next);
                        next += 1;
                    } else {
                        prop_assert_eq!(r, Err(Full));
                    }
                }
                Op::PushSlice(n) => {
                    let recs: Vec<Record> = (next..next + n as u64).map(rec).collect();
                    let k = p.push_slice(&recs);
                    prop_assert_eq!(k, n.min(free));
                    model.extend(next..next + k as u64);
                    next += k as u64;
                }
                Op::Claim { n, commit } => match p.try_claim(n) {
                    Some(mut claim) => {
                        prop_assert!(n <= free);
                        prop_assert_eq!(claim.len(), n);
                        for i in 0..n {
                            claim.write(i, rec(next + i as u64));
                        }
                        let k = commit.min(n);
                        claim.commit_n(k);
                        model.extend(next..next + k as u64);
                        next += k as u64;
                    }
                    None => prop_assert!(n > free),
                },
                Op::ClaimUpTo { max, commit } => {
                    let mut claim = p.claim_up_to(max);
                    let n = claim.len();
                    prop_assert_eq!(n, max.min(free));
                    let (a, b) = claim.as_mut_slices();
                    prop_assert_eq!(a.len() + b.len(), n);
                    for (i, slot) in a.iter_mut().chain(b.iter_mut()).enumerate() {
                        *slot = rec(next + i as u64);
                    }
                    let k = commit.min(n);
                    claim.commit_n(k);
                    model.extend(next..next + k as u64);
                    next += k as u64;
                }
                Op::Pop => {
                    let got = c.try_pop();
                    match model.pop_front() {
                        Some(s) => check(&got.unwrap(), s),
                        None => prop_assert!(got.is_none()),
                    }
                }
                Op::ReadBatch(max) => {
                    let mut seen = Vec::new();
                    let k = c.read_batch(max, |r| seen.push(*r));
                    prop_assert_eq!(k, max.min(model.len()));
                    prop_assert_eq!(seen.len(), k);
                    for r in &seen {
                        check(r, model.pop_front().unwrap());
                    }
                }
                Op::PollInto(n) => {
                    let mut out = vec![Record::ZERO; n];
                    let k = c.poll_into(&mut out);
                    prop_assert_eq!(k, n.min(model.len()));
                    for r in &out[..k] {
                        check(r, model.pop_front().unwrap());
                    }
                }
                Op::Peek { max, commit } => {
                    let chunk = c.peek(max);
                    let n = chunk.len();
                    prop_assert_eq!(n, max.min(model.len()));
                    for (r, s) in chunk.iter().zip(model.iter()) {
                        check(r, *s);
                    }
                    let k = commit.min(n);
                    chunk.commit_n(k);
                    model.drain(..k);
                }
                Op::Skip(n) => {
                    let k = c.skip(n);
                    prop_assert_eq!(k, n.min(model.len()));
                    model.drain(..k);
                }
                Op::Check => {}
            }
            prop_assert_eq!(c.available(), model.len());
            prop_assert_eq!(p.free_slots(), cap - model.len());
            prop_assert_eq!(p.write_pos() - c.read_pos(), model.len() as u64);
        }
    }
}
