"""Free loopback ports for the desks the demo, the benchmarks and the tests start on this machine."""

from __future__ import annotations

import socket
import threading

__all__ = ["free_port"]

_HANDED_OUT: set[int] = set()
_LOCK = threading.Lock()


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port of ``host`` free now, and not one this process was handed before: a caller that
    asks for several before binding any (a cluster's Raft, status and HTTP ports) gets distinct
    ones — the system may hand out a port it just released again. Another process may still take
    it before it is bound."""
    while True:
        with socket.socket() as s:
            s.bind((host, 0))
            port = int(s.getsockname()[1])
        with _LOCK:
            if port not in _HANDED_OUT:
                _HANDED_OUT.add(port)
                return port
