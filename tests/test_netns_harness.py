"""The multi-host harness of the replication tests (tests/netns.py, docs/cluster.md): three network
namespaces on a bridge reach each other over TCP and nothing else; a link taken down partitions a
host and brought up heals it; the userspace relay adds its delay and can stall a link.
Skipped with the reason where namespaces cannot be made (not root, no iproute2)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from netns import DelayRelay, Hosts

pytestmark = pytest.mark.skipif(Hosts.available() is not None, reason=f"{Hosts.available()}")

ECHO = """
import socket, sys
s = socket.create_server((sys.argv[1], int(sys.argv[2])))
print("ready", flush=True)
while True:
    c, _ = s.accept()
    while d := c.recv(65536):
        c.sendall(d)
    c.close()
"""

CLIENT = """
import socket, sys, time
t = time.monotonic()
c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=float(sys.argv[3]))
c.settimeout(float(sys.argv[3]))
c.sendall(b"ping")
print(c.recv(4).decode(), time.monotonic() - t)
"""

RELAY = """
import sys, time
from netns import DelayRelay
r = DelayRelay((sys.argv[1], int(sys.argv[2])), (sys.argv[3], int(sys.argv[4])), float(sys.argv[5]))
print("ready", flush=True)
time.sleep(3600)
"""

PORT = 7000


def ping(hosts: Hosts, i: int, addr: str, port: int = PORT, timeout: float = 1.0) -> float | None:
    """Round trip of 4 bytes from host ``i`` to ``addr:port`` (seconds), None if it fails."""
    p = subprocess.run(["ip", "netns", "exec", hosts.names[i], sys.executable, "-c", CLIENT, addr, str(port), str(timeout)],
                       capture_output=True, text=True, timeout=30)
    if p.returncode != 0:
        return None
    word, secs = p.stdout.split()
    assert word == "ping"
    return float(secs)


def start(hosts: Hosts, i: int, script: str, *args: str) -> None:
    p = hosts.popen(i, [sys.executable, "-c", script, *args], stdout=subprocess.PIPE,
                    env={"PYTHONPATH": str(Path(__file__).parent)})
    assert p.stdout is not None and p.stdout.readline().strip() == b"ready"


def test_hosts_reach_each_other_only_over_the_bridge_and_a_link_down_partitions() -> None:
    with Hosts(3) as h:
        start(h, 0, ECHO, h.addr(0), str(PORT))
        assert ping(h, 1, h.addr(0)) is not None
        assert ping(h, 2, h.addr(0)) is not None
        # the root namespace has no address on the bridge: it cannot reach the hosts
        root = subprocess.run([sys.executable, "-c", CLIENT, h.addr(0), str(PORT), "0.5"], capture_output=True, timeout=30)
        assert root.returncode != 0
        h.down(0)
        assert ping(h, 1, h.addr(0), timeout=0.5) is None, "host 0 is partitioned"
        h.up(0)
        deadline = time.monotonic() + 10
        while ping(h, 1, h.addr(0)) is None:
            assert time.monotonic() < deadline, "host 0 did not come back"
    # everything removed
    left = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert not any(n in left for n in h.names)


def test_the_relay_adds_its_delay_and_can_stall_a_link() -> None:
    delay = 0.05
    with Hosts(3) as h:
        start(h, 0, ECHO, h.addr(0), str(PORT))
        start(h, 1, RELAY, h.addr(1), str(PORT), h.addr(0), str(PORT), str(delay))
        direct = ping(h, 2, h.addr(0))
        relayed = ping(h, 2, h.addr(1))
        assert direct is not None and relayed is not None
        # held back once each way (a lower bound, not a speed assertion)
        assert relayed >= 2 * delay, (direct, relayed)


def test_the_relay_stalls_when_cut() -> None:
    # in the root namespace, on loopback: the relay object itself
    import socket
    import threading

    srv = socket.create_server(("127.0.0.1", 0))

    def echo() -> None:
        c, _ = srv.accept()
        while d := c.recv(64):
            c.sendall(d)

    threading.Thread(target=echo, daemon=True).start()
    r = DelayRelay(("127.0.0.1", 0), srv.getsockname()[:2], 0.0)
    try:
        c = socket.create_connection(r.addr, timeout=2)
        c.sendall(b"a")
        assert c.recv(1) == b"a"
        r.cut()
        c.settimeout(0.3)
        c.sendall(b"b")
        with pytest.raises(TimeoutError):
            c.recv(1)
        r.heal()
        c.settimeout(5)
        assert c.recv(1) == b"b", "held bytes arrive once the link is healed"
    finally:
        r.close()
        srv.close()
