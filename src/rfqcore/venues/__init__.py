"""External venues, client side: the adapters the desk trades through.

* :mod:`rfqcore.venues.base` — the normalized adapter interface and report types;
* :mod:`rfqcore.venues.binance` — Binance-style REST order entry (HMAC-SHA256 signed) and
  WebSocket market-data and user-data streams;
* :mod:`rfqcore.venues.okx` — OKX-style WebSocket order entry (signed login) and public books;
* :mod:`rfqcore.venues.config` — the venue connections of a running desk (``--venues``).

The simulated venues these adapters are tested against live apart, in :mod:`rfqcore.venuesim`;
nothing here imports them.
"""
