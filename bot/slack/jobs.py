"""Acknowledge at once, work in a worker: Slack requests as durable jobs (storage/jobs.py).

Every listener is registered as Bolt's ack function plus one lazy function
(`app.command(X)(ack=…, lazy=[…])`). In the process that answers Slack (the *front*), Bolt runs
the ack function (which only reads the request: help text, a form's missing field), then
`Enqueue.start` stores the lazy part as a job, committed before Bolt returns the ack (Bolt's
`process_before_response`): a command Slack saw acknowledged is on disk, and a retry of the same
request (same trigger, view, click or event id) adds nothing.

Worker processes (bot/slack/worker.py) claim the jobs and hand each to a second Bolt app with
the same listeners; that app reads the database, renders charts and calls Slack, journaled
(bot/slack/journal.py), so a job run again after a crash does not send anything twice.

Forms are the one case whose ack carries the work's result (errors next to the fields): the front
waits, up to FORM_ACK_WAIT seconds, for the worker's ack (`form_ack`); a worker that is later than
that sends the errors to the person by DM instead. An answer whose response URL has expired (30
minutes) goes to the person by DM, saying it is late.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, App, BoltContext, BoltRequest
from slack_bolt.lazy_listener import LazyListenerRunner
from slack_bolt.listener.thread_runner import ThreadListenerRunner
from slack_bolt.util.utils import get_name_for_callable

from bot.bootstrap import Services, system_clock
from bot.core.text import clip
from storage import jobs

logger = logging.getLogger(__name__)

FORM_ACK_WAIT = 2.4  # seconds the front waits for a form's result (Slack allows 3)
# At most this many request threads wait on forms at once (`serve --threads` is 8 by default):
# the rest of a burst of forms closes at once, with any refusal by DM, and commands keep flowing.
_FORM_WAITERS = threading.BoundedSemaphore(3)


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
