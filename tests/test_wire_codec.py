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
        w.body_len(10)


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
    with pytest.raises(ValueError, match="unknown message type 10"):
        w.encode(10, 1, 1, 1, 0, ())
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


# ---- the client's compiled request and receive paths (Sender, Receiver, wait) ----------------------


def test_signing_matches_the_schema_mac_for_any_key_length_blake2b_takes() -> None:
    """libsodium's keyed BLAKE2b-64 is hashlib's (schema.request_mac) for keys of 1 to 64 bytes;
    a longer key is refused where it is set."""
    e = w.Encoder(5, 0)
    for n in (1, 16, 32, 64):
        e.key = bytes(range(n))
        got = bytes(e.cancel(3, 9))
        assert got[8:16] == s.request_mac(bytes(range(n)), got)
    with pytest.raises(ValueError, match="at most 64"):
        e.key = bytes(65)


class _Pub:
    """A publication double recording what each offer saw: the message and the pending keys."""

    def __init__(self, sender: w.Sender, answers: list[Any]) -> None:
        self.sender, self.answers, self.seen = sender, answers, []

    def offer(self, view: memoryview) -> Any:
        self.seen.append((bytes(view), sorted(self.sender.pending, key=repr)))
        a = self.answers.pop(0) if self.answers else True
        if isinstance(a, BaseException):
            raise a
        return a


def test_sender_numbers_signs_registers_then_offers() -> None:
    key = s.session_key(b"k" * 32, 5, 2, 99)
    retried: list[bytes] = []
    pending: dict[Any, Any] = {}
    snd = w.Sender(5, 0, pending, lambda v: retried.append(bytes(v)))
    pub = _Pub(snd, [True, 0, True])  # the second offer is back-pressured: offer_slow gets it
    snd.pub = pub
    mac = bytes(range(32))
    assert snd.send(int(s.MsgType.LOGON), 7, 8, mac) == 1  # a logon: not signed, no key needed
    assert pub.seen[0][0] == s.encode(s.LogonMsg(7, 8, mac), seq=1, id=5)
    with pytest.raises(ValueError, match="no session key"):
        snd.send(int(s.MsgType.CANCEL), 3)
    snd.key = key
    p = snd.request("rfq", 11, False, int(s.MsgType.RFQ), 11, 1, 255, 1, 10**8, -3, 7, 1_700_000_000_000_000_000)
    assert isinstance(p, w.Pending) and not p.done and p.event is None
    assert p.keys == (("rfq", 11), ("seq", 3)) and pending == {("rfq", 11): p, ("seq", 3): p}
    want = _signed(key, s.RfqMsg(11, 1, 255, 1, 10**8, -3, 7, 1_700_000_000_000_000_000), 3, 5)
    # registered before the offer (an answer can arrive on a poller thread before offer returns)
    assert pub.seen[1] == (want, sorted(pending, key=repr))
    assert retried == [want]
    assert snd.next_seq() == 4 and snd.seq == 4
    assert snd.send(int(s.MsgType.CANCEL), 12) == 5
    assert pub.seen[2][0] == _signed(key, s.CancelMsg(12), 5, 5)
    snd.send_raw(b"raw")
    assert pub.seen[3][0] == b"raw"
    # a threaded wait has an Event for the poller thread to set
    pending.clear()
    assert snd.request("cancel", 12, True, int(s.MsgType.CANCEL), 12).event is not None


def test_sender_leaves_nothing_registered_when_encoding_or_the_offer_fails() -> None:
    pending: dict[Any, Any] = {}
    snd = w.Sender(5, 0, pending, lambda v: None)
    snd.key = b"k" * 32
    snd.pub = _Pub(snd, [OSError("closed")])
    with pytest.raises(OSError, match="closed"):
        snd.request("cancel", 1, False, int(s.MsgType.CANCEL), 1)
    assert pending == {}
    with pytest.raises(ValueError, match="ACCEPT: side = 256"):
        snd.request("accept", 2, False, int(s.MsgType.ACCEPT), 1, 2, 1, 256, 1, 1)
    with pytest.raises(ValueError, match="fields given"):
        snd.request("cancel", 3, False, int(s.MsgType.CANCEL), 1, 2)
    with pytest.raises(ValueError, match="unknown message type"):
        snd.send(99)
    assert pending == {}


def test_wait_returns_when_done_or_past_the_deadline() -> None:
    import time

    p: w.Pending[int] = w.Pending((("x", 1),), False)

    class Sub:
        polls = 0

        def poll(self, handler: Any, limit: int) -> int:
            self.polls += 1
            if self.polls == 3:
                handler(self, None)
                return 1
            return 0

    def done(_buf: Any, _hdr: Any) -> None:
        p.done = True

    t0 = time.monotonic_ns()
    assert w.wait(p, Sub(), done, False, 10**9) is True and t0 + 10**9 <= p.deadline_ns <= time.monotonic_ns() + 10**9
    q: w.Pending[int] = w.Pending((("x", 2),), False)
    t0 = time.monotonic_ns()
    assert w.wait(q, Sub(), lambda b, h: None, True, 2_000_000) is False and time.monotonic_ns() - t0 >= 2_000_000


def test_receiver_builds_the_quote_the_python_handler_builds() -> None:
    """A QUOTE of the session is turned into a Quote by the compiled Receiver (slots written in
    C): field for field the Quote the client's Python handler makes of the same frame; it
    completes the RFQ's wait and reaches on_quote. Everything else goes to the Python handler."""
    import dataclasses

    from rfqcore.client import RfqClient
    from rfqcore.gateway.schema import QuoteFlag as F
    from rfqcore.instruments import Registry

    class Hdr:
        session_id = 77

    class Other:
        session_id = 78

    btc = Registry.load().composite("BTC").id
    c = RfqClient(3, b"s" * 32)
    c.token, c._gw_session = 0xABC, 77
    got: list[Any] = []
    c.on_quote = got.append

    def frame(rfq_id: int, flags: int, token: int = 0xABC, inst: int = btc) -> bytes:
        return s.encode(s.QuoteMsg(rfq_id + 100, rfq_id, inst, flags, 6_000_100, 10**8, 5_999_900, 2 * 10**8,
                                   1_800_000_000_000_000_000, 1_700_000_000_000_000_000), session=token, seq=rfq_id, id=3)

    def python_path(raw: bytes) -> Any:
        c._on_fragment(raw, Hdr())
        return got.pop()

    python_path(frame(1, int(F.BUY)))  # the first of a composite fills the units cache (Python path)
    for i, flags in enumerate((F.BUY, F.SELL, F.BUY | F.SELL, F.BUY | F.SELL | F.PARTIAL_OK, 0, F.PARTIAL_OK)):
        rfq_id = 10 + i
        p = c._register((("rfq", rfq_id),))
        c._handler(memoryview(frame(rfq_id, int(flags))), Hdr())  # as Aeron hands it: a view
        fast = got.pop()
        assert p.done and p.result is fast and p.error is None and ("rfq", rfq_id) not in c._pending
        ref = python_path(frame(rfq_id, int(flags)))
        assert type(fast) is type(ref) and fast.received_ns > 0
        assert dataclasses.replace(fast, received_ns=0) == dataclasses.replace(ref, received_ns=0)
        assert [type(x) for x in fast.sides] == [type(x) for x in ref.sides]
        assert fast.buy_price == ref.buy_price and fast.sell_qty == ref.sell_qty  # the Decimal views work
    # not this session's token, or not from the gateway's publication: dropped by the Python path
    dropped = c.dropped
    c._handler(frame(20, int(F.BUY), token=0xABD), Hdr())
    c._handler(frame(21, int(F.BUY)), Other())
    assert c.dropped == dropped + 2 and got == []
    # a truncated QUOTE and one of a composite without units go to the Python handler too
    c._handler(frame(22, int(F.BUY))[:-1], Hdr())
    assert c.dropped == dropped + 3
    c._comp.clear()
    c._handler(frame(23, int(F.SELL)), Hdr())
    assert got.pop().rfq_id == 23 and btc in c._comp
    # without a session no QUOTE is taken, not even one whose token is the missing session's 0
    c.token = 0
    c._handler(frame(24, int(F.BUY), token=0), Hdr())
    assert got == [] and c.dropped == dropped + 4


def test_sender_call_sends_then_waits_for_the_answer() -> None:
    """Sender.call = request (registered before the offer) + wait, in one call: the answer that
    arrives on a later poll completes it; without one it comes back not done after the timeout,
    still registered for the caller to drop."""
    pending: dict[Any, Any] = {}
    snd = w.Sender(5, 0, pending, lambda v: None)
    snd.key = b"k" * 32
    snd.pub = _Pub(snd, [])

    class Sub:
        def __init__(self, answer_on: int) -> None:
            self.polls, self.answer_on = 0, answer_on

        def poll(self, handler: Any, limit: int) -> int:
            self.polls += 1
            if self.polls == self.answer_on:
                handler(b"", None)
                return 1
            return 0

    def answer(_buf: Any, _hdr: Any) -> None:
        p = pending.pop(("cancel", 7))
        pending.pop(p.keys[1])
        p.result, p.done = "ended", True

    p = snd.call("cancel", 7, Sub(3), answer, False, 10**9, int(s.MsgType.CANCEL), 7)
    assert p.done and p.result == "ended" and pending == {}
    assert snd.pub.seen[0][0] == _signed(b"k" * 32, s.CancelMsg(7), 1, 5)
    q = snd.call("cancel", 8, Sub(0), answer, True, 1_000_000, int(s.MsgType.CANCEL), 8)
    assert not q.done and set(pending) == {("cancel", 8), ("seq", 2)}
