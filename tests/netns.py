"""Hosts on one machine for the replication tests (issue 16, docs/cluster.md): network namespaces
joined by veth pairs and a bridge, created and removed by the test (root only).

``Hosts(n)`` makes ``n`` namespaces ``rfqc-<tag>-<i>``, each with ``eth0`` = ``10.<a>.<b>.<i+1>/24``
on a veth pair whose other end is a port of the bridge ``rfqb-<tag>`` in the root namespace, and
``lo`` up (``root=True``: the root namespace too, at ``10.<a>.<b>.254`` on the bridge). Traffic
between the hosts goes only through that bridge; ``down(i)`` / ``up(i)`` take a
host's link down and up (a partition with both processes alive); ``popen(i, argv)`` runs a process
inside host ``i``. Everything is removed on exit, also after a failure, and the names carry a
random tag so parallel runs do not collide.

What this kernel lacks: ``sch_netem`` (``tc qdisc add … netem`` fails with "Specified qdisc kind
is unknown") and iptables/nft. So added delay comes from ``DelayRelay``, a userspace TCP relay
(each direction's bytes held back for the configured time), or from the transport's own fault
injection (``rfq_cluster::NetSwitch``). Loss of single packets cannot be made in userspace for TCP
(the kernel retransmits under the relay); the relay can only cut or stall a connection.

``Hosts.available()`` says why namespaces cannot be made here (not root, no ``ip``), for a clear skip.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Sequence
from types import TracebackType


def _ip(*args: str, ns: str | None = None) -> None:
    argv = ["ip", *(["netns", "exec", ns, "ip"] if ns else []), *args]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {proc.stderr.strip()}")


class Hosts:
    """``n`` network namespaces on one bridge (a context manager)."""

    def __init__(self, n: int = 3, *, root: bool = False) -> None:
        self.n = n
        #: the root namespace on the bridge too, at :attr:`root_addr` (a client host, the test's
        #: own process; else the root namespace reaches the hosts only through ``ip netns exec``)
        self.root = root
        self.tag = secrets.token_hex(2)
        a, b = 100 + secrets.randbelow(100), secrets.randbelow(250)
        self.net = f"10.{a}.{b}"
        self.bridge = f"rfqb-{self.tag}"
        self.names = [f"rfqc-{self.tag}-{i}" for i in range(n)]
        self.procs: list[subprocess.Popen[bytes]] = []

    @staticmethod
    def available() -> str | None:
        """None if namespaces can be made here, else why not."""
        if os.geteuid() != 0:
            return "network namespaces need root"
        if shutil.which("ip") is None:
            return "no `ip` command (iproute2)"
        probe = f"rfqc-probe-{secrets.token_hex(2)}"
        proc = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
        if proc.returncode != 0:
            return f"`ip netns add` failed: {proc.stderr.strip()}"
        subprocess.run(["ip", "netns", "del", probe], capture_output=True)
        return None

    def addr(self, i: int) -> str:
        """Host ``i``'s address."""
        return f"{self.net}.{i + 1}"

    @property
    def root_addr(self) -> str:
        """The root namespace's address on the bridge (``root=True``)."""
        return f"{self.net}.254"

    def _veth(self, i: int) -> str:
        return f"rfqv-{self.tag}-{i}"

    def __enter__(self) -> Hosts:
        try:
            _ip("link", "add", self.bridge, "type", "bridge")
            _ip("link", "set", self.bridge, "up")
            if self.root:
                _ip("addr", "add", f"{self.root_addr}/24", "dev", self.bridge)
            for i, ns in enumerate(self.names):
                _ip("netns", "add", ns)
                _ip("link", "add", self._veth(i), "type", "veth", "peer", "name", "eth0", "netns", ns)
                _ip("link", "set", self._veth(i), "master", self.bridge)
                _ip("link", "set", self._veth(i), "up")
                _ip("addr", "add", f"{self.addr(i)}/24", "dev", "eth0", ns=ns)
                _ip("link", "set", "eth0", "up", ns=ns)
                _ip("link", "set", "lo", "up", ns=ns)
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Kills the processes started in the hosts, removes the namespaces and the bridge."""
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait(timeout=10)
        for i, ns in enumerate(self.names):
            subprocess.run(["ip", "link", "del", self._veth(i)], capture_output=True)
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        subprocess.run(["ip", "link", "del", self.bridge], capture_output=True)

    def popen(self, i: int, argv: Sequence[str], **kw: object) -> subprocess.Popen[bytes]:
        """Runs ``argv`` inside host ``i`` (killed on exit)."""
        p: subprocess.Popen[bytes] = subprocess.Popen(["ip", "netns", "exec", self.names[i], *argv], **kw)  # type: ignore[call-overload]
        self.procs.append(p)
        return p

    def down(self, i: int) -> None:
        """Host ``i``'s link down: nothing reaches it or leaves it."""
        _ip("link", "set", self._veth(i), "down")

    def up(self, i: int) -> None:
        """Host ``i``'s link up again."""
        _ip("link", "set", self._veth(i), "up")


class DelayRelay:
    """A TCP relay that holds every byte back ``delay_s`` in each direction (userspace: this
    kernel has no netem). Listens on ``listen`` (an address of the host it runs in: run it in the
    root namespace, or in a host with ``Hosts.popen`` as its own process) and forwards each
    connection to ``target``. ``cut()`` stalls every connection (a partition of that link)."""

    def __init__(self, listen: tuple[str, int], target: tuple[str, int], delay_s: float) -> None:
        self.target = target
        self.delay_s = delay_s
        self.stalled = threading.Event()
        self.srv = socket.create_server(listen)
        self.addr: tuple[str, int] = self.srv.getsockname()[:2]
        self.stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                c, _ = self.srv.accept()
            except OSError:
                return
            try:
                t = socket.create_connection(self.target, timeout=5)
            except OSError:
                c.close()
                continue
            for s in (c, t):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                s.settimeout(None)
            threading.Thread(target=self._pump, args=(c, t), daemon=True).start()
            threading.Thread(target=self._pump, args=(t, c), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                due = time.monotonic() + self.delay_s
                while self.stalled.is_set() and not self.stop.is_set():
                    time.sleep(0.01)
                if (wait := due - time.monotonic()) > 0:
                    time.sleep(wait)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def cut(self) -> None:
        """Stall every connection through the relay."""
        self.stalled.set()

    def heal(self) -> None:
        """Let the bytes through again."""
        self.stalled.clear()

    def close(self) -> None:
        self.stop.set()
        self.srv.close()
