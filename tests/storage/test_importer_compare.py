"""A re-import compares the file with what is stored (keyed indicator_values, PostgreSQL's
binary COPY): it reports added / updated / unchanged exactly, whatever the stored numbers, the
indicator ids, the number of indicators, or how many periods and places the file has."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import text, update

from storage.importer import _Stored
from storage.models import Indicator, IndicatorValue
from tests.storage.test_importer import NOW, TEAM, run, sessions, write

__all__ = ["sessions"]  # the fixture, shared with test_importer


def _counts(report) -> tuple[int, int, int]:
    return (
        sum(r.added for r in report.indicators),
        sum(r.updated for r in report.indicators),
        sum(r.unchanged for r in report.indicators),
    )


def test_edge_numbers_and_empty_batches_compare_exactly(sessions, tmp_path, monkeypatch) -> None:
    # Two indicators per query and tiny COPY blocks: several queries, one of them finding nothing.
    monkeypatch.setattr(_Stored, "IDS_PER_QUERY", 2)
    monkeypatch.setattr(_Stored, "COPY_BYTES", 30)
    lines = ["indicator,period,value,geography"]
    lines += [
        "Deaths,2025-01,-0.0,MD",
        "Deaths,2025-02,5e-324,MD",  # the smallest subnormal
        "Deaths,2025-03,2.2250738585072014e-308,MD",
        "Deaths,2025-04,,MD",
        "Deaths,2025-05,999999999999,MD",
        "Deaths,2025-06,0,",
        "Visits,2025-01,1,",
        "Calls,2025-01,2,",
        "Beds,2025-01,3,",
        "Cases,2025-01,4,",
    ]
    path = write(tmp_path, "\n".join(lines) + "\n")
    assert _counts(run(sessions, path)) == (10, 0, 0)
    assert _counts(run(sessions, path)) == (0, 0, 10)

    with sessions.begin() as session:  # stored before any rule: a huge number; Calls' values gone
        session.execute(
            update(IndicatorValue).where(IndicatorValue.period == "2025-05").values(value=1e308)
        )
        calls = session.scalars(text("SELECT id FROM indicators WHERE slug = 'calls'")).one()
        session.execute(text("DELETE FROM indicator_values WHERE indicator_id = :i"), {"i": calls})
    edited = (
        path.read_text()
        .replace("-0.0,MD", "0,MD")  # -0.0 == 0: unchanged
        .replace("5e-324", "1e-323")  # one bit more: updated
        .replace("2025-04,,MD", "2025-04,0,MD")  # missing -> 0: updated
    )
    path.write_text(edited)
    # added: Calls; updated: 1e-323, 0 for missing, 999999999999 for 1e308
    assert _counts(run(sessions, path)) == (1, 3, 6)


@pytest.mark.parametrize("places", [3, 100])
def test_indicator_ids_near_the_top_of_their_type(sessions, tmp_path, db_url, places) -> None:
    # PostgreSQL's indicators.id is an integer: its last values. SQLite's rowid goes past 2**40,
    # and with 100 x 100 cells its keys no longer fit one float (two columns instead).
    run(sessions, write(tmp_path, "indicator,period,value,geography\nWarmup,2025-01,1,MD\n"))
    with sessions.begin() as session:
        if db_url.startswith("postgresql"):
            session.execute(text("SELECT setval('indicators_id_seq', 2147483600)"))
        else:
            session.add(
                Indicator(
                    id=2**40,
                    team_id=TEAM,
                    slug="placeholder",
                    name="Placeholder",
                    aliases=[],
                    restricted_to=[],
                    created_at=NOW,
                    updated_at=NOW,
                )
            )
    lines = ["indicator,period,value,geography"]
    start = date(2020, 1, 1)
    for n in range(places):  # a diagonal: `places` periods x `places` places
        lines.append(f"Deaths,{start + timedelta(days=n)},{n / 3},P{n:05d}")
        lines.append(f"Visits,{start + timedelta(days=n)},{n / 7},P{n:05d}")
    path = write(tmp_path, "\n".join(lines) + "\n")
    assert _counts(run(sessions, path)) == (2 * places, 0, 0)
    with sessions() as session:
        assert session.scalar(text("SELECT max(id) FROM indicators")) > 2147483600
    assert _counts(run(sessions, path)) == (0, 0, 2 * places)
    path.write_text(path.read_text().replace(f"Visits,{start},0.0", f"Visits,{start},1.0"))
    assert _counts(run(sessions, path)) == (0, 1, 2 * places - 1)


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_a_daily_file_of_46341_days_and_places_can_be_imported_again(sessions, tmp_path) -> None:
    # 46,341 days (1900 on), each at a place of its own: periods x places passes 2**31, so the
    # last row's cell code (period code x places + place code) does not fit PostgreSQL's integer.
    n = 46_341
    start = date(1900, 1, 1)
    lines = ["indicator,period,value,geography"]
    lines += [f"Deaths,{start + timedelta(days=k)},{k % 97},P{k:05d}" for k in range(n)]
    path = write(tmp_path, "\n".join(lines) + "\n")
    assert _counts(run(sessions, path)) == (n, 0, 0)
    assert _counts(run(sessions, path)) == (0, 0, n)
