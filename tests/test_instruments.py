"""rfqcore.instruments: TOML registry, exact decimal conversion, validation errors."""

from __future__ import annotations

import pytest

from rfqcore.errors import ConfigError
from rfqcore.instruments import Registry, decimal_units

BASE = """
[[instrument]]
symbol = "BTCUSDT"
venue = "binance-usdm"
kind = "linear"
base = "BTC"
quote = "USDT"
tick = "0.10"
lot = "0.001"
max_qty = "1000"

[[instrument]]
symbol = "BTCUSD_PERP"
venue = "binance-coinm"
kind = "inverse"
base = "BTC"
quote = "USD"
tick = "0.1"
lot = "1"
contract_size = "100"
max_qty = "1000000"
"""

COMPOSITE = """
[[composite]]
name = "BTC"
members = ["binance-usdm:BTCUSDT", "binance-coinm:BTCUSD_PERP"]
stale_after_ms = 2500
sizes = ["0.1", "1", "10"]
base_bps = "1.25"
size_bps_per_unit = "0.05"
"""


def test_defaults() -> None:
    reg = Registry.load()
    keys = [i.key for i in reg]
    assert keys == ["binance-spot:BTCUSDT", "binance-spot:ETHUSDT", "binance-usdm:BTCUSDT",
                    "binance-usdm:ETHUSDT", "binance-coinm:BTCUSD_PERP",
                    "binance-coinm:ETHUSD_PERP", "okx:BTC-USDT", "coinbase:SKL-USD", "coinbase:DASH-BTC",
                    "kraken:XBT/CHF", "kraken:ETH/CHF", "bybit-linear:XRPUSDT"]
    assert [i.id for i in reg] == list(range(1, 13))
    usdm = reg.lookup("binance-usdm", "BTCUSDT")
    assert (usdm.price_decimals, usdm.tick, usdm.qty_decimals, usdm.lot) == (2, 10, 3, 1)
    coinm = reg.lookup("binance-coinm", "BTCUSD_PERP")
    assert (coinm.kind, coinm.contract_size, coinm.lot, coinm.qty_decimals) == ("inverse", 100, 1, 0)
    assert reg.lookup("binance-coinm", "ETHUSD_PERP").contract_size == 10
    okx = reg.by_key("okx:BTC-USDT")
    assert (okx.price_decimals, okx.tick, okx.qty_decimals, okx.lot) == (1, 1, 8, 1)
    skl = reg.by_key("coinbase:SKL-USD")
    assert (skl.price_decimals, skl.tick, skl.qty_decimals, skl.lot) == (4, 1, 1, 1)
    xbt_chf = reg.by_key("kraken:XBT/CHF")
    assert (xbt_chf.price_decimals, xbt_chf.tick, xbt_chf.qty_decimals, xbt_chf.lot) == (1, 1, 8, 1)
    xrp = reg.by_key("bybit-linear:XRPUSDT")
    assert (xrp.kind, xrp.price_decimals, xrp.tick, xrp.qty_decimals, xrp.lot) == ("linear", 4, 1, 0, 1)
    assert reg.by_id(3) is usdm and reg.get("okx", "ETH-USDT") is None
    with pytest.raises(KeyError, match="binance-spot:XRPUSDT"):
        reg.lookup("binance-spot", "XRPUSDT")
    with pytest.raises(KeyError):
        reg.by_id(0)
    btc, eth = reg.composites
    assert (btc.name, btc.members, eth.members) == ("BTC", (1, 3, 5), (2, 4, 6))
    assert btc.price_decimals == 2 and btc.qty_decimals == 8
    assert btc.sizes == (10_000_000, 100_000_000, 1_000_000_000, 10_000_000_000)
    assert eth.sizes[-1] == 1000 * 10**8
    assert (btc.base_cbps, btc.size_cbps_per_unit, btc.stale_after_ns) == (100, 5, 5_000_000_000)
    assert reg.composite("ETH") is eth and reg.composite(1) is btc


def test_spec_shapes() -> None:
    reg = Registry.from_toml(BASE + COMPOSITE)
    ispec = reg.instrument_specs()
    assert ispec[0] == {
        "id": 1, "symbol": "BTCUSDT", "venue": "binance-usdm", "kind": "linear", "base": "BTC",
        "quote": "USDT", "price_decimals": 2, "qty_decimals": 3, "tick": 10, "lot": 1,
        "contract_size": 0, "max_qty": 1_000_000, "book_window": 1 << 17,
    }
    assert ispec[1]["contract_size"] == 100 and ispec[1]["max_qty"] == 1_000_000
    assert reg.composite_specs() == [{
        "id": 1, "name": "BTC", "price_decimals": 2, "qty_decimals": 8, "members": [1, 2],
        "excluded": [], "basis_ema_shift": 0, "cross_tolerance_cbps": 0,
        "stale_after_ns": 2_500_000_000, "sizes": [10_000_000, 100_000_000, 1_000_000_000],
        "base_cbps": 125, "size_cbps_per_unit": 5,
    }]
    for spec in ispec + reg.composite_specs():  # type: ignore[operator]
        assert all(type(v) in (int, str, list) for v in spec.values())


def test_decimal_units() -> None:
    assert decimal_units("0.10", 2, "x") == 10
    assert decimal_units("1.500", 1, "x") == 15
    for bad in ["0.15", "-1", "1e3", "", "1.", 0.1]:
        with pytest.raises(ConfigError, match="where"):
            decimal_units(bad, 1, "where")


@pytest.mark.parametrize(
    ("old", "new", "match"),
    [
        ('tick = "0.10"', 'tick = "0"', "tick.*must be > 0"),
        ('tick = "0.10"', "tick = 0.1", "tick must be str"),
        ('lot = "0.001"', 'lot = "abc"', "lot"),
        ('venue = "binance-usdm"', 'venue = "ftx"', "venue 'ftx'"),
        ('kind = "linear"', 'kind = "option"', "kind 'option'"),
        ('max_qty = "1000"', 'max_qty = "0.0005"', "max_qty"),
        ('contract_size = "100"\n', "", "missing key 'contract_size'"),
        ('symbol = "BTCUSD_PERP"', 'symbol = "BTCUSDT"\nfoo = 1', "unknown keys"),
        ('max_qty = "1000"', 'max_qty = "1000"\nbook_window = 100000',
         "book_window 100000 must be a power of two from 1024 to 1048576 ticks"),
        ('max_qty = "1000"', 'max_qty = "1000"\nbook_window = 512', "book_window 512 must be a power of two"),
        ('max_qty = "1000"', 'max_qty = "1000"\nbook_window = "65536"', "book_window"),
    ],
)
def test_instrument_validation(old: str, new: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        Registry.from_toml(BASE.replace(old, new, 1))


def test_book_window_per_instrument_reaches_the_core() -> None:
    """`book_window` sizes one instrument's dense window; the core takes it (and a window the
    core would refuse is refused by the configuration first, in one line naming the field)."""
    from rfqcore_core import Engine

    reg = Registry.from_toml(BASE.replace('max_qty = "1000"', 'max_qty = "1000"\nbook_window = 65536', 1) + COMPOSITE)
    ispec = reg.instrument_specs()
    assert [s["book_window"] for s in ispec] == [1 << 16, 1 << 17]
    assert reg.by_key("binance-usdm:BTCUSDT").book_window == 1 << 16
    with pytest.raises(ConfigError, match="book_window 3000 must be a power of two from 1024 to 1048576 ticks"):
        bad = [dict(ispec[0], book_window=3000), ispec[1]]
        Engine(bad, reg.composite_specs(), "/dev/shm/rfqcore-test-window-never-made")  # type: ignore[list-item]


def test_a_window_is_configuration_and_the_default_keeps_old_fingerprints() -> None:
    """A journal is replayed only into a core configured as the one that wrote it: a non-default
    window is part of that (it moves the windows the state hash covers); the default window
    leaves the fingerprint of this configuration what it was before `book_window` existed
    (0x5bdaa333d069b4cc, computed by the code before the field), so those journals still replay."""
    import rfqcore_core

    def fp(toml: str) -> int:
        reg = Registry.from_toml(toml)
        return rfqcore_core.config_fingerprint(reg.instrument_specs(), reg.composite_specs(), None, 65536)

    assert fp(BASE + COMPOSITE) == 0x5BDAA333D069B4CC
    assert fp(BASE.replace('max_qty = "1000"', 'max_qty = "1000"\nbook_window = 131072', 1) + COMPOSITE) == 0x5BDAA333D069B4CC
    assert fp(BASE.replace('max_qty = "1000"', 'max_qty = "1000"\nbook_window = 65536', 1) + COMPOSITE) != 0x5BDAA333D069B4CC


def test_duplicate_and_composite_validation() -> None:
    dup = BASE + BASE.split("[[instrument]]")[1].join(["[[instrument]]", ""])
    with pytest.raises(ConfigError, match="duplicate instrument binance-usdm:BTCUSDT"):
        Registry.from_toml(dup)
    for old, new, match in [
        ('"binance-coinm:BTCUSD_PERP"]', '"okx:BTC-USDT"]', "unknown member 'okx:BTC-USDT'"),
        ("stale_after_ms = 2500", "stale_after_ms = 0", "stale_after_ms"),
        ('sizes = ["0.1", "1", "10"]', 'sizes = ["1", "0.1"]', "strictly increasing"),
        ('base_bps = "1.25"', 'base_bps = "1.255"', "base_bps"),
        ('name = "BTC"', 'name = "BTC"\nextra = 1', "unknown keys"),
    ]:
        with pytest.raises(ConfigError, match=match):
            Registry.from_toml(BASE + COMPOSITE.replace(old, new, 1))
    with pytest.raises(ConfigError, match="duplicate composite"):
        Registry.from_toml(BASE + COMPOSITE + COMPOSITE)
    with pytest.raises(ConfigError, match="invalid TOML"):
        Registry.from_toml("[[instrument]\n")
    with pytest.raises(ConfigError, match="at least one"):
        Registry.from_toml("")
    with pytest.raises(ConfigError, match="cannot read"):
        Registry.load("/nonexistent/instruments.toml")


def test_composite_exclusions_basis_and_tolerance() -> None:
    reg = Registry.load()
    btc = reg.composite("BTC").spec()
    assert btc["basis_ema_shift"] == 3 and btc["cross_tolerance_cbps"] == 200
    text = """
[[instrument]]
symbol = "A"
venue = "okx"
kind = "spot"
base = "BTC"
quote = "USD"
tick = "0.1"
lot = "1"
max_qty = "10"

[[instrument]]
symbol = "B"
venue = "okx"
kind = "spot"
base = "BTC"
quote = "USD"
tick = "0.1"
lot = "1"
max_qty = "10"

[[composite]]
name = "X"
members = ["okx:A", "okx:B"]
exclude = EXCLUDE
basis_ema_shift = SHIFT
cross_tolerance_bps = "1.5"
stale_after_ms = 1
sizes = ["1"]
base_bps = "1"
size_bps_per_unit = "0"
"""
    ok = Registry.from_toml(text.replace("EXCLUDE", '["okx:B"]').replace("SHIFT", "2"))
    spec = ok.composite("X").spec()
    assert spec["excluded"] == [2] and spec["basis_ema_shift"] == 2 and spec["cross_tolerance_cbps"] == 150
    for exclude, shift, match in [('["okx:C"]', "2", "exclude"), ('["okx:A", "okx:B"]', "2", "every member"),
                                  ("[]", "21", "basis_ema_shift"), ("[]", '"3"', "basis_ema_shift")]:
        with pytest.raises(ConfigError, match=match):
            Registry.from_toml(text.replace("EXCLUDE", exclude).replace("SHIFT", shift))
