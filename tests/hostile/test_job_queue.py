"""Hostile use of the durable job queue (bot/slack/jobs.py, storage/jobs.py): what a person, a
burst, a crash or a careless operator can do to it, through the served app.

A strict xfail records a problem found (its reason says where); it turns XPASS once fixed. The
passing tests are attacks the code resists, kept for what a person would notice: a burst of forms
while the workers are busy does not delay anyone's command past Slack's 3 s; a modal that can no
longer open says so at once; a late answer quotes the command inertly.
"""

from __future__ import annotations

import threading
import time
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update

from bot.bootstrap import system_clock
from bot.slack.jobs import FORM_ACK_WAIT
from bot.slack.worker import HOST, _alive
from storage import jobs as job_store
from storage.models import Commitment, Job, JobStatus
from tests.helpers import all_text, jobs_of, wait_for

CHANNEL = "C0MEETING"
FRONT_THREADS = 4  # the served app's waitress threads (tests/conftest.py); `serve` has 8
NOT_A_PID = 2**22 + 1  # above Linux's largest pid: no process here has it


def set_job(bot, job_id: int, **values: Any) -> None:
    with bot.services.sessions.begin() as session:
        session.execute(update(Job).where(Job.id == job_id).values(**values))


def commitments(bot) -> list[Commitment]:
    with bot.services.sessions() as session:
        return list(session.scalars(select(Commitment).order_by(Commitment.id)).all())


def make_commitment(bot) -> Commitment:
    answer = bot.driver.command(
        "/commit", "Call the shelter by Friday", user="U0MARIA", channel=CHANNEL
    )
    assert answer.status == 200
    return wait_for(lambda: (c := commitments(bot)) and c[-1].message_ts and c[-1])


def new_commitment_values(date: str) -> dict[str, Any]:
    return {
        "what": {"value": {"type": "plain_text_input", "value": "Open the warming center"}},
        "owners": {"value": {"type": "multi_users_select", "selected_users": ["U0LEE"]}},
        "due": {"value": {"type": "datepicker", "selected_date": date}},
        "channel": {"value": {"type": "conversations_select", "selected_conversation": CHANNEL}},
    }


def submission(view_id: str, values: dict[str, Any]) -> dict[str, Any]:
    """A view_submission as Slack sends it. A modal keeps its id and its hash while it stays
    open: Slack changes the hash only when the app updates the view, and field errors do not."""
    return {
        "type": "view_submission",
        "user": {"id": "U0MARIA", "team_id": "T0COALITION"},
        "trigger_id": f"{uuid.uuid4().hex[:12]}.trigger",
        "view": {
            "id": view_id,
            "hash": "1764000000.AbCdEf12",
            "type": "modal",
            "callback_id": "new_commitment",
            "private_metadata": "",
            "state": {"values": values},
        },
    }


# --- a form corrected after its field errors ----------------------------------------------------


def test_a_form_corrected_after_its_field_errors_is_saved(bot):
    view_id = "V" + uuid.uuid4().hex[:10].upper()
    first = bot.driver.interaction(submission(view_id, new_commitment_values("2026-11-01")))
    assert first.json()["response_action"] == "errors"
    assert "in the past" in first.json()["errors"]["due"]

    # The person picks a later date in the same form and presses Create again.
    fixed = bot.driver.interaction(submission(view_id, new_commitment_values("2026-12-04")))
    assert fixed.status == 200
    # Now: {"response_action": "errors", "errors": {"due": "that date is in the past (Sun,
    # Nov 1, 2026)"}} — a date they no longer chose; the form can never be saved.
    assert not fixed.body, fixed.body
    made = wait_for(lambda: commitments(bot), timeout=5)
    assert made[0].text == "Open the warming center"


# --- a burst of forms while the workers are busy -------------------------------------------------


def test_forms_waiting_for_busy_workers_do_not_starve_other_peoples_commands(sqlite_bot, workers):
    bot = sqlite_bot
    answers: list[Any] = []

    def submit() -> None:
        answers.append(
            bot.driver.submit_view(
                "commitment_note",
                {"note": {"text": {"value": "Director says yes"}}},
                user="U0LEE",
                private_metadata="4242|",
            )
        )

    with workers.held():  # the workers are busy (a burst of /indicator charts, say)
        forms = [threading.Thread(target=submit) for _ in range(2 * FRONT_THREADS)]
        for form in forms:
            form.start()
        time.sleep(0.3)  # the forms are in, each waiting for a worker's answer
        command = bot.driver.command("/commit", "list", user="U0MARIA", channel=CHANNEL)
        for form in forms:
            form.join()
    assert command.status == 200
    # Before d018b60 every form held a request thread for FORM_ACK_WAIT: the command behind
    # two rounds of them was acknowledged after ~4.8 s. Now at most three forms wait for a
    # worker; the others, and the command, are acknowledged at once.
    assert len(answers) == 2 * FRONT_THREADS
    assert all(a.status == 200 for a in answers)
    waited = [a for a in answers if a.seconds >= FORM_ACK_WAIT]
    assert 1 <= len(waited) <= 3, sorted(a.seconds for a in answers)
    workers.settle()
    refusals = bot.slack.messages("U0LEE")  # every form's refusal still reaches its person
    assert len(refusals) == 2 * FRONT_THREADS
    assert all("Your form was not saved" in all_text(m) for m in refusals)


# --- a modal opened by a job that waited ---------------------------------------------------------


def test_add_note_behind_a_three_second_queue_tells_the_person_at_once(sqlite_bot, workers):
    bot = sqlite_bot
    commitment = make_commitment(bot)
    workers.settle()
    answer_key = uuid.uuid4().hex[:12]
    click = bot.driver.click_payload(
        "commit_note",
        user="U0MARIA",
        value=str(commitment.id),
        channel=CHANNEL,
        message_ts=commitment.message_ts,
        trigger_id=bot.slack.new_trigger_id(),  # valid for 3 s, as Slack's
        response_key=answer_key,
    )
    with workers.held():
        assert bot.driver.interaction(click).status == 200
        time.sleep(3.2)  # the job waits its turn behind others
    told = wait_for(lambda: bot.slack.responses(answer_key))
    workers.settle()
    # The form cannot open any more (its trigger id expired after 3 s): the person hears so at
    # once and how to go on, rather than a generic "gave up" after three pointless tries.
    assert "too busy to open the form" in all_text(told[0])
    [job] = jobs_of(bot, "on_note_button")
    assert (job.status, job.attempts) == (JobStatus.DONE, 1)
    assert bot.slack.messages("U0MARIA") == []


# --- a job that kills its worker ------------------------------------------------------------------


def test_a_job_that_crashed_its_worker_ten_times_is_given_up_and_its_person_told(sqlite_bot):
    bot = sqlite_bot
    payload = bot.driver.command_payload("/commit", "list", user="U0MARIA", channel=CHANNEL)
    key = f"on_commit|command:{payload['trigger_id']}"
    now = system_clock()
    job_store.enqueue(
        bot.services.engine,
        request_key=key,
        team_id="T0COALITION",
        listener="on_commit",
        request={"body": payload},
        now=now,
    )
    [job] = jobs_of(bot)
    # As after ten claims whose worker process died each time before finishing.
    set_job(
        bot,
        job.id,
        status=JobStatus.WORKING,
        attempts=10,
        claimed_by="otherhost:4242:worker-1",
        claimed_until=now - timedelta(seconds=1),
    )
    done = wait_for(
        lambda: (j := jobs_of(bot)[0]).status in (JobStatus.DONE, JobStatus.FAILED) and j
    )
    assert done.status is JobStatus.FAILED  # now: DONE, claimed and run an 11th time
    assert "something went wrong" in all_text(wait_for(lambda: bot.slack.messages("U0MARIA"))[0])


# --- two machines with one host name -----------------------------------------------------------


def test_a_live_claim_of_a_same_named_host_is_not_taken_from_it(sqlite_bot):
    bot = sqlite_bot
    now = system_clock()
    job_store.enqueue(
        bot.services.engine,
        request_key="on_commit|command:elsewhere.trigger",
        team_id="T0COALITION",
        listener="on_commit",
        request={"body": {}},
        now=now,
    )
    [job] = jobs_of(bot)
    # A worker process on the other machine called HOST holds it for another minute.
    set_job(
        bot,
        job.id,
        status=JobStatus.WORKING,
        attempts=1,
        # The same host name as ours, but another machine: its boot id and PID namespace differ.
        claimed_by=f"{HOST.split('~')[0]}~0123456789:{NOT_A_PID}:worker-1",
        claimed_until=now + timedelta(seconds=60),
    )
    released = job_store.release_orphans(
        bot.services.sessions, host=HOST, alive=_alive, now=system_clock()
    )
    assert released == 0
    assert jobs_of(bot)[0].status is JobStatus.WORKING


# --- late answers quote what the person typed ------------------------------------------------------


def test_a_late_answer_quotes_the_command_without_live_mentions_or_links(sqlite_bot, workers):
    bot = sqlite_bot
    typed = "list <!channel> <https://evil.example/login|Slack sign-in>"
    with workers.held():
        payload = bot.driver.command_payload("/commit", typed, user="U0MARIA", channel=CHANNEL)
        assert bot.driver.send_form(payload).status == 200
        [job] = jobs_of(bot)
        set_job(bot, job.id, created_at=system_clock() - timedelta(minutes=31))
    dm = wait_for(lambda: bot.slack.messages("U0MARIA"))
    workers.settle()
    seen = all_text(dm[0])
    assert "⏰ Sorry, this is late" in seen
    assert "<!channel>" not in seen and "<https://" not in seen
    assert "@\u2060channel" in seen  # shown, inert
