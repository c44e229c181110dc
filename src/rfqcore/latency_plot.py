"""``rfqcore latency-plot``: HdrHistogram percentile distributions (``.hgrm`` files) as one PNG.

The standard HdrHistogram plot: latency against percentile on a log scale of ``1/(1-p)``, so
the median, 99th, 99.9th and 99.99th percentiles get equal room and the tail is visible. Every
file given is one line; the unit is the one the files were written with
(:meth:`rfqcore.latency.LatencyRecorder.write_hgrm`, ``Engine.latency_histogram``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rfqcore.latency import read_hgrm

__all__ = ["plot_hgrm", "add_parser"]

#: percentiles labelled on the x axis
_TICKS = (0.0, 0.5, 0.9, 0.99, 0.999, 0.9999, 0.99999)


class PlotError(Exception):
    """A user's mistake: one line saying what is wrong and what to do."""


#: the formats ``-o``'s suffix may ask for
_FORMATS = ("png", "svg", "pdf")


def _x(p: float) -> float:
    return 1.0 / (1.0 - min(p, 0.9999999))


def plot_hgrm(files: list[Path], out: Path, *, title: str = "latency by percentile", unit: str = "µs",
              log_y: bool = True) -> Path:
    """Plot each ``.hgrm`` file's percentile distribution into ``out`` — a PNG, or SVG / PDF by
    its suffix; latency on a log axis by default (tails are orders of magnitude above the
    median)."""
    fmt = out.suffix.lower().lstrip(".")
    if fmt not in _FORMATS:
        raise PlotError(f"{out}: give the plot a .png, .svg or .pdf name (-o latency.png)")
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:
        raise PlotError("latency-plot needs matplotlib: pip install 'rfqcore[plot]' (or pip install matplotlib)") from e
    series = []
    for f in files:
        if not f.is_file():
            raise PlotError(f"no such file: {f} (write one with LatencyRecorder.write_hgrm or Engine.latency_histogram)")
        try:
            series.append((f, read_hgrm(f)))
        except ValueError as e:
            raise PlotError(str(e)) from e
    fig, ax = plt.subplots(figsize=(9, 5), dpi=100)
    top = max(p for _, rows in series for _, p in rows)
    for f, rows in series:
        ax.plot([_x(p) for _, p in rows], [v for v, _ in rows], label=f.stem, linewidth=1.5)
    ax.set_xscale("log")
    if log_y:
        ax.set_yscale("log")
    ticks = [p for p in _TICKS if p <= max(top, 0.99)]
    ax.set_xticks([_x(p) for p in ticks])
    ax.set_xticklabels([f"{p * 100:g}%" for p in ticks])
    ax.set_xlabel("percentile")
    ax.set_ylabel(f"latency ({unit})")
    ax.set_title(title)
    ax.grid(True, which="major", alpha=0.3)
    if log_y:
        ax.grid(True, which="minor", axis="y", alpha=0.1)
    ax.legend(loc="upper left")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, format=fmt)
    plt.close(fig)
    return out


def _cmd(args: argparse.Namespace) -> int:
    out = Path(args.output)
    plot_hgrm([Path(f) for f in args.files], out, title=args.title, unit=args.unit, log_y=not args.linear)
    print(f"wrote {out} ({len(args.files)} distribution(s))")
    return 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    lp = sub.add_parser("latency-plot", help="plot HdrHistogram .hgrm percentile distributions as a PNG",
                        description=__doc__.split("\n\n")[1] if __doc__ else None)
    lp.add_argument("files", nargs="+", metavar="FILE.hgrm", help="percentile distributions (one line each)")
    lp.add_argument("-o", "--output", default="latency.png", help="the plot to write: .png, .svg or .pdf (default: latency.png)")
    lp.add_argument("--title", default="latency by percentile")
    lp.add_argument("--unit", default="µs", help="the unit the files were written in (axis label; default µs)")
    lp.add_argument("--linear", action="store_true", help="a linear latency axis (default: logarithmic)")
    lp.set_defaults(func=_cmd)

