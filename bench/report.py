"""Render a ``run_all.py`` results.json as the Markdown tables used in ``bench/RESULTS.md``.

    .venv/bin/python bench/report.py /tmp/rfqcore-bench/results-<time>/results.json > tables.md

Only formats numbers; it never computes a figure that is not in the results file (ratios are
quotients of two figures of the same run).
"""

from __future__ import annotations

import json
import sys
from statistics import median


def us(ns: float) -> str:
    return f"{ns / 1e3:,.1f} µs" if ns >= 10_000 else f"{ns:,.0f} ns"


def mps(r: float) -> str:
    return f"{r / 1e6:,.1f} M/s"


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
        fv = mps(v) if t["unit"] == "rec/s" else us(v)
        ft = mps(t["target"]) if t["unit"] == "rec/s" else us(t["target"])
        ratio = (v / t["target"]) if t["op"] == ">=" else (t["target"] / v if v else 0)
        w(f"| {t['what']} | {fv} | {t['op']} {ft} | {'met' if t['met'] else 'missed'} ({ratio:.2f}× of target) |")
    w("")

    rr = r.get("ring_rust") or {}
    if rr.get("throughput"):
        w(f"### Ring, Rust → Rust (`{rr['command']}`; {foreign(rr)})\n")
        w("| mode | records/run | runs | median | best |")
        w("|---|---:|---:|---:|---:|")
        for t in rr["throughput"]:
            w(f"| {t['mode']} | {t['records']:,} | {t['runs']} | {mps(t['rec_per_s_median'])} | {mps(t['rec_per_s_best'])} |")
        w("")
        w("| offered | run | achieved | samples | p50 | p90 | p99 | p99.9 | max |")
        w("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for x in rr.get("latency", []):
            w(f"| {mps(x['offered_rate'])} | {x.get('run', 0)} | {mps(x['achieved_rate'])} | {x['samples']:,} | "
              f"{us(x['p50_ns'])} | {us(x['p90_ns'])} | {us(x['p99_ns'])} | {us(x['p999_ns'])} | {us(x['max_ns'])} |")
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
        w("| scenario | records | messages | ns/record | ns/message | messages that changed the ladder | rejects |")
        w("|---|---:|---:|---:|---:|---:|---:|")
        for sc in er["scenarios"]:
            w(f"| {sc['scenario']} {sc['members']} | {sc['records']:,} | {sc['messages']:,} | {sc['ns_per_record_median']:.1f} | "
              f"{sc['ns_per_message_median']:.0f} | {sc['quoting_messages']:,} | {sc['rejects']} |")
        w("")
        w("| scenario | message type | count | p50 | p90 | p99 | p99.9 | max |")
        w("|---|---|---:|---:|---:|---:|---:|---:|")
        for sc in er["scenarios"]:
            for t, h in sc["per_message"].items():
                w(f"| {sc['scenario']} | {t} | {h['count']:,} | {us(h['p50'])} | {us(h['p90'])} | {us(h['p99'])} | {us(h['p999'])} | {us(h['max'])} |")
        w("")
        w("| scenario | offered msg/s | achieved | quoting msgs | tick-to-quote p50 | p90 | p99 | p99.9 | max |")
        w("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        for sc in er["scenarios"]:
            for p in sc["paced"]:
                h = p["tick_to_quote"]
                w(f"| {sc['scenario']} | {p['offered_msg_rate']:,} | {p['achieved_msg_rate']:,} | {h['count']:,} | {us(h['p50'])} | "
                  f"{us(h['p90'])} | {us(h['p99'])} | {us(h['p999'])} | {us(h['max'])} |")
        w("")

    ep = r.get("engine_py") or {}
    if ep.get("t2q"):
        w(f"### Tick-to-quote through `rfqcore.engine.Engine` (`{ep['command']}`; {foreign(ep)})\n")
        w("| scenario | offered msg/s | messages | quoting samples | from intended: p50 | p99 | p99.9 | max | from ts_send: p50 | p99 | p99.9 | max | core rejects | sender |")
        w("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
        for t in ep["t2q"]:
            w(f"| {t['scenario']} | {t['offered_msg_rate']:,} | {t['messages']:,} | {t['samples']:,} | {lat_cells(t['latency_intended'])} | "
              f"{lat_cells(t['latency_send'])} | {t['core_rejects']} | {t['sender']} |")
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
    print("\n".join(out))


if __name__ == "__main__":
    main(sys.argv[1])
