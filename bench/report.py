"""Render a ``run_all.py`` results.json as the Markdown tables used in ``bench/RESULTS.md``.

    .venv/bin/python bench/report.py /tmp/rfqcore-bench/results-<time>/results.json > tables.md

Only formats numbers; it never computes a figure that is not in the results file (ratios are
quotients of two figures of the same run).
"""

from __future__ import annotations

import json
import sys
from statistics import median

import report_durability


def us(ns: float) -> str:
    return f"{ns / 1e3:,.1f} µs" if ns >= 10_000 else f"{ns:,.0f} ns"


def mps(r: float) -> str:
    return f"{r / 1e6:,.1f} M/s"


def fmt_unit(v: float, unit: str) -> str:
    if unit == "rec/s":
        return mps(v)
    if unit == "count":
        return f"{v:g}"
    return us(v)


def _x(r: float) -> str:
    """A ratio, without scientific notation."""
    return f"{r:.2f}" if r < 10 else f"{r:.1f}" if r < 100 else f"{r:,.0f}"


def margin(v: float | None, target: float, op: str) -> str:
    """How far from the target: 'N× over' / 'N× short' when missed, 'N× margin' when met."""
    if v is None or not v or not target:
        return "—"
    if op == "<=":
        return f"{_x(v / target)}× over" if v > target else f"{_x(target / v)}× margin"
    return f"{_x(target / v)}× short" if v < target else f"{_x(v / target)}× margin"


def lat_cells(h: dict, p=("p50", "p99", "p999", "max")) -> str:
    return " | ".join(us(h[k]) for k in p)


def foreign(step: dict) -> str:
    f = step.get("foreign_cpus")
    att = step.get("foreign_cpus_attempts")
    s = f"other processes used {f:.2f} of 2 CPUs during the measurement" if f is not None else ""
    if att and len(att) > 1:
        s += f" (attempts: {', '.join(f'{x:.2f}' for x in att)}; least disturbed kept)"
    return s


def main(path: str) -> None:
    r = json.load(open(path))
    m = r["machine"]
    out = []
    w = out.append
    w(f"Machine: {m['cpu']} ({m['cpus']} vCPUs, KVM), kernel {m['kernel']}, Python {m['python']}; "
      f"run started {m['date_utc']}.\n")

    w("### Targets\n")
    w("| benchmark | measured | target | met? |")
    w("|---|---:|---:|---|")
    for t in r.get("targets", []):
        v = t["measured"]
        fv, ft = fmt_unit(v, t["unit"]), fmt_unit(t["target"], t["unit"])
        how = f" ({margin(v, t['target'], t['op'])})"
        w(f"| {t['what']} | {fv} | {t['op']} {ft} | {'met' if t['met'] else 'missed'}{how} |")
    w("")

    rr = r.get("ring_rust") or {}
    if rr.get("throughput"):
        w(f"### Ring, Rust → Rust (`{rr['command']}`; {foreign(rr)})\n")
        if "pinned" in rr:
            w(f"Pinned: {'yes' if rr['pinned'] else 'no'} (allowed CPUs {rr.get('allowed_cpus')}); runs with both "
              f"threads seen on the same CPU: {rr.get('runs_threads_on_same_cpu')}. CPU columns: consumer / producer, "
              "from `sched_getcpu` after the start barrier and at the end of the run (`a→b` = moved).\n")

        def cpus(c: dict | None) -> str:
            if not c:
                return "—"
            f = lambda xs: str(xs[0]) if xs[0] == xs[1] else f"{xs[0]}→{xs[1]}"  # noqa: E731
            return f"{f(c['consumer'])} / {f(c['producer'])}"

        w("| mode | records/run | runs | median | best | CPUs per run |")
        w("|---|---:|---:|---:|---:|---|")
        for t in rr["throughput"]:
            w(f"| {t['mode']} | {t['records']:,} | {t['runs']} | {mps(t['rec_per_s_median'])} | {mps(t['rec_per_s_best'])} | "
              f"{', '.join(cpus(c) for c in t.get('cpus', [])) or '—'} |")
        w("")
        w("| offered | run | achieved | samples | p50 | p90 | p99 | p99.9 | max | CPUs |")
        w("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
        for x in rr.get("latency", []):
            w(f"| {mps(x['offered_rate'])} | {x.get('run', 0)} | {mps(x['achieved_rate'])} | {x['samples']:,} | "
              f"{us(x['p50_ns'])} | {us(x['p90_ns'])} | {us(x['p99_ns'])} | {us(x['p999_ns'])} | {us(x['max_ns'])} | {cpus(x.get('cpus'))} |")
        w("")

    rp = r.get("ring_py") or {}
    if rp.get("batch"):
        w(f"### Ring, Cython producer → Rust consumer (`{rp['command']}`; {foreign(rp)})\n")
        w("| numpy chunk | records | throughput (median of runs) | runs | latency from ts_send p50 | p99 | p99.9 | max |")
        w("|---:|---:|---:|---|---:|---:|---:|---:|")
        for b in rp["batch"]:
            runs = ", ".join(f"{x / 1e6:.1f}" for x in b["runs_rec_per_s"])
            w(f"| {b['chunk']} | {b['records']:,} | {mps(b['rec_per_s'])} | {runs} | {lat_cells(b['latency_send'])} |")
        w("")
        w("| try_push offered | achieved | samples | from intended: p50 | p99 | p99.9 | max | from ts_send: p50 | p99 | p99.9 | max |")
        w("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for p in rp["paced"]:
            w(f"| {p['offered_rate']:,}/s | {p['achieved_rate']:,.0f}/s | {p['latency_intended']['count']:,} | "
              f"{lat_cells(p['latency_intended'])} | {lat_cells(p['latency_send'])} |")
        u = rp["unpaced_try_push"]
        w(f"\nUnpaced `try_push` loop (one Python call per record): {mps(u['rec_per_s'])} ({u['ns_per_push']:.0f} ns per push, loop included).\n")

    br = r.get("book_rust") or {}
    if br.get("streams"):
        w(f"### L2Book from Rust (`{br['command']}`; {foreign(br)})\n")
        w("| stream | diff updates | messages | ns/update median | best | per message p50 | p99 | p99.9 | max | final book (bids/asks) |")
        w("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
        for s in br["streams"]:
            w(f"| {s['stream']} | {s['updates']:,} | {s['messages']:,} | {s['ns_per_update_median']:.1f} | {s['ns_per_update_best']:.1f} | "
              f"{us(s['msg_p50_ns'])} | {us(s['msg_p99_ns'])} | {us(s['msg_p999_ns'])} | {us(s['msg_max_ns'])} | {s['final_bids']}/{s['final_asks']} |")
        w("")
        w("| stream | VWAP | levels swept | ns/call |")
        w("|---|---|---:|---:|")
        for s in br["streams"]:
            for v in s["vwap"]:
                w(f"| {s['stream']} | {v['units']} BTC from {'asks' if v['side'] == 1 else 'bids'} | {v['levels']} | {v['ns_per_call']:.1f} |")
        w("")

    bp = r.get("book_py") or {}
    if bp.get("groups"):
        w(f"### Python `rfqcore_core.Book` vs NautilusTrader 1.231.0 `OrderBook` (same pytest run; {foreign(bp)})\n")
        w(f"`{bp['command']}`\n")
        w("| group | rfqcore median | rfqcore best | Nautilus median | Nautilus best | Nautilus / rfqcore (median) | note |")
        w("|---|---:|---:|---:|---:|---:|---|")
        for key in sorted(bp["groups"]):
            g = bp["groups"][key]
            rq, nt = g.get("rfqcore"), g.get("nautilus")
            if not rq:
                continue
            note = []
            if "levels" in rq:
                note.append(f"{rq['levels']} levels")
            if "messages" in rq:
                note.append(f"{rq['messages']} messages")
            unit = "ns/call" if key.startswith("vwap") else "ns/update"
            cells = f"{rq['ns_per_op_median']:.1f} | {rq['ns_per_op_min']:.1f} | "
            cells += (f"{nt['ns_per_op_median']:.1f} | {nt['ns_per_op_min']:.1f} | {nt['ns_per_op_median'] / rq['ns_per_op_median']:.2f}×"
                      if nt else "— | — | —")
            w(f"| {key} ({unit}) | {cells} | {', '.join(note)} |")
        w("")

    er = r.get("engine_rust") or {}
    if er.get("scenarios"):
        w(f"### Core (Rust) on the merged BTC streams (`{er['command']}`; {foreign(er)})\n")
        def btc(sizes) -> str:
            return "/".join(f"{x / 1e8:g}" for x in sizes) if sizes else "0.1/1/10/100"

        w("| scenario | members | ladder (BTC) | input | records | messages | ns/record | ns/message | messages that changed the ladder | rejects | saturated via rings: msg/s | records/s |")
        w("|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        for sc in er["scenarios"]:
            sat = sc.get("saturated") or {}
            inp = sc.get("input", "real")
            if sc.get("warmup_prefix_messages"):
                inp += f" (after {sc['warmup_prefix_messages']:,} real msgs)"
            w(f"| {sc['scenario']} | {sc['members']} | {btc(sc.get('sizes'))} | {inp} | {sc['records']:,} | {sc['messages']:,} | "
              f"{sc['ns_per_record_median']:.1f} | {sc['ns_per_message_median']:.0f} | {sc['quoting_messages']:,} | {sc['rejects']} | "
              + (f"{sat['msg_per_s']:,.0f} | {mps(sat['rec_per_s'])} |" if sat else "— | — |"))
        w("")
        w("| scenario | message type | count | p50 | p90 | p99 | p99.9 | max |")
        w("|---|---|---:|---:|---:|---:|---:|---:|")
        for sc in er["scenarios"]:
            rows = [(t, h) for t, h in sc["per_message"].items() if h["count"]]
            if sc.get("per_quoting_message"):
                rows.append(("**changed the ladder**", sc["per_quoting_message"]))
            for t, h in rows:
                w(f"| {sc['scenario']} | {t} | {h['count']:,} | {us(h['p50'])} | {us(h['p90'])} | {us(h['p99'])} | {us(h['p999'])} | {us(h['max'])} |")
        w("")
        w("Tick-to-quote through the rings, from the intended send time (one sample per message that changed the ladder):\n")
        w("| scenario | offered msg/s | achieved | samples | p50 | p90 | p99 | p99.9 | max | from actual push: p50 | p99 | core published (runner): p50 | p99 |")
        w("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for sc in er["scenarios"]:
            for p in sc["paced"]:
                h = p["tick_to_quote"]
                fs, cp = p.get("tick_to_quote_from_send"), p.get("core_published")
                extra = (f"{us(fs['p50'])} | {us(fs['p99'])} | " if fs else "— | — | ") + \
                        (f"{us(cp['p50'])} | {us(cp['p99'])} |" if cp else "— | — |")
                w(f"| {sc['scenario']} | {p['offered_msg_rate']:,} | {p['achieved_msg_rate']:,} | {h['count']:,} | {us(h['p50'])} | "
                  f"{us(h['p90'])} | {us(h['p99'])} | {us(h['p999'])} | {us(h['max'])} | {extra}")
        w("")
        if any(sc.get("per_quoting_message") for sc in er["scenarios"]):
            w("Split of the median (the core's inline time for the messages that changed the ladder, same run; "
              "the rest = tick-to-quote p50 − core p50, a difference of two medians, so only indicative):\n")
            w("| scenario | offered msg/s | tick-to-quote p50 | core inline p50 (changed the ladder) | rest: rings, queueing, polling |")
            w("|---|---:|---:|---:|---:|")
            for sc in er["scenarios"]:
                cq = sc.get("per_quoting_message")
                if not cq:
                    continue
                for p in sc["paced"]:
                    t = p["tick_to_quote"]["p50"]
                    w(f"| {sc['scenario']} | {p['offered_msg_rate']:,} | {us(t)} | {us(cq['p50'])} | {us(t - cq['p50'])} |")
            w("")

    ep = r.get("engine_py") or {}
    if ep.get("t2q"):
        w(f"### Tick-to-quote through `rfqcore.engine.Engine` (`{ep['command']}`; {foreign(ep)})\n")
        pis = sorted({str(t.get("pump_interval_s")) for t in ep["t2q"]})
        w(f"Engine as shipped: `pump_interval_s` = {', '.join(pis)}; core thread idle \"{ep['t2q'][0].get('idle')}\".\n")
        w("| scenario | offered msg/s | messages | quoting samples | from intended: p50 | p99 | p99.9 | max | from ts_send: p50 | p99 | p99.9 | max | engine's own (core side, incl. warm-up): p50 | p99 | ts_send → pump enters drain(): p50 | drain() → callback: p50 | core rejects | sender |")
        w("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
        for t in ep["t2q"]:
            own = t.get("engine_own_tick_to_quote_incl_warmup")
            owns = f"{us(own['p50'])} | {us(own['p99'])}" if own and own.get("count") else "— | —"
            pw, pd = t.get("probe_send_to_drain"), t.get("probe_drain_to_callback")
            if pw and pd and pd.get("count"):
                owns += f" | {us(pw['p50'])} | {us(pd['p50'])}"
            else:
                owns += " | — | —"
            w(f"| {t['scenario']} | {t['offered_msg_rate']:,} | {t['messages']:,} | {t['samples']:,} | {lat_cells(t['latency_intended'])} | "
              f"{lat_cells(t['latency_send'])} | {owns} | {t['core_rejects']} | {t['sender']} |")
        w("")
    if ep.get("replay"):
        rp2 = ep["replay"]
        w("| replay vs bare parse | messages | seconds | k messages/s | vs bare parse |")
        w("|---|---:|---:|---:|---:|")
        base = rp2["bare_parse"]["msg_per_s"]
        for k in ("bare_read", "bare_parse", "replay_decode", "replay_engine"):
            x = rp2[k]
            w(f"| {k} | {x['messages']:,} | {x['s']:.2f} | {x['msg_per_s'] / 1e3:,.1f} | {x['msg_per_s'] / base:.2f}× |")
        w("")
    pp = r.get("pump_profile") or {}
    if pp.get("median_us"):
        w(f"### Python output pump, piece by piece (`{pp['command']}`; {foreign(pp)})\n")
        w("| operation | median µs |")
        w("|---|---:|")
        for k, v in pp["median_us"].items():
            w(f"| {k} | {v:,.1f} |")
        w("")
    report_durability.render(r, w, foreign)
    print("\n".join(out))


if __name__ == "__main__":
    main(sys.argv[1])
