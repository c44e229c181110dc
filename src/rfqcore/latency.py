"""Latency recording with HdrHistogram (the ``hdrhistogram`` package), in nanoseconds.

Percentiles come from the histogram, never from an average; values are recorded from the
time the triggering record was pushed (``ts_send``, CLOCK_MONOTONIC) — or, in the paced
benchmarks, from its *intended* send time, so a stall is charged to every record it delayed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from hdrh.histogram import HdrHistogram

__all__ = ["LatencyRecorder", "LatencySummary"]

#: Largest latency tracked (60 s); larger values are clamped and counted in ``clamped``.
MAX_NS = 60_000_000_000


@dataclass(frozen=True, slots=True)
class LatencySummary:
    """Percentiles in nanoseconds (the fields); the repr and :meth:`format` say them in µs."""

    count: int
    p50: int
    p99: int
    p999: int
    max: int

    def format(self, unit: str = "µs") -> str:
        div = {"ns": 1, "µs": 1_000, "us": 1_000, "ms": 1_000_000}[unit]
        f = (lambda v: f"{v / div:,.2f}") if div > 1 else (lambda v: f"{v:,}")
        return (
            f"n={self.count:,} p50={f(self.p50)}{unit} p99={f(self.p99)}{unit} "
            f"p99.9={f(self.p999)}{unit} max={f(self.max)}{unit}"
        )

    def __repr__(self) -> str:
        def us(ns: int) -> str:
            return f"{ns / 1_000:,.2f} µs"

        return (f"LatencySummary(count={self.count:,}, p50={us(self.p50)}, p99={us(self.p99)}, "
                f"p99.9={us(self.p999)}, max={us(self.max)})")


class LatencyRecorder:
    """An HdrHistogram of latencies in ns, 3 significant digits, 1 ns .. 60 s."""

    def __init__(self) -> None:
        self.hist = HdrHistogram(1, MAX_NS, 3)
        self.clamped = 0

    def record(self, ns: int) -> None:
        if ns > MAX_NS:
            self.clamped += 1
            ns = MAX_NS
        self.hist.record_value(max(ns, 1))

    def record_array(self, ns: np.ndarray) -> None:
        """Record many values at once (grouped by value: one call per distinct value)."""
        if ns.size == 0:
            return
        v = np.clip(ns.astype(np.int64, copy=False), 1, MAX_NS)
        self.clamped += int(np.count_nonzero(ns > MAX_NS))
        values, counts = np.unique(v, return_counts=True)
        for value, count in zip(values.tolist(), counts.tolist(), strict=True):
            self.hist.record_value(value, count)

    def summary(self) -> LatencySummary:
        h = self.hist
        return LatencySummary(
            count=h.get_total_count(),
            p50=h.get_value_at_percentile(50.0),
            p99=h.get_value_at_percentile(99.0),
            p999=h.get_value_at_percentile(99.9),
            max=h.get_max_value(),
        )

    def reset(self) -> None:
        self.hist.reset()
        self.clamped = 0
