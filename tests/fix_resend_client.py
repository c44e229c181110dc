"""A FIX order sent again across a restart of the desk under it (tests/test_cluster_serve.py: a
cluster's next term; tests/test_fix_resend.py: ``serve`` restarted with its settlement store).

Run as a process of its own (QuickFIX keeps one session per SenderCompID in a process:
``python tests/fix_resend_client.py PORT STORE_DIR [ALTERNATE_PORT ...]``: the desk's FIX port
and, as a replicated desk's other nodes, more ports QuickFIX tries in turn), acme-capital fills a 0.5 BTC order and
prints its ExecutionReport; after a line on stdin (the desk's next start serves) it waits for
its own logon to it (it reconnects by itself), sends the same order again and prints the
answer, then fills a new order and prints the session-level rejects either way.
:func:`resend_across_restart` is the test's side.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any


def main() -> None:
    from rfqcore.fix.client import FixClient
    from rfqcore.rfqconfig import RfqSettings

    acme = RfqSettings.load().client("acme-capital")
    c = FixClient("acme-capital", acme.secret.hex(), int(sys.argv[1]), sys.argv[2], reconnect_s=1,
                  alternates=[("127.0.0.1", int(p)) for p in sys.argv[3:]])
    c.start(wait_logon=60)

    def say(m: dict[Any, Any]) -> None:
        print(json.dumps({str(k): v for k, v in m.items()}), flush=True)

    q = c.quote_request("q-1", "BTC", "0.5", side="1")
    say(c.order("o-1", q, "1", "0.5", price=q[133]))
    sys.stdin.readline()  # the desk's next start serves
    assert c.logged_on.wait(30), "no logon to the restarted desk"
    say(c.order("o-1", q, "1", "0.5", price=q[133]))  # the order sent again
    q2 = c.quote_request("q-2", "BTC", "0.5", side="2")
    say(c.order("o-2", q2, "2", "0.5", price=q2[132]))
    say({"out_rejects": c.session_rejects_out, "admin_rejects": sum(m.get(35) == "3" for m in c.admin_in)})
    c.stop()


def resend_across_restart(port: int, store: Path, restart: Callable[[], Any],
                          position: Callable[[], Any], alternates: tuple[int, ...] = ()) -> None:
    """The client against a desk serving FIX on ``port`` (or one of ``alternates``): its fill, then ``restart()`` (the desk
    stopped and started again on the same FIX store), then the same order again — which must
    get the fill's own report (PossResend, the same ExecID) with ``position()`` unchanged — and
    a new order, filled; no session-level reject either way. ``alternates``: more ports of the
    desk the client's QuickFIX tries in turn (a replicated desk's nodes)."""
    client = subprocess.Popen([sys.executable, __file__, str(port), str(store), *map(str, alternates)],
                              stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert client.stdout is not None and client.stdin is not None
        fill = json.loads(client.stdout.readline() or "{}")
        assert (fill.get("35"), fill.get("150"), fill.get("11")) == ("8", "F", "o-1"), fill
        before = position()
        restart()
        client.stdin.write("go\n")
        client.stdin.flush()
        again = json.loads(client.stdout.readline() or "{}")
        assert (again.get("150"), again.get("17"), again.get("11"), again.get("97")) == (
            "F", fill["17"], "o-1", "Y"), again
        assert position() == before, "one fill, not two"
        second = json.loads(client.stdout.readline() or "{}")
        assert (second.get("150"), second.get("11")) == ("F", "o-2"), second
        assert json.loads(client.stdout.readline() or "{}") == {"out_rejects": 0, "admin_rejects": 0}
        assert client.wait(30) == 0
    except BaseException:
        if client.poll() is None:
            client.kill()
        err = client.stderr.read() if client.stderr is not None else ""
        print(f"FIX client's stderr:\n{err}", file=sys.stderr)
        raise


if __name__ == "__main__":
    main()
