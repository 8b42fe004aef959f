"""Recurring schedules through the API: rules, fires, pauses, edits and deletes."""

from __future__ import annotations

import itertools
import json
import time
from collections import Counter
from datetime import datetime
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


def create(api: TestClient, **fields: Any) -> dict[str, Any]:
    body = {"payload": {"tick": True}, "webhookUrl": NOWHERE, **fields}
    response = api.post("/schedules", json=body, headers=AUTH)
    assert response.status_code == 200, response.text
    return dict(response.json())


def fire_ticks(sink: Sink, schedule_id: str) -> list[int]:
    """The tick (epoch ms) of each fire that arrived, from its message id."""
    return [
        int(r.message_id.rsplit(":", 1)[1])
        for r in sink.received
        if r.message_id.startswith(f"{schedule_id}:")
    ]


REFUSED: list[tuple[str, dict[str, Any], str, str]] = [
    ("neither rule", {}, "cron", "exactly one of cron and every"),
    ("both rules", {"cron": "* * * * *", "every": 60}, "cron", "exactly one"),
    ("bad cron", {"cron": "0 25 * * *"}, "cron", "field 2 (hour) at character 3"),
    ("L in cron", {"cron": "0 9 L * *"}, "cron", "'L' is not supported"),
    ("short interval", {"every": 0.5}, "every", "at least 1 second"),
    ("interval in months", {"every": "P1M"}, "every", "use days"),
    ("unknown zone", {"cron": "0 9 * * *", "timezone": "Mars/Base"}, "timezone", "IANA"),
    (
        "window backwards",
        {"every": 60, "startAt": "2030-01-02T00:00:00Z", "endAt": "2030-01-01T00:00:00Z"},
        "endAt",
        "after startAt",
    ),
    ("schedule label", {"every": 60, "labels": {"schedule": "x"}}, "labels", "set on every fire"),
]


@pytest.mark.parametrize(
    ("case", "fields", "field", "message"), REFUSED, ids=[c[0] for c in REFUSED]
)
def test_each_rule_refuses_with_the_field_and_why(
    api: TestClient, case: str, fields: dict[str, Any], field: str, message: str
) -> None:
    body = {"payload": {}, "webhookUrl": NOWHERE, **fields}
    response = api.post("/schedules", json=body, headers=AUTH)
    assert response.status_code == 422, response.text
    assert field in [row["field"] for row in response.json()["errors"]]
    assert message in response.json()["detail"]


class TestDefinitions:
    def test_creating_answers_the_next_five_runs_in_utc(self, api: TestClient) -> None:
        created = create(api, id="report", cron="0 9 * * MON-FRI", timezone="America/Sao_Paulo")
        assert created["scheduleId"] == "report" and len(created["nextRuns"]) == 5
        for run in created["nextRuns"]:
            moment = datetime.fromisoformat(run)
            assert (moment.hour, moment.minute) == (12, 0)  # 09:00 in São Paulo (UTC-3)
            assert moment.weekday() < 5

    def test_a_duplicate_id_is_409(self, api: TestClient) -> None:
        create(api, id="dup", every=60)
        response = api.post(
            "/schedules",
            json={"id": "dup", "every": 60, "payload": {}, "webhookUrl": NOWHERE},
            headers=AUTH,
        )
        assert response.status_code == 409

    def test_get_shows_the_definition_without_header_values(self, api: TestClient) -> None:
        create(api, id="secret", every="PT5M", headers={"X-Key": "hidden"}, labels={"t": "a"})
        detail = api.get("/schedules/secret", headers=AUTH).json()
        assert detail["every"] == 300 and detail["headerNames"] == ["X-Key"]
        assert "hidden" not in json.dumps(detail)
        assert detail["labels"] == {"t": "a"} and len(detail["nextRuns"]) == 5
        assert (detail["firesDelivered"], detail["firesDeadLettered"]) == (0, 0)

    def test_listing_pages_and_filters_by_label(self, api: TestClient) -> None:
        for i in range(5):
            create(api, id=f"s{i}", every=60, labels={"team": "a" if i % 2 else "b"})
        seen: list[str] = []
        cursor = None
        for _ in range(10):
            params: dict[str, Any] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
            page = api.get("/schedules", params=params, headers=AUTH).json()
            seen += [s["scheduleId"] for s in page["schedules"]]
            cursor = page["nextCursor"]
            if not cursor:
                break
        assert seen == [f"s{i}" for i in range(5)]
        labelled = api.get("/schedules", params={"label": "team:a"}, headers=AUTH).json()
        assert [s["scheduleId"] for s in labelled["schedules"]] == ["s1", "s3"]

    def test_unknown_schedules_are_404(self, api: TestClient) -> None:
        assert api.get("/schedules/nope", headers=AUTH).status_code == 404
        assert api.delete("/schedules/nope", headers=AUTH).status_code == 404
        assert api.patch("/schedules/nope", json={"paused": True}, headers=AUTH).status_code == 404


class TestFires:
    def test_every_second_fires_each_tick_once_as_an_ordinary_message(
        self, api: TestClient, sink: Sink
    ) -> None:
        create(api, id="tick", every=1, webhookUrl=sink.url(), labels={"team": "ops"})
        assert wait_until(lambda: len(fire_ticks(sink, "tick")) >= 4, timeout=10)
        ticks = sorted(fire_ticks(sink, "tick"))
        assert len(ticks) == len(set(ticks))
        assert {b - a for a, b in itertools.pairwise(ticks)} == {1000}
        received = next(r for r in sink.received if r.message_id.startswith("tick:"))
        assert json.loads(received.body) == {"tick": True}
        fires = api.get("/messages", params={"label": "schedule:tick"}, headers=AUTH).json()
        assert all(
            job["labels"] == {"team": "ops", "schedule": "tick"} for job in fires["scheduledJobs"]
        )
        assert wait_until(
            lambda: api.get("/schedules/tick", headers=AUTH).json()["firesDelivered"] >= 3
        )
        assert api.get("/schedules/tick", headers=AUTH).json()["lastFiredAt"]

    def test_a_fire_arrives_on_time(self, api: TestClient, sink: Sink) -> None:
        create(api, id="punctual", every=1, webhookUrl=sink.url())
        assert wait_until(lambda: len(fire_ticks(sink, "punctual")) >= 3, timeout=10)
        late = [r.at * 1000 - int(r.message_id.rsplit(":", 1)[1]) for r in sink.received]
        assert all(0 <= ms < 500 for ms in late), late  # never early; due-index precision

    def test_pausing_stops_fires_and_resuming_starts_them_again(
        self, api: TestClient, sink: Sink
    ) -> None:
        create(api, id="p", every=1, webhookUrl=sink.url())
        assert wait_until(lambda: len(fire_ticks(sink, "p")) >= 1, timeout=10)
        assert api.patch("/schedules/p", json={"paused": True}, headers=AUTH).json()["paused"]
        paused_at = time.time()
        time.sleep(2.5)
        assert not [r for r in sink.received if r.at > paused_at + 0.2]
        assert api.get("/schedules/p", headers=AUTH).json()["nextRuns"] == []
        before = len(fire_ticks(sink, "p"))
        api.patch("/schedules/p", json={"paused": False}, headers=AUTH)
        assert wait_until(lambda: len(fire_ticks(sink, "p")) > before, timeout=10)

    def test_deleting_means_no_fire_after_the_answer(self, api: TestClient, sink: Sink) -> None:
        create(api, id="d", every=1, webhookUrl=sink.url())
        assert wait_until(lambda: len(fire_ticks(sink, "d")) >= 1, timeout=10)
        assert api.delete("/schedules/d", headers=AUTH).status_code == 200
        answered = time.time()
        time.sleep(2.5)
        assert not [r for r in sink.received if r.at > answered + 0.2]
        assert (
            api.get("/messages", params={"label": "schedule:d"}, headers=AUTH).json()[
                "scheduledJobs"
            ]
            == []
        )

    def test_a_new_interval_takes_effect_from_the_next_fire(
        self, api: TestClient, sink: Sink
    ) -> None:
        create(api, id="edit", every=3600, webhookUrl=sink.url())  # nothing for an hour
        patched = api.patch("/schedules/edit", json={"every": 1}, headers=AUTH).json()
        assert patched["every"] == 1
        assert wait_until(lambda: len(fire_ticks(sink, "edit")) >= 2, timeout=10)
        ticks = fire_ticks(sink, "edit")
        assert ticks[1] - ticks[0] == 1000

    def test_an_edit_that_keeps_the_times_replaces_the_pending_fires(self, api: TestClient) -> None:
        """The fires already stored for the coming hours carry ids made of their times; an
        edit of the payload keeps those times, so the new fires have the old ones' ids, and
        they must replace them, not be skipped as already there."""
        create(api, id="same-times", every=3600, payload={"v": 1})
        listed = api.get("/messages", params={"label": "schedule:same-times"}, headers=AUTH)
        before = {job["messageId"] for job in listed.json()["scheduledJobs"]}
        assert before
        api.patch("/schedules/same-times", json={"payload": {"v": 2}}, headers=AUTH)
        for fire in before:
            assert api.get(f"/messages/{fire}", headers=AUTH).json()["payload"] == {"v": 2}

    def test_pause_resume_and_delete_racing_fires_never_double_a_tick(
        self, api: TestClient, sink: Sink
    ) -> None:
        create(api, id="race", every=1, webhookUrl=sink.url())
        deadline = time.time() + 4
        paused = False
        while time.time() < deadline:
            api.patch("/schedules/race", json={"paused": not paused}, headers=AUTH)
            paused = not paused
            time.sleep(0.15)
        # Toggling every 0.15 s can keep every 1 s tick inside a paused window (it depends on
        # request latency), so end unpaused for longer than a tick: at least one fire happens.
        api.patch("/schedules/race", json={"paused": False}, headers=AUTH)
        time.sleep(1.2)
        api.delete("/schedules/race", headers=AUTH)
        time.sleep(1.5)
        counts = Counter(fire_ticks(sink, "race"))
        assert counts and max(counts.values()) == 1
