"""Uninstall: when a workspace removes CommStat, or revokes its bot token, we forget it."""

from __future__ import annotations

from sqlalchemy.orm import Session

from storage.repositories import delete_team


def forget_team(session: Session, team_id: str) -> dict[str, int]:
    """Delete everything we hold about one workspace, its installations and bot tokens included,
    in the caller's transaction; a second call finds nothing. Returns rows deleted per table."""
    return delete_team(session, team_id)
