"""The OpenAPI document: committed as served, and complete enough to generate good clients."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from service.app import create_app
from service.config import Settings
from service.openapi import render

DOCUMENT = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"
METHOD_NAME = re.compile(r"[a-z]+[A-Za-z]*")


@pytest.fixture(scope="module")
def app() -> FastAPI:
    # The lifespan never starts: nothing connects, so no Redis is needed.
    settings = Settings(api_token="openapi-test-token", redis_host="127.0.0.1", _env_file=None)  # type: ignore[call-arg]
    return create_app(settings)


@pytest.fixture(scope="module")
def document(app: FastAPI) -> dict[str, Any]:
    return app.openapi()


def operations(document: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            yield f"{method.upper()} {path}", operation


def test_docs_openapi_json_is_what_the_app_serves(app: FastAPI) -> None:
    served = TestClient(app).get("/openapi.json")
    assert served.status_code == 200
    committed = DOCUMENT.read_text()
    assert committed == render(app), "docs/openapi.json is out of date: run `make openapi`"
    assert served.json() == app.openapi()


def test_operation_ids_read_as_method_names(document: dict[str, Any]) -> None:
    ids = {name: operation["operationId"] for name, operation in operations(document)}
    assert all(METHOD_NAME.fullmatch(op) for op in ids.values()), ids
    assert len(set(ids.values())) == len(ids)
    assert ids["POST /messages"] == "scheduleMessage"
    assert ids["GET /messages"] == "listMessages"
    assert ids["GET /messages/{message_id}"] == "getMessage"
    assert ids["DELETE /messages/{message_id}"] == "cancelMessage"
    assert ids["GET /dead-letters"] == "listDeadLetters"
    assert ids["POST /dead-letters/{message_id}/redrive"] == "redriveDeadLetter"
    assert ids["POST /schedules"] == "createSchedule"
    assert ids["GET /health"] == "getHealth"


def test_every_operation_has_a_tag_and_a_description(document: dict[str, Any]) -> None:
    declared = {tag["name"] for tag in document["tags"]}
    assert all(tag.get("description") for tag in document["tags"])
    for name, operation in operations(document):
        assert operation.get("description"), name
        assert operation.get("tags") and set(operation["tags"]) <= declared, name


def resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if ref is None:
        return schema
    resolved: dict[str, Any] = document["components"]["schemas"][ref.rsplit("/", 1)[1]]
    return resolved


def has_example(document: dict[str, Any], media: dict[str, Any]) -> bool:
    schema = resolve(document, media.get("schema", {}))
    return bool(media.get("example") or media.get("examples") or schema.get("examples"))


def test_every_request_and_response_is_described_with_an_example(
    document: dict[str, Any],
) -> None:
    for name, operation in operations(document):
        body = operation.get("requestBody")
        if body is not None:
            assert has_example(document, body["content"]["application/json"]), name
        for parameter in operation.get("parameters", []):
            assert parameter.get("description"), (name, parameter["name"])
            assert parameter["schema"].get("examples"), (name, parameter["name"])
        for status, response in operation["responses"].items():
            assert response.get("description"), (name, status)
            for media in response.get("content", {}).values():
                assert has_example(document, media), (name, status)


def test_every_error_answer_references_the_one_error_shape(document: dict[str, Any]) -> None:
    error = document["components"]["schemas"]["ErrorBody"]
    assert error["description"] and error["examples"]
    for name, operation in operations(document):
        for status, response in operation["responses"].items():
            if int(status) < 400 or name.startswith(("GET /health", "GET /livez")):
                continue
            schema = response["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (name, status)


def test_every_schema_has_a_description_or_is_a_field_type(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    undescribed = [n for n, s in schemas.items() if n != "JsonValue" and not s.get("description")]
    assert not undescribed
