"""The app served by uvicorn on a free port, in a thread of the test process."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import uvicorn
from fastapi import FastAPI

from tests.support.redis_server import free_port


@contextmanager
def serve(app: FastAPI, *, timeout: float = 15.0) -> Iterator[str]:
    """Serve `app` (lifespan included) until the block ends; yields its base URL."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", loop="asyncio")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not server.started:
            time.sleep(0.05)
        assert httpx.get(f"{url}/health").status_code == 200
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=timeout)
