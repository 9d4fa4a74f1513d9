"""A file's indicator names matched to a big catalog: by slug, name or alias, each looked up once."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

import storage.importer
from storage.db import make_engine, make_session_factory
from storage.importer import ImportError_, ImportHidden, ImportMapping, import_file
from storage.models import Indicator, IndicatorValue
from storage.repositories import ensure_team

NOW = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
TEAM = "T0CATALOG"
CATALOG = 5_000


@pytest.fixture
def sessions(sqlite_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(sqlite_url)
    yield make_session_factory(engine)
    engine.dispose()


def _catalog(sessions: sessionmaker[Session], size: int) -> None:
    with sessions.begin() as session:  # type: ignore[attr-defined]
        ensure_team(session, TEAM, time_zone="America/New_York", now=NOW)
        session.add_all(
            Indicator(
                team_id=TEAM,
                slug=f"measure-{i}",
                name=f"Measure {i}",
                aliases=[f"Old name {i}", f"Code M{i}"],
                created_at=NOW,
                updated_at=NOW,
            )
            for i in range(size)
        )


def test_a_file_naming_thousands_of_catalog_indicators_matches_each_once(
    sessions, tmp_path: Path, monkeypatch
) -> None:
    """5,000 names against a catalog of 5,000 with two aliases each: every name found (by slug,
    by its name in other letters' case, or by an old name), nothing new created, and the aliases
    slugified once each instead of once per name and indicator (50 million times, 98 s)."""
    _catalog(sessions, CATALOG)
    lines = ["indicator,period,value"]
    for i in range(CATALOG):
        name = (f"measure-{i}", f"MEASURE {i}", f"Old name {i}", f"code m{i}")[i % 4]
        lines.append(f"{name},2025-01,{i}")
    path = tmp_path / "many.csv"
    path.write_text("\n".join(lines) + "\n")
    slugified = 0
    slugify = storage.importer.slugify

    def counting(name: str) -> str:
        nonlocal slugified
        slugified += 1
        return slugify(name)

    monkeypatch.setattr(storage.importer, "slugify", counting)
    report = import_file(
        sessions, team_id=TEAM, path=path, mapping=ImportMapping(), now=NOW, dry_run=True
    )
    assert len(report.indicators) == CATALOG
    assert not any(result.created for result in report.indicators)
    assert [r.name for r in report.indicators[:4]] == [
        "Measure 0",
        "Measure 1",
        "Measure 2",
        "Measure 3",
    ]
    assert report.added == CATALOG
    assert slugified <= 2 * CATALOG * 3  # the catalog's aliases and the file's names, each once


def test_a_name_matches_by_slug_before_name_before_alias(sessions, tmp_path: Path) -> None:
    """An alias never takes a name from the indicator that is called it."""
    with sessions.begin() as session:  # type: ignore[attr-defined]
        ensure_team(session, TEAM, time_zone="America/New_York", now=NOW)
        session.add_all(
            [
                Indicator(
                    team_id=TEAM,
                    slug="er-visits",
                    name="ER visits",
                    aliases=["Deaths"],
                    created_at=NOW,
                    updated_at=NOW,
                ),
                Indicator(
                    team_id=TEAM,
                    slug="deaths",
                    name="Deaths",
                    aliases=[],
                    created_at=NOW,
                    updated_at=NOW,
                ),
            ]
        )
    path = tmp_path / "one.csv"
    path.write_text("indicator,period,value\nDeaths,2025-01,3\n")
    report = import_file(
        sessions, team_id=TEAM, path=path, mapping=ImportMapping(), now=NOW, dry_run=True
    )
    assert [(r.name, r.created) for r in report.indicators] == [("Deaths", False)]


def test_a_file_naming_an_indicator_the_caller_cannot_see_is_refused_without_its_facts(
    sessions, tmp_path: Path
) -> None:
    """Its stored name, plausible limits and grain stay unsaid; nothing is written."""
    with sessions.begin() as session:  # type: ignore[attr-defined]
        ensure_team(session, TEAM, time_zone="America/New_York", now=NOW)
        session.add(
            Indicator(
                team_id=TEAM,
                slug="secret-overdose-deaths",
                name="Secret overdose deaths",
                aliases=["hidden deaths"],
                plausible_max=123456,
                restricted_to=["C0PRIVATE"],
                created_at=NOW,
                updated_at=NOW,
            )
        )
    path = tmp_path / "probe.csv"
    path.write_text("indicator,period,value\nOpen data,2024-01,1\nhidden deaths,2024-01,99999999\n")
    for dry_run in (True, False):
        with pytest.raises(ImportHidden) as refused:
            import_file(
                sessions,
                team_id=TEAM,
                path=path,
                mapping=ImportMapping(),
                now=NOW,
                dry_run=dry_run,
                visible=lambda indicator: not indicator.restricted_to,
            )
        said = str(refused.value)
        assert said == (
            "Nothing was imported: probe.csv names an indicator you cannot see here: "
            "'hidden deaths' (row 3)."
        )
    # the operator's command line sees everything: the catalog's limit is the reason
    with pytest.raises(ImportError_, match="Secret overdose deaths") as refused:
        import_file(sessions, team_id=TEAM, path=path, mapping=ImportMapping(), now=NOW)
    assert not isinstance(refused.value, ImportHidden)
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(IndicatorValue)) == 0
