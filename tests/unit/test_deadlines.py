"""A due date as the people who agreed it see it: its local date, days late, on time or late."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.core.deadlines import days_late, done_on_time, due_text, local_due

NOW = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
NY = ZoneInfo("America/New_York")
AUCKLAND = ZoneInfo("Pacific/Auckland")


@dataclass(frozen=True)
class Due:
    """What the rules read of a commitment; the stored row has the same attributes."""

    due_at: datetime
    time_zone: str = "America/New_York"
    due_has_time: bool = False
    status: str = "open"


def ny(month, day, hour=17, minute=0, zone=NY):
    return datetime(2026, month, day, hour, minute, tzinfo=zone)


def test_the_date_is_the_owners_local_date_even_when_utc_is_already_tomorrow():
    late_evening_la = datetime(2026, 12, 5, 7, 30, tzinfo=UTC)  # Fri Dec 4, 23:30 in Los Angeles
    due = Due(late_evening_la, time_zone="America/Los_Angeles")
    assert due_text(due) == "Fri, Dec 4, 2026"
    assert local_due(due).date().isoformat() == "2026-12-04"


def test_a_due_time_says_whose_clock_it_is():
    due = Due(datetime(2026, 11, 26, 15, 0, tzinfo=UTC), "America/Los_Angeles", due_has_time=True)
    assert due_text(due) == "Thu, Nov 26, 2026 at 7:00 AM Los Angeles time"


@pytest.mark.parametrize(
    ("now", "late"),
    [
        (NOW, 0),
        (NOW + timedelta(days=7, hours=1), 0),
        (NOW + timedelta(days=8), 1),
        (NOW + timedelta(days=21), 14),
    ],
)
def test_days_late_counts_calendar_days_in_the_owners_zone(now, late):
    due = Due(datetime(2026, 11, 30, 22, 0, tzinfo=UTC))  # Mon Nov 30, 17:00 New York
    assert days_late(due, now) == late


@pytest.mark.parametrize("status", ["done", "dropped"])
def test_a_closed_commitment_is_never_late(status):
    due = Due(datetime(2026, 11, 30, 22, 0, tzinfo=UTC), status=status)
    assert days_late(due, NOW + timedelta(days=21)) == 0


@pytest.mark.parametrize(
    ("due", "has_time", "closed", "expected"),
    [
        (ny(11, 2), False, ny(11, 2, 23, 59), True),
        (ny(11, 2), False, ny(11, 3, 0, 0), False),
        (ny(11, 2, 10), True, ny(11, 2, 10), True),
        (ny(11, 2, 10), True, ny(11, 2, 10, 1), False),
        # Due Nov 20 in Auckland; Nov 20 22:00 there is still Nov 20 morning in UTC.
        (ny(11, 20, zone=AUCKLAND), False, ny(11, 20, 22, zone=AUCKLAND), True),
        (ny(11, 20, zone=AUCKLAND), False, ny(11, 21, 0, 30, zone=AUCKLAND), False),
    ],
)
def test_on_time_means_by_the_end_of_the_due_day_in_its_own_zone(due, has_time, closed, expected):
    zone = str(due.tzinfo)
    assert done_on_time(due, has_time=has_time, time_zone=zone, closed_at=closed) is expected
