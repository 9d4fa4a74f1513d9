"""plain text: what people wrote is stored as the words they read, escaped only on the way out

Until now a commitment's text, its notes and drop reasons, organisation names and the default
place were stored as Slack sent them from a slash command (`&amp;`, `<@U123|lee>`,
`<https://x|the agenda>`, broadcasts already turned into `@channel`), while the same words from a
form were stored raw. From this version they are stored as plain words (`&`, `@lee`,
`the agenda (https://x)`) and `bot.core.text.safe` escapes them for every Slack surface. This
rewrites the rows stored before. A mention without a name (`<@U123>`) takes the person's stored
display name when there is one.

The reading of Slack's markup is copied here as it is today, so this migration keeps doing
exactly this even when the app's own reading changes.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 10:00:00
"""

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 500
DETAIL_KEYS = {"done": "note", "noted": "note", "dropped": "reason"}

_MARKUP = re.compile(r"<([^<>]*)>")
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:\S")
_ENTITY = re.compile(r"&(amp|lt|gt);")
_ENTITIES = {"amp": "&", "lt": "<", "gt": ">"}

commitments = sa.table(
    "commitments",
    sa.column("id", sa.Integer),
    sa.column("team_id", sa.String),
    sa.column("text", sa.Text),
)
events = sa.table(
    "commitment_events",
    sa.column("id", sa.Integer),
    sa.column("team_id", sa.String),
    sa.column("kind", sa.String),
    sa.column("detail", sa.JSON),
)
people = sa.table(
    "people",
    sa.column("team_id", sa.String),
    sa.column("user_id", sa.String),
    sa.column("display_name", sa.String),
    sa.column("organisation", sa.String),
)
teams = sa.table("teams", sa.column("id", sa.String), sa.column("default_geography", sa.String))


def _plain(text: str, names: Mapping[str, str]) -> str:
    """Slack's markup and escaping as the words a person sees (bot.core.text.plain, 2026-11)."""

    def words(match: re.Match[str]) -> str:
        target, _, label = match[1].partition("|")
        label = label.strip()
        if target.startswith("@"):
            return "@" + (label.lstrip("@") or names.get(target[1:]) or target[1:])
        if target.startswith("#"):
            return "#" + (label.lstrip("#") or target[1:])
        if target.startswith("!"):
            word = target[1:]
            if word in ("here", "channel", "everyone"):
                return "@" + word
            if word.startswith("subteam^"):
                return "@" + (label.lstrip("@") or word.removeprefix("subteam^"))
            return label or word
        if _URL.match(target):
            if not label or label == target:
                return target
            if target.lower().startswith("mailto:") and label == target[len("mailto:") :]:
                return label
            return f"{label} ({target})"
        return match[0]

    return _ENTITY.sub(lambda m: _ENTITIES[m[1]], _MARKUP.sub(words, text))


def _escape(text: str, _names: Mapping[str, str]) -> str:
    """Back to the form the previous version expects: Slack's three characters escaped."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _rewrite(change: Callable[[str, Mapping[str, str]], str]) -> None:
    bind = op.get_bind()
    names: dict[str, dict[str, str]] = {}
    for team_id, user_id, name in bind.execute(
        sa.select(people.c.team_id, people.c.user_id, people.c.display_name).where(
            people.c.display_name.is_not(None)
        )
    ):
        if name:
            names.setdefault(team_id, {})[user_id] = name

    def pages(
        table: sa.TableClause, *columns: sa.ColumnClause[Any], where: Any = None
    ) -> Iterator[Any]:
        """The rows in pages by id, so a large table is never held in memory at once."""
        last: int | None = None
        while True:
            query = sa.select(table.c.id, table.c.team_id, *columns).order_by(table.c.id)
            if where is not None:
                query = query.where(where)
            if last is not None:
                query = query.where(table.c.id > last)
            page = bind.execute(query.limit(BATCH)).all()
            if not page:
                return
            yield from page
            last = page[-1].id

    for row in pages(commitments, commitments.c.text):
        new = change(row.text or "", names.get(row.team_id, {}))
        if new != (row.text or ""):
            bind.execute(commitments.update().where(commitments.c.id == row.id).values(text=new))
    for row in pages(events, events.c.kind, events.c.detail, where=events.c.kind.in_(DETAIL_KEYS)):
        key = DETAIL_KEYS.get(row.kind)
        if key is None or not isinstance(row.detail, dict) or not row.detail.get(key):
            continue
        before = str(row.detail[key])
        after = change(before, names.get(row.team_id, {}))
        if after != before:
            detail = {**row.detail, key: after}
            bind.execute(events.update().where(events.c.id == row.id).values(detail=detail))
    for team_id, user_id, organisation in bind.execute(
        sa.select(people.c.team_id, people.c.user_id, people.c.organisation).where(
            people.c.organisation.is_not(None)
        )
    ).all():
        new = change(organisation, names.get(team_id, {}))[:200]
        if new != organisation:
            bind.execute(
                people.update()
                .where(people.c.team_id == team_id, people.c.user_id == user_id)
                .values(organisation=new)
            )
    for team_id, place in bind.execute(
        sa.select(teams.c.id, teams.c.default_geography).where(
            teams.c.default_geography.is_not(None)
        )
    ).all():
        new = change(place, {})[:100]
        if new != place:
            bind.execute(teams.update().where(teams.c.id == team_id).values(default_geography=new))


def upgrade() -> None:
    _rewrite(_plain)


def downgrade() -> None:
    _rewrite(_escape)
