"""Data-freshness nudges: when an indicator's next value is late, its steward is reminded.

"Late" comes from `periods.expected_next` (the next period's end plus the publication lag of the
indicator's update frequency). From then on the steward is nudged like an owner of an overdue
commitment: at the team's nudge hour in the steward's zone on the first working day after that
date, then every few working days (at least weekly), until a value for that period is stored.
Indicators without a steward or without any values are looked at again a day later.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta
from typing import Any

from slack_sdk import WebClient
from slack_sdk.models.blocks import ContextBlock, MarkdownTextObject, SectionBlock
from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session

from bot.core import periods
from bot.core.dates import format_due
from bot.followup.nudges import Rules, Slot, decide, due_datetime, slots, zone_of
from bot.slack import outbox, people
from storage.models import Indicator, IndicatorValue, Person, Team

logger = logging.getLogger(__name__)

RECHECK = timedelta(days=1)  # no steward, no data, or an unreadable period


MAX_LOOKUPS = 20  # stewards whose time zone is learnt in one pass


def learn_stewards(
    session: Session, client_for: Callable[[str], WebClient], *, now: datetime
) -> int:
    """Ask Slack where stewards we have never seen live, so their nudges come at 9:00 their time
    and not the coalition's (a steward named in the catalog may never have used the bot).
    One query when everyone is known; returns how many people were looked up."""
    unknown = session.execute(
        select(Indicator.team_id, Indicator.steward_id)
        .outerjoin(
            Person,
            and_(Person.team_id == Indicator.team_id, Person.user_id == Indicator.steward_id),
        )
        .where(Indicator.steward_id.is_not(None))
        .where(or_(Person.user_id.is_(None), Person.refreshed_at.is_(None)))
        .distinct()
        .limit(MAX_LOOKUPS)
    ).all()
    looked = 0
    for team_id, steward_id in unknown:
        try:
            people.lookup(session, client_for(team_id), team_id, str(steward_id), now=now)
        except people.UnknownPerson:
            logger.warning("steward %s of team %s is not in Slack", steward_id, team_id)
        except Exception:  # NotInstalled, Slack down: the team's zone will do until next pass
            logger.warning("could not look up steward %s of team %s", steward_id, team_id)
            continue
        looked += 1
    return looked


def plan(session: Session, *, now: datetime, batch: int = 200) -> int:
    """Nudge the stewards of indicators whose next value is late; returns messages enqueued."""
    total = 0
    while True:
        query = (
            select(Indicator)
            .where(or_(Indicator.next_check_at <= now, Indicator.next_check_at.is_(None)))
            .order_by(Indicator.next_check_at, Indicator.id)
            .limit(batch)
        )
        if session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        due = list(session.scalars(query))
        if not due:
            return total
        latest = _latest_periods(session, [i.id for i in due])
        teams = {
            t.id: t
            for t in session.scalars(select(Team).where(Team.id.in_({i.team_id for i in due})))
        }
        stewards = {i.steward_id for i in due if i.steward_id}
        people = (
            {
                (p.team_id, p.user_id): p
                for p in session.scalars(
                    select(Person).where(
                        Person.team_id.in_(teams.keys()), Person.user_id.in_(stewards)
                    )
                )
            }
            if stewards
            else {}
        )
        updates: list[dict[str, Any]] = []
        for indicator in due:
            team = teams.get(indicator.team_id)
            wake, sent = _plan_one(session, indicator, team, people, latest, now=now)
            total += sent
            if wake is None or wake <= now:
                wake = now + RECHECK
            updates.append({"id": indicator.id, "next_check_at": wake})
        session.execute(update(Indicator), updates)
        if len(due) < batch:
            return total


def _latest_periods(session: Session, ids: Sequence[int]) -> dict[int, str]:
    """The newest stored period of each indicator (any geography; a suppressed value counts:
    the publisher did publish that period)."""
    newest = (
        select(
            IndicatorValue.indicator_id.label("indicator_id"),
            func.max(IndicatorValue.period_start).label("start"),
        )
        .where(IndicatorValue.indicator_id.in_(ids))
        .group_by(IndicatorValue.indicator_id)
        .subquery()
    )
    rows = session.execute(
        select(IndicatorValue.indicator_id, IndicatorValue.period)
        .join(
            newest,
            and_(
                IndicatorValue.indicator_id == newest.c.indicator_id,
                IndicatorValue.period_start == newest.c.start,
            ),
        )
        .distinct()
    )
    found: dict[int, str] = {}
    for indicator_id, period in rows:
        found.setdefault(indicator_id, period)
    return found


def _plan_one(
    session: Session,
    indicator: Indicator,
    team: Team | None,
    people: dict[tuple[str, str], Person],
    latest: dict[int, str],
    *,
    now: datetime,
) -> tuple[datetime | None, int]:
    text = latest.get(indicator.id)
    if team is None or not indicator.steward_id or text is None:
        return None, 0
    try:
        last = periods.parse_period(text)
        following = periods.shift(last, indicator.period_kind, 1)
        expected = periods.expected_next(last, indicator.period_kind, indicator.update_frequency)
    except periods.PeriodError as error:
        logger.warning("indicator %s: cannot tell when data is due: %s", indicator.slug, error)
        return None, 0
    rules = Rules.of(team)
    person = people.get((team.id, indicator.steward_id))
    zone = zone_of(person.time_zone if person else None, team.time_zone)
    decision = decide(
        slots(expected, rules, zone, overdue_only=True), now=now, rules=rules, zone=zone
    )
    sent = 0
    if decision.send is not None and outbox.enqueue(
        session,
        team_id=team.id,
        key=steward_key(indicator, following, decision.send),
        kind="steward_nudge",
        channel=indicator.steward_id,
        payload=steward_payload(indicator, following, expected),
        now=now,
    ):
        sent = 1
    return decision.wake, sent


def steward_key(indicator: Indicator, following: periods.Period, slot: Slot) -> str:
    return f"steward:{indicator.id}:{following.text}:{slot.day.isoformat()}"


def steward_payload(
    indicator: Indicator, following: periods.Period, expected: date
) -> dict[str, Any]:
    """'No value yet for Maryland overdose deaths, May 2025: it was expected by …; add it with …'."""
    when = periods.label(following, indicator.period_kind)
    by = format_due(due_datetime(expected))
    text = (
        f"📊 No value yet for *{indicator.name}*, {when}: it was expected by {by}. Add it with "
        f"`/indicator set {indicator.slug} <value> for {following.text}` or `commstat import`."
    )
    why = (
        f"You're getting this because you are the data steward for {indicator.name}. "
        "Once the value is in, I'll stop."
    )
    section = SectionBlock(text=MarkdownTextObject(text=text))
    context = ContextBlock(elements=[MarkdownTextObject(text=why)])
    return {
        "text": f"No value yet for {indicator.name}, {when}: it was expected by {by}.",
        "blocks": [section.to_dict(), context.to_dict()],
    }


__all__ = ["plan", "steward_key", "steward_payload"]
