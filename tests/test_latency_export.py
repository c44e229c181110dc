"""Latency histograms leave the process as HdrHistogram ``.hgrm`` files and come back as PNG
plots: ``LatencyRecorder.write_hgrm`` / ``read_hgrm``, ``Engine.latency_histogram`` (the core
thread's histograms, rebuilt bucket for bucket), ``rfqcore latency-plot``."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rfqcore import Engine, Registry
from rfqcore.latency import LatencyRecorder, read_hgrm
from rfqcore.records import Flag, Kind
from test_engine import TOML, records, spot_snapshot


def recorder(values: list[int]) -> LatencyRecorder:
    r = LatencyRecorder()
    r.record_array(np.array(values, dtype=np.int64))
    return r


def test_hgrm_round_trip_keeps_the_percentiles(tmp_path: Path) -> None:
    r = recorder([1_000 + 37 * i for i in range(20_000)] + [5_000_000])  # one 5 ms outlier
    buf = io.StringIO()
    r.write_hgrm(buf, unit="µs")
    assert buf.getvalue().splitlines()[0].split() == ["Value", "Percentile", "TotalCount", "1/(1-Percentile)"]
    r.write_hgrm(tmp_path / "r.hgrm", unit="µs")
    assert (tmp_path / "r.hgrm").read_text() == buf.getvalue()
    rows = read_hgrm(tmp_path / "r.hgrm")
    assert len(rows) > 20 and rows[0][1] == 0.0 and rows[-1][1] > 0.9999
    # every row is the histogram's value at that percentile, in µs (3 decimals in the file); the
    # last is the largest value
    for v, p in rows[:-1]:
        assert v == pytest.approx(r.hist.get_value_at_percentile(p * 100) / 1_000, rel=1e-3, abs=1e-3), (v, p)
    assert rows[-1][0] == pytest.approx(r.summary().max / 1_000, rel=1e-3)  # the 5 ms outlier


def test_from_counts_rebuilds_the_same_histogram() -> None:
    r = recorder([3, 3, 3, 1_234_567, 7_000_000_000, 70_000_000_000])   # the last is clamped to 60 s
    counts = [(v.value_iterated_to, v.count_added_in_this_iter_step) for v in r.hist.get_recorded_iterator()]
    again = LatencyRecorder.from_counts(counts)
    assert again.summary() == r.summary()
    assert r.clamped == 1


def test_the_core_threads_histogram_exports_with_its_percentiles(tmp_path: Path) -> None:
    with Engine(Registry.from_toml(TOML)) as eng:
        eng.feed(spot_snapshot())
        eng.run_once()
        for t in range(2, 40):
            eng.feed(records((Kind.HEARTBEAT, 0, 255, Flag.END, t, 0, 0)))
            eng.run_once()
        s = eng.tick_to_quote()
        h = eng.latency_histogram("tick_to_quote")
        assert s.count >= 1 and h.summary().count == s.count
        # the same buckets: every percentile agrees to the histograms' 3 significant digits
        assert h.summary().p50 == pytest.approx(s.p50, rel=1e-3)
        assert h.summary().max == pytest.approx(s.max, rel=1e-3)
        h.write_hgrm(tmp_path / "t2q.hgrm")
        assert read_hgrm(tmp_path / "t2q.hgrm")[-1][0] == pytest.approx(s.max / 1_000, rel=1e-3)
        with pytest.raises(ValueError, match="unknown latency histogram 'nope'"):
            eng.latency_histogram("nope")
        sub = eng.latency_histogram("subscriber", reset=True)
        assert sub.summary().count >= 1 and eng.subscriber_latency.summary().count == 0


def rfqcore(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rfqcore.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120)


def test_latency_plot_writes_a_png_and_refuses_bad_input_in_one_line(tmp_path: Path) -> None:
    recorder([1_000 + 11 * i for i in range(5_000)]).write_hgrm(tmp_path / "fast.hgrm")
    recorder([2_000 + 23 * i for i in range(5_000)] + [900_000]).write_hgrm(tmp_path / "slow.hgrm")
    p = rfqcore("latency-plot", "fast.hgrm", "slow.hgrm", "-o", "out/plot.png", "--title", "t", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    png = (tmp_path / "out" / "plot.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5_000
    assert p.stdout.strip() == "wrote out/plot.png (2 distribution(s))"

    p = rfqcore("latency-plot", "fast.hgrm", "-o", "plot.svg", cwd=tmp_path)
    assert p.returncode == 0 and (tmp_path / "plot.svg").read_text().lstrip().startswith("<?xml"), p.stderr
    p = rfqcore("latency-plot", "fast.hgrm", "-o", "plot.txt", cwd=tmp_path)
    assert (p.returncode, p.stderr.strip()) == (1, "rfqcore latency-plot: plot.txt: give the plot a .png, .svg or .pdf "
                                                   "name (-o latency.png)")
    assert not (tmp_path / "plot.txt").exists()

    p = rfqcore("latency-plot", "missing.hgrm", cwd=tmp_path)
    assert p.returncode == 1
    assert p.stderr.strip() == ("rfqcore latency-plot: no such file: missing.hgrm (write one with "
                                "LatencyRecorder.write_hgrm or Engine.latency_histogram)")
    (tmp_path / "junk.hgrm").write_text("not a histogram\n")
    p = rfqcore("latency-plot", "junk.hgrm", cwd=tmp_path)
    assert p.returncode == 1 and "Traceback" not in p.stderr
    assert p.stderr.strip() == ("rfqcore latency-plot: junk.hgrm: no percentile rows (not an HdrHistogram .hgrm "
                                "percentile distribution)")
