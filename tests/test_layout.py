"""The one shared memory layout: Rust struct, C struct (Cython), numpy dtype, the struct format
the gateway unpacks with and the record table of docs/ring-layout.md agree byte for byte."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import rfqcore_core

from rfqcore import _ring
from rfqcore.gateway import loopback, server
from rfqcore.records import HEADER_SIZE, RECORD_DTYPE, RECORD_FIELDS, RECORD_SIZE, RECORD_STRUCT, HeaderOffset

DOC = Path(__file__).resolve().parent.parent / "docs/ring-layout.md"


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


def test_record_struct_is_the_dtype() -> None:
    """RECORD_STRUCT (built from RECORD_FIELDS) reads a RECORD_DTYPE row field for field."""
    rec = np.zeros(1, dtype=RECORD_DTYPE)
    for i, name in enumerate(RECORD_DTYPE.names):
        rec[name] = -(i + 2) if RECORD_DTYPE[name].kind == "i" else i + 2
    assert RECORD_STRUCT.size == RECORD_SIZE
    assert RECORD_STRUCT.unpack(rec.tobytes()) == rec[0].item()
    assert RECORD_STRUCT.pack(*rec[0].item()) == rec.tobytes()


def test_the_gateway_and_loopback_unpack_with_the_one_struct() -> None:
    assert server._REC is RECORD_STRUCT
    assert loopback._REC is RECORD_STRUCT


def test_doc_record_table_matches() -> None:
    """Every row of the record table in docs/ring-layout.md: offset, size, field, type."""
    types = {"u8": "u1", "u16": "<u2", "u64": "<u8", "i64": "<i8"}
    rows = re.findall(r"^\| (\d+) \| (\d+) \| `(\w+)` \| (\w+) \|", DOC.read_text(), re.M)
    doc = [(name, types[ty], int(off)) for off, size, name, ty in rows]
    assert doc == list(RECORD_FIELDS)
    assert [int(size) for _, size, _, _ in rows] == [RECORD_DTYPE[name].itemsize for name, _, _ in RECORD_FIELDS]
