"""Real processes, real crashes: `commstat serve` killed with SIGKILL right after acknowledging a
burst, then started again; and two `commstat worker` processes sharing one PostgreSQL database.

What a user would notice: every command Slack showed as accepted is answered, exactly once."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select

from bot.sandbox.slack_driver import HttpAnswer, SlackDriver
from storage.models import Commitment, Job, JobStatus
from tests.conftest import BOT_TOKEN, SIGNING_SECRET, TEAM_ID
from tests.e2e.test_serve_process import _free_port, _wait_healthy
from tests.helpers import wait_for

COMMSTAT = [sys.executable, "-m", "bot.cli"]
CHANNEL = "C0MEETING"
TASK = re.compile(r"Task (\d+) of the burst")


def _env(tmp_path: Path, database_url: str, api_url: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SLACK_", "DATABASE_URL", "COMMSTAT_"))
    }
    env.update(
        DATABASE_URL=database_url,
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=api_url,
        MPLCONFIGDIR=str(tmp_path / "mpl"),
    )
    return env


class Served:
    """`commstat serve` (or `worker`) in a process group of its own, logging to a file."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                [*COMMSTAT, *args],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own group: SIGKILL reaches the workers too
            )

    def kill(self) -> None:
        """What a power cut does: every process of the group, with no chance to finish."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=40)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()

    def text(self) -> str:
        return self.log.read_text(errors="replace")


def _serve(tmp_path: Path, env: dict[str, str], port: int, *extra: str) -> Served:
    args = ["serve", "--port", str(port), "--host", "127.0.0.1", "--no-scheduler", *extra]
    served = Served(args, env, tmp_path / "serve.log")
    _wait_healthy(f"http://127.0.0.1:{port}", served.process, seconds=30)
    return served


def _burst(driver: SlackDriver, texts: list[str]) -> list[HttpAnswer]:
    """All at once, as a meeting types: one thread per command, released together."""
    answers: list[HttpAnswer | None] = [None] * len(texts)
    gate = threading.Barrier(len(texts))

    def send(i: int) -> None:
        gate.wait()
        answers[i] = driver.command("/commit", texts[i], user="U0MARIA", channel=CHANNEL)

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(texts))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert all(a is not None for a in answers)
    return [a for a in answers if a is not None]


def _confirmations(fake: Any) -> Counter[int]:
    """How many times each task of the burst was confirmed in the channel."""
    seen: Counter[int] = Counter()
    for message in fake.messages(CHANNEL):
        found = TASK.search(str(message.get("text", "")))
        if found:
            seen[int(found[1])] += 1
    return seen


def _stored(database_url: str) -> list[str]:
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            return list(conn.scalars(select(Commitment.text)))
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    "database", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_serve_killed_right_after_acking_a_burst_answers_every_command_once_after_restart(
    tmp_path, fake_slack, request, database
):
    database_url = request.getfixturevalue(f"{database}_url")
    env = _env(tmp_path, database_url, fake_slack.api_url)
    port = _free_port()
    served = _serve(tmp_path, env, port, "--workers", "2")
    driver = SlackDriver(
        f"http://127.0.0.1:{port}/slack/events",
        SIGNING_SECRET,
        TEAM_ID,
        response_url_for=fake_slack.response_url,
    )
    try:
        # The workers are up (an answer came back) before the burst, so the kill finds work in
        # their hands, not only jobs nobody started.
        driver.command("/commit", "Warm up by Friday", user="U0MARIA", channel=CHANNEL)
        wait_for(lambda: fake_slack.calls_to("chat.postMessage"), timeout=60)
        texts = [f"Task {n} of the burst by Friday" for n in range(20)]
        answers = _burst(driver, texts)
        assert [a.status for a in answers] == [200] * 20  # Slack showed all 20 as accepted
        assert max(a.seconds for a in answers) < 3
        served.kill()
        answered_before = sum(_confirmations(fake_slack).values())
        stored_before = len(_stored(database_url))

        served = _serve(tmp_path, env, port, "--workers", "2")
        wait_for(lambda: len(_confirmations(fake_slack)) == 20, timeout=60)
        time.sleep(1.0)  # time for a (wrong) second answer to arrive
    finally:
        served.stop()
    confirmations = _confirmations(fake_slack)
    assert sorted(confirmations) == list(range(20))
    assert set(confirmations.values()) == {1}, confirmations  # none twice
    stored = _stored(database_url)
    assert sorted(t for t in stored if TASK.search(t)) == sorted(
        t.removesuffix(" by Friday") for t in texts
    )  # each stored once
    assert "Traceback" not in served.text()
    # The kill really interrupted the burst (otherwise this test proves nothing).
    assert answered_before < 20 or stored_before < 21, (answered_before, stored_before)


@pytest.mark.postgres
def test_two_worker_processes_on_one_postgresql_database_do_every_job_once(
    tmp_path, fake_slack, postgres_url
):
    env = _env(tmp_path, postgres_url, fake_slack.api_url)
    port = _free_port()
    front = _serve(tmp_path, env, port, "--workers", "0")  # stores and acks; no workers here
    workers = [
        Served(["worker", "--no-scheduler", "--name", f"w{i}"], env, tmp_path / f"worker{i}.log")
        for i in (1, 2)
    ]
    driver = SlackDriver(
        f"http://127.0.0.1:{port}/slack/events",
        SIGNING_SECRET,
        TEAM_ID,
        response_url_for=fake_slack.response_url,
    )
    try:
        wait_for(lambda: all("taking jobs" in w.text() for w in workers), timeout=60)
        texts = [f"Task {n} of the burst by Friday" for n in range(30)]
        answers = _burst(driver, texts)
        assert [a.status for a in answers] == [200] * 30
        wait_for(lambda: len(_confirmations(fake_slack)) == 30, timeout=60)
        time.sleep(1.0)
    finally:
        for worker in workers:
            worker.stop()
        front.stop()
    assert set(_confirmations(fake_slack).values()) == {1}
    assert sorted(_stored(postgres_url)) == sorted(t.removesuffix(" by Friday") for t in texts)
    engine = create_engine(postgres_url)
    try:
        with engine.connect() as conn:
            jobs = conn.execute(select(Job.status, Job.claimed_by, Job.attempts)).all()
    finally:
        engine.dispose()
    assert len(jobs) == 30
    assert {j.status for j in jobs} == {JobStatus.DONE}
    assert {j.attempts for j in jobs} == {1}  # no job was taken twice
    assert {str(j.claimed_by).rsplit(":", 1)[-1] for j in jobs} == {"w1", "w2"}  # both worked
