"""The agent tools at /mcp, through the MCP SDK's own client over HTTP to a served app.

Each tool answers what its HTTP route answers and refuses what the route refuses, in the
same words; the endpoint needs the API token.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import httpx
import httpx2
import pytest
from fastapi.testclient import TestClient
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from service.app import create_app
from tests.conftest import AUTH, NOWHERE
from tests.support.live import serve
from tests.support.polling import wait_until
from tests.support.sink import Sink

T = TypeVar("T")
TOOLS = {
    "schedule_message",
    "list_messages",
    "get_message",
    "cancel_message",
    "cancel_messages_by_label",
    "list_dead_letters",
    "redrive_dead_letter",
    "create_schedule",
    "list_schedules",
    "delete_schedule",
}


@pytest.fixture
def live(make_settings: Any) -> Iterator[str]:
    with serve(create_app(make_settings())) as url:
        yield url


def with_client(url: str, body: Callable[[Client], Awaitable[T]], headers: Any = AUTH) -> T:
    """Connect the SDK's client to `url`/mcp, run `body` with it, disconnect."""

    async def main() -> T:
        async with (
            httpx2.AsyncClient(headers=headers) as http,
            Client(streamable_http_client(f"{url}/mcp", http_client=http)) as client,
        ):
            return await body(client)

    try:
        return asyncio.run(main())
    except BaseExceptionGroup as group:  # the SDK's task groups wrap what the call raised
        raise innermost(group) from None


def innermost(group: BaseExceptionGroup[BaseException]) -> BaseException:
    first = group.exceptions[0]
    return innermost(first) if isinstance(first, BaseExceptionGroup) else first


def call(url: str, *calls: tuple[str, dict[str, Any]]) -> list[tuple[bool, Any]]:
    """(is_error, answer) of each tool call, made in order in one session.

    The answer is the JSON text the tool sent; a success carries it as structured
    content too.
    """

    async def body(client: Client) -> list[tuple[bool, Any]]:
        answers = []
        for name, arguments in calls:
            result = await client.call_tool(name, arguments)
            [content] = result.content
            answer = json.loads(content.text)  # type: ignore[union-attr]
            assert result.is_error or result.structured_content == answer
            answers.append((result.is_error, answer))
        return answers

    return with_client(url, body)


def one(url: str, name: str, arguments: dict[str, Any]) -> Any:
    """The answer of one call that must succeed."""
    [(is_error, answer)] = call(url, (name, arguments))
    assert not is_error, answer
    return answer


def refusal(url: str, name: str, arguments: dict[str, Any]) -> Any:
    """The error body of one call that must fail."""
    [(is_error, answer)] = call(url, (name, arguments))
    assert is_error, answer
    return answer


def test_the_ten_tools_are_listed_with_descriptions_written_for_a_model(live: str) -> None:
    async def body(client: Client) -> Any:
        return (await client.list_tools()).tools

    tools = {tool.name: tool for tool in with_client(live, body)}
    assert set(tools) == TOOLS
    assert all(tool.description and len(tool.description) > 80 for tool in tools.values())
    assert "ISO-8601" in tools["schedule_message"].description
    assert "UTC" in tools["schedule_message"].description
    assert "seconds" in tools["schedule_message"].description
    assert "IANA" in tools["create_schedule"].description
    schedule = tools["schedule_message"].input_schema["properties"]
    assert {"scheduleTo", "delay", "payload", "webhookUrl", "labels", "headers"} <= set(schedule)
    assert tools["list_messages"].annotations.read_only_hint
    assert tools["cancel_messages_by_label"].annotations.destructive_hint


def test_schedule_message_with_delay_labels_and_options_answers_as_the_api_does(
    live: str,
) -> None:
    scheduled = one(
        live,
        "schedule_message",
        {
            "id": "follow-up-1",
            "delay": "PT1H",
            "payload": {"step": "follow-up"},
            "webhookUrl": NOWHERE,
            "labels": {"contact": "c-1042"},
            "headers": {"X-Auth": "secret-value"},
            "maxAttempts": 3,
        },
    )
    assert scheduled == {"status": "scheduled", "messageId": "follow-up-1"}
    detail = one(live, "get_message", {"messageId": "follow-up-1"})
    assert detail == httpx.get(f"{live}/messages/follow-up-1", headers=AUTH).json()
    assert detail["headerNames"] == ["X-Auth"]
    assert "secret-value" not in str(detail)
    listed = one(live, "list_messages", {"labels": {"contact": "c-1042"}})
    assert [job["messageId"] for job in listed["scheduledJobs"]] == ["follow-up-1"]
    assert one(live, "list_messages", {"labels": {"contact": "other"}})["scheduledJobs"] == []


def test_schedule_to_with_an_offset_is_answered_in_utc(live: str) -> None:
    body = {"scheduleTo": "2030-12-25T07:30:00-03:00", "payload": {}, "webhookUrl": NOWHERE}
    message_id = one(live, "schedule_message", body)["messageId"]
    detail = one(live, "get_message", {"messageId": message_id})
    assert detail["scheduleTo"] == "2030-12-25T10:30:00.000Z"


@pytest.mark.parametrize(
    "body",
    [
        {"delay": "P1M", "payload": {}, "webhookUrl": NOWHERE},
        {"delay": 60, "scheduleTo": "2030-01-01T00:00:00Z", "payload": {}, "webhookUrl": NOWHERE},
        {"delay": 60, "payload": {}},
        {"delay": 60, "payload": {}, "webhookUrl": "ftp://example.com/x"},
        {"delay": 60, "payload": {}, "webhookUrl": NOWHERE, "labels": {"bad key": "v"}},
        {"delay": 60, "payload": {}, "webhookUrl": NOWHERE, "maxAttempts": 0},
    ],
)
def test_a_bad_input_is_a_tool_error_with_the_api_message(live: str, body: Any) -> None:
    http = httpx.post(f"{live}/messages", json=body, headers=AUTH)
    assert http.status_code == 422
    assert refusal(live, "schedule_message", body) == http.json()


def test_an_unknown_id_is_the_api_not_found(live: str) -> None:
    http = httpx.get(f"{live}/messages/nope", headers=AUTH).json()
    assert refusal(live, "get_message", {"messageId": "nope"}) == http
    assert refusal(live, "cancel_message", {"messageId": "nope"})["code"] == "not_found"
    assert refusal(live, "redrive_dead_letter", {"messageId": "nope"})["code"] == "not_found"
    assert refusal(live, "delete_schedule", {"scheduleId": "nope"})["code"] == "not_found"


def test_arguments_of_the_small_tools_are_checked_by_name(live: str) -> None:
    missing = refusal(live, "get_message", {})
    assert missing["code"] == "invalid_request"
    assert missing["errors"] == [{"field": "messageId", "message": "Field required"}]
    misspelt = refusal(live, "list_messages", {"label": {"a": "b"}})
    assert misspelt["errors"][0]["field"] == "label"
    bad_label = refusal(live, "list_messages", {"labels": {"a": ""}})
    assert bad_label["errors"][0]["field"] == "label"
    assert refusal(live, "cancel_messages_by_label", {"labels": {}})["code"] == "invalid_request"


def test_cancel_one_and_cancel_by_label(live: str) -> None:
    for n in range(3):
        body = {"id": f"m{n}", "delay": 3600, "payload": {}, "webhookUrl": NOWHERE}
        one(live, "schedule_message", {**body, "labels": {"flow": "a" if n else "b"}})
    assert one(live, "cancel_message", {"messageId": "m0"}) == {
        "status": "deleted",
        "messageId": "m0",
    }
    cancelled = one(live, "cancel_messages_by_label", {"labels": {"flow": "a"}})
    assert cancelled == {"status": "deleted", "count": 2}
    assert one(live, "list_messages", {})["scheduledJobs"] == []


def test_a_dead_letter_is_listed_then_redriven(live: str, sink: Sink) -> None:
    body = {"id": "dies", "delay": 0, "payload": {}, "webhookUrl": sink.url("/status/404")}
    one(live, "schedule_message", {**body, "labels": {"flow": "d"}})
    assert wait_until(
        lambda: one(live, "list_dead_letters", {"labels": {"flow": "d"}})["deadLetters"]
    )
    [dead] = one(live, "list_dead_letters", {})["deadLetters"]
    assert dead["messageId"] == "dies" and "404" in dead["lastError"]
    redriven = one(live, "redrive_dead_letter", {"messageId": "dies"})
    assert redriven["status"] == "scheduled" and redriven["nextRun"].endswith("Z")


def test_schedules_are_created_listed_and_deleted(live: str) -> None:
    created = one(
        live,
        "create_schedule",
        {
            "id": "weekday-report",
            "cron": "0 9 * * MON-FRI",
            "timezone": "America/Sao_Paulo",
            "payload": {"report": "daily"},
            "webhookUrl": NOWHERE,
        },
    )
    assert created["scheduleId"] == "weekday-report"
    # 09:00 in São Paulo (UTC-3, no daylight saving since 2019) is 12:00 UTC.
    assert all(run.endswith("T12:00:00.000Z") for run in created["nextRuns"])
    [listed] = one(live, "list_schedules", {})["schedules"]
    assert listed["scheduleId"] == "weekday-report" and listed["cron"] == "0 9 * * MON-FRI"
    bad_cron = {"cron": "61 * * * *", "payload": {}, "webhookUrl": NOWHERE}
    http = httpx.post(f"{live}/schedules", json=bad_cron, headers=AUTH).json()
    assert refusal(live, "create_schedule", bad_cron) == http
    deleted = one(live, "delete_schedule", {"scheduleId": "weekday-report"})
    assert deleted == {"status": "deleted", "scheduleId": "weekday-report"}
    assert one(live, "list_schedules", {})["schedules"] == []


def test_an_unknown_tool_is_a_protocol_error_naming_the_tools(live: str) -> None:
    with pytest.raises(MCPError, match="No tool named 'schedule'; the tools: schedule_message"):
        call(live, ("schedule", {}))


def test_without_the_token_the_endpoint_answers_the_api_401(live: str) -> None:
    initialize = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    missing = httpx.post(f"{live}/mcp", json=initialize)
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == "Bearer"
    assert missing.json()["detail"].startswith("Missing token")
    wrong = httpx.post(f"{live}/mcp", json=initialize, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    assert wrong.json() == {
        "detail": "Invalid token: the Bearer token does not match API_TOKEN.",
        "code": "unauthorized",
    }


def test_the_sdk_client_without_the_token_cannot_connect(live: str) -> None:
    async def body(client: Client) -> None:
        await client.list_tools()

    with pytest.raises(MCPError, match="Server returned an error response"):
        with_client(live, body, headers={})


def test_mcp_enabled_false_serves_no_endpoint(start_app: Callable[..., TestClient]) -> None:
    api = start_app(mcp_enabled=False)
    assert api.post("/mcp", json={}, headers=AUTH).status_code == 404


def test_requests_to_the_endpoint_are_counted_under_its_path(live: str) -> None:
    one(live, "list_messages", {})
    metrics = httpx.get(f"{live}/metrics").text
    assert 'method="POST",route="/mcp",status="200"' in metrics
