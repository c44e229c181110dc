"""The hand-written rfqcore_core.pyi matches the compiled module (mypy.stubtest, commented allowlist)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_rfqcore_core_stub_matches_binary(tmp_path: Path) -> None:
    allow = ROOT / "core_ext" / "crates" / "rfqcore-py" / "stubtest-allowlist.txt"
    proc = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "rfqcore_core", "--allowlist", str(allow)],
        cwd=tmp_path,  # away from the source tree, so the installed package is what is checked
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
