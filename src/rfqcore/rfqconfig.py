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
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Final, Literal

from pydantic import AfterValidator, Field, ValidationError, model_validator

from rfqcore.configmodel import DecimalStr, Id, Loc, Model, NonNegInt, config_error, fail, raw_at
from rfqcore.errors import ConfigError
from rfqcore.instruments import Composite, Registry, decimal_units

__all__ = [
    "NOTIONAL_DECIMALS",
    "FixConfig",
    "FixSessionConfig",
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
    "PortalUserConfig",
    "ConsoleUserConfig",
    "CONSOLE_ROLES",
    "RfqSettings",
    "RfqFile",
]

NOTIONAL_DECIMALS: Final[int] = 2
_MS: Final[int] = 1_000_000

HEDGE_MODES: Final = ("off", "full", "partial", "threshold")
HedgeMode = Literal["off", "full", "partial", "threshold"]

#: the operator console's roles, each allowed what the one before it may do and more (docs/web.md)
CONSOLE_ROLES: Final = ("viewer", "trader", "risk-officer")
ConsoleRole = Literal["viewer", "trader", "risk-officer"]


# -- the file, declared (docs/config.schema.json is generated from these) -----------------------

class DeskModel(Model):
    """``[desk]``: desk-wide settings."""

    exec_count: NonNegInt = 0
    """repeated-execution halt: this many executions of a client or instrument within exec_window_ms
    halt it until reenabled (0: off)"""
    exec_window_ms: NonNegInt = 1000
    """the repeated-execution window"""
    quote_table: NonNegInt = 1 << 16
    """live quote slots"""
    max_pending: NonNegInt = 1024
    """RFQs waiting for manual approval, at most"""


class GatewayModel(Model):
    """``[gateway]``: where the Aeron gateway listens."""

    channel: str = "aeron:ipc"
    """Aeron channel, e.g. aeron:ipc or aeron:udp?endpoint=127.0.0.1:40123"""
    response_channel: str | None = None
    """Aeron channel of the answers (default: channel); across hosts, the clients' host, e.g.
    aeron:udp?endpoint=CLIENT_HOST:40124, or a multicast group for several client hosts"""
    request_stream: NonNegInt = 1001
    """stream id of client requests"""
    response_stream_base: NonNegInt = 2000
    """responses to client id N go to stream response_stream_base + N"""
    operator_stream: NonNegInt = 3000
    """stream id of operator CONTROL commands"""
    aeron_dir: str | None = None
    """Aeron directory (default: Aeron's own default)"""


CompId = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]


class FixSessionModel(Model):
    """One ``[[fix.session]]``: a client's FIX session (docs/fix.md)."""

    client: str
    """the name of the [[client]] that logs on with this session"""
    sender_comp_id: CompId | None = None
    """its SenderCompID (49): letters, digits, '.', '_', '-'; default the client's name"""
    cancel_on_disconnect: bool | None = None
    """cancel the client's live quotes when the session ends (default: [fix] cancel_on_disconnect)"""


class FixModel(Model):
    """``[fix]``: the FIX 4.4 acceptor (docs/fix.md); `rfqcore serve --fix-port/--fix-store` override."""

    listen: str | None = None
    """HOST:PORT to listen on; when set, `rfqcore serve` starts the acceptor (default: off unless --fix-port)"""
    store: str = "rfqcore-fix"
    """QuickFIX's file store and logs, and the ids each client used (keep it across restarts)"""
    comp_id: CompId = "RFQCORE"
    """the desk's CompID: the clients' TargetCompID (56)"""
    heartbeat_s: Annotated[int, Field(ge=1, le=3600)] = 30
    """the desk's HeartBtInt (108), seconds"""
    cancel_on_disconnect: bool = True
    """cancel a client's live quotes when its session ends (logout or lost connection)"""
    session: list[FixSessionModel] = []
    """[[fix.session]] tables; none: every [[client]] has a session with SenderCompID = its name"""
    tls_cert: str | None = None
    """PEM certificate chain: serve FIX over TLS only (with tls_key; `rfqcore serve --fix-cert` overrides)"""
    tls_key: str | None = None
    """the private key of tls_cert (PEM)"""


class TierModel(Model):
    """One ``[[tier]]``: a client tier (its id is its 1-based position)."""

    name: str
    """the tier's name, what [[client]] tier refers to"""
    markup_bps: DecimalStr
    """spread added to the desk price, bps"""
    fee_bps: DecimalStr
    """fee charged on executions, bps"""
    ttl_ms: NonNegInt
    """default quote lifetime, > 0"""
    max_ttl_ms: NonNegInt
    """longest quote lifetime a client may ask for, >= ttl_ms"""
    allow_partial: bool = False
    """whether a client of the tier may hit part of a quote"""

    @model_validator(mode="after")
    def _ttl(self) -> TierModel:
        if not 0 < self.ttl_ms <= self.max_ttl_ms:
            raise fail(f"need 0 < ttl_ms <= max_ttl_ms, got {self.ttl_ms}, {self.max_ttl_ms}")
        return self


class ClientModel(Model):
    """One ``[[client]]``: a client of the desk."""

    name: str
    """the client's name (its logon)"""
    id: Id
    """the client id, unique, 1..65535"""
    tier: str
    """the name of a [[tier]]"""
    secret: str | None = None
    """logon secret, hex, >= 16 bytes (or from $RFQCORE_SECRET_<NAME>)"""
    credit_limit: DecimalStr
    """credit limit in the quote currency"""
    max_open_quotes: NonNegInt
    """live quotes at most"""
    rfq_rate: NonNegInt = 0
    """RFQs per second (0: unlimited)"""
    rfq_burst: NonNegInt = 0
    """RFQ burst size, >= 1 when rfq_rate is set"""
    accept_rate: NonNegInt = 0
    """accepts per second (0: unlimited)"""
    accept_burst: NonNegInt = 0
    """accept burst size, >= 1 when accept_rate is set"""
    enabled: bool = True
    """whether the client may trade"""

    @model_validator(mode="after")
    def _bursts(self) -> ClientModel:
        for rate, burst, what in ((self.rfq_rate, self.rfq_burst, "rfq"),
                                  (self.accept_rate, self.accept_burst, "accept")):
            if rate > 0 and burst == 0:
                raise fail(f"{what}_rate needs {what}_burst >= 1")
        return self


class OperatorModel(Model):
    """One ``[[operator]]``: a desk operator allowed to send CONTROL commands."""

    name: str
    """the operator's name (its logon)"""
    id: Id
    """the operator id, unique, 1..65535"""
    secret: str | None = None
    """logon secret, hex, >= 16 bytes (or from $RFQCORE_SECRET_<NAME>)"""


def _password_hash(v: str) -> str:
    if not v.startswith("$argon2id$"):
        raise fail("password_hash must be an argon2id hash ($argon2id$...) made by `rfqcore portal hash-password`, "
                   "never the password itself")
    return v


class PortalUserModel(Model):
    """One ``[[portal_user]]``: a client trader's login to the web RFQ portal (docs/web.md)."""

    name: Annotated[str, Field(min_length=1, max_length=64)]
    """the login name, unique"""
    client: str
    """the name of the [[client]] this user trades for (and whose blotter it sees)"""
    password_hash: Annotated[str, AfterValidator(_password_hash)]
    """argon2id hash of the password, from `rfqcore portal hash-password` (never the password)"""


class ConsoleUserModel(Model):
    """One ``[[console_user]]``: a desk operator's login to the web operator console (docs/web.md)."""

    name: Annotated[str, Field(min_length=1, max_length=64)]
    """the login name, unique among console users"""
    operator: str
    """the name of the [[operator]] whose id its commands carry (what the audit trail names)"""
    role: ConsoleRole
    """viewer (read only), trader (also the approval queue) or risk-officer (also kill switches, the
    restricted list, limits and pricing)"""
    password_hash: Annotated[str, AfterValidator(_password_hash)]
    """argon2id hash of the password, from `rfqcore portal hash-password` (never the password)"""


class RiskModel(Model):
    """One ``[[risk]]``: risk limits of a composite (sizes in base units, notionals in the quote currency)."""

    composite: str
    """a [[composite]] of the instrument registry"""
    min_qty: DecimalStr
    """smallest RFQ size, > 0"""
    max_qty: DecimalStr
    """largest RFQ size, >= min_qty"""
    max_notional: DecimalStr
    """largest RFQ notional, > 0"""
    long_limit: DecimalStr
    """largest long desk position"""
    short_limit: DecimalStr
    """largest short desk position"""
    collar_bps: DecimalStr
    """price collar around the composite, bps, > 0"""
    approval_qty: DecimalStr
    """RFQs from this size wait for manual approval (0: none)"""
    approval_notional: DecimalStr
    """RFQs from this notional wait for manual approval (0: none)"""
    approval_timeout_ms: NonNegInt
    """how long an RFQ waits for approval, > 0"""
    restricted: bool = False
    """on the restricted list (every RFQ refused)"""


class PricingModel(Model):
    """One ``[[pricing]]``: pricing v2 knobs of a composite."""

    composite: str
    """a [[composite]] of the instrument registry"""
    skew_bps_per_unit: DecimalStr = "0"
    """price skew per base unit of desk position, bps"""
    max_skew_bps: DecimalStr = "0"
    """the skew's cap, bps"""
    vol_mult_pct: NonNegInt = 0
    """spread widening by short-term volatility, percent"""
    vol_ema_shift: int = Field(4, ge=0, le=20)
    """volatility smoothing: EMA weight 2**-shift"""
    hedge_fee_bps: DecimalStr = "0"
    """expected hedging cost added to the spread, bps"""


class HedgeVenueModel(Model):
    """One ``[[hedging.venue]]``: a venue the composite hedges on."""

    id: Id
    """the venue id, unique within the composite (the venue connections' id)"""
    name: str
    """the venue's name"""
    instrument: str
    """the registry instrument ("venue:symbol") traded there, a member of the composite"""
    taker_fee_bps: DecimalStr = "0"
    """the venue's taker fee, bps"""
    max_order_qty: DecimalStr = "0"
    """largest hedge order, in the instrument's quantity (0: no limit)"""
    max_position: DecimalStr = "0"
    """largest position on the venue (0: no limit)"""


class InternalBookModel(Model):
    """``[hedging.internal]``: the internal crossing book of the composite (prices in its quote currency)."""

    tick: DecimalStr
    """price increment, > 0"""
    min_price: DecimalStr
    """lowest price, a multiple of tick, > 0"""
    max_price: DecimalStr
    """highest price, a multiple of tick, >= min_price"""
    max_orders: NonNegInt = 4096
    """resting orders at most"""


class HedgingModel(Model):
    """One ``[[hedging]]``: the hedging policy of a composite (docs/hedging.md)."""

    composite: str
    """a [[composite]] of the instrument registry"""
    mode: HedgeMode
    """off, full, partial (ratio_pct) or threshold (hedge once the position passes threshold)"""
    ratio_pct: NonNegInt = 0
    """partial mode: the share hedged, 1..100"""
    threshold: DecimalStr = "0"
    """threshold mode: the position, in base units, from which it hedges"""
    max_slippage_bps: DecimalStr = "0"
    """refuse hedge prices further than this from the quote, bps (0: no limit)"""
    retry_ms: NonNegInt = 100
    """wait before retrying a failed hedge"""
    venue: list[HedgeVenueModel] = []
    """[[hedging.venue]] tables (at least one unless mode is off)"""
    internal: InternalBookModel | None = None
    """[hedging.internal]: cross client flows internally before hedging"""

    @model_validator(mode="after")
    def _policy(self) -> HedgingModel:
        if self.mode == "partial" and not 1 <= self.ratio_pct <= 100:
            raise fail("partial hedging needs ratio_pct in 1..100")
        return self


class RfqFile(Model):
    """RFQ settings (``defaults/rfq.toml``): tiers, clients, operators, limits, pricing, hedging."""

    desk: DeskModel = DeskModel()
    """desk-wide settings"""
    gateway: GatewayModel = GatewayModel()
    """the Aeron gateway"""
    tier: list[TierModel] = []
    """[[tier]] tables; a tier's id is its 1-based position"""
    client: list[ClientModel] = []
    """[[client]] tables"""
    operator: list[OperatorModel] = []
    """[[operator]] tables"""
    risk: list[RiskModel] = []
    """[[risk]] tables, one per composite"""
    pricing: list[PricingModel] = []
    """[[pricing]] tables, at most one per composite"""
    hedging: list[HedgingModel] = []
    """[[hedging]] tables, at most one per composite"""
    portal_user: list[PortalUserModel] = []
    """[[portal_user]] tables: logins to the web RFQ portal"""
    console_user: list[ConsoleUserModel] = []
    """[[console_user]] tables: logins to the web operator console"""
    fix: FixModel = FixModel()
    """the FIX 4.4 acceptor"""


def _item_name(doc: object, registry: Registry) -> Callable[[Loc], str]:
    """How errors name an item of the RFQ settings file ``doc`` (as :func:`_where` does)."""
    def name(item: Loc) -> str:
        section = str(item[0])
        if len(item) == 1:
            return f"[{section}]"
        raw = raw_at(doc, item[:2])
        entry = raw if isinstance(raw, Mapping) else {}
        where = _where(section, int(item[1]) + 1, entry, registry)
        if item[2:3] == ("venue",) and len(item) >= 4:
            return f"{where} venue #{int(item[3]) + 1}"
        if item[2:3] == ("internal",):
            return f"{where} [hedging.internal]"
        return where
    return name


def _where(section: str, number: int, entry: Mapping[str, Any], registry: Registry) -> str:
    """``client 'acme'``, ``risk BTC``, ``tier #2``: a client by its name, a risk or hedging entry by
    its composite, any other entry (or one whose name is not known yet) by its position."""
    if section == "client" and isinstance(entry.get("name"), str):
        return f"client {entry['name']!r}"
    if section in ("risk", "hedging") and isinstance(entry.get("composite"), str):
        try:
            return f"{section} {registry.composite(entry['composite']).name}"
        except (KeyError, ConfigError):
            pass
    return f"{section} #{number}"


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
class PortalUserConfig:
    """A login to the web RFQ portal for client ``client`` (its id); ``password_hash``: argon2id."""

    name: str
    client: int
    password_hash: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class ConsoleUserConfig:
    """A login to the web operator console: its ``role`` (one of :data:`CONSOLE_ROLES`) and the
    ``operator`` id its commands carry; ``password_hash``: argon2id."""

    name: str
    operator: int
    role: str
    password_hash: str = field(repr=False)


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
    #: the answers' channel (None: ``channel``); across hosts, the clients' host or a multicast group
    response_channel: str | None = None
    request_stream: int = 1001
    response_stream_base: int = 2000
    operator_stream: int = 3000
    aeron_dir: str | None = None

    def answers_on(self, channel: str | None, response_channel: str | None) -> str:
        """The channel the gateway answers on and clients listen on: ``response_channel`` if
        given; else this config's ``response_channel`` when the requests use this config's
        channel too (``channel`` None); else the requests' channel (one host, one driver)."""
        if response_channel:
            return response_channel
        if channel is None and self.response_channel:
            return self.response_channel
        return channel or self.channel


@dataclass(frozen=True, slots=True)
class FixSessionConfig:
    """A client's FIX session: its SenderCompID and whether its quotes end with the session."""

    sender_comp_id: str
    client: int
    cancel_on_disconnect: bool


@dataclass(frozen=True, slots=True)
class FixConfig:
    """The FIX acceptor's settings (``[fix]``); ``listen`` None: off unless asked for."""

    listen: tuple[str, int] | None = None
    store: str = "rfqcore-fix"
    comp_id: str = "RFQCORE"
    heartbeat_s: int = 30
    cancel_on_disconnect: bool = True
    #: the sessions the acceptor knows (one per client when [[fix.session]] lists none)
    sessions: tuple[FixSessionConfig, ...] = ()
    #: (PEM certificate chain, private key): the acceptor speaks TLS only; None: plain TCP
    tls: tuple[str, str] | None = None


def _cbps(value: str, where: str) -> int:
    """A bps decimal string in hundredths of a basis point (exactly; at most 2 decimals)."""
    return decimal_units(value, 2, where)


def _secret(name: str, raw: str | None, where: str) -> bytes:
    var = "RFQCORE_SECRET_" + name.upper().replace("-", "_")
    env = os.environ.get(var)
    text = env if env is not None else raw
    origin = f"${var}" if env is not None else "secret"
    fix = f"(32 or more hex digits, e.g. from `openssl rand -hex 32`, in the file or in ${var})"
    if not text:
        raise ConfigError(f"{where}: secret must be a non-empty hex string {fix}")
    try:
        secret = bytes.fromhex(text)
    except ValueError:
        raise ConfigError(f"{where}: {origin} is not hex {fix}") from None
    if len(secret) < 16:
        raise ConfigError(f"{where}: {origin} must be at least 16 bytes {fix}")
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
    portal_users: tuple[PortalUserConfig, ...] = ()
    console_users: tuple[ConsoleUserConfig, ...] = ()
    fix: FixConfig = FixConfig()

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
            raise ConfigError(f"{source}: invalid TOML: {e}") from None
        return cls.from_dict(doc, registry, source)

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any], registry: Registry, source: str = "<dict>") -> RfqSettings:
        try:
            model = RfqFile.model_validate(doc)
        except ValidationError as e:
            raise config_error(e, RfqFile, source, _item_name(doc, registry)) from None
        return cls.from_model(model, registry, source)

    @classmethod
    def from_model(cls, m: RfqFile, registry: Registry, source: str = "<model>") -> RfqSettings:
        """The settings of a validated file: names resolved (tiers, composites, instruments),
        decimal strings converted exactly at their scales, uniqueness checked."""
        d = m.desk
        desk = DeskConfig(exec_count=d.exec_count, exec_window_ns=d.exec_window_ms * _MS, quote_table=d.quote_table,
                          max_pending=d.max_pending)
        g = m.gateway
        gateway = GatewayConfig(channel=g.channel, response_channel=g.response_channel, request_stream=g.request_stream,
                                response_stream_base=g.response_stream_base, operator_stream=g.operator_stream,
                                aeron_dir=g.aeron_dir)
        tiers: list[TierConfig] = []
        for i, t in enumerate(m.tier, 1):
            w = f"{source}: tier #{i}"
            if any(x.name == t.name for x in tiers):
                raise ConfigError(f"{w}: duplicate tier {t.name!r}")
            tiers.append(TierConfig(id=i, name=t.name, markup_cbps=_cbps(t.markup_bps, f"{w} markup_bps"),
                                    fee_cbps=_cbps(t.fee_bps, f"{w} fee_bps"), ttl_ns=t.ttl_ms * _MS,
                                    max_ttl_ns=t.max_ttl_ms * _MS, allow_partial=t.allow_partial))
        tier_by_name = {t.name: t for t in tiers}
        clients: list[ClientConfig] = []
        for c in m.client:
            w = f"{source}: client {c.name!r}"
            if any(x.id == c.id for x in clients):
                raise ConfigError(f"{w}: id must be a unique integer 1..65535, got {c.id}")
            if any(x.name == c.name for x in clients):
                raise ConfigError(f"{w}: duplicate client name")
            if c.tier not in tier_by_name:
                raise ConfigError(f"{w}: unknown tier {c.tier!r} (known: {sorted(tier_by_name)})")
            clients.append(ClientConfig(
                id=c.id, name=c.name, tier=tier_by_name[c.tier].id, secret=_secret(c.name, c.secret, w),
                credit_limit=decimal_units(c.credit_limit, NOTIONAL_DECIMALS, f"{w} credit_limit"),
                max_open_quotes=c.max_open_quotes, rfq_rate=c.rfq_rate, rfq_burst=c.rfq_burst,
                accept_rate=c.accept_rate, accept_burst=c.accept_burst, enabled=c.enabled))
        operators: list[OperatorConfig] = []
        for i, o in enumerate(m.operator, 1):
            w = f"{source}: operator #{i}"
            if any(x.id == o.id or x.name == o.name for x in operators):
                raise ConfigError(f"{w}: id must be unique 1..65535 and name unique")
            operators.append(OperatorConfig(id=o.id, name=o.name, secret=_secret(o.name, o.secret, w)))
        risk: list[RiskConfig] = []
        for i, r in enumerate(m.risk, 1):
            comp = _composite(registry, r.composite, f"{source}: risk #{i}")
            if any(x.composite == comp.id for x in risk):
                raise ConfigError(f"{source}: risk #{i}: duplicate risk entry for {comp.name}")
            w = f"{source}: risk {comp.name}"

            def qty(key: str, value: str, c: Composite = comp, wh: str = w) -> int:
                return decimal_units(value, c.qty_decimals, f"{wh} {key}")

            def cents(key: str, value: str, wh: str = w) -> int:
                return decimal_units(value, NOTIONAL_DECIMALS, f"{wh} {key}")

            entry = RiskConfig(
                composite=comp.id, min_qty=qty("min_qty", r.min_qty), max_qty=qty("max_qty", r.max_qty),
                max_notional=cents("max_notional", r.max_notional), long_limit=qty("long_limit", r.long_limit),
                short_limit=qty("short_limit", r.short_limit), collar_cbps=_cbps(r.collar_bps, f"{w} collar_bps"),
                approval_qty=qty("approval_qty", r.approval_qty),
                approval_notional=cents("approval_notional", r.approval_notional),
                approval_timeout_ns=r.approval_timeout_ms * _MS, restricted=r.restricted)
            if not 0 < entry.min_qty <= entry.max_qty:
                raise ConfigError(f"{w}: need 0 < min_qty <= max_qty")
            if entry.max_notional <= 0 or entry.collar_cbps <= 0 or entry.approval_timeout_ns <= 0:
                raise ConfigError(f"{w}: max_notional, collar_bps and approval_timeout_ms must be > 0")
            risk.append(entry)
        pricing: list[PricingConfig] = []
        for i, p in enumerate(m.pricing, 1):
            w = f"{source}: pricing #{i}"
            comp = _composite(registry, p.composite, w)
            if any(x.composite == comp.id for x in pricing):
                raise ConfigError(f"{w}: duplicate pricing entry for {comp.name}")
            pricing.append(PricingConfig(
                composite=comp.id, skew_cbps_per_unit=_cbps(p.skew_bps_per_unit, f"{w} skew_bps_per_unit"),
                max_skew_cbps=_cbps(p.max_skew_bps, f"{w} max_skew_bps"), vol_mult_pct=p.vol_mult_pct,
                vol_ema_shift=p.vol_ema_shift, hedge_fee_cbps=_cbps(p.hedge_fee_bps, f"{w} hedge_fee_bps")))
        hedging: list[HedgeConfig] = []
        for i, h in enumerate(m.hedging, 1):
            hedging.append(_hedge_config(h, i, registry, source, hedging))
        return cls(tiers=tuple(tiers), clients=tuple(clients), operators=tuple(operators), risk=tuple(risk),
                   pricing=tuple(pricing), desk=desk, gateway=gateway, registry=registry, source=source,
                   hedging=tuple(hedging), portal_users=_portal_users(m.portal_user, clients, source),
                   console_users=_console_users(m.console_user, operators, source),
                   fix=_fix_config(m.fix, clients, source))

    # -- lookups ---------------------------------------------------------------------------

    def client(self, key: int | str) -> ClientConfig:
        """A client by id or name."""
        for c in self.clients:
            if c.id == key or c.name == key:
                return c
        raise KeyError(f"unknown client {key!r}; known clients: {', '.join(x.name for x in self.clients)}")

    def operator(self, key: int | str) -> OperatorConfig:
        """An operator by id or name."""
        for o in self.operators:
            if o.id == key or o.name == key:
                return o
        raise KeyError(f"unknown operator {key!r}; known operators: {', '.join(x.name for x in self.operators)}")

    def tier(self, key: int | str) -> TierConfig:
        """A tier by id or name."""
        for t in self.tiers:
            if t.id == key or t.name == key:
                return t
        raise KeyError(f"unknown tier {key!r}; known tiers: {', '.join(x.name for x in self.tiers)}")

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


def _hedge_config(h: HedgingModel, number: int, registry: Registry, source: str,
                  so_far: list[HedgeConfig]) -> HedgeConfig:
    """One validated [[hedging]] table, resolved (``so_far``: the entries before it)."""
    comp = _composite(registry, h.composite, f"{source}: hedging #{number}")
    w = f"{source}: hedging {comp.name}"
    if any(x.composite == comp.id for x in so_far):
        raise ConfigError(f"{w}: duplicate hedging entry")
    venues: list[HedgeVenueConfig] = []
    for j, v in enumerate(h.venue, 1):
        vw = f"{w} venue #{j}"
        try:
            inst = registry.by_key(v.instrument)
        except KeyError as e:
            raise ConfigError(f"{vw}: {e.args[0]}") from None
        if inst.id not in comp.members:
            members = ", ".join(registry.by_id(m).key for m in comp.members)
            raise ConfigError(f"{vw}: {v.instrument} is not a member of {comp.name} (its members: {members})")
        if any(x.id == v.id for x in venues):
            raise ConfigError(f"{vw}: id must be a unique integer 1..65535, got {v.id}")
        venues.append(HedgeVenueConfig(
            id=v.id, name=v.name, instrument=inst.id, taker_cbps=_cbps(v.taker_fee_bps, f"{vw} taker_fee_bps"),
            max_order_qty=decimal_units(v.max_order_qty, inst.qty_decimals, f"{vw} max_order_qty"),
            max_position=decimal_units(v.max_position, inst.qty_decimals, f"{vw} max_position")))
    if h.mode != "off" and not venues:
        raise ConfigError(f"{w}: mode {h.mode!r} needs at least one [[hedging.venue]]")
    threshold = decimal_units(h.threshold, comp.qty_decimals, f"{w} threshold")
    if h.mode == "threshold" and threshold <= 0:
        raise ConfigError(f"{w}: threshold hedging needs threshold > 0")
    internal = None
    if h.internal is not None:
        iw = f"{w} [hedging.internal]"
        ib = h.internal

        def px(k: str, value: str) -> int:
            return decimal_units(value, comp.price_decimals, f"{iw} {k}")

        internal = (px("tick", ib.tick), px("min_price", ib.min_price), px("max_price", ib.max_price), ib.max_orders)
        tick, lo, hi, _ = internal
        if tick <= 0 or not 0 < lo <= hi or lo % tick or hi % tick:
            raise ConfigError(f"{iw}: need tick > 0 and 0 < min_price <= max_price, multiples of tick")
    cfg = HedgeConfig(composite=comp.id, mode=h.mode, venues=tuple(venues), ratio_pct=h.ratio_pct,
                      threshold=threshold, max_slippage_cbps=_cbps(h.max_slippage_bps, f"{w} max_slippage_bps"),
                      retry_ns=h.retry_ms * _MS, internal=internal)
    return cfg


def _portal_users(users: list[PortalUserModel], clients: list[ClientConfig],
                  source: str) -> tuple[PortalUserConfig, ...]:
    """The [[portal_user]] tables resolved: client names to ids, names unique."""
    by_name = {c.name: c.id for c in clients}
    out: list[PortalUserConfig] = []
    for i, u in enumerate(users, 1):
        w = f"{source}: portal_user #{i}"
        if any(x.name == u.name for x in out):
            raise ConfigError(f"{w}: duplicate portal user name {u.name!r}")
        if u.client not in by_name:
            raise ConfigError(f"{w}: unknown client {u.client!r} (known: {sorted(by_name)})")
        out.append(PortalUserConfig(name=u.name, client=by_name[u.client], password_hash=u.password_hash))
    return tuple(out)


def _fix_config(m: FixModel, clients: list[ClientConfig], source: str) -> FixConfig:
    """``[fix]`` resolved: the listen address parsed, sessions' clients to ids, SenderCompIDs
    unique (one session per client; none listed: every client, SenderCompID = its name)."""
    listen = None
    if m.listen is not None:
        host, sep, port = m.listen.rpartition(":")
        host = host.removeprefix("[").removesuffix("]")
        if not sep or not host or not port.isdigit() or int(port) > 65535:
            raise ConfigError(f"{source}: [fix] listen: bad address {m.listen!r}: give HOST:PORT, e.g. "
                              f"127.0.0.1:9878 (port 0 picks a free one)")
        listen = (host, int(port))
    by_name = {c.name: c for c in clients}
    entries = m.session or [FixSessionModel(client=c.name) for c in clients]
    sessions: list[FixSessionConfig] = []
    for i, e in enumerate(entries, 1):
        w = f"{source}: fix.session #{i}"
        client = by_name.get(e.client)
        if client is None:
            raise ConfigError(f"{w}: unknown client {e.client!r} (known: {sorted(by_name)})")
        sender = e.sender_comp_id or e.client
        if sender == m.comp_id:
            raise ConfigError(f"{w}: sender_comp_id {sender!r} is the desk's own comp_id; give the client another")
        if any(x.client == client.id for x in sessions):
            raise ConfigError(f"{w}: client {e.client!r} has a session already (one per client)")
        if any(x.sender_comp_id == sender for x in sessions):
            raise ConfigError(f"{w}: duplicate sender_comp_id {sender!r}")
        cod = m.cancel_on_disconnect if e.cancel_on_disconnect is None else e.cancel_on_disconnect
        sessions.append(FixSessionConfig(sender_comp_id=sender, client=client.id, cancel_on_disconnect=cod))
    if (m.tls_cert is None) != (m.tls_key is None):
        raise ConfigError(f"{source}: [fix] TLS needs tls_cert and tls_key together (a PEM certificate chain and "
                          f"its private key); give both, or neither for plain TCP")
    tls = (m.tls_cert, m.tls_key) if m.tls_cert is not None and m.tls_key is not None else None
    return FixConfig(listen=listen, store=m.store, comp_id=m.comp_id, heartbeat_s=m.heartbeat_s,
                     cancel_on_disconnect=m.cancel_on_disconnect, sessions=tuple(sessions), tls=tls)


def _console_users(users: list[ConsoleUserModel], operators: list[OperatorConfig],
                   source: str) -> tuple[ConsoleUserConfig, ...]:
    """The [[console_user]] tables resolved: operator names to ids, names unique."""
    by_name = {o.name: o.id for o in operators}
    out: list[ConsoleUserConfig] = []
    for i, u in enumerate(users, 1):
        w = f"{source}: console_user #{i}"
        if any(x.name == u.name for x in out):
            raise ConfigError(f"{w}: duplicate console user name {u.name!r}")
        if u.operator not in by_name:
            raise ConfigError(f"{w}: unknown operator {u.operator!r} (known: {sorted(by_name)})")
        out.append(ConsoleUserConfig(name=u.name, operator=by_name[u.operator], role=u.role,
                                     password_hash=u.password_hash))
    return tuple(out)


def _composite(registry: Registry, name: str, where: str) -> Composite:
    try:
        return registry.composite(name)
    except (KeyError, ConfigError):
        known = ", ".join(c.name for c in registry.composites) or "none"
        raise ConfigError(f"{where}: unknown composite {name!r} (known: {known})") from None
