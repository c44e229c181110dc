"""RFQ workflow configuration, loaded from TOML (``defaults/rfq.toml``).

Tiers, clients (with their gateway secrets), operators, per-instrument risk limits, pricing v2
knobs, desk settings and the Aeron gateway's channel and streams. Money is written as decimal
strings and converted exactly (sizes in the composite's quantity scale, notionals in cents of
the quote currency, spreads in cbps). :meth:`RfqSettings.core_spec` gives the dict that
``rfqcore_core.Engine(rfq=...)`` takes. Units and semantics: docs/rfq-protocol.md.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Final

from rfqcore.errors import ConfigError
from rfqcore.instruments import Composite, Registry, decimal_units

__all__ = [
    "NOTIONAL_DECIMALS",
    "TierConfig",
    "ClientConfig",
    "OperatorConfig",
    "RiskConfig",
    "PricingConfig",
    "HedgeConfig",
    "HedgeVenueConfig",
    "HEDGE_MODES",
    "DeskConfig",
    "GatewayConfig",
    "RfqSettings",
]

NOTIONAL_DECIMALS: Final[int] = 2
_MS: Final[int] = 1_000_000

_TOP_KEYS: Final = frozenset({"desk", "gateway", "tier", "client", "operator", "risk", "pricing", "hedging"})
_HEDGING_KEYS: Final = frozenset({"composite", "mode", "ratio_pct", "threshold", "max_slippage_bps", "retry_ms", "venue",
                                  "internal"})
_INTERNAL_KEYS: Final = frozenset({"tick", "min_price", "max_price", "max_orders"})
_HEDGE_VENUE_KEYS: Final = frozenset({"id", "name", "instrument", "taker_fee_bps", "max_order_qty", "max_position"})
HEDGE_MODES: Final = ("off", "full", "partial", "threshold")
_DESK_KEYS: Final = frozenset({"exec_count", "exec_window_ms", "quote_table", "max_pending"})
_GATEWAY_KEYS: Final = frozenset(
    {"channel", "request_stream", "response_stream_base", "operator_stream", "aeron_dir"})
_TIER_KEYS: Final = frozenset({"name", "markup_bps", "fee_bps", "ttl_ms", "max_ttl_ms", "allow_partial"})
_CLIENT_KEYS: Final = frozenset({"name", "id", "tier", "secret", "credit_limit", "max_open_quotes", "rfq_rate",
                                 "rfq_burst", "accept_rate", "accept_burst", "enabled"})
_OPERATOR_KEYS: Final = frozenset({"name", "id", "secret"})
_RISK_KEYS: Final = frozenset({"composite", "min_qty", "max_qty", "max_notional", "long_limit", "short_limit",
                               "collar_bps", "approval_qty", "approval_notional", "approval_timeout_ms",
                               "restricted"})
_PRICING_KEYS: Final = frozenset({"composite", "skew_bps_per_unit", "max_skew_bps", "vol_mult_pct",
                                  "vol_ema_shift", "hedge_fee_bps"})


@dataclass(frozen=True, slots=True)
class TierConfig:
    """A client tier (id = 1-based position in the file)."""

    id: int
    name: str
    markup_cbps: int
    fee_cbps: int
    ttl_ns: int
    max_ttl_ns: int
    allow_partial: bool = False


@dataclass(frozen=True, slots=True)
class ClientConfig:
    """A client of the desk; ``secret`` authenticates its gateway logons (HMAC-SHA256)."""

    id: int
    name: str
    tier: int
    secret: bytes = field(repr=False)
    credit_limit: int  # cents
    max_open_quotes: int
    rfq_rate: int
    rfq_burst: int
    accept_rate: int
    accept_burst: int
    enabled: bool = True


@dataclass(frozen=True, slots=True)
class OperatorConfig:
    """A desk operator allowed to send CONTROL commands through the gateway."""

    id: int
    name: str
    secret: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class RiskConfig:
    """Risk limits of one composite (quantities in its qty scale, notionals in cents)."""

    composite: int
    min_qty: int
    max_qty: int
    max_notional: int
    long_limit: int
    short_limit: int
    collar_cbps: int
    approval_qty: int
    approval_notional: int
    approval_timeout_ns: int
    restricted: bool = False


@dataclass(frozen=True, slots=True)
class PricingConfig:
    """Pricing v2 knobs of one composite."""

    composite: int
    skew_cbps_per_unit: int = 0
    max_skew_cbps: int = 0
    vol_mult_pct: int = 0
    vol_ema_shift: int = 4
    hedge_fee_cbps: int = 0


@dataclass(frozen=True, slots=True)
class HedgeVenueConfig:
    """One venue a composite hedges on (docs/hedging.md): ``instrument`` is a registry
    instrument id (a linear/spot member of the composite); quantities in its own scale."""

    id: int
    name: str
    instrument: int
    taker_cbps: int = 0
    max_order_qty: int = 0
    max_position: int = 0


@dataclass(frozen=True, slots=True)
class HedgeConfig:
    """Hedging policy of one composite: ``mode`` off / full / partial / threshold."""

    composite: int
    mode: str
    venues: tuple[HedgeVenueConfig, ...]
    ratio_pct: int = 0
    threshold: int = 0            # composite qty units
    max_slippage_cbps: int = 0
    retry_ns: int = 100_000_000
    #: the internal crossing book: (tick, min_price, max_price, max_orders), composite price units
    internal: tuple[int, int, int, int] | None = None


@dataclass(frozen=True, slots=True)
class DeskConfig:
    """Desk-wide settings."""

    exec_count: int = 0
    exec_window_ns: int = 1_000_000_000
    quote_table: int = 1 << 16
    max_pending: int = 1024


@dataclass(frozen=True, slots=True)
class GatewayConfig:
    """Where the Aeron gateway listens."""

    channel: str = "aeron:ipc"
    request_stream: int = 1001
    response_stream_base: int = 2000
    operator_stream: int = 3000
    aeron_dir: str | None = None


def _table(entry: object, keys: frozenset[str], where: str) -> Mapping[str, Any]:
    if not isinstance(entry, dict):
        raise ConfigError(f"{where} is not a table")
    unknown = set(entry) - keys
    if unknown:
        raise ConfigError(f"{where}: unknown keys {sorted(unknown)}")
    return entry


def _get(entry: Mapping[str, Any], key: str, typ: type, where: str, default: Any = ...) -> Any:
    if key not in entry:
        if default is ...:
            raise ConfigError(f"{where}: missing key {key!r}")
        return default
    value = entry[key]
    if typ is bool:
        ok = isinstance(value, bool)
    else:
        ok = isinstance(value, typ) and not isinstance(value, bool)
    if not ok:
        raise ConfigError(f"{where}: {key} must be {typ.__name__}, got {type(value).__name__} {value!r}")
    return value


def _nonneg_int(entry: Mapping[str, Any], key: str, where: str, default: Any = ...) -> int:
    v = _get(entry, key, int, where, default)
    if v < 0:
        raise ConfigError(f"{where}: {key} must be >= 0, got {v}")
    return int(v)


def _cbps(entry: Mapping[str, Any], key: str, where: str, default: str | None = None) -> int:
    raw = entry.get(key, default)
    if raw is None:
        raise ConfigError(f"{where}: missing key {key!r}")
    return decimal_units(raw, 2, f"{where} {key}")


def _secret(name: str, raw: object, where: str) -> bytes:
    env = os.environ.get("RFQCORE_SECRET_" + name.upper().replace("-", "_"))
    text = env if env is not None else raw
    if not isinstance(text, str) or not text:
        raise ConfigError(f"{where}: secret must be a non-empty hex string")
    try:
        secret = bytes.fromhex(text)
    except ValueError:
        raise ConfigError(f"{where}: secret is not hex") from None
    if len(secret) < 16:
        raise ConfigError(f"{where}: secret must be at least 16 bytes")
    return secret


@dataclass(frozen=True)
class RfqSettings:
    """The whole RFQ configuration, resolved against a :class:`Registry`."""

    tiers: tuple[TierConfig, ...]
    clients: tuple[ClientConfig, ...]
    operators: tuple[OperatorConfig, ...]
    risk: tuple[RiskConfig, ...]
    pricing: tuple[PricingConfig, ...]
    desk: DeskConfig
    gateway: GatewayConfig
    registry: Registry = field(repr=False)
    source: str = "<memory>"
    hedging: tuple[HedgeConfig, ...] = ()

    # -- loading ---------------------------------------------------------------------------

    @classmethod
    def load(cls, path: str | Path | None = None, registry: Registry | None = None) -> RfqSettings:
        """Load ``path`` (default: the packaged ``defaults/rfq.toml``)."""
        registry = registry if registry is not None else Registry.load()
        if path is None:
            text = resources.files("rfqcore").joinpath("defaults/rfq.toml").read_text("utf-8")
            return cls.from_toml(text, registry, "defaults/rfq.toml")
        p = Path(path)
        try:
            text = p.read_text("utf-8")
        except OSError as e:
            raise ConfigError(f"cannot read {p}: {e.strerror}") from None
        return cls.from_toml(text, registry, str(p))

    @classmethod
    def empty(cls, registry: Registry) -> RfqSettings:
        """No tiers, clients or limits: every RFQ is refused (for market-data-only engines)."""
        return cls.from_dict({}, registry, "<empty>")

    @classmethod
    def from_toml(cls, text: str, registry: Registry, source: str = "<string>") -> RfqSettings:
        try:
            doc = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"{source}: {e}") from None
        return cls.from_dict(doc, registry, source)

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any], registry: Registry, source: str = "<dict>") -> RfqSettings:
        unknown = set(doc) - _TOP_KEYS
        if unknown:
            raise ConfigError(f"{source}: unknown sections {sorted(unknown)}")
        d = _table(doc.get("desk", {}), _DESK_KEYS, f"{source}: [desk]")
        desk = DeskConfig(
            exec_count=_nonneg_int(d, "exec_count", f"{source}: [desk]", 0),
            exec_window_ns=_nonneg_int(d, "exec_window_ms", f"{source}: [desk]", 1000) * _MS,
            quote_table=_nonneg_int(d, "quote_table", f"{source}: [desk]", 1 << 16),
            max_pending=_nonneg_int(d, "max_pending", f"{source}: [desk]", 1024),
        )
        g = _table(doc.get("gateway", {}), _GATEWAY_KEYS, f"{source}: [gateway]")
        w = f"{source}: [gateway]"
        gateway = GatewayConfig(
            channel=_get(g, "channel", str, w, "aeron:ipc"),
            request_stream=_nonneg_int(g, "request_stream", w, 1001),
            response_stream_base=_nonneg_int(g, "response_stream_base", w, 2000),
            operator_stream=_nonneg_int(g, "operator_stream", w, 3000),
            aeron_dir=_get(g, "aeron_dir", str, w, None),
        )
        tiers: list[TierConfig] = []
        for i, raw in enumerate(doc.get("tier", []), 1):
            w = f"{source}: tier #{i}"
            t = _table(raw, _TIER_KEYS, w)
            name = _get(t, "name", str, w)
            if any(x.name == name for x in tiers):
                raise ConfigError(f"{w}: duplicate tier {name!r}")
            ttl, max_ttl = _nonneg_int(t, "ttl_ms", w), _nonneg_int(t, "max_ttl_ms", w)
            if not 0 < ttl <= max_ttl:
                raise ConfigError(f"{w}: need 0 < ttl_ms <= max_ttl_ms, got {ttl}, {max_ttl}")
            tiers.append(TierConfig(id=i, name=name, markup_cbps=_cbps(t, "markup_bps", w),
                                    fee_cbps=_cbps(t, "fee_bps", w), ttl_ns=ttl * _MS, max_ttl_ns=max_ttl * _MS,
                                    allow_partial=_get(t, "allow_partial", bool, w, False)))
        tier_by_name = {t.name: t for t in tiers}
        clients: list[ClientConfig] = []
        for i, raw in enumerate(doc.get("client", []), 1):
            w = f"{source}: client #{i}"
            c = _table(raw, _CLIENT_KEYS, w)
            name = _get(c, "name", str, w)
            w = f"{source}: client {name!r}"
            cid = _get(c, "id", int, w)
            if not 1 <= cid <= 0xFFFF or any(x.id == cid for x in clients):
                raise ConfigError(f"{w}: id must be a unique integer 1..65535, got {cid}")
            if any(x.name == name for x in clients):
                raise ConfigError(f"{w}: duplicate client name")
            tier = _get(c, "tier", str, w)
            if tier not in tier_by_name:
                raise ConfigError(f"{w}: unknown tier {tier!r} (known: {sorted(tier_by_name)})")
            rate, burst = _nonneg_int(c, "rfq_rate", w, 0), _nonneg_int(c, "rfq_burst", w, 0)
            arate, aburst = _nonneg_int(c, "accept_rate", w, 0), _nonneg_int(c, "accept_burst", w, 0)
            for r, b, what in ((rate, burst, "rfq"), (arate, aburst, "accept")):
                if r > 0 and b == 0:
                    raise ConfigError(f"{w}: {what}_rate needs {what}_burst >= 1")
            clients.append(ClientConfig(
                id=cid, name=name, tier=tier_by_name[tier].id, secret=_secret(name, c.get("secret"), w),
                credit_limit=decimal_units(_get(c, "credit_limit", str, w), NOTIONAL_DECIMALS, f"{w} credit_limit"),
                max_open_quotes=_nonneg_int(c, "max_open_quotes", w), rfq_rate=rate, rfq_burst=burst,
                accept_rate=arate, accept_burst=aburst, enabled=_get(c, "enabled", bool, w, True)))
        operators: list[OperatorConfig] = []
        for i, raw in enumerate(doc.get("operator", []), 1):
            w = f"{source}: operator #{i}"
            o = _table(raw, _OPERATOR_KEYS, w)
            name = _get(o, "name", str, w)
            oid = _get(o, "id", int, w)
            if not 1 <= oid <= 0xFFFF or any(x.id == oid or x.name == name for x in operators):
                raise ConfigError(f"{w}: id must be unique 1..65535 and name unique")
            operators.append(OperatorConfig(id=oid, name=name, secret=_secret(name, o.get("secret"), w)))
        risk: list[RiskConfig] = []
        for i, raw in enumerate(doc.get("risk", []), 1):
            w = f"{source}: risk #{i}"
            r = _table(raw, _RISK_KEYS, w)
            comp = _composite(registry, _get(r, "composite", str, w), w)
            if any(x.composite == comp.id for x in risk):
                raise ConfigError(f"{w}: duplicate risk entry for {comp.name}")
            w = f"{source}: risk {comp.name}"

            def qty(key: str, c: Composite = comp, m: Mapping[str, Any] = r, wh: str = w) -> int:
                return decimal_units(_get(m, key, str, wh), c.qty_decimals, f"{wh} {key}")

            def cents(key: str, m: Mapping[str, Any] = r, wh: str = w) -> int:
                return decimal_units(_get(m, key, str, wh), NOTIONAL_DECIMALS, f"{wh} {key}")

            entry = RiskConfig(
                composite=comp.id, min_qty=qty("min_qty"), max_qty=qty("max_qty"),
                max_notional=cents("max_notional"), long_limit=qty("long_limit"), short_limit=qty("short_limit"),
                collar_cbps=_cbps(r, "collar_bps", w), approval_qty=qty("approval_qty"),
                approval_notional=cents("approval_notional"),
                approval_timeout_ns=_nonneg_int(r, "approval_timeout_ms", w) * _MS,
                restricted=_get(r, "restricted", bool, w, False))
            if not 0 < entry.min_qty <= entry.max_qty:
                raise ConfigError(f"{w}: need 0 < min_qty <= max_qty")
            if entry.max_notional <= 0 or entry.collar_cbps <= 0 or entry.approval_timeout_ns <= 0:
                raise ConfigError(f"{w}: max_notional, collar_bps and approval_timeout_ms must be > 0")
            risk.append(entry)
        pricing: list[PricingConfig] = []
        for i, raw in enumerate(doc.get("pricing", []), 1):
            w = f"{source}: pricing #{i}"
            p = _table(raw, _PRICING_KEYS, w)
            comp = _composite(registry, _get(p, "composite", str, w), w)
            if any(x.composite == comp.id for x in pricing):
                raise ConfigError(f"{w}: duplicate pricing entry for {comp.name}")
            shift = _nonneg_int(p, "vol_ema_shift", w, 4)
            if shift > 20:
                raise ConfigError(f"{w}: vol_ema_shift must be 0..20, got {shift}")
            pricing.append(PricingConfig(
                composite=comp.id, skew_cbps_per_unit=_cbps(p, "skew_bps_per_unit", w, "0"),
                max_skew_cbps=_cbps(p, "max_skew_bps", w, "0"), vol_mult_pct=_nonneg_int(p, "vol_mult_pct", w, 0),
                vol_ema_shift=shift, hedge_fee_cbps=_cbps(p, "hedge_fee_bps", w, "0")))
        hedging: list[HedgeConfig] = []
        for i, raw in enumerate(doc.get("hedging", []), 1):
            w = f"{source}: hedging #{i}"
            h = _table(raw, _HEDGING_KEYS, w)
            comp = _composite(registry, _get(h, "composite", str, w), w)
            w = f"{source}: hedging {comp.name}"
            if any(x.composite == comp.id for x in hedging):
                raise ConfigError(f"{w}: duplicate hedging entry")
            mode = _get(h, "mode", str, w)
            if mode not in HEDGE_MODES:
                raise ConfigError(f"{w}: mode {mode!r}, expected one of {', '.join(HEDGE_MODES)}")
            venues: list[HedgeVenueConfig] = []
            for j, vraw in enumerate(h.get("venue", []), 1):
                vw = f"{w} venue #{j}"
                v = _table(vraw, _HEDGE_VENUE_KEYS, vw)
                key = _get(v, "instrument", str, vw)
                try:
                    inst = registry.by_key(key)
                except KeyError:
                    raise ConfigError(f"{vw}: unknown instrument {key!r}") from None
                if inst.id not in comp.members:
                    raise ConfigError(f"{vw}: {key} is not a member of {comp.name}")
                vid = _get(v, "id", int, vw)
                if not 1 <= vid <= 0xFFFF or any(x.id == vid for x in venues):
                    raise ConfigError(f"{vw}: id must be a unique integer 1..65535, got {vid}")

                def iqty(k: str, m: Mapping[str, Any] = v, wh: str = vw, d: int = inst.qty_decimals) -> int:
                    return decimal_units(m[k], d, f"{wh} {k}") if k in m else 0

                venues.append(HedgeVenueConfig(
                    id=vid, name=_get(v, "name", str, vw), instrument=inst.id,
                    taker_cbps=_cbps(v, "taker_fee_bps", vw, "0"), max_order_qty=iqty("max_order_qty"),
                    max_position=iqty("max_position")))
            if mode != "off" and not venues:
                raise ConfigError(f"{w}: mode {mode!r} needs at least one [[hedging.venue]]")
            ratio = _nonneg_int(h, "ratio_pct", w, 0)
            if mode == "partial" and not 1 <= ratio <= 100:
                raise ConfigError(f"{w}: partial hedging needs ratio_pct in 1..100")
            threshold = decimal_units(_get(h, "threshold", str, w, "0"), comp.qty_decimals, f"{w} threshold")
            if mode == "threshold" and threshold <= 0:
                raise ConfigError(f"{w}: threshold hedging needs threshold > 0")
            internal = None
            if "internal" in h:
                iw = f"{w} [hedging.internal]"
                ib = _table(h["internal"], _INTERNAL_KEYS, iw)

                def px(k: str, m: Mapping[str, Any] = ib, wh: str = iw, c: Composite = comp) -> int:
                    return decimal_units(_get(m, k, str, wh), c.price_decimals, f"{wh} {k}")

                internal = (px("tick"), px("min_price"), px("max_price"), _nonneg_int(ib, "max_orders", iw, 4096))
                tick, lo, hi, _ = internal
                if tick <= 0 or not 0 < lo <= hi or lo % tick or hi % tick:
                    raise ConfigError(f"{iw}: need tick > 0 and 0 < min_price <= max_price, multiples of tick")
            hedging.append(HedgeConfig(
                composite=comp.id, mode=mode, venues=tuple(venues), ratio_pct=ratio, threshold=threshold,
                max_slippage_cbps=_cbps(h, "max_slippage_bps", w, "0"),
                retry_ns=_nonneg_int(h, "retry_ms", w, 100) * _MS, internal=internal))
        return cls(tiers=tuple(tiers), clients=tuple(clients), operators=tuple(operators), risk=tuple(risk),
                   pricing=tuple(pricing), desk=desk, gateway=gateway, registry=registry, source=source,
                   hedging=tuple(hedging))

    # -- lookups ---------------------------------------------------------------------------

    def client(self, key: int | str) -> ClientConfig:
        """A client by id or name."""
        for c in self.clients:
            if c.id == key or c.name == key:
                return c
        raise KeyError(f"unknown client {key!r}")

    def operator(self, key: int | str) -> OperatorConfig:
        """An operator by id or name."""
        for o in self.operators:
            if o.id == key or o.name == key:
                return o
        raise KeyError(f"unknown operator {key!r}")

    def tier(self, key: int | str) -> TierConfig:
        """A tier by id or name."""
        for t in self.tiers:
            if t.id == key or t.name == key:
                return t
        raise KeyError(f"unknown tier {key!r}")

    # -- to the core -----------------------------------------------------------------------

    def core_spec(self) -> dict[str, Any]:
        """The ``rfq=`` dict of ``rfqcore_core.Engine`` (secrets stay in Python)."""
        return {
            "tiers": [{"id": t.id, "name": t.name, "markup_cbps": t.markup_cbps, "fee_cbps": t.fee_cbps,
                       "ttl_ns": t.ttl_ns, "max_ttl_ns": t.max_ttl_ns, "allow_partial": t.allow_partial}
                      for t in self.tiers],
            "clients": [{"id": c.id, "name": c.name, "tier": c.tier, "enabled": c.enabled,
                         "credit_limit": c.credit_limit, "max_open_quotes": c.max_open_quotes,
                         "rfq_rate": c.rfq_rate, "rfq_burst": c.rfq_burst, "accept_rate": c.accept_rate,
                         "accept_burst": c.accept_burst} for c in self.clients],
            "risk": [{"composite": r.composite, "min_qty": r.min_qty, "max_qty": r.max_qty,
                      "max_notional": r.max_notional, "long_limit": r.long_limit, "short_limit": r.short_limit,
                      "collar_cbps": r.collar_cbps, "approval_qty": r.approval_qty,
                      "approval_notional": r.approval_notional, "approval_timeout_ns": r.approval_timeout_ns,
                      "restricted": r.restricted} for r in self.risk],
            "pricing": [{"composite": p.composite, "skew_cbps_per_unit": p.skew_cbps_per_unit,
                         "max_skew_cbps": p.max_skew_cbps, "vol_mult_pct": p.vol_mult_pct,
                         "vol_ema_shift": p.vol_ema_shift, "hedge_fee_cbps": p.hedge_fee_cbps}
                        for p in self.pricing],
            "desk": {"exec_count": self.desk.exec_count, "exec_window_ns": self.desk.exec_window_ns,
                     "quote_table": self.desk.quote_table, "max_pending": self.desk.max_pending},
            "hedging": [{"composite": h.composite, "mode": h.mode, "ratio_pct": h.ratio_pct,
                         "threshold": h.threshold, "max_slippage_cbps": h.max_slippage_cbps,
                         "retry_ns": h.retry_ns,
                         "venues": [{"venue": v.id, "name": v.name, "instrument": v.instrument,
                                     "taker_cbps": v.taker_cbps, "max_order_qty": v.max_order_qty,
                                     "max_position": v.max_position} for v in h.venues],
                         "internal": None if h.internal is None else dict(zip(
                             ("tick", "min_price", "max_price", "max_orders"), h.internal))}
                        for h in self.hedging],
        }


def _composite(registry: Registry, name: str, where: str) -> Composite:
    try:
        return registry.composite(name)
    except (KeyError, ConfigError):
        raise ConfigError(f"{where}: unknown composite {name!r}") from None
