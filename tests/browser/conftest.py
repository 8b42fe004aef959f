"""A real service, a real Redis and one headless Chromium for the console's browser tests.

Chromium and its driver come from Debian's packages (scripts/install-tools.sh installs
them); where they are missing the tests skip and say how to get them.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.processes import Fleet, Replica
from tests.support.redis_server import RedisServer
from tests.support.sink import Sink

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")
# Not UTC, so every time on the page shows two different readings.
BROWSER_ZONE = "Europe/Berlin"


def browser_missing(chromium: str = CHROMIUM, driver: str = CHROMEDRIVER) -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    for path, package in ((chromium, "chromium"), (driver, "chromium-driver")):
        if not (Path(path).is_file() or shutil.which(path)):
            return (
                f"{path} is missing: install Debian's {package} package "
                "(`bash scripts/install-tools.sh` does, as root, where apt can reach Debian)"
            )
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed: `make install` installs the test extras"
    return None


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replica]:
    """`python -m service` on a free port, on a Redis of its own."""
    redis_server = RedisServer(tmp_path_factory.mktemp("console-redis")).start()
    fleet = Fleet(tmp_path_factory.mktemp("console-service"), redis_url=redis_server.url)
    try:
        replica = fleet.add("console")
        replica.wait_ready()
        yield replica
    finally:
        fleet.end_all()
        redis_server.kill()


@pytest.fixture(scope="module")
def webhooks() -> Iterator[Sink]:
    sink = Sink().start()
    try:
        yield sink
    finally:
        sink.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    reason = browser_missing()
    if reason:
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",  # the tests may run as root, where Chromium's sandbox refuses
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1280,860",
        "--lang=en-GB",
        "--no-first-run",
        "--disable-extensions",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--metrics-recording-only",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(CHROMEDRIVER, env={**os.environ, "TZ": BROWSER_ZONE})
    driver = webdriver.Chrome(service=service, options=options)
    try:
        yield driver
    finally:
        driver.quit()
