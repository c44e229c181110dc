/*
 * rfq_ring.h - the C view of the ring file and record (docs/ring-layout.md).
 *
 * This is one of the three copies of the layout (Rust `Record`/`RingHeader`, this header,
 * numpy `rfqcore.records.RECORD_DTYPE`); tests/test_layout.py checks they agree byte for byte.
 * Nothing here links to Rust: the file layout is the whole contract.
 *
 * All integers are little-endian; only x86-64 and aarch64 Linux are supported.
 */
#ifndef RFQ_RING_H
#define RFQ_RING_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#if !defined(__x86_64__) && !defined(__aarch64__)
#error "rfq_ring.h: only x86-64 and aarch64 are supported (little-endian, 64-bit atomics)"
#endif

/* ---- ring file header ------------------------------------------------------------------ */

#define RFQ_MAGIC 0x31474E4952514652ULL /* ASCII "RFQRING1" read as a little-endian u64 */
#define RFQ_VERSION 1u
#define RFQ_RECORD_SIZE 64u
#define RFQ_HEADER_SIZE 384u

#define RFQ_OFF_MAGIC 0u         /* u64 */
#define RFQ_OFF_VERSION 8u       /* u32 */
#define RFQ_OFF_RECORD_SIZE 12u  /* u32 */
#define RFQ_OFF_CAPACITY 16u     /* u64, power of two >= 2 */
#define RFQ_OFF_MASK 24u         /* u64, capacity - 1 */
#define RFQ_OFF_RESERVED 32u     /* 96 bytes of zero */
#define RFQ_RESERVED_SIZE 96u
#define RFQ_OFF_WRITE_POS 128u   /* u64, written by the producer only (Release) */
#define RFQ_OFF_READ_POS 256u    /* u64, written by the consumer only (Release) */
#define RFQ_OFF_RECORDS 384u     /* records; position p lives at 384 + (p & mask) * 64 */

/* ---- record kinds, flags, sides -------------------------------------------------------- */

#define RFQ_KIND_BOOK_CLEAR 1u
#define RFQ_KIND_BOOK_LEVEL 2u
#define RFQ_KIND_BOOK_STALE 3u
#define RFQ_KIND_TRADE 4u
#define RFQ_KIND_BBO 5u
#define RFQ_KIND_HEARTBEAT 6u
#define RFQ_KIND_QUOTE 100u
#define RFQ_KIND_BOOK_STATUS 101u
#define RFQ_KIND_REJECT 102u

#define RFQ_FLAG_END 0x01u
#define RFQ_FLAG_SNAPSHOT 0x02u
#define RFQ_FLAG_BID_VALID 0x04u
#define RFQ_FLAG_ASK_VALID 0x08u

#define RFQ_SIDE_BID 0u
#define RFQ_SIDE_ASK 1u
#define RFQ_SIDE_NONE 255u

/* ---- the record: 64 bytes, one cache line ---------------------------------------------- */

typedef struct rfq_record {
    uint16_t kind;       /*  0 */
    uint16_t instrument; /*  2 */
    uint8_t side;        /*  4 */
    uint8_t flags;       /*  5 */
    uint16_t source;     /*  6 */
    uint64_t seq;        /*  8 */
    int64_t ts_event;    /* 16 */
    int64_t ts_recv;     /* 24 */
    int64_t price;       /* 32 */
    int64_t qty;         /* 40 */
    int64_t aux;         /* 48 */
    int64_t ts_send;     /* 56 */
} rfq_record_t;

_Static_assert(sizeof(rfq_record_t) == RFQ_RECORD_SIZE, "rfq_record_t must be 64 bytes");
_Static_assert(offsetof(rfq_record_t, kind) == 0, "kind");
_Static_assert(offsetof(rfq_record_t, instrument) == 2, "instrument");
_Static_assert(offsetof(rfq_record_t, side) == 4, "side");
_Static_assert(offsetof(rfq_record_t, flags) == 5, "flags");
_Static_assert(offsetof(rfq_record_t, source) == 6, "source");
_Static_assert(offsetof(rfq_record_t, seq) == 8, "seq");
_Static_assert(offsetof(rfq_record_t, ts_event) == 16, "ts_event");
_Static_assert(offsetof(rfq_record_t, ts_recv) == 24, "ts_recv");
_Static_assert(offsetof(rfq_record_t, price) == 32, "price");
_Static_assert(offsetof(rfq_record_t, qty) == 40, "qty");
_Static_assert(offsetof(rfq_record_t, aux) == 48, "aux");
_Static_assert(offsetof(rfq_record_t, ts_send) == 56, "ts_send");

/* offsetof/sizeof of a record field, for rfqcore._ring.record_layout() */
#define RFQ_FIELD_OFFSET(f) ((size_t)offsetof(rfq_record_t, f))
#define RFQ_FIELD_SIZE(f) ((size_t)sizeof(((rfq_record_t *)0)->f))

/* ---- helpers ---------------------------------------------------------------------------- */

/* Pointer to the u64 header field at byte offset `off` of a mapped ring. */
static inline uint64_t *rfq_u64_at(void *base, size_t off) {
    return (uint64_t *)((char *)base + off);
}

/* Pointer to the record slot of position `pos`. */
static inline rfq_record_t *rfq_slot(void *base, uint64_t mask, uint64_t pos) {
    return (rfq_record_t *)((char *)base + RFQ_OFF_RECORDS + (size_t)(pos & mask) * RFQ_RECORD_SIZE);
}

/* Acquire load of a position: everything the other side wrote before its Release store of
 * this position is visible after this load. */
static inline uint64_t rfq_load_acquire(const uint64_t *p) {
    return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

/* Release store of a position: every record written (or read) before it is published. */
static inline void rfq_store_release(uint64_t *p, uint64_t v) {
    __atomic_store_n(p, v, __ATOMIC_RELEASE);
}

/* Relaxed load, for a side reading its own position or for statistics. */
static inline uint64_t rfq_load_relaxed(const uint64_t *p) {
    return __atomic_load_n(p, __ATOMIC_RELAXED);
}

/* CLOCK_MONOTONIC in nanoseconds (the ts_send clock; latency measurement only). */
static inline int64_t rfq_monotonic_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + (int64_t)ts.tv_nsec;
}

/* CPU hint for spin loops. */
static inline void rfq_cpu_relax(void) {
#if defined(__x86_64__)
    __builtin_ia32_pause();
#else
    __asm__ __volatile__("yield");
#endif
}

#endif /* RFQ_RING_H */
