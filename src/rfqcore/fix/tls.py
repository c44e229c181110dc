"""TLS for the FIX acceptor (docs/fix.md, "TLS"): Python's :mod:`ssl` terminates TLS on the
public port and relays each connection, as plain FIX, to the QuickFIX acceptor listening on a
loopback port of its own.

Why not QuickFIX's own ``SSLSocketAcceptor`` (the ``quickfix-py`` wheel has it, on a bundled
OpenSSL 1.1.1k): its TLS handshake blocks the acceptor's thread. One TCP connection that sends
nothing (any port scan, a plain client that waits for the server to speak) stopped every FIX
session of the desk until that connection closed (tried: a silent connection, then a TLS client
that could not log on for as long as it stayed open). Here each handshake runs on an asyncio
loop with a timeout, so a slow or silent connection holds only itself; the loop is a thread of
the desk process, off the core's path.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import socket
import ssl
import threading
from typing import Any

from rfqcore.fix import FixUnavailable

log = logging.getLogger("rfqcore.fix")

__all__ = ["TlsFront", "fix_tls_context"]

#: seconds a connection may take to finish its TLS handshake before it is dropped
HANDSHAKE_TIMEOUT_S = 10.0


def fix_tls_context(cert: str, key: str) -> ssl.SSLContext:
    """A server TLS context (TLS 1.2 at least) from a PEM certificate chain and its private key;
    :class:`FixUnavailable` (one line naming the file and what to do) when either cannot be read
    or they do not go together."""
    what = {cert: "certificate ([fix] tls_cert, --fix-cert)", key: "private key ([fix] tls_key, --fix-key)"}
    for path in (cert, key):
        if not os.path.exists(path):
            raise FixUnavailable(f"cannot serve FIX over TLS: {path}: no such file; give the PEM {what[path]} "
                                 f"of the desk")
        if os.path.isdir(path) or not os.access(path, os.R_OK):
            why = "a directory" if os.path.isdir(path) else "not readable"
            raise FixUnavailable(f"cannot serve FIX over TLS: {path}: {why}; give a readable PEM file as the "
                                 f"{what[path]}")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_cert_chain(cert, key)
    except (ssl.SSLError, OSError) as e:
        reason = getattr(e, "reason", None) or e.strerror or str(e)
        raise FixUnavailable(f"cannot serve FIX over TLS with {cert} and {key}: {reason}; give a PEM certificate "
                             f"chain and the private key that goes with it") from None
    return ctx


def _nodelay(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class TlsFront:
    """Listens on ``host:port`` with TLS (``context``) and relays every connection, once its
    handshake is done, to ``127.0.0.1:backend`` (the QuickFIX acceptor) in plain FIX, byte for
    byte both ways; either side closing closes the other. :attr:`local_ports` are the local ports
    of the relay's connections to the backend (the acceptor admits only those)."""

    def __init__(self, host: str, port: int, backend: int, context: ssl.SSLContext) -> None:
        self.host, self.port, self.backend, self.context = host, port, backend, context
        self.local_ports: set[int] = set()
        #: TLS connections relayed to the acceptor so far
        self.connections = 0
        #: connections dropped because their TLS handshake failed or timed out (a plain client)
        self.handshakes_failed = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.base_events.Server | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._conns: set[asyncio.Task[Any]] = set()

    def start(self) -> TlsFront:
        """Listen (a port in use is :class:`FixUnavailable`, one line)."""
        self._thread = threading.Thread(target=self._run, name="rfqcore-fix-tls", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            self._thread.join()
            err, self._error = self._error, None
            if isinstance(err, OSError) and err.errno == errno.EADDRINUSE:
                raise FixUnavailable(f"cannot serve FIX on {self.host}:{self.port}: the port is in use; stop what "
                                     f"listens there or choose another --fix-port") from None
            raise FixUnavailable(f"cannot serve FIX over TLS on {self.host}:{self.port}: {err}") from None
        return self

    def _run(self) -> None:
        loop = self._loop = asyncio.new_event_loop()
        try:
            # plain TCP, upgraded in _serve: a failed handshake is seen there and logged with its reason
            self._server = loop.run_until_complete(asyncio.start_server(
                self._serve, self.host, self.port, reuse_address=True))
            self.port = self._server.sockets[0].getsockname()[1]
        except BaseException as e:  # noqa: BLE001 - handed to start()
            self._error = e
            self._ready.set()
            loop.close()
            return
        loop.set_exception_handler(self._on_loop_error)
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.close()

    @staticmethod
    def _on_loop_error(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        # a connection that failed its handshake or broke off: one log line, no traceback
        log.info("fix: TLS connection dropped: %s", context.get("exception") or context.get("message"))

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._conns.add(task)
        local = 0
        try:
            _nodelay(writer)
            peer = writer.get_extra_info("peername")
            try:
                await writer.start_tls(self.context, ssl_handshake_timeout=HANDSHAKE_TIMEOUT_S)
            except (OSError, ssl.SSLError, TimeoutError, ConnectionError) as e:
                self.handshakes_failed += 1
                why = getattr(e, "reason", None) or str(e) or type(e).__name__
                log.warning("fix: TLS connection from %s:%s refused: handshake failed (%s); the port takes TLS only",
                            peer[0] if peer else "?", peer[1] if peer else "?",
                            "no handshake within %g s" % HANDSHAKE_TIMEOUT_S if isinstance(e, TimeoutError) else why)
                return
            self.connections += 1
            try:
                b_reader, b_writer = await asyncio.open_connection("127.0.0.1", self.backend)
            except OSError:
                return
            _nodelay(b_writer)
            local = b_writer.get_extra_info("sockname")[1]
            self.local_ports.add(local)
            await asyncio.gather(self._pipe(reader, b_writer), self._pipe(b_reader, writer))
        finally:
            self.local_ports.discard(local)
            self._conns.discard(task)
            writer.close()

    @staticmethod
    async def _pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        try:
            while data := await src.read(65536):
                dst.write(data)
                await dst.drain()
        except (OSError, ssl.SSLError, asyncio.IncompleteReadError):
            pass
        finally:
            dst.close()

    def stop(self) -> None:
        """Stop listening and close every relayed connection. Idempotent."""
        loop, self._loop = self._loop, None
        if loop is None or self._thread is None:
            return

        async def close() -> None:
            if self._server is not None:
                self._server.close()
            for t in list(self._conns):
                t.cancel()
            await asyncio.sleep(0)
            loop.stop()

        asyncio.run_coroutine_threadsafe(close(), loop)
        self._thread.join(10)
        self._thread = None
