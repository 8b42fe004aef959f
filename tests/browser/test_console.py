"""The console in a real browser: sign in, find, cancel, redrive, pause, and stay inert to
markup in the data. Headless Chromium against `python -m service` on a real Redis.

The tests run in file order on one browser session (starting Chromium costs seconds);
each one makes its own messages through the API, as a client would, and checks the
result through the API too. Screenshots of the main views go to docs/console-*.png.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.processes import AUTH, TOKEN, Replica
from tests.support.sink import Sink

pytestmark = pytest.mark.slow

DOCS = Path(__file__).resolve().parents[2] / "docs"
XSS = "<img src=x onerror=alert(1)>"
LATER = "2999-01-01T09:30:00Z"


@dataclass
class Console:
    """The browser, pointed at one service, with the waits the tests need."""

    driver: Any
    service: Replica

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.request(method, self.service.url(path), headers=AUTH, timeout=10, **kwargs)

    def schedule(self, body: dict[str, Any]) -> None:
        response = self.api("POST", "/messages", json=body)
        assert response.status_code == 200, response.text

    def state(self, message_id: str) -> str | None:
        response = self.api("GET", f"/messages/{message_id}")
        return str(response.json()["state"]) if response.status_code == 200 else None

    def open(self, view: str) -> None:
        self.driver.get(self.service.url(f"/console/#/{view}"))
        self.wait_for(f'nav a[data-view="{view}"][aria-current]')

    def fresh(self, view: str) -> None:
        """Open a view on a newly loaded page: no filter or page left from before."""
        self.open(view)
        self.driver.refresh()
        self.wait_for(f'nav a[data-view="{view}"][aria-current]')

    def find(self, css: str) -> Any:
        from selenium.webdriver.common.by import By

        return self.driver.find_element(By.CSS_SELECTOR, css)

    def find_all(self, css: str) -> list[Any]:
        from selenium.webdriver.common.by import By

        return list(self.driver.find_elements(By.CSS_SELECTOR, css))

    def until(self, condition: Callable[[], Any], timeout: float = 15.0) -> Any:
        from selenium.common.exceptions import (
            NoSuchElementException,
            StaleElementReferenceException,
        )
        from selenium.webdriver.support.ui import WebDriverWait

        # A view re-renders when its data arrives: an element found a moment ago may be gone.
        ignored = (NoSuchElementException, StaleElementReferenceException)
        wait = WebDriverWait(self.driver, timeout, poll_frequency=0.1, ignored_exceptions=ignored)
        return wait.until(lambda _: condition())

    def wait_for(self, css: str, timeout: float = 15.0) -> Any:
        return self.until(lambda: next(iter(self.find_all(css)), None), timeout)

    def gone(self, css: str, timeout: float = 15.0) -> None:
        self.until(lambda: not self.find_all(css), timeout)

    def row(self, key: str) -> Any:
        return self.wait_for(f'tr[data-id="{key}"]')

    def click(self, css: str) -> None:
        # Found and clicked in one retried step: a re-render may replace it in between.
        self.until(lambda: self.find(css).click() or True)

    def confirm(self, expected_text: str) -> str:
        """Read the confirmation dialog, check it, and press its action button."""
        dialog = self.wait_for("dialog#confirm[open]")
        text = str(dialog.text)
        assert expected_text in text, text
        self.find("#confirm-yes").click()
        self.gone("dialog#confirm[open]")
        return text

    def notice(self, text: str) -> None:
        self.until(lambda: text in self.find("#notice").text)

    def screenshot(self, name: str) -> None:
        DOCS.mkdir(exist_ok=True)
        self.driver.save_screenshot(str(DOCS / f"console-{name}.png"))


@pytest.fixture(scope="module")
def console(browser: Any, service: Replica) -> Iterator[Console]:
    # Signed in as the sign-in test leaves it, so that any test also runs alone.
    browser.get(service.url("/console"))
    browser.execute_script("sessionStorage.setItem('scheduler-api-token', arguments[0])", TOKEN)
    browser.refresh()
    yield Console(browser, service)


def test_signs_in_with_the_api_token_and_refuses_a_wrong_one(console: Console) -> None:
    console.driver.execute_script("sessionStorage.clear()")
    console.driver.get(console.service.url("/console"))
    field = console.wait_for("#token")
    assert console.find("#app").get_attribute("hidden") is not None
    console.screenshot("sign-in")
    field.send_keys("not-the-token-at-all")
    console.click("#signin-submit")
    console.until(lambda: "not accepted" in console.find("#signin-error").text)
    field.clear()
    field.send_keys(TOKEN)
    console.click("#signin-submit")
    console.wait_for("#tile-pending")
    stored = console.driver.execute_script("return sessionStorage.getItem('scheduler-api-token')")
    assert stored == TOKEN
    assert console.driver.execute_script("return localStorage.length") == 0


def test_a_message_scheduled_through_the_api_appears_and_is_cancelled(
    console: Console, webhooks: Sink
) -> None:
    console.schedule(
        {
            "id": "invoice-1042",
            "scheduleTo": LATER,
            "payload": {"invoice": 1042, "remind": True},
            "webhookUrl": webhooks.url("/ok"),
            "headers": {"Authorization": "Bearer receiver-secret"},
            "labels": {"customer": "c-77", "flow": "dunning"},
        }
    )
    console.schedule(
        {
            "id": "welcome-7",
            "delay": "P2D",
            "payload": {"user": 7},
            "webhookUrl": webhooks.url("/ok"),
            "labels": {"flow": "onboarding"},
        }
    )
    console.open("messages")
    row = console.row("invoice-1042")
    # The viewer's zone (Berlin: 10:30 in winter) and UTC (09:30), side by side.
    assert "10:30:00" in row.text and "09:30:00 UTC" in row.text
    assert "customer:c-77" in row.text
    console.screenshot("messages")

    console.click('tr[data-id="invoice-1042"] [data-action="detail"]')
    detail = console.wait_for("dialog#detail[open]")
    console.until(lambda: '"invoice": 1042' in detail.text)
    assert "Authorization" in detail.text and "receiver-secret" not in detail.text
    console.screenshot("message-detail")
    console.click("#detail-close")

    console.click('tr[data-id="invoice-1042"] [data-action="cancel"]')
    console.confirm("invoice-1042")
    console.notice("Cancelled invoice-1042")
    console.gone('tr[data-id="invoice-1042"]')
    assert console.state("invoice-1042") == "cancelled"
    assert console.state("welcome-7") == "pending"


def test_filters_by_label_and_cancels_them_all_after_showing_the_count(
    console: Console, webhooks: Sink
) -> None:
    for i in range(3):
        body = {"id": f"spring-{i}", "delay": 3600 + i, "payload": {}, "webhookUrl": webhooks.url()}
        console.schedule({**body, "labels": {"campaign": "spring"}})
    other = {"id": "autumn-0", "delay": 3600, "payload": {}, "webhookUrl": webhooks.url()}
    console.schedule({**other, "labels": {"campaign": "autumn"}})
    console.open("messages")
    console.wait_for("#message-labels").send_keys("campaign:spring")
    console.click("#message-filter")
    console.until(lambda: len(console.find_all("tbody tr")) == 3)
    assert not console.find_all('tr[data-id="autumn-0"]')
    console.click("#cancel-labelled")
    console.confirm("3 messages with campaign:spring")
    console.notice("Cancelled 3 messages")
    assert {console.state(f"spring-{i}") for i in range(3)} == {"cancelled"}
    assert console.state("autumn-0") == "pending"


def dead_letter(console: Console, webhooks: Sink, message_id: str, **extra: Any) -> None:
    """A message that fails once with 503 and may not retry: a dead letter at once."""
    console.schedule(
        {
            "id": message_id,
            "delay": 0,
            "payload": {"order": message_id},
            "webhookUrl": webhooks.url("/flaky/1"),
            "maxAttempts": 1,
            **extra,
        }
    )
    console.until(lambda: console.state(message_id) == "dead")


def test_a_dead_letter_shows_why_and_is_redriven(console: Console, webhooks: Sink) -> None:
    dead_letter(console, webhooks, "order-5150")
    console.open("dead-letters")
    row = console.row("order-5150")
    assert "503" in row.text
    console.screenshot("dead-letters")
    console.click('tr[data-id="order-5150"] [data-action="redrive"]')
    console.notice("Redriven order-5150")
    console.until(lambda: console.state("order-5150") == "delivered")
    assert len(webhooks.for_id("order-5150")) == 2


def test_redrives_every_dead_letter_with_a_label(console: Console, webhooks: Sink) -> None:
    for i in range(2):
        dead_letter(console, webhooks, f"batch-{i}", labels={"batch": "b1"})
    dead_letter(console, webhooks, "other-dead")
    console.open("dead-letters")
    console.wait_for("#dead-labels").send_keys("batch:b1")
    console.click("#dead-filter")
    console.click("#redrive-labelled")
    console.confirm("2 dead letters with batch:b1")
    console.notice("Redriven 2")
    console.until(lambda: {console.state(f"batch-{i}") for i in range(2)} == {"delivered"})
    assert console.state("other-dead") == "dead"


def test_deletes_a_dead_letter(console: Console, webhooks: Sink) -> None:
    dead_letter(console, webhooks, "unwanted")
    console.fresh("dead-letters")
    console.click('tr[data-id="unwanted"] [data-action="delete"]')
    console.confirm("unwanted")
    console.notice("Deleted unwanted")
    console.gone('tr[data-id="unwanted"]')
    assert console.state("unwanted") == "dead_lettered"


def test_markup_in_labels_and_payloads_is_shown_as_text(console: Console, webhooks: Sink) -> None:
    console.schedule(
        {
            "id": "xss-1",
            "scheduleTo": LATER,
            "payload": {"html": XSS},
            "webhookUrl": webhooks.url(),
            "labels": {"note": XSS},
        }
    )
    console.fresh("messages")
    row = console.row("xss-1")
    assert f"note:{XSS}" in row.text
    assert [label.text for label in row.find_elements("css selector", ".label")] == [f"note:{XSS}"]
    console.click('tr[data-id="xss-1"] [data-action="detail"]')
    detail = console.wait_for("dialog#detail[open]")
    console.until(lambda: XSS in detail.text)
    time.sleep(0.3)  # an onerror would have fired by now (the image source fails at once)
    assert console.find_all("img") == []
    handlers = "return document.querySelectorAll('[onerror]').length"
    assert console.driver.execute_script(handlers) == 0
    assert_no_alert(console)
    console.click("#detail-close")


def assert_no_alert(console: Console) -> None:
    from selenium.common.exceptions import NoAlertPresentException

    with pytest.raises(NoAlertPresentException):
        _ = console.driver.switch_to.alert.text


def test_pauses_and_resumes_a_schedule(console: Console, webhooks: Sink) -> None:
    for body in (
        {"id": "weekday-report", "cron": "0 9 * * MON-FRI", "timezone": "America/Sao_Paulo"},
        {"id": "heartbeat", "every": "PT5M", "labels": {"team": "ops"}},
    ):
        response = console.api(
            "POST", "/schedules", json={**body, "payload": {"n": 1}, "webhookUrl": webhooks.url()}
        )
        assert response.status_code == 200, response.text
    console.open("schedules")
    row = console.row("weekday-report")
    assert "0 9 * * MON-FRI" in row.text and "UTC" in row.text
    console.screenshot("schedules")

    console.click('tr[data-id="weekday-report"] [data-action="detail"]')
    detail = console.wait_for("dialog#detail[open]")
    console.until(lambda: len(detail.find_elements("css selector", ".next-runs li")) == 5)
    console.click("#detail-close")

    console.click('tr[data-id="weekday-report"] [data-action="pause"]')
    console.until(lambda: "paused" in console.row("weekday-report").text)
    assert console.api("GET", "/schedules/weekday-report").json()["paused"] is True
    console.click('tr[data-id="weekday-report"] [data-action="resume"]')
    console.wait_for('tr[data-id="weekday-report"] [data-action="pause"]')
    assert console.api("GET", "/schedules/weekday-report").json()["paused"] is False

    console.click('tr[data-id="heartbeat"] [data-action="delete"]')
    console.confirm("heartbeat")
    console.gone('tr[data-id="heartbeat"]')
    assert console.api("GET", "/schedules/heartbeat").status_code == 404


def test_the_overview_charts_the_counts_and_deliveries(console: Console, webhooks: Sink) -> None:
    console.schedule({"id": "charted", "delay": 0, "payload": {}, "webhookUrl": webhooks.url()})
    console.until(lambda: console.state("charted") == "delivered")
    console.open("overview")
    # The service samples every 10 s: wait for the sample that saw the deliveries above.
    console.until(lambda: console.find("#tile-delivered .tile-value").text not in ("0", ""), 25)
    assert console.find("#tile-pending .tile-value").text != "—"
    assert len(console.find_all("svg.chart")) == 3
    assert console.find_all("svg.chart polyline")
    console.screenshot("overview")


def test_the_page_broke_no_rule_of_its_policy(console: Console) -> None:
    entries = console.driver.get_log("browser")
    problems = [
        e["message"]
        for e in entries
        if "Content Security Policy" in e["message"]
        or (e["level"] == "SEVERE" and "status of 401" not in e["message"])
    ]
    assert problems == []


def test_signs_out(console: Console) -> None:
    console.click("#signout")
    console.wait_for("#signin:not([hidden])")
    assert console.driver.execute_script("return sessionStorage.length") == 0
    console.driver.get(console.service.url("/console/#/messages"))
    console.wait_for("#token")
    assert console.find("#app").get_attribute("hidden") is not None
