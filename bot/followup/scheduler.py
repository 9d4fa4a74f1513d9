"""The scheduler pass: plan what is due at an instant, then send what is waiting.

A pass is `nudges → sources → data freshness → digests → outbox delivery` (sources: catalog
sources whose next period is due are fetched, with no transaction open while downloading, so
that new data is in before stewards are nudged and digests are drawn). Planning only writes outbox
rows with idempotency keys and moves each item's "next look" time forward, so a pass may run at
any instant, in any order, in several processes at once, or be killed half-way: the outbox sends
each message exactly once. Each row also carries what it was planned on, checked again right
before sending: a message no longer true by then (held back by Slack while its commitment was
done, its data arrived, its meeting started) is dropped, not sent. `commstat tick` runs one pass;
`commstat serve` runs one a minute in a BackgroundScheduler thread.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.bootstrap import Services
from bot.followup import digest, freshness, nudges, sources
from bot.followup.sources import SourcesReport
from bot.slack import outbox, people
from bot.usecases.fetch import DEFAULT_LIMITS, FetchLimits

logger = logging.getLogger(__name__)

MAX_BATCHES = 10_000  # a guard: each batch moves its rows past `now`, so this is never reached


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


@dataclass
class PassReport:
    """What one pass did, for `commstat tick` and the logs."""

    now: datetime
    nudges: int = 0  # reminders to owners
    creator_notices: int = 0
    steward_nudges: int = 0
    digests: int = 0
    holiday_notes: int = 0  # "is the meeting still on?" the working day before a holiday
    charts: int = 0  # digest charts shared: part of their digest's message, not counted apart
    examined: int = 0  # commitments looked at
    delivery: Any = None  # outbox.DeliveryReport
    sources: SourcesReport | None = None  # catalog sources fetched
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def planned_nudges(self) -> int:
        return self.nudges + self.creator_notices + self.steward_nudges

    def _delivered(self, name: str) -> int:
        return int(getattr(self.delivery, name, 0) or 0)

    def summary(self) -> str:
        """e.g. "planned 3 nudges, 1 digest; sent 4, retrying 0, failed 0": messages as people
        see them, so a digest and its chart are one ("sent 4 (1 with its chart)")."""
        planned = f"{_plural(self.planned_nudges, 'nudge')}, {_plural(self.digests, 'digest')}"
        if self.holiday_notes:
            planned += f", {_plural(self.holiday_notes, 'holiday note')}"
        sent = f"sent {self._delivered('sent') - self.charts}"
        if self.charts:
            sent += f" ({self.charts} with {'its chart' if self.charts == 1 else 'their charts'})"
        text = (
            f"planned {planned}; {sent}, retrying {self._delivered('retrying')}, "
            f"failed {self._delivered('failed')}"
        )
        if self._delivered("dropped"):
            text += f", dropped {self._delivered('dropped')} no longer true"
        if self.sources is not None and self.sources.fetched:
            text += f"; {self.sources.summary()}"
        if self.errors:
            text += f"; {_plural(len(self.errors), 'step')} failed: {', '.join(self.errors)} (see the log)"
        return text

    @property
    def busy(self) -> bool:
        return bool(
            self.planned_nudges
            or self.digests
            or self.holiday_notes
            or self._delivered("sent")
            or self._delivered("retrying")
            or self._delivered("failed")
            or self._delivered("dropped")
            or (self.sources is not None and self.sources.fetched)
            or self.errors
        )


def run_pass(
    services: Services,
    *,
    now: datetime,
    batch: int = 500,
    per_channel_interval: float = 1.0,
    max_seconds: float | None = None,
    timeout: float = outbox.SLACK_TIMEOUT,
    source_limits: FetchLimits = DEFAULT_LIMITS,
) -> PassReport:
    """One pass at the instant `now`. Each planning step commits on its own (a batch at a time
    for nudges), so a failure in one step neither undoes nor blocks the others; delivery always
    runs, also for messages planned by earlier passes. No Slack call and no chart is made while
    a transaction is open: stewards are looked up before the freshness step, digest charts are
    drawn between the digest step's transactions, and the outbox commits each claim first.
    `timeout` is the outbox's per Slack call (tests shorten it; after a timeout or a 5xx a row
    rests three times that before it is looked for and tried again)."""
    started = time.perf_counter()
    report = PassReport(now=now)
    try:  # asks Slack with no transaction open: an account turned back on gets its reminders
        people.recheck_unreachable(services)
    except Exception:
        logger.exception("scheduler: asking Slack about unreachable people failed")
    try:
        for _ in range(MAX_BATCHES):
            with services.sessions.begin() as session:
                result = nudges.plan_batch(session, now=now, batch=batch)
            report.examined += result.examined
            report.nudges += result.nudges
            report.creator_notices += result.creator_notices
            if result.examined < batch:
                break
    except Exception:
        logger.exception("scheduler: planning nudges failed at %s", now.isoformat())
        report.errors.append("nudges")
    try:  # downloads with no transaction open; tests lower `source_limits`
        report.sources = sources.refresh_due(services, now=now, limits=source_limits)
    except Exception:
        logger.exception("scheduler: fetching sources failed")
        report.errors.append("sources")
    try:
        freshness.learn_stewards(services)  # asks Slack with no transaction open
    except Exception:
        logger.exception("scheduler: looking up stewards' time zones failed")
    try:
        with services.sessions.begin() as session:
            report.steward_nudges = freshness.plan(session, now=now)
    except Exception:
        logger.exception("scheduler: planning data-freshness nudges failed")
        report.errors.append("data freshness")
    try:
        planned = digest.plan_messages(services, now=now)  # charts drawn between transactions
        report.digests, report.holiday_notes = planned.digests, planned.holiday_notes
    except Exception:
        logger.exception("scheduler: planning digests failed")
        report.errors.append("digests")
    try:
        with services.sessions() as session:
            charts = digest.due_charts(session, now)
        report.delivery = outbox.deliver(
            services,
            now=now,
            per_channel_interval=per_channel_interval,
            max_seconds=max_seconds,
            timeout=timeout,
        )
        with services.sessions() as session:
            report.charts = digest.charts_shared(session, charts, now)
    except Exception:
        logger.exception("scheduler: sending failed")
        report.errors.append("sending")
    report.seconds = time.perf_counter() - started
    return report


PassFunction = Callable[..., PassReport]


class BackgroundScheduler:
    """A pass every `interval` seconds (aligned to the clock's minute) in a daemon thread.

    Several `commstat serve` processes may each run one: planning is idempotent and the outbox
    sends each message once. `stop()` lets an in-flight pass finish, then returns.
    """

    def __init__(
        self,
        services: Services,
        *,
        interval: float = 60.0,
        pass_function: PassFunction = run_pass,
    ) -> None:
        self.services = services
        self.interval = interval
        self.pass_function = pass_function
        self.passes = 0
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> BackgroundScheduler:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._loop, name="commstat-scheduler", daemon=True
            )
            self._thread.start()
        return self

    def stop(self, timeout: float | None = 120.0) -> None:
        """Ask the loop to end and wait for it (the current pass, if any, completes)."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                logger.warning("scheduler: the pass did not finish within %s s", timeout)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _delay(self) -> float:
        """Seconds until the next multiple of `interval` on the business clock."""
        stamp = self.services.clock().timestamp()
        delay = self.interval - (stamp % self.interval)
        return delay if delay > 0.001 else self.interval

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                report = self.pass_function(self.services, now=self.services.clock())
                self.passes += 1
                if getattr(report, "busy", False):
                    logger.info("scheduler: %s", report.summary())
            except Exception:
                logger.exception("scheduler: the pass failed; trying again at the next minute")
            self._stopping.wait(self._delay())


__all__ = ["BackgroundScheduler", "PassReport", "run_pass"]
