"""The top navigation bar shared by every page."""
from __future__ import annotations

from typing import Any

from dash import dcc, html

#: (path, label) of every page in the bar, in display order.
NAV_ITEMS: tuple[tuple[str, str], ...] = (
    ("/", "指挥大屏"),
    ("/indicators", "指标体系"),
    ("/region/root", "区域下钻"),
    ("/tasks", "任务督办"),
    ("/risk", "风险预警"),
    ("/random", "双随机抽查"),
    ("/joint", "联合惩戒"),
    ("/reports", "定期报告"),
    ("/quality", "数据质量"),
)


ADMIN_ITEM = ("/admin", "账号与审计")


def create_account(account: Any) -> html.Div:
    """Who is signed in (name, role, scope) and a logout form (POST with the CSRF token)."""
    return html.Div(className="nav-account", children=[
        html.Span(account.name, className="nav-user", id="nav-user"),
        html.Span(f"{account.role_zh} · {account.scope or '全国'}", className="nav-role", id="nav-role"),
        html.Form(action="/logout", method="POST", className="nav-logout-form", children=[
            dcc.Input(type="hidden", name="csrf_token", value=account.csrf, id="nav-logout-csrf"),
            html.Button("退出", type="submit", className="nav-logout", id="nav-logout"),
        ]),
    ])


def create_nav(active_path: str, account: Any = None) -> html.Nav:
    """A bar with the product name and a link per page; the link of
    ``active_path`` has the class ``active``. ``account`` (auth.web.NavAccount):
    the signed-in user, shown with a logout button; administrators also get 账号与审计."""
    items = NAV_ITEMS + ((ADMIN_ITEM,) if account is not None and account.admin else ())
    links = [dcc.Link(label, href=path, className="nav-link active" if path == active_path else "nav-link")
             for path, label in items]
    children = [html.Span("金监", className="nav-brand"), html.Div(links, className="nav-links")]
    if account is not None:
        children.append(create_account(account))
    return html.Nav(className="top-nav", **{"aria-label": "主导航"}, children=children)
