"""Bootstrap: the one place that assembles the bot's dependencies from settings."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot.config import Settings
from storage.db import make_engine, make_session_factory, upgrade

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)  # now-ok: the one real clock; everything else is handed `clock`


@dataclass
class Services:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    clock: Clock = field(default=system_clock)


def bootstrap(settings: Settings, *, clock: Clock = system_clock, migrate: bool = True) -> Services:
    engine = make_engine(settings.database_url)
    if migrate:
        upgrade(engine)
    return Services(
        settings=settings, engine=engine, sessions=make_session_factory(engine), clock=clock
    )
