"""Results of the two benches that print no JSON result line, parsed from their report.

``snapshot_bench`` (Rust, rfq-engine) and ``book_profile.py`` print only a human report; until
they print a ``{"bench": ...}`` line of their own, ``run_all.py`` reads its figures from the
report lines below. A line that is missing (its format changed) fails the step, never a silent
empty result.
"""

from __future__ import annotations

import json
import re


def _num(s: str) -> float:
    return float(s.replace(",", ""))


SNAPSHOT_LINES = {  # snapshot_bench prints no JSON line: its report lines, parsed (all required)
    "load": r"snapshot bench: (?P<market_records>\d+) market records .*?then (?P<rfqs>\d+) RFQs from "
            r"(?P<clients>\d+) clients -> (?P<quotes>\d+) quotes \((?P<live_quotes>\d+) live\), (?P<fills>\d+) "
            r"fills; (?P<book_levels>\d+) book levels",
    "snapshot": r"snapshot at seq (?P<seq>\d+): (?P<bytes>\d+) bytes .*?encode (?P<encode_ms>[\d.]+) ms .*?"
                r"rename (?P<write_total_ms>[\d.]+) ms",
    "restore": r"restore .*?median (?P<restore_median_ms>[\d.]+) ms, min (?P<restore_min_ms>[\d.]+) ms",
    "recovery": r"recovery = snapshot \+ tail: (?P<recovery_s>[\d.]+) s in all \((?P<tail_records>\d+) tail "
                r"records, (?P<tail_m_rec_per_s>[\d.]+) M records/s",
    "full": r"full replay of the journal: (?P<full_records>\d+) records in (?P<full_s>[\d.]+) s "
            r"\((?P<full_m_rec_per_s>[\d.]+) M records/s",
}


def parse_snapshot(out: str) -> dict:
    res: dict = {"bench": "rfq_snapshot"}
    for what, pat in SNAPSHOT_LINES.items():
        m = re.search(pat, out)
        if not m:
            raise RuntimeError(f"snapshot_bench: no {what!r} line in its output (changed format?):\n{out[-2000:]}")
        res.update({k: _num(v) for k, v in m.groupdict().items()})
    return res


def parse_book_profile(out: str) -> dict:
    """book_profile.py prints, per stream, a summary line then its figures as one indented JSON
    object; then the levels a 100 BTC sweep takes, sampled, as one indented JSON list."""
    skip = [ln for ln in out.splitlines() if ln.startswith("SKIP:")]
    if skip:
        return {"skipped": skip[0][5:].strip()}
    streams, samples = [], None
    for line in out.splitlines():
        t = line.strip()
        if line.startswith("  {"):
            streams.append(json.loads(t))
        elif line.startswith("  ["):
            samples = json.loads(t)
    if not streams or samples is None:
        raise RuntimeError(f"book_profile: no figures in its output:\n{out[-2000:]}")
    return {"bench": "book_profile", "streams": streams, "levels_100btc_samples": samples}
