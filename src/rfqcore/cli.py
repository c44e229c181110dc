"""``rfqcore`` command line: demo, hedge-demo, venue-sim, serve, quote, op, replay, replay-journal, settlement, cluster, cluster-demo, instruments."""

from __future__ import annotations

import argparse
import copy
import logging
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import rfqcore_core

from rfqcore.instruments import Registry

if TYPE_CHECKING:  # the commands import these lazily, to start fast
    from rfqcore.client import OperatorClient, RfqClient
    from rfqcore.rfq import ApprovalPending, ControlAck, RiskAlert
    from rfqcore.rfqconfig import RfqSettings
    from rfqcore.serve import Server
    from rfqcore.stop_signals import StopSignals
    from rfqcore.hedger import VenueLink

__all__ = ["main", "find_data_root"]


def find_data_root(explicit: str | None = None) -> Path | None:
    """Where the recorded venue data lives: ``--data``, ``$RFQCORE_DATA``, or ``../shared/data``
    beside the repository (or the current directory)."""
    if explicit:
        return Path(explicit) if Path(explicit).exists() else None
    candidates: list[Path] = []
    if os.environ.get("RFQCORE_DATA"):
        candidates.append(Path(os.environ["RFQCORE_DATA"]))
    repo = Path(__file__).resolve().parents[2]
    candidates += [repo.parent / "shared" / "data", Path.cwd().parent / "shared" / "data", Path.cwd() / "shared" / "data"]
    for c in candidates:
        if (c / "binance").is_dir():
            return c
    return None


def _fmt_px(v: int | None, decimals: int) -> str:
    if v is None:
        return "—"
    s = str(abs(v)).rjust(decimals + 1, "0")
    return ("-" if v < 0 else "") + (s[:-decimals] + "." + s[-decimals:] if decimals else s)


def _run_replay(args: argparse.Namespace, files: Sequence[os.PathLike[str]], title: str) -> int:
    from tqdm import tqdm

    from rfqcore.engine import Engine
    from rfqcore.replay import ReplayDriver

    registry = Registry.load(args.config)
    with Engine(registry, idle=args.idle) as eng:
        producer = eng.add_producer("replay")
        driver = ReplayDriver([str(f) for f in files], registry, producer, speed=args.speed, strict=args.strict)
        eng.start()
        bar = tqdm(
            total=driver.total_bytes(),
            unit="B",
            unit_scale=True,
            desc=title,
            disable=args.no_progress or not sys.stderr.isatty() and not args.progress,
            dynamic_ncols=True,
        )
        composites = registry.composites
        first = composites[0] if composites else None

        def on_progress(done_bytes: int) -> None:
            bar.n = done_bytes
            if first is not None and len(first.spec()["sizes"]) > 1:
                q = eng.last_quotes.get((first.id, 1))
                if q is not None:
                    pd = first.spec()["price_decimals"]
                    bar.set_postfix_str(f"{first.name} {_fmt_px(q.bid_raw, pd)} / {_fmt_px(q.ask_raw, pd)}", refresh=False)
            bar.refresh()

        t0 = time.perf_counter()
        driver.run(progress=on_progress)
        t_pushed = time.perf_counter()
        eng.stop()
        t1 = time.perf_counter()
        bar.close()
        stats = eng.stats()
        elapsed = t1 - t0
        hs = driver.stats()
        print(f"\n{title}: {len(files)} files in {elapsed:.2f} s (pushed in {t_pushed - t0:.2f} s)")
        print(
            f"  venue messages {hs.get('messages', stats['messages']):,}  records {stats['records']:,}  "
            f"level updates {stats['level_updates']:,}  core rejects {stats['rejects']:,}  "
            f"decode rejects {sum(hs['rejects'].values()):,}"
        )
        print(
            f"  throughput {stats['records'] / elapsed:,.0f} records/s, "
            f"{stats['messages'] / elapsed:,.0f} messages/s"
        )
        print(f"  quotes published {eng.counts['quotes']:,}  book status changes {eng.counts['status']:,}")
        pace = "as fast as possible: includes queueing behind earlier batches" if args.speed is None else f"{args.speed}x recorded pace"
        print(f"  tick-to-quote ({pace}; paced figures: bench/RESULTS.md)")
        print(f"    push -> quote on the out ring (core thread):  {eng.tick_to_quote().format('µs')}")
        print(f"    push -> quote seen by a Python subscriber:    {eng.subscriber_latency.summary().format('µs')}")
        if hs["rejects"]:
            print("  refused venue messages (counted, nothing applied): " + ", ".join(f"{k} {v:,}" for k, v in sorted(hs["rejects"].items())))
            for ex in hs["reject_examples"][:3]:
                print(f"    e.g. {ex}")
        print("\nBooks:")
        status_names = {0: "live", 1: "stale", 2: "crossed", 3: "building"}
        levels = stats.get("book_levels", {})
        for ins in registry.instruments:
            tob = eng.best(ins.id)
            st = status_names.get(eng.book_status(ins.id), "?")
            top = (
                f"{_fmt_px(tob.bid_price_raw, ins.price_decimals)} / {_fmt_px(tob.ask_price_raw, ins.price_decimals)}"
                if tob
                else "—"
            )
            print(f"  {ins.key:<28} {st:<9} levels {levels.get(ins.id, 0):>6}  {top}")
        for c in composites:
            spec = c.spec()
            pd, qd = spec["price_decimals"], spec["qty_decimals"]
            basis = {i: (off, known) for i, off, known in eng.basis_raw(c.id)}
            parts = []
            for m in spec["members"]:
                off, known = basis.get(m, (0, False))
                if m in spec.get("excluded", []):
                    tag = " excluded"
                elif m == spec["members"][0]:
                    tag = " reference"
                else:
                    tag = f" basis {_fmt_px(off, pd)}" if known else " basis unknown"
                parts.append(f"{registry.by_id(m).key}{tag}")
            print(f"\nComposite {c.name} quotes ({'; '.join(parts)}):")
            for q in eng.quotes(c.id):
                reason = "" if q.reason == 0 else f"  [{q.reason.name.lower()}]"
                print(f"  {_fmt_px(q.size_raw, qd):>14}  bid {_fmt_px(q.bid_raw, pd):>12}  ask {_fmt_px(q.ask_raw, pd):>12}{reason}")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from rfqcore.replay import default_data_files

    root = find_data_root(args.data)
    if not args.market_data:
        from rfqcore.demo import run_demo

        if args.config:
            print("rfqcore demo: the RFQ session runs on the bundled instruments and RFQ settings; --config "
                  "applies to `rfqcore demo --market-data` (or run your own with `rfqcore serve --config`)",
                  file=sys.stderr)
            return 2
        if root is None:
            print("rfqcore demo: recorded data not found (--data, RFQCORE_DATA or ../shared/data); "
                  "the RFQ session needs market data to price from.", file=sys.stderr)
            return 2
        return run_demo(default_data_files(root), speed=args.speed or 10.0)
    if root is None:
        print(
            "rfqcore demo: recorded data not found. Pass --data PATH (the folder holding binance/), "
            "set RFQCORE_DATA, or place shared/data beside the repository.",
            file=sys.stderr,
        )
        return 2
    files = default_data_files(root)
    if not files:
        print(f"rfqcore demo: no Binance BTC/ETH files under {root}", file=sys.stderr)
        return 2
    return _run_replay(args, files, "demo")


def _cmd_replay(args: argparse.Namespace) -> int:
    files = [Path(f) for f in args.files]
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        print(f"rfqcore replay: no such file: {', '.join(missing)}", file=sys.stderr)
        return 2
    return _run_replay(args, files, "replay")


def _cmd_instruments(args: argparse.Namespace) -> int:
    registry = Registry.load(args.config)
    print(f"{'id':>3}  {'instrument':<28} {'kind':<8} {'tick':>12} {'lot':>12}")
    for i in registry.instruments:
        print(
            f"{i.id:>3}  {i.key:<28} {i.kind:<8} {_fmt_px(i.tick, i.price_decimals):>12} "
            f"{_fmt_px(i.lot, i.qty_decimals):>12}"
        )
    for c in registry.composites:
        spec = c.spec()
        names = [registry.by_id(m).key for m in spec["members"]]
        excluded = {registry.by_id(m).key for m in spec.get("excluded", [])}
        shown = [n + (" (excluded)" if n in excluded else "") for n in names]
        print(f"composite {c.id} {c.name}: {', '.join(shown)}")
    return 0


def _cmd_serve(args: argparse.Namespace) -> int:
    from rfqcore.replay import default_data_files
    from rfqcore.serve import Server

    files: Sequence[os.PathLike[str]] = []
    if not args.no_market_data:
        root = find_data_root(args.data)
        if root is None:
            print("rfqcore serve: recorded data not found (--data, RFQCORE_DATA, ../shared/data); "
                  "use --no-market-data to serve without it", file=sys.stderr)
            return 2
        files = default_data_files(root)
    from rfqcore.journal import JournalSettings

    journal = JournalSettings(args.journal, durability=args.durability) if args.journal else None
    venues = None
    if args.venues:
        from rfqcore.instruments import Registry
        from rfqcore.rfqconfig import RfqSettings
        from rfqcore.venues.config import load_venue_links

        reg = Registry.load(args.config)
        venues = load_venue_links(args.venues, reg, RfqSettings.load(args.rfq_config, reg))
    from rfqcore.instance import AlreadyRunning
    from rfqcore.stop_signals import StopSignals
    from rfqcore.fix import FixUnavailable
    from rfqcore.gateway.aeron import AeronUnavailable
    from rfqcore.web.server import HttpUnavailable

    if bool(args.http_cert) != bool(args.http_key) or (args.http_cert and not args.http):
        print("rfqcore serve: HTTPS needs --http HOST:PORT, --http-cert and --http-key together", file=sys.stderr)
        return 2
    if bool(args.fix_cert) != bool(args.fix_key):
        print("rfqcore serve: FIX over TLS needs --fix-cert and --fix-key together (a PEM certificate chain and its "
              "private key)", file=sys.stderr)
        return 2
    if (args.cluster is None) != (args.node is None):
        print("rfqcore serve: a cluster node needs --cluster FILE and --node N together (docs/cluster.md)",
              file=sys.stderr)
        return 2
    aeron_dir = _aeron_dir(args)
    if args.cluster is not None:
        return _serve_cluster(args, aeron_dir, files, venues)
    # SIGINT (Ctrl-C) and SIGTERM (systemd, Docker) stop the desk in order and exit 0
    with StopSignals() as stop:
        try:
            srv = Server(config_path=args.config, rfq_config_path=args.rfq_config, aeron_dir=aeron_dir,
                         channel=args.channel, response_channel=args.response_channel, market_files=files,
                         speed=args.speed, journal=journal,
                         settlement_store=args.settlement_store, venues=venues,
                         log_level=logging.getLogger().getEffectiveLevel(), http=args.http,
                         http_tls=(args.http_cert, args.http_key) if args.http_cert else None,
                         fix_port=args.fix_port, fix_store=args.fix_store,
                         fix_tls=(args.fix_cert, args.fix_key) if args.fix_cert else None,
                         python_gateway=args.python_gateway, http_sessions=args.http_sessions,
                         idle=args.idle, market_wait=args.market_wait).start()
        except (AlreadyRunning, AeronUnavailable, HttpUnavailable, FixUnavailable) as e:
            print(f"rfqcore serve: {e}", file=sys.stderr)
            return 1
        try:
            _serve_until_stopped(args, srv, files, venues, stop)
        finally:
            print(f"stopping ({stop.received.name})" if stop.received else "stopping", flush=True)
            srv.stop()
    return 0


def _serve_cluster(args: argparse.Namespace, aeron_dir: str, files: Sequence[os.PathLike[str]],
                   venues: list[VenueLink] | None) -> int:
    """``serve --cluster FILE --node N``: this node of the replicated desk until Ctrl-C / SIGTERM."""
    from rfqcore.cluster_serve import ClusterServer
    from rfqcore.errors import ClusterError
    from rfqcore.gateway.aeron import AeronUnavailable
    from rfqcore.instance import AlreadyRunning
    from rfqcore.stop_signals import StopSignals
    from rfqcore.web.server import HttpUnavailable

    with StopSignals() as stop:
        try:
            srv = ClusterServer(args.cluster, args.node, config_path=args.config, rfq_config_path=args.rfq_config,
                                aeron_dir=aeron_dir, channel=args.channel, response_channel=args.response_channel,
                                market_files=files, speed=args.speed,
                                log_level=logging.getLogger().getEffectiveLevel(),
                                settlement_store=args.settlement_store, venues=venues, http=args.http,
                                http_tls=(args.http_cert, args.http_key) if args.http_cert else None,
                                http_sessions=args.http_sessions, fix_port=args.fix_port,
                                fix_store=args.fix_store,
                                fix_tls=(args.fix_cert, args.fix_key) if args.fix_cert else None,
                                journal=args.journal, python_gateway=args.python_gateway, idle=args.idle,
                                market_wait=args.market_wait)
            srv.start()
        except (AlreadyRunning, AeronUnavailable, ClusterError, HttpUnavailable) as e:
            print(f"rfqcore serve: {e}", file=sys.stderr)
            return 1
        try:
            gw = srv.settings.gateway
            st = srv.status()
            print(f"rfqcore serve: cluster node {args.node} of {args.cluster} (Raft {st['role']}, term {st['term']}); "
                  f"Aeron dir {srv.aeron_dir}, channel {args.channel or gw.channel} while this node leads "
                  f"(PID {os.getpid()}; Ctrl-C or SIGTERM stops)", flush=True)
            if srv.web is not None:
                print(f"  metrics: {srv.web.url}/metrics (Prometheus), health: {srv.web.url}/healthz", flush=True)
            t_end = None if args.duration is None else time.monotonic() + args.duration
            while t_end is None or time.monotonic() < t_end:
                if stop.wait(min(args.status_every, max(0.0, (t_end or 1e18) - time.monotonic()))):
                    break
                st = srv.status()
                line = (f"  node {args.node}: {st['role']}, term {st['term']}, leader {st['leader']}, committed "
                        f"journal seq {st['journal_seq']:,}, state hash {st['state_hash']:016x}")
                eng = srv.engine
                if srv.leading is not None and eng is not None:
                    rs = eng.rfq_stats()
                    line += (f"; desk serving term {srv.leading}: RFQs {rs['rfqs']}  quotes {rs['quotes']}  "
                             f"fills {rs['fills']}")
                print(line, flush=True)
        finally:
            print(f"stopping ({stop.received.name})" if stop.received else "stopping", flush=True)
            srv.stop()
    return 0


def _serve_until_stopped(args: argparse.Namespace, srv: Server, files: Sequence[os.PathLike[str]],
                         venues: list[VenueLink] | None, stop: StopSignals) -> None:
    assert srv.engine is not None
    gw = srv.settings.gateway
    print(f"rfqcore serve: Aeron dir {srv.aeron_dir}, channel {args.channel or gw.channel}, requests on stream "
          f"{gw.request_stream}, client N answers on {gw.response_stream_base}+N, operators on "
          f"{gw.operator_stream}+N (PID {os.getpid()}; Ctrl-C or SIGTERM stops)", flush=True)
    if srv.web is not None:
        print(f"  metrics: {srv.web.url}/metrics (Prometheus), health: {srv.web.url}/healthz, "
              f"RFQ portal: {srv.web.url}/portal/, operator console: {srv.web.url}/console/", flush=True)
    if srv.fix is not None:
        print(f"  FIX 4.4: {srv.fix.host}:{srv.fix.port}, TargetCompID {srv.fix.comp_id}, sessions (SenderCompID) "
              f"{', '.join(srv.fix.session_names())}, store {srv.fix.store_dir}"
              f"{f', TLS only (certificate {srv.fix.tls[0]})' if srv.fix.tls else ''} (docs/fix.md)", flush=True)
    if srv.stale_removed:
        print(f"  removed what a killed desk left behind: {', '.join(srv.stale_removed)}", flush=True)
    if srv.engine.recovery is not None:
        rec = srv.engine.recovery
        print(f"  journal {args.journal}: recovered {rec['records']:,} records (torn tail {rec['torn_bytes']} "
              f"bytes cut), durability {args.durability}", flush=True)
    print(f"  clients: {', '.join(c.name for c in srv.settings.clients)}; operators: "
          f"{', '.join(o.name for o in srv.settings.operators)}; market data: "
          f"{f'{len(files)} recorded files at ' + ('max speed' if args.speed is None else f'{args.speed}x') if files else 'none recorded'}"
          f"{f'; hedging on {len(venues)} venues (their market data feeds the core)' if venues else ''}",
          flush=True)
    t_end = None if args.duration is None else time.monotonic() + args.duration
    while t_end is None or time.monotonic() < t_end:
        if stop.wait(min(args.status_every, max(0.0, (t_end or 1e18) - time.monotonic()))):
            return
        st = srv.engine.rfq_stats()
        pos = srv.engine.positions()
        desk = "  ".join(f"{n} {_fmt_px(p.qty_raw, p.qty_decimals)}" for n, p in pos.items())
        hedge = ""
        for h in srv.engine.hedge_status():
            hedge += (f"  hedging {h.instrument}: {'up' if h.available else 'UNAVAILABLE'}, hedged "
                      f"{h.hedged:f} {h.base}, pending {h.pending:f} {h.base}")
        print(f"  RFQs {st['rfqs']}  quotes {st['quotes']}  fills {st['fills']}  rejects "
              f"{sum(st['rejects'].values())}  pending approvals {len(srv.engine.pending_approvals())}  "
              f"desk {desk}{hedge}", flush=True)
        if srv.fix is not None:
            print(f"  {srv.fix.status_line()}", flush=True)


def _http_address(text: str) -> str:
    from rfqcore.web.server import parse_address

    try:
        parse_address(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return text


def _number(text: str, ok: Callable[[float], bool], hint: str) -> float:
    """A finite number ``ok`` accepts (argparse types below), else one line: ``'TEXT': HINT``."""
    try:
        v = float(text)
    except ValueError:
        v = float("nan")
    if not ok(v) or v == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r}: {hint}")
    return v


def _serve_speed(text: str) -> float | None:
    """``serve --speed``: a pace > 0, or ``max`` (None: as fast as the desk takes it, in batches)."""
    if text.strip().lower() == "max":
        return None
    return _number(text, lambda v: v > 0, "give a positive pace (1 = recorded pace), or max")


def _seconds(text: str) -> float:
    """An argparse type: a number of seconds, 0 or more."""
    return _number(text, lambda v: v >= 0, "give a number of seconds, 0 or more")


def _positive(text: str) -> float:
    """An argparse type: a positive number (seconds, a replay pace), refused in one line otherwise."""
    return _number(text, lambda v: v > 0, "give a positive number")


def _port(text: str) -> int:
    """An argparse type: a TCP port number, 0 picking a free one."""
    if not (text.isdigit() and int(text) <= 65535):
        raise argparse.ArgumentTypeError(f"{text!r}: give a port number 0..65535 (0 picks a free one)")
    return int(text)


def _aeron_dir(args: argparse.Namespace, settings: RfqSettings | None = None) -> str:
    """``--aeron-dir``, else the RFQ settings' ``gateway.aeron_dir``, else Aeron's default
    directory: the same for ``serve`` and for the client commands, so they find each other."""
    from rfqcore.gateway.aeron import resolve_dir

    if args.aeron_dir:
        return str(args.aeron_dir)
    if settings is None:
        from rfqcore.rfqconfig import RfqSettings

        settings = RfqSettings.load(args.rfq_config, Registry.load(args.config))
    return resolve_dir(settings.gateway.aeron_dir)


class _NoDesk(Exception):
    """No desk answered a client command: printed as one line, exit code 1."""


def _connect(endpoint: RfqClient | OperatorClient, args: argparse.Namespace, aeron_dir: str) -> None:
    """Connect and log on within ``--timeout``; no desk there is one line saying what to do."""
    from rfqcore.client import RequestTimeout
    from rfqcore.gateway.aeron import AeronUnavailable

    try:
        endpoint.connect(timeout=args.timeout)
        endpoint.logon(timeout=args.timeout)
    except (AeronUnavailable, RequestTimeout):
        raise _NoDesk(f"no desk answers in Aeron directory {aeron_dir} (waited {args.timeout:g} s): start one "
                      f"with `rfqcore serve{'' if args.aeron_dir is None else ' --aeron-dir ' + aeron_dir}`, "
                      f"or give the running desk's --aeron-dir") from None


def _operator_client(args: argparse.Namespace) -> OperatorClient:
    from rfqcore.client import OperatorClient
    from rfqcore.rfqconfig import RfqSettings

    settings = RfqSettings.load(args.rfq_config, Registry.load(args.config))
    aeron_dir = _aeron_dir(args, settings)
    op = OperatorClient(args.operator, args.secret, settings=settings, aeron_dir=aeron_dir)
    try:
        _connect(op, args, aeron_dir)
    except BaseException:
        op.close()
        raise
    return op


def _parse_fields(items: list[str]) -> dict[str, str]:
    out = {}
    for it in items:
        k, eq, v = it.partition("=")
        if not eq or not k:
            raise SystemExit(f"rfqcore op set: expected FIELD=VALUE, got {it!r}")
        out[k] = v
    return out


#: What to do about the core's usual refusals of an operator command (``rfqcore op``).
_REFUSAL_HINTS = {
    "UNKNOWN_REQUEST": "no RFQ waits for approval with that id (answered, declined or timed out already?); "
                       "`rfqcore op watch` shows the pending ones",
    "UNKNOWN_QUOTE": "no live quote with that id (filled, expired or withdrawn already?)",
    "BAD_COMMAND": "the core refused the value (out of range, or inconsistent with another limit, e.g. min_qty above "
                   "max_qty); nothing was changed",
}


def _cmd_op(args: argparse.Namespace) -> int:
    from rfqcore.operator import FIELDS, ControlRejected, ack_values

    op_client = _operator_client(args)
    tiers = {t.id: t.name for t in op_client.settings.tiers} if op_client.settings is not None else {}

    refused: list[ControlAck] = []

    def show(ack: ControlAck) -> None:
        new, previous = ack_values(ack, op_client.registry, tiers)  # in units; a client's tier by its name
        print(f"control {ack.control_id}: {ack.reason_name}  (previous value {previous}, new {new})")
        if not ack.ok:
            refused.append(ack)

    op_client.control_timeout = args.timeout
    try:
        op = op_client.operator(strict=False)
        c = args.op_command
        if c == "kill":
            show(op.kill(not args.off, client=args.client, instrument=args.instrument))
        elif c == "reenable":
            show(op.reenable(client=args.client, instrument=args.instrument))
        elif c == "restrict":
            show(op.restrict(args.instrument, not args.off))
        elif c == "approve":
            if args.price is not None and args.instrument is None:
                raise SystemExit("rfqcore op approve: --price needs --instrument (for its price scale)")
            show(op.approve(args.request_id, adjust_bps=args.adjust_bps, price=args.price, instrument=args.instrument))
        elif c == "decline":
            show(op.decline(args.request_id))
        elif c == "cancel-quote":
            show(op.cancel_quote(args.quote_id))
        elif c == "set":
            what = args.what
            if args.scope is not None and "=" in args.scope:  # `op set desk exec_count=5`
                args.fields.insert(0, args.scope)
                args.scope = None
            fields = _parse_fields(args.fields)
            unknown = set(fields) - set(FIELDS[what])
            if unknown:
                raise SystemExit(f"rfqcore op set {what}: unknown fields {sorted(unknown)}; fields: "
                                 f"{', '.join(FIELDS[what])}")
            if what == "desk":
                acks = op.set_desk(**fields)
            else:
                if args.scope is None:
                    raise SystemExit(f"rfqcore op set {what}: give the {what} to change")
                scope: int | str = int(args.scope) if args.scope.isdigit() else args.scope
                acks = getattr(op, f"set_{what}")(scope, **fields)
            for a in acks:
                show(a)
        elif c == "watch":
            def pending(p: ApprovalPending) -> None:
                print(f"APPROVAL PENDING {p!r}", flush=True)

            def risk(r: RiskAlert) -> None:
                print(f"RISK EVENT {r}", flush=True)

            def ack(a: ControlAck) -> None:
                print(f"AUDIT control {a.control_id} by operator {a.operator_id}: command {a.command_name} "
                      f"field {a.field_name} scope {a.scope_name} -> {a.reason_name}", flush=True)

            op_client.on_approval_pending = pending
            op_client.on_risk_event = risk
            op_client.on_control_ack = ack
            t_end = time.monotonic() + args.seconds
            while time.monotonic() < t_end:
                if not op_client.poll():
                    time.sleep(0.001)
        for a in refused:  # the audit line above says what the core answered; this, what to do (exit 1)
            print(f"rfqcore op {c}: refused by the core: {a.reason_name}: "
                  f"{_REFUSAL_HINTS.get(a.reason_name, 'nothing was changed')}", file=sys.stderr)
        return 1 if refused else 0
    except ControlRejected as e:
        print(f"rfqcore op: {e}", file=sys.stderr)
        return 1
    finally:
        op_client.close()


def _meaning(reason: int) -> str:
    """``": what it means"`` of a core's refusal reason (docs/rfq-protocol.md), "" for an unknown code."""
    from rfqcore.records import RFQ_REJECT_MEANING, RfqReject

    try:
        m = RFQ_REJECT_MEANING[RfqReject(reason)]
    except (ValueError, KeyError):
        return ""
    return f": {m[:1].lower()}{m[1:]}"


def _cmd_quote(args: argparse.Namespace) -> int:
    from rfqcore.client import RequestRejected, RequestTimeout, RfqClient
    from rfqcore.rfqconfig import RfqSettings

    registry = Registry.load(args.config)
    registry.composite(args.instrument)  # an unknown name is refused before waiting for a desk
    settings = RfqSettings.load(args.rfq_config, registry)
    aeron_dir = _aeron_dir(args, settings)
    client = RfqClient(args.client, args.secret, settings=settings, aeron_dir=aeron_dir)
    try:
        # a size, limit or TTL that is not a number is refused before waiting for a desk
        client._rfq_fields(args.instrument, args.side, args.qty, args.quote_ccy, args.limit, args.ttl_ms)
        _connect(client, args, aeron_dir)
        t0 = time.perf_counter()
        q = client.request_quote(args.instrument, args.side, args.qty, quote_ccy=args.quote_ccy, limit=args.limit,
                                 ttl_ms=args.ttl_ms, timeout=args.timeout)
        rtt = (time.perf_counter() - t0) * 1e6
        print(f"quote {q.quote_id} for rfq {q.rfq_id}: "
              + ("" if q.sell_price is None else f"client sells {q.sell_qty} at {q.sell_price}  ")
              + ("" if q.buy_price is None else f"client buys {q.buy_qty} at {q.buy_price}  ")
              + f"({rtt:,.0f} µs)")
        if args.accept:
            side = args.accept
            e = client.accept(q, side)
            print(f"trade {e.trade_id}: {side} {e.qty} at {e.price}, notional {e.notional}, fee {e.fee}")
        return 0
    except RequestRejected as e:
        print(f"rejected: {e.reason_name}" + (" (by the gateway)" if e.by_gateway else _meaning(e.reason)),
              file=sys.stderr)
        return 1
    except RequestTimeout as e:
        print(f"no answer in {args.timeout} s ({e}); an RFQ above the approval threshold waits for an operator: "
              "`rfqcore op watch` shows it, `rfqcore op approve ID` answers it", file=sys.stderr)
        return 1
    finally:
        client.close()


def _cmd_replay_journal(args: argparse.Namespace) -> int:
    from rfqcore import journal
    from rfqcore.rfqconfig import RfqSettings

    if not os.path.isdir(args.dir):
        what = "is not a directory" if os.path.exists(args.dir) else "does not exist"
        print(f"rfqcore replay-journal: {args.dir} {what}: give the journal directory a desk wrote (`rfqcore serve "
              "--journal DIR`)", file=sys.stderr)
        return 1
    registry = Registry.load(args.config)
    settings = RfqSettings.load(args.rfq_config, registry)
    v = journal.verify(args.dir, registry, settings)
    print(f"journal {args.dir}: {v['segments']} segment(s), {v['last_seq']:,} records, {v['bytes']:,} bytes, "
          f"chain {str(v['chain'])[:16]}…, torn tail {v['torn_bytes']} bytes (never acknowledged; ignored); "
          f"{journal.keying(v)}")
    if args.require_keyed and v["unkeyed_segments"]:
        print(f"rfqcore replay-journal: {v['unkeyed_segments']} of {v['segments']} segment(s) of {args.dir} are unkeyed "
              f"(written without {journal.KEY_ENV}, or rewritten without the key): their chain proves nothing; "
              "drop --require-keyed to accept them", file=sys.stderr)
        return 1
    r = journal.replay(args.dir, registry, settings)
    rate = r["records"] / r["elapsed"] if r["elapsed"] else 0.0
    print(f"replayed {r['records']:,} records into a fresh core in {r['elapsed']:.3f} s ({rate:,.0f} records/s): "
          f"{r['outputs']:,} outputs, state hash {r['state_hash']:#018x}, output hash {r['output_hash']:#018x}")
    if r["first_divergence"] is None:
        print(f"deterministic: the output stream matches the recorded run at all {r['marks_checked']:,} checkpoints")
        return 0
    print(f"DIVERGENCE: the replay's output stream first differs from the recorded run at record "
          f"{r['first_divergence']:,}", file=sys.stderr)
    return 1


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: what is wrong and where the command's options are listed,
    not the usage block. Every command's parser is one (``add_parser`` uses its parent's class)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message}; see `{self.prog} --help`\n")


def build_parser() -> argparse.ArgumentParser:
    from rfqcore import __version__

    p: argparse.ArgumentParser = _Parser(prog="rfqcore", description="Low-latency RFQ pricing core: replay venue data, price quotes.")
    p.add_argument("--version", action="version", version=f"rfqcore {__version__}")
    _global_opts(p, top=True)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def replay_opts(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--speed", type=_positive, default=None, help="replay at recorded pace x SPEED (default: as fast as possible)")
        sp.add_argument("--idle", choices=["spin", "yield", "park"], default="yield", help="core thread idle strategy")
        sp.add_argument("--no-progress", action="store_true", help="no progress bar")
        sp.add_argument("--progress", action="store_true", help="show the progress bar even when not on a terminal")
        sp.add_argument("--strict", action="store_true", help="stop at the first refused venue message (default: count and report them)")

    d = sub.add_parser("demo", help="an RFQ session end to end (or, with --market-data, the market-data replay)",
                       description=(
        "Starts the desk (embedded Aeron media driver, the core, the recorded Binance BTC/ETH streams replayed as a "
        "live feed at --speed x (default 10), the gateway process) and runs a client process over Aeron IPC that "
        "requests quotes, hits some, meets rejects for limit breaches and a kill switch, then prints positions "
        "and P&L. With --market-data: replays the recorded streams as fast as possible through decoders, rings and "
        "the core, showing quotes, throughput and tick-to-quote percentiles."))
    d.add_argument("--data", help="folder holding the recorded data (default: ../shared/data)")
    d.add_argument("--market-data", action="store_true", help="the market-data replay demo instead of the RFQ session")
    replay_opts(d)
    d.set_defaults(func=_cmd_demo)

    r = sub.add_parser("replay", help="replay recorded venue files", description=(
        "Replays recorded files (hftbacktest gz captures of Binance; cryptofeed captures of OKX, Coinbase and Kraken; "
        "Bybit order-book zips) through the core."))
    r.add_argument("files", nargs="+", help="recorded files")
    replay_opts(r)
    r.set_defaults(func=_cmd_replay)

    def conn_opts(sp: argparse.ArgumentParser, client: bool = True) -> None:
        sp.add_argument("--rfq-config", help="RFQ settings TOML (default: the bundled defaults/rfq.toml)")
        sp.add_argument("--aeron-dir", help="Aeron directory of the desk (default: from the RFQ settings, "
                                            "else Aeron's default directory, the same for serve and clients)")
        if client:
            sp.add_argument("--timeout", type=_positive, default=2.0,
                            help="seconds to wait for the desk: connecting, logging on, each answer (default 2)")

    sv = sub.add_parser("serve", help="run the desk: media driver, core, market data, Aeron gateway", description=(
        "Starts the embedded Aeron media driver (or uses the one running in --aeron-dir), the core thread with "
        "the RFQ settings, the recorded Binance BTC/ETH streams replayed as a live feed, and the gateway process. "
        "Clients connect with rfqcore.client.RfqClient (or `rfqcore quote`), operators with OperatorClient (or "
        "`rfqcore op`). Prints a status line every --status-every seconds. Ctrl-C or SIGTERM stops every part in "
        "order and removes its shared-memory files (exit 0). One desk per Aeron directory and per journal: a second "
        "is refused, naming the running PID; files a killed desk left are removed at the next start."))
    conn_opts(sv, client=False)
    sv.add_argument("--channel", help="Aeron channel (default aeron:ipc; e.g. aeron:udp?endpoint=127.0.0.1:40123)")
    sv.add_argument("--response-channel", metavar="CH",
                    help="Aeron channel the gateway answers on (default: --channel, or [gateway] response_channel); "
                         "clients on another host: aeron:udp?endpoint=CLIENT_HOST:PORT, or a multicast group")
    sv.add_argument("--data", help="folder holding the recorded data (default: ../shared/data)")
    sv.add_argument("--no-market-data", action="store_true", help="serve without replaying recorded data")
    sv.add_argument("--speed", type=_serve_speed, default=1.0,
                    help="replay pace x SPEED (default 1: real time); max: as fast as the desk takes it (records in "
                         "batches, receive times the wall clock when each is decoded)")
    sv.add_argument("--market-wait", type=_seconds, default=5.0, metavar="SECONDS",
                    help="a desk starting from a state with prices (a recovered --journal, a cluster node taking "
                         "the lead) opens its gateway once those books are fresh again, waiting at most this long "
                         "(default 5; 0: open at once)")
    sv.add_argument("--duration", type=_positive, default=None, help="stop after this many seconds")
    sv.add_argument("--settlement-store", help="capture every execution into this settlement store "
                                               "(sqlite:///path.db or postgresql://...); see `rfqcore settlement`")
    sv.add_argument("--journal", help="journal directory: recover from it, then journal every input (docs/journal.md)")
    sv.add_argument("--durability", choices=["fsync_each", "group", "none"], default="group",
                    help="journal durability policy (default group: fdatasync at most every 1 ms, outputs "
                         "published only once durable)")
    sv.add_argument("--venues", help="venue connections (TOML, see rfqcore.venues.config): run the venue link "
                                     "so the core hedges on them; their market data feeds the core (docs/hedging.md)")
    sv.add_argument("--idle", choices=["spin", "yield", "park"], default="yield",
                    help="how the core and gateway threads wait for work: spin (lowest latency, a CPU each), "
                         "yield (default: sched_yield, a CPU each unless others want it), park (back off to "
                         "sleeps of up to 1 ms: desks or cluster nodes sharing few CPUs, at up to 1 ms more "
                         "latency)")
    sv.add_argument("--status-every", type=_positive, default=5.0, help="seconds between status lines")
    sv.add_argument("--http", type=_http_address, metavar="HOST:PORT",
                    help="serve GET /metrics (Prometheus), /healthz and the RFQ portal there, e.g. 127.0.0.1:8080 (default: off; "
                         "docs/web.md)")
    sv.add_argument("--http-cert", metavar="PEM", help="serve HTTPS with this certificate chain (with --http-key)")
    sv.add_argument("--http-key", metavar="PEM", help="the private key of --http-cert")
    sv.add_argument("--http-sessions", metavar="FILE",
                    help="keep the portal's and the console's logins across restarts in this SQLite file (default: "
                         "web-sessions.sqlite in the --journal directory; without a journal, a restart logs everyone "
                         "out)")
    sv.add_argument("--fix-port", type=_port, metavar="N",
                    help="serve FIX 4.4 RFQ sessions on port N (0: a free port) of [fix] listen's host (127.0.0.1 "
                         "by default); default: [fix] listen, else off (docs/fix.md)")
    sv.add_argument("--fix-store", metavar="DIR",
                    help="FIX sequence numbers and sent messages, kept across restarts (default: [fix] store, "
                         "./rfqcore-fix)")
    sv.add_argument("--fix-cert", metavar="PEM", help="serve FIX over TLS only, with this certificate chain (with "
                                                      "--fix-key; default: [fix] tls_cert, else plain TCP)")
    sv.add_argument("--fix-key", metavar="PEM", help="the private key of --fix-cert")
    sv.add_argument("--python-gateway", action="store_true",
                    help="run the Python Aeron gateway in a process of its own instead of the Rust gateway thread "
                         "(the documented fallback; docs/gateway-schema.md)")
    sv.add_argument("--cluster", metavar="FILE",
                    help="serve as one node of a replicated desk described by this cluster.toml (with --node; "
                         "docs/cluster.md): the desk runs on the Raft leader, followers keep its state")
    sv.add_argument("--node", type=int, metavar="N", help="this node's id in --cluster")
    sv.set_defaults(func=_cmd_serve)

    fd = sub.add_parser("fix-demo", help="a FIX 4.4 client session against the desk: quote, hit, reject, expiry",
                        description="Starts the desk on the recorded Binance streams with the FIX acceptor on a free "
                                    "port and runs a QuickFIX client session as acme-capital (docs/fix.md).")
    fd.add_argument("--data", help="folder holding the recorded data (default: ../shared/data)")
    fd.add_argument("--speed", type=_positive, default=10.0, help="replay pace (default 10x)")
    fd.set_defaults(func=_cmd_fix_demo)

    qt = sub.add_parser("quote", help="request a firm quote from a running desk (and optionally hit it)")
    conn_opts(qt)
    qt.add_argument("--client", default="acme-capital", help="client name (default acme-capital)")
    qt.add_argument("--secret", help="client secret, hex (default: from the RFQ settings)")
    qt.add_argument("instrument", help="composite, e.g. BTC")
    qt.add_argument("side", type=str.lower, choices=["buy", "sell", "two-way"], help="the client's side")
    qt.add_argument("qty", help="size in base units (or quote currency with --quote-ccy), e.g. 1.5")
    qt.add_argument("--quote-ccy", action="store_true", help="qty is an amount of quote currency")
    qt.add_argument("--limit", help="limit price")
    qt.add_argument("--ttl-ms", help="requested quote lifetime")
    qt.add_argument("--accept", type=str.lower, choices=["buy", "sell"], help="hit the quote on this side at once")
    qt.set_defaults(func=_cmd_quote)

    op = sub.add_parser("op", help="operator commands on a running desk (kill switch, limits, approvals)",
                        description="Operator commands, sent through the gateway as CONTROL records; each prints "
                                    "the core's audit acknowledgement.")
    conn_opts(op)
    op.add_argument("--operator", default="desk-operator", help="operator name (default desk-operator)")
    op.add_argument("--secret", help="operator secret, hex (default: from the RFQ settings)")
    osub = op.add_subparsers(dest="op_command", required=True, metavar="OP")
    k = osub.add_parser("kill", help="kill switch on (or --off) for everything, a client or an instrument")
    k.add_argument("--client")
    k.add_argument("--instrument")
    k.add_argument("--off", action="store_true")
    re_ = osub.add_parser("reenable", help="clear a repeated-execution halt of a client or instrument")
    re_.add_argument("--client")
    re_.add_argument("--instrument")
    rs = osub.add_parser("restrict", help="put an instrument on (or --off) the restricted list")
    rs.add_argument("instrument")
    rs.add_argument("--off", action="store_true")
    ap = osub.add_parser("approve", help="approve an RFQ waiting for manual approval")
    ap.add_argument("request_id", type=int)
    ap.add_argument("--adjust-bps", default="0", help="widen (positive) or tighten the price, bps")
    ap.add_argument("--price", help="absolute price (one-sided requests; needs --instrument)")
    ap.add_argument("--instrument")
    dc = osub.add_parser("decline", help="decline an RFQ waiting for manual approval")
    dc.add_argument("request_id", type=int)
    cq = osub.add_parser("cancel-quote", help="withdraw a live quote")
    cq.add_argument("quote_id", type=int)
    st = osub.add_parser("set", help="change limits or parameters: FIELD=VALUE ...", description=(
        "client NAME: credit_limit, max_open_quotes, rfq_rate, rfq_burst, accept_rate, accept_burst, tier, enabled; "
        "instrument NAME: min_qty, max_qty, max_notional, long_limit, short_limit, collar_bps, approval_qty, "
        "approval_notional, approval_timeout_ms; tier NAME: markup_bps, fee_bps, ttl_ms, max_ttl_ms, "
        "allow_partial; pricing NAME: skew_bps_per_unit, max_skew_bps, vol_mult_pct, vol_ema_shift, hedge_fee_bps, "
        "base_bps, size_bps_per_unit; desk: exec_count, exec_window_ms; hedging NAME: mode (off/full/partial/threshold), "
        "ratio_pct, threshold, max_slippage_bps, retry_ms. Sizes in base units, notionals in quote "
        "currency, e.g. `rfqcore op set instrument BTC long_limit=100 collar_bps=50`, `rfqcore op set hedging BTC mode=off`."))
    st.add_argument("what", choices=["client", "instrument", "tier", "pricing", "desk", "hedging"])
    st.add_argument("scope", nargs="?", help="client / instrument / tier name (not for desk)")
    st.add_argument("fields", nargs="*", help="FIELD=VALUE")
    w = osub.add_parser("watch", help="print approval requests, risk events and the control audit trail",
                        description="One session per operator: watch as another operator than the one sending "
                                    "commands, e.g. `rfqcore op --operator risk-officer watch`.")
    w.add_argument("--seconds", type=_positive, default=60.0)
    op.set_defaults(func=_cmd_op)

    rj = sub.add_parser("replay-journal", help="verify a journal and replay it into a fresh core (determinism check)",
                        description="Checks every CRC, sequence number and chain link of the journal in DIR, then "
                                    "replays it into a fresh core with the same configuration and compares the "
                                    "output stream with the recorded run's checkpoints; reports the first "
                                    "divergence (exit 1) if any. A keyed journal is verified with the desk key "
                                    "in RFQCORE_JOURNAL_KEY (docs/journal.md, \"Keyed chain\").")
    rj.add_argument("dir", help="journal directory")
    rj.add_argument("--require-keyed", action="store_true",
                    help="refuse (exit 1) a journal with unkeyed segments (written before the desk key was set, "
                         "or rewritten by someone without it)")
    rj.add_argument("--rfq-config", help="RFQ settings TOML the journal was written with (default: bundled)")
    rj.set_defaults(func=_cmd_replay_journal)

    from rfqcore import cluster_cli, cluster_demo, configcheck, latency_plot, portal_cli
    from rfqcore.settlement import cli as settlement_cli
    from rfqcore.venuesim import cli as venuesim_cli

    settlement_cli.add_parser(sub)
    venuesim_cli.add_parser(sub)
    latency_plot.add_parser(sub)
    configcheck.add_parser(sub)
    portal_cli.add_parser(sub)
    cluster_cli.add_parser(sub)
    cluster_demo.add_parser(sub)

    hd = sub.add_parser("hedge-demo", help="client fills hedged on two simulated venues over their real protocols",
                        description=(
        "Starts a Binance-style and an OKX-style simulated venue (real processes on loopback, seeded from the "
        "recorded books in ../shared/data), the core with the packaged hedging desk configuration "
        "(defaults/hedge-*.toml) and the venue link; client fills are hedged by the core's smart order router, "
        "then both venues drop their connections and quoting is withdrawn until they are back. See docs/hedging.md."))
    hd.set_defaults(func=_cmd_hedge_demo)

    i = sub.add_parser("instruments", help="list the instrument registry and composites")
    i.set_defaults(func=_cmd_instruments)
    _add_global_opts_below(p)
    return p


#: logging levels by name for --log-level (the stdlib's)
_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def _global_opts(p: argparse.ArgumentParser, *, top: bool) -> None:
    """Options every command takes, before or after its name. Below the top level their
    defaults are suppressed, so a value given before the command is not overwritten."""
    d = (lambda v: v) if top else (lambda v: argparse.SUPPRESS)
    if "--config" not in p._option_string_actions:  # a command's own --config wins (cluster status: cluster.toml)
        p.add_argument("--config", default=d(None), help="instruments TOML (default: the bundled defaults)")
    p.add_argument("-v", "--verbose", action="count", default=d(0),
                   help="log more: -v INFO, -vv DEBUG (default: warnings and errors)")
    p.add_argument("--log-level", type=str.upper, choices=_LEVELS, default=d(None), metavar="LEVEL",
                   help=f"logging level: {', '.join(_LEVELS)} (overrides -v)")
    p.add_argument("--log-format", type=str.lower, choices=("text", "json"), default=d(None),
                   help="log lines as text (default) or JSON lines for a log shipper (or $RFQCORE_LOG_FORMAT)")


#: what _global_opts adds (handled there, not inherited)
_GLOBAL_DESTS = frozenset({"config", "verbose", "log_level", "log_format"})


def _add_global_opts_below(p: argparse.ArgumentParser, inherited: Sequence[argparse.Action] = ()) -> None:
    """The global options on every command, and a command's own options on its subcommands too
    (``rfqcore op kill --timeout 1``, ``rfqcore settlement list --store URL``), their defaults
    suppressed there so a value given before the subcommand stands."""
    for a in p._actions:
        if isinstance(a, argparse._SubParsersAction):
            for sp in dict.fromkeys(a.choices.values()):  # aliases map to the same parser
                _global_opts(sp, top=False)
                for action in inherited:
                    if not any(o in sp._option_string_actions for o in action.option_strings):
                        below = copy.copy(action)
                        below.default, below.required = argparse.SUPPRESS, False
                        sp._add_action(below)
                own = [x for x in sp._actions if x.option_strings and not isinstance(x, argparse._HelpAction)
                       and x.dest not in _GLOBAL_DESTS]
                _add_global_opts_below(sp, own)


def _log_level(args: argparse.Namespace) -> int:
    if args.log_level:
        return int(getattr(logging, args.log_level))
    return {0: logging.WARNING, 1: logging.INFO}.get(args.verbose, logging.DEBUG)


def _cmd_fix_demo(args: argparse.Namespace) -> int:
    from rfqcore.fix import FixUnavailable
    from rfqcore.replay import default_data_files

    root = find_data_root(args.data)
    if root is None:
        print("rfqcore fix-demo: recorded data not found (--data, RFQCORE_DATA or ../shared/data); the desk needs "
              "market data to quote from", file=sys.stderr)
        return 2
    try:
        from rfqcore.fix.demo import run_fix_demo
    except ImportError as e:
        print(f"rfqcore fix-demo: the FIX gateway needs the QuickFIX engine ({e}): pip install 'rfqcore[fix]'",
              file=sys.stderr)
        return 1
    try:
        return run_fix_demo(default_data_files(root), speed=args.speed)
    except FixUnavailable as e:
        print(f"rfqcore fix-demo: {e}", file=sys.stderr)
        return 1


def _cmd_hedge_demo(args: argparse.Namespace) -> int:
    from rfqcore.hedge_desk import demo

    return demo()


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from rfqcore import logs

    try:
        fmt = getattr(args, "log_format", None) or os.environ.get(logs.ENV) or "text"
        logs.configure(_log_level(args), fmt)
    except ValueError as e:
        print(f"rfqcore: {e}", file=sys.stderr)
        return 2
    os.environ[logs.ENV] = fmt  # the desk's child processes (the gateway) log the same way
    from rfqcore import __version__

    logging.getLogger("rfqcore.cli").debug("rfqcore %s: %s", __version__, args.command,
                                           extra={"command": args.command, "version": __version__})
    from rfqcore.errors import RfqCoreError
    from rfqcore.latency_plot import PlotError

    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        return 130
    except _NoDesk as e:
        print(f"rfqcore {args.command}: {e}", file=sys.stderr)
        return 1
    except PlotError as e:
        print(f"rfqcore latency-plot: {e}", file=sys.stderr)
        return 1
    except RfqCoreError as e:  # one hierarchy: Rust, Cython and Python errors alike
        print(f"rfqcore: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    except (KeyError, ValueError) as e:  # unknown client/operator/composite names, bad values
        print(f"rfqcore: {e.args[0] if e.args else e}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
