"""Post-trade and settlement: trade capture, netting, settlement instructions, reports.

See docs/settlement.md. The pieces:

- :mod:`~rfqcore.settlement.model` — trades, cycles, netting legs, instructions (pure, exact ints);
- :mod:`~rfqcore.settlement.store` — :func:`open_store` (SQLite by default, PostgreSQL by DSN),
  versioned migrations, idempotent capture, instruction lifecycle;
- :mod:`~rfqcore.settlement.writer` — :class:`SettlementWriter`, the engine → store path that
  never blocks the core and survives store outages;
- :mod:`~rfqcore.settlement.reports` — blotter, net statement, P&L by day (CSV, Parquet);
- :mod:`~rfqcore.settlement.cli` — ``rfqcore settlement ...`` (``add_parser``).
"""

from rfqcore.settlement.model import (
    TRANSITIONS,
    Catalog,
    Cycle,
    CycleCalendar,
    Instruction,
    InstructionEvent,
    InvalidTransition,
    Leg,
    NetAmount,
    SettlementError,
    State,
    Trade,
    UnknownInstruction,
    legs,
    net_trades,
    pnl_by_day,
    reference_id,
)
from rfqcore.settlement.store import (
    LATEST_VERSION,
    MIGRATIONS,
    CaptureResult,
    PostgresStore,
    SettlementStore,
    SqliteStore,
    StoreUnavailable,
    open_store,
)
from rfqcore.settlement.writer import ExecutionAssembler, SettlementWriter, capture_records

__all__ = [
    "TRANSITIONS", "Catalog", "Cycle", "CycleCalendar", "Instruction", "InstructionEvent", "InvalidTransition",
    "Leg", "NetAmount", "SettlementError", "State", "Trade", "UnknownInstruction", "legs", "net_trades",
    "pnl_by_day", "reference_id", "LATEST_VERSION", "MIGRATIONS", "CaptureResult", "PostgresStore",
    "SettlementStore", "SqliteStore", "StoreUnavailable", "open_store", "ExecutionAssembler", "SettlementWriter",
    "capture_records",
]
