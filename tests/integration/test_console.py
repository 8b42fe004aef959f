"""The console's server side: its files, the policy on them, its overview feed, its switch."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.console_routes import STATIC, load_files
from service.metrics import Metrics
from service.overview import Overview, outcome_totals, quantile_bound
from service.records import Stats
from tests.conftest import AUTH, NOWHERE, message
from tests.support.polling import wait_until

FILES = sorted(p.name for p in STATIC.iterdir() if p.is_file())


class TestFiles:
    def test_console_redirects_to_its_folder(self, api: TestClient) -> None:
        response = api.get("/console", follow_redirects=False)
        assert response.status_code == 308
        assert response.headers["location"] == "/console/"

    def test_index_loads_its_script_as_a_module_and_holds_no_secret(self, api: TestClient) -> None:
        response = api.get("/console/")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/html")
        assert '<script type="module" src="app.js"></script>' in response.text
        assert "test-token" not in response.text

    @pytest.mark.parametrize("name", FILES)
    def test_every_file_carries_the_strict_policy(self, api: TestClient, name: str) -> None:
        response = api.get(f"/console/{name}")
        assert response.status_code == 200
        policy = response.headers["content-security-policy"]
        assert "default-src 'self'" in policy
        assert "script-src 'self'" in policy and "style-src 'self'" in policy
        assert "frame-ancestors 'none'" in policy
        assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
        assert response.headers["x-content-type-options"] == "nosniff"

    def test_the_files_hold_no_inline_script_style_or_handler(self) -> None:
        for name, (body, _) in load_files().items():
            text = body.decode()
            assert "<script>" not in text and "style=" not in text, name
            assert "innerHTML" not in text and "outerHTML" not in text, name
            assert "insertAdjacentHTML" not in text and "document.write" not in text, name
            assert "http://" not in text.replace("http://www.w3.org/2000/svg", ""), name
            assert "https://" not in text, name

    def test_unknown_names_and_paths_are_404(self, api: TestClient) -> None:
        for path in ("/console/nope.js", "/console/..%2Fconfig.py", "/console/../app.py"):
            response = api.get(path)
            assert response.status_code == 404, path

    def test_only_listed_suffixes_are_served(self, tmp_path: Path) -> None:
        (tmp_path / "page.html").write_text("<p>hi</p>")
        (tmp_path / "notes.py").write_text("secret = 1")
        assert set(load_files(tmp_path)) == {"page.html"}


class TestSwitch:
    def test_console_enabled_false_removes_it(self, start_app: Callable[..., TestClient]) -> None:
        api = start_app(console_enabled=False)
        assert api.get("/console/").status_code == 404
        assert api.get("/console/app.js").status_code == 404
        assert api.get("/console/api/overview", headers=AUTH).status_code == 404

    def test_the_console_is_not_part_of_the_openapi_document(self, api: TestClient) -> None:
        paths = api.get("/openapi.json").json()["paths"]
        assert not [path for path in paths if path.startswith("/console")]


class TestOverviewFeed:
    def test_needs_the_token(self, api: TestClient) -> None:
        assert api.get("/console/api/overview").status_code == 401
        wrong = {"Authorization": "Bearer not-the-token-at-all"}
        assert api.get("/console/api/overview", headers=wrong).status_code == 401

    def test_has_a_sample_from_start_up_with_the_store_counts(self, api: TestClient) -> None:
        for i in range(3):
            body = message(f"later-{i}", NOWHERE, at="2999-01-01T00:00:00Z")
            assert api.post("/messages", json=body, headers=AUTH).status_code == 200
        overview = api.get("/console/api/overview", headers=AUTH).json()
        assert overview["sampleSeconds"] == 10 and overview["windowSeconds"] == 3600
        assert len(overview["samples"]) >= 1
        first = overview["samples"][0]
        assert set(first) >= {"at", "pending", "inFlight", "deadLetters", "delivered"}

    def test_counts_deliveries_between_samples(self, api: TestClient, sink: Any) -> None:
        runtime = api.app.state.runtime  # type: ignore[attr-defined]
        for i in range(2):
            api.post("/messages", json=message(f"now-{i}", sink.url()), headers=AUTH)
        sink.wait_for(2)
        assert wait_until(lambda: outcome_totals(runtime.metrics.deliveries)["delivered"] == 2)
        sample = api.portal.call(runtime.overview.sample)  # type: ignore[union-attr]
        # Each sample holds what happened since the one before, so together they hold all.
        assert sum(s.delivered for s in runtime.overview.samples) == 2
        assert sample.pending == 0 and sample.deadLetters == 0
        feed = api.get("/console/api/overview", headers=AUTH).json()
        assert sum(s["delivered"] for s in feed["samples"]) == 2
        assert any(s["latenessP99Seconds"] is not None for s in feed["samples"])


class TestRing:
    def test_keeps_one_hour_of_samples(self) -> None:
        async def stats() -> Stats:
            return Stats(pending=5, in_flight=1, dead=2)

        ring = Overview(metrics=Metrics(), stats=stats, timeout=1, every=10, window=60)

        async def take(n: int) -> None:
            for _ in range(n):
                await ring.sample()

        asyncio.run(take(9))
        assert len(ring.samples) == 6
        assert ring.samples[-1].pending == 5 and ring.samples[-1].deadLetters == 2

    def test_a_store_that_does_not_answer_leaves_gaps_not_errors(self) -> None:
        async def stats() -> Stats:
            raise ConnectionError("down")

        ring = Overview(metrics=Metrics(), stats=stats, timeout=1)
        sample = asyncio.run(ring.sample())
        assert sample.pending is None and sample.inFlight is None and sample.delivered == 0

    def test_stops_when_cancelled_even_if_the_store_call_swallows_the_cancel(self) -> None:
        # Redis clients can swallow a cancel while they clean up a connection.
        entered = asyncio.Event()

        async def stats() -> Stats:
            entered.set()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.sleep(10)
            return Stats(pending=0, in_flight=0, dead=0)

        async def scenario() -> None:
            ring = Overview(metrics=Metrics(), stats=stats, timeout=30, every=3600)
            task = asyncio.create_task(ring.run())
            await entered.wait()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await asyncio.wait_for(task, timeout=2)

        asyncio.run(scenario())

    def test_quantile_bound_reads_cumulative_buckets(self) -> None:
        buckets = [(0.01, 90.0), (0.1, 99.0), (1.0, 100.0), (float("inf"), 100.0)]
        assert quantile_bound(buckets, 0.5) == 0.01
        assert quantile_bound(buckets, 0.99) == 0.1
        assert quantile_bound([(1.0, 0.0), (float("inf"), 0.0)], 0.99) is None
        assert quantile_bound([(1.0, 0.0), (float("inf"), 3.0)], 0.99) == 1.0
