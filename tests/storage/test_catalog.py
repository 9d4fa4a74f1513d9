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
from storage.models import Direction, ImportSource, Indicator, Team

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


# --- plausible ranges and YAML that can't take the machine --------------------------------------


def bounds(sessions, name: str) -> tuple[float | None, float | None]:
    with sessions() as session:
        found = session.scalars(select(Indicator).where(Indicator.name == name)).one()
        return found.plausible_min, found.plausible_max


def test_min_and_max_are_stored_updated_and_cleared(sessions, tmp_path) -> None:
    summary = load(
        sessions,
        write(
            tmp_path,
            "indicators:\n"
            "  - name: Vaccinated share\n    unit: '%'\n    min: 0\n    max: 100\n"
            "  - name: Change in deaths\n    min: -1e2\n    max: 1e3\n",  # exponents are numbers
        ),
    )
    assert "2 created" in summary
    assert bounds(sessions, "Vaccinated share") == (0, 100)
    assert bounds(sessions, "Change in deaths") == (-100, 1000)
    summary = load(
        sessions, write(tmp_path, "indicators:\n  - name: Vaccinated share\n    max: 99.5\n")
    )
    assert "• updated Vaccinated share (max)" in summary
    assert bounds(sessions, "Vaccinated share") == (0, 99.5)
    summary = load(
        sessions,
        write(tmp_path, "indicators:\n  - name: Vaccinated share\n    min: null\n    max: null\n"),
    )
    assert "• updated Vaccinated share (min, max)" in summary
    assert bounds(sessions, "Vaccinated share") == (None, None)


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ("min: 5\n    max: 2", "indicator 1 'A': min 5 is above max 2"),
        ("max: lots", "max 'lots' should be a number, e.g. 100"),
        ("min: '0'", "min '0' should be a number, e.g. 0"),
        ("max: 1e12", "max 1e+12 is far too large"),
        ("min: -1e308", "min -1e+308 is far too large"),
        ("target: 1e400", "target inf is far too large"),
        ("max: .nan", "max nan should be a number"),
        ("target: " + "9" * 5000, "a number thousands of digits long"),
    ],
)
def test_bad_ranges_are_refused(sessions, tmp_path, fields, says) -> None:
    with pytest.raises(CatalogError) as refused:
        load(sessions, write(tmp_path, f"indicators:\n  - name: A\n    {fields}\n"))
    assert says in str(refused.value)
    assert snapshot(sessions) == []


@pytest.mark.parametrize(
    ("text", "says"),
    [
        (
            "a: &a [x, x, x, x, x, x, x, x, x]\n"
            + "".join(
                f"{n}: &{n} [{', '.join([f'*{p}'] * 9)}]\n"
                for p, n in zip("abcdefgh", "bcdefghi", strict=True)
            )
            + "indicators: *i\n",
            "catalog.yml expands to more than 100,000 values",
        ),
        (
            "indicators: " + "[" * 1000 + "]" * 1000 + "\n",
            "nested more than 20 levels deep (at line 1)",
        ),
        (
            "indicators:\n" + "".join("  " * i + "- \n" for i in range(1, 30)),
            "nested more than 20 levels",
        ),
        ("a: &a {b: *a}\nindicators: [*a]\n", "has an alias inside its own anchor"),
        (
            "".join(f"a{i}: &a{i} [*a{i - 1}]\n" if i else "a0: &a0 [x]\n" for i in range(40))
            + "indicators: *a39\n",
            "nested more than 20 levels deep once its aliases",
        ),
    ],
)
def test_yaml_that_would_take_the_machine_is_refused_before_it_is_built(
    sessions, tmp_path, text, says
) -> None:
    with pytest.raises(CatalogError) as refused:
        load(sessions, write(tmp_path, text))
    assert says in str(refused.value)
    assert "Nothing was loaded" in str(refused.value)
    assert snapshot(sessions) == []


def test_small_aliases_and_merge_keys_still_work(sessions, tmp_path) -> None:
    load(
        sessions,
        write(
            tmp_path,
            "indicators:\n"
            "  - &cdc {name: Deaths, source: CDC WONDER, update_frequency: monthly, min: 0}\n"
            "  - {<<: *cdc, name: ED visits, max: 1e6}\n",
        ),
    )
    with sessions() as session:
        found = {i.name: i for i in session.scalars(select(Indicator))}
    assert found["ED visits"].source == "CDC WONDER"
    assert bounds(sessions, "ED visits") == (0, 1_000_000)


# --- sources that refresh themselves ----------------------------------------------------------

SOURCES = """
sources:
  - name: vsrr
    url: https://data.cdc.gov/resource/xkb8-kh2a.csv?$where=state in('MD','US')
    indicator_column: indicator
    period_column: period_end
    value_column: data_value
    geography_column: state
    filter: {period: 12 month-ending}
  - name: dose-sys
    url: https://example.org/dose.xlsx
    sheet: Jurisdiction
    period_column: {year: year, month: month}
    value_column: {opioid_rate: Opioid overdose ED visits}
    geography_column: jurisdiction
    skip_rows: 0
indicators:
  - name: Number of Drug Overdose Deaths
    fetch_from: vsrr
  - name: Opioid overdose ED visits
    fetch_from: dose-sys
  - name: Naloxone dispensing rate
    source_url: https://example.org/naloxone.csv
    source_mapping: {period_column: YEAR, value_column: rate, geography_column: STATE}
"""


def sources(sessions) -> dict[str, tuple]:
    with sessions() as session:
        rows = session.scalars(select(ImportSource).order_by(ImportSource.name)).all()
        linked = {i.name: i.source_id for i in session.scalars(select(Indicator)) if i.source_id}
        return {
            s.name: (
                s.source_url,
                s.mapping,
                s.etag,
                sorted(n for n, sid in linked.items() if sid == s.id),
            )
            for s in rows
        }


def test_sources_are_stored_with_their_mapping_and_indicators_linked(sessions, tmp_path) -> None:
    summary = load(sessions, write(tmp_path, SOURCES))
    assert summary.splitlines()[-3:] == [
        "• source vsrr: fetched from data.cdc.gov when due",
        "• source dose-sys: fetched from example.org when due",
        "• source Naloxone dispensing rate: fetched from example.org when due",
    ]
    stored = sources(sessions)
    assert stored["vsrr"] == (
        "https://data.cdc.gov/resource/xkb8-kh2a.csv?$where=state in('MD','US')",
        {
            "indicator_column": "indicator",
            "period_column": "period_end",
            "value_column": "data_value",
            "geography_column": "state",
            "filters": [["period", "12 month-ending"]],
        },
        None,
        ["Number of Drug Overdose Deaths"],
    )
    assert stored["dose-sys"][1] == {
        "geography_column": "jurisdiction",
        "sheet": "Jurisdiction",
        "period_columns": [["year", "year"], ["month", "month"]],
        "value_columns": [["opioid_rate", "Opioid overdose ED visits"]],
        "skip_rows": 0,
    }
    # A source written on an indicator reads every row as that indicator.
    assert stored["Naloxone dispensing rate"][1]["indicator"] == "Naloxone dispensing rate"
    assert stored["Naloxone dispensing rate"][3] == ["Naloxone dispensing rate"]

    # The same file again changes nothing; a conditional-request state survives it.
    with sessions.begin() as session:
        session.scalar(select(ImportSource).where(ImportSource.name == "vsrr")).etag = '"v1"'
    assert load(sessions, write(tmp_path, SOURCES)).startswith(
        "Loaded catalog.yml: 0 created, 0 updated, 3 unchanged."
    )
    assert sources(sessions)["vsrr"][2] == '"v1"'

    # A new address is another request: the ETag is forgotten. fetch_from: null unlinks.
    moved = SOURCES.replace("xkb8-kh2a.csv?", "xkb8-kh2a.csv?$select=state,period_end&").replace(
        "    fetch_from: dose-sys", "    fetch_from: null"
    )
    summary = load(sessions, write(tmp_path, moved))
    assert "• updated Opioid overdose ED visits (fetch_from)" in summary
    assert "• updated source vsrr: fetched from data.cdc.gov when due" in summary
    assert sources(sessions)["vsrr"][2] is None
    assert sources(sessions)["dose-sys"][3] == []

    # A later, shorter catalog may name a source stored before.
    load(
        sessions,
        write(
            tmp_path, "indicators:\n  - name: Opioid overdose ED visits\n    fetch_from: dose-sys\n"
        ),
    )
    assert sources(sessions)["dose-sys"][3] == ["Opioid overdose ED visits"]


@pytest.mark.parametrize(
    ("source", "says"),
    [
        (
            "url: file:///etc/passwd",
            "source 1 'src': url 'file:///etc/passwd' should start with https://",
        ),
        ("url: ftp://example.org/x.csv", "ftp: addresses are never fetched"),
        ("url: javascript:alert(1)", "should start with https://"),
        ("url: //example.org/x.csv", "should start with https://"),
        ("url: https://", "has no host name"),
        ("url: https://maria:hunter2@example.org/x.csv", "should not hold a user name or password"),
        ("url: https://example.org:99999/x.csv", "is not a valid address"),
        (
            "url: https://data.cdc.gov/resource/xkb8-kh2a.json",
            "use its .csv form (/resource/xkb8-kh2a.csv)",
        ),
        ("url: https://data.cdc.gov/resource/xkb8-kh2a.csv?$limit=5", "leave out $limit"),
        ("url: [https://example.org]", "url should be an address such as https://"),
        ("url: https://example.org/" + "a" * 2100, "url is longer than 2000 characters"),
        ("name: src2", "needs a `url:`"),
        ("url: https://example.org/x.csv\n    colour: red", "unknown field colour"),
        (
            "url: https://example.org/x.csv\n    indicator: A\n    indicator_column: B",
            "Use either indicator NAME",
        ),
        ("url: https://example.org/x.csv\n    skip_rows: -1", "skip_rows should be a number"),
        ("url: https://example.org/x.csv\n    filter: [State]", "should look like COLUMN=VALUE"),
        (
            "url: https://example.org/x.csv\n    period_column: {century: C}",
            "'century' is not a part of a period",
        ),
    ],
)
def test_bad_sources_are_refused_whole(sessions, tmp_path, source, says) -> None:
    load(sessions, write(tmp_path, SOURCES))
    before = (snapshot(sessions), sources(sessions))
    text = f"sources:\n  - name: src\n    {source}\nindicators:\n  - name: A\n    fetch_from: src\n"
    if source.startswith("name:"):
        text = f"sources:\n  - {source}\nindicators:\n  - name: A\n"
    with pytest.raises(CatalogError) as refused:
        load(sessions, write(tmp_path, text))
    assert says in str(refused.value)
    assert (snapshot(sessions), sources(sessions)) == before


@pytest.mark.parametrize(
    ("text", "says"),
    [
        (
            "indicators:\n  - name: A\n    fetch_from: nowhere\n",
            "indicator 1 'A': fetch_from 'nowhere' is not a source; list it under `sources:`",
        ),
        (
            "indicators:\n  - name: A\n    fetch_from: x\n    source_url: https://example.org/a.csv\n",
            "use either fetch_from (a source under `sources:`) or source_url",
        ),
        (
            "indicators:\n  - name: A\n    source_mapping: {value_column: v}\n",
            "source_mapping needs a source_url",
        ),
        ("sources: {name: x}\nindicators:\n  - name: A\n", "`sources:` should be a list"),
        (
            "sources:\n  - name: x\n    url: null\n  - name: x\n    url: null\nindicators:\n  - name: A\n",
            "source 2 'x': same name as source 1",
        ),
        (
            "sources:\n  - name: A\n    url: null\nindicators:\n  - name: A\n    source_url: https://e.org/a.csv\n",
            "its source_url would be a source of the same name as one under `sources:`",
        ),
        (
            'sources:\n  - name: "x\\u0007"\n    url: null\nindicators:\n  - name: A\n',
            "source 1: name ",
        ),
    ],
)
def test_bad_links_to_sources_are_refused(sessions, tmp_path, text, says) -> None:
    with pytest.raises(CatalogError) as refused:
        load(sessions, write(tmp_path, text))
    assert says in str(refused.value)
    assert snapshot(sessions) == [] and sources(sessions) == {}
