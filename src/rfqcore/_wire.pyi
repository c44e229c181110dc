"""Type stubs for ``rfqcore._wire`` (core_ext/cython/_wire.pyx): the compiled gateway wire codec."""

from collections.abc import Buffer, Callable
from typing import Any, Generic, TypeVar

_R = TypeVar("_R")

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
    a logon; libsodium's keyed BLAKE2b-64); each method returns a view of the message, valid
    until the next call."""

    key: bytes  # set from any bytes-like of at most 64 bytes
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

class Pending(Generic[_R]):
    """One request's wait: registered under ``keys`` before the request is offered."""

    keys: tuple[Any, ...]
    result: _R
    error: BaseException | None
    done: bool
    event: Any  # threading.Event when a poller thread answers it, else None
    deadline_ns: int
    def __init__(self, keys: tuple[Any, ...], threaded: bool) -> None: ...

class Sender(Encoder):
    """An :class:`Encoder` that takes the next seq, writes, signs, registers the wait and offers
    each request in one call, under its own lock."""

    pub: Any  # offer(buffer) -> True | a falsy code
    offer_slow: Callable[[Any], None]
    pending: dict[Any, Pending[Any]]
    @property
    def seq(self) -> int: ...
    def __init__(self, id: int, role: int, pending: dict[Any, Pending[Any]],
                 offer_slow: Callable[[Any], None]) -> None: ...
    def send(self, t: int, *fields: Any) -> int: ...
    def request(self, kind: str, ref: Any, threaded: bool, t: int, *fields: Any) -> Pending[Any]: ...
    def call(self, kind: str, ref: Any, sub: Any, handler: Callable[[Any, Any], None], yield_: bool, timeout_ns: int,
             t: int, *fields: Any) -> Pending[Any]: ...
    def next_seq(self) -> int: ...
    def send_raw(self, data: Buffer) -> None: ...

class Receiver:
    """The client's fragment handler: a QUOTE of its session handled in C, the rest by ``slow``."""

    token: int
    gw_session: int
    client: int
    quotes: bool
    pending: dict[Any, Pending[Any]]
    units: dict[int, Any]
    on_quote: Callable[[Any], None] | None
    slow: Callable[[Any, Any], None]
    def __init__(self, client: int, quotes: bool, pending: dict[Any, Pending[Any]], units: dict[int, Any],
                 slow: Callable[[Any, Any], None], quote_cls: type, side_cls: type, buy: Any, sell: Any) -> None: ...
    def __call__(self, buf: Buffer, hdr: Any) -> None: ...

def wait(p: Pending[Any], sub: Any, handler: Callable[[Any, Any], None], yield_: bool, timeout_ns: int) -> bool:
    """Poll ``sub`` into ``handler`` until ``p`` is done (True) or past ``p.deadline_ns``, set to
    now + ``timeout_ns`` (False)."""
