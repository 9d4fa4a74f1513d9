"""The job queue: Slack requests stored before their ack, claimed by worker processes.

The rules, and why (the outbox, storage of the scheduler's messages, follows the same ones):

* **Stored before the ack.** `enqueue` commits the request under its `request_key` (the identity
  of the Slack request and listener) before the acknowledging process answers Slack: a command
  Slack saw acknowledged is on disk. A retry of the same request finds the key taken and adds
  nothing, so it is never carried out twice.
* **Claims** are short transactions: on SQLite one writer at a time (`BEGIN IMMEDIATE`, see
  storage/db.py), on PostgreSQL `FOR UPDATE SKIP LOCKED`, so two workers never take one job. A
  claim sets `attempts += 1`; `(id, attempts)` is the claim token, and a result is written only
  while `attempts` still equals it (a job taken over by another worker is no longer ours).
* **Crash safety.** A claim lasts `lease` seconds of wall-clock time and is renewed while the job
  runs; a worker that dies leaves its job to be claimed again when the claim runs out, or at once
  by a worker on the same host that sees the claiming process is gone (`release_orphans`).
  What the job already sent to Slack is in its `journal`: a job run again replays those answers
  instead of sending them again.
* **Wall-clock time** throughout (`now` is the real time, never the business clock that tests and
  `tick --now` move): claims protect a job against other processes running right now.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Engine, Table, and_, delete, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from storage.models import Job, JobStatus

MAX_ATTEMPTS = 3  # a job that raises on every try is given up (a crash is not a try that raised)
MAX_CLAIMS = 10  # a job whose worker died this many times while running it is given up too
ACK_GIVEN = "given"  # a worker's acknowledgement of a form is there to take
ACK_GONE = "gone"  # nobody waits for one: the request was acknowledged already


@dataclass(frozen=True)
class ClaimedJob:
    id: int
    attempts: int  # the claim token, with id
    request_key: str
    team_id: str | None
    listener: str
    request: dict[str, Any]
    journal: dict[str, Any]
    created_at: datetime
    given_up: bool = False  # claimed only to be given up (see MAX_CLAIMS): do not run it


def enqueue(
    engine: Engine,
    *,
    request_key: str,
    team_id: str | None,
    listener: str,
    request: dict[str, Any],
    now: datetime,
    waits_for_ack: bool = False,
) -> bool:
    """Store one acknowledged request; False when the same request was stored before (a retry).
    Committed when this returns: the caller may acknowledge it."""
    values = {
        "request_key": request_key,
        "team_id": team_id,
        "listener": listener,
        "request": request,
        "status": JobStatus.WAITING,
        "attempts": 0,
        "not_before": now,
        "journal": {},
        "ack_state": None if waits_for_ack else ACK_GONE,
        "created_at": now,
    }
    return _group_commit(engine).store(engine, values)


class _Waiting:
    def __init__(self, values: dict[str, Any]) -> None:
        self.values = values
        self.done = False
        self.stored = False
        self.error: BaseException | None = None


class _GroupCommit:
    """Jobs stored by many request threads at once share transactions: the thread that gets the
    turn commits every job waiting by then, in one transaction, and the others find theirs done.
    In a burst this turns a hundred commits (and, on SQLite, a hundred threads sleeping in the
    busy handler for the one write lock) into a few."""

    def __init__(self) -> None:
        self.turn = threading.Lock()
        self.queue_lock = threading.Lock()
        self.queue: list[_Waiting] = []

    def store(self, engine: Engine, values: dict[str, Any]) -> bool:
        mine = _Waiting(values)
        with self.queue_lock:
            self.queue.append(mine)
        with self.turn:
            if not mine.done:
                with self.queue_lock:
                    batch, self.queue = self.queue, []
                self._commit(engine, batch)
        if mine.error is not None:
            raise mine.error
        return mine.stored

    def _commit(self, engine: Engine, batch: list[_Waiting]) -> None:
        statement = _INSERTS[engine.dialect.name == "postgresql"]
        try:
            with engine.begin() as conn:
                for waiting in batch:
                    waiting.stored = bool(conn.execute(statement, waiting.values).rowcount)
        except Exception as error:  # every request of the batch is refused (not acknowledged)
            for waiting in batch:
                waiting.error = error
        for waiting in batch:
            waiting.done = True


# Built once (a statement per request costs more than the insert): a retry's key is taken.
_INSERTS = {
    postgres: (postgresql.insert if postgres else sqlite.insert)(
        cast(Table, Job.__table__)
    ).on_conflict_do_nothing(index_elements=["request_key"])
    for postgres in (False, True)
}
_GROUPS: weakref.WeakKeyDictionary[Engine, _GroupCommit] = weakref.WeakKeyDictionary()
_GROUPS_LOCK = threading.Lock()


def _group_commit(engine: Engine) -> _GroupCommit:
    with _GROUPS_LOCK:
        group = _GROUPS.get(engine)
        if group is None:
            group = _GROUPS[engine] = _GroupCommit()
        return group


def _claimable(now: datetime) -> Any:
    return or_(
        and_(Job.status == JobStatus.WAITING, Job.not_before <= now),
        and_(Job.status == JobStatus.WORKING, Job.claimed_until <= now),
    )


def has_work(sessions: sessionmaker[Session], now: datetime) -> bool:
    """A cheap read (no write lock on SQLite): is any job ready to be claimed?"""
    with sessions() as session:
        return session.scalar(select(Job.id).where(_claimable(now)).limit(1)) is not None


def claim(
    sessions: sessionmaker[Session], *, worker: str, now: datetime, lease: float
) -> ClaimedJob | None:
    """The oldest ready job, now this worker's for `lease` seconds; None when there is none."""
    with sessions.begin() as session:
        row = session.scalars(
            select(Job)
            .where(_claimable(now))
            .order_by(Job.not_before, Job.id)
            .limit(1)
            .with_for_update(skip_locked=True)
        ).first()
        if row is None:
            return None
        given_up = row.attempts >= MAX_CLAIMS  # it took its worker down every time: not again
        row.status = JobStatus.FAILED if given_up else JobStatus.WORKING
        row.attempts += 1
        if given_up:
            row.finished_at = now
            row.last_error = (
                f"its worker stopped {row.attempts - 1} times while running it (killed, out of "
                "memory?); given up"
            )
        row.claimed_until = now + timedelta(seconds=lease)
        row.claimed_by = worker[:100]
        return ClaimedJob(
            id=row.id,
            attempts=row.attempts,
            request_key=row.request_key,
            team_id=row.team_id,
            listener=row.listener,
            request=dict(row.request),
            journal=dict(row.journal or {}),
            created_at=row.created_at,
            given_up=given_up,
        )


def _ours(job: ClaimedJob) -> Any:
    return and_(Job.id == job.id, Job.attempts == job.attempts, Job.status == JobStatus.WORKING)


def renew(sessions: sessionmaker[Session], job: ClaimedJob, *, now: datetime, lease: float) -> bool:
    """Keep the claim; False when it was lost (another worker took the job over)."""
    with sessions.begin() as session:
        changed = session.execute(
            update(Job).where(_ours(job)).values(claimed_until=now + timedelta(seconds=lease))
        )
        return bool(changed.rowcount)  # type: ignore[attr-defined]


def record(sessions: sessionmaker[Session], job: ClaimedJob, journal: dict[str, Any]) -> bool:
    """Write what the job has sent so far; False when the claim was lost."""
    with sessions.begin() as session:
        changed = session.execute(update(Job).where(_ours(job)).values(journal=journal))
        return bool(changed.rowcount)  # type: ignore[attr-defined]


def finish(sessions: sessionmaker[Session], job: ClaimedJob, *, now: datetime) -> bool:
    with sessions.begin() as session:
        changed = session.execute(
            update(Job)
            .where(_ours(job))
            .values(status=JobStatus.DONE, finished_at=now, claimed_until=None, last_error=None)
        )
        return bool(changed.rowcount)  # type: ignore[attr-defined]


def retry_or_fail(
    sessions: sessionmaker[Session], job: ClaimedJob, *, error: str, now: datetime, delay: float
) -> JobStatus | None:
    """After the job raised: wait `delay` seconds and try again, or give up after MAX_ATTEMPTS.
    The new status, or None when the claim was lost."""
    status = JobStatus.FAILED if job.attempts >= MAX_ATTEMPTS else JobStatus.WAITING
    with sessions.begin() as session:
        changed = session.execute(
            update(Job)
            .where(_ours(job))
            .values(
                status=status,
                claimed_until=None,
                not_before=now + timedelta(seconds=delay),
                last_error=error[:2000],
                finished_at=now if status is JobStatus.FAILED else None,
            )
        )
        return status if changed.rowcount else None  # type: ignore[attr-defined]


def give_ack(sessions: sessionmaker[Session], job_id: int, body: dict[str, Any]) -> bool:
    """A worker's acknowledgement of a form, for the waiting acknowledgement to take; False when
    nobody waits for it any more (the form was already acknowledged without it). True also when
    an earlier run of the job gave one: the person saw that one."""
    with sessions.begin() as session:
        changed = session.execute(
            update(Job)
            .where(Job.id == job_id, Job.ack_state.is_(None))
            .values(ack=body, ack_state=ACK_GIVEN)
        )
        if changed.rowcount:  # type: ignore[attr-defined]
            return True
        return session.scalar(select(Job.ack_state).where(Job.id == job_id)) == ACK_GIVEN


def take_ack(
    sessions: sessionmaker[Session], request_key: str
) -> tuple[bool, dict[str, Any] | None]:
    """(answered, the worker's ack body) of a job whose acknowledgement waits: answered is True
    once a worker gave its ack."""
    with sessions() as session:
        row = session.execute(
            select(Job.ack_state, Job.ack).where(Job.request_key == request_key)
        ).first()
    if row is None or row.ack_state != ACK_GIVEN:
        return False, None
    return True, row.ack


def stop_waiting_for_ack(sessions: sessionmaker[Session], request_key: str) -> bool:
    """The waiting acknowledgement gives up; False when a worker's ack arrived just before."""
    with sessions.begin() as session:
        changed = session.execute(
            update(Job)
            .where(Job.request_key == request_key, Job.ack_state.is_(None))
            .values(ack_state=ACK_GONE)
        )
        return bool(changed.rowcount)  # type: ignore[attr-defined]


def release_orphans(
    sessions: sessionmaker[Session], *, host: str, alive: Any, now: datetime
) -> int:
    """Jobs claimed on this host by a process that no longer runs (`alive(pid)` is False): they
    wait again at once instead of when their claim runs out."""
    prefix = f"{host}:"
    with sessions() as session:  # a read first: a write lock only when there is work
        rows = session.execute(
            select(Job.id, Job.claimed_by).where(
                Job.status == JobStatus.WORKING, Job.claimed_by.startswith(prefix)
            )
        ).all()
    dead = [
        row
        for row in rows
        if not _alive(alive, str(row.claimed_by).removeprefix(prefix).split(":", 1)[0])
    ]
    if not dead:
        return 0
    released = 0
    with sessions.begin() as session:
        for row in dead:  # still claimed by the same dead process (no one took it meanwhile)
            changed = session.execute(
                update(Job)
                .where(
                    Job.id == row.id,
                    Job.status == JobStatus.WORKING,
                    Job.claimed_by == row.claimed_by,
                )
                .values(status=JobStatus.WAITING, claimed_until=None, not_before=now)
            )
            released += changed.rowcount  # type: ignore[attr-defined]
    return released


def _alive(alive: Any, pid: str) -> bool:
    return not pid.isdigit() or bool(alive(int(pid)))


@dataclass(frozen=True)
class QueueState:
    waiting: int
    working: int
    failed: int
    oldest_waiting_seconds: float | None


def state(sessions: sessionmaker[Session], *, now: datetime) -> QueueState:
    """For /healthz: how many jobs wait, run and failed, and how long the oldest has waited."""
    with sessions() as session:
        counts = dict(
            session.execute(
                select(Job.status, func.count())
                .where(Job.status.in_([JobStatus.WAITING, JobStatus.WORKING, JobStatus.FAILED]))
                .group_by(Job.status)
            ).all()
        )
        oldest = session.scalar(
            select(func.min(Job.created_at)).where(Job.status == JobStatus.WAITING)
        )
    return QueueState(
        waiting=counts.get(JobStatus.WAITING, 0),
        working=counts.get(JobStatus.WORKING, 0),
        failed=counts.get(JobStatus.FAILED, 0),
        oldest_waiting_seconds=(now - oldest).total_seconds() if oldest is not None else None,
    )


def purge(session: Session, *, before: datetime) -> int:
    """Forget finished jobs (their payloads hold people's words) created before `before`."""
    deleted = session.execute(
        delete(Job).where(
            Job.status.in_([JobStatus.DONE, JobStatus.FAILED]), Job.created_at < before
        )
    )
    return int(deleted.rowcount)  # type: ignore[attr-defined]
