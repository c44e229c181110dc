"""``make bench`` runs every benchmark in the repository, and every figure in bench/RESULTS.md
names a command that exists and that ``make bench`` runs. Runs no benchmark: it reads
``bench/run_all.py --list`` (the steps and their commands), the bench scripts, the crates'
Cargo.toml and RESULTS.md."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "bench"

# bench/*.py that are not benchmarks: the harness and its helpers. Anything else there is a
# benchmark and must be a step of run_all.py.
NOT_BENCHMARKS = {"run_all.py", "steps.py", "text_results.py", "report.py", "report_durability.py", "bench_common.py", "current.py",
                  "conftest.py"}


@pytest.fixture(scope="module")
def listed() -> list[str]:
    """The commands of every step, full and quick (``$ ...`` and ``build: ...`` lines)."""
    cmds = []
    for quick in ([], ["--quick"]):
        out = subprocess.run([sys.executable, str(BENCH / "run_all.py"), "--list", *quick], cwd=REPO,
                             capture_output=True, text=True, check=True, timeout=30).stdout
        cmds += [ln.split("$ ", 1)[1] for ln in out.splitlines() if ln.startswith("    $ ")]
    assert len(cmds) >= 2 * 20, out
    return cmds


def rust_bench_targets() -> list[tuple[str, str, str]]:
    """(package, --bin or --bench, name) of every Rust bench binary: ``[[bin]]`` with
    ``required-features = ["bench"]``, and every ``[[bench]]``."""
    found = []
    for toml in sorted((REPO / "core_ext" / "crates").glob("*/Cargo.toml")):
        c = tomllib.loads(toml.read_text())
        pkg = c["package"]["name"]
        found += [(pkg, "--bin", b["name"]) for b in c.get("bin", []) if "bench" in b.get("required-features", [])]
        found += [(pkg, "--bench", b["name"]) for b in c.get("bench", [])]
    return found


def bench_scripts() -> list[str]:
    return sorted(p.name for p in BENCH.glob("*.py") if p.name not in NOT_BENCHMARKS)


def runs_script(cmds: list[str], script: str) -> bool:
    return any(re.search(rf"(^|[\s/])bench/{re.escape(script)}(\s|$)", c) for c in cmds)


def runs_rust(cmds: list[str], pkg: str, flag: str, name: str) -> bool:
    return any(re.search(rf"\s-p {re.escape(pkg)}\s.*{flag} {re.escape(name)}(\s|$)", c) for c in cmds)


def missing_steps(cmds: list[str]) -> list[str]:
    gone = [f"bench/{s}" for s in bench_scripts() if not runs_script(cmds, s)]
    return gone + [f"{p} {f} {n}" for p, f, n in rust_bench_targets() if not runs_rust(cmds, p, f, n)]


def test_every_benchmark_in_the_repo_is_a_step_of_run_all(listed: list[str]) -> None:
    assert {"match_py.py", "crash_bench.py", "settlement_bench.py"} <= set(bench_scripts())
    assert {("rfq-match", "--bin", "match_bench"), ("rfq-journal", "--bin", "journal_bench"),
            ("rfq-engine", "--bin", "snapshot_bench")} <= set(rust_bench_targets())
    assert missing_steps(listed) == [], "add these to bench/steps.py (run by `make bench`)"


def test_the_check_sees_a_step_taken_out(listed: list[str]) -> None:
    """The check above can fail: without the steps that run match_py.py and match_bench it
    names both."""
    fewer = [c for c in listed if "match_py.py" not in c and "match_bench" not in c]
    assert set(missing_steps(fewer)) - set(missing_steps(listed)) == {"bench/match_py.py", "rfq-match --bin match_bench"}


def quoted_commands(md: str) -> list[str]:
    """Backticked spans of RESULTS.md that are commands or name one: a script, a Rust binary."""
    spans = re.findall(r"`([^`\n]+)`", md)
    return [s for s in spans if re.search(r"\.(py|sh|rs)\b|\bcargo\b|\b[a-z]+_bench\b", s)]


def invocations(cmd: str) -> list[tuple[str, str]]:
    """(what it runs: ``bench/x.py`` or a Rust bench binary's name, the options given to it)."""
    found = []
    for m in re.finditer(r"(?:^|[\s/])(?:bench/)?(\w+\.py)\b(.*)", cmd):
        found.append((f"bench/{m[1]}", m[2]))
    m = re.search(r"--(?:bin|bench) (\w+)(.*)", cmd)
    if m:
        found.append((m[1], m[2].split(" -- ", 1)[1] if " -- " in m[2] else ""))
    elif not found:
        found += [(m[1], m[2]) for m in re.finditer(r"\b([a-z0-9]+(?:_[a-z0-9]+)*_bench)\b(?!\.\w)(.*)", cmd)]
    return found


def options(args: str) -> set[str]:
    return set(re.findall(r"(?<![\w-])--[a-z][\w-]*", args))


def results_problems(md: str, cmds: list[str]) -> list[str]:
    """Commands quoted in RESULTS.md that name a script, binary or file that does not exist, or
    that ``make bench`` does not run (the script or binary, or with an option no step gives it)."""
    bins = {n: (p, f) for p, f, n in rust_bench_targets()}
    run_opts: dict[str, set[str]] = {}
    for c in cmds:
        for what, args in invocations(c):
            run_opts.setdefault(what, set()).update(options(args))
    bad = []
    for q in quoted_commands(md):
        for path in re.findall(r"[\w./<>-]+\.(?:py|sh|rs)\b", q):
            rel = path.split("/bench/", 1)[-1] if "/bench/" in path else path.removeprefix("bench/")
            if path.endswith(".rs"):
                ok = (REPO / path).is_file() if "/" in path else any((REPO / "core_ext").rglob(path))
            elif path.endswith(".py") and "/" in rel:
                ok = (REPO / path).is_file()
            else:
                ok = path.endswith(".py") and (BENCH / rel).is_file()
            if not ok:
                bad.append(f"{q!r}: {path} is not in the repository")
        for what, args in invocations(q):
            name = what.removeprefix("bench/")
            if what.startswith("bench/"):
                if name in NOT_BENCHMARKS or not (BENCH / name).is_file():
                    continue
            elif what not in bins:
                bad.append(f"{q!r}: no Rust bench binary {what} in core_ext/crates/*/Cargo.toml")
                continue
            if what not in run_opts:
                bad.append(f"{q!r}: {name} is not a step of run_all.py")
                continue
            extra = options(args) - run_opts[what] - {"--quick", "--json"}
            if extra:
                bad.append(f"{q!r}: no step runs {name} with {' '.join(sorted(extra))}")
        m = re.search(r"-p ([\w-]+)\b.*--(?:bin|bench) (\w+)", q)
        if m and m[2] in bins and bins[m[2]][0] != m[1]:
            bad.append(f"{q!r}: {m[2]} is in {bins[m[2]][0]}, not {m[1]}")
    return bad


def test_every_command_quoted_in_results_exists_and_is_run_by_make_bench(listed: list[str]) -> None:
    md = (BENCH / "RESULTS.md").read_text()
    assert len(quoted_commands(md)) >= 10
    assert results_problems(md, listed) == []


def test_the_results_check_sees_a_missing_script_or_step(listed: list[str]) -> None:
    md = ("`/tmp/run_benches.sh` and `.venv/bin/python bench/nowhere.py` and "
          "`cargo run --release -p rfq-match --features bench --bin match_bench` and "
          "`cargo run -p rfq-book --bin match_bench` and `cargo bench -p rfq-ring --bench ring_bench -- --no-pin` "
          "and `.venv/bin/python bench/hedge_bench.py --idle park` and `nosuch_bench`")
    fewer = [c for c in listed if "match_bench" not in c]
    problems = [p.split(": ", 1)[1] for p in results_problems(md, fewer)]
    assert problems == [
        "/tmp/run_benches.sh is not in the repository", "bench/nowhere.py is not in the repository",
        "match_bench is not a step of run_all.py", "match_bench is not a step of run_all.py",
        "match_bench is in rfq-match, not rfq-book", "no step runs ring_bench with --no-pin",
        "no step runs hedge_bench.py with --idle", "no Rust bench binary nosuch_bench in core_ext/crates/*/Cargo.toml"]
