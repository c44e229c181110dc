//! Wire schema v2 (docs/gateway-schema.md): the 32-byte header, the message types and their
//! fixed body layouts, read and written at fixed offsets (little-endian, no allocation).
//!
//! `tests/test_native_gateway.py` holds these layouts equal to `rfqcore.gateway.schema`, the
//! reference codec, message by message.

/// `b"RFQG"` read as a little-endian u32.
pub const MAGIC: u32 = 0x4751_4652;
/// The schema version this gateway speaks (2: v1's layouts, requests signed with the session key).
pub const VERSION: u8 = 2;
/// Bytes of the header of every message.
pub const HEADER_SIZE: usize = 32;
/// The longest message (EXECUTION_REPORT: header + 80).
pub const MAX_MESSAGE: usize = 112;
/// A CONTROL's `control_id` fits this many bits (the operator id goes above them in `seq`).
pub const CONTROL_ID_BITS: u32 = 48;
/// Mask of a `control_id`.
pub const CONTROL_ID_MASK: u64 = (1 << CONTROL_ID_BITS) - 1;
/// How far above the session's last `seq` a request's `seq` may jump: one wild value must not
/// wedge the session (docs/gateway-schema.md, `BAD_SEQUENCE`).
pub const MAX_SEQ_STEP: u64 = 1 << 32;
/// The largest `seq` a logon may carry: it becomes the session's first last `seq`, so a logon
/// above it is refused `BAD_SEQUENCE` (at 2^64 - 1 no request could ever follow it) and every
/// session starts with at least 2^63 sequence values ahead (docs/gateway-schema.md).
pub const MAX_LOGON_SEQ: u64 = (1 << 63) - 1;

/// Header `role`. Names and values as in docs/gateway-schema.md.
#[allow(missing_docs)]
pub mod role {
    pub const CLIENT: u8 = 0;
    pub const OPERATOR: u8 = 1;
}

/// Header `type`: 1..31 requests, 64..127 gateway messages. Names and values as in docs/gateway-schema.md.
#[allow(missing_docs)]
pub mod msg {
    pub const LOGON: u8 = 1;
    pub const LOGOUT: u8 = 2;
    pub const RFQ: u8 = 3;
    pub const ACCEPT: u8 = 4;
    pub const CANCEL: u8 = 5;
    pub const OP_LOGON: u8 = 6;
    pub const CONTROL: u8 = 7;
    pub const EXEC_RESEND: u8 = 8;
    pub const QUOTE_STATUS: u8 = 9;
    pub const LOGON_ACK: u8 = 64;
    pub const LOGON_REJECT: u8 = 65;
    pub const REJECT: u8 = 66;
    pub const QUOTE: u8 = 70;
    pub const RFQ_REJECT: u8 = 71;
    pub const ACCEPT_REJECT: u8 = 72;
    pub const EXECUTION_REPORT: u8 = 73;
    pub const CANCEL_REJECT: u8 = 74;
    pub const QUOTE_END: u8 = 75;
    pub const APPROVAL_PENDING: u8 = 76;
    pub const RISK_EVENT: u8 = 77;
    pub const CONTROL_ACK: u8 = 78;
    pub const RESEND_END: u8 = 79;
    pub const QUOTE_STATUS_REPORT: u8 = 80;
}

/// `QUOTE_STATUS_REPORT.status`: the `QUOTE_END` states (1-4), 0 for a quote this client does
/// not have (unknown or another client's: the same answer), 5 while the core has not ended it.
/// Names and values as in docs/gateway-schema.md.
#[allow(missing_docs)]
pub mod quote_status {
    pub const UNKNOWN_QUOTE: u8 = 0;
    pub const FILLED: u8 = 1;
    pub const REJECTED: u8 = 2;
    pub const EXPIRED: u8 = 3;
    pub const CANCELLED: u8 = 4;
    pub const LIVE: u8 = 5;
}

/// `reason` of `REJECT` / `LOGON_REJECT` (refused before the core saw anything). Names and values as in docs/gateway-schema.md.
#[allow(missing_docs)]
pub mod reject {
    pub const TRUNCATED: u16 = 1;
    pub const LENGTH_MISMATCH: u16 = 2;
    pub const BAD_MAGIC: u16 = 3;
    pub const UNSUPPORTED_VERSION: u16 = 4;
    pub const UNKNOWN_TYPE: u16 = 5;
    pub const BAD_FIELD: u16 = 6;
    pub const UNEXPECTED_TYPE: u16 = 7;
    pub const UNKNOWN_CLIENT: u16 = 8;
    pub const BAD_CREDENTIALS: u16 = 9;
    pub const STALE_LOGON: u16 = 10;
    pub const REPLAYED_NONCE: u16 = 11;
    pub const NOT_LOGGED_ON: u16 = 12;
    pub const BAD_SESSION: u16 = 13;
    pub const BAD_SEQUENCE: u16 = 14;
    /// Number of codes + 1 (counters are indexed by code).
    pub const COUNT: usize = 15;
    /// The names `rfqcore.gateway.schema.GatewayReject` gives them, by code.
    pub const NAMES: [&str; COUNT] = [
        "", "TRUNCATED", "LENGTH_MISMATCH", "BAD_MAGIC", "UNSUPPORTED_VERSION", "UNKNOWN_TYPE",
        "BAD_FIELD", "UNEXPECTED_TYPE", "UNKNOWN_CLIENT", "BAD_CREDENTIALS", "STALE_LOGON",
        "REPLAYED_NONCE", "NOT_LOGGED_ON", "BAD_SESSION", "BAD_SEQUENCE",
    ];
}

/// `RFQ.flags` bits a client may set.
pub const RFQ_FLAG_QTY_IN_QUOTE: u8 = 1;
/// `QUOTE.flags` bits. Names and values as in docs/gateway-schema.md.
#[allow(missing_docs)]
pub mod quote_flag {
    pub const BUY: u8 = 1;
    pub const SELL: u8 = 2;
    pub const PARTIAL_OK: u8 = 4;
}

/// Body length of a message type, `None` for a type schema v2 does not have.
#[must_use]
pub const fn body_len(t: u8) -> Option<usize> {
    Some(match t {
        msg::LOGON | msg::OP_LOGON | msg::RFQ => 48,
        msg::LOGOUT => 0,
        msg::ACCEPT | msg::CONTROL | msg::RFQ_REJECT => 40,
        msg::CANCEL | msg::EXEC_RESEND | msg::QUOTE_STATUS => 8,
        msg::LOGON_ACK | msg::CANCEL_REJECT | msg::RISK_EVENT | msg::RESEND_END => 24,
        msg::LOGON_REJECT | msg::REJECT => 16,
        msg::QUOTE => 72,
        msg::ACCEPT_REJECT => 48,
        msg::EXECUTION_REPORT => 80,
        msg::QUOTE_END => 32,
        msg::APPROVAL_PENDING | msg::CONTROL_ACK => 56,
        msg::QUOTE_STATUS_REPORT => 64,
        _ => return None,
    })
}

/// Which role may send request type `t`: `Some(Some(role))`, `Some(None)` = either role,
/// `None` = not a request.
#[must_use]
pub const fn request_role(t: u8) -> Option<Option<u8>> {
    match t {
        msg::LOGON | msg::RFQ | msg::ACCEPT | msg::CANCEL | msg::EXEC_RESEND | msg::QUOTE_STATUS => {
            Some(Some(role::CLIENT))
        }
        msg::OP_LOGON | msg::CONTROL => Some(Some(role::OPERATOR)),
        msg::LOGOUT => Some(None),
        _ => None,
    }
}

/// A decoded header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// `MAGIC`.
    pub magic: u32,
    /// Schema version.
    pub version: u8,
    /// Message type (`msg`).
    pub msg_type: u8,
    /// Bytes after the header.
    pub body_len: u16,
    /// Session token (0 before logon).
    pub session: u64,
    /// Sender's sequence number.
    pub seq: u64,
    /// Client or operator id.
    pub id: u16,
    /// 0 = client, 1 = operator.
    pub role: u8,
}

impl Header {
    /// Reads the header of `buf` (at least [`HEADER_SIZE`] bytes: the caller checks).
    #[must_use]
    pub fn read(buf: &[u8]) -> Header {
        Header {
            magic: u32_at(buf, 0),
            version: buf[4],
            msg_type: buf[5],
            body_len: u16_at(buf, 6),
            session: u64_at(buf, 8),
            seq: u64_at(buf, 16),
            id: u16_at(buf, 24),
            role: buf[26],
        }
    }
}

/// Little-endian u16 at `o`.
#[inline]
#[must_use]
pub fn u16_at(b: &[u8], o: usize) -> u16 {
    u16::from_le_bytes([b[o], b[o + 1]])
}

/// Little-endian u32 at `o`.
#[inline]
#[must_use]
pub fn u32_at(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes(b[o..o + 4].try_into().expect("4 bytes"))
}

/// Little-endian u64 at `o`.
#[inline]
#[must_use]
pub fn u64_at(b: &[u8], o: usize) -> u64 {
    u64::from_le_bytes(b[o..o + 8].try_into().expect("8 bytes"))
}

/// Little-endian i64 at `o`.
#[inline]
#[must_use]
pub fn i64_at(b: &[u8], o: usize) -> i64 {
    i64::from_le_bytes(b[o..o + 8].try_into().expect("8 bytes"))
}

/// One outgoing message, built in place: header first, then body fields at their offsets
/// (relative to the body). Unwritten bytes (pads) stay zero.
#[derive(Clone, Copy)]
pub struct Frame {
    buf: [u8; MAX_MESSAGE],
    len: usize,
}

impl Frame {
    /// A message of type `t` with its header filled in.
    #[must_use]
    pub fn new(t: u8, session: u64, seq: u64, id: u16, role: u8) -> Frame {
        let bl = body_len(t).expect("a schema v2 type");
        let mut f = Frame { buf: [0; MAX_MESSAGE], len: HEADER_SIZE + bl };
        f.buf[0..4].copy_from_slice(&MAGIC.to_le_bytes());
        f.buf[4] = VERSION;
        f.buf[5] = t;
        f.buf[6..8].copy_from_slice(&(bl as u16).to_le_bytes());
        f.buf[8..16].copy_from_slice(&session.to_le_bytes());
        f.buf[16..24].copy_from_slice(&seq.to_le_bytes());
        f.buf[24..26].copy_from_slice(&id.to_le_bytes());
        f.buf[26] = role;
        f
    }

    /// Writes a u8 at body offset `o`.
    #[inline]
    pub fn u8(&mut self, o: usize, v: u8) -> &mut Self {
        self.buf[HEADER_SIZE + o] = v;
        self
    }

    /// Writes a u16 at body offset `o`.
    #[inline]
    pub fn u16(&mut self, o: usize, v: u16) -> &mut Self {
        self.buf[HEADER_SIZE + o..HEADER_SIZE + o + 2].copy_from_slice(&v.to_le_bytes());
        self
    }

    /// Writes a u64 at body offset `o`.
    #[inline]
    pub fn u64(&mut self, o: usize, v: u64) -> &mut Self {
        self.buf[HEADER_SIZE + o..HEADER_SIZE + o + 8].copy_from_slice(&v.to_le_bytes());
        self
    }

    /// Writes a i64 at body offset `o`.
    #[inline]
    pub fn i64(&mut self, o: usize, v: i64) -> &mut Self {
        self.buf[HEADER_SIZE + o..HEADER_SIZE + o + 8].copy_from_slice(&v.to_le_bytes());
        self
    }

    /// Writes bytes at body offset `o`.
    #[inline]
    pub fn bytes(&mut self, o: usize, v: &[u8]) -> &mut Self {
        self.buf[HEADER_SIZE + o..HEADER_SIZE + o + v.len()].copy_from_slice(v);
        self
    }

    /// The header bytes (session and seq are filled in when the message is sent).
    #[inline]
    pub fn header_mut(&mut self) -> &mut [u8] {
        &mut self.buf[..HEADER_SIZE]
    }

    /// The message bytes.
    #[inline]
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

/// Domain separation of the session key's derivation ([`session_key`]).
pub const SESSION_KEY_LABEL: &[u8] = b"rfqcore gateway session key v2";

/// The 32-byte key of one session: HMAC-SHA256(secret, label ‖ id u16 ‖ nonce u64 ‖ token u64).
/// Both ends derive it at logon; it is never sent.
#[must_use]
pub fn session_key(secret: &[u8], id: u16, nonce: u64, token: u64) -> [u8; 32] {
    use hmac::{Hmac, Mac};
    let mut m = <Hmac<sha2::Sha256> as Mac>::new_from_slice(secret).expect("HMAC takes any key");
    m.update(SESSION_KEY_LABEL);
    m.update(&id.to_le_bytes());
    m.update(&nonce.to_le_bytes());
    m.update(&token.to_le_bytes());
    m.finalize().into_bytes().into()
}

fn request_mac_state(key: &[u8; 32], msg: &[u8]) -> blake2::Blake2bMac<blake2::digest::consts::U8> {
    use blake2::digest::{consts::U8, Mac};
    let mut m = <blake2::Blake2bMac<U8> as Mac>::new_from_slice(key).expect("a 32-byte key");
    let n = msg.len().min(HEADER_SIZE);
    let mut head = [0u8; HEADER_SIZE];
    head[..n].copy_from_slice(&msg[..n]);
    if n > 8 {
        head[8..n.min(16)].fill(0); // the MAC's own field counts as zero
    }
    m.update(&head[..n]);
    if msg.len() > HEADER_SIZE {
        m.update(&msg[HEADER_SIZE..]);
    }
    m
}

/// The MAC a request carries in its header's `session` field: BLAKE2b-64 keyed with the session
/// key over the whole message with that field zero (`rfqcore.gateway.schema.request_mac`).
#[must_use]
pub fn request_mac(key: &[u8; 32], msg: &[u8]) -> [u8; 8] {
    use blake2::digest::Mac;
    request_mac_state(key, msg).finalize().into_bytes().into()
}

/// True when `msg`'s `session` field is its MAC under `key` (the digest crate's constant-time
/// compare).
#[must_use]
pub fn mac_ok(key: &[u8; 32], msg: &[u8]) -> bool {
    use blake2::digest::Mac;
    msg.len() >= 16 && request_mac_state(key, msg).verify_slice(&msg[8..16]).is_ok()
}

/// The 18 bytes a logon's HMAC covers: `id u16 ‖ nonce u64 ‖ timestamp i64`, little-endian.
#[must_use]
pub fn logon_mac_input(id: u16, nonce: u64, timestamp: i64) -> [u8; 18] {
    let mut b = [0u8; 18];
    b[0..2].copy_from_slice(&id.to_le_bytes());
    b[2..10].copy_from_slice(&nonce.to_le_bytes());
    b[10..18].copy_from_slice(&timestamp.to_le_bytes());
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_lengths_follow_the_body_table() {
        for t in [msg::LOGON_ACK, msg::QUOTE, msg::EXECUTION_REPORT, msg::CONTROL_ACK, msg::LOGOUT,
                  msg::QUOTE_STATUS, msg::QUOTE_STATUS_REPORT] {
            let f = Frame::new(t, 1, 2, 3, role::CLIENT);
            assert_eq!(f.as_bytes().len(), HEADER_SIZE + body_len(t).unwrap());
            let h = Header::read(f.as_bytes());
            assert_eq!((h.magic, h.version, h.msg_type, h.session, h.seq, h.id, h.role), (MAGIC, VERSION, t, 1, 2, 3, 0));
            assert_eq!(usize::from(h.body_len), body_len(t).unwrap());
            assert_eq!(f.as_bytes().len() % 8, 0);
        }
        assert!(HEADER_SIZE + 80 <= MAX_MESSAGE);
        assert_eq!(body_len(99), None);
    }

    #[test]
    fn request_roles() {
        assert_eq!(request_role(msg::RFQ), Some(Some(role::CLIENT)));
        assert_eq!(request_role(msg::CONTROL), Some(Some(role::OPERATOR)));
        assert_eq!(request_role(msg::LOGOUT), Some(None));
        assert_eq!(request_role(msg::QUOTE_STATUS), Some(Some(role::CLIENT)));
        assert_eq!(request_role(msg::QUOTE_STATUS_REPORT), None);
        assert_eq!(request_role(msg::QUOTE), None);
    }
}
