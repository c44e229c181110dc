"""Every example in README.md and docs/*.md runs as written.

Each ```` ```python ```` block runs as its own script in a fresh interpreter (a new temporary
working directory, a timeout); a failure names the document and line, and the traceback's line
numbers are the document's. Each command of a ```` ```sh ```` block either runs (the cheap, safe
ones in ``RUN``) or is listed in ``NOT_RUN`` with the reason. A Python block that is deliberately
not runnable (a signature, a fragment) says so in its info string, ```` ```python no-run REASON ````,
and ``test_every_block_is_accounted_for`` counts those per file, so none is skipped silently.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from doc_blocks import ROOT, Block, all_blocks, commands

from rfqcore.venuesim.seed import SeedDataMissing, resolve_data_dir

BLOCKS = all_blocks()
SHELL = ("sh", "bash", "shell")  # commands only; a transcript with output would need its own handling
PYTHON = [b for b in BLOCKS if b.lang == "python" and b.no_run_reason is None]
COMMANDS = [(b, line, cmd) for b in BLOCKS if b.lang in SHELL for line, cmd in commands(b)]
PY_TIMEOUT_S = 120
SH_TIMEOUT_S = 60

#: Python blocks marked ``no-run``, per file: a new one must be added here, deliberately.
NO_RUN_BLOCKS = {
    "docs/venues.md": 2,  # the adapters' constructor signatures
}

#: Shell commands that run (matched at the start of the command): cheap, no side effects.
RUN = (
    re.compile(r"rfqcore (--version|--help|instruments|[a-z-]+ (--help|-h))\b"),
    re.compile(r"rfqcore config check\b"),   # reads files only
)

#: Shell commands that are not run, each with why (matched at the start of the command).
NOT_RUN: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"make demo\b"), "builds, then runs the four demos for ~1.5 min (tests/test_cli.py runs the RFQ "
     "session, tests/test_hedge_e2e.py the hedging desk, tests/test_fix.py the FIX session, "
     "tests/test_cluster_demo.py the replicated desk)"),
    (re.compile(r"rfqcore cluster-demo\b"), "three desk nodes for ~20-60 s (tests/test_cluster_demo.py runs it and "
     "checks its output)"),
    (re.compile(r"make test\b"), "this test suite itself"),
    (re.compile(r"pip install \.(\s|$)"), "builds and installs the whole package for minutes; tests/test_packaging.py "
     "builds the wheel and installs it into a fresh venv"),
    (re.compile(r"(CARGO_TARGET_DIR=\S+ )?cargo run --release .*--features bench"),
     "a release build and a benchmark run of minutes (make bench)"),
    (re.compile(r"rfqcore venue-sim "), "a server that runs until stopped, on a fixed port "
     "(tests/test_venue_sim.py starts the same simulator through its Python API)"),
    (re.compile(r"rfqcore serve (?!--help|-h\b)"), "a desk that runs until stopped, on a fixed port (tests/test_fix.py serves FIX "
     "on a free port; tests/test_lifecycle.py starts and stops `rfqcore serve`)"),
    (re.compile(r"rfqcore portal hash-password$"), "asks for a password (tests/test_portal.py runs it with one on "
     "standard input)"),
    (re.compile(r"make browser\b"), "installs Debian packages as root (a step of make test)"),
    (re.compile(r"(RFQCORE_UPDATE_SCREENSHOTS=1 )?\.venv/bin/python -m pytest\b"), "this test suite itself"),
    (re.compile(r"rfqcore cluster status\b"), "needs a running cluster (tests/test_cluster_status_cli.py runs it "
     "against three cluster_node processes on loopback)"),
)

#: Languages that are not examples to run: diagrams, synopses, outputs, configuration fragments.
NOT_CODE = {"", "text", "toml", "json", "rust"}
#: A line in a non-code block that looks like Python or a shell prompt: it belongs in a python/sh block.
#: (Command synopses with [options] and a|b alternatives stay ```text, as in the CLI sections.)
_CODE_LINE = re.compile(r"^(\$ |>>> |from rfqcore|import rfqcore)")
#: A command line a reader would copy and run (no prompt): in a ```text block it escapes the test
#: unless the block is a synopsis ([options], a|b alternatives, ...) or output (``prog: message``).
_COMMAND_LINE = re.compile(r"^([A-Z_]+=\S* )*(rfqcore|make|cargo|pip|python3?|\.venv/bin/\S+) ")
_SYNOPSIS = re.compile(r"\[|\||\.\.\.|…|^\S+( \S+)?: ")

#: Words in an example that mean it reads the recorded data (it skips when the data is absent).
_NEEDS_DATA = ("default_data_files(", "recorded_files(", "hedging_desk(", "sim_configs(", "seed=")


def _data_root() -> Path | None:
    try:
        return resolve_data_dir()
    except SeedDataMissing:
        return None


def _env() -> dict[str, str]:
    env = dict(os.environ)
    root = _data_root()
    if root is not None:
        env["RFQCORE_DATA"] = str(root)
    # the venv's console scripts (rfqcore) first, as for a user with the venv activated
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env.pop("PYTHONPATH", None)
    return env


def _tail(text: str, n: int = 40) -> str:
    return "\n".join(text.rstrip().split("\n")[-n:])


@pytest.mark.parametrize("block", PYTHON, ids=[b.where for b in PYTHON])
def test_python_example_runs(block: Block, tmp_path: Path) -> None:
    if _data_root() is None and any(w in block.text for w in _NEEDS_DATA):
        pytest.skip(f"recorded data absent: {block.where} replays it")
    script = tmp_path / (block.path.replace("/", "_") + f"_L{block.line}.py")
    script.write_text(block.runnable_source(), "utf-8")
    try:
        r = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=_env(), capture_output=True,
                           text=True, timeout=PY_TIMEOUT_S)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"{block.where}: example still running after {PY_TIMEOUT_S} s\n"
                    f"{_tail(str(e.stdout or ''))}\n{_tail(str(e.stderr or ''))}", pytrace=False)
    if r.returncode != 0:
        pytest.fail(f"{block.where}: example failed (exit {r.returncode}); traceback lines are the "
                    f"document's:\n{_tail(r.stderr)}", pytrace=False)


def _run_pattern(cmd: str) -> bool:
    return any(p.match(cmd) for p in RUN)


def _not_run_reason(cmd: str) -> str | None:
    return next((why for p, why in NOT_RUN if p.match(cmd)), None)


RUN_COMMANDS = [(b, line, cmd) for b, line, cmd in COMMANDS if _run_pattern(cmd)]


@pytest.mark.parametrize(("block", "line", "cmd"), RUN_COMMANDS,
                         ids=[f"{b.path}:{line}" for b, line, _ in RUN_COMMANDS])
def test_shell_command_runs(block: Block, line: int, cmd: str, tmp_path: Path) -> None:
    try:
        r = subprocess.run(["bash", "-c", cmd], cwd=ROOT, env=_env(), capture_output=True, text=True,
                           timeout=SH_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{block.path}:{line}: `{cmd}` still running after {SH_TIMEOUT_S} s", pytrace=False)
    if r.returncode != 0:
        pytest.fail(f"{block.path}:{line}: `{cmd}` exited {r.returncode}:\n{_tail(r.stderr)}", pytrace=False)
    assert r.stdout.strip(), f"{block.path}:{line}: `{cmd}` printed nothing"


def test_every_block_is_accounted_for() -> None:
    """Every block is run, or counted as deliberately not run with a reason, or is not code."""
    problems: list[str] = []
    no_run: dict[str, int] = {}
    for b in BLOCKS:
        if b.lang == "python":
            reason = b.no_run_reason
            if reason is not None:
                no_run[b.path] = no_run.get(b.path, 0) + 1
                if not reason:
                    problems.append(f"{b.where}: `no-run` without a reason (```python no-run REASON)")
        elif b.lang in SHELL:
            for line, cmd in commands(b):
                if _run_pattern(cmd) == (_not_run_reason(cmd) is not None):
                    problems.append(f"{b.path}:{line}: `{cmd}` is in neither RUN nor NOT_RUN (or in both): "
                                    f"add it to one, with the reason in NOT_RUN")
        elif b.lang in NOT_CODE:
            for n, text in enumerate(b.text.split("\n"), start=b.line + 1):
                if _CODE_LINE.match(text.strip()):
                    problems.append(f"{b.path}:{n}: code in a ```{b.lang or ''} block: make it ```python "
                                    f"or ```sh so it runs")
            lines = [t.strip() for t in b.text.split("\n") if t.strip()]
            if b.lang in ("", "text") and not any(_SYNOPSIS.search(t) for t in lines):
                for n, text in enumerate(b.text.split("\n"), start=b.line + 1):
                    if _COMMAND_LINE.match(text.strip()):
                        problems.append(f"{b.path}:{n}: a command in a ```{b.lang} block escapes this test: make "
                                        f"it ```sh (and add it to RUN or NOT_RUN)")
        else:
            problems.append(f"{b.where}: unknown block language {b.lang!r}: python, sh, or one of {sorted(NOT_CODE)}")
    if no_run != NO_RUN_BLOCKS:
        problems.append(f"python no-run blocks per file are {no_run}, expected {NO_RUN_BLOCKS}: a block "
                        f"marked no-run must be deliberate (update NO_RUN_BLOCKS)")
    assert not problems, "\n".join(problems)
    assert len(PYTHON) >= 8 and len(RUN_COMMANDS) >= 3  # the extraction found the examples


@pytest.mark.parametrize("block", [b for b in BLOCKS if b.lang in ("toml", "json")],
                         ids=[b.where for b in BLOCKS if b.lang in ("toml", "json")])
def test_config_and_output_fragments_parse(block: Block) -> None:
    try:
        tomllib.loads(block.text) if block.lang == "toml" else json.loads(block.text)
    except ValueError as e:
        pytest.fail(f"{block.where}: {block.lang} does not parse: {e}", pytrace=False)
