"""The shared database: SQLAlchemy 2.0 typed models.

Every row carries its Slack team id so one database can serve several workspaces without one
coalition ever seeing another's data.
"""

from __future__ import annotations

import enum
from datetime import UTC, date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware timestamps on every backend.

    SQLite has no time zone type and hands back naive values; we store UTC and always return an
    aware UTC datetime, so comparisons never mix naive and aware values.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; pass an aware datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON,
        list[str]: JSON,
    }


class CommitmentStatus(enum.StrEnum):
    OPEN = "open"
    DONE = "done"
    DROPPED = "dropped"


class Direction(enum.StrEnum):
    LOWER_IS_BETTER = "lower"
    HIGHER_IS_BETTER = "higher"


class OutboxStatus(enum.StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"  # Slack refused it, or retries were given up: never sent
    DROPPED = "dropped"  # no longer true when its turn came (the commitment was done…): not sent


class JobStatus(enum.StrEnum):
    WAITING = "waiting"  # stored and acknowledged; no worker has it
    WORKING = "working"  # a worker has it until `claimed_until` (then it waits again)
    DONE = "done"
    FAILED = "failed"  # raised on every try: given up (the person was told, where possible)


def _enum(cls: type[enum.Enum]) -> Enum:
    # Stored as plain strings (no native enum type) so adding a value needs no DDL on PostgreSQL.
    return Enum(cls, native_enum=False, length=20, values_callable=lambda e: [m.value for m in e])


class Team(Base):
    """A Slack workspace: one coalition, with its own settings."""

    __tablename__ = "teams"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # Slack team id, e.g. T0123
    name: Mapped[str | None] = mapped_column(String(200))
    time_zone: Mapped[str] = mapped_column(String(64))
    working_days: Mapped[list[str]] = mapped_column(
        default=lambda: ["mon", "tue", "wed", "thu", "fri"]
    )
    holidays: Mapped[list[str]] = mapped_column(default=list)  # ISO dates an admin added
    # Public holidays by default (bot/core/public_holidays.py): the country whose calendar
    # applies (None: the time zone's; "none": no calendar), and the days of it turned off.
    holiday_country: Mapped[str | None] = mapped_column(String(10))
    holidays_off: Mapped[list[str]] = mapped_column(
        default=list, server_default=text("'[]'")
    )  # ISO dates
    nudge_hour: Mapped[int] = mapped_column(Integer, default=9)
    overdue_every_days: Mapped[int] = mapped_column(Integer, default=2)  # working days
    quiet_start: Mapped[int | None] = mapped_column(Integer)  # hour of day, local
    quiet_end: Mapped[int | None] = mapped_column(Integer)
    default_geography: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime]


class Person(Base):
    """Someone in the coalition, known by Slack user id (names change; guests may be missing)."""

    __tablename__ = "people"

    team_id: Mapped[str] = mapped_column(
        ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    display_name: Mapped[str | None] = mapped_column(String(200))
    time_zone: Mapped[str | None] = mapped_column(String(64))
    organisation: Mapped[str | None] = mapped_column(String(200))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)  # coalition admin (settings)
    is_slack_admin: Mapped[bool] = mapped_column(Boolean, default=False)  # workspace admin/owner
    refreshed_at: Mapped[datetime | None]  # last users.info, for the cache
    # Slack refused a direct message to them (their account deactivated or gone) at this time;
    # no reminder is planned for them until Slack says they are active again.
    unreachable_since: Mapped[datetime | None]
    unreachable_reason: Mapped[str | None] = mapped_column(String(40))  # Slack's error code


class Indicator(Base):
    """A shared measure of the coalition (e.g. overdose deaths), with what makes it meaningful."""

    __tablename__ = "indicators"
    __table_args__ = (UniqueConstraint("team_id", "slug"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[str] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), index=True)
    slug: Mapped[str] = mapped_column(String(100))  # normalised name used for lookup and #tags
    name: Mapped[str] = mapped_column(String(200))
    aliases: Mapped[list[str]] = mapped_column(default=list)
    unit: Mapped[str | None] = mapped_column(String(100))
    direction: Mapped[Direction] = mapped_column(
        _enum(Direction), default=Direction.LOWER_IS_BETTER
    )
    target: Mapped[float | None] = mapped_column(Float)
    # The catalog's `min`/`max`: a value outside is refused on import and on /indicator set.
    plausible_min: Mapped[float | None] = mapped_column(Float)
    plausible_max: Mapped[float | None] = mapped_column(Float)
    period_kind: Mapped[str | None] = mapped_column(String(30))  # monthly, 12-month-ending, ...
    update_frequency: Mapped[str | None] = mapped_column(String(30))
    steward_id: Mapped[str | None] = mapped_column(String(32))
    source: Mapped[str | None] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    restricted_to: Mapped[list[str]] = mapped_column(default=list)  # channel ids; empty = public
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    next_check_at: Mapped[datetime | None] = mapped_column(index=True)  # data freshness check
    # The import that last changed this indicator's values ("updated by … on …" in /indicator).
    last_import_id: Mapped[int | None] = mapped_column(
        ForeignKey("imports.id", ondelete="SET NULL", use_alter=True)
    )
    # The catalog source (`sources:` / `fetch_from:`) whose fetches bring this indicator's values:
    # the scheduler fetches it when this indicator's next period is due.
    source_id: Mapped[int | None] = mapped_column(
        ForeignKey("import_sources.id", ondelete="SET NULL"), index=True
    )


class IndicatorValue(Base):
    """One value of an indicator for a period and geography. `value` None means missing.

    Keyed by what it is a value of (migration 0012): one b-tree per value on SQLite (WITHOUT
    ROWID), one index on PostgreSQL. `team_id` is the indicator's team, kept for `delete_team`
    and the schema rule that every table carries it; the indicator's foreign key ties the value
    to a team that exists, so a second foreign key (a check per imported row) adds nothing."""

    __tablename__ = "indicator_values"
    __table_args__ = ({"sqlite_with_rowid": False},)

    team_id: Mapped[str] = mapped_column(String(32))
    indicator_id: Mapped[int] = mapped_column(
        ForeignKey("indicators.id", ondelete="CASCADE"), primary_key=True
    )
    period: Mapped[str] = mapped_column(
        String(10), primary_key=True
    )  # as written: 2025-04, 2025-Q1, 2025, 2025-04-07
    period_start: Mapped[date] = mapped_column(Date)
    geography: Mapped[str] = mapped_column(
        String(100), primary_key=True, default=""
    )  # "" = no geography
    value: Mapped[float | None] = mapped_column(Float)
    updated_at: Mapped[datetime]


class Commitment(Base):
    """A promise made in or after a CommStat meeting, with one or more owners."""

    __tablename__ = "commitments"
    __table_args__ = (
        Index("ix_commitments_team_status_due", "team_id", "status", "due_at"),
        UniqueConstraint("team_id", "request_key"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[str] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"))
    text: Mapped[str] = mapped_column(Text)
    status: Mapped[CommitmentStatus] = mapped_column(
        _enum(CommitmentStatus), default=CommitmentStatus.OPEN
    )
    due_at: Mapped[datetime]
    due_has_time: Mapped[bool] = mapped_column(Boolean, default=False)
    time_zone: Mapped[str] = mapped_column(String(64))  # the zone the due date was read in
    due_version: Mapped[int] = mapped_column(Integer, default=1)  # bumped on every move
    snoozed_until: Mapped[datetime | None]
    created_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]
    creator_id: Mapped[str] = mapped_column(String(32))
    channel_id: Mapped[str | None] = mapped_column(String(32))
    message_ts: Mapped[str | None] = mapped_column(String(32))  # the confirmation message
    indicator_id: Mapped[int | None] = mapped_column(
        ForeignKey("indicators.id", ondelete="SET NULL")
    )
    request_key: Mapped[str | None] = mapped_column(String(200))  # makes Slack retries harmless
    # When the scheduler should next look at this commitment (nudges). Set to "now" by every
    # change, advanced by the scheduler: a pass reads only what is due, not the whole table.
    next_check_at: Mapped[datetime | None] = mapped_column(index=True)

    owners: Mapped[list[CommitmentOwner]] = relationship(
        back_populates="commitment",
        cascade="all, delete-orphan",
        lazy="selectin",
        order_by="CommitmentOwner.position",
    )
    events: Mapped[list[CommitmentEvent]] = relationship(
        back_populates="commitment", order_by="CommitmentEvent.id", viewonly=True
    )

    @property
    def owner_ids(self) -> list[str]:
        return [o.user_id for o in self.owners]


class CommitmentIndicator(Base):
    """An indicator a commitment is linked to by a `#tag`: all of its tags link (its first is
    also `Commitment.indicator_id`, the one its messages show); each linked indicator's chart
    marks the commitment when it is done."""

    __tablename__ = "commitment_indicators"
    __table_args__ = (Index("ix_commitment_indicators_indicator_id", "indicator_id"),)

    commitment_id: Mapped[int] = mapped_column(
        ForeignKey("commitments.id", ondelete="CASCADE"), primary_key=True
    )
    indicator_id: Mapped[int] = mapped_column(
        ForeignKey("indicators.id", ondelete="CASCADE"), primary_key=True
    )
    team_id: Mapped[str] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer, default=0)  # the tag's order in the text


class CommitmentOwner(Base):
    __tablename__ = "commitment_owners"
    __table_args__ = (Index("ix_commitment_owners_team_user", "team_id", "user_id"),)

    commitment_id: Mapped[int] = mapped_column(
        ForeignKey("commitments.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    team_id: Mapped[str] = mapped_column(String(32))
    position: Mapped[int] = mapped_column(Integer, default=0)

    commitment: Mapped[Commitment] = relationship(back_populates="owners")


class CommitmentEvent(Base):
    """Append-only accountability trail: who did what to a commitment, and when."""

    __tablename__ = "commitment_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[str] = mapped_column(String(32))
    commitment_id: Mapped[int] = mapped_column(
        ForeignKey("commitments.id", ondelete="CASCADE"), index=True
    )
    actor_id: Mapped[str] = mapped_column(String(32))  # a user id, or "scheduler"
    kind: Mapped[str] = mapped_column(
        String(30)
    )  # created, done, dropped, moved, noted, snoozed...
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    at: Mapped[datetime]
    # The Slack request that made this change (a click, a command, a form) and what its author
    # was told: the same request again changes nothing and gets the same answer.
    request: Mapped[str | None] = mapped_column(String(300))
    answer: Mapped[str | None] = mapped_column(Text)

    commitment: Mapped[Commitment] = relationship(back_populates="events")


class Schedule(Base):
    """A channel's CommStat meeting or weekly digest, as an RFC 5545 recurrence rule."""

    __tablename__ = "schedules"
    __table_args__ = (UniqueConstraint("team_id", "channel_id", "kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[str] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"))
    channel_id: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(20))  # "meeting" | "weekly_digest"
    rrule: Mapped[str] = mapped_column(Text)
    dtstart: Mapped[datetime]
    time_zone: Mapped[str] = mapped_column(String(64))
    digest_lead_minutes: Mapped[int] = mapped_column(Integer, default=24 * 60)
    description: Mapped[str] = mapped_column(String(200))  # as the user said it
    created_by: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime]
    next_run_at: Mapped[datetime | None] = mapped_column(index=True)  # next digest to plan


class OutboxMessage(Base):
    """Every message the scheduler sends, keyed so that it is sent exactly once."""

    __tablename__ = "outbox"
    __table_args__ = (
        UniqueConstraint("idempotency_key"),
        Index("ix_outbox_status_not_before", "status", "not_before"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[str] = mapped_column(String(32))
    idempotency_key: Mapped[str] = mapped_column(String(300))
    kind: Mapped[str] = mapped_column(String(30))  # nudge, digest, creator_notice, steward_nudge
    channel: Mapped[str] = mapped_column(String(32))  # channel id, or user id for a DM
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[OutboxStatus] = mapped_column(_enum(OutboxStatus), default=OutboxStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    not_before: Mapped[datetime]
    claimed_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    result_ts: Mapped[str | None] = mapped_column(String(32))


class Job(Base):
    """A Slack request that was acknowledged: stored before the ack, carried out by a worker.

    `request_key` is the identity of the Slack request and its listener (a command's trigger id,
    a click's action, a form's view…): Slack's retry of it finds the key taken and adds nothing.
    `journal` holds what Slack answered to each call the job made that changes something in
    Slack (by method and how many of that method came before), so that a job taken over after a
    crash does not make those calls again. `ack` is a form's answer when a worker gives it in
    time (its errors next to the fields); `ack_state` says whether a worker gave one ("given")
    or the acknowledgement stopped waiting for it ("gone")."""

    __tablename__ = "jobs"
    __table_args__ = (
        UniqueConstraint("request_key"),
        Index("ix_jobs_status_not_before", "status", "not_before"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_key: Mapped[str] = mapped_column(String(300))
    team_id: Mapped[str | None] = mapped_column(String(32))
    listener: Mapped[str] = mapped_column(String(100))
    request: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[JobStatus] = mapped_column(_enum(JobStatus), default=JobStatus.WAITING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    not_before: Mapped[datetime]
    claimed_until: Mapped[datetime | None]
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    journal: Mapped[dict[str, Any]] = mapped_column(default=dict)
    ack: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    ack_state: Mapped[str | None] = mapped_column(String(10))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]


class ImportSource(Base):
    """Where a team's values come from, and how to read it: a file name a steward uploads each
    month, or a catalog entry's `source_url` the scheduler fetches itself.

    `mapping` is `storage.importer.ImportMapping.to_dict()`: remembered so that next month's file
    (or the next fetch) is read the same way without asking. `etag` / `last_modified` are the
    server's answers for conditional requests; `next_fetch_at` is when the scheduler fetches it
    next (None: never, e.g. an upload-only source)."""

    __tablename__ = "import_sources"
    __table_args__ = (UniqueConstraint("team_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[str] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))  # the file's name, or the catalog entry's
    mapping: Mapped[dict[str, Any]] = mapped_column(default=dict)
    source_url: Mapped[str | None] = mapped_column(Text)
    etag: Mapped[str | None] = mapped_column(String(300))
    last_modified: Mapped[str | None] = mapped_column(String(100))
    checked_at: Mapped[datetime | None]
    next_fetch_at: Mapped[datetime | None] = mapped_column(index=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)  # fetches failed in a row
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class ImportStatus(enum.StrEnum):
    PREVIEWED = "previewed"  # read and shown; nothing written (a Slack upload waiting for Import)
    IMPORTED = "imported"
    CANCELLED = "cancelled"
    REFUSED = "refused"  # the file was refused whole; nothing written


class DataImport(Base):
    """One import of a file: who, when, which file, how it was read and what it changed.

    `via` is "cli", "slack" (an upload) or "source" (the scheduler's fetch). A Slack upload is
    first stored as PREVIEWED; its Import button turns it IMPORTED once (the row is the button's
    identity, so a double click or a retried job imports once)."""

    __tablename__ = "imports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[str] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), index=True)
    source_id: Mapped[int | None] = mapped_column(
        ForeignKey("import_sources.id", ondelete="SET NULL")
    )
    via: Mapped[str] = mapped_column(String(10))
    user_id: Mapped[str | None] = mapped_column(String(32))  # Slack user; None for cli/source
    file_name: Mapped[str] = mapped_column(String(300))
    file_id: Mapped[str | None] = mapped_column(String(32))  # Slack file id (uploads)
    # The bytes an upload's preview read: Import writes exactly these, or nothing.
    file_sha256: Mapped[str | None] = mapped_column(String(64))
    channel_id: Mapped[str | None] = mapped_column(String(32))  # where the upload was answered
    status: Mapped[ImportStatus] = mapped_column(
        _enum(ImportStatus), default=ImportStatus.PREVIEWED
    )
    mapping: Mapped[dict[str, Any]] = mapped_column(default=dict)
    indicators: Mapped[list[str]] = mapped_column(default=list)  # slugs in the file
    added: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    unchanged: Mapped[int] = mapped_column(Integer, default=0)
    missing: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]


__all__ = [
    "Base",
    "Commitment",
    "CommitmentEvent",
    "CommitmentIndicator",
    "CommitmentOwner",
    "CommitmentStatus",
    "DataImport",
    "Direction",
    "ImportSource",
    "ImportStatus",
    "Indicator",
    "IndicatorValue",
    "Job",
    "JobStatus",
    "OutboxMessage",
    "OutboxStatus",
    "Person",
    "Schedule",
    "Team",
]


# slack_sdk's OAuth tables (migration 0003), defined by the library itself so that its stores and
# our schema always agree (OAuth mode keeps installations in the same database).
from slack_sdk.oauth.installation_store.sqlalchemy import (  # noqa: E402
    SQLAlchemyInstallationStore as _Installations,
)
from slack_sdk.oauth.state_store.sqlalchemy import SQLAlchemyOAuthStateStore as _States  # noqa: E402

_Installations.build_installations_table(
    Base.metadata, _Installations.default_installations_table_name
)
_Installations.build_bots_table(Base.metadata, _Installations.default_bots_table_name)
_States.build_oauth_states_table(Base.metadata, _States.default_table_name)
