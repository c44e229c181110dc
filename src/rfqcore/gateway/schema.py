"""Gateway wire schema v2: fixed little-endian layouts, precompiled ``struct.Struct`` codecs.

Every message is a 32-byte :data:`HEADER` followed by a fixed-size body whose layout depends
on the message type (docs/gateway-schema.md has the tables). The header layout is frozen for
every schema version, so a peer speaking another version can still be identified and told
which version this side speaks; bodies and the set of types are what a version defines. v2
has v1's layouts; its requests carry a MAC under the session key in the header's ``session``
field instead of the session token (:func:`session_key`, :func:`request_mac`).

Prices and quantities are the core's fixed-point integers in the composite's scales; the
schema never carries floats. :func:`decode` validates a buffer completely and raises one
:class:`SchemaError` subclass per defect (each names the :class:`GatewayReject` reason a
gateway answers it with); it never raises anything else, whatever the bytes.

>>> from rfqcore.gateway import schema
>>> raw = schema.encode(schema.CancelMsg(quote_id=7), session=42, seq=3, id=1)
>>> schema.decode(raw)[1]
CancelMsg(quote_id=7)
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from enum import IntEnum
from typing import Any, Final, NamedTuple

from rfqcore.errors import RfqCoreError
from rfqcore.records import RfqReject as CoreReason

__all__ = [
    "MAGIC",
    "VERSION",
    "HEADER_SIZE",
    "HEADER",
    "MsgType",
    "Role",
    "GatewayReject",
    "RfqFlag",
    "QuoteFlag",
    "QuoteStatusCode",
    "Header",
    "MsgSpec",
    "SPECS",
    "REQUEST_ROLES",
    "CONTROL_ID_BITS",
    "SchemaError",
    "Truncated",
    "BadMagic",
    "UnsupportedVersion",
    "UnknownType",
    "LengthMismatch",
    "BadField",
    "decode_header",
    "decode",
    "encode",
    "encode_into",
    "logon_mac_input",
    "session_key",
    "request_mac",
    "seal",
    "reason_name",
    # bodies
    "LogonMsg",
    "LogoutMsg",
    "RfqMsg",
    "AcceptMsg",
    "CancelMsg",
    "OpLogonMsg",
    "ControlMsg",
    "LogonAckMsg",
    "LogonRejectMsg",
    "RejectMsg",
    "QuoteMsg",
    "RfqRejectMsg",
    "AcceptRejectMsg",
    "ExecutionReportMsg",
    "CancelRejectMsg",
    "QuoteEndMsg",
    "ApprovalPendingMsg",
    "RiskEventMsg",
    "ControlAckMsg",
    "ExecResendMsg",
    "ResendEndMsg",
    "QuoteStatusMsg",
    "QuoteStatusReportMsg",
    "Body",
]

#: ``b"RFQG"`` read as a little-endian u32.
MAGIC: Final[int] = 0x47514652
#: The schema version this module speaks.
VERSION: Final[int] = 2
HEADER_SIZE: Final[int] = 32
#: magic u32, version u8, type u8, body_len u16, session u64, seq u64, id u16, role u8, 5 pad
HEADER_FMT: Final[str] = "<IBBHQQHB5x"
HEADER: Final[struct.Struct] = struct.Struct(HEADER_FMT)
assert HEADER.size == HEADER_SIZE
#: A CONTROL's ``control_id`` must fit this many bits: the gateway puts the operator id above
#: them in the ring record's ``seq`` (docs/gateway-schema.md).
CONTROL_ID_BITS: Final[int] = 48


class MsgType(IntEnum):
    """Header ``type``. 1..31 requests (to the gateway), 64..127 gateway messages."""

    LOGON = 1
    LOGOUT = 2  # both directions: a request, and the gateway's confirmation
    RFQ = 3
    ACCEPT = 4
    CANCEL = 5
    OP_LOGON = 6
    CONTROL = 7
    EXEC_RESEND = 8  # a client asks for its execution reports again
    QUOTE_STATUS = 9  # a client asks what became of one of its quotes
    LOGON_ACK = 64
    LOGON_REJECT = 65
    REJECT = 66
    QUOTE = 70
    RFQ_REJECT = 71
    ACCEPT_REJECT = 72
    EXECUTION_REPORT = 73
    CANCEL_REJECT = 74
    QUOTE_END = 75
    APPROVAL_PENDING = 76
    RISK_EVENT = 77
    CONTROL_ACK = 78
    RESEND_END = 79  # the end of an EXEC_RESEND's answer
    QUOTE_STATUS_REPORT = 80  # the answer to QUOTE_STATUS


class Role(IntEnum):
    """Header ``role``: which id space ``id`` belongs to."""

    CLIENT = 0
    OPERATOR = 1


class GatewayReject(IntEnum):
    """``reason`` of gateway ``REJECT`` / ``LOGON_REJECT``: refused before the core saw anything.

    Codes 1..19; the core's reasons (:class:`rfqcore.records.RfqReject`) are 20 and up, so one
    ``reason`` number names either without ambiguity.
    """

    TRUNCATED = 1  # shorter than header + body_len
    LENGTH_MISMATCH = 2  # body_len wrong for the type, or trailing bytes
    BAD_MAGIC = 3
    UNSUPPORTED_VERSION = 4
    UNKNOWN_TYPE = 5
    BAD_FIELD = 6  # a header/body value outside its domain (role, flags, control id)
    UNEXPECTED_TYPE = 7  # a type the gateway does not accept from this role
    UNKNOWN_CLIENT = 8  # id not configured for this role
    BAD_CREDENTIALS = 9  # logon HMAC does not verify
    STALE_LOGON = 10  # logon timestamp outside the gateway's window
    REPLAYED_NONCE = 11  # logon nonce already used in the window
    NOT_LOGGED_ON = 12
    BAD_SESSION = 13  # session token (or Aeron publication) does not match the session
    BAD_SEQUENCE = 14  # header seq not above the session's last one, or more than 2^32 above it; a logon's above 2^63 - 1


class RfqFlag(IntEnum):
    """``RfqMsg.flags`` bits."""

    QTY_IN_QUOTE = 1 << 0  # qty is an amount of quote currency (composite price scale)


class QuoteFlag(IntEnum):
    """``QuoteMsg.flags`` bits."""

    BUY = 1 << 0  # buy_price/buy_qty valid: the client may buy (the desk's ask)
    SELL = 1 << 1  # sell_price/sell_qty valid: the client may sell (the desk's bid)
    PARTIAL_OK = 1 << 2  # the quote may be accepted for less than its size


class QuoteStatusCode(IntEnum):
    """``QuoteStatusReportMsg.status``: the ``QUOTE_END`` states (:class:`rfqcore.records.QuoteEnd`,
    1-4), ``UNKNOWN_QUOTE`` for a quote this client does not have (an id nobody has and another
    client's quote get the same answer), ``LIVE`` while the core has not ended it."""

    UNKNOWN_QUOTE = 0
    FILLED = 1
    REJECTED = 2  # an accept refused by risk at the moment of the hit ended it
    EXPIRED = 3
    CANCELLED = 4  # by the client, the desk or a kill switch
    LIVE = 5


def reason_name(code: int) -> str:
    """Name of a gateway or core reason code (``"code N"`` if neither knows it)."""
    for enum in (GatewayReject, CoreReason):
        try:
            return enum(code).name
        except ValueError:
            pass
    return f"code {code}"


class Header(NamedTuple):
    """The 32-byte header every message starts with."""

    magic: int
    version: int
    type: int
    body_len: int
    session: int
    seq: int
    id: int
    role: int


# ---- bodies ---------------------------------------------------------------------------------
# One NamedTuple per message type, named ``<Type>Msg``: a decoded wire message, not the event the
# client library makes of it (rfqcore.rfq.Quote, ...). Field order = wire order. Pad bytes are
# zero when sent and ignored when received.


class LogonMsg(NamedTuple):
    """Client logon. ``mac`` = HMAC-SHA256(secret, :func:`logon_mac_input`)."""

    nonce: int  # u64, random per attempt
    timestamp: int  # i64, sender wall clock, ns since epoch
    mac: bytes  # 32 bytes


class OpLogonMsg(NamedTuple):
    """Operator logon, same body and MAC rule as :class:`LogonMsg`."""

    nonce: int
    timestamp: int
    mac: bytes


class LogoutMsg(NamedTuple):
    """End the session (request); the gateway confirms with a LOGOUT of its own."""


class RfqMsg(NamedTuple):
    rfq_id: int  # u64, client RFQ id, != 0, unique per client
    instrument: int  # u16 composite id
    side: int  # u8 client side: 0 buy, 1 sell, 255 two-way
    flags: int  # u8 RfqFlag
    qty: int  # i64 composite qty scale (or quote ccy in price scale with QTY_IN_QUOTE)
    limit: int  # i64 limit price, 0 = none
    ttl_ns: int  # i64, 0 = tier default
    send_time: int  # i64 client wall clock ns (-> ts_event)


class AcceptMsg(NamedTuple):
    quote_id: int  # u64
    accept_id: int  # i64, echoed
    instrument: int  # u16
    side: int  # u8 which side of the quote the client hits
    price: int  # i64 the quoted price
    qty: int  # i64


class CancelMsg(NamedTuple):
    quote_id: int  # u64


class ControlMsg(NamedTuple):
    """Operator command; maps 1:1 to the CONTROL ring record (docs/rfq-protocol.md)."""

    control_id: int  # u64 < 2**48, echoed in the ack
    command: int  # u8 -> side
    field: int  # u16 -> source
    instrument: int  # u16 -> instrument
    scope: int  # i64 -> price (client/tier id, request id, quote id)
    value: int  # i64 -> qty
    aux: int  # i64 -> aux


class LogonAckMsg(NamedTuple):
    nonce: int  # u64 echo of the logon's nonce
    token: int  # u64 session token (also in the header)
    server_time: int  # i64 gateway wall clock ns


class LogonRejectMsg(NamedTuple):
    nonce: int  # u64 echo
    reason: int  # u16 GatewayReject


class RejectMsg(NamedTuple):
    """A request refused by the gateway; nothing reached the core."""

    ref_seq: int  # u64 header seq of the refused message (0 if unreadable)
    reason: int  # u16 GatewayReject
    ref_type: int  # u8 header type of the refused message (0 if unreadable)
    version: int  # u8 the schema version the gateway speaks


class QuoteMsg(NamedTuple):
    quote_id: int  # u64
    rfq_id: int  # u64
    instrument: int  # u16
    flags: int  # u8 QuoteFlag
    buy_price: int  # i64 the client buys at (desk ask)
    buy_qty: int  # i64
    sell_price: int  # i64 the client sells at (desk bid)
    sell_qty: int  # i64
    valid_until: int  # i64 core time ns
    core_time: int  # i64


class RfqRejectMsg(NamedTuple):
    rfq_id: int  # u64
    instrument: int  # u16
    side: int  # u8
    reason: int  # u16 core reason
    qty: int  # i64 echo
    price: int  # i64 echo (limit)
    core_time: int  # i64


class AcceptRejectMsg(NamedTuple):
    quote_id: int  # u64
    accept_id: int  # i64
    instrument: int  # u16
    side: int  # u8
    reason: int  # u16 core reason
    price: int  # i64 echo
    qty: int  # i64 echo
    core_time: int  # i64


class ExecutionReportMsg(NamedTuple):
    trade_id: int  # u64
    quote_id: int  # u64
    rfq_id: int  # u64
    accept_id: int  # i64
    instrument: int  # u16
    side: int  # u8 client side
    price: int  # i64 composite price scale
    qty: int  # i64 composite qty scale
    notional: int  # i64 exact, scale = price + qty decimals
    fee: int  # i64 same scale, rounded up
    core_time: int  # i64


class CancelRejectMsg(NamedTuple):
    quote_id: int  # u64
    reason: int  # u16 core reason
    core_time: int  # i64


class QuoteEndMsg(NamedTuple):
    quote_id: int  # u64
    rfq_id: int  # u64
    instrument: int  # u16
    state: int  # u8 rfqcore.records.QuoteEnd
    reason: int  # u8 core reason when rejected
    core_time: int  # i64


class ApprovalPendingMsg(NamedTuple):
    request_id: int  # i64 approval request id (operators approve/decline by it)
    rfq_id: int  # u64
    client_id: int  # u16
    instrument: int  # u16
    side: int  # u8
    qty: int  # i64
    price: int  # i64 indicative
    deadline: int  # i64 core time ns
    core_time: int  # i64


class RiskEventMsg(NamedTuple):
    event: int  # u8 rfqcore.records.RiskEvent
    instrument: int  # u16
    client_id: int  # u16
    executions: int  # i64 executions counted in the window
    core_time: int  # i64


class ControlAckMsg(NamedTuple):
    control_id: int  # u64 the operator's control id
    operator_id: int  # u16 who sent it (0 = not the gateway)
    command: int  # u8
    field: int  # u16
    instrument: int  # u16
    scope: int  # i64
    value: int  # i64
    result: int  # u16 0 = applied, else core reason
    previous: int  # i64 previous value of a SET_* field
    core_time: int  # i64


class ExecResendMsg(NamedTuple):
    """Every execution report of this client with a trade id above ``after_trade_id``, again."""

    after_trade_id: int  # u64 0 = all the gateway keeps


class ResendEndMsg(NamedTuple):
    after_trade_id: int  # u64 as asked
    resent: int  # u64 execution reports sent again before this message
    newest_dropped: int  # u64 the newest trade id no longer kept (0: none); complete if <= after_trade_id


class QuoteStatusMsg(NamedTuple):
    """What became of one of this client's quotes (answered by the gateway, nothing reaches the core)."""

    quote_id: int  # u64


class QuoteStatusReportMsg(NamedTuple):
    quote_id: int  # u64 as asked
    rfq_id: int  # u64 0 when unknown
    instrument: int  # u16
    status: int  # u8 QuoteStatusCode
    reason: int  # u8 core reason: when rejected, and UNKNOWN_QUOTE when unknown
    side: int  # u8 filled: the client side of the execution
    valid_until: int  # i64 core time ns (0: quoted before the gateway started)
    trade_id: int  # u64 filled: the trade (its report again: EXEC_RESEND)
    price: int  # i64 filled: the execution price
    qty: int  # i64 filled: the executed qty
    core_time: int  # i64 the core's time of its last word on the quote


Body = (LogonMsg | OpLogonMsg | LogoutMsg | RfqMsg | AcceptMsg | CancelMsg | ControlMsg | LogonAckMsg
        | LogonRejectMsg | RejectMsg | QuoteMsg | RfqRejectMsg | AcceptRejectMsg | ExecutionReportMsg
        | CancelRejectMsg | QuoteEndMsg | ApprovalPendingMsg | RiskEventMsg | ControlAckMsg | ExecResendMsg
        | ResendEndMsg | QuoteStatusMsg | QuoteStatusReportMsg)


class MsgSpec(NamedTuple):
    """How one message type is laid out: body format, whole-message struct, body class."""

    msg_type: MsgType
    body_fmt: str
    cls: Any  # the body NamedTuple class
    struct: struct.Struct  # header + body
    body_len: int


_BODY_FMT: Final[dict[MsgType, tuple[str, type[NamedTuple]]]] = {
    MsgType.LOGON: ("Qq32s", LogonMsg),
    MsgType.OP_LOGON: ("Qq32s", OpLogonMsg),
    MsgType.LOGOUT: ("", LogoutMsg),
    MsgType.RFQ: ("QHBB4xqqqq", RfqMsg),
    MsgType.ACCEPT: ("QqHB5xqq", AcceptMsg),
    MsgType.CANCEL: ("Q", CancelMsg),
    MsgType.CONTROL: ("QBxHH2xqqq", ControlMsg),
    MsgType.LOGON_ACK: ("QQq", LogonAckMsg),
    MsgType.LOGON_REJECT: ("QH6x", LogonRejectMsg),
    MsgType.REJECT: ("QHBB4x", RejectMsg),
    MsgType.QUOTE: ("QQHB5xqqqqqq", QuoteMsg),
    MsgType.RFQ_REJECT: ("QHBxH2xqqq", RfqRejectMsg),
    MsgType.ACCEPT_REJECT: ("QqHBxH2xqqq", AcceptRejectMsg),
    MsgType.EXECUTION_REPORT: ("QQQqHB5xqqqqq", ExecutionReportMsg),
    MsgType.CANCEL_REJECT: ("QH6xq", CancelRejectMsg),
    MsgType.QUOTE_END: ("QQHBB4xq", QuoteEndMsg),
    MsgType.APPROVAL_PENDING: ("qQHHB3xqqqq", ApprovalPendingMsg),
    MsgType.RISK_EVENT: ("BxHH2xqq", RiskEventMsg),
    MsgType.CONTROL_ACK: ("QHBxHHqqH6xqq", ControlAckMsg),
    MsgType.EXEC_RESEND: ("Q", ExecResendMsg),
    MsgType.RESEND_END: ("QQQ", ResendEndMsg),
    MsgType.QUOTE_STATUS: ("Q", QuoteStatusMsg),
    MsgType.QUOTE_STATUS_REPORT: ("QQHBBB3xqQqqq", QuoteStatusReportMsg),
}


def _spec(t: MsgType, body_fmt: str, cls: type[NamedTuple]) -> MsgSpec:
    s = struct.Struct(HEADER_FMT + body_fmt)
    body_len = s.size - HEADER_SIZE
    assert struct.calcsize("<" + body_fmt) == body_len, t  # no implicit alignment anywhere
    assert len(cls._fields) == len(struct.unpack_from("<" + body_fmt, bytes(body_len))), t
    return MsgSpec(t, body_fmt, cls, s, body_len)


#: Every message type's layout, by type code.
SPECS: Final[dict[int, MsgSpec]] = {int(t): _spec(t, f, c) for t, (f, c) in _BODY_FMT.items()}
_TYPE_OF: Final[dict[type, int]] = {spec.cls: t for t, spec in SPECS.items()}

#: Request types the gateway accepts, and from which role (None = either).
REQUEST_ROLES: Final[dict[int, Role | None]] = {
    MsgType.LOGON: Role.CLIENT,
    MsgType.LOGOUT: None,
    MsgType.RFQ: Role.CLIENT,
    MsgType.ACCEPT: Role.CLIENT,
    MsgType.CANCEL: Role.CLIENT,
    MsgType.OP_LOGON: Role.OPERATOR,
    MsgType.CONTROL: Role.OPERATOR,
    MsgType.EXEC_RESEND: Role.CLIENT,
    MsgType.QUOTE_STATUS: Role.CLIENT,
}


# ---- errors ---------------------------------------------------------------------------------


class SchemaError(RfqCoreError):
    """A buffer is not a valid v1 message. ``reason`` is what a gateway answers it with;
    ``header`` is the decoded header when the buffer had one (else None)."""

    reason: GatewayReject = GatewayReject.TRUNCATED

    def __init__(self, message: str, header: Header | None = None) -> None:
        super().__init__(message)
        self.header = header


class Truncated(SchemaError):
    """Shorter than the header, or than header + ``body_len``."""

    reason = GatewayReject.TRUNCATED


class BadMagic(SchemaError):
    reason = GatewayReject.BAD_MAGIC


class UnsupportedVersion(SchemaError):
    reason = GatewayReject.UNSUPPORTED_VERSION


class UnknownType(SchemaError):
    reason = GatewayReject.UNKNOWN_TYPE


class LengthMismatch(SchemaError):
    """``body_len`` is not the type's body size, or bytes follow the body."""

    reason = GatewayReject.LENGTH_MISMATCH


class BadField(SchemaError):
    """A value outside its domain (``role`` not 0/1)."""

    reason = GatewayReject.BAD_FIELD


# ---- decode / encode ------------------------------------------------------------------------

_header_unpack = HEADER.unpack_from


def decode_header(buf: bytes | bytearray | memoryview) -> Header:
    """Decode and check the header: length, magic, version, role; not the type or body."""
    n = len(buf)
    if n < HEADER_SIZE:
        raise Truncated(f"{n} bytes, shorter than the {HEADER_SIZE}-byte header")
    h = Header._make(_header_unpack(buf))
    if h.magic != MAGIC:
        raise BadMagic(f"magic {h.magic:#010x}, expected {MAGIC:#010x} ('RFQG')", h)
    if h.version != VERSION:
        raise UnsupportedVersion(f"schema version {h.version}, this side speaks {VERSION}", h)
    if h.role > Role.OPERATOR:
        raise BadField(f"role {h.role}, expected 0 (client) or 1 (operator)", h)
    return h


def decode(buf: bytes | bytearray | memoryview) -> tuple[Header, Body]:
    """Decode one whole message; raises a :class:`SchemaError` subclass for any defect."""
    h = decode_header(buf)
    spec = SPECS.get(h.type)
    if spec is None:
        raise UnknownType(f"unknown message type {h.type}", h)
    if h.body_len != spec.body_len:
        raise LengthMismatch(f"{spec.msg_type.name}: body_len {h.body_len}, expected {spec.body_len}", h)
    n = len(buf)
    if n < HEADER_SIZE + spec.body_len:
        raise Truncated(f"{spec.msg_type.name}: {n} bytes, expected {HEADER_SIZE + spec.body_len}", h)
    if n > HEADER_SIZE + spec.body_len:
        raise LengthMismatch(f"{spec.msg_type.name}: {n} bytes, expected {HEADER_SIZE + spec.body_len} "
                             f"({n - HEADER_SIZE - spec.body_len} trailing)", h)
    vals = spec.struct.unpack_from(buf)
    return h, spec.cls._make(vals[8:])


def encode(body: Body, *, session: int = 0, seq: int = 0, id: int = 0,  # noqa: A002 - wire name
           role: int = Role.CLIENT) -> bytes:
    """The complete message for ``body`` (its type comes from its class). ``ValueError`` if a
    field does not fit its wire type."""
    t = _TYPE_OF[type(body)]
    spec = SPECS[t]
    try:
        return spec.struct.pack(MAGIC, VERSION, t, spec.body_len, session, seq, id, role, *body)
    except struct.error as e:
        raise ValueError(f"{spec.msg_type.name}: a field does not fit its wire type: {e} ({body!r})") from None


def encode_into(buf: bytearray | memoryview, offset: int, body: Body, *, session: int = 0, seq: int = 0,
                id: int = 0, role: int = Role.CLIENT) -> int:  # noqa: A002
    """Write the message for ``body`` into ``buf`` at ``offset``; returns its length."""
    t = _TYPE_OF[type(body)]
    spec = SPECS[t]
    try:
        spec.struct.pack_into(buf, offset, MAGIC, VERSION, t, spec.body_len, session, seq, id, role, *body)
    except struct.error as e:
        raise ValueError(f"{spec.msg_type.name}: a field does not fit its wire type, or no room: {e}") from None
    return spec.struct.size


_MAC_INPUT: Final[struct.Struct] = struct.Struct("<HQq")


def logon_mac_input(id_: int, nonce: int, timestamp: int) -> bytes:
    """The 18 bytes a logon MAC covers: id u16 ‖ nonce u64 ‖ timestamp i64, little-endian."""
    return _MAC_INPUT.pack(id_, nonce, timestamp)


#: Domain separation of the session key's derivation.
SESSION_KEY_LABEL: Final[bytes] = b"rfqcore gateway session key v2"
_KEY_INPUT = struct.Struct("<HQQ")


def session_key(secret: bytes, id_: int, nonce: int, token: int) -> bytes:
    """The 32-byte key of one session: HMAC-SHA256(secret, label ‖ id u16 ‖ nonce u64 ‖ token u64).

    Both ends derive it at logon (the client from the ``LOGON_ACK``'s token); it is never sent,
    so a process that reads the streams (and the token on them) cannot sign a request."""
    return hmac.new(secret, SESSION_KEY_LABEL + _KEY_INPUT.pack(id_, nonce, token), hashlib.sha256).digest()


def request_mac(key: bytes, msg: bytes | bytearray | memoryview) -> bytes:
    """The 8 bytes a request carries in its header's ``session`` field: BLAKE2b-64 keyed with
    the session key over the whole message with that field zero."""
    b = bytearray(msg)
    b[8:16] = bytes(8)
    return hashlib.blake2b(b, key=key, digest_size=8).digest()


def seal(key: bytes, buf: bytearray | memoryview, n: int) -> None:
    """Write the MAC of the first ``n`` bytes of ``buf`` into its ``session`` field, in place."""
    buf[8:16] = bytes(8)
    buf[8:16] = hashlib.blake2b(buf[:n], key=key, digest_size=8).digest()
