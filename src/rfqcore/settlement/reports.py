"""Reports: per-client trade blotter, net settlement statement, desk P&L by day — CSV and Parquet.

Every money or quantity column is exact. In CSV it is a decimal string with exactly the
value's own scale (``60010.91``, ``1.00000000``). In Parquet it is ``decimal128(38, s)`` with
``s`` the largest scale of that column in the report (widening a scale only appends zeros, so
the values are still exact), written with pyarrow; integer ids and nanosecond times are
``int64``. Blotters also carry the raw fixed-point integers and their decimals.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

from rfqcore.records import ClientSide
from rfqcore.units import human
from rfqcore.settlement.model import (
    Cycle,
    CycleCalendar,
    Instruction,
    NetAmount,
    Trade,
    fmt_units,
    iso_ns,
    net_trades,
    pnl_by_day,
    to_decimal,
)

__all__ = ["Report", "blotter", "statement", "pnl_report", "write_csv", "write_parquet", "read_csv", "read_parquet"]


@dataclass(frozen=True, slots=True)
class Report:
    """Rows of a report. ``columns`` are (name, type) with type ``int``, ``str`` or ``dec``; a
    ``dec`` cell is ``(units, scale)``."""

    name: str
    columns: tuple[tuple[str, str], ...]
    rows: tuple[tuple[Any, ...], ...]

    def decimal_rows(self) -> list[dict[str, Any]]:
        """Rows as dicts with exact :class:`Decimal` for ``dec`` cells (what a reader gets back)."""
        out = []
        for r in self.rows:
            d = {}
            for (name, typ), v in zip(self.columns, r, strict=True):
                d[name] = to_decimal(*v) if typ == "dec" else v
            out.append(d)
        return out


_BLOTTER_COLS: tuple[tuple[str, str], ...] = (
    ("trade_id", "int"), ("core_time", "str"), ("core_time_ns", "int"), ("cycle", "str"), ("client_id", "int"),
    ("client", "str"), ("composite", "str"), ("base", "str"), ("quote", "str"), ("side", "str"),
    ("price", "dec"), ("qty", "dec"), ("notional", "dec"), ("fee", "dec"),
    ("price_units", "int"), ("qty_units", "int"), ("notional_units", "int"), ("fee_units", "int"),
    ("price_decimals", "int"), ("qty_decimals", "int"), ("quote_id", "int"), ("rfq_id", "int"),
    ("accept_id", "int"),
)


def blotter(trades: Sequence[Trade], cal: CycleCalendar) -> Report:
    """The trade blotter (pass one client's trades for a per-client blotter)."""
    rows = []
    for t in sorted(trades, key=lambda t: t.trade_id):
        m = t.money_decimals
        rows.append((t.trade_id, iso_ns(t.core_time_ns), t.core_time_ns, cal.cycle_of(t.core_time_ns).label,
                     t.client_id, t.client, t.composite, t.base, t.quote,
                     "buy" if t.side == ClientSide.BUY else "sell",
                     (t.price, t.price_decimals), (t.qty, t.qty_decimals), (t.notional, m), (t.fee, m),
                     t.price, t.qty, t.notional, t.fee, t.price_decimals, t.qty_decimals, t.quote_id, t.rfq_id,
                     t.accept_id))
    return Report("blotter", _BLOTTER_COLS, tuple(rows))


_STATEMENT_COLS: tuple[tuple[str, str], ...] = (
    ("cycle", "str"), ("cycle_end_ns", "int"), ("client_id", "int"), ("client", "str"), ("asset", "str"),
    ("scale", "int"), ("principal", "dec"), ("fees", "dec"), ("net", "dec"), ("direction", "str"),
    ("trades", "int"), ("reference", "str"), ("state", "str"),
)


def statement(trades: Sequence[Trade], cycle: Cycle, instructions: Sequence[Instruction] = ()) -> Report:
    """Net settlement statement of one cycle (pass one client's trades for a per-client
    statement): per client and asset, principal, fees and net (desk's view: positive = the desk
    receives), with the instruction's reference and state once generated."""
    by_key = {(i.client_id, i.asset): i for i in instructions if i.cycle_end_ns == cycle.end_ns}
    rows = []
    nets: list[NetAmount] = net_trades(t for t in trades if cycle.start_ns <= t.core_time_ns < cycle.end_ns)
    for n in nets:
        ins = by_key.get((n.client_id, n.asset))
        rows.append((cycle.label, cycle.end_ns, n.client_id, n.client, n.asset, n.scale, (n.principal, n.scale),
                     (n.fees, n.scale), (n.net, n.scale), n.direction, n.trades,
                     ins.ref if ins else "", ins.state.value if ins else ("none" if n.net == 0 else "not generated")))
    return Report("statement", _STATEMENT_COLS, tuple(rows))


_PNL_COLS: tuple[tuple[str, str], ...] = (
    ("day", "str"), ("composite", "str"), ("quote", "str"), ("trades", "int"), ("volume_qty", "dec"),
    ("volume_notional", "dec"), ("realised", "dec"), ("fees", "dec"), ("total", "dec"), ("position_qty", "dec"),
    ("position_cost", "dec"),
)


def pnl_report(trades: Sequence[Trade], cal: CycleCalendar, days: Sequence[str] | None = None) -> Report:
    """Desk realised P&L by day and composite (average cost, exact; see
    :func:`~rfqcore.settlement.model.pnl_by_day`). ``days`` filters the output, never the
    input: the position is always built from the whole history."""
    rows = []
    for p in pnl_by_day(trades, cal):
        if days is not None and p.day not in days:
            continue
        s, q = p.scale, p.qty_decimals
        rows.append((p.day, p.composite, p.quote, p.trades, (p.volume_qty, q), (p.volume_notional, s),
                     (p.realised, s), (p.fees, s), (p.total, s), (p.position_qty, q), (p.position_cost, s)))
    return Report("pnl", _PNL_COLS, tuple(rows))


# -- writers ------------------------------------------------------------------------------


def write_csv(report: Report, out: str | Path | IO[str]) -> None:
    """CSV with a header; ``dec`` cells as exact decimal strings."""
    def emit(f: IO[str]) -> None:
        w = csv.writer(f, lineterminator="\n")
        w.writerow([c for c, _ in report.columns])
        for r in report.rows:
            w.writerow([fmt_units(*v) if typ == "dec" else v for (_, typ), v in zip(report.columns, r, strict=True)])

    if isinstance(out, str | Path):
        with open(out, "w", encoding="utf-8", newline="") as f:
            emit(f)
    else:
        emit(out)


def read_csv(src: str | Path) -> list[dict[str, str]]:
    with open(src, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def _arrow_table(report: Report) -> Any:
    import pyarrow as pa

    arrays, fields = [], []
    for k, (name, typ) in enumerate(report.columns):
        col = [r[k] for r in report.rows]
        if typ == "int":
            t = pa.int64()
            arrays.append(pa.array(col, type=t))
        elif typ == "str":
            t = pa.string()
            arrays.append(pa.array(col, type=t))
        else:
            scale = max((s for _, s in col), default=0)
            t = pa.decimal128(38, scale)
            vals = [to_decimal(u, s).quantize(Decimal(1).scaleb(-scale)) for u, s in col]
            for (u, s), v in zip(col, vals, strict=True):  # exactness: no digit may be lost
                if v.scaleb(scale) != u * 10 ** (scale - s):
                    raise ValueError(f"{report.name}.{name}: {u}e-{s} not exact at scale {scale}")
            arrays.append(pa.array(vals, type=t))
        fields.append(pa.field(name, t, nullable=False))
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields, metadata={b"rfqcore.report": report.name.encode()}))


def write_parquet(report: Report, out: str | Path | IO[bytes]) -> None:
    """Parquet (zstd) with exact ``decimal128`` money columns."""
    import pyarrow.parquet as pq

    pq.write_table(_arrow_table(report), out, compression="zstd")


def read_parquet(src: str | Path | IO[bytes]) -> list[dict[str, Any]]:
    import pyarrow.parquet as pq

    rows: list[dict[str, Any]] = pq.read_table(src).to_pylist()
    return rows


#: columns a person reading a table does not need: the integers behind the decimal columns
#: (``*_units``, ``*_decimals``), nanosecond twins of the timestamps, ids beside names
MACHINE_COLUMN_SUFFIXES = ("_units", "_decimals", "_ns")
MACHINE_COLUMNS = {"client_id"}


def render_table(report: Report, all_columns: bool = False) -> str:
    """A fixed-width text table (for the CLI): the human columns, or with ``all_columns`` every
    column (CSV and Parquet always carry every column). Amounts are exact but read as people
    write them: zeros beyond the second decimal dropped (``61839.71``, not ``61839.7100000000``;
    ``249999.999957526`` keeps every digit); CSV and Parquet keep each value's full scale."""
    keep = [i for i, (c, _) in enumerate(report.columns)
            if all_columns or not (c.endswith(MACHINE_COLUMN_SUFFIXES) or c in MACHINE_COLUMNS)]
    cols = [report.columns[i] for i in keep]
    head = [c for c, _ in cols]
    body = [[human(*r[i], min_decimals=min(2, r[i][1])) if typ == "dec" else str(r[i])
             for i, (_, typ) in zip(keep, cols, strict=True)]
            for r in report.rows]
    widths = [max([len(h)] + [len(b[i]) for b in body]) for i, h in enumerate(head)]
    buf = io.StringIO()
    buf.write("  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)).rstrip() + "\n")
    for b in body:
        buf.write("  ".join(v.rjust(w) if cols[i][1] != "str" else v.ljust(w)
                            for i, (v, w) in enumerate(zip(b, widths, strict=True))).rstrip() + "\n")
    return buf.getvalue()
