"""The compiled wire codec (rfqcore._wire, the client library's) against the reference codec
rfqcore.gateway.schema: the same bytes for every message type, the same values decoded, and the
same refusal (class, reason, message, header) for every truncated or mutated frame."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rfqcore import _wire as w
from rfqcore.gateway import schema as s
from test_gateway_schema import EXAMPLES

KIND_RANGE = {"B": (0, 0xFF), "H": (0, 0xFFFF), "Q": (0, (1 << 64) - 1), "q": (-(1 << 63), (1 << 63) - 1)}


def _kinds(t: int) -> list[str]:
    """The body's field kinds in wire order, from the struct format (pad bytes left out)."""
    return [c for c in s.SPECS[t].body_fmt.replace("32s", "s") if not c.isdigit() and c != "x"]


def _field(kind: str) -> st.SearchStrategy[Any]:
    if kind == "s":
        return st.binary(min_size=32, max_size=32)
    lo, hi = KIND_RANGE[kind]
    return st.one_of(st.integers(lo, hi), st.sampled_from([lo, hi]))


def _outcome(f: Any, raw: bytes) -> Any:
    try:
        return ("ok", f(raw))
    except s.SchemaError as e:
        return (type(e), e.reason, str(e), e.header)


def _reference(raw: bytes) -> Any:
    h, body = s.decode(raw)
    return (h.type, h.session, h.seq, h.id, h.role, tuple(body))


def test_every_type_is_known_with_the_schema_body_size() -> None:
    assert {int(t) for t in EXAMPLES} == set(s.SPECS)
    for t, spec in s.SPECS.items():
        assert w.body_len(t) == spec.body_len
    with pytest.raises(ValueError):
        w.body_len(9)


@pytest.mark.parametrize("t", sorted(EXAMPLES, key=int), ids=lambda t: t.name)
def test_examples_encode_and_decode_like_the_schema(t: s.MsgType) -> None:
    body = EXAMPLES[t]
    raw = s.encode(body, session=(1 << 64) - 1, seq=9, id=0xFFFF, role=1)
    assert w.encode(int(t), (1 << 64) - 1, 9, 0xFFFF, 1, tuple(body)) == raw
    assert w.decode(raw) == w.try_decode(raw) == _reference(raw)
    assert w.decode(memoryview(bytearray(raw))) == _reference(raw)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(sorted(s.SPECS)), st.data())
def test_random_values_encode_and_decode_like_the_schema(t: int, data: st.DataObject) -> None:
    body = tuple(data.draw(_field(k)) for k in _kinds(t))
    session, seq = data.draw(_field("Q")), data.draw(_field("Q"))
    ident, role = data.draw(_field("H")), data.draw(st.integers(0, 1))
    raw = s.encode(s.SPECS[t].cls(*body), session=session, seq=seq, id=ident, role=role)
    assert w.encode(t, session, seq, ident, role, body) == raw
    assert w.decode(raw) == (t, session, seq, ident, role, body)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(sorted(s.SPECS)), st.data())
def test_values_that_do_not_fit_are_refused_by_both(t: int, data: st.DataObject) -> None:
    kinds = _kinds(t)
    ints = [i for i, k in enumerate(kinds) if k != "s"]
    if not ints:
        return  # LOGOUT: no body field
    body = [data.draw(_field(k)) for k in kinds]
    i = data.draw(st.sampled_from(ints))
    lo, hi = KIND_RANGE[kinds[i]]
    body[i] = data.draw(st.sampled_from([lo - 1, hi + 1, lo - (1 << 70), hi + (1 << 70)]))
    with pytest.raises(ValueError, match=s.SPECS[t].msg_type.name):
        s.encode(s.SPECS[t].cls(*body))
    with pytest.raises(ValueError, match=f"{s.SPECS[t].msg_type.name}: {s.SPECS[t].cls._fields[i]} = "):
        w.encode(t, 0, 0, 0, 0, tuple(body))


def test_encode_refuses_what_struct_would_silently_change() -> None:
    with pytest.raises(ValueError, match="mac"):  # struct pads a short MAC with zeros
        w.encode(int(s.MsgType.LOGON), 0, 1, 1, 0, (1, 2, b"short"))
    with pytest.raises(ValueError, match="not an integer"):
        w.encode(int(s.MsgType.CANCEL), 1, 1, 1, 0, (1.5,))
    with pytest.raises(ValueError, match="3 fields given"):
        w.encode(int(s.MsgType.CANCEL), 1, 1, 1, 0, (1, 2, 3))
    with pytest.raises(ValueError, match="unknown message type 9"):
        w.encode(9, 1, 1, 1, 0, ())
    with pytest.raises(ValueError, match="session"):
        w.encode(int(s.MsgType.CANCEL), -1, 1, 1, 0, (1,))


RFQ_RAW = s.encode(EXAMPLES[s.MsgType.RFQ], session=7, seq=1, id=1)


@pytest.mark.parametrize("n", range(len(RFQ_RAW) + 9))
def test_truncated_or_extended_frames_are_refused_the_same_way(n: int) -> None:
    raw = RFQ_RAW[:n] + bytes(max(0, n - len(RFQ_RAW)))
    expected = _outcome(_reference, raw)
    assert _outcome(w.decode, raw) == expected
    assert (w.try_decode(raw) is None) == (expected[0] != "ok")


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(sorted(EXAMPLES, key=int)), st.data())
def test_mutated_frames_are_decoded_or_refused_the_same_way(t: s.MsgType, data: st.DataObject) -> None:
    raw = bytearray(s.encode(EXAMPLES[t], session=1, seq=2, id=3))
    for _ in range(data.draw(st.integers(0, 4))):
        i = data.draw(st.integers(0, len(raw) - 1))
        raw[i] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(raw) + 8))
    frame = bytes(raw[:cut] if cut <= len(raw) else raw + bytes(cut - len(raw)))
    expected = _outcome(_reference, frame)
    assert _outcome(w.decode, frame) == expected
    got = w.try_decode(memoryview(bytearray(frame)))
    assert got == (expected[1] if expected[0] == "ok" else None)


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=160))
def test_random_bytes_are_decoded_or_refused_the_same_way(raw: bytes) -> None:
    assert _outcome(w.decode, raw) == _outcome(_reference, raw)


def test_the_cross_check_sees_a_difference() -> None:
    """The comparison above can fail: a frame the reference refuses for a trailing byte is not
    equal to the outcome of decoding it without that byte."""
    raw = RFQ_RAW + b"\0"
    assert _outcome(w.decode, raw) != _outcome(w.decode, RFQ_RAW)
    assert _outcome(w.decode, raw)[0] is s.LengthMismatch


def _signed(key: bytes, body: s.Body, seq: int, id_: int, role: int = 0) -> bytes:
    raw = bytearray(s.encode(body, session=0, seq=seq, id=id_, role=role))
    s.seal(key, raw, len(raw))
    return bytes(raw)


def test_encoder_methods_give_the_schema_bytes_signed() -> None:
    e = w.Encoder(5, 0)
    op = w.Encoder(2, 1)
    mac = bytes(range(32))
    # a logon is not signed and needs no key; every other request does
    assert bytes(e.logon(1, 2, 3, mac)) == s.encode(s.LogonMsg(2, 3, mac), seq=1, id=5)
    assert bytes(op.logon(1, 2, 3, mac)) == s.encode(s.OpLogonMsg(2, 3, mac), seq=1, id=2, role=1)
    with pytest.raises(ValueError, match="no session key"):
        e.cancel(2, 1)
    key = s.session_key(b"k" * 32, 5, 2, 99)
    e.key = op.key = key
    # each view is of the encoder's one buffer, valid until its next call: compare at once
    cases: list[tuple[Callable[[], memoryview], bytes]] = [
        (lambda: e.logout(4), _signed(key, s.LogoutMsg(), 4, 5)),
        (lambda: e.rfq(5, 11, 1, 255, 1, 10**8, -3, 7, 1_700_000_000_000_000_000),
         _signed(key, s.RfqMsg(11, 1, 255, 1, 10**8, -3, 7, 1_700_000_000_000_000_000), 5, 5)),
        (lambda: e.accept(6, 12, -1, 2, 1, 6_000_100, 10**8), _signed(key, s.AcceptMsg(12, -1, 2, 1, 6_000_100, 10**8), 6, 5)),
        (lambda: e.cancel(7, (1 << 64) - 1), _signed(key, s.CancelMsg((1 << 64) - 1), 7, 5)),
        (lambda: e.exec_resend(8, 41), _signed(key, s.ExecResendMsg(41), 8, 5)),
        (lambda: op.control(8, 1, 4, 2, 3, -4, 5, 6), _signed(key, s.ControlMsg(1, 4, 2, 3, -4, 5, 6), 8, 2, 1)),
        (lambda: e.encode(int(s.MsgType.QUOTE), 9, 9, *EXAMPLES[s.MsgType.QUOTE]),
         s.encode(EXAMPLES[s.MsgType.QUOTE], session=9, seq=9, id=5)),
        (lambda: e.cancel(10, 1), _signed(key, s.CancelMsg(1), 10, 5)),  # after a longer message
    ]
    for make, want in cases:
        got = bytes(make())
        assert got == want
        if got[5] != s.MsgType.QUOTE:
            assert got[8:16] == s.request_mac(key, got)  # the gateway's check of the signature
    with pytest.raises(ValueError, match="RFQ: qty = "):
        e.rfq(11, 1, 1, 0, 0, 1 << 63, 0, 0, 0)
    with pytest.raises(ValueError, match="ACCEPT: side = 256"):
        e.accept(11, 1, 1, 1, 256, 1, 1)
    with pytest.raises(ValueError):
        w.Encoder(1 << 16, 0)
