"""Simulated venues: exchange servers on loopback that the adapters of :mod:`rfqcore.venues` talk to.

* :mod:`rfqcore.venuesim.seed` — book seeds and book replays from the recorded data;
* :mod:`rfqcore.venuesim.simbook` — ``SimBook``: the exchange around the matching core;
* :mod:`rfqcore.venuesim.binance_sim`, :mod:`rfqcore.venuesim.okx_sim` — each style's protocol
  subset served over a ``SimBook``;
* :mod:`rfqcore.venuesim.sim` — the venue process, its admin API and ``SimProcess``
  (``rfqcore venue-sim``, ``python -m rfqcore.venuesim.sim``);
* :mod:`rfqcore.venuesim.cli` — the ``venue-sim`` sub-command.

The simulators speak the adapters' protocols and borrow their signing helpers; the adapters
never import anything from here.
"""
