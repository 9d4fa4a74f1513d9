"""Slack listeners only: each module acks, parses, calls a use case in one transaction, builds
Block Kit and answers. No SQL here, and no handler imports another (only `replies`)."""

from __future__ import annotations

from slack_bolt import App

from bot.bootstrap import Services
from handlers import commit, commit_actions, commstat, home, imports, indicator, lifecycle


def register(app: App, services: Services) -> None:
    commit.register(app, services)
    commit_actions.register(app, services)
    home.register(app, services)
    indicator.register(app, services)
    imports.register(app, services)
    commstat.register(app, services)
    lifecycle.register(app, services)
