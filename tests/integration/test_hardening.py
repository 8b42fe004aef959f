"""Hostile input and hostile receivers: each defect found when the service was attacked."""

from __future__ import annotations

import base64
import contextlib
import logging
import shutil
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from fastapi.testclient import TestClient
from standardwebhooks.webhooks import Webhook

from service.webhook import WebhookRequest
from tests.conftest import AUTH, NOWHERE, message
from tests.support.hostile import RETRY_AFTER, HostileReceiver
from tests.support.polling import wait_until
from tests.support.redis_server import RedisServer
from tests.support.sink import Sink

FUTURE = "2999-01-01T00:00:00Z"
TRANSPORTS = ["aiohttp", "httpx", "httpx-aiohttp"]


@pytest.fixture
def hostile() -> Iterator[HostileReceiver]:
    receiver = HostileReceiver().start()
    yield receiver
    receiver.stop()


def dead_letters(api: TestClient) -> list[dict[str, Any]]:
    return list(api.get("/dead-letters", headers=AUTH).json()["deadLetters"])


def secret(seed: bytes) -> str:
    return "whsec_" + base64.b64encode(seed * (32 // len(seed))).decode()


class TestEveryAttemptSettles:
    """A receiver cannot make a message retry forever; nothing is left to the claim timeout."""

    @pytest.mark.parametrize("name", sorted(RETRY_AFTER))
    def test_any_retry_after_value_ends_in_the_dead_letters_after_max_attempts(
        self, start_app: Any, hostile: HostileReceiver, name: str
    ) -> None:
        # A claim timeout far beyond the test: only settling can bring the message back.
        api = start_app(claim_timeout_seconds=600)
        api.post("/messages", json=message("ra", hostile.url(f"/retry-after/{name}")), headers=AUTH)
        assert wait_until(lambda: len(dead_letters(api)) == 1, timeout=20), hostile.hits
        [dead] = dead_letters(api)
        assert dead["attempts"] == 3
        assert "gave up after 3 attempts; last: HTTP 503" in dead["lastError"]
        assert hostile.count(f"/retry-after/{name}") == 3

    def test_an_exception_inside_an_attempt_is_settled_with_the_error(
        self, start_app: Any, sink: Sink
    ) -> None:
        api = start_app(claim_timeout_seconds=600)

        class Broken:
            async def send(self, request: WebhookRequest) -> Any:
                raise RuntimeError("the transport broke")

            async def aclose(self) -> None:
                return None

        api.app.state.runtime.dispatcher.sender.client = Broken()  # type: ignore[attr-defined]
        api.post("/messages", json=message("broken", sink.url()), headers=AUTH)
        assert wait_until(lambda: len(dead_letters(api)) == 1, timeout=20)
        [dead] = dead_letters(api)
        assert dead["attempts"] == 3
        assert (
            "internal error during the attempt: RuntimeError: the transport broke"
            in (dead["lastError"])
        )


class TestScheduleToRange:
    @pytest.mark.parametrize(
        "moment",
        [
            "9999-12-31T23:59:59-01:00",
            "0001-01-01T00:00:00+01:00",
            "9999-12-31T23:59:59.999999-23:59",
            "0001-01-01T00:00:00+23:59",
        ],
    )
    def test_times_utc_cannot_hold_are_422(self, api: TestClient, moment: str) -> None:
        response = api.post("/messages", json=message("far", NOWHERE, at=moment), headers=AUTH)
        assert response.status_code == 422, response.text
        assert response.json()["errors"][0]["field"] == "scheduleTo"
        assert "out of range" in response.json()["detail"]

    @pytest.mark.parametrize("moment", ["9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z"])
    def test_the_extremes_utc_can_hold_are_accepted(self, api: TestClient, moment: str) -> None:
        body = message("edge", "http://127.0.0.1:9/", at=moment)
        assert api.post("/messages", json=body, headers=AUTH).status_code == 200
        detail = api.get("/messages/edge", headers=AUTH).json()
        assert detail["scheduleTo"][:19] == moment[:19]


class TestRedisRefusals:
    """Redis errors that mean "not now" are 503 with a code, never 500."""

    @pytest.fixture
    def server(self, tmp_path: Any) -> Iterator[RedisServer]:
        server = RedisServer(tmp_path / "redis").start()
        yield server
        server.stop()

    @pytest.fixture
    def control(self, server: RedisServer) -> Iterator[redis.Redis]:
        """A client of the test's own server, for changing its configuration."""
        with redis.Redis.from_url(server.url) as client:
            yield client

    def test_out_of_memory_is_503_and_not_ready_then_recovers(
        self, start_app: Any, server: RedisServer, control: redis.Redis, sink: Sink
    ) -> None:
        api = start_app(redis_url=server.url)
        api.post("/messages", json=message("before", sink.url(), at=FUTURE), headers=AUTH)
        control.config_set("maxmemory", 1)
        try:
            refused = api.post("/messages", json=message("oom", sink.url()), headers=AUTH)
            assert refused.status_code == 503
            assert refused.headers["retry-after"] == "1"
            assert refused.json()["code"] == "redis_out_of_memory"
            assert "nothing was stored" in refused.json()["detail"]
            health = api.get("/health")
            assert (health.status_code, health.json()["redis"]) == (503, "out_of_memory")
            # Reading and cancelling still work on a full store: they free memory.
            assert api.get("/messages", headers=AUTH).json()["count"] == 1
            assert api.delete("/messages/before", headers=AUTH).status_code == 200
        finally:
            control.config_set("maxmemory", 0)
        assert api.get("/health").status_code == 200
        after = api.post("/messages", json=message("after", sink.url()), headers=AUTH)
        assert after.status_code == 200
        assert sink.wait_for(1)[0].message_id == "after"

    def test_a_full_store_still_delivers_what_it_holds(
        self, start_app: Any, server: RedisServer, control: redis.Redis, sink: Sink
    ) -> None:
        api = start_app(redis_url=server.url)
        due = time.time() + 1.5
        at = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(due)) + f".{int(due % 1 * 1000):03d}Z"
        for i in range(5):
            api.post("/messages", json=message(f"held{i}", sink.url(), at=at), headers=AUTH)
        control.config_set("maxmemory", 1)
        try:
            assert len(sink.wait_for(5)) == 5
            assert wait_until(lambda: api.get("/messages", headers=AUTH).json()["count"] == 0)
        finally:
            control.config_set("maxmemory", 0)

    def test_a_read_only_replica_is_503_and_not_ready(
        self, start_app: Any, server: RedisServer, control: redis.Redis, tmp_path: Any
    ) -> None:
        primary = RedisServer(tmp_path / "primary").start()
        try:
            api = start_app(redis_url=server.url)
            control.replicaof("127.0.0.1", primary.port)
            refused = api.post("/messages", json=message("ro", NOWHERE), headers=AUTH)
            assert (refused.status_code, refused.json()["code"]) == (503, "redis_read_only")
            assert api.get("/health").json()["redis"] == "read_only"
            control.replicaof("no", "one")
            assert wait_until(lambda: api.get("/health").status_code == 200)
        finally:
            primary.stop()

    def test_a_failing_disk_is_503_and_not_ready(
        self, start_app: Any, server: RedisServer, control: redis.Redis
    ) -> None:
        api = start_app(redis_url=server.url)
        # Snapshots fail once the server's directory is gone; with save points set and
        # stop-writes-on-bgsave-error on, Redis then refuses writes with MISCONF.
        shutil.rmtree(server.directory)
        control.config_set("save", "3600 1")
        control.config_set("stop-writes-on-bgsave-error", "yes")
        try:
            control.bgsave()
            assert wait_until(
                lambda: control.info("persistence")["rdb_last_bgsave_status"] == "err"
            )
            refused = api.post("/messages", json=message("disk", NOWHERE), headers=AUTH)
            assert (refused.status_code, refused.json()["code"]) == (503, "redis_disk_error")
            assert api.get("/health").json()["redis"] == "disk_error"
        finally:
            control.config_set("stop-writes-on-bgsave-error", "no")
            control.config_set("save", "")  # or the server refuses to shut down
        assert api.get("/health").status_code == 200

    def test_a_busy_script_is_503_and_the_error_is_logged_once_per_burst(
        self,
        start_app: Any,
        server: RedisServer,
        control: redis.Redis,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        api = start_app(redis_url=server.url, redis_timeout_seconds=3)
        control.config_set("busy-reply-threshold", 50)

        def busy_for_four_seconds() -> None:
            with redis.Redis.from_url(server.url) as other:
                _ignore_errors(
                    lambda: other.eval(
                        "local t = redis.call('TIME')[1] "
                        "while redis.call('TIME')[1] - t < 4 do end",
                        0,
                    )
                )

        looping = threading.Thread(target=busy_for_four_seconds)
        looping.start()
        try:
            time.sleep(0.3)
            with caplog.at_level(logging.WARNING, logger="service.store"):
                codes = [
                    api.post("/messages", json=message(f"b{i}", NOWHERE), headers=AUTH)
                    for i in range(3)
                ]
            assert [(r.status_code, r.json()["code"]) for r in codes] == [(503, "redis_busy")] * 3
            logged = [r for r in caplog.records if "redis_busy" in r.getMessage()]
            assert len(logged) == 1
        finally:
            _ignore_errors(lambda: control.script_kill())
            looping.join(10)
        assert wait_until(lambda: api.get("/health").status_code == 200)


def _ignore_errors(step: Any) -> None:
    with contextlib.suppress(redis.RedisError):
        step()


class TestTotalTimeout:
    """DELIVERY_TIMEOUT_SECONDS bounds the whole attempt, whatever the receiver trickles."""

    # Each trickle would take 12 s; every attempt must end at its 1 s bound.
    @pytest.mark.parametrize("transport", TRANSPORTS)
    def test_a_trickled_status_line_is_a_timeout(
        self, start_app: Any, hostile: HostileReceiver, transport: str
    ) -> None:
        api = start_app(
            webhook_transport=transport, delivery_timeout_seconds=1.0, delivery_max_attempts=1
        )
        api.post("/messages", json=message("slow", hostile.url("/trickle-head/20")), headers=AUTH)
        assert wait_until(lambda: len(dead_letters(api)) == 1, timeout=15)
        assert "timeout" in dead_letters(api)[0]["lastError"]
        assert wait_until(lambda: len(hostile.hits) == 1)
        assert hostile.hits[0].ended - hostile.hits[0].at < 3.0

    @pytest.mark.parametrize("transport", TRANSPORTS)
    def test_a_trickled_error_body_keeps_its_status(
        self, start_app: Any, hostile: HostileReceiver, transport: str
    ) -> None:
        api = start_app(
            webhook_transport=transport, delivery_timeout_seconds=1.0, delivery_max_attempts=1
        )
        path = "/trickle-body/503/20"
        api.post("/messages", json=message("slow", hostile.url(path)), headers=AUTH)
        assert wait_until(lambda: len(dead_letters(api)) == 1, timeout=15)
        assert "HTTP 503" in dead_letters(api)[0]["lastError"]
        assert wait_until(lambda: len(hostile.hits) == 1)
        assert hostile.hits[0].ended - hostile.hits[0].at < 3.0

    @pytest.mark.parametrize("transport", TRANSPORTS)
    def test_a_trickled_success_body_is_delivered(
        self, start_app: Any, hostile: HostileReceiver, transport: str
    ) -> None:
        api = start_app(webhook_transport=transport, delivery_timeout_seconds=1.0)
        path = "/trickle-body/200/20"
        api.post("/messages", json=message("slow", hostile.url(path)), headers=AUTH)
        assert wait_until(
            lambda: api.get("/messages/slow", headers=AUTH).json()["state"] == "delivered"
        )
        assert wait_until(lambda: len(hostile.hits) == 1)
        assert hostile.hits[0].ended - hostile.hits[0].at < 3.0


class TestPayloadDepth:
    def nested(self, depth: int) -> Any:
        value: Any = "leaf"
        for _ in range(depth):
            value = [value]
        return value

    def test_a_payload_at_the_limit_round_trips(self, api: TestClient) -> None:
        body = message("deep", NOWHERE, at=FUTURE, payload=self.nested(64))
        assert api.post("/messages", json=body, headers=AUTH).status_code == 200
        assert api.get("/messages/deep", headers=AUTH).json()["payload"] == self.nested(64)

    def test_a_payload_past_the_limit_is_422(self, api: TestClient, raw_redis: Any) -> None:
        body = message("deeper", NOWHERE, at=FUTURE, payload=self.nested(65))
        response = api.post("/messages", json=body, headers=AUTH)
        assert response.status_code == 422
        assert "MAX_PAYLOAD_DEPTH (64)" in response.json()["detail"]
        assert raw_redis.hlen("{scheduler:0}:msgs") == 0

    def test_the_largest_depth_setting_still_round_trips(self, start_app: Any) -> None:
        api = start_app(max_payload_depth=200)
        body = message("deepest", NOWHERE, at=FUTURE, payload={"a": self.nested(199)})
        assert api.post("/messages", json=body, headers=AUTH).status_code == 200
        assert api.get("/messages/deepest", headers=AUTH).status_code == 200


class TestIdsInHeaders:
    @pytest.mark.parametrize("char", ["\u0080", "\u0085", "\u009f", "\u200b", "\u202e", "\u2028"])
    def test_control_and_invisible_characters_are_refused(self, api: TestClient, char: str) -> None:
        body = message(f"a{char}b", NOWHERE, at=FUTURE)
        response = api.post("/messages", json=body, headers=AUTH)
        assert response.status_code == 422
        assert f"U+{ord(char):04X}" in response.json()["detail"]

    def test_non_ascii_ids_travel_percent_encoded_and_verify(
        self, start_app: Any, sink: Sink
    ) -> None:
        key = secret(b"0123456789abcdef")
        api = start_app(webhook_signing_secret=key)
        api.post("/messages", json=message("lembrete-joão-ü%", sink.url()), headers=AUTH)
        [received] = sink.wait_for(1)
        assert received.headers["x-message-id"] == "lembrete-jo%C3%A3o-%C3%BC%25"
        assert received.message_id == "lembrete-joão-ü%"
        assert all(value.isascii() for value in received.headers.values())
        Webhook(key).verify(received.body, received.headers)

    def test_plain_ids_are_sent_unchanged(self, api: TestClient, sink: Sink) -> None:
        api.post("/messages", json=message("order:42_a-b.c~d@e", sink.url()), headers=AUTH)
        assert sink.wait_for(1)[0].headers["x-message-id"] == "order:42_a-b.c~d@e"


class TestSigningSecretRotation:
    def test_every_secret_signs_so_old_and_new_receivers_both_verify(
        self, start_app: Any, sink: Sink
    ) -> None:
        old, new = secret(b"old-key-01234567"), secret(b"new-key-01234567")
        api = start_app(webhook_signing_secret=f"{new} {old}")
        api.post("/messages", json=message("rotating", sink.url()), headers=AUTH)
        [received] = sink.wait_for(1)
        assert received.headers["webhook-signature"].count("v1,") == 2
        for key in (old, new):
            Webhook(key).verify(received.body, received.headers)

    def test_a_bad_secret_in_the_list_refuses_to_start(self, make_settings: Any) -> None:
        with pytest.raises(ValueError, match="WEBHOOK_SIGNING_SECRET"):
            make_settings(webhook_signing_secret=f"{secret(b'good-key-0123456')} nope")


class TestCredentialsInUrls:
    def test_the_password_is_sent_but_never_shown(
        self, start_app: Any, sink: Sink, caplog: pytest.LogCaptureFixture
    ) -> None:
        api = start_app(claim_timeout_seconds=600, delivery_max_attempts=1)
        url = sink.url("/status/404").replace("http://", "http://n8n:s3cr3t-pw@")
        later = message("later", url, at=FUTURE)
        with caplog.at_level(logging.INFO):
            api.post("/messages", json=later, headers=AUTH)
            api.post("/messages", json=message("now", url), headers=AUTH)
            [received] = sink.wait_for(1)
            assert wait_until(lambda: len(dead_letters(api)) == 1)
        expected = base64.b64encode(b"n8n:s3cr3t-pw").decode()
        assert received.headers["authorization"] == f"Basic {expected}"
        shown = [
            api.get("/messages", headers=AUTH).text,
            api.get("/messages/later", headers=AUTH).text,
            api.get("/messages/now", headers=AUTH).text,
            api.get("/dead-letters", headers=AUTH).text,
        ]
        for text in shown:
            assert "s3cr3t-pw" not in text
            assert "n8n:***@127.0.0.1" in text
        assert not [r for r in caplog.records if "s3cr3t-pw" in r.getMessage() + str(vars(r))]


class TestQuotas:
    def test_over_the_message_quota_is_429_and_nothing_is_stored(
        self, start_app: Any, raw_redis: Any
    ) -> None:
        api = start_app(max_pending_messages=2)
        codes = [
            api.post("/messages", json=message(f"q{i}", NOWHERE, at=FUTURE), headers=AUTH)
            for i in range(3)
        ]
        assert [r.status_code for r in codes] == [200, 200, 429]
        assert codes[2].json()["code"] == "quota_exceeded"
        assert "MAX_PENDING_MESSAGES (2)" in codes[2].json()["detail"]
        assert raw_redis.hlen("{scheduler:0}:msgs") == 2

    def test_over_the_byte_quota_is_429(self, start_app: Any) -> None:
        api = start_app(max_pending_bytes=300)
        big = {"blob": "x" * 200}
        first = message("b1", NOWHERE, at=FUTURE, payload=big)
        second = message("b2", NOWHERE, at=FUTURE, payload=big)
        assert api.post("/messages", json=first, headers=AUTH).status_code == 200
        refused = api.post("/messages", json=second, headers=AUTH)
        assert refused.status_code == 429
        assert "MAX_PENDING_BYTES (300 bytes)" in refused.json()["detail"]


class TestEgressPolicy:
    """Refusals proven on loopback only: `loopback` denied, the receiver sees nothing."""

    def test_a_denied_literal_address_is_422_naming_the_setting(self, start_app: Any) -> None:
        api = start_app(webhook_deny_networks="default,loopback")
        for url in ("http://127.0.0.1:9/hook", "http://[::1]:9/", "http://[::ffff:127.0.0.1]:9/"):
            response = api.post("/messages", json=message("lit", url), headers=AUTH)
            assert response.status_code == 422, url
            assert "WEBHOOK_DENY_NETWORKS" in response.json()["detail"]

    @pytest.mark.parametrize("transport", TRANSPORTS)
    def test_a_name_resolving_to_a_denied_address_is_refused_before_connecting(
        self, start_app: Any, sink: Sink, transport: str
    ) -> None:
        api = start_app(
            webhook_deny_networks="default,loopback",
            webhook_transport=transport,
            claim_timeout_seconds=600,
        )
        url = sink.url().replace("127.0.0.1", "localhost")
        assert api.post("/messages", json=message("named", url), headers=AUTH).status_code == 200
        assert wait_until(lambda: len(dead_letters(api)) == 1, timeout=15)
        [dead] = dead_letters(api)
        assert dead["attempts"] == 1  # final at once: trying again cannot make it allowed
        assert "egress_denied" in dead["lastError"]
        assert "WEBHOOK_DENY_NETWORKS" in dead["lastError"]
        assert sink.received == []

    def test_allow_networks_open_a_hole_in_the_deny_list(self, start_app: Any, sink: Sink) -> None:
        api = start_app(
            webhook_deny_networks="default,loopback", webhook_allow_networks="127.0.0.1/32"
        )
        assert api.post("/messages", json=message("allowed", sink.url()), headers=AUTH).is_success
        assert len(sink.wait_for(1)) == 1

    def test_a_policy_that_does_not_parse_refuses_to_start(self, make_settings: Any) -> None:
        with pytest.raises(ValueError, match="WEBHOOK_DENY_NETWORKS: 'intranet'"):
            make_settings(webhook_deny_networks="default,intranet")


class TestDocsSwitch:
    def test_docs_are_open_by_default(self, api: TestClient) -> None:
        for path in ("/docs", "/redoc", "/openapi.json"):
            assert api.get(path).status_code == 200

    def test_docs_enabled_false_closes_them(self, start_app: Any) -> None:
        api = start_app(docs_enabled=False)
        for path in ("/docs", "/redoc", "/openapi.json"):
            assert api.get(path).status_code == 404
