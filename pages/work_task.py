"""A task's page in the grid workbench (/work/task?id=…): what is due, the entity and its
place, the history with photos, and the forms of the steps the user may take now
(``assets/work.js`` keeps drafts and submits them to ``/api/v1/work``). A task outside
the user's grids is answered as one that does not exist."""
from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import dash
from dash import Input, Output, callback, dcc, html
from shapely.geometry import mapping

from auth import audit
from auth.admin import village_workers
from auth.current import current
from auth.guard import hide
from components.work_views import task_panel
from domain.errors import JinjianError
from etl.work_actions import task_actions
from etl.work_assign import assignee_of, scope_for
from pages import inputs
from pages.work import work_header
from queries.shapes import grid_shapes_of
from queries.work import work_task
from store.db import get_db
from supervision.work import actions_for, reassign_action

logger = logging.getLogger(__name__)
PATH = "/work/task"
dash.register_page(__name__, path=PATH, title="金监 · 任务办理", name="任务办理")


def layout(id: str | None = None, **_: Any) -> html.Div:  # noqa: A002 - the URL's parameter
    return html.Div(className="page work-page", children=[
        work_header("任务办理", back=True),
        dcc.Store(id="work-task-id", data=inputs.param(id) or ""),
        html.Button("刷新", id="work-task-refresh", className="work-refresh", n_clicks=0),
        dcc.Loading(html.Div(id="work-task-body", className="work-task-body"), type="dot"),
    ])


def _grid_feature(grid_code: str) -> dict | None:
    try:
        shapes = grid_shapes_of(get_db(), [grid_code])
    except JinjianError:
        return None
    geom = shapes.get(grid_code)
    return None if geom is None else {"type": "Feature", "geometry": mapping(geom), "properties": {}}


def _extras(task_id: str) -> dict[str, dict]:
    """Photos and locations the workbench kept with the task's steps, by (time, status)."""
    return {f"{a['event_time']:%Y-%m-%d %H:%M:%S}|{a['outcome']}": a for a in task_actions(task_id)}


def _reassign(task_id: str, task_type: str, status: str, village: str) -> list:
    """改派 for the dispatcher: the village's grid workers, the one who has the task marked."""
    workers = village_workers(audit.store(), village)
    now = assignee_of(task_id)
    act = reassign_action(task_type, status, [(u, f"{name}（当前承办）" if u == now else name)
                                              for u, name in sorted(workers.items(), key=lambda kv: kv[1])])
    return [act] if act else []


@callback(Output("work-task-body", "children"),
          Input("work-task-id", "data"), Input("work-task-refresh", "n_clicks"))
@inputs.keep_on_bad_input
def show_task(task_id: Any, _n: Any) -> Any:
    p = current()
    task_id = inputs.text(task_id, limit=30)
    if not p.can("work"):
        return html.P("您的角色不办理网格任务", className="work-muted")
    ws = scope_for(p.scope, p.grids, p.role, p.name)
    try:
        task = work_task(get_db(), ws, task_id, dt.date.today()) if task_id else None
        if task is None:
            if task_id:
                hide(f"workbench task {task_id} outside {ws.prefix}", ws.prefix)
            return html.P("未找到该任务，或该任务不在您的网格内", className="work-empty")
        actions = actions_for(p.role, str(task.task["task_type"]), str(task.task["status"]))
        if p.role == "village_dispatcher":
            actions += _reassign(task_id, str(task.task["task_type"]), str(task.task["status"]), ws.prefix)
        return task_panel(task, actions, _extras(task_id), _grid_feature(str(task.task["grid_code"])))
    except JinjianError as exc:
        logger.warning("workbench task %s failed: %s", task_id, exc.detail)
        return html.P(exc.user_message, className="work-empty")
