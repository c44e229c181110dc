# cython: language_level=3
"""Compiled codec of the gateway wire schema (docs/gateway-schema.md): the client library's hot path.

The layouts are not written here a second time: at import, every message type's body format is
read from :data:`rfqcore.gateway.schema.SPECS` (the reference codec, whose tables the doc test
checks) into a C table of (offset, kind) per field. Decoding walks that table and gives plain
tuples of ``int`` (``bytes`` for a logon MAC), never a ``NamedTuple`` or a ``Decimal``;
encoding writes the fields straight into a buffer, with the range check of each wire type.

- :func:`decode` accepts exactly what ``schema.decode`` accepts, with the same values, and
  refuses the rest with the same :class:`~rfqcore.gateway.schema.SchemaError` subclass, message
  and ``header``; :func:`try_decode` is the same check returning ``None`` instead of raising.
- :func:`encode` gives the bytes ``schema.encode`` gives; a field that does not fit its wire type
  is a ``ValueError`` naming the message type and field (``schema.encode`` names only the type).
  One difference: a logon ``mac`` must be exactly 32 bytes (``struct`` would pad or cut it).
- :class:`Encoder` writes one principal's requests into a reusable buffer, signs them with the
  session key (the header's ``session`` field: ``schema.request_mac``, keyed BLAKE2b-64 computed
  in C by libsodium's ``crypto_generichash``) and returns a ``memoryview`` of the message (valid
  until its next call) to offer to Aeron.
- :class:`Sender` is an :class:`Encoder` that also owns the rest of a request's bookkeeping: the
  header sequence, the registration of the :class:`Pending` wait an answer completes, and the
  offer to the request publication, all in one compiled call under its own lock.
- :class:`Receiver` is the client's fragment handler: a ``QUOTE`` of its session becomes the
  client's ``Quote`` (built in C), completes its wait and goes to ``on_quote`` without running
  Python; every other fragment goes to the client's Python handler.

The version, magic, types and layouts are ``schema``'s: when the schema changes, this codec
follows at the next import, and tests/test_wire_codec.py checks it against ``schema`` again.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize
from cpython.buffer cimport PyBUF_SIMPLE, PyObject_GetBuffer, PyBuffer_Release
from cpython.bytearray cimport PyByteArray_AS_STRING
from cpython.long cimport PyLong_AsLongLong, PyLong_AsUnsignedLongLong, PyLong_FromLong, PyLong_FromLongLong, PyLong_FromUnsignedLongLong
from cpython.number cimport PyNumber_Index
from cpython.pythread cimport (NOWAIT_LOCK, WAIT_LOCK, PyThread_acquire_lock, PyThread_allocate_lock,
                               PyThread_free_lock, PyThread_release_lock, PyThread_type_lock)
from cpython.object cimport PyObject, PyTypeObject
from cpython.ref cimport Py_INCREF, Py_XDECREF
from cpython.tuple cimport PyTuple_New, PyTuple_SET_ITEM
from libc.stdint cimport int64_t, uint8_t, uint16_t, uint32_t, uint64_t
from libc.string cimport memcpy, memset
from posix.time cimport CLOCK_MONOTONIC, clock_gettime, timespec


cdef extern from "<sched.h>" nogil:
    int sched_yield()

from dataclasses import fields as _dc_fields
from threading import Event as _Event
from types import MemberDescriptorType as _MemberDescriptor

from rfqcore.gateway import schema as _schema

__all__ = ["decode", "try_decode", "encode", "body_len", "Encoder", "Sender", "Pending", "Receiver", "wait"]


cdef extern from "sodium.h" nogil:
    int sodium_init()
    # keyed BLAKE2b; libsodium takes any output length of 1 to 64 bytes (crypto_generichash_BYTES_MIN,
    # 16, is its advice for a collision-resistant hash, not a limit of the function) and keys of up
    # to crypto_generichash_KEYBYTES_MAX (64) bytes
    int crypto_generichash(unsigned char *out, size_t outlen, const unsigned char *inp,
                           unsigned long long inlen, const unsigned char *key, size_t keylen)
    size_t crypto_generichash_KEYBYTES_MAX


if sodium_init() < 0:
    raise ImportError("rfqcore._wire: libsodium could not be initialised (sodium_init)")

DEF MAC_LEN = 8  # BLAKE2b-64, as schema.request_mac (tests/test_wire_codec.py compares the two)

DEF MAX_TYPE = 128
DEF MAX_FIELDS = 16
DEF HDR = 32
DEF BUF_SIZE = 256

# field kinds
DEF K_U8 = 1
DEF K_U16 = 2
DEF K_U64 = 3
DEF K_I64 = 4
DEF K_B32 = 5

cdef uint32_t MAGIC = _schema.MAGIC
cdef uint8_t VERSION = _schema.VERSION
cdef int T_RFQ = _schema.MsgType.RFQ
cdef int T_ACCEPT = _schema.MsgType.ACCEPT
cdef int T_CANCEL = _schema.MsgType.CANCEL
cdef int T_LOGON = _schema.MsgType.LOGON
cdef int T_OP_LOGON = _schema.MsgType.OP_LOGON
cdef int T_LOGOUT = _schema.MsgType.LOGOUT
cdef int T_CONTROL = _schema.MsgType.CONTROL
cdef int T_EXEC_RESEND = _schema.MsgType.EXEC_RESEND
cdef int T_QUOTE = _schema.MsgType.QUOTE
cdef int QF_BUY = _schema.QuoteFlag.BUY
cdef int QF_SELL = _schema.QuoteFlag.SELL
cdef int QF_PARTIAL = _schema.QuoteFlag.PARTIAL_OK

cdef int NFIELDS[MAX_TYPE]    # fields of each type's body; -1: not a v1 type
cdef int BODY_LEN[MAX_TYPE]
cdef int OFF[MAX_TYPE][MAX_FIELDS]   # byte offset of each field from the message start
cdef int KIND[MAX_TYPE][MAX_FIELDS]

_FIELD_NAMES = {}   # type -> the body NamedTuple's field names (error messages)
_TYPE_NAMES = {}    # type -> MsgType name
_KIND_NAMES = {K_U8: "u8", K_U16: "u16", K_U64: "u64", K_I64: "i64", K_B32: "32 bytes"}


def _fill_tables():
    """Read each v1 body format (``struct`` syntax, little-endian, no implicit alignment) of
    schema.SPECS into OFF/KIND/NFIELDS/BODY_LEN."""
    cdef int t, i, off, n, k
    for t in range(MAX_TYPE):
        NFIELDS[t] = -1
        BODY_LEN[t] = -1
    sizes = {"B": (K_U8, 1), "H": (K_U16, 2), "Q": (K_U64, 8), "q": (K_I64, 8)}
    for t, spec in _schema.SPECS.items():
        if t >= MAX_TYPE:
            raise ImportError(f"rfqcore._wire: message type {t} is beyond its table")
        fmt = spec.body_fmt
        off, n, i = HDR, 0, 0
        while i < len(fmt):
            j = i
            while fmt[j].isdigit():
                j += 1
            count = int(fmt[i:j]) if j > i else 1
            c = fmt[j]
            if c == "x":
                off += count
            elif c == "s" and count == 32:
                OFF[t][n], KIND[t][n] = off, K_B32
                off += 32
                n += 1
            elif c in sizes and count == 1:
                k, size = sizes[c]
                OFF[t][n], KIND[t][n] = off, k
                off += size
                n += 1
            else:
                raise ImportError(f"rfqcore._wire: format {fmt!r} of type {t} is not one it can read")
            i = j + 1
        if off - HDR != spec.body_len or n != len(spec.cls._fields) or n > MAX_FIELDS:
            raise ImportError(f"rfqcore._wire: type {t}: read {off - HDR} bytes / {n} fields of {fmt!r}")
        NFIELDS[t] = n
        BODY_LEN[t] = spec.body_len
        _FIELD_NAMES[t] = spec.cls._fields
        _TYPE_NAMES[t] = spec.msg_type.name


_fill_tables()


# ---- little-endian loads and stores (one instruction each at -O3 on x86) ---------------------

cdef inline uint16_t ld16(const unsigned char *q) noexcept nogil:
    return <uint16_t>q[0] | (<uint16_t>q[1] << 8)


cdef inline uint32_t ld32(const unsigned char *q) noexcept nogil:
    return <uint32_t>q[0] | (<uint32_t>q[1] << 8) | (<uint32_t>q[2] << 16) | (<uint32_t>q[3] << 24)


cdef inline uint64_t ld64(const unsigned char *q) noexcept nogil:
    return <uint64_t>ld32(q) | (<uint64_t>ld32(q + 4) << 32)


cdef inline void st16(unsigned char *q, uint16_t v) noexcept nogil:
    q[0] = <unsigned char>v
    q[1] = <unsigned char>(v >> 8)


cdef inline void st64(unsigned char *q, uint64_t v) noexcept nogil:
    cdef int i
    for i in range(8):
        q[i] = <unsigned char>(v >> (8 * i))


# ---- decoding ---------------------------------------------------------------------------------

# validation outcome
DEF OK = 0
DEF E_SHORT_HEADER = 1
DEF E_MAGIC = 2
DEF E_VERSION = 3
DEF E_ROLE = 4
DEF E_TYPE = 5
DEF E_BODY_LEN = 6
DEF E_TRUNCATED = 7
DEF E_TRAILING = 8


cdef inline int _check(const unsigned char *p, Py_ssize_t n) noexcept nogil:
    """schema.decode's checks, in its order."""
    cdef int t
    if n < HDR:
        return E_SHORT_HEADER
    if ld32(p) != MAGIC:
        return E_MAGIC
    if p[4] != VERSION:
        return E_VERSION
    if p[26] > 1:
        return E_ROLE
    t = p[5]
    if t >= MAX_TYPE or NFIELDS[t] < 0:
        return E_TYPE
    if ld16(p + 6) != BODY_LEN[t]:
        return E_BODY_LEN
    if n < HDR + BODY_LEN[t]:
        return E_TRUNCATED
    if n > HDR + BODY_LEN[t]:
        return E_TRAILING
    return OK


cdef object _body(const unsigned char *p, int t):
    cdef int i, k, n = NFIELDS[t]
    cdef const unsigned char *q
    cdef object v
    cdef tuple out = PyTuple_New(n)
    for i in range(n):
        q = p + OFF[t][i]
        k = KIND[t][i]
        if k == K_U64:
            v = PyLong_FromUnsignedLongLong(ld64(q))
        elif k == K_I64:
            v = PyLong_FromLongLong(<int64_t>ld64(q))
        elif k == K_U16:
            v = PyLong_FromLong(ld16(q))
        elif k == K_U8:
            v = PyLong_FromLong(q[0])
        else:
            v = PyBytes_FromStringAndSize(<const char *>q, 32)
        Py_INCREF(v)
        PyTuple_SET_ITEM(out, i, v)
    return out


cdef object _header(const unsigned char *p):
    return _schema.Header(ld32(p), p[4], p[5], ld16(p + 6), ld64(p + 8), ld64(p + 16), ld16(p + 24), p[26])


cdef int _raise(int code, const unsigned char *p, Py_ssize_t n) except -1:
    """The SchemaError schema.decode raises for the same bytes (same class, message, header)."""
    if code == E_SHORT_HEADER:
        raise _schema.Truncated(f"{n} bytes, shorter than the {HDR}-byte header")
    h = _header(p)
    if code == E_MAGIC:
        raise _schema.BadMagic(f"magic {h.magic:#010x}, expected {MAGIC:#010x} ('RFQG')", h)
    if code == E_VERSION:
        raise _schema.UnsupportedVersion(f"schema version {h.version}, this side speaks {VERSION}", h)
    if code == E_ROLE:
        raise _schema.BadField(f"role {h.role}, expected 0 (client) or 1 (operator)", h)
    if code == E_TYPE:
        raise _schema.UnknownType(f"unknown message type {h.type}", h)
    name, expected = _TYPE_NAMES[h.type], BODY_LEN[h.type]
    if code == E_BODY_LEN:
        raise _schema.LengthMismatch(f"{name}: body_len {h.body_len}, expected {expected}", h)
    if code == E_TRUNCATED:
        raise _schema.Truncated(f"{name}: {n} bytes, expected {HDR + expected}", h)
    raise _schema.LengthMismatch(f"{name}: {n} bytes, expected {HDR + expected} ({n - HDR - expected} trailing)", h)


cdef inline tuple _decoded(const unsigned char *p):
    return (p[5], ld64(p + 8), ld64(p + 16), ld16(p + 24), p[26], _body(p, p[5]))


def decode(buf):
    """``(type, session, seq, id, role, body)`` of one whole message; ``body`` is a tuple of the
    body's fields in wire order. Raises what ``schema.decode`` raises for the same bytes."""
    cdef Py_buffer view
    cdef int code
    PyObject_GetBuffer(buf, &view, PyBUF_SIMPLE)
    try:
        code = _check(<const unsigned char *>view.buf, view.len)
        if code != OK:
            _raise(code, <const unsigned char *>view.buf, view.len)
        return _decoded(<const unsigned char *>view.buf)
    finally:
        PyBuffer_Release(&view)


def try_decode(buf):
    """:func:`decode`, or ``None`` where it would raise (the client's receive path)."""
    cdef Py_buffer view
    cdef const unsigned char *p
    if type(buf) is bytes:  # no buffer export needed
        p = <const unsigned char *>PyBytes_AS_STRING(buf)
        if _check(p, len(<bytes>buf)) != OK:
            return None
        return _decoded(p)
    PyObject_GetBuffer(buf, &view, PyBUF_SIMPLE)
    try:
        p = <const unsigned char *>view.buf
        if _check(p, view.len) != OK:
            return None
        return _decoded(p)
    finally:
        PyBuffer_Release(&view)


def body_len(int t):
    """Body size of message type ``t``; ``ValueError`` if v1 has no such type."""
    if t < 0 or t >= MAX_TYPE or NFIELDS[t] < 0:
        raise ValueError(f"unknown message type {t}")
    return BODY_LEN[t]


# ---- encoding ---------------------------------------------------------------------------------

cdef int _bad(int t, int i, object v, str why) except -1:
    kind = _KIND_NAMES[KIND[t][i]]
    raise ValueError(f"{_TYPE_NAMES[t]}: {_FIELD_NAMES[t][i]} = {v!r} does not fit its wire type {kind}"
                     + (f" ({why})" if why else ""))


cdef int _put(unsigned char *p, int t, int i, object v) except -1:
    """Field ``i`` of type ``t``'s body, range-checked, at its offset from ``p``."""
    cdef int k = KIND[t][i]
    cdef unsigned char *q = p + OFF[t][i]
    cdef uint64_t u
    cdef int64_t s
    cdef Py_buffer view
    if k == K_B32:
        if isinstance(v, (bytes, bytearray)) and len(v) == 32:
            PyObject_GetBuffer(v, &view, PyBUF_SIMPLE)
            memcpy(q, view.buf, 32)
            PyBuffer_Release(&view)
            return 0
        return _bad(t, i, v, "")
    if type(v) is not int:
        try:
            v = PyNumber_Index(v)
        except TypeError:
            return _bad(t, i, v, "not an integer")
    try:
        if k == K_I64:
            s = PyLong_AsLongLong(v)
            st64(q, <uint64_t>s)
            return 0
        u = PyLong_AsUnsignedLongLong(v)
    except OverflowError:
        return _bad(t, i, v, "")
    if k == K_U64:
        st64(q, u)
    elif k == K_U16:
        if u > 0xFFFF:
            return _bad(t, i, v, "")
        st16(q, <uint16_t>u)
    else:
        if u > 0xFF:
            return _bad(t, i, v, "")
        q[0] = <unsigned char>u
    return 0


cdef inline void _header_at(unsigned char *p, int t, uint64_t session, uint64_t seq, int id_, int role) noexcept nogil:
    p[0] = <unsigned char>MAGIC
    p[1] = <unsigned char>(MAGIC >> 8)
    p[2] = <unsigned char>(MAGIC >> 16)
    p[3] = <unsigned char>(MAGIC >> 24)
    p[4] = VERSION
    p[5] = <unsigned char>t
    st16(p + 6, <uint16_t>BODY_LEN[t])
    st64(p + 8, session)
    st64(p + 16, seq)
    st16(p + 24, <uint16_t>id_)
    p[26] = <unsigned char>role


cdef inline int _put_header(unsigned char *p, int t, object session, object seq, int id_, int role) except -1:
    cdef uint64_t s, n
    try:
        s = session
        n = seq
    except (OverflowError, TypeError):
        raise ValueError(f"{_TYPE_NAMES[t]}: header session {session!r} / seq {seq!r} must fit u64") from None
    if id_ < 0 or id_ > 0xFFFF or role < 0 or role > 0xFF:
        raise ValueError(f"{_TYPE_NAMES[t]}: header id {id_} must fit u16 and role {role} u8")
    _header_at(p, t, s, n, id_, role)
    return 0


cdef int _put_body(unsigned char *p, int t, tuple body) except -1:
    """The message of type ``t`` at ``p`` (which has room for it) zeroed, pad bytes included, and
    its ``body`` (fields in wire order) written; the header is the caller's to write. Returns the
    message's length."""
    cdef int i
    if t < 0 or t >= MAX_TYPE or NFIELDS[t] < 0:
        raise ValueError(f"unknown message type {t}")
    if len(body) != NFIELDS[t]:
        raise ValueError(f"{_TYPE_NAMES[t]}: {len(body)} fields given, its body has {NFIELDS[t]} "
                         f"({', '.join(_FIELD_NAMES[t])})")
    memset(p, 0, HDR + BODY_LEN[t])
    for i in range(NFIELDS[t]):
        _put(p, t, i, body[i])
    return HDR + BODY_LEN[t]


cdef int _encode(unsigned char *p, int t, object session, object seq, int id_, int role, tuple body) except -1:
    """The whole message of type ``t`` at ``p`` (which has room for it)."""
    cdef int n = _put_body(p, t, body)
    _put_header(p, t, session, seq, id_, role)
    return n


def encode(int t, session, seq, int id, int role, tuple body):
    """The complete message of type ``t`` with header ``session`` / ``seq`` / ``id`` / ``role``
    and ``body`` (its fields in wire order, as ``schema.<Type>Msg`` has them)."""
    cdef unsigned char buf[BUF_SIZE]
    cdef int n = _encode(buf, t, session, seq, id, role, body)
    return PyBytes_FromStringAndSize(<const char *>buf, n)


cdef class Encoder:
    """One principal's requests (header ``id`` / ``role``) written into a reusable buffer.

    Each method writes a whole message and returns a ``memoryview`` of it, valid until the
    next call (offer it to Aeron at once; callers serialise use, as the client's send lock
    does). ``seq`` is the header's; the rest are the body's fields. Every request but a logon
    is signed: its header ``session`` field is ``schema.request_mac(key, message)`` (libsodium's
    keyed BLAKE2b-64), with ``key`` the session key (set it after the logon; at most 64 bytes;
    a request without one is a ValueError).
    """

    cdef readonly int id
    cdef readonly int role
    cdef bytes _key
    cdef bytearray _buf
    cdef unsigned char *_p
    cdef list _views  # memoryview of the first n bytes, by type

    def __init__(self, int id, int role):
        if id < 0 or id > 0xFFFF or role < 0 or role > 1:
            raise ValueError(f"Encoder: id {id} must fit u16 and role {role} be 0 or 1")
        self.id = id
        self.role = role
        self._key = b""
        self._buf = bytearray(BUF_SIZE)  # never resized: the views below pin it
        self._p = <unsigned char *>PyByteArray_AS_STRING(self._buf)
        mv = memoryview(self._buf)
        self._views = [mv[: HDR + BODY_LEN[t]] if NFIELDS[t] >= 0 else None for t in range(MAX_TYPE)]

    @property
    def key(self):
        """The session key requests are signed with (``b""``: none, no request can be signed)."""
        return self._key

    @key.setter
    def key(self, value):
        cdef bytes k = bytes(value)
        if len(k) > crypto_generichash_KEYBYTES_MAX:
            raise ValueError(f"Encoder: a session key of {len(k)} bytes; BLAKE2b takes at most "
                             f"{crypto_generichash_KEYBYTES_MAX}")
        self._key = k

    cdef inline object _start(self, int t, object seq):
        memset(self._p, 0, HDR + BODY_LEN[t])
        _put_header(self._p, t, 0, seq, self.id, self.role)
        return self._views[t]

    cdef int _sign(self, int t) except -1:
        """Set the session field of the message of type ``t`` in the buffer (zero until then)
        to its MAC under the session key."""
        cdef unsigned char mac[MAC_LEN]
        cdef Py_ssize_t klen = len(self._key)
        if klen == 0:
            raise ValueError("Encoder: no session key to sign the request with (log on first)")
        crypto_generichash(mac, MAC_LEN, self._p, HDR + BODY_LEN[t],
                           <const unsigned char *>PyBytes_AS_STRING(self._key), klen)
        memcpy(self._p + 8, mac, MAC_LEN)
        return 0

    cdef inline object _signed(self, int t, object view):
        self._sign(t)
        return view

    def encode(self, int t, session, seq, *body):
        """Any message type, body fields as positional arguments; ``session`` as given (not
        signed: for tests and hand-built messages)."""
        _encode(self._p, t, session, seq, self.id, self.role, body)
        return self._views[t]

    def logon(self, seq, nonce, timestamp, mac):
        """LOGON (client) or OP_LOGON (operator): session 0, not signed (``mac`` is the logon's)."""
        cdef int t = T_LOGON if self.role == 0 else T_OP_LOGON
        cdef unsigned char *p = self._p
        v = self._start(t, seq)
        _put(p, t, 0, nonce)
        _put(p, t, 1, timestamp)
        _put(p, t, 2, mac)
        return v

    def logout(self, seq):
        return self._signed(T_LOGOUT, self._start(T_LOGOUT, seq))

    def rfq(self, seq, rfq_id, instrument, side, flags, qty, limit, ttl_ns, send_time):
        cdef int t = T_RFQ
        cdef unsigned char *p = self._p
        v = self._start(t, seq)
        _put(p, t, 0, rfq_id)
        _put(p, t, 1, instrument)
        _put(p, t, 2, side)
        _put(p, t, 3, flags)
        _put(p, t, 4, qty)
        _put(p, t, 5, limit)
        _put(p, t, 6, ttl_ns)
        _put(p, t, 7, send_time)
        return self._signed(t, v)

    def accept(self, seq, quote_id, accept_id, instrument, side, price, qty):
        cdef int t = T_ACCEPT
        cdef unsigned char *p = self._p
        v = self._start(t, seq)
        _put(p, t, 0, quote_id)
        _put(p, t, 1, accept_id)
        _put(p, t, 2, instrument)
        _put(p, t, 3, side)
        _put(p, t, 4, price)
        _put(p, t, 5, qty)
        return self._signed(t, v)

    def cancel(self, seq, quote_id):
        cdef int t = T_CANCEL
        v = self._start(t, seq)
        _put(self._p, t, 0, quote_id)
        return self._signed(t, v)

    def exec_resend(self, seq, after_trade_id):
        cdef int t = T_EXEC_RESEND
        v = self._start(t, seq)
        _put(self._p, t, 0, after_trade_id)
        return self._signed(t, v)

    def control(self, seq, control_id, command, field, instrument, scope, value, aux):
        cdef int t = T_CONTROL
        cdef unsigned char *p = self._p
        v = self._start(t, seq)
        _put(p, t, 0, control_id)
        _put(p, t, 1, command)
        _put(p, t, 2, field)
        _put(p, t, 3, instrument)
        _put(p, t, 4, scope)
        _put(p, t, 5, value)
        _put(p, t, 6, aux)
        return self._signed(t, v)


# ---- the client's request path ------------------------------------------------------------------

cdef class Pending:
    """One request's wait (``rfqcore.client``): registered under ``keys`` — the key of the
    answer that completes it and ``("seq", header seq)``, the key of a gateway ``REJECT`` —
    before the request is offered. Whoever answers it sets ``result`` or ``error``, then
    ``done`` and ``event`` (an ``Event`` when a poller thread answers, else ``None``)."""

    cdef public tuple keys
    cdef public object result
    cdef public object error
    cdef public bint done
    cdef public object event
    cdef public long long deadline_ns

    def __init__(self, tuple keys, bint threaded):
        self.keys = keys
        self.result = None
        self.error = None
        self.done = False
        self.event = _Event() if threaded else None
        self.deadline_ns = 0

    @classmethod
    def __class_getitem__(cls, item):
        return cls  # Pending[Quote] in annotations: what answers it


cdef inline long long _monotonic_ns() noexcept nogil:
    cdef timespec ts
    clock_gettime(CLOCK_MONOTONIC, &ts)  # time.monotonic_ns()'s clock
    return <long long>ts.tv_sec * 1_000_000_000 + ts.tv_nsec


def wait(Pending p, sub, handler, bint yield_, long long timeout_ns):
    """Poll ``sub`` (``poll(handler, limit) -> fragments``) into ``handler`` until ``p`` is done
    (True) or, on an empty poll, the clock (``time.monotonic_ns``) is past ``p.deadline_ns``
    (False), which is set to now + ``timeout_ns`` first and read again after each empty poll
    (an answer may extend it). ``yield_``: ``sched_yield`` after each empty poll, without the GIL."""
    return _wait(p, sub, handler, yield_, timeout_ns)


cdef bint _wait(Pending p, sub, handler, bint yield_, long long timeout_ns) except -1:
    p.deadline_ns = _monotonic_ns() + timeout_ns
    poll = sub.poll
    while not p.done:
        if poll(handler, 16) == 0:
            if p.done:
                break
            if _monotonic_ns() > p.deadline_ns:
                return False
            if yield_:
                with nogil:
                    sched_yield()
    return True


cdef class Sender(Encoder):
    """An :class:`Encoder` that also sends: one compiled call takes the next header ``seq``,
    writes and signs the request (all but a logon), registers its :class:`Pending` wait in
    ``pending`` (:meth:`request`) and offers the message to ``pub`` (anything with Aeron's
    ``offer(buffer) -> True | code``), all under the sender's lock, so requests from several
    threads keep their seq order on the wire. An offer that does not return ``True`` (back
    pressure, not connected) is handed to ``offer_slow(view)``, which retries or raises.
    """

    cdef public object pub
    cdef public object offer_slow
    cdef public dict pending
    cdef uint64_t _seq
    cdef PyThread_type_lock _lock

    def __cinit__(self, *args, **kwargs):
        self._lock = PyThread_allocate_lock()
        if self._lock == NULL:
            raise MemoryError("Sender: no lock")

    def __dealloc__(self):
        if self._lock != NULL:
            PyThread_free_lock(self._lock)

    def __init__(self, int id, int role, dict pending, offer_slow):
        Encoder.__init__(self, id, role)
        self.pub = None
        self.offer_slow = offer_slow
        self.pending = pending
        self._seq = 0

    @property
    def seq(self):
        """The last header seq taken (0: none yet)."""
        return self._seq

    cdef inline void _acquire(self) noexcept:
        if not PyThread_acquire_lock(self._lock, NOWAIT_LOCK):
            with nogil:
                PyThread_acquire_lock(self._lock, WAIT_LOCK)

    cdef int _write(self, int t, uint64_t seq, tuple fields) except -1:
        """Request type ``t`` with ``fields`` (its body, wire order) in the buffer, signed."""
        _put_body(self._p, t, fields)
        _header_at(self._p, t, 0, seq, self.id, self.role)  # seq a C integer: no check to make
        if t != T_LOGON and t != T_OP_LOGON:
            self._sign(t)
        return 0

    cdef int _offer(self, object view) except -1:
        if self.pub.offer(view) is not True:
            self.offer_slow(view)
        return 0

    def send(self, int t, *fields):
        """Send request type ``t`` (body ``fields`` in wire order) under the next seq; returns
        the seq."""
        self._acquire()
        try:
            self._seq += 1
            self._write(t, self._seq, fields)
            self._offer(self._views[t])
            return self._seq
        finally:
            PyThread_release_lock(self._lock)

    def request(self, kind, ref, bint threaded, int t, *fields):
        """:meth:`send`, with a new :class:`Pending` registered under ``(kind, ref)`` and
        ``("seq", seq)`` before the offer; returns it. When the encode or the offer raises,
        neither key stays registered."""
        return self._request(kind, ref, threaded, t, fields)

    def call(self, kind, ref, sub, handler, bint yield_, long long timeout_ns, int t, *fields):
        """:meth:`request` (not threaded), then :func:`wait` on it: one compiled call for a
        blocking request polled by its caller. Returns the :class:`Pending`, done or not (the
        caller raises its error or the timeout and unregisters a wait that timed out)."""
        cdef Pending p = self._request(kind, ref, False, t, fields)
        _wait(p, sub, handler, yield_, timeout_ns)
        return p

    cdef Pending _request(self, kind, ref, bint threaded, int t, tuple fields):
        cdef Pending p = Pending.__new__(Pending)
        cdef tuple key = (kind, ref)
        cdef tuple seq_key
        cdef dict pending = self.pending
        p.event = _Event() if threaded else None
        self._acquire()
        try:
            self._seq += 1
            seq_key = ("seq", self._seq)
            p.keys = (key, seq_key)
            pending[key] = p
            pending[seq_key] = p
            try:
                self._write(t, self._seq, fields)
                self._offer(self._views[t])
            except BaseException:
                pending.pop(key, None)
                pending.pop(seq_key, None)
                raise
            return p
        finally:
            PyThread_release_lock(self._lock)

    def next_seq(self):
        """Take and return the next header seq (for a hand-built message)."""
        cdef uint64_t seq
        self._acquire()
        self._seq += 1
        seq = self._seq
        PyThread_release_lock(self._lock)
        return seq

    def send_raw(self, data):
        """Offer ``data`` as it is (diagnostics and tests), in order with the requests."""
        self._acquire()
        try:
            self._offer(data)
        finally:
            PyThread_release_lock(self._lock)


# ---- the client's receive path ------------------------------------------------------------------

cdef extern from "Python.h":
    ctypedef struct PyMemberDef:
        const char *name
        int type
        Py_ssize_t offset
    ctypedef struct PyMemberDescrObject:
        PyMemberDef *d_member
    int Py_T_OBJECT_EX
    object PyType_GenericAlloc(PyTypeObject *t, Py_ssize_t n)  # a new reference (NULL raises)


cdef class _SlotsBuilder:
    """Makes instances of a ``@dataclass(slots=True)`` class without running its ``__init__``:
    the object is allocated and each field's slot written at the offset its member descriptor
    gives (every field, so none is left unset). ``names`` is the order of :meth:`set`'s index."""

    cdef object cls
    cdef Py_ssize_t off[MAX_FIELDS]
    cdef int n

    def __init__(self, cls, tuple names):
        all_fields = tuple(f.name for f in _dc_fields(cls))
        if sorted(all_fields) != sorted(names) or len(names) > MAX_FIELDS:
            raise ImportError(f"rfqcore._wire: {cls.__name__} has the fields {all_fields}, this builder sets {names}")
        self.cls = cls
        self.n = len(names)
        for i, name in enumerate(names):
            d = cls.__dict__.get(name)
            if type(d) is not _MemberDescriptor or (<PyMemberDescrObject *>d).d_member.type != Py_T_OBJECT_EX:
                raise ImportError(f"rfqcore._wire: {cls.__name__}.{name} is not a slot")
            self.off[i] = (<PyMemberDescrObject *>d).d_member.offset

    cdef inline object new(self):
        return PyType_GenericAlloc(<PyTypeObject *>self.cls, 0)  # every slot NULL until set

    cdef inline void set(self, object obj, int i, object v) noexcept:
        cdef PyObject **slot = <PyObject **>((<char *><PyObject *>obj) + self.off[i])
        cdef PyObject *old = slot[0]
        Py_INCREF(v)
        slot[0] = <PyObject *>v
        Py_XDECREF(old)


# Quote's fields in the order the receiver sets them
_QUOTE_FIELDS = ("client", "composite", "quote_id", "rfq_id", "valid_until", "sides", "partial_ok", "ts_send",
                 "instrument", "price_decimals", "qty_decimals", "core_time", "received_ns", "base", "currency")
_SIDE_FIELDS = ("side", "price_raw", "qty_raw")


cdef inline object _field(const unsigned char *p, int t, int i):
    cdef const unsigned char *q = p + OFF[t][i]
    cdef int k = KIND[t][i]
    if k == K_U64:
        return PyLong_FromUnsignedLongLong(ld64(q))
    if k == K_I64:
        return PyLong_FromLongLong(<int64_t>ld64(q))
    if k == K_U16:
        return PyLong_FromLong(ld16(q))
    return PyLong_FromLong(q[0])


cdef class Receiver:
    """The client's handler of its response stream's fragments (``handler(buffer, header)``, as
    Aeron's ``poll`` calls it).

    A whole, valid ``QUOTE`` carrying ``token`` (non-zero) from the gateway's publication
    (``header.session_id == gw_session``), for a composite whose units are in ``units`` (the
    client's ``CompositeUnits`` cache), is handled here without running Python: it becomes a
    ``quote_cls`` (``rfqcore.rfq.Quote`` with ``side_cls`` sides, built by writing their slots),
    completes the :class:`Pending` registered under ``("rfq", rfq_id)`` and goes to ``on_quote``.
    Every other fragment goes to ``slow(buffer, header)`` (the client's Python handler), which
    does the same for a QUOTE it is given: the two are checked against each other by
    tests/test_wire_codec.py.
    """

    cdef public unsigned long long token
    cdef public long long gw_session
    cdef public int client
    cdef public bint quotes  # handle QUOTEs here (an operator's receiver sends everything to slow)
    cdef public dict pending
    cdef public dict units
    cdef public object on_quote
    cdef public object slow
    cdef object buy, sell
    cdef _SlotsBuilder quote_b, side_b

    def __init__(self, int client, bint quotes, dict pending, dict units, slow, quote_cls, side_cls, buy, sell):
        self.token = 0
        self.gw_session = -1
        self.client = client
        self.quotes = quotes
        self.pending = pending
        self.units = units
        self.on_quote = None
        self.slow = slow
        self.buy, self.sell = buy, sell
        self.quote_b = _SlotsBuilder(quote_cls, _QUOTE_FIELDS)
        self.side_b = _SlotsBuilder(side_cls, _SIDE_FIELDS)

    cdef object _side(self, object side, object price, object qty):
        s = self.side_b.new()
        self.side_b.set(s, 0, side)
        self.side_b.set(s, 1, price)
        self.side_b.set(s, 2, qty)
        return s

    cdef object _quote(self, const unsigned char *p, tuple u, object rfq_id):
        """The Quote of the QUOTE message at ``p`` (checked whole), composite units ``u``."""
        cdef int t = T_QUOTE
        cdef int fl = p[OFF[t][3]]
        cdef _SlotsBuilder b = self.quote_b
        if fl & QF_BUY:
            if fl & QF_SELL:
                sides = (self._side(self.buy, _field(p, t, 4), _field(p, t, 5)),
                         self._side(self.sell, _field(p, t, 6), _field(p, t, 7)))
            else:
                sides = (self._side(self.buy, _field(p, t, 4), _field(p, t, 5)),)
        elif fl & QF_SELL:
            sides = (self._side(self.sell, _field(p, t, 6), _field(p, t, 7)),)
        else:
            sides = ()
        q = b.new()
        b.set(q, 0, self.client)
        b.set(q, 1, _field(p, t, 2))    # composite
        b.set(q, 2, _field(p, t, 0))    # quote_id
        b.set(q, 3, rfq_id)
        b.set(q, 4, _field(p, t, 8))    # valid_until
        b.set(q, 5, sides)
        b.set(q, 6, (fl & QF_PARTIAL) != 0)
        b.set(q, 7, 0)                  # ts_send: 0 over Aeron
        b.set(q, 8, u[0])               # instrument name
        b.set(q, 9, u[1])               # price_decimals
        b.set(q, 10, u[2])              # qty_decimals
        b.set(q, 11, _field(p, t, 9))   # core_time
        b.set(q, 12, PyLong_FromLongLong(_monotonic_ns()))  # received_ns
        b.set(q, 13, u[3])              # base
        b.set(q, 14, u[4])              # currency
        return q

    def __call__(self, buf, hdr):
        cdef Py_buffer view
        cdef const unsigned char *p
        cdef Py_ssize_t n
        cdef bint got_view = False
        cdef object q = None
        cdef object rfq_id = None
        if type(buf) is bytes:
            p = <const unsigned char *>PyBytes_AS_STRING(buf)
            n = len(<bytes>buf)
        else:
            PyObject_GetBuffer(buf, &view, PyBUF_SIMPLE)
            got_view = True
            p = <const unsigned char *>view.buf
            n = view.len
        try:
            if (self.quotes and self.token != 0 and _check(p, n) == OK and p[5] == T_QUOTE
                    and ld64(p + 8) == self.token):
                u = self.units.get(ld16(p + OFF[T_QUOTE][2]))
                if u is not None and hdr.session_id == self.gw_session:
                    rfq_id = _field(p, T_QUOTE, 1)
                    q = self._quote(p, <tuple>u, rfq_id)
        finally:
            if got_view:
                PyBuffer_Release(&view)
        if q is None:
            self.slow(buf, hdr)
            return
        pend = self.pending.get(("rfq", rfq_id))
        if pend is not None:
            for k in (<Pending>pend).keys:
                self.pending.pop(k, None)
            (<Pending>pend).result = q
            (<Pending>pend).error = None
            (<Pending>pend).done = True
            if (<Pending>pend).event is not None:
                (<Pending>pend).event.set()
        if self.on_quote is not None:
            self.on_quote(q)
