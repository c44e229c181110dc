"""Latency recording with HdrHistogram (the ``hdrhistogram`` package), in nanoseconds.

Percentiles come from the histogram, never from an average; values are recorded from the
time the triggering record was pushed (``ts_send``, CLOCK_MONOTONIC) — or, in the paced
benchmarks, from its *intended* send time, so a stall is charged to every record it delayed.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np
from hdrh.histogram import HdrHistogram

__all__ = ["LatencyRecorder", "LatencySummary", "read_hgrm", "UNITS"]

#: nanoseconds per unit, for reports and plots
UNITS = {"ns": 1, "µs": 1_000, "us": 1_000, "ms": 1_000_000}

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

        def f(v: int) -> str:
            return f"{v / div:,.2f}" if div > 1 else f"{v:,}"

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

    def record(self, ns: int, count: int = 1) -> None:
        if ns > MAX_NS:
            self.clamped += count
            ns = MAX_NS
        self.hist.record_value(max(ns, 1), count)

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

    @classmethod
    def from_counts(cls, counts: Iterable[tuple[int, int]]) -> LatencyRecorder:
        """A recorder holding ``(value ns, count)`` buckets, e.g. the ``counts`` of the core's
        histograms (``rfqcore_core.Engine.tick_to_quote()``): same percentiles, to the
        histogram's 3 significant digits."""
        r = cls()
        for value, count in counts:
            if count > 0:
                r.record(int(value), int(count))
        return r

    def write_hgrm(self, dest: str | os.PathLike[str] | IO[str], unit: str = "µs") -> None:
        """The percentile distribution in HdrHistogram's ``.hgrm`` text format (values in
        ``unit``), the format every HdrHistogram plotter reads (``rfqcore latency-plot``)."""
        buf = io.BytesIO()
        self.hist.output_percentile_distribution(buf, UNITS[unit])
        text = buf.getvalue().decode()
        if isinstance(dest, (str, os.PathLike)):
            Path(dest).write_text(text, encoding="utf-8")
        else:
            dest.write(text)


def read_hgrm(path: str | os.PathLike[str]) -> list[tuple[float, float]]:
    """``(value, percentile 0..1)`` rows of an ``.hgrm`` file (HdrHistogram's percentile
    distribution text; values in the unit it was written with)."""
    rows = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if len(parts) == 4 and not line.lstrip().startswith("#"):
            try:
                rows.append((float(parts[0]), float(parts[1])))
            except ValueError:
                continue  # the header line
    if not rows:
        raise ValueError(f"{path}: no percentile rows (not an HdrHistogram .hgrm percentile distribution)")
    return rows
