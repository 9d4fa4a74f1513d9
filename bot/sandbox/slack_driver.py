"""Play Slack's side of the conversation: signed slash commands, clicks, form submissions, events.

Used by the end-to-end tests and by `commstat demo`, so both drive the real app exactly the way
Slack does: over HTTP, form-encoded or JSON bodies, signed with the signing secret.
"""

from __future__ import annotations

import inspect
import json
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from slack_sdk.signature import SignatureVerifier


@dataclass
class HttpAnswer:
    status: int
    body: bytes
    headers: dict[str, str]
    seconds: float

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


def sign(secret: str, body: bytes, timestamp: int) -> dict[str, str]:
    signature = SignatureVerifier(secret).generate_signature(timestamp=str(timestamp), body=body)
    assert signature is not None
    return {"X-Slack-Request-Timestamp": str(timestamp), "X-Slack-Signature": signature}


def post(url: str, body: bytes, headers: dict[str, str], *, timeout: float = 10) -> HttpAnswer:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310
            return HttpAnswer(
                answer.status, answer.read(), dict(answer.headers), time.perf_counter() - started
            )
    except urllib.error.HTTPError as error:
        return HttpAnswer(
            error.code, error.read(), dict(error.headers), time.perf_counter() - started
        )


@dataclass
class SlackDriver:
    """Sends what Slack would send to `events_url`, signed with `signing_secret`."""

    events_url: str
    signing_secret: str
    team_id: str
    response_url_for: Any = None  # callable(key) -> URL, e.g. FakeSlack.response_url
    team_domain: str = "coalition"
    sent: list[dict[str, Any]] = field(default_factory=list)

    def _post(
        self,
        body: bytes,
        content_type: str,
        *,
        timestamp: int | None = None,
        retry_num: int | None = None,
        secret: str | None = None,
    ) -> HttpAnswer:
        ts = int(time.time()) if timestamp is None else timestamp
        headers = {"Content-Type": content_type, **sign(secret or self.signing_secret, body, ts)}
        if retry_num is not None:
            headers["X-Slack-Retry-Num"] = str(retry_num)
            headers["X-Slack-Retry-Reason"] = "http_timeout"
        return post(self.events_url, body, headers)

    def command_payload(
        self,
        command: str,
        text: str,
        *,
        user: str,
        channel: str = "C0MEETING",
        trigger_id: str | None = None,
        team_id: str | None = None,
    ) -> dict[str, str]:
        key = uuid.uuid4().hex[:12]
        return {
            "token": "legacy-unused",
            "team_id": team_id or self.team_id,
            "team_domain": self.team_domain,
            "channel_id": channel,
            "channel_name": "commstat" if channel.startswith("C") else "directmessage",
            "user_id": user,
            "user_name": user.lower(),
            "command": command,
            "text": text,
            "api_app_id": "A0COMMSTAT",
            "is_enterprise_install": "false",
            "response_url": self.response_url_for(key)
            if self.response_url_for
            else "http://127.0.0.1:9/none",
            "trigger_id": trigger_id or f"{key}.trigger",
        }

    def command(
        self,
        command: str,
        text: str = "",
        *,
        user: str,
        channel: str = "C0MEETING",
        trigger_id: str | None = None,
        team_id: str | None = None,
        **kwargs: Any,
    ) -> HttpAnswer:
        payload = self.command_payload(
            command, text, user=user, channel=channel, trigger_id=trigger_id, team_id=team_id
        )
        self.sent.append({"type": "command", **payload})
        return self.send_form(payload, **kwargs)

    def send_form(self, payload: dict[str, str], **kwargs: Any) -> HttpAnswer:
        return self._post(
            urlencode(payload).encode(), "application/x-www-form-urlencoded", **kwargs
        )

    def interaction(self, payload: dict[str, Any], **kwargs: Any) -> HttpAnswer:
        """Block actions, view submissions and shortcuts arrive as a form field `payload` (JSON)."""
        payload.setdefault("team", {"id": self.team_id, "domain": self.team_domain})
        payload.setdefault("api_app_id", "A0COMMSTAT")
        payload.setdefault("token", "legacy-unused")
        self.sent.append({"type": "interaction", **payload})
        body = urlencode({"payload": json.dumps(payload)}).encode()
        return self._post(body, "application/x-www-form-urlencoded", **kwargs)

    def event(self, event: dict[str, Any], **kwargs: Any) -> HttpAnswer:
        envelope = {
            "token": "legacy-unused",
            "team_id": self.team_id,
            "api_app_id": "A0COMMSTAT",
            "event": event,
            "type": "event_callback",
            "event_id": "Ev" + uuid.uuid4().hex[:10].upper(),
            "event_time": int(time.time()),
            "authorizations": [{"team_id": self.team_id, "user_id": "U0BOT", "is_bot": True}],
        }
        self.sent.append({"type": "event", **envelope})
        return self._post(json.dumps(envelope).encode(), "application/json", **kwargs)

    # --- shorthands for the interactions the bot offers ---------------------------------------

    def click(self, action_id: str, *, user: str, **kwargs: Any) -> HttpAnswer:
        """A click on a button, date picker or menu, in a message (default) or in App Home
        (the arguments of `click_payload`; others go to `interaction`)."""
        known = set(inspect.signature(self.click_payload).parameters)
        payload = self.click_payload(
            action_id, user=user, **{k: v for k, v in kwargs.items() if k in known}
        )
        return self.interaction(payload, **{k: v for k, v in kwargs.items() if k not in known})

    def click_payload(
        self,
        action_id: str,
        *,
        user: str,
        value: str | None = None,
        block_id: str = "b",
        channel: str | None = None,
        message_ts: str | None = None,
        ephemeral: bool = False,
        home: bool = False,
        selected_date: str | None = None,
        selected_option: str | None = None,
        trigger_id: str | None = None,
        response_key: str | None = None,
    ) -> dict[str, Any]:
        """The payload of a click (to send it twice, as Slack's retry does)."""
        action: dict[str, Any] = {
            "action_id": action_id,
            "block_id": block_id,
            "action_ts": f"{time.time():.6f}",
        }
        if value is not None:
            action.update(type="button", value=value)
        if selected_date is not None:
            action.update(type="datepicker", selected_date=selected_date)
        if selected_option is not None:
            action.update(type="static_select", selected_option={"value": selected_option})
        payload: dict[str, Any] = {
            "type": "block_actions",
            "user": {"id": user, "team_id": self.team_id, "username": user.lower()},
            "trigger_id": trigger_id or uuid.uuid4().hex[:12] + ".trigger",
            "actions": [action],
        }
        if home:
            payload["container"] = {"type": "view", "view_id": "VHOME"}
            payload["view"] = {"id": "VHOME", "type": "home"}
        else:
            payload["container"] = {
                "type": "message",
                "message_ts": message_ts,
                "channel_id": channel,
                "is_ephemeral": ephemeral,
            }
            payload["channel"] = {"id": channel}
            if not ephemeral:
                payload["message"] = {"ts": message_ts, "type": "message"}
            if self.response_url_for:
                payload["response_url"] = self.response_url_for(
                    response_key or uuid.uuid4().hex[:12]
                )
        return payload

    def submit_view(
        self,
        callback_id: str,
        values: dict[str, dict[str, Any]],
        *,
        user: str,
        view_id: str | None = None,
        private_metadata: str = "",
        **kwargs: Any,
    ) -> HttpAnswer:
        """Submit a modal; `values` is {block_id: {action_id: element state}} as Slack sends it."""
        payload = {
            "type": "view_submission",
            "user": {"id": user, "team_id": self.team_id},
            "trigger_id": uuid.uuid4().hex[:12] + ".trigger",
            "view": {
                "id": view_id or "V" + uuid.uuid4().hex[:10].upper(),
                "type": "modal",
                "callback_id": callback_id,
                "private_metadata": private_metadata,
                "state": {"values": values},
            },
        }
        return self.interaction(payload, **kwargs)
