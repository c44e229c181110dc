"""The package type-checks under ``mypy --strict`` (configuration: ``[tool.mypy]`` in pyproject.toml).

``rfqcore_core`` is checked through its hand-written stub, itself checked against the binary
by tests/test_stubs.py.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_package_is_clean_under_mypy_strict() -> None:
    proc = subprocess.run([sys.executable, "-m", "mypy", "--strict"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Success: no issues found" in proc.stdout, proc.stdout
