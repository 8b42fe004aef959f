"""A webhook receiver to try the service with: it prints every request it gets.

    python -m service.receiver [--host 127.0.0.1] [--port 9000]
    python -m service.receiver --schedule-via http://localhost:8000   # and send itself one

Each request is printed with its headers, whether its Standard Webhooks signature
verifies, and its body. With WEBHOOK_SIGNING_SECRET set (the same `whsec_...` value the
service signs with, from the environment or `.env`) a request whose signature is missing,
wrong or more than five minutes old is answered 401, as a real receiver should answer it;
the service then dead-letters the message. The check is written here from the
specification, not with the service's signing code, so it is an independent witness.

`--schedule-via URL` schedules one message to this receiver through the API at URL (with
API_TOKEN) once it listens, so a first delivery needs no other command.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx
from aiohttp import web
from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

# Standard Webhooks' advice: refuse a timestamp further than this from the receiver's clock.
TOLERANCE_SECONDS = 300
# Retries of the first message while the API is still starting (compose waits for health).
SCHEDULE_ATTEMPTS = 30
FIRST_MESSAGE = web.AppKey("first_message", asyncio.Task[None])


class ReceiverSettings(BaseSettings):
    """The two secrets the receiver may need, under the service's own names."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=False)

    webhook_signing_secret: SecretStr | None = None
    api_token: SecretStr | None = None


def signing_keys(secret: SecretStr | None) -> list[bytes]:
    """The HMAC keys of `whsec_<base64>` secrets separated by spaces; empty when unset."""
    if secret is None:
        return []
    keys = []
    for part in secret.get_secret_value().split():
        try:
            keys.append(base64.b64decode(part.removeprefix("whsec_"), validate=True))
        except binascii.Error:
            raise SystemExit("WEBHOOK_SIGNING_SECRET must be whsec_<base64>") from None
    return keys


def check_signature(
    keys: Sequence[bytes], headers: Mapping[str, str], body: bytes, *, now: float
) -> str | None:
    """None when a signature verifies with one of `keys`, else why not."""
    webhook_id = headers.get("webhook-id")
    timestamp = headers.get("webhook-timestamp", "")
    signatures = headers.get("webhook-signature", "").split()
    if not webhook_id or not timestamp.isdigit() or not signatures:
        return "no webhook-id, webhook-timestamp or webhook-signature header"
    if abs(now - int(timestamp)) > TOLERANCE_SECONDS:
        return f"webhook-timestamp is more than {TOLERANCE_SECONDS} s from this clock"
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    for key in keys:
        expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
        for signature in signatures:
            version, _, value = signature.partition(",")
            if version == "v1" and hmac.compare_digest(value, expected):
                return None
    return "no signature matches WEBHOOK_SIGNING_SECRET"


def pretty_body(body: bytes) -> str:
    """The body indented as JSON when it is JSON, else as text."""
    try:
        return json.dumps(json.loads(body), indent=2, ensure_ascii=False)
    except ValueError:
        return body.decode("utf-8", errors="replace")


@dataclass
class Receiver:
    """Prints each request, judges its signature, and answers as a careful receiver would."""

    keys: list[bytes]
    count: int = 0
    seen: set[str] = field(default_factory=set)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.count += 1
        problem = check_signature(self.keys, request.headers, body, now=time.time())
        print(self.report(request, body, problem), flush=True)
        if self.keys and problem is not None:
            return web.json_response({"error": f"signature: {problem}"}, status=401)
        return web.json_response({"received": True})

    def report(self, request: web.Request, body: bytes, problem: str | None) -> str:
        arrived = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        lines = [f"--- webhook {self.count}: {request.method} {request.path_qs} at {arrived}"]
        lines += [f"    {name}: {value}" for name, value in request.headers.items()]
        lines.append(f"signature: {self.verdict(problem)}")
        webhook_id = request.headers.get("webhook-id", "")
        if webhook_id in self.seen:
            lines.append("repeat: this webhook-id came before (a retry); process it once")
        self.seen.add(webhook_id)
        lines.append("body:")
        lines += [f"    {line}" for line in pretty_body(body).splitlines()]
        return "\n".join(lines)

    def verdict(self, problem: str | None) -> str:
        if not self.keys:
            return "not checked (set WEBHOOK_SIGNING_SECRET here and in the service)"
        return "verified (Standard Webhooks, v1)" if problem is None else f"INVALID: {problem}"


async def schedule_first(api_url: str, token: str, webhook_url: str, delay: float) -> None:
    """Schedule one message to this receiver, retrying while the API is not up yet."""
    message = {
        "id": f"hello-{int(time.time())}",
        "delay": delay,
        "payload": {"hello": "world", "from": "the demo receiver"},
        "webhookUrl": webhook_url,
    }
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=api_url, headers=headers, timeout=5) as client:
        for _ in range(SCHEDULE_ATTEMPTS):
            try:
                response = await client.post("/messages", json=message)
            except httpx.TransportError:
                await asyncio.sleep(1)
                continue
            print(f"POST {api_url}/messages -> {response.status_code} {response.text}", flush=True)
            if response.is_success:
                print(f"It arrives here in {delay:g} s.", flush=True)
            return
    print(f"could not reach {api_url} to schedule a first message", flush=True)


def build_app(receiver: Receiver, args: argparse.Namespace, token: str | None) -> web.Application:
    app = web.Application()
    app.router.add_route("*", "/{path:.*}", receiver.handle)
    if args.schedule_via:
        if token is None:
            raise SystemExit("--schedule-via needs API_TOKEN in the environment or .env")
        url = args.public_url or f"http://{args.host}:{args.port}/hook"
        job = schedule_first(args.schedule_via.rstrip("/"), token, url, args.delay)

        async def start_scheduling(app: web.Application) -> None:
            # A task, not awaited here: the site starts listening only after start-up ends.
            app[FIRST_MESSAGE] = asyncio.get_running_loop().create_task(job)

        app.on_startup.append(start_scheduling)
    return app


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m service.receiver", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=9000, help="port to listen on")
    parser.add_argument("--schedule-via", metavar="API_URL", help="schedule one message here")
    parser.add_argument("--public-url", help="this receiver's URL as the service reaches it")
    parser.add_argument("--delay", type=float, default=10.0, help="seconds until it is due")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    settings = ReceiverSettings()
    receiver = Receiver(keys=signing_keys(settings.webhook_signing_secret))
    token = settings.api_token.get_secret_value() if settings.api_token else None
    app = build_app(receiver, args, token)
    checking = "checks signatures" if receiver.keys else "does not check signatures"
    banner = f"receiver listening on http://{args.host}:{args.port}/ ({checking})"
    # aiohttp calls `print` once the socket listens: the banner means "ready".
    web.run_app(
        app,
        host=args.host,
        port=args.port,
        print=lambda _: print(banner, flush=True),
        access_log=None,
    )


if __name__ == "__main__":
    main()
