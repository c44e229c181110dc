"""The Aeron gateway end to end: a real embedded media driver, the gateway in its own process, and
clients in ANOTHER process (an agent the test drives over a pipe), over Aeron IPC (and UDP on
loopback once).

Two cores sit behind the gateway:
- ``loopback``: :class:`rfqcore.gateway.loopback.LoopbackCore`, a fixed-price stand-in on a
  thread of this process: exercises the gateway and the client library alone, always runs;
- ``engine``: the real :class:`rfqcore.Engine` (Rust core thread) over a synthetic BTC spot
  book; its tests FAIL with the reason when the installed core cannot serve RFQs (a broken RFQ
  path must never turn into skips).

Every request the gateway refuses must push nothing into the core: checked on the gateway's
push counter, on the records the loopback core consumed, and on ``Engine.state_hash()``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import multiprocessing as mp
import os
import shutil
import socket
import struct
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np
import pytest

from rfqcore._ring import ring_create
from rfqcore.gateway import schema as s
from rfqcore.gateway.aeron import EmbeddedDriver
from rfqcore.gateway.loopback import LoopbackCore
from rfqcore.gateway.native import NativeGateway
from rfqcore.gateway.server import GatewayProcess
from rfqcore.instruments import Registry
from rfqcore.records import RECORD_DTYPE, ClientSide, Command, Flag, Kind, QuoteEnd, RfqReject
from rfqcore.rfqconfig import RfqSettings

from desk_market import spot_snapshot

G = s.GatewayReject
SETTINGS = RfqSettings.load()
ACME = SETTINGS.client("acme-capital")
BETA = SETTINGS.client("beta-fund")
OPER = SETTINGS.operators[0]
BTC = Registry.load().composite("BTC")


# ---- the client agent: RfqClient / OperatorClient objects in another process ---------------------


class AgentError(Exception):
    def __init__(self, type_: str, reason: int | None, message: str) -> None:
        super().__init__(f"{type_}: {message}")
        self.type, self.reason = type_, reason


def _agent_op(objs: dict[str, Any], op: str, args: tuple, kw: dict) -> Any:
    from rfqcore.client import OperatorClient, RfqClient

    if op == "new":
        key, cls, principal, secret, aeron_dir = args
        c = (RfqClient if cls == "client" else OperatorClient)(principal, secret, aeron_dir=aeron_dir, **kw)
        c.wait_idle = "yield"  # 2 shared cores: do not starve the gateway while waiting
        c.connect()
        objs[key] = c
        return None
    if op == "call":
        key, method, *rest = args
        return getattr(objs[key], method)(*rest, **kw)
    if op == "get":
        key, attr = args
        return getattr(objs[key], attr)
    if op == "raw":
        # Send the bytes, then a marker the gateway always refuses (an unknown type, which
        # changes nothing); the gateway handles one publication's messages in order, so once
        # the marker's REJECT is here, the first message's answer (if any) is here too.
        key, data, timeout = args
        c = objs[key]
        if kw.get("seal", True) and c.token and len(data) >= 16 and int.from_bytes(data[8:16], "little") == c.token:
            data = c.seal(data)  # "the right token" in a hand-built request: sign it as the session does
        rejects: list[Any] = []
        c.on_reject = rejects.append
        marker_seq = (1 << 63) + time.monotonic_ns() % (1 << 62)
        marker = struct.pack("<IBBHQQHB5x", s.MAGIC, 1, 99, 0, 0, marker_seq, c.id, int(c.ROLE))
        c.send_raw(data)
        c.send_raw(marker)
        deadline = time.monotonic() + timeout
        while not any(r.ref_id == marker_seq for r in rejects) and time.monotonic() < deadline:
            if c.poll() == 0:
                os.sched_yield()
        c.on_reject = None
        if not any(r.ref_id == marker_seq for r in rejects):
            raise TimeoutError("no REJECT for the marker message")
        # only a REJECT that names this message's header seq (a stream shared by two client
        # objects of one id may carry older refusals)
        seq = struct.unpack_from("<Q", data, 16)[0] if len(data) >= 24 else None
        mine = [r for r in rejects if r.ref_id != marker_seq and r.ref_id == seq]
        return mine[0] if mine else None
    if op == "logon_at":  # a logon with this header seq (hand-built): the token, or LogonRejected
        import hashlib
        import hmac
        import secrets

        key, seq, timeout = args
        c = objs[key]
        nonce, ts = secrets.randbits(64), time.time_ns()
        mac = hmac.new(c._secret, s.logon_mac_input(c.id, nonce, ts), hashlib.sha256).digest()
        p = c._register((("logon", nonce),))
        c.send_raw(s.encode(s.LogonMsg(nonce, ts, mac), seq=seq, id=c.id))
        return c._wait(p, timeout, also_logon_stream=True)
    if op == "spray":  # n mutated and truncated copies of signed requests, without waiting
        key, n, seed = args
        import random

        c = objs[key]
        rnd = random.Random(seed)
        sent = 0
        for i in range(n):
            raw = bytearray(c.seal(_rfq(c.next_seq(), c.token)) if i % 2 else
                            c.seal(s.encode(s.CancelMsg(rnd.getrandbits(64)), session=c.token, seq=c.next_seq(),
                                            id=c.id)))
            for pos in rnd.sample(range(len(raw)), rnd.randint(1, 4)):
                raw[pos] ^= rnd.randint(1, 255)  # 1-4 different bytes, each changed
            cut = rnd.randint(-40, 16)
            raw = raw[: len(raw) + cut] if cut < 0 else raw + bytes(rnd.getrandbits(8) for _ in range(cut))
            c.send_raw(bytes(raw))
            sent += 1
        return sent
    if op == "burst":  # n RFQs without waiting, then collect n answers
        key, n, timeout = args
        c = objs[key]
        got: list[Any] = []
        c.on_quote = got.append
        c.on_reject = got.append
        ids = [c.send_rfq_raw(BTC.id, 0, 10**8) for _ in range(n)]
        deadline = time.monotonic() + timeout
        while len(got) < n and time.monotonic() < deadline:
            if c.poll() == 0:
                os.sched_yield()
        c.on_quote = c.on_reject = None
        return ids, [(type(e).__name__, e.rfq_id if hasattr(e, "rfq_id") else e.ref_id) for e in got]
    if op == "next_event":  # the next event delivered to callback `cb` (or None after `timeout`)
        key, cb, timeout = args
        c = objs[key]
        events: list[Any] = []
        setattr(c, cb, events.append)
        deadline = time.monotonic() + timeout
        while not events and time.monotonic() < deadline:
            if c.poll() == 0:
                os.sched_yield()
        setattr(c, cb, None)
        return events[0] if events else None
    if op == "threaded":  # callback style with a background poller thread, blocking calls too
        key, n = args
        c = objs[key]
        quotes: list[Any] = []
        c.on_quote = quotes.append
        c.start(idle="yield")
        try:
            ids = [c.send_rfq("BTC", "sell", "0.25", ttl_ms=50) for _ in range(n)]
            blocking = c.request_quote("BTC", "buy", "0.5", timeout=5.0)  # waits for the poller thread
            deadline = time.monotonic() + 10
            while len(quotes) < n + 1 and time.monotonic() < deadline:
                time.sleep(0.01)
        finally:
            c.stop()
            c.on_quote = c.on_quote_end = None
        return ids, [q.rfq_id for q in quotes], blocking
    if op == "close":
        objs.pop(args[0]).close()
        return None
    raise ValueError(op)


def _agent_main(conn: Any) -> None:
    objs: dict[str, Any] = {}
    while True:
        msg = conn.recv()
        if msg is None:
            break
        op, args, kw = msg
        try:
            conn.send(("ok", _agent_op(objs, op, args, kw)))
        except Exception as e:  # noqa: BLE001 - shipped to the test process
            conn.send(("err", type(e).__name__, getattr(e, "reason", None), f"{e}\n{traceback.format_exc()}"))
    for c in objs.values():
        c.close()


class Agent:
    """A process of its own holding client objects; ``agent(op, *args)`` runs one operation."""

    def __init__(self) -> None:
        ctx = mp.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_agent_main, args=(child,), name="gateway-test-agent", daemon=True)
        self.proc.start()

    def __call__(self, op: str, *args: Any, timeout: float = 20.0, **kw: Any) -> Any:
        self.conn.send((op, args, kw))
        if not self.conn.poll(timeout):
            raise TimeoutError(f"agent did not answer {op}{args} within {timeout} s")
        res = self.conn.recv()
        if res[0] == "err":
            raise AgentError(res[1], res[2], res[3])
        return res[1]

    def close(self) -> None:
        try:
            self.conn.send(None)
        except OSError:
            pass
        self.proc.join(10)
        if self.proc.is_alive():
            self.proc.terminate()
            self.proc.join(5)


@pytest.fixture(scope="module")
def agent() -> Iterator[Agent]:
    a = Agent()
    yield a
    a.close()


# ---- backends: loopback core or the real engine -----------------------------------------------------

#: The Rust gateway thread (what `rfqcore serve` runs) and the Python gateway process (the
#: documented fallback, `serve --python-gateway`): every test below runs against both.
GATEWAYS: dict[str, Any] = {"native": NativeGateway, "python": GatewayProcess}


@pytest.fixture(scope="module", params=list(GATEWAYS))
def gateway_cls(request: pytest.FixtureRequest) -> Any:
    return GATEWAYS[request.param]


@dataclass
class Backend:
    name: str
    dir: str  # Aeron directory
    gateway: Any  # NativeGateway or GatewayProcess
    state: Callable[[], Any]  # snapshot of the core's state (hash or consumed records)
    refresh: Callable[[], None] = lambda: None  # make the market fresh before a test

    def pushed(self) -> int:
        return int(self.gateway.stats()["pushed"])

    def snapshot(self) -> tuple[int, Any]:
        """(records the gateway pushed into the core, core state). Taken when every earlier
        request has been answered, both are final (no heartbeats: the core moves only with input)."""
        return self.pushed(), self.state()


def _shm_dir(prefix: str) -> str:
    return tempfile.mkdtemp(prefix=prefix, dir="/dev/shm" if os.path.isdir("/dev/shm") else None)


@contextlib.contextmanager
def loopback_desk(gateway_cls: Any, *, in_capacity: int = 1 << 10, tap_capacity: int = 1 << 10,
                  **gateway_kw: Any) -> Iterator[tuple[LoopbackCore, EmbeddedDriver, Any]]:
    """A fixed-price loopback core on its thread, a media driver and a started gateway of
    ``gateway_cls`` between them; everything stopped and removed on exit."""
    ring_dir = _shm_dir("rfqgw-test-")
    inp, tap = f"{ring_dir}/in.ring", f"{ring_dir}/tap.ring"
    ring_create(inp, in_capacity)
    ring_create(tap, tap_capacity)
    core = LoopbackCore(inp, tap)
    stop = threading.Event()
    th = threading.Thread(target=core.run, args=(stop,), daemon=True)
    th.start()
    driver = EmbeddedDriver()
    gw = gateway_cls(inp, tap, aeron_dir=driver.dir, idle="yield", **gateway_kw)
    try:
        gw.start()
        yield core, driver, gw
    finally:
        gw.stop()
        stop.set()
        th.join(5)
        core.close()
        driver.close()
        shutil.rmtree(ring_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def loopback(gateway_cls: Any) -> Iterator[Backend]:
    # a small gateway ring: the back-pressure test fills it
    with loopback_desk(gateway_cls, in_capacity=64, tap_capacity=1 << 12) as (core, driver, gw):
        b = Backend("loopback", driver.dir, gw, lambda: len(core.consumed))
        b.core = core  # type: ignore[attr-defined]
        yield b


def _engine_unavailable() -> str | None:
    try:
        import rfqcore_core

        from rfqcore.engine import Engine
    except Exception as e:  # noqa: BLE001
        return f"engine import failed: {e}"
    if not hasattr(rfqcore_core.Engine, "add_tap") or not hasattr(Engine, "add_tap"):
        return "the installed core has no RFQ tap (rebuild with `make build` once the RFQ core has landed)"
    reg = Registry.load()
    try:
        with Engine(reg, rfq=RfqSettings.load(registry=reg)) as eng:
            eng.feed(spot_snapshot(reg, time.time_ns()))
            eng.run_once()
            got: list[np.ndarray] = []
            eng.subscribe(got.append, kinds=None)
            now = time.time_ns()
            rec = np.zeros(1, dtype=RECORD_DTYPE)
            rec[0] = (Kind.RFQ, BTC.id, 0, Flag.END, ACME.id, 1, now, now, 0, 10**8, 0, 0)
            eng.feed(rec, producer="probe")
            eng.run_once()
            kinds = {int(k) for b in got for k in b["kind"]}
            if not kinds & {Kind.RFQ_QUOTE, Kind.RFQ_REJECT}:
                return f"the installed core does not answer RFQs yet (outputs: {sorted(kinds)})"
    except Exception as e:  # noqa: BLE001
        return f"engine with RFQ settings failed: {type(e).__name__}: {e}"
    return None


@pytest.fixture(scope="module")
def engine(gateway_cls: Any) -> Iterator[Backend]:
    why = _engine_unavailable()
    if why:
        pytest.fail(f"the engine backend cannot serve RFQs: {why}", pytrace=False)
    from rfqcore.engine import Engine

    reg = Registry.load()
    eng = Engine(reg, rfq=RfqSettings.load(registry=reg))
    driver = EmbeddedDriver()
    gw = None
    try:
        eng.add_producer("gateway")
        tap = eng.add_tap("gateway")
        eng.add_producer("market")
        eng.feed(spot_snapshot(reg, time.time_ns()), producer="market")
        eng.start(heartbeat_ms=None)  # no heartbeats: the state hash moves only with input
        gw = gateway_cls(eng.ring_path("gateway"), tap, aeron_dir=driver.dir, idle="yield")
        gw.start()

        def refresh() -> None:
            eng.feed(spot_snapshot(reg, time.time_ns()), producer="market")

        b = Backend("engine", driver.dir, gw, eng.state_hash, refresh)
        b.engine = eng  # type: ignore[attr-defined]
        yield b
    finally:
        if gw is not None:
            gw.stop()
        eng.close()
        driver.close()


@pytest.fixture(params=["loopback", "engine"])
def backend(request: pytest.FixtureRequest, gateway_cls: Any) -> Backend:  # gateway_cls: parametrizes it
    b: Backend = request.getfixturevalue(request.param)
    b.refresh()
    return b


@pytest.fixture
def acme(agent: Agent, backend: Backend) -> Iterator[str]:
    """A logged-on acme-capital client in the agent process."""
    key = f"acme-{backend.name}"
    agent("new", key, "client", ACME.id, ACME.secret.hex(), backend.dir)
    agent("call", key, "logon")
    yield key
    agent("close", key)


def _no_push(backend: Backend, before: tuple[int, Any]) -> None:
    time.sleep(0.02)  # a wrongly pushed record would be counted before its REJECT was sent anyway
    after = backend.snapshot()
    assert after == before, f"a refused request reached the core: {before} -> {after}"


# ---- tests: the happy path ---------------------------------------------------------------------------


def test_logon_rfq_quote_accept_execution(agent: Agent, backend: Backend, acme: str) -> None:
    q = agent("call", acme, "request_quote", "BTC", "buy", Decimal("1"), timeout=5.0)
    assert q.instrument == "BTC" and q.composite == BTC.id
    assert tuple(s.side for s in q.sides) == (ClientSide.BUY,) and q.sell_price is None
    assert q.buy_qty == Decimal("1") and q.buy_qty_raw == 10**8
    assert q.buy_price is not None and Decimal("59000") < q.buy_price < Decimal("62000")
    assert q.buy_price == Decimal(q.buy_price_raw).scaleb(-BTC.price_decimals)  # exact, no float
    assert q.valid_until > q.core_time
    ex = agent("call", acme, "accept", q, timeout=5.0)
    assert (ex.quote_id, ex.rfq_id, ex.side) == (q.quote_id, q.rfq_id, ClientSide.BUY)
    assert (ex.price_raw, ex.qty_raw) == (q.buy_price_raw, q.buy_qty_raw)
    assert ex.notional_raw == ex.price_raw * ex.qty_raw  # exact at price + qty decimals
    assert ex.notional == ex.price * ex.qty and ex.fee >= 0
    # the quote is filled now: a second accept is refused by the core
    with pytest.raises(AgentError) as e:
        agent("call", acme, "accept", q, timeout=5.0)
    assert e.value.type == "AcceptRejected"
    assert e.value.reason in (RfqReject.QUOTE_NOT_LIVE, RfqReject.UNKNOWN_QUOTE)


def test_two_way_quote_and_cancel(agent: Agent, backend: Backend, acme: str) -> None:
    q = agent("call", acme, "request_quote", "BTC", "two-way", Decimal("0.5"), timeout=5.0)
    assert {s.side for s in q.sides} == {ClientSide.BUY, ClientSide.SELL}
    assert q.sell_price < q.buy_price
    end = agent("call", acme, "cancel", q, wait=True, timeout=5.0)
    assert end.quote_id == q.quote_id and end.state == QuoteEnd.CANCELLED
    with pytest.raises(AgentError) as e:
        agent("call", acme, "cancel", q, wait=True, timeout=5.0)
    assert e.value.type == "CancelRejected"


def test_core_rejects_reach_the_client(agent: Agent, backend: Backend, acme: str) -> None:
    with pytest.raises(AgentError) as e:  # buy with a limit far below the market
        agent("call", acme, "request_quote", "BTC", "buy", Decimal("1"), limit=Decimal("100"), timeout=5.0)
    assert (e.value.type, e.value.reason) == ("RfqRejected", RfqReject.EXCEEDS_LIMIT)
    with pytest.raises(AgentError) as e:
        agent("call", acme, "request_quote_raw", BTC.id, 0, 0, timeout=5.0)
    assert e.value.type == "RfqRejected" and e.value.reason in (RfqReject.BAD_SIZE, RfqReject.BELOW_MIN_SIZE)


def test_engine_risk_rejects(agent: Agent, engine: Backend) -> None:
    """Core risk limits from the packaged rfq.toml, through the gateway (engine only)."""
    engine.refresh()
    key = "acme-risk"
    agent("new", key, "client", ACME.id, ACME.secret.hex(), engine.dir)
    agent("call", key, "logon")
    try:
        for qty, reason in ((Decimal("300"), RfqReject.ABOVE_MAX_SIZE), (Decimal("0.00001"), RfqReject.BELOW_MIN_SIZE)):
            with pytest.raises(AgentError) as e:
                agent("call", key, "request_quote", "BTC", "sell", qty, timeout=5.0)
            assert (e.value.type, e.value.reason) == ("RfqRejected", reason)
        with pytest.raises(AgentError) as e:  # composite 99 does not exist
            agent("call", key, "request_quote_raw", 99, 0, 10**8, timeout=5.0)
        assert (e.value.type, e.value.reason) == ("RfqRejected", RfqReject.UNKNOWN_INSTRUMENT)
    finally:
        agent("close", key)


def test_operator_control_ack_and_kill_switch(agent: Agent, backend: Backend, acme: str) -> None:
    op = f"op-{backend.name}"
    agent("new", op, "operator", OPER.id, OPER.secret.hex(), backend.dir)
    agent("call", op, "logon")
    try:
        ack = agent("call", op, "control", Command.KILL, scope=ACME.id, value=1, timeout=5.0)
        assert ack.ok and ack.operator_id == OPER.id and ack.command == Command.KILL and ack.scope == ACME.id
        if backend.name == "engine":
            with pytest.raises(AgentError) as e:
                agent("call", acme, "request_quote", "BTC", "buy", Decimal("1"), timeout=5.0)
            assert (e.value.type, e.value.reason) == ("RfqRejected", RfqReject.KILL_SWITCH)
        ack = agent("call", op, "control", Command.KILL, scope=ACME.id, value=0, timeout=5.0)
        assert ack.ok
        agent("call", acme, "request_quote", "BTC", "buy", Decimal("1"), timeout=5.0)
        # CONTROL is an operator message: a client sending one is refused by the gateway
        seq = agent("call", acme, "next_seq")
        tok = agent("get", acme, "token")
        raw = s.encode(s.ControlMsg(1, Command.KILL, 0, 0, 0, 1, 0), session=tok, seq=seq, id=ACME.id,
                       role=s.Role.CLIENT)
        before = backend.snapshot()
        rej = agent("raw", acme, raw, 5.0)
        assert rej is not None and rej.reason == G.UNEXPECTED_TYPE
        _no_push(backend, before)
    finally:
        agent("close", op)


def test_approval_flow_through_two_sessions(agent: Agent, engine: Backend) -> None:
    """An RFQ above the approval size (rfq.toml: 50 BTC) waits for an operator: APPROVAL_PENDING
    reaches the client and the operator, the operator approves with a CONTROL, the client gets
    its quote (engine only)."""
    engine.refresh()
    agent("new", "acme-appr", "client", ACME.id, ACME.secret.hex(), engine.dir)
    agent("new", "op-appr", "operator", OPER.id, OPER.secret.hex(), engine.dir)
    try:
        agent("call", "acme-appr", "logon")
        agent("call", "op-appr", "logon")
        rfq_id = agent("call", "acme-appr", "send_rfq", "BTC", "buy", Decimal("52"))
        pending = agent("next_event", "op-appr", "on_approval_pending", 5.0)
        assert pending is not None and pending.rfq_id == rfq_id and pending.client == ACME.id
        assert pending.qty_raw == 52 * 10**8 and pending.price_raw > 0
        ack = agent("call", "op-appr", "control", Command.APPROVE, scope=pending.request_id, timeout=5.0)
        assert ack.ok, ack
        quote = agent("next_event", "acme-appr", "on_quote", 5.0)
        assert quote is not None and quote.rfq_id == rfq_id and quote.buy_qty == Decimal("52")
    finally:
        agent("close", "acme-appr")
        agent("close", "op-appr")


def test_operator_client_drives_the_operator_api(agent: Agent, engine: Backend) -> None:
    """rfqcore.operator.Operator over the gateway (human units), as the CLI will use it."""
    agent("new", "op-api", "operator", "desk-operator", None, engine.dir)
    try:
        agent("call", "op-api", "logon")
        acks = agent("call", "op-api", "operator_call", "set_instrument", "BTC", long_limit=Decimal("240"))
        assert len(acks) == 1 and acks[0].ok and acks[0].value == 240 * 10**8
        acks = agent("call", "op-api", "operator_call", "set_instrument", "BTC", long_limit=Decimal("250"))
        assert acks[0].previous == 240 * 10**8
    finally:
        agent("close", "op-api")


def test_callback_style_with_poller_thread(agent: Agent, loopback: Backend) -> None:
    agent("new", "acme-cb", "client", ACME.id, ACME.secret.hex(), loopback.dir)
    try:
        agent("call", "acme-cb", "logon")
        ids, quoted, blocking = agent("threaded", "acme-cb", 20)
        assert quoted[:20] == ids and blocking.rfq_id == quoted[20]
        assert blocking.buy_qty == Decimal("0.5")
    finally:
        agent("close", "acme-cb")


# ---- tests: gateway-level refusals push nothing ---------------------------------------------------


def _rfq(seq: int, tok: int, **kw: Any) -> bytes:
    body = s.RfqMsg(rfq_id=kw.pop("rfq_id", time.time_ns()), instrument=BTC.id, side=0, flags=kw.pop("flags", 0),
                 qty=10**8, limit=0, ttl_ns=0, send_time=time.time_ns())
    return s.encode(body, session=tok, seq=seq, id=kw.pop("id", ACME.id), role=kw.pop("role", 0))


def _patch(raw: bytes, offset: int, fmt: str, value: int) -> bytes:
    b = bytearray(raw)
    struct.pack_into(fmt, b, offset, value)
    return bytes(b)


# name -> (builder(seq, token) -> bytes, expected reason or None = cannot be answered)
MALFORMED: dict[str, tuple[Callable[[int, int], bytes], G | None]] = {
    "truncated-body": (lambda q, t: _rfq(q, t)[:60], G.TRUNCATED),
    "truncated-header": (lambda q, t: _rfq(q, t)[:20], None),
    "empty": (lambda q, t: b"", None),
    "bad-magic": (lambda q, t: b"XXXX" + _rfq(q, t)[4:], G.BAD_MAGIC),
    "wrong-version": (lambda q, t: _patch(_rfq(q, t), 4, "<B", 1), G.UNSUPPORTED_VERSION),  # v1: token, no MAC
    "unknown-type": (lambda q, t: _patch(_rfq(q, t), 5, "<B", 99), G.UNKNOWN_TYPE),
    "gateway-type": (lambda q, t: _patch(_rfq(q, t), 5, "<B", s.MsgType.QUOTE), G.UNEXPECTED_TYPE),
    "body-len": (lambda q, t: _patch(_rfq(q, t), 6, "<H", 40), G.LENGTH_MISMATCH),
    "trailing": (lambda q, t: _rfq(q, t) + b"\0" * 8, G.LENGTH_MISMATCH),
    "bad-flags": (lambda q, t: _rfq(q, t, flags=0x80), G.BAD_FIELD),
    "bad-role": (lambda q, t: _rfq(q, t, role=7), None),
    "bad-token": (lambda q, t: _rfq(q, t ^ 0x5A5A), G.BAD_SESSION),
    "no-token": (lambda q, t: _rfq(q, 0), G.BAD_SESSION),
    "replayed-seq": (lambda q, t: _rfq(1, t), G.BAD_SEQUENCE),
    # the largest seq would leave no value above it: refused, so the session is not wedged
    "max-seq": (lambda q, t: _rfq((1 << 64) - 1, t), G.BAD_SEQUENCE),
    "seq-step-too-large": (lambda q, t: _rfq(q + (1 << 32) + 1, t), G.BAD_SEQUENCE),
    "unknown-operator": (lambda q, t: _rfq(q, t, role=1, id=77), None),  # no such operator: no stream to answer on
    # larger than the MTU: Aeron fragments it, the gateway sees it whole (and refuses it once)
    "oversized": (lambda q, t: _rfq(q, t) + bytes(4096), G.LENGTH_MISMATCH),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_requests_are_refused_and_change_nothing(agent: Agent, backend: Backend, acme: str,
                                                           case: str) -> None:
    build, reason = MALFORMED[case]
    agent("call", acme, "request_quote", "BTC", "buy", Decimal("0.1"), timeout=5.0)  # seq > 1 from here
    before = backend.snapshot()
    unanswerable = backend.gateway.stats()["unanswerable"]
    raw = build(agent("call", acme, "next_seq"), agent("get", acme, "token"))
    rej = agent("raw", acme, raw, 5.0)
    if reason is None:
        assert rej is None
        after = backend.gateway.stats()["unanswerable"]
        assert sum(after.values()) == sum(unanswerable.values()) + 1, after
    else:
        assert rej is not None, f"no REJECT for {case}"
        assert rej.reason == reason and rej.by_gateway
    _no_push(backend, before)
    if reason not in (G.BAD_SESSION, None) or case == "no-token":
        # the session survives a refused message: the next real request works
        agent("call", acme, "request_quote", "BTC", "buy", Decimal("0.1"), timeout=5.0)


def test_a_refused_request_does_not_advance_the_sequence(agent: Agent, backend: Backend, acme: str) -> None:
    """A request refused after the sequence check (here an unknown RFQ flag) changes nothing, not
    even the session's last sequence: a later request with a lower, still-new seq is taken."""
    agent("call", acme, "request_quote", "BTC", "buy", Decimal("0.1"), timeout=5.0)
    tok = agent("get", acme, "token")
    q = agent("call", acme, "next_seq")
    for _ in range(10):  # the client's own next requests go above what this test uses
        agent("call", acme, "next_seq")
    rej = agent("raw", acme, _rfq(q + 9, tok, flags=0x80), 5.0)
    assert rej is not None and rej.reason == G.BAD_FIELD
    pushed = backend.pushed()
    assert agent("raw", acme, _rfq(q + 5, tok), 5.0) is None  # taken: no REJECT
    time.sleep(0.02)
    assert backend.pushed() == pushed + 1
    agent("call", acme, "request_quote", "BTC", "buy", Decimal("0.1"), timeout=5.0)


def test_the_session_token_alone_acts_for_nobody(agent: Agent, backend: Backend, acme: str) -> None:
    """The token is on the response stream for anyone who can map the Aeron directory to read;
    a request carrying it instead of the MAC under the session key (which is never sent) is
    refused even from the session's own publication."""
    tok = agent("get", acme, "token")
    before = backend.snapshot()
    rej = agent("raw", acme, _rfq(agent("call", acme, "next_seq"), tok), 5.0, seal=False)
    assert rej is not None and rej.reason == G.BAD_SESSION
    _no_push(backend, before)
    agent("call", acme, "request_quote", "BTC", "buy", Decimal("0.1"), timeout=5.0)  # the real session works


def test_stolen_token_from_another_publication_is_refused(agent: Agent, backend: Backend, acme: str) -> None:
    """A second process-local publication (not the one that logged on) using the real token."""
    spy = f"spy-{backend.name}"
    agent("new", spy, "client", ACME.id, b"not-the-secret!!".hex(), backend.dir)
    try:
        tok = agent("get", acme, "token")
        before = backend.snapshot()
        rej = agent("raw", spy, _rfq(1 << 40, tok), 5.0)
        assert rej is not None and rej.reason == G.BAD_SESSION
        _no_push(backend, before)
        agent("call", acme, "request_quote", "BTC", "buy", Decimal("0.1"), timeout=5.0)  # acme unaffected
    finally:
        agent("close", spy)


def test_logon_refusals(agent: Agent, backend: Backend) -> None:
    before = backend.snapshot()
    agent("new", "nobody", "client", 999, (b"x" * 16).hex(), backend.dir)  # answered on the logon stream
    agent("new", "beta-bad", "client", BETA.id, (b"y" * 16).hex(), backend.dir)
    agent("new", "op-bad", "operator", OPER.id, (b"z" * 16).hex(), backend.dir)
    agent("new", "beta-ok", "client", BETA.id, BETA.secret.hex(), backend.dir)
    try:
        for key, kw, reason in (
            ("nobody", {}, G.UNKNOWN_CLIENT),
            ("beta-bad", {}, G.BAD_CREDENTIALS),
            ("op-bad", {}, G.BAD_CREDENTIALS),
            ("beta-ok", {"timestamp": time.time_ns() - 120 * 10**9}, G.STALE_LOGON),
        ):
            with pytest.raises(AgentError) as e:
                agent("call", key, "logon", timeout=5.0, **kw)
            assert (e.value.type, e.value.reason) == ("LogonRejected", reason), key
        nonce = int.from_bytes(os.urandom(8), "little")
        agent("call", "beta-ok", "logon", nonce=nonce)
        with pytest.raises(AgentError) as e:  # the same nonce again
            agent("call", "beta-ok", "logon", nonce=nonce, timeout=5.0)
        assert (e.value.type, e.value.reason) == ("LogonRejected", G.REPLAYED_NONCE)
    finally:
        for k in ("nobody", "beta-bad", "op-bad", "beta-ok"):
            agent("close", k)
    _no_push(backend, before)


def test_a_logon_must_leave_room_for_the_sequence(agent: Agent, backend: Backend) -> None:
    """The logon's seq becomes the session's first last seq: one of 2^64 - 1 would leave no seq
    for any request. A logon above 2^63 - 1 is refused BAD_SEQUENCE (no session, the previous
    one untouched); at 2^63 - 1 it is taken and the next seq works."""
    key = f"beta-seq-{backend.name}"
    agent("new", key, "client", BETA.id, BETA.secret.hex(), backend.dir)
    try:
        before = backend.snapshot()
        for seq in ((1 << 64) - 1, 1 << 63):
            with pytest.raises(AgentError) as e:
                agent("logon_at", key, seq, 5.0)
            assert (e.value.type, e.value.reason) == ("LogonRejected", G.BAD_SEQUENCE), seq
        assert agent("get", key, "token") == 0  # no session was opened for this client
        rej = agent("raw", key, _rfq(1 << 20, 0, id=BETA.id), 5.0)
        # (another test's beta-fund session may still be open on the Python gateway: BAD_SESSION)
        assert rej is not None and rej.reason in (G.NOT_LOGGED_ON, G.BAD_SESSION)
        _no_push(backend, before)
        tok = agent("logon_at", key, (1 << 63) - 1, 5.0)
        assert tok != 0
        assert agent("raw", key, _rfq(1 << 63, tok, id=BETA.id), 5.0) is None  # taken: no REJECT
        # a refused logon leaves the existing session alone
        with pytest.raises(AgentError) as e:
            agent("logon_at", key, (1 << 64) - 1, 5.0)
        assert e.value.reason == G.BAD_SEQUENCE
        assert agent("raw", key, _rfq((1 << 63) + 1, tok, id=BETA.id), 5.0) is None
    finally:
        agent("close", key)


def test_not_logged_on_and_logout(agent: Agent, backend: Backend) -> None:
    key = f"beta-{backend.name}"
    agent("new", key, "client", BETA.id, BETA.secret.hex(), backend.dir)
    try:
        tok = agent("call", key, "logon")
        assert tok != 0
        agent("call", key, "logout")
        before = backend.snapshot()
        rej = agent("raw", key, _rfq(agent("call", key, "next_seq"), tok, id=BETA.id), 5.0)
        assert rej is not None and rej.reason == G.NOT_LOGGED_ON
        _no_push(backend, before)
        with pytest.raises(AgentError) as e:  # the library knows it has no session
            agent("call", key, "request_quote", "BTC", "buy", Decimal("1"))
        assert e.value.type == "NotLoggedOn"
        agent("call", key, "logon")  # and can come back
        agent("call", key, "request_quote", "BTC", "buy", Decimal("0.1"), timeout=5.0)
    finally:
        agent("close", key)


# ---- tests: delivery ------------------------------------------------------------------------------


def test_full_ring_back_pressure_never_drops(agent: Agent, loopback: Backend) -> None:
    """The gateway ring holds 64 records; with the core paused, 300 RFQs wait (in the gateway and
    in Aeron's log) and every one is answered, in order, once the core resumes."""
    core: LoopbackCore = loopback.core  # type: ignore[attr-defined]
    key = "acme-burst"
    agent("new", key, "client", ACME.id, ACME.secret.hex(), loopback.dir)
    agent("call", key, "logon")
    try:
        full_before = loopback.gateway.stats()["ring_full"]
        core.paused.set()
        threading.Timer(1.0, core.paused.clear).start()
        ids, got = agent("burst", key, 300, 20.0)
        assert [r for _, r in got] == ids  # all answered, in order
        assert all(t == "Quote" for t, _ in got)
        st = loopback.gateway.stats()
        assert st["ring_full"] > full_before and st["ring_backlog"] == 0
    finally:
        core.paused.clear()
        agent("close", key)


def _fill_while_away(agent: Agent, loopback: Backend, key: str, quote: Any, side: str) -> None:
    """The client accepts ``quote`` and logs out before the core answers (the loopback core held
    meanwhile): the execution report and the quote's end reach the gateway for nobody."""
    core: LoopbackCore = loopback.core  # type: ignore[attr-defined]
    drops = loopback.gateway.stats()["no_session_drops"]
    core.paused.set()
    try:
        agent("call", key, "send_accept", quote, side)
        agent("call", key, "logout")
    finally:
        core.paused.clear()
    deadline = time.monotonic() + 5
    while loopback.gateway.stats()["no_session_drops"] < drops + 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert loopback.gateway.stats()["no_session_drops"] >= drops + 2


def test_an_execution_the_client_missed_is_resent(agent: Agent, loopback: Backend) -> None:
    """A fill the core answers while the client has no session (here: it logged out with the
    accept in flight, the core paused) is kept by the gateway: the client's next logon asks for
    every report after the last one it received and gets it (``missed``); another client object
    of the same id (a restarted process) gets all of them with ``executions_since(0)``."""
    key, again = "acme-missed", "acme-restarted"
    agent("new", key, "client", ACME.id, ACME.secret.hex(), loopback.dir)
    agent("call", key, "logon")
    try:
        q1 = agent("call", key, "request_quote", "BTC", "buy", Decimal("1"), timeout=5.0)
        first = agent("call", key, "accept", q1, timeout=5.0)
        assert agent("get", key, "last_trade_id") == first.trade_id
        q2 = agent("call", key, "request_quote", "BTC", "buy", Decimal("2"), timeout=5.0)
        _fill_while_away(agent, loopback, key, q2, "buy")
        assert agent("get", key, "last_trade_id") == first.trade_id  # it never saw the second fill
        agent("call", key, "logon")
        missed = agent("get", key, "missed")
        assert missed is not None and missed.complete and missed.after_trade_id == first.trade_id
        assert [e.qty for e in missed.executions] == [Decimal("2")]
        second = missed.executions[0]
        assert second.trade_id > first.trade_id and second.quote_id == q2.quote_id
        assert agent("get", key, "last_trade_id") == second.trade_id
        agent("new", again, "client", ACME.id, ACME.secret.hex(), loopback.dir)
        agent("call", again, "logon")  # replaces the first object's session
        got = agent("call", again, "executions_since", 0)
        ids = [e.trade_id for e in got.executions]
        assert first.trade_id in ids and second.trade_id in ids and ids == sorted(ids) and got.complete
        assert agent("call", again, "executions_since", second.trade_id).executions == []
        assert loopback.gateway.stats()["resent"] >= 2
    finally:
        agent("close", key)
        try:
            agent("close", again)
        except AgentError:
            pass


# ---- tests: QUOTE_STATUS ------------------------------------------------------------------------------


def _status(agent: Agent, key: str, quote_id: int, *, until_not: s.QuoteStatusCode | None = None) -> Any:
    """The client's ``quote_status`` of ``quote_id``; with ``until_not``, asked again (up to 5 s)
    while it is that state: the report says what the gateway has read of the core's answers, and
    a fill's QUOTE_END may follow its EXECUTION_REPORT on the tap a moment later."""
    deadline = time.monotonic() + 5
    while True:
        st = agent("call", key, "quote_status", quote_id, timeout=5.0)
        if until_not is None or st.state != until_not or time.monotonic() > deadline:
            return st
        time.sleep(0.005)


def test_quote_status_live_filled_cancelled(agent: Agent, backend: Backend, acme: str) -> None:
    Q = s.QuoteStatusCode
    q = agent("call", acme, "request_quote", "BTC", "buy", Decimal("1"), timeout=5.0)
    before = backend.snapshot()
    st = _status(agent, acme, q.quote_id)
    assert (st.quote_id, st.state, st.rfq_id, st.composite, st.instrument) == (q.quote_id, Q.LIVE, q.rfq_id, BTC.id,
                                                                               "BTC")
    assert (st.valid_until, st.core_time, st.trade_id, st.side, st.price) == (q.valid_until, q.core_time, 0, None, None)
    assert st.live
    _no_push(backend, before)  # answered by the gateway: nothing reached the core
    ex = agent("call", acme, "accept", q, timeout=5.0)
    st = _status(agent, acme, q, until_not=Q.LIVE)
    assert (st.state, st.trade_id, st.side, st.price_raw, st.qty_raw) == (Q.FILLED, ex.trade_id, ClientSide.BUY,
                                                                          ex.price_raw, ex.qty_raw)
    assert (st.price, st.qty, st.reason, st.valid_until) == (ex.price, ex.qty, 0, q.valid_until)
    q2 = agent("call", acme, "request_quote", "BTC", "two-way", Decimal("0.5"), timeout=5.0)
    end = agent("call", acme, "cancel", q2, wait=True, timeout=5.0)
    st = _status(agent, acme, q2.quote_id)  # the QUOTE_END was read before it was sent: no wait
    assert (st.state, st.rfq_id, st.core_time, st.trade_id) == (Q.CANCELLED, q2.rfq_id, end.core_time, 0)
    assert backend.gateway.stats()["status_queries"] >= 3


def test_quote_status_expired(agent: Agent, engine: Backend) -> None:
    """The real core ends a quote past its valid_until at its next input: then EXPIRED (before
    that the core has not said so, and the report is LIVE)."""
    engine.refresh()
    key = "acme-expiry"
    agent("new", key, "client", ACME.id, ACME.secret.hex(), engine.dir)
    agent("call", key, "logon")
    try:
        q = agent("call", key, "request_quote", "BTC", "sell", Decimal("0.1"), ttl_ms=30, timeout=5.0)
        assert q.valid_until <= q.core_time + 30_000_000
        time.sleep(0.06)
        engine.refresh()  # an input: the core expires the quote first
        st = _status(agent, key, q.quote_id, until_not=s.QuoteStatusCode.LIVE)
        assert (st.state, st.valid_until, st.trade_id) == (s.QuoteStatusCode.EXPIRED, q.valid_until, 0)
        assert st.core_time >= q.valid_until
    finally:
        agent("close", key)


def test_quote_status_foreign_quote_is_the_same_answer_as_an_unknown_id(agent: Agent, backend: Backend,
                                                                         acme: str) -> None:
    """Identity comes from the session: beta's quote, asked for by acme, gets exactly the answer
    of an id nobody has (so acme cannot count or probe beta's quotes); beta sees its own."""
    beta = f"beta-qs-{backend.name}"
    agent("new", beta, "client", BETA.id, BETA.secret.hex(), backend.dir)
    agent("call", beta, "logon")
    try:
        theirs = agent("call", beta, "request_quote", "BTC", "buy", Decimal("0.2"), timeout=5.0)
        mine = agent("call", acme, "request_quote", "BTC", "buy", Decimal("0.2"), timeout=5.0)
        before = backend.snapshot()
        foreign = _status(agent, acme, theirs.quote_id)
        nobody = (1 << 63) + 12345
        unknown = _status(agent, acme, nobody)
        assert foreign.state == unknown.state == s.QuoteStatusCode.UNKNOWN_QUOTE
        assert foreign.reason == unknown.reason == RfqReject.UNKNOWN_QUOTE
        assert (foreign.quote_id, unknown.quote_id) == (theirs.quote_id, nobody)
        assert dataclasses.replace(foreign, quote_id=0) == dataclasses.replace(unknown, quote_id=0)
        assert (foreign.rfq_id, foreign.valid_until, foreign.core_time, foreign.composite) == (0, 0, 0, 0)
        # the answer for acme's own quote is not what beta gets for it, and the other way round
        assert _status(agent, beta, theirs.quote_id).state == s.QuoteStatusCode.LIVE
        assert _status(agent, beta, mine.quote_id).state == s.QuoteStatusCode.UNKNOWN_QUOTE
        assert _status(agent, acme, (1 << 64) - 1).state == s.QuoteStatusCode.UNKNOWN_QUOTE
        _no_push(backend, before)
    finally:
        agent("close", beta)


QUOTE_STATUS_MALFORMED: dict[str, tuple[Callable[[int, int], bytes], G]] = {
    "body-len": (lambda q, t: _patch(s.encode(s.QuoteStatusMsg(1), session=t, seq=q, id=ACME.id), 6, "<H", 16),
                 G.LENGTH_MISMATCH),
    "trailing": (lambda q, t: s.encode(s.QuoteStatusMsg(1), session=t, seq=q, id=ACME.id) + bytes(8),
                 G.LENGTH_MISMATCH),
    "truncated": (lambda q, t: s.encode(s.QuoteStatusMsg(1), session=t, seq=q, id=ACME.id)[:36], G.TRUNCATED),
    "no-mac": (lambda q, t: s.encode(s.QuoteStatusMsg(1), session=t ^ 1, seq=q, id=ACME.id), G.BAD_SESSION),
    "replayed-seq": (lambda q, t: s.encode(s.QuoteStatusMsg(1), session=t, seq=1, id=ACME.id), G.BAD_SEQUENCE),
    "as-report": (lambda q, t: s.encode(s.QuoteStatusReportMsg(1, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0), session=t, seq=q,
                                        id=ACME.id), G.UNEXPECTED_TYPE),
}


@pytest.mark.parametrize("case", list(QUOTE_STATUS_MALFORMED))
def test_malformed_quote_status_is_refused(agent: Agent, backend: Backend, acme: str, case: str) -> None:
    build, reason = QUOTE_STATUS_MALFORMED[case]
    agent("call", acme, "request_quote", "BTC", "buy", Decimal("0.1"), timeout=5.0)  # seq > 1 from here
    before = backend.snapshot()
    queries = backend.gateway.stats()["status_queries"]
    rej = agent("raw", acme, build(agent("call", acme, "next_seq"), agent("get", acme, "token")), 5.0)
    assert rej is not None and rej.reason == reason and rej.by_gateway
    assert backend.gateway.stats()["status_queries"] == queries  # not answered as a query
    _no_push(backend, before)
    if reason != G.BAD_SESSION:  # the session goes on (as test_malformed_requests_are_refused_and_change_nothing)
        assert _status(agent, acme, 1 << 62).state == s.QuoteStatusCode.UNKNOWN_QUOTE


def test_quote_status_of_a_fill_the_client_never_heard_of(agent: Agent, loopback: Backend) -> None:
    """The core fills a quote while its client has no session (the report goes to nobody): the
    client, logged on again, asks what became of the quote and learns the fill (the gateway
    read it off the core's answers anyway)."""
    key = "acme-status-missed"
    agent("new", key, "client", ACME.id, ACME.secret.hex(), loopback.dir)
    agent("call", key, "logon")
    try:
        q = agent("call", key, "request_quote", "BTC", "sell", Decimal("3"), timeout=5.0)
        _fill_while_away(agent, loopback, key, q, "sell")
        agent("call", key, "logon")
        st = _status(agent, key, q.quote_id)
        assert (st.state, st.side, st.qty, st.price) == (s.QuoteStatusCode.FILLED, ClientSide.SELL, Decimal("3"),
                                                         q.sell_price)
        assert st.trade_id > 0
    finally:
        agent("close", key)


def test_udp_loopback_channel(agent: Agent, gateway_cls: Any) -> None:
    """The same gateway and client over aeron:udp on 127.0.0.1 (one shared media driver)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    channel = f"aeron:udp?endpoint=127.0.0.1:{port}"
    with loopback_desk(gateway_cls, channel=channel) as (_core, driver, _gw):
        agent("new", "udp", "client", ACME.id, ACME.secret.hex(), driver.dir, channel=channel)
        agent("call", "udp", "logon", timeout=10.0)
        q = agent("call", "udp", "request_quote", "BTC", "sell", Decimal("2"), timeout=5.0)
        assert q.sell_qty == Decimal("2") and tuple(s.side for s in q.sides) == (ClientSide.SELL,)
        ex = agent("call", "udp", "accept", q, timeout=5.0)
        assert ex.qty == Decimal("2")
        agent("close", "udp")


def test_thousands_of_mutated_frames_from_another_process(agent: Agent, backend: Backend, acme: str) -> None:
    """2,000 signed requests with random bytes changed, cut short or padded, sprayed without
    waiting from the client's process: the gateway counts them all, crashes on none, lets none
    into the core (a changed byte breaks the MAC, or the layout), and the session still works."""
    st0 = backend.gateway.stats()
    before = backend.snapshot()
    assert agent("spray", acme, 2000, 11, timeout=60.0) == 2000
    deadline = time.monotonic() + 20
    while backend.gateway.stats()["in"] < st0["in"] + 2000 and time.monotonic() < deadline:
        time.sleep(0.05)
    st = backend.gateway.stats()
    assert st["in"] >= st0["in"] + 2000, (st0["in"], st["in"])
    assert st["internal_errors"] == st0["internal_errors"] == 0
    refused = sum(st["rejects"].values()) - sum(st0["rejects"].values())
    dropped = sum(st["unanswerable"].values()) - sum(st0["unanswerable"].values())
    assert refused + dropped == 2000, (refused, dropped)
    _no_push(backend, before)
    agent("call", acme, "request_quote", "BTC", "buy", Decimal("0.1"), timeout=5.0)


def test_gateway_counters(loopback: Backend) -> None:
    st = loopback.gateway.stats()
    for k in ("in", "out", "pushed", "tap_records", "rejects", "unanswerable", "ring_full", "no_session_drops",
              "not_connected_drops", "slow_consumer_disconnects"):
        assert k in st
    assert st["in"] > 0 and st["out"] > 0 and st["pushed"] > 0


# ---- the gateway's request path, fuzzed in-process ---------------------------------------------------


class _Hdr:
    """Stands in for the pyaeron fragment header (only ``session_id`` is read)."""

    def __init__(self, session_id: int) -> None:
        self.session_id = session_id


@pytest.fixture(scope="module")
def inproc_gateway() -> Iterator[Any]:
    from rfqcore.gateway.server import Gateway

    ring_dir = _shm_dir("rfqgw-fuzz-")
    inp, tap = f"{ring_dir}/in.ring", f"{ring_dir}/tap.ring"
    ring_create(inp, 1 << 16)
    ring_create(tap, 1 << 10)
    driver = EmbeddedDriver()
    gw = Gateway(SETTINGS, inp, tap, aeron_dir=driver.dir)
    try:
        import hashlib
        import hmac

        nonce, ts = 42, time.time_ns()
        mac = hmac.new(ACME.secret, s.logon_mac_input(ACME.id, nonce, ts), hashlib.sha256).digest()
        gw._on_fragment(s.encode(s.LogonMsg(nonce, ts, mac), seq=1, id=ACME.id), _Hdr(7))
        assert gw.stats()["logons"] == 1
        gw.test_token = gw._sessions[(0, ACME.id)].token  # type: ignore[attr-defined]
        gw.test_key = gw._sessions[(0, ACME.id)].key  # type: ignore[attr-defined]
        yield gw
    finally:
        gw.close()
        driver.close()
        shutil.rmtree(ring_dir, ignore_errors=True)


def _valid_requests(token: int) -> list[bytes]:
    return [
        s.encode(s.RfqMsg(1, BTC.id, 0, 0, 10**8, 0, 0, 0), session=token, seq=10, id=ACME.id),
        s.encode(s.AcceptMsg(1, 2, BTC.id, 0, 6_000_000, 10**8), session=token, seq=10, id=ACME.id),
        s.encode(s.CancelMsg(1), session=token, seq=10, id=ACME.id),
        s.encode(s.ControlMsg(1, 1, 0, 0, 0, 1, 0), session=token, seq=10, id=OPER.id, role=1),
        s.encode(s.LogonMsg(1, 2, b"\0" * 32), seq=10, id=ACME.id),
    ]


def test_gateway_never_raises_and_pushes_only_valid_requests(inproc_gateway: Any) -> None:
    """Mutated requests straight into the gateway's fragment handler: it never raises, counts no
    internal error, and pushes a record only for a message that decodes, names the logged-on
    session with its token and publication, and carries a new sequence number."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as hst

    gw = inproc_gateway
    token = gw.test_token
    key = gw.test_key
    seeds = _valid_requests(token)
    seq = [100]

    @settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(hst.integers(0, len(seeds) - 1), hst.lists(hst.tuples(hst.integers(0, 200), hst.integers(0, 255)), max_size=4),
           hst.integers(-8, 8), hst.booleans())
    def run(which: int, flips: list[tuple[int, int]], cut: int, right_pub: bool) -> None:
        seq[0] += 1
        raw = bytearray(seeds[which])
        if len(raw) >= 24:
            struct.pack_into("<Q", raw, 16, seq[0])  # a fresh sequence number unless a flip hits it
        if int.from_bytes(raw[8:16], "little") == token:
            raw[8:16] = s.request_mac(key, raw)  # signed as the session signs, then mutated
        for i, v in flips:
            if i < len(raw):
                raw[i] = v
        raw = raw[: len(raw) + cut] if cut < 0 else raw + bytes(cut)
        before = gw.n_pushed
        gw._on_fragment(bytes(raw), _Hdr(7 if right_pub else 8))
        pushed = gw.n_pushed - before
        assert gw.n_errors == 0
        try:
            h, body = s.decode(bytes(raw))
        except s.SchemaError:
            assert pushed == 0
            return
        ok = (h.type in (s.MsgType.RFQ, s.MsgType.ACCEPT, s.MsgType.CANCEL) and h.role == 0 and h.id == ACME.id
              and bytes(raw[8:16]) == s.request_mac(key, raw) and right_pub
              and not (h.type == s.MsgType.RFQ and body.flags & ~1))
        if not ok:
            assert pushed == 0, (h, body)

    run()
    assert gw.n_errors == 0


def test_a_sequence_step_above_2_32_is_refused_and_does_not_wedge_the_session(inproc_gateway: Any) -> None:
    """The Python gateway's rule at its boundary (MAX_SEQ_STEP, as the Rust gateway's): a seq
    more than 2^32 above the session's last is BAD_SEQUENCE and the last stays where it was, so
    2^64 - 1 cannot use up the sequence space; a step of exactly 2^32 is taken."""
    import hashlib
    import hmac

    from rfqcore.gateway.server import MAX_SEQ_STEP

    assert MAX_SEQ_STEP == 1 << 32
    gw = inproc_gateway

    def logon() -> Any:
        nonce, ts = int.from_bytes(os.urandom(8), "little"), time.time_ns()
        mac = hmac.new(ACME.secret, s.logon_mac_input(ACME.id, nonce, ts), hashlib.sha256).digest()
        gw._on_fragment(s.encode(s.LogonMsg(nonce, ts, mac), seq=1, id=ACME.id), _Hdr(7))
        session = gw._sessions[(0, ACME.id)]
        gw.test_token, gw.test_key = session.token, session.key  # for the tests after this one
        return session

    session = logon()  # a fresh session: its last seq is the logon's, 1

    def send(seq: int) -> tuple[int, int]:
        """(records pushed, BAD_SEQUENCE rejects) for a signed RFQ with this seq."""
        pushed, refused = gw.n_pushed + len(gw._in_backlog), gw.rejects["BAD_SEQUENCE"]
        raw = bytearray(_rfq(seq, session.token))
        raw[8:16] = s.request_mac(session.key, raw)
        gw._on_fragment(bytes(raw), _Hdr(7))
        assert gw.n_errors == 0
        return gw.n_pushed + len(gw._in_backlog) - pushed, gw.rejects["BAD_SEQUENCE"] - refused

    assert send(2) == (1, 0)
    for wild in ((1 << 64) - 1, 2 + MAX_SEQ_STEP + 1):
        assert send(wild) == (0, 1), wild
        assert session.last_seq == 2, wild  # the last is unchanged
    assert send(3) == (1, 0)  # the next normal request works
    assert send(3 + MAX_SEQ_STEP) == (1, 0)  # the largest step allowed
    assert session.last_seq == 3 + MAX_SEQ_STEP
    assert send(3 + MAX_SEQ_STEP) == (0, 1)  # still strictly increasing
    logon()  # leave a session with a low last seq behind


def test_the_python_gateway_reports_every_quote_state_from_the_core_answers(inproc_gateway: Any,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """The fallback's QUOTE_STATUS in process, fed the core's answers as tap records: every state
    (REJECTED and EXPIRED included, which the end-to-end tests cannot all provoke), a quote that
    only its end told of, another client's quote answered with the bytes of an unknown id, and
    nothing pushed (the Rust gateway's twin: rfq-gateway tests/gateway.rs)."""
    import hashlib
    import hmac

    Q = s.QuoteStatusCode
    gw = inproc_gateway
    nonce, ts = int.from_bytes(os.urandom(8), "little"), time.time_ns()
    mac = hmac.new(ACME.secret, s.logon_mac_input(ACME.id, nonce, ts), hashlib.sha256).digest()
    gw._on_fragment(s.encode(s.LogonMsg(nonce, ts, mac), seq=1, id=ACME.id), _Hdr(7))
    session = gw._sessions[(0, ACME.id)]
    gw.test_token, gw.test_key = session.token, session.key  # for the tests after this one
    sent: list[bytes] = []
    monkeypatch.setattr(gw, "_emit", lambda out, data: sent.append(bytes(data)))
    base = 1 << 50  # quote ids nothing else here uses

    def rec(kind: Kind, source: int, seq: int, *, side: int = 0, flags: int = int(Flag.END), ts_event: int = 0,
            ts_recv: int = 0, price: int = 0, qty: int = 0, aux: int = 0) -> None:
        gw._on_record(int(kind), BTC.id, side, flags, source, seq, ts_event, ts_recv, price, qty, aux, 0)

    for i in range(1, 6):  # 1 live, 2 filled, 3 rejected at the hit, 4 expired, 5 cancelled
        rec(Kind.RFQ_QUOTE, ACME.id, base + i, ts_event=5_000 + i, ts_recv=900, price=6_000_100, qty=10**8, aux=90 + i)
    rec(Kind.RFQ_QUOTE, BETA.id, base + 6, flags=0, ts_event=7, ts_recv=8, price=6_000_100, qty=1, aux=1)  # two-way
    rec(Kind.RFQ_QUOTE, BETA.id, base + 6, side=1, ts_event=7, ts_recv=8, price=6_000_000, qty=1, aux=1)
    rec(Kind.EXEC, ACME.id, 777, price=6_000_100, qty=10**8, aux=base + 2, ts_event=5)
    rec(Kind.EXEC_FEES, ACME.id, 777, price=3, qty=6_000_100 * 10**8, aux=92, ts_recv=901)
    for i, state, reason in ((2, QuoteEnd.FILLED, 0), (3, QuoteEnd.REJECTED, 33), (4, QuoteEnd.EXPIRED, 0),
                             (5, QuoteEnd.CANCELLED, 0), (7, QuoteEnd.EXPIRED, 0)):  # 7: quoted before the start
        rec(Kind.QUOTE_END, ACME.id, base + i, side=reason, ts_event=90 + i, ts_recv=950 + i, aux=int(state))
    sent.clear()
    seq = [1]

    def ask(quote_id: int) -> Any:
        seq[0] += 1
        raw = bytearray(s.encode(s.QuoteStatusMsg(quote_id), seq=seq[0], id=ACME.id))
        s.seal(session.key, raw, len(raw))
        pushed = gw.n_pushed + len(gw._in_backlog)
        gw._on_fragment(bytes(raw), _Hdr(7))
        assert gw.n_pushed + len(gw._in_backlog) == pushed and len(sent) == 1, sent
        h, body = s.decode(sent.pop())
        assert (h.type, h.session, h.id) == (s.MsgType.QUOTE_STATUS_REPORT, session.token, ACME.id)
        return body

    R = s.QuoteStatusReportMsg
    assert ask(base + 1) == R(base + 1, 91, BTC.id, Q.LIVE, 0, 0, 5_001, 0, 0, 0, 900)
    assert ask(base + 2) == R(base + 2, 92, BTC.id, Q.FILLED, 0, 0, 5_002, 777, 6_000_100, 10**8, 952)
    assert ask(base + 3) == R(base + 3, 93, BTC.id, Q.REJECTED, 33, 0, 5_003, 0, 0, 0, 953)
    assert ask(base + 4)[3] == Q.EXPIRED and ask(base + 5)[3] == Q.CANCELLED
    assert ask(base + 7) == R(base + 7, 97, BTC.id, Q.EXPIRED, 0, 0, 0, 0, 0, 0, 957)
    unknown = R(0, 0, 0, Q.UNKNOWN_QUOTE, int(RfqReject.UNKNOWN_QUOTE), 0, 0, 0, 0, 0, 0)
    assert ask(base + 6) == unknown._replace(quote_id=base + 6)  # beta's quote: as if nobody had it
    assert ask(base + 99) == unknown._replace(quote_id=base + 99)
    assert session.last_seq == seq[0]  # each query was taken
