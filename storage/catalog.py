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
        min: 0                       # optional: the lowest and highest plausible values; a value
        max: 1000000                 #   outside is refused on import and on /indicator set
        period_kind: 12-month-ending # daily | weekly | monthly | quarterly | yearly | 12-month-ending
        update_frequency: monthly, 4-month lag   # daily/weekly/monthly/quarterly/yearly[, N-month lag]
        steward: U0MARIA             # Slack user id of who keeps the data up to date
        source: "CDC/NCHS VSRR Provisional Drug Overdose Death Counts (data.cdc.gov xkb8-kh2a)"
        description: Deaths in the 12 months up to the month shown.
        visibility: public           # or a list of channel ids: [C0123, C0456]
    default_geography: MD            # optional: the geography shown when none is asked for

Sources that refresh themselves: a file (CSV or Excel) or a Socrata (SODA) endpoint the
scheduler fetches when one of its indicators' next period is due, and daily while it is late
(`bot/followup/sources.py`; `commstat sources refresh [NAME]` fetches now). One file often holds
several measures, so a source is named once, at the top, with the options `commstat import`
takes, and each indicator it feeds says `fetch_from:` its name:

.. code-block:: yaml

    sources:
      - name: vsrr                     # how `fetch_from:` and `commstat sources refresh` name it
        url: https://data.cdc.gov/resource/xkb8-kh2a.csv?$where=state in('MD','US')
        indicator_column: indicator    # the options of `commstat import`, without the dashes:
        period_column: period_end      #   indicator, indicator_column, period_column (a list
        value_column: data_value       #   or {year: Year, month: Month} when split),
        geography_column: state        #   value_column (a list or {COLUMN: Indicator name} for
        filter: {period: 12 month-ending}  # several measures), geography_column, unit_column,
                                       #   unit, filter ({COLUMN: VALUE}), sheet, skip_rows,
                                       #   county_fips_column
    indicators:
      - name: Number of Drug Overdose Deaths
        fetch_from: vsrr               # null: no longer refreshed from a source
      - name: Naloxone dispensing rate # one file, one indicator: the source may sit on the entry
        source_url: https://example.org/naloxone.csv   # a source named after the indicator
        source_mapping: {period_column: YEAR, value_column: rate, geography_column: STATE}

A source's `url` must be http(s), without a user name or password; a Socrata endpoint
(`…/resource/abcd-1234.csv`) is paged by the bot ($limit/$offset, ordered by :id), so leave
those two out, and keep its `$where`/`$select` in the URL. `url: null` stops fetching a source.
Changing a source's URL or options forgets its conditional-request state (ETag, Last-Modified)
and fetches it again when due. Each indicator a source's fetch brings is linked to that source.

Rules: only ``name`` is required. A key left out leaves that field as it is (so a short file
never wipes what someone else set); ``null`` clears it. An indicator is matched to one already
stored by its name or slug, by one of its stored aliases, or — after a rename — by one of the
new aliases being the old name; its slug never changes, so #tags keep working. The whole file is
checked first and refused with every problem listed (naming the indicator and the field); nothing
is written unless all of it is valid. Loading the same file twice changes nothing.

Values are never below zero unless `min` says so, and never a trillion or more either way
(`bot.core.indicator_rules.value_range`, the one rule for imported and typed values).

The YAML is read with limits, so a small file cannot take the machine: at most
MAX_YAML_DEPTH levels of nesting and MAX_YAML_NODES values once anchors and aliases
(`&name`/`*name`) are expanded, and no recursive alias. A file over the limits is refused with
one plain sentence before anything is built from it. Names, aliases, units, sources and the
default geography may not hold control characters (a description may run over lines), and a
message quotes the file's texts clipped, with any control character shown as `?`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.core.indicator_rules import LARGEST_VALUE
from bot.core.periods import PERIOD_KINDS, PeriodError, normalise_kind, parse_update_frequency
from bot.core.text import USER_ID as SLACK_USER_ID
from bot.core.text import clip, format_number
from storage.import_records import source_named
from storage.importer import CONTROL_IN_TEXT, ImportError_, ImportMapping, printable, shown, slugify
from storage.models import Direction, ImportSource, Indicator
from storage.repositories import ensure_team

FIELDS = (
    "name",
    "aliases",
    "unit",
    "direction",
    "target",
    "min",
    "max",
    "period_kind",
    "update_frequency",
    "steward",
    "source",
    "description",
    "visibility",
    "fetch_from",
    "source_url",
    "source_mapping",
)
SOURCE_LINKS = ("fetch_from", "source_url", "source_mapping")  # not columns: the source link
TOP_LEVEL = ("indicators", "sources", "default_geography")
# A source's import options: `commstat import`'s, without the dashes (`filters` also reads).
MAPPING_OPTIONS = (
    "indicator",
    "indicator_column",
    "period_column",
    "value_column",
    "geography_column",
    "unit_column",
    "unit",
    "filter",
    "sheet",
    "skip_rows",
    "county_fips_column",
)
SOURCE_FIELDS = ("name", "url", *MAPPING_OPTIONS)
MAX_URL_CHARS = 2000
# Socrata's API endpoints: /resource/<4x4 id>.<format> (dev.socrata.com/docs/endpoints).
SODA_PATH = re.compile(r"^/resource/[a-z0-9]{4}-[a-z0-9]{4}\.([a-z]+)$", re.IGNORECASE)
USER_ID = re.compile(rf"^<?@?({SLACK_USER_ID})(?:\|[^>]*)?>?$")
CHANNEL_ID = re.compile(r"^<?#?([CG][A-Z0-9]{2,31})(?:\|[^>]*)?>?$")
MAX_FILE_BYTES = 2_000_000
MAX_YAML_DEPTH = 20  # a catalog needs 5: document, indicators, an indicator, its aliases, one alias
MAX_YAML_NODES = 100_000  # values once aliases are expanded; the bundled catalog has ~70
COLUMNS = {
    "steward": "steward_id",
    "visibility": "restricted_to",
    "min": "plausible_min",
    "max": "plausible_max",
}
_ABSENT: Any = object()  # default_geography not mentioned: leave it as it is


class CatalogError(Exception):
    """The catalog was refused; nothing was written. The message lists every problem, made safe
    for a terminal (no control characters, never huge) whatever the file held."""

    def __init__(self, message: str) -> None:
        super().__init__(printable(message))


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


@dataclass
class _Source:
    """One validated source of the file (under `sources:`, or written on an indicator with
    `source_url:`): where to fetch it and how to read it."""

    name: str
    url: str | None
    mapping: dict[str, Any]  # ImportMapping.to_dict()


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
    entries, default_geography, sources = _validate(document, path.name)
    with sessions.begin() as session:
        team = ensure_team(session, team_id, time_zone=time_zone, now=now)
        known = list(session.scalars(select(Indicator).where(Indicator.team_id == team_id)))
        matches = _match(entries, known, path.name)
        stored_sources, source_notes = _store_sources(session, team_id, entries, sources, now=now)
        links = _links(session, team_id, entries, stored_sources, path.name)
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
                _apply(indicator, entry, links)
                created.append(entry.name)
                continue
            changed = _apply(indicator, entry, links)
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
    lines += source_notes
    return printable("\n".join(lines))


def _store_sources(
    session: Session,
    team_id: str,
    entries: Sequence[_Entry],
    sources: Sequence[_Source],
    *,
    now: datetime,
) -> tuple[dict[str, ImportSource], list[str]]:
    """Create or update the file's sources (and those written on an indicator). A changed URL or
    mapping forgets the conditional-request state and the failures: it is another request."""
    wanted = list(sources)
    for entry in entries:
        if entry.fields.get("source_url") is not None:
            wanted.append(
                _Source(entry.name, entry.fields["source_url"], entry.fields["source_mapping"])
            )
    stored: dict[str, ImportSource] = {}
    notes: list[str] = []
    for source in wanted:
        row = source_named(session, team_id, source.name)
        if row is None:
            row = ImportSource(
                team_id=team_id,
                name=source.name,
                mapping=source.mapping,
                source_url=source.url,
                failures=0,
                created_at=now,
                updated_at=now,
            )
            session.add(row)
            notes.append(f"• source {source.name}: {_where(source.url)}")
        elif row.source_url != source.url or row.mapping != source.mapping:
            row.source_url, row.mapping = source.url, source.mapping
            row.etag = row.last_modified = row.last_error = None
            row.next_fetch_at = None  # the scheduler decides again when it is due
            row.failures = 0
            row.updated_at = now
            notes.append(f"• updated source {source.name}: {_where(source.url)}")
        stored[source.name] = row
    session.flush()
    return stored, notes


def _where(url: str | None) -> str:
    if url is None:
        return "not fetched (no url)"
    parts = urlsplit(url)
    return f"fetched from {parts.hostname or '?'} when due"


def _links(
    session: Session,
    team_id: str,
    entries: Sequence[_Entry],
    stored: dict[str, ImportSource],
    file: str,
) -> dict[int, int | None]:
    """The source id each entry that mentions one is linked to (None: unlinked). A `fetch_from`
    name not in the file must be a source already stored."""
    links: dict[int, int | None] = {}
    problems: list[str] = []
    for entry in entries:
        if "source_url" in entry.fields:
            url = entry.fields["source_url"]
            links[entry.position] = stored[entry.name].id if url is not None else None
        elif "fetch_from" in entry.fields:
            name = entry.fields["fetch_from"]
            if name is None:
                links[entry.position] = None
                continue
            source = stored.get(name) or source_named(session, team_id, name)
            if source is None:
                problems.append(
                    f"indicator {entry.position} '{shown(entry.name)}': fetch_from "
                    f"'{shown(name)}' is not a source; list it under `sources:` with its url"
                )
                continue
            links[entry.position] = source.id
    if problems:
        raise _refusal(file, problems)
    return links


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
        document = _load_yaml(text, path.name)
    except yaml.YAMLError as exc:
        where = ""
        mark = getattr(exc, "problem_mark", None)
        if mark is not None:
            where = f" at line {mark.line + 1}, column {mark.column + 1}"
        problem = getattr(exc, "problem", None) or str(exc)
        raise CatalogError(
            f"{path.name} is not valid YAML{where}: {shown(problem, 200)}. Nothing was loaded."
        ) from None
    except RecursionError:  # the limits below should make this impossible; never a traceback
        raise CatalogError(
            f"{path.name} is nested too deeply to read; a catalog needs only a few levels. "
            "Nothing was loaded."
        ) from None
    except (ValueError, OverflowError) as exc:  # e.g. a date 2025-13-45, or 5,000 digits
        reason = str(exc)
        if "integer string conversion" in reason:
            reason = "a number thousands of digits long"
        raise CatalogError(
            f"{path.name} has a value that cannot be read ({clip(reason, 120)}). "
            "Nothing was loaded."
        ) from None
    if document is None:
        raise CatalogError(f"{path.name} is empty; it needs an `indicators:` list.")
    return document


class _TooDeep(yaml.YAMLError):
    def __init__(self, mark: Any) -> None:
        super().__init__()
        self.mark = mark


class _TooMany(yaml.YAMLError):
    def __init__(self, mark: Any) -> None:
        super().__init__()
        self.mark = mark


class _LimitedLoader(yaml.SafeLoader):
    """PyYAML's safe loader with limits while it composes the node graph: on nesting (the
    composer recurses once per level: 50,000 levels would exhaust Python's stack) and on the
    number of nodes written (a flat list of a million `1`s fits in 2 MB, and composing it costs
    a gigabyte), so both are refused as soon as they pass the limit."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.depth = 0
        self.nodes = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        self.depth += 1
        self.nodes += 1
        try:
            if self.depth > MAX_YAML_DEPTH:
                raise _TooDeep(self.peek_event().start_mark)
            if self.nodes > MAX_YAML_NODES:
                raise _TooMany(self.peek_event().start_mark)
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


# YAML 1.1 (PyYAML) reads 1e6 and -1e308 as text: a number with an exponent is a number here.
_LimitedLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def _load_yaml(text: str, file: str) -> Any:
    """The document, built only once its node graph is known to be small when expanded.

    Anchors and aliases share one node, so composing `lol: &a [*b, *b, ...]` nine levels deep
    costs nothing; it is whatever walks the built values (a message quoting them, a check of
    every alias) that would expand them to billions. The expanded size and depth are counted on
    the graph first, each shared node once."""
    _count_nodes(text, file)
    loader = _LimitedLoader(text)
    try:
        try:
            node = loader.get_single_node()
        except _TooDeep as exc:
            raise CatalogError(
                f"{file} is nested more than {MAX_YAML_DEPTH} levels deep (at line "
                f"{exc.mark.line + 1}); a catalog needs only a few levels. Nothing was loaded."
            ) from None
        except _TooMany as exc:
            raise _too_many(file, exc.mark.line + 1) from None
        if node is None:
            return None
        _check_expanded(node, file)
        return loader.construct_document(node)
    finally:
        loader.dispose()


_NODE_EVENTS = (yaml.ScalarEvent, yaml.SequenceStartEvent, yaml.MappingStartEvent, yaml.AliasEvent)


def _too_many(file: str, line: int) -> CatalogError:
    return CatalogError(
        f"{file} has more than {MAX_YAML_NODES:,} values (line {line}); a catalog needs far "
        "fewer. Nothing was loaded."
    )


def _count_nodes(text: str, file: str) -> None:
    """Refuse a file of more than MAX_YAML_NODES values in a fraction of a second, counting the
    events of libyaml's parser (C) when PyYAML has it; the composer counts again, slowly, without
    it. A file libyaml cannot parse is left to the composer, which says why."""
    if not yaml.__with_libyaml__:  # pragma: no cover - the composer's count is the limit
        return
    parser = yaml.CSafeLoader(text)
    nodes = 0
    try:
        while (event := parser.get_event()) is not None:
            if isinstance(event, _NODE_EVENTS):
                nodes += 1
                if nodes > MAX_YAML_NODES:
                    mark = event.start_mark
                    raise _too_many(file, mark.line + 1 if mark is not None else 1)
            elif isinstance(event, yaml.StreamEndEvent):
                return
    except yaml.YAMLError:
        return
    finally:
        parser.dispose()


def _check_expanded(root: yaml.Node, file: str) -> None:
    """Refuse a graph whose expansion is larger or deeper than a catalog can be, or that
    contains itself (an alias inside its own anchor). Iterative: no recursion on any input."""
    expanded: dict[int, tuple[int, int]] = {}  # id(node) -> (values, depth) once expanded
    open_: set[int] = set()  # nodes being expanded: the path from the root
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        children = _children(node)
        if children_done:
            size = 1 + sum(expanded[id(c)][0] for c in children)
            depth = 1 + max((expanded[id(c)][1] for c in children), default=0)
            if size > MAX_YAML_NODES:
                raise CatalogError(
                    f"{file} expands to more than {MAX_YAML_NODES:,} values: its anchors and "
                    "aliases (`&name`, `*name`) repeat each other. A catalog needs far fewer; "
                    "write the values out. Nothing was loaded."
                )
            if depth > MAX_YAML_DEPTH:
                raise CatalogError(
                    f"{file} is nested more than {MAX_YAML_DEPTH} levels deep once its aliases "
                    "(`*name`) are expanded; a catalog needs only a few levels. Nothing was "
                    "loaded."
                )
            expanded[key] = (size, depth)
            open_.discard(key)
            continue
        if key in expanded:
            continue
        open_.add(key)
        stack.append((node, True))
        for child in children:
            if id(child) in open_:
                raise CatalogError(
                    f"{file} has an alias inside its own anchor (`*name` within `&name`), which "
                    "never ends. Write the values out. Nothing was loaded."
                )
            if id(child) not in expanded:
                stack.append((child, False))


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _validate(document: Any, file: str) -> tuple[list[_Entry], Any, list[_Source]]:
    problems: list[str] = []
    if not isinstance(document, dict):
        raise CatalogError(
            f"{file} should start with `indicators:` followed by a list of indicators."
        )
    unknown = [str(k) for k in document if k not in TOP_LEVEL]
    if unknown:
        problems.append(
            f"unknown top-level key{'s' if len(unknown) > 1 else ''} {_listed(unknown)} "
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
            elif default_geography and CONTROL_IN_TEXT.search(default_geography):
                problems.append(f"default_geography {_CONTROL_PROBLEM}")
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
    sources = _sources(document.get("sources"), problems)
    named = {source.name for source in sources}
    for entry in entries:
        if "source_url" in entry.fields and entry.name in named:
            problems.append(
                f"indicator {entry.position} '{shown(entry.name)}': its source_url would be a "
                "source of the same name as one under `sources:`; use fetch_from instead"
            )
    if problems:
        raise _refusal(file, problems)
    return entries, default_geography, sources


def _sources(items: Any, problems: list[str]) -> list[_Source]:
    """The `sources:` list, each checked: a name, an http(s) url (or null) and the options
    `commstat import` takes."""
    if items is None:
        return []
    if not isinstance(items, list):
        problems.append("`sources:` should be a list of sources, each with a name and a url")
        return []
    sources: list[_Source] = []
    seen: dict[str, int] = {}
    for position, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            problems.append(
                f"source {position}: should be a set of `key: value` lines (name, url, and the "
                f"import options), not {clip(_shown(item), 60)}"
            )
            continue
        try:
            name = _text(item.get("name"), limit=200)
        except ValueError as exc:
            problems.append(f"source {position}: name {exc}")
            continue
        if name is None or not slugify(name):
            problems.append(f"source {position}: needs a `name:` (with letters or digits)")
            continue
        who = f"source {position} '{shown(name)}'"
        if name in seen:
            problems.append(f"{who}: same name as source {seen[name]}")
            continue
        seen[name] = position
        unknown = [str(k) for k in item if k not in (*SOURCE_FIELDS, "filters")]
        if unknown:
            problems.append(
                f"{who}: unknown field{'s' if len(unknown) > 1 else ''} {_listed(unknown)} "
                f"(allowed: {', '.join(SOURCE_FIELDS)})"
            )
            continue
        if "url" not in item:
            problems.append(f"{who}: needs a `url:` (or `url: null` to stop fetching it)")
            continue
        try:
            url = _url(item["url"])
            options = {k: v for k, v in item.items() if k not in ("name", "url")}
            mapping = _mapping(options, default_indicator=None)
        except ValueError as exc:
            problems.append(f"{who}: {exc}")
            continue
        sources.append(_Source(name, url, mapping))
    return sources


def _url(value: Any) -> str | None:
    """A source's address: http(s) only, a host, no user name or password (they would be
    stored and shown), and for a Socrata endpoint its CSV form without $limit/$offset."""
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ValueError(
            "url should be an address such as https://data.cdc.gov/resource/xkb8-kh2a.csv"
        )
    text = value.strip()
    if len(text) > MAX_URL_CHARS:
        raise ValueError(f"url is longer than {MAX_URL_CHARS} characters")
    if CONTROL_IN_TEXT.search(text):
        raise ValueError(f"url {_CONTROL_PROBLEM}")
    try:
        parts = urlsplit(text)
        _ = parts.port  # ValueError for a port that is not a number or out of range
    except ValueError:
        raise ValueError(f"url '{shown(text)}' is not a valid address") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise ValueError(
            f"url '{shown(text)}' should start with https:// (or http://); "
            f"{parts.scheme or 'a bare'}{':' if parts.scheme else ''} addresses are never fetched"
        )
    if not parts.hostname:
        raise ValueError(f"url '{shown(text)}' has no host name")
    if parts.username is not None or parts.password is not None:
        raise ValueError(
            "url should not hold a user name or password (they would be stored and shown); "
            "use a public address"
        )
    soda = SODA_PATH.match(parts.path)
    if soda:
        if soda[1].lower() != "csv":
            raise ValueError(
                f"url is a Socrata endpoint in .{soda[1]}; use its .csv form "
                f"({shown(parts.path.rsplit('.', 1)[0])}.csv)"
            )
        paging = {k for k, _ in parse_qsl(parts.query, keep_blank_values=True)} & {
            "$limit",
            "$offset",
        }
        if paging:
            raise ValueError(
                f"url: leave out {' and '.join(sorted(paging))}; the bot pages through a "
                "Socrata endpoint itself"
            )
    return text


def _mapping(options: dict[str, Any], *, default_indicator: str | None) -> dict[str, Any]:
    """A source's import options as ImportMapping.to_dict(), checked by the importer's own rules.
    `default_indicator`: the indicator every row is when the options name none (a source
    written on an indicator)."""
    kwargs: dict[str, Any] = {}
    filters: list[str] = []
    for key, value in options.items():
        if key in ("filter", "filters"):
            filters += _pairs(value, key, "COLUMN=VALUE")
        elif key in ("period_column", "value_column"):
            if isinstance(value, dict):  # {year: Year, month: Month}; {COLUMN: Indicator name}
                kwargs[key] = _pairs(value, key, "")
            elif isinstance(value, list):
                kwargs[key] = [_option_text(v, key) for v in value]
            else:
                kwargs[key] = _option_text(value, key)
        elif key == "skip_rows":
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 1000
            ):
                raise ValueError("skip_rows should be a number of lines from 0 to 1000")
            kwargs[key] = value
        elif key in MAPPING_OPTIONS:
            kwargs[key] = _option_text(value, key)
        else:
            raise ValueError(f"unknown import option {shown(key)}")
    value = kwargs.get("value_column")
    measures = isinstance(value, list) or (isinstance(value, str) and "=" in value)
    if default_indicator is not None and not (
        kwargs.get("indicator") or kwargs.get("indicator_column") or measures
    ):
        kwargs["indicator"] = default_indicator
    try:
        mapping = ImportMapping.from_options(filters=filters, **kwargs)
    except ImportError_ as exc:
        raise ValueError(str(exc).replace("--", "")) from None
    return mapping.to_dict()


def _option_text(value: Any, key: str) -> str | None:
    if value is None:
        return None
    text = _text(value, limit=200)
    if text is None:
        raise ValueError(f"{key} is empty")
    return text


def _pairs(value: Any, key: str, example: str) -> list[str]:
    """{A: B} or a list of "A=B" texts, as "A=B" texts."""
    if value is None:
        return []
    if isinstance(value, dict):
        out = []
        for left, right in value.items():
            a, b = _option_text(left, key), _option_text(right, key)
            out.append(f"{a}={b}")
        return out
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise ValueError(f"{key} should be a list or {{A: B}} lines, e.g. {example}")
    return [str(_option_text(v, key)) for v in value]


def _refusal(file: str, problems: Sequence[str]) -> CatalogError:
    shown = problems[:30]
    lines = [f"Nothing was loaded: {file} has {len(problems)} problem{'s' * (len(problems) > 1)}:"]
    lines += [f"  {p}" for p in shown]
    if len(problems) > len(shown):
        lines.append(f"  …and {len(problems) - len(shown)} more.")
    lines.append("Fix them and load the file again.")
    return CatalogError("\n".join(lines))


_CONTROL_PROBLEM = "holds a control character (shown as ?); remove it"
# A description may run over lines; nothing else may hold a control character but a tab.
_CONTROL_IN_PROSE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _listed(texts: Sequence[str]) -> str:
    listed = ", ".join(shown(t) for t in texts[:10])
    return listed + (f" and {len(texts) - 10:,} more" if len(texts) > 10 else "")


def _text(value: Any, *, limit: int | None, prose: bool = False) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError("should be a text")
    text = str(value).strip()
    if limit is not None and len(text) > limit:
        raise ValueError(f"is longer than {limit} characters")
    if (_CONTROL_IN_PROSE if prose else CONTROL_IN_TEXT).search(text):
        raise ValueError(f"'{shown(text, 60)}' {_CONTROL_PROBLEM}")
    return text or None


def _entry(position: int, item: Any, problems: list[str]) -> _Entry | None:
    if not isinstance(item, dict):
        problems.append(
            f"indicator {position}: should be a set of `key: value` lines, not "
            f"{clip(_shown(item), 60)}"
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
    who = f"indicator {position} '{shown(name)}'"
    if len(name) > 200:
        problems.append(f"{who}: name is longer than 200 characters")
        return None
    if CONTROL_IN_TEXT.search(name):
        problems.append(f"{who}: name {_CONTROL_PROBLEM}")
        return None
    slug = slugify(name)
    if not slug:
        problems.append(f"{who}: name has no letters or digits")
        return None
    entry = _Entry(position, name, slug)
    unknown = [str(k) for k in item if k not in FIELDS]
    if unknown:
        problems.append(
            f"{who}: unknown field{'s' if len(unknown) > 1 else ''} {_listed(unknown)} "
            f"(allowed: {', '.join(FIELDS)})"
        )
    for key, value in item.items():
        if key in ("name", *unknown):
            continue
        try:
            entry.fields[key] = _field(key, value)
        except ValueError as exc:
            problems.append(f"{who}: {key} {exc}")
    _source_fields(entry, item, who, problems)
    low, high = entry.fields.get("min"), entry.fields.get("max")
    if low is not None and high is not None and low > high:
        problems.append(f"{who}: min {format_number(low)} is above max {format_number(high)}")
    return entry


def _source_fields(entry: _Entry, item: dict[str, Any], who: str, problems: list[str]) -> None:
    """`fetch_from`, or `source_url` with its `source_mapping` (read with the entry's name as
    the indicator unless the mapping names the indicators)."""
    if "fetch_from" in item and "source_url" in item:
        problems.append(f"{who}: use either fetch_from (a source under `sources:`) or source_url")
    if "source_mapping" in item:
        if "source_url" not in item:
            problems.append(f"{who}: source_mapping needs a source_url")
            entry.fields.pop("source_mapping", None)
            return
        options = item["source_mapping"] or {}
        if not isinstance(options, dict):
            problems.append(f"{who}: source_mapping should be `key: value` lines of import options")
            return
        try:
            entry.fields["source_mapping"] = _mapping(options, default_indicator=entry.name)
        except ValueError as exc:
            problems.append(f"{who}: source_mapping {exc}")
    elif "source_url" in item:
        entry.fields["source_mapping"] = _mapping({}, default_indicator=entry.name)


def _field(key: str, value: Any) -> Any:
    """One field, checked and normalised; ValueError says what is wrong (after the field name)."""
    if key == "fetch_from":
        text = _text(value, limit=200)
        return text
    if key == "source_url":
        return _url(value)
    if key == "source_mapping":
        return value  # checked with the entry's name (_source_fields)
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
                raise ValueError(f"'{shown(text)}' has no letters or digits")
            if text not in aliases:
                aliases.append(text)
        return aliases
    if key in ("unit",):
        return _text(value, limit=100)
    if key == "source":
        return _text(value, limit=5000)
    if key == "description":
        return _text(value, limit=5000, prose=True)
    if key == "direction":
        text = (_text(value, limit=40) or "").lower()
        text = re.sub(r"\s+is\s+better$", "", text)
        if text not in ("lower", "higher"):
            raise ValueError(f"'{shown(value)}' should be lower or higher (which is better)")
        return Direction(text)
    if key == "target":
        return _number(value, "1200")
    if key in ("min", "max"):
        return _number(value, "0" if key == "min" else "100")
    if key == "period_kind":
        if value is None:
            return None
        kind = normalise_kind(str(value))
        if kind is None:
            raise ValueError(f"'{shown(value)}' should be one of {', '.join(PERIOD_KINDS)}")
        return kind
    if key == "update_frequency":
        text = _text(value, limit=30)
        if text is None:
            return None
        try:
            parse_update_frequency(text)
        except PeriodError:
            raise ValueError(
                f"'{shown(text)}' is not readable; write e.g. monthly, quarterly, yearly or "
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
                f"'{shown(text)}' should be a Slack user id like U0123ABCD (in Slack: the person's "
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
                    f"'{shown(channel)}' should be a channel id like C0123ABCD (in Slack: the channel's "
                    "details → About → Channel ID), or the word public"
                )
            if found[1] not in channels:
                channels.append(found[1])
        return channels
    raise ValueError("is not a catalog field")  # pragma: no cover - filtered before


def _number(value: Any, example: str) -> float | None:
    """A number field (target, min, max): finite, and under a trillion either way."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"'{clip(str(value), 40)}' should be a number, e.g. {example}")
    written = _shown(value)
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if math.isnan(number):
        raise ValueError(f"{clip(written, 40)} should be a number, e.g. {example}")
    if not abs(number) < LARGEST_VALUE:
        raise ValueError(
            f"{clip(written, 40)} is far too large; an indicator's values stay under "
            "a trillion either way"
        )
    return number


def _shown(value: Any) -> str:
    """A value for a message: a float short (1e+12), anything else as repr(), even an integer
    too long for str() (Python refuses 4,300+ digits)."""
    if isinstance(value, float):
        return f"{value:.6g}"
    try:
        return repr(value)
    except ValueError:
        return "a number of thousands of digits"


def _check_unique(entries: Sequence[_Entry], problems: list[str]) -> None:
    """Names and aliases must point at one indicator each, or lookups would be a coin toss."""
    owner: dict[str, _Entry] = {}
    for entry in entries:
        if entry.slug in owner:
            first = owner[entry.slug]
            problems.append(
                f"indicator {entry.position} '{shown(entry.name)}': same name as indicator "
                f"{first.position} '{shown(first.name)}'"
            )
            continue
        owner[entry.slug] = entry
    for entry in entries:
        for alias in entry.aliases:
            key = slugify(alias)
            other = owner.get(key)
            if other is not None and other is not entry:
                problems.append(
                    f"indicator {entry.position} '{shown(entry.name)}': alias '{shown(alias)}' is already the "
                    f"name or an alias of indicator {other.position} '{shown(other.name)}'"
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
                f"indicator {entry.position} '{shown(entry.name)}': matches '{shown(mine.name)}', which another "
                "indicator of this file also matches"
            )
        # An alias must not name an indicator this file leaves alone.
        for alias in entry.aliases:
            key = slugify(alias)
            other = by_key.get(key) or by_alias.get(key)
            if other is not None and other is not mine and other.id not in taken:
                problems.append(
                    f"indicator {entry.position} '{shown(entry.name)}': alias '{shown(alias)}' is already the "
                    f"name or an alias of the indicator '{shown(other.name)}' (#{other.slug})"
                )
    if problems:
        raise _refusal(file, problems)
    return matches


def _apply(indicator: Indicator, entry: _Entry, links: dict[int, int | None]) -> list[str]:
    """Set the fields the entry mentions; return the names of those that changed."""
    changed: list[str] = []
    wanted: dict[str, Any] = {"name": entry.name}
    for key, value in entry.fields.items():
        if key not in SOURCE_LINKS:
            wanted[COLUMNS.get(key, key)] = value
    if entry.position in links:
        wanted["source_id"] = links[entry.position]
    field_of = {column: key for key, column in COLUMNS.items()} | {"source_id": "fetch_from"}
    for column, value in wanted.items():
        current = getattr(indicator, column)
        if current != value:
            setattr(indicator, column, value)
            changed.append(field_of.get(column, column))
    return changed


__all__ = ["FIELDS", "CatalogError", "load_catalog"]
