"""Type stubs for ``rfqcore_core``: the one PyO3 binding over the pure-Rust core crates.

Every price/quantity is a fixed-point ``int`` in the scale of the instrument (or composite)
it belongs to. Nothing here takes or returns floats.
"""

from typing import Final, Literal, NotRequired, TypedDict, final

import numpy as np
import numpy.typing as npt

__version__: Final[str]
__all__ = [
    "__version__",
    "RECORD_SIZE",
    "RING_HEADER_SIZE",
    "RfqCoreError",
    "RingError",
    "BookError",
    "ConfigError",
    "JournalError",
    "record_layout",
    "ring_header_layout",
    "ring_create",
    "Book",
    "MatchingError",
    "ClusterError",
    "ClusterNode",
    "MatchingBook",
    "Engine",
    "NativeGateway",
    "replay_journal",
    "replay_journal_after_snapshot",
    "config_fingerprint",
    "verify_journal",
    "snapshot_info",
]

RECORD_SIZE: Final[int]
RING_HEADER_SIZE: Final[int]

class RfqCoreError(Exception): ...
class RingError(RfqCoreError): ...
class BookError(RfqCoreError): ...
class ConfigError(RfqCoreError): ...
class JournalError(RfqCoreError):
    """A journal is damaged, of another configuration, or cannot be written (names file and offset)."""

def record_layout() -> dict[str, tuple[int, int]]:
    """Field name -> (offset, size) of the Rust ``#[repr(C)] Record`` (from ``offset_of!``)."""

def ring_header_layout() -> dict[str, tuple[int, int]]:
    """Field name -> (offset, size) of the ring file header."""

def ring_create(path: str, capacity: int) -> None:
    """Create (or truncate) a ring file of ``capacity`` records (power of two)."""

class InstrumentSpec(TypedDict):
    id: int
    symbol: str
    venue: str
    kind: Literal["spot", "linear", "inverse"]
    base: str
    quote: str
    price_decimals: int
    qty_decimals: int
    tick: int           # in price units
    lot: int            # in qty units
    contract_size: int  # inverse: quote-currency value of one contract (whole units); else 0
    max_qty: int        # in qty units
    book_window: NotRequired[int]  # dense window per book side, ticks (power of two; default 131072)

class CompositeSpec(TypedDict):
    id: int
    name: str
    price_decimals: int
    qty_decimals: int
    members: list[int]          # member instrument ids (merge ties go to the earlier member)
    excluded: NotRequired[list[int]]  # members configured but excluded from pricing
    basis_ema_shift: NotRequired[int]       # basis EMA weight 2^-shift (TOML basis_ema_shift); default 0
    cross_tolerance_cbps: NotRequired[int]  # crossed-book tolerance, hundredths of a bp; default 0
    stale_after_ns: int         # a member silent for longer than this (core clock) is stale
    sizes: list[int]            # quote ladder, composite qty units
    base_cbps: int              # half-spread, hundredths of a basis point
    size_cbps_per_unit: int     # extra half-spread per whole base unit of size

@final
class Book:
    """A standalone L2 book (same code as the core's venue books)."""

    def __new__(cls, capacity: int = 16384, tick: int = 1, window: int = 131072) -> Book: ...
    def update(self, side: int, price: int, qty: int) -> None: ...
    def update_batch(
        self,
        sides: npt.NDArray[np.uint8],
        prices: npt.NDArray[np.int64],
        qtys: npt.NDArray[np.int64],
    ) -> int: ...
    def clear(self) -> None: ...
    def best_bid(self) -> tuple[int, int] | None: ...
    def best_ask(self) -> tuple[int, int] | None: ...
    def depth(self, side: int, levels: int) -> list[tuple[int, int]]: ...
    def vwap(self, side: int, qty: int) -> int | None:
        """Average price (rounded against the taker) to fill ``qty`` on ``side``; None if too thin."""
    def sweep(self, side: int, qty: int) -> tuple[int, int] | None:
        """(filled qty, notional in price*qty units) to take ``qty`` on ``side``."""
    def qty_at(self, side: int, price: int) -> int: ...
    def __len__(self) -> int: ...
    def levels(self, side: int) -> int: ...

class MatchingError(RfqCoreError):
    """A matching request was malformed (bad mode string, side, or request array); nothing applied."""

class ClusterError(RfqCoreError):
    """A cluster node could not start, or could not take or keep leadership (one line)."""

# Events of MatchingBook.submit/cancel/replace, one plain tuple each (sides: 0 bid, 1 ask):
#   ("accepted", id, account, side, price, qty, repriced)
#   ("rejected", id, request, reason)          request: "new" | "cancel" | "replace"
#   ("trade", maker_id, taker_id, maker_account, taker_account, taker_side, price, qty,
#             maker_fee, taker_fee, maker_remaining, taker_remaining)
#   ("cancelled", id, "user" | "self_trade", remaining)
#   ("expired", id, remaining)
#   ("replaced", id, old_price, old_qty, new_price, new_qty, priority_kept)
MatchingEvent = tuple[object, ...]

@final
class MatchingBook:
    """A central limit order book with price-time priority (the ``rfq-match`` core).

    Rejects are events, never exceptions. See ``rfqcore.matching`` for the batched array
    layouts of :meth:`process`.
    """

    def __new__(
        cls,
        tick: int,
        lot: int,
        max_qty: int,
        min_price: int,
        max_price: int,
        max_orders: int = 1048576,
        max_accounts: int = 1024,
    ) -> MatchingBook: ...
    @staticmethod
    def layouts() -> tuple[npt.DTypeLike, npt.DTypeLike]:
        """(request spec, event spec) as numpy dtype dicts (names/formats/offsets/itemsize)."""
    def set_account(
        self,
        account: int,
        stp: Literal["none", "cancel_newest", "cancel_oldest", "cancel_both"] = "none",
        maker_cbps: int = 0,
        taker_cbps: int = 0,
    ) -> None: ...
    def submit(
        self,
        id: int,
        account: int,
        side: int,
        price: int,
        qty: int,
        kind: Literal["limit", "market"] = "limit",
        tif: Literal["gtc", "ioc", "fok"] = "gtc",
        post_only: Literal["off", "reject", "slide"] = "off",
    ) -> list[MatchingEvent]: ...
    def cancel(self, id: int) -> list[MatchingEvent]: ...
    def replace(self, id: int, price: int, qty: int) -> list[MatchingEvent]: ...
    def process(self, requests: npt.NDArray[np.void]) -> npt.NDArray[np.void]:
        """Run a batch (``rfqcore.matching.REQUEST_DTYPE``), GIL released; returns EVENT_DTYPE rows."""
    def best_bid(self) -> tuple[int, int] | None: ...
    def best_ask(self) -> tuple[int, int] | None: ...
    def state_hash(self) -> int: ...
    def orders(self, side: int) -> list[tuple[int, int, int, int, str]]:
        """Resting orders of ``side`` in priority order: (id, account, price, qty, post_only)."""
    def __len__(self) -> int: ...

@final
class ClusterNode:
    """One node of a replicated desk (docs/cluster.md): Raft, the replicated input journal, the
    node's state-machine core and its status port, from construction to :meth:`shutdown`."""

    def __new__(
        cls,
        config: str,
        node: int,
        instruments: list[InstrumentSpec],
        composites: list[CompositeSpec],
        book_capacity: int = 65536,
        rfq: dict[str, object] | None = None,
    ) -> ClusterNode: ...
    @property
    def id(self) -> int: ...
    @property
    def addr(self) -> str: ...
    @property
    def dir(self) -> str: ...
    @property
    def fingerprint(self) -> int: ...
    def leader_term(self) -> int | None: ...
    def status_json(self) -> str: ...
    @property
    def held(self) -> bool: ...
    def lead(self, engine: Engine, timeout: float = 5.0) -> tuple[int, int, int, int]:
        """Make the stopped ``engine`` this leader's runner: (term, journal seq, committed state
        hash, client answers seeded into its tap)."""
    def stand_down(self) -> None: ...
    def client_history(self) -> bytes:
        """The committed log's newest client answers, RECORD_DTYPE records back to back."""
    def committed_seq(self) -> int: ...
    def shutdown(self) -> None: ...

@final
class Engine:
    """The core: one thread that owns all trading state.

    Inputs are ring files registered with :meth:`add_input` (merged round-robin, one whole
    venue message at a time, in registration order). Outputs go to ``out_ring``.
    Either drive it inline with :meth:`run_once` (deterministic tests) or start the core
    thread with :meth:`start`.
    """

    def __new__(
        cls,
        instruments: list[InstrumentSpec],
        composites: list[CompositeSpec],
        out_ring: str,
        idle: Literal["spin", "yield", "park"] = "yield",
        book_capacity: int = 65536,
        rfq: dict[str, object] | None = None,
    ) -> Engine:
        """``rfq``: the RFQ configuration, ``rfqcore.rfqconfig.RfqSettings.core_spec()``."""
    def add_input(self, path: str) -> int: ...
    def start(self) -> None: ...
    def stop(self) -> None: ...
    @property
    def running(self) -> bool: ...
    def run_once(self, max_records: int = 1 << 20) -> int:
        """Inline mode: consume what is in the input rings now; returns records processed."""
    def best(self, instrument: int) -> tuple[int, int, int, int] | None: ...
    def depth(self, instrument: int, side: int, levels: int) -> list[tuple[int, int]]: ...
    def vwap(self, instrument: int, side: int, qty: int) -> int | None: ...
    def composite_vwap(self, composite: int, side: int, qty: int) -> int | None: ...
    def depth_searchable(self, composite: int) -> bool | None:
        """Sweeps of the composite over its usable members search depth (None: unknown)."""
    def set_depth_search(self, on: bool) -> None:
        """Sweeps by depth search (default) or, False, by walking every level: same results."""
    def quotes(self, composite: int) -> list[tuple[int, int, int, int]]:
        """Last published ladder: (flags, reason, bid, ask) per size."""
    def pricing(self, composite: int) -> tuple[list[int], int, int] | None:
        """Live pricing v1: (sizes, base_cbps, size_cbps_per_unit)."""
    def book_status(self, instrument: int) -> int: ...
    def stats(self) -> CoreStats: ...
    def state_hash(self) -> int: ...
    @property
    def leadership_lost(self) -> bool:
        """A cluster leader's runner that lost leadership: it takes no input, publishes nothing."""
    def tick_to_quote(self, reset: bool = False) -> LatencyPercentiles:
        """Core-thread tick-to-quote percentiles (ns): count, min, mean, p50...p9999, max, and
        counts: every recorded bucket as (highest equivalent value, count)."""
    def rfq_to_quote(self, reset: bool = False) -> LatencyPercentiles:
        """Core-thread RFQ-to-answer percentiles (ns), same keys as :meth:`tick_to_quote`."""
    def gateway_in(self, reset: bool = False) -> LatencyPercentiles:
        """Gateway-in percentiles of RFQs (ns): client send time to the gateway handing it on."""
    def add_tap(self, path: str) -> None:
        """Copy every RFQ-family output (kinds 110-120) into this ring too (for a gateway)."""
    def out_waits(self) -> int:
        """Times the core thread found the out (or tap) ring too full to take input."""
    def heartbeats(self) -> int:
        """Heartbeats the core thread injected (counted as input records)."""
    def set_heartbeat(self, interval_ns: int | None) -> None:
        """Inject a wall-clock heartbeat after this long idle on the core thread (None = off)."""
    def position(self, composite: int) -> PositionView | None:
        """Desk position: qty, cost, realised, unrealised, fees, trades (exact ints)."""
    def client_position(self, client: int, composite: int) -> PositionView | None: ...
    def client_view(self, client: int) -> ClientView: ...
    def instrument_view(self, composite: int) -> dict[str, object]: ...
    def tier_view(self, tier: int) -> TierView:
        """A client tier's terms now (``SET_TIER`` changes them)."""
    def desk_view(self) -> DeskView:
        """The desk-wide settings now (``SET_DESK`` changes the repeated-execution throttle)."""
    def desk_killed(self) -> bool: ...
    def quote_view(self, quote_id: int) -> dict[str, object] | None: ...
    def pending(self) -> list[dict[str, int]]: ...
    def composite_mid(self, composite: int) -> int | None: ...
    def book_last_seen(self, instrument: int) -> int | None:
        """Receive time (ns) of the last record that reached a venue book; None before the first."""
    def now(self) -> int | None:
        """Core time (ns, CLOCK_REALTIME): the largest receive time of any input it accepted; None
        before its first input."""
    def rfq_stats(self) -> RfqStats: ...
    def hedge_views(self) -> list[HedgeView]:
        """Hedging state per hedged composite (docs/hedging.md)."""
    def hedge_orders(self) -> list[dict[str, int]]:
        """Every hedge order the core's OMS holds."""
    def basis(self, composite: int) -> list[tuple[int, int, bool]]:
        """Members' basis offsets: (instrument, offset in composite price units, known)."""
    def set_pricing(self, composite: int, base_cbps: int, size_cbps_per_unit: int, sizes: list[int]) -> None:
        """Refused (ConfigError) with a journal attached: it bypasses the input records."""
    def set_member(self, composite: int, instrument: int, included: bool) -> None:
        """Refused (ConfigError) with a journal attached: it bypasses the input records."""
    def attach_journal(
        self,
        dir: str,
        fingerprint: int,
        policy: Literal["none", "group", "fsync_each"] = "fsync_each",
        segment_bytes: int = 67108864,
        group_max_records: int = 256,
        group_max_ns: int = 1000000,
        snapshot_every: int = 0,
        snapshot_keep: int = 2,
        prune_segments: bool = False,
        key: str | None = None,
    ) -> RecoveryReport:
        """Before start: recover the journal in ``dir`` (torn tail truncated, other damage
        refused with JournalError) from the newest valid snapshot in ``dir/snapshots`` plus the
        journal tail (older snapshots, then a full replay, as fallbacks; a snapshot newer than
        the journal is refused), publish again the outputs of records after the ``published``
        marker, then journal every input before its outputs are published. ``snapshot_every``
        records (0 = off) the core thread writes a snapshot, keeping ``snapshot_keep`` files;
        ``prune_segments`` deletes segments entirely before the oldest kept snapshot. The chain
        is keyed with ``key`` (None: ``RFQCORE_JOURNAL_KEY``, unset = unkeyed; "" = unkeyed)."""
    def journal_stats(self) -> JournalStats | None:
        """The attached journal's counters, None without one."""
    def snapshot_now(self) -> SnapshotWritten:
        """Write a snapshot now (journal made durable first). JournalError without a journal."""

class ReplayReport(TypedDict):
    records: int
    outputs: int
    state_hash: int
    output_hash: int
    last_seq: int
    marks_checked: int
    first_divergence: int | None   # first record whose outputs differ from the recorded run
    torn_bytes: int
    elapsed: float                 # seconds

class RecoveryReport(ReplayReport):
    snapshot: str | None           # snapshot file used (None: full replay)
    snapshot_seq: int              # its journal sequence number (0 = none)
    tail_records: int              # records replayed after it (= records)
    snapshots_rejected: list[tuple[str, str]]  # (path, reason), newest first
    published_seq: int | None      # the published marker found
    republished_records: int       # journaled records whose outputs were published again
    republished_outputs: int       # output records published again

class SnapshotWritten(TypedDict):
    path: str
    seq: int
    bytes: int
    state_hash: int
    encode_seconds: float

class SnapshotInfo(TypedDict):
    version: int
    fingerprint: int
    seq: int
    chain: str                     # hex chain value of the journal commit it was taken at
    output_hash: int
    state_hash: int
    bytes: int

class HedgeVenue(TypedDict):
    """One venue of a :class:`HedgeView` (member instrument scale)."""
    venue: int
    up: bool
    position: int
    working: int

class InternalBook(TypedDict):
    """The internal crossing book of a :class:`HedgeView`."""
    position: int
    cost: int
    realised: int
    fills: int
    resting_orders: int

class HedgeView(TypedDict):
    """Hedging of one hedged composite (composite scales; docs/hedging.md)."""
    composite: int
    mode: str
    ratio_pct: int
    threshold: int
    max_slippage_cbps: int
    retry_ns: int
    available: bool
    client_flow: int
    hedged: int
    pending: int
    slippage: int
    matched_notional: int
    fees: int
    orders: int
    fills: int
    refused: int
    venues: list[HedgeVenue]
    internal: InternalBook | None

class CoreStats(TypedDict):
    """The core's counters; ``rejects_by_reason``: reject code -> count (non-zero only);
    ``book_levels``: venue instrument id -> levels in its book."""
    records: int
    messages: int
    rejects: int
    level_updates: int
    quotes: int
    status_changes: int
    repricings: int
    rejects_by_reason: dict[int, int]
    book_levels: dict[int, int]

class TierView(TypedDict):
    """A client tier's terms (markup and fee in cbps, TTLs in ns)."""
    id: int
    name: str
    markup_cbps: int
    fee_cbps: int
    ttl_ns: int
    max_ttl_ns: int
    allow_partial: bool

class DeskView(TypedDict):
    """The desk-wide settings (the repeated-execution throttle: exec_count fills within
    exec_window_ns; the quote table and pending-approval sizes)."""
    exec_count: int
    exec_window_ns: int
    quote_table: int
    max_pending: int

class ClientView(TypedDict):
    """A client's risk state (credit in cents; rates as (per second, burst))."""
    id: int
    name: str
    tier: int
    enabled: bool
    killed: bool
    halted: bool
    credit_limit: int
    utilised: int
    open_quotes: int
    max_open_quotes: int
    rfq_rate: tuple[int, int]
    accept_rate: tuple[int, int]

class RfqStats(TypedDict):
    """Counters of the RFQ workflow since start; ``rejects``: reject reason code -> count (non-zero only)."""
    rfqs: int
    quotes: int
    fills: int
    expiries: int
    cancels: int
    hit_rejects: int
    approvals: int
    approved: int
    declined: int
    timeouts: int
    controls: int
    risk_events: int
    rejects: dict[int, int]

class PositionView(TypedDict):
    """A position in one composite (exact ints in the composite's scales)."""
    composite: int
    qty: int
    cost: int
    realised: int
    unrealised: int | None  # None without a composite mid to mark it at
    fees: int
    trades: int

class LatencyPercentiles(TypedDict):
    """An HdrHistogram of nanoseconds, summarised (zeros and no buckets when empty)."""
    count: int
    min: int
    mean: float
    p50: int
    p90: int
    p99: int
    p999: int
    p9999: int
    max: int
    counts: list[tuple[int, int]]  # every recorded bucket: (highest equivalent value, count)

class JournalStats(TypedDict):
    committed_seq: int
    durable_seq: int
    commits: int
    syncs: int
    bytes: int
    segments_created: int
    segment: str
    output_hash: int | None
    error: str | None              # the I/O error that stopped the core thread

class JournalVerify(TypedDict):
    segments: int
    last_seq: int
    bytes: int
    chain: str                     # hex BLAKE3 chain value after the last commit (an anchor)
    torn_bytes: int
    key_id: str | None             # hex id of the key the keyed segments use (None: unkeyed)
    unkeyed_segments: int          # segments with a plain (unkeyed) chain, before any keyed one

def replay_journal_after_snapshot(
    dir: str,
    instruments: list[InstrumentSpec],
    composites: list[CompositeSpec],
    rfq: dict[str, object] | None = None,
    fingerprint: int | None = None,
    book_capacity: int = 65536,
) -> tuple[int, ReplayReport]:
    """Rebuild a core from a journal that may start after a snapshot (a pruned journal, a cluster
    node's generation after a snapshot it installed): ``(snapshot_seq, report)``, ``records``
    counting the records after the snapshot's anchor (0: replayed from the start). Unkeyed only."""

def replay_journal(
    dir: str,
    instruments: list[InstrumentSpec],
    composites: list[CompositeSpec],
    rfq: dict[str, object] | None = None,
    fingerprint: int | None = None,
    book_capacity: int = 65536,
    key: str | None = None,
) -> ReplayReport:
    """Rebuild a core from scratch by replaying the journal in ``dir`` (nothing modified on
    disk). ``fingerprint`` defaults to :func:`config_fingerprint` of the same arguments;
    ``key`` as for :func:`verify_journal`."""

def config_fingerprint(
    instruments: list[InstrumentSpec],
    composites: list[CompositeSpec],
    rfq: dict[str, object] | None = None,
    book_capacity: int = 65536,
) -> int:
    """FNV-1a of the parsed core configuration (same values and build -> same value)."""

def verify_journal(dir: str, fingerprint: int, key: str | None = None) -> JournalVerify:
    """Check every CRC, sequence number and chain link of a journal without replaying it; keyed
    segments with ``key`` (None: ``RFQCORE_JOURNAL_KEY``; "": no key). A keyed journal without
    its key, or with another, is refused (JournalError, one line naming the variable to set)."""

def snapshot_info(path: str) -> SnapshotInfo:
    """Header of a snapshot file, its body checked (JournalError if damaged)."""

# -- benchmark helpers: only in the bench build (cargo feature `bench`, `make bench`) -----------
# Left out of __all__ above, which lists the production module; the bench build adds them to it.

def bench_monotonic_ns() -> int:
    """CLOCK_MONOTONIC in ns, the clock of ``ts_send``."""

def bench_ring_drain(
    path: str,
    n_records: int,
    timeout_s: float = 30.0,
    intended_field: str | None = None,
    warmup: int = 0,
    seq_period: int = 0,
    batch: int = 4096,
) -> dict[str, object]:
    """Consume ``n_records`` from a ring file on a Rust thread (GIL released); returns elapsed
    time and one-way latency percentiles."""

class GatewayCoreHop(TypedDict):
    count: int
    p50: int
    p99: int
    p999: int
    max: int

class GatewayStats(TypedDict):
    """The counters of ``rfqcore.gateway.server.Gateway.stats()``, plus ``native`` and the two
    publication-gone counters."""

    native: bool
    sessions: int
    sessions_by_role: dict[str, int]
    rejects: dict[str, int]
    unanswerable: dict[str, int]
    logons: int
    logouts: int
    pushed: int
    tap_records: int
    ring_full: int
    ring_backlog: int
    offer_backlogged: int
    not_connected_drops: int
    no_session_drops: int
    slow_consumer_disconnects: int
    backlog_dropped: int
    images_gone: int
    sessions_ended_image_gone: int
    internal_errors: int
    out_backlog: int
    resent: int
    core_hop: GatewayCoreHop | None
    gateway_out_counts: list[tuple[int, int]]

@final
class NativeGateway:
    """The Rust Aeron gateway (crate rfq-gateway) as a thread of this process; use it through
    ``rfqcore.gateway.native.NativeGateway``."""

    def __new__(
        cls,
        *,
        aeron_dir: str,
        channel: str,
        response_channel: str,
        request_stream: int,
        response_stream_base: int,
        operator_stream: int,
        input_ring: str,
        tap_ring: str,
        principals: list[tuple[int, int, str, bytes]],
        logon_window_ns: int = 30_000_000_000,
        offer_retries: int = 64,
        backlog_limit: int = 65536,
        fragment_limit: int = 32,
        idle: str = "spin",
        idle_spins: int = 1000,
        cpu: int | None = None,
        measure_core_hop: bool = False,
        executions: list[tuple[int, tuple[int, ...]]] = ...,
    ) -> NativeGateway: ...
    def start(self) -> None: ...
    def stats(self, reset_histograms: bool = False, timeout: float = 5.0) -> GatewayStats: ...
    def take_logs(self) -> list[tuple[int, str]]: ...
    def is_alive(self) -> bool: ...
    def stop(self) -> GatewayStats | None: ...
