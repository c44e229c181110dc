"""Human units <-> the core's integers: the one conversion module of the Python API.

The core works in exact integers at each composite's scales (prices at ``price_decimals``,
quantities at ``qty_decimals``, money at their sum). Everything a user hands the ``Engine``,
the ``Operator`` or ``rfqcore.client`` goes through :func:`to_units` (``Decimal``, ``int`` or
``str``, refused if digits would be lost) and :func:`client_side`; everything they get back has
``Decimal`` views made by :func:`from_units`, printed by :func:`human`.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Final, Self, overload

from rfqcore.records import ClientSide, Side

__all__ = ["to_units", "from_units", "Scaled", "ScaledOrNone", "client_side", "book_side", "desk_side", "human",
           "SIDES"]


def to_units(value: Decimal | int | str, decimals: int, what: str, *, signed: bool = False) -> int:
    """Exact integer of ``value`` at ``decimals`` (one place for the engine, the operator, the
    CLI and ``rfqcore.client``). ``ValueError`` if digits would be lost, the value is negative
    (unless ``signed``), not a finite decimal or beyond int64; ``TypeError`` for floats and bools
    (not exact)."""
    if isinstance(value, bool) or isinstance(value, float):
        raise TypeError(f"{what}: pass a Decimal, int or str (floats are not exact), got {value!r}")
    if isinstance(value, int):
        units = int(value * 10**decimals)
    else:
        try:
            d = value if isinstance(value, Decimal) else Decimal(value)
        except ArithmeticError:
            raise ValueError(f"{what}: {value!r} is not a decimal number") from None
        if not d.is_finite():
            raise ValueError(f"{what}: {value} is not a finite number")
        scaled = d.scaleb(decimals)
        if scaled != scaled.to_integral_value():
            raise ValueError(f"{what}: {value} has more than {decimals} decimals")
        units = int(scaled)
    if units < 0 and not signed:
        raise ValueError(f"{what}: {value} must not be negative")
    if not -(1 << 63) <= units < (1 << 63):
        most = Decimal((1 << 63) - 1).scaleb(-decimals)
        raise ValueError(f"{what}: {value} is out of range: at most {most} in size")
    return units


def from_units(units: int, decimals: int | None, what: str = "value") -> Decimal:
    """The exact ``Decimal`` of ``units × 10^-decimals`` (keeps ``decimals`` digits).
    ``ValueError`` when the scale is unknown (an event decoded without a registry)."""
    if decimals is None:
        raise ValueError(f"{what}: the instrument's decimals are unknown (decode with a registry)")
    return Decimal(units).scaleb(-decimals)


class _ScaledView:
    """The attribute names of a :class:`Scaled` / :class:`ScaledOrNone` view."""

    __slots__ = ("raw", "decimals", "name")

    def __init__(self, raw: str, decimals: str) -> None:
        self.raw, self.decimals, self.name = raw, decimals, raw

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name


class Scaled(_ScaledView):
    """A read-only ``Decimal`` view of an integer attribute at the scale another attribute
    holds: ``price = Scaled("price_raw", "price_decimals")`` on an event or a value type (the
    scale may be a property; an unknown scale raises ``ValueError``)."""

    __slots__ = ()

    @overload
    def __get__(self, obj: None, owner: type | None = None) -> Self: ...
    @overload
    def __get__(self, obj: object, owner: type | None = None) -> Decimal: ...

    def __get__(self, obj: object, owner: type | None = None) -> Self | Decimal:
        if obj is None:
            return self  # the descriptor itself, on the class
        return from_units(getattr(obj, self.raw), getattr(obj, self.decimals), self.name)


class ScaledOrNone(_ScaledView):
    """:class:`Scaled` of an attribute that may be None (a withdrawn side, no mark)."""

    __slots__ = ()

    @overload
    def __get__(self, obj: None, owner: type | None = None) -> Self: ...
    @overload
    def __get__(self, obj: object, owner: type | None = None) -> Decimal | None: ...

    def __get__(self, obj: object, owner: type | None = None) -> Self | Decimal | None:
        if obj is None:
            return self
        raw = getattr(obj, self.raw)
        return None if raw is None else from_units(raw, getattr(obj, self.decimals), self.name)


#: accepted spellings of a client side (case-insensitive)
SIDES: Final[dict[str, ClientSide]] = {
    "buy": ClientSide.BUY, "sell": ClientSide.SELL, "two-way": ClientSide.TWO_WAY, "two_way": ClientSide.TWO_WAY,
    "both": ClientSide.TWO_WAY,
}


_BOOK_SIDES: Final[dict[str, int]] = {"bid": Side.BID, "ask": Side.ASK}
_DESK_SIDES: Final[dict[str, int]] = {"buy": Side.BID, "bid": Side.BID, "sell": Side.ASK, "ask": Side.ASK}


def _side(side: str | int, names: Mapping[str, int], what: str) -> int:
    # an integer is passed on as it is: the core judges it, and refuses an unknown one
    if isinstance(side, str):
        try:
            return names[side.lower()]
        except KeyError:
            raise ValueError(f"{what}, got {side!r}") from None
    if isinstance(side, bool) or not isinstance(side, int):
        raise TypeError(f"{what}, got {side!r}")
    return side


def client_side(side: str | int) -> int:
    """``"buy"`` / ``"sell"`` / ``"two-way"`` (any case), a :class:`ClientSide` or its code."""
    return _side(side, SIDES, f"side must be one of {', '.join(sorted(SIDES))} or a ClientSide")


def book_side(side: str | int) -> int:
    """A venue book's side: ``"bid"`` / ``"ask"`` (any case) or a :class:`Side` code."""
    return _side(side, _BOOK_SIDES, "book side must be bid or ask (or a Side)")


def desk_side(side: str | int) -> int:
    """The desk's side of a desk order: ``"buy"`` (= bid) / ``"sell"`` (= ask), any case, or a
    :class:`Side` code."""
    return _side(side, _DESK_SIDES, "desk order side must be buy or sell (or a Side)")


def human(units: int | None, decimals: int | None, unit: str = "", *, min_decimals: int = 0) -> str:
    """``units`` at ``decimals`` for people: trailing zeros beyond ``min_decimals`` dropped,
    ``unit`` appended (``"60010.91 USDT"``); the raw integer with ``units`` when the scale is
    unknown, ``"None"`` for no value."""
    if units is None:
        return "None"
    if decimals is None:
        return f"{units} units"
    text = f"{Decimal(units).scaleb(-decimals):f}"
    if "." in text:
        whole, frac = text.split(".")
        frac = frac.rstrip("0")
        if len(frac) < min_decimals:
            frac = frac + "0" * (min_decimals - len(frac))
        text = f"{whole}.{frac}" if frac else whole
    elif min_decimals:
        text = f"{text}.{'0' * min_decimals}"
    return f"{text} {unit}" if unit else text
