"""Delivery: on time, once, signed, retried with backoff, dead-lettered, never lost."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import AUTH, message
from tests.support import partitions as stored
from tests.support.polling import wait_until
from tests.support.redis_server import RedisServer
from tests.support.sink import Sink


@pytest.fixture(params=[1, 16], ids=["P1", "P16"])
def partitions(request: pytest.FixtureRequest) -> int:
    """Every test here runs on one partition and on sixteen (merged listings, fan-outs)."""
    return int(request.param)


def at(seconds_from_now: float) -> str:
    moment = datetime.now(UTC) + timedelta(seconds=seconds_from_now)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def post(api: TestClient, body: dict[str, Any]) -> None:
    response = api.post("/messages", json=body, headers=AUTH)
    assert response.status_code == 200, response.text


def state(api: TestClient, message_id: str) -> str | None:
    """The message's state: pending ... or, once it ended, delivered, cancelled, ..."""
    response = api.get(f"/messages/{message_id}", headers=AUTH)
    return None if response.status_code == 404 else str(response.json()["state"])


def gone(api: TestClient, message_id: str) -> bool:
    """It ended: delivered, dead-lettered or cancelled (only its history is left)."""
    return state(api, message_id) in ("delivered", "dead_lettered", "cancelled")


class TestOnTimeAndOnce:
    def test_message_is_posted_once_with_its_payload_then_removed(
        self, api: TestClient, sink: Sink
    ) -> None:
        post(api, message("once", sink.url(), at=at(0.3)))
        [received] = sink.wait_for(1)
        assert json.loads(received.body) == {"n": "once"}
        assert wait_until(lambda: state(api, "once") == "delivered")
        time.sleep(1.2)  # longer than the loop's idle look: nothing more arrives
        assert len(sink.received) == 1

    def test_never_delivered_before_schedule_to(self, api: TestClient, sink: Sink) -> None:
        due = datetime.now(UTC) + timedelta(seconds=1.5)
        post(api, message("later", sink.url(), at=due.isoformat()))
        [received] = sink.wait_for(1)
        assert received.at >= due.timestamp()

    def test_a_time_in_the_past_fires_now(self, api: TestClient, sink: Sink) -> None:
        post(api, message("past", sink.url(), at="2001-01-01T00:00:00Z"))
        assert len(sink.wait_for(1, timeout=5)) == 1

    def test_request_carries_the_documented_headers(self, api: TestClient, sink: Sink) -> None:
        post(api, message("hdr", sink.url()))
        [received] = sink.wait_for(1)
        headers = received.headers
        assert headers["content-type"] == "application/json"
        assert headers["user-agent"].startswith("scheduler-api/")
        assert headers["x-message-id"] == "hdr"
        assert headers["webhook-id"].startswith("msg_")
        assert headers["idempotency-key"] == headers["webhook-id"]
        assert abs(int(headers["webhook-timestamp"]) - time.time()) < 60
        version, trace_id, span_id, flags = headers["traceparent"].split("-")
        assert (version, len(trace_id), len(span_id), len(flags)) == ("00", 32, 16, 2)
        assert "webhook-signature" not in headers


def verify_standard_webhook(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """An independent verifier, written from the Standard Webhooks specification."""
    key = base64.b64decode(secret.split("_", 1)[1])
    msg_id, timestamp = headers["webhook-id"], headers["webhook-timestamp"]
    if abs(time.time() - int(timestamp)) > 300:
        return False
    content = msg_id.encode() + b"." + timestamp.encode() + b"." + body
    expected = base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode()
    for candidate in headers["webhook-signature"].split(" "):
        version, _, signature = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(signature, expected):
            return True
    return False


def test_signature_verifies_with_the_standard_webhooks_algorithm(
    start_app: Any, sink: Sink
) -> None:
    secret = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()
    api = start_app(webhook_signing_secret=secret)
    post(api, message("signed", sink.url()))
    [received] = sink.wait_for(1)
    assert verify_standard_webhook(secret, received.headers, received.body)
    tampered = received.body.replace(b"signed", b"forged")
    assert not verify_standard_webhook(secret, received.headers, tampered)


class TestRetries:
    def test_retry_then_success_keeps_one_idempotency_key(
        self, api: TestClient, sink: Sink
    ) -> None:
        post(api, message("flaky", sink.url("/flaky/2")))
        attempts = sink.wait_for(3)
        keys = {r.headers["idempotency-key"] for r in attempts}
        assert len(keys) == 1 and keys == {r.headers["webhook-id"] for r in attempts}
        assert [r.headers["webhook-attempt"] for r in attempts] == ["1", "2", "3"]
        assert wait_until(lambda: state(api, "flaky") == "delivered")

    def test_last_error_is_kept_between_attempts(self, api: TestClient, sink: Sink) -> None:
        # The receiver asks for the retry an hour later: backoff has full jitter, so any
        # backoff alone may bring the second attempt in before the checks below (with a
        # 5 s base, one full run on a Cluster read attemptCount 2).
        post(api, message("err", sink.url("/unavailable/3600")))
        sink.wait_for(1)
        assert wait_until(lambda: api.get("/messages/err", headers=AUTH).json()["lastError"])
        detail = api.get("/messages/err", headers=AUTH).json()
        assert detail["state"] == "pending"
        assert detail["attemptCount"] == 1
        assert "HTTP 503" in detail["lastError"]
        [attempt] = detail["attempts"]
        assert (attempt["attempt"], attempt["responseStatus"]) == (1, 503)
        assert attempt["error"].startswith("HTTP 503") and attempt["durationMs"] >= 0

    def test_retry_after_is_honoured(self, api: TestClient, sink: Sink) -> None:
        post(api, message("slowdown", sink.url("/retry-after/1/1")))
        first, second = sink.wait_for(2)
        assert second.at - first.at >= 1.0

    @pytest.mark.parametrize("path", ["/status/500", "/status/408", "/status/429", "/status/999"])
    def test_retryable_answers_are_retried_up_to_the_limit(
        self, api: TestClient, sink: Sink, path: str
    ) -> None:
        post(api, message("retry", sink.url(path)))
        assert len(sink.wait_for(3)) == 3
        assert wait_until(lambda: api.get("/dead-letters", headers=AUTH).json()["count"] == 1)
        [dead] = api.get("/dead-letters", headers=AUTH).json()["deadLetters"]
        assert dead["attempts"] == 3
        assert "gave up after 3 attempts" in dead["lastError"]

    def test_connection_refused_is_retried(self, api: TestClient) -> None:
        post(api, message("refused", "http://127.0.0.1:9/nothing-listens"))
        assert wait_until(lambda: api.get("/dead-letters", headers=AUTH).json()["count"] == 1)
        dead = api.get("/dead-letters", headers=AUTH).json()["deadLetters"][0]
        assert dead["attempts"] == 3
        assert "connection_error" in dead["lastError"]

    def test_timeout_is_retried(self, start_app: Any, sink: Sink) -> None:
        api = start_app(delivery_timeout_seconds=0.3, delivery_max_attempts=2)
        post(api, message("timeout", sink.url("/slow/1500")))
        assert wait_until(lambda: api.get("/dead-letters", headers=AUTH).json()["count"] == 1)
        dead = api.get("/dead-letters", headers=AUTH).json()["deadLetters"][0]
        assert "timeout" in dead["lastError"]
        assert len(sink.received) == 2


class TestDeadLetters:
    @pytest.mark.parametrize("path", ["/status/400", "/status/404", "/status/410"])
    def test_non_retryable_answer_dead_letters_at_once(
        self, api: TestClient, sink: Sink, path: str
    ) -> None:
        post(api, message("bad", sink.url(path)))
        assert wait_until(lambda: api.get("/dead-letters", headers=AUTH).json()["count"] == 1)
        assert len(sink.received) == 1
        detail = api.get("/messages/bad", headers=AUTH).json()
        assert detail["state"] == "dead"
        assert detail["lastError"].startswith(f"HTTP {path.rsplit('/', 1)[1]}")
        assert api.get("/messages", headers=AUTH).json()["count"] == 0

    def test_redirects_are_not_followed(self, api: TestClient, sink: Sink) -> None:
        post(api, message("moved", sink.url("/redirect")))
        assert wait_until(lambda: api.get("/dead-letters", headers=AUTH).json()["count"] == 1)
        [dead] = api.get("/dead-letters", headers=AUTH).json()["deadLetters"]
        assert "redirect" in dead["lastError"]
        assert [r.path for r in sink.received] == ["/redirect"]

    def test_redrive_delivers_again_with_attempts_reset(self, api: TestClient, sink: Sink) -> None:
        post(api, message("phoenix", sink.url("/flaky/3")))
        assert wait_until(lambda: api.get("/dead-letters", headers=AUTH).json()["count"] == 1)
        response = api.post("/dead-letters/phoenix/redrive", headers=AUTH)
        assert response.status_code == 200
        assert response.json()["status"] == "scheduled"
        fourth = sink.wait_for(4)[-1]
        assert fourth.headers["webhook-attempt"] == "1"
        assert wait_until(lambda: state(api, "phoenix") == "delivered")
        assert api.get("/dead-letters", headers=AUTH).json()["count"] == 0

    def test_dead_letter_can_be_deleted(self, api: TestClient, sink: Sink) -> None:
        post(api, message("drop", sink.url("/status/404")))
        assert wait_until(lambda: api.get("/dead-letters", headers=AUTH).json()["count"] == 1)
        assert api.delete("/dead-letters/drop", headers=AUTH).status_code == 200
        assert state(api, "drop") == "dead_lettered"

    def test_unknown_dead_letter_is_404(self, api: TestClient) -> None:
        post(api, message("alive", "http://127.0.0.1:9/", at="2999-01-01T00:00:00Z"))
        assert api.post("/dead-letters/alive/redrive", headers=AUTH).status_code == 404
        assert api.delete("/dead-letters/alive", headers=AUTH).status_code == 404
        assert api.delete("/dead-letters/nope", headers=AUTH).status_code == 404


def test_delete_racing_a_delivery_never_brings_the_message_back(
    api: TestClient, sink: Sink, raw_redis: Any
) -> None:
    post(api, message("race", sink.url("/slow-fail/700")))
    assert sink.wait_for(1)
    assert api.delete("/messages/race", headers=AUTH).status_code == 200
    time.sleep(1.5)  # the failed attempt settles while the message is deleted
    assert state(api, "race") == "cancelled"
    assert stored.size(raw_redis, "due") == 0
    assert stored.size(raw_redis, "inflight") == 0
    assert len(sink.received) == 1


def test_pending_messages_survive_a_restart_and_are_delivered_once(
    start_app: Any, sink: Sink, raw_redis: Any
) -> None:
    first = start_app()
    # This replica accepts but never delivers, so all 1,000 are pending when it stops,
    # however long the POSTs take on a busy machine.
    first.app.state.runtime.dispatcher.stop_claiming()  # type: ignore[attr-defined]
    due = at(0.5)
    for i in range(1000):
        post(first, message(f"r{i}", sink.url(), at=due))
    first.__exit__(None, None, None)
    assert stored.size(raw_redis, "due") == 1000
    assert sink.received == []
    start_app()
    received = sink.wait_for(1000, timeout=30)
    ids = [r.message_id for r in received]
    assert sorted(ids) == sorted(f"r{i}" for i in range(1000))
    time.sleep(1.2)
    assert len(sink.received) == 1000


def test_redis_outage_gives_503_and_loses_nothing(
    tmp_path: Any, make_settings: Any, sink: Sink
) -> None:
    from service.app import create_app

    server = RedisServer(tmp_path / "redis").start()
    try:
        settings = make_settings(redis_url=server.url, redis_timeout_seconds=1.0)
        with TestClient(create_app(settings), raise_server_exceptions=False) as api:
            due = at(3.0)
            for i in range(50):
                post(api, message(f"o{i}", sink.url(), at=due))
            server.stop()
            started = time.monotonic()
            health = api.get("/health")
            assert health.status_code == 503
            assert health.json() == {
                **health.json(),
                "status": "unhealthy",
                "redis": "disconnected",
            }
            refused = api.post("/messages", json=message("x", sink.url()), headers=AUTH)
            assert refused.status_code == 503
            assert "Redis" in refused.json()["detail"]
            assert api.get("/messages", headers=AUTH).status_code == 503
            assert time.monotonic() - started < 10
            assert api.get("/livez").status_code == 200
            server.start()
            assert wait_until(lambda: api.get("/health").status_code == 200)
            received = sink.wait_for(50, timeout=20)
            assert sorted(r.message_id for r in received) == sorted(f"o{i}" for i in range(50))
    finally:
        server.stop()
