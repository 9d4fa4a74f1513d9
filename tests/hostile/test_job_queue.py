"""Hostile use of the durable job queue (bot/slack/jobs.py, storage/jobs.py)."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from bot.bootstrap import system_clock
from bot.slack.jobs import FORM_ACK_WAIT, WorkerThreads
from storage import jobs as job_store
from storage.models import Commitment, Job, JobStatus
from tests.helpers import all_text, wait_for

CHANNEL = "C0MEETING"


@pytest.fixture
def workers(request: pytest.FixtureRequest, _served_apps: Any) -> WorkerThreads:
    callspec = getattr(request.node, "callspec", None)
    kind = callspec.params.get("bot", "sqlite") if callspec is not None else "sqlite"
    return _served_apps(request, kind).workers


def jobs_of(bot) -> list[Job]:
    with bot.services.sessions() as session:
        return list(session.scalars(select(Job).order_by(Job.id)).all())


def commitments(bot) -> list[Commitment]:
    with bot.services.sessions() as session:
        return list(session.scalars(select(Commitment).order_by(Commitment.id)).all())


def new_commitment_form(date: str, what: str = "Open the warming center") -> dict[str, Any]:
    return {
        "what": {"value": {"type": "plain_text_input", "value": what}},
        "owners": {"value": {"type": "multi_users_select", "selected_users": ["U0LEE"]}},
        "due": {"value": {"type": "datepicker", "selected_date": date}},
        "channel": {"value": {"type": "conversations_select", "selected_conversation": CHANNEL}},
    }


def submission(view_id: str, values: dict[str, Any], *, view_hash: str) -> dict[str, Any]:
    """A view_submission as Slack sends it: the same view keeps its id and hash while it stays
    open (Slack changes the hash only when the app updates the view)."""
    return {
        "type": "view_submission",
        "user": {"id": "U0MARIA", "team_id": "T0COALITION"},
        "trigger_id": f"{uuid.uuid4().hex[:12]}.trigger",
        "view": {
            "id": view_id,
            "hash": view_hash,
            "type": "modal",
            "callback_id": "new_commitment",
            "private_metadata": "",
            "state": {"values": values},
        },
    }


@pytest.mark.xfail(strict=True, reason="x")
def test_a_form_fixed_after_its_field_errors_is_saved_not_answered_with_the_old_errors(bot):
    view_id = "V" + uuid.uuid4().hex[:10].upper()
    first = bot.driver.interaction(
        submission(view_id, new_commitment_form("2026-11-01"), view_hash="1764000000.AbCd")
    )
    assert first.json()["response_action"] == "errors"
    assert "due" in first.json()["errors"]
    # The person fixes the date and presses Create again: same view, same hash, new values.
    second = bot.driver.interaction(
        submission(view_id, new_commitment_form("2026-12-04"), view_hash="1764000000.AbCd")
    )
    assert second.status == 200
    assert not second.body, second.body  # the form closes
    wait_for(lambda: commitments(bot), timeout=5)


def nested(depth: int) -> Any:
    value: Any = "x"
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize("DEPTH", [900, 930, 960, 980, 995])
def test_poison(sqlite_bot, DEPTH):
    bot = sqlite_bot
    group = job_store._group_commit(bot.services.engine)
    answers: dict[str, Any] = {}
    payload = bot.driver.command_payload("/commit", "list", user="U0MARIA", channel=CHANNEL)

    def honest() -> None:
        answers["honest"] = bot.driver.send_form(payload)

    def poison() -> None:
        answers["poison"] = bot.driver.event(
            {"type": "app_home_opened", "user": "U0LEE", "tab": "home", "x": nested(DEPTH)}
        )

    with group.turn:
        threads = [threading.Thread(target=f) for f in (honest, poison)]
        for t in threads:
            t.start()
        wait_for(lambda: len(group.queue) == 2, timeout=5)
    for t in threads:
        t.join()
    print(answers)
    assert answers["honest"].status == 200
