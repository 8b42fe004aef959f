"""The HTTP API: the original product's requests work unchanged, and bad input gets a 4xx."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import AUTH, NOWHERE, message
from tests.support import partitions as stored


@pytest.fixture(params=[1, 16], ids=["P1", "P16"])
def partitions(request: pytest.FixtureRequest) -> int:
    """Every test here runs on one partition and on sixteen (merged listings, fan-outs)."""
    return int(request.param)


FUTURE = "2999-01-01T00:00:00Z"


def schedule(api: TestClient, body: dict[str, Any]) -> Any:
    return api.post("/messages", json=body, headers=AUTH)


class TestOriginalContract:
    """Every request of the original README, verbatim."""

    def test_schedule_answers_scheduled_with_the_id(self, api: TestClient) -> None:
        body = {
            "id": "unique-message-id",
            "scheduleTo": "2999-12-25T10:30:00Z",
            "payload": {"data": "your webhook payload"},
            "webhookUrl": "http://127.0.0.1:9/your-webhook-endpoint",
        }
        response = schedule(api, body)
        assert response.status_code == 200
        assert response.json() == {"status": "scheduled", "messageId": "unique-message-id"}

    def test_list_shows_scheduled_jobs_with_next_run_and_count(self, api: TestClient) -> None:
        schedule(api, message("m1", "http://127.0.0.1:9/h", at="2999-12-25T10:30:00Z"))
        body = api.get("/messages", headers=AUTH).json()
        assert body["count"] == 1
        assert body["scheduledJobs"][0]["messageId"] == "m1"
        assert body["scheduledJobs"][0]["nextRun"] == "2999-12-25T10:30:00.000Z"

    def test_delete_answers_deleted_with_the_id(self, api: TestClient) -> None:
        schedule(api, message("m1", "http://127.0.0.1:9/h", at=FUTURE))
        response = api.delete("/messages/m1", headers=AUTH)
        assert response.status_code == 200
        assert response.json() == {"status": "deleted", "messageId": "m1"}
        assert api.get("/messages", headers=AUTH).json()["count"] == 0

    def test_health_needs_no_token(self, api: TestClient) -> None:
        response = api.get("/health")
        assert response.status_code == 200
        assert response.json()["status"] == "healthy"
        assert response.json()["redis"] == "connected"

    def test_duplicate_id_is_409(self, api: TestClient) -> None:
        schedule(api, message("dup", "http://127.0.0.1:9/h", at=FUTURE))
        response = schedule(api, message("dup", "http://127.0.0.1:9/other", at=FUTURE))
        assert response.status_code == 409
        assert "already exists" in response.json()["detail"]

    def test_deleting_an_unknown_message_is_404(self, api: TestClient) -> None:
        response = api.delete("/messages/nope", headers=AUTH)
        assert response.status_code == 404
        assert "nope" in response.json()["detail"]


class TestAuthentication:
    @pytest.mark.parametrize(
        ("method", "path"),
        [
            ("POST", "/messages"),
            ("GET", "/messages"),
            ("GET", "/messages/x"),
            ("DELETE", "/messages/x"),
            ("GET", "/dead-letters"),
            ("POST", "/dead-letters/x/redrive"),
            ("DELETE", "/dead-letters/x"),
        ],
    )
    @pytest.mark.parametrize(
        "headers",
        [{}, {"Authorization": "Bearer wrong-token"}, {"Authorization": "Basic abc"}],
        ids=["missing", "wrong", "not-bearer"],
    )
    def test_every_api_endpoint_refuses_without_the_token(
        self, api: TestClient, method: str, path: str, headers: dict[str, str]
    ) -> None:
        response = api.request(method, path, headers=headers, json=message("x", NOWHERE))
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
        assert "token" in response.json()["detail"].lower()

    def test_probes_and_metrics_are_open(self, api: TestClient) -> None:
        assert api.get("/livez").status_code == 200
        assert api.get("/metrics").status_code == 200

    def test_metrics_token_closes_metrics(self, start_app: Any) -> None:
        app = start_app(metrics_token="metrics-secret-1")
        assert app.get("/metrics").status_code == 401
        ok = app.get("/metrics", headers={"Authorization": "Bearer metrics-secret-1"})
        assert ok.status_code == 200


BAD_BODIES: list[tuple[str, Any, str]] = [
    ("empty id", message("", NOWHERE, at=FUTURE), "id"),
    ("id too long", message("x" * 257, NOWHERE, at=FUTURE), "id"),
    ("id with slash", message("a/b", NOWHERE, at=FUTURE), "id"),
    ("id with space", message("a b", NOWHERE, at=FUTURE), "id"),
    ("id not a string", {**message("x", NOWHERE, at=FUTURE), "id": 5}, "id"),
    ("impossible date", message("x", NOWHERE, at="2024-02-30T10:00:00Z"), "scheduleTo"),
    ("unparsable date", message("x", NOWHERE, at="next tuesday"), "scheduleTo"),
    ("missing date", {"id": "x", "payload": {}, "webhookUrl": NOWHERE}, "scheduleTo"),
    ("ftp url", message("x", "ftp://a.b/file", at=FUTURE), "webhookUrl"),
    ("url without host", message("x", "http:///path", at=FUTURE), "webhookUrl"),
    ("not a url", message("x", "just words", at=FUTURE), "webhookUrl"),
    ("bad port", message("x", "http://127.0.0.1:99999/", at=FUTURE), "webhookUrl"),
    ("url too long", message("x", "http://127.0.0.1:9/" + "p" * 2100, at=FUTURE), "webhookUrl"),
    ("missing url", {"id": "x", "scheduleTo": FUTURE, "payload": {}}, "webhookUrl"),
    ("missing payload", {"id": "x", "scheduleTo": FUTURE, "webhookUrl": NOWHERE}, "payload"),
    ("body is a list", [1, 2], "body"),
]


class TestBadInput:
    @pytest.mark.parametrize(("case", "body", "field"), BAD_BODIES, ids=[c[0] for c in BAD_BODIES])
    def test_bad_body_is_422_naming_the_field(
        self, api: TestClient, raw_redis: Any, case: str, body: Any, field: str
    ) -> None:
        response = api.post("/messages", json=body, headers=AUTH)
        assert response.status_code == 422, response.text
        error = response.json()
        assert error["code"] == "invalid_request"
        assert field in [row["field"] for row in error["errors"]]
        assert field in error["detail"]
        assert stored.size(raw_redis, "msgs") == 0

    def test_malformed_json_says_so(self, api: TestClient) -> None:
        response = api.post(
            "/messages",
            content=b'{"id": "x",',
            headers={**AUTH, "Content-Type": "application/json"},
        )
        assert response.status_code == 422
        assert "not valid JSON" in response.json()["detail"]

    @pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity"])
    def test_non_standard_json_numbers_are_refused(self, api: TestClient, literal: bytes) -> None:
        body = b'{"id": "x", "scheduleTo": "2999-01-01", "webhookUrl": "http://127.0.0.1:9", '
        body += b'"payload": '
        response = api.post(
            "/messages",
            content=body + b'{"n": ' + literal + b"}}",
            headers={**AUTH, "Content-Type": "application/json"},
        )
        assert response.status_code == 422
        assert response.json()["errors"][0]["field"] == "payload"

    def test_body_that_is_not_utf8_is_422(self, api: TestClient) -> None:
        response = api.post(
            "/messages", content=b"\xff\x00h", headers={**AUTH, "Content-Type": "application/json"}
        )
        assert response.status_code == 422
        assert "JSON" in response.json()["detail"]

    def test_form_body_asks_for_json(self, api: TestClient) -> None:
        response = api.post("/messages", content=b"id=x", headers=AUTH)
        assert response.status_code == 422
        assert "application/json" in response.json()["detail"]

    def test_body_over_the_limit_is_413(self, start_app: Any) -> None:
        app = start_app(max_payload_bytes=2048)
        body = message("big", NOWHERE, at=FUTURE, payload={"blob": "x" * 4096})
        response = app.post("/messages", json=body, headers=AUTH)
        assert response.status_code == 413
        assert "MAX_PAYLOAD_BYTES" in response.json()["detail"]

    def test_chunked_body_over_the_limit_is_413(self, start_app: Any) -> None:
        app = start_app(max_payload_bytes=2048)

        def chunks() -> Any:
            yield b'{"id": "big", "payload": "'
            for _ in range(10):
                yield b"x" * 512
            yield b'"}'

        response = app.post(
            "/messages", content=chunks(), headers={**AUTH, "Content-Type": "application/json"}
        )
        assert response.status_code == 413

    @pytest.mark.parametrize("query", ["limit=0", "limit=1001", "limit=abc", "cursor=%%%"])
    def test_bad_paging_is_422(self, api: TestClient, query: str) -> None:
        response = api.get(f"/messages?{query}", headers=AUTH)
        assert response.status_code == 422
        assert response.json()["detail"]


class TestTimes:
    def test_time_without_offset_is_utc(self, api: TestClient) -> None:
        schedule(api, message("naive", NOWHERE, at="2999-06-01T12:00:00"))
        detail = api.get("/messages/naive", headers=AUTH).json()
        assert detail["scheduleTo"] == "2999-06-01T12:00:00.000Z"

    def test_offset_is_converted_to_utc(self, api: TestClient) -> None:
        schedule(api, message("offset", NOWHERE, at="2999-06-01T12:00:00-03:00"))
        detail = api.get("/messages/offset", headers=AUTH).json()
        assert detail["scheduleTo"] == "2999-06-01T15:00:00.000Z"


class TestReading:
    def test_get_returns_the_whole_message(self, api: TestClient) -> None:
        body = message("full", "http://127.0.0.1:9/hook", at=FUTURE)
        body["payload"] = {"nested": {"list": [1, 2, 3]}, "text": "olá"}
        schedule(api, body)
        detail = api.get("/messages/full", headers=AUTH).json()
        assert detail["payload"] == body["payload"]
        assert detail["webhookUrl"] == "http://127.0.0.1:9/hook"
        assert detail["state"] == "pending"
        assert (detail["attemptCount"], detail["attempts"]) == (0, [])
        assert detail["lastError"] is None
        assert detail["createdAt"].endswith("Z")

    def test_huge_integers_and_unicode_survive_unchanged(self, api: TestClient) -> None:
        body = message("big-int", "http://127.0.0.1:9/hook", at=FUTURE)
        body["payload"] = {"big": 2**70, "text": "ação ✓"}
        schedule(api, body)
        detail = api.get("/messages/big-int", headers=AUTH).json()
        assert detail["payload"] == body["payload"]

    def test_get_unknown_is_404(self, api: TestClient) -> None:
        assert api.get("/messages/unknown", headers=AUTH).status_code == 404

    def test_list_is_ordered_by_next_run_and_pages_with_a_cursor(self, api: TestClient) -> None:
        # Same-instant messages too: the cursor must not skip or repeat ties.
        times = ["2999-01-03", "2999-01-01", "2999-01-02", "2999-01-02", "2999-01-02"]
        for i, day in enumerate(times):
            schedule(api, message(f"m{i}", NOWHERE, at=f"{day}T00:00:00Z"))
        seen: list[str] = []
        cursor = None
        for _ in range(10):
            params: dict[str, Any] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
            page = api.get("/messages", params=params, headers=AUTH).json()
            assert page["count"] == 5
            seen += [job["messageId"] for job in page["scheduledJobs"]]
            cursor = page["nextCursor"]
            if cursor is None:
                break
        assert seen == ["m1", "m2", "m3", "m4", "m0"]

    def test_openapi_documents_every_field_with_the_original_example(self, api: TestClient) -> None:
        spec = api.get("/openapi.json").json()
        request = spec["components"]["schemas"]["ScheduleRequest"]
        # id may be left to the service, scheduleTo may be a delay, payload omitted for GET.
        assert set(request["required"]) == {"webhookUrl"}
        assert all(field.get("description") for field in request["properties"].values())
        assert request["examples"][0] == {
            "id": "unique-message-id",
            "scheduleTo": "2030-12-25T10:30:00Z",
            "payload": {"data": "your webhook payload"},
            "webhookUrl": "http://localhost:9000/hook",
        }
        assert api.get("/docs").status_code == 200


def test_liveness_fails_once_a_background_loop_has_stopped(api: TestClient) -> None:
    assert api.get("/livez").json() == {"status": "alive"}
    runtime = api.app.state.runtime  # type: ignore[attr-defined]

    async def stop_the_lease_loop() -> None:
        lease_loop = next(task for task in runtime._tasks if task.get_name() == "lease")
        lease_loop.cancel()
        await asyncio.wait([lease_loop], timeout=5)

    api.portal.call(stop_the_lease_loop)  # type: ignore[union-attr]
    response = api.get("/livez")
    assert response.status_code == 503
    assert response.json()["stoppedLoops"] == ["lease"]
    assert api.get("/health").status_code == 200  # readiness is about Redis, not loops
