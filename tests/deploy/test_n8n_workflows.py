"""The example n8n workflows in docs/n8n: importable, wired, and calling paths the API has."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from service.app import create_app
from service.config import Settings
from service.schemas import ScheduleRequest
from tests.support.deploytools import REPO

WORKFLOWS = sorted((REPO / "docs" / "n8n").glob("*.json"))
IDS = [path.name for path in WORKFLOWS]
GUIDE = REPO / "docs" / "n8n.md"
# Node types the examples may use: n8n's own, so an import needs no community package.
KNOWN_TYPES = {
    "n8n-nodes-base.webhook",
    "n8n-nodes-base.httpRequest",
    "n8n-nodes-base.code",
    "n8n-nodes-base.if",
    "n8n-nodes-base.respondToWebhook",
    "n8n-nodes-base.set",
}
EXPRESSION = re.compile(r"\{\{.*?\}\}", re.DOTALL)


def load(path: Path) -> dict[str, Any]:
    workflow = json.loads(path.read_text())
    assert isinstance(workflow, dict)
    return workflow


def nodes_of(workflow: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [node for node in workflow["nodes"] if node["type"] == f"n8n-nodes-base.{kind}"]


def api_routes() -> list[tuple[str, re.Pattern[str]]]:
    """(method, path pattern) of every operation the app serves, from its OpenAPI document."""
    app = create_app(Settings(_env_file=None, api_token="n8n-example-check"))  # type: ignore[call-arg]
    return [
        (method.upper(), re.compile(re.sub(r"\{[^/}]+\}", "[^/]+", template) + "$"))
        for template, operations in app.openapi()["paths"].items()
        for method in operations
    ]


def concrete_path(url: str) -> str:
    """The URL's path with each `{{ expression }}` standing for one path segment."""
    return urlsplit(EXPRESSION.sub("x", url.removeprefix("="))).path


def test_there_are_the_three_documented_workflows() -> None:
    assert set(IDS) == {
        "schedule-follow-up.json",
        "receive-follow-up.json",
        "cancel-follow-ups.json",
    }
    guide = GUIDE.read_text()
    assert all(f"(n8n/{name})" in guide for name in IDS), "the guide links each one"


@pytest.mark.parametrize("path", WORKFLOWS, ids=IDS)
def test_a_workflow_is_importable_and_wired(path: Path) -> None:
    workflow = load(path)
    names = [node["name"] for node in workflow["nodes"]]
    assert workflow["name"] and len(names) == len(set(names))
    assert {node["type"] for node in workflow["nodes"]} <= KNOWN_TYPES
    assert len({node["id"] for node in workflow["nodes"]}) == len(names)
    for source, outputs in workflow["connections"].items():
        assert source in names
        targets = [link["node"] for branch in outputs["main"] for link in branch]
        assert set(targets) <= set(names), f"{source} connects to a node that is not there"
    linked = set(workflow["connections"]) | {
        link["node"]
        for outputs in workflow["connections"].values()
        for branch in outputs["main"]
        for link in branch
    }
    assert linked == set(names), "every node is connected"


@pytest.mark.parametrize("path", WORKFLOWS, ids=IDS)
def test_every_http_request_node_calls_a_route_the_api_has(path: Path) -> None:
    routes = api_routes()
    for node in nodes_of(load(path), "httpRequest"):
        method = node["parameters"]["method"]
        url_path = concrete_path(node["parameters"]["url"])
        matching = [p for m, p in routes if m == method and p.match(url_path)]
        assert matching, f"{node['name']}: no {method} {url_path} in the API"


@pytest.mark.parametrize("path", WORKFLOWS, ids=IDS)
def test_every_http_request_node_authenticates_with_header_auth(path: Path) -> None:
    for node in nodes_of(load(path), "httpRequest"):
        assert node["parameters"]["authentication"] == "genericCredentialType"
        assert node["parameters"]["genericAuthType"] == "httpHeaderAuth"
        assert "httpHeaderAuth" in node["credentials"]
        assert "Bearer" not in json.dumps(node), "no token inside the workflow"


@pytest.mark.parametrize("path", WORKFLOWS, ids=IDS)
def test_every_json_body_names_only_fields_of_a_message(path: Path) -> None:
    fields = set(ScheduleRequest.model_fields)
    for node in nodes_of(load(path), "httpRequest"):
        body = node["parameters"].get("jsonBody")
        if body is None:
            continue
        parsed = json.loads(EXPRESSION.sub("x", body.removeprefix("=")))
        assert set(parsed) <= fields, f"{node['name']}: {set(parsed) - fields}"
        assert ("scheduleTo" in parsed) != ("delay" in parsed)


def test_cancelling_sends_a_label_query_as_the_api_wants_it() -> None:
    (node,) = nodes_of(load(REPO / "docs" / "n8n" / "cancel-follow-ups.json"), "httpRequest")
    assert node["parameters"]["method"] == "DELETE"
    (query,) = node["parameters"]["queryParameters"]["parameters"]
    assert query["name"] == "label"
    assert re.fullmatch(r"=contact:\{\{ .+ \}\}", query["value"])


def test_the_receiving_webhook_keeps_the_raw_body_and_answers_from_the_flow() -> None:
    workflow = load(REPO / "docs" / "n8n" / "receive-follow-up.json")
    (webhook,) = nodes_of(workflow, "webhook")
    assert webhook["parameters"]["options"]["rawBody"] is True
    assert webhook["parameters"]["responseMode"] == "responseNode"
    codes = sorted(
        n["parameters"]["options"]["responseCode"] for n in nodes_of(workflow, "respondToWebhook")
    )
    assert codes == [200, 401]


def test_the_code_node_is_the_snippet_the_guide_shows() -> None:
    workflow = load(REPO / "docs" / "n8n" / "receive-follow-up.json")
    (code,) = nodes_of(workflow, "code")
    guide_snippet = re.search(r"```javascript\n(.*?)```", GUIDE.read_text(), re.DOTALL)
    assert guide_snippet is not None
    assert code["parameters"]["jsCode"] == guide_snippet.group(1)
