"""90 simulated days of a coalition: commitments made, done, moved, snoozed and dropped by people
in four time zones, a scheduler pass every simulated hour, and weekly and monthly meetings.

The nudges and digests that should arrive are computed here by a brute-force, day-by-day model of
the rules as the README ("What people can do in Slack") and bot/core/nudge_rules.py state them
(not by calling the scheduler's code), then compared with what the Slack stand-in received: every
expected message exactly once, at the expected pass, and nothing else — none on weekends,
holidays or in quiet hours, every nudge between 09:00 and 10:00 local.
"""

from __future__ import annotations

import bisect
import json
import random
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from dateutil.rrule import rrulestr
from sqlalchemy import select

from bot.bootstrap import bootstrap
from bot.core.dates import Due
from bot.core.recurrence import parse_meeting, parse_weekly
from bot.followup.scheduler import run_pass
from bot.usecases import commitments as core
from bot.usecases.commitments import Actor
from storage import repositories as repo
from storage.models import OutboxMessage, Person, Schedule
from tests.conftest import TEAM_ID, make_settings

START = datetime(2026, 10, 6, 4, 20, tzinfo=UTC)  # Tue Oct 6 2026, 00:20 in New York
DAYS = 90
END = START + timedelta(days=DAYS)
# A pass at :20 past every hour in which it is 09:00 somewhere here (all these zones are on
# whole hours, before and after their clock changes), and every few hours at night, to keep
# the test fast: 10 passes a simulated day.
BUSY_HOURS_UTC = {8, 9, 13, 14, 15, 16, 17, 20}
NIGHT_HOURS_UTC = {2, 11}


def pass_times() -> list[datetime]:
    times = []
    at = START
    while at <= END:
        if at.hour in BUSY_HOURS_UTC | NIGHT_HOURS_UTC:
            times.append(at)
        at += timedelta(hours=1)
    return times


PASSES = pass_times()
TEAM_ZONE = "America/New_York"
HOLIDAYS = {date(2026, 11, 26), date(2026, 11, 27)} | {
    date(2026, 12, 24) + timedelta(days=i)
    for i in range(9)  # Dec 24 - Jan 1: a long break
}
QUIET = (20, 7)  # 20:00-07:00 local, wrapping midnight
ZONES = {
    "U0MARIA": "America/New_York",
    "U0LEE": "America/Los_Angeles",
    "U0KIM": "Pacific/Auckland",
    "U0ANNA": "Europe/London",
    "U0SAM": "America/Chicago",
    "U0NEW": None,  # no known zone: the team's
}
PEOPLE = list(ZONES)
MEETING_CHANNEL, MONTHLY_CHANNEL, WEEKLY_CHANNEL = "C0MEETING", "C0MONTHLY", "C0WEEKLY"
COMMITMENTS = 220


def zone(user: str) -> ZoneInfo:
    return ZoneInfo(ZONES[user] or TEAM_ZONE)


def first_pass_at_or_after(at: datetime) -> datetime:
    index = bisect.bisect_left(PASSES, at)
    return PASSES[index] if index < len(PASSES) else END + timedelta(days=1)


# --- the model of the rules (independent of bot/core/nudge_rules.py and bot/followup/) --------


def working(day: date) -> bool:
    return day.weekday() < 5 and day not in HOLIDAYS


def next_working(day: date) -> date:
    day += timedelta(days=1)
    while not working(day):
        day += timedelta(days=1)
    return day


def nine(day: date, user: str) -> datetime:
    return datetime.combine(day, time(9), tzinfo=zone(user)).astimezone(UTC)


def slot_days(due: date, until: date) -> list[date]:
    """Walk the calendar day by day from a week before the due date."""
    found: list[date] = []
    day = due - timedelta(days=1)
    while not working(day):
        day -= timedelta(days=1)
    found.append(day)  # the working day before
    if working(due):
        found.append(due)
    previous: date | None = None
    counted = 0
    day = due
    while day < until:
        day += timedelta(days=1)
        if not working(day):
            continue
        counted += 1
        if (
            previous is None
            or counted == 2
            or (day - previous).days > 7
            or (next_working(day) - previous).days > 7
        ):
            found.append(day)
            previous, counted = day, 0
    return found


@dataclass
class Version:
    due_at: datetime
    start: datetime  # made or moved at
    end: datetime | None = None  # moved, done or dropped at


@dataclass
class Story:
    """One commitment's life, as the simulation lives it."""

    cid: int
    creator: str
    owners: list[str]
    zone: str
    versions: list[Version]
    snoozes: list[tuple[datetime, datetime]] = field(default_factory=list)  # (at, until)
    closed_at: datetime | None = None

    def version_at(self, at: datetime) -> Version | None:
        if self.closed_at is not None and self.closed_at <= at:
            return None
        current = None
        for version in self.versions:
            if version.start <= at:
                current = version
        return current

    def snoozed_until(self, at: datetime, version: Version) -> datetime | None:
        # A move clears the snooze; a later snooze replaces an earlier one.
        found = None
        for when, until in self.snoozes:
            if version.start <= when <= at:
                found = until
        return found


def expected_messages(stories: list[Story], last_pass: datetime) -> Counter:
    expected: Counter = Counter()
    for story in stories:
        for version in story.versions:
            due = version.due_at.astimezone(ZoneInfo(story.zone)).date()
            targets = [(owner, "nudge") for owner in story.owners]
            if story.owners != [story.creator]:
                targets.append((story.creator, "creator"))
            for user, kind in targets:
                if kind == "nudge":
                    instants = [
                        nine(d, user) for d in slot_days(due, last_pass.date() + timedelta(days=2))
                    ]
                else:
                    day = due + timedelta(days=7)
                    while not working(day):
                        day += timedelta(days=1)
                    instants = [nine(day, user)]
                for at in instants:
                    if at <= version.start:
                        continue
                    sent_at = first_pass_at_or_after(at)
                    if sent_at > last_pass or story.version_at(sent_at) is not version:
                        continue
                    snoozed = story.snoozed_until(sent_at, version)
                    # A snooze covers whole days in the owner's zone: the morning of the day
                    # it ends reminds again.
                    if (
                        kind == "nudge"
                        and snoozed is not None
                        and snoozed.astimezone(zone(user)).date() > at.astimezone(zone(user)).date()
                    ):
                        continue
                    expected[(user, story.cid, kind, sent_at)] += 1
    return expected


def expected_digests(
    schedules: dict[str, tuple[str, datetime, int]], last_pass: datetime
) -> Counter:
    expected: Counter = Counter()
    for channel, (rule, dtstart, lead) in schedules.items():
        local = ZoneInfo(TEAM_ZONE)
        occurrences = rrulestr(rule, dtstart=dtstart.astimezone(local).replace(tzinfo=None))
        for naive in occurrences.between(
            START.astimezone(local).replace(tzinfo=None),
            (last_pass + timedelta(days=2)).astimezone(local).replace(tzinfo=None),
        ):
            at = naive.replace(tzinfo=local).astimezone(UTC)
            if lead:  # a meeting: its digest `lead` minutes before, never once it has started
                sent_at = first_pass_at_or_after(at - timedelta(minutes=lead))
                if sent_at >= at:
                    continue
            else:  # a weekly digest at its time
                sent_at = first_pass_at_or_after(at)
            if sent_at <= last_pass:
                expected[(channel, sent_at)] += 1
    return expected


# --- the simulation ---------------------------------------------------------------------------


@dataclass
class Event:
    at: datetime
    kind: str  # create | done | drop | move | snooze
    story: int  # index into the plan
    detail: dict


def plan_events(rng: random.Random) -> tuple[list[Event], list[dict]]:
    plans: list[dict] = []
    events: list[Event] = []
    for i in range(COMMITMENTS):
        made = START + timedelta(minutes=rng.randrange(0, 70 * 24 * 60))
        made = made.replace(second=rng.randrange(1, 59))  # never exactly on a pass
        creator = rng.choice(PEOPLE)
        owners = rng.sample(PEOPLE, rng.choice((1, 1, 2)))
        if rng.random() < 0.4:
            owners = [creator, *[o for o in owners if o != creator]][:2]
        due_zone = ZoneInfo(ZONES[creator] or TEAM_ZONE)
        due_day = made.astimezone(due_zone).date() + timedelta(days=rng.randrange(1, 21))
        due_at = datetime.combine(due_day, time(17), tzinfo=due_zone)
        plans.append({"creator": creator, "owners": owners, "due_at": due_at, "made": made})
        events.append(Event(made, "create", i, {}))
        later = [
            made + timedelta(minutes=rng.randrange(60, 30 * 24 * 60), seconds=7) for _ in range(3)
        ]
        later.sort()
        roll = rng.random()
        if roll < 0.25:
            events.append(Event(later[0], "snooze", i, {"days": rng.choice((1, 3, 7))}))
        if 0.2 < roll < 0.45:
            new_day = later[1].astimezone(due_zone).date() + timedelta(days=rng.randrange(1, 15))
            events.append(
                Event(
                    later[1],
                    "move",
                    i,
                    {"due_at": datetime.combine(new_day, time(17), tzinfo=due_zone)},
                )
            )
        end_roll = rng.random()
        if end_roll < 0.45:
            events.append(Event(later[2], "done", i, {}))
        elif end_roll < 0.55:
            events.append(Event(later[2], "drop", i, {}))
    events.sort(key=lambda e: (e.at, e.story))
    return events, plans


@pytest.mark.timeout(240)
def test_ninety_days_of_nudges_and_digests(db_url, fake_slack):
    fake_slack.add_user("U0ANNA", name="anna", tz="Europe/London")
    fake_slack.add_user("U0NEW", name="newbie", tz="America/New_York")
    for channel in (MEETING_CHANNEL, MONTHLY_CHANNEL, WEEKLY_CHANNEL, "C0WORK"):
        fake_slack.add_channel(channel, name=channel.lower())
    clock_now = [START]
    services = bootstrap(make_settings(db_url, fake_slack.api_url), clock=lambda: clock_now[0])
    schedules: dict[str, tuple[str, datetime, int]] = {}
    with services.sessions.begin() as session:
        team = repo.ensure_team(session, TEAM_ID, time_zone=TEAM_ZONE, now=START)
        team.holidays = sorted(d.isoformat() for d in HOLIDAYS)
        team.holiday_country = "none"  # exactly these days off, which the model below knows
        team.quiet_start, team.quiet_end = QUIET
        for user, tz in ZONES.items():
            if tz is not None:
                session.add(Person(team_id=TEAM_ID, user_id=user, time_zone=tz, refreshed_at=START))
        for channel, phrase, kind, lead in [
            (MEETING_CHANNEL, "every Thursday at 10am", "meeting", 24 * 60),
            (MONTHLY_CHANNEL, "first Monday of the month at 2pm", "meeting", 24 * 60),
            (WEEKLY_CHANNEL, "Monday 9am", "weekly_digest", 0),
        ]:
            parse = parse_meeting if kind == "meeting" else parse_weekly
            found = parse(phrase, now=START, tz=TEAM_ZONE)
            session.add(
                Schedule(
                    team_id=TEAM_ID,
                    channel_id=channel,
                    kind=kind,
                    rrule=found.rule,
                    dtstart=found.dtstart,
                    time_zone=TEAM_ZONE,
                    digest_lead_minutes=lead or 24 * 60,
                    description=phrase,
                    created_by="U0ADMIN",
                    created_at=START,
                )
            )
            schedules[channel] = (found.rule, found.dtstart, lead)

    rng = random.Random(20261006)
    events, plans = plan_events(rng)
    stories: dict[int, Story] = {}
    ids: dict[int, int] = {}
    dm_owner: dict[str, str] = {}
    received: Counter = Counter()
    mornings: Counter = Counter()
    digests: Counter = Counter()
    local_times: list[tuple[str, datetime]] = []
    seen_calls = 0
    pending = iter(events)
    event = next(pending, None)
    last_pass = START
    for now in PASSES:
        while event is not None and event.at <= now:
            clock_now[0] = event.at
            _apply(services, event, plans, stories, ids)
            event = next(pending, None)
        clock_now[0] = now
        report = run_pass(services, now=now, per_channel_interval=0)
        assert not report.errors, report.summary()
        calls = fake_slack.calls[seen_calls:]
        seen_calls += len(calls)
        for call in calls:
            if call.method == "conversations.open" and call.ok:
                dm_owner[call.response["channel"]["id"]] = call.params["users"]
            if call.method != "chat.postMessage" or not call.ok:
                continue
            channel = call.params["channel"]
            if channel in dm_owner or channel.startswith("U"):
                user = dm_owner.get(channel, channel)
                text = call.params["text"]
                local_times.append((user, now.astimezone(zone(user))))
                if not text.startswith("Good morning"):  # a creator's notice
                    cid = int(re.search(r"#(\d+)", text).group(1))
                    received[(user, cid, "creator", now)] += 1
                    continue
                # One morning message a person a day, a line (block `line-<id>`) a commitment.
                mornings[(user, now.astimezone(zone(user)).date())] += 1
                blocks = call.params["blocks"]
                blocks = json.loads(blocks) if isinstance(blocks, str) else blocks
                listed = [
                    int(block["block_id"].removeprefix("line-"))
                    for block in blocks
                    if str(block.get("block_id", "")).startswith("line-")
                ]
                more = re.search(r"…and (\d+) more", json.dumps(blocks, ensure_ascii=False))
                if more:  # a long list is summarised: the lines left out, as the outbox keeps them
                    listed += summarised(services, call.params["metadata"], len(listed))
                    assert len(listed) == len(set(listed)) > int(more[1])
                for cid in listed:
                    received[(user, cid, "nudge", now)] += 1
            else:
                digests[(channel, now)] += 1
        last_pass = now

    assert len(stories) >= 200
    by_id = {ids[i]: s for i, s in stories.items()}
    assert {s.cid for s in by_id.values()} == set(by_id)
    moved = sum(len(s.versions) > 1 for s in stories.values())
    snoozed = sum(bool(s.snoozes) for s in stories.values())
    closed = sum(s.closed_at is not None for s in stories.values())
    assert moved >= 20 and snoozed >= 20 and closed >= 80

    expected = expected_messages(list(stories.values()), last_pass)
    assert sum(expected.values()) > 500
    assert max(received.values()) == 1, "a DM was sent twice"
    assert max(mornings.values()) == 1, "two morning messages in one day"
    assert sum(mornings.values()) < sum(v for k, v in received.items() if k[2] == "nudge")
    missing = expected - received
    extra = received - expected
    assert not missing and not extra, (sorted(missing)[:10], sorted(extra)[:10])
    for user, local in local_times:
        assert working(local.date()), (user, local)
        assert time(9) <= local.time() < time(10), (user, local)
        assert not (local.hour >= QUIET[0] or local.hour < QUIET[1])

    wanted = expected_digests(schedules, last_pass)
    assert sum(wanted.values()) >= 20
    assert digests == wanted, (
        sorted((wanted - digests).elements())[:5],
        sorted((digests - wanted).elements())[:5],
    )
    services.engine.dispose()


def summarised(services, metadata: Any, shown: int) -> list[int]:
    """The commitments a morning message summarised as "…and N more" (its stored lines)."""
    metadata = json.loads(metadata) if isinstance(metadata, str) else metadata
    key = metadata["event_payload"]["key"]
    with services.sessions() as session:
        payload = session.scalars(
            select(OutboxMessage.payload).where(OutboxMessage.idempotency_key == key)
        ).one()
    return [part["id"] for part in payload["parts"][shown:]]


def _apply(
    services, event: Event, plans: list[dict], stories: dict[int, Story], ids: dict[int, int]
) -> None:
    plan = plans[event.story]
    with services.sessions.begin() as session:
        if event.kind == "create":
            actor = Actor(TEAM_ID, plan["creator"])
            commitment, _ = core.store_new(
                session,
                actor=actor,
                owners=plan["owners"],
                what=f"Simulated commitment {event.story}",
                due=Due(plan["due_at"], has_time=False),
                indicator_id=None,
                channel_id="C0WORK",
                request_key=None,
                now=event.at,
            )
            ids[event.story] = commitment.id
            stories[event.story] = Story(
                cid=commitment.id,
                creator=plan["creator"],
                owners=list(dict.fromkeys(plan["owners"])),
                zone=commitment.time_zone,
                versions=[Version(commitment.due_at, event.at)],
            )
            return
        story = stories[event.story]
        if story.closed_at is not None:
            return
        commitment = repo.get_commitment(session, TEAM_ID, ids[event.story])
        actor = Actor(TEAM_ID, plan["owners"][0])
        if event.kind == "done":
            core.complete(session, commitment, actor=actor, now=event.at)
            story.closed_at = event.at
        elif event.kind == "drop":
            core.drop(session, commitment, actor=actor, now=event.at, reason="No longer needed")
            story.closed_at = event.at
        elif event.kind == "snooze":
            until = core.snooze(
                session, commitment, actor=actor, now=event.at, days=event.detail["days"]
            )
            story.snoozes.append((event.at, until))
        elif event.kind == "move":
            new = event.detail["due_at"]
            if new == commitment.due_at:
                return
            core.move(session, commitment, actor=actor, now=event.at, due=Due(new, has_time=False))
            story.versions[-1].end = event.at
            story.versions.append(Version(commitment.due_at, event.at))
