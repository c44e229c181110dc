"""Venue connections of a running desk (``rfqcore serve --venues venues.toml``).

One ``[[venue]]`` table per hedge venue; ``id`` is the venue id of the RFQ settings'
``[[hedging.venue]]`` entries (docs/hedging.md). Secrets are never written in the file: each
names the environment variable holding it.

.. code-block:: toml

    [[venue]]
    id = 1
    style = "binance"                      # binance | okx
    instrument = "binance-spot:BTCUSDT"    # the registry instrument traded there
    symbol = "BTCUSDT"                     # the venue's own symbol (default: the instrument's)
    rest_url = "http://127.0.0.1:8701"
    ws_url = "ws://127.0.0.1:8701"         # binance: base of /ws and /stream
    api_key = "desk-binance-key"
    secret_env = "RFQCORE_VENUE1_SECRET"
    market_data = true                     # feed its market data into the core (default true)

    [[venue]]
    id = 2
    style = "okx"
    instrument = "okx:BTC-USDT"
    rest_url = "http://127.0.0.1:8702"
    public_url = "ws://127.0.0.1:8702/ws/v5/public"
    private_url = "ws://127.0.0.1:8702/ws/v5/private"
    api_key = "desk-okx-key"
    secret_env = "RFQCORE_VENUE2_SECRET"
    passphrase_env = "RFQCORE_VENUE2_PASSPHRASE"
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError

from rfqcore.configmodel import Id, Loc, Model, config_error
from rfqcore.errors import ConfigError
from rfqcore.hedger import VenueLink
from rfqcore.instruments import Registry
from rfqcore.rfqconfig import RfqSettings

__all__ = ["load_venue_links", "venue_links_from_dict", "VenuesFile", "BinanceVenueModel", "OkxVenueModel"]

NonEmpty = Annotated[str, Field(min_length=1)]


class _VenueModel(Model):
    """What every ``[[venue]]`` has."""

    id: Id
    """the venue id of the RFQ settings' [[hedging.venue]] entries, unique"""
    instrument: NonEmpty
    """the registry instrument ("venue:symbol") traded there"""
    symbol: NonEmpty | None = None
    """the venue's own symbol (default: the instrument's)"""
    name: NonEmpty | None = None
    """the connection's name in logs (default: STYLE-ID)"""
    rest_url: NonEmpty
    """the venue's REST base URL"""
    api_key: NonEmpty
    """the desk's API key there"""
    secret_env: NonEmpty
    """the environment variable holding the API secret (never the secret itself)"""
    market_data: bool = True
    """feed the venue's market data into the core"""


class BinanceVenueModel(_VenueModel):
    """A Binance-protocol venue."""

    style: Literal["binance"]
    """the venue's protocol"""
    ws_url: NonEmpty
    """WebSocket base (its /ws and /stream endpoints)"""


class OkxVenueModel(_VenueModel):
    """An OKX-protocol venue."""

    style: Literal["okx"]
    """the venue's protocol"""
    public_url: NonEmpty
    """public WebSocket URL (market data)"""
    private_url: NonEmpty
    """private WebSocket URL (orders, fills)"""
    passphrase_env: NonEmpty
    """the environment variable holding the API passphrase"""


VenueModel = Annotated[BinanceVenueModel | OkxVenueModel, Field(discriminator="style")]


class VenuesFile(Model):
    """Venue connections of a running desk (``rfqcore serve --venues venues.toml``)."""

    venue: list[VenueModel] = []
    """[[venue]] tables, one per hedge venue"""


def _item_name(item: Loc) -> str:
    return f"venue #{int(item[1]) + 1}" if len(item) >= 2 else " ".join(map(str, item))


def load_venue_links(path: str | Path, registry: Registry, settings: RfqSettings | None = None,
                     env: Mapping[str, str] | None = None) -> list[VenueLink]:
    p = Path(path)
    try:
        doc = tomllib.loads(p.read_text("utf-8"))
    except OSError as e:
        raise ConfigError(f"cannot read {p}: {e.strerror}") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{p}: invalid TOML: {e}") from None
    return venue_links_from_dict(doc, registry, settings, env, source=str(p))


def venue_links_from_dict(doc: Mapping[str, Any], registry: Registry, settings: RfqSettings | None = None,
                          env: Mapping[str, str] | None = None, source: str = "<dict>") -> list[VenueLink]:
    """Venue links from a parsed document; checked against the registry and (when given) the
    hedging configuration: every configured hedge venue needs a connection and vice versa."""
    try:
        model = VenuesFile.model_validate(doc)
    except ValidationError as e:
        raise config_error(e, VenuesFile, source, _item_name) from None
    return venue_links_from_model(model, registry, settings, env, source)


def venue_links_from_model(model: VenuesFile, registry: Registry, settings: RfqSettings | None = None,
                           env: Mapping[str, str] | None = None, source: str = "<model>") -> list[VenueLink]:
    """Venue links from a validated file (see :func:`venue_links_from_dict`)."""
    environ: Mapping[str, str] = os.environ if env is None else env
    links: list[VenueLink] = []
    for i, v in enumerate(model.venue, 1):
        w = f"{source}: venue #{i}"

        def secret(var: str, key: str, wh: str = w) -> str:
            val = environ.get(var)
            if not val:
                what = "secret" if key == "secret_env" else "passphrase"
                raise ConfigError(f"{wh}: environment variable {var} ({key}) is not set: export it with the "
                                  f"venue's API {what}")
            return val

        if any(x.id == v.id for x in links):
            raise ConfigError(f"{w}: id must be a unique integer 1..65535, got {v.id!r}")
        try:
            inst = registry.by_key(v.instrument)
        except KeyError as e:
            raise ConfigError(f"{w}: {e.args[0]}") from None
        symbol = v.symbol if v.symbol is not None else inst.symbol
        name = v.name if v.name is not None else f"{v.style}-{v.id}"
        sec = secret(v.secret_env, "secret_env")
        factory: Callable[..., Any]
        if isinstance(v, BinanceVenueModel):
            def make_binance(*, _n: str = name, _r: str = v.rest_url, _w: str = v.ws_url, _k: str = v.api_key,
                             _s: str = sec, _sym: str = symbol, **cb: Any) -> Any:
                from rfqcore.venues.binance import BinanceAdapter

                return BinanceAdapter(_n, rest_url=_r, ws_url=_w, api_key=_k, secret=_s, symbols=[_sym],
                                      market_streams=("depth@100ms",), **cb)
            factory = make_binance
        else:
            pw = secret(v.passphrase_env, "passphrase_env")

            def make_okx(*, _n: str = name, _r: str = v.rest_url, _pu: str = v.public_url, _pr: str = v.private_url,
                         _k: str = v.api_key, _s: str = sec, _pw: str = pw, _sym: str = symbol, **cb: Any) -> Any:
                from rfqcore.venues.okx import OkxAdapter

                return OkxAdapter(_n, public_url=_pu, private_url=_pr, rest_url=_r, api_key=_k, secret=_s,
                                  passphrase=_pw, symbols=[_sym], **cb)
            factory = make_okx
        links.append(VenueLink(v.id, inst.key, factory, market_data=v.market_data, venue_symbol=symbol))
    if settings is not None:
        configured = {(hv.id, hv.instrument) for h in settings.hedging for hv in h.venues}
        connected = {(x.id, registry.by_key(x.instrument).id) for x in links}
        missing = configured - connected
        if missing:
            raise ConfigError(f"{source}: the hedging configuration has venues {sorted(missing)} "
                              "(id, instrument id) without a connection here")
        stray = connected - configured
        if stray:
            raise ConfigError(f"{source}: venues {sorted(stray)} (id, instrument id) are not hedge venues "
                              "of the RFQ settings ([[hedging.venue]])")
    return links
