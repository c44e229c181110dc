"""Client library of the RFQ gateway (Aeron, wire schema v2: docs/gateway-schema.md).

Blocking use::

    from decimal import Decimal
    from rfqcore.client import RfqClient, RfqRejected

    with RfqClient("acme-capital", secret, aeron_dir=d) as c:       # connect() + logon()
        q = c.request_quote("BTC", "buy", Decimal("1.5"), limit=Decimal("70000"))
        print(q.buy_price, q.buy_qty, q.valid_until)                # Decimals, exact; core ns
        ex = c.accept(q)                                           # -> Execution
        print(ex.price, ex.qty, ex.notional, ex.fee)

``c.quote_status(q)`` asks what became of one of this client's quotes (a :class:`QuoteStatus`:
live, filled by which trade, rejected, expired, cancelled, or ``UNKNOWN_QUOTE`` — also the answer
for another client's quote), and ``c.executions_since(trade_id)`` gets fills again.

Callback use: set ``on_quote``, ``on_reject``, ``on_execution``, ``on_quote_end``,
``on_approval_pending`` (each takes one event), send with ``send_rfq`` / ``send_accept`` /
``cancel``, and call :meth:`poll` in your loop or :meth:`start` a background poller thread.
Blocking calls work in both modes: without a poller thread they busy-poll the response stream
themselves (lowest latency), with one they wait for it.

Everything on the wire is the core's fixed-point integers in the composite's scales; this
library converts ``Decimal`` (or ``int`` / ``str``) exactly with the instrument registry and
refuses a value that would lose digits. The ``*_raw`` methods (``send_rfq_raw``,
``request_quote_raw``, ``accept_raw``) take those integers as they are and touch no ``Decimal``:
the integer fast path. Encoding, signing (libsodium's keyed BLAKE2b, in C), the header sequence,
the registration of a request's wait and the offer to Aeron are one compiled call per request
(:class:`rfqcore._wire.Sender`), and decoding is compiled too (:mod:`rfqcore._wire`, the layouts
exactly as :mod:`rfqcore.gateway.schema` defines them); a field that does not fit its wire type
is a ``ValueError`` naming it. Events carry both the raw integers (``*_raw``) and
``Decimal`` views of them (properties). The events are the types of :mod:`rfqcore.rfq`
(``Quote``, ``Execution``, ``QuoteEnded``, ``ApprovalPending``, ``RiskAlert``, ``ControlAck``),
the same the in-process :class:`rfqcore.engine.Engine` and its hooks give.

:class:`OperatorClient` is the desk side: CONTROL commands (kill switches, limits, approvals)
answered by the core's CONTROL_ACK, and the APPROVAL_PENDING / RISK_EVENT broadcasts.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, NamedTuple, TypeVar

from rfqcore._wire import Pending as _Pending
from rfqcore._wire import Receiver, Sender, try_decode
from rfqcore._wire import wait as _spin
from rfqcore.errors import RfqCoreError
from rfqcore.gateway import aeron as aeronx
from rfqcore.gateway.schema import (
    GatewayReject,
    MsgType,
    QuoteFlag,
    QuoteStatusCode,
    RfqFlag,
    Role,
    logon_mac_input,
    request_mac,
    session_key,
)
from rfqcore.instruments import Registry
from rfqcore.records import ClientSide, Command, QuoteEnd, RiskEvent
from rfqcore.rfq import (
    AcceptRejected,
    ApprovalPending,
    CancelRejected,
    CompositeUnits,
    ControlAck,
    Execution,
    Quote,
    QuoteEnded,
    QuoteSide,
    RequestRejected,
    RfqRejected,
    RiskAlert,
    composite_units,
)
from rfqcore.units import client_side as _side
from rfqcore.units import to_units as _to_units

__all__ = [
    "RfqClient",
    "Resent",
    "QuoteStatus",
    "QuoteStatusCode",
    "OperatorClient",
    "Quote",
    "Execution",
    "QuoteEnded",
    "ApprovalPending",
    "RiskAlert",
    "ControlAck",
    "GatewayError",
    "NotLoggedOn",
    "RequestTimeout",
    "RequestRejected",
    "LogonRejected",
    "RfqRejected",
    "AcceptRejected",
    "CancelRejected",
    "GatewayRejected",
    "to_units",
]

log = logging.getLogger("rfqcore.client")

_T_ACCEPT = int(MsgType.ACCEPT)
_T_ACCEPT_REJECT = int(MsgType.ACCEPT_REJECT)
_T_CANCEL = int(MsgType.CANCEL)
_T_CONTROL = int(MsgType.CONTROL)
_T_EXEC_RESEND = int(MsgType.EXEC_RESEND)
_T_QUOTE_STATUS = int(MsgType.QUOTE_STATUS)
_T_QUOTE_STATUS_REPORT = int(MsgType.QUOTE_STATUS_REPORT)
_T_LOGON = int(MsgType.LOGON)
_T_OP_LOGON = int(MsgType.OP_LOGON)
_T_RFQ = int(MsgType.RFQ)
_T_APPROVAL_PENDING = int(MsgType.APPROVAL_PENDING)
_T_CANCEL_REJECT = int(MsgType.CANCEL_REJECT)
_T_CONTROL_ACK = int(MsgType.CONTROL_ACK)
_T_EXECUTION_REPORT = int(MsgType.EXECUTION_REPORT)
_T_RESEND_END = int(MsgType.RESEND_END)
_T_LOGON_ACK = int(MsgType.LOGON_ACK)
_T_LOGON_REJECT = int(MsgType.LOGON_REJECT)
_T_LOGOUT = int(MsgType.LOGOUT)
_T_QUOTE = int(MsgType.QUOTE)
_T_QUOTE_END = int(MsgType.QUOTE_END)
_T_REJECT = int(MsgType.REJECT)
_T_RFQ_REJECT = int(MsgType.RFQ_REJECT)
_T_RISK_EVENT = int(MsgType.RISK_EVENT)
_QF_BUY, _QF_SELL, _QF_PARTIAL = int(QuoteFlag.BUY), int(QuoteFlag.SELL), int(QuoteFlag.PARTIAL_OK)
_BUY, _SELL = ClientSide.BUY, ClientSide.SELL
_time_ns = time.time_ns


# ---- errors -----------------------------------------------------------------------------------


class Resent(NamedTuple):
    """What :meth:`RfqClient.executions_since` got back: the execution reports with a trade id
    above ``after_trade_id`` that the gateway keeps, oldest first. ``complete`` is False when
    the gateway had already dropped some of this client's reports newer than ``after_trade_id``
    (it keeps the newest 65,536 per client, since the desk started): the settlement store
    (``rfqcore settlement``) has every trade."""

    after_trade_id: int
    executions: list[Execution]
    complete: bool


@dataclass(frozen=True, slots=True)
class QuoteStatus:
    """What :meth:`RfqClient.quote_status` got back: what the core last said of one of this
    client's quotes, as the gateway read it off the core's answers (docs/gateway-schema.md,
    ``QUOTE_STATUS``).

    ``state``: ``LIVE`` (acceptable until ``valid_until``, core ns, unless the core ends it),
    ``FILLED`` (``trade_id``, ``side``, ``price`` / ``qty`` of the execution; the full report
    again with :meth:`RfqClient.executions_since`), ``REJECTED`` (``reason``: an accept refused
    by risk at the hit ended it), ``EXPIRED``, ``CANCELLED`` (by the client, the desk or a kill
    switch), or ``UNKNOWN_QUOTE`` — an id the gateway does not know for this client, which is
    also the answer for another client's quote. Requests of this client still in the core when
    the question arrived are not reflected (their answers follow), and a quote past
    ``valid_until`` stays ``LIVE`` until the core ends it at its next input."""

    quote_id: int
    state: QuoteStatusCode
    rfq_id: int
    composite: int
    reason: int
    side: ClientSide | None
    valid_until: int
    trade_id: int
    price_raw: int
    qty_raw: int
    core_time: int
    instrument: str = ""  # the composite's name ("" when unknown)
    price_decimals: int | None = None  # the composite's scales (None: not in this client's registry)
    qty_decimals: int | None = None

    @property
    def live(self) -> bool:
        return self.state == QuoteStatusCode.LIVE

    @property
    def price(self) -> Decimal | None:
        """The execution price of a filled quote, exact (None otherwise)."""
        if self.state != QuoteStatusCode.FILLED or self.price_decimals is None:
            return None
        return Decimal(self.price_raw).scaleb(-self.price_decimals)

    @property
    def qty(self) -> Decimal | None:
        """The executed quantity of a filled quote, exact (None otherwise)."""
        if self.state != QuoteStatusCode.FILLED or self.qty_decimals is None:
            return None
        return Decimal(self.qty_raw).scaleb(-self.qty_decimals)


class GatewayError(RfqCoreError):
    """Base of the client library's own errors (session, timeouts). Refusals are
    :class:`rfqcore.rfq.RequestRejected`, the same types as the in-process engine's."""


class NotLoggedOn(GatewayError):
    """A request needs a session: call :meth:`RfqClient.logon` first (or the session ended)."""


class RequestTimeout(GatewayError, TimeoutError):
    """No answer within the timeout (the request may still be processed: check callbacks)."""


class LogonRejected(RequestRejected):
    """The gateway refused a logon attempt (``nonce``)."""

    kind = "logon"
    _fields = ("nonce",)

    def __init__(self, nonce: int, reason: int) -> None:
        self.nonce = nonce
        super().__init__(reason, True)


class GatewayRejected(RequestRejected):
    """The gateway refused a message that was not an RFQ, accept or cancel (e.g. a logout, a
    control, or one it could not read): ``request_id`` is that request's id (a control id), or
    the refused message's header seq when nothing waited for it (``kind`` ``"request"``)."""

    _fields = ("request_id",)

    def __init__(self, kind: str, request_id: int, reason: int) -> None:
        self.kind = kind
        self.request_id = request_id
        super().__init__(reason, True)


# ---- units ------------------------------------------------------------------------------------


def to_units(value: Decimal | int | str, decimals: int, what: str) -> int:
    """Exact integer of ``value`` at ``decimals``; ``ValueError`` if digits would be lost
    (:func:`rfqcore.units.to_units`; signs are left to the core to judge)."""
    return _to_units(value, decimals, what, signed=True)


def _qty_decimals(c: CompositeUnits) -> int:
    return c.qty_decimals if c.qty_decimals is not None else 0


# ---- the common session machinery ---------------------------------------------------------------


_R = TypeVar("_R")


# _Pending (rfqcore._wire.Pending): one request's wait, created and registered by the Sender


class _Endpoint:
    """Connection, logon, sequencing, dispatch and blocking waits shared by both clients."""

    ROLE: int = Role.CLIENT

    def __init__(self, principal: int | str, secret: bytes | str | None, *, settings: Any = None,
                 registry: Registry | None = None, aeron: Any = None, aeron_dir: str | None = None,
                 channel: str | None = None, response_channel: str | None = None,
                 request_stream: int | None = None, response_stream_base: int | None = None) -> None:
        from rfqcore.rfqconfig import GatewayConfig

        self.settings = settings
        gw = settings.gateway if settings is not None else GatewayConfig()
        if isinstance(principal, str):
            if settings is None:
                from rfqcore.rfqconfig import RfqSettings

                settings = self.settings = RfqSettings.load(registry=registry)
                gw = settings.gateway
            conf = settings.client(principal) if self.ROLE == Role.CLIENT else settings.operator(principal)
            self.id, self.name = conf.id, conf.name
            if secret is None:
                secret = conf.secret
        else:
            self.id, self.name = int(principal), str(principal)
        if secret is None:
            raise ValueError("a secret is required (or give a configured name with settings)")
        try:
            self._secret = bytes.fromhex(secret) if isinstance(secret, str) else bytes(secret)
        except ValueError:
            raise ValueError(f"{self.name}: the secret is not hexadecimal: give it as hex digits, as in the RFQ "
                             "settings") from None
        self.registry = registry if registry is not None else (settings.registry if settings is not None
                                                               else Registry.load())
        self.channel = channel or gw.channel
        self.response_channel = gw.answers_on(channel, response_channel)
        self.aeron_dir = aeron_dir if aeron_dir is not None else gw.aeron_dir
        self.request_stream = int(request_stream if request_stream is not None else gw.request_stream)
        base = response_stream_base
        if base is None:
            base = gw.response_stream_base if self.ROLE == Role.CLIENT else gw.operator_stream
        self.response_stream = int(base) + self.id
        self.logon_stream = int(base)
        self._aeron = aeron
        self._own_aeron = aeron is None
        self._pub: Any = None
        self._sub: Any = None
        self._logon_sub: Any = None
        self._key = b""  # the session key (schema.session_key), derived from the LOGON_ACK
        self._pending: dict[Any, _Pending[Any]] = {}
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._comp: dict[int, CompositeUnits] = {}
        #: the compiled fragment handler (rfqcore._wire.Receiver): a QUOTE of this session is
        #: handled in C, everything else by _on_fragment; it holds the session's token and the
        #: gateway publication's Aeron session id (the token / _gw_session properties)
        self._in = Receiver(self.id, self.ROLE == Role.CLIENT, self._pending, self._comp, self._on_fragment, Quote,
                            QuoteSide, _BUY, _SELL)
        self._handler = self._in
        self._logon_handler = self._on_logon_fragment
        #: the compiled request path (rfqcore._wire.Sender): takes the header seq, encodes and
        #: signs each request in one reusable buffer, registers its wait in _pending, offers it
        self._enc = Sender(self.id, self.ROLE, self._pending, self._offer)
        #: messages dropped by the client: wrong token / publication, unknown type, undecodable
        self.dropped = 0
        self.unmatched_rejects = 0
        self.last_reject: RequestRejected | None = None
        #: how blocking calls wait without a poller thread: ``"spin"`` (lowest latency, burns a
        #: CPU while waiting) or ``"yield"`` (``sched_yield`` between empty polls)
        self.wait_idle = "spin"

    @property
    def token(self) -> int:
        """The session token of the LOGON_ACK (0: no session)."""
        token: int = self._in.token
        return token

    @token.setter
    def token(self, value: int) -> None:
        self._in.token = value

    @property
    def _gw_session(self) -> int:
        """Aeron session id of the gateway's publication to this session (-1: none)."""
        sid: int = self._in.gw_session
        return sid

    @_gw_session.setter
    def _gw_session(self, value: int) -> None:
        self._in.gw_session = value

    # -- lifetime ---------------------------------------------------------------------------

    def connect(self, timeout: float = 10.0) -> _Endpoint:
        """Subscribe to this principal's response stream and the logon stream, publish to the
        request stream, and wait until the gateway's request subscription is connected."""
        if self._pub is not None:
            return self
        if self._aeron is None:
            self._aeron = aeronx.connect(self.aeron_dir, timeout=timeout)
        self._sub = self._aeron.add_subscription(self.response_channel, self.response_stream)
        self._logon_sub = self._aeron.add_subscription(self.response_channel, self.logon_stream)
        self._pub = self._enc.pub = self._aeron.add_exclusive_publication(self.channel, self.request_stream)
        deadline = time.monotonic() + timeout
        while not self._pub.is_connected:
            if time.monotonic() > deadline:
                raise aeronx.AeronUnavailable(f"no gateway subscribed to {self.channel} stream "
                                              f"{self.request_stream} within {timeout:g} s")
            time.sleep(0.001)
        return self

    def logon(self, timeout: float = 5.0, *, nonce: int | None = None, timestamp: int | None = None) -> int:
        """Authenticate (HMAC-SHA256 over id ‖ nonce ‖ timestamp); returns the session token.
        Raises :class:`LogonRejected` with the gateway's reason. ``nonce`` / ``timestamp``
        default to a fresh random nonce and the wall clock (override them only to test)."""
        self.connect()
        nonce = secrets.randbits(64) if nonce is None else nonce
        ts = time.time_ns() if timestamp is None else timestamp
        mac = hmac.new(self._secret, logon_mac_input(self.id, nonce, ts), hashlib.sha256).digest()
        p = self._register((("logon", nonce),))
        self.token = 0
        self._gw_session = -1
        self._send(_T_LOGON if self.ROLE == Role.CLIENT else _T_OP_LOGON, nonce, ts, mac, logon=True)
        self._wait(p, timeout, also_logon_stream=True)
        return self.token

    def logout(self, timeout: float = 2.0) -> None:
        """End the session (waits for the gateway's confirmation up to ``timeout``)."""
        if not self.token:
            return
        p = self._register((("logout", 0),))
        self._send(_T_LOGOUT)
        try:
            self._wait(p, timeout)
        except RequestTimeout:
            log.warning("client %s: no logout confirmation within %g s", self.name, timeout)
        finally:
            self.token = 0

    def close(self) -> None:
        """Log out (if logged on), stop the poller thread, close the Aeron resources."""
        try:
            if self.token and self._pub is not None:
                self.logout(timeout=1.0)
        finally:
            self.stop()
            try:
                for r in (self._pub, self._sub, self._logon_sub):
                    if r is not None:
                        r.close()
            finally:
                # always: an Aeron client left open on a driver that goes away ends the process
                # (the Aeron C client's default error handler exits on the driver's timeout)
                self._pub = self._enc.pub = self._sub = self._logon_sub = None
                if self._own_aeron and self._aeron is not None:
                    a, self._aeron = self._aeron, None
                    a.close()

    def __enter__(self) -> Any:
        self.connect()
        self.logon()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- background poller ----------------------------------------------------------------

    def start(self, idle: str = "yield") -> None:
        """Poll on a background thread (callbacks then run on it). ``idle``: ``"spin"`` or
        ``"yield"`` (sched_yield when idle) or ``"sleep"`` (50 µs naps when idle)."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._poll_loop, args=(idle,), name=f"rfq-client-{self.id}",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        t = self._thread
        if t is not None:
            self._stop.set()
            t.join()
            self._thread = None

    def _poll_loop(self, idle: str) -> None:
        nap = idle == "sleep"
        yield_ = os.sched_yield
        while not self._stop.is_set():
            if self.poll() == 0:
                if nap:
                    time.sleep(50e-6)
                elif idle == "yield":
                    yield_()

    def poll(self, fragment_limit: int = 32) -> int:
        """Deliver what has arrived to the callbacks / waiting calls; returns fragments read."""
        fragments: int = self._sub.poll(self._handler, fragment_limit)
        return fragments

    # -- sending ----------------------------------------------------------------------------

    def _send(self, t: int, *fields: Any, logon: bool = False) -> int:
        """Send one request of type ``t`` (body ``fields``) under the next header seq, signed
        unless it is a logon (:meth:`rfqcore._wire.Sender.send`); returns the seq."""
        if self._pub is None:
            raise NotLoggedOn("not connected")
        if not logon and not self.token:
            raise NotLoggedOn(f"{self.name}: not logged on")
        seq: int = self._enc.send(t, *fields)
        return seq

    def _request(self, kind: str, ref: int, t: int, *fields: Any) -> _Pending[Any]:
        """Send a request and register what answers it: ``(kind, ref)`` for the core's answer,
        the header seq for a gateway REJECT (registered before the offer, in the same compiled
        call: :meth:`rfqcore._wire.Sender.request`)."""
        if self._pub is None or not self.token:
            raise NotLoggedOn(f"{self.name}: not logged on")
        p: _Pending[Any] = self._enc.request(kind, ref, self._thread is not None, t, *fields)
        return p

    def seal(self, data: bytes | bytearray | memoryview) -> bytes:
        """``data`` (a hand-built request) with its ``session`` field replaced by this session's
        MAC over it (diagnostics and tests; the request methods sign what they send)."""
        if not self.token:
            raise NotLoggedOn(f"{self.name}: not logged on")
        b = bytearray(data)
        if len(b) >= 16:
            b[8:16] = request_mac(self._key, b)
        return bytes(b)

    def send_raw(self, data: bytes | bytearray | memoryview) -> None:
        """Offer arbitrary bytes on the request stream (diagnostics and tests)."""
        if self._pub is None:
            raise NotLoggedOn("not connected")
        self._enc.send_raw(data)

    def next_seq(self) -> int:
        """Reserve and return the next header sequence number (for hand-built messages)."""
        seq: int = self._enc.next_seq()
        return seq

    def _offer(self, data: Any) -> None:
        """Offer ``data``, retrying back pressure for up to 1 s."""
        pub = self._pub
        deadline = 0
        while True:
            r = pub.offer(data)
            if r is True:
                return
            if deadline == 0:
                deadline = time.monotonic_ns() + 1_000_000_000
            elif time.monotonic_ns() > deadline:
                raise aeronx.AeronUnavailable(f"request stream: offer failed for 1 s ({r!r})")

    # -- waiting ------------------------------------------------------------------------------

    def _register(self, keys: tuple[Any, ...]) -> _Pending[Any]:
        p: _Pending[Any] = _Pending(keys, self._thread is not None)
        for k in keys:
            self._pending[k] = p
        return p

    def _complete(self, key: Any, result: Any = None, error: BaseException | None = None) -> bool:
        p = self._pending.get(key)
        if p is None:
            return False
        for k in p.keys:
            self._pending.pop(k, None)
        p.result, p.error, p.done = result, error, True
        if p.event is not None:
            p.event.set()
        return True

    def _wait(self, p: _Pending[_R], timeout: float, *, also_logon_stream: bool = False) -> _R:
        if p.event is None and not also_logon_stream:  # poll the response stream ourselves (compiled loop)
            _spin(p, self._sub, self._handler, self.wait_idle == "yield", int(timeout * 1e9))
        elif p.event is not None:  # a poller thread completes it
            now = time.monotonic_ns
            p.deadline_ns = now() + int(timeout * 1e9)
            while not p.done:
                left = (p.deadline_ns - now()) / 1e9  # re-read: an approval may extend it
                if left <= 0:
                    break
                p.event.wait(min(left, 0.05))
        else:  # a logon: poll the response stream, and the logon stream now and then
            now = time.monotonic_ns
            p.deadline_ns = now() + int(timeout * 1e9)
            sub, handler = self._sub, self._handler
            yield_ = os.sched_yield if self.wait_idle == "yield" else None
            i = 0
            while not p.done:
                if sub.poll(handler, 16) == 0:
                    i += 1
                    if i & 63 == 0:
                        self._logon_sub.poll(self._logon_handler, 16)
                    if now() > p.deadline_ns:
                        break
                    if yield_ is not None:
                        yield_()
            if not p.done:
                self._logon_sub.poll(self._logon_handler, 16)
        if p.done:
            if p.error is not None:
                raise p.error
            return p.result
        raise self._timed_out(p, timeout)

    def _timed_out(self, p: _Pending[Any], timeout: float) -> RequestTimeout:
        """Unregister a wait that was not answered in time; the RequestTimeout to raise."""
        for k in p.keys:
            self._pending.pop(k, None)
        return RequestTimeout(f"{self.name}: no answer to {p.keys[0][0]} {p.keys[0][1]} within {timeout:g} s")

    # -- receiving ----------------------------------------------------------------------------

    def _composite(self, cid: int) -> CompositeUnits:
        c = self._comp.get(cid)
        if c is None:
            c = self._comp[cid] = composite_units(self.registry, cid)
        return c

    def _approval(self, v: tuple[Any, ...]) -> ApprovalPending:
        request_id, rfq_id, client, inst, side, qty, price, deadline, ct = v
        name, pd, qd, base, ccy = self._composite(inst)
        return ApprovalPending(client, inst, request_id, rfq_id, side, qty, price, deadline, ct, name, pd, qd, base,
                               ccy)

    def _on_logon_fragment(self, buf: Any, hdr: Any) -> None:
        m = try_decode(buf)
        if m is not None and m[0] == _T_LOGON_REJECT and m[3] == self.id and m[4] == self.ROLE:
            self._on_fragment(buf, hdr)

    def _on_fragment(self, buf: Any, hdr: Any) -> None:
        m = try_decode(buf)  # None: not a whole, valid message of this schema version
        if m is None:
            self.dropped += 1
            return
        t, token, _seq, _id, _role, vals = m
        if t > _T_REJECT and token == self.token and token:  # the core's answers (QUOTE ... RESEND_END)
            if hdr.session_id != self._gw_session:
                self.dropped += 1  # not from the gateway's publication to this session: spoofed
                return
            self._dispatch_more(t, vals)
            return
        if t == _T_LOGON_ACK or t == _T_LOGON_REJECT:
            nonce = vals[0]
            if ("logon", nonce) not in self._pending:
                return  # someone else's logon attempt (or a stale one)
            if t == _T_LOGON_ACK:
                self._key = self._enc.key = session_key(self._secret, self.id, nonce, token)
                self.token = token
                self._gw_session = hdr.session_id
                self._complete(("logon", nonce), token)
            else:
                rej = LogonRejected(nonce, vals[1])
                self.last_reject = rej
                self._complete(("logon", nonce), error=rej)
            return
        if t == _T_REJECT:
            # Taken whatever its token: a gateway REJECT can only refuse, never confirm, so a
            # spoofed one costs a failed request at worst; and the gateway sends one with
            # another token (or none) exactly when our session is gone.
            self._on_gateway_reject(token, vals)
            return
        if t > _T_REJECT or token != self.token or (token and hdr.session_id != self._gw_session):
            # not for this session: spoofed, or from a previous session; a core answer (QUOTE ...)
            # is only ever taken above, with this session's token: never without a session
            self.dropped += 1
            return
        self._dispatch(t, vals)

    def _on_gateway_reject(self, token: int, vals: tuple[Any, ...]) -> None:
        ref_seq, reason = vals[0], vals[1]
        if token != self.token and reason in (GatewayReject.NOT_LOGGED_ON, GatewayReject.BAD_SESSION):
            self.token = 0  # the gateway has no session for us, or a newer one
        p = self._pending.get(("seq", ref_seq))
        if p is None:
            rej: RequestRejected = GatewayRejected("request", ref_seq, reason)
            self.last_reject = rej
            self.unmatched_rejects += 1
            self._on_reject(rej)
            return
        kind, ref = p.keys[0]
        if kind == "rfq":
            rej = RfqRejected(self.id, 0, ref, 0, reason, by_gateway=True)
        elif kind == "accept":
            rej = AcceptRejected(self.id, 0, ref, 0, reason, by_gateway=True)
        elif kind == "cancel":
            rej = CancelRejected(self.id, ref, reason, by_gateway=True)
        else:
            rej = GatewayRejected(kind, ref, reason)
        self.last_reject = rej
        self._complete(("seq", ref_seq), error=rej)
        self._on_reject(rej)

    def _dispatch(self, t: int, vals: tuple[Any, ...]) -> None:
        if t == _T_LOGOUT:
            self.token = 0
            self._complete(("logout", 0))
            return
        self._dispatch_more(t, vals)

    def _dispatch_more(self, t: int, vals: tuple[Any, ...]) -> None:
        self.dropped += 1

    def _on_reject(self, rej: RequestRejected) -> None:
        pass


# ---- the client -------------------------------------------------------------------------------


class RfqClient(_Endpoint):
    """A desk client: RFQs, accepts, cancels, and the answers (see the module doc).

    ``client`` is the client id, or a configured name (then ``settings`` — default the packaged
    ``rfq.toml`` — supplies the id, and the secret when ``secret`` is None). ``secret`` is bytes
    or a hex string. Streams and channel default to ``settings.gateway`` (or the schema
    defaults); ``aeron_dir`` is the media driver's directory.
    """

    ROLE = Role.CLIENT

    def __init__(self, client: int | str, secret: bytes | str | None = None, **kw: Any) -> None:
        super().__init__(client, secret, **kw)
        # RFQ ids must be unique per client for the core's lifetime: start from the clock so a
        # restarted client never reuses one.
        self._rfq_id = time.time_ns()
        self._accept_id = 0
        self.on_reject: Callable[[RequestRejected], None] | None = None
        self.on_execution: Callable[[Execution], None] | None = None
        self.on_quote_end: Callable[[QuoteEnded], None] | None = None
        self.on_approval_pending: Callable[[ApprovalPending], None] | None = None
        #: the newest trade id of an execution report this client received (0: none yet)
        self.last_trade_id = 0
        #: on a logon of a client that has received executions before (a re-logon after a cut-off
        #: or a lost session), ask for every report after ``last_trade_id`` (see ``missed``)
        self.resend_on_logon = True
        #: what the last such logon recovered (also delivered to ``on_execution``)
        self.missed: Resent | None = None
        self._resent: list[Execution] | None = None

    @property
    def on_quote(self) -> Callable[[Quote], None] | None:
        """Called with every :class:`Quote` (the compiled receiver calls it for most of them)."""
        f: Callable[[Quote], None] | None = self._in.on_quote
        return f

    @on_quote.setter
    def on_quote(self, f: Callable[[Quote], None] | None) -> None:
        self._in.on_quote = f

    def logon(self, timeout: float = 5.0, *, nonce: int | None = None, timestamp: int | None = None) -> int:
        """As :meth:`_Endpoint.logon`; then, when this client has received executions before,
        ask the gateway for every report after the last one it received (``missed``): a fill
        the desk booked while the client had no session (cut off as a slow consumer, crashed and
        restarted with ``last_trade_id`` restored, ...) is never silently lost."""
        token = super().logon(timeout, nonce=nonce, timestamp=timestamp)
        if self.resend_on_logon and self.last_trade_id:
            self.missed = self.executions_since(self.last_trade_id, timeout=timeout)
        return token

    def executions_since(self, after_trade_id: int | None = None, *, timeout: float = 5.0) -> Resent:
        """Every execution report the gateway keeps for this client with a trade id above
        ``after_trade_id`` (default: :attr:`last_trade_id`; 0: all), oldest first. They are
        also delivered to ``on_execution`` as they arrive."""
        after = self.last_trade_id if after_trade_id is None else int(after_trade_id)
        if not 0 <= after < 1 << 64:
            raise ValueError(f"after_trade_id {after} is not a trade id (0 .. 2**64-1)")
        self._resent = []
        try:
            p: _Pending[Resent] = self._request("resend", after, _T_EXEC_RESEND, after)
            return self._wait(p, timeout)
        finally:
            self._resent = None

    def quote_status(self, quote: Quote | int, *, timeout: float = 5.0) -> QuoteStatus:
        """What became of one of this client's quotes (a :class:`Quote` or its id): a
        :class:`QuoteStatus`, ``UNKNOWN_QUOTE`` for an id this client has no quote under
        (another client's quote answers the same). Answered by the gateway, nothing reaches the
        core; a malformed request is refused like any other (:class:`GatewayRejected`)."""
        qid = quote if isinstance(quote, int) else quote.quote_id
        if not 0 <= qid < 1 << 64:
            raise ValueError(f"quote id {qid} is not a quote id (0 .. 2**64-1)")
        p: _Pending[QuoteStatus] = self._request("status", qid, _T_QUOTE_STATUS, qid)
        return self._wait(p, timeout)

    # -- requests ---------------------------------------------------------------------------

    def _rfq_fields(self, instrument: int | str, side: str | int, qty: Decimal | int | str, quote_ccy: bool,
                    limit: Decimal | int | str | None, ttl_ms: Decimal | int | str | None) -> tuple[int, ...]:
        comp = self.registry.composite(instrument)
        q = to_units(qty, comp.price_decimals if quote_ccy else comp.qty_decimals, "qty")
        lim = 0 if limit is None else to_units(limit, comp.price_decimals, "limit")
        ttl = 0 if ttl_ms is None else to_units(ttl_ms, 6, "ttl_ms")
        return comp.id, _side(side), RfqFlag.QTY_IN_QUOTE if quote_ccy else 0, q, lim, ttl

    def send_rfq(self, instrument: int | str, side: str | int, qty: Decimal | int | str, *, quote_ccy: bool = False,
                 limit: Decimal | int | str | None = None, ttl_ms: Decimal | int | str | None = None,
                 rfq_id: int | None = None) -> int:
        """Send an RFQ without waiting; returns its RFQ id (answers go to the callbacks)."""
        inst, s, flags, q, lim, ttl = self._rfq_fields(instrument, side, qty, quote_ccy, limit, ttl_ms)
        return self.send_rfq_raw(inst, s, q, flags=flags, limit=lim, ttl_ns=ttl, rfq_id=rfq_id)

    def send_rfq_raw(self, instrument: int, side: int, qty: int, *, flags: int = 0, limit: int = 0, ttl_ns: int = 0,
                     rfq_id: int | None = None) -> int:
        """:meth:`send_rfq` with the wire integers as they are (no conversion, no checks)."""
        if rfq_id is None:
            self._rfq_id += 1
            rfq_id = self._rfq_id
        self._send(_T_RFQ, rfq_id, instrument, side, flags, qty, limit, ttl_ns, _time_ns())
        return rfq_id

    def request_quote(self, instrument: int | str, side: str | int, qty: Decimal | int | str, *,
                      quote_ccy: bool = False, limit: Decimal | int | str | None = None,
                      ttl_ms: Decimal | int | str | None = None, timeout: float = 1.0) -> Quote:
        """Ask for a firm quote and wait for it.

        ``side``: ``"buy"`` / ``"sell"`` (the client's side) or ``"two-way"``. ``qty`` in base
        units (``Decimal``), or in quote currency with ``quote_ccy=True``. ``limit``: worst
        acceptable price. ``ttl_ms``: requested lifetime (default: the tier's). Raises
        :class:`RfqRejected` (``.reason``) or :class:`RequestTimeout`. If the RFQ goes to
        manual approval, the wait extends to the approval deadline.
        """
        inst, s, flags, q, lim, ttl = self._rfq_fields(instrument, side, qty, quote_ccy, limit, ttl_ms)
        return self.request_quote_raw(inst, s, q, flags=flags, limit=lim, ttl_ns=ttl, timeout=timeout)

    def request_quote_raw(self, instrument: int, side: int, qty: int, *, flags: int = 0, limit: int = 0,
                          ttl_ns: int = 0, timeout: float = 1.0) -> Quote:
        """:meth:`request_quote` with wire integers (composite scales)."""
        if self._pub is None or not self._in.token:
            raise NotLoggedOn(f"{self.name}: not logged on")
        self._rfq_id += 1
        rfq_id = self._rfq_id
        if self._thread is not None:
            p: _Pending[Quote] = self._enc.request("rfq", rfq_id, True, _T_RFQ, rfq_id, instrument, side, flags, qty,
                                                   limit, ttl_ns, _time_ns())
            return self._wait(p, timeout)
        # the hot path: send, then poll for the answer, in one compiled call (self._request + self._wait)
        p = self._enc.call("rfq", rfq_id, self._sub, self._handler, self.wait_idle == "yield", int(timeout * 1e9),
                           _T_RFQ, rfq_id, instrument, side, flags, qty, limit, ttl_ns, _time_ns())
        if p.done:
            if p.error is not None:
                raise p.error
            return p.result
        raise self._timed_out(p, timeout)

    def accept(self, quote: Quote, side: str | int | None = None, qty: Decimal | int | str | None = None, *,
               timeout: float = 1.0) -> Execution:
        """Hit ``quote`` on ``side`` (default: its only side) for ``qty`` (default: all of it) and
        wait for the execution report. Raises :class:`AcceptRejected` (``.reason``)."""
        if side is None:
            sides = quote.sides
            if len(sides) != 1:
                raise ValueError(f"quote {quote.quote_id} is two-way: say which side to accept")
            s = int(sides[0].side)
        else:
            s = _side(side)
        price, full = quote.raw(s)
        q = full if qty is None else to_units(qty, _qty_decimals(self._composite(quote.composite)), "qty")
        return self.accept_raw(quote.quote_id, quote.composite, s, price, q, timeout=timeout)

    def accept_raw(self, quote_id: int, instrument: int, side: int, price: int, qty: int, *,
                   timeout: float = 1.0) -> Execution:
        """:meth:`accept` with wire integers."""
        self._accept_id += 1
        aid = self._accept_id
        p: _Pending[Execution] = self._request("accept", aid, _T_ACCEPT, quote_id, aid, instrument, side, price,
                                               qty)
        return self._wait(p, timeout)

    def send_accept(self, quote: Quote, side: str | int, qty: Decimal | int | str | None = None) -> int:
        """Hit a quote without waiting; returns the accept id (answer: ``on_execution`` /
        ``on_reject``)."""
        s = _side(side)
        price, full = quote.raw(s)
        q = full if qty is None else to_units(qty, _qty_decimals(self._composite(quote.composite)), "qty")
        self._accept_id += 1
        self._send(_T_ACCEPT, quote.quote_id, self._accept_id, quote.composite, s, price, q)
        return self._accept_id

    def cancel(self, quote: Quote | int, *, wait: bool = False, timeout: float = 1.0) -> QuoteEnded | None:
        """Withdraw a live quote. With ``wait``, return its :class:`QuoteEnded` (cancelled) or
        raise :class:`CancelRejected`."""
        qid = quote if isinstance(quote, int) else quote.quote_id
        if not wait:
            self._send(_T_CANCEL, qid)
            return None
        p: _Pending[QuoteEnded] = self._request("cancel", qid, _T_CANCEL, qid)
        return self._wait(p, timeout)

    # -- answers ------------------------------------------------------------------------------

    def _dispatch_more(self, t: int, v: tuple[Any, ...]) -> None:
        if t == _T_QUOTE:
            qid, rfq_id, inst, fl = v[0], v[1], v[2], v[3]
            name, pd, qd, base, ccy = self._composite(inst)
            sides: tuple[QuoteSide, ...]
            if fl & _QF_BUY:
                sides = ((QuoteSide(_BUY, v[4], v[5]), QuoteSide(_SELL, v[6], v[7])) if fl & _QF_SELL
                         else (QuoteSide(_BUY, v[4], v[5]),))
            else:
                sides = (QuoteSide(_SELL, v[6], v[7]),) if fl & _QF_SELL else ()
            q = Quote(self.id, inst, qid, rfq_id, v[8], sides, bool(fl & _QF_PARTIAL), 0, name, pd, qd, v[9],
                      time.monotonic_ns(), base, ccy)
            self._complete(("rfq", rfq_id), q)
            if self.on_quote is not None:
                self.on_quote(q)
        elif t == _T_EXECUTION_REPORT:
            trade, qid, rfq_id, aid, inst, side, px, qty, notional, fee, ct = v
            name, pd, qd, base, ccy = self._composite(inst)
            ex = Execution(self.id, inst, trade, qid, rfq_id, aid, ClientSide(side), px, qty, notional, fee, ct, 0,
                           name, pd, qd, base, ccy)
            if trade > self.last_trade_id:
                self.last_trade_id = trade
            if self._resent is not None:
                self._resent.append(ex)
            self._complete(("accept", aid), ex)
            if self.on_execution is not None:
                self.on_execution(ex)
        elif t == _T_QUOTE_STATUS_REPORT:
            qid, rfq_id, inst, status, reason, side, until, trade, px, qty, ct = v
            try:
                st = QuoteStatusCode(status)
            except ValueError:
                st = status
            name, pd, qd = "", None, None
            if st != QuoteStatusCode.UNKNOWN_QUOTE:
                name, pd, qd, _base, _ccy = self._composite(inst)
            filled = st == QuoteStatusCode.FILLED
            self._complete(("status", qid), QuoteStatus(
                qid, st, rfq_id, inst, reason, ClientSide(side) if filled else None, until, trade, px, qty, ct, name, pd,
                qd))
        elif t == _T_RESEND_END:
            after, _resent, newest_dropped = v
            got = list(self._resent or ())
            self._complete(("resend", after), Resent(after, got, newest_dropped <= after))
        elif t == _T_RFQ_REJECT:
            rfq_id, inst, side, reason, qty, price = v[0:6]
            rej: RequestRejected = RfqRejected(self.id, inst, rfq_id, side, reason, qty, price)
            self.last_reject = rej
            self._complete(("rfq", rfq_id), error=rej)
            self._on_reject(rej)
        elif t == _T_ACCEPT_REJECT:
            qid, aid, inst, side, reason, price, qty = v[0:7]
            rej = AcceptRejected(self.id, qid, aid, side, reason, qty, price, inst)
            self.last_reject = rej
            self._complete(("accept", aid), error=rej)
            self._on_reject(rej)
        elif t == _T_QUOTE_END:
            qid, rfq_id, inst, state, reason, ct = v
            try:
                end = QuoteEnd(state)
            except ValueError:
                end = state
            ev = QuoteEnded(self.id, inst, qid, rfq_id, end, reason, ct)
            self._complete(("cancel", qid), ev)
            if self.on_quote_end is not None:
                self.on_quote_end(ev)
        elif t == _T_CANCEL_REJECT:
            qid, reason = v[0], v[1]
            rej = CancelRejected(self.id, qid, reason)
            self.last_reject = rej
            self._complete(("cancel", qid), error=rej)
            self._on_reject(rej)
        elif t == _T_APPROVAL_PENDING:
            ap = self._approval(v)
            p = self._pending.get(("rfq", ap.rfq_id))
            if p is not None:  # wait for the operator, up to the approval deadline (+1 s)
                p.deadline_ns = max(p.deadline_ns,
                                    time.monotonic_ns() + ap.deadline - time.time_ns() + 1_000_000_000)
            if self.on_approval_pending is not None:
                self.on_approval_pending(ap)
        else:
            self.dropped += 1

    def _on_reject(self, rej: RequestRejected) -> None:
        if self.on_reject is not None:
            self.on_reject(rej)


# ---- the operator -----------------------------------------------------------------------------


class OperatorClient(_Endpoint):
    """A desk operator: CONTROL commands through the gateway, answered by the core's
    CONTROL_ACK; receives APPROVAL_PENDING and RISK_EVENT broadcasts (``on_approval_pending``,
    ``on_risk_event``) and every operator's CONTROL_ACKs (``on_control_ack``: the audit trail).

    :meth:`send` is a sender for :class:`rfqcore.operator.Operator`; :meth:`operator` returns
    one bound to this connection (human units: Decimals, bps, ms)::

        with OperatorClient("desk-operator", aeron_dir=d) as op:
            op.operator().kill(True, client="beta-fund")
            op.operator().set_instrument("BTC", long_limit=Decimal("100"))
    """

    ROLE = Role.OPERATOR

    def __init__(self, operator: int | str, secret: bytes | str | None = None, **kw: Any) -> None:
        super().__init__(operator, secret, **kw)
        self._control_id = 0
        #: how long :meth:`send` (the :class:`rfqcore.operator.Operator` path) waits for an ack, s
        self.control_timeout = 2.0
        self.on_control_ack: Callable[[ControlAck], None] | None = None
        self.on_approval_pending: Callable[[ApprovalPending], None] | None = None
        self.on_risk_event: Callable[[RiskAlert], None] | None = None

    def control(self, command: Command | int, *, field: int = 0, instrument: int = 0, scope: int = 0, value: int = 0,
                aux: int = 0, timeout: float = 2.0) -> ControlAck:
        """Send one CONTROL (fields as in docs/rfq-protocol.md) and return its CONTROL_ACK
        (``ack.ok``; ``ack.result`` is the core's reason when refused). Raises
        :class:`GatewayRejected` if the gateway refused it."""
        self._control_id += 1
        cid = self._control_id
        p: _Pending[ControlAck] = self._request("control", cid, _T_CONTROL, cid, int(command), field, instrument,
                                                scope, value, aux)
        return self._wait(p, timeout)

    def send(self, req: Any) -> ControlAck:
        """Sender for :class:`rfqcore.operator.Operator`: ``req`` is a ``ControlRequest``."""
        return self.control(req.command, field=req.field, instrument=req.instrument, scope=req.scope,
                            value=req.value, aux=req.aux, timeout=self.control_timeout)

    def operator_call(self, method: str, *args: Any, **kw: Any) -> Any:
        """``self.operator().<method>(*args, **kw)`` (one call, e.g. from another process)."""
        return getattr(self.operator(), method)(*args, **kw)

    def operator(self, *, strict: bool = True) -> Any:
        """An :class:`rfqcore.operator.Operator` sending through this connection."""
        from rfqcore.operator import Operator

        s = self.settings
        clients = {c.name: c.id for c in s.clients} if s is not None else {}
        tiers = {t.name: t.id for t in s.tiers} if s is not None else {}
        return Operator(self.send, self.registry, clients=clients, tiers=tiers, strict=strict)

    def _dispatch_more(self, t: int, v: tuple[Any, ...]) -> None:
        if t == _T_CONTROL_ACK:
            cid, opid, command, fld, inst, scope, value, result, previous, ct = v
            ack = ControlAck(cid, command, fld, inst, scope, value, result, previous, ct, opid)
            if opid == self.id:
                self._complete(("control", cid), ack)
            if self.on_control_ack is not None:
                self.on_control_ack(ack)
        elif t == _T_APPROVAL_PENDING:
            if self.on_approval_pending is not None:
                self.on_approval_pending(self._approval(v))
        elif t == _T_RISK_EVENT:
            if self.on_risk_event is not None:
                event, inst, client, count, ct = v
                try:
                    event = RiskEvent(event)
                except ValueError:
                    pass
                self.on_risk_event(RiskAlert(event, client, inst, count, ct))
        else:
            self.dropped += 1
