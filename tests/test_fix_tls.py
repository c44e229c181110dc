"""FIX over TLS (docs/fix.md, "TLS"): ``[fix] tls_cert``/``tls_key`` (or ``rfqcore serve
--fix-cert/--fix-key``) make the acceptor speak TLS only. A QuickFIX ``SSLSocketInitiator``
that checks the desk's certificate gets quotes; a plain client is refused; a silent connection
does not hold up anyone else's logon; a missing or unreadable certificate is one line.

The desk here has CompIDs of its own (``TLSDESK``, ``ACME-TLS``, ``BETA-TLS``): QuickFIX keeps one
session per SessionID in a process, and tests/test_fix.py's desk uses the default ones.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rfqcore.fix import FixUnavailable
from rfqcore.fix.client import FixClient
from rfqcore.instruments import Registry
from rfqcore.rfqconfig import RfqSettings

from desk_market import fed_desk, feed_market, free_port

TLS = Path(__file__).parent / "tls"
CERT, KEY = str(TLS / "test-only-cert.pem"), str(TLS / "test-only-key.pem")
ACME = RfqSettings.load().client("acme-capital")

_TOML = f"""
[fix]
listen = "127.0.0.1:0"
comp_id = "TLSDESK"
tls_cert = "{CERT}"
tls_key = "{KEY}"

[[fix.session]]
client = "acme-capital"
sender_comp_id = "ACME-TLS"

[[fix.session]]
client = "beta-fund"
sender_comp_id = "BETA-TLS"
"""


def _settings(extra: str) -> RfqSettings:
    from importlib import resources

    text = resources.files("rfqcore").joinpath("defaults/rfq.toml").read_text("utf-8")
    return RfqSettings.from_toml(text + extra, Registry.load(), "test-rfq.toml")


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with fed_desk(settings=_settings(_TOML), fix_store=str(tmp_path_factory.mktemp("fix-tls") / "fix")) as srv:
        yield srv


def _until(cond: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "not within 20 s"
        time.sleep(0.02)


def test_a_client_over_tls_gets_quotes_and_fills(desk: Any, tmp_path: Path) -> None:
    assert desk.fix.tls == (CERT, KEY) and desk.fix.port != desk.fix.backend_port
    with FixClient("ACME-TLS", ACME.secret.hex(), desk.fix.port, tmp_path, desk_comp_id="TLSDESK", tls_ca=CERT) as c:
        c.start(wait_logon=15)
        feed_market(desk.engine)  # fresh (stale after 5 s)
        q = c.quote_request(f"tls-{time.time_ns()}", "BTC", "1")
        assert q[35] == "S" and q[49] == "TLSDESK" and 132 in q and 133 in q, q
        one = c.quote_request(f"tls-{time.time_ns()}", "BTC", "0.5", side="1")
        assert one[35] == "S", one
        fill = c.order(f"tls-ord-{time.time_ns()}", one, "1", "0.5")
        assert fill[35] == "8" and fill[150] == "F" and fill[32] == "0.50000000", fill
        assert c.session_rejects_out == 0 and [m for m in c.admin_in if m.get(35) in ("3", "2", "4")] == []
    st = desk.fix.stats()["ACME-TLS"]
    assert st["in:R"] == 2 and st["out:S"] == 2 and st["out:8"] == 1, st
    assert st.get("session_reject_in", 0) == st.get("session_reject_out", 0) == 0, st


def test_a_plain_client_is_refused_on_the_tls_port(desk: Any, tmp_path: Path,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="rfqcore.fix")
    before = desk.engine.rfq_stats()["rfqs"]
    failed = desk.fix._front.handshakes_failed
    # a QuickFIX initiator without TLS: never logged on
    with FixClient("BETA-TLS", RfqSettings.load().client("beta-fund").secret.hex(), desk.fix.port, tmp_path,
                   desk_comp_id="TLSDESK") as c:
        c.start()
        _until(lambda: desk.fix._front.handshakes_failed > failed)  # it tried: its Logon is no handshake
        assert not c.logged_on.wait(1)
    # a plain Logon on a raw socket: no FIX answer, the connection dropped
    body = f"35=A\x0149=ACME-TLS\x0156=TLSDESK\x0134=1\x0152=20260101-00:00:00.000\x0198=0\x01108=30\x01"
    msg = f"8=FIX.4.4\x019={len(body)}\x01{body}"
    msg += f"10={sum(msg.encode()) % 256:03d}\x01"
    with socket.create_connection(("127.0.0.1", desk.fix.port), timeout=10) as s:
        s.sendall(msg.encode())
        got = b""
        while chunk := s.recv(4096):
            got += chunk
    assert b"8=FIX" not in got, got
    assert "in:A" not in str(desk.fix.stats()) and "BETA-TLS" not in desk.fix.logged_on
    assert desk.engine.rfq_stats()["rfqs"] == before
    assert desk.fix._front.handshakes_failed >= failed + 2
    refused = [r.getMessage() for r in caplog.records if "handshake failed" in r.getMessage()]
    assert refused and refused[-1].startswith("fix: TLS connection from 127.0.0.1:"), refused
    assert refused[-1].endswith("; the port takes TLS only") and "WRONG_VERSION_NUMBER" in refused[-1].upper(), refused


def test_a_silent_connection_does_not_hold_up_other_logons(desk: Any, tmp_path: Path) -> None:
    """The reason TLS is terminated in front of QuickFIX: its own SSL acceptor's handshake blocks
    its thread, and one connection that sends nothing stopped every session."""
    with socket.create_connection(("127.0.0.1", desk.fix.port)) as silent:
        time.sleep(0.3)
        with FixClient("BETA-TLS", RfqSettings.load().client("beta-fund").secret.hex(), desk.fix.port, tmp_path,
                       desk_comp_id="TLSDESK", tls_ca=CERT) as c:
            c.start(wait_logon=5)
            feed_market(desk.engine)  # fresh (stale after 5 s)
            q = c.quote_request(f"silent-{time.time_ns()}", "BTC", "1", side="2")
            assert q[35] == "S", q
        assert silent.fileno() >= 0


@pytest.mark.parametrize("which", ["cert", "key"])
def test_a_missing_certificate_or_key_is_one_line(tmp_path: Path, which: str) -> None:
    from rfqcore.serve import Server

    missing = str(tmp_path / f"no-such-{which}.pem")
    tls = (missing, KEY) if which == "cert" else (CERT, missing)
    srv = Server(market_files=[], fix_port=0, fix_store=str(tmp_path / "fix"), fix_tls=tls)
    with pytest.raises(FixUnavailable) as e:
        srv.start()
    srv.stop()
    text = str(e.value)
    assert text.startswith(f"cannot serve FIX over TLS: {missing}: no such file; give the PEM "), text
    assert ("certificate ([fix] tls_cert, --fix-cert)" if which == "cert" else "private key ([fix] tls_key") in text
    assert "\n" not in text


def test_an_unreadable_or_wrong_certificate_is_one_line(tmp_path: Path) -> None:
    from rfqcore.fix.tls import fix_tls_context

    with pytest.raises(FixUnavailable) as e:
        fix_tls_context(str(tmp_path), KEY)  # a directory
    assert str(e.value) == (f"cannot serve FIX over TLS: {tmp_path}: a directory; give a readable PEM file as the "
                            f"certificate ([fix] tls_cert, --fix-cert)")
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    with pytest.raises(FixUnavailable) as e:
        fix_tls_context(str(garbage), KEY)
    assert str(e.value).startswith(f"cannot serve FIX over TLS with {garbage} and {KEY}: ") and str(e.value).endswith(
        "; give a PEM certificate chain and the private key that goes with it"), str(e.value)
    with pytest.raises(FixUnavailable) as e:
        fix_tls_context(KEY, CERT)  # swapped
    assert "\n" not in str(e.value) and "goes with it" in str(e.value)


def test_serve_with_a_missing_certificate_says_so_in_one_line(tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "rfqcore.cli", "serve", "--no-market-data", "--duration", "5", "--aeron-dir",
           f"/dev/shm/rfqcore-test-fixtls-{os.getpid()}", "--fix-port", str(free_port()), "--fix-store",
           str(tmp_path / "fix"), "--fix-cert", str(tmp_path / "desk.pem"), "--fix-key", KEY]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert r.stderr.strip() == (f"rfqcore serve: cannot serve FIX over TLS: {tmp_path / 'desk.pem'}: no such file; "
                                f"give the PEM certificate ([fix] tls_cert, --fix-cert) of the desk"), r.stderr
    half = subprocess.run(cmd[:-2], capture_output=True, text=True, timeout=120)
    assert half.returncode == 2 and "--fix-cert and --fix-key together" in half.stderr, half.stderr


def test_tls_needs_both_files_in_the_config() -> None:
    from rfqcore.errors import ConfigError

    with pytest.raises(ConfigError) as e:
        _settings(f'[fix]\ntls_cert = "{CERT}"\n')
    assert "[fix] TLS needs tls_cert and tls_key together" in str(e.value) and "\n" not in str(e.value)
    assert _settings("").fix.tls is None


def test_the_internal_plain_port_takes_no_logon_but_the_relays(desk: Any, tmp_path: Path) -> None:
    """QuickFIX listens on a loopback port behind the TLS relay: a local process connecting
    there directly, with the right password, is still refused and disconnected."""
    before = desk.fix.stats()["ACME-TLS"].get("logon_refused", 0)
    with FixClient("ACME-TLS", ACME.secret.hex(), desk.fix.backend_port, tmp_path, desk_comp_id="TLSDESK") as c:
        c.start()
        _until(lambda: desk.fix.stats()["ACME-TLS"].get("logon_refused", 0) > before)
        assert not c.logged_on.is_set() and "ACME-TLS" not in desk.fix.logged_on
