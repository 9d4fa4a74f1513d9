"""Sources that refresh themselves: the real CDC files served by a local web server, the
scheduler passes that fetch them when their next period is due, the meeting channel that reads
"New data: …" once, the steward who hears only when fetching fails, and `commstat sources
refresh` by hand. Hostile servers (500, silence, a byte at a time, endless, a web page, not a
table, redirects inward) change nothing and get a plain reason."""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import re
import socket
import sys
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
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            getattr(self, f"_{kind}")(value, query)

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


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that drops its connection (the fetcher's kept-alive one, closed) is not a
        fault to print: the traceback went to stderr, which a CLI test reads as its output."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


@pytest.fixture
def site() -> Iterator[Site]:
    site = Site()
    handler = type("Handler", (_Handler,), {"site": site})
    server = _Server(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    site.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield site
    server.shutdown()
    server.server_close()


# --- the bot -----------------------------------------------------------------------------------


def services_for(url: str, fake: FakeSlack) -> Services:
    return bootstrap(make_settings(url, fake.api_url, COMMSTAT_SOURCE_PRIVATE_HOSTS="127.0.0.1"))


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
            for name in (
                DEATHS,
                "Opioids (T40.0-T40.4,T40.6)",
                "Synthetic opioids, excl. methadone (T40.4)",
            )
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


# --- a changed file, by hand ---------------------------------------------------------------------


def test_slow_sources_do_not_hold_up_a_pass_the_rest_wait_for_the_next(
    services, site, fake_slack, tmp_path, monkeypatch
) -> None:
    # Two sources due at once; the pass's time for downloads is used up by the first (a slow
    # publisher): the second is not started, and the next pass (a minute later) fetches it.
    from bot.followup import sources as step

    monkeypatch.setattr(step, "PASS_SECONDS", 0.0)
    site.serve("/vsrr.csv", without_april(VSRR))
    site.serve("/vsrr2.csv", without_april(VSRR))
    second = vsrr_catalog(site).replace(
        "indicators:",
        f"""  - name: vsrr2
    url: {site.url("/vsrr2.csv")}
    indicator_column: Indicator
    period_column: period_end
    value_column: Data Value
    geography_column: State
indicators:""",
    )
    second = second.replace(
        "Synthetic opioids, excl. methadone (T40.4)\n    fetch_from: vsrr\n",
        "Synthetic opioids, excl. methadone (T40.4)\n    fetch_from: vsrr2\n",
    )
    set_up(services, tmp_path, second)
    assert tick(services, T0).sources.summary() == "fetched 1 source (1 with new data)"
    assert (len(site.hits("/vsrr.csv")), len(site.hits("/vsrr2.csv"))) == (1, 0)
    assert source(services, "vsrr2").next_fetch_at == T0  # released, not claimed for 30 minutes
    # (Its file is the same CDC file, whose values the first source already stored.)
    assert tick(services, T0 + timedelta(minutes=1)).sources.summary() == "fetched 1 source"
    assert (len(site.hits("/vsrr.csv")), len(site.hits("/vsrr2.csv"))) == (1, 1)


@pytest.fixture
def commstat(sqlite_url: str, fake_slack: FakeSlack):
    runner = CliRunner(
        env={
            "DATABASE_URL": sqlite_url,
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": fake_slack.api_url,
            "COMMSTAT_TIMEZONE": "America/New_York",
            "COMMSTAT_SOURCE_PRIVATE_HOSTS": "127.0.0.1",
        }
    )

    def invoke(*args: str):
        return runner.invoke(main, [*args, "--team", TEAM_ID])

    return invoke


def revised(path: Path, old: bytes, new: bytes) -> bytes:
    body = path.read_bytes()
    assert body.count(old) == 1
    return body.replace(old, new)


def test_commstat_sources_refresh_by_hand_imports_a_changed_file_and_says_what_happened(
    services, site, fake_slack, tmp_path, commstat
) -> None:
    site.serve("/vsrr.csv", VSRR.read_bytes())
    set_up(services, tmp_path, vsrr_catalog(site), at=datetime.now(UTC))

    first = commstat("sources", "refresh", "vsrr")
    assert first.exit_code == 0, first.output
    assert first.output.splitlines()[:2] == [
        "vsrr: fetched 110 KB from 127.0.0.1; 1,116 values added, 0 revised.",
        "  announced in 1 channel",
    ]
    assert "Outbox: sent 1 message" in first.output
    assert len(announcements(fake_slack)) == 1

    # CDC revises Maryland's April count (provisional data): the next refresh updates it.
    site.serve(
        "/vsrr.csv",
        revised(
            VSRR,
            b"MD,Maryland,2025,April,2025-04,12 month-ending,Number of Drug Overdose Deaths,1562,",
            b"MD,Maryland,2025,April,2025-04,12 month-ending,Number of Drug Overdose Deaths,1570,",
        ),
    )
    second = commstat("sources", "refresh", "vsrr")
    assert second.exit_code == 0, second.output
    assert second.output.startswith(
        "vsrr: fetched 110 KB from 127.0.0.1; 0 values added, 1 revised."
    )
    assert values(services)[("2025-04", "MD")] == 1570
    assert announcements(fake_slack)[1] == f"Revised data: {DEATHS} — 1 revised"

    # The same file again: a conditional request, 304, nothing changes, nothing is said.
    third = commstat("sources", "refresh")
    assert third.exit_code == 0, third.output
    assert third.output.strip() == (
        "vsrr: not changed since the last fetch (127.0.0.1 answered 304 Not Modified); "
        "nothing imported."
    )
    assert len(announcements(fake_slack)) == 2

    unknown = commstat("sources", "refresh", "<!channel> vsrr2")
    assert unknown.exit_code == 1
    assert (
        "There is no source called '<!channel> vsrr2'. Sources with a url: vsrr." in unknown.output
    )

    site.answer("/vsrr.csv", "status", 503)
    failing = commstat("sources", "refresh", "vsrr")
    assert failing.exit_code == 1
    assert failing.output.strip() == (
        "vsrr: failed — 127.0.0.1 answered 503 Service Unavailable. Nothing was imported."
    )
    assert values(services)[("2025-04", "MD")] == 1570
    assert failure_notes(fake_slack) == []  # the operator read it; nobody else is bothered


# --- a failing server --------------------------------------------------------------------------

AUG_30 = datetime(2025, 8, 30, 14, tzinfo=UTC)  # April's value is due: the source is fetched


@pytest.mark.parametrize(
    ("failure", "reason", "tries_before_telling"),
    [
        (("status", 500), "127.0.0.1 answered 500 Internal Server Error.", 3),
        (("silent", 3), "127.0.0.1 did not answer within 1 s.", 3),
        (("endless", None), "127.0.0.1 sent more than 1 MB; a source may be at most that big.", 1),
        (("html", None), "127.0.0.1 sent a web page (HTML), not a table.", 1),
        (("file", {"body": NALOXONE.read_bytes()}), "127.0.0.1 sent a file I could not import:", 1),
    ],
    ids=["500", "timeout", "too-big", "html", "not-this-table"],
)
def test_a_failing_source_tells_the_steward_once_and_changes_nothing(
    services, site, fake_slack, tmp_path, failure, reason, tries_before_telling
) -> None:
    site.serve("/vsrr.csv", without_april(VSRR))
    set_up(services, tmp_path, vsrr_catalog(site))
    tick(services, T0)
    stored = values(services)
    site.answer("/vsrr.csv", *failure)

    # Retried after 15 minutes and an hour when it may mend by itself, else daily.
    told_at = None
    for n, at in enumerate(
        [AUG_30, on(AUG_30, 0.25), on(AUG_30, 1.25), on(AUG_30, 25.25), on(AUG_30, 49.25)],
        start=1,
    ):
        tick(services, at)
        if failure_notes(fake_slack) and told_at is None:
            told_at = n
    assert told_at == tries_before_telling
    assert len(site.hits("/vsrr.csv")) == 1 + (5 if tries_before_telling == 3 else 3)
    [note] = failure_notes(fake_slack)
    assert note.startswith(
        "⚠️ I could not fetch the source *vsrr* (127.0.0.1) for Number of Drug Overdose Deaths, "
        "Opioids (T40.0-T40.4,T40.6), Synthetic opioids, excl. methadone (T40.4): " + reason
    )
    assert "Nothing was imported; the values stay as they were." in note
    assert values(services) == stored
    assert len(announcements(fake_slack)) == 1  # the first fetch's, nothing since
    state = source(services)
    assert state.failures == (5 if tries_before_telling == 3 else 3)
    assert state.last_error is not None and state.last_error.startswith(reason.split(":")[0])

    # It mends: the next fetch imports April and the streak is over.
    site.serve("/vsrr.csv", VSRR.read_bytes())
    tick(services, on(AUG_30, 24 * 4))
    assert values(services)[("2025-04", "MD")] == 1562
    assert source(services).failures == 0
    assert len(failure_notes(fake_slack)) == 1


# --- Socrata ---------------------------------------------------------------------------------


def test_a_socrata_endpoint_is_paged_into_one_import_and_asked_again_by_its_last_modified(
    services, site, fake_slack, tmp_path
) -> None:
    """The DOSE-SYS emergency-department file as a SODA endpoint: pages of 1,000 rows in a
    stable order, the catalog's $where kept, one import of every page."""
    site.answer("/resource/dose-sys1.csv", "soda", DOSE)
    url = (
        site.url("/resource/dose-sys1.csv")
        + "?$where=jurisdiction in('MD','VT','NC','PA','VA','DE','WV','NY','NJ','OH','KY','TN','GA','FL','SC','AL')"
    )
    catalog = f"""
sources:
  - name: dose-sys
    url: {url}
    period_column: [year, month]
    value_column:
      opioid_rate: Opioid overdose ED visits
      drug_rate: Drug overdose ED visits
    geography_column: jurisdiction
    filter: {{rate_time: Monthly}}
indicators:
  - name: Opioid overdose ED visits
    fetch_from: dose-sys
    unit: per 10,000 ED visits
    period_kind: monthly
    update_frequency: monthly, 2-month lag
    steward: U0LEE
default_geography: MD
"""
    set_up(services, tmp_path, catalog, at=datetime(2025, 9, 1, 14, tzinfo=UTC))
    tick(services, datetime(2025, 9, 1, 14, tzinfo=UTC))

    pages = site.hits("/resource/dose-sys1.csv")
    rows = 16 * 78 * 2  # 16 states, Jan 2019 – Jun 2025, Monthly and Annual rows
    assert [int(p.query["$offset"]) for p in pages] == list(range(0, rows + 1, 1000))
    assert {p.query["$limit"] for p in pages} == {"1000"}
    assert {p.query["$order"] for p in pages} == {":id"}
    assert {p.query["$where"] for p in pages} == {url.split("$where=")[1]}
    [text] = announcements(fake_slack)
    assert text.splitlines()[0].startswith(
        "New data: Opioid overdose ED visits for Jun 2025 — MD 22.2, AL "
    )
    assert values(services, "Opioid overdose ED visits")[("2025-05", "MD")] == 20.5
    assert values(services, "Drug overdose ED visits")[("2025-06", "MD")] == 72.8
    with services.sessions() as session:
        assert session.scalar(select(func.count()).select_from(DataImport)) == 1

    # July is due by the end of September: asked again with the dataset's Last-Modified only
    # (a page's ETag says nothing about the whole query), on the first page: 304, done.
    tick(services, datetime(2025, 10, 1, 14, tzinfo=UTC))
    again = site.hits("/resource/dose-sys1.csv")[len(pages) :]
    assert len(again) == 1
    assert again[0].headers["If-Modified-Since"] == LAST_MODIFIED
    assert "If-None-Match" not in again[0].headers
    assert len(announcements(fake_slack)) == 1


# --- hostile addresses and servers: one download ----------------------------------------------


def download(site: Site, tmp_path: Path, url: str, **limits: Any) -> Any:
    return fetch(
        url,
        folder=tmp_path,
        stem="source",
        limits=FetchLimits(**{**LIMITS.__dict__, **limits}),
        allowed_private=frozenset({"127.0.0.1"}),
    )


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("file:///etc/passwd", "The source's address starts with 'file:'; only http and https"),
        ("ftp://127.0.0.1/x.csv", "The source's address starts with 'ftp:'"),
        ("gopher://127.0.0.1:70/_x", "The source's address starts with 'gopher:'"),
        ("http://user:secret@127.0.0.1/x.csv", "holds a user name or password"),
        ("http://localhost:{port}/vsrr.csv", "localhost is on a private or local network"),
        ("http://[::1]:{port}/vsrr.csv", "::1 is on a private or local network"),
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is on a private or local"),
        ("http://10.1.2.3/x.csv", "10.1.2.3 is on a private or local network"),
        ("http://0.0.0.0:{port}/x.csv", "0.0.0.0 is on a private or local network"),
    ],
)
def test_addresses_a_source_may_not_reach_are_refused_before_any_request(
    site, tmp_path, url, said
) -> None:
    site.serve("/vsrr.csv", VSRR.read_bytes())
    with pytest.raises(FetchError) as refused:
        download(site, tmp_path, url.format(port=site.port))
    assert said in str(refused.value)
    assert not refused.value.transient
    assert site.requests == []
    assert list(tmp_path.iterdir()) == []


def test_a_host_that_cannot_be_reached_is_named_in_words_and_tried_again(site, tmp_path) -> None:
    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    with pytest.raises(FetchError) as refused:
        download(site, tmp_path, f"http://127.0.0.1:{port}/x.csv")
    assert str(refused.value) == "127.0.0.1 could not be reached (connection refused)."
    with pytest.raises(FetchError) as unknown:
        download(site, tmp_path, "https://no-such-host.invalid/x.csv")
    assert str(unknown.value) == (
        "no-such-host.invalid could not be reached (no such host: no-such-host.invalid)."
    )
    assert refused.value.transient and unknown.value.transient
    assert list(tmp_path.iterdir()) == []


def test_a_redirect_inward_or_in_circles_is_not_followed(site, tmp_path) -> None:
    site.serve("/vsrr.csv", VSRR.read_bytes())
    site.answer("/moved", "redirect", f"http://localhost:{site.port}/vsrr.csv")
    with pytest.raises(FetchError, match="localhost is on a private or local network"):
        download(site, tmp_path, site.url("/moved"))
    assert [r.path for r in site.requests] == ["/moved"]

    site.answer("/a", "redirect", "/b")
    site.answer("/b", "redirect", "/a")
    with pytest.raises(FetchError, match="redirected more than 5 times"):
        download(site, tmp_path, site.url("/a"))

    site.answer("/file", "redirect", "file:///etc/passwd")
    with pytest.raises(FetchError, match="starts with 'file:'"):
        download(site, tmp_path, site.url("/file"))

    site.answer("/ok", "redirect", "/vsrr.csv")  # a plain move is followed
    assert download(site, tmp_path, site.url("/ok")).size == VSRR.stat().st_size


def test_a_server_that_drips_or_never_ends_is_cut_off_in_time_and_size(site, tmp_path) -> None:
    site.answer("/drip", "drip", 0.2)  # slow loris: a byte every 0.2 s, never a read timeout
    started = time.monotonic()
    with pytest.raises(FetchError, match=r"took longer than 2 s in all") as slow:
        download(site, tmp_path, site.url("/drip"), total_seconds=2)
    assert time.monotonic() - started < 3.5
    assert slow.value.transient

    site.answer("/endless", "endless")
    with pytest.raises(FetchError, match=r"sent more than 1 MB"):
        download(site, tmp_path, site.url("/endless"))

    # 40 MB of CSV in 40 KB of gzip: undone in pieces, cut at the limit, never held whole.
    bomb = b"indicator,period,value\n" + b"Overdoses,2025-01,1\n" * 2_000_000
    site.serve("/bomb.csv", bomb, gzip=True)
    with pytest.raises(FetchError, match=r"sent more than 1 MB"):
        download(site, tmp_path, site.url("/bomb.csv"))
    assert [p.name for p in tmp_path.iterdir()] in ([], ["source.part"])


@pytest.mark.parametrize(
    ("body", "kind", "said"),
    [
        (b'{"error": "not found"}', "application/json", "sent JSON, not a table"),
        (b"\n  <html><body>Maintenance</body></html>", "text/plain", "sent a web page (HTML)"),
        (b"", "text/csv", "sent an empty file"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, "application/octet-stream", ".xls"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "image/png", "sent a binary file"),
    ],
    ids=["json", "html-as-text", "empty", "xls", "png"],
)
def test_what_is_not_a_table_is_refused_in_words(site, tmp_path, body, kind, said) -> None:
    site.serve("/data.csv", body, type=kind)
    with pytest.raises(FetchError, match=re.escape(said)):
        download(site, tmp_path, site.url("/data.csv"))


@pytest.mark.parametrize(
    ("body", "kind", "said"),
    [
        (b'[{"state": "MD"}]', "application/json", "sent JSON, not a table"),
        (b"<!DOCTYPE html><html>Sign in</html>", "text/html", "sent a web page (HTML)"),
        (b"", "text/csv", "sent an empty file"),
    ],
    ids=["json", "html", "empty"],
)
def test_a_socrata_endpoint_that_answers_with_no_table_is_refused_in_words_as_a_file_is(
    site, tmp_path, body, kind, said
) -> None:
    site.serve("/resource/abcd-1234.csv", body, type=kind)
    with pytest.raises(FetchError, match=re.escape(said)):
        download(site, tmp_path, site.url("/resource/abcd-1234.csv"))
    assert len(site.hits("/resource/abcd-1234.csv")) == 1  # the first page, no more
    assert list(tmp_path.iterdir()) == []


def test_an_indicator_name_from_a_file_never_pings_the_channel(
    services, site, fake_slack, tmp_path
) -> None:
    site.serve(
        "/alarm.csv",
        b"indicator,period,value,geography\n<!channel> overdoses <@U0LEE>,2025-05,5,<!here>\n",
    )
    catalog = f"""
sources:
  - name: alarm
    url: {site.url("/alarm.csv")}
indicators:
  - name: Unrelated
"""
    set_up(services, tmp_path, catalog)
    tick(services, T0)
    [message] = [m for m in fake_slack.messages(MEETING) if "New data" in m["text"]]
    assert "<!channel>" not in str(message) and "<!here>" not in str(message)
    assert "<@U0LEE>" not in str(message)
    shown = message["blocks"][0]["text"]["text"]
    assert "New data: *@\u2060channel overdoses @U0LEE* for May 2025 — @\u2060here 5" in shown


# --- exactly once, with several processes on PostgreSQL ---------------------------------------


def at_once(*calls: Any) -> list[Any]:
    """Run the calls in threads released together; their results (or exceptions) in order."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(index: int) -> None:
        barrier.wait()
        try:
            results[index] = calls[index]()
        except Exception as exc:
            results[index] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


@pytest.mark.postgres
def test_two_processes_at_the_same_time_announce_new_data_once(
    postgres_url, site, fake_slack, tmp_path
) -> None:
    from bot.followup.sources import refresh_now

    first, second = services_for(postgres_url, fake_slack), services_for(postgres_url, fake_slack)
    try:
        site.serve("/vsrr.csv", without_april(VSRR))
        set_up(first, tmp_path, vsrr_catalog(site))

        # Two scheduler passes at the same instant: one claims the source, the other skips it.
        passes = at_once(
            lambda: run_pass(first, now=T0, per_channel_interval=0, source_limits=LIMITS),
            lambda: run_pass(second, now=T0, per_channel_interval=0, source_limits=LIMITS),
        )
        assert all(not p.errors for p in passes), [p.summary() for p in passes]
        assert sorted(p.sources.fetched for p in passes) == [0, 1]
        assert len(site.hits("/vsrr.csv")) == 1
        assert len(announcements(fake_slack)) == 1

        # Two people refresh by hand at the same moment (no claim): both download April, the
        # values are written once, and the meeting channel hears of it once.
        site.serve("/vsrr.csv", VSRR.read_bytes())
        now = datetime(2025, 8, 30, 14, tzinfo=UTC)
        refreshed = at_once(
            lambda: refresh_now(first, team_id=TEAM_ID, name="vsrr", now=now),
            lambda: refresh_now(second, team_id=TEAM_ID, name="vsrr", now=now),
        )
        assert len(site.hits("/vsrr.csv")) == 3
        statuses = sorted(outcome.status for [outcome] in refreshed)
        assert statuses in (["failed", "imported"], ["imported", "unchanged"]), refreshed
        run_pass(first, now=now, per_channel_interval=0, source_limits=LIMITS)  # delivers
        assert len(announcements(fake_slack)) == 2
        assert announcements(fake_slack)[1].startswith(
            f"New data: {DEATHS} for 12 months ending Apr 2025 — MD 1,562"
        )
        with first.sessions() as session:
            assert session.scalar(select(func.count()).select_from(DataImport)) == 2
        assert values(first)[("2025-04", "MD")] == 1562
    finally:
        first.engine.dispose()
        second.engine.dispose()


def test_a_restricted_indicator_is_announced_only_where_it_may_be_seen(
    services, site, fake_slack, tmp_path
) -> None:
    site.serve("/vsrr.csv", VSRR.read_bytes())
    catalog = vsrr_catalog(site).replace(
        "  - name: Synthetic opioids, excl. methadone (T40.4)\n",
        "  - name: Synthetic opioids, excl. methadone (T40.4)\n    visibility: [C0PRIVATE]\n",
    )
    set_up(services, tmp_path, catalog)
    with services.sessions.begin() as session:
        admin = Actor(TEAM_ID, "U0ADMIN", is_admin=True)
        meetings.set_meeting(session, admin, "C0PRIVATE", "every Friday at 9am", now=T0)
    tick(services, T0)
    assert [line.split(" for ")[0] for line in news(fake_slack)] == [
        f"New data: {DEATHS}",
        "New data: Opioids (T40.0-T40.4,T40.6)",
    ]
    assert [line.split(" for ")[0] for line in news(fake_slack, "C0PRIVATE")] == [
        f"New data: {DEATHS}",
        "New data: Opioids (T40.0-T40.4,T40.6)",
        "New data: Synthetic opioids, excl. methadone (T40.4)",
    ]
