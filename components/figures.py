"""Plotly figures in the command-centre dark style."""
from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

FONT = "Noto Sans CJK SC, WenQuanYi Zen Hei, Microsoft YaHei, sans-serif"
ACCENT = ["#2ec7ff", "#ffb020", "#38d39f", "#ff5b5b", "#a47cff"]


def _layout(fig: go.Figure, title: str) -> go.Figure:
    fig.update_layout(
        title={"text": title, "x": 0.01, "font": {"size": 18}},
        paper_bgcolor="rgba(0,0,0,0)", plot_bgcolor="rgba(0,0,0,0)",
        font={"family": FONT, "color": "#cfe8ff", "size": 14},
        margin={"l": 50, "r": 20, "t": 50, "b": 60}, legend={"orientation": "h", "y": -0.2},
        xaxis={"gridcolor": "rgba(120,170,255,0.12)"}, yaxis={"gridcolor": "rgba(120,170,255,0.12)"},
    )
    return fig


def create_children_bar(df: pd.DataFrame, series: dict[str, str], title: str) -> go.Figure:
    """Stacked bars per child region: ``series`` maps column → legend label;
    ``df`` has child_name and those columns."""
    fig = go.Figure()
    for i, (col, label) in enumerate(series.items()):
        fig.add_bar(x=df["child_name"], y=df[col], name=label, marker_color=ACCENT[i % len(ACCENT)])
    fig.update_layout(barmode="stack")
    return _layout(fig, title)


def create_flow_lines(df: pd.DataFrame, title: str) -> go.Figure:
    """Registrations and cancellations per period (columns period, registered, cancelled, revoked)."""
    fig = go.Figure()
    fig.add_scatter(x=df["period"], y=df["registered"], name="新设立", mode="lines", line={"color": ACCENT[0]})
    fig.add_scatter(x=df["period"], y=df["cancelled"] + df["revoked"], name="注销/吊销", mode="lines",
                    line={"color": ACCENT[1]})
    fig.update_xaxes(tickformat="%m-%d", hoverformat="%Y-%m-%d")
    return _layout(fig, title)


def create_empty_figure() -> go.Figure:
    """A blank figure in the dark style (shown until the first data arrives)."""
    fig = _layout(go.Figure(), "")
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return fig
