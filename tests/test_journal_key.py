"""Keyed journal chain from Python and the CLI (docs/journal.md, "Keyed chain").

The desk key comes from ``RFQCORE_JOURNAL_KEY``: a journal written with it is verified with it by
``rfqcore replay-journal``; without it, or with another key, it is refused in one line naming the
variable; unkeyed journals still replay and say they are unkeyed; ``--require-keyed`` refuses them.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rfqcore_core

from rfqcore import journal
from rfqcore.engine import Engine
from rfqcore.journal import JournalSettings
from rfqcore.records import RECORD_DTYPE, Flag, Kind, Side

DESK_KEY = "5f1e0c9a7b3d2e4f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7"
OTHER_KEY = "a passphrase that is not the desk key"
SPOT = 1
T0 = 1_800_000_000_000_000_000


def _inputs() -> np.ndarray:
    """A book snapshot then a few updates on the spot instrument (timestamps in the records)."""
    S = int(Flag.SNAPSHOT)
    rows = [(Kind.BOOK_CLEAR, SPOT, 255, S, 0, 1, T0, T0, 0, 0, 0, 0)]
    for i in range(20):
        rows.append((Kind.BOOK_LEVEL, SPOT, Side.BID, S, 0, 1, T0, T0, 6_000_000 - i, 1_000_000, 0, 0))
        rows.append((Kind.BOOK_LEVEL, SPOT, Side.ASK, S | (Flag.END if i == 19 else 0), 0, 1, T0, T0,
                     6_000_010 + i, 1_000_000, 0, 0))
    for k in range(40):
        ts = T0 + (k + 1) * 1_000_000
        rows.append((Kind.BOOK_LEVEL, SPOT, Side.BID, int(Flag.END), 0, 2 + k, ts, ts, 6_000_000 - k % 5,
                     2_000_000 + k, 0, 0))
    return np.array(rows, dtype=RECORD_DTYPE)


def _write(jdir: Path) -> int:
    """Journals the inputs (key from the environment); returns the state hash."""
    inputs = _inputs()
    with Engine(journal=JournalSettings(str(jdir), durability="none", segment_bytes=4096)) as eng:
        for k in range(0, len(inputs), 10):
            eng.feed(inputs[k:k + 10])
            eng.run_once()
        return int(eng.state_hash())


def _cli(jdir: Path, key: str | None, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != journal.KEY_ENV}
    if key is not None:
        env[journal.KEY_ENV] = key
    return subprocess.run([sys.executable, "-m", "rfqcore.cli", "replay-journal", str(jdir), *extra],
                          capture_output=True, text=True, timeout=120, env=env)


def _key_id(key: str, tmp: Path) -> str:
    """The key id a journal written with ``key`` records (read back from a one-record journal)."""
    d = tmp / "id"
    os.environ[journal.KEY_ENV] = key
    try:
        with Engine(journal=JournalSettings(str(d), durability="none")) as eng:
            eng.feed(_inputs()[:1])
            eng.run_once()
        return str(rfqcore_core.verify_journal(str(d), int(journal.fingerprint(eng.registry, eng.rfq)))["key_id"])
    finally:
        del os.environ[journal.KEY_ENV]


def test_keyed_journal_needs_its_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(journal.KEY_ENV, raising=False)
    desk_id, other_id = _key_id(DESK_KEY, tmp_path / "a"), _key_id(OTHER_KEY, tmp_path / "b")
    assert len(desk_id) == 16 and desk_id != other_id
    jdir = tmp_path / "j"
    monkeypatch.setenv(journal.KEY_ENV, DESK_KEY)
    state = _write(jdir)
    assert len(sorted(jdir.glob("seg-*"))) >= 2
    seg0 = jdir / "seg-0000000000.rfqj"
    assert bytes.fromhex(DESK_KEY) not in seg0.read_bytes()

    p = _cli(jdir, DESK_KEY)
    assert p.returncode == 0, p.stdout + p.stderr
    assert f"keyed (key id {desk_id})" in p.stdout and "deterministic" in p.stdout
    # recovery with the key goes on where it stopped
    with Engine(journal=JournalSettings(str(jdir))) as eng:
        assert eng.state_hash() == state

    set_it = f"set {journal.KEY_ENV} to the desk key it was written with"
    missing = f": journal keyed with key id {desk_id}, but {journal.KEY_ENV} is not set: {set_it}"
    wrong = f": journal keyed with key id {desk_id}, but {journal.KEY_ENV} is key id {other_id}: {set_it}"
    last = sorted(jdir.glob("seg-*"))[-1]  # the writer checks the segment it continues
    for key, why in [(None, missing), ("", missing), (OTHER_KEY, wrong)]:
        p = _cli(jdir, key)
        assert (p.returncode, p.stdout, p.stderr) == (1, "", f"rfqcore: JournalError: {seg0}{why}\n")
        want = f"{last}{why}"
        if key is None:
            monkeypatch.delenv(journal.KEY_ENV)
        else:
            monkeypatch.setenv(journal.KEY_ENV, key)
        with pytest.raises(rfqcore_core.JournalError) as e:
            Engine(journal=JournalSettings(str(jdir)))
        assert str(e.value) == want

    p = _cli(jdir, "hunter2")
    assert (p.returncode, p.stderr) == (1, f"rfqcore: JournalError: {journal.KEY_ENV} holds 7 bytes: set it to 64 hex "
                                           "digits (32 random bytes, e.g. `openssl rand -hex 32`) or a passphrase of "
                                           "at least 16 characters\n")


def test_unkeyed_journal_still_replays_and_goes_on_keyed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(journal.KEY_ENV, raising=False)
    jdir = tmp_path / "j"
    state = _write(jdir)
    for key in (None, DESK_KEY):
        p = _cli(jdir, key)
        assert p.returncode == 0 and "unkeyed (plain BLAKE3 chain: not authenticated" in p.stdout, p.stdout + p.stderr
    n = len(sorted(jdir.glob("seg-*")))
    p = _cli(jdir, DESK_KEY, "--require-keyed")
    assert (p.returncode, p.stderr) == (1, f"rfqcore replay-journal: {n} of {n} segment(s) of {jdir} are unkeyed "
                                           f"(written without {journal.KEY_ENV}, or rewritten without the key): their "
                                           "chain proves nothing; drop --require-keyed to accept them\n")
    # the desk key set at a restart: the journal goes on in a keyed segment
    monkeypatch.setenv(journal.KEY_ENV, DESK_KEY)
    with Engine(journal=JournalSettings(str(jdir), durability="none")) as eng:
        assert eng.state_hash() == state
        eng.feed(_inputs()[-5:])
        eng.run_once()
    p = _cli(jdir, DESK_KEY)
    assert p.returncode == 0 and f"after {n} of {n + 1} segment(s) unkeyed" in p.stdout, p.stdout + p.stderr
    assert _cli(jdir, None).returncode == 1
