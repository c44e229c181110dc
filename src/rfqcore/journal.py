"""The journal from Python: attach it to an :class:`~rfqcore.engine.Engine`, replay it, verify it.

The journal itself is Rust (``rfq-journal``; format and guarantees in docs/journal.md): every
record the core consumes — market data, RFQs, accepts, cancels, CONTROL commands, injected
heartbeats — is appended and committed per the durability policy **before** the outputs it
caused are published to anyone. Because the core is deterministic, replaying the journal into
a fresh core with the same configuration rebuilds its state and its output stream exactly;
:func:`replay` checks that and names the first record where a replay diverges from the
recorded run.

The hash chain is keyed with the desk secret in ``RFQCORE_JOURNAL_KEY`` when it is set (64 hex
digits, or a passphrase of at least 16 characters): an edit of the files can then only be
re-chained by someone holding the key. Every call here reads the variable; a keyed journal is
refused without it, or with another key, by a one-line ``JournalError`` naming it. Unkeyed
journals (written without the variable, or before the chain could be keyed) still verify and
replay, and are reported as unkeyed (docs/journal.md, "Keyed chain").
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import rfqcore_core

from rfqcore.instruments import Registry
from rfqcore.rfqconfig import RfqSettings

if TYPE_CHECKING:  # the result dicts' types live in the stub only
    from rfqcore_core import JournalVerify, ReplayReport, SnapshotInfo

__all__ = ["KEY_ENV", "Durability", "JournalSettings", "fingerprint", "keying", "replay", "replay_after_snapshot", "verify",
           "snapshot_info"]

#: the environment variable holding the desk key of the journal's chain
KEY_ENV = "RFQCORE_JOURNAL_KEY"

Durability = Literal["fsync_each", "group", "none"]


@dataclass(frozen=True, slots=True)
class JournalSettings:
    """Where and how the engine journals its input.

    ``durability``: ``"fsync_each"`` — fdatasync at every commit (each batch the core takes);
    ``"group"`` — fdatasync when ``group_max_records`` records or ``group_max_us`` have
    accumulated (outputs still wait for the sync, so nothing acknowledged is ever lost; latency
    rises by up to the group window); ``"none"`` — write(2) only: survives a process crash
    (the page cache holds it), not a machine crash. Trade-offs measured in bench/RESULTS.md.
    """

    dir: str
    durability: Durability = "group"
    segment_bytes: int = 64 << 20
    group_max_records: int = 1 << 16
    group_max_us: int = 1000
    #: write a snapshot of the whole core every this many input records (0 = never); recovery
    #: then starts from the newest valid snapshot and replays only the journal tail
    snapshot_every: int = 0
    #: snapshots kept (older ones deleted)
    snapshot_keep: int = 2
    #: delete journal segments entirely before the oldest kept snapshot
    prune_segments: bool = False


def fingerprint(registry: Registry, rfq: RfqSettings, book_capacity: int = 65536) -> int:
    """The configuration fingerprint written into every segment: a journal is never replayed
    into a differently configured core."""
    return rfqcore_core.config_fingerprint(registry.instrument_specs(), registry.composite_specs(),
                                           rfq.core_spec(), book_capacity)


def replay(dir: str | os.PathLike[str], registry: Registry, rfq: RfqSettings,
           book_capacity: int = 65536) -> ReplayReport:
    """Rebuild a core from scratch from the journal in ``dir``; returns ``records``,
    ``state_hash``, ``output_hash``, ``first_divergence`` (None = bit-identical outputs to the
    recorded run), ``torn_bytes``, ``elapsed``... Nothing on disk is modified."""
    return rfqcore_core.replay_journal(str(dir), registry.instrument_specs(), registry.composite_specs(),
                                       rfq.core_spec(), None, book_capacity)


def replay_after_snapshot(dir: str | os.PathLike[str], registry: Registry, rfq: RfqSettings,
                          book_capacity: int = 65536) -> tuple[int, ReplayReport]:
    """:func:`replay` of a journal that may start after a snapshot (a pruned journal, a cluster
    node's generation after a snapshot it installed from the leader): its newest snapshot, then
    the records after it. ``(snapshot_seq, report)``; ``report["records"]`` counts those records."""
    return rfqcore_core.replay_journal_after_snapshot(str(dir), registry.instrument_specs(),
                                                      registry.composite_specs(), rfq.core_spec(), None,
                                                      book_capacity)


def verify(dir: str | os.PathLike[str], registry: Registry, rfq: RfqSettings,
           book_capacity: int = 65536) -> JournalVerify:
    """Check every CRC, sequence number and chain link without replaying (keyed segments with the
    key in ``RFQCORE_JOURNAL_KEY``); ``key_id`` (hex, None: unkeyed) and ``unkeyed_segments`` say
    how much of it the key authenticates."""
    return rfqcore_core.verify_journal(str(dir), fingerprint(registry, rfq, book_capacity))


def keying(v: JournalVerify) -> str:
    """How a verified journal (:func:`verify`'s result) is keyed, in words."""
    unkeyed, segments = v["unkeyed_segments"], v["segments"]
    if v["key_id"] is None:
        hint = "" if os.environ.get(KEY_ENV, "").strip() else f"; set {KEY_ENV} to key the journals written from now on"
        return f"unkeyed (plain BLAKE3 chain: not authenticated{hint})"
    if unkeyed:
        return f"keyed (key id {v['key_id']}) after {unkeyed} of {segments} segment(s) unkeyed"
    return f"keyed (key id {v['key_id']})"


def snapshot_info(path: str | os.PathLike[str]) -> SnapshotInfo:
    """Header of a snapshot file: fingerprint, journal seq and chain anchor, state hash, size
    (raises ``rfqcore.errors.JournalError`` if it is damaged)."""
    return rfqcore_core.snapshot_info(str(path))
