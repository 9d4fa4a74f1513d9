"""`commstat indicators load FILE`: the indicator catalog (what makes each number meaningful).

Values arrive with `commstat import`; their meaning — aliases people type, unit, whether lower or
higher is better, target, period kind, how often the publisher updates, who looks after the data,
where it comes from and who may see it — lives here, in a YAML file kept with the coalition's
other documents:

.. code-block:: yaml

    indicators:
      - name: Number of Drug Overdose Deaths   # matched by name, slug or alias; else created
        aliases: [overdoses, overdose deaths, OD deaths]
        unit: deaths
        direction: lower             # lower | higher (is better)
        target: 1200                 # a number, in the indicator's unit
        period_kind: 12-month-ending # daily | weekly | monthly | quarterly | yearly | 12-month-ending
        update_frequency: monthly, 4-month lag   # daily/weekly/monthly/quarterly/yearly[, N-month lag]
        steward: U0MARIA             # Slack user id of who keeps the data up to date
        source: "CDC/NCHS VSRR Provisional Drug Overdose Death Counts (data.cdc.gov xkb8-kh2a)"
        description: Deaths in the 12 months up to the month shown.
        visibility: public           # or a list of channel ids: [C0123, C0456]
    default_geography: MD            # optional: the geography shown when none is asked for

Rules: only ``name`` is required. A key left out leaves that field as it is (so a short file
never wipes what someone else set); ``null`` clears it. An indicator is matched to one already
stored by its name or slug, by one of its stored aliases, or — after a rename — by one of the
new aliases being the old name; its slug never changes, so #tags keep working. The whole file is
checked first and refused with every problem listed (naming the indicator and the field); nothing
is written unless all of it is valid. Loading the same file twice changes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.core.periods import PERIOD_KINDS, PeriodError, normalise_kind, parse_update_frequency
from bot.core.text import USER_ID as SLACK_USER_ID
from storage.importer import slugify
from storage.models import Direction, Indicator
from storage.repositories import ensure_team

FIELDS = (
    "name",
    "aliases",
    "unit",
    "direction",
    "target",
    "period_kind",
    "update_frequency",
    "steward",
    "source",
    "description",
    "visibility",
)
TOP_LEVEL = ("indicators", "default_geography")
USER_ID = re.compile(rf"^<?@?({SLACK_USER_ID})(?:\|[^>]*)?>?$")
CHANNEL_ID = re.compile(r"^<?#?([CG][A-Z0-9]{2,31})(?:\|[^>]*)?>?$")
MAX_FILE_BYTES = 2_000_000
_ABSENT: Any = object()  # default_geography not mentioned: leave it as it is


class CatalogError(Exception):
    """The catalog was refused; nothing was written. The message lists every problem."""


@dataclass
class _Entry:
    """One validated indicator of the file: only the fields the file mentions."""

    position: int
    name: str
    slug: str
    fields: dict[str, Any] = field(default_factory=dict)

    @property
    def aliases(self) -> list[str]:
        return list(self.fields.get("aliases") or [])


def load_catalog(
    sessions: sessionmaker[Session],
    *,
    team_id: str,
    path: Path,
    now: datetime,
    time_zone: str = "America/New_York",
) -> str:
    """Check the whole file, then create or update its indicators in one transaction.

    Returns a summary for people. `time_zone` is only used if the team is new.
    """
    document = _read(path)
    entries, default_geography = _validate(document, path.name)
    with sessions.begin() as session:
        team = ensure_team(session, team_id, time_zone=time_zone, now=now)
        known = list(session.scalars(select(Indicator).where(Indicator.team_id == team_id)))
        matches = _match(entries, known, path.name)
        created, updated, unchanged = [], [], []
        for entry in entries:
            indicator = matches[entry.position]
            if indicator is None:
                indicator = Indicator(
                    team_id=team_id,
                    slug=entry.slug,
                    name=entry.name,
                    aliases=[],
                    direction=Direction.LOWER_IS_BETTER,
                    restricted_to=[],
                    created_at=now,
                    updated_at=now,
                )
                session.add(indicator)
                _apply(indicator, entry)
                created.append(entry.name)
                continue
            changed = _apply(indicator, entry)
            if changed:
                indicator.updated_at = now
                if {"period_kind", "update_frequency"} & set(changed):
                    indicator.next_check_at = None  # the scheduler re-checks freshness
                updated.append(f"{indicator.name} ({', '.join(changed)})")
            else:
                unchanged.append(indicator.name)
        geography_note = ""
        if default_geography is not _ABSENT and team.default_geography != default_geography:
            team.default_geography = default_geography
            geography_note = f" Default geography: {default_geography or 'none'}."
    lines = [
        f"Loaded {path.name}: {len(created)} created, {len(updated)} updated, "
        f"{len(unchanged)} unchanged.{geography_note}"
    ]
    lines += [f"• created {name}" for name in created]
    lines += [f"• updated {text}" for text in updated]
    return "\n".join(lines)


def _read(path: Path) -> Any:
    if not path.exists():
        raise CatalogError(f"There is no file at {path}. Check the path and try again.")
    if path.is_dir():
        raise CatalogError(f"{path} is a folder; give the path of a YAML catalog file.")
    if path.stat().st_size > MAX_FILE_BYTES:
        raise CatalogError(f"{path.name} is too big for a catalog (over 2 MB).")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise CatalogError(f"{path.name} is not a UTF-8 text file; save it as UTF-8.") from None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        where = ""
        mark = getattr(exc, "problem_mark", None)
        if mark is not None:
            where = f" at line {mark.line + 1}, column {mark.column + 1}"
        problem = getattr(exc, "problem", None) or str(exc)
        raise CatalogError(
            f"{path.name} is not valid YAML{where}: {problem}. Nothing was loaded."
        ) from None
    if document is None:
        raise CatalogError(f"{path.name} is empty; it needs an `indicators:` list.")
    return document


def _validate(document: Any, file: str) -> tuple[list[_Entry], Any]:
    problems: list[str] = []
    if not isinstance(document, dict):
        raise CatalogError(
            f"{file} should start with `indicators:` followed by a list of indicators."
        )
    unknown = [str(k) for k in document if k not in TOP_LEVEL]
    if unknown:
        problems.append(
            f"unknown top-level key{'s' if len(unknown) > 1 else ''} {', '.join(unknown)} "
            f"(allowed: {', '.join(TOP_LEVEL)})"
        )
    default_geography = document.get("default_geography", _ABSENT)
    if default_geography is not _ABSENT and default_geography is not None:
        if not isinstance(default_geography, str | int) or isinstance(default_geography, bool):
            problems.append("default_geography should be a text such as MD")
        else:
            default_geography = str(default_geography).strip() or None
            if default_geography and len(default_geography) > 100:
                problems.append("default_geography is longer than 100 characters")
    items = document.get("indicators")
    if not isinstance(items, list) or not items:
        problems.append("`indicators:` should be a list with at least one indicator")
        items = []
    entries: list[_Entry] = []
    for position, item in enumerate(items, start=1):
        entry = _entry(position, item, problems)
        if entry is not None:
            entries.append(entry)
    _check_unique(entries, problems)
    if problems:
        raise _refusal(file, problems)
    return entries, default_geography


def _refusal(file: str, problems: Sequence[str]) -> CatalogError:
    shown = problems[:30]
    lines = [f"Nothing was loaded: {file} has {len(problems)} problem{'s' * (len(problems) > 1)}:"]
    lines += [f"  {p}" for p in shown]
    if len(problems) > len(shown):
        lines.append(f"  …and {len(problems) - len(shown)} more.")
    lines.append("Fix them and load the file again.")
    return CatalogError("\n".join(lines))


def _text(value: Any, *, limit: int | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError("should be a text")
    text = str(value).strip()
    if limit is not None and len(text) > limit:
        raise ValueError(f"is longer than {limit} characters")
    return text or None


def _entry(position: int, item: Any, problems: list[str]) -> _Entry | None:
    if not isinstance(item, dict):
        problems.append(
            f"indicator {position}: should be a set of `key: value` lines, not {item!r}"
        )
        return None
    raw_name = item.get("name")
    if (
        not isinstance(raw_name, str | int)
        or isinstance(raw_name, bool)
        or not str(raw_name).strip()
    ):
        problems.append(f"indicator {position}: needs a `name:`")
        return None
    name = str(raw_name).strip()
    who = f"indicator {position} '{name}'"
    if len(name) > 200:
        problems.append(f"{who}: name is longer than 200 characters")
        return None
    slug = slugify(name)
    if not slug:
        problems.append(f"{who}: name has no letters or digits")
        return None
    entry = _Entry(position, name, slug)
    unknown = [str(k) for k in item if k not in FIELDS]
    if unknown:
        problems.append(
            f"{who}: unknown field{'s' if len(unknown) > 1 else ''} {', '.join(unknown)} "
            f"(allowed: {', '.join(FIELDS)})"
        )
    for key, value in item.items():
        if key in ("name", *unknown):
            continue
        try:
            entry.fields[key] = _field(key, value)
        except ValueError as exc:
            problems.append(f"{who}: {key} {exc}")
    return entry


def _field(key: str, value: Any) -> Any:
    """One field, checked and normalised; ValueError says what is wrong (after the field name)."""
    if key == "aliases":
        if value is None:
            return []
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list):
            raise ValueError("should be a list, e.g. [overdoses, OD deaths]")
        aliases: list[str] = []
        for alias in value:
            text = _text(alias, limit=100)
            if text is None:
                raise ValueError("has an empty alias")
            if not slugify(text):
                raise ValueError(f"'{text}' has no letters or digits")
            if text not in aliases:
                aliases.append(text)
        return aliases
    if key in ("unit",):
        return _text(value, limit=100)
    if key in ("source", "description"):
        return _text(value, limit=5000)
    if key == "direction":
        text = (_text(value, limit=40) or "").lower()
        text = re.sub(r"\s+is\s+better$", "", text)
        if text not in ("lower", "higher"):
            raise ValueError(f"'{value}' should be lower or higher (which is better)")
        return Direction(text)
    if key == "target":
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"'{value}' should be a number, e.g. 1200")
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"'{value}' should be a number, e.g. 1200")
        return float(value)
    if key == "period_kind":
        if value is None:
            return None
        kind = normalise_kind(str(value))
        if kind is None:
            raise ValueError(f"'{value}' should be one of {', '.join(PERIOD_KINDS)}")
        return kind
    if key == "update_frequency":
        text = _text(value, limit=30)
        if text is None:
            return None
        try:
            parse_update_frequency(text)
        except PeriodError:
            raise ValueError(
                f"'{text}' is not readable; write e.g. monthly, quarterly, yearly or "
                "'monthly, 4-month lag'"
            ) from None
        return text
    if key == "steward":
        text = _text(value, limit=40)
        if text is None:
            return None
        found = USER_ID.match(text)
        if not found:
            raise ValueError(
                f"'{text}' should be a Slack user id like U0123ABCD (in Slack: the person's "
                "profile → ⋮ → Copy member ID)"
            )
        return found[1]
    if key == "visibility":
        if value is None or (isinstance(value, str) and value.strip().lower() == "public"):
            return []
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not value:
            raise ValueError("should be public or a list of channel ids, e.g. [C0123ABCD]")
        channels: list[str] = []
        for channel in value:
            found = CHANNEL_ID.match(str(channel).strip())
            if not found:
                raise ValueError(
                    f"'{channel}' should be a channel id like C0123ABCD (in Slack: the channel's "
                    "details → About → Channel ID), or the word public"
                )
            if found[1] not in channels:
                channels.append(found[1])
        return channels
    raise ValueError("is not a catalog field")  # pragma: no cover - filtered before


def _check_unique(entries: Sequence[_Entry], problems: list[str]) -> None:
    """Names and aliases must point at one indicator each, or lookups would be a coin toss."""
    owner: dict[str, _Entry] = {}
    for entry in entries:
        if entry.slug in owner:
            first = owner[entry.slug]
            problems.append(
                f"indicator {entry.position} '{entry.name}': same name as indicator "
                f"{first.position} '{first.name}'"
            )
            continue
        owner[entry.slug] = entry
    for entry in entries:
        for alias in entry.aliases:
            key = slugify(alias)
            other = owner.get(key)
            if other is not None and other is not entry:
                problems.append(
                    f"indicator {entry.position} '{entry.name}': alias '{alias}' is already the "
                    f"name or an alias of indicator {other.position} '{other.name}'"
                )
            elif other is None:
                owner[key] = entry


def _match(
    entries: Sequence[_Entry], known: Sequence[Indicator], file: str
) -> dict[int, Indicator | None]:
    """The stored indicator each entry updates (None: a new one), and collisions with the rest."""
    by_key: dict[str, Indicator] = {}
    for indicator in known:
        for key in (indicator.slug, slugify(indicator.name)):
            by_key.setdefault(key, indicator)
    by_alias: dict[str, Indicator] = {}
    for indicator in known:
        for alias in indicator.aliases:
            by_alias.setdefault(slugify(alias), indicator)
    matches: dict[int, Indicator | None] = {}
    for entry in entries:
        found = by_key.get(entry.slug) or by_alias.get(entry.slug)
        if found is None:  # renamed: the old name is now an alias
            for alias in entry.aliases:
                found = by_key.get(slugify(alias))
                if found is not None:
                    break
        matches[entry.position] = found
    problems: list[str] = []
    taken = [m.id for m in matches.values() if m is not None]
    for entry in entries:
        mine = matches[entry.position]
        if mine is not None and taken.count(mine.id) > 1:
            problems.append(
                f"indicator {entry.position} '{entry.name}': matches '{mine.name}', which another "
                "indicator of this file also matches"
            )
        # An alias must not name an indicator this file leaves alone.
        for alias in entry.aliases:
            key = slugify(alias)
            other = by_key.get(key) or by_alias.get(key)
            if other is not None and other is not mine and other.id not in taken:
                problems.append(
                    f"indicator {entry.position} '{entry.name}': alias '{alias}' is already the "
                    f"name or an alias of the indicator '{other.name}' (#{other.slug})"
                )
    if problems:
        raise _refusal(file, problems)
    return matches


def _apply(indicator: Indicator, entry: _Entry) -> list[str]:
    """Set the fields the entry mentions; return the names of those that changed."""
    changed: list[str] = []
    wanted: dict[str, Any] = {"name": entry.name}
    for key, value in entry.fields.items():
        column = {"steward": "steward_id", "visibility": "restricted_to"}.get(key, key)
        wanted[column] = value
    for column, value in wanted.items():
        current = getattr(indicator, column)
        if current != value:
            setattr(indicator, column, value)
            changed.append(
                {"steward_id": "steward", "restricted_to": "visibility"}.get(column, column)
            )
    return changed


__all__ = ["FIELDS", "CatalogError", "load_catalog"]
