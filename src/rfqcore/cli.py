"""``rfqcore`` command line: demo, replay, instruments."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import rfqcore_core

from rfqcore.instruments import Registry

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


def _run_replay(args: argparse.Namespace, files: Sequence[Path], title: str) -> int:
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
                    bar.set_postfix_str(f"{first.name} {_fmt_px(q.bid, pd)} / {_fmt_px(q.ask, pd)}", refresh=False)
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
                f"{_fmt_px(tob.bid_price, ins.price_decimals)} / {_fmt_px(tob.ask_price, ins.price_decimals)}"
                if tob
                else "—"
            )
            print(f"  {ins.key:<28} {st:<9} levels {levels.get(ins.id, 0):>6}  {top}")
        for c in composites:
            spec = c.spec()
            pd, qd = spec["price_decimals"], spec["qty_decimals"]
            basis = {i: (off, known) for i, off, known in eng.basis(c.id)}
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
                print(f"  {_fmt_px(q.size, qd):>14}  bid {_fmt_px(q.bid, pd):>12}  ask {_fmt_px(q.ask, pd):>12}{reason}")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from rfqcore.replay import default_data_files

    root = find_data_root(args.data)
    if not args.market_data:
        from rfqcore.demo import run_demo

        if root is None:
            print("rfqcore demo: recorded data not found (--data, RFQCORE_DATA or ../shared/data); "
                  "the RFQ session needs market data to price from.", file=sys.stderr)
            return 2
        return run_demo(default_data_files(root), speed=args.speed or 20.0)
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


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="rfqcore", description="Low-latency RFQ pricing core: replay venue data, price quotes.")
    p.add_argument("--config", help="instruments TOML (default: the bundled defaults)")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def replay_opts(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--speed", type=float, default=None, help="replay at recorded pace x SPEED (default: as fast as possible)")
        sp.add_argument("--idle", choices=["spin", "yield", "park"], default="yield", help="core thread idle strategy")
        sp.add_argument("--no-progress", action="store_true", help="no progress bar")
        sp.add_argument("--progress", action="store_true", help="show the progress bar even when not on a terminal")
        sp.add_argument("--strict", action="store_true", help="stop at the first refused venue message (default: count and report them)")

    d = sub.add_parser("demo", help="an RFQ session end to end (or, with --market-data, the market-data replay)",
                       description=(
        "Starts the desk (embedded Aeron media driver, the core, the recorded Binance BTC/ETH streams replayed as a "
        "live feed at --speed x (default 20), the gateway process) and runs a client process over Aeron IPC that "
        "requests quotes, hits some, meets rejects for limit breaches and a kill switch, then prints positions "
        "and P&L. With --market-data: replays the recorded streams as fast as possible through decoders, rings and "
        "the core, showing quotes, throughput and tick-to-quote percentiles."))
    d.add_argument("--data", help="folder holding the recorded data (default: ../shared/data)")
    d.add_argument("--market-data", action="store_true", help="the market-data replay demo instead of the RFQ session")
    replay_opts(d)
    d.set_defaults(func=_cmd_demo)

    r = sub.add_parser("replay", help="replay recorded venue files", description=(
        "Replays recorded files (hftbacktest gz captures of Binance, cryptofeed captures of OKX) through the core."))
    r.add_argument("files", nargs="+", help="recorded files")
    replay_opts(r)
    r.set_defaults(func=_cmd_replay)

    i = sub.add_parser("instruments", help="list the instrument registry and composites")
    i.set_defaults(func=_cmd_instruments)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from rfqcore.errors import RfqCoreError

    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        return 130
    except (RfqCoreError, rfqcore_core.RfqCoreError) as e:
        print(f"rfqcore: {type(e).__name__}: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
