"""How long an indicator chart takes to render, and whether rendering leaks memory.

`/indicator` renders a chart after the ack, so its time is what the user waits for after the
command is acknowledged; the digest renders a few per meeting. What it does, in this process:

1. builds the real chart for MD drug overdose deaths 2015-2025 (bundled CDC file) with a target,
   the baseline and five completed-commitment markers, and calls ``warm_up()`` (as the app does);
2. renders it 500 times (``--quick``: 50; ``--requests N`` overrides), timing each render in
   wall-clock and in CPU time (``time.process_time``, steadier when CI shares the machine);
3. reads the resident memory from ``/proc/self/statm`` before and after (it must stay flat: the
   module keeps no figure, and never uses pyplot; "before" is taken after 50 untimed renders,
   since matplotlib's font and text-metric caches grow by ~35 MB at first and then stop), and times the digest chart (4 indicators), a
   huge input (10,000 points) and the naloxone rate by state (51 places, small multiples) a few
   times for scale;
4. prints a table and writes ``bench/results/chart_render-local.json``.
"""

from __future__ import annotations

import gc
import os
import platform
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import matplotlib
import pandas as pd

from bench import Options, print_table, summary_ms, write_results
from bot.core import charts
from bot.core.charts import ChartSpec, Marker, Series

DATA = (
    Path(__file__).resolve().parents[1]
    / "bot"
    / "data"
    / "cdc_vsrr_provisional_overdose_deaths_US_MD_NC_VT.csv"
)
NALOXONE = DATA.with_name("cdc_naloxone_dispensing_rates_by_state.csv")


def _rss_mb() -> float:
    """Resident set size of this process in MB (Linux /proc; no psutil needed)."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 1_000_000


def _series(frame: pd.DataFrame, state: str, indicator: str) -> Series:
    rows = frame[(frame["State"] == state) & (frame["Indicator"] == indicator)]
    periods = [date(int(p[:4]), int(p[5:7]), 1) for p in rows["period_end"]]
    values = [None if pd.isna(v) else float(v) for v in rows["Data Value"]]
    return Series(state, periods, values)


def _by_state() -> ChartSpec:
    """`/indicator naloxone by state`: 51 places, yearly, as the usecase hands them over."""
    frame = pd.read_csv(NALOXONE)
    series = [
        Series(
            str(place),
            [date(int(y), 1, 1) for y in rows["YEAR"]],
            [None if pd.isna(v) else float(v) for v in rows["naloxone_dispensing_rate"]],
        )
        for place, rows in sorted(frame.groupby("STATE_ABBREV"), key=lambda kv: str(kv[0]))
    ]
    return ChartSpec(
        title="Naloxone dispensing rate",
        unit="prescriptions per 100 persons",
        period_label="by year",
        series=series,
        source="CDC, State Naloxone Dispensing Rates (IQVIA Xponent retail pharmacy data)",
    )


def _specs() -> tuple[ChartSpec, list[ChartSpec], ChartSpec]:
    frame = pd.read_csv(DATA)
    deaths, opioids = "Number of Drug Overdose Deaths", "Opioids (T40.0-T40.4,T40.6)"
    md = ChartSpec(
        title="Number of Drug Overdose Deaths — MD",
        unit="deaths",
        period_label="12-month-ending, by month",
        series=[_series(frame, "MD", deaths)],
        target=1500,
        markers=[Marker(date(2024, m, 1), f"#{m} done") for m in (1, 3, 6, 9, 12)],
        source="CDC/NCHS Vital Statistics Rapid Release",
    )
    digest = [
        md,
        ChartSpec("Opioid deaths — NC", "deaths", None, [_series(frame, "NC", opioids)]),
        ChartSpec("Overdose deaths — VT", "deaths", None, [_series(frame, "VT", deaths)]),
        ChartSpec("Overdose deaths — US", "deaths", None, [_series(frame, "US", deaths)]),
    ]
    start = date(1998, 1, 1)
    huge = ChartSpec(
        "Daily naloxone kits",
        "kits",
        "by day",
        [
            Series(
                "",
                [start + timedelta(days=i) for i in range(10_000)],
                [float(i % 365) if i % 97 else None for i in range(10_000)],
            )
        ],
        target=200,
    )
    return md, digest, huge


def _timed(render: Any, times: int, cpu: list[float] | None = None) -> list[float]:
    """Wall-clock seconds per call; the process's CPU seconds go to `cpu` (when CI loads the
    machine, wall time swings by 2x while CPU time barely moves)."""
    seconds = []
    for _ in range(times):
        started, cpu_started = time.perf_counter(), time.process_time()
        render()
        seconds.append(time.perf_counter() - started)
        if cpu is not None:
            cpu.append(time.process_time() - cpu_started)
    return seconds


def run(options: Options) -> dict[str, Any]:
    renders = options.requests or (50 if options.quick else 500)
    md, digest, huge = _specs()
    started = time.perf_counter()
    charts.warm_up()
    warm_up_ms = (time.perf_counter() - started) * 1000
    gc.collect()
    rss_start = _rss_mb()
    for _ in range(50):  # fill matplotlib's caches (fonts, text metrics) before measuring a leak
        png = charts.render_indicator_chart(md)
    gc.collect()
    rss_before = _rss_mb()

    md_cpu: list[float] = []
    digest_cpu: list[float] = []
    huge_cpu: list[float] = []
    md_times = _timed(lambda: charts.render_indicator_chart(md), renders, md_cpu)
    gc.collect()
    rss_after = _rss_mb()
    digest_times = _timed(
        lambda: charts.render_digest_chart(digest), 5 if options.quick else 20, digest_cpu
    )
    huge_times = _timed(
        lambda: charts.render_indicator_chart(huge), 3 if options.quick else 10, huge_cpu
    )
    by_state = _by_state()
    by_state_cpu: list[float] = []
    by_state_times = _timed(
        lambda: charts.render_indicator_chart(by_state), 3 if options.quick else 10, by_state_cpu
    )
    gc.collect()
    rss_end = _rss_mb()

    results: dict[str, Any] = {
        "renders": renders,
        "png_bytes": len(png),
        "warm_up_ms": round(warm_up_ms, 1),
        "md_chart_ms": summary_ms(md_times),
        "digest_chart_ms": summary_ms(digest_times),
        "huge_10k_points_ms": summary_ms(huge_times),
        "by_state_51_places_ms": summary_ms(by_state_times),
        "cpu_ms": {
            "md_chart": summary_ms(md_cpu),
            "digest_chart": summary_ms(digest_cpu),
            "huge_10k_points": summary_ms(huge_cpu),
            "by_state_51_places": summary_ms(by_state_cpu),
        },
        "rss_mb": {
            "after_warm_up": round(rss_start, 1),
            "before": round(rss_before, 1),
            f"after_{renders}_renders": round(rss_after, 1),
            "growth": round(rss_after - rss_before, 1),
            "after_digest_and_huge": round(rss_end, 1),
        },
        "python": platform.python_version(),
        "matplotlib": matplotlib.__version__,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
    }
    print(f"\nchart_render: {renders} renders of the MD chart, warm-up {warm_up_ms:.0f} ms")
    rows = []
    for name, key, cpu_key in (
        (f"MD chart x{renders}", "md_chart_ms", "md_chart"),
        (f"digest (4 panels) x{len(digest_times)}", "digest_chart_ms", "digest_chart"),
        (f"10k points x{len(huge_times)}", "huge_10k_points_ms", "huge_10k_points"),
        (f"by state (51) x{len(by_state_times)}", "by_state_51_places_ms", "by_state_51_places"),
    ):
        s, c = results[key], results["cpu_ms"][cpu_key]
        rows.append([name, s["p50"], s["p95"], s["p99"], s["max"], c["p50"], c["p95"]])
    print_table(["render (ms)", "p50", "p95", "p99", "max", "cpu p50", "cpu p95"], rows)
    print()
    print_table(
        ["memory (RSS, MB)", "value"],
        [
            ["after warm_up()", rss_start],
            ["after 50 more (caches full)", rss_before],
            [f"after {renders} renders", rss_after],
            ["growth", rss_after - rss_before],
            ["after digest + 10k-point charts", rss_end],
        ],
    )
    path = write_results(options, "chart_render", "local", results)
    print(f"results: {path}")
    return results
