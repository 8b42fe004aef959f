"""A fire stored by the sweep from its schedule's template is the message `fire` builds."""

from __future__ import annotations

import pytest

from service.firing import Sweep
from service.options import Options
from service.records import Meta
from service.recurring_records import Definition, FireTemplate, fire

SMALL = b'{"X-Token":"t"}\n{"n":1}'
BIG = b"\n" + b'{"pad":"' + b"x" * 400 + b'"}'


def definition(**options: object) -> Definition:
    return Definition(
        cron=None,
        every_ms=10_000,
        timezone="UTC",
        start_ms=None,
        end_ms=None,
        paused=False,
        url="http://127.0.0.1:9/hook",
        options=Options(**options),  # type: ignore[arg-type]
        created_ms=1_700_000_000_000,
        anchor_ms=1_700_000_000_000,
    )


def without_incarnation(record: bytes) -> list[bytes]:
    fields = record.split(b"\n", 11)
    return fields[:9] + fields[10:]


@pytest.mark.parametrize("body", [SMALL, BIG, b"\n"], ids=["inline", "apart", "empty"])
@pytest.mark.parametrize(
    "options",
    [
        {},
        {"labels": {"team": "a"}, "max_attempts": 4, "header_names": ["X-Token"]},
        {"method": "PUT", "callback_url": "http://127.0.0.1:9/cb", "timeout": 2.5},
    ],
    ids=["plain", "labels", "callback"],
)
def test_the_template_stores_what_fire_builds(body: bytes, options: dict[str, object]) -> None:
    built = fire("daily", definition(**options), body, 1_700_000_010_000, 1_700_000_001_234)
    meta, big, size = built.stored()
    template = FireTemplate.of("daily", definition(**options), body)
    fire_id, record, body_apart, stored_size, due, labelled = template.args(
        1_700_000_010_000, 1_700_000_001_234
    )
    assert fire_id == built.id == "daily:1700000010000"
    assert without_incarnation(record) == without_incarnation(meta)
    assert (body_apart, stored_size, due) == (big, size, built.due_ms)
    assert labelled == "1"  # every fire carries the `schedule` label
    decoded = Meta.decode(record)
    assert decoded.due_ms == 1_700_000_010_000
    assert decoded.opts.schedule == "daily"
    assert decoded.attempts == 0


def test_each_fire_is_a_new_incarnation() -> None:
    template = FireTemplate.of("s", definition(), SMALL)
    first, second = (template.args(1_000, 0)[1] for _ in range(2))
    assert first.split(b"\n")[9] != second.split(b"\n")[9]


def test_a_schedule_created_again_under_its_id_is_not_taken_for_the_old_one() -> None:
    sweep = Sweep.__new__(Sweep)  # only its cache of decoded definitions is used here
    sweep._decoded = {}
    old = definition()
    new = definition(method="PUT")
    new.created_ms += 1
    first, _ = sweep._definition("s", 1, old.encode(), SMALL)
    second, template = sweep._definition("s", 1, new.encode(), BIG)
    assert (first.options.method, second.options.method) == ("POST", "PUT")
    assert template.size == len(BIG)
