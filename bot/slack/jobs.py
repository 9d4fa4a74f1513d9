"""Acknowledge at once, work in a worker: Slack requests as durable jobs (storage/jobs.py).

Every listener is registered as Bolt's ack function plus one lazy function
(`app.command(X)(ack=…, lazy=[…])`). In the process that answers Slack (the *front*), Bolt runs
the ack function (which only reads the request: help text, a form's missing field), then
`Enqueue.start` stores the lazy part as a job, committed before Bolt returns the ack (Bolt's
`process_before_response`): a command Slack saw acknowledged is on disk, and a retry of the same
request (same trigger, view, click or event id) adds nothing.

Worker processes (`Worker`) claim the jobs and hand each to a second Bolt app with the same
listeners, as a *lazy-only* request (Bolt's own mechanism for running a lazy function elsewhere,
as its AWS Lambda adapter does): that app reads the database, renders charts and calls Slack.
There the job's Slack client, `respond` and `ack` are journaled (`Journal`): each call's answer is
written to the job before the next call, so a job run again after a crash replays what it already
sent instead of sending it twice.

Forms are the one case whose ack carries the work's result (errors next to the fields): the front
waits, up to FORM_ACK_WAIT seconds, for the worker's ack (`form_ack`); a worker that is later than
that sends the errors to the person by DM instead. An answer whose response URL has expired (30
minutes) goes to the person by DM, saying it is late.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from slack_bolt import Ack, App, BoltContext, BoltRequest, BoltResponse, Respond
from slack_bolt.kwargs_injection import build_required_kwargs
from slack_bolt.lazy_listener import LazyListenerRunner
from slack_bolt.listener.thread_runner import ThreadListenerRunner
from slack_bolt.middleware import Middleware
from slack_bolt.util.utils import get_arg_names_of_callable, get_name_for_callable
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.web import SlackResponse
from slack_sdk.webhook import WebhookResponse

from bot.bootstrap import Services, system_clock
from bot.core.text import clip, safe
from bot.slack.errors import TRANSIENT
from storage import jobs
from storage.models import JobStatus

logger = logging.getLogger(__name__)

JOB = "commstat_job"  # the BoltContext key of the running job, in a worker
LEASE_SECONDS = 60.0  # wall-clock claim, renewed every third of it while the job runs
POLL_SECONDS = 0.05  # how often an idle worker looks for work
RETRY_DELAY = 5.0  # seconds before a job that raised is tried again (doubling each time)
FORM_ACK_WAIT = 2.4  # seconds the front waits for a form's result (Slack allows 3)
# At most this many request threads wait on forms at once (`serve --threads` is 8 by default):
# the rest of a burst of forms closes at once, with any refusal by DM, and commands keep flowing.
_FORM_WAITERS = threading.BoundedSemaphore(3)
RESPONSE_URL_LIFETIME = timedelta(minutes=30)
LATE_MARGIN = timedelta(minutes=1)  # answer by DM a little before the URL runs out
KEEP_FINISHED = timedelta(days=2)
# Web API methods that change nothing in Slack: not written down (one database write less per
# call), simply asked again when a job runs again.
ONLY_READS = frozenset(
    {
        "auth.test",
        "bots.info",
        "conversations.history",
        "conversations.info",
        "conversations.members",
        "conversations.open",  # the same DM channel every time
        "conversations.replies",
        "team.info",
        "users.info",
        "users.list",
        "users.lookupByEmail",
    }
)
JOB_METADATA = "commstat_job"  # message metadata event type: which job and call posted it
HISTORY_SKEW = 300.0  # look this much further back in history than our own clock says  # finished jobs (people's words) are forgotten after this


def _this_machine() -> str:
    """This host's name, plus what tells apart two machines (or containers) that share one: the
    kernel's boot id and this process's PID namespace. A claim made here can be judged here
    (is its process alive?) only when this whole string matches."""
    marks = []
    for path in ("/proc/sys/kernel/random/boot_id", "/proc/self/ns/pid"):
        try:
            marks.append(os.readlink(path) if path.endswith("/pid") else Path(path).read_text())
        except OSError:
            marks.append("")
    digest = hashlib.sha256("|".join(m.strip() for m in marks).encode()).hexdigest()[:10]
    return f"{socket.gethostname()[:40]}~{digest}"


HOST = _this_machine()


def request_key(body: dict[str, Any], listener: str) -> str:
    """The identity of a Slack request and the listener it is for (a job's key)."""
    return clip(f"{listener}|{request_identity(body)}", 300)


def request_identity(body: dict[str, Any]) -> str:
    """The identity of a Slack request. Slack's retry of a request has the same: a command's
    trigger id, a form's view id and hash, a click's action and time, an event's id; anything
    else is known by its whole payload."""
    kind = body.get("type")
    if "command" in body and body.get("trigger_id"):
        identity = f"command:{body['trigger_id']}"
    elif kind == "event_callback" and body.get("event_id"):
        identity = f"event:{body['event_id']}"
    elif (
        kind == "view_submission" and isinstance(body.get("view"), dict) and body["view"].get("id")
    ):
        view = body["view"]
        # What was typed too: a form refused next to a field stays open with the same id and
        # hash, and its corrected submission is a new request.
        typed = json.dumps((view.get("state") or {}).get("values"), sort_keys=True, default=str)
        digest = hashlib.sha256(typed.encode()).hexdigest()[:16]
        identity = f"view:{view['id']}:{view.get('hash') or ''}:{digest}"
    elif kind == "block_actions" and body.get("actions"):
        action = body["actions"][0]
        user = (body.get("user") or {}).get("id")
        identity = f"action:{user}:{action.get('action_id')}:{action.get('action_ts')}"
    else:
        whole = json.dumps(body, sort_keys=True, default=str).encode()
        identity = f"payload:{hashlib.sha256(whole).hexdigest()}"
    return clip(identity, 250)


# --- the front: store, then ack -------------------------------------------------------------


class Enqueue(LazyListenerRunner):
    """The front's lazy runner: a lazy function becomes a stored job, before the ack is sent."""

    def __init__(self, services: Services, logger: logging.Logger) -> None:
        self.services = services
        self.logger = logger

    def start(self, function: Callable[..., None], request: BoltRequest) -> None:
        listener = get_name_for_callable(function)
        jobs.enqueue(
            self.services.engine,
            request_key=request_key(request.body, listener),
            team_id=request.context.team_id,
            listener=listener,
            request={"body": request.body},
            now=system_clock(),
        )

    def run(self, function: Callable[..., None], request: BoltRequest) -> None:
        raise RuntimeError("the front never runs a listener's work itself")


def form_ack(services: Services, work: Callable[..., None]) -> Callable[..., None]:
    """The front's ack function for a form handled by `work`: store the job, wait (briefly) for
    a worker's answer, and acknowledge with it — errors next to the fields, or closing the form.
    When no answer comes in time the form closes, and the worker tells the person by DM."""
    listener = get_name_for_callable(work)

    def ack_form(ack: Ack, body: dict[str, Any], context: BoltContext) -> None:
        key = request_key(body, listener)
        waiting = _FORM_WAITERS.acquire(blocking=False)
        jobs.enqueue(
            services.engine,
            request_key=key,
            team_id=context.team_id,
            listener=listener,
            request={"body": body},
            now=system_clock(),
            waits_for_ack=waiting,
        )
        if not waiting:  # enough request threads wait on forms already: close this one now
            ack()
            return
        try:
            _wait_for_form_ack(services, ack, key)
        finally:
            _FORM_WAITERS.release()

    ack_form.__name__ = f"ack_{listener}"
    return ack_form


def _wait_for_form_ack(services: Services, ack: Ack, key: str) -> None:
    """The worker's answer to the form, if it comes within FORM_ACK_WAIT; else close the form."""
    deadline = time.monotonic() + FORM_ACK_WAIT
    while True:
        answered, given = jobs.take_ack(services.sessions, key)
        if answered:
            ack(**(given or {}))
            return
        if time.monotonic() > deadline:
            break
        time.sleep(0.02)
    if jobs.stop_waiting_for_ack(services.sessions, key):
        ack()  # the form closes; the worker will say by DM what it could not save
        return
    ack(**(jobs.take_ack(services.sessions, key)[1] or {}))


def ack_now(ack: Ack) -> None:
    """The ack function of a listener whose ack needs nothing from the request."""
    ack()


# --- the worker: run, journaled ---------------------------------------------------------------


class ClaimLost(BaseException):
    """Another worker took this job over (our claim ran out): stop before sending anything."""


@dataclass
class Running:
    """A claimed job while a worker runs it."""

    services: Services
    job: jobs.ClaimedJob
    entries: dict[str, Any] = field(default_factory=dict)
    error: BaseException | None = None
    lost: bool = False
    ran: bool = False  # the job's listener was found and called

    def __post_init__(self) -> None:
        self.entries = dict(self.job.journal)
        self.seen: dict[str, int] = {}

    def entry_key(self, method: str) -> str:
        """A call is known by its method and how many calls of that method came before it in
        the run: the confirmation is `chat.postMessage:1` in every run, whatever its words say
        by then ("due in 2 days"), and calls that change nothing in Slack are not counted."""
        self.seen[method] = self.seen.get(method, 0) + 1
        return f"{method}:{self.seen[method]}"

    def earlier(self, key: str) -> dict[str, Any] | None:
        """What an earlier run wrote down for this call, if anything."""
        if self.lost:
            raise ClaimLost(self.job.id)
        entry = self.entries.get(key)
        return entry if isinstance(entry, dict) else None

    def keep(self, key: str, method: str, **facts: Any) -> None:
        """Write down a call's answer (or that it is being sent, `since` when) before going on."""
        self.entries[key] = {"method": method, **facts}
        if not jobs.record(self.services.sessions, self.job, self.entries):
            self.lost = True
            raise ClaimLost(self.job.id)

    @property
    def late(self) -> bool:
        age = system_clock() - self.job.created_at
        return age > RESPONSE_URL_LIFETIME - LATE_MARGIN

    def late_words(self) -> str:
        minutes = max(1, int((system_clock() - self.job.created_at).total_seconds() // 60))
        body = self.job.request.get("body") or {}
        asked = ""
        if isinstance(body.get("command"), str):
            asked = clip(f"{body['command']} {body.get('text') or ''}".strip(), 80)
        what = f"`{safe(asked)}`" if asked else "what you asked"
        return (
            f"⏰ Sorry, this is late: you asked {what} {minutes} minutes ago, and I could only "
            "answer now."
        )


class JournaledClient(WebClient):
    """A job's Slack client: each call's answer is written to the job; a job run again after a
    crash gets the written answers back instead of calling Slack again.

    A message post is marked "sending since <time>" before it goes, and carries message metadata
    naming the job and the call: if the worker dies after Slack took the post but before its
    answer was written down, the next run finds the message in the conversation's history
    (as the outbox does) instead of posting it again."""

    running: Running

    def api_call(self, api_method: str, **kwargs: Any) -> SlackResponse:
        if api_method in ONLY_READS:
            return super().api_call(api_method, **kwargs)  # asking again changes nothing
        key = self.running.entry_key(api_method)
        earlier = self.running.earlier(key)
        if earlier is not None and "answer" in earlier:
            return self._replayed(api_method, earlier["answer"])
        posting = api_method == "chat.postMessage" and isinstance(kwargs.get("json"), dict)
        if posting:
            mark = f"{self.running.job.id}:{key}"
            if earlier is not None and "since" in earlier:
                found = self._look_for(kwargs["json"], mark, float(earlier["since"]))
                if found is not None:
                    self.running.keep(key, api_method, answer=found)
                    return self._replayed(api_method, found)
            kwargs["json"] = {
                "metadata": {"event_type": JOB_METADATA, "event_payload": {"key": mark}},
                **kwargs["json"],
            }
            self.running.keep(key, api_method, since=time.time())
        try:
            response = super().api_call(api_method, **kwargs)
        except SlackApiError as error:
            data = error.response.data if isinstance(error.response.data, dict) else None
            transient = error.response.status_code >= 500 or (
                data is not None and str(data.get("error")) in TRANSIENT
            )
            if data is not None and not transient:  # a refusal stays a refusal in a re-run
                self.running.keep(key, api_method, answer=data)
            raise
        if isinstance(response.data, dict):
            self.running.keep(key, api_method, answer=response.data)
        return response

    def _replayed(self, api_method: str, answer: Any) -> SlackResponse:
        return SlackResponse(
            client=self,
            http_verb="POST",
            api_url=api_method,
            req_args={},
            data=answer,
            headers={},
            status_code=200,
        ).validate()

    def _look_for(self, message: dict[str, Any], mark: str, since: float) -> dict[str, Any] | None:
        """Slack's answer to an earlier post of this call, if it is in the conversation."""
        plain = WebClient(token=self.token, base_url=self.base_url, timeout=self.timeout)
        try:
            channel = str(message.get("channel") or "")
            if channel.startswith(("U", "W")):
                channel = str(plain.conversations_open(users=channel)["channel"]["id"])
            history = plain.conversations_history(
                channel=channel,
                oldest=f"{max(since - HISTORY_SKEW, 0):.6f}",
                limit=200,
                include_all_metadata=True,
            )
        except SlackApiError as error:
            logger.warning(
                "job %s: cannot look for an interrupted post (%s); posting, a duplicate is "
                "possible",
                self.running.job.id,
                error.response.get("error"),
            )
            return None
        for found in history.get("messages") or []:
            metadata = found.get("metadata") or {}
            if (
                metadata.get("event_type") == JOB_METADATA
                and (metadata.get("event_payload") or {}).get("key") == mark
            ):
                return {"ok": True, "channel": channel, "ts": found.get("ts"), "message": found}
        return None


def _journaled_client(client: WebClient, running: Running, team_id: str | None) -> JournaledClient:
    copy = JournaledClient(
        token=client.token,
        base_url=client.base_url,
        timeout=client.timeout,
        ssl=client.ssl,
        proxy=client.proxy,
        headers=client.headers,
        team_id=team_id,
        logger=client.logger,
        retry_handlers=list(client.retry_handlers) if client.retry_handlers else None,
    )
    copy.running = running
    return copy


class JournaledRespond(Respond):
    """`respond` for a job: journaled like the client; after the response URL has expired (or
    when Slack refuses it) the answer goes to the person by DM, saying it is late."""

    def __init__(self, response_url: str | None, running: Running, client: WebClient, user: str):
        super().__init__(response_url=response_url)
        self.running = running
        self.client = client
        self.user = user

    def __call__(self, *args: Any, **kwargs: Any) -> WebhookResponse:
        key = self.running.entry_key("respond")
        earlier = self.running.earlier(key)
        answer = earlier.get("answer") if earlier is not None else None
        if isinstance(answer, dict):
            return WebhookResponse(
                url=self.response_url or "",
                status_code=int(answer.get("status", 200)),
                body=str(answer.get("body", "")),
                headers={},
            )
        if not self.response_url:
            raise ValueError("respond is unsupported here as there is no response_url")
        if not self.running.late:
            sent = super().__call__(*args, **kwargs)
            expired = sent.status_code == 404 or sent.body in ("expired_url", "used_url")
            if not expired:
                self.running.keep(
                    key, "respond", answer={"status": sent.status_code, "body": sent.body}
                )
                return sent
        self._by_dm(*args, **kwargs)
        self.running.keep(key, "respond", answer={"status": 200, "body": "ok"})
        return WebhookResponse(url=self.response_url or "", status_code=200, body="ok", headers={})

    def _by_dm(self, text: Any = "", blocks: Any = None, **_: Any) -> None:
        if isinstance(text, dict):
            text, blocks = text.get("text", ""), text.get("blocks")
        note = self.running.late_words()
        if not self.user:
            logger.warning("job %s: a late answer had nobody to go to", self.running.job.id)
            return
        self.client.chat_postMessage(
            channel=self.user,
            text=f"{note}\n{text}" if text else note,
            blocks=[
                {"type": "context", "elements": [{"type": "mrkdwn", "text": note}]},
                *(
                    blocks
                    or (
                        [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]
                        if text
                        else []
                    )
                ),
            ],
        )


class JournaledAck(Ack):
    """A job's `ack`: a form's answer goes to the front waiting for it; when the front has
    stopped waiting, the errors go to the person by DM, so no refusal goes unsaid."""

    def __init__(self, running: Running, client: WebClient, user: str) -> None:
        super().__init__()
        self.running = running
        self.client = client
        self.user = user

    def __call__(self, *args: Any, **kwargs: Any) -> BoltResponse:
        response = super().__call__(*args, **kwargs)
        try:
            body = json.loads(response.body) if response.body else {}
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        if jobs.give_ack(self.running.services.sessions, self.running.job.id, body):
            return response
        errors = body.get("errors") if body.get("response_action") == "errors" else None
        if isinstance(errors, dict) and errors and self.user:
            lines = "\n".join(f"• {safe(str(text))}" for text in errors.values())
            self.client.chat_postMessage(
                channel=self.user, text=f"Your form was not saved:\n{lines}\nNothing was changed."
            )
        return response


class Journaling(Middleware):
    """The worker app's middleware: a job's client, respond and ack are journaled."""

    def process(
        self, *, req: BoltRequest, resp: BoltResponse, next: Callable[[], BoltResponse]
    ) -> BoltResponse | None:
        running = req.context.get(JOB)
        if isinstance(running, Running):
            user = req.context.user_id or ""
            client = _journaled_client(req.context.client, running, req.context.team_id)
            req.context["client"] = client
            req.context["respond"] = JournaledRespond(
                req.context.response_url, running, client, user
            )
            req.context["ack"] = JournaledAck(running, client, user)
        return next()


class RunHere(LazyListenerRunner):
    """The worker app's lazy runner: the job's function runs in this thread, and what it
    raises is kept for the worker (Bolt's own runner would only log it)."""

    def __init__(self, logger: logging.Logger) -> None:
        self.logger = logger

    def start(self, function: Callable[..., None], request: BoltRequest) -> None:
        raise RuntimeError("a worker runs one job's listener at a time, never another's")

    def run(self, function: Callable[..., None], request: BoltRequest) -> None:
        running = request.context.get(JOB)
        kwargs = build_required_kwargs(
            logger=self.logger,
            required_arg_names=get_arg_names_of_callable(function),
            request=request,
            response=None,
            this_func=function,
        )
        if isinstance(running, Running):
            running.ran = True
        try:
            function(**kwargs)
        except (Exception, ClaimLost) as error:
            if isinstance(running, Running):
                running.error = error
            else:
                raise


class StoreInPlace(ThreadListenerRunner):
    """The front's listener runner. Bolt deep-copies a request before handing it to a lazy
    runner, because its own runs the function later on another thread; ours only stores the
    payload, at once, on this thread, so the copy (a third of the front's time per request)
    is skipped."""

    def _start_lazy_function(self, lazy_func: Callable[..., None], request: BoltRequest) -> None:
        self.lazy_listener_runner.start(function=lazy_func, request=request)


def as_front(app: App, services: Services) -> App:
    """The acknowledging app: lazy functions are stored as jobs before the ack."""
    bolts = app.listener_runner
    app._listener_runner = StoreInPlace(
        logger=bolts.logger,
        process_before_response=bolts.process_before_response,
        listener_error_handler=bolts.listener_error_handler,
        listener_start_handler=bolts.listener_start_handler,
        listener_completion_handler=bolts.listener_completion_handler,
        listener_executor=bolts.listener_executor,
        lazy_listener_runner=Enqueue(services, app.logger),
    )
    return app


def as_worker(app: App) -> App:
    """The working app: runs stored jobs' lazy functions, journaled."""
    app.listener_runner.lazy_listener_runner = RunHere(app.logger)
    app.use(Journaling())
    return app


class Worker:
    """Claims jobs one at a time and runs them through the working app until `stop` is set."""

    def __init__(
        self,
        services: Services,
        app: App,
        *,
        name: str | None = None,
        lease: float = LEASE_SECONDS,
        poll: float = POLL_SECONDS,
    ) -> None:
        self.services = services
        self.app = app
        self.name = name or f"{HOST}:{os.getpid()}:{threading.get_ident()}"
        self.lease = lease
        self.poll = poll
        self.retry_delay = RETRY_DELAY
        self.busy = False
        self.turn = threading.Lock()
        self._next_housekeeping = 0.0

    def work_once(self) -> bool:
        """Run one ready job; False when there was none."""
        now = system_clock()
        if not jobs.has_work(self.services.sessions, now):
            return False
        self.busy = True
        try:
            job = jobs.claim(self.services.sessions, worker=self.name, now=now, lease=self.lease)
            if job is None:
                return False
            if job.given_up:
                logger.error("job %s (%s): its workers kept dying; given up", job.id, job.listener)
                self._apologise(job)
                return True
            self._run(job)
            return True
        finally:
            self.busy = False

    def serve(self, stop: threading.Event, hold: threading.Event | None = None) -> None:
        """Take jobs until `stop` is set; while `hold` is set, touch nothing (not even a read)."""
        logger.info("worker %s: taking jobs", self.name)
        while not stop.is_set():
            with self.turn:  # `WorkerThreads.held` waits for the pass in progress
                if hold is not None and hold.is_set():
                    found = False
                else:
                    try:
                        self._housekeeping()
                        found = self.work_once()
                    except (Exception, ClaimLost):
                        logger.exception("worker %s: the job queue could not be read", self.name)
                        stop.wait(1.0)
                        continue
            if not found:
                stop.wait(self.poll)
        logger.info("worker %s: stopped", self.name)

    def _housekeeping(self) -> None:
        """Now and then: jobs of dead processes on this host wait again; old jobs go."""
        if time.monotonic() < self._next_housekeeping:
            return
        self._next_housekeeping = time.monotonic() + 10.0
        now = system_clock()
        released = jobs.release_orphans(self.services.sessions, host=HOST, alive=_alive, now=now)
        if released:
            logger.info("worker %s: %d interrupted job(s) will run again", self.name, released)
        with self.services.sessions.begin() as session:
            jobs.purge(session, before=now - KEEP_FINISHED)

    def _run(self, job: jobs.ClaimedJob) -> None:
        running = Running(self.services, job)
        stop_renewing = threading.Event()
        renewer = threading.Thread(
            target=self._renew, args=(running, stop_renewing), name=f"lease-{job.id}", daemon=True
        )
        renewer.start()
        started = time.monotonic()
        try:
            request = BoltRequest(
                body=job.request.get("body") or {},
                mode="socket_mode",  # already verified by the front; not signed again
                headers={
                    "x-slack-bolt-lazy-only": "1",
                    "x-slack-bolt-lazy-function-name": job.listener,
                },
                context={JOB: running},
            )
            response = self.app.dispatch(request)
        finally:
            stop_renewing.set()
            renewer.join()
        now = system_clock()
        if running.lost or isinstance(running.error, ClaimLost):
            logger.warning("job %s: taken over by another worker; left to it", job.id)
            return
        if running.error is None and response.status >= 500:
            running.error = RuntimeError(f"Bolt answered {response.status}: {response.body}")
        if running.error is None and response.status < 400 and not running.ran:
            # No listener took it (renamed since the job was stored?): not done, and visible.
            running.error = LookupError(f"no listener runs {job.listener!r} for this request")
        if running.error is not None:
            error = running.error
            status = jobs.retry_or_fail(
                self.services.sessions,
                job,
                error=f"{type(error).__name__}: {error}",
                now=now,
                delay=self.retry_delay * 2**job.attempts,
            )
            logger.error(
                "job %s (%s) raised %s (try %d): %s",
                job.id,
                job.listener,
                type(error).__name__,
                job.attempts,
                "given up" if status is JobStatus.FAILED else "will try again",
                exc_info=error,
            )
            if status is JobStatus.FAILED:
                self._apologise(job)
            return
        if response.status >= 400:
            logger.warning("job %s (%s): refused with %s", job.id, job.listener, response.status)
        jobs.finish(self.services.sessions, job, now=now)
        logger.debug("job %s (%s) done in %.3f s", job.id, job.listener, time.monotonic() - started)

    def _apologise(self, job: jobs.ClaimedJob) -> None:
        """A job given up: its person hears so (best effort), rather than waiting for nothing."""
        body = job.request.get("body") or {}
        user = body.get("user_id") or (body.get("user") or {}).get("id")
        if not isinstance(user, str) or not job.team_id:
            return
        asked = body.get("command")
        what = f"`{safe(clip(str(asked), 40))}`" if isinstance(asked, str) else "what you asked"
        try:
            self.services.client_for(job.team_id).chat_postMessage(
                channel=user,
                text=f"Sorry — something went wrong on my side with {what}, and I gave up after "
                "several tries. Please try again; if it keeps happening, tell your admin.",
            )
        except Exception as error:  # the apology is a courtesy; the log has the failure
            logger.warning("job %s: could not tell the person (%s)", job.id, type(error).__name__)

    def _renew(self, running: Running, stop: threading.Event) -> None:
        while not stop.wait(self.lease / 3):
            try:
                if not jobs.renew(
                    self.services.sessions, running.job, now=system_clock(), lease=self.lease
                ):
                    running.lost = True
                    return
            except Exception:
                logger.exception("job %s: could not renew its claim", running.job.id)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class WorkerThreads:
    """Workers as threads of this process (tests, the demo, the console, Socket Mode's helper):
    the same claims and journal as worker processes, in one process."""

    def __init__(self, services: Services, app: App, count: int = 2) -> None:
        self.workers = [
            Worker(services, app, name=f"{HOST}:{os.getpid()}:t{i}") for i in range(count)
        ]
        self.stop = threading.Event()
        self.hold = threading.Event()
        self.threads = [
            threading.Thread(
                target=w.serve, args=(self.stop, self.hold), name=f"worker-{i}", daemon=True
            )
            for i, w in enumerate(self.workers)
        ]

    def start(self) -> WorkerThreads:
        for thread in self.threads:
            thread.start()
        return self

    def idle(self) -> bool:
        return not any(w.busy for w in self.workers) and not jobs.has_work(
            self.workers[0].services.sessions, system_clock()
        )

    def settle(self, timeout: float = 30.0) -> None:
        """Wait until every stored job has run."""
        deadline = time.monotonic() + timeout
        quiet = 0
        while quiet < 2:  # idle twice in a row: a job claimed between the two reads is seen
            if time.monotonic() > deadline:
                raise AssertionError(f"jobs were still running after {timeout} s")
            quiet = quiet + 1 if self.idle() else 0
            time.sleep(0.01)

    @contextmanager
    def held(self) -> Iterator[None]:
        """No worker touches the database inside this block (tests swap the database file)."""
        self.hold.set()
        try:
            for worker in self.workers:  # each finishes the pass it is in; the next one holds
                if not worker.turn.acquire(timeout=60):
                    raise AssertionError(f"worker {worker.name} did not stop within 60 s")
                worker.turn.release()
            yield
        finally:
            self.hold.clear()

    def close(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=30)
