"""The table of current figures that opens bench/RESULTS.md (bench/current.py) and the latency
files ``make bench`` leaves (``.hgrm`` + PNG, bench/run_all.py ``export_plots``). Runs no
benchmark: the rows fed in here are made up to exercise the bookkeeping, never shown as figures."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))
current = importlib.import_module("current")


def test_results_md_opens_with_the_rendering_of_current_json() -> None:
    text = current.RESULTS.read_text(encoding="utf-8")
    block = current.current_block(text)
    assert block, "bench/RESULTS.md has lost its current-figures markers"
    assert block == current.render(current.load()), "run .venv/bin/python bench/current.py"
    # It is the first table of the file: nothing measured comes before it.
    assert text.index(current.BEGIN) < text.index("\n| ")


def row(what: str, measured: float | None, target: float, op: str = "<=", unit: str = "ns") -> dict[str, Any]:
    return {"what": what, "measured": measured, "unit": unit, "target": target, "op": op}


def test_variants_of_one_target_show_as_the_worst_of_them() -> None:
    stamp = {"date_utc": "2026-12-05T08:00:00Z", "commit": "abc1234", "foreign_cpus": 0.05, "cpus": 2}
    rows = current.step_rows("rfq_rust", [
        row("RFQ pricing+risk in the core [rfq_0.1_one] p99", 400, 500),
        row("RFQ pricing+risk in the core [rfq_0.1_two] p99", 700, 500),
        row("RFQ pricing+risk in the core [floor_0.1_two] p99", 300, 500),
        row("RFQ pricing+risk in the core [rfq_1_one] p99", 450, 500),
    ], stamp)
    by = {r["what"]: r for r in rows}
    worst01 = by["RFQ pricing + risk in the core p99, 0.1 BTC (worst of one-/two-way, back to back)"]
    assert (worst01["measured"], worst01["variants"], worst01["met"]) == (700, 3, False)
    one = by["RFQ pricing + risk in the core p99, 1 BTC (worst of one-/two-way, back to back)"]
    assert (one["measured"], one["variants"], one["met"]) == (450, 1, True)
    assert all(r["commit"] == "abc1234" and r["step"] == "rfq_rust" for r in rows)
    # For a ">=" target the worst is the smallest.
    tp = current.step_rows("journal_rust", [
        row("journal replay (read + verify) [disk]", 9e6, 5e6, ">=", "rec/s"),
        row("journal replay (read + verify) [shm]", 4e6, 5e6, ">=", "rec/s"),
    ], stamp)
    assert [(r["measured"], r["met"]) for r in tp] == [(4e6, False)]


@pytest.fixture
def scratch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    results = tmp_path / "RESULTS.md"
    results.write_text(f"# results\n\nintro\n\n{current.BEGIN}\nold\n{current.END}\n\n## history\n| a |\n")
    monkeypatch.setattr(current, "RESULTS", results)
    monkeypatch.setattr(current, "CURRENT", tmp_path / "current.json")
    return tmp_path


def test_a_run_replaces_only_the_steps_it_measured(scratch: Path) -> None:
    machine = {"machine": {"date_utc": "2026-12-05T08:00:00Z", "cpus": 2}}
    current.record({"crash": [row("crash: acknowledged trades lost or different", 0, 0, unit="count")],
                    "scale_rust": [row("core RSS, 20 instruments x 5 venues live", 300e6, 256e6, unit="B")]},
                   {**machine, "crash": {"foreign_cpus": 0.0}, "scale_rust": {"foreign_cpus": 0.05}},
                   step_order=("scale_rust", "crash"))
    text = (scratch / "RESULTS.md").read_text()
    assert "old" not in text and text.endswith("## history\n| a |\n")
    assert "| core RSS, 20 instruments x 5 venues live | ≤ 256.0 MB | 300.0 MB | **missed** (1.17× off)" in text
    assert "| crash: acknowledged trades lost or different | ≤ 0 | 0 | **met**" in text
    assert text.index("core RSS") < text.index("crash:")  # step order, not call order
    # A later run of one step: its row changes, the other keeps its figure and date.
    later = {"machine": {"date_utc": "2026-12-06T09:00:00Z", "cpus": 2}, "scale_rust": {"foreign_cpus": 0.0}}
    current.record({"scale_rust": [row("core RSS, 20 instruments x 5 venues live", 200e6, 256e6, unit="B")]},
                   later, step_order=("scale_rust", "crash"))
    text = (scratch / "RESULTS.md").read_text()
    assert "| 200.0 MB | **met** (1.28× margin) | 2026-12-06T09:00:00Z" in text
    assert "300.0 MB" not in text and "| 0 | **met** | 2026-12-05T08:00:00Z" in text
    # A step other processes disturbed keeps its previous figures.
    assert current.record({"scale_rust": [row("core RSS, 20 instruments x 5 venues live", 1e6, 256e6, unit="B")]},
                          {**later, "scale_rust": {"foreign_cpus": 0.5}}, step_order=("scale_rust",),
                          max_foreign=0.1) == []
    assert "200.0 MB" in (scratch / "RESULTS.md").read_text()
    # A quick (smoke) run, a skipped or a failed step records nothing.
    before = (scratch / "current.json").read_text()
    current.record({"scale_rust": [row("core RSS, 20 instruments x 5 venues live", 1e6, 256e6, unit="B")]},
                   {**later, "quick": True}, step_order=("scale_rust",))
    current.record({"scale_rust": [row("core RSS, 20 instruments x 5 venues live", 1e6, 256e6, unit="B")]},
                   {**later, "scale_rust": {"failed": "exit 1"}}, step_order=("scale_rust",))
    assert (scratch / "current.json").read_text() == before
    # --check tells when RESULTS.md was edited by hand.
    assert current.main(["--check"]) == 0
    (scratch / "RESULTS.md").write_text((scratch / "RESULTS.md").read_text().replace("200.0 MB", "190.0 MB"))
    assert current.main(["--check"]) == 1


def test_rust_histogram_buckets_become_hgrm_files_and_a_png(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    run_all = importlib.import_module("run_all")
    from rfqcore.latency import read_hgrm

    d = tmp_path / "hgrm" / "engine_rust"
    d.mkdir(parents=True)
    # What engine_bench's export_counts writes: [value_ns, count] buckets.
    (d / "tick_to_quote_btc3_10k.counts.json").write_text(json.dumps([[1000, 90], [5000, 9], [20000, 1]]))
    made = run_all.export_plots("engine_rust", d, tmp_path)
    assert made["hgrm"] == ["hgrm/engine_rust/tick_to_quote_btc3_10k.hgrm"]
    assert (tmp_path / made["png"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = read_hgrm(tmp_path / made["hgrm"][0])  # µs

    def at(q: float) -> float:  # the value at percentile q (0..1)
        return min(v for v, p in rows if p >= q)

    assert [at(0.5), at(0.95), max(v for v, _ in rows)] == pytest.approx([1.0, 5.0, 20.0], rel=1e-3)
    assert not list(d.glob("*.counts.json"))
