"""The dashboard page: one self-contained HTML file (plotly.js inline, no request leaves the page).

Pure: the charts come in as HTML fragments (:mod:`._charts`), so the page is tested without plotly.
Every text that comes from a report is escaped here (:func:`html.escape`); only http(s) URLs
become links (:func:`._data.run_row` drops the rest).
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from datetime import UTC, datetime

from ..report._slo import figure, format_number
from ._data import TREND_METRICS, DashboardData, Gate, LastRun, RunRow, Summary, TestResult

__all__ = ["render_page"]

# What each chart shows, under its title: (key, title, caption).
TITLES: dict[str, tuple[str, str]] = {
    "rates": ("Success and rollback rates", "Share of runs per environment that passed, and that rolled back."),
    "deploy": (
        "Deploy time",
        "Worst `deploy` check of each run, in seconds; a hollow marker is a run that did not pass.",
    ),
    "switch_ms": ("Switch time", "Worst `switch_ms` check of each run: traffic cut-over to the candidate, in ms."),
    "rollback_ms": ("Rollback time", "Worst `rollback_ms` check of each run (drills included), in ms."),
    "load": ("Load", "The last run's `load` series: requests per second, p95 latency and failures per second."),
    "timeline": (
        "Release timeline",
        "The last run's release events, in seconds since each release started: a row per release test "
        "(a row per event kind when one test recorded them).",
    ),
}
# The summary line's order; a check without a verdict is a recorded value.
VERDICTS = ("fail", "inconclusive", "not measured", "pass")
GATE_HEAD = ("Verdict", "Check", "Measured", "Threshold", "Samples", "Reason")
GATE_CELLS = ("verdict", "check", "measured", "threshold", "samples", "reason")


def render_page(data: DashboardData, charts: Mapping[str, str], script: str, *, generated_at: datetime) -> str:
    """The page. `charts` maps a chart key (:data:`TITLES`) to its HTML; `script` is plotly.js."""
    env = f" · {_e(data.environment)}" if data.environment else ""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Athalia deployments{env}</title>",
        f"<style>{CSS}</style>",
        # plotly.js is ours (from the plotly package), never report text.
        f'<script type="text/javascript">{script}</script>' if charts else "",
        "</head><body>",
        '<header><h1>Athalia deployments<span class="env">' + env + "</span></h1>",
        f'<p class="meta">{len(data.runs)} run(s) · generated {_when(generated_at)}</p></header>',
        "<main>",
        _overview(data),
        '<section><h2>History</h2><div class="grid">',
        _chart(charts, "rates"),
        *(_chart(charts, check) for check, _, _ in TREND_METRICS),
        "</div>",
        _history_table(data.runs),
        "</section>",
        _last_run(data.last, charts),
        "</main></body></html>",
    ]
    return "\n".join(p for p in parts if p) + "\n"


def _overview(data: DashboardData) -> str:
    last = data.last
    if last is None:
        return '<section class="cards"><p class="empty">No runs to show.</p></section>'
    row, s = last.row, last.summary
    cards = [
        ("Last run", _status(row.status, row.rolled_back)),
        ("Environment", _e(row.environment)),
        ("Version", _e(row.version or "—")),
        ("Commit", _commit(row.commit)),
        ("Started", _when(row.started_at)),
        ("Duration", "—" if last.duration_s is None else f"{format_number(last.duration_s, 1)} s"),
        ("Checks", _check_counts(s)),
        ("Tests", f"{s.tests} ({s.skipped} skipped)"),
    ]
    body = "".join(
        f'<div class="card"><div class="label">{k}</div><div class="value">{v}</div></div>' for k, v in cards
    )
    return f'<section class="cards">{body}</section>'


def _check_counts(s: Summary) -> str:
    failed = "bad" if s.failed else "muted"
    counts = f'<span class="ok">{s.passed} passed</span> · <span class="{failed}">{s.failed} failed</span>'
    others = [f"{n} {what}" for n, what in ((s.inconclusive, "inconclusive"), (s.not_measured, "not measured")) if n]
    return counts + "".join(f"<br>{o}" for o in others)


def _chart(charts: Mapping[str, str], key: str) -> str:
    title, caption = TITLES[key]
    inner = charts.get(key)
    body = inner if inner is not None else '<p class="empty">No data in these reports.</p>'
    caption = _e(caption).replace("`", "")
    head = f"<figcaption><h3>{title}</h3><p>{caption}</p></figcaption>"
    return f'<figure class="chart" id="fig-{key}">{head}{body}</figure>'


def _history_table(runs: tuple[RunRow, ...]) -> str:
    if not runs:
        return '<p class="empty">No runs in the history.</p>'
    head = ("Started", "Environment", "Version", "Commit", "CI job", "Status", "Deploy", "Switch", "Rollback")
    rows: list[tuple[str, ...]] = []
    for r in reversed(runs):  # newest first
        cells = (
            _when(r.started_at),
            _e(r.environment),
            _e(r.version or "—"),
            _commit(r.commit),
            _ci(r),
            _status(r.status, r.rolled_back, r.failed_checks),
            _value(r.deploy_s, "s"),
            _value(r.switch_ms, "ms"),
            _value(r.rollback_ms, "ms"),
        )
        rows.append(cells)
    return _table("history", head, rows, numeric=(6, 7, 8))


def _last_run(last: LastRun | None, charts: Mapping[str, str]) -> str:
    if last is None:
        return ""
    row = last.row
    about = f"{_e(row.environment)} · {_e(row.version or '—')} · {_when(row.started_at)}"
    title = f'Last run <span class="muted">{about}</span>'
    return "\n".join(
        [
            f"<section><h2>{title}</h2>",
            "<h3>Gates</h3>",
            _gates_summary(last.tests),
            _gates_table(last.tests),
            '<div class="grid spaced">',
            _chart(charts, "load"),
            _chart(charts, "timeline"),
            "</div></section>",
        ]
    )


def _gates_summary(tests: tuple[TestResult, ...]) -> str:
    """One line above the table: how many gates, by verdict, and what else the run recorded."""
    gates = [g for t in tests for g in t.gates]
    if not gates:
        return ""
    gated = [g for g in gates if g.verdict is not None]
    counts = [(v, sum(g.verdict == v for g in gated)) for v in VERDICTS]
    said = {"fail": "failed", "pass": "passed"}
    parts = [f'<span class="badge v-{_slug(v)}">{n} {said.get(v, v)}</span>' for v, n in counts if n]
    parts = parts or ['<span class="muted">none gated</span>']
    others = sum(1 for g in gated if g.verdict not in VERDICTS)
    extra = [f"{others} other verdict(s)"] if others else []
    recorded = len(gates) - len(gated)
    extra += [f"{recorded} recorded value(s), not gated"] if recorded else []
    extra.append(f"{len(tests)} test(s)")
    skipped = sum(t.outcome == "skipped" for t in tests)
    extra += [f"{skipped} skipped"] if skipped else []
    line = f"<strong>{len(gated)} gate(s)</strong> " + " ".join(parts)
    return f'<p class="gates-summary">{line} <span class="muted">· {" · ".join(extra)}</span></p>'


def _gates_table(tests: tuple[TestResult, ...]) -> str:
    """A group per test, in the report's order: a header row (nodeid, outcome, duration, skip reason),
    then its gates (a failed or inconclusive one marked), then its recorded (ungated) values, folded."""
    if not tests:
        return '<p class="empty">The last run recorded no tests.</p>'
    th = "".join(f'<th class="c-{c}">{h}</th>' for h, c in zip(GATE_HEAD, GATE_CELLS, strict=True))
    groups = "".join(_test_group(t) for t in tests)
    return f'<div class="table-wrap"><table id="gates"><thead><tr>{th}</tr></thead>{groups}</table></div>'


def _test_group(test: TestResult) -> str:
    outcome = f'<span class="badge s-{_slug(test.outcome)}">{_e(test.outcome)}</span>'
    took = "" if test.duration_s is None else f' <span class="muted">{format_number(test.duration_s, 1)} s</span>'
    checks = "" if test.gates or test.reason else ' <span class="muted">· no checks</span>'
    reason = f'<div class="why">{_e(test.reason)}</div>' if test.reason else ""
    head = (
        f'<tr class="test o-{_slug(test.outcome)}"><th colspan="{len(GATE_HEAD)}" scope="rowgroup">'
        f'{outcome} <span class="nodeid">{_e(test.nodeid)}</span>{took}{checks}{reason}</th></tr>'
    )
    gated = "".join(_gate_row(g) for g in test.gates if g.verdict is not None)
    return f'<tbody class="group">{head}{gated}{_recorded(test.gates)}</tbody>'


def _recorded(gates: tuple[Gate, ...]) -> str:
    """The values a test recorded without a threshold: one folded row of name = value items."""
    values = [g for g in gates if g.verdict is None]
    if not values:
        return ""
    items = "".join(f"<li>{_recorded_item(g)}</li>" for g in values)
    summary = f"{len(values)} recorded value{'s' if len(values) != 1 else ''}, not gated"
    return (
        f'<tr class="recorded"><td colspan="{len(GATE_HEAD)}"><details><summary>{summary}</summary>'
        f"<ul>{items}</ul></details></td></tr>"
    )


def _recorded_item(gate: Gate) -> str:
    """``name subject value (n=samples, window)``."""
    subject = f' <span class="muted">{_e(gate.subject)}</span>' if gate.subject else ""
    about = [f"n={gate.samples}"] if gate.samples is not None else []
    about += [gate.window] if gate.window else []
    more = f' <span class="muted">({_e(", ".join(about))})</span>' if about else ""
    return f"<code>{_e(gate.check)}</code>{subject} {_figure(gate.measured, gate.unit)}{more}"


def _gate_row(g: Gate) -> str:
    threshold = "—" if g.threshold is None else f"{_e(g.comparison or '')} {_figure(g.threshold, g.unit)}"
    cells = (
        _verdict(g.verdict),
        f"<code>{_e(g.check)}</code>" + (" " + _clipped(g.subject, "muted") if g.subject else ""),
        _figure(g.measured, g.unit),
        threshold,
        _samples(g),
        _e(g.reason or ""),
    )
    kind = f"g-{_slug(g.verdict or '')}"
    body = "".join(f'<td class="c-{c}">{v}</td>' for c, v in zip(GATE_CELLS, cells, strict=True))
    return f'<tr class="check {kind}">{body}</tr>'


def _samples(gate: Gate) -> str:
    if gate.samples is None:
        return "—"
    return str(gate.samples) + (" " + _clipped(gate.window, "muted") if gate.window else "")


def _clipped(text: str | None, cls: str = "") -> str:
    """A text that the gates table may cut short (with …) to keep its row one line high; in full on hover."""
    if not text:
        return ""
    return f'<span class="{f"clip {cls}".strip()}" title="{_e(text)}">{_e(text)}</span>'


def _table(name: str, head: tuple[str, ...], rows: list[tuple[str, ...]], *, numeric: tuple[int, ...]) -> str:
    """A table of already escaped cells; the `numeric` columns align right."""

    def cls(i: int) -> str:
        return ' class="num"' if i in numeric else ""

    th = "".join(f"<th{cls(i)}>{h}</th>" for i, h in enumerate(head))
    body = "".join("<tr>" + "".join(f"<td{cls(i)}>{c}</td>" for i, c in enumerate(r)) + "</tr>" for r in rows)
    return f'<div class="table-wrap"><table id="{name}"><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table></div>'


def _status(status: str, rolled_back: bool, failed_checks: int = 0) -> str:
    badge = f'<span class="badge s-{_slug(status)}">{_e(status)}</span>'
    if rolled_back:
        badge += ' <span class="badge s-rolledback">rolled back</span>'
    return badge + (f' <span class="muted">{failed_checks} failed</span>' if failed_checks else "")


def _verdict(verdict: str | None) -> str:
    if verdict is None:
        return '<span class="badge s-recorded">recorded</span>'
    return f'<span class="badge v-{_slug(verdict)}">{_e(verdict)}</span>'


def _ci(row: RunRow) -> str:
    label = _e(row.ci_job or ("link" if row.ci_url else "—"))
    if row.ci_url is None:
        return label
    return f'<a href="{_e(row.ci_url)}" target="_blank" rel="noopener noreferrer">{label}</a>'


def _commit(commit: str | None) -> str:
    if commit is None:
        return "—"
    return f'<code title="{_e(commit)}">{_e(commit[:10])}</code>'


def _value(value: float | None, unit: str) -> str:
    if value is None:
        return '<span class="muted">—</span>'
    return f"{format_number(value)} {_e(unit)}".rstrip()


def _figure(value: float | None, unit: str) -> str:
    """A gate's value exactly as the terminal, the JSON and the step summary show it (report/_slo.figure)."""
    if value is None:
        return '<span class="muted">—</span>'
    return f"{figure(value)} {_e(unit)}".rstrip()


def _when(moment: datetime | None) -> str:
    if moment is None:
        return "—"
    utc = moment.astimezone(UTC)
    return f'<time datetime="{utc.isoformat()}">{utc:%Y-%m-%d %H:%M:%S} UTC</time>'


def _slug(text: str) -> str:
    return "".join(c for c in text.lower() if c.isalnum()) or "unknown"


def _e(text: str) -> str:
    return html.escape(text, quote=True)


CSS = """
:root { --fg:#24292f; --muted:#6e7781; --line:#d8dee4; --bg:#f6f8fa; --card:#fff;
  --ok:#1a7f37; --bad:#cf222e; --warn:#9a6700; --rb:#bc4c00; }
* { box-sizing: border-box; }
body { margin:0; font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;
  color:var(--fg); background:var(--bg); }
header { padding:18px 28px 10px; background:#fff; border-bottom:1px solid var(--line); }
h1 { margin:0; font-size:22px; font-weight:600; }
h1 .env { color:var(--muted); font-weight:400; }
h2 { font-size:18px; margin:28px 0 12px; font-weight:600; }
h3 { font-size:14px; margin:0 0 2px; font-weight:600; }
.meta, .muted { color:var(--muted); }
.meta { margin:4px 0 0; }
main { padding:6px 28px 40px; max-width:1500px; }
.cards { display:grid; grid-template-columns:repeat(auto-fill,minmax(150px,1fr)); gap:10px; margin-top:18px; }
.card { background:var(--card); border:1px solid var(--line); border-radius:8px; padding:10px 14px; }
.card .label { color:var(--muted); font-size:12px; text-transform:uppercase; letter-spacing:.04em; }
.card .value { font-size:15px; margin-top:3px; }
.ok { color:var(--ok); } .bad { color:var(--bad); }
/* auto-fill, not auto-fit: a chart drawn while the page still loads already has its final width. */
.grid { display:grid; grid-template-columns:repeat(auto-fill,minmax(min(520px,100%),1fr)); gap:14px; }
.spaced { margin-top:14px; }
figure.chart { margin:0; background:var(--card); border:1px solid var(--line); border-radius:8px; padding:12px 14px 6px;
  min-width:0; }
figcaption p { margin:0 0 4px; color:var(--muted); font-size:12px; }
.table-wrap { overflow-x:auto; background:var(--card); border:1px solid var(--line); border-radius:8px;
  margin-top:14px; }
table { border-collapse:collapse; width:100%; }
th, td { text-align:left; padding:7px 10px; border-bottom:1px solid var(--line); vertical-align:top; }
th { background:#f0f3f6; font-weight:600; font-size:12px; color:#57606a; position:sticky; top:0; }
.num { text-align:right; font-variant-numeric:tabular-nums; }
td { white-space:nowrap; }
tbody tr:hover { background:#f6f8fa; }
tbody:last-child tr:last-child > * { border-bottom:none; }
/* Gates: a header row per test, then its checks one line each; only the reason wraps, in its cell. */
.gates-summary { margin:6px 0 0; }
.gates-summary .badge { margin-right:2px; }
#gates .c-measured, #gates .c-threshold, #gates .c-samples { text-align:right; font-variant-numeric:tabular-nums; }
#gates td.c-reason { white-space:normal; min-width:260px; width:100%; font-size:13px; line-height:1.35; }
#gates tr.check td { padding:4px 8px; }
#gates tr.check td:first-child { padding-left:16px; }
#gates .clip { display:inline-block; vertical-align:bottom; overflow:hidden; text-overflow:ellipsis; max-width:180px; }
#gates .c-samples .clip { max-width:150px; }
#gates tr.test th { background:#f6f8fa; color:var(--fg); font-size:13px; font-weight:400; white-space:normal;
  padding:8px 10px 6px; position:static; }
#gates tr.test .nodeid { color:var(--fg); word-break:break-word; }
#gates tr.test .why { color:var(--muted); font-size:12px; margin-top:3px; max-width:110ch; }
#gates tr.o-failed th, #gates tr.o-error th { background:#ffebe9; }
#gates tr.recorded td { padding:3px 8px 5px 16px; white-space:normal; font-size:12px; color:var(--muted); }
#gates tr.recorded summary { cursor:pointer; width:max-content; }
#gates tr.recorded ul { margin:4px 0 2px; padding:0; list-style:none; display:flex; flex-wrap:wrap; gap:2px 18px; }
#gates tr.recorded li { white-space:nowrap; color:var(--fg); }
#gates tr.g-fail td { background:#fff5f5; }
#gates tr.g-inconclusive td { background:#fffbe6; }
#gates tr.g-fail td.c-verdict { box-shadow:inset 4px 0 var(--bad); }
#gates tr.g-inconclusive td.c-verdict { box-shadow:inset 4px 0 var(--warn); }
#gates tr.g-fail td.c-reason { color:var(--bad); }
@media (max-width: 760px) {
  header { padding:14px 14px 8px; }
  main { padding:4px 14px 30px; }
  .cards { grid-template-columns:repeat(2,minmax(0,1fr)); gap:8px; }
  figure.chart { padding:10px 8px 4px; }
  /* The gates table becomes a list: a check's cells flow on one or two lines, no sideways scrolling. */
  #gates thead { display:none; }
  #gates, #gates tbody, #gates tr.test, #gates tr.test th { display:block; }
  #gates tr.check { display:flex; flex-wrap:wrap; align-items:baseline; gap:2px 10px; padding:5px 10px 5px 14px;
    border-bottom:1px solid var(--line); }
  #gates tr.check td { display:block; padding:0; border:none; white-space:normal; text-align:left; }
  #gates tr.check td:first-child { padding-left:0; }
  #gates .clip, #gates .c-samples .clip { max-width:none; display:inline; }
  #gates tr.check td:empty { display:none; }
  #gates tr.recorded, #gates tr.recorded td { display:block; border:none; }
  #gates tr.recorded li { white-space:normal; }
  #gates td.c-reason { min-width:0; flex-basis:100%; }
  #gates td.c-threshold::before { content:"threshold "; color:var(--muted); }
  #gates td.c-samples::before { content:"samples "; color:var(--muted); }
}
code { font:12px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace; background:#eff1f3; padding:1px 5px;
  border-radius:4px; }
.nodeid { font:12px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace; color:var(--muted); word-break:break-all; }
.badge { display:inline-block; white-space:nowrap; padding:1px 8px; border-radius:10px; font-size:12px; font-weight:600;
  background:#eaeef2; color:var(--fg); }
.s-passed, .v-pass { background:#dafbe1; color:var(--ok); }
.s-failed, .v-fail, .s-error { background:#ffebe9; color:var(--bad); }
.s-interrupted, .v-inconclusive { background:#fff8c5; color:var(--warn); }
.v-notmeasured, .s-recorded, .s-unknown { background:#eaeef2; color:var(--muted); }
.s-rolledback { background:#fff1e5; color:var(--rb); }
.empty { color:var(--muted); font-style:italic; padding:12px 0; }
a { color:#0969da; text-decoration:none; } a:hover { text-decoration:underline; }
"""
