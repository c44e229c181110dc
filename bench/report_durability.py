"""``report.py``'s tables for the steps of issues 4 and 5 and the settlement writer: matching,
journal, journaled RFQ path, snapshots, the crash test, settlement. Only formats numbers that
are in the results file."""

from __future__ import annotations


def us(ns: float) -> str:
    return f"{ns / 1e3:,.1f} µs" if ns >= 10_000 else f"{ns:,.0f} ns"


def ms(ns: float) -> str:
    return f"{ns / 1e6:,.2f} ms"


def head(w, title: str, step: dict, foreign) -> None:
    w(f"### {title} (`{step['command']}`; {foreign(step)})\n")


def render(r: dict, w, foreign) -> None:
    m = r.get("match_rust") or {}
    if m.get("throughput_best"):
        head(w, "Matching core", m, foreign)
        w(f"{m['requests']:,} requests, ~{m['avg_orders']:.0f} resting orders on ~{m['avg_levels']:.0f} levels: best "
          f"{m['throughput_best'] / 1e6:.1f} M req/s, median {m['throughput_median'] / 1e6:.1f} M req/s; service time "
          f"p50 {us(m['service_p50_ns'])}, p99 {us(m['service_p99_ns'])}, p99.9 {us(m['service_p999_ns'])}.\n")
        w("| offered | requests | p50 | p90 | p99 | p99.9 | max | preempted |")
        w("|---:|---:|---:|---:|---:|---:|---:|---:|")
        for x in m.get("latency", []):
            w(f"| {x['rate']:,}/s | {x['requests']:,} | {us(x['p50_ns'])} | {us(x['p90_ns'])} | {us(x['p99_ns'])} | "
              f"{us(x['p999_ns'])} | {us(x['max_ns'])} | {x['preempted']} |")
        w("")
    mp = r.get("match_py") or {}
    if mp.get("rfqcore"):
        q, nt = mp["rfqcore"], mp.get("nautilus") or {}
        head(w, "Matching from Python, batched", mp, foreign)
        w(f"One `process` call: best {q['whole_best_mops']} M req/s ({q['whole_best_ns_per_req']} ns/req), median "
          f"{q['whole_median_mops']} M; in batches: best {q['batched_best_mops']} M, median {q['batched_median_mops']} M. "
          + (f"NautilusTrader: skipped ({nt['skipped']})." if "skipped" in nt else
             f"NautilusTrader, first {nt['requests']:,} requests one call each: {nt['us_per_req']} µs/req.") + "\n")
    j = r.get("journal_rust") or {}
    for run in j.get("runs", []):
        head(w, f"Journal on {run['dir']}", j, foreign)
        w("| policy | I/O | batch | records/s | syncs | append+commit p50 | p99 | p99.9 | max |")
        w("|---|---|---:|---:|---:|---:|---:|---:|---:|")
        for a in run["append"]:
            if "records_per_s" in a:
                w(f"| {a['policy']} | {'sync thread' if a['thread'] else 'inline'} | {a['batch']} | "
                  f"{a['records_per_s'] / 1e6:.2f} M | {a['syncs']} | {us(a['p50_ns'])} | {us(a['p99_ns'])} | "
                  f"{us(a['p999_ns'])} | {us(a['max_ns'])} |")
        w("")
        w("| paced 1-record commits | I/O | commit p50 / p99 / p99.9 | commit → durable p50 / p99 / p99.9 |")
        w("|---|---|---|---|")
        for a in run["append"]:
            if "paced_rate" in a:
                w(f"| {a['policy']} at {a['paced_rate']:,}/s | {'sync thread' if a['thread'] else 'inline'} | "
                  f"{us(a['commit_p50_ns'])} / {us(a['commit_p99_ns'])} / {us(a['commit_p999_ns'])} | "
                  f"{us(a['durable_p50_ns'])} / {us(a['durable_p99_ns'])} / {us(a['durable_p999_ns'])} |")
        w(f"\nReplay (read + verify): {run['replay_records_per_s'] / 1e6:.2f} M records/s; CRC32C {run['crc_ns']} ns/record, "
          f"BLAKE3 chain {run['chain_block_ns']} ns/record per block ({run['chain_each_ns']} per record)"
          + (f"; keyed chain (desk key): replay {run['replay_keyed_records_per_s'] / 1e6:.2f} M records/s, "
             f"{run['chain_keyed_block_ns']} ns/record per block" if "replay_keyed_records_per_s" in run else "")
          + ".\n")
    e = r.get("rfq_journal_rust") or {}
    if e.get("runs"):
        head(w, "RFQ → answer through a journaled core thread", e, foreign)
        w("| journal dir | durability | journal I/O | offered msg/s | RFQs | p50 | p99 | p99.9 | max |")
        w("|---|---|---|---:|---:|---:|---:|---:|---:|")
        for x in e["runs"]:
            h = x["rfq_to_answer"]
            w(f"| {x['dir']} | {x['durability']} | {'sync thread' if x['io'] == 'thread' else 'core thread'} | {x['rate']:,} | {h['count']:,} | {ms(h['p50'])} | "
              f"{ms(h['p99'])} | {ms(h['p999'])} | {ms(h['max'])} |")
        w("")
    s = r.get("snapshot_rust") or {}
    if s.get("bytes"):
        head(w, "Snapshots and recovery", s, foreign)
        w("| loaded state | snapshot size | encode | + write + fsync + rename | restore (median) | recovery: snapshot + tail | full replay |")
        w("|---|---|---|---|---|---|---|")
        w(f"| {s['book_levels']:,.0f} book levels, {s['live_quotes']:,.0f} live quotes, {s['fills']:,.0f} fills | "
          f"{s['bytes'] / 2**20:.2f} MiB | {s['encode_ms']} ms | {s['write_total_ms']} ms | {s['restore_median_ms']} ms | "
          f"{s['recovery_s']} s ({s['tail_records']:,.0f} tail records, {s['tail_m_rec_per_s']} M rec/s) | "
          f"{s['full_records']:,.0f} records in {s['full_s']} s: {s['full_m_rec_per_s']} M rec/s |\n")
    c = r.get("crash") or {}
    if "kills" in c:
        head(w, "Crash test, sized up", c, foreign)
        w(f"{c['inputs']:,} input records; {c['kills']} SIGKILLs over {c['lives']} lives; {c['distinct_acknowledged_trades']:,} "
          f"trades acknowledged, **{c['acknowledged_but_wrong_or_lost']} lost or different**; journal replay state equal: "
          f"{c['state_equal']}, first divergence: {c['first_divergence']}.\n")
    st = r.get("settlement") or {}
    if st.get("store_up"):
        head(w, "Settlement writer", st, foreign)
        w(f"`offer_trades` of {st['batch']} trades at {st['rate']:,.0f} calls/s offered for {st['seconds']:g} s, "
          "from the intended send time:\n")
        w("| store | calls | achieved | p50 | p99 | p99.9 | max | call alone p50 | p99 |")
        w("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        for ph in ("store_up", "store_down"):
            p, h, cl = st[ph], st[ph]["from_intended"], st[ph]["call"]
            w(f"| {ph.removeprefix('store_')} | {p['calls']:,} | {p['achieved_rate']:,.0f}/s | {us(h['p50'])} | {us(h['p99'])} | "
              f"{us(h['p999'])} | {us(h['max'])} | {us(cl['p50'])} | {us(cl['p99'])} |")
        d, u = st["drain"], st["unpaced"]
        w(f"\nDrain after the outage: {d['trades']:,} trades in {d['seconds']} s ({d['trades_per_s']:,.0f} trades/s). "
          f"Unpaced: {u['calls_per_s']:,.0f} calls/s, {u['trades_per_s']:,.0f} trades/s.\n")
