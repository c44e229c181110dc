//! The gateway's logic without Aeron: a recording transport, real (anonymous) rings.

use std::cell::RefCell;
use std::rc::Rc;

use hmac::{Hmac, Mac};
use proptest::prelude::*;
use rfq_gateway::gateway::{Offer, Publisher, Transport};
use rfq_gateway::wire::{self, i64_at, logon_mac_input, msg, reject, role, u16_at, u64_at, Header, HEADER_SIZE};
use rfq_gateway::{Gateway, Principal, Settings};
use rfq_ring::{flags, kind, Consumer, Producer, Record};
use sha2::Sha256;

const ACME: u16 = 1;
const OPER: u16 = 1;
const AERON_SESSION: i32 = 77;

#[derive(Default)]
struct Wire {
    sent: Vec<(i32, Vec<u8>)>,
    /// answer `Retry` to every offer (a subscriber that does not read)
    stalled: bool,
}

#[derive(Clone)]
struct Pub(i32, Rc<RefCell<Wire>>);

impl Publisher for Pub {
    fn offer(&self, data: &[u8]) -> Offer {
        let mut w = self.1.borrow_mut();
        if w.stalled {
            return Offer::Retry;
        }
        w.sent.push((self.0, data.to_vec()));
        Offer::Sent
    }
}

struct Fake(Rc<RefCell<Wire>>);

impl Transport for Fake {
    type Pub = Pub;
    fn publication(&mut self, stream: i32) -> Result<Pub, String> {
        Ok(Pub(stream, Rc::clone(&self.0)))
    }
}

struct Rig {
    /// (token, session key) of each logged-on principal, to sign hand-built requests
    keys: Vec<(u64, [u8; 32])>,
    gw: Gateway<Fake>,
    wire: Rc<RefCell<Wire>>,
    core_in: Consumer,
    core_out: Producer,
}

fn settings(backlog_limit: usize) -> Settings {
    Settings {
        principals: vec![
            Principal { role: role::CLIENT, id: ACME, name: "acme".into(), secret: b"acme-secret".to_vec() },
            Principal { role: role::CLIENT, id: 2, name: "beta".into(), secret: b"beta-secret".to_vec() },
            Principal { role: role::OPERATOR, id: OPER, name: "desk".into(), secret: b"op-secret".to_vec() },
        ],
        response_stream_base: 2000,
        operator_stream: 3000,
        logon_window_ns: 30_000_000_000,
        offer_retries: 4,
        backlog_limit,
        measure_core_hop: false,
        executions: vec![(2, [7, 70, 700, 7_000, 3, 1, 6_000_000, 100, 600_000_000, 30, 5])],
    }
}

fn rig(backlog_limit: usize) -> Rig {
    let wire = Rc::new(RefCell::new(Wire::default()));
    let (prod, core_in) = rfq_ring::channel(1 << 12).unwrap();
    let (core_out, tap) = rfq_ring::channel(1 << 10).unwrap();
    let gw = Gateway::new(Fake(Rc::clone(&wire)), settings(backlog_limit), prod, tap).unwrap();
    Rig { keys: Vec::new(), gw, wire, core_in, core_out }
}

fn frame(t: u8, session: u64, seq: u64, id: u16, r: u8, body: &[u8]) -> Vec<u8> {
    let mut v = vec![0u8; HEADER_SIZE];
    v[0..4].copy_from_slice(&wire::MAGIC.to_le_bytes());
    v[4] = wire::VERSION;
    v[5] = t;
    v[6..8].copy_from_slice(&(body.len() as u16).to_le_bytes());
    v[8..16].copy_from_slice(&session.to_le_bytes());
    v[16..24].copy_from_slice(&seq.to_le_bytes());
    v[24..26].copy_from_slice(&id.to_le_bytes());
    v[26] = r;
    v.extend_from_slice(body);
    v
}

fn logon_frame(r: u8, id: u16, secret: &[u8], nonce: u64, ts: i64) -> Vec<u8> {
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(secret).unwrap();
    m.update(&logon_mac_input(id, nonce, ts));
    let mac = m.finalize().into_bytes();
    let mut body = Vec::new();
    body.extend_from_slice(&nonce.to_le_bytes());
    body.extend_from_slice(&ts.to_le_bytes());
    body.extend_from_slice(&mac);
    frame(if r == role::CLIENT { msg::LOGON } else { msg::OP_LOGON }, 0, 1, id, r, &body)
}

fn rfq_body(rfq_id: u64, inst: u16, side: u8, fl: u8, qty: i64) -> Vec<u8> {
    let mut b = vec![0u8; 48];
    b[0..8].copy_from_slice(&rfq_id.to_le_bytes());
    b[8..10].copy_from_slice(&inst.to_le_bytes());
    b[10] = side;
    b[11] = fl;
    b[16..24].copy_from_slice(&qty.to_le_bytes());
    b[24..32].copy_from_slice(&7_000_000i64.to_le_bytes()); // limit
    b[32..40].copy_from_slice(&5_000_000_000i64.to_le_bytes()); // ttl
    b[40..48].copy_from_slice(&123i64.to_le_bytes()); // sent
    b
}

impl Rig {
    fn take(&self) -> Vec<(i32, Vec<u8>)> {
        std::mem::take(&mut self.wire.borrow_mut().sent)
    }

    /// A hand-built request whose `session` field holds a logged-on principal's token is signed
    /// as that session signs (the MAC replaces the token); anything else goes as it is.
    fn req(&mut self, mut f: Vec<u8>, aeron: i32) {
        if f.len() >= 16 {
            let tok = u64_at(&f, 8);
            if let Some(&(_, key)) = self.keys.iter().find(|(t, _)| *t == tok && tok != 0) {
                let mac = wire::request_mac(&key, &f);
                f[8..16].copy_from_slice(&mac);
            }
        }
        self.gw.on_request(&f, aeron);
    }

    fn logon(&mut self, r: u8, id: u16, secret: &[u8], nonce: u64) -> u64 {
        let f = logon_frame(r, id, secret, nonce, rfq_gateway::gateway::wall_ns());
        self.gw.on_request(&f, AERON_SESSION);
        let sent = self.take();
        let (stream, ack) = sent.last().expect("an answer").clone();
        let h = Header::read(&ack);
        assert_eq!(h.msg_type, msg::LOGON_ACK, "logon answered {h:?}");
        let base = if r == role::CLIENT { 2000 } else { 3000 };
        assert_eq!(stream, base + i32::from(id));
        assert_eq!(u64_at(&ack, HEADER_SIZE), nonce);
        let token = u64_at(&ack, HEADER_SIZE + 8);
        assert_ne!(token, 0);
        self.keys.push((token, wire::session_key(secret, id, nonce, token)));
        token
    }

    fn pushed(&mut self) -> Vec<Record> {
        let mut v = Vec::new();
        while let Some(r) = self.core_in.try_pop() {
            v.push(r);
        }
        v
    }

    fn core_says(&mut self, r: Record) {
        self.core_out.try_push(&r).unwrap();
        self.gw.poll_tap();
    }

    fn only_reject(&self, want: u16) {
        let sent = self.take();
        assert_eq!(sent.len(), 1, "one answer");
        let h = Header::read(&sent[0].1);
        assert_eq!(h.msg_type, msg::REJECT);
        assert_eq!(u16_at(&sent[0].1, HEADER_SIZE + 8), want, "reason");
    }
}

#[test]
fn logon_then_rfq_becomes_one_record_with_the_sessions_identity() {
    let mut g = rig(1000);
    let token = g.logon(role::CLIENT, ACME, b"acme-secret", 5);
    g.req(frame(msg::RFQ, token, 2, ACME, role::CLIENT, &rfq_body(9, 3, 0, 1, 150_000_000)), AERON_SESSION);
    let recs = g.pushed();
    assert_eq!(recs.len(), 1);
    let r = recs[0];
    assert_eq!((r.kind, r.instrument, r.side, r.source, r.seq), (kind::RFQ, 3, 0, ACME, 9));
    assert_eq!(r.flags, flags::END | flags::QTY_IN_QUOTE);
    assert_eq!((r.qty, r.price, r.aux, r.ts_event), (150_000_000, 7_000_000, 5_000_000_000, 123));
    assert!(r.ts_recv > 0 && r.ts_send > 0);
    assert!(g.take().is_empty(), "nothing answered by the gateway itself");
}

#[test]
fn logon_refusals_name_their_reason() {
    let mut g = rig(1000);
    let now = rfq_gateway::gateway::wall_ns();
    let cases: [(Vec<u8>, u16, i32); 4] = [
        (logon_frame(role::CLIENT, ACME, b"wrong", 1, now), reject::BAD_CREDENTIALS, 2001),
        (logon_frame(role::CLIENT, ACME, b"acme-secret", 2, now - 60_000_000_000), reject::STALE_LOGON, 2001),
        (logon_frame(role::CLIENT, 9, b"x", 3, now), reject::UNKNOWN_CLIENT, 2000),
        (logon_frame(role::OPERATOR, ACME + 5, b"x", 4, now), reject::UNKNOWN_CLIENT, 3000),
    ];
    for (f, reason, stream) in cases {
        g.gw.on_request(&f, AERON_SESSION);
        let sent = g.take();
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].0, stream);
        assert_eq!(Header::read(&sent[0].1).msg_type, msg::LOGON_REJECT);
        assert_eq!(u16_at(&sent[0].1, HEADER_SIZE + 8), reason);
    }
    g.logon(role::CLIENT, ACME, b"acme-secret", 10);
    let again = logon_frame(role::CLIENT, ACME, b"acme-secret", 10, now);
    g.gw.on_request(&again, AERON_SESSION);
    let sent = g.take();
    assert_eq!(u16_at(&sent[0].1, HEADER_SIZE + 8), reject::REPLAYED_NONCE);
    assert!(g.pushed().is_empty());
}

#[test]
fn session_checks_refuse_and_push_nothing() {
    let mut g = rig(1000);
    let token = g.logon(role::CLIENT, ACME, b"acme-secret", 5);
    let rfq = |seq: u64, tok: u64| frame(msg::RFQ, tok, seq, ACME, role::CLIENT, &rfq_body(1, 3, 0, 0, 1));
    g.req(rfq(5, token ^ 1), AERON_SESSION);
    g.only_reject(reject::BAD_SESSION);
    g.req(rfq(5, token), AERON_SESSION + 1); // another publication, the right token
    g.only_reject(reject::BAD_SESSION);
    g.req(rfq(1, token), AERON_SESSION); // not above the logon's seq
    g.only_reject(reject::BAD_SEQUENCE);
    g.req(rfq(u64::MAX, token), AERON_SESSION); // would wedge the session
    g.only_reject(reject::BAD_SEQUENCE);
    g.req(frame(msg::RFQ, token, 6, ACME, role::CLIENT, &rfq_body(1, 3, 0, 2, 1)), AERON_SESSION);
    g.only_reject(reject::BAD_FIELD); // an unknown RFQ flag
    g.req(frame(msg::CONTROL, token, 7, ACME, role::CLIENT, &[0; 40]), AERON_SESSION);
    g.only_reject(reject::UNEXPECTED_TYPE);
    g.req(frame(msg::RFQ, 0, 5, 2, role::CLIENT, &rfq_body(1, 3, 0, 0, 1)), AERON_SESSION);
    assert!(g.take().is_empty(), "beta never tried to log on: nothing to answer on");
    assert!(g.pushed().is_empty());
    g.req(rfq(8, token), AERON_SESSION); // the session still works
    assert_eq!(g.pushed().len(), 1);
    let st = g.gw.stats(false);
    assert_eq!(st.rejects[usize::from(reject::BAD_SEQUENCE)], 2);
    assert_eq!(st.unanswerable[usize::from(reject::NOT_LOGGED_ON)], 1);
}

#[test]
fn a_sequence_may_jump_at_most_2_pow_32() {
    let mut g = rig(1000);
    let token = g.logon(role::CLIENT, ACME, b"acme-secret", 5); // the logon's seq is 1
    let rfq = |seq: u64| frame(msg::RFQ, token, seq, ACME, role::CLIENT, &rfq_body(seq, 3, 0, 0, 1));
    g.req(rfq(1 + (1 << 32) + 1), AERON_SESSION);
    g.only_reject(reject::BAD_SEQUENCE);
    g.req(rfq(1 + (1 << 32)), AERON_SESSION); // exactly 2^32 above the last: taken
    assert_eq!(g.pushed().len(), 1);
    g.req(rfq(1 + (1 << 32)), AERON_SESSION); // and now the last
    g.only_reject(reject::BAD_SEQUENCE);
}

#[test]
fn a_logon_leaves_room_for_the_sequence_or_is_refused() {
    // The logon's seq is the session's first last seq: at 2^64 - 1 no request could follow it,
    // so a logon above MAX_LOGON_SEQ (2^63 - 1) is refused BAD_SEQUENCE and opens no session.
    let mut g = rig(1000);
    let ts = rfq_gateway::gateway::wall_ns();
    let at = |seq: u64, nonce: u64| {
        let mut f = logon_frame(role::CLIENT, ACME, b"acme-secret", nonce, ts);
        f[16..24].copy_from_slice(&seq.to_le_bytes());
        f
    };
    for (nonce, seq) in [(41, u64::MAX), (42, wire::MAX_LOGON_SEQ + 1)] {
        g.gw.on_request(&at(seq, nonce), AERON_SESSION);
        let sent = g.take();
        assert_eq!(sent.len(), 1, "one answer");
        let h = Header::read(&sent[0].1);
        assert_eq!(h.msg_type, msg::LOGON_REJECT);
        assert_eq!(u64_at(&sent[0].1, HEADER_SIZE), nonce);
        assert_eq!(u16_at(&sent[0].1, HEADER_SIZE + 8), reject::BAD_SEQUENCE, "reason");
        g.req(frame(msg::RFQ, 0, seq, ACME, role::CLIENT, &rfq_body(1, 3, 0, 0, 1)), AERON_SESSION);
        g.only_reject(reject::NOT_LOGGED_ON); // no session was opened
    }
    // the nonce of a refused logon is not used up, and the largest allowed seq is taken
    g.gw.on_request(&at(wire::MAX_LOGON_SEQ, 42), AERON_SESSION);
    let sent = g.take();
    let ack = &sent.last().expect("an answer").1;
    assert_eq!(Header::read(ack).msg_type, msg::LOGON_ACK);
    let token = u64_at(ack, HEADER_SIZE + 8);
    g.keys.push((token, wire::session_key(b"acme-secret", ACME, 42, token)));
    g.req(frame(msg::RFQ, token, wire::MAX_LOGON_SEQ + 1, ACME, role::CLIENT, &rfq_body(2, 3, 0, 0, 1)), AERON_SESSION);
    assert_eq!(g.pushed().len(), 1, "the next seq is taken");
    assert_eq!(wire::MAX_LOGON_SEQ, (1 << 63) - 1);
}

#[test]
fn core_answers_become_wire_messages_of_the_right_session() {
    let mut g = rig(1000);
    let token = g.logon(role::CLIENT, ACME, b"acme-secret", 5);
    let op_token = g.logon(role::OPERATOR, OPER, b"op-secret", 6);
    let q = |side: u8, fl: u8, px: i64| Record {
        kind: kind::RFQ_QUOTE, instrument: 3, side, flags: fl, source: ACME, seq: 41, ts_event: 1_000, ts_recv: 900,
        price: px, qty: 100, aux: 9, ts_send: 0,
    };
    g.core_says(q(0, 0, 7_001)); // the bid side of a two-way quote: not sent yet
    assert!(g.take().is_empty());
    g.core_says(q(1, flags::END | flags::PARTIAL_OK, 6_999));
    let sent = g.take();
    assert_eq!(sent.len(), 1);
    let (stream, m) = &sent[0];
    assert_eq!(*stream, 2001);
    let h = Header::read(m);
    assert_eq!((h.msg_type, h.session, h.seq, h.id, h.role), (msg::QUOTE, token, 2, ACME, role::CLIENT));
    let b = &m[HEADER_SIZE..];
    assert_eq!((u64_at(b, 0), u64_at(b, 8), u16_at(b, 16), b[18]), (41, 9, 3, 1 | 2 | 4));
    assert_eq!((i64_at(b, 24), i64_at(b, 32), i64_at(b, 40), i64_at(b, 48)), (7_001, 100, 6_999, 100));
    assert_eq!((i64_at(b, 56), i64_at(b, 64)), (1_000, 900));
    // an execution: EXEC then EXEC_FEES
    g.core_says(Record { kind: kind::EXEC, instrument: 3, side: 0, source: ACME, seq: 500, ts_event: 77, price: 7_001,
                         qty: 100, aux: 41, ..Record::ZERO });
    g.core_says(Record { kind: kind::EXEC_FEES, seq: 500, price: 12, qty: 700_100, aux: 9, ts_recv: 901, ..Record::ZERO });
    let sent = g.take();
    assert_eq!(sent.len(), 1);
    let b = &sent[0].1[HEADER_SIZE..];
    assert_eq!(Header::read(&sent[0].1).msg_type, msg::EXECUTION_REPORT);
    assert_eq!((u64_at(b, 0), u64_at(b, 8), u64_at(b, 16), i64_at(b, 24)), (500, 41, 9, 77));
    assert_eq!((i64_at(b, 40), i64_at(b, 48), i64_at(b, 56), i64_at(b, 64), i64_at(b, 72)), (7_001, 100, 700_100, 12, 901));
    // a CONTROL_ACK goes to every operator, with its own header
    g.core_says(Record { kind: kind::CONTROL_ACK, seq: (u64::from(OPER) << 48) | 3, side: 1, ..Record::ZERO });
    let sent = g.take();
    assert_eq!(sent.len(), 1);
    let h = Header::read(&sent[0].1);
    assert_eq!((sent[0].0, h.msg_type, h.session, h.id, h.role), (3001, msg::CONTROL_ACK, op_token, OPER, role::OPERATOR));
    // an answer for a client without a session is counted, not sent
    g.core_says(Record { kind: kind::RFQ_REJECT, source: 2, seq: 1, flags: flags::END, ..Record::ZERO });
    assert!(g.take().is_empty());
    assert_eq!(g.gw.stats(false).no_session_drops, 1);
}

#[test]
fn a_client_that_does_not_read_is_cut_off_with_a_count_and_a_notice() {
    let mut g = rig(8);
    let token = g.logon(role::CLIENT, ACME, b"acme-secret", 5);
    g.wire.borrow_mut().stalled = true;
    for i in 0..8u64 {
        g.core_says(Record { kind: kind::QUOTE_END, source: ACME, seq: i, ..Record::ZERO });
    }
    let st = g.gw.stats(false);
    assert_eq!((st.offer_backlogged, st.out_backlog, st.sessions_client), (1, 8, 1)); // at the limit: kept
    g.core_says(Record { kind: kind::QUOTE_END, source: ACME, seq: 99, ..Record::ZERO });
    let st = g.gw.stats(false);
    assert_eq!((st.slow_consumer_disconnects, st.backlog_dropped, st.sessions_client), (1, 9, 0));
    assert!(g.gw.take_logs().iter().any(|l| l.text.contains("slow consumer")));
    g.wire.borrow_mut().stalled = false;
    g.req(frame(msg::RFQ, token, 9, ACME, role::CLIENT, &rfq_body(1, 3, 0, 0, 1)), AERON_SESSION);
    g.only_reject(reject::NOT_LOGGED_ON);
}

#[test]
fn a_publication_that_goes_away_ends_its_session() {
    let mut g = rig(1000);
    let token = g.logon(role::CLIENT, ACME, b"acme-secret", 5);
    g.gw.image_gone(AERON_SESSION + 1); // someone else's
    assert_eq!(g.gw.stats(false).sessions_client, 1);
    g.gw.image_gone(AERON_SESSION);
    let st = g.gw.stats(false);
    assert_eq!((st.sessions_client, st.sessions_ended_image_gone), (0, 1));
    // the token read off the response stream is worth nothing now, from any publication
    g.req(frame(msg::RFQ, token, 9, ACME, role::CLIENT, &rfq_body(1, 3, 0, 0, 1)), AERON_SESSION + 2);
    g.only_reject(reject::NOT_LOGGED_ON);
    assert!(g.pushed().is_empty());
}

#[test]
fn logout_is_confirmed_with_the_old_token_and_ends_the_session() {
    let mut g = rig(1000);
    let token = g.logon(role::CLIENT, ACME, b"acme-secret", 5);
    g.req(frame(msg::LOGOUT, token, 2, ACME, role::CLIENT, &[]), AERON_SESSION);
    let sent = g.take();
    let h = Header::read(&sent[0].1);
    assert_eq!((sent.len(), h.msg_type, h.session), (1, msg::LOGOUT, token));
    g.req(frame(msg::RFQ, token, 3, ACME, role::CLIENT, &rfq_body(1, 3, 0, 0, 1)), AERON_SESSION);
    g.only_reject(reject::NOT_LOGGED_ON);
    assert_eq!(g.gw.stats(false).logouts, 1);
}

#[test]
fn executions_sent_while_a_client_had_no_session_are_resent_on_request() {
    let mut g = rig(1000);
    let exec = |g: &mut Rig, trade: u64| {
        g.core_says(Record { kind: kind::EXEC, instrument: 3, source: ACME, seq: trade, price: 7_000, qty: 5,
                             aux: 41, ts_event: 9, ..Record::ZERO });
        g.core_says(Record { kind: kind::EXEC_FEES, seq: trade, price: 1, qty: 35_000, aux: 8, ts_recv: 77,
                             ..Record::ZERO });
    };
    exec(&mut g, 100); // acme has no session: counted, not sent, but kept
    exec(&mut g, 101);
    assert!(g.take().is_empty());
    assert_eq!(g.gw.stats(false).no_session_drops, 2);
    let token = g.logon(role::CLIENT, ACME, b"acme-secret", 5);
    g.req(frame(msg::EXEC_RESEND, token, 2, ACME, role::CLIENT, &100u64.to_le_bytes()), AERON_SESSION);
    let sent = g.take();
    assert_eq!(sent.len(), 2, "trade 101, then RESEND_END");
    let h = Header::read(&sent[0].1);
    assert_eq!((h.msg_type, h.session, h.seq), (msg::EXECUTION_REPORT, token, 2));
    assert_eq!(u64_at(&sent[0].1, HEADER_SIZE), 101);
    assert_eq!(i64_at(&sent[0].1, HEADER_SIZE + 56), 35_000);
    let end = &sent[1].1;
    assert_eq!(Header::read(end).msg_type, msg::RESEND_END);
    let b = &end[HEADER_SIZE..];
    assert_eq!((u64_at(b, 0), u64_at(b, 8), u64_at(b, 16)), (100, 1, 0)); // nothing dropped: complete
    // from 0: both; a client with none: an empty answer
    g.req(frame(msg::EXEC_RESEND, token, 3, ACME, role::CLIENT, &0u64.to_le_bytes()), AERON_SESSION);
    assert_eq!(g.take().len(), 3);
    // beta's one execution from before this gateway started (the settlement store's, given at start)
    let beta = g.logon(role::CLIENT, 2, b"beta-secret", 6);
    g.req(frame(msg::EXEC_RESEND, beta, 2, 2, role::CLIENT, &0u64.to_le_bytes()), AERON_SESSION);
    let sent = g.take();
    assert_eq!(sent.len(), 2);
    let b = &sent[0].1[HEADER_SIZE..];
    assert_eq!((u64_at(b, 0), u64_at(b, 8), u64_at(b, 16), i64_at(b, 24), u16_at(b, 32), b[34]), (7, 70, 700, 7_000, 3, 1));
    assert_eq!((i64_at(b, 40), i64_at(b, 48), i64_at(b, 56), i64_at(b, 64), i64_at(b, 72)), (6_000_000, 100, 600_000_000, 30, 5));
    assert_eq!(Header::read(&sent[0].1).session, beta);
    assert_eq!(u64_at(&sent[1].1, HEADER_SIZE + 8), 1);
    assert_eq!(g.gw.stats(false).resent, 4);
    assert!(g.pushed().is_empty(), "nothing for the core");
}

/// The QUOTE_STATUS_REPORT body answering `who`'s question about `quote` (the request is signed
/// with `token`'s session key and carries header seq `seq`).
fn ask_status(g: &mut Rig, token: u64, seq: u64, who: u16, quote: u64) -> Vec<u8> {
    g.req(frame(msg::QUOTE_STATUS, token, seq, who, role::CLIENT, &quote.to_le_bytes()), AERON_SESSION);
    let sent = g.take();
    assert_eq!(sent.len(), 1, "one answer");
    let h = Header::read(&sent[0].1);
    assert_eq!((sent[0].0, h.msg_type, h.session, h.id), (2000 + i32::from(who), msg::QUOTE_STATUS_REPORT, token, who));
    assert_eq!(usize::from(h.body_len), 64);
    sent[0].1[HEADER_SIZE..].to_vec()
}

#[test]
fn quote_status_says_what_the_core_said_and_the_same_for_foreign_and_unknown_ids() {
    use rfq_gateway::wire::quote_status as qs;
    let mut g = rig(1000);
    let token = g.logon(role::CLIENT, ACME, b"acme-secret", 5);
    let quote = |g: &mut Rig, id: u64, client: u16| {
        g.core_says(Record { kind: kind::RFQ_QUOTE, instrument: 3, side: 0, flags: flags::END, source: client, seq: id,
                             ts_event: 5_000 + id as i64, ts_recv: 900, price: 7_001, qty: 100, aux: 90 + id as i64,
                             ts_send: 0 });
    };
    let end = |g: &mut Rig, id: u64, client: u16, state: i64, reason: u8| {
        g.core_says(Record { kind: kind::QUOTE_END, instrument: 3, side: reason, flags: flags::END, source: client,
                             seq: id, ts_event: 90 + id as i64, ts_recv: 950 + id as i64, aux: state, ..Record::ZERO });
    };
    for id in 1..=5 {
        quote(&mut g, id, ACME);
    }
    quote(&mut g, 6, 2); // beta's (no session: not sent, still known)
    // 1 live; 2 filled; 3 rejected at the hit; 4 expired; 5 cancelled
    g.core_says(Record { kind: kind::EXEC, instrument: 3, side: 0, source: ACME, seq: 500, ts_event: 77, price: 7_001,
                         qty: 60, aux: 2, ..Record::ZERO });
    g.core_says(Record { kind: kind::EXEC_FEES, seq: 500, price: 12, qty: 420_060, aux: 92, ts_recv: 901, ..Record::ZERO });
    end(&mut g, 2, ACME, 1, 0);
    end(&mut g, 3, ACME, 2, 33);
    end(&mut g, 4, ACME, 3, 0);
    end(&mut g, 5, ACME, 4, 0);
    end(&mut g, 77, ACME, 3, 0); // quoted before this gateway started: known from its end
    g.take();
    let b = ask_status(&mut g, token, 2, ACME, 1);
    assert_eq!((u64_at(&b, 0), u64_at(&b, 8), u16_at(&b, 16), b[18], b[19]), (1, 91, 3, qs::LIVE, 0));
    assert_eq!((i64_at(&b, 24), u64_at(&b, 32), i64_at(&b, 56)), (5_001, 0, 900));
    let b = ask_status(&mut g, token, 3, ACME, 2);
    assert_eq!((b[18], b[20], u64_at(&b, 32), i64_at(&b, 40), i64_at(&b, 48)), (qs::FILLED, 0, 500, 7_001, 60));
    assert_eq!((i64_at(&b, 24), i64_at(&b, 56)), (5_002, 952));
    let b = ask_status(&mut g, token, 4, ACME, 3);
    assert_eq!((b[18], b[19], u64_at(&b, 32)), (qs::REJECTED, 33, 0));
    assert_eq!(ask_status(&mut g, token, 5, ACME, 4)[18], qs::EXPIRED);
    assert_eq!(ask_status(&mut g, token, 6, ACME, 5)[18], qs::CANCELLED);
    let b = ask_status(&mut g, token, 7, ACME, 77);
    assert_eq!((b[18], u64_at(&b, 8), i64_at(&b, 24), i64_at(&b, 56)), (qs::EXPIRED, 167, 0, 1_027));
    // beta's quote 6 and an id nobody has: the same bytes but the id echoed
    let foreign = ask_status(&mut g, token, 8, ACME, 6);
    let unknown = ask_status(&mut g, token, 9, ACME, 1 << 40);
    assert_eq!((foreign[18], foreign[19]), (qs::UNKNOWN_QUOTE, 39));
    assert_eq!(u64_at(&foreign, 0), 6);
    assert_eq!(foreign[8..], unknown[8..]);
    assert!(foreign[8..].iter().enumerate().all(|(i, &x)| x == 0 || i + 8 == 18 || i + 8 == 19));
    // beta sees its own quote 6 live, and the fill of the settlement store (quote 70, trade 7)
    let beta = g.logon(role::CLIENT, 2, b"beta-secret", 6);
    assert_eq!(ask_status(&mut g, beta, 2, 2, 6)[18], qs::LIVE);
    let b = ask_status(&mut g, beta, 3, 2, 70);
    assert_eq!((b[18], u64_at(&b, 8), u64_at(&b, 32), b[20], i64_at(&b, 40), i64_at(&b, 48)),
               (qs::FILLED, 700, 7, 1, 6_000_000, 100));
    assert_eq!(ask_status(&mut g, beta, 4, 2, 2)[18], qs::UNKNOWN_QUOTE); // acme's filled quote
    assert_eq!(g.gw.stats(false).status_queries, 11);
    assert!(g.pushed().is_empty(), "nothing for the core");
}

#[test]
fn malformed_and_unauthorised_quote_status_requests_are_refused() {
    let mut g = rig(1000);
    let token = g.logon(role::CLIENT, ACME, b"acme-secret", 5);
    let op = g.logon(role::OPERATOR, OPER, b"op-secret", 6);
    g.req(frame(msg::QUOTE_STATUS, token, 2, ACME, role::CLIENT, &[0u8; 16]), AERON_SESSION);
    g.only_reject(reject::LENGTH_MISMATCH);
    g.req(frame(msg::QUOTE_STATUS, token, 2, ACME, role::CLIENT, &[0u8; 8])[..36].to_vec(), AERON_SESSION);
    g.only_reject(reject::TRUNCATED);
    g.req(frame(msg::QUOTE_STATUS, op, 2, OPER, role::OPERATOR, &[0u8; 8]), AERON_SESSION);
    g.only_reject(reject::UNEXPECTED_TYPE);
    g.req(frame(msg::QUOTE_STATUS, token ^ 1, 2, ACME, role::CLIENT, &[0u8; 8]), AERON_SESSION);
    g.only_reject(reject::BAD_SESSION);
    g.req(frame(msg::QUOTE_STATUS, token, 2, ACME, role::CLIENT, &[0u8; 8]), AERON_SESSION + 1);
    g.only_reject(reject::BAD_SESSION);
    g.req(frame(msg::QUOTE_STATUS, token, 1, ACME, role::CLIENT, &[0u8; 8]), AERON_SESSION); // not above the logon's
    g.only_reject(reject::BAD_SEQUENCE);
    // a taken query moves the sequence: the same seq again is refused
    let _ = ask_status(&mut g, token, 2, ACME, 0);
    g.req(frame(msg::QUOTE_STATUS, token, 2, ACME, role::CLIENT, &[0u8; 8]), AERON_SESSION);
    g.only_reject(reject::BAD_SEQUENCE);
    g.req(frame(msg::LOGOUT, token, 3, ACME, role::CLIENT, &[]), AERON_SESSION);
    g.take();
    g.req(frame(msg::QUOTE_STATUS, token, 4, ACME, role::CLIENT, &[0u8; 8]), AERON_SESSION);
    g.only_reject(reject::NOT_LOGGED_ON);
    assert_eq!(g.gw.stats(false).status_queries, 1);
    assert!(g.pushed().is_empty());
}

#[test]
fn a_full_ring_holds_records_in_order_and_stops_asking_for_more() {
    let wire = Rc::new(RefCell::new(Wire::default()));
    let (prod, mut core_in) = rfq_ring::channel(4).unwrap();
    let (_core_out, tap) = rfq_ring::channel(4).unwrap();
    let mut gw = Gateway::new(Fake(Rc::clone(&wire)), settings(10), prod, tap).unwrap();
    let f = logon_frame(role::CLIENT, ACME, b"acme-secret", 1, rfq_gateway::gateway::wall_ns());
    gw.on_request(&f, AERON_SESSION);
    let token = u64_at(&wire.borrow().sent[0].1, HEADER_SIZE + 8);
    let key = wire::session_key(b"acme-secret", ACME, 1, token);
    for i in 0..10u64 {
        let mut f = frame(msg::RFQ, 0, 10 + i, ACME, role::CLIENT, &rfq_body(i, 3, 0, 0, 1));
        let mac = wire::request_mac(&key, &f);
        f[8..16].copy_from_slice(&mac);
        gw.on_request(&f, AERON_SESSION);
    }
    assert!(!gw.wants_requests());
    let mut got = Vec::new();
    while got.len() < 10 {
        while let Some(r) = core_in.try_pop() {
            got.push(r.seq);
        }
        gw.flush_in();
    }
    assert_eq!(got, (0..10).collect::<Vec<_>>());
    assert!(gw.wants_requests());
    assert_eq!(gw.stats(false).ring_full, 1);
}

/// A valid request of each type for the logged-on acme (client) / desk (operator) sessions.
fn seeds(token: u64, op_token: u64) -> Vec<Vec<u8>> {
    let mut accept = vec![0u8; 40];
    accept[0..8].copy_from_slice(&41u64.to_le_bytes());
    accept[16..18].copy_from_slice(&3u16.to_le_bytes());
    let mut control = vec![0u8; 40];
    control[0..8].copy_from_slice(&1u64.to_le_bytes());
    vec![
        frame(msg::RFQ, token, 0, ACME, role::CLIENT, &rfq_body(1, 3, 0, 0, 100)),
        frame(msg::ACCEPT, token, 0, ACME, role::CLIENT, &accept),
        frame(msg::CANCEL, token, 0, ACME, role::CLIENT, &41u64.to_le_bytes()),
        frame(msg::CONTROL, op_token, 0, OPER, role::OPERATOR, &control),
    ]
}

/// The rules a pushed request must satisfy, written independently of the gateway's code (the
/// MAC itself is the wire module's; that it is Python's too is shown end to end by tests/test_gateway.py,
/// where the Python client signs and this gateway verifies).
fn should_push(f: &[u8], last_seq: u64, key: &[u8; 32], op_key: &[u8; 32], aeron: i32) -> bool {
    if f.len() < HEADER_SIZE {
        return false;
    }
    let h = Header::read(f);
    let want = match (h.msg_type, h.role, h.id) {
        (msg::RFQ, 0, ACME) => (48, key),
        (msg::ACCEPT, 0, ACME) => (40, key),
        (msg::CANCEL, 0, ACME) => (8, key),
        (msg::CONTROL, 1, OPER) => (40, op_key),
        _ => return false,
    };
    let b = &f[HEADER_SIZE..];
    h.magic == wire::MAGIC && h.version == 2 && usize::from(h.body_len) == want.0 && b.len() == want.0
        && wire::mac_ok(want.1, f) && aeron == AERON_SESSION && h.seq > last_seq && h.seq - last_seq <= 1 << 32
        && !(h.msg_type == msg::RFQ && b[11] > 1)
        && !(h.msg_type == msg::CONTROL && u64_at(b, 0) >= 1 << 48)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    /// Mutated and truncated frames: no panic, a record pushed exactly when the frame is a valid
    /// request of a live session, and only gateway answers (REJECT) otherwise.
    #[test]
    fn mutated_frames_push_only_valid_requests(
        which in 0usize..4,
        flips in proptest::collection::vec((0usize..90, any::<u8>()), 0..4),
        cut in -8i32..8,
        other_pub in proptest::bool::weighted(0.1),
        seq_jump in prop_oneof![Just(1u64), 0u64..3, Just(u64::MAX), Just(1u64 << 33)],
    ) {
        thread_local! {
            static STATE: RefCell<Option<(Rig, u64, u64, [u64; 2])>> = const { RefCell::new(None) };
        }
        STATE.with(|st| {
            let mut st = st.borrow_mut();
            if st.is_none() {
                let mut g = rig(1 << 20);
                let t = g.logon(role::CLIENT, ACME, b"acme-secret", 1);
                let o = g.logon(role::OPERATOR, OPER, b"op-secret", 2);
                *st = Some((g, t, o, [1, 1]));
            }
            let (g, token, op_token, last) = st.as_mut().unwrap();
            let mut f = seeds(*token, *op_token)[which].clone();
            let is_op = which == 3;
            let seq = last[usize::from(is_op)].saturating_add(seq_jump);
            f[16..24].copy_from_slice(&seq.to_le_bytes());
            let key_of = |tok: u64| g.keys.iter().rev().find(|(t, _)| *t == tok).map(|(_, k)| *k).unwrap();
            let (ckey, okey) = (key_of(*token), key_of(*op_token));
            let mac = wire::request_mac(if is_op { &okey } else { &ckey }, &f);
            f[8..16].copy_from_slice(&mac); // signed as the session signs, then mutated
            for &(i, v) in &flips {
                if i < f.len() { f[i] = v; }
            }
            let n = (f.len() as i32 + cut).max(0) as usize;
            f.resize(n, 0);
            let aeron = if other_pub { AERON_SESSION + 1 } else { AERON_SESSION };
            // which session (if any) the mutated header names decides which `last` applies
            let h = if f.len() >= HEADER_SIZE { Some(Header::read(&f)) } else { None };
            let slot = h.map(|h| usize::from(h.role == 1));
            let expect = slot.is_some_and(|s| should_push(&f, last[s], &ckey, &okey, aeron));
            g.gw.on_request(&f, aeron);
            let pushed = g.pushed();
            prop_assert_eq!(pushed.len(), usize::from(expect), "frame {:?}", f);
            if expect {
                last[slot.unwrap()] = h.unwrap().seq;
                prop_assert!(g.take().is_empty());
            } else {
                for (_, m) in g.take() {
                    let a = Header::read(&m);
                    if a.msg_type == msg::LOGOUT {
                        // a mutation that made a valid LOGOUT ends that session: log on again
                        prop_assert_eq!(h.unwrap().msg_type, msg::LOGOUT);
                        if a.role == role::CLIENT {
                            *token = g.logon(role::CLIENT, ACME, b"acme-secret", 1000 + last[0]);
                            last[0] = 1;
                        } else {
                            *op_token = g.logon(role::OPERATOR, OPER, b"op-secret", 1000 + last[1]);
                            last[1] = 1;
                        }
                    } else if a.msg_type == msg::RESEND_END {
                        prop_assert_eq!(h.unwrap().msg_type, msg::EXEC_RESEND); // answered by the gateway itself
                        last[0] = h.unwrap().seq; // and taken: the session's sequence moved
                    } else if a.msg_type == msg::QUOTE_STATUS_REPORT {
                        prop_assert_eq!(h.unwrap().msg_type, msg::QUOTE_STATUS); // answered by the gateway itself
                        last[0] = h.unwrap().seq;
                    } else {
                        prop_assert_eq!(a.msg_type, msg::REJECT);
                    }
                }
            }
            prop_assert_eq!(g.gw.stats(false).internal_errors, 0);
            Ok(())
        })?;
    }
}
