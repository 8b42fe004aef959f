"""The README's configuration table says what `Settings` does: every setting, its default.

The table is written by hand (its sentences are worth more than a generated list), so this
test keeps it honest: a setting added, renamed or given a new default without the README
fails here, as the chart's README fails against values.yaml. The OpenTelemetry variables are
the SDK's standard ones and are documented as a group.
"""

from __future__ import annotations

import re
from enum import Enum
from pathlib import Path
from typing import Any

from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from service.config import Settings

REPO = Path(__file__).resolve().parents[2]
GROUPED = "otel_"  # the standard OTEL_* variables: one row names them as a group


def configuration_rows() -> list[tuple[list[str], list[str]]]:
    """(names, defaults) of each row of the README's `## Configuration` table."""
    readme = (REPO / "README.md").read_text()
    section = readme.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) < 3 or not cells[0].startswith("`"):
            continue
        names = re.findall(r"`([A-Z][A-Z0-9_]*)`", cells[0])
        defaults = [part.strip().strip("`") for part in cells[1].split(" / ")]
        rows.append((names, defaults))
    return rows


def documented() -> dict[str, str]:
    """Variable name to the default the README gives it."""
    table: dict[str, str] = {}
    for names, defaults in configuration_rows():
        if names and names[0].lower().startswith(GROUPED):
            continue
        assert len(names) == len(defaults), f"one default per variable: {names} {defaults}"
        table.update(zip(names, defaults, strict=True))
    return table


def shown(info: FieldInfo) -> str:
    """A field's default as the README writes it."""
    default: Any = info.default
    if default is PydanticUndefined:
        return "(required)"
    if default is None or default == "":
        return "unset"
    if isinstance(default, Enum):
        return str(default.value)
    if isinstance(default, bool):
        return str(default).lower()
    if isinstance(default, float):
        return f"{default:g}"
    return str(default)


def settings() -> dict[str, FieldInfo]:
    return {
        name.upper(): info
        for name, info in Settings.model_fields.items()
        if not name.startswith(GROUPED)
    }


def test_every_setting_has_a_row_in_the_readme() -> None:
    missing = settings().keys() - documented().keys()
    assert not missing, f"settings missing from the README's configuration table: {missing}"


def test_every_row_of_the_readme_is_a_setting() -> None:
    unknown = documented().keys() - settings().keys()
    assert not unknown, f"the README documents variables Settings does not read: {unknown}"


def test_the_readme_gives_every_default_the_code_has() -> None:
    table = documented()
    wrong = {
        name: (table[name], shown(info))
        for name, info in settings().items()
        if name in table and table[name] != shown(info)
    }
    assert not wrong, f"README default vs code default: {wrong}"


def test_the_opentelemetry_row_names_only_standard_variables() -> None:
    grouped = [names for names, _ in configuration_rows() if names and names[0].startswith("OTEL_")]
    assert grouped, "a row for the OTEL_* variables"
    assert all(name.startswith("OTEL_") for names in grouped for name in names)
