"""rfqcore._decode: exact decimal -> fixed-point conversion and the instrument codec checks."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rfqcore._decode import InstrumentCodec, format_fixed, parse_fixed
from rfqcore.errors import (
    BadDecimal, DecimalOverflow, DecodeError, MalformedMessage, NegativeDecimal, NegativeQuantity,
    NonPositivePrice, OffLotQuantity, OffTickPrice, PrecisionLoss, QuantityTooLarge,
)
from rfqcore.records import RECORD_DTYPE

INT64_MAX = (1 << 63) - 1


@pytest.mark.parametrize(
    ("text", "decimals", "expected"),
    [
        ("61737.63000000", 2, 6173763),
        ("61737.63", 8, 6173763000000),
        ("0", 0, 0),
        ("0.00000000", 8, 0),
        ("1", 8, 100_000_000),
        ("007.5", 1, 75),
        ("30316", 1, 303160),
        ("0.0012029", 8, 120290),
        ("9223372036854775807", 0, INT64_MAX),
        ("92233720368547758.07", 2, INT64_MAX),
        (b"2681.62", 2, 268162),
    ],
)
def test_exact_values(text: str | bytes, decimals: int, expected: int) -> None:
    assert parse_fixed(text, decimals) == expected


def test_negative_only_when_allowed() -> None:
    assert parse_fixed("-1.50", 2, allow_negative=True) == -150
    with pytest.raises(NegativeDecimal, match="price"):
        parse_fixed("-1.50", 2, field="price")
    with pytest.raises(NegativeDecimal):
        parse_fixed("-0", 2)


@pytest.mark.parametrize(
    ("text", "decimals", "exc"),
    [
        ("", 2, BadDecimal),
        ("-", 2, BadDecimal),
        ("1.", 2, BadDecimal),
        (".5", 2, BadDecimal),
        ("1e5", 2, BadDecimal),
        ("+1", 2, BadDecimal),
        (" 1", 2, BadDecimal),
        ("1 ", 2, BadDecimal),
        ("1,5", 2, BadDecimal),
        ("1.2.3", 2, BadDecimal),
        ("NaN", 2, BadDecimal),
        ("١٢", 0, BadDecimal),  # non-ASCII digits
        ("1.0000001x", 2, BadDecimal),  # garbage after excess digits is still a syntax error
        ("61737.631", 2, PrecisionLoss),
        ("0.000000001", 8, PrecisionLoss),
        ("9223372036854775808", 0, DecimalOverflow),
        ("92233720368547758.08", 2, DecimalOverflow),
        ("99999999999999999999", 0, DecimalOverflow),
        ("100000000000", 8, DecimalOverflow),
    ],
)
def test_errors(text: str, decimals: int, exc: type[DecodeError]) -> None:
    with pytest.raises(exc) as info:
        parse_fixed(text, decimals, field="qty", instrument="binance-spot:BTCUSDT")
    assert "binance-spot:BTCUSDT" in str(info.value) and "qty" in str(info.value)
    assert info.value.value == text


def test_argument_errors() -> None:
    with pytest.raises(TypeError):
        parse_fixed(1.5, 2)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        parse_fixed("1", 19)
    with pytest.raises(ValueError):
        parse_fixed("1", -1)


@given(st.decimals(min_value=Decimal("-9e8"), max_value=Decimal("9e8"), places=8,
                   allow_nan=False, allow_infinity=False), st.integers(8, 10))
def test_roundtrip_against_decimal(d: Decimal, decimals: int) -> None:
    text = f"{d:f}"
    expected = int(d.scaleb(decimals))
    assert parse_fixed(text, decimals, allow_negative=True) == expected
    assert Decimal(format_fixed(expected, decimals)) == d


@given(st.integers(-(2**63) + 1, 2**63 - 1), st.integers(0, 18))
def test_format_parse_inverse(v: int, decimals: int) -> None:
    assert parse_fixed(format_fixed(v, decimals), decimals, allow_negative=True) == v


@given(st.text(alphabet="0123456789.-+e ", max_size=25), st.integers(0, 18))
def test_never_crashes_and_agrees_with_decimal(text: str, decimals: int) -> None:
    import re

    try:
        v = parse_fixed(text, decimals, allow_negative=True)
    except BadDecimal:
        ok = re.fullmatch(r"-?[0-9]+(\.[0-9]+)?", text)
        if ok:  # syntactically fine: must be precision or range
            d = Decimal(text).scaleb(decimals)
            assert d != d.to_integral_value() or abs(d) > INT64_MAX
        return
    assert Decimal(text).scaleb(decimals) == v


CODEC = InstrumentCodec(3, "binance-usdm:BTCUSDT", 2, 3, 10, 1, 100_000_000)


def test_codec_checks() -> None:
    assert CODEC.price("61800.30") == 6180030
    assert CODEC.qty("0.006") == 6
    cases = [
        (CODEC.price, "61800.35", OffTickPrice),
        (CODEC.price, "0.00", NonPositivePrice),
        (CODEC.price, "-5", NonPositivePrice),
        (CODEC.qty, "-0.001", NegativeQuantity),
        (CODEC.qty, "0.0005", PrecisionLoss),
        (CODEC.qty, "100001", QuantityTooLarge),
        (CODEC.price, 61800, MalformedMessage),
        (CODEC.price, None, MalformedMessage),
    ]
    for fn, value, exc in cases:
        with pytest.raises(exc) as info:
            fn(value)
        assert "binance-usdm:BTCUSDT" in str(info.value)
    lot_codec = InstrumentCodec(1, "x:Y", 2, 3, 1, 5, 1000)
    with pytest.raises(OffLotQuantity):
        lot_codec.qty("0.003")


def test_decode_levels() -> None:
    out = np.zeros(8, dtype=RECORD_DTYPE)
    n = CODEC.decode_levels([["61800.10", "1.500"], ["61800.00", "0"]], 1, out, 2, 2, 0, 9,
                            77, 88, 99, 66)
    assert n == 2
    r = out[2:4]
    assert r["price"].tolist() == [6180010, 6180000] and r["qty"].tolist() == [1500, 0]
    assert r["side"].tolist() == [1, 1] and r["seq"].tolist() == [77, 77]
    assert r["instrument"].tolist() == [3, 3] and r["source"].tolist() == [9, 9]
    assert r["aux"].tolist() == [66, 66] and r["ts_recv"].tolist() == [99, 99]
    # OKX 4-element levels
    assert CODEC.decode_levels([["61800.1", "2", "0", "3"]], 0, out, 0, 2, 0, 0, 0, 0, 0, 0) == 1
    for bad, exc in [("nope", MalformedMessage), ([["1.0"]], MalformedMessage),
                     ([("1.0", "1")], MalformedMessage), ([["61800.15", "1"]], OffTickPrice),
                     ([["61800.10", "-1"]], NegativeQuantity)]:
        with pytest.raises(exc):
            CODEC.decode_levels(bad, 0, out, 0, 2, 0, 0, 0, 0, 0, 0)
    with pytest.raises(ValueError, match="too small"):
        CODEC.decode_levels([["1.00", "1"]] * 9, 0, out, 0, 2, 0, 0, 0, 0, 0, 0)
    with pytest.raises(TypeError):
        CODEC.decode_levels([], 0, np.zeros(4, dtype=np.int64), 0, 2, 0, 0, 0, 0, 0, 0)
