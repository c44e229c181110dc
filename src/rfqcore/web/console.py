"""The operator console for the desk: a JSON API under ``/console/api/`` and a small page at
``/console/``, served by the desk's HTTP server (docs/web.md).

A console user (``[[console_user]]`` in the RFQ settings: a name, a role, the ``[[operator]]``
whose id its commands carry, an argon2id password hash) logs in like a portal user (the same
:class:`~rfqcore.web.auth.LoginApp`: rate limits, a session cookie of its own, a CSRF token).
What a role may do is checked on the server for every request:

* ``viewer``: every view and the live stream, nothing else;
* ``trader``: also the manual approval queue (approve, approve with a price adjustment, decline);
* ``risk-officer``: also kill switches (all, a client, an instrument) and their release, halts'
  re-enable, the restricted list, and live setting changes (asked for, then confirmed): client
  limits and tiers, instrument limits, pricing, the client tiers' terms, the hedging policy and
  the desk's settings (the ``SET_*`` commands; :data:`CHANGEABLE`).

Every action is one or more CONTROL records sent through :class:`rfqcore.operator.Operator`
with the user's operator id in the record (:meth:`rfqcore.engine.Engine.operator_for`): the
journal holds it, and the core's CONTROL_ACK (the audit event) names the operator; the
console's audit view and stream say the operator's name. The views are the engine's queries
(the core thread answers them between batches) and its decoded output events; the stream
pushes those events as they are published, and the page rereads a view only when an event
says it changed.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final

from aiohttp import web

from rfqcore.engine import Engine
from rfqcore.operator import (
    FIELDS,
    HEDGE_MODES,
    Operator,
    ack_values,
    field_of,
    field_unit,
    field_value,
    setting_raw,
)
from rfqcore.rfq import (
    AcceptRejected,
    ApprovalPending,
    ControlAck,
    Execution,
    HedgeOrder,
    HedgeReport,
    Quote,
    QuoteEnded,
    RfqRejected,
    RiskAlert,
    reason_name,
)
from rfqcore.rfqconfig import CONSOLE_ROLES, RfqSettings
from rfqcore.units import from_units
from rfqcore.web.auth import (BadRequest, DeskTimeout, LoginApp, Session, SessionStore, decimal_field, id_field,
                              name_field, read_body)
from rfqcore.web.blotter_store import BlotterStore
from rfqcore.web.metrics import histogram_buckets, stage_counts
from rfqcore.web.portal import _iso, _side, event_row

if TYPE_CHECKING:
    from rfqcore.serve import Server

__all__ = ["Console", "ROLE_ACTIONS"]

log = logging.getLogger("rfqcore.web.console")

COOKIE: Final = "rfqcore_console"
CHANGE_TTL_S: Final = 60.0  # a change asked for must be confirmed within this
RECENT: Final = 500  # flow and audit rows kept for the views
_STATIC: Final = {"": ("console.html", "text/html"), "console.html": ("console.html", "text/html"),
                  "console.js": ("console.js", "text/javascript"), "console.css": ("console.css", "text/css")}
_RANK: Final = {r: i for i, r in enumerate(CONSOLE_ROLES)}
#: the actions, by the least role that may take them (docs/web.md's roles table)
ROLE_ACTIONS: Final[dict[str, tuple[str, ...]]] = {
    "viewer": (),
    "trader": ("approve", "decline"),
    "risk-officer": ("kill", "reenable", "restrict", "change", "confirm"),
}
#: the settings a risk officer may change from the console (every field of every ``SET_*`` command;
#: the current value of each is read off the core before the change is shown): ``what`` -> fields
CHANGEABLE: Final = {what: FIELDS[what] for what in ("client", "instrument", "pricing", "tier", "hedging", "desk")}
#: the bounds (core integers, inclusive; None: none) the core holds a field to, checked first so that
#: such a value is a 400 saying so (the core refuses it anyway, changing nothing)
_BOUNDS: Final[dict[tuple[str, str], tuple[int, int | None]]] = {
    ("hedging", "ratio_pct"): (1, 100), ("hedging", "threshold"): (1, None),
    ("hedging", "max_slippage_bps"): (0, 999_999), ("pricing", "vol_ema_shift"): (0, 20),
    ("desk", "exec_count"): (0, 64), ("desk", "exec_window_ms"): (1, None),
    ("tier", "markup_bps"): (0, 999_999), ("tier", "fee_bps"): (0, 999_999),
    ("tier", "ttl_ms"): (1, None), ("tier", "max_ttl_ms"): (1, None),
}
#: the one target of a desk setting
DESK: Final = "desk"


def _needs(role: str) -> Callable[[Session], str | None]:
    def allow(s: Session) -> str | None:
        if _RANK.get(s.role, -1) >= _RANK[role]:
            return None
        return f"a {s.role} may not do this: it needs the {role} role"
    return allow


def _num(d: Decimal) -> str:
    """A Decimal as plain digits (``0.00000000``, never ``0E-8``)."""
    return format(d, "f")


def _human(unit: str, raw: int, qty_decimals: int) -> str | int | bool:
    """A field's integer as the operator gives it (decimal strings for scaled units, a hedging
    mode's name)."""
    v = field_value(unit, raw, qty_decimals)
    return _num(v) if isinstance(v, Decimal) else v


@dataclass(slots=True)
class _Change:
    """A limit or pricing change asked for and not yet confirmed (or abandoned)."""

    change_id: str
    sid: str
    what: str
    target: str
    field: str
    value: Any  # as the Operator's set_<what> takes it
    old: Any
    new: Any
    unit: str
    expires: float


def ack_json(ack: ControlAck, registry: Any, tiers: Mapping[int, str] | None = None) -> dict[str, Any]:
    """A CONTROL_ACK's command, field, values and result; a ``SET_*`` field's values in the units
    the operator gives them (bps, ms, base units, the quote currency; a client's tier by its name
    in ``tiers``, id -> name), other values as sent."""
    value, previous = ack_values(ack, registry, tiers, labelled=False)
    known = field_of(ack.command, ack.field)
    field = ack.field_name if known is not None or not ack.field_name.isdigit() else ""
    return {"control_id": str(ack.control_id), "command": ack.command_name, "field": field, "value": value,
            "previous": previous, "result": ack.reason_name}


def _dec(raw: int | None, decimals: int | None) -> str | None:
    return None if raw is None or decimals is None else _num(from_units(raw, decimals))


class EventLog:
    """The desk's recent RFQ flow and control audit trail, from the engine's decoded events (on
    its output pump), and the listeners of the console's streams."""

    #: the client id the audit rows are kept under in a :class:`BlotterStore` (clients start at 1)
    AUDIT_CLIENT: Final = 0

    def __init__(self, engine: Engine, settings: RfqSettings, store: BlotterStore | None = None) -> None:
        self.registry = engine.registry
        self.clients = {c.id: c.name for c in settings.clients}
        self.operators = {o.id: o.name for o in settings.operators}
        self.tiers = {t.id: t.name for t in settings.tiers}
        self._lock = threading.Lock()
        self.flow: deque[dict[str, Any]] = deque(maxlen=RECENT)
        self.audit: deque[dict[str, Any]] = deque(maxlen=RECENT)
        self._listeners: list[Callable[[str, dict[str, Any]], object]] = []
        self.errors = 0
        #: the audit rows kept across restarts of a journaled desk (the journal's portal blotter file)
        self.store = store
        if store is not None:
            self.audit.extend(row for _, row in store.load(self.AUDIT_CLIENT, RECENT))

    def operator_name(self, operator_id: int) -> str:
        return "desk (in-process)" if operator_id == 0 else self.operators.get(operator_id, f"operator {operator_id}")

    def add(self, events: list[Any]) -> None:
        """Take the engine's decoded events (never raises: it runs on the output pump)."""
        for ev in events:
            try:
                made = self._row(ev)
            except Exception:  # noqa: BLE001 - never stop the engine's output pump
                self.errors += 1
                log.exception("console: cannot take a %s event", type(ev).__name__)
                continue
            if made is None:
                continue
            kind, row = made
            with self._lock:
                if kind == "control":
                    self.audit.append(row)
                    if self.store is not None and isinstance(ev, ControlAck):  # stored once, by its key
                        self.store.put(self.AUDIT_CLIENT, ("audit", ev.core_time * 1_000_000 + ev.control_id
                                                           % 1_000_000), row)
                elif kind == "flow":
                    self.flow.append(row)
                listeners = list(self._listeners)
            for push in listeners:
                try:
                    push(kind, row)
                except RuntimeError:  # the stream's event loop closed (the HTTP server stopped)
                    pass

    def _row(self, ev: Any) -> tuple[str, dict[str, Any]] | None:
        if isinstance(ev, ControlAck):
            row = {"time": _iso(ev.core_time or time.time_ns()), "operator": self.operator_name(ev.operator_id),
                   "operator_id": ev.operator_id, "instrument": self._composite(ev.instrument) if ev.instrument else "",
                   "scope": ev.scope_name, **ack_json(ev, self.registry, self.tiers)}
            log.info("audit: %s (operator %d) %s %s %s scope %s value %s -> %s", row["operator"], ev.operator_id,
                     row["command"], row["field"], row["instrument"], row["scope"], row["value"], row["result"])
            return "control", row
        if isinstance(ev, RiskAlert):
            return "risk", {"time": _iso(ev.core_time or time.time_ns()), "event": str(ev.event.name),
                            "client": self.clients.get(ev.client, "") if ev.client else "",
                            "instrument": self._composite(ev.composite) if ev.composite else "", "count": ev.count}
        if isinstance(ev, HedgeOrder | HedgeReport):
            return "hedge", {"time": _iso(time.time_ns()), "what": type(ev).__name__}
        if isinstance(ev, Quote | Execution | RfqRejected | AcceptRejected | QuoteEnded | ApprovalPending):
            made = event_row(ev, self.registry)
            if made is None:
                return None
            row = {k: v for k, v in made[1].items() if v is not None}
            row["client"] = self.clients.get(ev.client, str(ev.client))
            if isinstance(ev, ApprovalPending):
                row["request_id"] = str(ev.request_id)
            return "flow", row
        return None

    def _composite(self, cid: int) -> str:
        try:
            return str(self.registry.composite(cid).name)
        except (KeyError, LookupError, ValueError):
            return str(cid)

    def listen(self, push: Callable[[str, dict[str, Any]], object]) -> Callable[[], None]:
        with self._lock:
            self._listeners.append(push)

        def undo() -> None:
            with self._lock:
                if push in self._listeners:
                    self._listeners.remove(push)
        return undo

    def recent(self, which: str) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(r) for r in (self.audit if which == "audit" else self.flow)]


class Console(LoginApp):
    """The console's routes over ``engine``, users from ``settings.console_users``; ``server``
    (the :class:`~rfqcore.serve.Server` it runs in, optional) adds the venue links and the
    settlement writer to the views. Login limits and session lifetimes as the portal's."""

    cookie = COOKIE
    login_path = "/console/api/login"
    static = _STATIC

    def __init__(self, engine: Engine, settings: RfqSettings, *, server: Server | None = None,
                 user_limit: int = 5, address_limit: int = 20, window_s: float = 300.0, idle_s: float = 1800.0,
                 max_age_s: float = 12 * 3600.0, control_timeout_s: float = 5.0, heartbeat_s: float = 15.0,
                 session_store: SessionStore | None = None, audit_store: BlotterStore | None = None) -> None:
        """``audit_store``: where the audit view's rows are kept across restarts (the journaled
        desk's portal blotter file)."""
        self.users = {u.name: u for u in settings.console_users}
        super().__init__(self.users, user_limit=user_limit, address_limit=address_limit, window_s=window_s,
                         idle_s=idle_s, max_age_s=max_age_s, heartbeat_s=heartbeat_s, session_store=session_store)
        self.engine, self.settings, self.server = engine, settings, server
        self.registry = engine.registry
        self.control_timeout_s = control_timeout_s
        self._operators: dict[int, Operator] = {}
        self._changes: dict[str, _Change] = {}
        self.counts.update(applied=0, rejected=0, timed_out=0)  # actions, by how the core answered
        self.events = EventLog(engine, settings, audit_store)
        engine.subscribe_events(self.events.add)

    def stats(self) -> dict[str, int]:
        """``counts`` and the live ``sessions`` and open ``streams`` now (for /metrics)."""
        return {**self.counts, "sessions": self.sessions.live_count(), "streams": self.stream_count()}

    def add_routes(self, app: web.Application) -> None:
        r = app.router
        r.add_get("/console", self._root)
        r.add_get("/console/{name:[a-z.]*}", self.serve_static)
        r.add_post("/console/api/login", self.login)
        r.add_post("/console/api/logout", self.guard(self.logout, csrf=True))
        r.add_get("/console/api/session", self.guard(self.session))
        for name, view in (("books", self._books), ("flow", self._flow), ("positions", self._positions),
                           ("clients", self._clients), ("limits", self._limits), ("approvals", self._approvals),
                           ("venues", self._venues), ("latency", self._latency), ("audit", self._audit)):
            r.add_get(f"/console/api/{name}", self.guard(self._view(view)))
        r.add_get("/console/api/stream", self.guard(self._stream))
        app.on_shutdown.append(self.end_streams)
        for name, handler in (("approve", self._approve), ("decline", self._decline), ("kill", self._kill),
                              ("reenable", self._reenable), ("restrict", self._restrict), ("change", self._change),
                              ("confirm", self._confirm)):
            role = next(r for r, acts in ROLE_ACTIONS.items() if name in acts)
            r.add_post(f"/console/api/{name}", self.guard(handler, csrf=True, allow=_needs(role)))

    def session_fields(self, account: Any) -> dict[str, Any]:
        return {"role": account.role, "operator": account.operator}

    def whoami(self, s: Session) -> dict[str, Any]:
        may = [a for role, acts in ROLE_ACTIONS.items() if _RANK[role] <= _RANK[s.role] for a in acts]
        return {"user": s.user, "role": s.role, "operator": self.events.operator_name(s.operator),
                "csrf_token": s.csrf, "may": may}

    async def _root(self, request: web.Request) -> web.StreamResponse:
        raise web.HTTPFound("/console/")

    # -- views -----------------------------------------------------------------------------

    def _view(self, read: Callable[[], Any]) -> Callable[[web.Request, Session], Any]:
        async def view(request: web.Request, session: Session) -> web.StreamResponse:
            return self.json(await self.blocking(read))  # the queries wait for the core thread
        return view

    def _books(self) -> list[dict[str, Any]]:
        eng, out = self.engine, []
        for c in self.registry.composites:
            members = []
            for mid in c.members:
                ins = self.registry.by_id(mid)
                top = eng.best(ins.id)
                members.append({"instrument": ins.key, "status": int(eng.book_status(ins.id)),
                                "bid": None if top is None else _num(top.bid_price),
                                "bid_qty": None if top is None else _num(top.bid_qty),
                                "ask": None if top is None else _num(top.ask_price),
                                "ask_qty": None if top is None else _num(top.ask_qty)})
            mid_px = eng.composite_mid(c.id)
            out.append({"instrument": c.name, "mid": None if mid_px is None else _num(mid_px), "members": members,
                        "ladder": [{"size": _num(q.size), "bid": None if q.bid is None else _num(q.bid),
                                    "ask": None if q.ask is None else _num(q.ask), "reason": q.reason.name}
                                   for q in eng.quotes(c.id)]})
        return out

    def _flow(self) -> dict[str, Any]:
        st: dict[str, Any] = dict(self.engine.rfq_stats())
        st["rejects"] = {reason_name(int(k)): v for k, v in sorted(st["rejects"].items())}
        return {"stats": st, "recent": self.events.recent("flow")}

    def _positions(self) -> dict[str, Any]:
        return {"desk": [self._position(p) for p in self.engine.positions().values()],
                "exposures": {k: _num(v) for k, v in self.engine.exposures().items()}}

    @staticmethod
    def _position(p: Any) -> dict[str, Any]:
        return {"instrument": p.composite, "base": p.base, "currency": p.currency, "qty": _num(p.qty),
                "avg_price": _dec(p.avg_price_raw, p.price_decimals), "cost": _num(p.cost),
                "realised": _num(p.realised), "unrealised": None if p.unrealised is None else _num(p.unrealised),
                "fees": _num(p.fees), "trades": p.trades}

    def _clients(self) -> list[dict[str, Any]]:
        out = []
        for c in self.settings.clients:
            v = self.engine.client_risk_raw(c.id)
            out.append({"client": c.name, "tier": self.settings.tier(int(v["tier"])).name, "enabled": v["enabled"],
                        "killed": v["killed"], "halted": v["halted"],
                        "credit_limit": _num(from_units(v["credit_limit"], 2)),
                        "utilised": _num(from_units(v["utilised"], 2)),
                        "available": _num(from_units(v["available"], 2)),
                        "open_quotes": v["open_quotes"], "max_open_quotes": v["max_open_quotes"],
                        "positions": [self._position(p) for p in self.engine.client_positions(c.id).values()]})
        return out

    def _limits(self) -> dict[str, Any]:
        out = []
        for c in self.registry.composites:
            v = self.engine.instrument_risk_raw(c.id)
            row: dict[str, Any] = {"instrument": c.name, "killed": v["killed"], "halted": v["halted"],
                                   "restricted": v["restricted"]}
            for what, group in (("instrument", "limits"), ("pricing", "pricing")):
                row[group] = self._fields(what, v, c.qty_decimals)
            out.append(row)
        tiers = [{"tier": t.name, **self._fields("tier", self.engine.tier_view_raw(t.id))} for t in self.settings.tiers]
        hedging = [{"instrument": self.registry.composite(int(h["composite"])).name,
                    **self._fields("hedging", h, self.registry.composite(int(h["composite"])).qty_decimals)}
                   for h in self.engine.hedge_status_raw()]
        return {"desk_killed": self.engine.core.desk_killed(), "instruments": out, "tiers": tiers,
                "hedging": hedging, "desk": self._fields("desk", self.engine.desk_view_raw()),
                "changeable": {k: list(v) for k, v in CHANGEABLE.items()},
                "targets": {"client": [c.name for c in self.settings.clients],
                            "instrument": [c.name for c in self.registry.composites],
                            "pricing": [c.name for c in self.registry.composites],
                            "tier": [t.name for t in self.settings.tiers],
                            "hedging": [h["instrument"] for h in hedging], "desk": [DESK]}}

    def _fields(self, what: str, view: Mapping[str, Any], qty_decimals: int = 0) -> dict[str, Any]:
        """Every changeable field of ``what`` as the operator gives it, from the core's ``view``."""
        return {f: _human(field_unit(what, f), setting_raw(what, f, view), qty_decimals) for f in CHANGEABLE[what]}

    def _approvals(self) -> list[dict[str, Any]]:
        now = time.time_ns()
        out = []
        for p in self.engine.pending_approvals():
            limit = p.limit
            out.append({"request_id": str(p.request_id), "rfq_id": str(p.rfq_id),
                        "client": self.events.clients.get(p.client, str(p.client)),
                        "instrument": p.instrument, "side": _side(p.side), "qty": _num(p.qty),
                        "qty_in_quote": p.qty_in_quote, "indicative": _num(p.price),
                        "limit": None if limit is None else _num(limit), "deadline": _iso(p.deadline),
                        "remaining_ms": max((p.deadline - now) // 1_000_000, 0)})
        return out

    def _venues(self) -> dict[str, Any]:
        eng, srv = self.engine, self.server
        hedging = []
        for h in eng.hedge_status_raw():
            c = self.registry.composite(int(h["composite"]))
            cfg = next((x for x in self.settings.hedging if x.composite == c.id), None)
            venues = []
            for v in h["venues"]:
                vc = next((x for x in (cfg.venues if cfg else ()) if x.id == v["venue"]), None)
                qd = self.registry.by_id(vc.instrument).qty_decimals if vc is not None else None
                venues.append({"venue": vc.name if vc is not None else str(v["venue"]), "up": v["up"],
                               "position": _dec(v["position"], qd), "working": _dec(v["working"], qd)})
            hedging.append({"instrument": c.name, "mode": h["mode"], "available": h["available"],
                            "client_flow": _num(from_units(h["client_flow"], c.qty_decimals)),
                            "hedged": _num(from_units(h["hedged"], c.qty_decimals)),
                            "pending": _num(from_units(h["pending"], c.qty_decimals)),
                            "orders": h["orders"], "fills": h["fills"], "refused": h["refused"], "venues": venues})
        links = []
        if srv is not None and srv.hedger is not None:
            names = {v.id: v.instrument for v in srv.venues}
            links = [{"venue": str(vid), "instrument": names.get(vid, ""), "up": bool(s["up"]),
                      "orders": s["orders"], "reports": s["reports"]} for vid, s in sorted(srv.hedger.stats().items())]
        js = eng.journal_stats()
        journal = None if js is None else {"committed_seq": js["committed_seq"], "durable_seq": js["durable_seq"],
                                           "commits": js["commits"], "syncs": js["syncs"],
                                           "error": None if js.get("error") is None else str(js["error"])}
        settlement = None
        w = srv.settlement if srv is not None else None
        if w is not None:
            s = dict(w.stats)
            settlement = {"backlog": w.backlog, "trades": s["trades"], "failures": s["failures"],
                          "spilled": s["spilled"], "store_up": s["store_down_since"] is None}
        return {"hedging": hedging, "links": links, "journal": journal, "settlement": settlement}

    def _latency(self) -> list[dict[str, Any]]:
        out = []
        for stage, counts in stage_counts(self.engine, getattr(self.server, "gateway", None)):
            cumulative, total_s = histogram_buckets(counts)
            buckets, before = [], 0.0
            for le, n in cumulative:
                buckets.append({"le_s": le, "count": int(n - before)})
                before = n
            out.append({"stage": stage, "count": int(before), "sum_s": total_s, "buckets": buckets})
        return out

    def _audit(self) -> list[dict[str, Any]]:
        return self.events.recent("audit")

    async def _stream(self, request: web.Request, session: Session) -> web.StreamResponse:
        """Server-Sent Events: ``flow`` (RFQs, quotes, fills, rejects, approvals asked for),
        ``control`` (the audit trail), ``risk`` and ``hedge`` events as the engine publishes them."""
        return await self.event_stream(request, session, self.events.listen)

    # -- actions ---------------------------------------------------------------------------

    def _operator(self, session: Session) -> Operator:
        op = self._operators.get(session.operator)
        if op is None:
            op = self._operators[session.operator] = self.engine.operator_for(session.operator, strict=False)
        return op

    async def _send(self, session: Session, what: str, call: Callable[[Operator], Any]) -> web.StreamResponse:
        """Run ``call(operator)`` (CONTROL records, each answered by its ack) off the loop."""
        op = self._operator(session)
        try:
            got = await self.ask_engine(lambda: call(op), late=f"the desk did not answer the {what} in time: "
                                                               f"look at the audit view before trying again")
        except DeskTimeout:
            self.counts["timed_out"] += 1
            raise
        acks: list[ControlAck] = got if isinstance(got, list) else [got]
        ok = all(a.ok for a in acks)
        self.counts["applied" if ok else "rejected"] += 1
        log.info("console: %s (%s, operator %s) %s -> %s", session.user, session.role,
                 self.events.operator_name(session.operator), what, ", ".join(a.reason_name for a in acks))
        return self.json({"status": "applied" if ok else "rejected",
                          "reason": next((a.reason_name for a in acks if not a.ok), "OK"),
                          "operator": self.events.operator_name(session.operator),
                          "acks": [ack_json(a, self.registry, self.events.tiers) for a in acks]})

    def _client_name(self, doc: dict[str, Any], key: str = "client") -> str:
        return name_field(doc, key, [c.name for c in self.settings.clients])

    def _instrument_name(self, doc: dict[str, Any], key: str = "instrument") -> str:
        return name_field(doc, key, [c.name for c in self.registry.composites])

    @staticmethod
    def _bool(doc: dict[str, Any], key: str) -> bool:
        v = doc.get(key, True)
        if not isinstance(v, bool):
            raise BadRequest(f"{key} must be true or false")
        return v

    def _pending(self, request_id: int) -> ApprovalPending:
        for p in self.engine.pending_approvals():
            if p.request_id == request_id:
                return p
        raise BadRequest(f"no RFQ waits for approval as request {request_id} (answered, declined or timed out)")

    async def _approve(self, request: web.Request, session: Session) -> web.StreamResponse:
        doc = await read_body(request, {"request_id", "adjust_bps", "price"})
        rid = id_field(doc, "request_id", "the approval request's id (a string of digits, as /console/api/approvals "
                                          "gave it)")
        adj = doc.get("adjust_bps", "0")
        if isinstance(adj, bool) or not isinstance(adj, str | int):
            raise BadRequest("adjust_bps must be a decimal string of bps, e.g. \"2.5\" (widens) or \"-1\" (tightens)")
        try:
            adjust = Decimal(str(adj))
        except ArithmeticError:
            raise BadRequest(f"adjust_bps: {adj!r} is not a decimal number") from None
        if not adjust.is_finite() or abs(adjust) > 10_000 or adjust * 100 != (adjust * 100).to_integral_value():
            raise BadRequest(f"adjust_bps must be within -10000..10000 bps with at most 2 decimals, got {adj!r}")
        price = decimal_field(doc, "price", required=False)
        pending = await self.blocking(lambda: self._pending(rid))
        composite = self.registry.composite(pending.composite)
        if price is not None:
            if pending.side not in (0, 1):
                raise BadRequest("a price override needs a one-sided RFQ; give adjust_bps for a two-way one")
            if -price.as_tuple().exponent > composite.price_decimals:  # type: ignore[operator]
                raise BadRequest(f"price {price} has more than {composite.price_decimals} decimals")
        return await self._send(session, f"approve {rid}", lambda op: op.approve(
            rid, adjust_bps=adjust, price=price, instrument=composite.name if price is not None else None))

    async def _decline(self, request: web.Request, session: Session) -> web.StreamResponse:
        doc = await read_body(request, {"request_id"})
        rid = id_field(doc, "request_id", "the approval request's id (a string of digits)")
        await self.blocking(lambda: self._pending(rid))
        return await self._send(session, f"decline {rid}", lambda op: op.decline(rid))

    async def _kill(self, request: web.Request, session: Session) -> web.StreamResponse:
        doc = await read_body(request, {"scope", "client", "instrument", "on"})
        scope, on = doc.get("scope"), self._bool(doc, "on")
        if scope == "all":
            if doc.get("client") is not None or doc.get("instrument") is not None:
                raise BadRequest("scope \"all\" takes neither client nor instrument")
            return await self._send(session, f"kill all {on}", lambda op: op.kill(on))
        if scope == "client":
            client = self._client_name(doc)
            return await self._send(session, f"kill client {client} {on}", lambda op: op.kill(on, client=client))
        if scope == "instrument":
            inst = self._instrument_name(doc)
            return await self._send(session, f"kill instrument {inst} {on}", lambda op: op.kill(on, instrument=inst))
        raise BadRequest(f"scope must be \"all\", \"client\" or \"instrument\", got {scope!r}")

    async def _reenable(self, request: web.Request, session: Session) -> web.StreamResponse:
        doc = await read_body(request, {"client", "instrument"})
        client = self._client_name(doc) if doc.get("client") is not None else None
        inst = self._instrument_name(doc) if doc.get("instrument") is not None else None
        if client is None and inst is None:
            raise BadRequest("give the client or the instrument whose halt to clear")
        return await self._send(session, f"reenable {client or ''} {inst or ''}",
                                lambda op: op.reenable(client=client, instrument=inst))

    async def _restrict(self, request: web.Request, session: Session) -> web.StreamResponse:
        doc = await read_body(request, {"instrument", "on"})
        inst, on = self._instrument_name(doc), self._bool(doc, "on")
        return await self._send(session, f"restrict {inst} {on}", lambda op: op.restrict(inst, on))

    def _target(self, what: str, doc: dict[str, Any]) -> str:
        """The target of a change of ``what``: a client, a composite, a tier, a hedged composite
        or the desk (:class:`BadRequest` naming the known ones)."""
        if what == "client":
            return self._client_name(doc, "target")
        if what == "tier":
            return name_field(doc, "target", [t.name for t in self.settings.tiers])
        if what == "desk":
            return name_field(doc, "target", [DESK]) if doc.get("target") is not None else DESK
        target = self._instrument_name(doc, "target")
        if what == "hedging" and not any(h.composite == self.registry.composite(target).id
                                         for h in self.settings.hedging):
            hedged = [self.registry.composite(h.composite).name for h in self.settings.hedging]
            raise BadRequest(f"{target} has no hedging policy to change (hedged: {', '.join(hedged) or 'none'}); "
                             f"add a [[hedging]] table for it to the RFQ settings")
        return target

    def _current(self, what: str, target: str, name: str) -> int:
        """The core's integer of field ``name`` of ``target`` now (on a worker thread: it waits
        for the core)."""
        if what == "client":
            view: dict[str, Any] = dict(self.engine.client_risk_raw(target))
        elif what in ("instrument", "pricing"):
            view = self.engine.instrument_risk_raw(target)
        elif what == "tier":
            view = self.engine.tier_view_raw(target)
        elif what == "desk":
            view = self.engine.desk_view_raw()
        else:
            cid = self.registry.composite(target).id
            view = next(dict(h) for h in self.engine.hedge_status_raw() if int(h["composite"]) == cid)
        return setting_raw(what, name, view)

    def _shown(self, what: str, name: str, unit: str, raw: int, qty_decimals: int) -> Any:
        """A value as the change and the views show it (a client's tier by its name)."""
        if what == "client" and name == "tier":
            return self.events.tiers.get(raw, int(raw))
        return _human(unit, raw, qty_decimals)

    async def _change(self, request: web.Request, session: Session) -> web.StreamResponse:
        """A setting change asked for: nothing is sent; the answer shows the current and the new
        value and a ``change_id`` to confirm within ``CHANGE_TTL_S``."""
        doc = await read_body(request, {"what", "target", "field", "value"})
        what = doc.get("what")
        if what not in CHANGEABLE:
            raise BadRequest(f"what must be one of {', '.join(CHANGEABLE)}, got {what!r}")
        target = self._target(what, doc)
        name = doc.get("field")
        if name not in CHANGEABLE[what]:
            raise BadRequest(f"unknown {what} field {name!r} (fields: {', '.join(CHANGEABLE[what])})")
        unit = field_unit(what, name)
        value = doc.get("value")
        if what == "client" and name == "tier":  # a tier by its name (or id)
            tiers = {t.name: t.id for t in self.settings.tiers}
            if isinstance(value, str) and value in tiers:
                value = tiers[value]
            elif isinstance(value, bool) or not isinstance(value, int) or value not in tiers.values():
                raise BadRequest(f"tier must be one of {', '.join(tiers)}, got {value!r}")
        elif unit == "bool":
            if not isinstance(value, bool):
                raise BadRequest(f"{name} must be true or false")
        elif unit == "mode":
            if value not in HEDGE_MODES:
                raise BadRequest(f"mode must be one of {', '.join(HEDGE_MODES)}, got {value!r}")
        elif unit == "int":
            if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 19:
                value = int(value)
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 1 << 63:
                raise BadRequest(f"{name} must be a non-negative whole number, got {value!r}")
        else:
            value = decimal_field(doc, "value", required=True, positive=False)
        comp = self.registry.composite(target) if what in ("instrument", "pricing", "hedging") else None
        op = self._operator(session)
        try:
            new_raw = op.parse(what, name, value, comp.name if comp is not None else None)
        except (ValueError, TypeError) as e:
            raise BadRequest(str(e)) from None
        qd = comp.qty_decimals if comp is not None else 0
        lo, hi = _BOUNDS.get((what, name), (0, None))
        if new_raw < lo or (hi is not None and new_raw > hi):
            low = self._shown(what, name, unit, lo, qd)
            span = f"at least {low}" if hi is None else f"within {low}..{self._shown(what, name, unit, hi, qd)}"
            raise BadRequest(f"{name} must be {span}{ {'cbps': ' bps', 'ns': ' ms'}.get(unit, '')}, got {doc.get('value')!r}")
        old_raw = await self.blocking(lambda: self._current(what, target, name))
        now = time.monotonic()
        for cid in [k for k, c in self._changes.items() if c.expires <= now]:
            del self._changes[cid]
        ch = _Change(secrets.token_urlsafe(16), session.sid, what, target, name, value,
                     self._shown(what, name, unit, old_raw, qd), self._shown(what, name, unit, new_raw, qd), unit,
                     now + CHANGE_TTL_S)
        self._changes[ch.change_id] = ch
        return self.json({"change_id": ch.change_id, "what": what, "target": target, "field": name, "old": ch.old,
                          "new": ch.new, "unit": {"cbps": "bps", "ns": "ms"}.get(unit, unit),
                          "expires_in_ms": int(CHANGE_TTL_S * 1000)})

    async def _confirm(self, request: web.Request, session: Session) -> web.StreamResponse:
        doc = await read_body(request, {"change_id"})
        cid = doc.get("change_id")
        ch = self._changes.get(cid) if isinstance(cid, str) else None
        if ch is not None and ch.sid == session.sid and ch.expires <= time.monotonic():
            del self._changes[ch.change_id]  # too late
            ch = None
        if ch is None or ch.sid != session.sid:  # another session's reads the same as none
            return self.error(404, "no such change waiting for your confirmation (it expires after "
                                   f"{int(CHANGE_TTL_S)} s): ask for it again with POST /console/api/change")
        del self._changes[ch.change_id]

        def send(op: Operator) -> Any:
            if ch.what == "desk":
                return op.set_desk(**{ch.field: ch.value})
            return getattr(op, f"set_{ch.what}")(ch.target, **{ch.field: ch.value})
        return await self._send(session, f"set {ch.what} {ch.target} {ch.field} {ch.old} -> {ch.new}", send)
