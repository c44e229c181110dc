"""The venue adapters (rfqcore.venues) stand apart from the simulated venues (rfqcore.venuesim)."""

from __future__ import annotations

import subprocess
import sys


def test_adapters_do_not_import_the_simulators() -> None:
    code = (
        "import sys\n"
        "import rfqcore.venues, rfqcore.venues.base, rfqcore.venues.binance, rfqcore.venues.okx, rfqcore.venues.config\n"
        "import rfqcore.hedger\n"
        "print(sorted(m for m in sys.modules if m.startswith('rfqcore.venuesim')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]", f"an adapter imports a simulator: {out.strip()}"
