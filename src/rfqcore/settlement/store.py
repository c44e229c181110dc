"""The settlement store: trade capture, netting, instructions — SQLite or PostgreSQL.

One interface, :class:`SettlementStore`, two back ends sharing the SQL:

- :class:`SqliteStore` (default): stdlib ``sqlite3``, WAL journal, ``STRICT`` tables (a float
  can never be stored in an integer column);
- :class:`PostgresStore`: psycopg 3 (``pip install 'rfqcore[postgres]'``).

:func:`open_store` picks one from a URL: ``sqlite:///path/to/file.db``, ``sqlite:///:memory:``,
or a libpq URL/DSN ``postgresql://user@host:port/db``.

Money columns are exact integers. Per-trade values (price, qty, notional, fee) fit 63 bits by
the core's contract and are ``INTEGER``/``bigint``; their scale is derivable from the stored
``price_decimals``/``qty_decimals``. Aggregates (instruction amounts) can exceed 63 bits over a
cycle, so they are computed in Python integers and stored as ``numeric(40,0)`` in PostgreSQL
and as canonical decimal-integer ``TEXT`` in SQLite (whose ``INTEGER`` is 64-bit and whose
``SUM`` overflows), each with its ``scale`` column.

Schema changes are ordered, idempotent migration steps recorded in ``schema_version``
(:data:`MIGRATIONS`); opening a store applies the missing ones.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Final

from rfqcore.records import ClientSide
from rfqcore.settlement.model import (
    TRANSITIONS,
    Cycle,
    CycleCalendar,
    Instruction,
    InstructionEvent,
    InvalidTransition,
    NetAmount,
    SettlementError,
    State,
    Trade,
    UnknownInstruction,
    net_trades,
    now_ns,
    reference_id,
)

__all__ = [
    "MIGRATIONS",
    "LATEST_VERSION",
    "CaptureResult",
    "StoreUnavailable",
    "SettlementStore",
    "SqliteStore",
    "PostgresStore",
    "open_store",
]


class StoreUnavailable(SettlementError):
    """The store cannot be reached (server down, connection lost); retry later."""


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    description: str
    statements: tuple[str, ...]  # with {BIGINT} {SMALLINT} {AMOUNT} {SERIAL} {STRICT} placeholders


#: Ordered schema steps. Each is idempotent (IF NOT EXISTS), so a step interrupted half-way is
#: simply applied again; the step and its ``schema_version`` row commit in one transaction.
MIGRATIONS: Final[tuple[Migration, ...]] = (
    Migration(1, "meta and trades", (
        "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL){STRICT}",
        """CREATE TABLE IF NOT EXISTS trades (
            trade_id {BIGINT} PRIMARY KEY CHECK (trade_id > 0),
            client_id {BIGINT} NOT NULL,
            client TEXT NOT NULL,
            composite_id {BIGINT} NOT NULL,
            composite TEXT NOT NULL,
            base_asset TEXT NOT NULL,
            quote_asset TEXT NOT NULL,
            side {SMALLINT} NOT NULL CHECK (side IN (0, 1)),
            price {BIGINT} NOT NULL CHECK (price >= 0),
            qty {BIGINT} NOT NULL CHECK (qty > 0),
            notional {BIGINT} NOT NULL CHECK (notional >= 0),
            fee {BIGINT} NOT NULL CHECK (fee >= 0),
            price_decimals {SMALLINT} NOT NULL,
            qty_decimals {SMALLINT} NOT NULL,
            quote_id {BIGINT} NOT NULL,
            rfq_id {BIGINT} NOT NULL,
            accept_id {BIGINT} NOT NULL,
            core_time_ns {BIGINT} NOT NULL,
            captured_at_ns {BIGINT} NOT NULL
        ){STRICT}""",
        "CREATE INDEX IF NOT EXISTS trades_time ON trades (core_time_ns)",
    )),
    Migration(2, "settlement instructions and their lifecycle events", (
        """CREATE TABLE IF NOT EXISTS instructions (
            ref TEXT PRIMARY KEY,
            cycle TEXT NOT NULL,
            cycle_start_ns {BIGINT} NOT NULL,
            cycle_end_ns {BIGINT} NOT NULL,
            client_id {BIGINT} NOT NULL,
            client TEXT NOT NULL,
            asset TEXT NOT NULL,
            scale {SMALLINT} NOT NULL,
            principal {AMOUNT} NOT NULL,
            fees {AMOUNT} NOT NULL,
            amount {AMOUNT} NOT NULL,
            trades {BIGINT} NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('pending', 'affirmed', 'settled', 'expired', 'cancelled')),
            created_by TEXT NOT NULL,
            created_at_ns {BIGINT} NOT NULL,
            updated_by TEXT NOT NULL,
            updated_at_ns {BIGINT} NOT NULL,
            version {BIGINT} NOT NULL,
            UNIQUE (cycle_end_ns, client_id, asset)
        ){STRICT}""",
        """CREATE TABLE IF NOT EXISTS instruction_events (
            ref TEXT NOT NULL REFERENCES instructions (ref),
            seq {BIGINT} NOT NULL,
            from_state TEXT,
            to_state TEXT NOT NULL,
            actor TEXT NOT NULL,
            at_ns {BIGINT} NOT NULL,
            note TEXT NOT NULL,
            PRIMARY KEY (ref, seq)
        ){STRICT}""",
    )),
    Migration(3, "capture rejects (conflicting replays, malformed trades); trades by client", (
        """CREATE TABLE IF NOT EXISTS capture_rejects (
            trade_id {BIGINT} NOT NULL,
            reason TEXT NOT NULL,
            payload TEXT NOT NULL,
            seen_at_ns {BIGINT} NOT NULL,
            PRIMARY KEY (trade_id, reason)
        ){STRICT}""",
        "CREATE INDEX IF NOT EXISTS trades_client_time ON trades (client_id, core_time_ns)",
    )),
)
LATEST_VERSION: Final[int] = MIGRATIONS[-1].version

_TRADE_COLS: Final = ("trade_id", "client_id", "client", "composite_id", "composite", "base_asset", "quote_asset",
                      "side", "price", "qty", "notional", "fee", "price_decimals", "qty_decimals", "quote_id",
                      "rfq_id", "accept_id", "core_time_ns")
_INSTR_COLS: Final = ("ref", "cycle", "cycle_start_ns", "cycle_end_ns", "client_id", "client", "asset", "scale",
                      "principal", "fees", "amount", "trades", "state", "created_by", "created_at_ns", "updated_by",
                      "updated_at_ns", "version")


@dataclass(slots=True)
class CaptureResult:
    """What one :meth:`SettlementStore.capture` did."""

    inserted: int = 0
    duplicates: int = 0  # already captured, identical: a replay, nothing changed
    rejected: list[tuple[int, str]] = field(default_factory=list)  # (trade id, reason), kept in capture_rejects


def _trade_row(t: Trade) -> tuple[int | str, ...]:
    return (t.trade_id, t.client_id, t.client, t.composite_id, t.composite, t.base, t.quote, int(t.side), t.price,
            t.qty, t.notional, t.fee, t.price_decimals, t.qty_decimals, t.quote_id, t.rfq_id, t.accept_id,
            t.core_time_ns)


def _row_trade(r: Sequence[Any]) -> Trade:
    return Trade(int(r[0]), int(r[1]), r[2], int(r[3]), r[4], r[5], r[6], ClientSide(int(r[7])), int(r[8]),
                 int(r[9]), int(r[10]), int(r[11]), int(r[12]), int(r[13]), int(r[14]), int(r[15]), int(r[16]),
                 int(r[17]))


def _payload(t: Trade) -> str:
    d = asdict(t)
    d["side"] = int(t.side)
    return json.dumps(d, sort_keys=True, default=str)


class SettlementStore(ABC):
    """Trade capture, netting and settlement instructions over one SQL database.

    Methods are thread-safe (one connection, serialised); every write is one transaction, so a
    refused operation changes nothing. All amounts are exact ints (see the module doc).
    """

    dialect: str = ""
    url: str = ""

    def __init__(self) -> None:
        self._lock = threading.RLock()

    # -- back-end specifics ----------------------------------------------------------------

    @abstractmethod
    def _types(self) -> dict[str, str]: ...

    @abstractmethod
    @contextmanager
    def _tx(self) -> Iterator[Any]:
        """A transaction; yields a cursor-like object with ``execute``/``executemany``."""

    @abstractmethod
    def _amt(self, v: int) -> Any:
        """An aggregate amount as the back end stores it."""

    def _sql(self, q: str) -> str:
        return q

    def _exec(self, cur: Any, q: str, params: Sequence[Any] = ()) -> Any:
        cur.execute(self._sql(q), tuple(params))
        return cur

    def _lock_for_update(self) -> str:
        return ""

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> SettlementStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- schema ----------------------------------------------------------------------------

    def _ensure_version_table(self, cur: Any) -> None:
        self._exec(cur, self._ddl("CREATE TABLE IF NOT EXISTS schema_version (version {BIGINT} PRIMARY KEY, "
                                  "description TEXT NOT NULL, applied_at_ns {BIGINT} NOT NULL){STRICT}"))

    def _ddl(self, stmt: str) -> str:
        return stmt.format(**self._types())

    def schema_version(self) -> int:
        """The highest applied migration (0 = empty database)."""
        with self._lock, self._tx() as cur:
            self._ensure_version_table(cur)
            row = self._exec(cur, "SELECT MAX(version) FROM schema_version").fetchone()
            return int(row[0]) if row and row[0] is not None else 0

    def migrate(self, target: int | None = None) -> int:
        """Apply every missing migration up to ``target`` (default: the latest), each in its own
        transaction with its ``schema_version`` row; returns the version reached. A database
        written by a newer rfqcore (a version this code does not know) is refused."""
        target = LATEST_VERSION if target is None else target
        if not 0 <= target <= LATEST_VERSION:
            raise SettlementError(f"no schema version {target} (this rfqcore knows 1..{LATEST_VERSION})")
        current = self.schema_version()
        if current > LATEST_VERSION:
            raise SettlementError(f"{self.url}: schema version {current} is newer than this rfqcore "
                                  f"({LATEST_VERSION}); upgrade rfqcore")
        for m in MIGRATIONS:
            if current < m.version <= target:
                with self._lock, self._tx() as cur:
                    self._migration_lock(cur)
                    self._ensure_version_table(cur)
                    row = self._exec(cur, "SELECT 1 FROM schema_version WHERE version = ?", (m.version,)).fetchone()
                    if row:  # applied meanwhile by another process
                        continue
                    for stmt in m.statements:
                        self._exec(cur, self._ddl(stmt))
                    self._exec(cur, "INSERT INTO schema_version (version, description, applied_at_ns) VALUES (?, ?, ?)",
                               (m.version, m.description, now_ns()))
        return self.schema_version()

    def _migration_lock(self, cur: Any) -> None:
        pass

    def _require_schema(self, cur: Any) -> None:
        pass

    # -- meta: calendar and watermark ------------------------------------------------------

    def _get_meta(self, cur: Any, key: str) -> str | None:
        row = self._exec(cur, "SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def _set_meta(self, cur: Any, key: str, value: str) -> None:
        self._exec(cur, "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = "
                        "excluded.value", (key, value))

    def calendar(self) -> CycleCalendar:
        """The store's settlement cycles (default: daily, cut-off 00:00 UTC)."""
        with self._lock, self._tx() as cur:
            c = self._get_meta(cur, "cycle_cutoff_s")
            p = self._get_meta(cur, "cycle_period_s")
        return CycleCalendar(int(c) if c is not None else 0, int(p) if p is not None else 86_400)

    def set_calendar(self, cal: CycleCalendar) -> None:
        """Change the cycle cut-off/period; refused once instructions exist (their cycles would
        no longer match the calendar)."""
        with self._lock, self._tx() as cur:
            if cal == self._calendar_in(cur):
                return
            if self._exec(cur, "SELECT 1 FROM instructions LIMIT 1").fetchone():
                raise SettlementError("the settlement calendar cannot change once instructions exist")
            self._set_meta(cur, "cycle_cutoff_s", str(cal.cutoff_s))
            self._set_meta(cur, "cycle_period_s", str(cal.period_s))

    def _calendar_in(self, cur: Any) -> CycleCalendar:
        c = self._get_meta(cur, "cycle_cutoff_s")
        p = self._get_meta(cur, "cycle_period_s")
        return CycleCalendar(int(c) if c is not None else 0, int(p) if p is not None else 86_400)

    def watermark(self) -> int:
        """The core time up to which the captured flow is complete (0 = nothing yet): the writer
        advances it with every committed batch, trades or not."""
        with self._lock, self._tx() as cur:
            v = self._get_meta(cur, "watermark_ns")
        return int(v) if v is not None else 0

    # -- capture ---------------------------------------------------------------------------

    def capture(self, trades: Sequence[Trade], watermark_ns: int | None = None) -> CaptureResult:
        """Capture ``trades`` in one transaction, idempotently by trade id.

        A trade already captured with identical content is a duplicate (a replay): nothing
        changes. One with the same id but different content, or a malformed one, is not
        captured but kept in ``capture_rejects`` with the reason (never silently dropped).
        The watermark moves to ``max(watermark, watermark_ns, trade core times)``.
        """
        res = CaptureResult()
        now = now_ns()
        with self._lock, self._tx() as cur:
            good: dict[int, Trade] = {}
            rejects: list[tuple[Trade, str]] = []
            for t in trades:
                p = t.problems()
                if p:
                    rejects.append((t, "malformed: " + "; ".join(p)))
                elif t.trade_id in good:
                    if good[t.trade_id] == t:
                        res.duplicates += 1
                    else:
                        rejects.append((t, "conflict: same trade id, different content (same batch)"))
                else:
                    good[t.trade_id] = t
            ids = list(good)
            existing: dict[int, Trade] = {}
            for i in range(0, len(ids), 500):
                chunk = ids[i:i + 500]
                q = f"SELECT {', '.join(_TRADE_COLS)} FROM trades WHERE trade_id IN ({', '.join('?' * len(chunk))})"
                for r in self._exec(cur, q, chunk).fetchall():
                    existing[int(r[0])] = _row_trade(r)
            new: list[tuple[int | str, ...]] = []
            for tid, t in good.items():
                old = existing.get(tid)
                if old is None:
                    new.append(_trade_row(t) + (now,))
                elif old == t:
                    res.duplicates += 1
                else:
                    rejects.append((t, "conflict: same trade id as a captured trade, different content"))
            if new:
                cols = _TRADE_COLS + ("captured_at_ns",)
                cur.executemany(self._sql(f"INSERT INTO trades ({', '.join(cols)}) VALUES "
                                          f"({', '.join('?' * len(cols))}) ON CONFLICT (trade_id) DO NOTHING"), new)
                res.inserted = len(new)
            for t, reason in rejects:
                tid = t.trade_id if type(t.trade_id) is int and 0 <= t.trade_id < 1 << 63 else 0
                self._exec(cur, "INSERT INTO capture_rejects (trade_id, reason, payload, seen_at_ns) VALUES "
                                "(?, ?, ?, ?) ON CONFLICT (trade_id, reason) DO NOTHING",
                           (tid, reason, _payload(t), now))
                res.rejected.append((tid, reason))
            marks = [t.core_time_ns for t in good.values()]
            if watermark_ns is not None:
                marks.append(watermark_ns)
            if marks:
                old_wm = int(self._get_meta(cur, "watermark_ns") or 0)
                if max(marks) > old_wm:
                    self._set_meta(cur, "watermark_ns", str(max(marks)))
        return res

    def rejects(self) -> list[tuple[int, str, str]]:
        """Trades refused at capture: (trade id, reason, payload JSON)."""
        with self._lock, self._tx() as cur:
            return [(int(r[0]), r[1], r[2]) for r in self._exec(
                cur, "SELECT trade_id, reason, payload FROM capture_rejects ORDER BY trade_id, reason").fetchall()]

    # -- queries ---------------------------------------------------------------------------

    def trades(self, *, client_id: int | None = None, start_ns: int | None = None, end_ns: int | None = None,
               cycle: Cycle | None = None) -> list[Trade]:
        """Captured trades in trade-id order (the core's order), optionally of one client and
        within ``[start_ns, end_ns)`` core time (or one cycle)."""
        if cycle is not None:
            start_ns, end_ns = cycle.start_ns, cycle.end_ns
        where, params = [], []
        if client_id is not None:
            where.append("client_id = ?")
            params.append(client_id)
        if start_ns is not None:
            where.append("core_time_ns >= ?")
            params.append(start_ns)
        if end_ns is not None:
            where.append("core_time_ns < ?")
            params.append(end_ns)
        q = f"SELECT {', '.join(_TRADE_COLS)} FROM trades"
        if where:
            q += " WHERE " + " AND ".join(where)
        with self._lock, self._tx() as cur:
            return [_row_trade(r) for r in self._exec(cur, q + " ORDER BY trade_id", params).fetchall()]

    def trade_count(self) -> int:
        with self._lock, self._tx() as cur:
            return int(self._exec(cur, "SELECT COUNT(*) FROM trades").fetchone()[0])

    def clients(self) -> dict[int, str]:
        """Client ids and names seen in captured trades."""
        with self._lock, self._tx() as cur:
            return {int(r[0]): r[1] for r in self._exec(
                cur, "SELECT client_id, MIN(client) FROM trades GROUP BY client_id ORDER BY client_id").fetchall()}

    def cycles(self) -> list[Cycle]:
        """Every cycle with captured trades, oldest first."""
        cal = self.calendar()
        off, p = cal.cutoff_s * 1_000_000_000, cal.period_s * 1_000_000_000
        with self._lock, self._tx() as cur:
            ks = sorted(int(r[0]) for r in self._exec(
                cur, "SELECT DISTINCT (core_time_ns - ?) / ? FROM trades WHERE core_time_ns >= ?",
                (off, p, off)).fetchall())
        return [cal.cycle_of(off + k * p) for k in ks]

    # -- netting and instructions ----------------------------------------------------------

    def net(self, cycle: Cycle) -> list[NetAmount]:
        """Net amounts per client and asset of ``cycle`` (computed from the captured trades)."""
        return net_trades(self.trades(cycle=cycle))

    def generate_instructions(self, cycle: Cycle, *, actor: str, at_ns: int | None = None,
                              force: bool = False) -> list[Instruction]:
        """Create the pending settlement instructions of a closed cycle: one per client and asset
        with a non-zero net, reference ids from :func:`reference_id` (running it again creates
        nothing new).

        The cycle is closed when the captured flow's watermark has passed its cut-off; ``force``
        closes it by hand. If trades arrived after an earlier run, a *pending* instruction is
        amended (an event records old and new amounts); a changed amount for an instruction
        already affirmed, settled, expired or cancelled is refused and nothing changes.
        """
        if not actor:
            raise SettlementError("who generates the instructions? (actor must not be empty)")
        at = now_ns() if at_ns is None else at_ns
        with self._lock, self._tx() as cur:
            self._cycle_lock(cur, cycle)
            wm = int(self._get_meta(cur, "watermark_ns") or 0)
            if not force and wm < cycle.end_ns:
                raise SettlementError(f"cycle {cycle.label} is still open: captured flow reaches core time {wm}, "
                                      f"before the cut-off {cycle.end_ns} (use force to close it by hand)")
            q = f"SELECT {', '.join(_TRADE_COLS)} FROM trades WHERE core_time_ns >= ? AND core_time_ns < ?"
            trades = [_row_trade(r) for r in self._exec(cur, q, (cycle.start_ns, cycle.end_ns)).fetchall()]
            nets = net_trades(trades)
            existing = {(i.client_id, i.asset): i for i in self._instructions(cur, cycle_end_ns=cycle.end_ns)}
            refused = []
            for n in nets:
                old = existing.get((n.client_id, n.asset))
                ref = reference_id(cycle, n.client_id, n.asset)
                if old is None:
                    if n.net == 0:
                        continue
                    self._exec(cur, f"INSERT INTO instructions ({', '.join(_INSTR_COLS)}) VALUES "
                                    f"({', '.join('?' * len(_INSTR_COLS))})",
                               (ref, cycle.label, cycle.start_ns, cycle.end_ns, n.client_id, n.client, n.asset,
                                n.scale, self._amt(n.principal), self._amt(n.fees), self._amt(n.net), n.trades,
                                State.PENDING.value, actor, at, actor, at, 1))
                    self._event(cur, ref, 1, None, State.PENDING, actor, at, f"created from {n.trades} trades")
                elif (old.amount, old.principal, old.fees, old.trades, old.scale) == (n.net, n.principal, n.fees,
                                                                                       n.trades, n.scale):
                    continue
                elif old.state == State.PENDING:
                    v = old.version + 1
                    self._exec(cur, "UPDATE instructions SET scale = ?, principal = ?, fees = ?, amount = ?, "
                                    "trades = ?, updated_by = ?, updated_at_ns = ?, version = ? WHERE ref = ?",
                               (n.scale, self._amt(n.principal), self._amt(n.fees), self._amt(n.net), n.trades,
                                actor, at, v, ref))
                    self._event(cur, ref, v, State.PENDING, State.PENDING, actor, at,
                                f"amended: {old.amount}@{old.scale} ({old.trades} trades) -> "
                                f"{n.net}@{n.scale} ({n.trades} trades)")
                else:
                    refused.append(f"{ref} is {old.state.value}: amount {old.amount} -> {n.net}")
            if refused:
                raise SettlementError(f"cycle {cycle.label}: trades changed after instructions were processed; "
                                      f"nothing generated: " + "; ".join(refused))
            return self._instructions(cur, cycle_end_ns=cycle.end_ns)

    def _cycle_lock(self, cur: Any, cycle: Cycle) -> None:
        pass

    def _event(self, cur: Any, ref: str, seq: int, frm: State | None, to: State, actor: str, at: int,
               note: str) -> None:
        self._exec(cur, "INSERT INTO instruction_events (ref, seq, from_state, to_state, actor, at_ns, note) VALUES "
                        "(?, ?, ?, ?, ?, ?, ?)", (ref, seq, None if frm is None else frm.value, to.value, actor, at,
                                                  note))

    def _instructions(self, cur: Any, *, cycle_end_ns: int | None = None, client_id: int | None = None,
                      state: State | None = None, ref: str | None = None,
                      for_update: bool = False) -> list[Instruction]:
        where, params = [], []
        for col, v in (("cycle_end_ns", cycle_end_ns), ("client_id", client_id), ("ref", ref),
                       ("state", None if state is None else State(state).value)):
            if v is not None:
                where.append(f"{col} = ?")
                params.append(v)
        q = f"SELECT {', '.join(_INSTR_COLS)} FROM instructions"
        if where:
            q += " WHERE " + " AND ".join(where)
        q += " ORDER BY cycle_end_ns, client_id, asset"
        if for_update:
            q += self._lock_for_update()
        return [Instruction(r[0], r[1], int(r[2]), int(r[3]), int(r[4]), r[5], r[6], int(r[7]), int(r[8]),
                            int(r[9]), int(r[10]), int(r[11]), State(r[12]), r[13], int(r[14]), r[15], int(r[16]),
                            int(r[17])) for r in self._exec(cur, q, params).fetchall()]

    def instructions(self, *, cycle: Cycle | None = None, client_id: int | None = None,
                     state: State | str | None = None) -> list[Instruction]:
        with self._lock, self._tx() as cur:
            return self._instructions(cur, cycle_end_ns=None if cycle is None else cycle.end_ns,
                                      client_id=client_id, state=None if state is None else State(state))

    def instruction(self, ref: str) -> Instruction:
        with self._lock, self._tx() as cur:
            got = self._instructions(cur, ref=ref)
        if not got:
            raise UnknownInstruction(f"no settlement instruction {ref!r}")
        return got[0]

    def events(self, ref: str) -> list[InstructionEvent]:
        """The instruction's history, oldest first."""
        with self._lock, self._tx() as cur:
            rows = self._exec(cur, "SELECT ref, seq, from_state, to_state, actor, at_ns, note FROM instruction_events "
                                   "WHERE ref = ? ORDER BY seq", (ref,)).fetchall()
        return [InstructionEvent(r[0], int(r[1]), None if r[2] is None else State(r[2]), State(r[3]), r[4],
                                 int(r[5]), r[6]) for r in rows]

    def transition(self, ref: str, to: State | str, *, actor: str, at_ns: int | None = None,
                   note: str = "") -> Instruction:
        """Move an instruction to ``to`` (see :data:`~rfqcore.settlement.model.TRANSITIONS`),
        recording who and when. An unknown reference, an empty actor or a move the lifecycle
        does not allow raises and changes nothing."""
        try:
            to = State(to)
        except ValueError:
            raise InvalidTransition(f"{ref}: no state {to!r} (states: {', '.join(s.value for s in State)})") from None
        if not actor:
            raise SettlementError(f"{ref}: who is doing this? (actor must not be empty)")
        at = now_ns() if at_ns is None else at_ns
        with self._lock, self._tx() as cur:
            got = self._instructions(cur, ref=ref, for_update=True)
            if not got:
                raise UnknownInstruction(f"no settlement instruction {ref!r}")
            old = got[0]
            if to not in TRANSITIONS[old.state]:
                allowed = ", ".join(sorted(s.value for s in TRANSITIONS[old.state])) or "none: it is final"
                raise InvalidTransition(f"{ref} is {old.state.value}: cannot become {to.value} "
                                        f"(allowed from {old.state.value}: {allowed})")
            v = old.version + 1
            cur2 = self._exec(cur, "UPDATE instructions SET state = ?, updated_by = ?, updated_at_ns = ?, version = ? "
                                   "WHERE ref = ? AND version = ? AND state = ?",
                              (to.value, actor, at, v, ref, old.version, old.state.value))
            if cur2.rowcount != 1:
                raise InvalidTransition(f"{ref} changed concurrently; nothing done, try again")
            self._event(cur, ref, v, old.state, to, actor, at, note)
            return self._instructions(cur, ref=ref)[0]

    def affirm(self, ref: str, *, actor: str, at_ns: int | None = None, note: str = "") -> Instruction:
        return self.transition(ref, State.AFFIRMED, actor=actor, at_ns=at_ns, note=note)

    def settle(self, ref: str, *, actor: str, at_ns: int | None = None, note: str = "") -> Instruction:
        return self.transition(ref, State.SETTLED, actor=actor, at_ns=at_ns, note=note)

    def cancel(self, ref: str, *, actor: str, at_ns: int | None = None, note: str = "") -> Instruction:
        return self.transition(ref, State.CANCELLED, actor=actor, at_ns=at_ns, note=note)

    def expire(self, ref: str, *, actor: str, at_ns: int | None = None, note: str = "") -> Instruction:
        return self.transition(ref, State.EXPIRED, actor=actor, at_ns=at_ns, note=note)


# -- SQLite ------------------------------------------------------------------------------


class SqliteStore(SettlementStore):
    """The embedded store: one SQLite file in WAL mode (``:memory:`` for tests).

    ``synchronous``: ``FULL`` (default) survives power loss with the last commit; ``NORMAL``
    (WAL) may lose the last commits on power loss but never corrupts — acceptable when the
    journal can replay them.
    """

    dialect = "sqlite"

    def __init__(self, path: str | Path, *, migrate: bool = True, synchronous: str = "FULL",
                 timeout_s: float = 10.0) -> None:
        super().__init__()
        self.path = str(path)
        self.url = f"sqlite:///{self.path}"
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, timeout=timeout_s, isolation_level=None, check_same_thread=False)
        self._db: sqlite3.Connection | None = db  # None once closed
        if self.path != ":memory:":
            mode = db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise SettlementError(f"{self.path}: cannot switch to WAL mode (got {mode})")
        if synchronous.upper() not in ("FULL", "NORMAL", "EXTRA"):
            raise ValueError(f"synchronous must be FULL, NORMAL or EXTRA, not {synchronous!r}")
        db.execute(f"PRAGMA synchronous={synchronous.upper()}")
        db.execute("PRAGMA foreign_keys=ON")
        if migrate:
            self.migrate()

    def _types(self) -> dict[str, str]:
        return {"BIGINT": "INTEGER", "SMALLINT": "INTEGER", "AMOUNT": "TEXT", "STRICT": " STRICT"}

    def _amt(self, v: int) -> Any:
        return str(int(v))

    @contextmanager
    def _tx(self) -> Iterator[Any]:
        if self._db is None:
            raise StoreUnavailable(f"{self.url}: closed")
        cur = self._db.cursor()
        cur.execute("BEGIN IMMEDIATE")
        try:
            yield cur
        except BaseException:
            cur.execute("ROLLBACK")
            raise
        else:
            cur.execute("COMMIT")
        finally:
            cur.close()

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None


# -- PostgreSQL --------------------------------------------------------------------------


class PostgresStore(SettlementStore):
    """The same store in PostgreSQL (psycopg 3). The connection is opened lazily and reopened
    after a failure; while the server is unreachable every call raises :class:`StoreUnavailable`."""

    dialect = "postgresql"

    def __init__(self, dsn: str, *, migrate: bool = True, connect_timeout_s: int = 3) -> None:
        super().__init__()
        try:
            import psycopg
        except ImportError as e:  # pragma: no cover - depends on the install
            raise SettlementError("PostgreSQL support needs psycopg 3: pip install 'rfqcore[postgres]'") from e
        self._pg = psycopg
        self.dsn = dsn
        self.url = _redact(dsn)
        self._timeout = connect_timeout_s
        self._conn: Any = None
        self._closed = False
        if migrate:
            self.migrate()

    def _types(self) -> dict[str, str]:
        return {"BIGINT": "BIGINT", "SMALLINT": "SMALLINT", "AMOUNT": "NUMERIC(40, 0)", "STRICT": ""}

    def _amt(self, v: int) -> Any:
        from decimal import Decimal

        return Decimal(int(v))

    def _sql(self, q: str) -> str:
        return q.replace("?", "%s")

    def _lock_for_update(self) -> str:
        return " FOR UPDATE"

    def _migration_lock(self, cur: Any) -> None:
        cur.execute("SELECT pg_advisory_xact_lock(%s)", (0x52465153_45544C31,))  # "RFQSETL1"

    def _cycle_lock(self, cur: Any, cycle: Cycle) -> None:
        cur.execute("SELECT pg_advisory_xact_lock(%s, %s)", (0x5246, cycle.end_ns % (1 << 31)))

    def _connect(self) -> Any:
        if self._closed:
            raise StoreUnavailable(f"{self.url}: closed")
        if self._conn is None or self._conn.closed:
            try:
                self._conn = self._pg.connect(self.dsn, autocommit=True, connect_timeout=self._timeout)
            except self._pg.OperationalError as e:
                self._conn = None
                raise StoreUnavailable(f"{self.url}: {str(e).strip().splitlines()[0] if str(e) else e}") from e
        return self._conn

    @contextmanager
    def _tx(self) -> Iterator[Any]:
        conn = self._connect()
        try:
            with conn.transaction(), conn.cursor() as cur:
                yield cur
        except (self._pg.OperationalError, self._pg.InterfaceError) as e:
            try:
                conn.close()
            finally:
                self._conn = None
            raise StoreUnavailable(f"{self.url}: {str(e).strip().splitlines()[0] if str(e) else e}") from e

    def close(self) -> None:
        self._closed = True
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None


def _redact(dsn: str) -> str:
    """The DSN without its password (for messages)."""
    import re

    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", re.sub(r"password=\S+", "password=***", dsn))


def open_store(url: str, *, migrate: bool = True) -> SettlementStore:
    """Open (and by default migrate) the store named by ``url``: ``sqlite:///relative.db``,
    ``sqlite:////abs/path.db``, ``sqlite:///:memory:``, a plain file path, or a PostgreSQL URL
    (``postgresql://`` / ``postgres://``) or ``key=value`` DSN (``host=... dbname=...``)."""
    if url.startswith(("postgresql://", "postgres://")) or ("=" in url and "dbname" in url):
        return PostgresStore(url, migrate=migrate)
    if url.startswith("sqlite://"):
        path = url[len("sqlite://"):]
        if not path.startswith("/"):
            raise SettlementError(f"bad SQLite URL {url!r}: use sqlite:///relative/path or sqlite:////abs/path")
        path = path[1:]
        if not path:
            raise SettlementError(f"bad SQLite URL {url!r}: no file name")
        return SqliteStore(path, migrate=migrate)
    if "://" in url:
        raise SettlementError(f"unsupported store URL {url!r}: use sqlite:///path or postgresql://...")
    return SqliteStore(url, migrate=migrate)
