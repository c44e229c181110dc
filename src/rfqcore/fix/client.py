"""A FIX 4.4 RFQ client on QuickFIX (an initiator validating against the FIX 4.4 data
dictionary): what the tests, the docs and a desk's own tools use to talk to ``rfqcore serve
--fix-port`` (docs/fix.md). Messages come back as ``{tag: value}`` dicts (a tag repeated in a
group: its last value).
"""

from __future__ import annotations

import os
import queue
import socket
import threading
import time
from functools import partial
from collections.abc import Sequence
from typing import Any

import quickfix as qf
from quickfix import _quickfix  # the SWIG C module (see PollDriver)

from rfqcore.fix import BEGIN_STRING, DESK_COMP_ID, PollDriver, data_dictionary, fix_time, keep_python_sigint

__all__ = ["FixClient", "fields"]

keep_python_sigint()  # importing quickfix set SIGINT to its default action


def fields(msg: Any) -> dict[int, str]:
    """A QuickFIX message's fields by tag (a tag repeated in a group: its last value)."""
    out: dict[int, str] = {}
    for part in msg.toString().split("\x01"):
        if "=" in part:
            tag, _, value = part.partition("=")
            out[int(tag)] = value
    return out


def _to_port(port: int, sock: socket.socket) -> bool:
    """A TCP socket connected to ``port`` (the desk's): the initiator's connection."""
    if sock.family not in (socket.AF_INET, socket.AF_INET6) or sock.type != socket.SOCK_STREAM:
        return False
    try:
        return bool(sock.getpeername()[1] == port)
    except OSError:
        return False  # not connected (yet): a poll every idle_s sees the connection through


class FixClient(qf.Application):  # type: ignore[misc]  # quickfix ships no type information
    """One FIX session as client ``name`` (SenderCompID) with ``password`` (the client's secret
    in hex), sequence numbers kept in ``store`` (a directory). QuickFIX keeps one session per
    SessionID in a process: one FixClient per client name per process. With ``tls_ca`` (a PEM
    file of the certificates to trust) it connects over TLS (QuickFIX's ``SSLSocketInitiator``)
    and checks the desk's certificate against it. ``alternates``: more ``(host, port)`` of the
    same desk (the nodes of a replicated desk), tried in turn after ``host:port`` when one fails."""

    def __init__(self, name: str, password: str, port: int, store: str | os.PathLike[str], *,
                 host: str = "127.0.0.1", heartbeat_s: int = 30, reconnect_s: int = 1,
                 desk_comp_id: str = DESK_COMP_ID, tls_ca: str | os.PathLike[str] | None = None,
                 alternates: Sequence[tuple[str, int]] = ()) -> None:
        super().__init__()
        self.name, self.password = name, password
        self.app: queue.Queue[dict[int, str]] = queue.Queue()
        #: what the desk sends unasked: QuoteCancel (Z), QuoteStatusReport (AI)
        self.status: queue.Queue[dict[int, str]] = queue.Queue()
        #: every administrative message from the desk (Logon, Logout, Heartbeat, ResendRequest...)
        self.admin_in: list[dict[int, str]] = []
        self.session_rejects_out = 0  # session-level Rejects (3) this client sent
        self.last_in_seq = 0  # MsgSeqNum of the last message from the desk
        self.last_out_seq = 0  # MsgSeqNum of the last message to the desk
        self.logged_on = threading.Event()
        self.logged_out = threading.Event()
        self.sid = qf.SessionID(BEGIN_STRING, name, desk_comp_id)
        st = qf.SessionSettings()
        d = qf.Dictionary()
        for k, v in {"ConnectionType": "initiator", "SocketConnectHost": host, "FileStorePath": str(store),
                     "FileLogPath": os.path.join(str(store), "log"), "StartTime": "00:00:00",
                     "EndTime": "00:00:00", "NonStopSession": "Y", "UseDataDictionary": "Y",
                     "DataDictionary": data_dictionary(), "ResetOnLogon": "N", "ResetOnLogout": "N",
                     "ResetOnDisconnect": "N", "SocketNodelay": "Y"}.items():
            d.setString(k, v)
        if tls_ca is not None:  # verify the desk's certificate (level 1: the peer's, against these CAs)
            d.setString("CertificationAuthoritiesFile", str(tls_ca))
            d.setString("CertificateVerifyLevel", "1")
        d.setInt("SocketConnectPort", port)
        # the other nodes of a replicated desk: QuickFIX tries them in turn when a connection
        # fails, so the session follows the leader (docs/cluster.md, "FIX")
        for i, (alt_host, alt_port) in enumerate(alternates, 1):
            d.setString(f"SocketConnectHost{i}", alt_host)
            d.setInt(f"SocketConnectPort{i}", alt_port)
        d.setInt("HeartBtInt", heartbeat_s)
        d.setInt("ReconnectInterval", reconnect_s)
        st.set(d)
        st.set(self.sid, qf.Dictionary())
        # the initiator keeps C++ references to its settings and factories: they live as long as it does
        self._qf = st
        self._factories: Any = (qf.FileStoreFactory(st), qf.FileLogFactory(st))
        initiator = qf.SocketInitiator if tls_ca is None else qf.SSLSocketInitiator
        self._ini: Any = initiator(self, self._factories[0], st, self._factories[1])
        self._driver = PollDriver(self._ini, partial(_quickfix.Initiator_poll, self._ini), f"fix-client-{name}",
                                  ours=partial(_to_port, port))

    def start(self, wait_logon: float | None = None) -> FixClient:
        """Connect (and reconnect after a drop); with ``wait_logon``, wait that many seconds for
        the logon (``TimeoutError`` naming the desk's Logout text if it refused)."""
        if self._ini is None:
            raise RuntimeError(f"FIX client {self.name} was stopped: make a new one")
        self._driver.start()
        if wait_logon is not None and not self.logged_on.wait(wait_logon):
            why = [m.get(58, "") for m in self.admin_in if m.get(35) == "5"]
            raise TimeoutError(f"FIX logon of {self.name} failed{': ' + why[-1] if why else ''}")
        return self

    def stop(self) -> None:
        """Log out and disconnect (a stopped client cannot start again). Idempotent."""
        ini, self._ini = self._ini, None
        if ini is not None:
            self._driver.stop(self._logout)
            del ini  # destroyed before the settings and factories it refers to (and this application)
            self._factories = None

    def __enter__(self) -> FixClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _logout(self) -> None:
        session = qf.Session.lookupSession(self.sid)
        if session is not None and session.isLoggedOn():
            session.logout()

    # -- quickfix callbacks --------------------------------------------------------------------

    def onCreate(self, sid: Any) -> None:  # noqa: N802 - quickfix's names
        pass

    def onLogon(self, sid: Any) -> None:  # noqa: N802
        self._driver.rescan()
        self.logged_out.clear()
        self.logged_on.set()

    def onLogout(self, sid: Any) -> None:  # noqa: N802
        self._driver.rescan()
        self.logged_on.clear()
        self.logged_out.set()

    def toAdmin(self, msg: Any, sid: Any) -> None:  # noqa: N802
        self.last_out_seq = int(msg.getHeader().getField(34))
        t = msg.getHeader().getField(35)
        if t == "A":
            msg.setField(554, self.password)
        if t == "3":
            self.session_rejects_out += 1

    def fromAdmin(self, msg: Any, sid: Any) -> None:  # noqa: N802
        f = fields(msg)
        self.last_in_seq = int(f[34])
        self.admin_in.append(f)

    def toApp(self, msg: Any, sid: Any) -> None:  # noqa: N802
        self.last_out_seq = int(msg.getHeader().getField(34))
        pass

    def fromApp(self, msg: Any, sid: Any) -> None:  # noqa: N802
        f = fields(msg)
        self.last_in_seq = int(f[34])
        (self.status if f[35] in ("Z", "AI") else self.app).put(f)

    # -- requests ------------------------------------------------------------------------------

    def send(self, mtype: str, body: list[tuple[int, str]], group: list[tuple[int, str]] | None = None) -> None:
        """Send one message: ``body`` fields, and one NoRelatedSym (146) entry ``group``."""
        msg = qf.Message()
        msg.getHeader().setField(qf.MsgType(mtype))
        for tag, value in body:
            msg.setField(tag, value)
        if group is not None:
            g = qf.Group(146, 55)
            for tag, value in group:
                g.setField(tag, value)
            msg.addGroup(g)
        if not qf.Session.sendToTarget(msg, self.sid):
            raise ConnectionError(f"FIX session {self.name} is not there to send on")

    def next(self, timeout: float = 10.0) -> dict[int, str]:
        """The next application message from the desk (``queue.Empty`` after ``timeout``)."""
        return self.app.get(timeout=timeout)

    def quote_request(self, req_id: str, symbol: str, qty: str | None, side: str | None = None, *,
                      cash: bool = False, extra: tuple[tuple[int, str], ...] = (),
                      timeout: float = 10.0) -> dict[int, str]:
        """QuoteRequest (R) for ``qty`` (OrderQty 38, or CashOrderQty 152 with ``cash``) of
        ``symbol``; ``side`` "1" buy, "2" sell, None two-way. Returns the answer: Quote (S) or
        QuoteRequestReject (AG)."""
        group = [(55, symbol)] + ([(54, side)] if side else [])
        if qty is not None:
            group.append((152 if cash else 38, qty))
        self.send("R", [(131, req_id)], group + list(extra))
        return self.next(timeout)

    def order(self, cl_ord_id: str, quote: dict[int, str] | str, side: str, qty: str, price: str | None = None,
              symbol: str = "BTC", timeout: float = 10.0) -> dict[int, str]:
        """NewOrderSingle (D), OrdType D (previously quoted), fill or kill, on ``quote`` (a Quote
        message or a QuoteID). Returns the ExecutionReport (8)."""
        qid = quote if isinstance(quote, str) else quote[117]
        body = [(11, cl_ord_id), (55, symbol), (54, side), (60, fix_time(time.time_ns())), (38, qty), (40, "D"),
                (117, qid), (59, "4")] + ([(44, price)] if price is not None else [])
        self.send("D", body)
        return self.next(timeout)
