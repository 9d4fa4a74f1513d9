"""The background scheduler of `commstat serve`: a pass a minute, survives errors, stops cleanly."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from types import SimpleNamespace

from bot.followup.scheduler import BackgroundScheduler, PassReport


def test_a_failing_pass_is_logged_and_the_next_one_still_runs(caplog):
    calls: list[datetime] = []

    def flaky(services, *, now):
        calls.append(now)
        if len(calls) == 1:
            raise RuntimeError("database went away")
        return PassReport(now=now)

    services = SimpleNamespace(clock=lambda: datetime.now(UTC))
    scheduler = BackgroundScheduler(services, interval=0.05, pass_function=flaky).start()
    deadline = time.monotonic() + 5
    while len(calls) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    scheduler.stop()
    assert len(calls) >= 3
    assert not scheduler.running
    assert "the pass failed" in caplog.text


def test_stop_lets_the_pass_in_flight_finish():
    started, finished = threading.Event(), threading.Event()

    def slow(services, *, now):
        started.set()
        time.sleep(0.3)
        finished.set()
        return PassReport(now=now)

    services = SimpleNamespace(clock=lambda: datetime.now(UTC))
    scheduler = BackgroundScheduler(services, interval=60, pass_function=slow).start()
    assert started.wait(5)
    scheduler.stop()
    assert finished.is_set()
    assert scheduler.passes == 1
    assert not scheduler.running


def test_the_summary_reads_like_a_sentence():
    report = PassReport(
        now=datetime(2026, 11, 24, tzinfo=UTC), nudges=2, steward_nudges=1, digests=1
    )
    report.delivery = SimpleNamespace(sent=4, retrying=0, failed=0)
    assert report.summary() == "planned 3 nudges, 1 digest; sent 4, retrying 0, failed 0"
