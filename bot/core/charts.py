"""Indicator charts as PNG bytes, for `/indicator` and the digests.

Pure functions of their data: `render_*(spec) -> bytes`, built on `matplotlib.figure.Figure` with
the Agg canvas and never `pyplot` (pyplot keeps every figure alive and its state is shared between
threads). Rendering is serialised by a module lock because matplotlib's text and font caches are not
thread-safe; nothing here keeps a reference to a figure after it is saved.

What a chart shows (the README, `/indicator`): the history, the target as a labelled line, the
"turn the curve" baseline (where the line goes if nothing changes) as a dashed continuation, and
markers where linked commitments were completed. Missing or suppressed values are gaps, never zero.
A spec with no values at all renders a clear "No data yet for ..." image (never a blank axes).
"""

from __future__ import annotations

import math
import textwrap
import threading
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from io import BytesIO
from itertools import pairwise
from typing import Any

import matplotlib
import matplotlib.dates as mdates
import numpy as np
from dateutil.relativedelta import relativedelta
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg, RendererAgg
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.lines import Line2D
from matplotlib.text import Text
from matplotlib.ticker import Formatter, Locator, MaxNLocator
from matplotlib.transforms import Bbox, ScaledTranslation
from PIL import Image as PILImage

from bot.core import periods as _periods
from bot.core.text import clip, format_number, format_percent, safe

__all__ = [
    "Baseline",
    "ChartSpec",
    "Marker",
    "Series",
    "baseline_forecast",
    "describe",
    "panels",
    "render_digest_chart",
    "render_indicator_chart",
    "warm_up",
]

# --- public data ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Series:
    """One line: an indicator's values for one geography ("" when it has none)."""

    label: str
    periods: Sequence[date]  # period start dates, ascending
    values: Sequence[float | None]  # None = missing/suppressed: drawn as a gap, never as zero

    def __post_init__(self) -> None:
        if len(self.periods) != len(self.values):
            raise ValueError(
                f"series {self.label!r}: {len(self.periods)} periods but {len(self.values)} values"
            )


@dataclass(frozen=True)
class Marker:
    """A moment worth seeing on the chart, e.g. a linked commitment completed ("#12 done")."""

    when: date
    label: str


@dataclass(frozen=True)
class ChartSpec:
    title: str  # e.g. "Number of Drug Overdose Deaths — MD"
    unit: str | None  # y-axis label, e.g. "deaths"
    period_label: str | None  # e.g. "12-month-ending, by month"
    series: Sequence[Series]
    target: float | None = None
    direction: str = "lower"  # "lower" | "higher" is better
    markers: Sequence[Marker] = ()
    baseline: bool = True  # draw the forecast baseline
    source: str | None = None  # footnote, e.g. "CDC/NCHS Vital Statistics Rapid Release"
    # The coalition's own places (its default place first), as the series label them: drawn
    # first and in their own colour when there are several places (see `panels`).
    highlight: Sequence[str] = ()
    asked: date | None = None  # the period a question asked about (`for Dec 2023`): ringed


@dataclass(frozen=True)
class Baseline:
    """Where the line goes if nothing changes: `values` at the `periods` after the last value."""

    periods: list[date]
    values: list[float]
    method: str  # e.g. "recent trend (Theil–Sen over last 12 periods)"


# --- look ---------------------------------------------------------------------------------------

# Okabe–Ito, colour-blind safe; yellow left out (unreadable on white), black kept for the target.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9")
TARGET_COLOUR = "#000000"
HIGHLIGHT = PALETTE[1]  # the coalition's own places among many (vermillion; others are blue)
TARGET_STYLE = (0, (6, 2, 1, 2))  # dash-dot
BASELINE_STYLE = (0, (4, 3))  # dashed
MARKER_COLOUR = "#555555"
MUTED = "#555555"

WIDTH_IN, HEIGHT_IN, DPI = 8.0, 4.5, 150  # 1200 x 675 px: sharp at Slack's preview size
TITLE_PT, TEXT_PT, SMALL_PT = 15, 12, 11  # nothing smaller than 11 pt at this size
TITLE_CHARS = 100  # longer titles are cut, then ellipsised to the measured image width
ALT_CHARS = 1000  # a chart's alt text, as sent to Slack
MAX_LINES = 6  # more series than this: small multiples
SCALE_SPLIT = 10.0  # lines whose sizes differ more than this on one axis: small multiples
MAX_PANELS = 24  # small multiples beyond this are listed as "not shown"
MAX_MARKER_LABELS = 5  # more markers are drawn as unlabelled ticks
BASELINE_POINTS = 12  # Theil–Sen over the last N non-missing values ...
BASELINE_SPAN = 24  # ... that lie within the last N periods
BASELINE_MIN_POINTS = 4
BASELINE_MAX_GAP = 2  # missing periods in a row that the trend may bridge
BASELINE_LABEL = "If nothing changes"
GAP_NOTE = "Gaps = suppressed or missing data."
PAD_X_IN, PAD_Y_IN = 0.08, 0.06  # space at the image edges and around each axes

_LOCK = threading.Lock()
# Names, units and places come from files and people: "$5$ kits" is text, not mathtext (which
# would typeset it, or fail to draw the chart at all on "$\\frac"). Set while the lock is held.


def _literal_text() -> AbstractContextManager[None]:
    return matplotlib.rc_context({"text.parse_math": False})


# --- public functions ---------------------------------------------------------------------------


def render_indicator_chart(spec: ChartSpec) -> bytes:
    """One indicator as a 1200x675 PNG (taller for more than 8 small multiples, about 195 px a
    row: 1200x870 for 9-12 places, 1200x1455 for 21-24)."""
    with _LOCK, _literal_text():
        return _png(_build_figure(spec))


def render_digest_chart(specs: Sequence[ChartSpec]) -> bytes:
    """Two to four key indicators side by side in one PNG, each with its latest value written on."""
    with _LOCK, _literal_text():
        return _png(_build_digest_figure(specs))


def warm_up() -> None:
    """Pay matplotlib's first-use costs (font cache, Agg) at start, not in a user's request."""
    render_indicator_chart(
        ChartSpec(
            title="Warm-up",
            unit="count",
            period_label=None,
            series=[Series("", [date(2024, m, 1) for m in range(1, 7)], [5, 4, None, 3, 2.5, 2])],
            target=1,
            markers=[Marker(date(2024, 3, 1), "#1 done")],
        )
    )


def baseline_forecast(
    periods: Sequence[date], values: Sequence[float | None], *, horizon: int
) -> Baseline | None:
    """The "turn the curve" baseline: the recent trend carried forward `horizon` periods.

    Theil–Sen (the median of all pairwise slopes) over the last 12 non-missing values within the
    last 24 periods (only those after a gap of 3+ missing periods, when 4 or more follow it): one
    odd month barely moves it, unlike a least-squares line. The line is
    anchored on the median residual, not on the last value, for the same reason. Counts and rates
    never go below zero, so neither does the baseline when the history has no negative values.
    None when fewer than 4 values are usable or `horizon` < 1.
    """
    if horizon < 1:
        return None
    grid = _Grid.of(periods)
    if grid is None:
        return None
    xs, ys = [], []
    for p, v in zip(periods, values, strict=True):
        fv = _num(v)
        if fv is not None:
            xs.append(grid.index(_day(p)))
            ys.append(fv)
    if not xs:
        return None
    order = np.argsort(np.asarray(xs), kind="stable")
    x = np.asarray(xs, dtype=float)[order]
    y = np.asarray(ys, dtype=float)[order]
    recent = x >= x[-1] - (BASELINE_SPAN - 1)
    x, y = x[recent][-BASELINE_POINTS:], y[recent][-BASELINE_POINTS:]
    # After a long suppressed stretch the series may be on a new footing: use only what follows.
    breaks = np.nonzero(np.diff(x) > BASELINE_MAX_GAP + 1)[0]
    if breaks.size and len(x) - (breaks[-1] + 1) >= BASELINE_MIN_POINTS:
        x, y = x[breaks[-1] + 1 :], y[breaks[-1] + 1 :]
    if len(x) < BASELINE_MIN_POINTS:
        return None
    i, j = np.triu_indices(len(x), k=1)
    dx = x[j] - x[i]
    slope = float(np.median((y[j] - y[i])[dx != 0] / dx[dx != 0]))
    intercept = float(np.median(y - slope * x))
    last = x[-1]
    future = [last + k for k in range(1, horizon + 1)]
    forecast = [intercept + slope * f for f in future]
    if (y >= 0).all():
        forecast = [max(0.0, f) for f in forecast]
    return Baseline(
        periods=[grid.date_at(int(f)) for f in future],
        values=[float(v) for v in forecast],
        method=f"recent trend (Theil–Sen over the last {len(x)} values)",
    )


def describe(spec: ChartSpec) -> str:
    """Alt text: what the chart shows, in a sentence or three (latest, trend, target, baseline).

    Ready for Slack: names, places and units come from files, so the whole text goes through
    `bot.core.text.safe` (the picture itself draws them as they are)."""
    title = clip(spec.title.strip() or "Indicator", 150)
    unit = f" {spec.unit}" if spec.unit else ""
    shown, left_out = panels(spec)
    drawn = shown + left_out  # the coalition's places first, in the order the chart draws them
    if not drawn:
        return safe(f"Chart of {title}: no data yet.", ALT_CHARS)
    grain = _grain(spec)
    parts: list[str] = []
    if len(drawn) == 1:
        s = drawn[0]
        when, value = _latest(s) or (date.min, 0.0)
        where = f" in {s.label}" if s.label and s.label not in title else ""
        sentence = f"Chart of {title}: latest value {format_number(value)}{unit}{where} for {_period(when, grain)}"
        change = _year_change(s)
        if change is not None:
            sentence += f", {change}"
        parts.append(sentence + ".")
    else:
        latest = []
        for s in drawn[:8]:
            when, value = _latest(s) or (date.min, 0.0)
            latest.append(f"{s.label or 'total'} {format_number(value)} ({_period(when, grain)})")
        more = f" and {len(drawn) - 8} more" if len(drawn) > 8 else ""
        parts.append(
            f"Chart of {title} for {len(drawn)} places; latest{unit and ' ' + unit.strip()}: "
            + "; ".join(latest)
            + more
            + "."
        )
    if spec.target is not None:
        better = "lower" if spec.direction != "higher" else "higher"
        parts.append(f"Target {format_number(spec.target)}{unit} ({better} is better).")
    if spec.baseline and len(drawn) == 1:
        s = drawn[0]
        base = baseline_forecast(s.periods, s.values, horizon=_horizon(s.periods))
        latest_value = (_latest(s) or (date.min, 0.0))[1]
        if base is not None:
            end = base.values[-1]
            way = (
                "up"
                if end > latest_value * 1.02
                else "down"
                if end < latest_value * 0.98
                else "flat"
            )
            about = round(end) if abs(end) >= 100 else round(end, 1)  # a projection, not a count
            parts.append(
                f"If nothing changes, the recent trend points {way}, to about {format_number(about)}"
                f" by {_period(base.periods[-1], grain)}."
            )
    if spec.asked is not None:
        parts.append(f"Ringed: {_period(spec.asked, grain)}, the period asked about.")
    if any(_num(v) is None for s in spec.series for v in s.values):
        parts.append("Gaps are suppressed or missing data.")
    return safe(" ".join(parts), ALT_CHARS)


def panels(spec: ChartSpec, limit: int = MAX_PANELS) -> tuple[list[Series], list[Series]]:
    """(places drawn, places left out), in the order the chart shows them.

    The coalition's places (`spec.highlight`, in its order) always come first. When every place
    fits (`limit`), the others follow in the caller's order (alphabetical from `/indicator`);
    when some must be left out, the others are the places with the highest latest values, highest
    first, and the left-out ones follow the same ranking. Places with no value are never drawn.
    """
    drawn = [s for s in spec.series if _latest(s) is not None]
    rank: dict[str, int] = {}
    for n, place in enumerate(spec.highlight):
        rank.setdefault(_place(place), n)
    ours = sorted(
        (s for s in drawn if _place(s.label) in rank), key=lambda s: rank[_place(s.label)]
    )
    others = [s for s in drawn if _place(s.label) not in rank]
    if len(drawn) <= limit:
        return ours + others, []
    ranked = sorted(others, key=lambda s: -(_latest(s) or (date.min, 0.0))[1])  # stable on ties
    shown = (ours + ranked)[:limit]
    return shown, (ours + ranked)[limit:]


# --- building figures (internal; tests inspect these) -------------------------------------------


def _build_figure(spec: ChartSpec) -> Figure:
    """The laid-out figure for one indicator (tests count its texts and check overlaps)."""
    shown, left_out = panels(spec)
    if not shown:
        return _no_data_figure(spec.title)
    if len(shown) + len(left_out) > MAX_LINES or _scales_differ(shown):
        return _small_multiples_figure(spec, shown, left_out)
    drawn = shown  # the coalition's places first
    fig = _new_figure(WIDTH_IN, HEIGHT_IN)
    ax = fig.add_subplot()
    _titles(fig, spec.title)
    ax.set_title(spec.period_label or "", loc="left", fontsize=SMALL_PT, color=MUTED)

    handles: list[Line2D] = []
    method = None
    gaps = False
    x_max: date | None = None
    for n, s in enumerate(drawn):
        colour = PALETTE[n % len(PALETTE)] if len(drawn) > 1 else PALETTE[0]
        plotted = _plot_series(ax, s, colour, label=s.label or "Reported")
        handles.append(plotted.line)
        gaps = gaps or plotted.gaps
        x_max = _later(x_max, plotted.last)
        if spec.baseline:
            base = _plot_baseline(ax, s, colour)
            if base is not None and n == 0:
                handles.append(
                    Line2D(
                        [], [], color=MUTED, linestyle=BASELINE_STYLE, lw=2, label=BASELINE_LABEL
                    )
                )
                method = base.method
            if base is not None:
                x_max = _later(x_max, base.periods[-1])
    if spec.asked is not None and (ring := _plot_asked(ax, drawn, spec.asked, _grain(spec))):
        handles.append(ring)
    if spec.target is not None:
        handles.append(_plot_target(ax, spec.target, spec.direction, spec.unit))
    placed = _place_markers(spec.markers, drawn)
    marker_handle = _plot_markers(ax, placed.shown, labels=True)
    if marker_handle is not None:
        handles.append(marker_handle)
    _style_axes(ax, spec.unit, grain=_grain(spec))
    _legend_below(fig, ax, handles)
    notes = [f"Baseline: {method}, carried forward."] if method else []
    _footnote(fig, spec.source, gaps, notes + _late_note(placed, _grain(spec)))
    labelled = any(t.get_gid() == "marker-label" for t in ax.texts)
    if labelled:  # headroom first, so labels rarely sit on the data (it changes the y ticks)
        low, high = ax.get_ylim()
        ax.set_ylim(low, high + (high - low) * 0.22)
    _lay_out(fig, [[ax]])
    if labelled:
        _prune_marker_labels(fig, ax)
    return fig


def _build_digest_figure(specs: Sequence[ChartSpec]) -> Figure:
    """Up to four indicators in a 2x2 grid (or a row): each with its latest value, its unit on the
    y axis and one key for the line styles under them."""
    shown = list(specs)[:4]
    if not any(_latest(s) is not None for spec in shown for s in spec.series):
        return _no_data_figure("these indicators" if shown else "the digest")
    cols = 2 if len(shown) == 4 else max(1, len(shown))
    rows = 2 if len(shown) == 4 else 1
    fig = _new_figure(WIDTH_IN, HEIGHT_IN)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    size = _panel_px(fig, rows, cols, shared=False, title_lines=2)
    gaps = based = targeted = marked = False
    places: list[Line2D] = []  # panels with several places: which colour is which
    late: list[str] = []
    for ax, spec in zip(axes, shown, strict=False):
        drawn = panels(spec, limit=MAX_LINES)[0]
        name = _panel_title(spec.title, 34 if cols <= 2 else 26)
        if not drawn:
            ax.set_title(name, loc="left", fontsize=TEXT_PT)
            _no_data_axes(ax)
            continue
        for n, s in enumerate(drawn):
            colour = PALETTE[n % len(PALETTE)]
            plotted = _plot_series(ax, s, colour, label=s.label)
            gaps = gaps or plotted.gaps
            if len(drawn) > 1 and s.label and s.label not in {h.get_label() for h in places}:
                places.append(Line2D([], [], color=colour, lw=2.2, label=clip(s.label, 20)))
            if spec.baseline and len(drawn) == 1:
                based = _plot_baseline(ax, s, colour) is not None or based
        if spec.target is not None:
            _plot_target(ax, spec.target, spec.direction, spec.unit)
            targeted = True
        grain = _grain(spec)
        latest = _mark_latest(ax, drawn, grain)
        ax.set_title(f"{name}\n{latest}", loc="left", fontsize=SMALL_PT, linespacing=1.3)
        placed = _place_markers(spec.markers, drawn)
        marked = _plot_markers(ax, placed.shown, labels=False) is not None or marked
        late += _late_note(placed, grain)
        _style_axes(ax, None, compact=True, grain=grain, size_px=size)
        if spec.unit:  # on the axis, as on every chart: wrapped to the panel's height
            ax.set_ylabel(_wrap_to(spec.unit, size[1], 3), fontsize=SMALL_PT, color=MUTED)
    for ax in axes[len(shown) :]:
        ax.set_visible(False)
    key = list(places) or [Line2D([], [], color=PALETTE[0], lw=2.2, label="Reported")]
    key += _style_key(based=based, target="Target" if targeted else None, marked=marked)
    _figure_key(fig, key)
    notes = []
    if len(specs) > len(shown):
        notes.append(f"{len(specs) - len(shown)} more indicators in the digest text.")
    source = "; ".join(sorted({s.source for s in shown if s.source})) or None
    _footnote(fig, source, gaps, notes + late[:1])
    _lay_out(fig, [list(axes[r * cols : (r + 1) * cols]) for r in range(rows)])
    return fig


def _panel_title(title: str, chars: int) -> str:
    """A panel's name in at most two lines of about `chars` (34 in a 2x2 digest: 35 ran past the
    image's edge); the place stays with its dash ("… Deaths —" / "MD" would read as two things:
    a no-break space, which textwrap keeps)."""
    kept = title.replace(" — ", " —\u00a0")
    return "\n".join(textwrap.wrap(kept, chars, max_lines=2, placeholder="…"))


def _small_multiples_figure(
    spec: ChartSpec, shown: Sequence[Series], left_out: Sequence[Series]
) -> Figure:
    """A panel per place (at most MAX_PANELS): the coalition's places first and in their own
    colour, one y scale for all that starts at zero (unless sizes differ more than SCALE_SPLIT
    times: then each panel has its own, still from zero), the unit on the y axis, a key for the
    line styles, and how many places are left out and how to ask about one."""
    cols = min(4, len(shown))
    grain = _grain(spec)
    rows = math.ceil(len(shown) / cols)
    fig = _new_figure(WIDTH_IN, HEIGHT_IN + 1.3 * max(0, rows - 2))  # ~200 px a row from 3 rows
    _titles(fig, spec.title)
    shared = not _scales_differ(shown)
    # Not matplotlib's sharex/sharey: each limit change then visits every sibling (24 x 24), a
    # third of the render time. The same limits and tick choices are set on each panel instead.
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    ours = {_place(p) for p in spec.highlight}
    # Their own colour only sets the coalition's places apart from others (not when all are).
    mine = sum(_place(s.label) in ours for s in shown)
    highlighted = 0 < mine < len(shown)
    placed = _place_markers(spec.markers, shown)
    gaps = based = marked = False
    ring: Line2D | None = None
    for ax, s in zip(axes, shown, strict=False):
        own = highlighted and _place(s.label) in ours
        colour = HIGHLIGHT if own else PALETTE[0]
        plotted = _plot_series(ax, s, colour, label=s.label)
        gaps = gaps or plotted.gaps
        latest = _latest(s)
        value = f" · {format_number(latest[1])}" if latest else ""
        ax.set_title(
            clip(s.label or "—", 14) + value,
            loc="left",
            fontsize=SMALL_PT,
            fontweight="bold" if own else "normal",
            color=colour if own else "#222222",
        )
        if spec.baseline:
            based = _plot_baseline(ax, s, colour) is not None or based
        if spec.target is not None:
            ax.axhline(spec.target, color=TARGET_COLOUR, lw=1.2, linestyle=TARGET_STYLE)
        marked = _plot_markers(ax, placed.shown, labels=False) is not None or marked
        if spec.asked is not None:
            ring = _plot_asked(ax, [s], spec.asked, grain) or ring
    visible = list(axes[: len(shown)])
    for ax in axes[len(shown) :]:
        ax.set_visible(False)
    # Counts and rates start at zero on every panel; nothing below zero: one decision for all.
    zero = all(not np.isfinite(ax.dataLim.y0) or ax.dataLim.y0 >= 0 for ax in visible)
    _same_limits(visible, shared=shared, zero=zero)
    size = _panel_px(fig, rows, cols, shared=shared, title_lines=1)
    for n, ax in enumerate(visible):
        _style_axes(ax, None, compact=True, grain=grain, size_px=size, zero=zero)
        # dates under the lowest panel of each column; one scale is written out on the left only
        ax.tick_params(labelbottom=n + cols >= len(visible), labelleft=not shared or n % cols == 0)
    if spec.unit:
        fig.supylabel(
            _wrap_to(spec.unit, fig.bbox.height * 0.6), fontsize=TEXT_PT, ha="left", gid="ylabel"
        )
    key = (
        [
            Line2D([], [], color=HIGHLIGHT, lw=2.2, label="The coalition's places"),
            Line2D([], [], color=PALETTE[0], lw=2.2, label="Other places"),
        ]
        if highlighted
        else [Line2D([], [], color=PALETTE[0], lw=2.2, label="Reported")]
    )
    target = (
        _target_label(spec.target, spec.direction, spec.unit) if spec.target is not None else None
    )
    key += _style_key(based=based, target=target, marked=marked)
    if ring is not None:
        key.append(ring)
    _figure_key(fig, key)
    total = len(shown) + len(left_out)
    kind = (spec.period_label or "").strip().rstrip(".")
    about = [kind[:1].upper() + kind[1:]] if kind else []
    if left_out:
        chosen = "the coalition's, then the highest" if highlighted else "the highest"
        about.append(f"{len(shown)} of {total} places: {chosen} latest values")
    elif highlighted:
        about.append("the coalition's places first")
    _subtitle(fig, " · ".join(about))
    notes = []
    if left_out:
        name = clip(" ".join(spec.title.split()) or "the indicator", 40)
        example = clip(left_out[0].label, 14)
        notes.append(f"And {len(left_out)} more places: /indicator {name} in {example}.")
    if not shared:
        notes.append("Each panel has its own scale (sizes differ more than tenfold).")
    _footnote(fig, spec.source, gaps, notes + _late_note(placed, grain), lines=4)
    _lay_out(fig, [list(axes[r * cols : (r + 1) * cols]) for r in range(rows)])
    return fig


def _same_limits(axes: Sequence[Axes], *, shared: bool, zero: bool) -> None:
    """One time span on every panel, and one value range when `shared` (from zero when `zero`),
    with matplotlib's usual 5% margins around the data."""
    boxes = [ax.dataLim for ax in axes]
    x0 = min(b.x0 for b in boxes if np.isfinite(b.x0))
    x1 = max(b.x1 for b in boxes if np.isfinite(b.x1))
    pad = (x1 - x0) * 0.05 or 15.0  # days
    for ax in axes:
        ax.set_xlim(x0 - pad, x1 + pad)
    ys = [(b.y0, b.y1) for b in boxes if np.isfinite(b.y0) and np.isfinite(b.y1)]
    if not shared or not ys:
        return
    y0, y1 = min(y for y, _ in ys), max(y for _, y in ys)
    pad = (y1 - (0.0 if zero else y0)) * 0.05 or abs(y1) * 0.05 or 1.0
    for ax in axes:
        ax.set_ylim(0.0 if zero else y0 - pad, y1 + pad)


def _no_data_figure(title: str) -> Figure:
    fig = _new_figure(WIDTH_IN, HEIGHT_IN)
    ax = fig.add_axes((0.0, 0.0, 1.0, 1.0))  # nothing to lay out: the texts sit in the middle
    ax.set_axis_off()
    name = clip(title.strip() or "this indicator", 60)
    ax.text(
        0.5,
        0.55,
        f"No data yet for {name}",
        ha="center",
        va="center",
        fontsize=TITLE_PT,
        color="#222222",
        wrap=True,
    )
    ax.text(
        0.5,
        0.38,
        "Values appear here once they are loaded (commstat import, or /indicator set).",
        ha="center",
        va="center",
        fontsize=SMALL_PT,
        color=MUTED,
    )
    return fig


# --- pieces -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Plotted:
    line: Line2D
    gaps: bool
    last: date


def _plot_series(ax: Axes, s: Series, colour: str, *, label: str) -> _Plotted:
    """The history line on a regular period grid, NaN where a value is missing (a visible gap)."""
    xs, ys, gaps = _regular(s)
    x = np.asarray(xs, dtype="datetime64[D]")
    y = np.asarray(ys, dtype=float)
    (line,) = ax.plot(x, y, color=colour, lw=2.2, label=label, solid_capstyle="round")
    # A value with gaps on both sides would be invisible as a line: give it a dot.
    ok = ~np.isnan(y)
    prev_ok = np.concatenate(([False], ok[:-1]))
    next_ok = np.concatenate((ok[1:], [False]))
    alone = ok & ~prev_ok & ~next_ok
    if alone.any():
        ax.plot(x[alone], y[alone], linestyle="none", marker="o", ms=4, color=colour)
    last = _latest(s)
    return _Plotted(line, gaps, last[0] if last else xs[-1])


def _plot_asked(ax: Axes, drawn: Sequence[Series], when: date, grain: str | None) -> Line2D | None:
    """A ring around each line's value for the period asked about; its legend entry."""
    ring = None
    for s in drawn:
        for d, v in zip(s.periods, s.values, strict=True):
            if _day(d) == when and (value := _num(v)) is not None:
                (ring,) = ax.plot(
                    [np.datetime64(_day(d), "D")],
                    [value],
                    linestyle="none",
                    marker="o",
                    ms=11,
                    mfc="none",
                    mec="#222222",
                    mew=2,
                    zorder=5,
                    label=f"Asked: {_period(when, grain)}",
                )
    return ring


def _plot_baseline(ax: Axes, s: Series, colour: str) -> Baseline | None:
    base = baseline_forecast(s.periods, s.values, horizon=_horizon(s.periods))
    latest = _latest(s)
    if base is None or latest is None:
        return None
    x = np.asarray([latest[0], *base.periods], dtype="datetime64[D]")
    y = np.asarray([latest[1], *base.values], dtype=float)
    ax.plot(x, y, color=colour, lw=2, linestyle=BASELINE_STYLE, alpha=0.9)
    return base


def _target_label(target: float, direction: str, unit: str | None) -> str:
    better = "higher" if direction == "higher" else "lower"
    unit_text = f" {clip(unit, 30)}" if unit else ""
    return f"Target {format_number(target)}{unit_text} ({better} is better)"


def _plot_target(ax: Axes, target: float, direction: str, unit: str | None) -> Line2D:
    return ax.axhline(
        target,
        color=TARGET_COLOUR,
        lw=1.8,
        linestyle=TARGET_STYLE,
        label=_target_label(target, direction, unit),
    )


def _style_key(*, based: bool, target: str | None, marked: bool) -> list[Line2D]:
    """Key entries for the line styles a figure of panels uses: baseline, target, completions."""
    key = []
    if based:
        key.append(
            Line2D([], [], color=MUTED, linestyle=BASELINE_STYLE, lw=2, label=BASELINE_LABEL)
        )
    if target is not None:
        key.append(
            Line2D([], [], color=TARGET_COLOUR, linestyle=TARGET_STYLE, lw=1.5, label=target)
        )
    if marked:
        key.append(
            Line2D([], [], color=MARKER_COLOUR, linestyle=":", lw=1, label="Commitment done")
        )
    return key


@dataclass(frozen=True)
class _Markers:
    shown: list[Marker]  # within the data's periods, oldest first, each at the date it is drawn
    late: list[Marker]  # completed after the latest data's period: not drawn, only noted
    last: date  # the latest value's period


def _place_markers(markers: Sequence[Marker], drawn: Sequence[Series]) -> _Markers:
    """Which completions the chart can show: those from the first period to the end of the
    latest one with a value. One completed during the latest period sits on its point (a yearly
    value for 2023 is drawn on 1 Jan 2023); one completed after it would float over the forecast,
    where no data can show its effect yet, so it is left out and named in the footnote."""
    newest = max(drawn, key=lambda s: (_latest(s) or (date.min, 0.0))[0])
    last = (_latest(newest) or (date.min, 0.0))[0]
    grid = _Grid.of(newest.periods)
    end = grid.date_at(grid.index(last) + 1) if grid else last + timedelta(days=1)
    first = min(_first(s) for s in drawn)
    shown, late = [], []
    for m in sorted(markers, key=lambda m: _day(m.when)):
        when = _day(m.when)
        if when >= end:
            late.append(m)
        elif when >= first:
            shown.append(Marker(min(when, last), m.label))
    return _Markers(shown, late, last)


def _late_note(placed: _Markers, grain: str | None) -> list[str]:
    if not placed.late:
        return []
    names = ", ".join(clip(m.label, 18) for m in placed.late[:3])
    if len(placed.late) > 3:
        names += f" and {len(placed.late) - 3} more"
    return [
        f"Completed after the latest data ({_period(placed.last, grain)}), so not marked: {names}."
    ]


def _plot_markers(ax: Axes, shown: Sequence[Marker], *, labels: bool) -> Line2D | None:
    """Thin vertical lines; labels for the most recent few that do not collide (see _prune)."""
    if not shown:
        return None
    handle = None
    for m in shown:
        handle = ax.axvline(
            float(mdates.date2num(_day(m.when))),
            color=MARKER_COLOUR,
            lw=1,
            linestyle=":",
            alpha=0.8,
            label="Commitment done",
            gid="marker-line",
        )
    if labels:
        for m in shown[::-1]:  # newest first: they win when labels collide
            t = ax.text(
                float(mdates.date2num(_day(m.when))),
                0.99,
                clip(m.label, 18),
                transform=ax.get_xaxis_transform(),
                ha="left",
                va="top",
                fontsize=SMALL_PT,
                color="#222222",
                bbox={"boxstyle": "square,pad=0.1", "fc": "white", "ec": "none", "alpha": 0.8},
                gid="marker-label",
            )
            t.set_in_layout(False)
    return handle


def _prune_marker_labels(fig: Figure, ax: Axes) -> None:
    """Label at most MAX_MARKER_LABELS markers, newest first, in two rows, with no overlaps.

    Each label goes right of its line, else left of it, in the top row, else the second row;
    one that fits nowhere (or is past the limit) is dropped and its marker becomes a short tick.
    """
    labels = [t for t in ax.texts if t.get_gid() == "marker-label"]
    if not labels:
        return
    renderer = _renderer(fig)  # the axes are placed (_lay_out): these extents are final
    frame = ax.get_window_extent(renderer)
    kept: list[Bbox] = []
    for t in labels:
        text = t.get_text().strip()
        placed = False
        if len(kept) < MAX_MARKER_LABELS:
            row_height = t.get_window_extent(renderer).height / max(frame.height, 1.0)
            for row in (0, 1):
                for ha, shown in (("left", f" {text}"), ("right", f"{text} ")):
                    t.set(y=0.99 - row * (row_height + 0.01), ha=ha, text=shown)
                    box = t.get_window_extent(renderer)
                    inside = frame.x0 <= box.x0 and box.x1 <= frame.x1
                    if inside and not any(box.overlaps(k) for k in kept):
                        kept.append(box)
                        placed = True
                        break
                if placed:
                    break
        if not placed:
            t.remove()
    # An unlabelled completion is a short tick on the x axis, so a busy month is not a grey wall.
    labelled = {t.get_position()[0] for t in ax.texts if t.get_gid() == "marker-label"}
    for line in ax.get_lines():
        x = np.asarray(line.get_xdata(), dtype=float)
        if line.get_gid() == "marker-line" and x[0] not in labelled:
            line.set_ydata([0.0, 0.06])
            line.set_linestyle("-")


def _mark_latest(ax: Axes, drawn: Sequence[Series], grain: str | None) -> str:
    """A dot on each line's latest value; the first line's value, for the panel title."""
    for n, s in enumerate(drawn):
        latest = _latest(s)
        if latest is not None:
            ax.plot([np.datetime64(latest[0], "D")], [latest[1]], "o", ms=5, color=PALETTE[n % 6])
    latest = _latest(drawn[0])
    if latest is None:
        return ""
    where = f"{drawn[0].label} " if len(drawn) > 1 and drawn[0].label else ""
    return f"Latest {where}{format_number(latest[1])} ({_period(latest[0], grain)})"


def _style_axes(
    ax: Axes,
    unit: str | None,
    *,
    compact: bool = False,
    grain: str | None = None,
    size_px: tuple[float, float] | None = None,
    zero: bool | None = None,
) -> None:
    """Spines, grid and ticks that can be read at any size.

    Date ticks are never finer than the data's period (`grain`), and never closer than a label's
    width plus a gap on an axes `size_px` (width, height in pixels, as laid out; the default is
    one chart on the whole image): a small panel gets every 3rd or 5th year, not "2020202220242026".
    Value ticks are about two label heights apart or more. `zero`: start the y axis at zero (default:
    when nothing drawn is below zero, as counts and rates never are: a scale that starts just
    under the data makes a small change look like a big one).
    """
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(axis="y", color="#dddddd", lw=0.8)
    ax.set_axisbelow(True)
    ax.tick_params(labelsize=SMALL_PT)
    width, height = size_px or (WIDTH_IN * DPI - 170, HEIGHT_IN * DPI - 270)
    label_w, label_h = _tick_label_px()
    # round steps (0.2, not 0.25 or 0.06), so ticks read well with few decimals
    nbins = max(1, min(4 if compact else 6, int(height / (1.8 * label_h))))
    ax.yaxis.set_major_locator(_Once(MaxNLocator(nbins=nbins, steps=[1, 2, 5, 10])))
    ax.yaxis.set_major_formatter(_Thousands())
    ax.xaxis.set_major_locator(_DateTicks(ax, grain, width, label_w, compact))
    ax.xaxis.set_major_formatter(_DateFormatter())
    if unit:
        ax.set_ylabel(clip(unit, 30), fontsize=TEXT_PT)
    if zero is None:
        zero = bool(np.isfinite(ax.dataLim.y0)) and ax.dataLim.y0 >= 0
    if zero:
        ax.set_ylim(bottom=0)


def _date_locator(ax: Axes, grain: str | None, width: float, label_w: float, compact: bool) -> Any:
    """Whole years, months or (daily/weekly data) matplotlib's AutoDateLocator, as many as fit."""
    most = 4 if compact else 7
    slot = label_w + 0.5 * SMALL_PT * DPI / 72  # a label and a gap of half an em
    low_x, high_x = ax.get_xlim()
    days = max(high_x - low_x, 1.0)
    px_per_day = width / days
    years = days / 365.25
    step = {"month": 1, "quarter": 3}.get(grain or "", 0)
    every = next(
        (
            m
            for m in (1, 2, 3, 6)
            if m % max(step, 1) == 0 and years * 12 / m <= most and m * 30.4 * px_per_day >= slot
        ),
        12,
    )
    if years >= 3 or grain == "year" or (step and every == 12):  # whole years only
        # the years whose 1 January is in view, once (not a tick list per candidate step)
        jan1 = _YearLocator(1).tick_values(low_x, high_x)
        in_view = np.asarray(
            [mdates.num2date(t).year for t in jan1[(jan1 >= low_x) & (jan1 <= high_x)]], dtype=int
        )

        def inside(base: int) -> int:
            return int((in_view % base == 0).sum())

        bases = [b for b in (1, 2, 3, 4, 5, 10, 20, 25, 50, 100, 200, 500) if inside(b) <= most]
        em = SMALL_PT * DPI / 72
        # labels half an em apart; a quarter of an em rather than a lone year on a narrow panel
        base = next((b for b in bases if b * 365.25 * px_per_day >= slot), 1000)
        if inside(base) < 2:
            closer = next((b for b in bases if b * 365.25 * px_per_day >= label_w + em / 4), 1000)
            base = closer if inside(closer) >= 2 else base
        return _YearLocator(base)
    if step:  # monthly or quarterly data: month ticks, never days
        return mdates.MonthLocator(bymonth=range(1, 13, every))
    locator = mdates.AutoDateLocator(minticks=2, maxticks=max(2, min(most, int(width // slot))))
    if grain == "week":  # a tick at most every 7 days, never hours
        locator.intervald[mdates.DAILY] = [7, 14]
    return locator


_LABEL_PX: list[tuple[float, float]] = []  # measured once: a year label's width, a line's height


def _tick_label_px() -> tuple[float, float]:
    """The width of the widest usual date tick label ("2026") and a tick label's height, in px."""
    if not _LABEL_PX:
        renderer = RendererAgg(10, 10, DPI)
        w, h, _ = renderer.get_text_width_height_descent(
            "2026", FontProperties(size=SMALL_PT), False
        )
        _LABEL_PX.append((float(w), float(h)))
    return _LABEL_PX[0]


class _DateFormatter(Formatter):
    """ "2016" for ticks on 1 January; otherwise matplotlib's ConciseDateFormatter ("2024", "Apr",
    "Jul" — the year only where it changes), never with an offset text in the corner."""

    def __init__(self) -> None:
        self._concise: mdates.ConciseDateFormatter | None = None
        self._last: tuple[tuple[float, ...], list[str]] = ((), [])  # asked again at each draw

    def format_ticks(self, values: Any) -> list[str]:
        key = tuple(float(v) for v in values)
        if key != self._last[0]:
            self._last = (key, self._format(values))
        return list(self._last[1])

    def _format(self, values: Any) -> list[str]:
        days = [mdates.num2date(v) for v in values]
        if all((d.month, d.day, d.hour, d.minute) == (1, 1, 0, 0) for d in days):
            return [str(d.year) for d in days]
        if self._concise is None:
            self._concise = mdates.ConciseDateFormatter(mdates.AutoDateLocator(), show_offset=False)
        return list(self._concise.format_ticks(values))

    def __call__(self, x: float, pos: int | None = None) -> str:
        return self.format_ticks([x])[0]


class _Once(Locator):
    """Another locator's ticks, worked out once per view and only those inside it.

    matplotlib asks an axis for its ticks about ten times per layout and draw (spines, titles,
    labels and the axis itself each ask); the date locators are slow (dateutil rrules), and every
    tick position, even one outside the view that is never drawn, costs a Tick object (~1 ms).
    """

    def __init__(self, inner: Locator) -> None:
        self.inner = inner
        self._view: tuple[float, float] | None = None
        self._ticks: np.ndarray = np.empty(0)

    def set_axis(self, axis: Any) -> None:
        super().set_axis(axis)
        self.inner.set_axis(axis)

    def __call__(self) -> Any:
        assert self.axis is not None
        low, high = sorted(float(v) for v in self.axis.get_view_interval())
        if self._view != (low, high):
            ticks = np.asarray(self.inner(), dtype=float)
            slack = (high - low) * 1e-9
            inside = ticks[(ticks >= low - slack) & (ticks <= high + slack)]
            # keep at least two, so the formatters still see the tick spacing
            self._ticks, self._view = (inside if inside.size >= 2 else ticks), (low, high)
        return self._ticks

    def tick_values(self, vmin: float, vmax: float) -> Any:
        return self.inner.tick_values(vmin, vmax)

    def nonsingular(self, v0: float, v1: float) -> tuple[float, float]:
        return self.inner.nonsingular(v0, v1)

    def view_limits(self, vmin: float, vmax: float) -> tuple[float, float]:
        return self.inner.view_limits(vmin, vmax)


class _DateTicks(_Once):
    """The date ticks of `_date_locator` for an expected axes width, once per view; `coarsen`
    chooses again for a narrower width until there are fewer ticks (see _uncrowd_dates)."""

    def __init__(
        self, ax: Axes, grain: str | None, width: float, label_w: float, compact: bool
    ) -> None:
        super().__init__(_date_locator(ax, grain, width, label_w, compact))
        self._args = (ax, grain, label_w, compact)
        self._width = self.width = width  # the expected width; `_width` shrinks as it coarsens

    def coarsen(self) -> bool:
        ax, grain, label_w, compact = self._args
        before = len(self())
        for _ in range(8):
            self._width *= 0.8
            inner = _date_locator(ax, grain, self._width, label_w, compact)
            inner.set_axis(self.axis)
            low, high = sorted(float(v) for v in ax.get_xlim())
            ticks = np.asarray(inner(), dtype=float)
            if 0 < int(((ticks >= low) & (ticks <= high)).sum()) < before:
                self.inner, self._view = inner, None
                return True
        return False


class _YearLocator(Locator):
    """Ticks on 1 January of every `base`-th year (like YearLocator, without dateutil rrules)."""

    def __init__(self, base: int) -> None:
        self.base = base

    def __call__(self) -> Any:
        assert self.axis is not None
        return self.tick_values(*self.axis.get_view_interval())

    def tick_values(self, vmin: float, vmax: float) -> Any:
        first_day, last_day = mdates.date2num(date(1, 1, 1)), mdates.date2num(date(9999, 1, 1))
        low, high = (float(np.clip(v, first_day, last_day)) for v in sorted((vmin, vmax)))
        first, last = mdates.num2date(low).year, mdates.num2date(high).year
        years = range(max(1, first // self.base * self.base), last + 1, self.base)
        return np.asarray([mdates.date2num(date(y, 1, 1)) for y in years], dtype=float)

    def nonsingular(self, v0: float, v1: float) -> tuple[float, float]:
        return mdates.YearLocator(self.base).nonsingular(v0, v1)


class _Thousands(Formatter):
    """Thousands separators, with just enough decimals for the tick spacing (1,500 / 0.25)."""

    def __init__(self) -> None:
        self.decimals = 0

    def set_locs(self, locs: list[float]) -> None:
        super().set_locs(locs)
        ticks = np.asarray(locs, dtype=float)
        steps = np.diff(ticks)
        steps = steps[steps > 0]
        step = float(steps.min()) if steps.size else 1.0
        # the fewest decimals that write every tick exactly (0.25 -> 2, so 0.75 is not "0.8")
        slack = step * 1e-6
        self.decimals = next(
            (d for d in range(7) if np.all(np.abs(ticks - np.round(ticks, d)) <= slack)), 6
        )

    def __call__(self, x: float, pos: int | None = None) -> str:
        text = f"{x:,.{self.decimals}f}"
        return "0" if text.strip("-0.,") == "" else text


def _titles(fig: Figure, title: str) -> None:
    text = fig.suptitle(
        clip(title.strip() or "Indicator", TITLE_CHARS),
        x=0.01,
        ha="left",
        fontsize=TITLE_PT,
        fontweight="bold",
        gid="title",
    )
    _fit(text, fig.bbox.width * 0.97, _renderer(fig))


def _fit(text: Text, width_px: float, renderer: RendererAgg) -> None:
    """Shorten a one-line text with "…" until it is no wider than `width_px` on the image."""
    full = text.get_text()
    if text.get_window_extent(renderer).width <= width_px:
        return
    lo, hi = 1, len(full) - 1  # the longest prefix that fits, by bisection
    while lo < hi:
        mid = (lo + hi + 1) // 2
        text.set_text(full[:mid].rstrip() + "…")
        if text.get_window_extent(renderer).width <= width_px:
            lo = mid
        else:
            hi = mid - 1
    text.set_text(full[:lo].rstrip() + "…")


def _footnote(
    fig: Figure, source: str | None, gaps: bool, notes: Sequence[str] = (), *, lines: int = 3
) -> None:
    parts = []
    if source:
        parts.append("Source: " + source.strip().removeprefix("Source:").strip().rstrip(".") + ".")
    if gaps:
        parts.append(GAP_NOTE)
    parts.extend(notes)
    if not parts:
        return
    text = fig.supxlabel("", x=0.01, ha="left", fontsize=SMALL_PT, color=MUTED, gid="footnote")
    renderer = _renderer(fig)
    for width in range(92, 20, -6):  # wrap narrower until the widest line fits the image
        text.set_text(
            "\n".join(textwrap.wrap(" ".join(parts), width, max_lines=lines, placeholder=" …"))
        )
        if text.get_window_extent(renderer).width <= fig.bbox.width * 0.97:
            break


def _subtitle(fig: Figure, text: str) -> None:
    """A muted line under the title (what the panels are), placed by _lay_out."""
    if text:
        subtitle = fig.text(0.01, 0, text, ha="left", va="top", fontsize=SMALL_PT, color=MUTED)
        subtitle.set_gid("subtitle")
        _fit(subtitle, fig.bbox.width * 0.97, _renderer(fig))


def _wrap_to(text: str, length_px: float, lines: int = 2) -> str:
    """A label in at most `lines` lines, each about no longer than `length_px` (a rotated axis
    label), words kept whole."""
    em = SMALL_PT * DPI / 72
    chars = max(8, int(length_px / (0.6 * em)))
    text = " ".join(text.split(" "))  # runs of spaces made one; a no-break space is kept
    wrapped = textwrap.wrap(
        clip(text, 60), chars, max_lines=lines, placeholder="…", break_long_words=False
    )
    return "\n".join(wrapped)


def _panel_px(
    fig: Figure, rows: int, cols: int, *, shared: bool, title_lines: int
) -> tuple[float, float]:
    """About how big each panel of a rows x cols figure will be, in pixels, before _lay_out:
    the tick density is chosen from it (generous margins: fewer ticks, never crowded ones)."""
    em = SMALL_PT * DPI / 72
    labels = 3.6 * em  # y tick labels such as "4,000" and their pad
    left = labels * (1 if shared else cols) + 0.6 * em * cols + 2.5 * em  # + the unit
    width = (fig.bbox.width - left - 2 * fig.dpi * PAD_X_IN * cols) / cols
    fixed = 7.5 * em  # title, key and footnote
    per_row = (1.5 * title_lines + 1.6) * em  # panel title, date labels
    height = (fig.bbox.height - fixed) / rows - per_row - 2 * fig.dpi * PAD_Y_IN
    return max(width, 40.0), max(height, 30.0)


def _figure_key(fig: Figure, handles: Sequence[Line2D]) -> None:
    """The key of a figure of panels, under them (placed by _lay_out), in as many columns as fit."""
    if not handles:
        return
    renderer = _renderer(fig)
    limit = fig.bbox.width * 0.97
    for ncols in range(min(5, len(handles)), 0, -1):
        legend = fig.legend(
            handles=handles,
            loc="lower left",
            bbox_to_anchor=(0.0, 0.0),
            ncols=ncols,
            frameon=False,
            fontsize=SMALL_PT,
            handlelength=2.4,
            columnspacing=1.4,
            borderaxespad=0,
            borderpad=0,
        )
        legend.set_gid("key")
        if ncols == 1 or legend.get_window_extent(renderer).width <= limit:
            return
        legend.remove()


def _legend_below(fig: Figure, ax: Axes, handles: Sequence[Line2D]) -> None:
    """The key under the x axis, in as many columns as fit the image width (never cropped)."""
    below = ax.transAxes + ScaledTranslation(0, -26 / 72, fig.dpi_scale_trans)
    limit = fig.bbox.width * 0.8  # about the axes' width: a wider key would squeeze the plot
    renderer = _renderer(fig)
    # Each try builds a legend (~5 ms): start at the most columns whose estimated width fits.
    font = FontProperties(size=SMALL_PT)
    widths = [
        renderer.get_text_width_height_descent(h.get_label(), font, False)[0] for h in handles
    ]
    em = renderer.points_to_pixels(SMALL_PT)
    most = min(4, len(handles))
    while most > 1:
        columns = [c for c in np.array_split(np.asarray(widths), most) if c.size]
        guess = sum(float(c.max()) for c in columns) + em * (
            (2.4 + 0.8) * len(columns) + 1.4 * (len(columns) - 1)
        )
        if guess <= limit:
            break
        most -= 1
    for ncols in range(most, 0, -1):
        legend = ax.legend(
            handles=handles,
            loc="upper left",
            bbox_to_anchor=(0.0, 0.0),
            bbox_transform=below,
            ncols=ncols,
            frameon=False,
            fontsize=SMALL_PT,
            handlelength=2.4,
            columnspacing=1.4,
            borderaxespad=0,
            borderpad=0,
        )
        if legend.get_window_extent(renderer).width <= limit:
            return


class _Canvas(FigureCanvasAgg):
    """An Agg canvas that draws on one shared renderer per image size.

    matplotlib caches text extents per renderer, so a fresh renderer per chart (the default)
    measures every tick label, title and note again; sharing one makes the repeated texts of
    the next chart free, and saves allocating a 3 MB pixel buffer each time. Safe because
    rendering is serialised (`_LOCK`) and `_png` copies the pixels out before anything else draws.
    """

    def get_renderer(self) -> RendererAgg:
        width, height = self.get_width_height(physical=True)
        key = (width, height, float(self.figure.dpi))
        renderer = _RENDERERS.get(key)
        if renderer is None:
            if len(_RENDERERS) >= 4:  # a few sizes only (small multiples grow taller)
                _RENDERERS.pop(next(iter(_RENDERERS)))
            renderer = _RENDERERS[key] = RendererAgg(width, height, self.figure.dpi)
        self.renderer = renderer
        return renderer


_RENDERERS: dict[tuple[int, int, float], RendererAgg] = {}


def _new_figure(width: float, height: float) -> Figure:
    """A white figure with no layout engine: _lay_out places the axes once, from measured texts."""
    fig = Figure(figsize=(width, height), dpi=DPI, facecolor="white")
    fig.set_layout_engine("none")  # whatever the rcParams say
    _Canvas(fig)  # attaches itself; Agg measures texts exactly as the PNG draws them
    return fig


def _no_data_axes(ax: Axes) -> None:
    ax.set_axis_off()
    ax.text(0.5, 0.5, "No data yet", ha="center", va="center", fontsize=TEXT_PT, color=MUTED)


def _renderer(fig: Figure) -> RendererAgg:
    """The Agg renderer of a figure made by _new_figure (for measuring texts)."""
    canvas = fig.canvas
    assert isinstance(canvas, FigureCanvasAgg)
    return canvas.get_renderer()


def _lay_out(fig: Figure, grid: Sequence[Sequence[Axes]]) -> None:
    """Place the axes (_place_axes); where date labels came out closer than a quarter of an em
    at their final size, use fewer date ticks and place them again (rare: they are chosen for
    the expected panel size)."""
    _place_axes(fig, grid)
    for _ in range(4):
        if not _uncrowd_dates(fig, [ax for row in grid for ax in row if ax.get_visible()]):
            return
        _place_axes(fig, grid)


def _uncrowd_dates(fig: Figure, axes: Sequence[Axes]) -> bool:
    """Fewer date ticks on each axes whose drawn date labels overlap or nearly touch, and on the
    panels alike (same span and size: small multiples), so their tick marks stay in step."""
    renderer = _renderer(fig)
    gap = SMALL_PT * DPI / 72 / 4
    changed: list[_DateTicks] = []
    for ax in axes:
        locator = ax.xaxis.get_major_locator()
        if not isinstance(locator, _DateTicks) or locator in changed:
            continue
        if not any(t.get_text() for t in ax.xaxis.get_majorticklabels()):
            continue  # dates not written under this panel
        low, high = sorted(ax.get_xlim())
        boxes = sorted(
            (
                t.get_window_extent(renderer)
                for t in ax.xaxis.get_majorticklabels()
                if t.get_text() and low <= t.get_position()[0] <= high
            ),
            key=lambda b: b.x0,
        )
        if not any(b.x0 - a.x1 < gap for a, b in pairwise(boxes)):
            continue
        for other in axes:
            alike = other.xaxis.get_major_locator()
            if (
                isinstance(alike, _DateTicks)
                and alike not in changed
                and alike.width == locator.width
                and other.get_xlim() == ax.get_xlim()
                and alike.coarsen()
            ):
                changed.append(alike)
    return bool(changed)


def _place_axes(fig: Figure, grid: Sequence[Sequence[Axes]]) -> None:
    """Place the axes of a rows x columns grid so that nothing overlaps or is cut off.

    What constrained layout does, in one measuring pass instead of a full draw (two, with its
    second iteration) before the real one: each axes' margins (tick labels, axis label, title,
    legend below) are measured with the figure's one Agg renderer at a provisional position; they
    do not depend on the axes' size (the tick locators here do not look at it), so the axes are
    then sized to fill what the title above and the footnote below leave free.
    """
    renderer = _renderer(fig)
    width, height = fig.bbox.width, fig.bbox.height
    pad_x, pad_y = fig.dpi * PAD_X_IN, fig.dpi * PAD_Y_IN
    top, bottom = height - pad_y, pad_y
    for text in fig.texts:  # title, subtitle (in that order) and footnote
        if text.get_gid() == "title":
            text.set_y(1 - pad_y / height)
            top -= text.get_window_extent(renderer).height + 2 * pad_y
        elif text.get_gid() == "subtitle":
            text.set_y(top / height)
            top -= text.get_window_extent(renderer).height + 2 * pad_y
        elif text.get_gid() == "footnote" and text.get_text():
            text.set_y(pad_y / height)
            bottom += text.get_window_extent(renderer).height + 2 * pad_y
    for legend in fig.legends:  # a figure's key sits on the footnote
        if legend.get_gid() == "key":
            legend.set_bbox_to_anchor((pad_x / width, bottom / height), transform=fig.transFigure)
            bottom += legend.get_window_extent(renderer).height + 2 * pad_y
    start_x = pad_x
    for text in fig.texts:  # the unit of panels that share it, left of them all
        if text.get_gid() == "ylabel" and text.get_text():
            text.set_position((pad_x / width, (top + bottom) / 2 / height))
            start_x += text.get_window_extent(renderer).width + 2 * pad_x
    rows, cols = len(grid), max(len(row) for row in grid)
    # margins (px) around each row and column: the widest of its visible axes
    left, right = [0.0] * cols, [0.0] * cols
    above, below = [0.0] * rows, [0.0] * rows
    for r, row in enumerate(grid):
        for c, ax in enumerate(row):
            if not ax.get_visible():
                continue
            frame = ax.get_window_extent(renderer)
            tight = ax.get_tightbbox(renderer, for_layout_only=True)
            if tight is None:
                continue
            left[c] = max(left[c], frame.x0 - tight.x0)
            right[c] = max(right[c], tight.x1 - frame.x1)
            below[r] = max(below[r], frame.y0 - tight.y0)
            above[r] = max(above[r], tight.y1 - frame.y1)
    gap_x, gap_y = 2 * pad_x, 2 * pad_y
    cell_w = (width - start_x - pad_x - sum(left) - sum(right) - gap_x * (cols - 1)) / cols
    cell_h = (top - bottom - sum(above) - sum(below) - gap_y * (rows - 1)) / rows
    cell_w, cell_h = max(cell_w, 20.0), max(cell_h, 20.0)  # absurd inputs: tiny, never negative
    y = top
    for r, row in enumerate(grid):
        y -= above[r] + cell_h
        x = start_x
        for c, ax in enumerate(row):
            x += left[c]
            ax.set_position((x / width, y / height, cell_w / width, cell_h / height))
            x += cell_w + right[c] + gap_x
        y -= below[r] + gap_y


def _png(fig: Figure) -> bytes:
    """Draw once (the layout is already done) and encode the pixels as an RGB PNG.

    Not `savefig`: it draws twice whenever the figure has ever had a layout engine, and writes
    an alpha channel that a white chart does not need (RGB is ~10% smaller and faster to encode).
    """
    canvas = fig.canvas
    assert isinstance(canvas, FigureCanvasAgg)
    canvas.draw()
    width, height = canvas.get_width_height()
    image = PILImage.frombuffer("RGBA", (width, height), canvas.buffer_rgba(), "raw", "RGBA", 0, 1)
    buf = BytesIO()
    # zlib level 1: a tenth bigger than the default, and a third of the encoding time.
    image.convert("RGB").save(buf, format="png", compress_level=1, dpi=(DPI, DPI))
    # No fig.clear(): it re-initialises every axes (~7 ms each) only to throw them away; the
    # figure is an ordinary reference cycle, and the pixel buffer is shared, not per figure.
    return buf.getvalue()


# --- periods ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Grid:
    """The regular calendar step of a series (day, week, month, quarter or year)."""

    anchor: date
    months: int  # 1, 3 or 12 for monthly/quarterly/yearly grids, else 0
    days: int  # 1 or 7 for daily/weekly grids, else 0

    @staticmethod
    def of(periods: Sequence[date]) -> _Grid | None:
        days = sorted({_day(p) for p in periods})
        if not days:
            return None
        if len(days) == 1:
            return _Grid(days[0], 1, 0)
        gap = float(np.median(np.diff([d.toordinal() for d in days])))
        if gap <= 1.5:
            return _Grid(days[0], 0, 1)
        if gap <= 10:
            return _Grid(days[0], 0, 7)
        if gap <= 45:
            return _Grid(days[0], 1, 0)
        if gap <= 135:
            return _Grid(days[0], 3, 0)
        return _Grid(days[0], 12, 0)

    def index(self, d: date) -> int:
        if self.months:
            months = (d.year - self.anchor.year) * 12 + d.month - self.anchor.month
            return round(months / self.months)
        return round((d - self.anchor).days / self.days)

    def date_at(self, i: int) -> date:
        if self.months:
            return self.anchor + relativedelta(months=i * self.months)
        return self.anchor + timedelta(days=i * self.days)


def _regular(s: Series) -> tuple[list[date], list[float], bool]:
    """The series on its grid: a NaN for each missing value and for each skipped period."""
    grid = _Grid.of(s.periods)
    if grid is None:
        return [], [], False
    by_index: dict[int, tuple[date, float]] = {}
    for p, v in zip(s.periods, s.values, strict=True):
        fv = _num(v)
        by_index[grid.index(_day(p))] = (_day(p), math.nan if fv is None else fv)
    lo, hi = min(by_index), max(by_index)
    if hi - lo > 200_000:  # nonsense dates; keep the points, skip the grid
        items = sorted(by_index.values())
        return [d for d, _ in items], [v for _, v in items], any(math.isnan(v) for _, v in items)
    xs, ys = [], []
    for i in range(lo, hi + 1):
        d, v = by_index.get(i, (grid.date_at(i), math.nan))
        xs.append(d)
        ys.append(v)
    # Missing values before the first or after the last value are not drawn, but still noted.
    gaps = any(math.isnan(v) for v in ys)
    ok = [i for i, v in enumerate(ys) if not math.isnan(v)]
    if ok:
        xs, ys = xs[ok[0] : ok[-1] + 1], ys[ok[0] : ok[-1] + 1]
    return xs, ys, gaps


def _horizon(periods: Sequence[date]) -> int:
    """How far ahead the baseline reaches: about a year (at least 3 periods)."""
    grid = _Grid.of(periods)
    if grid is None:
        return 0
    if grid.months:
        return max(3, 12 // grid.months)
    return 13 if grid.days == 7 else 30


# --- small helpers ------------------------------------------------------------------------------


def _place(label: str) -> str:
    """How a place is matched against `ChartSpec.highlight`: "md", " MD " and "Md" are one."""
    return " ".join(label.split()).casefold()


def _num(v: float | None) -> float | None:
    """A drawable number, or None for missing (None, NaN, ±inf)."""
    if v is None:
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _day(d: date) -> date:
    return d.date() if isinstance(d, datetime) else d


def _latest(s: Series) -> tuple[date, float] | None:
    best: tuple[date, float] | None = None
    for p, v in zip(s.periods, s.values, strict=True):
        fv = _num(v)
        if fv is not None and (best is None or _day(p) >= best[0]):
            best = (_day(p), fv)
    return best


def _first(s: Series) -> date:
    return min(_day(p) for p in s.periods)


def _later(a: date | None, b: date) -> date:
    return b if a is None or b > a else a


def _year_change(s: Series) -> str | None:
    latest = _latest(s)
    if latest is None:
        return None
    when, value = latest
    try:
        year_ago = when.replace(year=when.year - 1)
    except ValueError:  # 29 February
        year_ago = when - timedelta(days=365)
    before = None
    for p, v in zip(s.periods, s.values, strict=True):
        if _day(p) == year_ago:
            before = _num(v)
    if before is None:
        return None
    if before == 0:
        return (
            f"{format_number(value - before)} more than a year earlier"
            if value
            else "same as a year earlier"
        )
    pct = (value - before) / abs(before) * 100
    if abs(pct) < 0.5:
        return f"about the same as a year earlier ({format_number(before)})"
    way = "up" if pct > 0 else "down"
    return f"{way} {format_percent(pct)} from {format_number(before)} a year earlier"


def _period(d: date, grain: str | None = None) -> str:
    """A period as bot.core.periods labels it: "2023", "Q1 2023", "Apr 2025", "Mar 3, 2025"."""
    if grain is None:  # unknown: a month when it starts on the 1st, else a day
        grain = "month" if d.day == 1 else "day"
    if grain == "year":
        period = _periods.year_period(d.year)
    elif grain == "quarter":
        period = _periods.quarter_period(d.year, (d.month - 1) // 3 + 1)
    elif grain == "month":
        period = _periods.month_period(d.year, d.month)
    else:
        period = _periods.day_period(d)
    return _periods.label(period, None)


# (words in a period label or kind, grain) - the first match wins: "12-month-ending" is monthly
_GRAIN_WORDS = (
    ("12-month", "month"),
    ("12 month", "month"),
    ("year", "year"),
    ("annual", "year"),
    ("quarter", "quarter"),
    ("month", "month"),
    ("week", "week"),
    ("day", "day"),
    ("daily", "day"),
)


def _grain(spec: ChartSpec) -> str | None:
    """The data's period: "day", "week", "month", "quarter" or "year"; None when unknown.

    From the spec's period label (an indicator's kind, "by year", "12-month-ending totals, by
    month"), else from the spacing of the periods themselves.
    """
    words = (spec.period_label or "").lower()
    for word, grain in _GRAIN_WORDS:
        if word in words:
            return grain
    days = {_day(p) for s in spec.series for p in s.periods}
    grid = _Grid.of(sorted(days)) if len(days) > 1 else None
    if grid is None:
        return None
    if grid.months:
        return {1: "month", 3: "quarter"}.get(grid.months, "year")
    return "day" if grid.days == 1 else "week"


def _scales_differ(drawn: Sequence[Series]) -> bool:
    """True when the lines' sizes (largest absolute values) differ more than SCALE_SPLIT times."""
    sizes = []
    for s in drawn:
        values = [abs(v) for v in (_num(v) for v in s.values) if v is not None]
        if values and max(values) > 0:
            sizes.append(max(values))
    return len(sizes) > 1 and max(sizes) > SCALE_SPLIT * min(sizes)
