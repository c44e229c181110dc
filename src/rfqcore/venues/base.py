"""The venue adapter interface: what the hedger (``rfqcore.hedger``) needs from any venue.

Every venue style (Binance-style REST + WebSocket streams in :mod:`rfqcore.venues.binance`,
OKX-style WebSocket order entry in :mod:`rfqcore.venues.okx`) implements :class:`VenueAdapter`
and reports in the normalized types below. Amounts are exact :class:`~decimal.Decimal`
values as the venue printed them; the hedger converts them to the core's fixed-point integers
with each instrument's scales (never through ``float``).

Rules every adapter keeps:

* **Venue rejects are reports, not exceptions.** An order the venue refuses produces one
  :class:`ExecReport` with ``status=REJECTED`` and the venue's own code and text in ``reason``.
  Only programming errors (a request the adapter cannot encode) raise :class:`VenueError`.
* **Transport failures are states.** When a request's outcome is unknown (connection lost,
  timeout), the adapter reports ``status=UNKNOWN`` for that order and reconciles it after the
  reconnect via :meth:`VenueAdapter.order_status` / :meth:`VenueAdapter.open_orders`.
* **Link state is reported** through ``on_status`` (``up=False`` as soon as a stream or the
  order-entry session is lost, ``up=True`` once every stream is back and reconciled).
* **Market data is passed raw** to ``on_market_data(raw, ts_recv_ns)`` exactly as the venue
  sent it, so the existing decoders (:mod:`rfqcore.handlers.binance`,
  :mod:`rfqcore.handlers.okx`) turn it into ring records; sequence checks and resyncs stay in
  one place (the handlers). ``fetch_snapshot`` returns a REST snapshot for venues that need one.
* **Idempotent client order ids**: placing the same ``cl_ord_id`` twice never creates two
  orders (the venue refuses the duplicate; the adapter reports it as a duplicate reject and the
  first order's reports still arrive).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

__all__ = [
    "OrderSide",
    "TimeInForce",
    "OrdStatus",
    "OrderRequest",
    "ExecReport",
    "VenueStatus",
    "VenueError",
    "VenueAdapter",
    "ReportCallback",
    "StatusCallback",
    "MarketDataCallback",
]


class OrderSide(StrEnum):
    BUY = "BUY"
    SELL = "SELL"


class TimeInForce(StrEnum):
    GTC = "GTC"
    IOC = "IOC"
    FOK = "FOK"


class OrdStatus(StrEnum):
    NEW = "NEW"                            # acknowledged, resting or about to match
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCELED = "CANCELED"                  # includes the unfilled rest of an IOC
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"                    # FOK not fillable, venue-side expiry
    UNKNOWN = "UNKNOWN"                    # outcome unknown (transport failure); reconcile


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """One order to send. ``price=None`` is a market order."""

    cl_ord_id: str
    symbol: str                 # the venue's symbol ("BTCUSDT", "BTC-USDT")
    side: OrderSide
    qty: Decimal
    price: Decimal | None
    tif: TimeInForce = TimeInForce.IOC


@dataclass(frozen=True, slots=True)
class ExecReport:
    """One execution report, normalized. A fill report has ``last_qty > 0``."""

    venue: str
    cl_ord_id: str
    status: OrdStatus
    symbol: str = ""
    side: OrderSide | None = None
    venue_order_id: str = ""
    order_qty: Decimal = Decimal(0)
    price: Decimal | None = None          # the order's limit price
    last_qty: Decimal = Decimal(0)        # this fill's quantity (0 when not a fill)
    last_price: Decimal = Decimal(0)      # this fill's price
    cum_qty: Decimal = Decimal(0)         # filled so far, this fill included
    commission: Decimal = Decimal(0)      # this fill's fee (positive = paid)
    commission_asset: str = ""
    trade_id: int = 0                     # venue trade id of this fill (0 when not a fill)
    reason: str = ""                      # reject/cancel reason: venue code and text
    venue_ts_ms: int = 0                  # venue event time
    ts_recv_ns: int = 0                   # local receive time (CLOCK_REALTIME ns)


@dataclass(frozen=True, slots=True)
class VenueStatus:
    venue: str
    up: bool
    reason: str = ""
    ts_recv_ns: int = 0


class VenueError(Exception):
    """A request the adapter could not even encode or send (a programming error, not a venue reject)."""


ReportCallback = Callable[[ExecReport], None]
StatusCallback = Callable[[VenueStatus], None]
MarketDataCallback = Callable[[bytes, int], None]


class VenueAdapter(ABC):
    """One venue connection: order entry, user-data (execution) stream and market data.

    The adapter runs on an asyncio event loop owned by the caller. Callbacks are invoked on
    that loop's thread and must not block. Subclasses take their own connection settings as
    keyword arguments and pass the callbacks up.
    """

    def __init__(self, name: str, *, on_report: ReportCallback,
                 on_status: StatusCallback | None = None,
                 on_market_data: MarketDataCallback | None = None) -> None:
        self.name = name
        self.on_report = on_report
        self.on_status: StatusCallback = on_status or (lambda s: None)
        self.on_market_data: MarketDataCallback = on_market_data or (lambda raw, ts: None)

    @abstractmethod
    async def start(self) -> None:
        """Connect every stream and the order-entry session; returns when all are up."""

    @abstractmethod
    async def stop(self) -> None:
        """Close everything. Idempotent."""

    @abstractmethod
    async def place(self, req: OrderRequest) -> None:
        """Send a new order. The outcome arrives as reports through ``on_report``."""

    @abstractmethod
    async def cancel(self, symbol: str, cl_ord_id: str) -> None:
        """Request a cancel. The outcome arrives as a report (``CANCELED`` or a reject)."""

    @abstractmethod
    async def order_status(self, symbol: str, cl_ord_id: str) -> ExecReport | None:
        """The venue's current view of one order (None: the venue does not know it)."""

    def adopt(self, req: OrderRequest) -> None:
        """Track an order placed before this adapter started — by an earlier run of the desk
        (recovered from its journal) or by the previous leader of a cluster — as if this adapter
        had placed it, so that the reconciliation it runs before it reports *up* brings it to the
        venue's view: every fill (each venue trade id, which the core's OMS applies once), then
        its state; an order the venue does not know never reached it and is reported
        ``REJECTED``. Call before :meth:`start`."""
        raise VenueError(f"{self.name}: this adapter cannot adopt orders placed before it started")

    @abstractmethod
    async def open_orders(self, symbol: str) -> list[ExecReport]:
        """The venue's open orders on ``symbol`` (for reconciliation after a reconnect)."""

    async def fetch_snapshot(self, symbol: str) -> bytes | None:
        """A REST depth snapshot in the venue's format, for venues whose stream needs one."""
        return None
