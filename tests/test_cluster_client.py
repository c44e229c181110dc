"""ClusterClient's following of the leader, on stand-in sessions (the real nodes: test_cluster_serve.py).

A request whose session dies is asked again on each next leader found, until ``failover_timeout``
has passed since the first try — not just once: right after a failover the new leader may itself
die, or be slow to answer its first request.
"""

from __future__ import annotations

from typing import Any

import pytest

from rfqcore.client import RequestTimeout
from rfqcore.cluster_client import ClusterClient


class _Session:
    """Answers ``request_quote`` after ``fails`` timeouts."""

    def __init__(self, name: str, fails: int) -> None:
        self.name, self.fails, self.calls = name, fails, 0

    def request_quote(self, *a: Any, **kw: Any) -> str:
        self.calls += 1
        if self.calls <= self.fails:
            raise RequestTimeout(f"{self.name}: no answer")
        return f"quote from {self.name}"


def _client(sessions: list[_Session], failover_timeout: float) -> ClusterClient:
    cc = ClusterClient("acme-capital", nodes=[("/dev/shm/none", None)], failover_timeout=failover_timeout)
    it = iter(sessions)
    cc.current = next(it)  # type: ignore[assignment]
    lost: list[str] = []

    def failover(why: BaseException) -> Any:
        lost.append(str(why))
        cc.current = next(it)  # type: ignore[assignment]
        cc.failovers += 1
        return cc.current

    cc._failover = failover  # type: ignore[method-assign]  # noqa: SLF001 - the node search stood in for
    cc.lost = lost  # type: ignore[attr-defined]
    return cc


def test_a_request_follows_each_next_leader_until_one_answers() -> None:
    a, b, c = _Session("node 1", 1), _Session("node 2", 1), _Session("node 3", 0)
    cc = _client([a, b, c], failover_timeout=30.0)
    got: Any = cc.request_quote("BTC", "buy", "1")
    assert got == "quote from node 3"
    assert cc.failovers == 2 and cc.lost == ["node 1: no answer", "node 2: no answer"]  # type: ignore[attr-defined]


def test_a_request_gives_up_once_failover_timeout_has_passed() -> None:
    cc = _client([_Session("node 1", 5), _Session("node 2", 0)], failover_timeout=-1.0)
    with pytest.raises(RequestTimeout, match="node 1: no answer"):
        cc.request_quote("BTC", "buy", "1")
    assert cc.failovers == 0


class _Closable:
    def __init__(self) -> None:
        self.token, self.closed = 7, False
        self._rfq_id, self._accept_id, self.last_trade_id = 11, 3, 5

    def close(self) -> None:
        self.closed = True


def test_the_watchdog_closes_an_idle_session_whose_driver_is_gone(monkeypatch: pytest.MonkeyPatch) -> None:
    """An idle client of a node whose driver died is closed before Aeron's default handler would end
    the process (10 s); never while a request holds the session; the ids carried to the next."""
    import threading
    import time

    import rfqcore.cluster_client as mod

    gone = {"/dev/shm/n1": False}
    monkeypatch.setattr(mod, "driver_gone", lambda d: gone[d])
    cc = ClusterClient("acme-capital", nodes=[("/dev/shm/n1", None)])
    s = _Closable()
    cc.current, cc.node = s, 0  # type: ignore[assignment]
    w = threading.Thread(target=cc._watch, args=(0.01,), daemon=True)  # noqa: SLF001
    w.start()
    time.sleep(0.1)
    current: Any = cc.current
    assert not s.closed and current is s, "a live driver: the session stays"
    gone["/dev/shm/n1"] = True
    with cc._lock:  # noqa: SLF001 - a request under way
        time.sleep(0.1)
        assert not s.closed, "not while a request holds the session"
    deadline = time.monotonic() + 5
    while not s.closed and time.monotonic() < deadline:
        time.sleep(0.01)
    assert s.closed and s.token == 0 and cc.current is None and cc.closed_by_watchdog == 1
    assert (cc._rfq_id, cc._accept_id, cc._last_trade_id) == (11, 3, 5)  # noqa: SLF001
    cc._closing.set()  # noqa: SLF001
    w.join(2)
    assert not w.is_alive()


def test_driver_gone_for_a_directory_without_a_driver(tmp_path: Any) -> None:
    from rfqcore.gateway.aeron import driver_gone

    assert driver_gone(str(tmp_path))
