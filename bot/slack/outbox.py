"""The outbox: every scheduled Slack message is sent exactly once.

Planners (nudges, digests) call `enqueue` inside their own transaction, keyed by an idempotency
key; `deliver` sends what is due. The rules, and why:

* **Two clocks.** `now` is business time: `not_before` is compared with it, so `commstat tick
  --now …` and tests can travel in time. Claims (`claimed_until`) are in *wall-clock* time
  (`system_clock`), because they protect a row against other processes running right now,
  whatever `--now` those were given. (Several hosts: keep their clocks in sync with NTP.)
* **Claims** are short transactions, one at a time across processes: SQLite's single writer
  (`BEGIN IMMEDIATE`, see storage/db.py); on PostgreSQL a transaction-level advisory lock plus
  `FOR UPDATE SKIP LOCKED`. A claim takes the due rows of *one* conversation, in
  (not_before, id) order, and never a conversation that has a row claimed elsewhere: so one
  process at a time paces a conversation and a digest's text arrives before its chart. The claim
  sets `attempts += 1` and is committed before the first Slack call; no transaction is open
  during a Slack call. `(id, attempts)` is the claim token: a result is written only while
  `attempts` still equals the claimed value and the row is pending.
* **Crash and timeout safety.** Each `chat.postMessage` carries message metadata
  `{"event_type": "commstat_outbox", "event_payload": {"key": …}}`. A claim marks the row
  "outcome unknown since <wall-clock time>"; an answer overwrites that, but a crash, a timeout, a
  dropped connection or a 5xx leaves it. The next claim of such a row first looks for the
  message with `conversations.history(include_all_metadata=true, oldest=<that time>)` and marks
  it sent if it is there; only otherwise it sends again. After a timeout the row rests
  3 × timeout (real time) first, so a request Slack is still processing can land. Chart uploads
  cannot carry metadata: their file name ends in a short hash of the key and is looked up the
  same way. Residual risk: Slack shares uploads asynchronously, so a chart whose upload timed
  out and whose share shows up later than that rest can be posted twice.
* **Errors.** The WebClient used here has no retry handlers: a client-side retry after a timeout
  or a 5xx could post twice, and sleeping out a long `Retry-After` would stall the pass. Instead:
  429 → `not_before = now + Retry-After` and the team pauses for the rest of the pass; 5xx,
  timeouts and dropped connections → exponential backoff with jitter (1 min doubling up to 1 h),
  until the message is a day old (GIVE_UP_AFTER) or has had MAX_ATTEMPTS tries, then failed.
  Any other Slack error (channel_not_found,
  not_in_channel, is_archived, user_not_found, invalid_auth …) and NotInstalled → failed at
  once, with a plain-words reason that `problems()` lists for admins.
* **People who cannot be reached.** A direct message refused with `user_disabled` (the person's
  account was deactivated) or `user_not_found` (it is gone) also marks that person unreachable
  since then (`people.unreachable_since`, in the same transaction as the row's failure), and
  the planners plan nothing more for them: one failed message, not one every reminder day.
  Slack saying they are active again clears it (`bot.slack.people`). Not `account_inactive`:
  that is the bot's own token, not the person.
* **Pace.** At most one message per `per_channel_interval` seconds per conversation (Slack's
  ~1/s per channel), measured in real time within one process.
* **Only these.** `deliver(keys=…)` claims only the rows with those keys (`/commstat digest now`
  sends its own digest, and nothing else, from the request's thread); the claim rules are the same.
* **Nothing stale.** A message may wait hours behind a 429 or a 5xx; by then its commitment may be
  done. A planner stores with each message the facts it was planned on (`enqueue(holds=…)`, kept
  in the payload under "holds": `holds_commitment`, `holds_no_value`, `holds_meeting`), and right
  before the message is sent (after looking for an interrupted earlier copy, which counts as
  sent) `deliver` reads those facts again from storage, in a read with no write lock: the
  commitment still open, with the same due date and owners, and not snoozed since; no value yet
  for the period a steward is asked about, and the same steward; the digest's meeting not
  started. When one no longer holds the row is `dropped`, with the reason in `last_error`
  (listed by `problems()` next to the failed ones), and never tried again; its key stays taken,
  so planning it again adds nothing. The outbox reads these plain facts itself, so it needs no
  rule from the follow-up layer above it, and every caller of `deliver` gets the check.
* **Lines of a message.** A message made of lines (a person's morning message: one line per
  commitment) keeps them in the payload under "parts", each with its own holds, and names its
  composer ("compose"). Right before sending, a line that no longer holds is left out and the
  message is laid out again from the lines that do (`bot.slack.blocks.nudges.compose_morning`);
  that payload is the one stored as sent. When no line holds, the row is dropped as above.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import random
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import PurePosixPath
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackRequestError
from sqlalchemy import func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from bot.bootstrap import NotInstalled, Services, system_clock
from bot.core import text
from bot.core.dates import format_due
from bot.core.deadlines import due_text
from bot.core.recurrence import zone_words
from bot.core.text import clip
from bot.slack import errors, history
from bot.slack.blocks.nudges import MORNING, compose_morning
from bot.usecases import meetings
from storage import repositories as repo
from storage.models import Commitment, CommitmentStatus, Indicator, OutboxMessage, OutboxStatus

logger = logging.getLogger(__name__)

METADATA_EVENT = "commstat_outbox"
LEASE_SECONDS = 120.0  # wall-clock claim; renewed before each send when it runs short
SLACK_TIMEOUT = 10.0  # seconds per Slack call
CALLS_PER_ROW = 5  # worst case: conversations.open, history, and a 3-step upload
BATCH = 20  # rows per claim
# Transient errors (429, 5xx, timeouts) are retried with backoff until the message is a day old
# (a nudge or digest a day late has lost its point), or after MAX_ATTEMPTS, whichever comes first.
GIVE_UP_AFTER = timedelta(hours=24)
MAX_ATTEMPTS = 40
BACKOFF_BASE = 60.0
BACKOFF_CAP = 3600.0
_CLAIM_LOCK = 0x0C0_5747  # pg_advisory_xact_lock key: serialises claims, not sends
ALT_TEXT_LIMIT = 1000  # Slack's limit for a file's alt text

# Slack's answers to a direct message that say its recipient cannot be reached (not the bot's
# own `account_inactive`): the person is marked unreachable (see the module docstring).
UNREACHABLE = frozenset({"user_disabled", "user_not_found"})

_UNKNOWN = "outcome unknown since"
_UNKNOWN_RE = re.compile(_UNKNOWN + r" (\d+(?:\.\d+)?)")
# --- enqueue ----------------------------------------------------------------------------------


def enqueue(
    session: Session,
    *,
    team_id: str,
    key: str,
    kind: str,
    channel: str,
    payload: dict[str, Any],
    now: datetime,
    not_before: datetime | None = None,
    holds: dict[str, Any] | None = None,
) -> bool:
    """Queue one message unless its key is already queued; True when new. Never commits.

    The key is the whole exactly-once promise at planning time: plan twice, or in two
    processes at once, and the second insert does nothing. `holds` is what the message was
    planned on (see `holds_commitment`, `holds_no_value`, `holds_meeting`, merged with `|`):
    checked again right before sending, and the message is dropped when it no longer holds.
    """
    if not isinstance(payload.get("text"), str) and not isinstance(payload.get("file"), dict):
        raise ValueError("an outbox payload needs a 'text' or a 'file'")
    if holds:
        unknown = set(holds) - set(_CHECKS)
        if unknown:
            raise ValueError(f"unknown outbox holds: {sorted(unknown)}")
        payload = {**payload, HOLDS: holds}
    for part in payload.get(PARTS) or []:
        if set(part.get(HOLDS) or {}) - set(_CHECKS) or payload.get("compose") not in _COMPOSERS:
            raise ValueError("a message of lines needs a known composer and known holds")
    values = {
        "team_id": team_id,
        "idempotency_key": key,
        "kind": kind,
        "channel": channel,
        "payload": payload,
        "status": OutboxStatus.PENDING,
        "attempts": 0,
        "not_before": not_before or now,
        "created_at": now,
    }
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = (
        insert(OutboxMessage)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["idempotency_key"])
        .returning(OutboxMessage.id)
    )
    return session.execute(statement).scalar() is not None


def upload_payload(
    content: bytes,
    *,
    filename: str,
    title: str,
    alt_text: str,
    initial_comment: str | None = None,
) -> dict[str, Any]:
    """The payload of a file upload (a chart), as `deliver` reads it back."""
    return {
        "file": {
            "png_b64": base64.b64encode(content).decode("ascii"),
            "filename": filename,
            "title": title,
            "alt_text": clip(alt_text, ALT_TEXT_LIMIT),
            "initial_comment": initial_comment,
        }
    }


# --- what a message was planned on -------------------------------------------------------------
#
# Plain facts, JSON in the payload, so that the outbox can check them itself through storage.

HOLDS = "holds"  # the payload's key for them
PARTS = "parts"  # a message's lines, each with its own holds (see the module docstring)


def holds_commitment(commitment: Commitment) -> dict[str, Any]:
    """An owner's nudge or a creator's notice: the commitment is still open, due at the same
    time, with the same owners, and no snooze (still running) was set or changed since."""
    snoozed = commitment.snoozed_until
    return {
        "commitment": {
            "id": commitment.id,
            "due_at": commitment.due_at.astimezone(UTC).isoformat(),
            "owners": sorted(commitment.owner_ids),
            "snoozed_until": snoozed.astimezone(UTC).isoformat() if snoozed else None,
        }
    }


def holds_no_value(indicator: Indicator, *, period: str, start: date) -> dict[str, Any]:
    """A steward's nudge: still no value for `period` (starting on `start`) or a later one, and
    the same steward."""
    return {
        "no_value": {
            "indicator": indicator.id,
            "period": period,
            "from": start.isoformat(),
            "steward": indicator.steward_id,
        }
    }


def holds_meeting(starts_at: datetime, *, channel: str | None = None) -> dict[str, Any]:
    """A digest (and its chart) that speaks of a meeting: that meeting has not started and, with
    `channel`, is still that channel's meeting (not stopped, not moved to another time)."""
    zone = getattr(starts_at.tzinfo, "key", None)
    facts = {"starts_at": starts_at.astimezone(UTC).isoformat(), "zone": zone}
    if channel is not None:
        facts["channel"] = channel
    return {"meeting": facts}


def status_of(session: Session, key: str) -> tuple[str, str]:
    """(status, last error) of the message queued under `key`; ("", "") when there is none."""
    row = session.execute(
        select(OutboxMessage.status, OutboxMessage.last_error).where(
            OutboxMessage.idempotency_key == key
        )
    ).one_or_none()
    if row is None:
        return "", ""
    return str(row.status), row.last_error or ""


def problems(session: Session, team_id: str, *, limit: int = 20) -> list[OutboxMessage]:
    """Messages that will never be sent, newest first, with `last_error` in plain words: failed
    (Slack refused them, or retries were given up) or dropped (no longer true when their turn
    came, e.g. "no longer true, not sent: #12 was marked done").

    For such a row `not_before` is when we gave up or dropped it.
    """
    return list(
        session.scalars(
            select(OutboxMessage)
            .where(
                OutboxMessage.team_id == team_id,
                OutboxMessage.status.in_([OutboxStatus.FAILED, OutboxStatus.DROPPED]),
            )
            .order_by(OutboxMessage.not_before.desc(), OutboxMessage.id.desc())
            .limit(limit)
        )
    )


# --- deliver ----------------------------------------------------------------------------------


@dataclass
class DeliveryReport:
    sent: int = 0  # delivered in this pass (including `found`)
    retrying: int = 0  # will be tried again at a later pass
    failed: int = 0  # given up for good; see problems()
    found: int = 0  # an earlier, interrupted attempt had in fact arrived: marked sent, not re-sent
    dropped: int = 0  # no longer true when their turn came: not sent; see problems()
    seconds: float = 0.0

    def summary(self) -> str:
        parts = [f"sent {self.sent} message{'s' if self.sent != 1 else ''}"]
        if self.found:
            parts.append(f"{self.found} of them already in Slack from an interrupted attempt")
        if self.retrying:
            parts.append(f"{self.retrying} to retry later")
        if self.failed:
            parts.append(f"{self.failed} failed for good (see /commstat settings)")
        if self.dropped:
            parts.append(f"{self.dropped} dropped as no longer true (see /commstat settings)")
        return "Outbox: " + ", ".join(parts) + f" ({self.seconds:.1f} s)."


@dataclass
class _Claimed:
    id: int
    team_id: str
    key: str
    channel: str
    payload: dict[str, Any]
    attempts: int  # the claim token, with id
    created_at: datetime
    previous_error: str | None
    unknown_since: float | None  # an earlier attempt may have arrived; look before sending
    claimed_until: datetime
    relaid: bool = False  # some lines were left out: the payload sent is stored


@dataclass
class _Outcome:
    status: str  # "sent" | "retry" | "failed" | "dropped"
    result_ts: str | None = None
    error: str | None = None
    delay: float = 0.0  # business seconds until the retry
    uncertain: bool = False  # Slack may have received it anyway (timeout, 5xx, crash)
    uncertain_since: float | None = None  # wall-clock time from which to look for it
    found: bool = False
    rate_limited: bool = False
    code: str | None = None  # Slack's error code of a refusal


@dataclass
class _Pass:
    services: Services
    now: datetime
    interval: float
    lease: float
    timeout: float
    real_clock: Callable[[], datetime]
    report: DeliveryReport
    keys: frozenset[str] | None = None  # only these rows (None: every due row)
    clients: dict[str, WebClient] = field(default_factory=dict)
    ims: dict[tuple[str, str], str] = field(default_factory=dict)
    last_post: dict[tuple[str, str], float] = field(default_factory=dict)
    paused_teams: set[str] = field(default_factory=set)

    @property
    def row_budget(self) -> float:
        """The longest one row can take: all its calls timing out, plus the pacing wait."""
        return CALLS_PER_ROW * self.timeout + self.interval + 1.0


def deliver(
    services: Services,
    *,
    now: datetime,
    per_channel_interval: float = 1.0,
    max_seconds: float | None = None,
    lease_seconds: float = LEASE_SECONDS,
    timeout: float = SLACK_TIMEOUT,
    real_clock: Callable[[], datetime] = system_clock,
    keys: Sequence[str] | None = None,
) -> DeliveryReport:
    """Send every due pending message once; see the module docstring for the guarantees.

    `max_seconds` bounds the pass (what is left waits for the next one). `keys` restricts it to
    the messages queued under those idempotency keys. `lease_seconds` and `timeout` are for tests
    that kill a pass or make Slack slow; the defaults suit production.
    """
    state = _Pass(
        services=services,
        now=now,
        interval=per_channel_interval,
        lease=lease_seconds,
        timeout=timeout,
        real_clock=real_clock,
        report=DeliveryReport(),
        keys=frozenset(keys) if keys is not None else None,
    )
    if lease_seconds <= state.row_budget:
        raise ValueError(f"lease_seconds must exceed {state.row_budget:.1f} s for this timeout")
    started = time.monotonic()

    def out_of_time() -> bool:
        return max_seconds is not None and time.monotonic() - started >= max_seconds

    while not out_of_time():
        batch = _claim(state)
        if not batch:
            break
        _send_batch(state, batch, out_of_time)
    state.report.seconds = time.monotonic() - started
    if state.report.sent or state.report.retrying or state.report.failed or state.report.dropped:
        logger.info(state.report.summary())
    return state.report


def _claim(state: _Pass) -> list[_Claimed]:
    """Claim up to BATCH due rows in a short committed transaction.

    Conversations with a row claimed elsewhere are left out, so a conversation is only ever in
    one process's hands: its rows go out in order and paced.
    """
    real_now = state.real_clock()
    until = real_now + timedelta(seconds=state.lease)
    with state.services.sessions.begin() as session:
        if session.get_bind().dialect.name == "postgresql":
            session.execute(select(func.pg_advisory_xact_lock(_CLAIM_LOCK)))
        # Conversation ids are unique enough across workspaces: at worst another team's
        # conversation with the same id waits a moment. (A plain NOT IN keeps the statement
        # flat however many conversations are busy.)
        busy = session.scalars(
            select(OutboxMessage.channel)
            .where(
                OutboxMessage.status == OutboxStatus.PENDING,
                OutboxMessage.claimed_until > real_now,
            )
            .distinct()
        ).all()
        due = [
            OutboxMessage.status == OutboxStatus.PENDING,
            OutboxMessage.not_before <= state.now,
            or_(OutboxMessage.claimed_until.is_(None), OutboxMessage.claimed_until <= real_now),
        ]
        if state.keys is not None:
            due.append(OutboxMessage.idempotency_key.in_(sorted(state.keys)))
        if state.paused_teams:
            due.append(OutboxMessage.team_id.not_in(sorted(state.paused_teams)))
        if busy:
            due.append(OutboxMessage.channel.not_in(busy))
        rows = session.scalars(
            select(OutboxMessage)
            .where(*due)
            .order_by(OutboxMessage.not_before, OutboxMessage.id)
            .limit(BATCH)
            .with_for_update(skip_locked=True)
        ).all()
        claimed: list[_Claimed] = []
        for row in rows:
            since = _unknown_since(row.last_error)
            marker_since = since if since is not None else real_now.timestamp()
            claimed.append(
                _Claimed(
                    id=row.id,
                    team_id=row.team_id,
                    key=row.idempotency_key,
                    channel=row.channel,
                    payload=dict(row.payload),
                    attempts=row.attempts + 1,
                    created_at=row.created_at,
                    previous_error=row.last_error,
                    unknown_since=since,
                    claimed_until=until,
                )
            )
            row.attempts += 1
            row.claimed_until = until
            row.last_error = _unknown(marker_since, "claimed; no answer recorded yet")
    return claimed


def _send_batch(state: _Pass, batch: list[_Claimed], out_of_time: Callable[[], bool]) -> None:
    """Send a claimed batch in order; a conversation that must wait takes its later rows along."""
    waiting: dict[tuple[str, str], datetime] = {}  # conversation -> retry time
    for index, row in enumerate(batch):
        where = (row.team_id, row.channel)
        if out_of_time():
            _release(state, batch[index:])
            return
        if row.team_id in state.paused_teams or where in waiting:
            # Behind a rate limit or a row that must be retried: keep the order, wait with it.
            _release(state, [row], not_before=waiting.get(where))
            continue
        if (row.claimed_until - state.real_clock()).total_seconds() < state.row_budget:
            kept = _renew(state, batch[index:])
            if row.id not in kept:
                logger.warning(
                    "outbox row %s: claim lost before sending; left to its new owner", row.id
                )
                continue
        _pace(state, row)
        outcome = _attempt(state, row)
        if outcome.status != "dropped":  # nothing was posted
            # Counted from the answer, so Slack sees the gap even if a request was slow to arrive.
            state.last_post[where] = time.monotonic()
        _record(state, row, outcome)
        if outcome.rate_limited:
            state.paused_teams.add(row.team_id)  # Slack's limits are per workspace
        if outcome.status == "retry":
            waiting[where] = state.now + timedelta(seconds=outcome.delay)


def _pace(state: _Pass, row: _Claimed) -> None:
    where = (row.team_id, row.channel)
    last = state.last_post.get(where)
    if last is not None:
        wait = state.interval - (time.monotonic() - last)
        if wait > 0:
            time.sleep(wait)


def _renew(state: _Pass, rows: Sequence[_Claimed]) -> set[int]:
    until = state.real_clock() + timedelta(seconds=state.lease)
    kept: set[int] = set()
    with state.services.sessions.begin() as session:
        for row in rows:
            result = session.execute(
                update(OutboxMessage)
                .where(
                    OutboxMessage.id == row.id,
                    OutboxMessage.attempts == row.attempts,
                    OutboxMessage.status == OutboxStatus.PENDING,
                )
                .values(claimed_until=until)
                .execution_options(synchronize_session=False)
            )
            if getattr(result, "rowcount", 0) == 1:
                row.claimed_until = until
                kept.add(row.id)
    return kept


def _release(state: _Pass, rows: Sequence[_Claimed], *, not_before: datetime | None = None) -> None:
    """Give back claimed rows that were not tried: as if this pass never claimed them."""
    if not rows:
        return
    with state.services.sessions.begin() as session:
        for row in rows:
            values: dict[str, Any] = {
                "claimed_until": None,
                "attempts": row.attempts - 1,
                "last_error": row.previous_error,
            }
            if not_before is not None:  # later in (not_before, id) order than the row that failed
                values["not_before"] = not_before
            session.execute(
                update(OutboxMessage)
                .where(
                    OutboxMessage.id == row.id,
                    OutboxMessage.attempts == row.attempts,
                    OutboxMessage.status == OutboxStatus.PENDING,
                )
                .values(**values)
                .execution_options(synchronize_session=False)
            )


def _record(state: _Pass, row: _Claimed, outcome: _Outcome) -> None:
    report = state.report
    where = [
        OutboxMessage.id == row.id,
        OutboxMessage.attempts == row.attempts,
        OutboxMessage.status == OutboxStatus.PENDING,
    ]
    values: dict[str, Any]
    if outcome.status == "sent":
        values = {
            "status": OutboxStatus.SENT,
            "sent_at": state.now,
            "result_ts": outcome.result_ts,
            "claimed_until": None,
            "last_error": None,
        }
        if row.relaid and not outcome.found:
            values["payload"] = row.payload
    elif outcome.status == "dropped":
        values = {
            "status": OutboxStatus.DROPPED,
            "not_before": state.now,
            "claimed_until": None,
            "last_error": outcome.error,
        }
    elif (
        outcome.status == "retry"
        and row.attempts < MAX_ATTEMPTS
        and state.now - row.created_at < GIVE_UP_AFTER
    ):
        rest: datetime | None = None
        error = outcome.error or "unknown error"
        if outcome.uncertain_since is not None:
            # Let a request Slack may still be processing land before anyone looks for it.
            rest = state.real_clock() + timedelta(seconds=3 * state.timeout)
            error = _unknown(outcome.uncertain_since, error)
        values = {
            "not_before": state.now + timedelta(seconds=outcome.delay),
            "claimed_until": rest,
            "last_error": error,
        }
    else:
        reason = outcome.error or "unknown error"
        if outcome.status == "retry":
            reason = (
                f"gave up after {row.attempts} tries over "
                f"{_hours(state.now - row.created_at)}; the last said {reason}"
            )
            if outcome.uncertain_since is not None:
                reason += " (that last try may still have reached Slack)"
        values = {
            "status": OutboxStatus.FAILED,
            "not_before": state.now,
            "claimed_until": None,
            "last_error": reason,
        }
    with state.services.sessions.begin() as session:
        result = session.execute(
            update(OutboxMessage)
            .where(*where)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        recorded = getattr(result, "rowcount", 0) == 1
        if recorded and outcome.status == "failed" and _refuses_person(row, outcome.code):
            repo.mark_unreachable(
                session, row.team_id, row.channel, reason=str(outcome.code), since=state.now
            )
    if not recorded:
        logger.warning(
            "outbox row %s: claim was taken over while sending (outcome %s); the new owner "
            "checks Slack before sending again",
            row.id,
            outcome.status,
        )
        return
    status = values.get("status", OutboxStatus.PENDING)
    if status == OutboxStatus.SENT:
        report.sent += 1
        report.found += int(outcome.found)
    elif status == OutboxStatus.FAILED:
        report.failed += 1
        logger.warning("outbox row %s (%s) failed: %s", row.id, row.key, values["last_error"])
    elif status == OutboxStatus.DROPPED:
        report.dropped += 1
        logger.info("outbox row %s (%s) dropped: %s", row.id, row.key, values["last_error"])
    else:
        report.retrying += 1
        logger.info("outbox row %s: retry in %.0f s: %s", row.id, outcome.delay, outcome.error)


# --- talking to Slack -------------------------------------------------------------------------


def _attempt(state: _Pass, row: _Claimed) -> _Outcome:
    try:
        client = _client(state, row.team_id)
        if row.unknown_since is not None:
            found = _look_for(state, client, row)
            if found is not None:
                logger.info(
                    "outbox row %s was already in Slack (ts %s): not sent again", row.id, found
                )
                return _Outcome("sent", result_ts=found, found=True)
        stale = _still_holds(state, row)
        if stale is not None:
            return stale
        since = state.real_clock().timestamp()
        try:
            return _Outcome("sent", result_ts=_send(state, client, row))
        except Exception as exc:  # classified below
            # Any earlier attempt was looked for and is not in Slack: only this one may be.
            outcome = _classify(exc, row)
            outcome.uncertain_since = since if outcome.uncertain else None
            return outcome
    except Exception as exc:  # no client, or the look-up failed
        outcome = _classify(exc, row)
        if outcome.status == "retry":
            outcome.uncertain_since = row.unknown_since  # the earlier uncertainty stays
        return outcome


# --- still true? -------------------------------------------------------------------------------


def _still_holds(state: _Pass, row: _Claimed) -> _Outcome | None:
    """None when the row may be sent; otherwise the outcome: dropped with the reason, or (when
    the facts cannot be read right now) retried later."""
    holds = row.payload.get(HOLDS)
    parts = row.payload.get(PARTS)
    if not holds and not parts:
        return None
    try:
        with state.services.sessions() as session:  # a read: no write lock, closed before Slack
            why = no_longer_holds(session, row.team_id, holds, now=state.now) if holds else None
            if why is None and parts:
                why = _keep_lines(session, row, parts, now=state.now)
    except _BadPayload as exc:
        logger.error("outbox row %s has malformed holds: %s", row.id, exc)
        return _Outcome("failed", error=_explain("bad_payload"))
    except Exception as exc:
        logger.exception("outbox row %s: could not check that it still holds", row.id)
        outcome = _Outcome(
            "retry",
            error=f"{type(exc).__name__}: could not check that it is still true",
            delay=_backoff(row.attempts),
        )
        outcome.uncertain_since = row.unknown_since  # an earlier uncertainty stays
        return outcome
    if why is None:
        return None
    reason = f"no longer true, not sent: {why}"
    waited = _detail(row.previous_error)
    if waited:
        reason += f" (it had been held back: {waited})"
    return _Outcome("dropped", error=reason)


def _keep_lines(session: Session, row: _Claimed, parts: Any, *, now: datetime) -> str | None:
    """Leave out the lines that no longer hold and lay the message out again; why not to send it
    at all when none is left."""
    if not isinstance(parts, list) or not parts:
        raise _BadPayload("parts must be a non-empty list")
    kept: list[dict[str, Any]] = []
    gone: list[str] = []
    for part in parts:
        why = no_longer_holds(session, row.team_id, part.get(HOLDS) or {}, now=now)
        if why is None:
            kept.append(part)
        else:
            gone.append(why)
    if not kept:
        return "; ".join(gone)
    if gone:
        composer = _COMPOSERS.get(str(row.payload.get("compose")))
        if composer is None:
            raise _BadPayload(f"no composer {row.payload.get('compose')!r}")
        row.payload = composer({**row.payload, PARTS: kept})
        row.relaid = True
        logger.info("outbox row %s: left out %d line(s): %s", row.id, len(gone), "; ".join(gone))
    return None


def no_longer_holds(
    session: Session, team_id: str, holds: dict[str, Any], *, now: datetime
) -> str | None:
    """Why a message planned on `holds` should no longer be sent at `now`, in plain words
    ("#12 was marked done"); None while every fact still holds."""
    if not isinstance(holds, dict):
        raise _BadPayload("holds must be an object")
    try:
        for name, facts in holds.items():
            check = _CHECKS.get(name)
            if check is None:
                raise _BadPayload(f"unknown holds {name!r}")
            why = check(session, team_id, facts, now)
            if why is not None:
                return why
    except (KeyError, TypeError, ValueError) as exc:
        raise _BadPayload(f"malformed holds ({type(exc).__name__}: {exc})") from None
    return None


def _at(value: Any) -> datetime | None:
    if value is None:
        return None
    at = datetime.fromisoformat(str(value))
    if at.tzinfo is None:
        raise ValueError(f"naive time {value!r}")
    return at


def _commitment_holds(
    session: Session, team_id: str, facts: dict[str, Any], now: datetime
) -> str | None:
    number = int(facts["id"])
    commitment = repo.get_commitment(session, team_id, number)
    if commitment is None:
        return f"#{number} no longer exists"
    if commitment.status == CommitmentStatus.DONE:
        return f"#{number} was marked done"
    if commitment.status != CommitmentStatus.OPEN:
        return f"#{number} was dropped"
    if commitment.due_at != _at(facts["due_at"]):
        return f"#{number} is now due {due_text(commitment)}"
    if sorted(commitment.owner_ids) != sorted(str(o) for o in facts["owners"]):
        return f"the owners of #{number} changed"
    snoozed = commitment.snoozed_until
    if snoozed is not None and snoozed > now and snoozed != _at(facts.get("snoozed_until")):
        local = snoozed.astimezone(text.zone(commitment.time_zone))
        return f"#{number} was snoozed until {format_due(local, has_time=True)}"
    return None


def _no_value_holds(
    session: Session, team_id: str, facts: dict[str, Any], now: datetime
) -> str | None:
    indicator = repo.get_indicator(session, team_id, int(facts["indicator"]))
    period = str(facts["period"])
    if indicator is None:
        return f"the indicator it asks about ({period}) no longer exists"
    steward = facts.get("steward")
    if steward is not None and indicator.steward_id != steward:
        return f"{indicator.slug} has another steward now"
    arrived = repo.first_period_from(session, indicator.id, date.fromisoformat(facts["from"]))
    if arrived is not None:
        return f"a value for {indicator.slug} {arrived} arrived"
    return None


def _meeting_holds(
    session: Session, team_id: str, facts: dict[str, Any], now: datetime
) -> str | None:
    starts = _at(facts["starts_at"])
    assert starts is not None
    zone = text.zone(facts.get("zone"))
    local = format_due(starts.astimezone(zone), has_time=True)
    if now >= starts:
        return f"its meeting started at {local} {zone_words(zone.key)}"
    channel = facts.get("channel")
    if channel is None:  # queued before the channel was recorded
        return None
    schedule = meetings.schedule_for(session, team_id, str(channel))
    if schedule is None:
        return f"the meeting of {local} was stopped"
    if meetings.occurrence_after(schedule, starts, inclusive=True) != starts:
        return f"the meeting of {local} was moved ({schedule.description})"
    return None


_CHECKS: dict[str, Callable[[Session, str, dict[str, Any], datetime], str | None]] = {
    "commitment": _commitment_holds,
    "no_value": _no_value_holds,
    "meeting": _meeting_holds,
}
# Who lays a message of lines out again (the payload's "compose").
_COMPOSERS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {MORNING: compose_morning}


def _client(state: _Pass, team_id: str) -> WebClient:
    """The team's client without retry handlers: retrying is this module's job (see above)."""
    client = state.clients.get(team_id)
    if client is None:
        base = state.services.client_for(team_id)
        client = WebClient(
            token=base.token,
            base_url=base.base_url,
            timeout=state.timeout,  # type: ignore[arg-type]  # urllib takes float seconds
            ssl=base.ssl,
            proxy=base.proxy,
            headers=dict(base.headers or {}),
            retry_handlers=[],
        )
        state.clients[team_id] = client
    return client


def _is_person(channel: str) -> bool:
    """A direct message's target: a user id (U…, or W… on Enterprise Grid), not a channel."""
    return channel.startswith(("U", "W"))


def _refuses_person(row: _Claimed, code: str | None) -> bool:
    """Slack refused a direct message because of its recipient, not of the bot or a channel."""
    return code in UNREACHABLE and _is_person(row.channel)


def _conversation(state: _Pass, client: WebClient, row: _Claimed) -> str:
    """A conversation id for the target: a DM's user id becomes the bot's IM channel with them."""
    if not _is_person(row.channel):
        return row.channel
    where = (row.team_id, row.channel)
    if where not in state.ims:
        response = client.conversations_open(users=row.channel)
        state.ims[where] = str(response["channel"]["id"])
    return state.ims[where]


class _BadPayload(Exception):
    """A row that can never be sent as it is (a bug in whatever queued it)."""


def _send(state: _Pass, client: WebClient, row: _Claimed) -> str | None:
    payload = row.payload
    upload = payload.get("file")
    if isinstance(upload, dict):
        try:
            content = base64.b64decode(str(upload["png_b64"]), validate=True)
        except (KeyError, ValueError) as exc:
            raise _BadPayload(f"file without valid png_b64 ({type(exc).__name__})") from None
        response = client.files_upload_v2(
            channel=_conversation(state, client, row),
            content=content,
            filename=_marked_filename(str(upload.get("filename") or "chart.png"), row.key),
            title=upload.get("title"),
            alt_txt=upload.get("alt_text"),
            initial_comment=upload.get("initial_comment") or None,
        )
        file = response.get("file") or {}
        return str(file.get("id")) if file.get("id") else None
    blocks = payload.get("blocks")
    if not isinstance(payload.get("text"), str) or not isinstance(blocks, list | None):
        raise _BadPayload("a message needs text (str) and blocks (list or None)")
    extra = {k: payload[k] for k in ("thread_ts", "unfurl_links", "unfurl_media") if k in payload}
    response = client.chat_postMessage(
        channel=row.channel,
        text=payload["text"],
        blocks=blocks or None,
        metadata={"event_type": METADATA_EVENT, "event_payload": {"key": row.key}},
        **extra,
    )
    return str(response["ts"])


def _look_for(state: _Pass, client: WebClient, row: _Claimed) -> str | None:
    """The ts of this row's message if an earlier, interrupted attempt did post it."""
    assert row.unknown_since is not None
    channel = _conversation(state, client, row)
    upload = row.payload.get("file")
    filename = (
        _marked_filename(str(upload.get("filename") or "chart.png"), row.key)
        if isinstance(upload, dict)
        else None
    )
    try:
        found = history.find_marked(
            client,
            channel,
            since=row.unknown_since,
            event_type=METADATA_EVENT,
            key=row.key,
            filename=filename,
        )
    except history.CannotLook as cannot:
        # We cannot look (not in the channel, scope missing): send rather than lose it.
        logger.warning(
            "outbox row %s: cannot check for an earlier copy (%s); sending, a duplicate "
            "is possible",
            row.id,
            cannot.code,
        )
        return None
    except history.TooLong:
        logger.warning("outbox row %s: history too long to check fully; sending", row.id)
        return None
    return str(found["ts"]) if found is not None else None


def _classify(exc: Exception, row: _Claimed) -> _Outcome:
    """Turn what Slack (or the network) answered into: retry later, or give up now."""
    delay = _backoff(row.attempts)
    if isinstance(exc, NotInstalled):
        return _Outcome("failed", error=_explain("not_installed"))
    if isinstance(exc, SlackApiError):
        status = exc.response.status_code
        code = str(exc.response.get("error", "") or f"http_{status}")
        if status == 429 or code in ("ratelimited", "rate_limited"):
            retry_after = _retry_after(exc.response.headers)
            return _Outcome(
                "retry",
                error=f"{code}: Slack asked us to slow down; retrying after {retry_after:.0f} s",
                delay=retry_after + random.uniform(0, 1),
                rate_limited=True,
            )
        if status >= 500 or code in ("internal_error", "fatal_error"):
            return _Outcome(
                "retry",
                error=f"{code}: Slack had a server error (HTTP {status})",
                delay=delay,
                uncertain=True,
            )
        if code in errors.TRANSIENT:
            return _Outcome("retry", error=f"{code}: Slack was busy", delay=delay)
        return _Outcome("failed", error=_explain(code), code=code)
    if isinstance(exc, SlackRequestError):  # the upload step refused: nothing was shared
        return _Outcome("retry", error=f"upload failed: {exc}", delay=delay)
    if isinstance(exc, _BadPayload):
        logger.error("outbox row %s has a malformed payload: %s", row.id, exc)
        return _Outcome("failed", error=_explain("bad_payload"))
    # Timeouts, refused or dropped connections: Slack may or may not have received it.
    name = type(exc).__name__
    return _Outcome(
        "retry",
        error=f"{name}: no answer from Slack ({str(exc)[:200]})",
        delay=delay,
        uncertain=True,
    )


def _retry_after(headers: Any) -> float:
    for name, value in dict(headers or {}).items():
        if str(name).lower() == "retry-after":
            try:
                return max(float(value if not isinstance(value, list) else value[0]), 1.0)
            except (TypeError, ValueError):
                break
    return 30.0


def _hours(span: timedelta) -> str:
    hours = max(span.total_seconds() / 3600, 0)
    return f"{hours:.0f} hour{'s' if round(hours) != 1 else ''}"


def _backoff(attempt: int) -> float:
    """1, 2, 4 … minutes, capped at an hour, with ±20 % jitter so retries do not bunch up."""
    base = min(BACKOFF_BASE * 2 ** max(attempt - 1, 0), BACKOFF_CAP)
    return base * random.uniform(0.8, 1.2)


def _explain(code: str) -> str:
    reason = errors.for_admins(code)
    return f"{code}: {reason}"


_EXPLAINED = re.compile(r"([a-z0-9_]+): ")


def error_code(last_error: str | None) -> str | None:
    """The error code a message was refused with for good (`last_error` reads `not_in_channel:
    CommStat is not a member…`); None when it failed otherwise (no answer, retries given up)."""
    match = _EXPLAINED.match(last_error or "")
    return match.group(1) if match else None


def _unknown(since: float, detail: str) -> str:
    return f"{_UNKNOWN} {since:.6f}: {detail}"


def _detail(last_error: str | None) -> str:
    """A row's last error without the "outcome unknown since …" marker."""
    error = last_error or ""
    match = _UNKNOWN_RE.match(error)
    return error[match.end() :].lstrip(": ") if match else error


def _unknown_since(last_error: str | None) -> float | None:
    match = _UNKNOWN_RE.match(last_error or "")
    return float(match.group(1)) if match else None


def _marked_filename(filename: str, key: str) -> str:
    """The chart's file name plus a short hash of the key: how we recognise it in history."""
    path = PurePosixPath(filename)
    digest = hashlib.sha256(key.encode()).hexdigest()[:10]
    return f"{path.stem}-{digest}{path.suffix or '.png'}"


__all__ = [
    "HOLDS",
    "PARTS",
    "UNREACHABLE",
    "DeliveryReport",
    "deliver",
    "enqueue",
    "error_code",
    "holds_commitment",
    "holds_meeting",
    "holds_no_value",
    "no_longer_holds",
    "problems",
    "status_of",
    "upload_payload",
]
