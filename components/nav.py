"""The top navigation bar shared by every page."""
from __future__ import annotations

from dash import dcc, html

#: (path, label) of every page in the bar, in display order.
NAV_ITEMS: tuple[tuple[str, str], ...] = (
    ("/", "指挥大屏"),
    ("/indicators", "指标体系"),
    ("/region/root", "区域下钻"),
    ("/tasks", "任务督办"),
    ("/risk", "风险预警"),
    ("/reports", "定期报告"),
    ("/quality", "数据质量"),
)


def create_nav(active_path: str) -> html.Nav:
    """A bar with the product name and a link per page; the link of
    ``active_path`` has the class ``active``."""
    links = [dcc.Link(label, href=path, className="nav-link active" if path == active_path else "nav-link")
             for path, label in NAV_ITEMS]
    return html.Nav(className="top-nav", **{"aria-label": "主导航"}, children=[
        html.Span("金监", className="nav-brand"),
        html.Div(links, className="nav-links"),
    ])
