"""A TCP proxy on 127.0.0.1 that misbehaves on demand: a small stand-in for toxiproxy.

    proxy = ChaosProxy(upstream_port=redis_port).start()
    proxy.latency_ms = 200     # every chunk waits this long, in both directions
    proxy.reset_all()          # RST every open connection (a reset mid-command errors)
    proxy.blackhole = True     # accept and connect, but drop every byte (clients time out)
    proxy.lose_replies = b"id-7"  # requests reach the server; its answers holding these
                                  # bytes (b"": every answer) are dropped with the connection
                                  # (a command ran, and its caller never heard)
    proxy.refuse = True        # reset new connections at once
    proxy.heal()               # back to a clean link, old connections reset
    proxy.stop()

It runs its own asyncio loop in a daemon thread, so a synchronous test drives it.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading

HOST = "127.0.0.1"
_CHUNK = 65536


class ChaosProxy:
    """Forwards connections from `port` to `upstream_port`, with faults switched by attributes."""

    def __init__(self, *, upstream_port: int, port: int = 0) -> None:
        self.upstream_port = upstream_port
        self.port = port
        self.latency_ms = 0
        self.blackhole = False
        self.lose_replies: bytes | None = None
        self.replies_lost = 0  # answers dropped so far
        self.refuse = False
        self.connections = 0  # accepted so far, for tests that want to see reconnects
        self._writers: set[asyncio.StreamWriter] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._thread: threading.Thread | None = None

    # -- control, from the test's thread ----------------------------------------------

    def start(self) -> ChaosProxy:
        ready = threading.Event()
        failure: list[BaseException] = []
        self._thread = threading.Thread(
            target=self._serve, args=(ready, failure), name="chaos-proxy", daemon=True
        )
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("chaos proxy did not start within 10 s")
        if failure:
            raise RuntimeError("chaos proxy failed to start") from failure[0]
        return self

    def reset_all(self) -> None:
        """Abort every open connection with a TCP reset."""
        self._call(self._reset_now)

    def heal(self) -> None:
        """No latency, no blackhole, no refusal; connections opened while faulty are reset."""
        self.latency_ms = 0
        self.blackhole = False
        self.lose_replies: bytes | None = None
        self.replies_lost = 0  # answers dropped so far
        self.refuse = False
        self.reset_all()

    def stop(self) -> None:
        loop = self._loop
        if loop is None or not loop.is_running():
            return
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(self._close(), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(5)

    def _call(self, function: object) -> None:
        if self._loop is not None and self._loop.is_running():
            self._loop.call_soon_threadsafe(function)  # type: ignore[arg-type]

    # -- the proxy, on its own loop ------------------------------------------------------

    def _serve(self, ready: threading.Event, failure: list[BaseException]) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            self._server = loop.run_until_complete(
                asyncio.start_server(self._handle, HOST, self.port)
            )
            self.port = int(self._server.sockets[0].getsockname()[1])
        except OSError as error:
            failure.append(error)
            ready.set()
            loop.close()
            return
        ready.set()
        try:
            loop.run_forever()
        finally:
            loop.close()

    async def _close(self) -> None:
        if self._server is not None:
            self._server.close()
        self._reset_now()
        # End the connection handlers too, so none is destroyed pending with the loop.
        handlers = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for handler in handlers:
            handler.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)

    def _reset_now(self) -> None:
        for writer in list(self._writers):
            _abort(writer)
        self._writers.clear()

    async def _handle(self, client_reader: asyncio.StreamReader, client: asyncio.StreamWriter):
        self.connections += 1
        if self.refuse:
            _abort(client)
            return
        try:
            upstream_reader, upstream = await asyncio.open_connection(HOST, self.upstream_port)
        except OSError:
            _abort(client)
            return
        self._writers.update((client, upstream))
        try:
            await asyncio.gather(
                self._pipe(client_reader, upstream),
                self._pipe(upstream_reader, client, replies=True),
            )
        finally:
            self._writers.discard(client)
            self._writers.discard(upstream)

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, replies: bool = False
    ) -> None:
        try:
            while data := await reader.read(_CHUNK):
                if self.blackhole:
                    continue
                if replies and self.lose_replies is not None and self.lose_replies in data:
                    self.replies_lost += 1
                    break  # (the finally resets the client's end; the other pipe ends too)
                if self.latency_ms:
                    await asyncio.sleep(self.latency_ms / 1000)
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            # Half-open links would hang the other direction; close both ends.
            _abort(writer)


def _abort(writer: asyncio.StreamWriter) -> None:
    """Close with RST rather than FIN, as a crashed peer or a middlebox would."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()
