"""The one exception hierarchy of rfqcore, importable from here.

The root classes are defined once, by the Rust binding (``rfqcore_core``, its ``errors.rs``),
and re-exported here; the Python-only subclasses are defined below. So ``except
rfqcore.errors.RingError`` catches a ring error whether Rust, Cython or Python raised it, and
``rfqcore.errors.X is rfqcore_core.X`` for every class both name.

::

    RfqCoreError                    (Rust) base of every rfqcore error
    ├── DecodeError                 a venue message was refused; the handler changed no state
    │   ├── MalformedMessage        bad JSON, missing/mistyped field, truncated line, no symbol
    │   ├── UnsupportedMessage      well-formed but a stream/channel the handler does not decode
    │   ├── UnknownInstrument       symbol not in the registry (or not handled by this handler)
    │   ├── BadDecimal              not a decimal string (empty, garbage, exponent, ...)
    │   │   ├── PrecisionLoss       non-zero digits beyond the instrument's scale
    │   │   ├── DecimalOverflow     does not fit an int64 at that scale
    │   │   └── NegativeDecimal     a minus sign where the value must be >= 0
    │   ├── NonPositivePrice        price <= 0
    │   ├── NegativeQuantity        quantity < 0
    │   ├── OffTickPrice            price not a multiple of the tick
    │   ├── OffLotQuantity          quantity not a multiple of the lot
    │   ├── QuantityTooLarge        quantity above the instrument's max_qty
    │   └── SequenceGap             raised only by strict callers; handlers emit BOOK_STALE instead
    ├── RingError                   (Rust) bad ring file (names the header field) or misuse of a ring
    │   └── RingTimeout             a blocking push did not complete in time
    ├── BookError                   (Rust) a book update was refused (nothing changed)
    ├── ConfigError                 (Rust) bad instrument/composite/engine configuration
    ├── JournalError                (Rust) a journal or snapshot is damaged or cannot be written
    ├── MatchingError               (Rust) a malformed matching request (nothing applied)
    └── ClusterError                (Rust) a cluster node could not start, or take or keep leadership

Every ``DecodeError`` carries the offending ``field``, ``value`` and ``instrument`` (when known)
as attributes, and its message names them.
"""

from __future__ import annotations

from rfqcore_core import BookError, ClusterError, ConfigError, JournalError, MatchingError, RfqCoreError, RingError

__all__ = [
    "RfqCoreError",
    "DecodeError",
    "MalformedMessage",
    "UnsupportedMessage",
    "UnknownInstrument",
    "BadDecimal",
    "PrecisionLoss",
    "DecimalOverflow",
    "NegativeDecimal",
    "NonPositivePrice",
    "NegativeQuantity",
    "OffTickPrice",
    "OffLotQuantity",
    "QuantityTooLarge",
    "SequenceGap",
    "RingError",
    "RingTimeout",
    "BookError",
    "ConfigError",
    "JournalError",
    "MatchingError",
    "ClusterError",
]


class DecodeError(RfqCoreError):
    """A venue message (or one value in it) was refused.

    Raised before any handler state is committed: after a ``DecodeError`` the handler is exactly
    as it was before the call and the records in its buffer must not be used.
    """

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        value: object = None,
        instrument: str | None = None,
    ) -> None:
        parts = [message]
        if instrument is not None:
            parts.append(f"instrument={instrument}")
        if field is not None:
            parts.append(f"field={field}")
        if value is not None:
            text = repr(value)
            parts.append(f"value={text if len(text) <= 120 else text[:117] + '...'}")
        super().__init__(" ".join(parts) if len(parts) == 1 else f"{parts[0]} ({', '.join(parts[1:])})")
        self.field = field
        self.value = value
        self.instrument = instrument


class MalformedMessage(DecodeError):
    """Not valid JSON, a required field is missing or has the wrong type, or the line is cut."""


class UnsupportedMessage(DecodeError):
    """Well-formed, but of a stream/channel/event type this handler does not decode."""


class UnknownInstrument(DecodeError):
    """The symbol is not in the registry for this venue (or not subscribed by this handler)."""


class BadDecimal(DecodeError):
    """A price/quantity string is not a plain decimal (``[-]digits[.digits]``)."""


class PrecisionLoss(BadDecimal):
    """The decimal has non-zero digits beyond the scale; trailing zeros beyond it are accepted."""


class DecimalOverflow(BadDecimal):
    """The decimal scaled to fixed point does not fit a signed 64-bit integer."""


class NegativeDecimal(BadDecimal):
    """A minus sign where only non-negative values are allowed."""


class NonPositivePrice(DecodeError):
    """A price of zero or below."""


class NegativeQuantity(DecodeError):
    """A quantity below zero (zero is a level deletion and is allowed)."""


class OffTickPrice(DecodeError):
    """The price is not a whole multiple of the instrument's tick."""


class OffLotQuantity(DecodeError):
    """The quantity is not a whole multiple of the instrument's lot."""


class QuantityTooLarge(DecodeError):
    """The quantity is above the instrument's ``max_qty`` sanity bound."""


class SequenceGap(DecodeError):
    """A venue sequence gap, for callers that want an exception.

    The handlers never raise it: a gap is normal operation for them (they emit ``BOOK_STALE``
    and resynchronise).
    """


class RingTimeout(RingError):
    """A blocking push could not place every record before its deadline (consumer stalled).
    ``pushed``: how many of them it did place (they stay pushed)."""

    pushed: int = 0
