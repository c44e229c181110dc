"""`pip install` gives a working package: the wheel holds both compiled parts and runs in a fresh venv.

The wheel is built from this checkout with setup.py (setuptools-rust + Cython) as `pip install .`
builds it, reusing cargo's target directory (the release core `make build` just built, so cargo
finds it fresh). It is installed with ``--no-deps`` into a new venv that sees nothing of the
source tree; the runtime dependencies come from the development venv's site-packages, named by a
``.pth`` file (appended after the new venv's own site-packages, so the installed wheel wins and
no index is needed). Everything imported must come from the new venv.
"""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import textwrap
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow

SMOKE = textwrap.dedent(
    """
    import sys
    from decimal import Decimal
    from importlib.metadata import version

    import rfqcore, rfqcore_core, rfqcore._ring, rfqcore._decode, rfqcore._wire
    from rfqcore import Engine
    from rfqcore.records import Flag, Kind, RECORD_DTYPE, Side

    for m in (rfqcore, rfqcore_core, rfqcore_core.rfqcore_core, rfqcore._ring, rfqcore._decode, rfqcore._wire):
        assert m.__file__ is not None and m.__file__.startswith(sys.prefix), (m.__name__, m.__file__)
    assert rfqcore.__version__ == version("rfqcore") == rfqcore_core.__version__

    import numpy as np
    with Engine() as eng:  # the packaged defaults: instruments.toml and rfq.toml from the wheel
        ins = eng.registry.lookup("binance-spot", "BTCUSDT")
        px, q = 10 ** ins.price_decimals, 10 ** ins.qty_decimals
        rows = [(Kind.BOOK_CLEAR, 255, 0, 0), (Kind.BOOK_LEVEL, Side.BID, 60_000 * px, 2 * q),
                (Kind.BOOK_LEVEL, Side.ASK, 60_001 * px, 3 * q)]
        a = np.zeros(len(rows), dtype=RECORD_DTYPE)
        for i, (kind, side, price, qty) in enumerate(rows):
            flags = int(Flag.SNAPSHOT) | (int(Flag.END) if i == len(rows) - 1 else 0)
            a[i] = (kind, ins.id, side, flags, 0, i, 1, 1, price, qty, 0, 0)
        eng.feed(a)  # through a Cython ring producer into the Rust core
        eng.run_once()
        tob = eng.best(ins.key)
        assert tob is not None
        assert (tob.bid_price, tob.bid_qty, tob.ask_price, tob.ask_qty) == (
            Decimal(60_000), Decimal(2), Decimal(60_001), Decimal(3)), tob
    print("smoke ok", rfqcore.__version__)
    """
)


def run(cmd: list[str], cwd: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{' '.join(cmd)}\n{proc.stdout}\n{proc.stderr}"
    return proc


def test_wheel_installs_and_runs_in_a_fresh_venv(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    # No build isolation: the build requirements (pyproject.toml) are already in this venv.
    run([sys.executable, "-m", "pip", "wheel", "-q", "--no-build-isolation", "--no-deps", "-w", str(wheels),
         str(ROOT)], cwd=ROOT, timeout=900)
    (wheel,) = wheels.glob("rfqcore-*.whl")
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
    for part in ("rfqcore/_ring.", "rfqcore/_decode.", "rfqcore/_wire.", "rfqcore_core/rfqcore_core."):
        assert any(n.startswith(part) and n.endswith(".so") for n in names), f"{part}*.so not in {wheel.name}"
    for data in ("rfqcore_core/__init__.pyi", "rfqcore_core/py.typed", "rfqcore/py.typed",
                 "rfqcore/defaults/instruments.toml", "rfqcore/defaults/rfq.toml", "rfqcore/web/static/index.html",
                 "rfqcore/web/static/portal.js", "rfqcore/web/static/portal.css", "rfqcore/web/static/console.html",
                 "rfqcore/web/static/console.js", "rfqcore/web/static/console.css"):
        assert data in names, f"{data} not in {wheel.name}"

    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", str(venv)], cwd=tmp_path, timeout=120)
    vpy = venv / "bin" / "python"
    run([str(vpy), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)], cwd=tmp_path, timeout=300)
    site = run([str(vpy), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
               cwd=tmp_path, timeout=60).stdout.strip()
    (Path(site) / "rfqcore-test-deps.pth").write_text(sysconfig.get_path("purelib") + "\n")

    out = run([str(vpy), "-c", SMOKE], cwd=tmp_path, timeout=120).stdout
    assert out.startswith("smoke ok "), out
    installed = out.split()[-1]
    version = run([str(venv / "bin" / "rfqcore"), "--version"], cwd=tmp_path, timeout=60).stdout
    assert version == f"rfqcore {installed}\n"
