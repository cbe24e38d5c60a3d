"""在办任务账龄 on /tasks as plain HTML: one stacked column per warning bucket, a segment
per task type (colour = the bucket's warning grade, fill pattern = the task type), the
count on top, a click filters the task list by the bucket.

Five columns need no charting library: drawn in HTML the page's first view loads no
plotly.js (4.8 MB, about 1 s of main-thread work on a cold load — issue 30's budget).
Pure factory, no database; pages/tasks.py fills ``tasks-ageing`` with it.
"""
from __future__ import annotations

from typing import Mapping

import pandas as pd
from dash import html

from components.task_views import BUCKET_COLOURS, short_label
from supervision.rules import BUCKETS, TASK_TYPE_ZH

#: The id of a bucket's column (a pattern-matching id: pages/tasks.py listens to all five).
BAR_TYPE = "tasks-ageing-bar"
#: A task type's fill pattern (assets/tasks.css .ageing-type-N).
TYPE_CLASS: dict[str, str] = {t: f"ageing-type-{i}" for i, t in enumerate(TASK_TYPE_ZH)}


def ageing_counts(df: pd.DataFrame) -> dict[str, dict[str, int]]:
    """Open tasks per bucket and task type from the ``queries.tasks.ageing`` frame (zeros filled)."""
    per = df.groupby(["bucket", "task_type"])["tasks"].sum() if len(df) else pd.Series(dtype=int)
    return {b: {t: int(per.get((b, t), 0)) for t in TASK_TYPE_ZH} for b in BUCKETS}


def create_ageing_chart(df: pd.DataFrame | None, labels: Mapping[str, str], selected: str | None = None) -> html.Div:
    """The chart for the ageing frame (empty columns while ``df`` is None); ``selected``
    (a bucket) dims the other columns."""
    counts = ageing_counts(df if df is not None else pd.DataFrame(columns=["bucket", "task_type", "tasks"]))
    top = max([sum(c.values()) for c in counts.values()] + [1])
    columns = []
    for b in BUCKETS:
        total = sum(counts[b].values())
        segments = [html.Div(className=f"ageing-seg {TYPE_CLASS[t]}", title=f"{TASK_TYPE_ZH[t]}：{n:,} 件",
                             style={"height": f"{100 * n / top:.2f}%", "backgroundColor": BUCKET_COLOURS[b]})
                    for t, n in counts[b].items() if n]
        state = "" if selected in (None, b) else " ageing-dimmed"
        columns.append(html.Button(
            id={"type": BAR_TYPE, "bucket": b}, n_clicks=0, className=f"ageing-col{state}",
            title=f"{labels[b]}：{total:,} 件（点击筛选任务清单）", **{"data-bucket": b, "data-value": str(total)},
            children=[html.Span(f"{total:,}" if df is not None else "", className="ageing-total"),
                      html.Div(segments, className="ageing-stack"),
                      html.Span(short_label(b, labels[b]), className="ageing-label")]))
    legend = [html.Span([html.I(className=f"ageing-swatch {TYPE_CLASS[t]}"), zh], className="ageing-key")
              for t, zh in TASK_TYPE_ZH.items()]
    return html.Div(className="ageing-chart", children=[
        html.Div("在办任务账龄（按预警等级）", className="ageing-title"),
        html.Div(columns, className="ageing-cols"),
        html.Div("预警等级（工作日）", className="ageing-axis"),
        html.Div(legend, className="ageing-legend"),
    ])
