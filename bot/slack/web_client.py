"""The outbound Slack client: one place that knows the API URL and the retry rules."""

from __future__ import annotations

from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)

from bot.config import Settings


def make_client(settings: Settings, *, token: str | None = None, timeout: int = 10) -> WebClient:
    """A WebClient that honours Retry-After on 429 and retries 5xx and dropped connections.

    slack_sdk only retries connection errors by default; Bolt copies these handlers to the
    per-request client it injects into listeners.
    """
    if token is None and settings.slack_bot_token is not None:
        token = settings.slack_bot_token.get_secret_value()
    return WebClient(
        token=token,
        base_url=settings.slack_api_url,
        timeout=timeout,
        retry_handlers=[
            ConnectionErrorRetryHandler(max_retry_count=2),
            RateLimitErrorRetryHandler(max_retry_count=3),
            ServerErrorRetryHandler(max_retry_count=2),
        ],
    )
