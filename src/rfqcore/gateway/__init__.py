"""The Aeron gateway: authenticated client and operator sessions in front of the core.

- :mod:`rfqcore.gateway.schema`: wire schema v2 (docs/gateway-schema.md), the codec;
- :mod:`rfqcore.gateway.aeron`: media driver and connection helpers;
- :mod:`rfqcore.gateway.server`: the gateway loop (its own process), wire <-> ring records;
- :mod:`rfqcore.gateway.loopback`: a fixed-price stand-in for the core (tests, measurements).

The client side is :mod:`rfqcore.client`.
"""

from __future__ import annotations

__all__ = ["schema"]
