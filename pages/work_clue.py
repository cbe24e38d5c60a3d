"""上报线索 (/work/clue): a grid worker reports a problem found on patrol at a business in
their grids — the kind of clue, a note, photos and the place — or a business that is not
registered at all (无证照经营: its name, address and grid); either becomes a 线索移送 task of
the town office at once (``etl.work_actions.record_clue`` / ``record_unlicensed``). The form is the workbench's
(``assets/work.js``: a draft kept on the phone, sent once)."""
from __future__ import annotations

import logging
from typing import Any

import dash
from dash import Input, Output, callback, dcc, html

from auth.current import current
from components.work_views import clue_form, grid_options, unlicensed_form
from domain.errors import JinjianError
from pages import inputs
from pages.work import work_header
from queries.regions import region_node
from queries.work import WorkScope, entities_in
from store.db import get_db

logger = logging.getLogger(__name__)
PATH = "/work/clue"
dash.register_page(__name__, path=PATH, title="金监 · 上报线索", name="上报线索")


def layout(**_: Any) -> html.Div:
    worker = current().role == "grid_worker"  # every id stays in the layout (Dash validates callbacks on it)
    return html.Div(className="page work-page", children=[
        work_header("上报线索", back=True),
        html.P("只有网格员可以上报线索", className="work-empty" if not worker else "work-empty hidden"),
        html.Section(className="work-task-body" + ("" if worker else " hidden"), children=[html.Section([
            html.Label("发现问题的经营主体", htmlFor="work-clue-q", className="work-form-title"),
            dcc.Input(id="work-clue-q", type="search", debounce=True, placeholder="输入名称或信用代码（至少 2 个字）",
                      className="work-search", autoComplete="off"),
            html.Div(id="work-clue-note", className="work-muted", role="status"),
            dcc.RadioItems(id="work-clue-entity", options=[], className="work-entities",
                           inputClassName="work-stage-input", labelClassName="work-entity-option"),
            clue_form(),
        ]), html.Section(className="work-unlicensed", children=[
            html.H2("无证照经营线索", className="work-form-title"),
            html.P("巡查发现尚未登记（没有营业执照或许可证）的经营者，在此上报，线索直接报镇街。", className="work-muted"),
            unlicensed_form(),
        ])]),
    ])


@callback(Output("work-clue-entity", "options"), Output("work-clue-note", "children"),
          Input("work-clue-q", "value"))
@inputs.keep_on_bad_input
def find_entities(q: Any) -> tuple[list[dict], str]:
    p = current()
    text = inputs.text(q, limit=40)
    if p.role != "grid_worker" or len(text) < 2:
        return [], "在您的网格内查找"
    try:
        df = entities_in(get_db(), WorkScope(p.scope, p.grids, p.role), text)
    except JinjianError as exc:
        logger.warning("workbench entity search failed: %s", exc.detail)
        return [], exc.user_message
    options = [{"label": f"{r.name}（{r.credit_code[-6:]}）", "value": r.credit_code} for r in df.itertuples()]
    return options, f"找到 {len(options)} 户" if options else "您的网格内没有找到，请换个关键词"


@callback(Output("work-unl-grid", "children"), Input("work-unl-grid", "id"))
@inputs.keep_on_bad_input
def fill_grids(_id: Any) -> list:
    """The grids a grid worker can name in a clue about an unregistered business: their own."""
    p = current()
    if p.role != "grid_worker" or len(p.scope) < 12:
        return []
    try:
        node = region_node(get_db(), p.scope[:12])
    except JinjianError as exc:
        logger.warning("workbench grid list failed: %s", exc.detail)
        return []
    return grid_options(node.children, p.grids)
