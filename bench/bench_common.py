"""Small helpers shared by the benchmark scripts (paths, machine description, JSON output)."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "bench"

# The benchmarks run from a source checkout: make `rfqcore` importable from src/ even when the
# package is not installed into the venv (the Cython modules are built in place there).
for p in (str(REPO / "src"), str(BENCH)):
    if p not in sys.path:
        sys.path.insert(0, p)


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    return platform.processor() or "?"


def machine() -> dict:
    return {
        "cpu": cpu_model(),
        "cpus": os.cpu_count(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "date_utc": time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime()),
        "loadavg": loadavg(),
    }


def _cpu_times() -> tuple[int, int]:
    f = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    vals = [int(x) for x in f[:8]]
    return vals[3] + vals[4], sum(vals)  # idle + iowait, total


def idle_fraction(window_s: float = 1.0) -> float:
    """Fraction of all CPUs that was idle over the next ``window_s`` seconds (1.0 if unknown)."""
    try:
        i0, t0 = _cpu_times()
        time.sleep(window_s)
        i1, t1 = _cpu_times()
    except (OSError, ValueError, IndexError):
        return 1.0
    return (i1 - i0) / max(t1 - t0, 1)


class ForeignLoad:
    """Measures how much CPU *other* processes used while a benchmark step ran.

    ``foreign_cpus`` = (all CPU time spent on the machine - CPU time of this process and its
    waited-for children) / wall time: 0 means the benchmark had the machine to itself, 1 means
    someone else kept one of the 2 cores busy on average. Saved with every result.
    """

    def __enter__(self) -> "ForeignLoad":
        import resource
        self._res = resource
        self._t = time.monotonic()
        self._idle, self._total = _cpu_times()
        self._own = self._own_cpu()
        return self

    def _own_cpu(self) -> float:
        r = self._res
        s, c = r.getrusage(r.RUSAGE_SELF), r.getrusage(r.RUSAGE_CHILDREN)
        return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime

    def __exit__(self, *exc: object) -> None:
        idle, total = _cpu_times()
        hz = os.sysconf("SC_CLK_TCK")
        busy_s = ((total - self._total) - (idle - self._idle)) / hz
        own_s = self._own_cpu() - self._own
        self.wall_s = time.monotonic() - self._t
        self.foreign_cpus = max(0.0, busy_s - own_s) / max(self.wall_s, 1e-9)


def wait_quiet(min_idle: float = 0.9, max_wait_s: float = 600.0, say=print) -> float:
    """Wait (up to ``max_wait_s``) until the machine is at least ``min_idle`` idle over a 2 s
    window, so a benchmark does not share the 2 cores with someone else's build. Returns the
    last idle fraction seen (recorded with the results either way)."""
    deadline = time.monotonic() + max_wait_s
    idle = idle_fraction(2.0)
    waited = False
    while idle < min_idle and time.monotonic() < deadline:
        if not waited:
            say(f"  (machine busy: {idle:.0%} idle; waiting up to {max_wait_s:.0f} s for >= {min_idle:.0%})")
            waited = True
        idle = idle_fraction(2.0)
    if idle < min_idle:
        say(f"  (still busy after {max_wait_s:.0f} s: {idle:.0%} idle; running anyway, numbers will be noisy)")
    return idle


def emit_json(bench: str, payload: dict) -> None:
    """The one machine-readable line a bench script prints (``bench/run_all.py`` parses it)."""
    print(json.dumps({"bench": bench, **payload}, separators=(",", ":")), flush=True)


def shm_path(tag: str) -> str:
    base = "/dev/shm" if os.path.isdir("/dev/shm") else "/tmp"
    return f"{base}/rfqcore-bench-{os.getpid()}-{tag}.ring"


def export_hist(name: str, recorder: object) -> None:
    """Write ``recorder`` (an ``rfqcore.latency.LatencyRecorder``) as the HdrHistogram percentile
    distribution ``$RFQCORE_HGRM_DIR/<name>.hgrm`` when that variable is set: ``make bench`` sets
    it per step and plots every ``.hgrm`` of the step as a PNG. Off the measured path."""
    d = os.environ.get("RFQCORE_HGRM_DIR")
    if d:
        recorder.write_hgrm(Path(d) / f"{name}.hgrm")  # type: ignore[attr-defined]
