"""Small helpers the end-to-end tests share: waiting for the bot, and reading what it showed."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.app import create_worker_app
from bot.bootstrap import Services
from bot.slack.worker import WorkerThreads
from storage.models import Indicator, IndicatorValue, Job
from storage.repositories import ensure_team

T = TypeVar("T")


@contextmanager
def running_workers(services: Services, count: int = 2) -> Iterator[WorkerThreads]:
    """Worker threads carrying out the jobs a hand-built front app stores (as `commstat serve`'s
    worker processes do); they finish what is stored, then stop."""
    workers = WorkerThreads(services, create_worker_app(services), count).start()
    try:
        yield workers
    finally:
        try:
            workers.settle(timeout=30)
        finally:
            workers.close()


def jobs_of(bot: Any, listener: str | None = None) -> list[Job]:
    """The jobs the served app stored, oldest first (only one listener's, when named)."""
    with bot.services.sessions() as session:
        query = select(Job).order_by(Job.id)
        if listener is not None:
            query = query.where(Job.listener == listener)
        return list(session.scalars(query).all())


def wait_for(predicate: Callable[[], T], timeout: float = 20.0) -> T:
    """The predicate's first truthy result; fails the test if the bot takes longer than `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(0.02)
    raise AssertionError("timed out waiting for the bot")


def all_text(message: dict[str, Any]) -> str:
    """Everything a reader sees in a message: its text and every text in its blocks."""
    found = [message.get("text") or ""]

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "text" and isinstance(value, str):
                    found.append(value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(message.get("blocks") or [])
    return "\n".join(found)


def add_late_indicator(
    sessions: sessionmaker[Session], team_id: str, *, now: datetime, steward: str = "U0LEE"
) -> None:
    """Maryland overdose deaths with June 2026 stored: July's value (monthly, 4-month lag) is
    late from Tue Dec 1, so its steward is nudged from then on."""
    with sessions.begin() as session:
        team = ensure_team(session, team_id, time_zone="America/New_York", now=now)
        indicator = Indicator(
            team_id=team.id,
            slug="md-overdose-deaths",
            name="Maryland overdose deaths",
            period_kind="monthly",
            update_frequency="monthly, 4-month lag",
            steward_id=steward,
            created_at=now,
            updated_at=now,
        )
        session.add(indicator)
        session.flush()
        session.add(
            IndicatorValue(
                team_id=team.id,
                indicator_id=indicator.id,
                period="2026-06",
                period_start=date(2026, 6, 1),
                value=140,
                updated_at=now,
            )
        )


def cdc_overdoses_as_workbook(path: Path) -> Path:
    """The bundled CDC overdose file saved as Excel would save it: sheet "VSRR", numbers as
    numbers and the month as a date."""
    import csv

    import openpyxl

    from bot.sandbox import bundled

    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet("VSRR")
    with bundled.OVERDOSES.open(encoding="utf-8-sig", newline="") as source:
        reader = csv.reader(source)
        header = next(reader)
        sheet.append(header)
        for row in reader:
            cells: list[object] = []
            for column, text in zip(header, row, strict=True):
                if column == "period_end":
                    cells.append(datetime.strptime(text, "%Y-%m"))
                elif column in ("Data Value", "Year") and text.replace(".", "", 1).isdigit():
                    cells.append(float(text) if "." in text else int(text))
                else:
                    cells.append(text)
            sheet.append(cells)
    book.save(path)
    return path
