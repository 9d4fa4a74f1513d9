"""Indicator charts: real PNGs that a person can read (sizes, labels, gaps, baseline, alt text)."""

from __future__ import annotations

import struct
import time
from datetime import date
from io import BytesIO
from itertools import combinations, pairwise
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.image import imread
from matplotlib.legend import Legend
from matplotlib.lines import Line2D
from matplotlib.text import Text

from bot.core import charts
from bot.core.charts import (
    ChartSpec,
    Marker,
    Series,
    baseline_forecast,
    describe,
    render_digest_chart,
    render_indicator_chart,
)
from bot.sandbox import bundled

CDC = (
    Path(__file__).resolve().parents[2]
    / "bot"
    / "data"
    / "cdc_vsrr_provisional_overdose_deaths_US_MD_NC_VT.csv"
)
DEATHS = "Number of Drug Overdose Deaths"
OPIOIDS = "Opioids (T40.0-T40.4,T40.6)"


@pytest.fixture(scope="module")
def cdc() -> pd.DataFrame:
    return pd.read_csv(CDC)


def cdc_series(frame: pd.DataFrame, state: str, indicator: str = DEATHS) -> Series:
    rows = frame[(frame["State"] == state) & (frame["Indicator"] == indicator)]
    periods = [date(int(p[:4]), int(p[5:7]), 1) for p in rows["period_end"]]
    values = [None if pd.isna(v) else float(v) for v in rows["Data Value"]]
    return Series(state, periods, values)


def months(n: int, start: date = date(2020, 1, 1)) -> list[date]:
    return [
        date(start.year + (start.month - 1 + i) // 12, (start.month - 1 + i) % 12 + 1, 1)
        for i in range(n)
    ]


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def pixels(data: bytes) -> np.ndarray:
    return imread(BytesIO(data), format="png")


def visible_texts(fig) -> list[Text]:
    """Every text a reader sees: titles, labels, legend entries, notes and the drawn tick labels."""
    fig.draw_without_rendering()
    axes = [ax for ax in fig.axes if ax.get_visible()]
    tick_labels = {
        id(label)
        for ax in fig.axes
        for axis in (ax.xaxis, ax.yaxis)
        for tick in axis.get_major_ticks() + axis.get_minor_ticks()
        for label in (tick.label1, tick.label2)
    }
    renderer = fig.canvas.get_renderer()
    drawn_ticks = []
    for ax in axes:  # only the ticks inside the view are drawn
        frame = ax.get_window_extent(renderer)
        for t in ax.get_xticklabels():
            box = t.get_window_extent(renderer)
            if t.get_visible() and frame.x0 - 1 <= (box.x0 + box.x1) / 2 <= frame.x1 + 1:
                drawn_ticks.append(t)
        for t in ax.get_yticklabels():
            box = t.get_window_extent(renderer)
            if t.get_visible() and frame.y0 - 1 <= (box.y0 + box.y1) / 2 <= frame.y1 + 1:
                drawn_ticks.append(t)
    others = [
        t
        for t in fig.findobj(Text)
        if id(t) not in tick_labels and (t.axes is None or t.axes.get_visible()) and t.get_visible()
    ]
    return [t for t in others + drawn_ticks if t.get_text().strip()]


def assert_no_overlaps(fig) -> None:
    fig.draw_without_rendering()
    renderer = fig.canvas.get_renderer()
    boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in visible_texts(fig)]
    frame = fig.bbox
    for text, box in boxes:
        assert frame.x0 - 1 <= box.x0 and box.x1 <= frame.x1 + 1, f"{text!r} is cropped"
        assert frame.y0 - 1 <= box.y0 and box.y1 <= frame.y1 + 1, f"{text!r} is cropped"
    for (a, box_a), (b, box_b) in combinations(boxes, 2):
        assert not box_a.overlaps(box_b), f"{a!r} overlaps {b!r}"


def legend_labels(fig) -> list[str]:
    legends = [obj for obj in fig.findobj(Legend)]
    return [t.get_text() for legend in legends for t in legend.get_texts()]


def marker_labels(fig) -> list[str]:
    return [
        t.get_text().strip() for ax in fig.axes for t in ax.texts if t.get_gid() == "marker-label"
    ]


def md_spec(frame: pd.DataFrame, **changes) -> ChartSpec:
    base = {
        "title": "Number of Drug Overdose Deaths — MD",
        "unit": "deaths",
        "period_label": "12-month-ending, by month",
        "series": [cdc_series(frame, "MD")],
        "target": 1500.0,
        "source": "CDC/NCHS Vital Statistics Rapid Release",
    }
    return ChartSpec(**(base | changes))


# --- the PNG itself -------------------------------------------------------------------------------


def test_md_overdose_deaths_2015_2025_renders_a_readable_png(cdc):
    data = render_indicator_chart(md_spec(cdc))

    assert png_size(data) == (1200, 675)
    image = pixels(data)
    assert image[..., :3].std() > 0.05  # not a blank canvas
    # the history line (Okabe-Ito blue #0072B2) is really drawn
    blue = np.all(np.abs(image[..., :3] - np.array([0x00, 0x72, 0xB2]) / 255) < 0.08, axis=-1)
    assert blue.sum() > 1000


def test_the_md_figure_has_title_period_unit_target_baseline_and_source(cdc):
    fig = charts._build_figure(md_spec(cdc))
    texts = [t.get_text() for t in visible_texts(fig)]

    assert "Number of Drug Overdose Deaths — MD" in texts
    assert "12-month-ending, by month" in texts
    assert "deaths" in texts
    assert "Target 1,500 deaths (lower is better)" in legend_labels(fig)
    assert "If nothing changes" in legend_labels(fig)
    footnote = " ".join(next(t for t in texts if t.startswith("Source:")).split())
    assert "CDC/NCHS Vital Statistics Rapid Release" in footnote
    assert "Theil–Sen over the last 12 values" in footnote
    assert "Gaps" not in footnote  # MD has no missing months
    # y axis with thousands separators, few x ticks (years)
    ax = fig.axes[0]
    fig.draw_without_rendering()
    y_ticks = [t.get_text() for t in ax.get_yticklabels()]
    assert "2,000" in y_ticks or "2,400" in y_ticks
    x_ticks = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
    assert 3 <= len(x_ticks) <= 8
    assert all(t.isdigit() and len(t) == 4 for t in x_ticks)
    assert_no_overlaps(fig)


def test_nc_opioid_deaths_with_13_suppressed_months_are_drawn_as_gaps_not_zero(cdc):
    nc = cdc_series(cdc, "NC", OPIOIDS)
    assert sum(v is None for v in nc.values) == 13
    spec = ChartSpec("Opioid overdose deaths — NC", "deaths", None, [nc], source="CDC/NCHS")

    fig = charts._build_figure(spec)
    history = next(line for line in fig.axes[0].get_lines() if line.get_label() == "NC")
    y = np.asarray(history.get_ydata(), dtype=float)
    assert np.isnan(y).sum() == 12  # 2023-10 .. 2024-09; the blank last month is off the end
    assert np.nanmin(y) > 500  # never plotted as zero
    footnote = " ".join(fig.get_supxlabel().split())
    assert "Gaps = suppressed or missing data." in footnote
    assert png_size(render_indicator_chart(spec)) == (1200, 675)


def test_a_skipped_period_is_a_gap_too(cdc):
    periods = months(12)
    values = [10.0, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21]
    del periods[5], values[5]  # June never reported at all
    fig = charts._build_figure(ChartSpec("Kits", "kits", None, [Series("", periods, values)]))
    line = next(line for line in fig.axes[0].get_lines() if line.get_label() == "Reported")
    assert np.isnan(np.asarray(line.get_ydata(), dtype=float)).sum() == 1


def test_a_lone_value_between_gaps_is_still_visible():
    values = [5.0, 6.0, None, 7.0, None, 8.0, 9.0]
    fig = charts._build_figure(ChartSpec("Beds", None, None, [Series("", months(7), values)]))
    dots = [line for line in fig.axes[0].get_lines() if line.get_marker() == "o"]
    assert dots and list(dots[0].get_ydata()) == [7.0]


# --- the baseline --------------------------------------------------------------------------------


def test_baseline_continues_a_perfect_line_exactly():
    periods = months(24)
    values = [100.0 + 5 * i for i in range(24)]

    base = baseline_forecast(periods, values, horizon=3)

    assert base is not None
    assert base.periods == [date(2022, 1, 1), date(2022, 2, 1), date(2022, 3, 1)]
    assert base.values == pytest.approx([220.0, 225.0, 230.0])
    assert "Theil–Sen" in base.method


def test_an_outlier_barely_moves_the_baseline():
    periods = months(12)
    clean = [100.0 + 2 * i for i in range(12)]
    spiky = list(clean)
    spiky[9] = 400.0  # one bad month

    a = baseline_forecast(periods, clean, horizon=6)
    b = baseline_forecast(periods, spiky, horizon=6)

    assert a is not None and b is not None
    assert b.values == pytest.approx(a.values, rel=0.02)
    # least squares would have been pulled far off by the same month
    slope = np.polyfit(range(12), spiky, 1)[0]
    assert abs(slope - 2) > 3


def test_baseline_needs_four_values_and_never_goes_below_zero():
    assert baseline_forecast(months(6), [5.0, None, None, 4.0, None, 3.0], horizon=3) is None
    falling = baseline_forecast(months(6), [50.0, 40, 30, 20, 10, 5], horizon=12)
    assert falling is not None and min(falling.values) == 0.0


def test_baseline_skips_back_over_a_long_gap():
    values = [100.0] * 10 + [None] * 6 + [20.0, 21, 22, 23, 24]
    base = baseline_forecast(months(len(values)), values, horizon=1)
    assert base is not None and base.values == pytest.approx([25.0])
    assert "last 5 values" in base.method


def test_baseline_handles_quarters_and_years():
    quarters = [date(2020, m, 1) for m in (1, 4, 7, 10)] + [date(2021, 1, 1)]
    base = baseline_forecast(quarters, [1.0, 2, 3, 4, 5], horizon=2)
    assert base is not None and base.periods == [date(2021, 4, 1), date(2021, 7, 1)]
    years = [date(y, 1, 1) for y in range(2019, 2024)]
    base = baseline_forecast(years, [0.6, 0.7, 0.7, 0.8, 0.8], horizon=1)
    assert base is not None and base.periods == [date(2024, 1, 1)]


# --- markers and several geographies ----------------------------------------------------------


def test_many_markers_label_at_most_five_and_never_overlap(cdc):
    markers = [Marker(date(2024, 1, 1) + pd.Timedelta(days=9 * i), f"#{i} done") for i in range(40)]
    fig = charts._build_figure(md_spec(cdc, markers=markers))

    labels = marker_labels(fig)
    assert 1 <= len(labels) <= 5
    assert "#39 done" in labels  # the newest is labelled
    vertical = [line for line in fig.axes[0].get_lines() if line.get_label() == "Commitment done"]
    assert len(vertical) == 40  # every completion still drawn, most as unlabelled lines
    assert_no_overlaps(fig)


def test_a_few_spread_markers_are_all_labelled(cdc):
    markers = [Marker(date(2016, 1, 1), "#3 done"), Marker(date(2020, 6, 1), "#7 done")]
    fig = charts._build_figure(md_spec(cdc, markers=markers))
    assert sorted(marker_labels(fig)) == ["#3 done", "#7 done"]
    assert "Commitment done" in legend_labels(fig)


def test_four_geographies_of_one_scale_are_four_labelled_lines(cdc):
    md, nc = cdc_series(cdc, "MD"), cdc_series(cdc, "NC")
    de = Series("DE", md.periods, [None if v is None else v * 0.7 for v in md.values])
    va = Series("VA", nc.periods, [None if v is None else v * 1.2 for v in nc.values])
    fig = charts._build_figure(
        ChartSpec(DEATHS, "deaths", "12-month-ending", [md, nc, de, va], target=1500)
    )

    assert len(fig.axes) == 1
    assert [label for label in legend_labels(fig) if label in {"MD", "NC", "DE", "VA"}] == [
        "MD",
        "NC",
        "DE",
        "VA",
    ]
    colours = {
        line.get_color()
        for line in fig.axes[0].get_lines()
        if line.get_label() in {"MD", "NC", "DE", "VA"}
    }
    assert len(colours) == 4
    assert_no_overlaps(fig)


def test_places_of_very_different_sizes_get_a_panel_each(cdc):
    # US (~70-110k) on one axis with VT (~80-280) flattened the states onto zero.
    series = [cdc_series(cdc, s) for s in ("MD", "NC", "VT", "US")]
    fig = charts._build_figure(ChartSpec(DEATHS, "deaths", "12-month-ending", series, target=1200))

    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title(loc="left").split(" · ")[0] for ax in panels] == ["MD", "NC", "VT", "US"]
    tops = {ax.get_title(loc="left").split(" · ")[0]: ax.get_ylim()[1] for ax in panels}
    assert tops["US"] > 50_000  # each panel on its own scale (the target line included)
    assert max(tops["MD"], tops["NC"], tops["VT"]) < 5_000
    assert_no_overlaps(fig)


def test_twelve_geographies_become_small_multiples(cdc):
    md = cdc_series(cdc, "MD")
    wards = [
        Series(
            f"Ward {i}", md.periods, [None if v is None else v * (0.5 + i / 10) for v in md.values]
        )
        for i in range(1, 13)
    ]
    fig = charts._build_figure(
        ChartSpec("Overdose deaths by ward", "deaths", None, wards, target=900)
    )

    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert len(panels) == 12
    assert [ax.get_title(loc="left").split(" · ")[0] for ax in panels] == [
        f"Ward {i}" for i in range(1, 13)
    ]
    assert (
        panels[0].get_title(loc="left") == "Ward 1 · 937.2"
    )  # latest MD 1,562 x 0.6, as /indicator says it
    assert_no_overlaps(fig)
    # three rows of four: taller than one chart, so each row keeps ~200 px
    assert png_size(render_indicator_chart(ChartSpec("Wards", None, None, wards))) == (1200, 870)


# --- edges ---------------------------------------------------------------------------------------


def test_no_values_at_all_renders_a_no_data_image_not_a_blank_axes():
    spec = ChartSpec("Naloxone kits distributed", "kits", None, [Series("", months(3), [None] * 3)])
    fig = charts._build_figure(spec)
    assert "No data yet for Naloxone kits distributed" in [t.get_text() for t in visible_texts(fig)]
    data = render_indicator_chart(spec)
    assert png_size(data) == (1200, 675) and pixels(data)[..., :3].std() > 0.01
    assert png_size(render_indicator_chart(ChartSpec("Empty", None, None, []))) == (1200, 675)
    assert describe(spec) == "Chart of Naloxone kits distributed: no data yet."


def test_a_500_character_title_is_ellipsised_and_fits(cdc):
    fig = charts._build_figure(md_spec(cdc, title="Overdose " * 55, source="x " * 300))
    title = fig.get_suptitle()
    assert title.endswith("…") and len(title) <= charts.TITLE_CHARS
    assert_no_overlaps(fig)


def test_mismatched_periods_and_values_are_refused():
    with pytest.raises(ValueError, match="3 periods but 2 values"):
        Series("MD", months(3), [1.0, 2.0])


def test_huge_inputs_render_in_reasonable_time():
    many_points = [
        Series(
            "",
            [date(1990, 1, 1) + pd.Timedelta(days=i) for i in range(10_000)],
            [float(i % 365) if i % 97 else None for i in range(10_000)],
        )
    ]
    fifty = [
        Series(f"Place {i}", months(120), [float(i + j) for j in range(120)]) for i in range(50)
    ]
    started = time.perf_counter()
    assert png_size(render_indicator_chart(ChartSpec("Daily", None, None, many_points)))[0] == 1200
    fig = charts._build_figure(ChartSpec("Fifty places", None, None, fifty))
    assert len([ax for ax in fig.axes if ax.get_visible()]) == charts.MAX_PANELS
    footnote = " ".join(fig.get_supxlabel().split())
    assert "And 26 more places: /indicator Fifty places in Place 25." in footnote
    big = charts._png(fig)
    assert time.perf_counter() - started < 30  # generous: this guards against minutes, not ms
    assert png_size(big)[0] == 1200


# --- digest and alt text ------------------------------------------------------------------------


def test_digest_chart_shows_each_indicator_with_its_latest_value(cdc):
    specs = [
        md_spec(cdc),
        ChartSpec("Opioid deaths — NC", "deaths", None, [cdc_series(cdc, "NC", OPIOIDS)]),
        ChartSpec("Overdose deaths — VT", "deaths", None, [cdc_series(cdc, "VT")], target=150),
    ]
    fig = charts._build_digest_figure(specs)
    titles = [" ".join(ax.get_title(loc="left").split()) for ax in fig.axes if ax.get_visible()]
    assert titles == [
        "Number of Drug Overdose Deaths — MD Latest 1,562 (Apr 2025)",
        "Opioid deaths — NC Latest 1,724 (Mar 2025)",
        "Overdose deaths — VT Latest 180 (Apr 2025)",
    ]
    assert_no_overlaps(fig)
    data = render_digest_chart([*specs, md_spec(cdc, title="Four")])
    assert png_size(data) == (1200, 675) and pixels(data)[..., :3].std() > 0.05


def test_describe_says_latest_value_change_target_and_baseline(cdc):
    text = describe(md_spec(cdc))
    assert "latest value 1,562 deaths" in text
    assert "Apr 2025" in text
    assert "down 33.0% from 2,330 a year earlier" in text  # as /indicator says it
    assert "Target 1,500 deaths (lower is better)" in text
    assert "If nothing changes, the recent trend points down" in text
    assert len(text) <= 1000


def test_describe_several_places_and_gaps(cdc):
    series = [cdc_series(cdc, "MD"), cdc_series(cdc, "NC", OPIOIDS)]
    text = describe(ChartSpec("Deaths", "deaths", None, series, target=2000, direction="lower"))
    assert "MD 1,562 (Apr 2025)" in text and "NC 1,724 (Mar 2025)" in text
    assert "Gaps are suppressed or missing data." in text


def test_renders_leave_nothing_behind(cdc):
    import gc

    from matplotlib.figure import Figure

    spec = md_spec(cdc)
    render_indicator_chart(spec)
    gc.collect()
    before = sum(isinstance(o, Figure) for o in gc.get_objects())
    for _ in range(3):
        render_indicator_chart(spec)
    gc.collect()
    assert sum(isinstance(o, Figure) for o in gc.get_objects()) == before


def test_a_series_with_a_line2d_label_is_not_confused_with_the_key(cdc):
    # legend handles are proxies; the drawn history keeps the geography as its label
    fig = charts._build_figure(md_spec(cdc))
    assert any(isinstance(h, Line2D) and h.get_label() == "MD" for h in fig.axes[0].get_lines())


def test_a_chart_is_drawn_once_per_png(cdc, monkeypatch):
    # Every full draw costs ~60-80 ms; the layout is measured, not drawn (see bench/chart_render).
    from matplotlib.figure import Figure

    draws = []
    original = Figure.draw
    monkeypatch.setattr(
        Figure, "draw", lambda fig, renderer: draws.append(1) or original(fig, renderer)
    )
    markers = [Marker(date(2024, m, 1), f"#{m} done") for m in (1, 3, 6, 9, 12)]
    assert png_size(render_indicator_chart(md_spec(cdc, markers=markers))) == (1200, 675)
    assert len(draws) == 1
    digest = [md_spec(cdc), md_spec(cdc, title="Again"), md_spec(cdc, title="Three")]
    assert png_size(render_digest_chart(digest)) == (1200, 675)
    assert len(draws) == 2


# --- ticks and labels follow the data's period and scale ---------------------------------------


def years(n: int, start: int = 2019) -> list[date]:
    return [date(start + i, 1, 1) for i in range(n)]


def drawn_tick_labels(fig, axis: str) -> list[tuple[list[float], list[str]]]:
    """For each visible axes: the tick positions inside the view and their labels."""
    fig.draw_without_rendering()
    out = []
    for ax in fig.axes:
        if not ax.get_visible():
            continue
        getter = ax.get_yticklabels if axis == "y" else ax.get_xticklabels
        low, high = sorted(ax.get_ylim() if axis == "y" else ax.get_xlim())
        slack = (high - low) * 1e-9
        ticks = [
            (t.get_position()[1 if axis == "y" else 0], t.get_text())
            for t in getter()
            if t.get_text()
        ]
        inside = [(x, text) for x, text in ticks if low - slack <= x <= high + slack]
        out.append(([x for x, _ in inside], [text for _, text in inside]))
    return out


def test_y_tick_labels_say_exactly_where_the_gridlines_are():
    # Naloxone by state: 0.25-step ticks were written with one decimal (0.75 as "0.8").
    rates = {
        "CA": [0.5, 0.4, 0.4, 0.6, 0.7],
        "CO": [0.2, 0.2, 0.3, 0.5, 0.6],
        "AL": [0.2, 0.2, 0.3, 0.3, 0.4],
        "GA": [0.1, 0.2, 0.2, 0.2, 0.3],
        "IA": [0.1, 0.1, 0.2, 0.3, 0.3],
        "IL": [0.2, 0.2, 0.2, 0.3, 0.5],
        "LA": [0.2, 0.2, 0.2, 0.4, 0.4],
        "MN": [0.1, 0.2, 0.2, 0.3, 0.3],
    }
    series = [Series(place, years(5), values) for place, values in rates.items()]
    fig = charts._build_figure(ChartSpec("Naloxone dispensing rate", None, "by year", series))

    panels = drawn_tick_labels(fig, "y")
    assert len(panels) == len(rates)
    # one scale for all: only the left column writes it out
    assert len({ax.get_ylim() for ax in fig.axes if ax.get_visible()}) == 1
    labelled = [(locs, labels) for locs, labels in panels if labels]
    assert len(labelled) == 2  # 8 panels: two rows of four
    for locs, labels in labelled:
        assert len(labels) >= 2
        assert len(set(labels)) == len(labels)
        assert [float(text.replace(",", "")) for text in labels] == pytest.approx(locs)


def test_the_y_formatter_writes_enough_decimals_for_the_step():
    formatter = charts._Thousands()
    formatter.set_locs([0.5, 0.75, 1.0])
    assert [formatter(x) for x in (0.5, 0.75, 1.0)] == ["0.50", "0.75", "1.00"]
    formatter.set_locs([0.0, 0.2, 0.4000000000000001])
    assert [formatter(x) for x in (0.0, 0.2, 0.4000000000000001)] == ["0", "0.2", "0.4"]
    formatter.set_locs([0.0, 1500.0, 3000.0])
    assert formatter(1500.0) == "1,500"


def naloxone_md(**changes) -> ChartSpec:
    base = {
        "title": "Naloxone dispensing rate — MD",
        "unit": "prescriptions per 100 persons",
        "period_label": "by year",
        "series": [Series("MD", years(5), [0.6, 0.7, 0.6, 0.7, 0.8])],
    }
    return ChartSpec(**(base | changes))


def test_yearly_data_is_labelled_by_year_not_as_january():
    text = describe(naloxone_md())
    assert "latest value 0.8 prescriptions per 100 persons for 2023" in text
    assert "by 2026." in text
    assert "Jan" not in text
    # the kind as an indicator stores it (digests), or only the spacing of the periods
    assert "for 2023" in describe(naloxone_md(period_label="yearly"))
    assert "for 2023" in describe(naloxone_md(period_label=None))
    several = [Series("MD", years(5), [0.6, 0.7, 0.6, 0.7, 0.8]), Series("VT", years(5), [1.0] * 5)]
    assert "MD 0.8 (2023); VT 1 (2023)" in describe(naloxone_md(series=several))


def test_digest_panels_label_yearly_and_quarterly_latest_values(cdc):
    quarters = [date(2023, m, 1) for m in (1, 4, 7, 10)] + [date(2024, 1, 1)]
    specs = [
        naloxone_md(period_label="yearly"),
        ChartSpec("Kits", "kits", "quarterly", [Series("", quarters, [5.0, 6, 7, 8, 9])]),
        md_spec(cdc),
    ]
    fig = charts._build_digest_figure(specs)
    titles = [" ".join(ax.get_title(loc="left").split()) for ax in fig.axes if ax.get_visible()]
    assert titles == [
        "Naloxone dispensing rate — MD Latest 0.8 (2023)",
        "Kits Latest 9 (Q1 2024)",
        "Number of Drug Overdose Deaths — MD Latest 1,562 (Apr 2025)",
    ]


def test_date_ticks_are_never_finer_than_the_data(cdc):
    # `/indicator overdoses last 6 weeks`: two monthly values got day ticks "Mar, 08, 15, 22, Apr".
    two_months = cdc_series(cdc, "MD")
    short = Series("MD", two_months.periods[-2:], two_months.values[-2:])
    fig = charts._build_figure(md_spec(cdc, series=[short]))
    [(_, labels)] = drawn_tick_labels(fig, "x")
    assert labels == ["Mar", "Apr"]

    for label in ("12-month-ending totals, by month", None):  # told, or seen in the spacing
        months_12 = Series("", months(8, date(2024, 9, 1)), [float(i) for i in range(8)])
        fig = charts._build_figure(ChartSpec("Kits", "kits", label, [months_12], baseline=False))
        [(_, labels)] = drawn_tick_labels(fig, "x")
        assert labels and not any(text.isdigit() and len(text) < 4 for text in labels), labels

    two_years = naloxone_md(series=[Series("MD", years(2, 2022), [0.7, 0.8])])
    for spec in (two_years, replace_label(two_years, None)):
        [(_, labels)] = drawn_tick_labels(charts._build_figure(spec), "x")
        assert labels and all(text.isdigit() and len(text) == 4 for text in labels), labels

    quarters = [date(2024, m, 1) for m in (1, 4, 7, 10)]
    spec = ChartSpec("Kits", "kits", "by quarter", [Series("", quarters, [1.0, 2, 3, 4])])
    [(locs, _)] = drawn_tick_labels(charts._build_figure(spec), "x")
    assert locs and all(
        charts.mdates.num2date(x).month in (1, 4, 7, 10) and charts.mdates.num2date(x).day == 1
        for x in locs
    )


def replace_label(spec: ChartSpec, label: str | None) -> ChartSpec:
    from dataclasses import replace

    return replace(spec, period_label=label)


def test_dollar_signs_in_names_are_text_not_mathtext():
    """A name from a file like "$\\frac kits" must neither be typeset nor stop the chart."""
    spec = ChartSpec(
        title="Cost $\\frac{a}{$ per kit",
        unit="$ per kit",
        period_label=None,
        series=[
            Series(
                label="$\\sqrt{$", periods=[date(2024, 1, 1), date(2024, 2, 1)], values=[5.0, 6.0]
            )
        ],
    )
    png = charts.render_indicator_chart(spec)
    assert png.startswith(b"\x89PNG")


# --- many places: small multiples a reader can use (the naloxone rate by state) -----------------

NALOXONE_TITLE = "Naloxone dispensing rate"
NALOXONE_UNIT = "prescriptions per 100 persons"
COALITION = ("MD", "NC", "VT")  # the demo's default place, then the places it imports data for


@pytest.fixture(scope="module")
def naloxone() -> list[Series]:
    """The bundled CDC file: 51 places (50 states and DC), yearly 2019-2023, alphabetical as
    `/indicator naloxone by state` hands them to the chart."""
    frame = pd.read_csv(bundled.NALOXONE)
    return [
        Series(
            str(place),
            [date(int(y), 1, 1) for y in rows["YEAR"]],
            [None if pd.isna(v) else float(v) for v in rows["naloxone_dispensing_rate"]],
        )
        for place, rows in sorted(frame.groupby("STATE_ABBREV"), key=lambda kv: str(kv[0]))
    ]


def by_state(series: list[Series], **changes) -> ChartSpec:
    base = {
        "title": NALOXONE_TITLE,
        "unit": NALOXONE_UNIT,
        "period_label": "by year",
        "series": series,
        "source": "CDC, State Naloxone Dispensing Rates (IQVIA Xponent retail pharmacy data)",
        "highlight": COALITION,
    }
    return ChartSpec(**(base | changes))


def shown_panels(fig) -> list:
    return [ax for ax in fig.axes if ax.get_visible()]


def panel_place(ax) -> str:
    return ax.get_title(loc="left").split(" · ")[0]


def panel_value(ax) -> float:
    return float(ax.get_title(loc="left").split(" · ")[1].replace(",", ""))


def footnote(fig) -> str:
    return " ".join(fig.get_supxlabel().split())


def test_naloxone_by_state_shows_the_coalitions_places_first_then_the_highest(naloxone):
    # Was: the first 24 alphabetically (AK..MN): NC and VT missing, MD not set apart.
    assert len(naloxone) == 51
    fig = charts._build_figure(by_state(naloxone))

    panels = shown_panels(fig)
    assert len(panels) == charts.MAX_PANELS == 24
    places = [panel_place(ax) for ax in panels]
    assert places[:3] == ["MD", "NC", "VT"]
    assert places[3:6] == ["WY", "AR", "NM"]  # 2.5, 1.9, 1.6 in 2023: the highest latest values
    values = [panel_value(ax) for ax in panels[3:]]
    assert values == sorted(values, reverse=True)
    left_out = {s.label for s in naloxone} - set(places)
    assert len(left_out) == 27
    assert max((s.values[-1] or 0.0) for s in naloxone if s.label in left_out) <= min(
        values
    )  # nobody higher was left out
    # Set apart: their own colour and bold titles, said in the key.
    for ax in panels:
        own = panel_place(ax) in COALITION
        line = next(line for line in ax.get_lines() if line.get_label() == panel_place(ax))
        assert (line.get_color() == charts.HIGHLIGHT) is own
        title = next(t for t in ax.findobj(Text) if t.get_text() == ax.get_title(loc="left"))
        assert (title.get_fontweight() == "bold") is own
    labels = legend_labels(fig)
    assert "The coalition's places" in labels and "Other places" in labels
    # How many are left out, and how to see one of them.
    texts = [t.get_text() for t in visible_texts(fig)]
    assert "By year · 24 of 51 places: the coalition's, then the highest latest values" in texts
    assert "And 27 more places: /indicator Naloxone dispensing rate in ME." in footnote(fig)
    assert_no_overlaps(fig)


def test_all_places_fit_keep_the_callers_order_after_the_coalitions(naloxone):
    twelve = [s for s in naloxone if s.label in {"AK", "AL", "AR", "AZ", "CA", "VT", "MD"}]
    fig = charts._build_figure(by_state(twelve))
    assert [panel_place(ax) for ax in shown_panels(fig)] == [
        "MD", "VT", "AK", "AL", "AR", "AZ", "CA",
    ]  # fmt: skip
    assert "more places" not in footnote(fig)
    # Without coalition places: exactly as given, nothing set apart.
    fig = charts._build_figure(by_state(twelve, highlight=()))
    places = [panel_place(ax) for ax in shown_panels(fig)]
    assert places == [s.label for s in twelve]
    assert "The coalition's places" not in legend_labels(fig)
    # Places named differently in case or spacing are still the coalition's.
    assert charts.panels(by_state(twelve, highlight=(" vt ",)))[0][0].label == "VT"


def test_panels_of_rates_share_one_scale_that_starts_at_zero(naloxone):
    # Was: each panel its own scale, MD from 0.6 to 0.9, so a small change looked steep.
    fig = charts._build_figure(by_state(naloxone))
    limits = {ax.get_ylim() for ax in shown_panels(fig)}
    assert len(limits) == 1
    low, high = limits.pop()
    assert low == 0
    assert high >= 2.5  # WY's 2.5 fits on it
    assert "its own scale" not in footnote(fig)


def test_places_of_very_different_sizes_each_have_a_scale_from_zero(cdc):
    series = [cdc_series(cdc, s) for s in ("MD", "NC", "VT", "US")]
    fig = charts._build_figure(ChartSpec(DEATHS, "deaths", "12-month-ending", series))
    for ax in shown_panels(fig):
        assert ax.get_ylim()[0] == 0
    tops = {panel_place(ax): ax.get_ylim()[1] for ax in shown_panels(fig)}
    assert tops["US"] > 50_000 and tops["VT"] < 1_000
    assert "Each panel has its own scale" in footnote(fig)


@pytest.mark.parametrize("count", [1, 2, 4, 7, 12, 13, 20, 24, 51])
def test_tick_labels_never_run_together_at_any_panel_count(naloxone, count):
    # Was: "2020202220242026" under each of 24 panels.
    fig = charts._build_figure(by_state(naloxone[:count]))
    assert_no_overlaps(fig)  # every text, tick labels included, measured by the Agg renderer
    renderer = fig.canvas.get_renderer()
    for _locs, labels in drawn_tick_labels(fig, "x"):
        if labels:  # the lowest panel of each column writes the years
            assert len(labels) >= 2 and all(t.isdigit() and len(t) == 4 for t in labels)
    for ax in shown_panels(fig):
        boxes = sorted(
            (t.get_window_extent(renderer) for t in ax.get_xticklabels() if t.get_text()),
            key=lambda b: b.x0,
        )
        em = charts.SMALL_PT * charts.DPI / 72
        assert all(b.x0 - a.x1 >= em / 4 for a, b in pairwise(boxes))
    # every column has its dates, even above an empty slot in the last row
    panels = shown_panels(fig)
    columns = min(4, len(panels))  # up to 6 alike places are lines on one chart
    with_dates = [ax for ax in panels if any(t.get_text() for t in ax.get_xticklabels())]
    assert len(with_dates) == columns


def test_monthly_places_small_multiples_have_readable_year_ticks(cdc):
    series = [cdc_series(cdc, s) for s in ("MD", "NC", "VT", "US")]
    spec = ChartSpec(
        DEATHS, "deaths", "12-month-ending totals, by month", series, highlight=("MD",)
    )
    fig = charts._build_figure(spec)
    for _, labels in drawn_tick_labels(fig, "x"):
        assert len(labels) >= 2
    assert_no_overlaps(fig)


def test_every_panel_chart_says_its_unit_and_keys_its_lines(naloxone):
    fig = charts._build_figure(by_state(naloxone, target=1.0, direction="higher"))
    assert fig.get_supylabel() == NALOXONE_UNIT  # the unit, on the y axis of all panels
    labels = legend_labels(fig)
    assert "If nothing changes" in labels
    assert "Target 1 prescriptions per 100 persons (higher is better)" in labels
    assert_no_overlaps(fig)


def test_the_digest_panels_have_units_and_a_key_for_target_and_baseline(cdc, naloxone):
    md = [s for s in naloxone if s.label == "MD"]
    specs = [
        md_spec(cdc),  # target 1,500 deaths and the baseline
        ChartSpec("Opioid deaths — NC", "deaths", None, [cdc_series(cdc, "NC", OPIOIDS)]),
        by_state(md, title="Naloxone dispensing rate — MD", highlight=()),
        ChartSpec("Overdose deaths — US", "deaths", None, [cdc_series(cdc, "US")]),
    ]
    fig = charts._build_digest_figure(specs)
    panels = shown_panels(fig)
    units = [" ".join(ax.get_ylabel().split()) for ax in panels]
    assert units == ["deaths", "deaths", NALOXONE_UNIT, "deaths"]
    labels = [label.lower() for label in legend_labels(fig)]
    assert "target" in labels and "if nothing changes" in labels
    for ax in panels:  # counts and rates from zero here too
        assert ax.get_ylim()[0] == 0
    assert_no_overlaps(fig)


def test_the_digest_panel_titles_stay_inside_the_image(cdc):
    # Was: "Number of Drug Overdose Deaths — M", the place cut off at the image's right edge.
    specs = [
        ChartSpec("Naloxone dispensing rate — MD", "per 100", None, [cdc_series(cdc, "MD")]),
        ChartSpec("Number of Drug Overdose Deaths — MD", "deaths", None, [cdc_series(cdc, "MD")]),
        ChartSpec("Opioids (T40.0-T40.4,T40.6) — MD", "deaths", None, [cdc_series(cdc, "MD")]),
        ChartSpec(
            "Synthetic opioids, excl. methadone (T40.4) — US",
            "deaths",
            None,
            [cdc_series(cdc, "US")],
        ),
    ]
    fig = charts._build_digest_figure(specs)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    right = fig.bbox.x1
    for ax in shown_panels(fig):
        title = next(t for t in [*ax.texts, ax._left_title] if t.get_text())
        box = title.get_window_extent(renderer)
        assert box.x1 <= right, (title.get_text(), box.x1, right)
        words = " ".join(title.get_text().split())
        assert "— MD" in words or "— US" in words  # the place is not cut off either


def marker_xs(fig) -> list[float]:
    return [
        float(np.asarray(line.get_xdata(), dtype=float)[0])
        for ax in fig.axes
        for line in ax.get_lines()
        if line.get_gid() == "marker-line"
    ]


def test_a_commitment_done_after_the_latest_data_is_not_drawn_but_named(naloxone):
    # Was: "#1 done" in 2025, three years past the last value (2023), over the forecast.
    md = [s for s in naloxone if s.label == "MD"]
    markers = [Marker(date(2025, 3, 1), "#1 done"), Marker(date(2023, 6, 1), "#2 done")]
    spec = by_state(md, title="Naloxone dispensing rate — MD", highlight=(), markers=markers)
    fig = charts._build_figure(spec)

    last = charts.mdates.date2num(date(2023, 1, 1))  # the 2023 value's point
    assert marker_xs(fig) == [last]  # #2 (during 2023) sits on 2023's point; #1 is not drawn
    assert marker_labels(fig) == ["#2 done"]
    assert "Completed after the latest data (2023), so not marked: #1 done." in footnote(fig)
    assert_no_overlaps(fig)

    many = charts._build_figure(by_state(naloxone, markers=markers))
    assert set(marker_xs(many)) == {last}
    assert "so not marked: #1 done." in footnote(many)


def test_the_alt_text_lists_places_in_the_order_they_are_drawn(naloxone):
    text = describe(by_state(naloxone))
    assert text.startswith(
        "Chart of Naloxone dispensing rate for 51 places; latest prescriptions per 100 persons: "
        "MD 0.8 (2023); NC 0.6 (2023); VT 0.4 (2023); WY 2.5 (2023); AR 1.9 (2023)"
    )
    assert "and 43 more." in text


def test_hostile_place_lists_do_not_break_the_order(naloxone):
    # the coalition's places repeated, unknown, empty or absurdly long: ignored, never duplicated
    spec = by_state(naloxone, highlight=("VT", "", "vt", "<!channel>", "X" * 5000, "MD"))
    shown, left_out = charts.panels(spec)
    assert [s.label for s in shown[:2]] == ["VT", "MD"]
    assert len(shown) + len(left_out) == 51
    assert len({s.label for s in shown + left_out}) == 51
    # a series with no value at all is never a panel, nor counted as left out
    empty = Series("ZZ", [date(2023, 1, 1)], [None])
    shown, left_out = charts.panels(by_state([*naloxone, empty], highlight=("ZZ",)))
    assert "ZZ" not in {s.label for s in shown + left_out}
