"""A job's Slack calls, written down: what a worker sends for a job is journaled, so that a job
run again after a crash replays what it already sent instead of sending it twice.

`Journaling` (the worker app's middleware) gives the job's listener a journaled Web API client,
`respond` and `ack`. Each call that changes something in Slack is known by its method and how
many calls of that method came before it in the run; its answer is written to the job before
the next call. A message post is also marked "sending since <time>" before it goes and carries
message metadata naming the job and the call, so a post interrupted between Slack's receipt and
the note is found in the conversation's history rather than posted again. A response URL that
has expired (30 minutes) is answered by DM, saying it is late; a form's ack goes to the front
waiting for it (bot/slack/jobs.py), or, when it stopped waiting, its errors go by DM.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from slack_bolt import Ack, BoltRequest, BoltResponse, Respond
from slack_bolt.middleware import Middleware
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.web import SlackResponse
from slack_sdk.webhook import WebhookResponse

from bot.bootstrap import Services, system_clock
from bot.core.text import clip, safe
from bot.slack import history
from bot.slack.errors import TRANSIENT
from storage import jobs

logger = logging.getLogger(__name__)

JOB = "commstat_job"  # the BoltContext key of the running job, in a worker
RESPONSE_URL_LIFETIME = timedelta(minutes=30)
LATE_MARGIN = timedelta(minutes=1)  # answer by DM a little before the URL runs out
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
JOB_METADATA = "commstat_job_call"  # message metadata event type: which job and call posted it


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
        """Slack's answer to an earlier post of this call, if it is in the conversation. Slack
        unreachable: raised (the job is tried again later, not posted twice)."""
        plain = WebClient(token=self.token, base_url=self.base_url, timeout=self.timeout)
        channel = str(message.get("channel") or "")
        try:
            if channel.startswith(("U", "W")):
                channel = str(plain.conversations_open(users=channel)["channel"]["id"])
            found = history.find_marked(
                plain, channel, since=since, event_type=JOB_METADATA, key=mark
            )
        except (history.CannotLook, history.TooLong) as cannot:
            logger.warning(
                "job %s: cannot look for an interrupted post (%s); posting, a duplicate is "
                "possible",
                self.running.job.id,
                type(cannot).__name__,
            )
            return None
        if found is None:
            return None
        return {"ok": True, "channel": channel, "ts": found.get("ts"), "message": found}


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
