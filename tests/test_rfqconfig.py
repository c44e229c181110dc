"""RFQ settings from TOML: exact units, defaults, and a specific error for every bad entry."""

from __future__ import annotations

import re

from decimal import Decimal

import pytest

from rfqcore.errors import ConfigError
from rfqcore.instruments import Registry
from rfqcore.operator import ControlRequest, Operator, to_units
from rfqcore.records import ClientField, Command, InstrumentField, TierField
from rfqcore.rfq import ControlAck
from rfqcore.rfqconfig import RfqSettings

GOOD = """
[desk]
exec_count = 5
exec_window_ms = 250

[gateway]
channel = "aeron:udp?endpoint=127.0.0.1:40123"

[[tier]]
name = "gold"
markup_bps = "0.25"
fee_bps = "0.5"
ttl_ms = 1500
max_ttl_ms = 5000

[[client]]
name = "acme"
id = 7
tier = "gold"
secret = "00112233445566778899aabbccddeeff"
credit_limit = "1000000.50"
max_open_quotes = 3
rfq_rate = 10
rfq_burst = 2

[[operator]]
name = "op"
id = 1
secret = "00112233445566778899aabbccddeeff"

[[risk]]
composite = "BTC"
min_qty = "0.001"
max_qty = "100"
max_notional = "10000000"
long_limit = "50"
short_limit = "40"
collar_bps = "25.5"
approval_qty = "10"
approval_notional = "0"
approval_timeout_ms = 1000

[[pricing]]
composite = "BTC"
skew_bps_per_unit = "0.01"
max_skew_bps = "2"
vol_mult_pct = 50
"""


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry.load()


def test_defaults_load_and_convert_exactly(registry: Registry) -> None:
    s = RfqSettings.load(registry=registry)
    acme = s.client("acme-capital")
    assert acme.credit_limit == 5_000_000_00  # cents
    assert s.tier(acme.tier).name == "gold"
    btc = next(r for r in s.risk if r.composite == registry.composite("BTC").id)
    assert btc.approval_qty == 50 * 10**8
    spec = s.core_spec()
    assert {c["name"] for c in spec["clients"]} == {"acme-capital", "beta-fund"}
    assert "secret" not in spec["clients"][0]  # secrets stay in Python


def test_units(registry: Registry) -> None:
    s = RfqSettings.from_toml(GOOD, registry)
    (t,) = s.tiers
    assert (t.id, t.markup_cbps, t.fee_cbps, t.ttl_ns, t.max_ttl_ns) == (1, 25, 50, 1_500_000_000, 5_000_000_000)
    (c,) = s.clients
    assert (c.id, c.credit_limit, c.max_open_quotes, c.rfq_rate, c.rfq_burst, c.accept_rate) == (
        7, 100_000_050, 3, 10, 2, 0)
    (r,) = s.risk
    assert (r.min_qty, r.max_qty, r.long_limit, r.short_limit, r.collar_cbps) == (
        100_000, 100 * 10**8, 50 * 10**8, 40 * 10**8, 2550)
    assert s.desk.exec_count == 5 and s.desk.exec_window_ns == 250_000_000
    assert s.gateway.channel.startswith("aeron:udp") and s.gateway.request_stream == 1001
    (p,) = s.pricing
    assert (p.skew_cbps_per_unit, p.max_skew_cbps, p.vol_mult_pct, p.hedge_fee_cbps) == (1, 200, 50, 0)


def test_secret_from_environment(registry: Registry, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RFQCORE_SECRET_ACME", "ff" * 32)
    assert RfqSettings.from_toml(GOOD, registry).client("acme").secret == b"\xff" * 32


def test_the_answers_channel_of_clients_on_another_host(registry: Registry) -> None:
    """``[gateway] response_channel``: the gateways answer there and clients listen there — unless a
    channel is given explicitly, whose answers come back on it (one host, one driver)."""
    from rfqcore.client import RfqClient
    from rfqcore.gateway.native import NativeGateway

    text = GOOD.replace('[gateway]\nchannel = "aeron:udp?endpoint=127.0.0.1:40123"\n',
                        '[gateway]\nchannel = "aeron:udp?endpoint=10.0.0.1:40123"\n'
                        'response_channel = "aeron:udp?endpoint=10.0.0.9:40124"\n')
    assert text != GOOD
    s = RfqSettings.from_toml(text, registry)
    assert s.gateway.response_channel == "aeron:udp?endpoint=10.0.0.9:40124"
    c = RfqClient("acme", settings=s, registry=registry)
    assert (c.channel, c.response_channel) == ("aeron:udp?endpoint=10.0.0.1:40123", "aeron:udp?endpoint=10.0.0.9:40124")
    gw = NativeGateway("in", "tap", settings=s, aeron_dir="/dev/shm/none")
    assert gw._native_args["response_channel"] == "aeron:udp?endpoint=10.0.0.9:40124"
    ipc = RfqClient("acme", settings=s, registry=registry, channel="aeron:ipc")
    assert ipc.response_channel == "aeron:ipc"
    assert NativeGateway("in", "tap", settings=s, channel="aeron:ipc")._native_args["response_channel"] == "aeron:ipc"
    assert RfqSettings.from_toml(GOOD, registry).gateway.response_channel is None


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('tier = "gold"', 'tier = "platinum"', "unknown tier 'platinum'"),
        ('credit_limit = "1000000.50"', 'credit_limit = "1000000.505"', "more than 2 decimals"),
        ('credit_limit = "1000000.50"', "credit_limit = 1000000.5", "must be str"),
        ('composite = "BTC"\nmin_qty', 'composite = "DOGE"\nmin_qty', "unknown composite 'DOGE'"),
        ('min_qty = "0.001"', 'min_qty = "0.000000001"', "more than 8 decimals"),
        ('max_qty = "100"', 'max_qty = "0.0001"', "min_qty <= max_qty"),
        ("ttl_ms = 1500", "ttl_ms = 9000", "ttl_ms <= max_ttl_ms"),
        ("rfq_burst = 2", "rfq_burst = 0", "rfq_rate needs rfq_burst"),
        ('secret = "00112233445566778899aabbccddeeff"\ncredit', 'secret = "zz"\ncredit', "not hex"),
        ('secret = "00112233445566778899aabbccddeeff"\ncredit', 'secret = "0011"\ncredit', "at least 16 bytes"),
        ("id = 7", "id = 0", "unique integer 1..65535"),
        ("max_open_quotes = 3", "max_open_quotes = 3\ncolour = 1", "unknown keys ['colour']"),
        ("vol_mult_pct = 50", "vol_mult_pct = -1", "must be >= 0"),
        ('collar_bps = "25.5"', 'collar_bps = "0"', "must be > 0"),
    ],
)
def test_bad_entries_are_named(registry: Registry, old: str, new: str, message: str) -> None:
    assert old in GOOD
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace("[", r"\[")):
        RfqSettings.from_toml(GOOD.replace(old, new, 1), registry)


def test_operator_converts_units_and_refuses_lost_digits(registry: Registry) -> None:
    sent: list[ControlRequest] = []

    def send(req: ControlRequest) -> ControlAck:
        sent.append(req)
        return ControlAck(len(sent), req.command, req.field, req.instrument, req.scope, req.value, 0, 0, 0)

    op = Operator(send, registry, clients={"acme": 7}, tiers={"gold": 1})
    op.set_client("acme", credit_limit=Decimal("2500.75"), max_open_quotes=4, tier="gold")
    op.set_instrument("BTC", long_limit="12.5", collar_bps=Decimal("7.25"), approval_timeout_ms=1500)
    op.set_tier("gold", ttl_ms="0.5")
    op.kill(client="acme")
    op.kill(False)
    op.approve(9, adjust_bps="1.25")
    btc = registry.composite("BTC").id
    assert sent == [
        ControlRequest(Command.SET_CLIENT, ClientField.CREDIT_LIMIT, 0, 7, 250_075),
        ControlRequest(Command.SET_CLIENT, ClientField.MAX_OPEN_QUOTES, 0, 7, 4),
        ControlRequest(Command.SET_CLIENT, ClientField.TIER, 0, 7, 1),
        ControlRequest(Command.SET_INSTRUMENT, InstrumentField.LONG_LIMIT, btc, 0, 1_250_000_000),
        ControlRequest(Command.SET_INSTRUMENT, InstrumentField.COLLAR_CBPS, btc, 0, 725),
        ControlRequest(Command.SET_INSTRUMENT, InstrumentField.APPROVAL_TIMEOUT_NS, btc, 0, 1_500_000_000),
        ControlRequest(Command.SET_TIER, TierField.TTL_NS, 0, 1, 500_000),
        ControlRequest(Command.KILL, 0, 0, 7, 1),
        ControlRequest(Command.KILL, 0, 0, 0, 0),
        ControlRequest(Command.APPROVE, 0, 0, 9, 0, 125),
    ]
    with pytest.raises(ValueError, match="more than 8 decimals"):
        op.set_instrument("BTC", long_limit="0.000000001")
    with pytest.raises(ValueError, match="unknown field 'colour'"):
        op.set_desk(colour=1)
    with pytest.raises(KeyError, match="^\"unknown client 'nobody'; known clients: acme\"$"):
        op.kill(client="nobody")
    # a mistyped adjustment is a ValueError naming it (was decimal.InvalidOperation, a traceback in `rfqcore op`)
    for bad, says in (("abc", "adjust_bps: 'abc' is not a decimal number"),
                      ("1.234", "adjust_bps: 1.234 has more than 2 decimals"),
                      ("inf", "adjust_bps: inf is not a finite number")):
        with pytest.raises(ValueError, match=f"^{re.escape(says)}$"):
            op.approve(9, adjust_bps=bad)
    op.approve(9, adjust_bps="-0.5")
    assert sent[-1] == ControlRequest(Command.APPROVE, 0, 0, 9, 0, -50)
    assert to_units(Decimal("1.50"), 2, "x") == 150


def test_control_acks_read_in_the_units_they_were_given_in(registry: Registry) -> None:
    """What an operator sees of an ack (`rfqcore op`, Operator.values): sizes in the base asset,
    notionals in the quote currency, bps and ms, a tier by its name; not the core's integers."""
    from rfqcore.operator import ack_values

    btc = registry.composite("BTC").id
    acks = [
        (ControlAck(1, Command.SET_INSTRUMENT, InstrumentField.MAX_QTY, btc, 0, 500_000_000, 0, 20_000_000_000, 0),
         ("5 BTC", "200 BTC")),
        (ControlAck(2, Command.SET_INSTRUMENT, InstrumentField.MAX_NOTIONAL, btc, 0, 25_000_050, 0, 0, 0),
         ("250000.5 USDT", "0 USDT")),
        (ControlAck(3, Command.SET_INSTRUMENT, InstrumentField.COLLAR_CBPS, btc, 0, 725, 0, 5000, 0),
         ("7.25 bps", "50 bps")),
        (ControlAck(4, Command.SET_TIER, TierField.TTL_NS, 0, 1, 1_500_000_000, 0, 500_000, 0), ("1500 ms", "0.5 ms")),
        (ControlAck(5, Command.SET_CLIENT, ClientField.CREDIT_LIMIT, 0, 7, 250_075, 0, 100, 0), ("2500.75", "1")),
        (ControlAck(6, Command.SET_CLIENT, ClientField.TIER, 0, 7, 1, 0, 2, 0), ("gold", "silver")),
        (ControlAck(7, Command.KILL, 0, 0, 7, 1, 0, 0, 0), ("1", "0")),
    ]
    for ack, want in acks:
        assert ack_values(ack, registry, {1: "gold", 2: "silver"}) == want, ack
    op = Operator(lambda req: acks[0][0], registry, clients={"acme": 7}, tiers={"gold": 1, "silver": 2})
    assert op.values(acks[5][0]) == ("gold", "silver")


def test_engine_and_operator_reprs_say_what_they_are(registry: Registry) -> None:
    from rfqcore.engine import Engine

    op = Operator(lambda req: ControlAck(1, req.command, 0, 0, 0, 0, 0, 0, 0), registry, clients={"acme": 7},
                  tiers={"gold": 1})
    assert repr(op) == "Operator(clients acme, tiers gold, strict)"
    with Engine(registry) as eng:
        assert repr(eng) == "Engine(composites BTC, ETH, 12 instruments, stopped)"
