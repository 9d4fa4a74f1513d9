"""Who imported what: one `imports` row per import (CLI, Slack upload, a source's fetch), written in
the same transaction as the values, and each changed indicator's `last_import_id` pointing at it
("updated by … on …" in /indicator). Sources remember their mapping (`import_sources`).

Repositories never commit: the caller owns the transaction (`import_file(..., on_stored=...)`
runs the recording inside the import's own transaction, so values and their record land together
or not at all)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from storage.models import DataImport, ImportSource, ImportStatus, Indicator

if TYPE_CHECKING:
    from storage.importer import ImportReport


def record_import(
    session: Session,
    report: ImportReport,
    *,
    team_id: str,
    via: str,
    now: datetime,
    mapping: dict[str, Any],
    user_id: str | None = None,
    file_id: str | None = None,
    channel_id: str | None = None,
    source_id: int | None = None,
    row: DataImport | None = None,
) -> DataImport:
    """Record a finished import (or finish `row`, a Slack upload's preview) and point each
    indicator whose values changed at it."""
    if row is None:
        row = DataImport(
            team_id=team_id,
            via=via,
            user_id=user_id,
            file_name=report.file[:300],
            file_id=file_id,
            channel_id=channel_id,
            source_id=source_id,
            mapping=mapping,
            created_at=now,
        )
        session.add(row)
    row.status = ImportStatus.IMPORTED
    row.indicators = [result.slug for result in report.indicators]
    row.added, row.updated = report.added, report.updated
    row.unchanged, row.missing = report.unchanged, report.missing
    row.finished_at = now
    session.flush()
    changed = [r.slug for r in report.indicators if r.added or r.updated or r.created]
    if changed:
        session.execute(
            update(Indicator)
            .where(Indicator.team_id == team_id, Indicator.slug.in_(changed))
            .values(last_import_id=row.id)
        )
    return row


def last_import(session: Session, indicator: Indicator) -> DataImport | None:
    """The import that last changed this indicator's values, if any was recorded."""
    if indicator.last_import_id is None:
        return None
    return session.get(DataImport, indicator.last_import_id)


def source_named(session: Session, team_id: str, name: str) -> ImportSource | None:
    return session.scalar(
        select(ImportSource).where(ImportSource.team_id == team_id, ImportSource.name == name)
    )


def remember_source(
    session: Session, team_id: str, name: str, mapping: dict[str, Any], *, now: datetime
) -> ImportSource:
    """The source called `name` (a file's name or a catalog entry's), created or with its
    mapping replaced: next month's file of that name is read the same way."""
    source = source_named(session, team_id, name)
    if source is None:
        source = ImportSource(
            team_id=team_id,
            name=name[:200],
            mapping=mapping,
            failures=0,
            created_at=now,
            updated_at=now,
        )
        session.add(source)
    elif source.mapping != mapping:
        source.mapping = mapping
        source.updated_at = now
    session.flush()
    return source
