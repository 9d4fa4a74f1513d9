"""Settings: the one place that reads the environment.

Every other module receives a `Settings` (or the values it needs) as an argument, so tests and
the demo can build one without touching `os.environ`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite:///commstat.sqlite3"

# Field name → environment variable, for messages that name what the user must set.
ENV_NAMES = {
    "database_url": "DATABASE_URL",
    "slack_bot_token": "SLACK_BOT_TOKEN",
    "slack_signing_secret": "SLACK_SIGNING_SECRET",
    "slack_app_token": "SLACK_APP_TOKEN",
    "slack_api_url": "SLACK_API_URL",
    "port": "PORT",
    "timezone": "COMMSTAT_TIMEZONE",
    "slack_client_id": "SLACK_CLIENT_ID",
    "slack_client_secret": "SLACK_CLIENT_SECRET",
    "slack_scopes": "SLACK_SCOPES",
    "slack_redirect_uri": "SLACK_REDIRECT_URI",
    "source_private_hosts": "COMMSTAT_SOURCE_PRIVATE_HOSTS",
}


class ConfigError(Exception):
    """A setting is missing or wrong; the message is one line that names the variable."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore", populate_by_name=True)

    database_url: str = DEFAULT_DATABASE_URL
    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_api_url: str = "https://slack.com/api/"
    port: int = Field(default=3000, ge=1, le=65535)
    timezone: str = Field(default="America/New_York", validation_alias="COMMSTAT_TIMEZONE")
    # OAuth mode (installable in many workspaces) when SLACK_CLIENT_ID is set; else token mode.
    slack_client_id: str | None = None
    slack_client_secret: SecretStr | None = None
    slack_scopes: str | None = None  # comma-separated bot scopes; default: manifest.yml's
    slack_redirect_uri: str | None = None  # only when several redirect URLs are registered
    # Catalog sources (`source_url`) are fetched only from public addresses; these hosts (names
    # or IP addresses, comma-separated, as written in the URL) may be on a private network,
    # e.g. the health department's own data server.
    source_private_hosts: str | None = None

    @field_validator("slack_api_url")
    @classmethod
    def _trailing_slash(cls, value: str) -> str:
        # WebClient joins base_url and the method name by plain concatenation.
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL such as https://slack.com/api/")
        return value if value.endswith("/") else value + "/"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r}; use an IANA name such as America/New_York"
            ) from None
        return value

    @field_validator(
        "slack_bot_token",
        "slack_signing_secret",
        "slack_app_token",
        "slack_client_id",
        "slack_client_secret",
        "slack_scopes",
        "slack_redirect_uri",
        "source_private_hosts",
        mode="before",
    )
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("slack_redirect_uri")
    @classmethod
    def _absolute_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError(
                "must be a full URL such as https://commstat.example.org/slack/oauth_redirect"
            )
        return value

    @property
    def oauth_enabled(self) -> bool:
        """OAuth mode: each workspace installs the app and gets its own bot token."""
        return self.slack_client_id is not None

    def require(self, *fields: str) -> None:
        """Stop early, naming the variable, when a command needs a setting that is not set."""
        for name in fields:
            if getattr(self, name) is None:
                raise ConfigError(
                    f"{ENV_NAMES[name]} is not set; see README.md, 'Connecting to Slack'."
                )

    def secret_values(self) -> list[str]:
        """The secrets themselves, so the log filter can redact them wherever they appear."""
        values = [
            s.get_secret_value()
            for s in (
                self.slack_bot_token,
                self.slack_signing_secret,
                self.slack_app_token,
                self.slack_client_secret,
            )
            if s is not None
        ]
        return [v for v in values if v]


def load_settings(environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
    """Build settings from `environ` (default: the process environment) plus explicit overrides.

    Validation errors become one `ConfigError` line that names the variable but never echoes a
    value, because the value might be a secret.
    """
    env = dict(os.environ if environ is None else environ)
    data: dict[str, object] = {}
    for field, var in ENV_NAMES.items():
        if var in env:
            data[var if field == "timezone" else field] = env[var]
    data.update(overrides)
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = str(first["loc"][0]) if first["loc"] else "?"
        var = ENV_NAMES.get(loc, loc.upper())
        raise ConfigError(f"{var} is not valid: {first['msg']}") from None
