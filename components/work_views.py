"""The grid workbench's views (网格员工作台), phone first: task cards, a task's page (what is
due, the entity, its place, the history) and the action forms that ``assets/work.js``
drives (drafts kept on the phone, photos shrunk before sending, one submission per key)."""
from __future__ import annotations

import datetime as dt
from typing import Any, Sequence
from urllib.parse import quote

import dash_leaflet as dl
import pandas as pd
from dash import dcc, html

from components.task_views import BUCKET_COLOURS
from domain.sources import UNLICENSED_ZH
from queries.entities import ENTITY_TYPE_ZH
from supervision.rules import STATUS_ZH, TASK_TYPE_ZH
from supervision.work import CLUE_KINDS, Action

ACTOR_ZH = {"system": "系统", "grid_worker": "网格员", "village": "村（社区）", "town_office": "镇街",
            "department": "职能部门"}
WORK_STAGE_ZH = {"pending": "待派单", "inspecting": "待首次核查", "notice": "待复查", "joint": "村（社区）联合处置",
                 "town": "待镇街处置"}


def days_left_text(days: int) -> str:
    if days > 0:
        return f"剩 {days} 个工作日"
    if days == 0:
        return "今日到期"
    return f"逾期 {-days} 个工作日"


def task_card(row: Any) -> dcc.Link:
    """One open task in 我的任务: entity, task, stage, deadline and its colour grade."""
    colour = BUCKET_COLOURS.get(str(row.bucket), BUCKET_COLOURS["normal"])
    due = pd.Timestamp(row.due_date).date()
    return dcc.Link(href=f"/work/task?id={quote(str(row.task_id))}", className="work-card", children=[
        html.Div(className="work-card-top", children=[
            html.Span(row.entity_name or ("无证照经营线索" if not row.credit_code else "（主体名称未知）"),
                      className="work-card-name"),
            html.Span(days_left_text(int(row.days_left)), className="work-badge",
                      style={"backgroundColor": colour}),
        ]),
        html.Div(f"{TASK_TYPE_ZH.get(row.task_type, '督办任务')} · {WORK_STAGE_ZH.get(row.status, STATUS_ZH.get(row.status, ''))}"
                 + (f" · {row.detail}" if row.detail else ""), className="work-card-meta"),
        html.Div(f"办理期限 {due:%Y-%m-%d} · 网格 {row.grid_code[-3:]}", className="work-card-due"),
    ])


def task_cards(df: pd.DataFrame) -> list:
    if df.empty:
        return [html.P("暂无待办任务", className="work-empty")]
    return [task_card(r) for r in df.itertuples(index=False)]


def _map(lat: Any, lon: Any, grid: dict | None) -> Any:
    if lat is None or lon is None or pd.isna(lat) or pd.isna(lon) or (lat == 0 and lon == 0):
        return html.P("暂无位置信息", className="work-muted")
    layers: list[Any] = [dl.CircleMarker(center=[float(lat), float(lon)], radius=9, color="#c0392b", fill=True,
                                         fillOpacity=0.9, id="work-task-point")]
    if grid:
        layers.insert(0, dl.GeoJSON(data=grid, id="work-task-grid", style={"color": "#2c7fb8", "weight": 2,
                                                                           "fillOpacity": 0.08}))
    return html.Div(className="work-map-box", children=[
        dl.Map(layers, center=[float(lat), float(lon)], zoom=16, id="work-task-map", className="work-map",
               zoomControl=True, attributionControl=False),
        html.Div(f"位置 {float(lat):.5f}, {float(lon):.5f}（网格边界为示意）", className="work-muted")])


def _timeline(events: pd.DataFrame, extras: dict[str, dict], task_id: str) -> html.Ol:
    items = []
    for r in events.itertuples(index=False):
        t = pd.Timestamp(r.event_time)
        extra = extras.get(f"{t:%Y-%m-%d %H:%M:%S}|{r.status}", {})
        photos = [html.A(html.Img(src=f"/api/v1/work/tasks/{task_id}/photos/{n}", alt=f"现场照片 {i}",
                                  className="work-thumb"), href=f"/api/v1/work/tasks/{task_id}/photos/{n}",
                         target="_blank") for i, n in enumerate(extra.get("photos", []), 1)]
        where = (f" · 定位 {extra['lat']:.5f}, {extra['lon']:.5f}"
                 if extra.get("lat") is not None and extra.get("lon") is not None else "")
        head = "推送" if r.from_status == "none" else f"{STATUS_ZH.get(r.from_status, '')} → {STATUS_ZH.get(r.status, '')}"
        items.append(html.Li(className="work-step", children=[
            html.Div(f"{t:%m-%d %H:%M} · {head}", className="work-step-head"),
            html.Div(f"{ACTOR_ZH.get(r.actor_kind, '')} {r.actor if r.actor_kind != 'system' else ''}".strip()
                     + f"：{r.note}" + where, className="work-step-note"),
            html.Div(photos, className="work-thumbs") if photos else None,
        ]))
    return html.Ol(list(reversed(items)), className="work-timeline")


def action_form(task_id: str, action: Action) -> html.Div:
    """A form ``assets/work.js`` fills in, keeps as a draft and submits (see module doc)."""
    photo = action.key in ("check", "recheck", "joint", "handle")
    return html.Div(className="work-form", **{"data-task": task_id, "data-action": action.key}, children=[
        html.H3(action.zh, className="work-form-title"),
        html.Div(role="radiogroup", className="work-outcomes", children=[
            html.Button(label, type="button", className="work-outcome", **{"data-outcome": status, "role": "radio",
                                                                           "aria-checked": "false"})
            for status, label in action.outcomes]),
        html.Textarea(className="work-note", placeholder="情况说明（可不填，最多 400 字）", maxLength=400, rows=3),
        html.Div(className="work-photo-slot") if photo else None,
        html.Div(className="work-photo-list") if photo else None,
        html.Button("附上当前位置", type="button", className="work-locate"),
        html.Button("提交", type="button", className="work-submit"),
        html.Div(className="work-status", role="status", **{"aria-live": "polite"}),
    ])


def clue_form() -> html.Div:
    """上报线索's form: the kind of clue (as the outcome), note, photos, place."""
    return html.Div(className="work-form", **{"data-task": "new", "data-action": "clue"}, children=[
        html.H3("线索类型", className="work-form-title"),
        html.Div(role="radiogroup", className="work-outcomes", children=[
            html.Button(kind, type="button", className="work-outcome", **{"data-outcome": kind, "role": "radio",
                                                                          "aria-checked": "false"})
            for kind in CLUE_KINDS]),
        html.Textarea(className="work-note", placeholder="现场情况（可不填，最多 400 字）", maxLength=400, rows=3),
        html.Div(className="work-photo-slot"), html.Div(className="work-photo-list"),
        html.Button("附上当前位置", type="button", className="work-locate"),
        html.Button("上报", type="button", className="work-submit"),
        html.Div(className="work-status", role="status", **{"aria-live": "polite"}),
    ])


def grid_options(children: pd.DataFrame, grids: Sequence[str]) -> list:
    """The grids a worker may name (``children``: code, name of their village's grids;
    ``grids``: the worker's own, empty for every grid of the village)."""
    rows = children[children["code"].isin(grids)] if grids else children
    return [html.Option(f"{r.name}（{str(r.code)[-3:]}）", value=str(r.code)) for r in rows.itertuples(index=False)]


def unlicensed_form() -> html.Div:
    """上报无证照经营线索's form: a business that is not registered — its name or shop sign,
    address, the grid it was found in (the worker's), the kind, note, photos, place
    (``assets/work.js`` keeps the typed fields in the draft too; plain text areas, which React
    leaves alone, so a draft put back after a reload stays)."""
    def field(label: str, control: Any) -> html.Label:
        return html.Label([html.Span(label, className="work-field-label"), control], className="work-field-row")
    return html.Div(className="work-form", **{"data-task": "new", "data-action": "unlicensed"}, children=[
        html.H3("线索类型", className="work-form-title"),
        html.Div(role="radiogroup", className="work-outcomes", children=[
            html.Button(zh, type="button", className="work-outcome", **{"data-outcome": zh, "role": "radio",
                                                                        "aria-checked": "false"})
            for zh in UNLICENSED_ZH.values()]),
        field("经营者或店招名称", html.Textarea(rows=1, maxLength=100, className="work-field work-search",
                                             name="name", placeholder="如：某某烧烤摊")),
        field("经营地址", html.Textarea(rows=2, maxLength=200, className="work-field work-search",
                                           name="address", placeholder="街路门牌或明显地标")),
        field("发现网格", html.Select([], id="work-unl-grid", className="work-field work-select",
                                               name="grid_code")),
        html.Textarea(className="work-note", placeholder="现场情况（可不填，最多 400 字）", maxLength=400, rows=3),
        html.Div(className="work-photo-slot"), html.Div(className="work-photo-list"),
        html.Button("附上当前位置", type="button", className="work-locate"),
        html.Button("上报", type="button", className="work-submit"),
        html.Div(className="work-status", role="status", **{"aria-live": "polite"}),
    ])


def _entity(t: dict, e: dict, extras: dict[str, dict], grid: dict | None) -> html.Section:
    """Who the task is about: a registered entity, or — a clue about a business that is not
    registered (no credit code) — the business its detail names, at the place it was reported."""
    if t["credit_code"]:
        return html.Section(className="work-entity", children=[
            html.H2(e.get("name") or "（主体名称未知）", className="work-entity-name"),
            html.Div(f"{ENTITY_TYPE_ZH.get(str(e.get('entity_type')), '')} · 统一社会信用代码 {t['credit_code']}",
                     className="work-muted"),
            html.Div(f"所属网格 {t['grid_code']} · 任务编号 {t['task_id']}", className="work-muted"),
            _map(e.get("lat"), e.get("lon"), grid),
        ])
    placed = [x for x in extras.values() if x.get("lat") is not None and x.get("lon") is not None]
    return html.Section(className="work-entity", children=[
        html.H2("无证照经营线索（未登记的经营者）", className="work-entity-name"),
        html.Div(str(t["detail"]), className="work-muted"),
        html.Div(f"发现网格 {t['grid_code']} · 任务编号 {t['task_id']}", className="work-muted"),
        _map(placed[0]["lat"] if placed else None, placed[0]["lon"] if placed else None, grid),
    ])


def task_panel(task: Any, actions: list[Action], extras: dict[str, dict], grid: dict | None) -> list:
    """A task's page: what is due, the entity and its place, the actions, the history."""
    left = days_left_text
    t, e = task.task, task.entity
    closed = t["status"] == "closed"
    due = pd.Timestamp(t["due_date"]).date()
    return [
        html.Section(className="work-due", children=[
            html.Div(STATUS_ZH.get(str(t["status"]), ""), className="work-stage"),
            html.Div(f"办理期限 {due:%Y-%m-%d}" + ("" if closed else f" · {left(task.days_left)}"),
                     className="work-due-line" + (" overdue" if task.days_left < 0 and not closed else "")),
            html.Div(f"{TASK_TYPE_ZH.get(str(t['task_type']), '督办任务')}" + (f" · {t['detail']}" if t["detail"] else ""),
                     className="work-muted"),
        ]),
        _entity(t, e, extras, grid),
        html.Section([action_form(str(t["task_id"]), a) for a in actions] if actions else
                     [html.P("该任务当前环节不需要您办理" if not closed else "该任务已办结", className="work-muted")],
                     className="work-actions"),
        html.Section([html.H3("办理记录", className="work-form-title"),
                      _timeline(task.timeline, extras, str(t["task_id"]))], className="work-history"),
        html.Div(f"更新于 {dt.datetime.now():%H:%M}", className="work-muted"),
    ]
