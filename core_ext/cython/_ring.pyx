# cython: language_level=3
"""Shared-memory SPSC ring of 64-byte records: producer and consumer (docs/ring-layout.md).

The ring is one file, normally in ``/dev/shm``, mapped with POSIX ``mmap`` by each side, so the
two sides may be threads of one process or separate processes. The protocol is rtrb's / Aeron's:
each side keeps its own position plus a cached copy of the other side's, reloads the other
side's position with an Acquire load only when the cache says "full"/"empty", and publishes a
whole batch with a single Release store. Copy loops run without the GIL.

Exactly one producer and one consumer may be attached to a ring at a time; nothing enforces
this (two producers would corrupt it).
"""

cimport numpy as cnp
from libc.stdint cimport int64_t, uint8_t, uint16_t, uint32_t, uint64_t
from libc.string cimport memcpy, memset
from posix.fcntl cimport O_RDWR, open as c_open
from posix.mman cimport MAP_FAILED, MAP_SHARED, PROT_READ, PROT_WRITE, mmap, munmap
from posix.stat cimport fstat, struct_stat
from posix.time cimport nanosleep, timespec
from posix.unistd cimport close as c_close

from rfq_ring cimport (
    RFQ_HEADER_SIZE, RFQ_MAGIC, RFQ_OFF_CAPACITY, RFQ_OFF_MAGIC, RFQ_OFF_MASK, RFQ_OFF_READ_POS,
    RFQ_OFF_RECORD_SIZE, RFQ_OFF_RECORDS, RFQ_OFF_RESERVED, RFQ_OFF_VERSION, RFQ_OFF_WRITE_POS,
    RFQ_RECORD_SIZE, RFQ_RESERVED_SIZE, RFQ_VERSION, rfq_load_acquire, rfq_load_relaxed,
    rfq_monotonic_ns, rfq_record_t, rfq_slot, rfq_store_release, rfq_u64_at, rfq_cpu_relax,
)

import os
import struct

import numpy as np

from rfqcore.errors import RingError, RingTimeout
from rfqcore.records import RECORD_DTYPE

cnp.import_array()

cdef extern from "<sched.h>" nogil:
    int sched_yield()

cdef extern from "<errno.h>" nogil:
    int errno

__all__ = [
    "RingError",
    "RingProducer",
    "RingConsumer",
    "ring_create",
    "record_layout",
    "ring_header_layout",
    "monotonic_ns",
    "RECORD_SIZE",
    "HEADER_SIZE",
]

RECORD_SIZE = RFQ_RECORD_SIZE
HEADER_SIZE = RFQ_HEADER_SIZE

# idle strategies of push_batch_blocking
DEF IDLE_SPIN = 0
DEF IDLE_YIELD = 1
DEF IDLE_SLEEP = 2
DEF SLEEP_NS = 50000
DEF MAX_CAPACITY = (1 << 56)


def monotonic_ns() -> int:
    """CLOCK_MONOTONIC in ns, the clock used for ``ts_send``."""
    return rfq_monotonic_ns()


def record_layout() -> dict:
    """Field name -> (offset, size) of the C ``rfq_record_t``, from the C compiler's view."""
    cdef rfq_record_t r
    cdef size_t b = <size_t>&r
    return {
        "kind": (<size_t>&r.kind - b, sizeof(r.kind)),
        "instrument": (<size_t>&r.instrument - b, sizeof(r.instrument)),
        "side": (<size_t>&r.side - b, sizeof(r.side)),
        "flags": (<size_t>&r.flags - b, sizeof(r.flags)),
        "source": (<size_t>&r.source - b, sizeof(r.source)),
        "seq": (<size_t>&r.seq - b, sizeof(r.seq)),
        "ts_event": (<size_t>&r.ts_event - b, sizeof(r.ts_event)),
        "ts_recv": (<size_t>&r.ts_recv - b, sizeof(r.ts_recv)),
        "price": (<size_t>&r.price - b, sizeof(r.price)),
        "qty": (<size_t>&r.qty - b, sizeof(r.qty)),
        "aux": (<size_t>&r.aux - b, sizeof(r.aux)),
        "ts_send": (<size_t>&r.ts_send - b, sizeof(r.ts_send)),
    }


def ring_header_layout() -> dict:
    """Field name -> (offset, size) of the ring file header (``RFQ_OFF_*`` of rfq_ring.h)."""
    return {
        "magic": (RFQ_OFF_MAGIC, 8),
        "version": (RFQ_OFF_VERSION, 4),
        "record_size": (RFQ_OFF_RECORD_SIZE, 4),
        "capacity": (RFQ_OFF_CAPACITY, 8),
        "mask": (RFQ_OFF_MASK, 8),
        "reserved": (RFQ_OFF_RESERVED, RFQ_RESERVED_SIZE),
        "write_pos": (RFQ_OFF_WRITE_POS, 8),
        "read_pos": (RFQ_OFF_READ_POS, 8),
        "records": (RFQ_OFF_RECORDS, 0),
    }


cdef inline bint _is_pow2(uint64_t x) noexcept nogil:
    return x >= 2 and (x & (x - 1)) == 0


def ring_create(path: str, capacity: int) -> None:
    """Create (or replace) the ring file ``path`` holding ``capacity`` records.

    ``capacity`` must be a power of two >= 2. The header is written exactly as the layout doc
    says, positions start at 0 and the records are zero. The file is written under a temporary
    name and renamed into place, so a concurrent opener sees either no file or a complete one;
    a process still mapping a previous ring of that name keeps its old (now unlinked) file.
    """
    if not isinstance(capacity, int) or isinstance(capacity, bool):
        raise TypeError(f"ring capacity must be an int, got {type(capacity).__name__}")
    if capacity < 2 or capacity > MAX_CAPACITY or (capacity & (capacity - 1)) != 0:
        raise RingError(f"ring capacity must be a power of two >= 2, got {capacity} ({path})")
    header = bytearray(RFQ_HEADER_SIZE)
    struct.pack_into("<QIIQQ", header, 0, RFQ_MAGIC, RFQ_VERSION, RFQ_RECORD_SIZE,
                     capacity, capacity - 1)
    tmp = f"{path}.tmp.{os.getpid()}"
    fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.ftruncate(fd, RFQ_HEADER_SIZE + RFQ_RECORD_SIZE * capacity)
        os.pwrite(fd, bytes(header), 0)
    except BaseException:
        os.close(fd)
        os.unlink(tmp)
        raise
    os.close(fd)
    os.replace(tmp, path)


cdef class _RingMap:
    """An open, validated mapping of a ring file (shared by producer and consumer)."""

    cdef void *base
    cdef size_t length
    cdef uint64_t capacity
    cdef uint64_t mask
    cdef uint64_t *write_pos_p
    cdef uint64_t *read_pos_p
    cdef readonly str path

    def __cinit__(self):
        self.base = NULL
        self.length = 0

    cdef int open(self, str path) except -1:
        cdef bytes bpath = os.fsencode(path)
        cdef int fd = c_open(bpath, O_RDWR)
        cdef struct_stat st
        cdef void *p
        cdef uint64_t magic, cap, mask
        cdef uint32_t version, rsize
        self.path = path
        if fd < 0:
            raise RingError(f"cannot open ring file {path}: {os.strerror(errno)}")
        if fstat(fd, &st) != 0:
            c_close(fd)
            raise RingError(f"cannot stat ring file {path}: {os.strerror(errno)}")
        if <uint64_t>st.st_size < RFQ_HEADER_SIZE:
            c_close(fd)
            raise RingError(f"ring file {path}: file length {st.st_size} is shorter than the "
                            f"{RFQ_HEADER_SIZE}-byte header")
        p = mmap(NULL, <size_t>st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
        c_close(fd)  # the mapping keeps the file alive
        if p == MAP_FAILED:
            raise RingError(f"cannot mmap ring file {path}: {os.strerror(errno)}")
        self.base = p
        self.length = <size_t>st.st_size
        memcpy(&magic, <char *>p + RFQ_OFF_MAGIC, 8)
        memcpy(&version, <char *>p + RFQ_OFF_VERSION, 4)
        memcpy(&rsize, <char *>p + RFQ_OFF_RECORD_SIZE, 4)
        memcpy(&cap, <char *>p + RFQ_OFF_CAPACITY, 8)
        memcpy(&mask, <char *>p + RFQ_OFF_MASK, 8)
        err = None
        if magic != RFQ_MAGIC:
            err = f"magic is {magic:#018x}, expected {RFQ_MAGIC:#018x} ('RFQRING1')"
        elif version != RFQ_VERSION:
            err = f"version is {version}, expected {RFQ_VERSION}"
        elif rsize != RFQ_RECORD_SIZE:
            err = f"record_size is {rsize}, expected {RFQ_RECORD_SIZE}"
        elif not _is_pow2(cap) or cap > MAX_CAPACITY:
            err = f"capacity is {cap}, expected a power of two >= 2"
        elif mask != cap - 1:
            err = f"mask is {mask}, expected capacity - 1 = {cap - 1}"
        elif self.length != RFQ_HEADER_SIZE + RFQ_RECORD_SIZE * cap:
            err = (f"file length is {self.length}, expected {RFQ_HEADER_SIZE} + "
                   f"{RFQ_RECORD_SIZE} * {cap} = {RFQ_HEADER_SIZE + RFQ_RECORD_SIZE * cap}")
        if err is not None:
            self.close()
            raise RingError(f"ring file {path}: {err}")
        self.capacity = cap
        self.mask = mask
        self.write_pos_p = rfq_u64_at(p, RFQ_OFF_WRITE_POS)
        self.read_pos_p = rfq_u64_at(p, RFQ_OFF_READ_POS)
        cdef uint64_t w = rfq_load_acquire(self.write_pos_p)
        cdef uint64_t r = rfq_load_acquire(self.read_pos_p)
        if w - r > cap:
            self.close()
            raise RingError(f"ring file {path}: write_pos {w} and read_pos {r} are inconsistent "
                            f"(more than capacity {cap} records apart)")
        return 0

    cdef void close(self) noexcept:
        if self.base != NULL:
            munmap(self.base, self.length)
            self.base = NULL

    def __dealloc__(self):
        self.close()


cdef inline int _check_batch(object arr, bint writable) except -1:
    if not isinstance(arr, np.ndarray):
        raise TypeError(f"expected a numpy array of RECORD_DTYPE, got {type(arr).__name__}")
    if arr.dtype != RECORD_DTYPE:
        raise TypeError(f"expected dtype RECORD_DTYPE (itemsize 64), got {arr.dtype!r} "
                        f"(itemsize {arr.dtype.itemsize})")
    if arr.ndim != 1:
        raise ValueError(f"expected a 1-d record array, got {arr.ndim} dimensions")
    if not arr.flags.c_contiguous:
        raise ValueError("record array must be C-contiguous (use np.ascontiguousarray)")
    if writable and not arr.flags.writeable:
        raise ValueError("output record array is read-only")
    return 0


cdef int _idle_code(str idle) except -1:
    if idle == "spin":
        return IDLE_SPIN
    if idle == "yield":
        return IDLE_YIELD
    if idle == "sleep":
        return IDLE_SLEEP
    raise ValueError(f"idle must be 'spin', 'yield' or 'sleep', got {idle!r}")


cdef class RingProducer:
    """The single writer of a ring file.

    Never blocks and never drops: :meth:`try_push` / :meth:`push_batch` report how much was
    written and the caller decides what to do with the rest (:meth:`push_batch_blocking` retries).
    Resumes at the ring's current ``write_pos`` when attached to a ring that already holds data.
    """

    cdef _RingMap _m
    cdef uint64_t _write       # local copy of write_pos (we are its only writer)
    cdef uint64_t _cached_read  # last read_pos seen (Acquire)

    def __init__(self, path: str) -> None:
        self._m = _RingMap()
        self._m.open(str(path))
        self._write = rfq_load_relaxed(self._m.write_pos_p)
        self._cached_read = rfq_load_acquire(self._m.read_pos_p)

    cdef inline int _check_open(self) except -1:
        if self._m is None or self._m.base == NULL:
            raise RingError("ring producer is closed")
        return 0

    cdef inline uint64_t _free(self, uint64_t want) noexcept nogil:
        """Free slots, reloading read_pos (Acquire) only when the cache cannot satisfy ``want``."""
        cdef uint64_t free = self._m.capacity - (self._write - self._cached_read)
        if free < want:
            self._cached_read = rfq_load_acquire(self._m.read_pos_p)
            free = self._m.capacity - (self._write - self._cached_read)
        return free

    cdef uint64_t _push_raw(self, const rfq_record_t *src, uint64_t n) noexcept nogil:
        """Copy up to ``n`` records in one claim, stamp ts_send, publish once. Returns count."""
        cdef uint64_t free = self._free(n)
        cdef uint64_t k = n if n < free else free
        cdef uint64_t start, first, i
        cdef int64_t now
        cdef rfq_record_t *dst
        if k == 0:
            return 0
        start = self._write & self._m.mask
        first = self._m.capacity - start
        if first > k:
            first = k
        dst = rfq_slot(self._m.base, self._m.mask, self._write)
        memcpy(dst, src, first * RFQ_RECORD_SIZE)
        if k > first:
            memcpy(rfq_slot(self._m.base, self._m.mask, 0), src + first,
                   (k - first) * RFQ_RECORD_SIZE)
        # One clock read per batch: every record of it becomes visible at the same Release store.
        now = rfq_monotonic_ns()
        for i in range(k):
            rfq_slot(self._m.base, self._m.mask, self._write + i).ts_send = now
        self._write += k
        rfq_store_release(self._m.write_pos_p, self._write)
        return k

    def try_push(self, uint16_t kind, uint16_t instrument, uint8_t side, uint8_t flags,
                 uint16_t source, uint64_t seq, int64_t ts_event, int64_t ts_recv,
                 int64_t price, int64_t qty, int64_t aux) -> bool:
        """Push one record; ``False`` if the ring is full (nothing written).

        ``ts_send`` is stamped with CLOCK_MONOTONIC ns just before the Release store.
        Out-of-range field values raise ``OverflowError`` before anything is written.
        """
        self._check_open()
        cdef rfq_record_t *r
        if self._free(1) == 0:
            return False
        r = rfq_slot(self._m.base, self._m.mask, self._write)
        r.kind = kind
        r.instrument = instrument
        r.side = side
        r.flags = flags
        r.source = source
        r.seq = seq
        r.ts_event = ts_event
        r.ts_recv = ts_recv
        r.price = price
        r.qty = qty
        r.aux = aux
        r.ts_send = rfq_monotonic_ns()
        self._write += 1
        rfq_store_release(self._m.write_pos_p, self._write)
        return True

    def push_batch(self, arr) -> int:
        """Push as many records of ``arr`` as fit, in one claim and one Release store.

        ``arr`` must be a 1-d C-contiguous array of ``RECORD_DTYPE`` (``TypeError`` for another
        dtype, ``ValueError`` for another shape/order). Returns the number pushed, from the
        front of ``arr`` (0 when the ring is full); the caller retries ``arr[n:]``. ``ts_send``
        is stamped on the ring copies (one clock read per batch); ``arr`` is not modified.
        """
        self._check_open()
        _check_batch(arr, False)
        cdef const rfq_record_t *src = <const rfq_record_t *>cnp.PyArray_DATA(arr)
        cdef uint64_t n = <uint64_t>cnp.PyArray_DIM(arr, 0)
        cdef uint64_t k
        if n == 0:
            return 0
        with nogil:
            k = self._push_raw(src, n)
        return k

    def push_batch_blocking(self, arr, idle: str = "yield", timeout_ns: int | None = None) -> int:
        """Push every record of ``arr``, waiting for room between partial pushes.

        ``idle`` is the wait strategy while the ring is full: ``"spin"`` (busy loop with a CPU
        pause), ``"yield"`` (``sched_yield``) or ``"sleep"`` (50 µs). With ``timeout_ns`` set,
        raises ``RingTimeout`` (the records already pushed stay pushed; its ``pushed`` and its
        message say how many) if the consumer does not make room in time. The GIL is released while
        waiting. Returns ``len(arr)``.
        """
        self._check_open()
        _check_batch(arr, False)
        cdef int mode = _idle_code(idle)
        cdef const rfq_record_t *src = <const rfq_record_t *>cnp.PyArray_DATA(arr)
        cdef uint64_t n = <uint64_t>cnp.PyArray_DIM(arr, 0)
        cdef uint64_t done = 0
        cdef int64_t deadline = -1
        cdef bint timed_out = False
        cdef timespec ts
        if timeout_ns is not None:
            deadline = rfq_monotonic_ns() + <int64_t>timeout_ns
        ts.tv_sec = 0
        ts.tv_nsec = SLEEP_NS
        if n == 0:
            return 0
        done = self._push_raw(src, n)  # fast path, no GIL round trip when there is room
        if done < n:
            with nogil:
                while done < n:
                    if mode == IDLE_YIELD:
                        sched_yield()
                    elif mode == IDLE_SLEEP:
                        nanosleep(&ts, NULL)
                    else:
                        rfq_cpu_relax()
                    done += self._push_raw(src + done, n - done)
                    if deadline >= 0 and done < n and rfq_monotonic_ns() > deadline:
                        timed_out = True
                        break
        if timed_out:
            err = RingTimeout(f"ring {self._m.path}: pushed {done} of {n} records before the "
                              f"{timeout_ns} ns timeout (consumer not draining)")
            err.pushed = done
            raise err
        return n

    def free(self) -> int:
        """Slots free right now (reloads ``read_pos``)."""
        self._check_open()
        self._cached_read = rfq_load_acquire(self._m.read_pos_p)
        return self._m.capacity - (self._write - self._cached_read)

    @property
    def capacity(self) -> int:
        """Ring capacity in records."""
        return self._m.capacity

    @property
    def write_pos(self) -> int:
        """Records published so far by this ring's producers."""
        return self._write

    @property
    def path(self) -> str:
        return self._m.path

    def close(self) -> None:
        """Unmap the ring. Idempotent; later pushes raise ``RingError``."""
        if self._m is not None:
            self._m.close()

    def __enter__(self) -> RingProducer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"RingProducer({self._m.path!r}, capacity={self._m.capacity}, write_pos={self._write})"


cdef class RingConsumer:
    """The single reader of a ring file.

    Reads whole batches: one Acquire load of ``write_pos`` when its cache is exhausted, a copy
    without the GIL, and one Release store of ``read_pos`` per call. Resumes at the ring's
    current ``read_pos``.
    """

    cdef _RingMap _m
    cdef uint64_t _read           # local copy of read_pos (we are its only writer)
    cdef uint64_t _cached_write   # last write_pos seen (Acquire)

    def __init__(self, path: str) -> None:
        self._m = _RingMap()
        self._m.open(str(path))
        self._read = rfq_load_relaxed(self._m.read_pos_p)
        self._cached_write = rfq_load_acquire(self._m.write_pos_p)

    cdef inline int _check_open(self) except -1:
        if self._m is None or self._m.base == NULL:
            raise RingError("ring consumer is closed")
        return 0

    cdef inline uint64_t _avail(self, uint64_t want) noexcept nogil:
        cdef uint64_t avail = self._cached_write - self._read
        if avail < want:
            self._cached_write = rfq_load_acquire(self._m.write_pos_p)
            avail = self._cached_write - self._read
        return avail

    cdef uint64_t _pop_raw(self, rfq_record_t *dst, uint64_t n) noexcept nogil:
        cdef uint64_t avail = self._avail(n)
        cdef uint64_t k = n if n < avail else avail
        cdef uint64_t start, first
        if k == 0:
            return 0
        start = self._read & self._m.mask
        first = self._m.capacity - start
        if first > k:
            first = k
        memcpy(dst, rfq_slot(self._m.base, self._m.mask, self._read), first * RFQ_RECORD_SIZE)
        if k > first:
            memcpy(dst + first, rfq_slot(self._m.base, self._m.mask, 0),
                   (k - first) * RFQ_RECORD_SIZE)
        self._read += k
        rfq_store_release(self._m.read_pos_p, self._read)
        return k

    def wait(self, int64_t timeout_ns, int64_t spin_ns=20_000) -> int:
        """Wait without the GIL until records are available or ``timeout_ns`` has passed.

        Spins (CPU pause) for ``spin_ns``, then sleeps in 50 µs steps. Returns the number of
        records available (0 on timeout). Lets a Python pump thread wait for the core without
        competing for the GIL.
        """
        self._check_open()
        cdef uint64_t avail
        cdef int64_t start = rfq_monotonic_ns()
        cdef int64_t now
        cdef timespec ts
        ts.tv_sec = 0
        ts.tv_nsec = 50_000
        with nogil:
            while True:
                avail = self._avail(1)
                if avail > 0:
                    break
                now = rfq_monotonic_ns()
                if now - start >= timeout_ns:
                    break
                if now - start < spin_ns:
                    rfq_cpu_relax()
                else:
                    nanosleep(&ts, NULL)
        return avail

    def available(self) -> int:
        """Records published and not yet consumed (reloads ``write_pos``)."""
        self._check_open()
        self._cached_write = rfq_load_acquire(self._m.write_pos_p)
        return self._cached_write - self._read

    def poll(self, max_records: int = 4096):
        """Consume up to ``max_records`` records and return them as a new RECORD_DTYPE array.

        Returns an empty array when the ring is empty; never waits.
        """
        self._check_open()
        if max_records < 0:
            raise ValueError(f"max_records must be >= 0, got {max_records}")
        cdef uint64_t k = self._avail(<uint64_t>max_records)
        if k > <uint64_t>max_records:
            k = <uint64_t>max_records
        out = np.empty(k, dtype=RECORD_DTYPE)
        cdef rfq_record_t *dst = <rfq_record_t *>cnp.PyArray_DATA(out)
        cdef uint64_t got
        with nogil:
            got = self._pop_raw(dst, k)
        return out  # got == k: only this consumer advances read_pos

    def poll_into(self, out) -> int:
        """Consume up to ``len(out)`` records into ``out`` (no allocation); returns the count.

        ``out`` must be a writable 1-d C-contiguous RECORD_DTYPE array. Records beyond the
        returned count are left untouched.
        """
        self._check_open()
        _check_batch(out, True)
        cdef rfq_record_t *dst = <rfq_record_t *>cnp.PyArray_DATA(out)
        cdef uint64_t n = <uint64_t>cnp.PyArray_DIM(out, 0)
        cdef uint64_t k
        if n == 0:
            return 0
        with nogil:
            k = self._pop_raw(dst, n)
        return k

    @property
    def capacity(self) -> int:
        """Ring capacity in records."""
        return self._m.capacity

    @property
    def read_pos(self) -> int:
        """Records consumed so far."""
        return self._read

    @property
    def path(self) -> str:
        return self._m.path

    def close(self) -> None:
        """Unmap the ring. Idempotent; later polls raise ``RingError``."""
        if self._m is not None:
            self._m.close()

    def __enter__(self) -> RingConsumer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"RingConsumer({self._m.path!r}, capacity={self._m.capacity}, read_pos={self._read})"
