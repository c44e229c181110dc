"""Type stubs for ``rfqcore._wire`` (core_ext/cython/_wire.pyx): the compiled gateway wire codec."""

from collections.abc import Buffer
from typing import Any

#: ``(type, session, seq, id, role, body)``; ``body`` holds the body's fields in wire order
#: (``int``, and ``bytes`` for a logon MAC).
Decoded = tuple[int, int, int, int, int, tuple[Any, ...]]

def decode(buf: Buffer) -> Decoded:
    """One whole message; raises what ``schema.decode`` raises for the same bytes."""

def try_decode(buf: Buffer) -> Decoded | None:
    """:func:`decode`, or ``None`` where it would raise."""

def encode(t: int, session: int, seq: int, id: int, role: int, body: tuple[Any, ...]) -> bytes:
    """The complete message; ``ValueError`` for a field that does not fit its wire type."""

def body_len(t: int) -> int: ...

class Encoder:
    """One principal's requests written into a reusable buffer and signed with ``key`` (all but
    a logon); each method returns a view of the message, valid until the next call."""

    key: bytes
    @property
    def id(self) -> int: ...
    @property
    def role(self) -> int: ...
    def __init__(self, id: int, role: int) -> None: ...
    def encode(self, t: int, session: int, seq: int, *body: Any) -> memoryview: ...
    def logon(self, seq: int, nonce: int, timestamp: int, mac: bytes) -> memoryview: ...
    def logout(self, seq: int) -> memoryview: ...
    def rfq(self, seq: int, rfq_id: int, instrument: int, side: int, flags: int, qty: int, limit: int, ttl_ns: int,
            send_time: int) -> memoryview: ...
    def accept(self, seq: int, quote_id: int, accept_id: int, instrument: int, side: int, price: int,
               qty: int) -> memoryview: ...
    def cancel(self, seq: int, quote_id: int) -> memoryview: ...
    def exec_resend(self, seq: int, after_trade_id: int) -> memoryview: ...
    def control(self, seq: int, control_id: int, command: int, field: int, instrument: int, scope: int, value: int,
                aux: int) -> memoryview: ...
