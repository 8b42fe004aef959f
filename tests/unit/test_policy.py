"""What an answer means and how long to wait: the judgement table, Retry-After, backoff."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.policy import (
    RETRY_AFTER_CAP_SECONDS,
    Backoff,
    Verdict,
    internal_failure,
    judge,
    parse_retry_after,
)
from service.webhook import WebhookError, WebhookResponse

NOW = datetime(2026, 11, 26, 12, 0, 0, tzinfo=UTC)


def answer(status: int, body: bytes = b"", **headers: str) -> WebhookResponse:
    return WebhookResponse(status, headers.get("retry_after"), headers.get("location"), body)


@pytest.mark.parametrize(
    ("status", "verdict", "status_class"),
    [
        (200, Verdict.DELIVERED, "2xx"),
        (204, Verdict.DELIVERED, "2xx"),
        (299, Verdict.DELIVERED, "2xx"),
        (301, Verdict.GIVE_UP, "3xx"),
        (400, Verdict.GIVE_UP, "4xx"),
        (404, Verdict.GIVE_UP, "4xx"),
        (408, Verdict.RETRY, "4xx"),
        (429, Verdict.RETRY, "4xx"),
        (500, Verdict.RETRY, "5xx"),
        (503, Verdict.RETRY, "5xx"),
        (600, Verdict.RETRY, "invalid"),
        (999, Verdict.RETRY, "invalid"),
    ],
)
def test_the_judgement_of_every_status(status: int, verdict: Verdict, status_class: str) -> None:
    outcome = judge(answer(status))
    assert (outcome.verdict, outcome.status_class) == (verdict, status_class)


def test_an_error_keeps_the_start_of_the_body() -> None:
    outcome = judge(answer(503, b"  upstream down \xff" + b"x" * 500))
    assert outcome.error.startswith("HTTP 503: upstream down \ufffd")
    assert len(outcome.error) <= len("HTTP 503: ") + 200


def test_a_redirect_names_where_it_pointed() -> None:
    outcome = judge(answer(302, location="https://elsewhere/"))
    assert outcome.error == "HTTP 302: redirect to https://elsewhere/ not followed"


@pytest.mark.parametrize(
    ("kind", "verdict"),
    [
        ("timeout", Verdict.RETRY),
        ("connection_error", Verdict.RETRY),
        ("egress_denied", Verdict.GIVE_UP),
    ],
)
def test_transport_errors(kind: str, verdict: Verdict) -> None:
    outcome = judge(WebhookError(kind, "details"))
    assert (outcome.verdict, outcome.status_class, outcome.error) == (
        verdict,
        kind,
        f"{kind}: details",
    )


def test_an_internal_failure_is_retried_with_its_type() -> None:
    outcome = internal_failure(ValueError("bad"))
    assert outcome.verdict is Verdict.RETRY
    assert outcome.error == "internal error during the attempt: ValueError: bad"


class TestRetryAfter:
    @pytest.mark.parametrize(
        ("value", "seconds"),
        [("0", 0.0), ("120", 120.0), (" 7 ", 7.0), ("99999", RETRY_AFTER_CAP_SECONDS)],
    )
    def test_delta_seconds(self, value: str, seconds: float) -> None:
        assert parse_retry_after(value, now=NOW) == seconds

    def test_http_date(self) -> None:
        later = (NOW + timedelta(seconds=90)).strftime("%a, %d %b %Y %H:%M:%S GMT")
        assert parse_retry_after(later, now=NOW) == 90.0

    def test_a_date_in_the_past_means_now(self) -> None:
        assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=NOW) == 0.0

    def test_a_date_far_ahead_is_capped(self) -> None:
        assert (
            parse_retry_after("Fri, 31 Dec 9999 23:59:59 GMT", now=NOW) == RETRY_AFTER_CAP_SECONDS
        )

    @pytest.mark.parametrize(
        "value",
        [
            "²",
            "①",
            "٣",
            "9" * 400,
            "-5",
            "1.5",
            "1e3",
            "Wed, 99 Foo 99999 99:99:99 GMT",
            "",
            "soon",
        ],
    )
    def test_anything_else_is_ignored(self, value: str) -> None:
        assert parse_retry_after(value, now=NOW) is None

    @given(st.text(max_size=80))
    def test_no_text_raises(self, value: str) -> None:
        seconds = parse_retry_after(value, now=NOW)
        assert seconds is None or 0.0 <= seconds <= RETRY_AFTER_CAP_SECONDS


class TestBackoff:
    @given(st.integers(min_value=-5, max_value=10_000))
    def test_a_delay_stays_within_its_ceiling(self, attempt: int) -> None:
        backoff = Backoff(1.0, 600.0)
        assert 0.0 <= backoff.delay(attempt) <= min(600.0, 2.0 ** min(max(attempt - 1, 0), 62))

    def test_the_ceiling_doubles_then_stops_at_the_maximum(self) -> None:
        backoff = Backoff(1.0, 10.0)
        assert [backoff.ceiling(n) for n in range(1, 7)] == [1, 2, 4, 8, 10, 10]

    @given(st.floats(min_value=0, max_value=RETRY_AFTER_CAP_SECONDS))
    def test_retry_after_is_a_floor(self, retry_after: float) -> None:
        assert Backoff(0.01, 0.02).delay(3, retry_after=retry_after) >= retry_after
