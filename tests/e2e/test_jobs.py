"""The durable job queue end to end (bot/slack/jobs.py, storage/jobs.py), over the signed HTTP path.

The served app's front stores each Slack request as a job before its ack; its worker threads run
the jobs. These tests check what a person would notice: a Slack retry is answered once, an answer
that comes after the response URL expired arrives by DM and says it is late, a form whose result
comes too late is explained by DM, a job run again after a crash does not send twice, and
/healthz shows the queue.
"""

from __future__ import annotations

import json
import time
import urllib.request
import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from bot.bootstrap import system_clock
from bot.slack.jobs import FORM_ACK_WAIT
from storage.models import Commitment, CommitmentEvent, Job, JobStatus
from tests.e2e.test_indicator import load_cdc
from tests.helpers import all_text, jobs_of, wait_for

CHANNEL = "C0MEETING"


# --- reaching the served app's workers and its jobs ---------------------------------------------


def job_for(bot, identity: str) -> Job:
    """The one stored job whose request key holds `identity` (a trigger id, a view id…)."""
    found = [j for j in jobs_of(bot) if identity in j.request_key]
    assert len(found) == 1, [j.request_key for j in jobs_of(bot)]
    return found[0]


def set_job(bot, job_id: int, **values: Any) -> None:
    with bot.services.sessions.begin() as session:
        session.execute(update(Job).where(Job.id == job_id).values(**values))


def run_again(bot, job: Job, *, journal: dict[str, Any] | None = None) -> Job:
    """As if the worker died after the job's work but before marking it done (its claim then
    released): the job waits again, with its journal (or `journal`), and is run again."""
    values: dict[str, Any] = {
        "status": JobStatus.WAITING,
        "not_before": system_clock(),
        "claimed_until": None,
        "finished_at": None,
    }
    if journal is not None:
        values["journal"] = journal
    set_job(bot, job.id, **values)
    return wait_for(
        lambda: (
            (again := job_for(bot, job.request_key.partition("|")[2])).status is JobStatus.DONE
            and again.attempts == job.attempts + 1
            and again
        )
    )


def commitments(bot) -> list[Commitment]:
    with bot.services.sessions() as session:
        return list(session.scalars(select(Commitment).order_by(Commitment.id)).all())


def events(bot, kind: str) -> list[CommitmentEvent]:
    with bot.services.sessions() as session:
        return list(
            session.scalars(
                select(CommitmentEvent)
                .where(CommitmentEvent.kind == kind)
                .order_by(CommitmentEvent.id)
            ).all()
        )


def key_of(url: str) -> str:
    """The FakeSlack key of a response URL."""
    return url.rsplit("/", 1)[-1]


def make_commitment(bot, text: str = "Call the shelter by Friday") -> tuple[Commitment, str]:
    """A commitment made with /commit; it and the trigger id of the command."""
    payload = bot.driver.command_payload("/commit", text, user="U0MARIA", channel=CHANNEL)
    assert bot.driver.send_form(payload).status == 200
    wait_for(lambda: commitments(bot) and commitments(bot)[-1].message_ts)
    wait_for(lambda: job_for(bot, payload["trigger_id"]).status is JobStatus.DONE)
    return commitments(bot)[-1], payload["trigger_id"]


def healthz(bot) -> dict[str, Any]:
    with urllib.request.urlopen(f"{bot.url}/healthz", timeout=5) as answer:
        return json.loads(answer.read())


# --- Slack's retries are carried out once -------------------------------------------------------


def test_a_retried_indicator_question_is_answered_once_with_one_chart(bot, workers):
    load_cdc(bot)
    payload = bot.driver.command_payload(
        "/indicator", "overdose deaths in MD", user="U0MARIA", channel=CHANNEL
    )
    key = key_of(payload["response_url"])
    first = bot.driver.send_form(payload)
    retry = bot.driver.send_form(payload, retry_num=1)  # Slack did not see the first ack in time
    assert first.status == retry.status == 200
    assert first.seconds < 3 and retry.seconds < 3
    answer = wait_for(lambda: bot.slack.responses(key))
    assert "Number of Drug Overdose Deaths — MD" in all_text(answer[0])
    wait_for(lambda: [c for c in bot.slack.calls_to("files.completeUploadExternal") if c.ok])
    workers.settle()
    late_retry = bot.driver.send_form(payload, retry_num=2)  # and once more, after the answer
    assert late_retry.status == 200
    workers.settle()

    assert len(bot.slack.responses(key)) == 1
    assert len(bot.slack.calls_to("response_url")) == 1
    assert len(bot.slack.calls_to("files.completeUploadExternal")) == 1
    assert len(bot.slack.calls_to("files.getUploadURLExternal")) == 1
    stored = jobs_of(bot)
    assert len(stored) == 1
    assert (stored[0].status, stored[0].attempts) == (JobStatus.DONE, 1)


def test_a_retried_done_click_closes_the_commitment_once_and_says_nothing_more(bot, workers):
    commitment, _ = make_commitment(bot)
    updates_before = len(bot.slack.calls_to("chat.update"))
    click = bot.driver.click_payload(
        "commit_done",
        user="U0MARIA",
        value=str(commitment.id),
        channel=CHANNEL,
        message_ts=commitment.message_ts,
    )
    first = bot.driver.interaction(click)
    retry = bot.driver.interaction(click, retry_num=1)
    assert first.status == retry.status == 200
    wait_for(lambda: "✅ Done" in all_text(bot.slack.message(CHANNEL, commitment.message_ts)))
    workers.settle()

    assert len(events(bot, "done")) == 1
    assert len(bot.slack.calls_to("chat.update")) == updates_before + 1  # the message, once
    # A second run would have told the person "already done" through the response URL.
    assert bot.slack.responses(key_of(click["response_url"])) == []
    assert len(bot.slack.messages(CHANNEL)) == 1
    assert len(jobs_of(bot, "on_done")) == 1


def test_a_retried_note_form_adds_the_note_once(bot, workers):
    commitment, _ = make_commitment(bot)
    view_id = "V" + uuid.uuid4().hex[:10].upper()
    form = {
        "type": "view_submission",
        "user": {"id": "U0MARIA", "team_id": "T0COALITION"},
        "trigger_id": f"{uuid.uuid4().hex[:12]}.trigger",
        "view": {
            "id": view_id,
            "hash": "1764000000.AbCdEf12",
            "type": "modal",
            "callback_id": "commitment_note",
            "private_metadata": f"{commitment.id}|",
            "state": {"values": {"note": {"text": {"value": "Director says yes"}}}},
        },
    }
    first = bot.driver.interaction(form)
    retry = bot.driver.interaction(form, retry_num=1)
    assert first.status == retry.status == 200
    assert not first.body and not retry.body  # both close the form: no field errors
    thread = wait_for(
        lambda: [m for m in bot.slack.messages(CHANNEL) if "Director says yes" in all_text(m)]
    )
    workers.settle()

    assert len(thread) == 1
    assert thread[0]["thread_ts"] == commitment.message_ts
    assert [e.detail for e in events(bot, "noted")] == [{"note": "Director says yes"}]
    assert len(bot.slack.messages(CHANNEL)) == 2  # the confirmation and the one note under it
    assert len(jobs_of(bot, "on_note_submitted")) == 1


# --- answers that come late -----------------------------------------------------------------


def test_an_answer_after_the_response_url_expired_comes_by_dm_saying_it_is_late(
    sqlite_bot, workers
):
    bot = sqlite_bot
    with workers.held():
        payload = bot.driver.command_payload("/commit", "list", user="U0MARIA", channel=CHANNEL)
        assert bot.driver.send_form(payload).status == 200
        job = job_for(bot, payload["trigger_id"])
        assert job.status is JobStatus.WAITING
        set_job(bot, job.id, created_at=system_clock() - timedelta(minutes=31))
    dm = wait_for(lambda: bot.slack.messages("U0MARIA"))
    wait_for(lambda: job_for(bot, payload["trigger_id"]).status is JobStatus.DONE)

    assert len(dm) == 1
    seen = all_text(dm[0])
    assert "⏰ Sorry, this is late" in seen
    assert "`/commit list`" in seen
    assert "31 minutes ago" in seen
    assert "Your open commitments" in seen  # the answer itself follows
    assert bot.slack.calls_to("response_url") == []
    assert bot.slack.responses(key_of(payload["response_url"])) == []
    assert bot.slack.messages(CHANNEL) == []


def test_a_form_the_workers_were_too_busy_to_open_in_time_says_so(sqlite_bot, workers):
    bot = sqlite_bot
    with workers.held():
        payload = bot.driver.command_payload(
            "/commit", "", user="U0MARIA", channel=CHANNEL, trigger_id=bot.slack.new_trigger_id()
        )
        assert bot.driver.send_form(payload).status == 200
        time.sleep(3.2)  # Slack's trigger lasts 3 s: the form can no longer open
    said = wait_for(lambda: bot.slack.responses(key_of(payload["response_url"])))
    assert "too busy to open the form" in said[0]["text"]
    assert said[0].get("response_type") == "ephemeral"
    assert bot.slack.views == []
    wait_for(lambda: job_for(bot, payload["trigger_id"]).status is JobStatus.DONE)


def test_a_form_answered_too_late_closes_and_the_refusal_comes_by_dm(sqlite_bot, workers):
    bot = sqlite_bot
    view_id = "V" + uuid.uuid4().hex[:10].upper()
    with workers.held():
        answer = bot.driver.submit_view(
            "commitment_note",
            {"note": {"text": {"value": "Director says yes"}}},
            user="U0MARIA",
            view_id=view_id,
            private_metadata="4242|",
        )
        assert answer.status == 200
        assert answer.seconds >= FORM_ACK_WAIT  # it waited for the worker, in vain
        assert answer.seconds < 3  # and still answered before Slack gives up
        assert not answer.body  # the form closes: no field errors to show
    dm = wait_for(lambda: bot.slack.messages("U0MARIA"))
    wait_for(lambda: job_for(bot, view_id).status is JobStatus.DONE)

    assert len(dm) == 1
    seen = all_text(dm[0])
    assert "Your form was not saved" in seen
    assert "#4242" in seen
    assert "Nothing was changed" in seen
    assert events(bot, "noted") == []
    assert commitments(bot) == []
    assert bot.slack.messages(CHANNEL) == []


# --- the journal: a job run again does not send again --------------------------------------------


def test_a_list_run_again_after_a_crash_replays_its_answer_instead_of_sending_it_again(bot):
    payload = bot.driver.command_payload("/commit", "list", user="U0MARIA", channel=CHANNEL)
    key = key_of(payload["response_url"])
    assert bot.driver.send_form(payload).status == 200
    wait_for(lambda: bot.slack.responses(key))
    job = wait_for(
        lambda: (j := job_for(bot, payload["trigger_id"])).status is JobStatus.DONE and j
    )
    assert [entry["method"] for entry in job.journal.values()] == ["respond"]
    calls = len(bot.slack.calls)

    again = run_again(bot, job)
    assert len(bot.slack.responses(key)) == 1  # replayed from the journal, not sent
    assert len(bot.slack.calls) == calls
    assert again.journal == job.journal

    # Without its journal the job cannot know: the person gets the list a second time.
    run_again(bot, again, journal={})
    assert len(bot.slack.responses(key)) == 2


def test_a_commitment_run_again_after_a_crash_is_posted_once(bot):
    commitment, trigger = make_commitment(bot)
    job = job_for(bot, trigger)
    methods = [entry["method"] for entry in job.journal.values()]
    assert "chat.postMessage" in methods
    calls = len(bot.slack.calls)

    run_again(bot, job)  # with its journal
    assert len(bot.slack.messages(CHANNEL)) == 1
    assert len(commitments(bot)) == 1
    assert len(bot.slack.calls) == calls

    # Without its journal, the commitment's own request key still finds the one already made
    # and posted: nothing new.
    run_again(bot, job_for(bot, trigger), journal={})
    assert len(bot.slack.messages(CHANNEL)) == 1
    assert len(commitments(bot)) == 1
    assert len(events(bot, "created")) == 1
    assert commitments(bot)[0].message_ts == commitment.message_ts


# A job run again after a crash: the first run's calls are in its journal (known by what they
# say, not by their place in the run), and a change remembers the request that made it.


def test_a_confirmation_posted_just_before_a_crash_is_not_posted_again(sqlite_bot):
    bot = sqlite_bot
    commitment, trigger = make_commitment(bot)
    job = job_for(bot, trigger)
    # Only what changes something in Slack is written down (users.info is simply asked again).
    assert [entry["method"] for entry in job.journal.values()] == ["chat.postMessage"]
    # The worker died after Slack took the confirmation (its answer is in the journal) but
    # before the message's ts was stored with the commitment.
    with bot.services.sessions.begin() as session:
        session.execute(update(Commitment).values(message_ts=None))

    run_again(bot, job)
    assert len(bot.slack.messages(CHANNEL)) == 1
    assert commitments(bot)[0].message_ts == commitment.message_ts


@pytest.mark.parametrize("found", [True, False], ids=["in-history", "never-arrived"])
def test_a_post_whose_answer_was_never_written_down_is_looked_for_before_posting_again(
    sqlite_bot, found
):
    bot = sqlite_bot
    commitment, trigger = make_commitment(bot)
    job = job_for(bot, trigger)
    [(key, entry)] = job.journal.items()
    # The worker died in the instant between Slack taking the post and the note of its answer:
    # the journal says only "sending since", and the ts was never stored with the commitment.
    interrupted = {key: {"method": entry["method"], "since": time.time() - 5}}
    with bot.services.sessions.begin() as session:
        session.execute(update(Commitment).values(message_ts=None))
    if not found:  # the post never reached Slack after all
        bot.slack.reset()
        bot.slack.add_channel(CHANNEL, name="commstat")

    run_again(bot, job, journal=interrupted)
    assert bot.slack.calls_to("conversations.history")  # it looked first
    posted = bot.slack.messages(CHANNEL)
    assert len(posted) == 1  # found: not posted again; not found: posted now, once
    assert commitments(bot)[0].message_ts == posted[0]["ts"]
    if found:
        assert posted[0]["ts"] == commitment.message_ts


def test_form_errors_shown_next_to_the_field_are_not_sent_again_by_dm_on_a_rerun(sqlite_bot):
    bot = sqlite_bot
    answer = bot.driver.submit_view(
        "commitment_note",
        {"note": {"text": {"value": "Director says yes"}}},
        user="U0MARIA",
        private_metadata="4242|",
    )
    assert answer.json()["response_action"] == "errors"
    assert "#4242" in answer.json()["errors"]["note"]
    job = wait_for(lambda: (j := jobs_of(bot)) and j[0].status is JobStatus.DONE and j[0])

    run_again(bot, job)
    assert bot.slack.messages("U0MARIA") == []


def test_a_done_click_run_again_after_a_crash_tells_the_person_nothing_more(sqlite_bot):
    bot = sqlite_bot
    commitment, _ = make_commitment(bot)
    bot.driver.click(
        "commit_done",
        user="U0MARIA",
        value=str(commitment.id),
        channel=CHANNEL,
        message_ts=commitment.message_ts,
    )
    job = wait_for(
        lambda: (j := jobs_of(bot, "on_done")) and j[0].status is JobStatus.DONE and j[0]
    )
    assert bot.slack.calls_to("response_url") == []

    run_again(bot, job)
    assert len(events(bot, "done")) == 1
    assert bot.slack.calls_to("response_url") == []


# --- /healthz -----------------------------------------------------------------------------------


def test_a_job_that_keeps_failing_is_given_up_and_its_person_told(sqlite_bot, workers, monkeypatch):
    bot = sqlite_bot
    commitment, _ = make_commitment(bot)
    tries: list[int] = []

    def broken(*args: Any, **kwargs: Any) -> Any:
        tries.append(1)
        raise RuntimeError("the database went away")

    monkeypatch.setattr("handlers.commit_actions.commitments.apply_change", broken)
    for worker in workers.workers:
        monkeypatch.setattr(worker, "retry_delay", 0.0)
    bot.driver.click(
        "commit_done",
        user="U0MARIA",
        value=str(commitment.id),
        channel=CHANNEL,
        message_ts=commitment.message_ts,
    )
    job = wait_for(
        lambda: (j := jobs_of(bot, "on_done")) and j[0].status is JobStatus.FAILED and j[0]
    )
    assert len(tries) == 3  # tried three times, then given up
    assert "the database went away" in (job.last_error or "")
    sorry = wait_for(lambda: bot.slack.messages("U0MARIA"))
    assert "something went wrong on my side" in sorry[-1]["text"]
    assert len(sorry) == 1
    assert healthz(bot)["jobs"]["failed"] == 1


def test_healthz_shows_the_jobs_waiting_and_then_none(bot, workers):
    with workers.held():
        for _ in range(2):
            answer = bot.driver.command("/commit", "list", user="U0MARIA", channel=CHANNEL)
            assert answer.status == 200
        queue = healthz(bot)["jobs"]
        assert queue["waiting"] == 2
        assert queue["working"] == 0
        assert queue["failed"] == 0
        assert queue["oldest_waiting_seconds"] >= 0
    wait_for(lambda: healthz(bot)["jobs"]["waiting"] == 0)
    wait_for(lambda: len(bot.slack.calls_to("response_url")) == 2)
    queue = healthz(bot)["jobs"]
    assert queue["waiting"] == 0
    assert queue["oldest_waiting_seconds"] is None
