"""The n8n guide's signature check, run under Node.js against requests the service signed.

The Code node's JavaScript is taken from docs/n8n.md as it stands and run by a small harness
that gives it what n8n's Code node does (tests/support/n8n_code_node.cjs), fed with what a
Webhook node with Raw Body passes on: the request's lowercase headers and its exact bytes.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import AUTH
from tests.support.sink import Received, Sink

REPO = Path(__file__).resolve().parents[2]
HARNESS = REPO / "tests" / "support" / "n8n_code_node.cjs"
SECRET = "whsec_" + base64.b64encode(b"n8n-code-node-test-key-32-bytes!").decode()
OLD_SECRET = "whsec_" + base64.b64encode(b"the-secret-being-rotated-out-now").decode()
PLACEHOLDER = "'whsec_REPLACE_WITH_YOUR_SECRET'"


def guide_snippet() -> str:
    found = re.search(r"```javascript\n(.*?)```", (REPO / "docs" / "n8n.md").read_text(), re.DOTALL)
    assert found is not None
    return found.group(1)


def run_code_node(tmp_path: Path, secret: str, requests: list[tuple[dict[str, str], bytes]]) -> Any:
    node = shutil.which("node")
    if node is None:
        pytest.skip("Node.js is not installed")
    snippet = guide_snippet()
    assert PLACEHOLDER in snippet
    code = tmp_path / "code.js"
    code.write_text(snippet.replace(PLACEHOLDER, json.dumps(secret)))
    items = tmp_path / "items.json"
    items.write_text(
        json.dumps(
            [
                {
                    "json": {"headers": headers, "body": {}},
                    "binary": {"data": base64.b64encode(body).decode()},
                }
                for headers, body in requests
            ]
        )
    )
    result = subprocess.run(
        [node, str(HARNESS), str(code), str(items)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return [item["json"] for item in json.loads(result.stdout)]


def deliver(api: TestClient, sink: Sink, message_id: str, payload: Any) -> Received:
    body = {"id": message_id, "delay": 0, "payload": payload, "webhookUrl": sink.url("/ok")}
    assert api.post("/messages", json=body, headers=AUTH).status_code == 200
    sink.wait_for(1)
    (received,) = sink.for_id(message_id)
    return received


def test_a_signed_delivery_verifies_and_its_payload_is_parsed(
    start_app: Callable[..., TestClient], sink: Sink, tmp_path: Path
) -> None:
    api = start_app(webhook_signing_secret=SECRET)
    received = deliver(api, sink, "lembrete-joão", {"contactId": "c-1042", "step": "30m"})

    (item,) = run_code_node(tmp_path, SECRET, [(received.headers, received.body)])

    assert item == {
        "valid": True,
        "problem": None,
        "webhookId": received.headers["webhook-id"],
        "messageId": "lembrete-joão",
        "attempt": 1,
        "payload": {"contactId": "c-1042", "step": "30m"},
    }


def test_a_tampered_body_another_secret_or_a_stale_request_does_not_verify(
    start_app: Callable[..., TestClient], sink: Sink, tmp_path: Path
) -> None:
    api = start_app(webhook_signing_secret=SECRET)
    received = deliver(api, sink, "tamper", {"amount": 10})
    headers, body = received.headers, received.body
    stale = {**headers, "webhook-timestamp": str(int(time.time()) - 3600)}
    unsigned = {k: v for k, v in headers.items() if k != "webhook-signature"}

    tampered, stale_item, unsigned_item = run_code_node(
        tmp_path, SECRET, [(headers, body.replace(b"10", b"99")), (stale, body), (unsigned, body)]
    )
    (other,) = run_code_node(tmp_path, OLD_SECRET, [(headers, body)])

    assert (tampered["valid"], tampered["problem"]) == (False, "no signature matches the secret")
    assert (stale_item["valid"], stale_item["problem"]) == (
        False,
        "webhook-timestamp too far from now",
    )
    assert unsigned_item["valid"] is False and "missing" in unsigned_item["problem"]
    assert other["valid"] is False and other["payload"] is None


def test_during_a_rotation_the_old_secret_still_verifies(
    start_app: Callable[..., TestClient], sink: Sink, tmp_path: Path
) -> None:
    api = start_app(webhook_signing_secret=f"{SECRET} {OLD_SECRET}")
    received = deliver(api, sink, "rotation", {})

    (item,) = run_code_node(tmp_path, OLD_SECRET, [(received.headers, received.body)])

    assert item["valid"] is True
