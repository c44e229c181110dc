# cython: language_level=3
"""Exact decimal-string -> fixed-point conversion and the per-level decode loop.

No floating point anywhere: venue decimal strings are scanned byte by byte into an ``int64``
scaled by ``10**decimals``. The level loop walks orjson's lists with borrowed references and
writes straight into a RECORD_DTYPE buffer, so decoding a level creates no Python object.

Accepted syntax: ``[-]digits[.digits]`` (ASCII, at least one digit on each side of a ``.``).
Digits beyond the scale are accepted only when they are zeros (``"61737.63000000"`` at 2
decimals is exactly 6173763). Rejected, each with its own ``rfqcore.errors`` class: empty or
malformed strings, exponents, ``+``, spaces (``BadDecimal``), non-zero digits beyond the scale
(``PrecisionLoss``), magnitudes beyond ``2**63 - 1`` (``DecimalOverflow``), a ``-`` where the
value must be non-negative (``NegativeDecimal``; the codec raises ``NegativeQuantity`` /
``NonPositivePrice`` instead).
"""

cimport numpy as cnp
from cpython.ref cimport PyObject
from libc.stdint cimport INT64_MAX, int64_t, uint8_t, uint16_t, uint64_t
from libc.string cimport memcpy

from rfq_ring cimport rfq_record_t

import numpy as np

from rfqcore.errors import (
    BadDecimal, DecimalOverflow, MalformedMessage, NegativeDecimal, NegativeQuantity,
    NonPositivePrice, OffLotQuantity, OffTickPrice, PrecisionLoss, QuantityTooLarge,
)
from rfqcore.records import RECORD_DTYPE

cnp.import_array()

cdef extern from "Python.h":
    # Borrowed-reference accessors: no refcount traffic in the level loop.
    PyObject *PyList_GET_ITEM(PyObject *lst, Py_ssize_t i)
    Py_ssize_t PyList_GET_SIZE(PyObject *lst)
    bint PyList_CheckExact(PyObject *o)
    bint PyUnicode_Check(PyObject *o)
    bint PyBytes_Check(PyObject *o)
    const char *PyUnicode_AsUTF8AndSize(PyObject *o, Py_ssize_t *size) except NULL
    char *PyBytes_AS_STRING(PyObject *o)
    Py_ssize_t PyBytes_GET_SIZE(PyObject *o)

__all__ = [
    "parse_fixed", "format_fixed", "InstrumentCodec", "put_record", "or_flags", "copy_records",
    "MAX_DECIMALS",
]

MAX_DECIMALS = 18

# parse status codes
DEF OK = 0
DEF E_EMPTY = 1
DEF E_SYNTAX = 2
DEF E_PRECISION = 3
DEF E_OVERFLOW = 4

cdef int64_t[19] POW10
POW10[0] = 1
for _i in range(1, 19):
    POW10[_i] = POW10[_i - 1] * 10


cdef int _parse(const char *s, Py_ssize_t n, int decimals, int64_t *out, bint *neg) noexcept nogil:
    """Scan ``s[:n]`` into ``*out`` (signed, scaled by 10**decimals). Returns a status code."""
    cdef Py_ssize_t i = 0
    cdef uint64_t v = 0
    cdef uint64_t limit = <uint64_t>INT64_MAX
    cdef int d, frac = 0
    cdef Py_ssize_t int_digits = 0
    cdef unsigned char c
    neg[0] = False
    if n == 0:
        return E_EMPTY
    if s[0] == b'-':
        neg[0] = True
        i = 1
    while i < n:
        c = <unsigned char>s[i]
        if c < 48 or c > 57:
            break
        d = c - 48
        if v > (limit - d) // 10:
            return E_OVERFLOW
        v = v * 10 + d
        int_digits += 1
        i += 1
    if int_digits == 0:
        return E_SYNTAX
    if i < n:
        if s[i] != b'.':
            return E_SYNTAX
        i += 1
        if i == n:
            return E_SYNTAX
        while i < n:
            c = <unsigned char>s[i]
            if c < 48 or c > 57:
                return E_SYNTAX
            d = c - 48
            if frac < decimals:
                if v > (limit - d) // 10:
                    return E_OVERFLOW
                v = v * 10 + d
                frac += 1
            elif d != 0:
                # keep scanning so that garbage later in the string is reported as syntax
                i += 1
                while i < n:
                    c = <unsigned char>s[i]
                    if c < 48 or c > 57:
                        return E_SYNTAX
                    i += 1
                return E_PRECISION
            i += 1
    if frac < decimals:
        if v > limit // <uint64_t>POW10[decimals - frac]:
            return E_OVERFLOW
        v *= <uint64_t>POW10[decimals - frac]
    out[0] = -<int64_t>v if neg[0] else <int64_t>v
    return OK


cdef inline const char *_chars(PyObject *o, Py_ssize_t *n) except? NULL:
    """UTF-8 view of a str (no copy for ASCII str) or bytes; NULL (no error set) otherwise."""
    if PyUnicode_Check(o):
        return PyUnicode_AsUTF8AndSize(o, n)
    if PyBytes_Check(o):
        n[0] = PyBytes_GET_SIZE(o)
        return PyBytes_AS_STRING(o)
    return NULL


cdef int _raise_parse(int code, object s, int decimals, str field, object instrument) except -1:
    if code == E_EMPTY:
        raise BadDecimal("empty decimal string", field=field, value=s, instrument=instrument)
    if code == E_SYNTAX:
        raise BadDecimal("not a plain decimal string", field=field, value=s, instrument=instrument)
    if code == E_PRECISION:
        raise PrecisionLoss(f"non-zero digits beyond {decimals} decimals", field=field, value=s,
                            instrument=instrument)
    if code == E_OVERFLOW:
        raise DecimalOverflow(f"does not fit int64 at {decimals} decimals", field=field, value=s,
                              instrument=instrument)
    raise AssertionError(f"unknown parse status {code}")


cdef int _check_decimals(int decimals) except -1:
    if decimals < 0 or decimals > 18:
        raise ValueError(f"decimals must be in 0..18, got {decimals}")
    return 0


def parse_fixed(s, int decimals, *, bint allow_negative=False, str field="value",
                instrument=None) -> int:
    """Exact fixed-point value of the decimal string ``s`` scaled by ``10**decimals``.

    ``s`` is ``str`` or ``bytes``. ``"61737.63000000"`` at 2 decimals -> ``6173763``.
    Raises ``TypeError`` for other types, ``ValueError`` for ``decimals`` outside 0..18, and
    the ``BadDecimal`` family (see the module doc) for bad input; ``field`` and ``instrument``
    are only used in error messages. ``"-0"`` is negative for ``allow_negative=False``.
    """
    _check_decimals(decimals)
    cdef Py_ssize_t n = 0
    cdef const char *p = _chars(<PyObject *>s, &n)
    cdef int64_t v = 0
    cdef bint neg = False
    cdef int code
    if p == NULL:
        raise TypeError(f"{field}: expected a decimal str or bytes, got {type(s).__name__}")
    code = _parse(p, n, decimals, &v, &neg)
    if code != OK:
        _raise_parse(code, s, decimals, field, instrument)
    if neg and not allow_negative:
        raise NegativeDecimal("negative value not allowed", field=field, value=s,
                              instrument=instrument)
    return v


def format_fixed(value: int, int decimals) -> str:
    """Inverse of :func:`parse_fixed`: ``format_fixed(6173763, 2) == "61737.63"`` (exact)."""
    _check_decimals(decimals)
    sign = "-" if value < 0 else ""
    digits = str(abs(int(value)))
    if decimals == 0:
        return sign + digits
    digits = digits.rjust(decimals + 1, "0")
    return f"{sign}{digits[:-decimals]}.{digits[-decimals:]}"


cdef class InstrumentCodec:
    """Fixed-point conversion and checks for one instrument, plus the level decode loop.

    Every price must be > 0 and a multiple of ``tick``; every quantity must be >= 0, a
    multiple of ``lot`` and <= ``max_qty``. ``name`` (``venue:symbol``) is used in errors.
    """

    cdef readonly int instrument
    cdef readonly int price_decimals
    cdef readonly int qty_decimals
    cdef readonly int64_t tick
    cdef readonly int64_t lot
    cdef readonly int64_t max_qty
    cdef readonly str name

    def __init__(self, int instrument, str name, int price_decimals, int qty_decimals,
                 int64_t tick, int64_t lot, int64_t max_qty) -> None:
        _check_decimals(price_decimals)
        _check_decimals(qty_decimals)
        if not 0 < instrument <= 0xFFFF:
            raise ValueError(f"{name}: instrument id must be in 1..65535, got {instrument}")
        if tick <= 0 or lot <= 0 or max_qty <= 0:
            raise ValueError(f"{name}: tick, lot and max_qty must be > 0 "
                             f"(got {tick}, {lot}, {max_qty})")
        self.instrument = instrument
        self.name = name
        self.price_decimals = price_decimals
        self.qty_decimals = qty_decimals
        self.tick = tick
        self.lot = lot
        self.max_qty = max_qty

    cdef inline int _decimal(self, PyObject *o, int decimals, str field, int64_t *out,
                             bint *neg) except -1:
        """Parse a decimal string at ``decimals`` places into ``out`` or raise a DecodeError."""
        cdef Py_ssize_t n = 0
        cdef const char *p = _chars(o, &n)
        cdef int code
        if p == NULL:
            raise MalformedMessage(f"expected a decimal string, got {type(<object>o).__name__}",
                                   field=field, value=<object>o, instrument=self.name)
        code = _parse(p, n, decimals, out, neg)
        if code != OK:
            _raise_parse(code, <object>o, decimals, field, self.name)
        return 0

    cdef int _price(self, PyObject *o, str field, int64_t *out) except -1:
        cdef bint neg = False
        self._decimal(o, self.price_decimals, field, out, &neg)
        if out[0] <= 0:
            raise NonPositivePrice("price must be > 0", field=field, value=<object>o,
                                   instrument=self.name)
        if out[0] % self.tick != 0:
            raise OffTickPrice(f"price is not a multiple of the tick ({self.tick} at "
                               f"{self.price_decimals} decimals)", field=field, value=<object>o,
                               instrument=self.name)
        return 0

    cdef int _qty(self, PyObject *o, str field, int64_t *out) except -1:
        cdef bint neg = False
        self._decimal(o, self.qty_decimals, field, out, &neg)
        if neg:  # includes "-0": a venue never sends a signed quantity
            raise NegativeQuantity("quantity must be >= 0", field=field, value=<object>o,
                                   instrument=self.name)
        if out[0] % self.lot != 0:
            raise OffLotQuantity(f"quantity is not a multiple of the lot ({self.lot} at "
                                 f"{self.qty_decimals} decimals)", field=field, value=<object>o,
                                 instrument=self.name)
        if out[0] > self.max_qty:
            raise QuantityTooLarge(f"quantity above max_qty {self.max_qty}", field=field,
                                   value=<object>o, instrument=self.name)
        return 0

    def price(self, s, str field="price") -> int:
        """Checked fixed-point price of a decimal string (see the class doc)."""
        cdef int64_t v = 0
        self._price(<PyObject *>s, field, &v)
        return v

    def qty(self, s, str field="qty") -> int:
        """Checked fixed-point quantity of a decimal string (see the class doc)."""
        cdef int64_t v = 0
        self._qty(<PyObject *>s, field, &v)
        return v

    def decode_levels(self, levels, int side, out, Py_ssize_t start, int kind, int flags,
                      int source, uint64_t seq, int64_t ts_event, int64_t ts_recv,
                      int64_t aux) -> int:
        """Write one record per ``[price, qty, ...]`` level of ``levels`` into ``out[start:]``.

        ``levels`` must be a list of lists of at least two decimal strings (Binance pairs,
        OKX 4-tuples; extra elements are ignored). Every record gets the given kind, side,
        flags, source, seq, timestamps and aux; ``ts_send`` is zeroed (the ring stamps it).
        Returns the number of records written (``len(levels)``). On any bad level raises the
        specific ``DecodeError`` naming the side and level index; records already written to
        ``out`` are then garbage and must be ignored. ``out`` must be a C-contiguous
        RECORD_DTYPE array with room for ``start + len(levels)`` records (else ``ValueError``).
        """
        cdef PyObject *lv = <PyObject *>levels
        cdef PyObject *level
        cdef Py_ssize_t i, n
        cdef rfq_record_t *r
        cdef int64_t px = 0, qty = 0
        cdef str sname = "bids" if side == 0 else "asks"
        if not PyList_CheckExact(lv):
            raise MalformedMessage(f"{sname} must be a list, got {type(levels).__name__}",
                                   field=sname, instrument=self.name)
        _check_out(out)
        n = PyList_GET_SIZE(lv)
        if start < 0 or start + n > cnp.PyArray_DIM(out, 0):
            raise ValueError(f"record buffer too small: need {start + n}, "
                             f"have {cnp.PyArray_DIM(out, 0)}")
        r = (<rfq_record_t *>cnp.PyArray_DATA(out)) + start
        for i in range(n):
            level = PyList_GET_ITEM(lv, i)
            if not PyList_CheckExact(level) or PyList_GET_SIZE(level) < 2:
                raise MalformedMessage("level must be a list [price, qty, ...]",
                                       field=f"{sname}[{i}]", value=<object>level,
                                       instrument=self.name)
            self._price(PyList_GET_ITEM(level, 0), sname, &px)
            self._qty(PyList_GET_ITEM(level, 1), sname, &qty)
            r.kind = <uint16_t>kind
            r.instrument = <uint16_t>self.instrument
            r.side = <uint8_t>side
            r.flags = <uint8_t>flags
            r.source = <uint16_t>source
            r.seq = seq
            r.ts_event = ts_event
            r.ts_recv = ts_recv
            r.price = px
            r.qty = qty
            r.aux = aux
            r.ts_send = 0
            r += 1
        return n

    def put(self, out, Py_ssize_t i, int kind, int side, int flags, int source, uint64_t seq,
            int64_t ts_event, int64_t ts_recv, price, qty, int64_t aux=0) -> None:
        """Parse and check ``price``/``qty`` strings, then write one record at ``out[i]``.

        Used for trades and BBO sides. Nothing is written when a check fails.
        """
        cdef int64_t px = 0, q = 0
        _check_out(out)
        if i < 0 or i >= cnp.PyArray_DIM(out, 0):
            raise IndexError(f"record index {i} outside buffer of {cnp.PyArray_DIM(out, 0)}")
        self._price(<PyObject *>price, "price", &px)
        self._qty(<PyObject *>qty, "qty", &q)
        _put(out, i, kind, self.instrument, side, flags, source, seq, ts_event, ts_recv, px, q, aux)

    def __repr__(self) -> str:
        return (f"InstrumentCodec({self.instrument}, {self.name!r}, price_decimals="
                f"{self.price_decimals}, qty_decimals={self.qty_decimals}, tick={self.tick}, "
                f"lot={self.lot}, max_qty={self.max_qty})")


cdef object _RECORD_DTYPE = RECORD_DTYPE


cdef inline int _check_out(object out) except -1:
    if not cnp.PyArray_Check(out):
        raise TypeError(f"out must be a RECORD_DTYPE numpy array, got {type(out).__name__}")
    if <object>cnp.PyArray_DESCR(out) is not _RECORD_DTYPE and out.dtype != _RECORD_DTYPE:
        raise TypeError(f"out must have dtype RECORD_DTYPE, got {out.dtype!r}")
    if (cnp.PyArray_NDIM(out) != 1 or not cnp.PyArray_IS_C_CONTIGUOUS(out)
            or not cnp.PyArray_ISWRITEABLE(out)):
        raise ValueError("out must be a writable 1-d C-contiguous RECORD_DTYPE array")
    return 0


cdef inline void _put(object out, Py_ssize_t i, int kind, int instrument, int side, int flags,
                      int source, uint64_t seq, int64_t ts_event, int64_t ts_recv, int64_t price,
                      int64_t qty, int64_t aux) noexcept:
    cdef rfq_record_t *r = (<rfq_record_t *>cnp.PyArray_DATA(out)) + i
    r.kind = <uint16_t>kind
    r.instrument = <uint16_t>instrument
    r.side = <uint8_t>side
    r.flags = <uint8_t>flags
    r.source = <uint16_t>source
    r.seq = seq
    r.ts_event = ts_event
    r.ts_recv = ts_recv
    r.price = price
    r.qty = qty
    r.aux = aux
    r.ts_send = 0


def put_record(out, Py_ssize_t i, int kind, int instrument, int side, int flags, int source,
               uint64_t seq, int64_t ts_event, int64_t ts_recv, int64_t price, int64_t qty,
               int64_t aux) -> None:
    """Write one record (already fixed-point) at ``out[i]``; ``ts_send`` is zeroed."""
    _check_out(out)
    if i < 0 or i >= cnp.PyArray_DIM(out, 0):
        raise IndexError(f"record index {i} outside buffer of {cnp.PyArray_DIM(out, 0)}")
    _put(out, i, kind, instrument, side, flags, source, seq, ts_event, ts_recv, price, qty, aux)


def or_flags(out, Py_ssize_t i, int flags) -> None:
    """``out[i].flags |= flags`` (e.g. mark the END record of a message)."""
    _check_out(out)
    if i < 0 or i >= cnp.PyArray_DIM(out, 0):
        raise IndexError(f"record index {i} outside buffer of {cnp.PyArray_DIM(out, 0)}")
    (<rfq_record_t *>cnp.PyArray_DATA(out))[i].flags |= <uint8_t>flags


def copy_records(out, Py_ssize_t i, src) -> int:
    """Copy all records of ``src`` into ``out[i:]``; returns ``len(src)``."""
    _check_out(out)
    if not cnp.PyArray_Check(src) or (<object>cnp.PyArray_DESCR(src) is not _RECORD_DTYPE
                                      and src.dtype != _RECORD_DTYPE):
        raise TypeError("src must be a RECORD_DTYPE array")
    if not cnp.PyArray_IS_C_CONTIGUOUS(src) or cnp.PyArray_NDIM(src) != 1:
        raise ValueError("src must be 1-d C-contiguous")
    cdef Py_ssize_t n = cnp.PyArray_DIM(src, 0)
    if i < 0 or i + n > cnp.PyArray_DIM(out, 0):
        raise ValueError(f"record buffer too small: need {i + n}, have {cnp.PyArray_DIM(out, 0)}")
    memcpy((<rfq_record_t *>cnp.PyArray_DATA(out)) + i, cnp.PyArray_DATA(src), n * sizeof(rfq_record_t))
    return n
