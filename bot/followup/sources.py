"""Sources that refresh themselves, in the scheduler pass and by hand (`commstat sources refresh`).

A pass claims the sources that are due (`bot.usecases.sources.claim_due`, a short transaction,
committed before anything is downloaded), then refreshes each with no transaction open during
its download. What a refresh brings is announced in the coalition's meeting channel(s) — or, with
no meeting set, its weekly-digest channel(s) — through the outbox, enqueued in the very
transaction that stores the values, under a key made of what is announced: a pass run twice, in
two processes at once, or after a crash, announces it once. A restricted indicator is announced
only where it may be seen.

The steward hears only when fetching fails (at once when retrying cannot help, else after
NUDGE_AFTER failures in a row), once per failure streak, by direct message through the outbox.
A period that is simply late is the existing late-data nudge's business (`freshness.py`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.bootstrap import Services
from bot.core import text
from bot.core.indicator_rules import is_visible
from bot.slack import outbox
from bot.slack.blocks.sources import fetch_failed_payload, news_payload
from bot.usecases import sources as usecase
from bot.usecases.fetch import DEFAULT_LIMITS, FetchLimits, private_hosts
from storage.models import Indicator, Person, Schedule, Team

logger = logging.getLogger(__name__)

MEETING, WEEKLY = "meeting", "weekly_digest"
PASS_SECONDS = 60.0  # no new download starts after this long (real time) in one pass


@dataclass
class SourcesReport:
    """What the sources step of a pass did."""

    outcomes: list[usecase.Outcome] = field(default_factory=list)

    @property
    def fetched(self) -> int:
        return len(self.outcomes)

    @property
    def with_news(self) -> int:
        return sum(1 for o in self.outcomes if o.news)

    @property
    def failed(self) -> int:
        return sum(1 for o in self.outcomes if o.failed)

    def summary(self) -> str:
        """e.g. "fetched 2 sources (1 with new data, 1 failed)"."""
        parts = []
        if self.with_news:
            parts.append(f"{self.with_news} with new data")
        if self.failed:
            parts.append(f"{self.failed} failed")
        noun = "source" if self.fetched == 1 else "sources"
        return f"fetched {self.fetched} {noun}" + (f" ({', '.join(parts)})" if parts else "")


class UnknownSource(LookupError):
    """`commstat sources refresh NAME` for a name no source has; the message lists the names."""


def refresh_due(
    services: Services, *, now: datetime, limits: FetchLimits = DEFAULT_LIMITS
) -> SourcesReport:
    """The scheduler's step: fetch every source that is due (at most MAX_PER_PASS). No new
    download starts after PASS_SECONDS of real time: the pass's digests and the delivery of
    its reminders wait behind this step, and ten slow publishers could hold them up for most
    of an hour. The sources claimed and not fetched are due again at once, for the next pass."""
    with services.sessions.begin() as session:
        claimed = usecase.claim_due(session, now=now)
    report = SourcesReport()
    started = time.monotonic()
    for position, source_id in enumerate(claimed):
        if position and time.monotonic() - started > PASS_SECONDS:  # (one at least)
            with services.sessions.begin() as session:
                usecase.release(session, claimed[position:], now=now)
            break
        try:
            outcome = _refresh(services, source_id, now=now, limits=limits)
        except Exception:
            logger.exception("sources: refreshing source %s failed", source_id)
            continue
        report.outcomes.append(outcome)
        if outcome.failed and outcome.tell_steward:
            _tell_stewards(services, outcome, now=now)
        logger.info("sources: %s", outcome.message)
    return report


def refresh_now(
    services: Services,
    *,
    team_id: str,
    name: str | None = None,
    now: datetime,
    limits: FetchLimits = DEFAULT_LIMITS,
) -> list[usecase.Outcome]:
    """`commstat sources refresh [NAME]`: fetch now whether due or not (still conditionally),
    import and queue the announcement; the operator reads the failure, so no steward is told."""
    with services.sessions() as session:
        found = usecase.sources_of(session, team_id, name)
        if name is not None and not found:
            known = [s.name for s in usecase.sources_of(session, team_id)]
            listed = ", ".join(known[:20]) if known else "none yet (list them under `sources:`)"
            raise UnknownSource(
                f"There is no source called '{text.clip(name, 80)}'. Sources with a url: {listed}."
            )
        ids = [s.id for s in found]
    return [_refresh(services, source_id, now=now, limits=limits) for source_id in ids]


def _refresh(
    services: Services, source_id: int, *, now: datetime, limits: FetchLimits
) -> usecase.Outcome:
    return usecase.refresh(
        services.sessions,
        source_id,
        now=now,
        limits=limits,
        allowed_private=private_hosts(services.settings.source_private_hosts),
        announce=_announcer(now),
    )


def _announcer(now: datetime) -> usecase.Announce:
    def announce(
        session: Session, source: usecase.SourceInfo, news: Sequence[usecase.News]
    ) -> list[str]:
        return enqueue_news(session, source, news, now=now)

    return announce


def announcement_channels(session: Session, team_id: str) -> list[str]:
    """The meeting channels, else the weekly-digest channels: where the coalition reads data."""
    rows = session.execute(
        select(Schedule.channel_id, Schedule.kind)
        .where(Schedule.team_id == team_id, Schedule.kind.in_([MEETING, WEEKLY]))
        .order_by(Schedule.channel_id)
    ).all()
    meetings = [c for c, kind in rows if kind == MEETING]
    return meetings or sorted({c for c, kind in rows if kind == WEEKLY})


def enqueue_news(
    session: Session,
    source: usecase.SourceInfo,
    news: Sequence[usecase.News],
    *,
    now: datetime,
) -> list[str]:
    """One announcement per channel, keyed by what it says: the same news is queued once."""
    keys: list[str] = []
    indicators = {
        i.id: i
        for i in session.scalars(
            select(Indicator).where(Indicator.id.in_([n.indicator_id for n in news]))
        )
    }
    for channel in announcement_channels(session, source.team_id):
        visible = [
            n
            for n in news
            if n.indicator_id in indicators and is_visible(indicators[n.indicator_id], channel)
        ]
        if not visible:
            continue
        facts = [[n.indicator_id, n.period, n.added, n.revised, list(n.values)] for n in visible]
        digest = hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()[:32]
        key = f"source_news:{source.team_id}:{channel}:{digest}"
        outbox.enqueue(
            session,
            team_id=source.team_id,
            key=key,
            kind="source_news",
            channel=channel,
            payload=news_payload(visible, source=source.name, host=source.host),
            now=now,
        )
        keys.append(key)
    return keys


def _tell_stewards(services: Services, outcome: usecase.Outcome, *, now: datetime) -> int:
    """A direct message to each steward of the source's indicators, once per failure streak."""
    if not outcome.stewards:
        logger.warning(
            "sources: %s has no steward to tell: %s", outcome.source.name, outcome.message
        )
        return 0
    told = 0
    with services.sessions.begin() as session:
        team = session.get(Team, outcome.source.team_id)
        persons = {
            p.user_id: p
            for p in session.scalars(
                select(Person).where(
                    Person.team_id == outcome.source.team_id,
                    Person.user_id.in_(outcome.stewards),
                )
            )
        }
        for steward in outcome.stewards:
            person = persons.get(steward)
            if person is not None and person.unreachable_since is not None:
                continue  # Slack refused a direct message to them (deactivated): none is tried
            zone = text.zone(person.time_zone if person else None, team.time_zone if team else None)
            payload = fetch_failed_payload(
                source=outcome.source.name,
                host=outcome.source.host,
                error=outcome.error,
                indicators=outcome.indicators,
                failures=outcome.failures,
                since=outcome.last_checked.astimezone(zone) if outcome.last_checked else None,
                retry_at=outcome.next_fetch_at.astimezone(zone) if outcome.next_fetch_at else None,
            )
            key = f"source_failed:{outcome.source.id}:{outcome.episode}:{steward}"
            if outbox.enqueue(
                session,
                team_id=outcome.source.team_id,
                key=key,
                kind="source_failed",
                channel=steward,
                payload=payload,
                now=now,
            ):
                told += 1
    return told


__all__ = [
    "SourcesReport",
    "UnknownSource",
    "announcement_channels",
    "enqueue_news",
    "refresh_due",
    "refresh_now",
]
