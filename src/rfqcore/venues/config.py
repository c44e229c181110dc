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
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rfqcore.errors import ConfigError
from rfqcore.hedger import VenueLink
from rfqcore.instruments import Registry
from rfqcore.rfqconfig import RfqSettings

__all__ = ["load_venue_links", "venue_links_from_dict"]

_COMMON = {"id", "style", "instrument", "symbol", "rest_url", "api_key", "secret_env", "market_data", "name"}
_KEYS = {"binance": _COMMON | {"ws_url"}, "okx": _COMMON | {"public_url", "private_url", "passphrase_env"}}


def load_venue_links(path: str | Path, registry: Registry, settings: RfqSettings | None = None,
                     env: Mapping[str, str] | None = None) -> list[VenueLink]:
    p = Path(path)
    try:
        doc = tomllib.loads(p.read_text("utf-8"))
    except OSError as e:
        raise ConfigError(f"cannot read {p}: {e.strerror}") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{p}: {e}") from None
    return venue_links_from_dict(doc, registry, settings, env, source=str(p))


def venue_links_from_dict(doc: Mapping[str, Any], registry: Registry, settings: RfqSettings | None = None,
                          env: Mapping[str, str] | None = None, source: str = "<dict>") -> list[VenueLink]:
    """Venue links from a parsed document; checked against the registry and (when given) the
    hedging configuration: every configured hedge venue needs a connection and vice versa."""
    env = os.environ if env is None else env
    unknown = set(doc) - {"venue"}
    if unknown:
        raise ConfigError(f"{source}: unknown sections {sorted(unknown)} (expected [[venue]] tables)")
    links: list[VenueLink] = []
    for i, raw in enumerate(doc.get("venue", []), 1):
        w = f"{source}: venue #{i}"
        if not isinstance(raw, dict):
            raise ConfigError(f"{w}: must be a table")
        style = raw.get("style")
        if style not in _KEYS:
            raise ConfigError(f"{w}: style {style!r}, expected one of {sorted(_KEYS)}")
        extra = set(raw) - _KEYS[style]
        if extra:
            raise ConfigError(f"{w}: unknown keys {sorted(extra)} for style {style!r}")

        def get(key: str, d: dict[str, Any] = raw, wh: str = w) -> str:
            v = d.get(key)
            if not isinstance(v, str) or not v:
                raise ConfigError(f"{wh}: missing or empty {key!r}")
            return v

        def secret(key: str, wh: str = w) -> str:
            var = get(key)
            val = env.get(var)
            if not val:
                raise ConfigError(f"{wh}: environment variable {var} ({key}) is not set")
            return val

        vid = raw.get("id")
        if not isinstance(vid, int) or not 1 <= vid <= 0xFFFF or any(x.id == vid for x in links):
            raise ConfigError(f"{w}: id must be a unique integer 1..65535, got {vid!r}")
        key = get("instrument")
        try:
            inst = registry.by_key(key)
        except KeyError:
            raise ConfigError(f"{w}: unknown instrument {key!r}") from None
        symbol = raw.get("symbol", inst.symbol)
        name = raw.get("name", f"{style}-{vid}")
        api_key, sec = get("api_key"), secret("secret_env")
        rest = get("rest_url")
        if style == "binance":
            ws = get("ws_url")

            def make_binance(*, _n: str = name, _r: str = rest, _w: str = ws, _k: str = api_key, _s: str = sec,
                             _sym: str = symbol, **cb: Any) -> Any:
                from rfqcore.venues.binance import BinanceAdapter

                return BinanceAdapter(_n, rest_url=_r, ws_url=_w, api_key=_k, secret=_s, symbols=[_sym],
                                      market_streams=("depth@100ms",), **cb)
            factory = make_binance
        else:
            pub, priv, pw = get("public_url"), get("private_url"), secret("passphrase_env")

            def make_okx(*, _n: str = name, _r: str = rest, _pu: str = pub, _pr: str = priv, _k: str = api_key,
                         _s: str = sec, _pw: str = pw, _sym: str = symbol, **cb: Any) -> Any:
                from rfqcore.venues.okx import OkxAdapter

                return OkxAdapter(_n, public_url=_pu, private_url=_pr, rest_url=_r, api_key=_k, secret=_s,
                                  passphrase=_pw, symbols=[_sym], **cb)
            factory = make_okx
        md = raw.get("market_data", True)
        if not isinstance(md, bool):
            raise ConfigError(f"{w}: market_data must be true or false")
        links.append(VenueLink(vid, inst.key, factory, market_data=md, venue_symbol=symbol))
    if settings is not None:
        configured = {(v.id, v.instrument) for h in settings.hedging for v in h.venues}
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
