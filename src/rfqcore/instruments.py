"""Instrument and composite registry, loaded from TOML (``defaults/instruments.toml``).

Every money-like value in the file is a decimal *string* and is converted exactly to integers:
``price_decimals``/``qty_decimals`` are the fractional digits written in ``tick``/``lot``
(``"0.10"`` -> 2 decimals, tick 10), every other quantity is expressed in those units.
Instrument ids are 1-based in file order, composite ids likewise (a separate numbering).
:meth:`Registry.instrument_specs` / :meth:`Registry.composite_specs` return exactly the dicts
that ``rfqcore_core.Engine`` takes.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

from pydantic import Field, JsonValue, ValidationError, field_validator, model_validator

from rfqcore.configmodel import DecimalStr, Loc, Model, config_error, fail, raw_at
from rfqcore.errors import ConfigError

if TYPE_CHECKING:  # the binding's dict contracts: types of its stub only, no runtime names
    from rfqcore_core import CompositeSpec, InstrumentSpec

__all__ = [
    "VENUES",
    "KINDS",
    "COMPOSITE_QTY_DECIMALS",
    "Instrument",
    "Composite",
    "Registry",
    "decimal_units",
    "InstrumentModel",
    "CompositeModel",
    "RegistryFile",
]

VENUES: Final[frozenset[str]] = frozenset(
    {"binance-spot", "binance-usdm", "binance-coinm", "okx", "coinbase", "kraken", "bybit-linear"})
KINDS: Final[frozenset[str]] = frozenset({"spot", "linear", "inverse"})
COMPOSITE_QTY_DECIMALS: Final[int] = 8
MAX_ID: Final[int] = 0xFFFF  # Record.instrument is a u16
INT64_MAX: Final[int] = (1 << 63) - 1
#: The book's dense window per side, in ticks: the core's default and the powers of two it
#: accepts (rfq_model::DEFAULT_BOOK_WINDOW, BOOK_WINDOW_RANGE).
DEFAULT_BOOK_WINDOW: Final[int] = 1 << 17
BOOK_WINDOWS: Final[tuple[int, ...]] = tuple(1 << k for k in range(10, 21))

_DECIMAL_RE: Final = re.compile(r"^(0|[1-9][0-9]*)(?:\.([0-9]+))?$")

Kind = Literal["spot", "linear", "inverse"]


def _decimal_digits(value: object, where: str) -> tuple[str, str]:
    if not isinstance(value, str):
        raise ConfigError(f"{where}: expected a decimal string, got {type(value).__name__} {value!r}"
                          " (write it quoted, e.g. \"0.01\": floats are not exact)")
    m = _DECIMAL_RE.match(value)
    if m is None:
        raise ConfigError(f"{where}: {value!r} is not a plain non-negative decimal string")
    return m.group(1), m.group(2) or ""


def decimal_units(value: object, decimals: int, where: str) -> int:
    """Exact integer value of the decimal string ``value`` in units of ``10**-decimals``.

    Raises ``ConfigError`` (naming ``where``) for non-strings, bad syntax, negative values,
    non-zero digits beyond ``decimals`` or values beyond int64.
    """
    whole, frac = _decimal_digits(value, where)
    if len(frac) > decimals and frac[decimals:].strip("0"):
        raise ConfigError(f"{where}: {value!r} has more than {decimals} decimals")
    frac = frac[:decimals].ljust(decimals, "0")
    units = int(whole + frac)
    if units > INT64_MAX:
        raise ConfigError(f"{where}: {value!r} does not fit int64 at {decimals} decimals")
    return units


def _scale_of(value: object, where: str) -> tuple[int, int]:
    """(units, decimals) of a tick/lot string, decimals = fractional digits as written."""
    _, frac = _decimal_digits(value, where)
    decimals = len(frac)
    if decimals > 18:
        raise ConfigError(f"{where}: {value!r} has {decimals} decimals, at most 18 are supported")
    units = decimal_units(value, decimals, where)
    if units <= 0:
        raise ConfigError(f"{where}: {value!r} must be > 0")
    return units, decimals


# -- the file, declared (docs/config.schema.json is generated from these) -------------------

class InstrumentModel(Model):
    """One ``[[instrument]]`` table: a tradable venue instrument."""

    symbol: str = Field(min_length=1)
    """the venue's symbol, e.g. BTCUSDT or BTC-USDT"""
    venue: str = Field(json_schema_extra={"enum": list[JsonValue](sorted(VENUES))})
    """the venue, one of the supported ones"""
    kind: Kind
    """spot, linear (quote-margined) or inverse (base-margined, needs contract_size)"""
    base: str = Field(min_length=1)
    """base currency, e.g. BTC"""
    quote: str = Field(min_length=1)
    """quote currency, e.g. USDT"""
    tick: DecimalStr
    """price increment as a decimal string; its fractional digits are the price scale ("0.10": 2)"""
    lot: DecimalStr
    """quantity increment as a decimal string; its fractional digits are the quantity scale"""
    max_qty: DecimalStr
    """largest order quantity, a multiple of the lot"""
    contract_size: DecimalStr | None = None
    """inverse instruments only: quote currency per contract, a whole number"""
    book_window: int = Field(default=DEFAULT_BOOK_WINDOW, json_schema_extra={"enum": list[JsonValue](BOOK_WINDOWS)})
    """ticks per side of the book's dense window, a power of two from 1024 to 1048576 (default 131072):
    levels beyond it are kept exactly in the overflow, so it changes memory (8 bytes a tick a side) and
    speed, never a price; a smaller window suits an instrument whose book spans few ticks"""

    @field_validator("book_window")
    @classmethod
    def _window_power_of_two(cls, w: int) -> int:
        if w not in BOOK_WINDOWS:
            raise fail(f"book_window {w} must be a power of two from {BOOK_WINDOWS[0]} to {BOOK_WINDOWS[-1]} ticks")
        return w

    @field_validator("venue")
    @classmethod
    def _known_venue(cls, venue: str) -> str:
        if venue not in VENUES:
            raise fail(f"venue {venue!r} is not one of {sorted(VENUES)}")
        return venue

    @model_validator(mode="after")
    def _contract_size_iff_inverse(self) -> InstrumentModel:
        if self.kind == "inverse" and self.contract_size is None:
            raise fail("missing key 'contract_size' (inverse instruments need it)")
        if self.kind != "inverse" and self.contract_size is not None:
            raise fail("contract_size is only valid for inverse instruments")
        return self


class CompositeModel(Model):
    """One ``[[composite]]`` table: a priced underlying made of registry instruments."""

    name: str = Field(min_length=1)
    """the composite's name, e.g. BTC (what clients request)"""
    members: list[str] = Field(min_length=1)
    """its instruments as "venue:symbol" keys of [[instrument]] tables, one base currency"""
    exclude: list[str] = []
    """members left out of the price (their books still feed the basis)"""
    basis_ema_shift: int = Field(0, ge=0, le=20)
    """basis smoothing: EMA weight 2**-shift (0: none)"""
    cross_tolerance_bps: DecimalStr = "0"
    """how far members' books may cross before the composite is suspect, bps"""
    stale_after_ms: int = Field(gt=0)
    """a member book older than this is left out of the price"""
    sizes: list[DecimalStr] = Field(min_length=1)
    """the ladder's sizes in base units, strictly increasing"""
    base_bps: DecimalStr
    """the desk's base spread, bps"""
    size_bps_per_unit: DecimalStr
    """extra spread per base unit of size, bps"""


class RegistryFile(Model):
    """An instrument registry (``defaults/instruments.toml``)."""

    instrument: list[InstrumentModel] = []
    """[[instrument]] tables; an instrument's id is its 1-based position"""
    composite: list[CompositeModel] = []
    """[[composite]] tables; a composite's id is its 1-based position"""

    @model_validator(mode="after")
    def _instrument_count(self) -> RegistryFile:
        if not self.instrument:
            raise fail("at least one [[instrument]] table is required")
        if len(self.instrument) > MAX_ID:
            raise fail(f"{len(self.instrument)} instruments, at most {MAX_ID} fit a u16 id")
        return self


def _item_name(doc: object) -> Callable[[Loc], str]:
    """How errors name an item of the registry file ``doc``."""
    def name(item: Loc) -> str:
        if len(item) >= 2 and isinstance(item[1], int):
            raw = raw_at(doc, item[:2])
            entry = raw if isinstance(raw, Mapping) else {}
            if item[0] == "instrument":
                return _instrument_where(item[1] + 1, entry.get("venue"), entry.get("symbol"))
            if item[0] == "composite":
                n = entry.get("name")
                return f"composite #{item[1] + 1}" + (f" ({n})" if isinstance(n, str) else "")
        return " ".join(map(str, item))
    return name


def _instrument_where(id_: int, venue: object, symbol: object) -> str:
    if not isinstance(symbol, str):
        return f"instrument #{id_}"
    return f"instrument #{id_} ({venue if isinstance(venue, str) else '?'}:{symbol})"


def _validate_registry(doc: Mapping[str, Any], source: str) -> RegistryFile:
    try:
        return RegistryFile.model_validate(doc)
    except ValidationError as e:
        raise config_error(e, RegistryFile, source, _item_name(doc)) from None


@dataclass(frozen=True, slots=True)
class Instrument:
    """One tradable venue instrument; prices/quantities in its own fixed-point scales."""

    id: int
    symbol: str
    venue: str
    kind: Kind
    base: str
    quote: str
    price_decimals: int
    qty_decimals: int
    tick: int
    lot: int
    contract_size: int
    max_qty: int
    book_window: int = DEFAULT_BOOK_WINDOW

    @property
    def key(self) -> str:
        """``venue:symbol``, the registry key."""
        return f"{self.venue}:{self.symbol}"

    def spec(self) -> InstrumentSpec:
        """The ``rfqcore_core.InstrumentSpec`` dict."""
        return {
            "id": self.id, "symbol": self.symbol, "venue": self.venue, "kind": self.kind, "base": self.base,
            "quote": self.quote, "price_decimals": self.price_decimals, "qty_decimals": self.qty_decimals,
            "tick": self.tick, "lot": self.lot, "contract_size": self.contract_size, "max_qty": self.max_qty,
            "book_window": self.book_window,
        }

    @classmethod
    def from_toml(cls, entry: Mapping[str, Any], id_: int, source: str = "<dict>") -> Instrument:
        """Build and validate instrument ``id_`` from one ``[[instrument]]`` table."""
        try:
            model = InstrumentModel.model_validate(entry)
        except ValidationError as e:
            where = _instrument_where(id_, entry.get("venue"), entry.get("symbol"))
            raise config_error(e, InstrumentModel, f"{source}: {where}", lambda item: "") from None
        return cls.from_model(model, id_, source)

    @classmethod
    def from_model(cls, m: InstrumentModel, id_: int, source: str = "<dict>") -> Instrument:
        """Instrument ``id_`` from its validated table: the decimal strings to exact integers."""
        where = f"{source}: {_instrument_where(id_, m.venue, m.symbol)}"
        tick, price_decimals = _scale_of(m.tick, f"{where} tick")
        lot, qty_decimals = _scale_of(m.lot, f"{where} lot")
        max_qty = decimal_units(m.max_qty, qty_decimals, f"{where} max_qty")
        if max_qty < lot or max_qty % lot:
            raise ConfigError(f"{where}: max_qty {m.max_qty!r} must be a positive multiple of the lot {m.lot!r}")
        contract_size = 0
        if m.contract_size is not None:
            contract_size = decimal_units(m.contract_size, 0, f"{where} contract_size")
            if contract_size <= 0:
                raise ConfigError(f"{where}: contract_size must be > 0")
        return cls(id_, m.symbol, m.venue, m.kind, m.base, m.quote, price_decimals, qty_decimals, tick, lot,
                   contract_size, max_qty, m.book_window)


@dataclass(frozen=True, slots=True)
class Composite:
    """A priced underlying made of several venue instruments (composite scales)."""

    id: int
    name: str
    members: tuple[int, ...]
    price_decimals: int
    qty_decimals: int
    stale_after_ns: int
    sizes: tuple[int, ...]
    base_cbps: int
    size_cbps_per_unit: int
    excluded: tuple[int, ...] = ()
    basis_ema_shift: int = 0
    cross_tolerance_cbps: int = 0

    def spec(self) -> CompositeSpec:
        """The ``rfqcore_core.CompositeSpec`` dict."""
        return {
            "id": self.id, "name": self.name, "price_decimals": self.price_decimals,
            "qty_decimals": self.qty_decimals, "members": list(self.members),
            "excluded": list(self.excluded), "basis_ema_shift": self.basis_ema_shift,
            "cross_tolerance_cbps": self.cross_tolerance_cbps,
            "stale_after_ns": self.stale_after_ns, "sizes": list(self.sizes), "base_cbps": self.base_cbps,
            "size_cbps_per_unit": self.size_cbps_per_unit,
        }


class Registry:
    """All instruments and composites, looked up by id or by ``(venue, symbol)``."""

    __slots__ = ("_instruments", "_by_key", "_composites", "_composite_by_name", "source")

    def __init__(self, instruments: Sequence[Instrument], composites: Sequence[Composite] = (),
                 source: str = "<memory>") -> None:
        self._instruments: tuple[Instrument, ...] = tuple(instruments)
        self._composites: tuple[Composite, ...] = tuple(composites)
        self.source = source
        self._by_key: dict[tuple[str, str], Instrument] = {}
        for i, ins in enumerate(self._instruments, 1):
            if ins.id != i:
                raise ConfigError(f"{source}: instrument {ins.key} has id {ins.id}, expected {i}")
            if (ins.venue, ins.symbol) in self._by_key:
                raise ConfigError(f"{source}: duplicate instrument {ins.key}")
            self._by_key[(ins.venue, ins.symbol)] = ins
        self._composite_by_name: dict[str, Composite] = {}
        for i, comp in enumerate(self._composites, 1):
            if comp.id != i:
                raise ConfigError(f"{source}: composite {comp.name} has id {comp.id}, expected {i}")
            if comp.name in self._composite_by_name:
                raise ConfigError(f"{source}: duplicate composite {comp.name!r}")
            self._composite_by_name[comp.name] = comp

    # -- loading -------------------------------------------------------------------------

    @classmethod
    def load(cls, path: str | Path | None = None) -> Registry:
        """Load a TOML registry file; ``None`` loads the packaged ``defaults/instruments.toml``."""
        if path is None:
            text = resources.files("rfqcore").joinpath("defaults/instruments.toml").read_text("utf-8")
            return cls.from_toml(text, source="defaults/instruments.toml")
        p = Path(path)
        try:
            text = p.read_text("utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read instrument file {p}: {exc}") from exc
        return cls.from_toml(text, source=str(p))

    @classmethod
    def from_toml(cls, text: str, source: str = "<string>") -> Registry:
        """Parse and validate registry TOML text (see the module doc for the schema)."""
        try:
            doc = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{source}: invalid TOML: {exc}") from exc
        return cls.from_dict(doc, source)

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any], source: str = "<dict>") -> Registry:
        """Build from an already-parsed document ``{"instrument": [...], "composite": [...]}``."""
        model = _validate_registry(doc, source)
        instruments: list[Instrument] = []
        seen: dict[tuple[str, str], int] = {}
        for i, entry in enumerate(model.instrument, 1):
            ins = Instrument.from_model(entry, i, source)
            if (ins.venue, ins.symbol) in seen:
                raise ConfigError(f"{source}: duplicate instrument {ins.key} "
                                  f"(#{seen[(ins.venue, ins.symbol)]} and #{i})")
            seen[(ins.venue, ins.symbol)] = i
            instruments.append(ins)
        by_key = {ins.key: ins for ins in instruments}
        composites = [_composite_from_model(e, i, by_key, source) for i, e in enumerate(model.composite, 1)]
        return cls(instruments, composites, source)

    # -- lookups -------------------------------------------------------------------------

    @property
    def instruments(self) -> tuple[Instrument, ...]:
        return self._instruments

    @property
    def composites(self) -> tuple[Composite, ...]:
        return self._composites

    def by_id(self, instrument_id: int) -> Instrument:
        """Instrument with 1-based id ``instrument_id``; ``KeyError`` if there is none."""
        if 1 <= instrument_id <= len(self._instruments):
            return self._instruments[instrument_id - 1]
        raise KeyError(f"no instrument with id {instrument_id}")

    def get(self, venue: str, symbol: str) -> Instrument | None:
        """Instrument ``venue:symbol`` or ``None``."""
        return self._by_key.get((venue, symbol))

    def lookup(self, venue: str, symbol: str) -> Instrument:
        """Instrument ``venue:symbol``; ``KeyError`` naming it if unknown."""
        ins = self._by_key.get((venue, symbol))
        if ins is None:
            raise KeyError(f"unknown instrument {venue}:{symbol}")
        return ins

    def by_key(self, key: str) -> Instrument:
        """Instrument by ``"venue:symbol"`` key, case-insensitive where that names exactly one;
        ``KeyError`` listing the known keys otherwise."""
        venue, _, symbol = key.partition(":")
        ins = self._by_key.get((venue, symbol))
        if ins is not None:
            return ins
        match = [i for i in self._instruments if i.key.casefold() == key.casefold()]
        if len(match) == 1:
            return match[0]
        raise KeyError(f"unknown instrument {key!r}; known instruments: "
                       f"{', '.join(i.key for i in self._instruments) or 'none'}")

    def for_venue(self, venue: str) -> tuple[Instrument, ...]:
        """All instruments of ``venue``, in id order."""
        return tuple(i for i in self._instruments if i.venue == venue)

    def composite(self, name_or_id: str | int) -> Composite:
        """Composite by name (case-insensitive where that names exactly one) or 1-based id;
        ``KeyError`` listing the known names if unknown."""
        if isinstance(name_or_id, int):
            if 1 <= name_or_id <= len(self._composites):
                return self._composites[name_or_id - 1]
            raise KeyError(f"no composite with id {name_or_id}")
        c = self._composite_by_name.get(name_or_id)
        if c is not None:
            return c
        match = [c for n, c in self._composite_by_name.items() if n.casefold() == name_or_id.casefold()]
        if len(match) == 1:
            return match[0]
        raise KeyError(f"unknown composite {name_or_id!r}; known composites: "
                       f"{', '.join(self._composite_by_name) or 'none'}")

    def instrument_specs(self) -> list[InstrumentSpec]:
        """``rfqcore_core.InstrumentSpec`` dicts in id order."""
        return [i.spec() for i in self._instruments]

    def composite_specs(self) -> list[CompositeSpec]:
        """``rfqcore_core.CompositeSpec`` dicts in id order."""
        return [c.spec() for c in self._composites]

    def __len__(self) -> int:
        return len(self._instruments)

    def __iter__(self) -> Iterator[Instrument]:
        return iter(self._instruments)

    def __repr__(self) -> str:
        return (f"Registry({self.source!r}, {len(self._instruments)} instruments, "
                f"{len(self._composites)} composites)")


def _cbps(value: object, where: str) -> int:
    """A bps decimal string in hundredths of a basis point (exactly; at most 2 decimals)."""
    return decimal_units(value, 2, where)


def _composite_from_model(entry: CompositeModel, id_: int, by_key: Mapping[str, Instrument],
                          source: str) -> Composite:
    where = f"{source}: composite #{id_} ({entry.name})"
    members: list[Instrument] = []
    for key in entry.members:
        if key not in by_key:
            raise ConfigError(f"{where}: unknown member {key!r} (expected 'venue:symbol' of an "
                              f"[[instrument]])")
        if by_key[key] in members:
            raise ConfigError(f"{where}: member {key!r} listed twice")
        members.append(by_key[key])
    if any(k not in entry.members for k in entry.exclude):
        raise ConfigError(f"{where}: exclude must list members, got {entry.exclude!r}")
    if len(entry.exclude) == len(entry.members):
        raise ConfigError(f"{where}: every member is excluded")
    bases = {m.base for m in members}
    if len(bases) != 1:
        raise ConfigError(f"{where}: members have different base currencies {sorted(bases)}")
    sizes = [decimal_units(s, COMPOSITE_QTY_DECIMALS, f"{where} sizes[{k}]") for k, s in enumerate(entry.sizes)]
    if any(s <= 0 for s in sizes) or sizes != sorted(set(sizes)):
        raise ConfigError(f"{where}: sizes must be positive and strictly increasing, got {entry.sizes}")
    return Composite(
        id=id_,
        name=entry.name,
        members=tuple(m.id for m in members),
        excluded=tuple(by_key[k].id for k in entry.exclude),
        basis_ema_shift=entry.basis_ema_shift,
        cross_tolerance_cbps=_cbps(entry.cross_tolerance_bps, f"{where} cross_tolerance_bps"),
        price_decimals=max(m.price_decimals for m in members),
        qty_decimals=COMPOSITE_QTY_DECIMALS,
        stale_after_ns=entry.stale_after_ms * 1_000_000,
        sizes=tuple(sizes),
        base_cbps=_cbps(entry.base_bps, f"{where} base_bps"),
        size_cbps_per_unit=_cbps(entry.size_bps_per_unit, f"{where} size_bps_per_unit"),
    )
