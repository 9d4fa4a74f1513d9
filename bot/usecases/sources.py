"""Sources that refresh themselves: when a catalog source is due, and one refresh of it.

A source (`import_sources` with a `source_url`, from the catalog's `sources:` or an entry's
`source_url:`) feeds the indicators linked to it (`indicators.source_id`). It is due when one of
those indicators' next period is due (`periods.expected_next`: the period's end plus the
publisher's lag), at FETCH_HOUR in the coalition's zone so that new data lands before the 9:00
steward nudges; an indicator with no value yet makes it due at once. While the period is still
not there after a fetch, it is fetched again daily (conditional requests make that cheap).

One refresh is three steps, and no transaction is open during the download:
1. a read (no write lock) of the source and of each indicator's newest period,
2. the download (`bot.usecases.fetch`: bounded, conditional, public addresses only),
3. the import (`storage.importer.import_file`) in one transaction that also records the import
   (`record_import(via="source")`), links the indicators it brought to the source, hands what
   is new to the caller's `announce` (the outbox rows of the announcement, so values and their
   announcement are committed together or not at all) and stores the source's new state.
A 304, an unchanged file and a failure each update the source's state in a short transaction.

Failures: a transient one (timeout, 5xx, refused connection) is retried after 15 minutes, then
an hour, then daily; one that will not mend by itself (404, a web page instead of a table, too
big, a file the importer refuses) daily. `Outcome.tell_steward` says when the steward should
hear of it: at once for the lasting kind, after NUDGE_AFTER transient failures in a row.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.core import periods, text
from bot.usecases.fetch import DEFAULT_LIMITS, Fetched, FetchError, FetchLimits, fetch, host_of
from bot.usecases.indicators import newest_periods
from storage.import_records import record_import
from storage.importer import (
    ImportError_,
    ImportMapping,
    ImportRaced,
    ImportReport,
    import_file,
    slugify,
)
from storage.models import ImportSource, Indicator, IndicatorValue, Team

logger = logging.getLogger(__name__)

FETCH_HOUR = 6  # local time on a due day: before the coalition's nudge hour
LATE_EVERY = timedelta(days=1)  # while the period is late, or the source keeps failing
RETRY_AFTER = (timedelta(minutes=15), timedelta(hours=1))  # after transient failures 1 and 2
NUDGE_AFTER = 3  # transient failures in a row before the steward is told
CLAIM = timedelta(minutes=30)  # a claimed source is not taken by another pass meanwhile
MAX_PER_PASS = 10  # sources fetched in one scheduler pass; the rest wait for the next


@dataclass(frozen=True)
class News:
    """What one refresh brought for one indicator: a new newest period (with its values), and
    how many values were added or revised in all."""

    indicator_id: int
    name: str
    slug: str
    period: str | None  # the new newest period, None when only older values changed
    period_label: str | None
    values: tuple[tuple[str, float | None], ...]  # (geography, value) of that period
    added: int
    revised: int


@dataclass(frozen=True)
class SourceInfo:
    id: int
    team_id: str
    name: str
    host: str


Announce = Callable[[Session, SourceInfo, Sequence[News]], list[str]]


@dataclass
class Outcome:
    """What a refresh did, for the CLI, the pass report and the steward's nudge."""

    source: SourceInfo
    status: str  # "imported" | "unchanged" | "not_modified" | "failed" | "no_url"
    message: str  # one line for people
    error: str = ""  # a failure's reason in plain words
    report: ImportReport | None = None
    news: list[News] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)  # announcements queued (outbox keys)
    transient: bool = False
    failures: int = 0
    tell_steward: bool = False
    episode: str = ""  # one failure streak: the steward hears of it once
    last_checked: datetime | None = None  # when the server last answered
    stewards: list[str] = field(default_factory=list)
    indicators: list[str] = field(default_factory=list)  # names of the linked indicators
    next_fetch_at: datetime | None = None

    @property
    def failed(self) -> bool:
        return self.status == "failed"


# --- when ------------------------------------------------------------------------------------


def claim_due(session: Session, *, now: datetime, limit: int = MAX_PER_PASS) -> list[int]:
    """The ids of sources to fetch now, claimed (their next fetch pushed CLAIM ahead, so another
    pass or process leaves them alone). A source never looked at gets its due time first, and
    is claimed only if that has come. Never fetches: the caller commits, then downloads."""
    query = (
        select(ImportSource)
        .where(
            ImportSource.source_url.is_not(None),
            or_(ImportSource.next_fetch_at.is_(None), ImportSource.next_fetch_at <= now),
        )
        .order_by(ImportSource.id)
        .limit(limit * 5)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    claimed: list[int] = []
    for source in session.scalars(query):
        if source.next_fetch_at is None:
            due = next_due(session, source, now=now)
            if due > now:
                source.next_fetch_at = due
                continue
        if len(claimed) >= limit:
            continue
        source.next_fetch_at = now + CLAIM
        claimed.append(source.id)
    return claimed


def release(session: Session, source_ids: Sequence[int], *, now: datetime) -> None:
    """Sources claimed and then not fetched in this pass: due again at once."""
    session.execute(
        update(ImportSource).where(ImportSource.id.in_(source_ids)).values(next_fetch_at=now)
    )


def next_due(session: Session, source: ImportSource, *, now: datetime) -> datetime:
    """When the earliest next period of the source's indicators is due (FETCH_HOUR that day in
    the coalition's zone); `now` when one of them has no value yet, or none is linked and the
    source was never fetched."""
    linked = list(session.scalars(select(Indicator).where(Indicator.source_id == source.id)))
    if not linked:
        return now if source.checked_at is None else now + LATE_EVERY
    newest = newest_periods(session, [i.id for i in linked])
    earliest: date | None = None
    for indicator in linked:
        period = newest.get(indicator.id)
        if period is None:
            return now
        try:
            expected = periods.expected_next(
                periods.parse_period(period[1]), indicator.period_kind, indicator.update_frequency
            )
        except periods.PeriodError:
            continue
        earliest = expected if earliest is None else min(earliest, expected)
    if earliest is None:
        return now + LATE_EVERY
    team = session.get(Team, source.team_id)
    zone = text.zone(team.time_zone if team else None)
    return datetime.combine(earliest, time(FETCH_HOUR), tzinfo=zone)


def sources_of(session: Session, team_id: str, name: str | None = None) -> list[ImportSource]:
    """The team's sources with a URL (only `name`, when given), by name."""
    query = (
        select(ImportSource)
        .where(ImportSource.team_id == team_id, ImportSource.source_url.is_not(None))
        .order_by(ImportSource.name)
    )
    if name is not None:
        query = query.where(ImportSource.name == name)
    return list(session.scalars(query))


# --- one refresh -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Read:
    info: SourceInfo
    url: str | None
    etag: str | None
    last_modified: str | None
    mapping: dict[str, Any]
    before: dict[int, date]  # each team indicator's newest period start
    default_geography: str | None


def refresh(
    sessions: sessionmaker[Session],
    source_id: int,
    *,
    now: datetime,
    limits: FetchLimits = DEFAULT_LIMITS,
    allowed_private: frozenset[str] = frozenset(),
    announce: Announce | None = None,
) -> Outcome:
    """Fetch one source and import what it holds; see the module docstring."""
    read = _read(sessions, source_id)
    if read.url is None:
        return Outcome(read.info, "no_url", f"{read.info.name}: has no url; nothing fetched.")
    with tempfile.TemporaryDirectory(prefix="commstat-source-") as folder:
        try:
            fetched = fetch(
                read.url,
                folder=Path(folder),
                stem=slugify(read.info.name)[:60] or "source",
                etag=read.etag,
                last_modified=read.last_modified,
                limits=limits,
                allowed_private=allowed_private,
            )
        except FetchError as exc:
            return _failed(sessions, read, str(exc), transient=exc.transient, now=now)
        if fetched.not_modified:
            return _not_modified(sessions, read, fetched, now=now)
        assert fetched.path is not None
        return _import(sessions, read, fetched, fetched.path, now=now, announce=announce)


def _read(sessions: sessionmaker[Session], source_id: int) -> _Read:
    with sessions() as session:
        source = session.get(ImportSource, source_id)
        if source is None:
            raise LookupError(f"no source {source_id}")
        team = session.get(Team, source.team_id)
        ids = list(session.scalars(select(Indicator.id).where(Indicator.team_id == source.team_id)))
        before = {k: v[0] for k, v in newest_periods(session, ids).items()}
        return _Read(
            info=SourceInfo(
                source.id, source.team_id, source.name, host_of(source.source_url or "")
            ),
            url=source.source_url,
            etag=source.etag,
            last_modified=source.last_modified,
            mapping=dict(source.mapping or {}),
            before=before,
            default_geography=team.default_geography if team else None,
        )


def _import(
    sessions: sessionmaker[Session],
    read: _Read,
    fetched: Fetched,
    path: Path,
    *,
    now: datetime,
    announce: Announce | None,
) -> Outcome:
    news: list[News] = []
    keys: list[str] = []
    state: dict[str, Any] = {}

    def on_stored(session: Session, report: ImportReport) -> None:
        changed = report.added or report.updated or any(r.created for r in report.indicators)
        _link(session, read.info, report)
        if changed:
            record_import(
                session,
                report,
                team_id=read.info.team_id,
                via="source",
                now=now,
                mapping=read.mapping,
                source_id=read.info.id,
            )
            news.extend(_news(session, read, report))
            if announce is not None and news:
                keys.extend(announce(session, read.info, news))
        state["next"] = _store_checked(session, read.info.id, fetched, now=now)

    try:
        mapping = ImportMapping.from_dict(read.mapping)
        report = import_file(
            sessions,
            team_id=read.info.team_id,
            path=path,
            mapping=mapping,
            now=now,
            on_stored=on_stored,
        )
    except ImportRaced:  # another process wrote the same values first: they are in, not lost
        return _failed(
            sessions,
            read,
            "another process imported the same file at the same moment; fetched again soon.",
            transient=True,
            now=now,
        )
    except ImportError_ as exc:
        return _failed(
            sessions,
            read,
            f"{read.info.host} sent a file I could not import: {text.clip(str(exc), 600)}",
            transient=False,
            now=now,
        )
    size = _size(fetched.size)
    if not news:
        return Outcome(
            read.info,
            "unchanged",
            f"{read.info.name}: fetched {size} from {read.info.host}; nothing new "
            f"({report.unchanged:,} values as stored).",
            report=report,
            next_fetch_at=state.get("next"),
        )
    return Outcome(
        read.info,
        "imported",
        f"{read.info.name}: fetched {size} from {read.info.host}; {report.added:,} values "
        f"added, {report.updated:,} revised.",
        report=report,
        news=news,
        keys=keys,
        next_fetch_at=state.get("next"),
    )


def _size(size: int) -> str:
    if size >= 1_000_000:
        return f"{size / 1_000_000:.1f} MB"
    return f"{max(size, 1) / 1000:.0f} KB" if size >= 1000 else f"{size} bytes"


def _link(session: Session, info: SourceInfo, report: ImportReport) -> None:
    """The indicators this source brought, linked to it unless the catalog linked them
    elsewhere: their due dates now decide when it is fetched."""
    slugs = [r.slug for r in report.indicators]
    if slugs:
        session.execute(
            update(Indicator)
            .where(
                Indicator.team_id == info.team_id,
                Indicator.slug.in_(slugs),
                Indicator.source_id.is_(None),
            )
            .values(source_id=info.id)
        )


def _news(session: Session, read: _Read, report: ImportReport) -> list[News]:
    results = [r for r in report.indicators if r.added or r.updated]
    by_slug = {
        i.slug: i
        for i in session.scalars(
            select(Indicator).where(
                Indicator.team_id == read.info.team_id,
                Indicator.slug.in_([r.slug for r in results]),
            )
        )
    }
    latest = newest_periods(session, [i.id for i in by_slug.values()])
    found: list[News] = []
    for result in results:
        indicator = by_slug.get(result.slug)
        if indicator is None:  # pragma: no cover - the import just wrote it
            continue
        newest = latest.get(indicator.id)
        old = read.before.get(indicator.id)
        period = label = None
        values: tuple[tuple[str, float | None], ...] = ()
        if newest is not None and (old is None or newest[0] > old):
            period = newest[1]
            label = periods.label(period, indicator.period_kind)
            rows = session.execute(
                select(IndicatorValue.geography, IndicatorValue.value).where(
                    IndicatorValue.indicator_id == indicator.id, IndicatorValue.period == period
                )
            ).all()
            first = read.default_geography or ""
            ordered = sorted(rows, key=lambda r: (r[0] != first, r[0]))
            values = tuple((str(g), v) for g, v in ordered)
        found.append(
            News(
                indicator_id=indicator.id,
                name=indicator.name,
                slug=indicator.slug,
                period=period,
                period_label=label,
                values=values,
                added=result.added,
                revised=result.updated,
            )
        )
    return found


def _store_checked(
    session: Session, source_id: int, fetched: Fetched, *, now: datetime
) -> datetime:
    """The source answered: remember its validators, clear failures, and set the next fetch
    (the next due period, or tomorrow while the period is late)."""
    source = session.get(ImportSource, source_id)
    assert source is not None
    if not fetched.not_modified:
        source.etag = fetched.etag[:300] if fetched.etag else None
        source.last_modified = fetched.last_modified[:100] if fetched.last_modified else None
    source.checked_at = now
    source.failures = 0
    source.last_error = None
    due = next_due(session, source, now=now)
    source.next_fetch_at = due if due > now else now + LATE_EVERY
    return source.next_fetch_at


def _not_modified(
    sessions: sessionmaker[Session], read: _Read, fetched: Fetched, *, now: datetime
) -> Outcome:
    with sessions.begin() as session:
        following = _store_checked(session, read.info.id, fetched, now=now)
    return Outcome(
        read.info,
        "not_modified",
        f"{read.info.name}: not changed since the last fetch ({read.info.host} answered 304 Not "
        "Modified); nothing imported.",
        next_fetch_at=following,
    )


def _failed(
    sessions: sessionmaker[Session], read: _Read, error: str, *, transient: bool, now: datetime
) -> Outcome:
    """Count the failure, keep the error in words, and retry soon or daily. Nothing imported."""
    with sessions.begin() as session:
        source = session.get(ImportSource, read.info.id)
        assert source is not None
        source.failures = (source.failures or 0) + 1
        source.last_error = error[:2000]
        if transient and source.failures <= len(RETRY_AFTER):
            source.next_fetch_at = now + RETRY_AFTER[source.failures - 1]
        else:
            source.next_fetch_at = now + LATE_EVERY
        last_checked = source.checked_at
        since = last_checked or source.updated_at
        linked = list(
            session.scalars(
                select(Indicator).where(Indicator.source_id == source.id).order_by(Indicator.name)
            )
        )
        failures, following = source.failures, source.next_fetch_at
    stewards = sorted({i.steward_id for i in linked if i.steward_id})
    tell = (not transient) or failures >= NUDGE_AFTER
    return Outcome(
        read.info,
        "failed",
        f"{read.info.name}: failed — {error} Nothing was imported.",
        error=error,
        transient=transient,
        failures=failures,
        tell_steward=tell,
        episode=since.isoformat(),
        last_checked=last_checked,
        stewards=stewards,
        indicators=[i.name for i in linked],
        next_fetch_at=following,
    )


__all__ = [
    "CLAIM",
    "FETCH_HOUR",
    "LATE_EVERY",
    "MAX_PER_PASS",
    "NUDGE_AFTER",
    "RETRY_AFTER",
    "Announce",
    "News",
    "Outcome",
    "SourceInfo",
    "claim_due",
    "next_due",
    "refresh",
    "release",
    "sources_of",
]
