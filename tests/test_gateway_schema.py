"""Gateway wire schema v1 (rfqcore.gateway.schema, docs/gateway-schema.md): round trips of every
message, every malformed case with its specific error, the documented layout, and a fuzzed
decoder that only ever raises typed errors."""

from __future__ import annotations

import hashlib
import hmac
import re
import struct
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rfqcore.errors import RfqCoreError
from rfqcore.gateway import schema as s
from rfqcore.records import RfqReject

U8, U16, U64 = (0, 0xFF), (0, 0xFFFF), (0, (1 << 64) - 1)
I64 = (-(1 << 63), (1 << 63) - 1)

# One example body per message type, with extreme values where the type allows them.
EXAMPLES: dict[s.MsgType, s.Body] = {
    s.MsgType.LOGON: s.LogonMsg(nonce=U64[1], timestamp=I64[1], mac=bytes(range(32))),
    s.MsgType.OP_LOGON: s.OpLogonMsg(nonce=1, timestamp=-1, mac=b"\xff" * 32),
    s.MsgType.LOGOUT: s.LogoutMsg(),
    s.MsgType.RFQ: s.RfqMsg(rfq_id=U64[1], instrument=U16[1], side=255, flags=1, qty=I64[1], limit=I64[0], ttl_ns=-5,
                            send_time=1_700_000_000_000_000_000),
    s.MsgType.ACCEPT: s.AcceptMsg(quote_id=3, accept_id=I64[0], instrument=1, side=1, price=6_000_123, qty=10**8),
    s.MsgType.CANCEL: s.CancelMsg(quote_id=U64[1]),
    s.MsgType.CONTROL: s.ControlMsg(control_id=(1 << 48) - 1, command=11, field=U16[1], instrument=2, scope=I64[0],
                                    value=I64[1], aux=-1),
    s.MsgType.LOGON_ACK: s.LogonAckMsg(nonce=9, token=U64[1], server_time=123),
    s.MsgType.LOGON_REJECT: s.LogonRejectMsg(nonce=9, reason=s.GatewayReject.BAD_CREDENTIALS),
    s.MsgType.REJECT: s.RejectMsg(ref_seq=U64[1], reason=s.GatewayReject.BAD_SESSION, ref_type=3, version=2),
    s.MsgType.QUOTE: s.QuoteMsg(quote_id=1, rfq_id=2, instrument=1, flags=7, buy_price=6_000_100, buy_qty=10**8,
                                sell_price=6_000_000, sell_qty=10**8 - 1, valid_until=I64[1], core_time=I64[0]),
    s.MsgType.RFQ_REJECT: s.RfqRejectMsg(rfq_id=5, instrument=1, side=0, reason=RfqReject.EXCEEDS_LIMIT, qty=-1,
                                         price=I64[1], core_time=3),
    s.MsgType.ACCEPT_REJECT: s.AcceptRejectMsg(quote_id=5, accept_id=-7, instrument=2, side=1,
                                               reason=RfqReject.TOO_LATE, price=1, qty=2, core_time=3),
    s.MsgType.EXECUTION_REPORT: s.ExecutionReportMsg(trade_id=1, quote_id=2, rfq_id=3, accept_id=4, instrument=1,
                                                     side=0, price=6_000_100, qty=10**8, notional=600_010_000_000_000,
                                                     fee=1, core_time=I64[1]),
    s.MsgType.CANCEL_REJECT: s.CancelRejectMsg(quote_id=8, reason=RfqReject.QUOTE_NOT_LIVE, core_time=1),
    s.MsgType.QUOTE_END: s.QuoteEndMsg(quote_id=8, rfq_id=9, instrument=1, state=2, reason=U8[1], core_time=1),
    s.MsgType.APPROVAL_PENDING: s.ApprovalPendingMsg(request_id=I64[1], rfq_id=1, client_id=U16[1], instrument=1,
                                                     side=255, qty=5, price=6, deadline=7, core_time=8),
    s.MsgType.RISK_EVENT: s.RiskEventMsg(event=1, instrument=0, client_id=2, executions=20, core_time=9),
    s.MsgType.CONTROL_ACK: s.ControlAckMsg(control_id=1, operator_id=1, command=4, field=1, instrument=0, scope=2,
                                           value=-3, result=RfqReject.BAD_COMMAND, previous=I64[0], core_time=5),
    s.MsgType.EXEC_RESEND: s.ExecResendMsg(after_trade_id=U64[1]),
    s.MsgType.RESEND_END: s.ResendEndMsg(after_trade_id=7, resent=2, newest_dropped=0),
    s.MsgType.QUOTE_STATUS: s.QuoteStatusMsg(quote_id=U64[1]),
    s.MsgType.QUOTE_STATUS_REPORT: s.QuoteStatusReportMsg(quote_id=U64[1], rfq_id=2, instrument=U16[1],
                                                          status=s.QuoteStatusCode.FILLED, reason=U8[1], side=1,
                                                          valid_until=I64[0], trade_id=U64[1], price=I64[1], qty=-1,
                                                          core_time=5),
}

# Documented body sizes (docs/gateway-schema.md); the layout test below checks the doc too.
BODY_LEN = {
    "LOGON": 48, "OP_LOGON": 48, "LOGOUT": 0, "RFQ": 48, "ACCEPT": 40, "CANCEL": 8, "CONTROL": 40,
    "LOGON_ACK": 24, "LOGON_REJECT": 16, "REJECT": 16, "QUOTE": 72, "RFQ_REJECT": 40, "ACCEPT_REJECT": 48,
    "EXECUTION_REPORT": 80, "CANCEL_REJECT": 24, "QUOTE_END": 32, "APPROVAL_PENDING": 56, "RISK_EVENT": 24,
    "CONTROL_ACK": 56, "EXEC_RESEND": 8, "RESEND_END": 24, "QUOTE_STATUS": 8, "QUOTE_STATUS_REPORT": 64,
}


def test_every_type_has_an_example_and_a_documented_size() -> None:
    assert set(EXAMPLES) == set(s.MsgType)
    assert {t.name: s.SPECS[t].body_len for t in s.MsgType} == BODY_LEN
    assert s.HEADER.size == s.HEADER_SIZE == 32
    for spec in s.SPECS.values():  # every whole message is a multiple of 8 (u64 fields stay aligned)
        assert spec.struct.size % 8 == 0, spec.msg_type.name


@pytest.mark.parametrize("t", list(s.MsgType), ids=lambda t: t.name)
def test_round_trip(t: s.MsgType) -> None:
    body = EXAMPLES[t]
    raw = s.encode(body, session=0xDEADBEEF_12345678, seq=(1 << 64) - 1, id=0xFFFF, role=s.Role.OPERATOR)
    assert len(raw) == s.HEADER_SIZE + s.SPECS[t].body_len
    h, back = s.decode(raw)
    assert back == body and type(back) is type(body)
    assert h == s.Header(s.MAGIC, 2, int(t), s.SPECS[t].body_len, 0xDEADBEEF_12345678, (1 << 64) - 1, 0xFFFF, 1)
    # encode_into at an offset gives the same bytes; decode takes bytes, bytearray and memoryview
    buf = bytearray(8 + len(raw))
    assert s.encode_into(buf, 8, body, session=0xDEADBEEF_12345678, seq=(1 << 64) - 1, id=0xFFFF, role=1) == len(raw)
    assert bytes(buf[8:]) == raw
    assert s.decode(memoryview(buf)[8:])[1] == body
    assert s.decode(bytearray(raw))[1] == body


def test_header_layout_is_little_endian_at_documented_offsets() -> None:
    raw = s.encode(s.CancelMsg(quote_id=0x0102030405060708), session=0x1112131415161718, seq=0x2122232425262728,
                   id=0x3132, role=1)
    assert raw[0:4] == b"RFQG"
    assert raw[4] == 2 and raw[5] == s.MsgType.CANCEL and raw[6:8] == (8).to_bytes(2, "little")
    assert raw[8:16] == (0x1112131415161718).to_bytes(8, "little")
    assert raw[16:24] == (0x2122232425262728).to_bytes(8, "little")
    assert raw[24:26] == (0x3132).to_bytes(2, "little") and raw[26] == 1
    assert raw[27:32] == bytes(5)
    assert raw[32:40] == (0x0102030405060708).to_bytes(8, "little")


def test_body_offsets_match_the_doc() -> None:
    """Every body table of docs/gateway-schema.md (| offset | size | field | type |) against the
    struct layout: the same fields, in order, at the same offsets, with the same sizes."""
    doc = (Path(__file__).resolve().parents[1] / "docs" / "gateway-schema.md").read_text("utf-8")
    sizes = {"u8": 1, "u16": 2, "u32": 4, "u64": 8, "i64": 8, "bytes[32]": 32}
    checked = 0
    for t in s.MsgType:
        m = re.search(rf"^### `{t.name}` \(type {int(t)}[^\n]*\n(.*?)(?=^### |\Z)", doc, re.M | re.S)
        assert m, f"no section for {t.name} in docs/gateway-schema.md"
        rows = re.findall(r"^\|\s*(\d+)\s*\|\s*(\d+)\s*\|\s*`(\w+)`\s*\|\s*([\w\[\]0-9]+)\s*\|", m.group(1), re.M)
        fields = [(int(o), int(z), f, ty) for o, z, f, ty in rows]
        names = [f for _, _, f, _ in fields if f != "pad"]
        assert names == list(s.SPECS[t].cls._fields), t.name
        # offsets: lay the struct format out and compare
        off = 0
        layout = []
        for code in re.findall(r"\d*[a-zA-Z]", s.SPECS[t].body_fmt):
            n = int(code[:-1]) if code[:-1] else 1
            c = code[-1]
            if c == "x":
                layout.append((off, n, "pad"))
                off += n
            elif c == "s":
                layout.append((off, n, "bytes"))
                off += n
            else:
                z = struct.calcsize("<" + c)
                layout.append((off, z, c))
                off += z
        assert off == s.SPECS[t].body_len == (fields[-1][0] + fields[-1][1] if fields else 0), t.name
        assert [(o, z) for o, z, _ in layout] == [(o, z) for o, z, _, _ in fields], t.name
        for (_, z, _, ty) in fields:
            if ty != "pad":
                assert sizes[ty] == z, (t.name, ty)
        checked += 1
    assert checked == len(s.MsgType)


# ---- malformed input: one specific error each ---------------------------------------------------

RFQ_RAW = s.encode(EXAMPLES[s.MsgType.RFQ], session=7, seq=1, id=1)


@pytest.mark.parametrize("n", range(len(RFQ_RAW)))
def test_truncated_at_every_length(n: int) -> None:
    with pytest.raises(s.Truncated) as e:
        s.decode(RFQ_RAW[:n])
    assert e.value.reason == s.GatewayReject.TRUNCATED
    if n < s.HEADER_SIZE:
        assert e.value.header is None  # nothing identifies the sender: unanswerable
    else:
        assert e.value.header is not None and e.value.header.id == 1 and e.value.header.seq == 1


def test_bad_magic() -> None:
    raw = b"XFQG" + RFQ_RAW[4:]
    with pytest.raises(s.BadMagic) as e:
        s.decode(raw)
    assert e.value.reason == s.GatewayReject.BAD_MAGIC and e.value.header is not None


@pytest.mark.parametrize("version", [0, 1, 3, 255])
def test_wrong_version(version: int) -> None:
    raw = bytearray(RFQ_RAW)
    raw[4] = version
    with pytest.raises(s.UnsupportedVersion) as e:
        s.decode(raw)
    assert e.value.reason == s.GatewayReject.UNSUPPORTED_VERSION
    assert e.value.header is not None and e.value.header.version == version and e.value.header.id == 1


@pytest.mark.parametrize("t", [0, 10, 63, 81, 200, 255])
def test_unknown_type(t: int) -> None:
    raw = bytearray(RFQ_RAW)
    raw[5] = t
    with pytest.raises(s.UnknownType) as e:
        s.decode(raw)
    assert e.value.reason == s.GatewayReject.UNKNOWN_TYPE


@pytest.mark.parametrize("body_len", [0, 47, 49, 0xFFFF])
def test_body_len_wrong_for_type(body_len: int) -> None:
    raw = bytearray(RFQ_RAW)
    raw[6:8] = body_len.to_bytes(2, "little")
    with pytest.raises(s.LengthMismatch) as e:
        s.decode(raw)
    assert e.value.reason == s.GatewayReject.LENGTH_MISMATCH


@pytest.mark.parametrize("extra", [1, 8, 100])
def test_trailing_bytes(extra: int) -> None:
    with pytest.raises(s.LengthMismatch):
        s.decode(RFQ_RAW + bytes(extra))


def test_bad_role() -> None:
    raw = bytearray(RFQ_RAW)
    raw[26] = 2
    with pytest.raises(s.BadField) as e:
        s.decode(raw)
    assert e.value.reason == s.GatewayReject.BAD_FIELD


def test_errors_are_typed_and_distinct() -> None:
    classes = [s.Truncated, s.BadMagic, s.UnsupportedVersion, s.UnknownType, s.LengthMismatch, s.BadField]
    assert len({c.reason for c in classes}) == len(classes)
    for c in classes:
        assert issubclass(c, s.SchemaError) and issubclass(c, RfqCoreError)


def test_encode_refuses_values_that_do_not_fit() -> None:
    with pytest.raises(ValueError, match="RFQ"):
        s.encode(s.RfqMsg(rfq_id=-1, instrument=1, side=0, flags=0, qty=1, limit=0, ttl_ns=0, send_time=0))
    with pytest.raises(ValueError):
        s.encode(s.RfqMsg(rfq_id=1, instrument=1 << 16, side=0, flags=0, qty=1, limit=0, ttl_ns=0, send_time=0))
    with pytest.raises(ValueError):
        s.encode(s.AcceptMsg(quote_id=1, accept_id=1 << 63, instrument=1, side=0, price=1, qty=1))


def test_reason_codes_do_not_overlap_the_core() -> None:
    assert max(s.GatewayReject) < min(RfqReject)
    assert s.reason_name(int(s.GatewayReject.NOT_LOGGED_ON)) == "NOT_LOGGED_ON"
    assert s.reason_name(int(RfqReject.EXCEEDS_LIMIT)) == "EXCEEDS_LIMIT"
    assert s.reason_name(999) == "code 999"


def test_quote_status_codes_are_the_quote_end_states_plus_unknown_and_live() -> None:
    from rfqcore.records import QuoteEnd

    for e in QuoteEnd:
        assert s.QuoteStatusCode(int(e)).name == e.name
    assert {c.name for c in s.QuoteStatusCode} - {e.name for e in QuoteEnd} == {"UNKNOWN_QUOTE", "LIVE"}
    assert int(s.QuoteStatusCode.UNKNOWN_QUOTE) == 0  # an all-zero body (but the id) says nothing
    assert RfqReject.UNKNOWN_QUOTE < 256  # fits the report's u8 reason


def test_logon_mac_input_is_id_nonce_timestamp() -> None:
    m = s.logon_mac_input(0x0102, 0x1112131415161718, -2)
    assert m == (b"\x02\x01" + (0x1112131415161718).to_bytes(8, "little") + (-2).to_bytes(8, "little", signed=True))
    mac = hmac.new(b"k" * 16, m, hashlib.sha256).digest()
    assert len(mac) == 32  # fills Logon.mac exactly
    s.decode(s.encode(s.LogonMsg(1, 2, mac)))


# ---- fuzzing: the decoder never raises anything but SchemaError ---------------------------------


def _check(raw: bytes) -> None:
    try:
        h, body = s.decode(raw)
    except s.SchemaError as e:
        assert isinstance(e.reason, s.GatewayReject)
        return
    # whatever decodes re-encodes to the very same bytes (pad bytes may differ: compare decoded)
    again = s.encode(body, session=h.session, seq=h.seq, id=h.id, role=h.role)
    assert s.decode(again) == (h, body)


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=160))
def test_fuzz_random_bytes(raw: bytes) -> None:
    _check(raw)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(sorted(EXAMPLES, key=int)), st.data())
def test_fuzz_mutated_valid_messages(t: s.MsgType, data: st.DataObject) -> None:
    """Start from a valid message, then flip bytes, cut it or extend it: far more of these
    reach the body checks than uniformly random bytes do."""
    raw = bytearray(s.encode(EXAMPLES[t], session=1, seq=2, id=3))
    for _ in range(data.draw(st.integers(0, 4))):
        i = data.draw(st.integers(0, len(raw) - 1))
        raw[i] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(raw) + 8))
    raw = raw[:cut] if cut <= len(raw) else raw + bytes(cut - len(raw))
    _check(bytes(raw))


def test_session_key_and_request_mac() -> None:
    """v2 requests carry BLAKE2b-64(session key, message with the session field zero) in that
    field; the key is HMAC-SHA256(secret, label ‖ id ‖ nonce ‖ token) and never on the wire."""
    import hashlib
    import hmac as hmac_

    key = s.session_key(b"secret", 3, 0x0102030405060708, 0x1111222233334444)
    assert key == hmac_.new(b"secret", b"rfqcore gateway session key v2" + (3).to_bytes(2, "little")
                            + (0x0102030405060708).to_bytes(8, "little") + (0x1111222233334444).to_bytes(8, "little"),
                            hashlib.sha256).digest()
    assert len(key) == 32 and key != s.session_key(b"secret", 3, 0x0102030405060708, 0x1111222233334445)
    raw = bytearray(s.encode(EXAMPLES[s.MsgType.RFQ], session=0, seq=5, id=3))
    mac = s.request_mac(key, raw)
    assert mac == hashlib.blake2b(bytes(raw), key=key, digest_size=8).digest()
    raw[8:16] = b"\xff" * 8  # whatever the field holds, the MAC is over the message with it zero
    assert s.request_mac(key, raw) == mac
    sealed = bytearray(s.encode(EXAMPLES[s.MsgType.RFQ], session=0, seq=5, id=3))
    s.seal(key, sealed, len(sealed))
    assert bytes(sealed[8:16]) == mac
    sealed[40] ^= 1  # any other byte changes it
    assert s.request_mac(key, sealed) != mac
