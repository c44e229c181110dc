"""``rfqcore settlement ...``: list, net, affirm, settle, cancel, expire, report, pnl.

The main CLI registers these with one call::

    from rfqcore.settlement import cli as settlement_cli
    settlement_cli.add_parser(sub)        # sub = parser.add_subparsers(...)

Every command sets ``func(args) -> int`` like the other ``rfqcore`` commands; refused
operations raise :class:`~rfqcore.settlement.model.SettlementError` (an ``RfqCoreError``), which
``rfqcore.cli.main`` prints and turns into exit code 1.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from typing import Any

from rfqcore.settlement.model import (
    Cycle,
    CycleCalendar,
    Instruction,
    SettlementError,
    State,
    fmt_units,
    iso_ns,
)
from rfqcore.settlement.reports import blotter, pnl_report, render_table, statement, write_csv, write_parquet
from rfqcore.settlement.store import SettlementStore, open_store

__all__ = ["add_parser", "DEFAULT_STORE"]

DEFAULT_STORE = "sqlite:///settlement.db"


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no passwd entry in a container
        return f"uid-{os.getuid()}"


def _sqlite_file(url: str) -> str | None:
    """The file an SQLite store URL (or plain path) names; None for PostgreSQL and ``:memory:``."""
    if url.startswith(("postgresql://", "postgres://")) or ("=" in url and "dbname" in url):
        return None
    path = url[len("sqlite:///"):] if url.startswith("sqlite:///") else url
    return None if "://" in path or path in ("", ":memory:") else path


def _open(args: argparse.Namespace) -> SettlementStore:
    # Every settlement command reads what a desk captured: a store that does not exist is a
    # mistyped --store, never a new empty database.
    path = _sqlite_file(args.store)
    if path is not None and not os.path.exists(path):
        raise SettlementError(
            f"no settlement store at {path} (--store {args.store}): check --store or $RFQCORE_SETTLEMENT_STORE; "
            f"a desk creates it with `rfqcore serve --settlement-store {args.store}`")
    store = open_store(args.store)
    if args.cutoff is not None or args.period is not None:
        cur = store.calendar()
        cal = CycleCalendar.parse(args.cutoff or _hm(cur.cutoff_s), args.period or cur.period_s)
        store.set_calendar(cal)
    return store


def _hm(s: int) -> str:
    return f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}"


def _client(store: SettlementStore, text: str | None) -> int | None:
    if text is None:
        return None
    clients = store.clients()
    if text.isdigit():
        return int(text)
    for cid, name in clients.items():
        if name == text:
            return cid
    known = ", ".join(f"{n} ({i})" for i, n in clients.items()) or "none captured yet"
    raise SettlementError(f"unknown client {text!r} (clients with trades: {known})")


def _cycle(store: SettlementStore, label: str | None) -> Cycle:
    cal = store.calendar()
    if label:
        return cal.cycle(label)
    cycles = store.cycles()
    if not cycles:
        raise SettlementError("no trades captured yet: nothing to net (give --cycle)")
    return cycles[-1]


def _print_instructions(items: list[Instruction], out: Any = None) -> None:
    out = out or sys.stdout
    if not items:
        print("no settlement instructions", file=out)
        return
    print(f"{'reference':<40} {'cycle':<20} {'client':<16} {'asset':<6} {'amount':>28} {'dir':<8} "
          f"{'state':<10} {'updated by':<14} updated at", file=out)
    for i in items:
        print(f"{i.ref:<40} {i.cycle:<20} {i.client:<16} {i.asset:<6} {fmt_units(i.amount, i.scale):>28} "
              f"{i.direction:<8} {i.state.value:<10} {i.updated_by:<14} {iso_ns(i.updated_at_ns)}", file=out)


def _cmd_list(args: argparse.Namespace) -> int:
    with _open(args) as store:
        cid = _client(store, args.client)
        cycle = store.calendar().cycle(args.cycle) if args.cycle else None
        if args.events:
            ev = store.events(args.events)
            if not ev:
                store.instruction(args.events)  # raises UnknownInstruction
            for e in ev:
                frm = e.from_state.value if e.from_state else "-"
                print(f"{e.seq:>3} {iso_ns(e.at_ns)} {frm:>9} -> {e.to_state.value:<9} by {e.actor}"
                      + (f": {e.note}" if e.note else ""))
            return 0
        if args.trades:
            rep = blotter(store.trades(client_id=cid, cycle=cycle), store.calendar())
            sys.stdout.write(render_table(rep) if rep.rows else "no trades\n")
            return 0
        _print_instructions(store.instructions(cycle=cycle, client_id=cid, state=args.state))
    return 0


def _cmd_net(args: argparse.Namespace) -> int:
    with _open(args) as store:
        cycle = _cycle(store, args.cycle)
        cid = _client(store, args.client)
        wm = store.watermark()
        status = "closed" if wm >= cycle.end_ns else "OPEN (provisional)"
        print(f"cycle {cycle.label}: {iso_ns(cycle.start_ns)} .. {iso_ns(cycle.end_ns)} "
              f"({store.calendar().describe()}), {status}")
        if args.generate:
            made = store.generate_instructions(cycle, actor=args.by or _user(), force=args.force)
            print(f"{len(made)} settlement instruction(s) for cycle {cycle.label}")
        rep = statement(store.trades(cycle=cycle, client_id=cid), cycle, store.instructions(cycle=cycle))
        sys.stdout.write(render_table(rep) if rep.rows else "no trades in this cycle\n")
    return 0


def _transition(to: State) -> Any:
    def run(args: argparse.Namespace) -> int:
        failed = 0
        with _open(args) as store:
            for ref in args.refs:
                try:
                    i = store.transition(ref, to, actor=args.by or _user(), note=args.note or "")
                except SettlementError as e:
                    print(f"rfqcore settlement: {e}", file=sys.stderr)
                    failed += 1
                    continue
                print(f"{i.ref}: {i.state.value} by {i.updated_by} at {iso_ns(i.updated_at_ns)}")
        return 1 if failed else 0

    return run


def _write(rep: Any, fmt: str, output: str | None, all_columns: bool = False) -> None:
    try:
        _write_to(rep, fmt, output, all_columns)
    except OSError as e:  # a mistyped -o: one line, not a traceback
        raise SettlementError(f"cannot write {output or 'the report'} ({e.strerror or e}): give -o a file in a "
                              "directory that exists and is writable") from None


def _write_to(rep: Any, fmt: str, output: str | None, all_columns: bool) -> None:
    if fmt == "parquet":
        if not output:
            raise SettlementError("Parquet needs an output file (-o FILE)")
        write_parquet(rep, output)
    elif fmt == "csv":
        write_csv(rep, output if output else sys.stdout)
    else:
        text = render_table(rep, all_columns)
        if output:
            with open(output, "w", encoding="utf-8") as f:
                f.write(text)
        else:
            sys.stdout.write(text)
    if output:
        print(f"{rep.name}: {len(rep.rows)} rows -> {output}", file=sys.stderr)


def _cmd_report(args: argparse.Namespace) -> int:
    with _open(args) as store:
        cid = _client(store, args.client)
        cal = store.calendar()
        if args.kind == "blotter":
            cycle = cal.cycle(args.cycle) if args.cycle else None
            rep = blotter(store.trades(client_id=cid, cycle=cycle), cal)
        else:
            cycle = _cycle(store, args.cycle)
            rep = statement(store.trades(client_id=cid, cycle=cycle), cycle,
                            store.instructions(cycle=cycle, client_id=cid))
        _write(rep, args.format, args.output, args.all_columns)
    return 0


def _cmd_pnl(args: argparse.Namespace) -> int:
    with _open(args) as store:
        rep = pnl_report(store.trades(), store.calendar(), days=args.day or None)
        _write(rep, args.format, args.output)
    return 0


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    """Register ``settlement`` and its commands on ``subparsers`` (an argparse sub-parser
    action); returns the ``settlement`` parser."""
    p = subparsers.add_parser(
        "settlement", help="post-trade: captured trades, netting, settlement instructions, reports",
        description="Settlement store commands. Amounts are exact, from the desk's point of view: positive = "
                    "the desk receives from the client, negative = the desk delivers.")
    p.add_argument("--store", default=os.environ.get("RFQCORE_SETTLEMENT_STORE", DEFAULT_STORE),
                   help="sqlite:///path.db (default; $RFQCORE_SETTLEMENT_STORE) or postgresql://user@host:port/db")
    p.add_argument("--cutoff", help="settlement cut-off HH:MM UTC (stored; refused once instructions exist)")
    p.add_argument("--period", help="settlement cycle length, e.g. 1d (default), 4h")
    sub = p.add_subparsers(dest="settlement_command", required=True, metavar="CMD")

    ls = sub.add_parser("list", help="list settlement instructions (or --trades, or --events REF)")
    ls.add_argument("--cycle", help="cycle label, e.g. 2024-08-08")
    ls.add_argument("--client", help="client name or id")
    ls.add_argument("--state", choices=[s.value for s in State])
    ls.add_argument("--trades", action="store_true", help="list captured trades instead")
    ls.add_argument("--events", metavar="REF", help="the history of one instruction")
    ls.set_defaults(func=_cmd_list)

    nt = sub.add_parser("net", help="net amounts per client and asset of a cycle; --generate the instructions")
    nt.add_argument("--cycle", help="cycle label (default: the latest cycle with trades)")
    nt.add_argument("--client", help="client name or id")
    nt.add_argument("--generate", action="store_true", help="create the pending instructions (idempotent)")
    nt.add_argument("--force", action="store_true", help="generate although the captured flow has not reached "
                                                         "the cut-off")
    nt.add_argument("--by", help="who (default: the OS user)")
    nt.set_defaults(func=_cmd_net)

    for name, state, text in (("affirm", State.AFFIRMED, "pending -> affirmed"),
                              ("settle", State.SETTLED, "affirmed -> settled"),
                              ("cancel", State.CANCELLED, "pending/affirmed -> cancelled"),
                              ("expire", State.EXPIRED, "pending/affirmed -> expired")):
        t = sub.add_parser(name, help=f"{text} (records who and when)")
        t.add_argument("refs", nargs="+", metavar="REF", help="instruction reference id(s)")
        t.add_argument("--by", help="who (default: the OS user)")
        t.add_argument("--note", help="free text kept with the event")
        t.set_defaults(func=_transition(state))

    rp = sub.add_parser("report", help="trade blotter or net settlement statement (table, CSV or Parquet)")
    rp.add_argument("kind", choices=["blotter", "statement"])
    rp.add_argument("--client", help="client name or id (default: all clients)")
    rp.add_argument("--cycle", help="cycle label (statement default: the latest cycle with trades)")
    rp.add_argument("--format", choices=["table", "csv", "parquet"], default="csv")
    rp.add_argument("--all-columns", action="store_true",
                    help="table: also the integer columns behind the decimals (CSV and Parquet always have them)")
    rp.add_argument("-o", "--output", help="output file (default: stdout; required for parquet)")
    rp.set_defaults(func=_cmd_report)

    pn = sub.add_parser("pnl", help="desk realised P&L by day and composite (exact, average cost)")
    pn.add_argument("--day", action="append", help="only this day (repeatable)")
    pn.add_argument("--format", choices=["table", "csv", "parquet"], default="table")
    pn.add_argument("-o", "--output", help="output file (default: stdout; required for parquet)")
    pn.set_defaults(func=_cmd_pnl)
    return p
