"""How long a meeting waits for ``/indicator overdose deaths in MD``: the text, then the chart.

The text answer must not wait for the chart, so two times are measured per request, from the
moment the signed command is sent:

* **text**: until the in-channel answer reached the response URL;
* **chart**: until ``files.completeUploadExternal`` (the last of files_upload_v2's three steps)
  reached Slack.

Each is set against its **floor**, measured in the same run on the same database: the same read
the handler does (``bot.usecases.indicators.answer``, in a fresh session) for the text, plus one bare
``bot.core.charts.render_indicator_chart`` of the same spec for the chart. What is left above the
floor is Bolt, HTTP, the response URL and the three upload calls to the local Slack stand-in.

Data: the real CDC file (1,116 rows: US, MD, NC, VT, 2015-01 .. 2025-04) through the importer
and the bundled catalog, plus a synthetic catalog of 200 indicators x 8 wards x 120 months
(192,000 values; ``--quick``: 40 indicators, 38,400 values) so that finding the indicator and
reading its values happen in a realistically sized table.
"""

from __future__ import annotations

import platform
import random
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy
from sqlalchemy import Engine, insert, select
from sqlalchemy.orm import Session

from bench import (
    Database,
    Options,
    load_bundled,
    print_table,
    run_on_throwaway_database,
    summary_ms,
    wait_until,
)
from bench.commit_ack import NOW, TEAM_ID, _server_version, _table, serve
from bot.core import charts
from bot.sandbox.fake_slack import Call
from bot.usecases import indicators
from storage.db import make_engine, make_session_factory, upgrade
from storage.models import Indicator, IndicatorValue

NAME = "indicator_answer"
CHANNEL = "C0MEETING"
USER = "U0MARIA"
QUESTION = "overdose deaths in MD"

FULL_INDICATORS, QUICK_INDICATORS = 200, 40
WARDS = 8
MONTHS = 120
FULL_REQUESTS, QUICK_REQUESTS = 100, 20
WARMUP = 3
SEED = 20261123
TOPICS = (
    "naloxone kits distributed",
    "emergency department visits for overdose",
    "treatment admissions",
    "peer recovery contacts",
    "shelter beds occupied",
    "syringe services visits",
    "school nurse referrals",
    "fentanyl test strips handed out",
)


# --- seeding -------------------------------------------------------------------------------


def seed(engine: Engine, *, indicator_count: int) -> dict[str, Any]:
    started = time.perf_counter()
    report = load_bundled(engine, team_id=TEAM_ID, now=NOW)
    rng = random.Random(SEED)
    values = 0
    with Session(engine) as session, session.begin():
        for n in range(indicator_count):
            name = f"{TOPICS[n % len(TOPICS)].capitalize()} — program {n:03d}"
            indicator = Indicator(
                team_id=TEAM_ID,
                slug=f"program-{n:03d}",
                name=name,
                aliases=[],
                unit="people",
                period_kind="monthly",
                restricted_to=[],
                created_at=NOW,
                updated_at=NOW,
            )
            session.add(indicator)
            session.flush()
            rows = []
            for ward in range(1, WARDS + 1):
                level = rng.uniform(50, 500)
                for m in range(MONTHS):
                    start = date(2016 + m // 12, m % 12 + 1, 1)
                    level *= rng.uniform(0.95, 1.05)
                    rows.append(
                        {
                            "team_id": TEAM_ID,
                            "indicator_id": indicator.id,
                            "period": f"{start:%Y-%m}",
                            "period_start": start,
                            "geography": f"Ward {ward}",
                            "value": None if rng.random() < 0.03 else round(level),
                            "updated_at": NOW,
                        }
                    )
            session.execute(insert(_table(IndicatorValue)), rows)
            values += len(rows)
    return {
        "cdc_rows": sum(r.added for r in report.indicators),
        "synthetic_indicators": indicator_count,
        "synthetic_values": values,
        "seconds": round(time.perf_counter() - started, 2),
    }


# --- measuring -------------------------------------------------------------------------------


@dataclass
class Samples:
    ack: list[float] = field(default_factory=list)
    text: list[float] = field(default_factory=list)
    chart: list[float] = field(default_factory=list)
    floor_query: list[float] = field(default_factory=list)
    floor_render: list[float] = field(default_factory=list)
    png_bytes: int = 0
    last_text: str = ""


def _one(served: Any, samples: Samples | None) -> None:
    fake = served.fake
    since = len(fake.calls)
    started = time.monotonic()
    answer = served.driver.command("/indicator", QUESTION, user=USER, channel=CHANNEL)
    if answer.status != 200:
        raise RuntimeError(f"/indicator answered HTTP {answer.status}")
    key = str(served.driver.sent[-1]["response_url"]).rsplit("/", 1)[-1]

    def text_call() -> Call | None:
        return next(
            (
                c
                for c in fake.calls[since:]
                if c.method == "response_url" and c.path.endswith(key) and c.status
            ),
            None,
        )

    def chart_call() -> Call | None:
        return next(
            (
                c
                for c in fake.calls[since:]
                if c.method == "files.completeUploadExternal" and c.status
            ),
            None,
        )

    text = wait_until(text_call)
    if text.params.get("response_type") != "in_channel":
        raise RuntimeError(f"/indicator was refused: {str(text.params.get('text'))[:200]}")
    chart = wait_until(chart_call)
    if not chart.ok:
        raise RuntimeError(f"the chart upload failed: {chart.response}")
    wait_until(served.idle)
    if samples is not None:
        samples.ack.append(answer.seconds)
        samples.text.append(text.at - started)
        samples.chart.append(chart.at - started)
        samples.last_text = str(text.params.get("text"))
        file_id = chart.params["files"][0]["id"]
        samples.png_bytes = len(fake.uploads.get(file_id, b""))


def _floor(engine: Engine, samples: Samples) -> None:
    """The same read and one bare render, without Slack, Bolt or HTTP."""
    sessions = make_session_factory(engine)
    started = time.perf_counter()
    with sessions() as session:
        found = indicators.answer(session, team_id=TEAM_ID, channel_id=CHANNEL, text=QUESTION)
        spec = indicators.chart_spec(found)
    read = time.perf_counter()
    charts.render_indicator_chart(spec)
    samples.floor_query.append(read - started)
    samples.floor_render.append(time.perf_counter() - read)


def run(options: Options) -> dict[str, Any]:
    requests = options.requests or (QUICK_REQUESTS if options.quick else FULL_REQUESTS)
    count = options.rows or (QUICK_INDICATORS if options.quick else FULL_INDICATORS)
    return run_on_throwaway_database(
        options,
        NAME,
        lambda database: _run(database, options, requests=requests, indicator_count=count),
    )


def _run(
    database: Database, options: Options, *, requests: int, indicator_count: int
) -> dict[str, Any]:
    engine = make_engine(database.url)
    try:
        upgrade(engine)
        version = _server_version(engine)
        print(f"database: {database.kind} ({version}) at {database.shown}")
        print(f"seeding the CDC file + {indicator_count} synthetic indicators ...", flush=True)
        seeded = seed(engine, indicator_count=indicator_count)
        print(
            f"seeded {seeded['cdc_rows']:,} CDC values + {seeded['synthetic_values']:,} synthetic "
            f"values in {seeded['seconds']:.1f} s",
            flush=True,
        )
        samples = Samples()
        with serve(database.url, [USER]) as served:
            for _ in range(WARMUP):
                _one(served, None)
                _floor(engine, Samples())
            print(f"measuring {requests} requests ...", flush=True)
            for _ in range(requests):
                _one(served, samples)
            for _ in range(requests):
                _floor(engine, samples)
            if served.fake.errors:
                raise RuntimeError(f"FakeSlack itself failed: {served.fake.errors[0]}")
        with Session(engine) as session:
            values = session.scalar(select(sqlalchemy.func.count()).select_from(IndicatorValue))
    finally:
        engine.dispose()

    floor_text = samples.floor_query
    floor_chart = [q + r for q, r in zip(samples.floor_query, samples.floor_render, strict=True)]
    report = {
        "ack_ms": summary_ms(samples.ack),
        "text_ms": summary_ms(samples.text),
        "chart_ms": summary_ms(samples.chart),
        "floor_text_ms": summary_ms(floor_text),
        "floor_render_ms": summary_ms(samples.floor_render),
        "floor_chart_ms": summary_ms(floor_chart),
    }
    print(
        f"\n{database.kind}: `/indicator {QUESTION}` with {values:,} indicator values; "
        f"{requests} sequential requests after {WARMUP} warm-up; times in ms"
    )
    rows = [
        ["ack (HTTP 200)", *_cols(report["ack_ms"]), "-"],
        ["text answer", *_cols(report["text_ms"]), report["floor_text_ms"]["p50"]],
        ["chart uploaded", *_cols(report["chart_ms"]), report["floor_chart_ms"]["p50"]],
        ["  floor: read", *_cols(report["floor_text_ms"]), "-"],
        ["  floor: render", *_cols(report["floor_render_ms"]), "-"],
    ]
    print_table(["", "p50", "p95", "p99", "max", "floor p50"], rows)
    print(f"PNG {samples.png_bytes:,} bytes; answer: {samples.last_text}")
    return {
        "benchmark": NAME,
        "database": database.kind,
        "database_url": database.shown,
        "server_version": version,
        "python": platform.python_version(),
        "sqlalchemy": sqlalchemy.__version__,
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "business_clock": (NOW + timedelta(0)).isoformat(),
        "quick": options.quick,
        "question": QUESTION,
        "indicator_values": values,
        "seeded": seeded,
        "requests": requests,
        "warmup": WARMUP,
        "png_bytes": samples.png_bytes,
        "last_text": samples.last_text,
        "times": report,
    }


def _cols(summary: dict[str, float]) -> list[float]:
    return [summary["p50"], summary["p95"], summary["p99"], summary["max"]]
