"""The one shared memory layout: Rust struct, C struct (Cython) and numpy dtype agree byte for byte."""

from __future__ import annotations

import numpy as np
import rfqcore_core

from rfqcore import _ring
from rfqcore.records import HEADER_SIZE, RECORD_DTYPE, RECORD_SIZE, HeaderOffset


def test_record_layout_matches_across_rust_c_and_numpy() -> None:
    rust = rfqcore_core.record_layout()
    c = _ring.record_layout()
    numpy_layout = {name: (RECORD_DTYPE.fields[name][1], RECORD_DTYPE.fields[name][0].itemsize) for name in RECORD_DTYPE.names}
    assert list(rust) == list(numpy_layout), "field order differs"
    assert rust == numpy_layout
    # the C copy reports the same fields (plus maybe its total size)
    assert {k: tuple(v) for k, v in c.items() if k in rust} == rust
    assert rfqcore_core.RECORD_SIZE == RECORD_SIZE == RECORD_DTYPE.itemsize == 64


def test_header_layout_matches() -> None:
    rust = rfqcore_core.ring_header_layout()
    c = _ring.ring_header_layout()
    assert {k: tuple(v) for k, v in c.items() if k in rust} == rust
    assert rust["write_pos"][0] == HeaderOffset.WRITE_POS == 128
    assert rust["read_pos"][0] == HeaderOffset.READ_POS == 256
    assert rfqcore_core.RING_HEADER_SIZE == HEADER_SIZE == 384


def test_ring_created_by_rust_is_usable_from_cython_and_back(tmp_path) -> None:
    """A ring file made by either side opens on the other (same bytes on disk)."""
    a, b = str(tmp_path / "a.ring"), str(tmp_path / "b.ring")
    rfqcore_core.ring_create(a, 8)
    _ring.ring_create(b, 8)
    assert open(a, "rb").read() == open(b, "rb").read()
    prod = _ring.RingProducer(a)
    rec = np.zeros(3, dtype=RECORD_DTYPE)
    rec["kind"] = [1, 2, 3]
    rec["price"] = [-1, 2**62, 7]
    assert prod.push_batch(rec) == 3
    cons = _ring.RingConsumer(a)
    got = cons.poll(10)
    assert got["kind"].tolist() == [1, 2, 3]
    assert got["price"].tolist() == [-1, 2**62, 7]
    assert (got["ts_send"] > 0).all()
