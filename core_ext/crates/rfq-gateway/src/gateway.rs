//! The gateway's logic, free of any transport: requests in (`on_request`), ring records to the
//! core, core outputs (`poll_tap`) back out as wire messages to the sessions' publications.
//!
//! Behaviour is the documented one of docs/gateway-schema.md, the same as the Python gateway
//! (`rfqcore.gateway.server`, kept as the fallback):
//! * **Validation first, nothing half done.** A request is decoded and checked completely
//!   (header, type, role, lengths, session token, Aeron publication, sequence) before a record
//!   is pushed; a refused request pushes nothing and is answered with a `REJECT` naming the
//!   reason. A message whose header names no principal that has tried to log on cannot be
//!   answered: it is counted and dropped.
//! * **Identity comes from the session**: a record's `source` is the session's authenticated
//!   id, never a value the peer wrote.
//! * **Back pressure, never drops, on the way in**: a full ring stops the Aeron poll
//!   (`wants_requests`); decoded records wait in order.
//! * **Bounded work on the way out**: a back-pressured publication is retried `offer_retries`
//!   times, then the message waits in that principal's backlog (order kept); a backlog beyond
//!   `backlog_limit` ends the session (slow consumer) and says so to the client when it can.
//!
//! The hot path (an RFQ in, a quote out) allocates nothing: sessions and routes are tables
//! indexed by id, messages are built in a stack [`Frame`].

use std::collections::{HashMap, VecDeque};

use hdrhistogram::Histogram;
use hmac::{Hmac, Mac};
use rfq_ring::{flags, kind, Consumer, Producer, Record};
use sha2::Sha256;

use crate::status::QuoteBook;
use crate::wire::{
    self, body_len, i64_at, logon_mac_input, msg, quote_flag, reject, request_role, role, u16_at, u64_at, Frame,
    Header, CONTROL_ID_BITS, CONTROL_ID_MASK, HEADER_SIZE, MAX_LOGON_SEQ, MAX_SEQ_STEP, RFQ_FLAG_QTY_IN_QUOTE,
};

/// How long a new response publication may stay unconnected before messages to it are dropped.
pub const CONNECT_GRACE_NS: i64 = 2_000_000_000;
const IDS: usize = 1 << 16;
const NO_OUT: u32 = u32::MAX;
const TAP_BATCH: usize = 256;
/// Execution reports kept per client for `EXEC_RESEND` (the newest; older ones are in the
/// settlement store).
pub const EXEC_LOG_LIMIT: usize = 65_536;

/// What an offer did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Offer {
    /// Appended to the log.
    Sent,
    /// Back pressure or an admin action: try again.
    Retry,
    /// Nobody subscribed (yet, or any more).
    NotConnected,
    /// The publication cannot be used any more.
    Closed,
}

/// A response publication.
pub trait Publisher {
    /// Offers one message.
    fn offer(&self, data: &[u8]) -> Offer;
}

/// Makes response publications (Aeron in production, a recorder in unit tests).
pub trait Transport {
    /// Its publications.
    type Pub: Publisher;
    /// A publication on response stream `stream`.
    ///
    /// # Errors
    /// The transport's reason, as text.
    fn publication(&mut self, stream: i32) -> Result<Self::Pub, String>;
}

/// A principal of `rfq.toml` (client or operator) the gateway may log on.
#[derive(Clone)]
pub struct Principal {
    /// 0 = client, 1 = operator.
    pub role: u8,
    /// Client or operator id.
    pub id: u16,
    /// Name in rfq.toml (for logs).
    pub name: String,
    /// The logon HMAC key.
    pub secret: Vec<u8>,
}

/// Settings of one gateway (the parts the logic needs).
#[derive(Clone)]
pub struct Settings {
    /// Who may log on.
    pub principals: Vec<Principal>,
    /// Client N answers on `response_stream_base + N` (0: logon rejects).
    pub response_stream_base: i32,
    /// Operator N answers on `operator_stream + N`.
    pub operator_stream: i32,
    /// A logon's timestamp must be within this of the gateway's clock.
    pub logon_window_ns: i64,
    /// Offers retried on back pressure before a message goes to the backlog.
    pub offer_retries: u32,
    /// Messages a principal may have waiting before its session ends (slow consumer).
    pub backlog_limit: usize,
    /// Record ring push → quote read back per RFQ.
    pub measure_core_hop: bool,
    /// Execution reports from before this gateway started (the settlement store's), oldest
    /// first: (client id, [trade, quote, rfq, accept, instrument, side, price, qty, notional,
    /// fee, core time]) — kept for EXEC_RESEND as if this gateway had sent them.
    pub executions: Vec<(u16, [i64; 11])>,
}

/// A log line for the desk's logger (the gateway thread never calls Python).
#[derive(Clone, Debug)]
pub struct LogLine {
    /// 20 = info, 30 = warning, 40 = error (Python's levels).
    pub level: u8,
    /// The line.
    pub text: String,
}

/// Counters, read as a snapshot by `stats()`.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    /// Request messages received.
    pub n_in: u64,
    /// Messages sent.
    pub n_out: u64,
    /// Records pushed into the core.
    pub pushed: u64,
    /// Core outputs read from the tap.
    pub tap_records: u64,
    /// Sessions opened.
    pub logons: u64,
    /// Sessions closed by LOGOUT.
    pub logouts: u64,
    /// Client sessions now.
    pub sessions_client: u64,
    /// Operator sessions now.
    pub sessions_operator: u64,
    /// REJECT / LOGON_REJECT answers by reason code.
    pub rejects: [u64; reject::COUNT],
    /// Refused messages nobody could be told about, by reason code.
    pub unanswerable: [u64; reject::COUNT],
    /// Times the input ring was found full.
    pub ring_full: u64,
    /// Records waiting for room in the ring now.
    pub ring_backlog: u64,
    /// Messages that went to a backlog after their retries.
    pub offer_backlogged: u64,
    /// Messages dropped: nobody subscribed to the stream.
    pub not_connected_drops: u64,
    /// Core answers for a principal without a session.
    pub no_session_drops: u64,
    /// Sessions ended for a backlog over the limit.
    pub slow_consumer_disconnects: u64,
    /// Messages dropped with those backlogs.
    pub backlog_dropped: u64,
    /// Request publications that went away.
    pub images_gone: u64,
    /// Sessions ended because their publication went away.
    pub sessions_ended_image_gone: u64,
    /// Failed polls and other internal errors.
    pub internal_errors: u64,
    /// Execution reports sent again on EXEC_RESEND.
    pub resent: u64,
    /// QUOTE_STATUS queries answered.
    pub status_queries: u64,
    /// Messages waiting in backlogs now.
    pub out_backlog: u64,
    /// count, p50, p99, p99.9, max (ns) of ring push -> quote read back, when measured
    pub core_hop: Option<[u64; 5]>,
    /// the gateway's out stage per quote (read off the tap -> offered): (value ns, count) of
    /// every non-empty bucket of its HdrHistogram
    pub out_latency: Vec<(u64, u64)>,
}

struct Out<P> {
    publ: P,
    stream: i32,
    created_ns: i64,
    backlog: VecDeque<Frame>,
    listed: bool,
}

#[derive(Clone, Copy)]
struct Session {
    token: u64,
    /// the session key (wire::session_key): requests carry a MAC under it, never the token
    key: [u8; 32],
    aeron_session: i32,
    last_seq: u64,
    out: u32,
    out_seq: u64,
}

/// One client's execution reports for EXEC_RESEND.
struct ExecLog {
    kept: VecDeque<(u64, Frame)>,
    /// the newest trade id dropped from `kept` to stay within EXEC_LOG_LIMIT (0: none)
    newest_dropped: u64,
}

impl ExecLog {
    fn new() -> Self {
        ExecLog { kept: VecDeque::with_capacity(1024), newest_dropped: 0 }
    }

    /// Keeps the report of `trade`, dropping the oldest beyond EXEC_LOG_LIMIT. Trade ids grow
    /// with every fill of the desk, so a report at or below the newest kept one is one this log
    /// already holds — the same trade from two sources (the settlement store's trades given at
    /// start and the committed client answers a cluster leader's tap begins with): kept once.
    fn keep(&mut self, trade: u64, f: Frame) {
        if self.kept.back().is_some_and(|&(t, _)| trade <= t) {
            return;
        }
        if self.kept.len() == EXEC_LOG_LIMIT {
            if let Some((t, _)) = self.kept.pop_front() {
                self.newest_dropped = t;
            }
        }
        self.kept.push_back((trade, f));
    }
}

/// An EXECUTION_REPORT to `client` (session fields filled in when sent): trade, quote, rfq,
/// accept, instrument, side, price, qty, notional, fee, core time.
fn execution_report(client: u16, e: [i64; 11]) -> Frame {
    let mut f = Frame::new(msg::EXECUTION_REPORT, 0, 0, client, role::CLIENT);
    f.i64(0, e[0]).i64(8, e[1]).i64(16, e[2]).i64(24, e[3]).u16(32, e[4] as u16).u8(34, e[5] as u8)
        .i64(40, e[6]).i64(48, e[7]).i64(56, e[8]).i64(64, e[9]).i64(72, e[10]);
    f
}

struct QuoteAsm {
    quote_id: u64,
    rfq_id: u64,
    inst: u16,
    flags: u8,
    buy: (i64, i64),
    sell: (i64, i64),
    valid_until: i64,
    core_time: i64,
}

struct ExecAsm {
    trade: u64,
    quote: u64,
    inst: u16,
    side: u8,
    price: i64,
    qty: i64,
    accept: i64,
    client: u16,
}

/// The gateway's state and logic.
pub struct Gateway<T: Transport> {
    transport: T,
    s: Settings,
    secrets: [Vec<Option<usize>>; 2], // id -> index in s.principals
    sessions: [Box<[Option<Session>]>; 2],
    out_of: [Box<[u32]>; 2],
    outs: Vec<Out<T::Pub>>,
    logon_outs: [u32; 2],
    nonces: HashMap<(u8, u16), HashMap<u64, i64>>,
    backlogged: Vec<u32>,
    prod: Producer,
    tap: Consumer,
    tapbuf: Box<[Record; TAP_BATCH]>,
    in_backlog: VecDeque<Record>,
    quote: Option<QuoteAsm>,
    exec: Option<ExecAsm>,
    operators: Vec<u16>,
    /// every client's execution reports (trade id, message), oldest first, for EXEC_RESEND:
    /// kept whether or not the client had a session when it was sent
    exec_log: HashMap<u16, ExecLog>,
    /// every quote's status as the core's answers described it, for QUOTE_STATUS
    quote_book: QuoteBook,
    stats: Stats,
    core_hop: Option<Histogram<u64>>,
    /// every quote: read off the tap -> offered to the client's publication (ns)
    out_latency: Histogram<u64>,
    log_budget: u32,
    logs: Vec<LogLine>,
    clock: fn() -> i64,
    mono: fn() -> i64,
}

/// Wall-clock ns since the epoch (what the core's `ts_recv` is).
#[must_use]
pub fn wall_ns() -> i64 {
    let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

fn random_u64() -> u64 {
    let mut b = [0u8; 8];
    // The OS random source; failing it is not something a gateway can go on without.
    getrandom::fill(&mut b).expect("the OS random source");
    u64::from_le_bytes(b)
}

fn role_name(r: u8) -> &'static str {
    if r == role::CLIENT { "client" } else { "operator" }
}

impl<T: Transport> Gateway<T> {
    /// A gateway over `transport`, pushing into `prod` (the core's gateway ring) and reading the
    /// core's answers from `tap`.
    ///
    /// # Errors
    /// A logon stream publication the transport cannot make.
    pub fn new(mut transport: T, s: Settings, prod: Producer, tap: Consumer) -> Result<Self, String> {
        let mut secrets = [vec![None; IDS], vec![None; IDS]];
        for (i, p) in s.principals.iter().enumerate() {
            if p.role > role::OPERATOR {
                return Err(format!("principal {} has role {} (0 = client, 1 = operator)", p.name, p.role));
            }
            secrets[usize::from(p.role)][usize::from(p.id)] = Some(i);
        }
        let mut outs = Vec::new();
        let mut logon_outs = [0u32; 2];
        for r in [role::CLIENT, role::OPERATOR] {
            let stream = if r == role::CLIENT { s.response_stream_base } else { s.operator_stream };
            outs.push(Out {
                publ: transport.publication(stream)?,
                stream,
                created_ns: rfq_ring::clock::monotonic_ns(),
                backlog: VecDeque::new(),
                listed: false,
            });
            logon_outs[usize::from(r)] = u32::try_from(outs.len() - 1).expect("few outs");
        }
        let mut exec_log: HashMap<u16, ExecLog> = HashMap::new();
        let mut quote_book = QuoteBook::new();
        for &(client, e) in &s.executions {
            exec_log.entry(client).or_insert_with(ExecLog::new).keep(e[0] as u64, execution_report(client, e));
            quote_book.filled_before(client, &e);
        }
        let core_hop = if s.measure_core_hop { Histogram::new_with_bounds(1, 60_000_000_000, 3).ok() } else { None };
        Ok(Gateway {
            transport,
            s,
            secrets,
            sessions: [vec![None; IDS].into_boxed_slice(), vec![None; IDS].into_boxed_slice()],
            out_of: [vec![NO_OUT; IDS].into_boxed_slice(), vec![NO_OUT; IDS].into_boxed_slice()],
            outs,
            logon_outs,
            nonces: HashMap::new(),
            backlogged: Vec::new(),
            prod,
            tap,
            tapbuf: Box::new([Record::ZERO; TAP_BATCH]),
            in_backlog: VecDeque::new(),
            quote: None,
            exec: None,
            operators: Vec::new(),
            exec_log,
            quote_book,
            stats: Stats::default(),
            core_hop,
            out_latency: Histogram::new_with_bounds(1, 60_000_000_000, 3).map_err(|e| e.to_string())?,
            log_budget: 100,
            logs: Vec::new(),
            clock: wall_ns,
            mono: rfq_ring::clock::monotonic_ns,
        })
    }

    /// Replaces the wall clock (tests).
    pub fn set_clock(&mut self, clock: fn() -> i64) {
        self.clock = clock;
    }

    /// Log lines since the last call.
    pub fn take_logs(&mut self) -> Vec<LogLine> {
        std::mem::take(&mut self.logs)
    }

    fn log(&mut self, level: u8, text: String) {
        if self.logs.len() < 10_000 {
            self.logs.push(LogLine { level, text });
        }
    }

    /// A snapshot of the counters; `reset_histograms` restarts the core-hop histogram.
    pub fn stats(&mut self, reset_histograms: bool) -> Stats {
        let mut st = self.stats.clone();
        st.sessions_client = self.sessions[0].iter().filter(|s| s.is_some()).count() as u64;
        st.sessions_operator = self.sessions[1].iter().filter(|s| s.is_some()).count() as u64;
        st.ring_backlog = self.in_backlog.len() as u64;
        st.out_backlog = self.backlogged.iter().map(|&i| self.outs[i as usize].backlog.len() as u64).sum();
        st.out_latency = self.out_latency.iter_recorded().map(|v| (v.value_iterated_to(), v.count_at_value())).collect();
        if reset_histograms {
            self.out_latency.reset();
        }
        if let Some(h) = self.core_hop.as_mut() {
            st.core_hop = Some([
                h.len(),
                h.value_at_quantile(0.5),
                h.value_at_quantile(0.99),
                h.value_at_quantile(0.999),
                h.max(),
            ]);
            if reset_histograms {
                h.reset();
            }
        }
        st
    }

    /// False while decoded requests wait for room in the ring: the caller stops polling Aeron
    /// (back pressure to the clients' publications).
    #[must_use]
    pub fn wants_requests(&self) -> bool {
        self.in_backlog.is_empty()
    }

    // ---- outputs ----------------------------------------------------------------------------

    fn out_for(&mut self, r: u8, id: u16) -> Result<u32, String> {
        let cur = self.out_of[usize::from(r)][usize::from(id)];
        if cur != NO_OUT {
            return Ok(cur);
        }
        let base = if r == role::CLIENT { self.s.response_stream_base } else { self.s.operator_stream };
        let stream = base + i32::from(id);
        let publ = self.transport.publication(stream)?;
        self.outs.push(Out { publ, stream, created_ns: (self.mono)(), backlog: VecDeque::new(), listed: false });
        let i = u32::try_from(self.outs.len() - 1).expect("at most 2^17 outs");
        self.out_of[usize::from(r)][usize::from(id)] = i;
        Ok(i)
    }

    fn emit(&mut self, oi: u32, f: &Frame) {
        let retries = self.s.offer_retries;
        let out = &mut self.outs[oi as usize];
        if !out.backlog.is_empty() {
            out.backlog.push_back(*f);
            self.check_backlog(oi);
            return;
        }
        let mut r = out.publ.offer(f.as_bytes());
        let mut left = retries;
        while r == Offer::Retry && left > 0 {
            left -= 1;
            r = out.publ.offer(f.as_bytes());
        }
        match r {
            Offer::Sent => self.stats.n_out += 1,
            Offer::Retry => {
                self.stats.offer_backlogged += 1;
                out.backlog.push_back(*f);
                if !out.listed {
                    out.listed = true;
                    self.backlogged.push(oi);
                }
            }
            Offer::NotConnected | Offer::Closed => {
                if r == Offer::NotConnected && (self.mono)() - out.created_ns < CONNECT_GRACE_NS {
                    out.backlog.push_back(*f); // a new publication not linked to its subscriber yet
                    if !out.listed {
                        out.listed = true;
                        self.backlogged.push(oi);
                    }
                } else {
                    self.stats.not_connected_drops += 1; // nobody subscribed: the peer is gone
                }
            }
        }
    }

    fn check_backlog(&mut self, oi: u32) {
        if self.outs[oi as usize].backlog.len() <= self.s.backlog_limit {
            return;
        }
        let dropped = self.outs[oi as usize].backlog.len() as u64;
        self.stats.slow_consumer_disconnects += 1;
        self.stats.backlog_dropped += dropped;
        self.outs[oi as usize].backlog.clear();
        let stream = self.outs[oi as usize].stream;
        for r in [role::CLIENT, role::OPERATOR] {
            for id in 0..IDS {
                if let Some(s) = self.sessions[usize::from(r)][id] {
                    if s.out == oi {
                        let name = self.principal_name(r, id as u16);
                        self.log(30, format!(
                            "gateway: {} {name} is not draining its stream {stream}: session ended (slow consumer), \
                             {dropped} messages to it dropped", role_name(r)));
                        self.end_session(r, id as u16);
                        // A final notice where the transport takes it: a LOGOUT with the old
                        // token, offered once past the backlog (it may not fit either).
                        let f = Frame::new(msg::LOGOUT, s.token, s.out_seq + 1, id as u16, r);
                        let _ = self.outs[oi as usize].publ.offer(f.as_bytes());
                    }
                }
            }
        }
    }

    /// Retries the backlogs; returns the messages sent.
    pub fn flush_backlogs(&mut self) -> usize {
        let mut work = 0;
        let mut i = 0;
        while i < self.backlogged.len() {
            let oi = self.backlogged[i];
            let now = (self.mono)();
            let out = &mut self.outs[oi as usize];
            while let Some(f) = out.backlog.front() {
                match out.publ.offer(f.as_bytes()) {
                    Offer::Sent => {
                        out.backlog.pop_front();
                        self.stats.n_out += 1;
                        work += 1;
                    }
                    Offer::NotConnected | Offer::Closed if now - out.created_ns >= CONNECT_GRACE_NS => {
                        self.stats.not_connected_drops += out.backlog.len() as u64;
                        out.backlog.clear();
                    }
                    _ => break,
                }
            }
            if out.backlog.is_empty() {
                out.listed = false;
                self.backlogged.swap_remove(i);
            } else {
                i += 1;
            }
        }
        work
    }

    fn send(&mut self, r: u8, id: u16, f: &mut Frame) -> bool {
        let Some(s) = self.sessions[usize::from(r)][usize::from(id)].as_mut() else {
            self.stats.no_session_drops += 1;
            return false;
        };
        s.out_seq += 1;
        let (token, seq, oi) = (s.token, s.out_seq, s.out);
        let b = f.header_mut();
        b[8..16].copy_from_slice(&token.to_le_bytes());
        b[16..24].copy_from_slice(&seq.to_le_bytes());
        self.emit(oi, f);
        true
    }

    fn principal_name(&self, r: u8, id: u16) -> String {
        self.secrets[usize::from(r)][usize::from(id)]
            .map_or_else(|| format!("id {id}"), |i| self.s.principals[i].name.clone())
    }

    // ---- refusals ---------------------------------------------------------------------------

    fn refuse(&mut self, reason: u16, r: u8, id: u16, seq: u64, t: u8) {
        let oi = self.out_of[usize::from(r)][usize::from(id)];
        if oi == NO_OUT {
            self.unanswerable(reason, r, id, t);
            return;
        }
        self.stats.rejects[usize::from(reason)] += 1;
        let (token, oseq) = match self.sessions[usize::from(r)][usize::from(id)].as_mut() {
            Some(s) => {
                s.out_seq += 1;
                (s.token, s.out_seq)
            }
            None => (0, 0),
        };
        let mut f = Frame::new(msg::REJECT, token, oseq, id, r);
        f.u64(0, seq).u16(8, reason).u8(10, t).u8(11, wire::VERSION);
        self.emit(oi, &f);
    }

    fn unanswerable(&mut self, reason: u16, r: u8, id: u16, t: u8) {
        self.stats.unanswerable[usize::from(reason)] += 1;
        if self.log_budget > 0 {
            self.log_budget -= 1;
            let more = if self.log_budget == 0 { " -- further drops are only counted" } else { "" };
            self.log(30, format!(
                "gateway: dropped a message that cannot be answered: {} (role {r} id {id} type {t}){more}",
                reject::NAMES[usize::from(reason)]));
        }
    }

    // ---- requests ---------------------------------------------------------------------------

    /// One request message from the Aeron publication with session id `aeron_session`.
    pub fn on_request(&mut self, buf: &[u8], aeron_session: i32) {
        self.stats.n_in += 1;
        let n = buf.len();
        if n < HEADER_SIZE {
            self.stats.unanswerable[usize::from(reject::TRUNCATED)] += 1;
            if self.log_budget > 0 {
                self.log_budget -= 1;
                self.log(30, format!("gateway: dropped a message that cannot be answered: TRUNCATED ({n} bytes)"));
            }
            return;
        }
        let h = Header::read(buf);
        let (r, id, seq, t) = (h.role, h.id, h.seq, h.msg_type);
        if r > role::OPERATOR {
            self.unanswerable(reject::BAD_FIELD, r, id, t);
            return;
        }
        if h.magic != wire::MAGIC {
            return self.refuse(reject::BAD_MAGIC, r, id, seq, t);
        }
        if h.version != wire::VERSION {
            return self.refuse(reject::UNSUPPORTED_VERSION, r, id, seq, t);
        }
        let Some(want) = request_role(t) else {
            let why = if body_len(t).is_none() { reject::UNKNOWN_TYPE } else { reject::UNEXPECTED_TYPE };
            return self.refuse(why, r, id, seq, t);
        };
        if want.is_some_and(|w| w != r) {
            return self.refuse(reject::UNEXPECTED_TYPE, r, id, seq, t);
        }
        let bl = body_len(t).expect("a request type has a body length");
        if usize::from(h.body_len) != bl || n > HEADER_SIZE + bl {
            return self.refuse(reject::LENGTH_MISMATCH, r, id, seq, t);
        }
        if n < HEADER_SIZE + bl {
            return self.refuse(reject::TRUNCATED, r, id, seq, t);
        }
        if t == msg::LOGON || t == msg::OP_LOGON {
            return self.logon(buf, r, id, seq, aeron_session);
        }
        let Some(s) = self.sessions[usize::from(r)][usize::from(id)].as_mut() else {
            return self.refuse(reject::NOT_LOGGED_ON, r, id, seq, t);
        };
        if aeron_session != s.aeron_session || !wire::mac_ok(&s.key, buf) {
            return self.refuse(reject::BAD_SESSION, r, id, seq, t);
        }
        // strictly above the last, and not so far above that one wild value wedges the session
        if seq <= s.last_seq || seq - s.last_seq > MAX_SEQ_STEP {
            return self.refuse(reject::BAD_SEQUENCE, r, id, seq, t);
        }
        // the sequence advances only with a request that is taken (below): a refused one changes
        // nothing, not even the session's last sequence
        let b = &buf[HEADER_SIZE..];
        let now = (self.clock)();
        let rec = match t {
            msg::RFQ => {
                let fl = b[11];
                if fl & !RFQ_FLAG_QTY_IN_QUOTE != 0 {
                    return self.refuse(reject::BAD_FIELD, r, id, seq, t);
                }
                Record {
                    kind: kind::RFQ,
                    instrument: u16_at(b, 8),
                    side: b[10],
                    flags: flags::END | if fl != 0 { flags::QTY_IN_QUOTE } else { 0 },
                    source: id,
                    seq: u64_at(b, 0),
                    ts_event: i64_at(b, 40),
                    ts_recv: now,
                    price: i64_at(b, 24),
                    qty: i64_at(b, 16),
                    aux: i64_at(b, 32),
                    ts_send: 0,
                }
            }
            msg::ACCEPT => Record {
                kind: kind::ACCEPT,
                instrument: u16_at(b, 16),
                side: b[18],
                flags: flags::END,
                source: id,
                seq: u64_at(b, 0),
                ts_event: 0,
                ts_recv: now,
                price: i64_at(b, 24),
                qty: i64_at(b, 32),
                aux: i64_at(b, 8),
                ts_send: 0,
            },
            msg::CANCEL => Record {
                kind: kind::CANCEL,
                flags: flags::END,
                source: id,
                seq: u64_at(b, 0),
                ts_recv: now,
                ..Record::ZERO
            },
            msg::CONTROL => {
                let cid = u64_at(b, 0);
                if cid > CONTROL_ID_MASK {
                    return self.refuse(reject::BAD_FIELD, r, id, seq, t);
                }
                Record {
                    kind: kind::CONTROL,
                    instrument: u16_at(b, 12),
                    side: b[8],
                    flags: flags::END,
                    source: u16_at(b, 10),
                    seq: (u64::from(id) << CONTROL_ID_BITS) | cid,
                    ts_event: 0,
                    ts_recv: now,
                    price: i64_at(b, 16),
                    qty: i64_at(b, 24),
                    aux: i64_at(b, 32),
                    ts_send: 0,
                }
            }
            msg::EXEC_RESEND => {
                s.last_seq = seq;
                self.resend_executions(id, u64_at(b, 0));
                return;
            }
            msg::QUOTE_STATUS => {
                // answered here from the core's answers seen so far; nothing reaches the core
                s.last_seq = seq;
                let mut f = self.quote_book.report(id, u64_at(b, 0));
                self.stats.status_queries += 1;
                self.send(role::CLIENT, id, &mut f);
                return;
            }
            _ => {
                // LOGOUT: confirm with the old token, then end the session
                s.last_seq = seq;
                let mut f = Frame::new(msg::LOGOUT, 0, 0, id, r);
                self.send(r, id, &mut f);
                self.stats.logouts += 1;
                self.end_session(r, id);
                return;
            }
        };
        if let Some(s) = self.sessions[usize::from(r)][usize::from(id)].as_mut() {
            s.last_seq = seq;
        }
        self.push(rec);
    }

    fn push(&mut self, mut rec: Record) {
        // ts_send: CLOCK_MONOTONIC just before the push, as the Cython producer stamps it (the
        // core's RFQ-to-quote histogram and the core-hop figure start there)
        rec.ts_send = (self.mono)();
        if !self.in_backlog.is_empty() || self.prod.try_push(&rec).is_err() {
            if self.in_backlog.is_empty() {
                self.stats.ring_full += 1;
            }
            self.in_backlog.push_back(rec); // order kept; the Aeron poll stops until it drains
            return;
        }
        self.stats.pushed += 1;
    }

    /// Pushes what waits for room in the ring; returns the records pushed.
    pub fn flush_in(&mut self) -> usize {
        let mut work = 0;
        while let Some(rec) = self.in_backlog.front_mut() {
            rec.ts_send = (self.mono)();
            if self.prod.try_push(rec).is_err() {
                break;
            }
            self.in_backlog.pop_front();
            self.stats.pushed += 1;
            work += 1;
        }
        work
    }

    fn logon(&mut self, buf: &[u8], r: u8, id: u16, seq: u64, aeron_session: i32) {
        let b = &buf[HEADER_SIZE..];
        let (nonce, ts, mac) = (u64_at(b, 0), i64_at(b, 8), &b[16..48]);
        let Some(pi) = self.secrets[usize::from(r)][usize::from(id)] else {
            self.stats.rejects[usize::from(reject::UNKNOWN_CLIENT)] += 1;
            let mut f = Frame::new(msg::LOGON_REJECT, 0, 0, id, r);
            f.u64(0, nonce).u16(8, reject::UNKNOWN_CLIENT);
            let oi = self.logon_outs[usize::from(r)];
            self.emit(oi, &f);
            return;
        };
        let oi = match self.out_for(r, id) {
            Ok(oi) => oi,
            Err(e) => {
                self.stats.internal_errors += 1;
                self.log(40, format!("gateway: cannot open the response stream of {} {id}: {e}", role_name(r)));
                return;
            }
        };
        let now = (self.clock)();
        let mut m = <Hmac<Sha256> as Mac>::new_from_slice(&self.s.principals[pi].secret).expect("HMAC takes any key");
        m.update(&logon_mac_input(id, nonce, ts));
        let reason = if m.verify_slice(mac).is_err() {
            Some(reject::BAD_CREDENTIALS)
        } else if now.abs_diff(ts) > self.s.logon_window_ns.unsigned_abs() {
            Some(reject::STALE_LOGON)
        } else if seq > MAX_LOGON_SEQ {
            // the session's first last seq: no room above it (2^64 - 1 would wedge the session)
            Some(reject::BAD_SEQUENCE)
        } else {
            let window = self.s.logon_window_ns;
            let seen = self.nonces.entry((r, id)).or_default();
            if seen.len() > 64 {
                seen.retain(|_, v| *v >= now - 2 * window);
            }
            if seen.contains_key(&nonce) {
                Some(reject::REPLAYED_NONCE)
            } else {
                seen.insert(nonce, now);
                None
            }
        };
        let name = self.s.principals[pi].name.clone();
        if let Some(reason) = reason {
            self.stats.rejects[usize::from(reason)] += 1;
            self.log(20, format!("gateway: logon of {} {name} refused: {}", role_name(r), reject::NAMES[usize::from(reason)]));
            let mut f = Frame::new(msg::LOGON_REJECT, 0, 0, id, r);
            f.u64(0, nonce).u16(8, reason);
            self.emit(oi, &f);
            return;
        }
        self.end_session(r, id); // a new logon replaces the previous session
        let mut token = 0;
        while token == 0 {
            token = random_u64();
        }
        self.sessions[usize::from(r)][usize::from(id)] =
            Some(Session { token, key: wire::session_key(&self.s.principals[pi].secret, id, nonce, token), aeron_session,
                           last_seq: seq, out: oi, out_seq: 0 });
        if r == role::OPERATOR {
            self.operators.push(id);
        }
        self.stats.logons += 1;
        let stream = self.outs[oi as usize].stream;
        self.log(20, format!("gateway: {} {name} (id {id}) logged on, responses on stream {stream}", role_name(r)));
        let mut f = Frame::new(msg::LOGON_ACK, 0, 0, id, r);
        f.u64(0, nonce).u64(8, token).i64(16, now);
        self.send(r, id, &mut f);
    }

    fn end_session(&mut self, r: u8, id: u16) {
        if self.sessions[usize::from(r)][usize::from(id)].take().is_some() && r == role::OPERATOR {
            self.operators.retain(|&o| o != id);
        }
    }

    /// The Aeron image of publication `aeron_session` went away (its client exited or was cut
    /// off): every session bound to it ends, so nobody can act under it any more.
    pub fn image_gone(&mut self, aeron_session: i32) {
        self.stats.images_gone += 1;
        for r in [role::CLIENT, role::OPERATOR] {
            for id in 0..IDS {
                if self.sessions[usize::from(r)][id].is_some_and(|s| s.aeron_session == aeron_session) {
                    let name = self.principal_name(r, id as u16);
                    self.log(20, format!("gateway: {} {name} went away (its publication closed): session ended",
                                         role_name(r)));
                    self.end_session(r, id as u16);
                    self.stats.sessions_ended_image_gone += 1;
                }
            }
        }
    }

    // ---- core outputs -----------------------------------------------------------------------

    /// Reads a batch of the core's answers and sends them; returns the records read.
    pub fn poll_tap(&mut self) -> usize {
        if self.tap.available() == 0 {
            return 0;
        }
        let n = self.tap.poll_into(&mut self.tapbuf[..]);
        self.stats.tap_records += n as u64;
        let now = (self.mono)();
        for i in 0..n {
            let rec = self.tapbuf[i];
            if rec.kind == kind::RFQ_QUOTE && rec.ts_send > 0 {
                if let Some(h) = self.core_hop.as_mut() {
                    let _ = h.record(u64::try_from(now - rec.ts_send).unwrap_or(0).max(1));
                }
            }
            self.on_record(&rec);
            if rec.kind == kind::RFQ_QUOTE && rec.has_flag(flags::END) {
                // gateway out: the quote read off the tap -> offered on the client's stream
                let _ = self.out_latency.record(u64::try_from((self.mono)() - now).unwrap_or(0).max(1));
            }
        }
        n
    }

    fn client_frame(t: u8, client: u16) -> Frame {
        Frame::new(t, 0, 0, client, role::CLIENT)
    }

    fn on_record(&mut self, r: &Record) {
        match r.kind {
            kind::RFQ_QUOTE => {
                let fl = if r.has_flag(flags::PARTIAL_OK) { quote_flag::PARTIAL_OK } else { 0 };
                let q = match self.quote.take() {
                    Some(q) if q.quote_id == r.seq => Some(q),
                    _ => None,
                };
                let mut q = q.unwrap_or(QuoteAsm {
                    quote_id: r.seq,
                    rfq_id: r.aux as u64,
                    inst: r.instrument,
                    flags: 0,
                    buy: (0, 0),
                    sell: (0, 0),
                    valid_until: r.ts_event,
                    core_time: r.ts_recv,
                });
                if r.side == 0 {
                    q.flags |= quote_flag::BUY;
                    q.buy = (r.price, r.qty);
                } else {
                    q.flags |= quote_flag::SELL;
                    q.sell = (r.price, r.qty);
                }
                q.flags |= fl;
                if !r.has_flag(flags::END) {
                    self.quote = Some(q);
                    return;
                }
                self.quote_book.quoted(r.source, q.quote_id, q.rfq_id, q.inst, q.valid_until, q.core_time);
                let mut f = Self::client_frame(msg::QUOTE, r.source);
                f.u64(0, q.quote_id).u64(8, q.rfq_id).u16(16, q.inst).u8(18, q.flags).i64(24, q.buy.0).i64(32, q.buy.1)
                    .i64(40, q.sell.0).i64(48, q.sell.1).i64(56, q.valid_until).i64(64, q.core_time);
                self.send(role::CLIENT, r.source, &mut f);
            }
            kind::EXEC => {
                self.exec = Some(ExecAsm {
                    trade: r.seq,
                    quote: r.aux as u64,
                    inst: r.instrument,
                    side: r.side,
                    price: r.price,
                    qty: r.qty,
                    accept: r.ts_event,
                    client: r.source,
                });
            }
            kind::EXEC_FEES => {
                let e = match self.exec.take() {
                    Some(e) if e.trade == r.seq => e,
                    _ => {
                        self.log(40, format!("gateway: EXEC_FEES of trade {} without its EXEC record", r.seq));
                        return;
                    }
                };
                let mut f = execution_report(e.client, [e.trade as i64, e.quote as i64, r.aux, e.accept,
                    i64::from(e.inst), i64::from(e.side), e.price, e.qty, r.qty, r.price, r.ts_recv]);
                // kept first: a client without a session now (cut off, crashed, logging on
                // again) asks for it with EXEC_RESEND
                self.exec_log.entry(e.client).or_insert_with(ExecLog::new).keep(e.trade, f);
                self.quote_book.executed(e.client, e.quote, e.trade, e.side, e.price, e.qty);
                self.send(role::CLIENT, e.client, &mut f);
            }
            kind::QUOTE_END => {
                self.quote_book.ended(r.source, r.seq, r.ts_event as u64, r.instrument, (r.aux & 0xFF) as u8, r.side,
                                      r.ts_recv);
                let mut f = Self::client_frame(msg::QUOTE_END, r.source);
                f.u64(0, r.seq).i64(8, r.ts_event).u16(16, r.instrument).u8(18, (r.aux & 0xFF) as u8).u8(19, r.side)
                    .i64(24, r.ts_recv);
                self.send(role::CLIENT, r.source, &mut f);
            }
            kind::RFQ_REJECT => {
                let mut f = Self::client_frame(msg::RFQ_REJECT, r.source);
                f.u64(0, r.seq).u16(8, r.instrument).u8(10, r.side).u16(12, (r.aux & 0xFFFF) as u16).i64(16, r.qty)
                    .i64(24, r.price).i64(32, r.ts_recv);
                self.send(role::CLIENT, r.source, &mut f);
            }
            kind::ACCEPT_REJECT => {
                let mut f = Self::client_frame(msg::ACCEPT_REJECT, r.source);
                f.u64(0, r.seq).i64(8, r.ts_event).u16(16, r.instrument).u8(18, r.side).u16(20, (r.aux & 0xFFFF) as u16)
                    .i64(24, r.price).i64(32, r.qty).i64(40, r.ts_recv);
                self.send(role::CLIENT, r.source, &mut f);
            }
            kind::CANCEL_REJECT => {
                let mut f = Self::client_frame(msg::CANCEL_REJECT, r.source);
                f.u64(0, r.seq).u16(8, (r.aux & 0xFFFF) as u16).i64(16, r.ts_recv);
                self.send(role::CLIENT, r.source, &mut f);
            }
            kind::APPROVAL_PENDING => {
                let mut f = Self::client_frame(msg::APPROVAL_PENDING, r.source);
                f.i64(0, r.aux).u64(8, r.seq).u16(16, r.source).u16(18, r.instrument).u8(20, r.side).i64(24, r.qty)
                    .i64(32, r.price).i64(40, r.ts_event).i64(48, r.ts_recv);
                if self.sessions[0][usize::from(r.source)].is_some() {
                    self.send(role::CLIENT, r.source, &mut f.clone());
                }
                self.broadcast(&mut f);
            }
            kind::RISK_EVENT => {
                let mut f = Frame::new(msg::RISK_EVENT, 0, 0, 0, role::OPERATOR);
                f.u8(0, r.side).u16(2, r.instrument).u16(4, (r.price & 0xFFFF) as u16).i64(8, r.qty).i64(16, r.ts_recv);
                self.broadcast(&mut f);
            }
            kind::CONTROL_ACK => {
                let mut f = Frame::new(msg::CONTROL_ACK, 0, 0, 0, role::OPERATOR);
                f.u64(0, r.seq & CONTROL_ID_MASK).u16(8, ((r.seq >> CONTROL_ID_BITS) & 0xFFFF) as u16).u8(10, r.side)
                    .u16(12, r.source).u16(14, r.instrument).i64(16, r.price).i64(24, r.qty)
                    .u16(32, (r.aux & 0xFFFF) as u16).i64(40, r.ts_event).i64(48, r.ts_recv);
                self.broadcast(&mut f);
            }
            _ => {} // other kinds are not for the gateway (the tap should not carry them)
        }
    }

    /// EXEC_RESEND: every kept execution report of `client` with a trade id above `after`, in
    /// order, then RESEND_END (`after`, how many, the newest trade id no longer kept or 0: the
    /// answer is complete when that is not above `after`).
    fn resend_executions(&mut self, client: u16, after: u64) {
        let (frames, dropped): (Vec<Frame>, u64) = match self.exec_log.get(&client) {
            Some(log) => (log.kept.iter().filter(|(t, _)| *t > after).map(|(_, f)| *f).collect(), log.newest_dropped),
            None => (Vec::new(), 0),
        };
        let n = frames.len() as u64;
        for mut f in frames {
            self.send(role::CLIENT, client, &mut f);
        }
        self.stats.resent += n;
        let mut end = Self::client_frame(msg::RESEND_END, client);
        end.u64(0, after).u64(8, n).u64(16, dropped);
        self.send(role::CLIENT, client, &mut end);
    }

    /// Sends `f` to every logged-on operator (each with its own id, token and sequence).
    fn broadcast(&mut self, f: &mut Frame) {
        for i in 0..self.operators.len() {
            let id = self.operators[i];
            let mut g = *f;
            g.header_mut()[24..26].copy_from_slice(&id.to_le_bytes());
            g.header_mut()[26] = role::OPERATOR;
            self.send(role::OPERATOR, id, &mut g);
        }
    }
}

impl<T: Transport> Gateway<T> {
    /// Aeron polls that failed since the last tick (counted; logged once per tick).
    pub fn poll_failed(&mut self, n: u64) {
        self.stats.internal_errors += n;
        self.log(40, format!("gateway: {n} request polls failed (is the media driver still running?)"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_execution_log_keeps_each_trade_once_whatever_the_sources() {
        let mut log = ExecLog::new();
        // the settlement store's trades at start, then the same ones and a newer one off the tap
        for t in [1_i64, 2, 3, 1, 2, 3, 4] {
            let e = [t, 10 + t, 20 + t, 1, 1, 0, 100, 1, 100, 1, 0];
            log.keep(t as u64, execution_report(7, e));
        }
        assert_eq!(log.kept.iter().map(|&(t, _)| t).collect::<Vec<_>>(), vec![1, 2, 3, 4]);
        assert_eq!(log.newest_dropped, 0);
    }
}
