"""Sources that refresh themselves: the real CDC files served by a local web server, the
scheduler passes that fetch them when their next period is due, the meeting channel that reads
"New data: …" once, the steward who hears only when fetching fails, and `commstat sources
refresh` by hand. Hostile servers (500, silence, a byte at a time, endless, a web page, not a
table, redirects inward) change nothing and get a plain reason."""

from __future__ import annotations

import gzip
import hashlib
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from bot.bootstrap import Services, bootstrap
from bot.cli import main
from bot.followup.scheduler import run_pass
from bot.sandbox.fake_slack import FakeSlack
from bot.usecases import meetings
from bot.usecases.commitments import Actor
from bot.usecases.fetch import FetchError, FetchLimits, fetch
from storage.catalog import load_catalog
from storage.models import DataImport, ImportSource, Indicator, IndicatorValue
from tests.conftest import BOT_TOKEN, SIGNING_SECRET, TEAM_ID, make_settings

ROOT = Path(__file__).resolve().parents[2]
VSRR = ROOT / "bot" / "data" / "cdc_vsrr_provisional_overdose_deaths_US_MD_NC_VT.csv"
NALOXONE = ROOT / "bot" / "data" / "cdc_naloxone_dispensing_rates_by_state.csv"
DOSE = Path("/work/shared/data/cdc_dose_sys_nonfatal_overdose_ed_rates_by_state.csv")
if not DOSE.exists():  # CI lays shared/ beside the clone
    DOSE = ROOT.parent / "shared" / "data" / DOSE.name
MEETING = "C0MEETING"
LIMITS = FetchLimits(
    connect_timeout=2, read_timeout=1, total_seconds=4, max_bytes=1_000_000, soda_page_rows=1000
)
T0 = datetime(2025, 7, 1, 14, 0, tzinfo=UTC)  # Tue Jul 1 2025, 10:00 in New York
DEATHS = "Number of Drug Overdose Deaths"


# --- a local publisher -----------------------------------------------------------------------


@dataclass
class Request:
    path: str
    query: dict[str, str]
    headers: dict[str, str]


@dataclass
class Site:
    """What each path answers, and every request that came."""

    routes: dict[str, tuple[str, Any]] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    port: int = 0

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def serve(self, path: str, body: bytes, **options: Any) -> None:
        self.routes[path] = ("file", {"body": body, **options})

    def answer(self, path: str, kind: str, value: Any = None) -> None:
        self.routes[path] = (kind, value)

    def hits(self, path: str) -> list[Request]:
        return [r for r in self.requests if r.path == path]


def _etag(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:16] + '"'


LAST_MODIFIED = "Mon, 01 Sep 2025 00:00:00 GMT"


class _Handler(BaseHTTPRequestHandler):
    site: Site
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        self.site.requests.append(Request(parts.path, query, dict(self.headers.items())))
        kind, value = self.site.routes.get(parts.path, ("status", 404))
        try:
            getattr(self, f"_{kind}")(value, query)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, text in (headers or {}).items():
            self.send_header(name, text)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _file(self, options: dict[str, Any], _query: dict[str, str]) -> None:
        body = options["body"]
        etag = _etag(body)
        if self.headers.get("If-None-Match") == etag:
            self._send(304, b"", {"ETag": etag})
            return
        headers = {"ETag": etag, "Content-Type": options.get("type", "text/csv; charset=utf-8")}
        if options.get("gzip"):
            body = gzip.compress(body)
            headers["Content-Encoding"] = "gzip"
        self._send(200, body, headers)

    def _status(self, status: int, _query: dict[str, str]) -> None:
        self._send(status, b"oops", {"Content-Type": "text/plain"})

    def _html(self, _value: Any, _query: dict[str, str]) -> None:
        page = b"<!DOCTYPE html><html><body>Please sign in</body></html>"
        self._send(200, page, {"Content-Type": "text/html"})

    def _redirect(self, location: str, _query: dict[str, str]) -> None:
        self._send(302, b"", {"Location": location})

    def _silent(self, seconds: float, _query: dict[str, str]) -> None:
        time.sleep(seconds)
        self._send(200, b"indicator,period,value\n", {"Content-Type": "text/csv"})

    def _drip(self, seconds: float, _query: dict[str, str]) -> None:
        """Slow loris: a byte of the headers every `seconds`, never finishing."""
        for byte in b"HTTP/1.1 200 OK\r\nContent-Type: text/csv\r\nX-Padding: " + b"a" * 1000:
            self.wfile.write(bytes([byte]))
            self.wfile.flush()
            time.sleep(seconds)

    def _endless(self, _value: Any, _query: dict[str, str]) -> None:
        """A body with no length that never ends (until 20 MB, or the client leaves)."""
        self.send_response(200)
        self.send_header("Content-Type", "text/csv")
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(b"indicator,period,value\n")
        row = b"Overdoses,2025-01,1\n" * 3000
        for _ in range(400):
            self.wfile.write(row)

    def _soda(self, path: Path, query: dict[str, str]) -> None:
        """A Socrata endpoint over a CSV: $where (`col in('A','B')`), $order, $limit, $offset,
        and Last-Modified / If-Modified-Since."""
        if self.headers.get("If-Modified-Since") == LAST_MODIFIED:
            self._send(304, b"", {"Last-Modified": LAST_MODIFIED})
            return
        header, *rows = path.read_text(encoding="utf-8-sig").splitlines(keepends=True)
        where = re.match(r"(\w+) in\(([^)]*)\)", query.get("$where", ""))
        if where:
            column = header.strip().split(",").index(where[1])
            wanted = set(re.findall(r"'([^']*)'", where[2]))
            rows = [r for r in rows if r.split(",")[column] in wanted]
        offset, limit = int(query.get("$offset", 0)), int(query.get("$limit", 1000))
        body = (header + "".join(rows[offset : offset + limit])).encode()
        self._send(
            200,
            body,
            {
                "Content-Type": "text/csv; charset=UTF-8",
                "ETag": f'"page-{offset}"',
                "Last-Modified": LAST_MODIFIED,
            },
        )


@pytest.fixture
def site() -> Iterator[Site]:
    site = Site()
    handler = type("Handler", (_Handler,), {"site": site})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    site.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield site
    server.shutdown()
    server.server_close()


# --- the bot -----------------------------------------------------------------------------------


def services_for(url: str, fake: FakeSlack) -> Services:
    return bootstrap(
        make_settings(url, fake.api_url, COMMSTAT_SOURCE_PRIVATE_HOSTS="127.0.0.1")
    )


@pytest.fixture
def services(sqlite_url: str, fake_slack: FakeSlack) -> Iterator[Services]:
    services = services_for(sqlite_url, fake_slack)
    yield services
    services.engine.dispose()


def vsrr_catalog(site: Site, path: str = "/vsrr.csv") -> str:
    indicator = """
  - name: {name}
    fetch_from: vsrr
    period_kind: 12-month-ending
    update_frequency: monthly, 4-month lag
    steward: U0MARIA"""
    return (
        f"""
sources:
  - name: vsrr
    url: {site.url(path)}
    indicator_column: Indicator
    period_column: period_end
    value_column: Data Value
    geography_column: State
indicators:"""
        + "".join(
            indicator.format(name=name)
            for name in (DEATHS, "Opioids (T40.0-T40.4,T40.6)", "Synthetic opioids, excl. methadone (T40.4)")
        )
        + "\ndefault_geography: MD\n"
    )


def set_up(services: Services, tmp_path: Path, catalog: str, *, at: datetime = T0) -> None:
    path = tmp_path / "catalog.yml"
    path.write_text(catalog, encoding="utf-8")
    load_catalog(services.sessions, team_id=TEAM_ID, path=path, now=at)
    with services.sessions.begin() as session:
        admin = Actor(TEAM_ID, "U0ADMIN", is_admin=True)
        meetings.set_meeting(session, admin, MEETING, "every Thursday at 10am", now=at)


def tick(services: Services, at: datetime) -> Any:
    report = run_pass(services, now=at, per_channel_interval=0, source_limits=LIMITS)
    assert not report.errors, report.summary()
    return report


def announcements(fake: FakeSlack, channel: str = MEETING) -> list[str]:
    """Each "New data" message of the channel, as its text."""
    return [
        m["text"]
        for m in fake.messages(channel)
        if m["text"].startswith(("New data:", "Revised data:"))
    ]


def news(fake: FakeSlack, channel: str = MEETING) -> list[str]:
    """Every line of those messages."""
    return [line for text in announcements(fake, channel) for line in text.splitlines()]


def failure_notes(fake: FakeSlack, user: str = "U0MARIA") -> list[str]:
    return [
        m["blocks"][0]["text"]["text"]
        for m in fake.messages(user)
        if "could not fetch" in m.get("text", "")
    ]


def values(services: Services, name: str = DEATHS) -> dict[tuple[str, str], float | None]:
    with services.sessions() as session:
        rows = session.execute(
            select(IndicatorValue.period, IndicatorValue.geography, IndicatorValue.value)
            .join(Indicator, Indicator.id == IndicatorValue.indicator_id)
            .where(Indicator.name == name)
        ).all()
    return {(p, g): v for p, g, v in rows}


def source(services: Services, name: str = "vsrr") -> ImportSource:
    with services.sessions() as session:
        found = session.scalar(select(ImportSource).where(ImportSource.name == name))
        assert found is not None
        session.expunge(found)
        return found


def without_april(path: Path) -> bytes:
    """The real file as CDC published it a month earlier: every row but April 2025's."""
    lines = path.read_bytes().splitlines(keepends=True)
    return b"".join(line for line in lines if b",2025,April,2025-04," not in line)


def on(day: datetime, hours: float = 0) -> datetime:
    return day + timedelta(hours=hours)


# --- due, fetched, announced once, then 304 -----------------------------------------------------


def test_a_source_refreshes_itself_when_its_next_period_is_due_and_is_announced_once(
    services, site, fake_slack, tmp_path
) -> None:
    site.serve("/vsrr.csv", without_april(VSRR))
    set_up(services, tmp_path, vsrr_catalog(site))

    # Nothing stored yet: the first pass fetches at once and tells the meeting channel.
    report = tick(services, T0)
    assert report.sources.summary() == "fetched 1 source (1 with new data)"
    assert len(site.hits("/vsrr.csv")) == 1
    first = news(fake_slack)
    assert len(announcements(fake_slack)) == 1 and len(first) == 3
    assert first[0] == (
        f"New data: {DEATHS} for 12 months ending Mar 2025 — MD 1,614, NC 2,299, US 75,669, VT 182"
    )
    assert ("2025-04", "MD") not in values(services)
    assert values(services)[("2025-03", "MD")] == 1614

    # April's value is due by Aug 30 (its month's end plus the 4-month lag): not fetched before.
    tick(services, datetime(2025, 8, 29, 14, tzinfo=UTC))
    assert len(site.hits("/vsrr.csv")) == 1
    assert source(services).next_fetch_at == datetime(2025, 8, 30, 10, tzinfo=UTC)  # 6:00 NY

    # CDC publishes April; the pass on the due day asks conditionally, gets it, announces once.
    site.serve("/vsrr.csv", VSRR.read_bytes())
    tick(services, datetime(2025, 8, 30, 14, tzinfo=UTC))
    asked = site.hits("/vsrr.csv")[-1]
    assert asked.headers["If-None-Match"] == _etag(without_april(VSRR))
    assert values(services)[("2025-04", "MD")] == 1562
    assert len(announcements(fake_slack)) == 2
    assert news(fake_slack)[3:] == [
        f"New data: {DEATHS} for 12 months ending Apr 2025 — MD 1,562, NC 2,163, US 73,690, VT 180",
        "New data: Opioids (T40.0-T40.4,T40.6) for 12 months ending Apr 2025 — MD 1,283, NC "
        "missing, US 48,422, VT 151",
        "New data: Synthetic opioids, excl. methadone (T40.4) for 12 months ending Apr 2025 — "
        "US 42,233",
    ]
    with services.sessions() as session:
        imports = session.scalars(select(DataImport).order_by(DataImport.id)).all()
        assert [(i.via, i.added) for i in imports] == [("source", 1107), ("source", 9)]
        assert imports[-1].source_id == source(services).id

    # Same instant again, and later the same day: nothing fetched, nothing said twice.
    tick(services, datetime(2025, 8, 30, 14, tzinfo=UTC))
    tick(services, datetime(2025, 8, 30, 20, tzinfo=UTC))
    assert len(site.hits("/vsrr.csv")) == 2

    # May is due Sep 30: the publisher has nothing new, so it answers 304 and nothing changes;
    # then daily while May is late, each time conditionally.
    stored = values(services)
    tick(services, datetime(2025, 9, 30, 14, tzinfo=UTC))
    tick(services, datetime(2025, 10, 1, 14, tzinfo=UTC))
    assert [r.headers.get("If-None-Match") for r in site.hits("/vsrr.csv")[2:]] == [
        _etag(VSRR.read_bytes())
    ] * 2
    assert values(services) == stored
    assert len(announcements(fake_slack)) == 2
    assert source(services).next_fetch_at == datetime(2025, 10, 2, 14, tzinfo=UTC)
    assert source(services).failures == 0
