"""rfqcore._ring: the Cython SPSC ring (push/poll, wrap, full, batch, cross-process, property test)."""

from __future__ import annotations

import multiprocessing as mp
import os
import struct
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rfqcore import _ring
from rfqcore.errors import RingError, RingTimeout
from rfqcore.records import HEADER_SIZE, MAGIC, RECORD_DTYPE, RECORD_SIZE, ring_file_size

SHM = Path("/dev/shm") if Path("/dev/shm").is_dir() else None


@pytest.fixture
def ring_path(tmp_path: Path) -> Iterator[str]:
    base = SHM or tmp_path
    path = base / f"rfqcore-test-{os.getpid()}-{uuid.uuid4().hex[:8]}.ring"
    yield str(path)
    path.unlink(missing_ok=True)


def records(seqs: range | list[int]) -> np.ndarray:
    arr = np.zeros(len(seqs), dtype=RECORD_DTYPE)
    arr["kind"] = 2
    arr["instrument"] = 1
    arr["seq"] = list(seqs)
    arr["price"] = [s * 10 for s in seqs]
    return arr


def test_create_writes_header_exactly(ring_path: str) -> None:
    _ring.ring_create(ring_path, 16)
    data = Path(ring_path).read_bytes()
    assert len(data) == ring_file_size(16) == HEADER_SIZE + RECORD_SIZE * 16
    magic, version, rsize, cap, mask = struct.unpack_from("<QIIQQ", data, 0)
    assert (magic, version, rsize, cap, mask) == (MAGIC, 1, 64, 16, 15)
    assert data[:8] == b"RFQRING1"
    assert data[32:] == bytes(len(data) - 32)  # reserved, positions and records all zero


@pytest.mark.parametrize("cap", [0, 1, 3, 12, -4])
def test_create_rejects_bad_capacity(ring_path: str, cap: int) -> None:
    with pytest.raises(RingError, match="capacity"):
        _ring.ring_create(ring_path, cap)


@pytest.mark.parametrize(
    ("offset", "fmt", "value", "field"),
    [(0, "<Q", 1234, "magic"), (8, "<I", 2, "version"), (12, "<I", 32, "record_size"),
     (16, "<Q", 12, "capacity"), (24, "<Q", 3, "mask")],
)
def test_open_validates_header(ring_path: str, offset: int, fmt: str, value: int, field: str) -> None:
    _ring.ring_create(ring_path, 8)
    with open(ring_path, "r+b") as fh:
        fh.seek(offset)
        fh.write(struct.pack(fmt, value))
    for cls in (_ring.RingProducer, _ring.RingConsumer):
        with pytest.raises(RingError, match=field):
            cls(ring_path)


def test_open_validates_file_length(ring_path: str) -> None:
    _ring.ring_create(ring_path, 8)
    with open(ring_path, "ab") as fh:
        fh.write(b"\0" * 64)
    with pytest.raises(RingError, match="file length"):
        _ring.RingProducer(ring_path)
    Path(ring_path).write_bytes(b"short")
    with pytest.raises(RingError, match="file length"):
        _ring.RingConsumer(ring_path)
    with pytest.raises(RingError, match="cannot open"):
        _ring.RingConsumer(ring_path + ".missing")


def test_push_poll_wraparound_and_full(ring_path: str) -> None:
    _ring.ring_create(ring_path, 8)
    with _ring.RingProducer(ring_path) as p, _ring.RingConsumer(ring_path) as c:
        assert c.available() == 0 and len(c.poll(10)) == 0
        seq = 0
        for _ in range(5):  # several laps around the 8-slot ring
            for _ in range(6):
                assert p.try_push(2, 1, 0, 1, 7, seq, 11, 12, seq * 10, 5, -3)
                seq += 1
            got = c.poll(100)
            assert got["seq"].tolist() == list(range(seq - 6, seq))
            assert got["price"].tolist() == [s * 10 for s in range(seq - 6, seq)]
            assert (got["source"] == 7).all() and (got["aux"] == -3).all()
            assert (got["ts_send"] > 0).all()
        # full: nothing written, False returned
        assert p.push_batch(records(range(100, 108))) == 8
        before = Path(ring_path).read_bytes()
        assert p.try_push(2, 1, 0, 0, 0, 999, 0, 0, 0, 0, 0) is False
        assert p.push_batch(records([1000])) == 0
        assert Path(ring_path).read_bytes() == before
        assert c.poll(3)["seq"].tolist() == [100, 101, 102]
        assert p.push_batch(records(range(200, 210))) == 3  # partial: only what fits
        out = np.zeros(20, dtype=RECORD_DTYPE)
        assert c.poll_into(out) == 8
        assert out["seq"][:8].tolist() == [103, 104, 105, 106, 107, 200, 201, 202]
        assert c.poll_into(out) == 0


def test_try_push_range_checked(ring_path: str) -> None:
    _ring.ring_create(ring_path, 8)
    with _ring.RingProducer(ring_path) as p, _ring.RingConsumer(ring_path) as c:
        with pytest.raises(OverflowError):
            p.try_push(70000, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        assert c.available() == 0


def test_batch_type_checks(ring_path: str) -> None:
    _ring.ring_create(ring_path, 8)
    with _ring.RingProducer(ring_path) as p, _ring.RingConsumer(ring_path) as c:
        with pytest.raises(TypeError, match="RECORD_DTYPE"):
            p.push_batch(np.zeros(4, dtype=np.int64))
        with pytest.raises(TypeError):
            p.push_batch([1, 2, 3])
        with pytest.raises(ValueError, match="contiguous"):
            p.push_batch(records(range(8))[::2])
        with pytest.raises(ValueError, match="read-only"):
            ro = np.zeros(4, dtype=RECORD_DTYPE)
            ro.flags.writeable = False
            c.poll_into(ro)
        assert p.push_batch(records([])) == 0


def test_closed_ring_raises(ring_path: str) -> None:
    _ring.ring_create(ring_path, 8)
    p = _ring.RingProducer(ring_path)
    p.close()
    p.close()
    with pytest.raises(RingError, match="closed"):
        p.try_push(2, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0)


def test_blocking_push_timeout_and_thread_consumer(ring_path: str) -> None:
    _ring.ring_create(ring_path, 16)
    with _ring.RingProducer(ring_path) as p, _ring.RingConsumer(ring_path) as c:
        with pytest.raises(RingTimeout, match="16 of 40") as e:
            p.push_batch_blocking(records(range(40)), idle="sleep", timeout_ns=5_000_000)
        assert e.value.pushed == 16
        assert c.poll(100)["seq"].tolist() == list(range(16))
        got: list[int] = []
        n_total = 5000

        def consume() -> None:
            out = np.zeros(7, dtype=RECORD_DTYPE)
            while len(got) < n_total:
                n = c.poll_into(out)
                got.extend(out["seq"][:n].tolist())

        t = threading.Thread(target=consume)
        t.start()
        assert p.push_batch_blocking(records(range(n_total)), idle="yield") == n_total
        t.join(10)
        assert got == list(range(n_total))
        with pytest.raises(ValueError, match="idle"):
            p.push_batch_blocking(records([1]), idle="nap")


def _producer_proc(path: str, n: int) -> None:
    with _ring.RingProducer(path) as p:
        for start in range(0, n, 97):
            p.push_batch_blocking(records(range(start, min(n, start + 97))), idle="yield")


def test_cross_process(ring_path: str) -> None:
    n = 20000
    _ring.ring_create(ring_path, 64)
    ctx = mp.get_context("spawn")
    proc = ctx.Process(target=_producer_proc, args=(ring_path, n))
    proc.start()
    got: list[int] = []
    with _ring.RingConsumer(ring_path) as c:
        out = np.zeros(50, dtype=RECORD_DTYPE)
        while len(got) < n and (proc.is_alive() or c.available()):
            k = c.poll_into(out)
            got.extend(out["seq"][:k].tolist())
            if len(got) < n and k == 0:
                os.sched_yield()
        proc.join(30)
    assert proc.exitcode == 0
    assert got == list(range(n))


def test_resume_positions(ring_path: str) -> None:
    _ring.ring_create(ring_path, 8)
    with _ring.RingProducer(ring_path) as p:
        p.push_batch(records(range(5)))
    with _ring.RingConsumer(ring_path) as c:
        assert c.poll(2)["seq"].tolist() == [0, 1]
    with _ring.RingProducer(ring_path) as p, _ring.RingConsumer(ring_path) as c:
        assert p.write_pos == 5 and c.read_pos == 2
        assert p.free() == 5
        assert c.poll(10)["seq"].tolist() == [2, 3, 4]


@settings(max_examples=60, deadline=None)
@given(ops=st.lists(st.tuples(st.booleans(), st.integers(0, 20)), max_size=60),
       cap_log=st.integers(1, 5))
def test_property_order_no_loss_no_dup(ops: list[tuple[bool, int]], cap_log: int) -> None:
    base = SHM or Path("/tmp")
    path = str(base / f"rfqcore-prop-{os.getpid()}-{uuid.uuid4().hex[:8]}.ring")
    cap = 1 << cap_log
    _ring.ring_create(path, cap)
    try:
        p, c = _ring.RingProducer(path), _ring.RingConsumer(path)
        next_seq, got = 0, []
        for is_push, k in ops:
            if is_push:
                in_flight = next_seq - len(got)
                n = p.push_batch(records(range(next_seq, next_seq + k)))
                assert n == min(k, cap - in_flight)
                next_seq += n
            else:
                got.extend(c.poll(k)["seq"].tolist())
            assert got == list(range(len(got)))
        got.extend(c.poll(cap)["seq"].tolist())
        assert got == list(range(next_seq))
        p.close()
        c.close()
    finally:
        os.unlink(path)


def test_record_layout_matches_dtype() -> None:
    layout = _ring.record_layout()
    assert list(layout) == list(RECORD_DTYPE.names)
    for name, (off, size) in layout.items():
        dt, dt_off = RECORD_DTYPE.fields[name][:2]
        assert (off, size) == (dt_off, dt.itemsize), name
    hdr = _ring.ring_header_layout()
    assert hdr["write_pos"] == (128, 8) and hdr["read_pos"] == (256, 8)
    assert hdr["records"][0] == HEADER_SIZE
