"""Labels: finding messages by label and state, and cancelling them in bulk."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import AUTH, NOWHERE
from tests.support.polling import wait_until
from tests.support.sink import Sink


@pytest.fixture(params=[1, 16], ids=["P1", "P16"])
def partitions(request: pytest.FixtureRequest) -> int:
    """Every test here runs on one partition and on sixteen (merged listings, fan-outs)."""
    return int(request.param)


def at(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()


def post(api: TestClient, message_id: str, url: str = NOWHERE, **fields: Any) -> None:
    request = {"id": message_id, "scheduleTo": "2999-01-01T00:00:00Z", "payload": {}}
    response = api.post("/messages", json={**request, "webhookUrl": url, **fields}, headers=AUTH)
    assert response.status_code == 200, response.text


def listed(api: TestClient, *labels: str, **params: Any) -> list[str]:
    query = [("label", label) for label in labels] + list(params.items())
    page = api.get("/messages", params=query, headers=AUTH).json()
    return [job["messageId"] for job in page["scheduledJobs"]]


class TestFinding:
    def test_one_label_and_several_labels(self, api: TestClient) -> None:
        post(api, "a", labels={"contact": "c1", "flow": "onboarding"})
        post(api, "b", labels={"contact": "c1", "flow": "billing"})
        post(api, "c", labels={"contact": "c2", "flow": "onboarding"})
        post(api, "d")
        assert sorted(listed(api, "contact:c1")) == ["a", "b"]
        assert listed(api, "contact:c1", "flow:onboarding") == ["a"]
        assert listed(api, "flow:onboarding", "contact:c2") == ["c"]
        assert listed(api, "contact:nobody") == []
        assert sorted(listed(api)) == ["a", "b", "c", "d"]

    def test_labels_are_shown_in_listings(self, api: TestClient) -> None:
        post(api, "a", labels={"contact": "c1"})
        [job] = api.get("/messages", params={"label": "contact:c1"}, headers=AUTH).json()[
            "scheduledJobs"
        ]
        assert job["labels"] == {"contact": "c1"}

    def test_a_labelled_listing_pages_in_due_order(self, api: TestClient) -> None:
        for i in range(7):
            post(api, f"m{i}", scheduleTo=f"2999-01-0{7 - i}T00:00:00Z", labels={"g": "x"})
        seen: list[str] = []
        cursor = None
        for _ in range(10):
            params: dict[str, Any] = {"label": "g:x", "limit": 3}
            if cursor:
                params["cursor"] = cursor
            page = api.get("/messages", params=params, headers=AUTH).json()
            seen += [job["messageId"] for job in page["scheduledJobs"]]
            cursor = page["nextCursor"]
            if not cursor:
                break
        assert seen == [f"m{i}" for i in reversed(range(7))]

    def test_state_filters(self, api: TestClient, sink: Sink) -> None:
        post(api, "waiting", labels={"k": "v"})
        # Its retry an hour away (Retry-After): with backoff alone, full jitter may retry
        # it within the checks below, and a claim in flight is not retrying.
        post(api, "failing", sink.url("/unavailable/3600"), scheduleTo=at(-1), labels={"k": "v"})
        post(api, "slow", sink.url("/slow/3000"), scheduleTo=at(-1), labels={"k": "v"})
        assert wait_until(lambda: listed(api, state="retrying") == ["failing"])
        assert wait_until(lambda: listed(api, state="in_flight") == ["slow"])
        assert listed(api, state="scheduled") == ["waiting"]
        assert listed(api, "k:v", state="retrying") == ["failing"]
        assert listed(api, "k:v", state="in_flight") == ["slow"]
        assert listed(api, "k:v", state="scheduled") == ["waiting"]
        assert sorted(listed(api, "k:v")) == ["failing", "waiting"]  # pending only, as before
        queries: list[dict[str, str]] = [{}, {"state": "retrying"}, {"label": "k:v"}]
        counts = [api.get("/messages", params=q, headers=AUTH).json()["inFlight"] for q in queries]
        assert counts == [1, 1, 1]  # every partition's claims, whatever the page shows

    @pytest.mark.parametrize("bad", ["nocolon", ":v", "k:", "a b:v"])
    def test_a_malformed_label_filter_is_422(self, api: TestClient, bad: str) -> None:
        response = api.get("/messages", params={"label": bad}, headers=AUTH)
        assert response.status_code == 422
        assert response.json()["errors"][0]["field"] == "label"

    def test_dead_letters_by_label(self, api: TestClient, sink: Sink) -> None:
        # bad1 fails its one attempt, then succeeds once redriven (it must not die again
        # before the last listing); bad2 fails for good.
        once = {"maxAttempts": 1}
        post(api, "bad1", sink.url("/flaky/1"), scheduleTo=at(-1), labels={"k": "v"}, **once)
        post(api, "bad2", sink.url("/status/400"), scheduleTo=at(-1), labels={"k": "w"})
        assert wait_until(
            lambda: len(api.get("/dead-letters", headers=AUTH).json()["deadLetters"]) == 2
        )
        page = api.get("/dead-letters", params={"label": "k:v"}, headers=AUTH).json()
        assert [d["messageId"] for d in page["deadLetters"]] == ["bad1"]
        assert api.post("/dead-letters/bad1/redrive", headers=AUTH).status_code == 200
        page = api.get("/dead-letters", params={"label": "k:v"}, headers=AUTH).json()
        assert page["deadLetters"] == []
        assert sink.wait_for(3)  # bad1 twice (503, then 200), bad2 once
        page = api.get("/dead-letters", params={"label": "k:v"}, headers=AUTH).json()
        assert page["deadLetters"] == []


class TestBulkCancel:
    def test_cancels_every_message_with_all_labels_and_counts_them(self, api: TestClient) -> None:
        for i in range(25):
            post(api, f"x{i}", labels={"contact": "c1", "n": str(i % 2)})
        post(api, "other", labels={"contact": "c2"})
        response = api.delete(
            "/messages", params=[("label", "contact:c1"), ("label", "n:0")], headers=AUTH
        )
        assert response.json() == {"status": "deleted", "count": 13}
        assert len(listed(api, "contact:c1", limit=1000)) == 12
        assert api.get("/messages/x0", headers=AUTH).json()["state"] == "cancelled"
        assert listed(api, "contact:c2") == ["other"]

    def test_without_a_label_nothing_is_cancelled(self, api: TestClient) -> None:
        post(api, "keep")
        response = api.delete("/messages", headers=AUTH)
        assert response.status_code == 422
        assert "never cancels all" in response.json()["detail"]
        assert listed(api) == ["keep"]

    def test_many_more_than_one_batch(self, api: TestClient) -> None:
        bodies = [
            {
                "id": f"bulk{i}",
                "scheduleTo": "2999-01-01T00:00:00Z",
                "payload": {},
                "webhookUrl": NOWHERE,
                "labels": {"batch": "b"},
            }
            for i in range(1000)
        ]
        for start in range(0, 3000, 1000):
            chunk = [{**b, "id": f"{b['id']}-{start}"} for b in bodies]
            api.post("/messages/batch", json={"messages": chunk}, headers=AUTH)
        response = api.delete("/messages", params={"label": "batch:b"}, headers=AUTH)
        assert response.json()["count"] == 3000
        assert api.get("/messages", headers=AUTH).json()["count"] == 0

    def test_a_cancelled_message_is_never_delivered_after_the_delete_answered(
        self, start_app: Any, sink: Sink
    ) -> None:
        api = start_app(delivery_concurrency=8)
        due = at(1.5)
        ids = [f"race{i}" for i in range(300)]
        requests = [
            {
                "id": i,
                "scheduleTo": due,
                "payload": {},
                "webhookUrl": sink.url("/slow/20"),
                "labels": {"race": "r"},
            }
            for i in ids
        ]
        assert (
            api.post("/messages/batch", json={"messages": requests}, headers=AUTH).status_code
            == 200
        )
        wait_until(lambda: len(sink.received) > 20, timeout=10, interval=0.001)
        response = api.delete("/messages", params={"label": "race:r"}, headers=AUTH)
        answered = time.time()
        cancelled = response.json()["count"]
        time.sleep(2.0)  # longer than any retry backoff in the test settings
        late = [r for r in sink.received if r.at > answered + 0.05]
        assert late == [], f"{len(late)} deliveries started after the DELETE answered"
        delivered = {r.message_id for r in sink.received}
        assert len(delivered) + cancelled >= len(ids)
        assert cancelled > 0
