"""`commstat indicators load`: the catalog gives numbers their meaning; a bad file changes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.sandbox import bundled
from storage.catalog import CatalogError, load_catalog
from storage.db import make_engine, make_session_factory
from storage.importer import import_file
from storage.models import Direction, Indicator, Team

NOW = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
TEAM = "T0COALITION"


@pytest.fixture
def sessions(db_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(db_url)
    yield make_session_factory(engine)
    engine.dispose()


def load(sessions, path: Path) -> str:
    return load_catalog(sessions, team_id=TEAM, path=path, now=NOW)


def snapshot(sessions) -> list[tuple]:
    with sessions() as session:
        return [
            (
                i.slug,
                i.name,
                tuple(i.aliases),
                i.unit,
                i.direction,
                i.target,
                i.period_kind,
                i.update_frequency,
                i.steward_id,
                i.source,
                i.description,
                tuple(i.restricted_to),
            )
            for i in session.scalars(select(Indicator).order_by(Indicator.slug))
        ]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "catalog.yml"
    path.write_text(text, encoding="utf-8")
    return path


def test_bundled_catalog_describes_the_imported_cdc_data(sessions) -> None:
    import_file(
        sessions,
        team_id=TEAM,
        path=bundled.OVERDOSES,
        mapping=bundled.OVERDOSE_MAPPING,
        now=NOW,
    )
    summary = load(sessions, bundled.CATALOG)

    assert summary.startswith("Loaded catalog.yml: 1 created, 3 updated, 0 unchanged.")
    assert "Default geography: MD" in summary
    with sessions() as session:
        indicators = {i.name: i for i in session.scalars(select(Indicator))}
        assert len(indicators) == 4  # the three imported series, matched, plus naloxone
        deaths = indicators["Number of Drug Overdose Deaths"]
        assert deaths.slug == "number-of-drug-overdose-deaths"
        assert "overdoses" in deaths.aliases and "OD deaths" in deaths.aliases
        assert (deaths.unit, deaths.direction, deaths.period_kind) == (
            "deaths",
            Direction.LOWER_IS_BETTER,
            "12-month-ending",
        )
        assert "xkb8-kh2a" in (deaths.source or "")
        assert indicators["Naloxone dispensing rate"].direction == Direction.HIGHER_IS_BETTER
        assert "fentanyl deaths" in indicators["Synthetic opioids, excl. methadone (T40.4)"].aliases
        assert session.get(Team, TEAM).default_geography == "MD"

    before = snapshot(sessions)
    assert load(sessions, bundled.CATALOG).startswith(
        "Loaded catalog.yml: 0 created, 0 updated, 4 unchanged."
    )
    assert snapshot(sessions) == before


def test_fields_left_out_are_kept_and_null_clears(sessions, tmp_path) -> None:
    load(
        sessions,
        write(
            tmp_path,
            "indicators:\n"
            "  - name: ED visits\n"
            "    unit: visits\n"
            "    target: 90\n"
            "    steward: U0MARIA\n"
            "    visibility: [C0123ABC]\n",
        ),
    )
    summary = load(
        sessions, write(tmp_path, "indicators:\n  - name: ED visits\n    target: null\n")
    )
    assert "updated ED visits (target)" in summary
    with sessions() as session:
        visits = session.scalars(select(Indicator)).one()
        assert (visits.unit, visits.target, visits.steward_id, visits.restricted_to) == (
            "visits",
            None,
            "U0MARIA",
            ["C0123ABC"],
        )


def test_rename_keeps_the_slug_when_the_old_name_becomes_an_alias(sessions, tmp_path) -> None:
    load(sessions, write(tmp_path, "indicators:\n  - name: OD deaths\n"))
    load(
        sessions,
        write(tmp_path, "indicators:\n  - name: Overdose deaths\n    aliases: [OD deaths]\n"),
    )
    with sessions() as session:
        only = session.scalars(select(Indicator)).one()
        assert (only.name, only.slug, only.aliases) == (
            "Overdose deaths",
            "od-deaths",
            ["OD deaths"],
        )


@pytest.mark.parametrize(
    ("text", "says"),
    [
        (
            "indicators:\n  - name: A\n    colour: red\n",
            "indicator 1 'A': unknown field colour (allowed: name, aliases",
        ),
        (
            "indicators:\n  - name: A\n    direction: down\n",
            "indicator 1 'A': direction 'down' should be lower or higher",
        ),
        (
            "indicators:\n  - name: A\n    period_kind: fortnightly\n",
            "period_kind 'fortnightly' should be one of daily, weekly",
        ),
        (
            "indicators:\n  - name: A\n    target: lots\n",
            "indicator 1 'A': target 'lots' should be a number",
        ),
        (
            "indicators:\n  - name: A\n    steward: maria\n",
            "steward 'maria' should be a Slack user id like U0123ABCD",
        ),
        (
            "indicators:\n  - name: A\n    visibility: [general]\n",
            "'general' should be a channel id like C0123ABCD",
        ),
        (
            "indicators:\n  - name: A\n    update_frequency: sometimes\n",
            "update_frequency 'sometimes' is not readable",
        ),
        (
            "indicators:\n  - name: A\n  - name: a\n",
            "indicator 2 'a': same name as indicator 1 'A'",
        ),
        (
            "indicators:\n  - name: Overdose deaths\n    aliases: [ODs]\n  - name: Opioid deaths\n    aliases: [ods]\n",
            "indicator 2 'Opioid deaths': alias 'ods' is already the name or an alias of indicator 1 'Overdose deaths'",
        ),
        ("indicators:\n  - unit: deaths\n", "indicator 1: needs a `name:`"),
        ("indicators: []\n", "should be a list with at least one indicator"),
        ("indicator:\n  - name: A\n", "unknown top-level key indicator"),
        ("indicators:\n  - name: A\n   unit: x\n", "is not valid YAML at line 3"),
        ("", "is empty"),
        ("- just a list\n", "should start with `indicators:`"),
    ],
)
def test_bad_catalogs_are_refused_whole(sessions, tmp_path, text, says) -> None:
    load(sessions, write(tmp_path, "indicators:\n  - name: Existing\n    unit: people\n"))
    before = snapshot(sessions)
    with pytest.raises(CatalogError) as refused:
        load(sessions, write(tmp_path, text))
    assert says in str(refused.value)
    assert snapshot(sessions) == before


def test_several_problems_are_all_listed(sessions, tmp_path) -> None:
    bad = write(
        tmp_path,
        "indicators:\n"
        "  - name: A\n    direction: sideways\n    target: '12'\n"
        "  - name: B\n    steward: someone\n",
    )
    with pytest.raises(CatalogError) as refused:
        load(sessions, bad)
    message = str(refused.value)
    assert message.startswith("Nothing was loaded: catalog.yml has 3 problems:")
    assert "'A': direction" in message and "'A': target" in message and "'B': steward" in message


def test_alias_may_not_name_another_stored_indicator(sessions, tmp_path) -> None:
    load(
        sessions,
        write(tmp_path, "indicators:\n  - name: Overdose deaths\n  - name: Opioid deaths\n"),
    )
    before = snapshot(sessions)
    with pytest.raises(CatalogError) as refused:
        load(
            sessions,
            write(
                tmp_path, "indicators:\n  - name: Opioid deaths\n    aliases: [overdose deaths]\n"
            ),
        )
    assert (
        "alias 'overdose deaths' is already the name or an alias of the indicator 'Overdose deaths'"
        in str(refused.value)
    )
    assert snapshot(sessions) == before


def test_missing_file(sessions, tmp_path) -> None:
    with pytest.raises(CatalogError, match="There is no file at"):
        load(sessions, tmp_path / "nope.yml")
