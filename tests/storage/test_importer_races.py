"""Two imports of the same file at once: one writes, the other is told to import again (or finds
everything unchanged), never a database traceback."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from storage.db import make_engine, make_session_factory
from storage.importer import ImportMapping, ImportRaced, import_file
from storage.models import IndicatorValue

NOW = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
TEAM = "T0RACE"
ROWS = 6_000  # more than PROGRESS_ROWS, so the progress bar is asked for (the meeting point)


def _file(tmp_path: Path) -> Path:
    lines = ["indicator,period,value,geography"]
    lines += [
        f"Deaths,{2010 + m // 12}-{m % 12 + 1:02d},{m + place},County {place}"
        for m in range(120)
        for place in range(ROWS // 120)
    ]
    path = tmp_path / "deaths.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.postgres
@pytest.mark.parametrize("indicator_exists", [True, False], ids=["new-values", "new-indicator"])
def test_two_imports_of_the_same_file_at_once(postgres_url, tmp_path, indicator_exists) -> None:
    """Both imports have read what is stored (nothing) before either writes: the second one's
    writes collide with the first's (the COPY of new rows, or the new indicator's slug)."""
    engine = make_engine(postgres_url)
    sessions = make_session_factory(engine)
    path = _file(tmp_path)
    if indicator_exists:  # then both reach the COPY of new values
        one = tmp_path / "one.csv"
        one.write_text("indicator,period,value,geography\nDeaths,1999-12,1,County 0\n")
        import_file(sessions, team_id=TEAM, path=one, mapping=ImportMapping(), now=NOW)
    both_read = threading.Barrier(2, timeout=30)

    @contextmanager
    def meet(**_: Any) -> Iterator[None]:
        both_read.wait()  # asked for just before writing: both have compared with the database
        yield None

    outcomes: list[object] = []

    def run() -> None:
        try:
            outcomes.append(
                import_file(
                    sessions,
                    team_id=TEAM,
                    path=path,
                    mapping=ImportMapping(),
                    now=NOW,
                    progress=meet if indicator_exists else None,
                )
            )
        except Exception as error:  # the test looks at what came out
            outcomes.append(error)

    try:
        threads = [threading.Thread(target=run) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert len(outcomes) == 2
        raced = [o for o in outcomes if isinstance(o, Exception)]
        imported = [o for o in outcomes if not isinstance(o, Exception)]
        assert imported, outcomes
        assert imported[0].added == ROWS  # type: ignore[attr-defined]
        for error in raced:
            assert isinstance(error, ImportRaced), repr(error)
            assert "Import the file again" in str(error)
            assert "Traceback" not in str(error)
        if indicator_exists:  # the meeting point makes the collision certain
            assert len(raced) == 1
        # importing again finds everything the winner wrote
        again = import_file(sessions, team_id=TEAM, path=path, mapping=ImportMapping(), now=NOW)
        assert (again.added, again.updated, again.unchanged) == (0, 0, ROWS)
        with sessions() as session:
            stored = session.scalar(select(func.count()).select_from(IndicatorValue))
        assert stored == ROWS + (1 if indicator_exists else 0)
    finally:
        engine.dispose()
