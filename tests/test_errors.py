"""One exception hierarchy: ``except rfqcore.errors.X`` catches what the Rust binding raises as X."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import rfqcore_core

from rfqcore import errors
from rfqcore.instruments import Registry
from test_engine import TOML  # the engine tests' two-member BTC composite


RUST_CLASSES = ["RfqCoreError", "RingError", "BookError", "ConfigError", "JournalError", "MatchingError", "ClusterError"]


def rust_exception_names() -> set[str]:
    return {n for n, v in vars(rfqcore_core).items() if isinstance(v, type) and issubclass(v, BaseException)}


def test_every_rust_exception_class_is_the_one_in_rfqcore_errors() -> None:
    assert rust_exception_names() == set(RUST_CLASSES)
    for name in RUST_CLASSES:
        assert getattr(errors, name) is getattr(rfqcore_core, name), name
        assert name in errors.__all__
    for name in RUST_CLASSES[1:]:
        assert issubclass(getattr(errors, name), errors.RfqCoreError)


def test_python_only_classes_extend_the_rust_ones() -> None:
    assert issubclass(errors.RingTimeout, rfqcore_core.RingError)
    assert issubclass(errors.PrecisionLoss, rfqcore_core.RfqCoreError)
    e = errors.OffTickPrice("off tick", field="price", value="1.005", instrument="X")
    assert isinstance(e, rfqcore_core.RfqCoreError) and e.field == "price"


def _engine_specs(tmp_path: Path) -> tuple[list, list, str]:
    reg = Registry.from_toml(TOML)
    out = str(tmp_path / "out")
    rfqcore_core.ring_create(out, 1024)
    return reg.instrument_specs(), reg.composite_specs(), out


def raise_rfq_core_error(tmp_path: Path) -> None:
    insts, comps, out = _engine_specs(tmp_path)
    eng = rfqcore_core.Engine(insts, comps, out)
    eng.start()
    try:
        eng.run_once()  # refused while the core thread runs
    finally:
        eng.stop()


def raise_ring_error(tmp_path: Path) -> None:
    insts, comps, _ = _engine_specs(tmp_path)
    rfqcore_core.Engine(insts, comps, str(tmp_path / "missing-ring"))


def raise_book_error(tmp_path: Path) -> None:
    rfqcore_core.Book(capacity=2).update(0, 0, 1)  # price 0


def raise_config_error(tmp_path: Path) -> None:
    insts, comps, out = _engine_specs(tmp_path)
    insts[0]["tick"] = 0
    rfqcore_core.Engine(insts, comps, out)


def raise_journal_error(tmp_path: Path) -> None:
    bad = tmp_path / "damaged.snap"
    bad.write_bytes(b"not a snapshot")
    rfqcore_core.snapshot_info(str(bad))


def raise_matching_error(tmp_path: Path) -> None:
    book = rfqcore_core.MatchingBook(tick=1, lot=1, max_qty=100, min_price=1, max_price=1000)
    book.submit(1, 1, 7, 100, 1)  # side 7


def raise_cluster_error(tmp_path: Path) -> None:
    insts, comps, _ = _engine_specs(tmp_path)
    rfqcore_core.ClusterNode(str(tmp_path / "missing-cluster.toml"), 1, insts, comps)


RAISERS: dict[str, Callable[[Path], None]] = {
    "RfqCoreError": raise_rfq_core_error,
    "RingError": raise_ring_error,
    "BookError": raise_book_error,
    "ConfigError": raise_config_error,
    "JournalError": raise_journal_error,
    "MatchingError": raise_matching_error,
    "ClusterError": raise_cluster_error,
}


@pytest.mark.parametrize("name", RUST_CLASSES)
def test_except_rfqcore_errors_catches_what_rust_raises(name: str, tmp_path: Path) -> None:
    cls = getattr(errors, name)
    caught: BaseException | None = None
    try:
        RAISERS[name](tmp_path)
    except cls as e:
        caught = e
    assert caught is not None, f"the binding raised nothing for {name}"
    assert type(caught) is cls, f"{name}: the binding raised {type(caught).__name__}"
    assert str(caught) and "\n" not in str(caught), "one line saying what is wrong"
