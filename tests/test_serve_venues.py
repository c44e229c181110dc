"""``rfqcore serve --venues``: the desk connects to its hedge venues from a venue file (secrets from
the environment), hedges client fills there, and refuses a venue file that does not match the
hedging configuration — with a clear message."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from importlib import resources
from pathlib import Path

import pytest

from rfqcore.errors import ConfigError
from rfqcore.hedger import journal_id_prefix
from rfqcore.journal import JournalSettings
from rfqcore.instruments import Registry
from rfqcore.records import ClientSide
from rfqcore.rfqconfig import RfqSettings
from rfqcore.venues.config import venue_links_from_dict

DEFAULTS = Path(str(resources.files("rfqcore").joinpath("defaults")))
BTC = 10**8


def venues_toml(b_http: str, b_ws: str, o_http: str, o_ws: str) -> str:
    return f'''
[[venue]]
id = 1
style = "binance"
instrument = "binance-spot:BTCUSDT"
rest_url = "{b_http}"
ws_url = "{b_ws}"
api_key = "desk-binance-key"
secret_env = "T_VENUE1_SECRET"

[[venue]]
id = 2
style = "okx"
instrument = "okx:BTC-USDT"
rest_url = "{o_http}"
public_url = "{o_ws}/ws/v5/public"
private_url = "{o_ws}/ws/v5/private"
api_key = "desk-okx-key"
secret_env = "T_VENUE2_SECRET"
passphrase_env = "T_VENUE2_PASS"
'''


ENV = {"T_VENUE1_SECRET": "desk-binance-secret", "T_VENUE2_SECRET": "desk-okx-secret",
       "T_VENUE2_PASS": "desk-okx-pass"}


@pytest.fixture(scope="module")
def desk_config() -> tuple[Registry, RfqSettings]:
    reg = Registry.load(str(DEFAULTS / "hedge-instruments.toml"))
    return reg, RfqSettings.load(str(DEFAULTS / "hedge-rfq.toml"), reg)


@pytest.mark.parametrize("mutate, message", [
    (lambda t: t.replace('style = "okx"', 'style = "ftx"'), "style 'ftx'"),
    (lambda t: t.replace("id = 2", "id = 1"), "unique"),
    (lambda t: t.replace('"okx:BTC-USDT"', '"okx:ETH-USDT"'), "unknown instrument"),
    (lambda t: t.replace('secret_env = "T_VENUE1_SECRET"', 'secret_env = "T_NOT_SET"'), "T_NOT_SET"),
    (lambda t: t.replace('passphrase_env = "T_VENUE2_PASS"\n', ''), "passphrase_env"),
    (lambda t: t.replace('ws_url =', 'wss_url ='), "unknown keys"),
    (lambda t: t.split("[[venue]]\nid = 2")[0], "without a connection"),
])
def test_bad_venue_files_are_refused_clearly(desk_config, mutate, message) -> None:
    import tomllib

    reg, settings = desk_config
    text = mutate(venues_toml("http://x", "ws://x", "http://y", "ws://y"))
    with pytest.raises(ConfigError, match=message):
        venue_links_from_dict(tomllib.loads(text), reg, settings, ENV)


def test_good_venue_file(desk_config) -> None:
    import tomllib

    reg, settings = desk_config
    links = venue_links_from_dict(tomllib.loads(venues_toml("http://x", "ws://x", "http://y", "ws://y")), reg,
                                  settings, ENV)
    assert [(x.id, x.instrument, x.market_data) for x in links] == [
        (1, "binance-spot:BTCUSDT", True), (2, "okx:BTC-USDT", True)]


@pytest.mark.data
@pytest.mark.slow
def test_serve_hedges_on_the_venues_of_its_venue_file(tmp_path, desk_config, data_dir) -> None:
    # the simulated venues are seeded from the recorded data (data_dir skips without it)
    from rfqcore.hedge_desk import sim_configs
    from rfqcore.serve import Server
    from rfqcore.venues.config import load_venue_links
    from rfqcore.venuesim.sim import SimProcess

    reg, settings = desk_config
    b_cfg, o_cfg = sim_configs()
    with SimProcess(b_cfg) as b, SimProcess(o_cfg) as o:
        vfile = tmp_path / "venues.toml"
        vfile.write_text(venues_toml(b.http, b.ws, o.http, o.ws))
        links = load_venue_links(vfile, reg, settings, ENV)
        journal = JournalSettings(str(tmp_path / "journal"))
        with Server(reg, settings, config_path=str(DEFAULTS / "hedge-instruments.toml"),
                    rfq_config_path=str(DEFAULTS / "hedge-rfq.toml"), venues=links, journal=journal) as srv:
            eng = srv.engine
            assert eng is not None and srv.hedger is not None
            prefix = srv.hedger.id_prefix   # kept with the journal: a restart adopts its open orders
            assert prefix == journal_id_prefix(journal.dir)
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and not (eng.hedge_status_raw()[0]["available"] and all(
                    eng.best(k) is not None for k in ("binance-spot:BTCUSDT", "okx:BTC-USDT"))):
                time.sleep(0.02)
            eng.accept(eng.request_quote("acme-capital", "BTC", ClientSide.BUY, 2))
            while time.monotonic() < deadline and eng.hedge_status_raw()[0]["hedged"] != 2 * BTC:
                time.sleep(0.02)
            assert eng.hedge_status_raw()[0]["hedged"] == 2 * BTC
            assert eng.positions()["BTC"].qty_raw == 0
        with Server(reg, settings, config_path=str(DEFAULTS / "hedge-instruments.toml"),
                    rfq_config_path=str(DEFAULTS / "hedge-rfq.toml"), venues=links, journal=journal) as srv:
            assert srv.engine is not None and srv.hedger is not None
            assert srv.hedger.id_prefix == prefix and srv.hedger.adopted == []   # nothing was left open
            assert srv.engine.hedge_status()[0].hedged == 2 and srv.engine.positions()["BTC"].qty_raw == 0
    # the command line refuses a venue file whose secrets are not in the environment
    env = {k: v for k, v in os.environ.items() if not k.startswith("T_VENUE")}
    r = subprocess.run([sys.executable, "-m", "rfqcore.cli", "--config", str(DEFAULTS / "hedge-instruments.toml"),
                        "serve", "--rfq-config", str(DEFAULTS / "hedge-rfq.toml"), "--venues", str(vfile),
                        "--no-market-data", "--duration", "1"], capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode != 0 and "T_VENUE1_SECRET" in r.stderr, r.stderr
