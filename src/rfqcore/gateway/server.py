"""The gateway loop: Aeron sessions in, ring records to the core, core outputs back out.

One thread, busy-polling, meant to run in a process of its own (no GIL shared with the engine):

    request stream --poll--> validate, authenticate --RingProducer.try_push--> gateway ring
                                                                                  |  core
    per-principal stream <--offer-- wire message <-- tap ring (RFQ-family outputs) <-+

* **Validation first, nothing half done.** A request is decoded and checked completely (header,
  type, role, lengths, session token, Aeron publication, sequence) before a record is pushed;
  a refused request pushes nothing into the core and is answered with a ``REJECT`` naming the
  reason (docs/gateway-schema.md, "Rejects"). A message whose header does not name a principal
  that has tried to log on cannot be answered: it is counted, logged (rate-limited) and dropped.
* **Identity comes from the session.** The ring record's ``source`` is the authenticated id of
  the session, never a value the peer wrote.
* **Back pressure, never drops, on the way in.** A full gateway ring stops the Aeron poll: the
  records already decoded wait in order and the rest stay in Aeron's log, which back-pressures
  the clients' publications.
* **Bounded work on the way out.** A back-pressured publication is retried a bounded number of
  times; then the message waits in that principal's backlog (order kept) and the loop goes on
  serving everybody else. A backlog beyond ``backlog_limit`` ends that session (slow consumer).

:class:`Gateway` is the loop (``poll_once`` / ``run``); :func:`run_gateway_process` is the
``multiprocessing`` entry; :class:`GatewayProcess` starts one and talks to it (ready, stats,
stop) over a pipe.
"""

from __future__ import annotations

import gc
import hashlib
import hmac
import logging
import os
import secrets
import signal
import struct
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import pyaeron

from rfqcore._ring import RingConsumer, RingProducer, monotonic_ns
from rfqcore.gateway import aeron as aeronx
from rfqcore.gateway.schema import (
    CONTROL_ID_BITS,
    HEADER,
    HEADER_SIZE,
    MAGIC,
    REQUEST_ROLES,
    SPECS,
    VERSION,
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
from rfqcore.latency import LatencyRecorder
from rfqcore.records import RECORD_DTYPE, RECORD_STRUCT, Flag, Kind
from rfqcore.records import RfqReject as CoreReason
from rfqcore.stop_signals import start_shielded

__all__ = ["Gateway", "GatewayProcess", "run_gateway_process", "LOGON_WINDOW_NS", "MAX_SEQ_STEP", "MAX_LOGON_SEQ"]

log = logging.getLogger("rfqcore.gateway")

#: A logon's timestamp must be within this of the gateway's wall clock; nonces are remembered
#: for as long (a replayed logon is refused either way).
LOGON_WINDOW_NS: Final[int] = 30_000_000_000
#: The most a request's `seq` may be above the session's last (as the Rust gateway's
#: `wire::MAX_SEQ_STEP`): one beyond it is refused BAD_SEQUENCE, so a single huge value
#: (2^64 - 1) cannot use up the sequence space and wedge the session until a new logon.
MAX_SEQ_STEP: Final[int] = 1 << 32
#: The largest `seq` a logon may carry (as the Rust gateway's `wire::MAX_LOGON_SEQ`): it becomes
#: the session's first last seq, so one above it is refused BAD_SEQUENCE (at 2^64 - 1 no request
#: could ever follow) and every session starts with at least 2^63 values ahead.
MAX_LOGON_SEQ: Final[int] = (1 << 63) - 1
#: How long a new response publication may stay unconnected before messages to it are dropped
#: (the client subscribes before it logs on, so this only covers the driver's linking delay).
CONNECT_GRACE_NS: Final[int] = 2_000_000_000

_REC = RECORD_STRUCT  # the record as a struct, built from RECORD_DTYPE's fields
assert _REC.size == 1 << 6  # record i is read at offset i << 6
_END = int(Flag.END)
_QTY_IN_QUOTE = int(Flag.QTY_IN_QUOTE)
_PARTIAL_OK = int(Flag.PARTIAL_OK)
_CONTROL_ID_MASK = (1 << CONTROL_ID_BITS) - 1
_MISSING = object()

_T_LOGON, _T_OP_LOGON, _T_LOGOUT = int(MsgType.LOGON), int(MsgType.OP_LOGON), int(MsgType.LOGOUT)
_T_EXEC_RESEND = int(MsgType.EXEC_RESEND)
_T_QUOTE_STATUS = int(MsgType.QUOTE_STATUS)
#: ended quotes whose status is kept for QUOTE_STATUS (the newest; as the Rust gateway's
#: QUOTE_STATUS_LIMIT); live quotes are always kept
QUOTE_STATUS_LIMIT: Final[int] = 1 << 18
_QS_LIVE = int(QuoteStatusCode.LIVE)
_QS_UNKNOWN = int(QuoteStatusCode.UNKNOWN_QUOTE)
_UNKNOWN_QUOTE = int(CoreReason.UNKNOWN_QUOTE)
#: execution reports kept per client for EXEC_RESEND (as the Rust gateway's EXEC_LOG_LIMIT)
EXEC_LOG_LIMIT: Final[int] = 65_536
_T_RFQ, _T_ACCEPT, _T_CANCEL, _T_CONTROL = (int(MsgType.RFQ), int(MsgType.ACCEPT), int(MsgType.CANCEL),
                                            int(MsgType.CONTROL))
_S = {t: SPECS[t].struct for t in SPECS}
_BL = {t: SPECS[t].body_len for t in SPECS}
_B = {t: struct.Struct("<" + SPECS[t].body_fmt) for t in SPECS}  # bodies alone, read at offset 32
_RFQ_BODY = _B[int(MsgType.RFQ)].unpack_from
_ACCEPT_BODY = _B[int(MsgType.ACCEPT)].unpack_from
_CANCEL_BODY = _B[int(MsgType.CANCEL)].unpack_from
_CONTROL_BODY = _B[int(MsgType.CONTROL)].unpack_from
_HEADER_UNPACK = HEADER.unpack_from
_QUOTE_PACK = SPECS[int(MsgType.QUOTE)].struct.pack
_T_QUOTE, _QUOTE_BL = int(MsgType.QUOTE), SPECS[int(MsgType.QUOTE)].body_len
_QF_BUY, _QF_SELL, _QF_PARTIAL = int(QuoteFlag.BUY), int(QuoteFlag.SELL), int(QuoteFlag.PARTIAL_OK)
_RFQ_FLAGS_ALLOWED = int(RfqFlag.QTY_IN_QUOTE)

_K_RFQ, _K_ACCEPT, _K_CANCEL, _K_CONTROL = int(Kind.RFQ), int(Kind.ACCEPT), int(Kind.CANCEL), int(Kind.CONTROL)
_K_QUOTE, _K_RFQ_REJECT, _K_ACCEPT_REJECT = int(Kind.RFQ_QUOTE), int(Kind.RFQ_REJECT), int(Kind.ACCEPT_REJECT)
_K_EXEC, _K_EXEC_FEES, _K_QUOTE_END = int(Kind.EXEC), int(Kind.EXEC_FEES), int(Kind.QUOTE_END)
_K_APPROVAL, _K_RISK, _K_CANCEL_REJECT = int(Kind.APPROVAL_PENDING), int(Kind.RISK_EVENT), int(Kind.CANCEL_REJECT)
_K_CONTROL_ACK = int(Kind.CONTROL_ACK)


@dataclass(slots=True)
class _Principal:
    role: int
    id: int
    name: str
    secret: bytes = field(repr=False)


@dataclass(slots=True)
class _Out:
    """One response publication and its backlog (messages waiting for back pressure to clear)."""

    pub: Any
    stream: int
    created_ns: int
    backlog: deque[bytes] = field(default_factory=deque)


@dataclass(slots=True)
class _Session:
    principal: _Principal
    token: int
    key: bytes = field(repr=False)
    aeron_session: int
    last_seq: int
    out: _Out
    out_seq: int = 0


def _mac_ok(key: bytes, buf: Any, n: int) -> bool:
    """The request's ``session`` field is its MAC under ``key`` (schema.request_mac)."""
    msg = memoryview(buf)[:n]
    return hmac.compare_digest(request_mac(key, msg), bytes(msg[8:16]))


def _summary(rec: LatencyRecorder) -> dict[str, int]:
    x = rec.summary()
    return {"count": x.count, "p50": x.p50, "p99": x.p99, "p999": x.p999, "max": x.max}


class Gateway:
    """The gateway loop over one Aeron client, one input ring and one tap ring.

    ``settings`` is an :class:`rfqcore.rfqconfig.RfqSettings` (clients, operators, gateway
    streams). ``input_ring`` is the path of the gateway's input ring of the engine
    (``Engine.ring_path(name)``), ``tap_ring`` the path of its RFQ-output tap
    (``Engine.add_tap(name)``). Give ``aeron`` (a connected ``pyaeron.Aeron``) or ``aeron_dir``.
    ``channel`` / ``response_channel`` override ``settings.gateway.channel`` for requests /
    responses (UDP across hosts needs two endpoints; on one host both may be the same).
    """

    def __init__(self, settings: Any, input_ring: str, tap_ring: str, *, aeron: Any = None,
                 aeron_dir: str | None = None, channel: str | None = None, response_channel: str | None = None,
                 logon_window_ns: int = LOGON_WINDOW_NS, offer_retries: int = 64, backlog_limit: int = 65536,
                 fragment_limit: int = 32, clock_ns: Callable[[], int] = time.time_ns,
                 measure_core_hop: bool = False) -> None:
        g = settings.gateway
        self.settings = settings
        self.channel = channel or g.channel
        self.response_channel = g.answers_on(channel, response_channel)
        self.request_stream = int(g.request_stream)
        self._gw = g
        self._own_aeron = aeron is None
        self.aeron = aeron if aeron is not None else aeronx.connect(aeron_dir or g.aeron_dir)
        self.logon_window_ns = logon_window_ns
        self.offer_retries = offer_retries
        self.backlog_limit = backlog_limit
        self.fragment_limit = fragment_limit
        self._clock = clock_ns
        self._principals: dict[tuple[int, int], _Principal] = {}
        for c in settings.clients:
            self._principals[(Role.CLIENT, c.id)] = _Principal(Role.CLIENT, c.id, c.name, c.secret)
        for o in settings.operators:
            self._principals[(Role.OPERATOR, o.id)] = _Principal(Role.OPERATOR, o.id, o.name, o.secret)
        self._sessions: dict[tuple[int, int], _Session] = {}
        self._clients: dict[int, _Session] = {}  # client id -> session (routing of core outputs)
        self._operators: dict[int, _Session] = {}
        self._outs: dict[tuple[int, int], _Out] = {}
        self._nonces: dict[tuple[int, int], dict[int, int]] = {}
        self._backlogged_outs: dict[int, _Out] = {}
        # rings
        self._prod = RingProducer(input_ring)
        self._tap = RingConsumer(tap_ring)
        self._tapbuf = np.zeros(1024, dtype=RECORD_DTYPE)
        self._tapmv = memoryview(self._tapbuf.view(np.uint8))
        self._in_backlog: deque[tuple[int, ...]] = deque()
        # output assembly across tap batches
        self._quote: list[int] | None = None
        #: every client's execution reports (trade id, body values), oldest first, for EXEC_RESEND
        self._exec_log: dict[int, deque[tuple[int, tuple[int, ...]]]] = {}
        self._exec_dropped: dict[int, int] = {}  # client -> newest trade id dropped from its log
        self._exec: tuple[int, ...] | None = None
        #: every quote's status from the core's answers, for QUOTE_STATUS: quote id -> [client,
        #: rfq, instrument, status, reason, side, valid_until, trade, price, qty, core time]
        self._qbook: dict[int, list[int]] = {}
        self._qended: deque[int] = deque()  # ended quote ids, oldest first
        # Aeron
        self.sub = self.aeron.add_subscription(self.channel, self.request_stream)
        self._logon_outs = {
            Role.CLIENT: self._new_out(aeronx.response_stream(g, Role.CLIENT, 0)),
            Role.OPERATOR: self._new_out(aeronx.response_stream(g, Role.OPERATOR, 0)),
        }
        self._on_fragment_cb = self._on_fragment
        # counters (plain ints on the hot path; stats() assembles them)
        self.n_in = 0
        self.n_out = 0
        self.n_pushed = 0
        self.n_tap = 0
        self.n_logons = 0
        self.n_logouts = 0
        self.n_ring_full = 0
        self.n_backlogged = 0
        self.n_not_connected = 0
        self.n_no_session = 0
        self.n_slow_consumer = 0
        self.n_backlog_dropped = 0
        self.n_errors = 0
        self.n_resent = 0
        self.n_status = 0
        self.rejects: Counter[str] = Counter()
        self.unanswerable: Counter[str] = Counter()
        self._log_budget = 100  # unanswerable messages logged before going quiet
        #: with ``measure_core_hop``: gateway's ring push -> the quote read back from the tap
        #: (the core's time plus the tap poll's delay), ns, from the records' ``ts_send``
        self.core_hop: LatencyRecorder | None = LatencyRecorder() if measure_core_hop else None
        self.closed = False

    # -- outputs ---------------------------------------------------------------------------

    def _new_out(self, stream: int) -> _Out:
        pub = self.aeron.add_exclusive_publication(self.response_channel, stream)
        return _Out(pub, stream, time.monotonic_ns())

    def _out_for(self, p: _Principal) -> _Out:
        key = (p.role, p.id)
        out = self._outs.get(key)
        if out is None:
            out = self._outs[key] = self._new_out(aeronx.response_stream(self._gw, p.role, p.id))
        return out

    def _emit(self, out: _Out, data: bytes) -> None:
        if out.backlog:
            out.backlog.append(data)
            self._check_backlog(out)
            return
        r = out.pub.offer(data)
        if r is True:
            self.n_out += 1
            return
        self._offer_slow(out, data, r)

    def _offer_slow(self, out: _Out, data: bytes, r: Any) -> None:
        retries = self.offer_retries
        while r is pyaeron.BACK_PRESSURED or r is pyaeron.ADMIN_ACTION:
            if retries <= 0:
                self.n_backlogged += 1
                out.backlog.append(data)
                self._backlogged_outs[id(out)] = out
                return
            retries -= 1
            r = out.pub.offer(data)
            if r is True:
                self.n_out += 1
                return
        if r is True:
            self.n_out += 1
        elif time.monotonic_ns() - out.created_ns < CONNECT_GRACE_NS:
            out.backlog.append(data)  # a new publication not linked to its subscriber yet
            self._backlogged_outs[id(out)] = out
        else:
            self.n_not_connected += 1  # nobody subscribed: the peer is gone

    def _check_backlog(self, out: _Out) -> None:
        if len(out.backlog) <= self.backlog_limit:
            return
        self.n_slow_consumer += 1
        self.n_backlog_dropped += len(out.backlog)
        out.backlog.clear()
        self._backlogged_outs.pop(id(out), None)
        for key, s in list(self._sessions.items()):
            if s.out is out:
                log.warning("gateway: %s %s is not draining its stream %d: session ended (slow consumer)",
                            Role(key[0]).name.lower(), s.principal.name, out.stream)
                self._end_session(s)

    def _flush_backlogs(self) -> int:
        work = 0
        for key, out in list(self._backlogged_outs.items()):
            q = out.backlog
            while q:
                r = out.pub.offer(q[0])
                if r is True:
                    q.popleft()
                    self.n_out += 1
                    work += 1
                elif r is pyaeron.NOT_CONNECTED and time.monotonic_ns() - out.created_ns >= CONNECT_GRACE_NS:
                    self.n_not_connected += len(q)
                    q.clear()
                else:
                    break
            if not q:
                del self._backlogged_outs[key]
        return work

    def _send(self, s: _Session, t: int, *body: Any) -> None:
        s.out_seq += 1
        p = s.principal
        self._emit(s.out, _S[t].pack(MAGIC, VERSION, t, _BL[t], s.token, s.out_seq, p.id, p.role, *body))

    # -- refusals --------------------------------------------------------------------------

    def _refuse(self, reason: GatewayReject, role: int, pid: int, seq: int, t: int) -> None:
        """Answer a refused request with REJECT if its header names a principal we can reach."""
        out = self._outs.get((role, pid))
        if out is None:
            self._unanswerable(reason, f"role {role} id {pid} type {t}")
            return
        self.rejects[reason.name] += 1
        s = self._sessions.get((role, pid))
        token, oseq = 0, 0
        if s is not None:
            s.out_seq += 1
            token, oseq = s.token, s.out_seq
        rt = MsgType.REJECT
        self._emit(out, _S[rt].pack(MAGIC, VERSION, rt, _BL[rt], token, oseq, pid, role,
                                    seq if 0 <= seq < 1 << 64 else 0, int(reason), t & 0xFF, VERSION))

    def _unanswerable(self, reason: GatewayReject, what: str) -> None:
        self.unanswerable[reason.name] += 1
        if self._log_budget > 0:
            self._log_budget -= 1
            log.warning("gateway: dropped a message that cannot be answered: %s (%s)%s", reason.name, what,
                        "" if self._log_budget else " -- further drops are only counted")

    # -- requests --------------------------------------------------------------------------

    def _on_fragment(self, buf: Any, hdr: Any) -> None:
        try:
            self._fragment(buf, hdr)
        except Exception:  # a bug must not take the gateway down with every session
            self.n_errors += 1
            log.exception("gateway: internal error on a request (counted, message dropped)")

    def _fragment(self, buf: Any, hdr: Any) -> None:
        self.n_in += 1
        n = len(buf)
        if n < HEADER_SIZE:
            self._unanswerable(GatewayReject.TRUNCATED, f"{n} bytes")
            return
        magic, ver, t, blen, token, seq, pid, role = _HEADER_UNPACK(buf)
        if role > 1:
            self._unanswerable(GatewayReject.BAD_FIELD, f"role {role}")
            return
        if magic != MAGIC:
            self._refuse(GatewayReject.BAD_MAGIC, role, pid, seq, t)
            return
        if ver != VERSION:
            self._refuse(GatewayReject.UNSUPPORTED_VERSION, role, pid, seq, t)
            return
        want_role = REQUEST_ROLES.get(t, _MISSING)
        if want_role is _MISSING:
            self._refuse(GatewayReject.UNKNOWN_TYPE if t not in SPECS else GatewayReject.UNEXPECTED_TYPE,
                         role, pid, seq, t)
            return
        if want_role is not None and want_role != role:
            self._refuse(GatewayReject.UNEXPECTED_TYPE, role, pid, seq, t)
            return
        bl = _BL[t]
        if blen != bl or n > HEADER_SIZE + bl:
            self._refuse(GatewayReject.LENGTH_MISMATCH, role, pid, seq, t)
            return
        if n < HEADER_SIZE + bl:
            self._refuse(GatewayReject.TRUNCATED, role, pid, seq, t)
            return
        if t == _T_LOGON or t == _T_OP_LOGON:
            self._logon(buf, role, pid, seq, t, hdr.session_id)
            return
        s = self._sessions.get((role, pid))
        if s is None:
            self._refuse(GatewayReject.NOT_LOGGED_ON, role, pid, seq, t)
            return
        # `session` carries the request's MAC under the session key (never the token, which
        # anyone who reads the stream saw in the LOGON_ACK)
        if hdr.session_id != s.aeron_session or not _mac_ok(s.key, buf, n):
            self._refuse(GatewayReject.BAD_SESSION, role, pid, seq, t)
            return
        if seq <= s.last_seq or seq - s.last_seq > MAX_SEQ_STEP:
            self._refuse(GatewayReject.BAD_SEQUENCE, role, pid, seq, t)
            return
        # Translate: one ring record, `source` = the session's authenticated id (pid == s.id). The
        # session's last sequence advances only with a request that is taken (a refused one
        # changes nothing).
        if t == _T_RFQ:
            rfq_id, inst, side, flags, qty, limit, ttl, sent = _RFQ_BODY(buf, HEADER_SIZE)
            if flags & ~_RFQ_FLAGS_ALLOWED:
                self._refuse(GatewayReject.BAD_FIELD, role, pid, seq, t)
                return
            rec: tuple[int, ...] = (_K_RFQ, inst, side, _END | (_QTY_IN_QUOTE if flags else 0), pid, rfq_id, sent,
                                    self._clock(), limit, qty, ttl)
        elif t == _T_ACCEPT:
            quote_id, accept_id, inst, side, price, qty = _ACCEPT_BODY(buf, HEADER_SIZE)
            rec = (_K_ACCEPT, inst, side, _END, pid, quote_id, 0, self._clock(), price, qty, accept_id)
        elif t == _T_CANCEL:
            rec = (_K_CANCEL, 0, 0, _END, pid, _CANCEL_BODY(buf, HEADER_SIZE)[0], 0, self._clock(), 0, 0, 0)
        elif t == _T_CONTROL:
            cid, command, fld, inst, scope, value, aux = _CONTROL_BODY(buf, HEADER_SIZE)
            if cid > _CONTROL_ID_MASK:
                self._refuse(GatewayReject.BAD_FIELD, role, pid, seq, t)
                return
            rec = (_K_CONTROL, inst, command, _END, fld, (pid << CONTROL_ID_BITS) | cid, 0, self._clock(), scope, value,
                   aux)
        elif t == _T_EXEC_RESEND:
            s.last_seq = seq
            self._resend(s, _B[t].unpack_from(buf, HEADER_SIZE)[0])
            return
        elif t == _T_QUOTE_STATUS:  # answered here from the core's answers seen so far
            s.last_seq = seq
            self._quote_status(s, _B[t].unpack_from(buf, HEADER_SIZE)[0])
            return
        else:  # LOGOUT
            s.last_seq = seq
            self._send(s, _T_LOGOUT)
            self.n_logouts += 1
            self._end_session(s)
            return
        s.last_seq = seq
        if self._in_backlog or not self._prod.try_push(*rec):
            if not self._in_backlog:
                self.n_ring_full += 1
            self._in_backlog.append(rec)  # order kept; the Aeron poll stops until it drains
            return
        self.n_pushed += 1

    def _flush_in(self) -> int:
        q = self._in_backlog
        push = self._prod.try_push
        work = 0
        while q and push(*q[0]):
            q.popleft()
            self.n_pushed += 1
            work += 1
        return work

    def _logon(self, buf: Any, role: int, pid: int, seq: int, t: int, aeron_session: int) -> None:
        nonce, ts, mac = _B[t].unpack_from(buf, HEADER_SIZE)
        p = self._principals.get((role, pid))
        if p is None:
            self.rejects[GatewayReject.UNKNOWN_CLIENT.name] += 1
            rt = MsgType.LOGON_REJECT
            self._emit(self._logon_outs[Role(role)], _S[rt].pack(MAGIC, VERSION, rt, _BL[rt], 0, 0, pid, role, nonce,
                                                                 int(GatewayReject.UNKNOWN_CLIENT)))
            return
        out = self._out_for(p)
        expected = hmac.new(p.secret, logon_mac_input(pid, nonce, ts), hashlib.sha256).digest()
        reason: GatewayReject | None = None
        now = self._clock()
        if not hmac.compare_digest(expected, mac):
            reason = GatewayReject.BAD_CREDENTIALS
        elif abs(now - ts) > self.logon_window_ns:
            reason = GatewayReject.STALE_LOGON
        elif seq > MAX_LOGON_SEQ:  # the session's first last seq: no room above it would wedge it
            reason = GatewayReject.BAD_SEQUENCE
        else:
            seen = self._nonces.setdefault((role, pid), {})
            if len(seen) > 64:
                for k in [k for k, v in seen.items() if v < now - 2 * self.logon_window_ns]:
                    del seen[k]
            if nonce in seen:
                reason = GatewayReject.REPLAYED_NONCE
            else:
                seen[nonce] = now
        if reason is not None:
            self.rejects[reason.name] += 1
            log.info("gateway: logon of %s %s refused: %s", Role(role).name.lower(), p.name, reason.name)
            rt = MsgType.LOGON_REJECT
            self._emit(out, _S[rt].pack(MAGIC, VERSION, rt, _BL[rt], 0, 0, pid, role, nonce, int(reason)))
            return
        old = self._sessions.get((role, pid))
        if old is not None:
            self._end_session(old)
        token = 0
        while token == 0:
            token = secrets.randbits(64)
        s = _Session(p, token, session_key(p.secret, pid, nonce, token), aeron_session, seq, out)
        self._sessions[(role, pid)] = s
        (self._clients if role == Role.CLIENT else self._operators)[pid] = s
        self.n_logons += 1
        log.info("gateway: %s %s (id %d) logged on, responses on stream %d", Role(role).name.lower(), p.name, pid,
                 out.stream)
        self._send(s, MsgType.LOGON_ACK, nonce, token, now)

    def _resend(self, s: _Session, after: int) -> None:
        """EXEC_RESEND: the client's kept execution reports above ``after``, then RESEND_END."""
        log_ = self._exec_log.get(s.principal.id) or deque()
        again = [b for t, b in log_ if t > after]
        for body in again:
            self._send(s, MsgType.EXECUTION_REPORT, *body)
        self.n_resent += len(again)
        self._send(s, MsgType.RESEND_END, after, len(again), self._exec_dropped.get(s.principal.id, 0))

    def _quote_status(self, s: _Session, quote_id: int) -> None:
        """QUOTE_STATUS: what the core said of this client's quote; another client's quote gets
        exactly the answer of an id nobody has."""
        q = self._qbook.get(quote_id)
        self.n_status += 1
        if q is None or q[0] != s.principal.id:
            self._send(s, MsgType.QUOTE_STATUS_REPORT, quote_id, 0, 0, _QS_UNKNOWN, _UNKNOWN_QUOTE, 0, 0, 0, 0, 0, 0)
        else:
            self._send(s, MsgType.QUOTE_STATUS_REPORT, quote_id, *q[1:])

    def _quote_ended(self, client: int, quote_id: int, rfq_id: int, inst: int, state: int, reason: int,
                     core_time: int) -> None:
        q = self._qbook.get(quote_id)
        if q is None:  # quoted before this gateway started: what the end says
            q = self._qbook[quote_id] = [client, rfq_id, inst, _QS_LIVE, 0, 0, 0, 0, 0, 0, core_time]
        elif q[0] != client:
            return  # not the same quote (a core restarted without its journal numbers again)
        q[3], q[4], q[10] = state, reason, core_time
        ended = self._qended
        ended.append(quote_id)
        if len(ended) > QUOTE_STATUS_LIMIT:
            old = ended.popleft()
            oq = self._qbook.get(old)
            if oq is not None and oq[3] != _QS_LIVE:
                del self._qbook[old]

    def _end_session(self, s: _Session) -> None:
        key = (s.principal.role, s.principal.id)
        if self._sessions.get(key) is s:
            del self._sessions[key]
            (self._clients if s.principal.role == Role.CLIENT else self._operators).pop(s.principal.id, None)

    # -- core outputs ----------------------------------------------------------------------

    def _poll_tap(self) -> int:
        if not self._tap.available():  # ~25 ns; poll_into checks its argument (~300 ns)
            return 0
        n = self._tap.poll_into(self._tapbuf)
        self.n_tap += n
        mv = self._tapmv
        unpack = _REC.unpack_from
        hop = self.core_hop
        now = monotonic_ns() if hop is not None else 0
        try:
            for i in range(n):
                r = unpack(mv, i << 6)
                if hop is not None and r[0] == _K_QUOTE and r[11] > 0:
                    hop.record(now - r[11])
                self._on_record(*r)
        except Exception:  # never lose the rest of the batch to one bad output
            self.n_errors += 1
            log.exception("gateway: internal error on a core output (counted)")
            for j in range(i + 1, n):
                try:
                    self._on_record(*unpack(mv, j << 6))
                except Exception:
                    self.n_errors += 1
        return n

    def _on_record(self, kind: int, inst: int, side: int, flags: int, source: int, seq: int, ts_event: int,
                   ts_recv: int, price: int, qty: int, aux: int, ts_send: int) -> None:
        if kind == _K_QUOTE:
            if flags & _END and self._quote is None:  # one-sided quote: one record, the usual case
                self._qbook[seq] = [source, aux, inst, _QS_LIVE, 0, 0, ts_event, 0, 0, 0, ts_recv]
                s = self._clients.get(source)
                if s is None:
                    self.n_no_session += 1
                    return
                s.out_seq += 1
                p = s.principal
                fl = (_QF_BUY if side == 0 else _QF_SELL) | (_QF_PARTIAL if flags & _PARTIAL_OK else 0)
                if side == 0:
                    data = _QUOTE_PACK(MAGIC, VERSION, _T_QUOTE, _QUOTE_BL, s.token, s.out_seq, p.id, p.role, seq, aux,
                                       inst, fl, price, qty, 0, 0, ts_event, ts_recv)
                else:
                    data = _QUOTE_PACK(MAGIC, VERSION, _T_QUOTE, _QUOTE_BL, s.token, s.out_seq, p.id, p.role, seq, aux,
                                       inst, fl, 0, 0, price, qty, ts_event, ts_recv)
                self._emit(s.out, data)
                return
            q = self._quote
            if q is None or q[0] != seq:
                # quote_id, rfq_id, inst, flags, buy px, buy qty, sell px, sell qty, valid_until, core_time
                q = self._quote = [seq, aux, inst, 0, 0, 0, 0, 0, ts_event, ts_recv]
            if side == 0:
                q[3] |= QuoteFlag.BUY
                q[4], q[5] = price, qty
            else:
                q[3] |= QuoteFlag.SELL
                q[6], q[7] = price, qty
            if flags & _PARTIAL_OK:
                q[3] |= QuoteFlag.PARTIAL_OK
            if flags & _END:
                self._quote = None
                self._qbook[seq] = [source, q[1], q[2], _QS_LIVE, 0, 0, q[8], 0, 0, 0, q[9]]
                s = self._clients.get(source)
                if s is None:
                    self.n_no_session += 1
                    return
                self._send(s, MsgType.QUOTE, *q)
            return
        if kind == _K_EXEC:
            self._exec = (seq, aux, inst, side, price, qty, ts_event, source)
            return
        if kind == _K_EXEC_FEES:
            e = self._exec
            self._exec = None
            if e is None or e[0] != seq:
                log.error("gateway: EXEC_FEES of trade %d without its EXEC record", seq)
                return
            # trade, quote, rfq, accept, instrument, side, price, qty, notional, fee, core time
            report = (seq, e[1], aux, e[6], e[2], e[3], e[4], e[5], qty, price, ts_recv)
            log_ = self._exec_log.get(e[7])
            if log_ is None:
                log_ = self._exec_log[e[7]] = deque()
            if len(log_) == EXEC_LOG_LIMIT:
                self._exec_dropped[e[7]] = log_.popleft()[0]
            log_.append((seq, report))  # kept whether or not the client has a session now
            q = self._qbook.get(e[1])
            if q is not None and q[0] == e[7]:
                q[5], q[7], q[8], q[9] = e[3], seq, e[4], e[5]
            s = self._clients.get(e[7])
            if s is None:
                self.n_no_session += 1
                return
            self._send(s, MsgType.EXECUTION_REPORT, *report)
            return
        if kind == _K_QUOTE_END:
            self._quote_ended(source, seq, ts_event, inst, aux & 0xFF, side & 0xFF, ts_recv)
            s = self._clients.get(source)
            if s is None:
                self.n_no_session += 1
                return
            self._send(s, MsgType.QUOTE_END, seq, ts_event, inst, aux & 0xFF, side, ts_recv)
            return
        if kind == _K_RFQ_REJECT:
            s = self._clients.get(source)
            if s is None:
                self.n_no_session += 1
                return
            self._send(s, MsgType.RFQ_REJECT, seq, inst, side, aux & 0xFFFF, qty, price, ts_recv)
            return
        if kind == _K_ACCEPT_REJECT:
            s = self._clients.get(source)
            if s is None:
                self.n_no_session += 1
                return
            self._send(s, MsgType.ACCEPT_REJECT, seq, ts_event, inst, side, aux & 0xFFFF, price, qty, ts_recv)
            return
        if kind == _K_CANCEL_REJECT:
            s = self._clients.get(source)
            if s is None:
                self.n_no_session += 1
                return
            self._send(s, MsgType.CANCEL_REJECT, seq, aux & 0xFFFF, ts_recv)
            return
        if kind == _K_APPROVAL:
            body = (aux, seq, source, inst, side, qty, price, ts_event, ts_recv)
            s = self._clients.get(source)
            if s is not None:
                self._send(s, MsgType.APPROVAL_PENDING, *body)
            for op in list(self._operators.values()):
                self._send(op, MsgType.APPROVAL_PENDING, *body)
            return
        if kind == _K_RISK:
            for op in list(self._operators.values()):
                self._send(op, MsgType.RISK_EVENT, side, inst, price & 0xFFFF, qty, ts_recv)
            return
        if kind == _K_CONTROL_ACK:
            ack = (seq & _CONTROL_ID_MASK, (seq >> CONTROL_ID_BITS) & 0xFFFF, side, source, inst, price, qty,
                    aux & 0xFFFF, ts_event, ts_recv)
            for op in list(self._operators.values()):
                self._send(op, MsgType.CONTROL_ACK, *ack)
            return
        # other kinds are not for the gateway (the tap should not carry them)

    # -- loop ------------------------------------------------------------------------------

    def poll_once(self) -> int:
        """One duty cycle; returns the amount of work done (0 = idle)."""
        work = 0
        if self._in_backlog:
            work += self._flush_in()
        if not self._in_backlog:
            work += self.sub.poll(self._on_fragment_cb, self.fragment_limit)
        work += self._poll_tap()
        if self._backlogged_outs:
            work += self._flush_backlogs()
        return work

    def run(self, stop: Any, *, idle: str = "spin", idle_spins: int = 1000,
            on_tick: Callable[[], None] | None = None, tick_ns: int = 1_000_000) -> None:
        """Poll until ``stop.is_set()`` (checked, with ``on_tick()``, every ``tick_ns``).

        ``idle``: ``"spin"`` never gives the CPU up; ``"yield"`` calls ``sched_yield`` once
        idle for more than ``idle_spins`` cycles (0: after every empty cycle — for a CPU shared
        with the core thread or a client, which then runs at once); ``"sleep"`` also sleeps
        50 µs once idle for 100,000 cycles.
        """
        poll = self.poll_once
        now = time.monotonic_ns
        yield_ = os.sched_yield
        mode = {"spin": 0, "yield": 1, "sleep": 2}[idle]
        idle_cycles = 0
        next_tick = now() + tick_ns
        i = 0
        while True:
            if poll():
                idle_cycles = 0
            else:
                idle_cycles += 1
                if mode and idle_cycles > idle_spins:
                    if mode == 2 and idle_cycles > 100_000:
                        time.sleep(50e-6)
                    else:
                        yield_()
            i += 1
            if i & 255 == 0 and now() >= next_tick:
                next_tick = now() + tick_ns
                if stop.is_set():
                    return
                if on_tick is not None:
                    on_tick()

    def stats(self) -> dict[str, Any]:
        """Counters: messages in/out, records pushed/tapped, rejects and drops by reason."""
        return {
            "in": self.n_in, "out": self.n_out, "pushed": self.n_pushed, "tap_records": self.n_tap,
            "logons": self.n_logons, "logouts": self.n_logouts, "sessions": len(self._sessions),
            "sessions_by_role": {r.name.lower(): sum(1 for role, _ in self._sessions if role == r) for r in Role},
            "rejects": dict(self.rejects), "unanswerable": dict(self.unanswerable),
            "ring_full": self.n_ring_full, "ring_backlog": len(self._in_backlog),
            "offer_backlogged": self.n_backlogged, "not_connected_drops": self.n_not_connected,
            "no_session_drops": self.n_no_session, "slow_consumer_disconnects": self.n_slow_consumer,
            "backlog_dropped": self.n_backlog_dropped, "internal_errors": self.n_errors, "resent": self.n_resent,
            "status_queries": self.n_status,
            "out_backlog": sum(len(o.backlog) for o in self._backlogged_outs.values()),
            "core_hop": None if self.core_hop is None else _summary(self.core_hop),
        }

    def close(self) -> None:
        """Close publications, the subscription, the rings (and the Aeron client if ours)."""
        if self.closed:
            return
        self.closed = True
        for out in [*self._outs.values(), *self._logon_outs.values()]:
            out.pub.close()
        self.sub.close()
        self._prod.close()
        self._tap.close()
        if self._own_aeron:
            self.aeron.close()

    def __enter__(self) -> Gateway:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ---- process entry ----------------------------------------------------------------------------


def run_gateway_process(input_ring: str, tap_ring: str, *, aeron_dir: str | None = None,
                        settings_path: str | None = None, registry_path: str | None = None,
                        stop: Any = None, conn: Any = None, cpu: int | None = None, idle: str = "spin",
                        idle_spins: int = 1000, channel: str | None = None, response_channel: str | None = None,
                        log_level: int = logging.WARNING, measure_core_hop: bool = False) -> None:
    """``multiprocessing`` (spawn) target: build a :class:`Gateway` and run it until ``stop``.

    ``conn`` (one end of a ``multiprocessing.Pipe``) receives ``("ready", pid)`` once the
    gateway listens, answers ``"stats"`` with ``("stats", dict)`` and gets ``("stopped",
    dict)`` at the end (or ``("error", text)`` if the gateway could not start). ``cpu`` pins the
    process to that CPU.
    """
    from rfqcore.instruments import Registry
    from rfqcore.rfqconfig import RfqSettings

    # The desk process owns the shutdown: Ctrl-C reaches the whole process group, SIGTERM may
    # too (systemd, Docker). Either only ends the loop here, in order, without a traceback;
    # the parent does the rest (and stops us the same way if it got the signal alone).
    stopping = _StopFlag(stop)
    signal.signal(signal.SIGINT, stopping.on_signal)
    signal.signal(signal.SIGTERM, stopping.on_signal)
    parent = os.getppid()
    from rfqcore import logs

    logs.configure(log_level)  # text or JSON lines, as the desk's $RFQCORE_LOG_FORMAT says
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    try:
        settings = RfqSettings.load(settings_path, Registry.load(registry_path))
        gw = Gateway(settings, input_ring, tap_ring, aeron_dir=aeron_dir, channel=channel,
                     response_channel=response_channel, measure_core_hop=measure_core_hop)
    except Exception as e:  # noqa: BLE001 - reported to the parent, then re-raised
        if conn is not None:
            _send(conn, ("error", f"{type(e).__name__}: {e}"))
        raise
    # Everything built so far lives as long as the process: keep it out of the cyclic GC's scans.
    gc.collect()
    gc.freeze()
    if conn is not None:
        _send(conn, ("ready", os.getpid()))

    def on_tick() -> None:
        if os.getppid() != parent:  # the desk process died (kill -9): nobody to serve
            stopping.set()
            return
        if conn is None:
            return
        try:
            if conn.poll():
                req = conn.recv()
                if req in ("stats", "stats_reset"):
                    conn.send(("stats", gw.stats()))
                    if req == "stats_reset" and gw.core_hop is not None:
                        gw.core_hop.reset()
        except (EOFError, OSError):  # the parent closed its end: it is stopping or gone
            stopping.set()

    try:
        gw.run(stopping, idle=idle, idle_spins=idle_spins, on_tick=on_tick)
    finally:
        stats = gw.stats()
        try:
            gw.close()
        except Exception as e:  # noqa: BLE001 - e.g. the driver went with a killed parent
            log.warning("gateway: closing its Aeron resources failed: %s", e)
        if conn is not None:
            _send(conn, ("stopped", stats))


class _StopFlag:
    """The loop's stop condition: the parent's event, a signal, or the parent gone."""

    def __init__(self, event: Any) -> None:
        self._event = event
        self._set = False

    def set(self) -> None:
        self._set = True

    def on_signal(self, signum: int, frame: Any) -> None:
        self._set = True

    def is_set(self) -> bool:
        return self._set or (self._event is not None and self._event.is_set())


def _send(conn: Any, msg: Any) -> None:
    """Send to the parent if it still listens (it may be gone or have closed the pipe)."""
    try:
        conn.send(msg)
    except (BrokenPipeError, EOFError, OSError):
        pass


class GatewayProcess:
    """A gateway in a spawned process: ``start()`` waits until it listens, ``stats()`` asks
    for its counters, ``stop()`` ends it and returns its final counters.

    >>> with GatewayProcess(eng.ring_path("gateway"), eng.add_tap("gateway"),   # doctest: +SKIP
    ...                     aeron_dir=driver.dir) as gw:
    ...     ...
    ...     print(gw.stats())
    """

    def __init__(self, input_ring: str, tap_ring: str, *, aeron_dir: str | None = None,
                 settings_path: str | None = None, registry_path: str | None = None, cpu: int | None = None,
                 idle: str = "spin", idle_spins: int = 1000, channel: str | None = None,
                 response_channel: str | None = None, log_level: int = logging.WARNING,
                 measure_core_hop: bool = False) -> None:
        import multiprocessing as mp

        self._ctx = mp.get_context("spawn")
        self._stop = self._ctx.Event()
        self._conn, child = self._ctx.Pipe()
        self._stats_lock = threading.Lock()
        self.process = self._ctx.Process(
            target=run_gateway_process, name="rfqcore-gateway", daemon=True,
            args=(input_ring, tap_ring),
            kwargs=dict(aeron_dir=aeron_dir, settings_path=settings_path, registry_path=registry_path,
                        stop=self._stop, conn=child, cpu=cpu, idle=idle, idle_spins=idle_spins, channel=channel,
                        response_channel=response_channel, log_level=log_level,
                        measure_core_hop=measure_core_hop),
        )
        self.final_stats: dict[str, Any] | None = None

    def start(self, timeout: float = 20.0) -> GatewayProcess:
        start_shielded(self.process)  # Ctrl-C is the desk's to handle, even while the child imports
        if not self._conn.poll(timeout):
            self.process.terminate()
            raise TimeoutError(f"gateway process did not report ready within {timeout:g} s")
        msg = self._conn.recv()
        if msg[0] != "ready":
            self.process.join(5)
            raise RuntimeError(f"gateway process failed to start: {msg[1]}")
        return self

    def stats(self, timeout: float = 5.0, *, reset_histograms: bool = False) -> dict[str, Any]:
        """The gateway's counters (``Gateway.stats()``); ``reset_histograms`` restarts the
        core-hop histogram after reading it (per-phase figures)."""
        with self._stats_lock:  # one request on the pipe at a time (e.g. the desk's /metrics and its CLI)
            self._conn.send("stats_reset" if reset_histograms else "stats")
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if self._conn.poll(max(0.0, deadline - time.monotonic())):
                    kind, payload = self._conn.recv()
                    stats: dict[str, Any] = payload
                    if kind == "stats":
                        return stats
                    if kind == "stopped":
                        self.final_stats = stats
                        return stats
        raise TimeoutError("gateway process did not answer a stats request")

    def stop(self, timeout: float = 10.0) -> dict[str, Any] | None:
        if not self.process.is_alive():
            return self.final_stats
        self._stop.set()
        deadline = time.monotonic() + timeout
        while self.final_stats is None and time.monotonic() < deadline:
            try:
                if self._conn.poll(0.05):
                    kind, payload = self._conn.recv()
                    if kind == "stopped":
                        self.final_stats = payload
            except (EOFError, OSError):  # it stopped on its own signal and closed the pipe
                break
        self.process.join(max(0.1, deadline - time.monotonic()))
        if self.process.is_alive():
            self.process.terminate()  # the gateway takes SIGTERM as a stop request
            self.process.join(2)
        if self.process.is_alive():
            log.warning("gateway process %s did not stop in %g s: killed", self.process.pid, timeout + 2)
            self.process.kill()
            self.process.join(2)
        return self.final_stats

    def __enter__(self) -> GatewayProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
