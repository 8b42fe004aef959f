"""Changing messages after the fact: PATCH, batches, history and callbacks."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import AUTH, NOWHERE
from tests.support.polling import wait_until
from tests.support.sink import Sink

FUTURE = "2999-01-01T00:00:00Z"


def at(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()


def post(api: TestClient, message_id: str, url: str = NOWHERE, **fields: Any) -> None:
    request = {"id": message_id, "scheduleTo": FUTURE, "payload": {"v": 1}, "webhookUrl": url}
    response = api.post("/messages", json={**request, **fields}, headers=AUTH)
    assert response.status_code == 200, response.text


def state(api: TestClient, message_id: str) -> str | None:
    response = api.get(f"/messages/{message_id}", headers=AUTH)
    return str(response.json()["state"]) if response.status_code == 200 else None


class TestPatch:
    def test_a_merge_patch_changes_only_what_it_names(self, api: TestClient) -> None:
        post(api, "p", headers={"X-A": "1", "X-B": "2"}, labels={"k": "v"}, maxAttempts=4)
        changes = {"payload": {"v": 2}, "headers": {"X-B": None, "X-C": "3"}, "labels": {"j": "w"}}
        response = api.patch("/messages/p", json=changes, headers=AUTH)
        assert response.status_code == 200, response.text
        patched = response.json()
        assert patched["payload"] == {"v": 2}
        assert patched["headerNames"] == ["X-A", "X-C"]
        assert patched["labels"] == {"k": "v", "j": "w"}
        assert patched["maxAttempts"] == 4
        assert patched["scheduleTo"] == "2999-01-01T00:00:00.000Z"
        labelled = api.get("/messages", params={"label": "j:w"}, headers=AUTH).json()
        assert [job["messageId"] for job in labelled["scheduledJobs"]] == ["p"]

    def test_moving_it_earlier_wakes_delivery_and_sends_the_new_version(
        self, api: TestClient, sink: Sink
    ) -> None:
        post(api, "soon", sink.url(), headers={"X-Token": "old"})
        time.sleep(0.2)  # the delivery loop is asleep, with nothing due
        changes = {"delay": 0, "headers": {"X-Token": "new"}, "payload": {"v": "patched"}}
        assert api.patch("/messages/soon", json=changes, headers=AUTH).status_code == 200
        [received] = sink.wait_for(1, timeout=3)
        assert received.headers["x-token"] == "new"
        assert json.loads(received.body) == {"v": "patched"}

    def test_while_in_flight_it_is_409(self, api: TestClient, sink: Sink) -> None:
        post(api, "busy", sink.url("/slow/1500"), scheduleTo=at(-1))
        sink.wait_for(1)
        response = api.patch("/messages/busy", json={"payload": 2}, headers=AUTH)
        assert response.status_code == 409
        assert "being delivered" in response.json()["detail"]

    def test_unknown_is_404_and_the_id_cannot_change(self, api: TestClient) -> None:
        assert api.patch("/messages/nope", json={"payload": 1}, headers=AUTH).status_code == 404
        post(api, "fixed")
        response = api.patch("/messages/fixed", json={"id": "other"}, headers=AUTH)
        assert response.status_code == 422
        assert response.json()["errors"][0]["field"] == "id"

    def test_a_patch_breaking_a_rule_is_422_and_changes_nothing(self, api: TestClient) -> None:
        post(api, "rules")
        response = api.patch("/messages/rules", json={"maxAttempts": 0}, headers=AUTH)
        assert response.status_code == 422
        assert "maxAttempts" in response.json()["detail"]
        assert api.get("/messages/rules", headers=AUTH).json()["maxAttempts"] is None

    def test_patch_racing_a_claim_is_either_before_it_or_refused(
        self, api: TestClient, sink: Sink
    ) -> None:
        outcomes = []
        for i in range(20):
            post(api, f"r{i}", sink.url(), scheduleTo=at(0.05), headers={"X-V": "old"})
            response = api.patch(f"/messages/r{i}", json={"headers": {"X-V": "new"}}, headers=AUTH)
            outcomes.append((f"r{i}", response.status_code))
        assert wait_until(lambda: len(sink.received) >= 20)
        sent = {r.message_id: r.headers["x-v"] for r in sink.received}
        for message_id, status in outcomes:
            assert status in (200, 409, 404)
            if status == 200:
                assert sent[message_id] == "new", message_id  # patched before its claim
            else:
                assert sent[message_id] == "old", message_id


class TestBatch:
    def test_each_item_succeeds_or_fails_on_its_own_in_order(self, api: TestClient) -> None:
        post(api, "taken")
        items = [
            {"id": "ok1", "scheduleTo": FUTURE, "payload": 1, "webhookUrl": NOWHERE},
            {"id": "bad", "scheduleTo": "never", "payload": 1, "webhookUrl": NOWHERE},
            {"id": "taken", "scheduleTo": FUTURE, "payload": 1, "webhookUrl": NOWHERE},
            {"delay": 60, "payload": 1, "webhookUrl": NOWHERE},
            "not an object",
        ]
        response = api.post("/messages/batch", json={"messages": items}, headers=AUTH)
        assert response.status_code == 200
        results = response.json()["results"]
        assert [r["status"] for r in results] == [
            "scheduled",
            "error",
            "error",
            "scheduled",
            "error",
        ]
        assert results[0]["messageId"] == "ok1"
        assert results[1]["code"] == "invalid_request" and "scheduleTo" in results[1]["detail"]
        assert results[2]["code"] == "conflict"
        assert results[3]["messageId"]  # made by the service
        assert results[4]["messageId"] is None

    @pytest.mark.parametrize(
        "batch",
        [{"messages": []}, {"messages": [{}] * 1001}, {"messages": "x"}, {"items": []}, [1]],
        ids=["empty", "over 1000", "not a list", "wrong key", "not an object"],
    )
    def test_a_batch_of_the_wrong_shape_is_422(self, api: TestClient, batch: Any) -> None:
        assert api.post("/messages/batch", json=batch, headers=AUTH).status_code == 422


class TestHistory:
    def test_a_delivered_message_stays_readable_without_its_payload(
        self, api: TestClient, sink: Sink
    ) -> None:
        post(api, "done", sink.url("/flaky/1"), scheduleTo=at(-1), headers={"X-K": "secret"})
        assert wait_until(lambda: state(api, "done") == "delivered")
        ended = api.get("/messages/done", headers=AUTH).json()
        assert ended["payload"] is None
        assert ended["headerNames"] == ["X-K"] and "secret" not in json.dumps(ended)
        assert ended["attemptCount"] == 2
        assert [a["responseStatus"] for a in ended["attempts"]] == [503, 200]
        assert ended["finishedAt"] and ended["nextRun"] is None
        assert api.get("/messages", headers=AUTH).json()["count"] == 0  # listing: pending only

    def test_cancelled_and_dropped_dead_letters_are_remembered(
        self, api: TestClient, sink: Sink
    ) -> None:
        post(api, "gone")
        api.delete("/messages/gone", headers=AUTH)
        assert state(api, "gone") == "cancelled"
        post(api, "failed", sink.url("/status/400"), scheduleTo=at(-1))
        assert wait_until(lambda: state(api, "failed") == "dead")
        api.delete("/dead-letters/failed", headers=AUTH)
        assert state(api, "failed") == "dead_lettered"

    def test_an_id_that_exists_only_in_history_schedules_a_new_message(
        self, api: TestClient
    ) -> None:
        post(api, "again")
        api.delete("/messages/again", headers=AUTH)
        post(api, "again")
        assert state(api, "again") == "pending"

    def test_history_off_forgets_at_once(self, start_app: Any, sink: Sink) -> None:
        api = start_app(history_retention_seconds=0)
        post(api, "forgotten", sink.url(), scheduleTo=at(-1))
        sink.wait_for(1)
        assert wait_until(lambda: state(api, "forgotten") is None)

    def test_history_is_trimmed_by_count_oldest_first(self, start_app: Any) -> None:
        api = start_app(history_max_messages=2)
        for i in range(5):
            post(api, f"h{i}")
            api.delete(f"/messages/h{i}", headers=AUTH)
        # The housekeeper trims once a second, perhaps while the loop above still runs:
        # wait for the end state, whichever passes it takes.
        kept = ["cancelled", "cancelled"]
        assert wait_until(lambda: [state(api, f"h{i}") for i in range(5)] == [None] * 3 + kept)

    def test_history_expires(self, start_app: Any) -> None:
        api = start_app(history_retention_seconds=0.5)
        post(api, "brief")
        api.delete("/messages/brief", headers=AUTH)
        assert state(api, "brief") == "cancelled"
        assert wait_until(lambda: state(api, "brief") is None, timeout=20)


class TestCallbacks:
    def test_a_success_callback_is_a_message_retried_like_any_other(
        self, api: TestClient, sink: Sink
    ) -> None:
        post(
            api,
            "paid",
            sink.url("/ok"),
            scheduleTo=at(-1),
            labels={"order": "o1"},
            callbackUrl=sink.url("/flaky/1"),
        )
        assert wait_until(lambda: len(sink.for_path("/flaky/1")) == 2)
        first, second = sink.for_path("/flaky/1")
        result = json.loads(second.body)
        assert result["messageId"] == "paid" and result["status"] == "delivered"
        assert result["responseStatus"] == 200 and result["responseBody"] == '{"ok":true}'
        assert result["attempts"] == 1 and result["labels"] == {"order": "o1"}
        assert first.headers["webhook-id"] == second.headers["webhook-id"]
        callback_id = second.message_id
        assert callback_id.startswith("paid:cb-")
        assert api.get(f"/messages/{callback_id}", headers=AUTH).json()["labels"] == {
            "callbackOf": "paid"
        }

    def test_a_failure_callback_follows_the_dead_letter_and_never_calls_back_again(
        self, api: TestClient, sink: Sink
    ) -> None:
        post(
            api,
            "lost",
            sink.url("/status/410"),
            scheduleTo=at(-1),
            failureCallbackUrl=sink.url("/status/500"),
            maxAttempts=1,
        )
        assert wait_until(lambda: len(sink.for_path("/status/500")) == 3)  # retried to its end
        result = json.loads(sink.for_path("/status/500")[0].body)
        assert result["status"] == "dead_lettered" and result["responseStatus"] == 410
        assert "HTTP 410" in result["error"]
        time.sleep(1.0)
        assert len(sink.received) == 4  # the message once, its callback three times, no more
