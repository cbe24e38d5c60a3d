"""我的任务 (/work): the grid workbench's start page for the work roles (网格员, 社区调度员,
镇街处置人员), at phone size — the open tasks at the stages the user acts on, soonest
deadline first, with the remaining working days and the warning colour; a stage filter;
refreshed every 30 s. A task opens its page (/work/task)."""
from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import dash
from dash import Input, Output, callback, dcc, html

from auth.current import current
from auth.roles import ROLES
from components.nav import create_account
from auth.web import nav_account
from components.work_views import WORK_STAGE_ZH, task_cards
from domain.errors import JinjianError
from pages import inputs
from etl.work_assign import scope_for
from queries.work import my_tasks
from settings import ConfigError
from store.db import get_db
from supervision.rules import TaskRules
from supervision.work import listable_stages

logger = logging.getLogger(__name__)
PATH = "/work"
dash.register_page(__name__, path=PATH, title="金监 · 网格工作台", name="网格工作台")


def work_header(title: str, back: bool = False) -> html.Header:
    """The workbench's compact header: back link (task pages), title, who is signed in."""
    account = nav_account()
    return html.Header(className="work-header", children=[
        dcc.Link("‹ 我的任务", href=PATH, className="work-back") if back else html.Span("金监", className="work-brand"),
        html.H1(title, className="work-title"),
        create_account(account) if account is not None else None,
    ])


def layout(stage: str | None = None, **_: Any) -> html.Div:
    p = current()
    stages = listable_stages(p.role)
    picked = stage if stage in stages else ""
    options = [{"label": "全部", "value": ""}] + [{"label": WORK_STAGE_ZH[s], "value": s} for s in stages]
    return html.Div(className="page work-page", children=[
        work_header("我的任务"),
        html.Div(f"{ROLES[p.role].zh if p.role in ROLES else ''} · {p.scope}"
                 + (f" · 网格 {'、'.join(g[-3:] for g in p.grids)}" if p.grids else ""), className="work-muted work-who"),
        dcc.RadioItems(id="work-stage", options=options, value=picked, className="work-stages",
                       inputClassName="work-stage-input", labelClassName="work-stage-label"),
        dcc.Link("上报线索", href="/work/clue", className="work-clue-link") if p.role == "grid_worker" else None,
        html.Div(id="work-count", className="work-count", role="status"),
        dcc.Loading(html.Div(id="work-list", className="work-list"), type="dot"),
        html.Div(id="work-drafts", className="work-drafts"),
        dcc.Interval(id="work-tick", interval=30_000),
    ])


@callback(Output("work-list", "children"), Output("work-count", "children"),
          Input("work-stage", "value"), Input("work-tick", "n_intervals"))
@inputs.keep_on_bad_input
def show_tasks(stage: Any, _n: Any) -> tuple[Any, str]:
    p = current()
    if not p.can("work"):
        return [], "您的角色不办理网格任务"
    stage = inputs.choice(stage, ("",) + listable_stages(p.role), "") or None
    try:
        df = my_tasks(get_db(), scope_for(p.scope, p.grids, p.role, p.name), dt.date.today(), TaskRules.from_env(), stage)
    except ConfigError as exc:
        logger.error("workbench: task rules: %s", exc)
        return [], "任务规则配置不正确，请联系系统管理员"
    except JinjianError as exc:
        logger.warning("workbench list failed: %s", exc.detail)
        return dash.no_update, exc.user_message
    overdue = int((df["days_left"] < 0).sum()) if len(df) else 0
    return task_cards(df), f"待办 {len(df)} 件" + (f"，其中逾期 {overdue} 件" if overdue else "")
