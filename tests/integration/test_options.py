"""Message options: each field's rules, and what delivery does with them."""

from __future__ import annotations

import json
import logging
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import AUTH, NOWHERE
from tests.support import partitions as stored
from tests.support.polling import wait_until
from tests.support.sink import Sink


@pytest.fixture(params=[1, 16], ids=["P1", "P16"])
def partitions(request: pytest.FixtureRequest) -> int:
    """Every test here runs on one partition and on sixteen (merged listings, fan-outs)."""
    return int(request.param)


FUTURE = "2999-01-01T00:00:00Z"


def body(url: str = NOWHERE, **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"scheduleTo": FUTURE, "payload": {"p": 1}, "webhookUrl": url}
    base.update(fields)
    return {key: value for key, value in base.items() if value is not ...}


def detail(api: TestClient, message_id: str) -> dict[str, Any]:
    response = api.get(f"/messages/{message_id}", headers=AUTH)
    assert response.status_code == 200, response.text
    return dict(response.json())


def dead_letters(api: TestClient) -> list[dict[str, Any]]:
    return list(api.get("/dead-letters", headers=AUTH).json()["deadLetters"])


REFUSED: list[tuple[str, dict[str, Any], str, str]] = [
    ("both times", body(delay=5), "scheduleTo", "exactly one of scheduleTo and delay"),
    ("no time", body(scheduleTo=...), "scheduleTo", "exactly one of scheduleTo and delay"),
    ("negative delay", body(scheduleTo=..., delay=-1), "delay", "negative"),
    ("delay in months", body(scheduleTo=..., delay="P1M"), "delay", "use days"),
    ("delay as text", body(scheduleTo=..., delay="90"), "delay", "ISO-8601 duration"),
    ("delay not a duration", body(scheduleTo=..., delay="PTX"), "delay", "not an ISO-8601"),
    ("delay too long", body(scheduleTo=..., delay="P40000D"), "delay", "100 years"),
    ("unknown method", body(method="TRACE"), "method", "Input should be"),
    ("GET with a body", body(method="GET"), "payload", "sends no body"),
    ("DELETE with a body", body(method="DELETE"), "payload", "sends no body"),
    ("POST without a body", body(payload=...), "payload", "Field required"),
    ("too many headers", body(headers={f"X-H{i}": "v" for i in range(33)}), "headers", "32"),
    ("headers too big", body(headers={"X-Big": "v" * 8200}), "headers", "8192 bytes"),
    ("bad header name", body(headers={"X Bad": "v"}), "headers", "RFC 9110 token"),
    ("Host header", body(headers={"Host": "evil"}), "headers", "set by the service"),
    ("webhook- header", body(headers={"Webhook-Id": "x"}), "headers", "set by the service"),
    ("Proxy- header", body(headers={"Proxy-Authorization": "x"}), "headers", "set by the"),
    ("Idempotency-Key", body(headers={"idempotency-key": "x"}), "headers", "set by the service"),
    ("traceparent", body(headers={"traceparent": "x"}), "headers", "set by the service"),
    ("CR LF in a value", body(headers={"X-A": "a\r\nX-B: b"}), "headers", "without CR or LF"),
    ("twice by case", body(headers={"X-A": "1", "x-a": "2"}), "headers", "twice"),
    ("zero attempts", body(maxAttempts=0), "maxAttempts", "greater than or equal to 1"),
    ("101 attempts", body(maxAttempts=101), "maxAttempts", "less than or equal to 100"),
    ("zero timeout", body(timeoutSeconds=0), "timeoutSeconds", "greater than 0"),
    ("timeout past claims", body(timeoutSeconds=5), "timeoutSeconds", "CLAIM_TIMEOUT_SECONDS"),
    ("zero lateness", body(maxLatenessSeconds=0), "maxLatenessSeconds", "greater than 0"),
    ("17 labels", body(labels={f"k{i}": "v" for i in range(17)}), "labels", "at most 16"),
    ("bad label key", body(labels={"a b": "v"}), "labels", "label key 'a b'"),
    ("empty label value", body(labels={"k": ""}), "labels", "1 to 256"),
    ("long label value", body(labels={"k": "v" * 257}), "labels", "1 to 256"),
    ("control in label", body(labels={"k": "a\u0007"}), "labels", "control characters"),
    ("ftp callback", body(callbackUrl="ftp://h/"), "callbackUrl", "http:// or https://"),
    ("bad failure callback", body(failureCallbackUrl="x"), "failureCallbackUrl", "http"),
]


@pytest.mark.parametrize(
    ("case", "request_body", "field", "message"), REFUSED, ids=[c[0] for c in REFUSED]
)
def test_each_rule_refuses_with_the_field_and_why(
    api: TestClient, raw_redis: Any, case: str, request_body: Any, field: str, message: str
) -> None:
    response = api.post("/messages", json=request_body, headers=AUTH)
    assert response.status_code == 422, response.text
    error = response.json()
    assert error["code"] == "invalid_request"
    assert field in [row["field"] for row in error["errors"]], error
    assert message in error["detail"], error["detail"]
    assert stored.size(raw_redis, "msgs") == 0


def test_a_denied_callback_address_is_refused(start_app: Any) -> None:
    api = start_app(webhook_deny_networks="default,loopback")
    response = api.post(
        "/messages",
        json=body("http://localhost:9/", callbackUrl="http://127.0.0.1:9/cb"),
        headers=AUTH,
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "callbackUrl"


class TestIdsAndTimes:
    def test_an_omitted_id_is_made_time_ordered_and_answered(self, api: TestClient) -> None:
        made = [
            api.post("/messages", json=body(), headers=AUTH).json()["messageId"] for _ in range(3)
        ]
        assert all(uuid.UUID(made_id).version == 7 for made_id in made)
        assert made == sorted(made)
        assert detail(api, made[0])["state"] == "pending"

    @pytest.mark.parametrize(("delay", "seconds"), [(90, 90), (0.5, 0.5), ("PT1H30M", 5400)])
    def test_delay_counts_from_acceptance(
        self, api: TestClient, delay: Any, seconds: float
    ) -> None:
        before = time.time()
        payload = body(scheduleTo=..., delay=delay, id="later")
        assert api.post("/messages", json=payload, headers=AUTH).status_code == 200
        due = datetime.fromisoformat(detail(api, "later")["scheduleTo"]).timestamp()
        assert before + seconds - 1 <= due <= time.time() + seconds + 1


class TestDelivery:
    def test_method_headers_and_the_message_id_go_out(self, api: TestClient, sink: Sink) -> None:
        request = body(
            sink.url(),
            id="put-me",
            scheduleTo="2020-01-01T00:00:00Z",
            method="PUT",
            headers={"X-N8N-Auth": "s3cret-value", "Content-Type": "application/vnd.api+json"},
        )
        assert api.post("/messages", json=request, headers=AUTH).status_code == 200
        [received] = sink.wait_for(1)
        assert received.method == "PUT"
        assert received.headers["x-n8n-auth"] == "s3cret-value"
        assert received.headers["content-type"] == "application/vnd.api+json"
        assert received.headers["x-message-id"] == "put-me"
        assert json.loads(received.body) == {"p": 1}

    @pytest.mark.parametrize("method", ["GET", "DELETE"])
    def test_get_and_delete_send_no_body(self, api: TestClient, sink: Sink, method: str) -> None:
        request = body(sink.url(), scheduleTo="2020-01-01T00:00:00Z", method=method, payload=...)
        assert api.post("/messages", json=request, headers=AUTH).status_code == 200
        [received] = sink.wait_for(1)
        assert (received.method, received.body) == (method, b"")
        assert "content-type" not in received.headers

    def test_header_values_never_come_back_or_reach_the_logs(
        self, api: TestClient, sink: Sink, caplog: pytest.LogCaptureFixture
    ) -> None:
        secret = "never-shown-9f2c"
        with caplog.at_level(logging.DEBUG):
            for message_id, at in (("held", FUTURE), ("sent", "2020-01-01T00:00:00Z")):
                request = body(sink.url(), id=message_id, scheduleTo=at, headers={"X-Key": secret})
                api.post("/messages", json=request, headers=AUTH)
            sink.wait_for(1)
            assert wait_until(lambda: detail(api, "sent")["state"] == "delivered")
        answers = [
            api.get("/messages", headers=AUTH).text,
            api.get("/messages/held", headers=AUTH).text,
            api.get("/messages/sent", headers=AUTH).text,
        ]
        assert all(secret not in text for text in answers)
        assert detail(api, "held")["headerNames"] == ["X-Key"]
        assert not [r for r in caplog.records if secret in r.getMessage() + str(vars(r))]

    def test_max_attempts_of_the_message_wins(self, api: TestClient, sink: Sink) -> None:
        request = body(sink.url("/status/503"), id="twice", scheduleTo=..., delay=0, maxAttempts=2)
        api.post("/messages", json=request, headers=AUTH)
        assert wait_until(lambda: len(dead_letters(api)) == 1)
        assert len(sink.received) == 2
        assert "gave up after 2 attempts" in dead_letters(api)[0]["lastError"]

    def test_timeout_of_the_message_wins(self, start_app: Any, sink: Sink) -> None:
        api = start_app(delivery_max_attempts=1)
        request = body(
            sink.url("/slow/1500"), id="quick", scheduleTo=..., delay=0, timeoutSeconds=0.3
        )
        api.post("/messages", json=request, headers=AUTH)
        assert wait_until(lambda: len(dead_letters(api)) == 1)
        assert "timeout" in dead_letters(api)[0]["lastError"]

    def test_past_max_lateness_nothing_is_sent_and_it_is_dead_lettered(
        self, api: TestClient, sink: Sink
    ) -> None:
        ten_ago = (datetime.now(UTC) - timedelta(seconds=10)).isoformat()
        request = body(sink.url(), id="stale", scheduleTo=ten_ago, maxLatenessSeconds=2)
        api.post("/messages", json=request, headers=AUTH)
        assert wait_until(lambda: len(dead_letters(api)) == 1)
        assert dead_letters(api)[0]["lastError"].startswith("expired: ")
        assert "maxLatenessSeconds (2)" in dead_letters(api)[0]["lastError"]
        time.sleep(0.3)
        assert sink.received == []

    def test_two_messages_under_one_id_get_different_webhook_ids(
        self, api: TestClient, sink: Sink
    ) -> None:
        for count in (1, 2):
            request = body(sink.url(), id="reused", scheduleTo="2020-01-01T00:00:00Z")
            assert wait_until(
                lambda r=request: api.post("/messages", json=r, headers=AUTH).status_code == 200
            )
            assert len(sink.wait_for(count)) == count
        first, second = sink.received
        assert first.headers["webhook-id"] != second.headers["webhook-id"]
        assert first.headers["x-message-id"] == second.headers["x-message-id"] == "reused"
