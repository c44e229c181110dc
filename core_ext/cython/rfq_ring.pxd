# cython: language_level=3
"""Cython declarations of rfq_ring.h (the C copy of docs/ring-layout.md).

Declarations only: cimported by ``_ring.pyx`` and ``_decode.pyx``; there is no module of this name.
"""

from libc.stdint cimport int64_t, uint8_t, uint16_t, uint64_t


cdef extern from "rfq_ring.h" nogil:
    const uint64_t RFQ_MAGIC
    const unsigned int RFQ_VERSION
    const unsigned int RFQ_RECORD_SIZE
    const unsigned int RFQ_HEADER_SIZE

    const unsigned int RFQ_OFF_MAGIC
    const unsigned int RFQ_OFF_VERSION
    const unsigned int RFQ_OFF_RECORD_SIZE
    const unsigned int RFQ_OFF_CAPACITY
    const unsigned int RFQ_OFF_MASK
    const unsigned int RFQ_OFF_RESERVED
    const unsigned int RFQ_RESERVED_SIZE
    const unsigned int RFQ_OFF_WRITE_POS
    const unsigned int RFQ_OFF_READ_POS
    const unsigned int RFQ_OFF_RECORDS

    const unsigned int RFQ_KIND_BOOK_CLEAR
    const unsigned int RFQ_KIND_BOOK_LEVEL
    const unsigned int RFQ_KIND_BOOK_STALE
    const unsigned int RFQ_KIND_TRADE
    const unsigned int RFQ_KIND_BBO
    const unsigned int RFQ_KIND_HEARTBEAT

    const unsigned int RFQ_FLAG_END
    const unsigned int RFQ_FLAG_SNAPSHOT

    const unsigned int RFQ_SIDE_BID
    const unsigned int RFQ_SIDE_ASK
    const unsigned int RFQ_SIDE_NONE

    ctypedef struct rfq_record_t:
        uint16_t kind
        uint16_t instrument
        uint8_t side
        uint8_t flags
        uint16_t source
        uint64_t seq
        int64_t ts_event
        int64_t ts_recv
        int64_t price
        int64_t qty
        int64_t aux
        int64_t ts_send

    uint64_t *rfq_u64_at(void *base, size_t off)
    rfq_record_t *rfq_slot(void *base, uint64_t mask, uint64_t pos)
    uint64_t rfq_load_acquire(const uint64_t *p)
    void rfq_store_release(uint64_t *p, uint64_t v)
    uint64_t rfq_load_relaxed(const uint64_t *p)
    int64_t rfq_monotonic_ns()
    void rfq_cpu_relax()
