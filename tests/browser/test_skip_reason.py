"""Where Chromium cannot be installed the browser tests skip, and the reason says what to do."""

from __future__ import annotations

from tests.browser.conftest import browser_missing


def test_a_missing_browser_names_the_package_and_the_install_step() -> None:
    reason = browser_missing(chromium="/nonexistent/chromium")
    assert reason is not None
    assert "chromium" in reason and "scripts/install-tools.sh" in reason


def test_a_missing_driver_names_its_package() -> None:
    reason = browser_missing(driver="/nonexistent/chromedriver")
    assert reason is not None and "chromium-driver" in reason
