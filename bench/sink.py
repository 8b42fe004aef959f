"""A recording webhook sink: answers every POST with 200 and notes when each id arrived.

It is a raw asyncio protocol on uvloop with the httptools parser, run as its own
process, so that it is never the bottleneck of what it measures (its ceiling is
measured in every run). Control paths under `/_sink/` return or reset the record.

Run: `python -m bench.sink --port PORT` (prints `ready` once listening).
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import time

import httptools
import orjson
import uvloop

_OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok"


class Record:
    """Arrival times (Unix seconds) of webhook calls, by id, with the caller's port."""

    def __init__(self) -> None:
        self.ids: list[str] = []
        self.times: list[float] = []
        self.ports: list[int] = []
        self.missing_id = 0

    def add(self, message_id: bytes | None, port: int) -> None:
        if message_id is None:
            self.missing_id += 1
            return
        self.times.append(time.time())
        self.ids.append(message_id.decode())
        self.ports.append(port)

    def dump(self) -> bytes:
        return orjson.dumps(
            {
                "ids": self.ids,
                "times": self.times,
                "ports": self.ports,
                "missing_id": self.missing_id,
            }
        )

    def reset(self) -> None:
        self.__init__()  # type: ignore[misc]


class SinkProtocol(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection."""

    def __init__(self, record: Record) -> None:
        self.record = record
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.port = 0
        self.url = b""
        self.message_id: bytes | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        peer = transport.get_extra_info("peername")
        self.port = peer[1] if peer else 0

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            assert self.transport is not None
            self.transport.close()

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        # The caller's id: the service sends it as X-Message-Id (webhook-id is per message
        # incarnation, not the id the scenario chose).
        if len(name) == 12 and name.lower() == b"x-message-id":
            self.message_id = value

    def on_message_complete(self) -> None:
        assert self.transport is not None
        if self.url.startswith(b"/_sink/"):
            self.transport.write(self._control(self.url))
        else:
            self.record.add(self.message_id, self.port)
            self.transport.write(_OK)
        self.url = b""
        self.message_id = None

    def _control(self, url: bytes) -> bytes:
        if url == b"/_sink/count":
            body = orjson.dumps({"count": len(self.record.ids)})
        elif url == b"/_sink/records":
            body = self.record.dump()
        elif url == b"/_sink/reset":
            self.record.reset()
            body = b"{}"
        else:
            body = b'{"error":"unknown control path"}'
        head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n"
        return head.encode() + b"Content-Type: application/json\r\n\r\n" + body


async def serve(host: str, port: int) -> None:
    loop = asyncio.get_running_loop()
    record = Record()
    server = await loop.create_server(lambda: SinkProtocol(record), host, port, backlog=1024)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print("ready", flush=True)
    await stop.wait()
    server.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvloop.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()
