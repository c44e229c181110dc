"""The hand-written rfqcore_core.pyi matches the compiled module (mypy.stubtest, commented allowlist)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import rfqcore_core

ROOT = Path(__file__).resolve().parents[1]
CRATE = ROOT / "core_ext" / "crates" / "rfqcore-py"


def test_rfqcore_core_stub_matches_binary(tmp_path: Path) -> None:
    # The benchmark helpers exist only in the bench build (cargo feature `bench`, `make bench`);
    # each build gets the allowlist that names exactly what it lacks or adds.
    build = "bench" if hasattr(rfqcore_core, "bench_ring_drain") else "nobench"
    allow = [CRATE / "stubtest-allowlist.txt", CRATE / f"stubtest-allowlist-{build}.txt"]
    proc = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "rfqcore_core", *(a for f in allow for a in ("--allowlist", str(f)))],
        cwd=tmp_path,  # away from the source tree, so the installed package is what is checked
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr

