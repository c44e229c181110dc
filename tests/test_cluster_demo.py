"""`rfqcore cluster-demo`: three real `serve --cluster` nodes, the leader killed, the client carrying on.

The demo runs as a user runs it (a subprocess, its output read as text), with ``--keep`` so that
its claims can be checked independently afterwards: the final verdict's journal seq and state hash
are what every node's own journal replays to, the fills it lists once are the fills it printed, and
it leaves no node process and nothing in /dev/shm behind. The one-line errors run in-process.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from rfqcore import journal
from rfqcore.cli import main as cli_main
from rfqcore.instruments import Registry
from rfqcore.rfqconfig import RfqSettings

DEMO_TIMEOUT_S = 170  # ~20 s on a quiet 2-core machine; generous for a loaded one


def _pids_alive(pids: list[int]) -> list[int]:
    return [p for p in pids if Path(f"/proc/{p}").exists() and "zombie" not in _state(p)]


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/status").read_text().split("State:", 1)[1].split("\n", 1)[0].lower()
    except (OSError, IndexError):
        return "gone"


def test_the_demo_kills_the_leader_and_the_client_carries_on(data_dir: Path, tmp_path: Path) -> None:
    keep = tmp_path / "demo"
    proc = subprocess.Popen([sys.executable, "-m", "rfqcore.cli", "cluster-demo", "--data", str(data_dir),
                             "--keep", str(keep)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=DEMO_TIMEOUT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    (tmp_path / "demo.out").write_text(out + "\n--- stderr\n" + err)  # kept with the nodes' logs
    assert proc.returncode == 0, f"exit {proc.returncode}\n{out[-4000:]}\n{err[-2000:]}"
    assert "Traceback" not in err, err

    killed = re.search(r"^kill 1: node (\d), the leader, killed \(SIGKILL to PID \d+\) mid-session$", out, re.M)
    assert killed, out
    dead = int(killed[1])
    settled = re.search(rf"^  accept of quote (\d+) sent to node {dead} \(dead\): no answer; outcome learnt from node "
                        r"(\d), the new leader, [\d.]+ s after the kill: quote (.*)$", out, re.M)
    assert settled, out
    new = int(settled[2])
    assert new != dead
    assert settled[3].startswith(("LIVE there", "FILLED there", "EXPIRED there")), settled[3]
    failover = re.search(rf"^  failover: first quote from the new leader, node {new}, ([\d.]+) s after the kill$",
                         out, re.M)
    assert failover, out
    assert re.search(rf"^  node {new}  quote \d+ status: FILLED, trade \d+ — the fill node {dead} acknowledged "
                     r"before it died$", out, re.M), out
    assert re.search(rf"^node {dead} restarted \(PID \d+\)", out, re.M), out
    assert re.search(rf"^node {dead} is a follower again and past journal seq", out, re.M), out

    # every fill printed, and the verdict lists each of them once
    printed = [int(t) for t in re.findall(r"^ {2}node \d {2}fill {2}trade (\d+)", out, re.M)]
    m = re.search(r"accept of quote \d+ .*, trade (\d+)$", out, re.M)
    if m:
        printed.append(int(m[1]))
    assert len(printed) == len(set(printed)) >= 3, out
    verdict = re.search(r"^3 nodes agree at journal seq ([\d,]+), state hash (0x[0-9a-f]{16}); fills: trades "
                        r"([\d, ]+) each once \(listed by node \d, the last leader\)$", out, re.M)
    assert verdict, out
    assert sorted(int(t) for t in verdict[3].split(", ")) == sorted(printed)
    seq, state_hash = int(verdict[1].replace(",", "")), int(verdict[2], 16)
    assert "stopped the nodes (SIGTERM): each exited with status 0" in out

    # nothing left running or in /dev/shm; the kept directory holds what it says
    pids = [int(p) for p in re.findall(r"PIDs? (\d+)", out)]
    pids += [int(p) for line in re.findall(r"\(PIDs ([\d, ]+)\)", out) for p in line.split(", ")]
    assert pids and not _pids_alive(pids), f"node processes still running: {_pids_alive(pids)}"
    assert not [n for n in os.listdir("/dev/shm") if n.startswith(f"rfqcore-cluster-demo-{proc.pid}-")]
    assert (keep / "cluster.toml").is_file() and all((keep / f"node{n}.log").is_file() for n in (1, 2, 3))

    # the verdict, checked independently: each node's journal replays to that position and state
    reg = Registry.load()
    rfq = RfqSettings.load(registry=reg)
    for n in (1, 2, 3):
        gens = sorted((keep / f"node{n}").glob("journal-*"))
        rep = journal.replay(gens[-1], reg, rfq)
        assert rep["records"] == seq and rep["state_hash"] == state_hash, (n, rep["records"], rep["state_hash"])
        assert rep["first_divergence"] is None


def test_ctrl_c_after_the_kill_stops_everything(data_dir: Path) -> None:
    """SIGINT (Ctrl-C) right after the leader was killed: one line, exit 130, no traceback, no node
    process left, nothing in /dev/shm (the killed node's driver directory included), the temporary
    work directory removed."""
    proc = subprocess.Popen([sys.executable, "-m", "rfqcore.cli", "cluster-demo", "--data", str(data_dir)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen: list[str] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:  # the demo ends by itself (its waits are bounded) if it never gets there
            seen.append(line)
            if line.startswith("kill 1: "):
                proc.send_signal(signal.SIGINT)
                break
        out, err = proc.communicate(timeout=DEMO_TIMEOUT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    text = "".join(seen) + out
    assert any(x.startswith("kill 1: ") for x in seen), text
    assert proc.returncode == 130, f"exit {proc.returncode}\n{text[-3000:]}\n{err}"
    assert text.rstrip().split("\n")[-1] == ("rfqcore cluster-demo: stopped (SIGINT) before the end; the nodes were "
                                             "stopped and their files removed")
    assert "Traceback" not in err and not err.strip(), err
    pids = [int(p) for line in re.findall(r"\(PIDs ([\d, ]+)\)", text) for p in line.split(", ")]
    pids += [int(p) for p in re.findall(r"SIGKILL to PID (\d+)", text)]
    assert len(pids) == 4 and not _pids_alive(pids), f"node processes still running: {_pids_alive(pids)}"
    assert not [n for n in os.listdir("/dev/shm") if n.startswith(f"rfqcore-cluster-demo-{proc.pid}-")]
    work = re.search(r"^work directory (\S+):", text, re.M)
    assert work and not Path(work[1]).exists()


def test_without_recorded_data_it_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    # a --data that does not exist
    assert cli_main(["cluster-demo", "--data", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert err.strip() == ("rfqcore cluster-demo: recorded data not found (--data, RFQCORE_DATA, ../shared/data); "
                           "the desk needs market data to quote from")
    # none given and none found where it is looked for (RFQCORE_DATA, ../shared/data: present on this
    # machine, so the lookup is made to find nothing)
    import rfqcore.cli

    monkeypatch.setattr(rfqcore.cli, "find_data_root", lambda explicit=None: None)
    assert cli_main(["cluster-demo"]) == 2
    out, err = capsys.readouterr()
    assert err.count("\n") == 1 and err.startswith("rfqcore cluster-demo: recorded data not found") and not out


def test_bad_options_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data_dir = tmp_path  # checked for existence only before these options are refused
    assert cli_main(["cluster-demo", "--data", str(data_dir), "--kills", "0"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--kills 0" in err
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    assert cli_main(["cluster-demo", "--data", str(data_dir), "--keep", str(tmp_path / "full")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not an empty directory" in err
    assert cli_main(["cluster-demo", "--data", str(data_dir), "--config", "x.toml"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--config does not apply" in err
