"""FIX 4.4 RFQ gateway: the QuickFIX acceptor in the desk process (docs/fix.md).

The session layer (logon, heartbeats, sequence numbers, resend and gap fill, session-level
rejects of malformed messages, the persisted message store) is QuickFIX's (``quickfix-py``, the
reference C++ engine). This module is the application layer: it checks each client's logon
password against the client's secret from the RFQ configuration, maps QuoteRequest (R) and
NewOrderSingle (D) onto the engine's Python RFQ API (the same core, risk and journal as the
Aeron gateway) and answers with Quote (S), QuoteRequestReject (AG) and ExecutionReport (8).
Reject names come from :class:`rfqcore.records.RfqReject` (the core's codes); FIX reason codes
(658, 103) are mapped from them in :mod:`rfqcore.fix`, one table each.
"""

from __future__ import annotations

import errno
import hmac
import json
import logging
import os
import re
import socket
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import quickfix as qf
from quickfix import _quickfix  # the SWIG C module (see PollDriver)

from rfqcore.engine import Engine
from rfqcore.records import ClientSide, QuoteEnd, RfqReject
from rfqcore.rfq import (AcceptRejected, ApprovalPending, Execution, Quote, QuoteEnded, RfqRejected,
                         reason_name)
from rfqcore.rfqconfig import ClientConfig, RfqSettings
from rfqcore.fix import (BEGIN_STRING, FixUnavailable, PollDriver, data_dictionary, decimal_text,
                         fix_time, keep_python_sigint, ord_rej_reason, parse_fix_time, quote_request_reject_reason,
                         socket_fds)
from rfqcore.units import to_units as _to_units

__all__ = ["FixGateway"]

keep_python_sigint()  # importing quickfix set SIGINT to its default action: Ctrl-C must stop the desk in order

log = logging.getLogger("rfqcore.fix")

class _Refused(Exception):
    """A request refused by the gateway before the core: a core reject code and a text."""

    def __init__(self, code: RfqReject, text: str) -> None:
        super().__init__(text)
        self.code = code
        self.text = f"{code.name}: {text}"


def _port_free(host: str, port: int) -> int:
    """``port`` if free (0: a free one the system picks); :class:`FixUnavailable` otherwise."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
            return int(s.getsockname()[1])
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                raise FixUnavailable(f"cannot serve FIX on {host}:{port}: the port is in use; stop what listens "
                                     f"there or choose another --fix-port") from None
            raise FixUnavailable(f"cannot serve FIX on {host}:{port}: {e.strerror or e}; give a local address "
                                 f"and a free port") from None


_FIX_DECIMAL = re.compile(r"-?(?:\d+(?:\.\d*)?|\.\d+)")


def to_units(text: str, decimals: int, what: str) -> int:
    """A FIX Qty/Price/Amt value in the core's integers: a plain decimal (digits, one optional
    point, an optional minus: no exponent, no spaces, which Python's Decimal would take), then
    :func:`rfqcore.units.to_units` (exact, not negative)."""
    if not _FIX_DECIMAL.fullmatch(text):
        raise ValueError(f"{what}: {text!r} is not a FIX decimal (digits and one optional point)")
    return _to_units(text, decimals, what)


def _on_port(port: int, sock: socket.socket) -> bool:
    """A TCP socket bound to ``port`` here: the acceptor's listening socket and its connections."""
    return (sock.family in (socket.AF_INET, socket.AF_INET6) and sock.type == socket.SOCK_STREAM
            and sock.getsockname()[1] == port)


class FixGateway(qf.Application):  # type: ignore[misc]  # quickfix ships no type information
    """A FIX 4.4 acceptor for the sessions of ``settings.fix`` (``[fix]``, docs/fix.md): one per
    client, SenderCompID = the configured ``sender_comp_id`` (default the client's name),
    TargetCompID = ``[fix] comp_id`` (default ``RFQCORE``), Password (554) = the
    client's secret in hex (as configured, or ``$RFQCORE_SECRET_<NAME>``). Sequence numbers and
    sent messages persist in the store directory (QuickFIX file store), so a restart continues
    the sessions. ``port``, ``store_dir``, ``host`` and ``heartbeat_s`` given here override
    ``[fix]`` (the command line's --fix-port/--fix-store); ``cancel_on_disconnect`` given here
    overrides every session's."""

    def __init__(self, engine: Engine, settings: RfqSettings, *, port: int | None = None,
                 store_dir: str | None = None, host: str | None = None, heartbeat_s: int | None = None,
                 timeout: float = 2.0, cancel_on_disconnect: bool | None = None,
                 tls: tuple[str, str] | None = None) -> None:
        super().__init__()
        fix = settings.fix
        self.engine, self.settings = engine, settings
        listen = fix.listen or ("127.0.0.1", 0)
        self.host = listen[0] if host is None else host
        self.port = listen[1] if port is None else port
        self.store_dir = str(fix.store if store_dir is None else store_dir)
        self.heartbeat_s = fix.heartbeat_s if heartbeat_s is None else heartbeat_s
        self.comp_id = fix.comp_id
        self.timeout = timeout
        #: (certificate, key) PEM files: TLS only, terminated by :class:`rfqcore.fix.tls.TlsFront`
        #: in front of QuickFIX on a loopback port of its own (:attr:`backend_port`)
        self.tls = fix.tls if tls is None else tls
        self.backend_port = 0
        self._front: Any = None
        by_id = {c.id: c for c in settings.clients}
        # session name (the client's SenderCompID) -> its client; client id -> session name
        self._clients: dict[str, ClientConfig] = {s.sender_comp_id: by_id[s.client] for s in fix.sessions}
        self._names = {s.client: s.sender_comp_id for s in fix.sessions}
        #: per session: the client's live quotes are cancelled when it ends (logout or lost connection)
        self.cancel_on_disconnect: dict[str, bool] = {
            s.sender_comp_id: s.cancel_on_disconnect if cancel_on_disconnect is None else cancel_on_disconnect
            for s in fix.sessions}
        # quotes sent to each client over FIX and not known to have ended: client id -> {quote id: valid until}
        self._open: dict[int, dict[int, int]] = {}
        self._acceptor: Any = None
        self._driver: Any = None
        self._qf: Any = None
        self._factories: Any = None
        self._lock = threading.Lock()
        self._last_id = 0
        # quotes sent over FIX, by quote id (the newest 65,536): a hit names one by QuoteID
        self._quotes: OrderedDict[int, Quote] = OrderedDict()
        self._meta: dict[int, tuple[str, str]] = {}  # quote id -> (QuoteReqID, Symbol), as _quotes
        # quote id -> open / filled / expired / cancelled / passed, as _quotes (QuoteStatusRequest)
        self._state: dict[int, str] = {}
        # requests in the core, answered from the output pump: ("rfq" | "acc", client id, request id)
        # -> (deadline, session name, what the answer needs); in submission order (deadlines too)
        self._pending: OrderedDict[tuple[str, int, int], tuple[float, str, tuple[str, ...]]] = OrderedDict()
        # QuoteRequests waiting for an operator's approval (answered ApprovalPending), as _pending but
        # with the approval's deadline (+ timeout) and not in deadline order
        self._approvals: dict[tuple[str, int, int], tuple[float, str, tuple[str, ...]]] = {}
        # the core's deadline of each of those (wall-clock ns: a QuoteStatusRequest's ExpireTime)
        self._approval_deadline: dict[tuple[str, int, int], int] = {}
        # QuoteReqIDs and ClOrdIDs each client used, persisted: a replay is refused as a duplicate
        self._used: set[tuple[int, str, str]] = set()
        # how to build again the ExecutionReport that answered each (client, ClOrdID or
        # QuoteRespID), the newest 65,536: a NewOrderSingle sent again gets it again (PossResend),
        # not a reject; nothing is built or copied on the answer's own path
        self._outcomes: OrderedDict[tuple[int, str], Callable[[], Any]] = OrderedDict()
        # (client, accept id) -> (ClOrdID, Symbol, Side, OrderQty) of each order sent to the core,
        # persisted with the ids (the newest 65,536): the executions a desk recovers or a new
        # cluster leader finds committed become their ExecutionReports again (:meth:`seed`)
        self._accepts: OrderedDict[tuple[int, int], tuple[str, str, str, str]] = OrderedDict()
        self._ids_path = os.path.join(self.store_dir, "rfqcore-used-ids.jsonl")
        self._ids_file: Any = None
        self._ids_read = False
        self.logged_on: set[str] = set()
        #: counters per session (SenderCompID): messages in/out by MsgType, rejects by reason, logons refused
        self.counters: dict[str, Counter[str]] = {name: Counter() for name in self._clients}

    # -- lifetime ----------------------------------------------------------------------------

    def _settings(self) -> Any:
        st = qf.SessionSettings()
        d = qf.Dictionary()
        d.setString("ConnectionType", "acceptor")
        d.setString("SocketAcceptHost", "127.0.0.1" if self.tls else self.host)
        d.setInt("SocketAcceptPort", self.backend_port)
        d.setString("FileStorePath", self.store_dir)
        d.setString("FileLogPath", os.path.join(self.store_dir, "log"))
        d.setString("StartTime", "00:00:00")
        d.setString("EndTime", "00:00:00")
        d.setString("NonStopSession", "Y")
        d.setString("UseDataDictionary", "Y")
        d.setString("DataDictionary", data_dictionary())
        d.setInt("HeartBtInt", self.heartbeat_s)
        for key in ("ResetOnLogon", "ResetOnLogout", "ResetOnDisconnect"):
            d.setString(key, "N")
        d.setString("PersistMessages", "Y")
        d.setString("SocketNodelay", "Y")  # no Nagle: an answer goes out at once
        st.set(d)
        for name in self._clients:
            st.set(qf.SessionID(BEGIN_STRING, self.comp_id, name), qf.Dictionary())
        return st

    def start(self) -> FixGateway:
        """Listen on ``host:port`` (port 0: a free one, then in :attr:`port`), with TLS when
        :attr:`tls` is set; a port in use, or a certificate or key that cannot be read, is
        :class:`FixUnavailable` (one line)."""
        context = None
        if self.tls is not None:
            from rfqcore.fix.tls import fix_tls_context

            context = fix_tls_context(*self.tls)  # before anything listens: a bad path is one line
            self.backend_port = _port_free("127.0.0.1", 0)
        else:
            self.port = self.backend_port = _port_free(self.host, self.port)
        Path(self.store_dir, "log").mkdir(parents=True, exist_ok=True)
        self._load_ids()
        # QuickFIX's acceptor keeps C++ references to its settings and factories (it destroys
        # each session's store and log through them): they live as long as it does
        st = self._qf = self._settings()
        self._factories = (qf.FileStoreFactory(st), qf.FileLogFactory(st))
        self._acceptor = qf.SocketAcceptor(self, self._factories[0], st, self._factories[1])
        self._driver = PollDriver(self._acceptor, partial(_quickfix.Acceptor_poll, self._acceptor), "rfqcore-fix",
                                  ours=partial(_on_port, self.backend_port))
        try:
            self._driver.start()
        except Exception as e:  # noqa: BLE001 - quickfix's ConfigError/RuntimeError: one line
            self._acceptor = self._driver = None
            raise FixUnavailable(f"cannot serve FIX on {self.host}:{self.port}: {e}") from None
        if context is not None:
            from rfqcore.fix.tls import TlsFront

            try:
                self._front = TlsFront(self.host, self.port, self.backend_port, context).start()
            except FixUnavailable:
                self.stop()
                raise
            self.port = self._front.port
        self.engine.subscribe_events(self._on_events)
        log.info("fix: acceptor on %s:%d%s, sessions %s, store %s", self.host, self.port,
                 " (TLS)" if self.tls else "", ", ".join(self._clients), self.store_dir)
        return self

    def stop(self) -> None:
        """Log every session out and stop listening. Idempotent."""
        try:
            self.engine._event_subs.remove(self._on_events)  # the engine has no unsubscribe for these
        except ValueError:
            pass
        acc, self._acceptor = self._acceptor, None
        if acc is not None:
            self._driver.stop(self._logout_all)
            self._driver = None
            del acc  # destroyed before the settings and factories it refers to
        front, self._front = self._front, None
        if front is not None:  # after the Logouts went out through it
            front.stop()
        self._qf = self._factories = None
        if self._ids_file is not None:
            self._ids_file.close()
            self._ids_file = None

    def _logout_all(self) -> None:
        for name in self._clients:
            session = qf.Session.lookupSession(qf.SessionID(BEGIN_STRING, self.comp_id, name))
            if session is not None and session.isLoggedOn():
                session.logout("the desk is stopping")

    def _load_ids(self) -> None:
        if not self._ids_read:
            self._read_ids()
        self._ids_file = open(self._ids_path, "a", encoding="utf-8")  # noqa: SIM115 - closed in stop()

    def _read_ids(self) -> None:
        """The ids used and the orders sent to the core, from the store (once)."""
        self._ids_read = True
        try:
            with open(self._ids_path, encoding="utf-8") as f:
                for line in f:
                    try:
                        e = json.loads(line)
                        if e["t"] == "A":
                            self._remember_accept(int(e["c"]), int(e["acc"]),
                                                  (str(e["id"]), str(e["sym"]), str(e["side"]), str(e["qty"])))
                        else:
                            self._used.add((int(e["c"]), str(e["t"]), str(e["id"])))
                    except (ValueError, KeyError, TypeError):
                        continue  # a torn last line
        except FileNotFoundError:
            pass

    def _remember_accept(self, client: int, accept_id: int, info: tuple[str, str, str, str]) -> None:
        self._accepts[(client, accept_id)] = info
        while len(self._accepts) > 65_536:
            self._accepts.popitem(last=False)

    def seed(self, events: list[Any]) -> int:
        """Before :meth:`start`: the ExecutionReports of ``events``' executions of orders this
        gateway's store knows (their ClOrdIDs), kept as answered — a new cluster leader gives it
        the committed log's newest client answers — so an order sent again (PossResend) after a
        failover gets its fill, not a ``DUPLICATE_ID``. Returns how many it kept."""
        if not self._ids_read:
            self._read_ids()
        n = 0
        for ev in events:
            if isinstance(ev, Execution):
                info = self._accepts.get((ev.client, ev.accept_id))
                if info is not None:
                    self._keep_outcome(ev.client, info[0], partial(self._fill_message, ev, *info[:3]))
                    n += 1
        return n

    def _use_id(self, client: int, kind: str, ident: str) -> bool:
        """Record ``ident`` as used by ``client``; False if it already was."""
        with self._lock:
            return self._use_id_locked(client, kind, ident)

    def _use_id_locked(self, client: int, kind: str, ident: str) -> bool:
        key = (client, kind, ident)
        if key in self._used:
            return False
        self._used.add(key)
        if self._ids_file is not None:
            self._ids_file.write(json.dumps({"c": client, "t": kind, "id": ident}) + "\n")
            self._ids_file.flush()
        return True

    def _next_id(self) -> int:
        """A request id unique across restarts of the desk (wall-clock ns, strictly increasing)."""
        with self._lock:
            self._last_id = max(self._last_id + 1, time.time_ns())
            return self._last_id

    def session_names(self) -> list[str]:
        """The SenderCompIDs of the sessions this acceptor knows."""
        return list(self._clients)

    def stats(self) -> dict[str, dict[str, int]]:
        """Per client: messages in/out by MsgType (``in:R``, ``out:S``), rejects by reason
        (``reject:NO_MARKET``), refused logons, session-level rejects (``session_reject_in/out``)."""
        with self._lock:
            return {name: dict(c) for name, c in self.counters.items()}

    def status_line(self) -> str:
        """One line for ``rfqcore serve``'s status: sessions logged on, then per session that
        has seen traffic: messages in/out, rejects by reason, resend requests and sequence
        resets each way, refused logons, session-level rejects."""
        st = self.stats()
        on = ", ".join(sorted(self.logged_on)) or "none"
        parts = []
        for name, c in sorted(st.items()):
            if not c:
                continue
            msgs_in = sum(v for k, v in c.items() if k.startswith("in:"))
            msgs_out = sum(v for k, v in c.items() if k.startswith("out:"))
            rejects = ", ".join(f"{k[7:]} {v}" for k, v in sorted(c.items()) if k.startswith("reject:")) or "none"
            parts.append(f"{name}: in {msgs_in} out {msgs_out}, rejects {rejects}, resend requests in "
                         f"{c.get('resend_request_in', 0)} out {c.get('resend_request_out', 0)}, sequence resets in "
                         f"{c.get('sequence_reset_in', 0)} out {c.get('sequence_reset_out', 0)}, refused logons "
                         f"{c.get('logon_refused', 0)}, session rejects in {c.get('session_reject_in', 0)} out "
                         f"{c.get('session_reject_out', 0)}")
        return f"FIX: logged on {on}" + "".join(f"; {p}" for p in parts)

    def _count(self, session: Any, key: str) -> None:
        self._count_name(session.getTargetCompID().getValue(), key)

    def _count_name(self, name: str, key: str) -> None:
        with self._lock:
            self.counters.setdefault(name, Counter())[key] += 1

    # -- quickfix callbacks (on QuickFIX's thread) ---------------------------------------------

    def onCreate(self, session: Any) -> None:  # noqa: N802 - quickfix's names
        pass

    def onLogon(self, session: Any) -> None:  # noqa: N802
        name = session.getTargetCompID().getValue()
        self.logged_on.add(name)
        if self._driver is not None:
            self._driver.rescan()
        log.info("fix: %s logged on", name)

    def onLogout(self, session: Any) -> None:  # noqa: N802
        name = session.getTargetCompID().getValue()
        self.logged_on.discard(name)
        if self._driver is not None:
            self._driver.rescan()
        log.info("fix: %s logged out", name)
        client = self._clients.get(name)
        if client is None or not self.cancel_on_disconnect.get(name, False):
            return
        with self._lock:
            quotes = self._open.pop(client.id, {})
        now = time.time_ns()
        live = [qid for qid, valid_until in quotes.items() if valid_until > now]
        for qid in live:  # fire and forget: one already filled or expired gets a harmless CANCEL_REJECT
            self.engine.cancel(qid, client.id)
        if live:
            self._count(session, "cancelled_on_disconnect")
            log.info("fix: %s disconnected: cancelled its %d open quote(s)", name, len(live))

    def toAdmin(self, message: Any, session: Any) -> None:  # noqa: N802
        mtype = message.getHeader().getField(35)
        if mtype in ("2", "4"):
            self._count(session, "resend_request_out" if mtype == "2" else "sequence_reset_out")
        if mtype == "3":
            self._count(session, "session_reject_out")
            log.warning("fix: session-level Reject sent to %s: %s", session.getTargetCompID().getValue(),
                        message.toString().replace("\x01", "|"))

    def fromAdmin(self, message: Any, session: Any) -> None:  # noqa: N802
        mtype = message.getHeader().getField(35)
        if mtype in ("2", "4"):
            self._count(session, "resend_request_in" if mtype == "2" else "sequence_reset_in")
        if mtype == "3":
            self._count(session, "session_reject_in")
            log.warning("fix: session-level Reject from %s: %s", session.getTargetCompID().getValue(),
                        message.toString().replace("\x01", "|"))
        if mtype != "A":
            return
        name = session.getTargetCompID().getValue()
        if self._front is not None and self._drop_unrelayed():
            self._count(session, "logon_refused")
            log.warning("fix: logon of %s refused: a plain connection to the TLS acceptor's internal port", name)
            raise qf.RejectLogon("TLS_REQUIRED: connect to the desk's TLS port")
        client = self._clients.get(name)
        password = message.getField(554) if message.isSetField(554) else ""
        if client is None or not hmac.compare_digest(password.encode(), client.secret.hex().encode()):
            self._count(session, "logon_refused")
            log.warning("fix: logon of %s refused: BAD_CREDENTIALS (wrong or missing Password 554)", name)
            raise qf.RejectLogon("BAD_CREDENTIALS: wrong or missing Password (554)")

    def _drop_unrelayed(self) -> int:
        """With TLS, QuickFIX listens on a loopback port that only the TLS relay should reach: shut
        down every connection there that is not one of the relay's (a local process bypassing
        TLS); how many there were. Checked at each Logon, on QuickFIX's thread, which owns them."""
        relayed = self._front.local_ports

        def unrelayed(sock: socket.socket) -> bool:
            return (_on_port(self.backend_port, sock)
                    and not sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)
                    and sock.getpeername()[1] not in relayed)

        fds = socket_fds(unrelayed)
        for fd in fds:
            sock = socket.socket(fileno=fd)
            try:
                sock.shutdown(socket.SHUT_RDWR)  # QuickFIX sees the disconnect and closes it
            except OSError:
                pass
            finally:
                sock.detach()
        return len(fds)

    def toApp(self, message: Any, session: Any) -> None:  # noqa: N802
        pass

    def fromApp(self, message: Any, session: Any) -> None:  # noqa: N802
        if self._pending or self._approvals:
            self._expire_pending()
        mtype = message.getHeader().getField(35)
        self._count(session, f"in:{mtype}")
        try:
            client = self._clients[session.getTargetCompID().getValue()]
            if mtype == "R":
                self._on_quote_request(message, session, client)
            elif mtype == "D":
                self._on_new_order(message, session, client)
            elif mtype == "AJ":
                self._on_quote_response(message, session, client)
            elif mtype == "a":
                self._on_quote_status_request(message, session, client)
            else:
                self._business_reject(message, session, 3, f"unsupported message type {mtype}: this desk takes "
                                                           f"QuoteRequest (R), NewOrderSingle (D), QuoteResponse "
                                                           f"(AJ) and QuoteStatusRequest (a)")
        except Exception as e:  # noqa: BLE001 - never let an exception into QuickFIX's thread
            log.exception("fix: %s message failed", mtype)
            self._business_reject(message, session, 0, f"internal error: {e}")

    # -- application messages ------------------------------------------------------------------

    def _sid(self, name: str) -> Any:
        return qf.SessionID(BEGIN_STRING, self.comp_id, name)

    def _send(self, msg: Any, session: Any) -> None:
        self._count(session, f"out:{msg.getHeader().getField(35)}")
        qf.Session.sendToTarget(msg, session)

    @staticmethod
    def _new(mtype: str) -> Any:
        msg = qf.Message()
        msg.getHeader().setField(qf.MsgType(mtype))
        return msg

    def _business_reject(self, message: Any, session: Any, reason: int, text: str) -> None:
        msg = self._new("j")
        msg.setField(45, message.getHeader().getField(34))
        msg.setField(372, message.getHeader().getField(35))
        msg.setField(380, str(reason))
        msg.setField(58, text)
        self._send(msg, session)

    def _on_quote_request(self, m: Any, session: Any, client: ClientConfig) -> None:
        req_id = m.getField(131)
        symbol = ""
        try:
            if not m.isSetField(146) or int(m.getField(146)) != 1:
                raise _Refused(RfqReject.OTHER, "one instrument per QuoteRequest (NoRelatedSym 146 = 1)")
            g = qf.Group(146, 55)
            m.getGroup(1, g)
            symbol = g.getField(55) if g.isSetField(55) else ""
            if not self._use_id(client.id, "R", req_id):
                raise _Refused(RfqReject.DUPLICATE_ID, f"QuoteReqID {req_id} was already used by {client.name}")
            try:
                comp = self.engine.registry.composite(symbol)
            except KeyError:
                raise _Refused(RfqReject.UNKNOWN_INSTRUMENT, f"unknown Symbol (55) {symbol!r}: known "
                               f"{', '.join(c.name for c in self.engine.registry.composites)}") from None
            side_text = g.getField(54) if g.isSetField(54) else None
            sides = {None: ClientSide.TWO_WAY, "1": ClientSide.BUY, "2": ClientSide.SELL}
            if side_text not in sides:
                raise _Refused(RfqReject.BAD_SIDE, f"Side (54) {side_text} not supported: 1 (buy), 2 (sell) "
                                                   f"or none (two-way)")
            has_qty, has_cash = g.isSetField(38), g.isSetField(152)
            if has_qty == has_cash:
                raise _Refused(RfqReject.BAD_SIZE, "give exactly one of OrderQty (38) and CashOrderQty (152)")
            try:
                qty = (to_units(g.getField(38), comp.qty_decimals, "OrderQty (38)") if has_qty
                       else to_units(g.getField(152), comp.price_decimals, "CashOrderQty (152)"))
            except ValueError as e:
                raise _Refused(RfqReject.BAD_SIZE, str(e)) from None
            try:
                limit = to_units(g.getField(44), comp.price_decimals, "Price (44)") if g.isSetField(44) else 0
            except ValueError as e:
                raise _Refused(RfqReject.BAD_LIMIT, str(e)) from None
            ttl = 0
            if g.isSetField(62):
                ttl = parse_fix_time(g.getField(62)) - time.time_ns()
                if ttl <= 0:
                    raise _Refused(RfqReject.BAD_TTL, "ValidUntilTime (62) is in the past")
            # the answer is sent from the engine's output pump (_on_events) as soon as it sees it
            rfq_id = self._next_id()
            key = ("rfq", client.id, rfq_id)
            with self._lock:
                self._pending[key] = (time.monotonic() + self.timeout, self._names[client.id],
                                      (req_id, comp.name, side_text or "", "152" if has_cash else "38",
                                       g.getField(152 if has_cash else 38)))
            try:
                self.engine.submit_quote_request(client.id, comp.id, int(sides[side_text]), qty, rfq_id=rfq_id,
                                                 quote_ccy=has_cash, limit=limit, ttl_ns=ttl)
            except Exception as e:  # noqa: BLE001 - the ring full for 10 s, the core stopped
                with self._lock:
                    self._pending.pop(key, None)
                raise _Refused(RfqReject.OTHER, f"the core did not take the request ({e})") from None
        except _Refused as r:
            self._reject_quote_request(self._names[client.id], req_id, symbol, r)

    def _reject_quote_request(self, name: str, req_id: str, symbol: str, r: _Refused) -> None:
        self._count_name(name, f"reject:{r.code.name}")
        msg = self._new("AG")
        msg.setField(131, req_id)
        msg.setField(658, str(quote_request_reject_reason(int(r.code))))
        msg.setField(58, r.text)
        grp = qf.Group(146, 55)
        grp.setField(55, symbol or "?")
        msg.addGroup(grp)
        self._send(msg, self._sid(name))

    def _send_quote(self, q: Quote, req_id: str, symbol: str, session: Any) -> None:
        with self._lock:
            self._quotes[q.quote_id] = q
            self._meta[q.quote_id] = (req_id, symbol)
            self._state[q.quote_id] = "open"
            self._open.setdefault(q.client, {})[q.quote_id] = q.valid_until
            while len(self._quotes) > 1 << 16:
                old = self._quotes.popitem(last=False)[0]
                self._meta.pop(old, None)
                self._state.pop(old, None)
        pd, qd = q.price_decimals or 0, q.qty_decimals or 0
        msg = self._new("S")
        msg.setField(131, req_id)
        msg.setField(117, str(q.quote_id))
        msg.setField(537, "1")  # tradeable
        msg.setField(55, symbol)
        for s in q.sides:
            px, sz = (133, 135) if s.side == ClientSide.BUY else (132, 134)  # client buys at the offer
            msg.setField(px, decimal_text(s.price_raw, pd))
            msg.setField(sz, decimal_text(s.qty_raw, qd))
        msg.setField(62, fix_time(q.valid_until))
        msg.setField(60, fix_time(q.core_time or time.time_ns()))
        self._send(msg, session)

    def _on_quote_status_request(self, m: Any, session: Any, client: ClientConfig) -> None:
        """QuoteStatusRequest (a) for one QuoteID (117) of this client → QuoteStatusReport (AI):
        QuoteStatus (297) 0 live, 7 expired, 1 cancelled, 11 passed, 6 removed (filled; Text
        FILLED), 9 not found (unknown, another client's, or too old). The QuoteID ``P<n>`` of a
        pending report (a QuoteRequest waiting for the desk's approval) → 10 pending (ExpireTime
        126: until when) while it waits, then the status of the quote that answered it."""
        qid_text = m.getField(117) if m.isSetField(117) else ""
        if qid_text[:1] == "P" and qid_text[1:].isdigit():
            key = ("rfq", client.id, int(qid_text[1:]))
            with self._lock:
                waiting = self._approvals.get(key)
                deadline = self._approval_deadline.get(key)
                answered = None if waiting is not None else next(
                    (q for q, quote in reversed(self._quotes.items())
                     if quote.client == client.id and quote.rfq_id == key[2]), None)
            if waiting is not None:
                msg = self._new("AI")
                if m.isSetField(649):
                    msg.setField(649, m.getField(649))
                msg.setField(131, waiting[2][0])
                msg.setField(117, qid_text)
                msg.setField(55, waiting[2][1])
                if deadline is not None:
                    msg.setField(126, fix_time(deadline))
                msg.setField(297, "10")
                msg.setField(58, "PENDING_APPROVAL: waiting for the desk's approval")
                msg.setField(60, fix_time(time.time_ns()))
                self._send(msg, session)
                return
            if answered is not None:
                qid_text = str(answered)
        with self._lock:
            qid = int(qid_text) if qid_text.isdigit() else -1
            quote = self._quotes.get(qid)
            state = self._state.get(qid, "") if quote is not None and quote.client == client.id else ""
            meta = self._meta.get(qid) if state else None
        if state == "open" and quote is not None and quote.valid_until <= time.time_ns():
            state = "expired"
        code, text = {"open": (0, "LIVE"), "expired": (7, "EXPIRED"), "cancelled": (1, "CANCELLED"),
                      "passed": (11, "PASSED"), "filled": (6, "FILLED"), "": (9, "QUOTE_NOT_FOUND")}[state]
        msg = self._new("AI")
        if m.isSetField(649):
            msg.setField(649, m.getField(649))
        if meta is not None:
            msg.setField(131, meta[0])
        msg.setField(117, qid_text or "?")
        msg.setField(55, meta[1] if meta is not None else (m.getField(55) if m.isSetField(55) else "?"))
        msg.setField(297, str(code))
        msg.setField(58, text)
        msg.setField(60, fix_time(time.time_ns()))
        self._send(msg, session)

    def _on_quote_response(self, m: Any, session: Any, client: ClientConfig) -> None:
        """QuoteResponse (AJ): QuoteRespType (694) 1 (hit) takes the quote as a NewOrderSingle
        would (ExecutionReport, ClOrdID 11 = the QuoteRespID 693); 6 (pass) withdraws it
        (QuoteStatusReport, QuoteStatus 11). Other types: BusinessMessageReject."""
        kind = m.getField(694)
        if kind == "1":
            self._on_new_order(m, session, client, response=True)
            return
        if kind != "6":
            self._business_reject(m, session, 5, f"QuoteRespType (694) {kind} not supported: 1 (hit) or 6 (pass)")
            return
        resp_id = m.getField(693)
        qid_text = m.getField(117) if m.isSetField(117) else ""
        with self._lock:
            quote = self._quotes.get(int(qid_text)) if qid_text.isdigit() else None
            ok = (quote is not None and quote.client == client.id and self._state.get(quote.quote_id) == "open"
                  and self._use_id_locked(client.id, "J", resp_id))
            if ok and quote is not None:
                self._state[quote.quote_id] = "passed"
                self._open.get(client.id, {}).pop(quote.quote_id, None)
        msg = self._new("AI")
        msg.setField(117, qid_text or "?")
        msg.setField(55, m.getField(55) if m.isSetField(55) else "?")
        if ok and quote is not None:
            self.engine.cancel(quote.quote_id, client.id)  # the core's QuoteEnded is not reported again
            self._count(session, "passed")
            msg.setField(297, "11")
            msg.setField(58, "PASSED")
        else:
            self._count(session, "reject:UNKNOWN_QUOTE")
            msg.setField(297, "9")
            msg.setField(58, f"UNKNOWN_QUOTE: no live quote {qid_text} of {client.name} to pass (or QuoteRespID "
                             f"{resp_id} reused)")
        msg.setField(60, fix_time(time.time_ns()))
        self._send(msg, session)

    def _keep_outcome(self, client: int, cl_ord_id: str, build: Callable[[], Any]) -> None:
        """Keep how to build the ExecutionReport answering (``client``, ``cl_ord_id``) again (the
        same fields, ExecID included) for a resend."""
        with self._lock:
            self._outcomes[(client, cl_ord_id)] = build
            while len(self._outcomes) > 65_536:
                self._outcomes.popitem(last=False)

    def _again(self, client: ClientConfig, cl_ord_id: str, session: Any) -> bool:
        """A ClOrdID (or QuoteRespID) used before: its ExecutionReport again (PossResend 97=Y,
        the same ExecID: the client keeps it once) — or nothing while the core has not answered
        it yet (that answer comes once). False when this gateway does not know the outcome (used
        before a restart, or too old): refused as a duplicate."""
        with self._lock:
            build = self._outcomes.get((client.id, cl_ord_id))
            waiting = build is None and any(k[0] == "acc" and k[1] == client.id and info[0] == cl_ord_id
                                           for k, (_, _, info) in self._pending.items())
        if waiting:
            self._count(session, "duplicate_pending")
            return True
        if build is None:
            return False
        msg = build()
        msg.getHeader().setField(97, "Y")
        self._count(session, "duplicate_resent")
        self._send(msg, session)
        return True

    def _on_new_order(self, m: Any, session: Any, client: ClientConfig, response: bool = False) -> None:
        cl_ord_id = m.getField(693 if response else 11)
        symbol = m.getField(55) if m.isSetField(55) else "?"
        side_text = m.getField(54) if m.isSetField(54) else "?"
        qty_text = m.getField(38) if m.isSetField(38) else "0"
        try:
            if not self._use_id(client.id, "J" if response else "D", cl_ord_id):
                if self._again(client, cl_ord_id, session):
                    return
                what = "QuoteRespID" if response else "ClOrdID"
                raise _Refused(RfqReject.DUPLICATE_ID, f"{what} {cl_ord_id} was already used by {client.name}")
            if not response and m.getField(40) != "D":
                raise _Refused(RfqReject.OTHER, "only OrdType (40) = D (previously quoted) with a QuoteID (117)")
            if not response and m.isSetField(59) and m.getField(59) != "4":
                raise _Refused(RfqReject.OTHER, "only TimeInForce (59) = 4 (fill or kill)")
            if not m.isSetField(117):
                raise _Refused(RfqReject.UNKNOWN_QUOTE, "QuoteID (117) is required")
            qid_text = m.getField(117)
            with self._lock:
                quote = self._quotes.get(int(qid_text)) if qid_text.isdigit() else None
            try:
                comp = self.engine.registry.composite(symbol)
            except KeyError:
                raise _Refused(RfqReject.UNKNOWN_INSTRUMENT, f"unknown Symbol (55) {symbol!r}") from None
            if quote is None or quote.client != client.id or quote.composite != comp.id:
                # another client's quote gets the very answer of an unknown id (no oracle)
                raise _Refused(RfqReject.UNKNOWN_QUOTE, f"no quote {qid_text} on {comp.name}")
            side = {"1": ClientSide.BUY, "2": ClientSide.SELL}.get(side_text)
            if side is None:
                raise _Refused(RfqReject.BAD_SIDE, f"Side (54) {side_text}: 1 (buy) or 2 (sell)")
            try:
                qty = to_units(qty_text, comp.qty_decimals, "OrderQty (38)")
                quoted = quote.side(side)
                price = (to_units(m.getField(44), comp.price_decimals, "Price (44)") if m.isSetField(44)
                         else (quoted.price_raw if quoted is not None else 0))
            except ValueError as e:
                raise _Refused(RfqReject.SIZE_MISMATCH if "38" in str(e) else RfqReject.PRICE_MISMATCH,
                               str(e)) from None
            # the core checks everything else (owner again, expiry, price, size, risk);
            # the ExecutionReport is sent from the engine's output pump (_on_events)
            accept_id = self._next_id()
            key = ("acc", client.id, accept_id)
            with self._lock:
                self._pending[key] = (time.monotonic() + self.timeout, self._names[client.id],
                                      (cl_ord_id, comp.name, side_text, qty_text))
                self._remember_accept(client.id, accept_id, (cl_ord_id, comp.name, side_text, qty_text))
                if self._ids_file is not None:  # before the core has it: its fill can be matched again
                    self._ids_file.write(json.dumps({"c": client.id, "t": "A", "id": cl_ord_id, "acc": accept_id,
                                                     "sym": comp.name, "side": side_text, "qty": qty_text}) + "\n")
                    self._ids_file.flush()
            try:
                self.engine.submit_accept(client.id, quote.composite, quote.quote_id, int(side), price, qty,
                                          accept_id=accept_id)
            except Exception as e:  # noqa: BLE001 - the ring full for 10 s, the core stopped
                with self._lock:
                    self._pending.pop(key, None)
                raise _Refused(RfqReject.OTHER, f"the core did not take the order ({e})") from None
        except _Refused as r:
            self._reject_order(self._names[client.id], cl_ord_id, symbol, side_text, qty_text, r)

    def _reject_order(self, name: str, cl_ord_id: str, symbol: str, side_text: str, qty_text: str,
                      r: _Refused) -> None:
        self._count_name(name, f"reject:{r.code.name}")
        build = partial(self._reject_message, cl_ord_id, symbol, side_text, qty_text, r, f"R{self._next_id()}",
                        time.time_ns())
        if r.code != RfqReject.DUPLICATE_ID:  # the reused id's own answer stays the one kept
            self._keep_outcome(self._clients[name].id, cl_ord_id, build)
        self._send(build(), self._sid(name))

    def _reject_message(self, cl_ord_id: str, symbol: str, side_text: str, qty_text: str, r: _Refused,
                        exec_id: str, ts: int) -> Any:
        """The ExecutionReport (8) of a refused order: ExecType 8, OrdStatus 8, the reason."""
        msg = self._new("8")
        msg.setField(37, "NONE")
        msg.setField(11, cl_ord_id)
        msg.setField(17, exec_id)
        msg.setField(150, "8")
        msg.setField(39, "8")
        msg.setField(103, str(ord_rej_reason(int(r.code))))
        msg.setField(55, symbol)
        msg.setField(54, side_text)
        msg.setField(38, qty_text)
        msg.setField(151, "0")
        msg.setField(14, "0")
        msg.setField(6, "0")
        msg.setField(58, r.text)
        msg.setField(60, fix_time(ts))
        return msg

    def _expire_pending(self) -> None:
        """Refuse the requests the core has not answered within ``timeout`` (it always answers
        while it runs: this is for a stopped or wedged core)."""
        now = time.monotonic()
        late = []
        with self._lock:
            while self._pending:
                key, entry = next(iter(self._pending.items()))
                if entry[0] > now:
                    break
                del self._pending[key]
                late.append((key, entry))
            for key, entry in list(self._approvals.items()):
                if entry[0] <= now:
                    del self._approvals[key]
                    self._approval_deadline.pop(key, None)
                    late.append((key, entry))
        for (kind, _, _), (_, name, info) in late:
            r = _Refused(RfqReject.OTHER, f"no answer from the core within {self.timeout} s")
            if kind == "rfq":
                self._reject_quote_request(name, info[0], info[1], r)
            else:
                self._reject_order(name, info[0], info[1], info[2], info[3], r)

    def _answer(self, ev: Any, key: tuple[str, int, int]) -> None:
        """Send the answer to a request of ours: ``ev`` is its Quote, RfqRejected,
        ApprovalPending, Execution or AcceptRejected (on the output pump)."""
        with self._lock:
            entry = self._pending.pop(key, None)
            if entry is None:
                entry = self._approvals.pop(key, None)
                self._approval_deadline.pop(key, None)
            if entry is not None and isinstance(ev, ApprovalPending):
                # the answer comes when the operator decides or the core times the approval out
                left = max(0.0, (ev.deadline - time.time_ns()) / 1e9)
                self._approvals[key] = (time.monotonic() + left + self.timeout, entry[1], entry[2])
                self._approval_deadline[key] = ev.deadline
        if entry is None:
            return  # not ours (the Python API, the portal), or already refused as late
        _, name, info = entry
        if key[0] == "rfq":
            req_id, symbol = info[0], info[1]
            if isinstance(ev, Quote):
                self._send_quote(ev, req_id, symbol, self._sid(name))
                if name not in self.logged_on and self.cancel_on_disconnect.get(name, False):
                    # approved after its client left: the Quote waits in the store for a resend, but
                    # it is cancelled as the client's other quotes were when its session ended
                    self.engine.cancel(ev.quote_id, ev.client)
                    self._count_name(name, "cancelled_on_disconnect")
                    log.info("fix: %s is not logged on: cancelled quote %d approved meanwhile", name, ev.quote_id)
            elif isinstance(ev, RfqRejected):
                code = RfqReject(ev.reason) if ev.reason in RfqReject._value2member_map_ else RfqReject.OTHER
                why = {RfqReject.APPROVAL_DECLINED: "the desk declined the request",
                       RfqReject.APPROVAL_TIMEOUT: "the desk did not decide in time"}.get(
                    code, f"refused by the core ({reason_name(ev.reason)})")
                self._reject_quote_request(name, req_id, symbol, _Refused(code, why))
            else:
                self._send_pending(ev, name, info)
        else:
            cl_ord_id, symbol, side_text, qty_text = info
            if isinstance(ev, Execution):
                self._send_fill(ev, cl_ord_id, symbol, side_text, self._sid(name))
            else:
                self._reject_order(name, cl_ord_id, symbol, side_text, qty_text, _Refused(
                    RfqReject(ev.reason) if ev.reason in RfqReject._value2member_map_ else RfqReject.OTHER,
                    f"refused by the core ({reason_name(ev.reason)})"))

    def _send_pending(self, ev: ApprovalPending, name: str, info: tuple[str, ...]) -> None:
        """QuoteStatusReport (AI) QuoteStatus 10 (pending): the QuoteRequest waits for an operator
        until ``ev.deadline`` (ExpireTime 126); its Quote or QuoteRequestReject follows."""
        req_id, symbol, side_text, qty_tag, qty_text = info
        self._count_name(name, "approval_pending")
        msg = self._new("AI")
        msg.setField(131, req_id)
        # no quote yet (QuoteID is required in a QuoteStatusReport): P<request id>, which a
        # QuoteStatusRequest may name while it waits (then: the quote that answered it)
        msg.setField(117, f"P{ev.rfq_id}")
        msg.setField(55, symbol)
        if side_text:
            msg.setField(54, side_text)
        msg.setField(int(qty_tag), qty_text)
        msg.setField(126, fix_time(ev.deadline))
        msg.setField(297, "10")  # pending
        msg.setField(58, f"PENDING_APPROVAL: the desk approves or declines by {fix_time(ev.deadline)}; the Quote "
                         f"or QuoteRequestReject follows")
        msg.setField(60, fix_time(ev.core_time or time.time_ns()))
        self._send(msg, self._sid(name))

    def _on_events(self, events: list[Any]) -> None:
        """On the engine's output pump: the answers to this gateway's requests (Quote or
        QuoteRequestReject, ExecutionReport), sent as soon as the pump decodes them; a FIX quote
        the desk cancelled → QuoteCancel (Z); one that expired → QuoteStatusReport (AI,
        QuoteStatus 7), to its client if logged on."""
        for ev in events:
            if self._pending or self._approvals:
                if isinstance(ev, Quote | RfqRejected | ApprovalPending):
                    key = ("rfq", ev.client, ev.rfq_id)
                elif isinstance(ev, Execution | AcceptRejected):
                    key = ("acc", ev.client, ev.accept_id)
                else:
                    key = None
                if key is not None:
                    try:
                        self._answer(ev, key)
                    except Exception:  # noqa: BLE001 - never into the pump
                        log.exception("fix: could not answer %s", key)
                    continue
            if not isinstance(ev, QuoteEnded) or ev.state not in (QuoteEnd.CANCELLED, QuoteEnd.EXPIRED):
                continue
            with self._lock:
                meta = self._meta.get(ev.quote_id)
                self._open.get(ev.client, {}).pop(ev.quote_id, None)
                passed = self._state.get(ev.quote_id) == "passed"
                if ev.quote_id in self._state and not passed:
                    self._state[ev.quote_id] = "cancelled" if ev.state == QuoteEnd.CANCELLED else "expired"
            if passed:
                continue  # the client passed it: answered already
            name = self._names.get(ev.client)
            if meta is None or name is None or name not in self.logged_on or self._acceptor is None:
                continue
            req_id, symbol = meta
            try:
                msg = self._new("Z" if ev.state == QuoteEnd.CANCELLED else "AI")
                msg.setField(131, req_id)
                msg.setField(117, str(ev.quote_id))
                if ev.state == QuoteEnd.CANCELLED:
                    msg.setField(298, "1")  # cancel for one or more securities
                    grp = qf.Group(295, 55)
                    grp.setField(55, symbol)
                    msg.addGroup(grp)
                else:
                    msg.setField(55, symbol)
                    msg.setField(297, "7")  # expired
                    msg.setField(60, fix_time(ev.core_time or time.time_ns()))
                self._send(msg, qf.SessionID(BEGIN_STRING, self.comp_id, name))
            except Exception:  # noqa: BLE001 - never into the pump
                log.exception("fix: could not tell %s that quote %d ended", name, ev.quote_id)
        if self._pending or self._approvals:
            self._expire_pending()

    def _send_fill(self, ex: Execution, cl_ord_id: str, symbol: str, side_text: str, session: Any) -> None:
        with self._lock:
            self._open.get(ex.client, {}).pop(ex.quote_id, None)
            if ex.quote_id in self._state:
                self._state[ex.quote_id] = "filled"
        build = partial(self._fill_message, ex, cl_ord_id, symbol, side_text)
        self._keep_outcome(ex.client, cl_ord_id, build)
        self._send(build(), session)

    def _fill_message(self, ex: Execution, cl_ord_id: str, symbol: str, side_text: str) -> Any:
        """The ExecutionReport (8) of a fill: ExecType F, OrdStatus 2, exact amounts."""
        pd, qd = ex.price_decimals or 0, ex.qty_decimals or 0
        px, qty = decimal_text(ex.price_raw, pd), decimal_text(ex.qty_raw, qd)
        msg = self._new("8")
        msg.setField(37, str(ex.quote_id))  # the order is the hit on this quote
        msg.setField(11, cl_ord_id)
        msg.setField(17, str(ex.trade_id))
        msg.setField(150, "F")
        msg.setField(39, "2")
        msg.setField(55, symbol)
        msg.setField(54, side_text)
        msg.setField(38, qty)
        msg.setField(40, "D")
        msg.setField(32, qty)
        msg.setField(31, px)
        msg.setField(151, "0")
        msg.setField(14, qty)
        msg.setField(6, px)
        msg.setField(381, decimal_text(ex.notional_raw, pd + qd))  # GrossTradeAmt, exact
        msg.setField(12, decimal_text(ex.fee_raw, pd + qd))  # Commission, exact (rounded up by the core)
        msg.setField(13, "3")  # CommType: absolute
        msg.setField(60, fix_time(ex.core_time or time.time_ns()))
        return msg
