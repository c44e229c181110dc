"""External venues: adapters (client side) and simulated venue servers on loopback.

* :mod:`rfqcore.venues.base` — the normalized adapter interface and report types;
* :mod:`rfqcore.venues.binance` — Binance-style REST order entry (HMAC-SHA256 signed) and
  WebSocket market-data and user-data streams;
* :mod:`rfqcore.venues.okx` — OKX-style WebSocket order entry (signed login) and public books;
* :mod:`rfqcore.venues.sim` — simulated venue processes backed by the matching core
  (``rfqcore venue-sim``), seeded from recorded books.
"""
