"""The dashboard's plotly charts, built from :mod:`._data` values (imports plotly: only ``athalia report`` does).

Plotly reads pseudo-HTML in every label (``<b>``, ``<a href>``), and names, details and reasons come
from the user's repository: each text is ``html.escape``-d before it reaches plotly, which shows the
entities as the characters they stand for. Figures are JSON-encoded by plotly with ``<`` as ``\\u003c``,
so no text can close the page's ``<script>``.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import plotly.graph_objects as go
import plotly.io as pio
from plotly.offline import get_plotlyjs
from plotly.subplots import make_subplots

from ._data import DashboardData, EnvRates, LoadSeries, TimelineEvent, Trend, time_range

__all__ = ["Chart", "build_charts", "plotly_script"]

# Okabe-Ito: tells environments apart for colour-blind readers too.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
EVENT_COLORS = {"deploy": "#0072B2", "switch": "#009E73", "rollback": "#D55E00", "promote": "#009E73"}
# Other event kinds, in order of appearance; with rows of tests a legend tells kinds apart by colour and shape.
OTHER_EVENTS = ("#56B4E9", "#E69F00", "#CC79A7", "#000000", "#7f7f7f", "#882255", "#117733", "#44AA99")
SYMBOLS = ("diamond", "circle", "square", "triangle-up", "triangle-down", "star", "hexagon", "x", "cross", "pentagon")
SUCCESS, ROLLBACK, GREY = "#009E73", "#D55E00", "#7f7f7f"
FONT = "system-ui, -apple-system, Segoe UI, Roboto, Helvetica, Arial, sans-serif"
# A short mode bar: on a narrow screen a long one covers the legend.
REMOVED_BUTTONS = ["select2d", "lasso2d", "zoomIn2d", "zoomOut2d", "autoScale2d"]
CONFIG = {"displaylogo": False, "responsive": True, "modeBarButtonsToRemove": REMOVED_BUTTONS}


@dataclass(frozen=True)
class Chart:
    key: str  # the element id of its div
    html: str  # plotly's div and script, without plotly.js


def plotly_script() -> str:
    """plotly.js itself, from the plotly package: the page embeds it once and loads nothing."""
    script: str = get_plotlyjs()
    return script


def build_charts(data: DashboardData) -> dict[str, Chart]:
    """The charts that have data, by key: ``rates``, each trend's check name, ``load``, ``timeline``."""
    colors = _env_colors(data)
    figures: dict[str, go.Figure] = {}
    if data.rates:
        figures["rates"] = rates_figure(data.rates)
    for t in data.trends:
        if not t.empty:
            figures[t.check] = trend_figure(t, colors)
    if data.last is not None and data.last.load is not None and data.last.load.t_s:
        figures["load"] = load_figure(data.last.load)
    if data.last is not None and data.last.timeline:
        figures["timeline"] = timeline_figure(data.last.timeline)
    return {key: Chart(key, _html(fig, f"chart-{key}")) for key, fig in figures.items()}


def rates_figure(rates: Sequence[EnvRates]) -> go.Figure:
    envs = [_t(r.environment) for r in rates]
    fig = go.Figure()
    for name, color, values, counts in (
        ("success rate", SUCCESS, [r.success_rate for r in rates], [r.passed for r in rates]),
        ("rollback rate", ROLLBACK, [r.rollback_rate for r in rates], [r.rolled_back for r in rates]),
    ):
        fig.add_bar(
            name=name,
            x=envs,
            y=[100 * v for v in values],
            marker_color=color,
            text=[f"{100 * v:.0f}% ({n}/{r.runs})" for v, n, r in zip(values, counts, rates, strict=True)],
            textposition="outside",
            cliponaxis=False,
            hovertemplate="%{x}: %{text}<extra>" + name + "</extra>",
        )
    fig.update_layout(
        barmode="group",
        bargap=0.5 if len(rates) < 3 else 0.25,  # one environment: not a wall of colour
        yaxis={"title": "% of runs", "range": [0, 115], "ticksuffix": "%"},
    )
    return _styled(fig)


def trend_figure(trend: Trend, colors: Mapping[str, str]) -> go.Figure:
    fig = go.Figure()
    for env, points in trend.lines:
        fig.add_scatter(
            name=_t(env),
            x=[p.started_at for p in points],
            y=[p.value for p in points],
            mode="lines+markers",
            line={"color": colors.get(env, GREY), "width": 2},
            marker={
                "size": 8,
                "color": [colors.get(env, GREY) if p.status == "passed" else "#ffffff" for p in points],
                "line": {"width": 2, "color": colors.get(env, GREY)},
            },
            customdata=[[_t(p.run_id[:12]), _t(p.status)] for p in points],
            hovertemplate=(
                "%{x|%Y-%m-%d %H:%M}<br>%{y:.4g} " + trend.unit + "<br>run %{customdata[0]} (%{customdata[1]})"
                "<extra>" + _t(env) + "</extra>"
            ),
        )
    xaxis: dict[str, object] = {"title": None}
    padded = time_range(trend)
    if padded is not None:  # one run: a day around it, in hours, not an axis of milliseconds
        xaxis.update(range=list(padded))  # plotly then ticks hours, the date under the first
    fig.update_layout(yaxis={"title": trend.unit, "rangemode": "tozero"}, xaxis=xaxis)
    return _styled(fig)


def load_figure(load: LoadSeries) -> go.Figure:
    fig = make_subplots(rows=3, cols=1, shared_xaxes=True, vertical_spacing=0.07)
    rows: tuple[tuple[str, tuple[float | None, ...], str, str], ...] = (
        ("requests/s", load.rps, "#0072B2", "rps"),
        ("p95 latency", load.p95_ms, "#E69F00", "p95 ms"),
        ("failures/s", load.failures_per_s, "#D55E00", "fail/s"),
    )
    for i, (name, values, color, unit) in enumerate(rows, start=1):
        fig.add_scatter(
            name=name,
            x=load.t_s,
            y=values,
            mode="lines",
            line={"color": color, "width": 2},
            fill="tozeroy" if i == 3 else None,
            hovertemplate="t=%{x}s: %{y:.4g} " + unit + "<extra>" + name + "</extra>",
            row=i,
            col=1,
        )
        fig.update_yaxes(title_text=unit, rangemode="tozero", row=i, col=1)
    fig.update_xaxes(title_text="seconds into the load run", row=3, col=1)
    fig.update_layout(showlegend=False)
    return _styled(fig, height=460)


def timeline_figure(events: Sequence[TimelineEvent]) -> go.Figure:
    """One release: a row per event kind, each labelled. Several (a run of many release tests, each
    timed from its own start): a row per test, a colour per event kind, details on hover only."""
    tests = list(dict.fromkeys(e.test or "" for e in events))
    if len(tests) > 1:
        return _releases_figure(events, tests)
    kinds = list(dict.fromkeys(e.event for e in events))
    end = max(e.t_s for e in events) or 1.0
    fig = go.Figure()
    for kind in kinds:
        mine = [e for e in events if e.event == kind]
        color = EVENT_COLORS.get(kind, GREY)
        fig.add_scatter(
            name=_t(kind),
            x=[e.t_s for e in mine],
            y=[_t(kind)] * len(mine),
            mode="markers+text",
            marker={"size": 14, "color": color, "symbol": "diamond", "line": {"width": 1, "color": "#ffffff"}},
            text=[_t(_short(e.detail or "")) for e in mine],
            # Labels lean inwards, so that the first and last stay on the chart.
            textposition=["top right" if e.t_s < end / 2 else "top left" for e in mine],
            textfont={"size": 11},
            cliponaxis=False,
            customdata=[_t(e.detail or "") for e in mine],
            hovertemplate="t=%{x:.3g}s<br>%{customdata}<extra>" + _t(kind) + "</extra>",
        )
    fig.update_layout(
        showlegend=False,
        xaxis={"title": "seconds since the release started", "range": [-0.04 * end, 1.04 * end], "zeroline": True},
        yaxis={"categoryorder": "array", "categoryarray": [_t(k) for k in reversed(kinds)]},
    )
    return _styled(fig, height=max(220, 90 + 60 * len(kinds)), top=45)


def _releases_figure(events: Sequence[TimelineEvent], tests: list[str]) -> go.Figure:
    kinds = list(dict.fromkeys(e.event for e in events))
    others = iter(OTHER_EVENTS * len(kinds))
    colors = {k: EVENT_COLORS.get(k) or next(others) for k in kinds}
    symbols = {k: SYMBOLS[i % len(SYMBOLS)] for i, k in enumerate(kinds)}
    end = max(e.t_s for e in events) or 1.0
    fig = go.Figure()
    for kind in kinds:
        mine = [e for e in events if e.event == kind]
        fig.add_scatter(
            name=_t(kind),
            x=[e.t_s for e in mine],
            y=[_t(e.test or "") for e in mine],
            mode="markers",
            marker={"size": 10, "color": colors[kind], "symbol": symbols[kind], "line": {"width": 1, "color": "#fff"}},
            customdata=[[_t(e.detail or ""), _t(e.test or "")] for e in mine],
            hovertemplate="t=%{x:.3g}s<br>%{customdata[0]}<br>%{customdata[1]}<extra>" + _t(kind) + "</extra>",
        )
    rows = [_t(t) for t in reversed(tests)]  # the first test on top
    # Each row's test name sits above its markers, not beside the axis: a narrow screen keeps its width.
    for test in tests:
        fig.add_annotation(
            x=0,
            xref="paper",
            y=_t(test),
            text=_t(_middle(test.rpartition("::")[2] or test)),
            showarrow=False,
            xanchor="left",
            yanchor="bottom",
            yshift=6,
            font={"size": 10, "color": "#57606a"},
        )
    fig.update_layout(
        xaxis={"title": "seconds since each release started", "range": [-0.03 * end, 1.03 * end], "zeroline": True},
        yaxis={"categoryorder": "array", "categoryarray": rows, "showticklabels": False, "range": [-0.6, len(rows)]},
    )
    return _styled(fig, height=max(260, 130 + 42 * len(tests)), top=50, left=20)


def _styled(fig: go.Figure, *, height: int = 300, top: int = 30, left: int = 60) -> go.Figure:
    fig.update_layout(
        template="plotly_white",
        height=height,
        font={"family": FONT, "size": 12, "color": "#24292f"},
        margin={"l": left, "r": 20, "t": top, "b": 40},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0},
        hoverlabel={"font": {"family": FONT}},
    )
    return fig


def _html(fig: go.Figure, div_id: str) -> str:
    text: str = pio.to_html(
        fig, full_html=False, include_plotlyjs=False, include_mathjax=False, div_id=div_id, config=CONFIG
    )
    return text


def _env_colors(data: DashboardData) -> dict[str, str]:
    envs = sorted({r.environment for r in data.runs})
    return {env: PALETTE[i % len(PALETTE)] for i, env in enumerate(envs)}


def _t(text: str) -> str:
    """Text for a plotly label: its pseudo-HTML tags stay text."""
    return html.escape(text, quote=False)


def _short(text: str, width: int = 40) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _middle(text: str, width: int = 64) -> str:
    """`text` in `width` characters, cut in the middle: a parametrized test keeps its parameter."""
    if len(text) <= width:
        return text
    tail = (width - 1) // 2
    return text[: width - 1 - tail] + "…" + text[-tail:]
