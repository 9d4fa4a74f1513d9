"""Data-freshness nudges: when an indicator's next value is late, its steward is reminded.

"Late" comes from `periods.expected_next` (the next period's end plus the publication lag of the
indicator's update frequency). From then on the steward is nudged like an owner of an overdue
commitment: at the team's nudge hour in the steward's zone on the first working day after that
date, then every few working days (at least weekly), until a value for that period is stored.
Indicators without a steward or without any values are looked at again a day later.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from bot.bootstrap import Services
from bot.core import text
from bot.core.nudge_rules import Rules, decide, slots
from bot.followup.morning import (
    late_period,
    queue_mornings,
    steward_key,
)
from bot.slack import people
from bot.usecases.indicators import newest_periods
from storage.models import Indicator, Person, Team

logger = logging.getLogger(__name__)

RECHECK = timedelta(days=1)  # no steward, no data, or an unreadable period
MAX_LOOKUPS = 20  # stewards whose time zone is learnt in one pass


def unknown_stewards(session: Session, *, limit: int = MAX_LOOKUPS) -> list[tuple[str, str]]:
    """(team, user) of stewards never looked up in Slack; one query when everyone is known."""
    rows = session.execute(
        select(Indicator.team_id, Indicator.steward_id)
        .outerjoin(
            Person,
            and_(Person.team_id == Indicator.team_id, Person.user_id == Indicator.steward_id),
        )
        .where(Indicator.steward_id.is_not(None))
        .where(or_(Person.user_id.is_(None), Person.refreshed_at.is_(None)))
        .distinct()
        .limit(limit)
    ).all()
    return [(str(team_id), str(steward_id)) for team_id, steward_id in rows]


def learn_stewards(services: Services) -> int:
    """Ask Slack where stewards we have never seen live, so their nudges come at 9:00 their time
    and not the coalition's (a steward named in the catalog may never have used the bot).

    The stewards are read in a transaction that is closed before Slack is asked
    (`people.refresh_people`), so a slow `users.info` never holds the database. Returns how many
    people were looked up.
    """
    with services.sessions() as session:
        wanted = unknown_stewards(session)
    by_team: dict[str, list[str]] = defaultdict(list)
    for team_id, steward_id in wanted:
        by_team[team_id].append(steward_id)
    looked = 0
    for team_id, stewards in by_team.items():
        try:
            people.refresh_people(services, services.client_for(team_id), team_id, stewards)
        except people.UnknownPerson as unknown:
            logger.warning("steward %s of team %s is not in Slack", unknown.user_id, team_id)
        except Exception:  # NotInstalled, Slack down: the team's zone will do until next pass
            logger.warning("could not look up the stewards of team %s", team_id)
            continue
        looked += len(stewards)
    return looked


def plan(session: Session, *, now: datetime, batch: int = 200) -> int:
    """Remind the stewards of indicators whose next value is late, in their morning message;
    returns how many morning messages were newly enqueued."""
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
        latest = newest_periods(session, [i.id for i in due])
        teams = {
            t.id: t
            for t in session.scalars(select(Team).where(Team.id.in_({i.team_id for i in due})))
        }
        stewards = {i.steward_id for i in due if i.steward_id}
        persons = (
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
        wakes: dict[int, datetime | None] = {}
        wanted: dict[tuple[str, str], list[tuple[int, str]]] = defaultdict(list)
        zones: dict[tuple[str, str], ZoneInfo] = {}
        for indicator in due:
            team = teams.get(indicator.team_id)
            wakes[indicator.id] = _plan_one(
                indicator, team, persons, latest, now=now, wanted=wanted, zones=zones
            )
        total += queue_mornings(session, wanted, teams=teams, zones=zones, wakes=wakes, now=now)
        updates: list[dict[str, Any]] = []
        for indicator in due:
            wake = wakes[indicator.id]
            if wake is None or wake <= now:
                wake = now + RECHECK
            updates.append({"id": indicator.id, "next_check_at": wake})
        session.execute(update(Indicator), updates)
        if len(due) < batch:
            return total


def _plan_one(
    indicator: Indicator,
    team: Team | None,
    persons: dict[tuple[str, str], Person],
    latest: dict[int, tuple[date, str]],
    *,
    now: datetime,
    wanted: dict[tuple[str, str], list[tuple[int, str]]],
    zones: dict[tuple[str, str], ZoneInfo],
) -> datetime | None:
    """Note the steward in `wanted` when a reminder is due at `now`; when to look again."""
    late = late_period(indicator, latest.get(indicator.id))
    if team is None or late is None or not indicator.steward_id:
        return None
    following, expected = late
    rules = Rules.of(team)
    person = persons.get((team.id, indicator.steward_id))
    zone = text.zone(person.time_zone if person else None, team.time_zone)
    decision = decide(
        slots(expected, rules, zone, overdue_only=True), now=now, rules=rules, zone=zone
    )
    if decision.send is not None:
        where = (team.id, indicator.steward_id)
        zones[where] = zone
        wanted[where].append((indicator.id, steward_key(indicator, following, decision.send)))
    return decision.wake


__all__ = ["learn_stewards", "plan", "steward_key", "unknown_stewards"]
