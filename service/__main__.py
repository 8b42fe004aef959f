"""`python -m service` (`scheduler-api`): load settings, start Redis if none is configured,
serve. `scheduler-api repartition --to N` moves the data to N partitions instead."""

from __future__ import annotations

import argparse
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
from .connection import connect, disconnect
from .embedded import embedded_redis
from .keys import Layout
from .repartition import Repartition, RepartitionError
from .runtime import Runtime
from .store import Store
from .store_errors import STORE_OR_OS_ERRORS

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


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="scheduler-api",
        description="Scheduler API: without a command, serve (settings from the environment).",
    )
    commands = parser.add_subparsers(dest="command")
    move = commands.add_parser(
        "repartition",
        help="move the data to another REDIS_PARTITIONS count while the service runs",
        description=(
            "Move every message and schedule under REDIS_KEY_PREFIX to TO partitions, in "
            "bounded batches, while the replicas keep serving (they follow by themselves). "
            "Connects with the service's own REDIS_* settings. Safe to stop and run again."
        ),
    )
    move.add_argument("--to", type=int, required=True, metavar="N", help="partitions (1-1024)")
    move.add_argument(
        "--batch", type=int, default=200, help="ids moved per script call (default 200)"
    )
    move.add_argument(
        "--replica-wait",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="how long to wait for every replica to follow (default 60)",
    )
    args = parser.parse_args(argv)
    if args.command == "repartition" and not 1 <= args.to <= 1024:
        parser.error("--to must be between 1 and 1024")
    if args.command == "repartition" and not 1 <= args.batch <= 10_000:
        parser.error("--batch must be between 1 and 10000")
    return args


def main() -> None:
    args = parse_args(sys.argv[1:])
    settings = load_settings()
    logs.configure(settings)
    if args.command == "repartition":
        sys.exit(repartition(settings, args))
    with ExitStack() as stack:
        if settings.embedded_redis:
            url = stack.enter_context(embedded_redis(settings.data_dir))
            settings = settings.model_copy(update={"redis_url": SecretStr(url)})
        serve(settings)


def repartition(settings: Settings, args: argparse.Namespace) -> int:
    if settings.embedded_redis:
        print(
            "repartition needs the Redis the service uses: set REDIS_URL (or "
            "REDIS_CLUSTER_NODES, REDIS_SENTINELS) as the service has it",
            file=sys.stderr,
        )
        return 2

    async def run() -> int:
        redis = connect(settings)
        try:
            layout = Layout(settings.redis_key_prefix, settings.partitions)
            mover = Repartition(
                Store(redis, layout),
                target=args.to,
                batch=args.batch,
                replica_wait_seconds=args.replica_wait,
            )
            await mover.run()
            return 0
        except RepartitionError as error:
            print(f"repartition: {error}", file=sys.stderr)
            return 1
        except STORE_OR_OS_ERRORS as error:
            print(
                f"repartition stopped: Redis answered {error!r}. Nothing is lost: what was "
                "on its way is kept where it was; run the command again once Redis answers.",
                file=sys.stderr,
            )
            return 1
        finally:
            await disconnect(redis)

    return asyncio.run(run())


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
