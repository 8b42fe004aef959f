"""`python -m service`: load settings, start Redis if none is configured, serve."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from contextlib import ExitStack
from pathlib import Path
from types import FrameType

import uvicorn
from pydantic import SecretStr, ValidationError

from . import logs, telemetry
from .app import create_app
from .config import Settings
from .embedded import embedded_redis
from .runtime import Runtime

log = logging.getLogger("service")


class Server(uvicorn.Server):
    """uvicorn, but SIGTERM first drains the replica and only then stops serving.

    Kubernetes keeps sending traffic for a moment after SIGTERM, so the HTTP server
    keeps answering (readiness 503, API still accepting) while deliveries finish.
    A second signal stops at once.
    """

    runtime: Runtime | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        runtime = self.runtime
        if runtime is None or runtime.draining:
            super().handle_exit(sig, frame)
            return
        loop = asyncio.get_event_loop()
        loop.call_soon_threadsafe(self._drain_then_exit, runtime)

    def _drain_then_exit(self, runtime: Runtime) -> None:
        runtime.drain().add_done_callback(lambda _: setattr(self, "should_exit", True))


def load_settings() -> Settings:
    telemetry.export_dotenv_otel(Path(".env"))
    try:
        settings = Settings()  # type: ignore[call-arg]
        telemetry.check_environment(os.environ)
    except ValidationError as error:
        lines = [
            f"  {'.'.join(str(p) for p in e['loc']).upper() or 'settings'}: {e['msg']}"
            for e in error.errors()
        ]
        sys.exit("Invalid configuration:\n" + "\n".join(lines))
    except telemetry.TracingConfigError as error:
        sys.exit(f"Invalid configuration:\n  {error}")
    return settings


def main() -> None:
    settings = load_settings()
    logs.configure(settings)
    with ExitStack() as stack:
        if settings.embedded_redis:
            url = stack.enter_context(embedded_redis(settings.data_dir))
            settings = settings.model_copy(update={"redis_url": SecretStr(url)})
        serve(settings)


def serve(settings: Settings) -> None:
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host=settings.api_host,
        port=settings.api_port,
        log_config=None,
        access_log=False,
        proxy_headers=False,  # nothing reads client addresses; saves a middleware
        server_header=False,
        timeout_graceful_shutdown=5,
    )
    server = Server(config)
    server.runtime = app.state.runtime
    server.run()


if __name__ == "__main__":
    main()
