"""A person's morning message follows a click on one of its lines: that line changes, the others
stay as they were.

The message is laid out again from the lines it was sent with (the outbox row that sent it,
found by its ts and its recipient) and what the database says now: each line whose commitment is
no longer as it was planned (done, dropped, snoozed, moved, handed over) or whose data arrived
shows what happened; the others are left exactly as sent. Built from the database, not from the
clicked message's copy, so two clicks on two lines a second apart both show, whichever update
Slack gets last. Runs after the click's change has committed; failures are logged, never raised.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.bootstrap import Services
from bot.slack import outbox
from bot.slack.blocks import nudges as blocks
from storage import repositories as repo
from storage.models import Commitment, CommitmentEvent, OutboxMessage, OutboxStatus

logger = logging.getLogger(__name__)

KIND = "morning"


def update_line(
    services: Services,
    client: WebClient,
    *,
    team_id: str,
    user_id: str,
    channel: str | None,
    ts: str | None,
    noted: int | None = None,
) -> bool:
    """Show the changes in `user_id`'s morning message at (channel, ts); `noted` is a commitment
    whose note they just added. False when that message is not a morning message of theirs."""
    if not channel or not ts:
        return False
    message = _compose(services, team_id=team_id, user_id=user_id, ts=ts, noted=noted)
    if message is None:
        return False
    # Two clicks on two lines a moment apart: each lays the message out from the database, but
    # the first one's update may reach Slack after the second's while having read before it.
    # Read again after each update and send again while what is shown is not what is stored.
    for _ in range(UPDATE_ROUNDS):
        try:
            client.chat_update(
                channel=channel, ts=ts, text=message["text"], blocks=message["blocks"]
            )
        except SlackApiError as error:
            logger.warning(
                "could not update morning message %s: %s", ts, error.response.get("error")
            )
            break
        again = _compose(services, team_id=team_id, user_id=user_id, ts=ts, noted=noted)
        if again is None or again == message:
            break
        message = again
    return True


UPDATE_ROUNDS = 3  # a message changed by more clicks than this at once settles at the next click


def _compose(
    services: Services, *, team_id: str, user_id: str, ts: str, noted: int | None
) -> dict[str, Any] | None:
    """The message at `ts` as the database says it should look now; None when it is not a
    morning message sent to `user_id`."""
    now = services.clock()
    with services.sessions() as session:  # a read: closed before Slack is asked
        row = session.scalars(
            select(OutboxMessage).where(
                OutboxMessage.team_id == team_id,
                OutboxMessage.kind == KIND,
                OutboxMessage.channel == user_id,  # only its recipient's clicks change it
                OutboxMessage.result_ts == ts,
                OutboxMessage.status == OutboxStatus.SENT,
            )
        ).first()
        if row is None:
            return None
        payload: dict[str, Any] = dict(row.payload)
        shown = int(payload.get("shown") or 0)
        parts: list[dict[str, Any]] = list(payload.get("parts") or [])
        numbers = [p["id"] for p in parts[:shown] if p.get("kind") == "commitment"]
        noted_ids = _noted_since(session, team_id, user_id, numbers, row.sent_at)
        if noted is not None:
            noted_ids.add(noted)
        lines = []
        for index, part in enumerate(parts):
            if index >= shown:
                lines.append(part)
                continue
            why = outbox.no_longer_holds(session, team_id, part.get("holds") or {}, now=now)
            if part.get("kind") == "data":
                lines.append(blocks.arrived_line(part, why) if why else part)
                continue
            if why is None and part["id"] not in noted_ids:
                lines.append(part)
                continue
            commitment = repo.get_commitment(session, team_id, int(part["id"]))
            lines.append(
                blocks.changed_line(
                    part,
                    commitment,
                    recipient=user_id,
                    now=now,
                    noted=part["id"] in noted_ids,
                    indicator=_indicator(session, commitment),
                )
            )
    return blocks.compose_morning({**payload, "parts": lines}, shown=shown)


def _noted_since(
    session: Session, team_id: str, user_id: str, numbers: list[int], since: datetime | None
) -> set[int]:
    """The commitments of the message this person added a note to since it was sent."""
    if not numbers or since is None:
        return set()
    return set(
        session.scalars(
            select(CommitmentEvent.commitment_id).where(
                CommitmentEvent.team_id == team_id,
                CommitmentEvent.commitment_id.in_(numbers),
                CommitmentEvent.kind == "noted",
                CommitmentEvent.actor_id == user_id,
                CommitmentEvent.at >= since,
            )
        ).all()
    )


def _indicator(session: Session, commitment: Commitment | None) -> str | None:
    if commitment is None or commitment.indicator_id is None:
        return None
    indicator = repo.get_indicator(session, commitment.team_id, commitment.indicator_id)
    return indicator.slug if indicator is not None else None


__all__ = ["update_line"]
