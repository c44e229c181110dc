"""``rfqcore venue-sim``: run one simulated venue by hand (see :mod:`rfqcore.venuesim.sim`)."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["add_parser"]


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``venue-sim`` on ``subparsers`` (an argparse sub-parser action); returns its parser."""
    from rfqcore.venuesim import sim

    p: argparse.ArgumentParser = subparsers.add_parser(
        "venue-sim", help="run a simulated venue (Binance- or OKX-style) on loopback, seeded from recorded books",
        description="Serves one instrument over the venue's real protocol subset (REST + WebSocket), backed by "
                    "the matching core and seeded from the recorded books in ../shared/data. Prints one JSON "
                    "ready line with its URLs, then runs until Ctrl-C / SIGTERM. Fault injection: POST /sim/admin "
                    "(see docs/venues.md). Example: rfqcore venue-sim --style binance --symbol BTCUSDT "
                    "--seed binance-spot --port 8701")
    sim.add_arguments(p)
    p.set_defaults(func=sim.run)
    return p
