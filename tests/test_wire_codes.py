"""Every copy of the wire codes agrees with their one source, the Rust crate rfq-ring.

``tools/wire_codes.py`` generates the Python enums, the C macros and the doc tables from
``core_ext/crates/rfq-ring/src/{codes,control,rfq_reject}.rs`` and checks the hand-written doc
tables; these tests run its check, prove that it fails on a change in any single copy, and
compare the C header and the Python enums directly (without the generator's code).
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
from enum import Enum
from pathlib import Path

import pytest

from rfqcore import _wire_codes, records

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("wire_codes", ROOT / "tools/wire_codes.py")
assert _spec is not None and _spec.loader is not None
wire = importlib.util.module_from_spec(_spec)
sys.modules["wire_codes"] = wire  # dataclasses look their module up by name
_spec.loader.exec_module(wire)


def test_every_generated_copy_is_up_to_date() -> None:
    r = subprocess.run([sys.executable, str(ROOT / "tools/wire_codes.py"), "--check"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert wire.stale() == []


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of the source and of every generated file, to change one at a time."""
    for rel in (*wire.SOURCES, wire.PY_OUT, wire.C_HEADER, *wire.DOCS):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / rel, tmp_path / rel)
    assert wire.stale(tmp_path) == []
    return tmp_path


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert text.count(old) == 1, old
    path.write_text(text.replace(old, new))


@pytest.mark.parametrize(
    ("rel", "old", "new"),
    [
        (wire.PY_OUT, "    BAD_SIZE = 44\n", "    BAD_SIZE = 45\n"),
        (wire.PY_OUT, "    CREDIT_LIMIT = 1\n", "    CREDIT_LIMIT = 9\n"),
        (wire.C_HEADER, "#define RFQ_KIND_TRADE 4u", "#define RFQ_KIND_TRADE 5u"),
        (wire.C_HEADER, "#define RFQ_STALE_DISCONNECT 4LL", "#define RFQ_STALE_DISCONNECT 5LL"),
        ("docs/ring-layout.md", "| 9 | `BOOK_NOT_SYNCED` |", "| 8 | `BOOK_NOT_SYNCED` |"),
        ("docs/rfq-protocol.md", "| 44 | `BAD_SIZE` |", "| 43 | `BAD_SIZE` |"),
        ("docs/rfq-protocol.md", "| 7 | `TIER` |", "| 7 | `TIER_ID` |"),
    ],
)
def test_a_changed_copy_is_detected(tree: Path, rel: str, old: str, new: str) -> None:
    _edit(tree / rel, old, new)
    assert wire.stale(tree) == [rel]


def test_a_changed_source_makes_every_generated_copy_stale(tree: Path) -> None:
    codes = tree / "core_ext/crates/rfq-ring/src/codes.rs"
    _edit(codes, "pub const DESK_ORDER: u16 = 15;", "pub const DESK_ORDER: u16 = 16;")
    assert set(wire.stale(tree)) == {wire.PY_OUT, wire.C_HEADER}  # kinds have no generated doc table
    _edit(tree / "core_ext/crates/rfq-ring/src/control.rs", "pub const TIER: u16 = 7;", "pub const TIER: u16 = 9;")
    assert set(wire.stale(tree)) == {wire.PY_OUT, wire.C_HEADER, "docs/rfq-protocol.md"}
    # a kind the hand-written tables name: the check refuses the docs until they are fixed
    _edit(codes, "pub const TRADE: u16 = 4;", "pub const TRADE: u16 = 7;")
    with pytest.raises(wire.SourceError, match=re.escape("the table says 4 `TRADE` but TRADE is 7")):
        wire.stale(tree)


@pytest.mark.parametrize(
    ("rel", "old", "new", "message"),
    [
        # a hand-written (checked) table with a wrong code or an unknown name
        ("docs/rfq-protocol.md", "| 10 | `RFQ` |", "| 11 | `RFQ` |", "the table says 11 `RFQ` but RFQ is 10"),
        ("docs/rfq-protocol.md", "| 9 | `APPROVE` |", "| 9 | `APPROVED` |", "control::command has no APPROVED"),
        ("docs/ring-layout.md", "| 6 | `HEARTBEAT` |", "| 6 | `HEART_BEAT` |", "kind has no HEART_BEAT"),
        # source the generator cannot read: refused with its file and line, never guessed
        ("core_ext/crates/rfq-ring/src/codes.rs", "pub const BBO: u16 = 5;", "pub const BBO: u16 = 2 + 3;",
         "codes.rs:"),
        ("core_ext/crates/rfq-ring/src/codes.rs", "    /// Input: venue top of book, one record per side.\n", "",
         "missing /// line"),
        ("core_ext/crates/rfq-ring/src/codes.rs", "pub const SELL: u8 = ASK;", "pub const SELL: u8 = ASKS;",
         "not an earlier constant of side"),
    ],
)
def test_a_bad_table_or_source_is_refused(tree: Path, rel: str, old: str, new: str, message: str) -> None:
    _edit(tree / rel, old, new)
    with pytest.raises(wire.SourceError, match=re.escape(message)):
        wire.stale(tree)


def test_a_new_rust_module_needs_a_python_enum(tree: Path) -> None:
    path = tree / "core_ext/crates/rfq-ring/src/codes.rs"
    path.write_text(path.read_text() + "\n/// New codes.\npub mod fresh {\n    /// One.\n    pub const ONE: u8 = 1;\n}\n")
    with pytest.raises(wire.SourceError, match="no Python enum for Rust module"):
        wire.stale(tree)


def _enums() -> dict[str, type[Enum]]:
    return {name: getattr(_wire_codes, name) for name in _wire_codes.__all__}


def test_records_reexports_every_generated_enum() -> None:
    for name, enum in _enums().items():
        assert getattr(records, name) is enum
        assert name in records.__all__


def _c_macros() -> dict[str, int]:
    """``#define RFQ_*`` of the C header evaluated as integers (aliases resolved)."""
    raw = dict(re.findall(r"^#define (RFQ_\w+) (\S+)", (ROOT / wire.C_HEADER).read_text(), re.M))
    out: dict[str, int] = {}
    for name, value in raw.items():
        while value in raw:
            value = raw[value]
        if re.fullmatch(r"(0x[0-9A-Fa-f]+|\d+)(u|ULL|LL)?", value):
            out[name] = int(re.sub(r"(u|ULL|LL)$", "", value), 0)
    return out


def test_c_header_agrees_with_python_without_the_generator() -> None:
    macros = _c_macros()
    pairs = {"RFQ_KIND_": records.Kind, "RFQ_FLAG_": records.Flag, "RFQ_SIDE_": records.Side,
             "RFQ_WITHDRAW_": records.QuoteWithdrawal, "RFQ_BOOK_STATUS_": records.BookStatus,
             "RFQ_STALE_": records.StaleReason, "RFQ_REJECT_": records.RejectReason}
    for prefix, enum in pairs.items():
        c = {k[len(prefix):]: v for k, v in macros.items() if k.startswith(prefix)}
        assert c == {k: int(v) for k, v in enum.__members__.items()}, prefix


def test_python_enums_agree_with_the_rust_source_without_the_generator() -> None:
    """A plain regex over the Rust files, independent of the generator's parser."""
    text = "\n".join((ROOT / rel).read_text() for rel in wire.SOURCES)
    consts: dict[str, set[tuple[str, str]]] = {}
    for name, value in re.findall(r"pub const (\w+): \w+ = (\w+);", text):
        consts.setdefault(name, set()).add((name, value))
    for name, enum in _enums().items():
        for member, value in enum.__members__.items():
            assert member in consts, f"{name}.{member} is not a Rust constant"
            assert any(v == str(int(value)) or v in enum.__members__ for _, v in consts[member]), f"{name}.{member}"


def test_aliases_do_not_take_the_canonical_names() -> None:
    """An alias (``OMS_BASE``, ``Side.TWO_WAY``) comes after the name ``Enum(code).name`` reports."""
    assert records.RfqReject(60).name == "OMS_BAD_CL_ORD_ID" and records.RfqReject.OMS_BASE == 60
    assert records.Side(255).name == "NONE" and records.ClientSide(255).name == "TWO_WAY"
    assert records.Flag.END | records.Flag.SNAPSHOT == 3


def test_match_reject_codes_follow_the_matching_core_reasons() -> None:
    """``RfqReject.MATCH_*`` = 80 + the index of the matching core's reject reason."""
    from rfqcore.matching import REJECT_REASONS

    match = {m.name: int(m) for m in records.RfqReject if m.name.startswith("MATCH_") and m.name != "MATCH_BASE"}
    assert match == {f"MATCH_{r.upper()}": records.RfqReject.MATCH_BASE + i for i, r in enumerate(REJECT_REASONS)}


def oms_state_names(state_rs: str) -> tuple[str, ...]:
    """``rfq_oms::OrderState`` in code order (its ``STATES`` table), snake_case."""
    table = re.search(r"const STATES: \[OrderState; \d+\] = \[(.*?)\];", state_rs, re.S)
    assert table, "rfq-oms/src/state.rs has no STATES table"
    return tuple(re.sub(r"(?<!^)(?=[A-Z])", "_", n).lower() for n in re.findall(r"OrderState::(\w+)", table[1]))


def test_hedge_order_states_are_the_oms_states_in_code_order() -> None:
    src = (ROOT / "core_ext/crates/rfq-oms/src/state.rs").read_text()
    assert records.HEDGE_ORDER_STATES == oms_state_names(src)
    # and the check sees a reordered table
    swapped = src.replace("OrderState::Filled,\n    OrderState::Cancelled,", "OrderState::Cancelled,\n    OrderState::Filled,")
    assert swapped != src and records.HEDGE_ORDER_STATES != oms_state_names(swapped)
