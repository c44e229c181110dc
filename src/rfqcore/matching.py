"""The matching core (Rust ``rfq-match``) from Python: :class:`MatchingBook` and its batch dtypes.

One request per call (``submit`` / ``cancel`` / ``replace``) returns that request's events as
plain tuples (layouts in ``rfqcore_core``'s stub); :meth:`MatchingBook.process` runs a whole numpy
array of requests (:data:`REQUEST_DTYPE`) with the GIL released and returns a numpy array of
events (:data:`EVENT_DTYPE`) — exactly the events the one-by-one calls would give, in order.
Prices and quantities are fixed-point ints; rejects are events, never exceptions. Rules:
``docs/matching.md``.

Request row (40 bytes):

=============  =====  =====================================================================
field          type   meaning
=============  =====  =====================================================================
``op``         u1     :data:`OP_NEW` / :data:`OP_CANCEL` / :data:`OP_REPLACE`
``id``         u8     order id
``account``    u4     new orders only
``side``       u1     new: 0 bid, 1 ask
``kind``       u1     new: 0 limit, 1 market
``tif``        u1     new: 0 gtc, 1 ioc, 2 fok
``post_only``  u1     new: 0 off, 1 reject, 2 slide
``price``      i8     new (limit) / replace: price
``qty``        i8     new: quantity; replace: new open quantity
=============  =====  =====================================================================

Event row (96 bytes); ``req`` is the index of the request row that caused it, ``kind`` one of
``EV_*``; fields an event kind does not use are 0:

- ``EV_ACCEPTED``: id, account, side, price (effective, after a slide), qty, flag = repriced
- ``EV_REJECTED``: id, flag = request (0 new, 1 cancel, 2 replace), reason = :data:`REJECT_REASONS` index
- ``EV_TRADE``: id = maker id, taker_id, account = maker account, taker_account, side = taker
  side, price, qty, maker_fee, taker_fee, remaining = maker remaining, taker_remaining
- ``EV_CANCELLED``: id, reason = :data:`CANCEL_REASONS` index, remaining
- ``EV_EXPIRED``: id, remaining
- ``EV_REPLACED``: id, old_price, old_qty, price = new price, qty = new qty, flag = priority kept

:func:`event_tuples` turns event rows into the tuples ``submit`` returns.

Accounts not configured with ``set_account`` have STP ``"none"`` and no fees.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from rfqcore_core import MatchingBook, MatchingError

if TYPE_CHECKING:
    from rfqcore_core import MatchingEvent  # a type alias of the stub only

__all__ = [
    "MatchingBook",
    "MatchingError",
    "REQUEST_DTYPE",
    "EVENT_DTYPE",
    "OP_NEW",
    "OP_CANCEL",
    "OP_REPLACE",
    "EV_ACCEPTED",
    "EV_REJECTED",
    "EV_TRADE",
    "EV_CANCELLED",
    "EV_EXPIRED",
    "EV_REPLACED",
    "REJECT_REASONS",
    "CANCEL_REASONS",
    "REQUESTS",
    "KINDS",
    "TIFS",
    "POST_ONLY",
    "event_tuples",
]

REQUEST_DTYPE = np.dtype({
    "names": ["id", "price", "qty", "account", "op", "side", "kind", "tif", "post_only"],
    "formats": ["<u8", "<i8", "<i8", "<u4", "u1", "u1", "u1", "u1", "u1"],
    "offsets": [0, 8, 16, 24, 28, 29, 30, 31, 32],
    "itemsize": 40,
})

EVENT_DTYPE = np.dtype({
    "names": ["id", "taker_id", "price", "qty", "remaining", "taker_remaining", "maker_fee", "taker_fee",
              "old_price", "old_qty", "account", "taker_account", "req", "kind", "side", "flag", "reason"],
    "formats": ["<u8", "<u8", "<i8", "<i8", "<i8", "<i8", "<i8", "<i8", "<i8", "<i8", "<u4", "<u4", "<u4",
                "u1", "u1", "u1", "u1"],
    "offsets": [0, 8, 16, 24, 32, 40, 48, 56, 64, 72, 80, 84, 88, 92, 93, 94, 95],
    "itemsize": 96,
})

_rust_req, _rust_ev = MatchingBook.layouts()
if np.dtype(_rust_req) != REQUEST_DTYPE or np.dtype(_rust_ev) != EVENT_DTYPE:  # pragma: no cover
    raise ImportError("rfqcore.matching dtypes differ from the compiled rfqcore_core layout; rebuild (make build)")

OP_NEW, OP_CANCEL, OP_REPLACE = 0, 1, 2
EV_ACCEPTED, EV_REJECTED, EV_TRADE, EV_CANCELLED, EV_EXPIRED, EV_REPLACED = range(6)

KINDS = ("limit", "market")
TIFS = ("gtc", "ioc", "fok")
POST_ONLY = ("off", "reject", "slide")
REQUESTS = ("new", "cancel", "replace")
REJECT_REASONS = (
    "unknown_order", "duplicate_id", "unknown_account", "bad_qty", "off_lot", "bad_price", "off_tick",
    "price_out_of_band", "invalid_combination", "book_full", "no_liquidity", "fok_not_fillable",
    "post_only_would_take",
)
CANCEL_REASONS = ("user", "self_trade")


def event_tuples(events: np.ndarray) -> list[MatchingEvent]:
    """Event rows (:data:`EVENT_DTYPE`) as the tuples ``submit``/``cancel``/``replace`` return."""
    out: list[MatchingEvent] = []
    for e in events.tolist():
        (id_, taker_id, price, qty, rem, trem, mfee, tfee, old_p, old_q, acc, tacc, _req, kind, side, flag,
         reason) = e
        if kind == EV_ACCEPTED:
            out.append(("accepted", id_, acc, side, price, qty, bool(flag)))
        elif kind == EV_REJECTED:
            out.append(("rejected", id_, REQUESTS[flag], REJECT_REASONS[reason]))
        elif kind == EV_TRADE:
            out.append(("trade", id_, taker_id, acc, tacc, side, price, qty, mfee, tfee, rem, trem))
        elif kind == EV_CANCELLED:
            out.append(("cancelled", id_, CANCEL_REASONS[reason], rem))
        elif kind == EV_EXPIRED:
            out.append(("expired", id_, rem))
        elif kind == EV_REPLACED:
            out.append(("replaced", id_, old_p, old_q, price, qty, bool(flag)))
        else:  # pragma: no cover
            raise ValueError(f"unknown event kind {kind}")
    return out
