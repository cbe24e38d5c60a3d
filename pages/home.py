"""首页: real counts for the deployment's root region and its children.

The full command wall comes with issue 4; this page already reads the query
layer only inside callbacks (``layout()`` does no database work).
"""
from __future__ import annotations

import datetime as dt
import logging

import dash
import pandas as pd
from dash import Input, Output, callback, dcc, html, no_update

from components.cards import create_stat_card
from components.figures import create_children_bar, create_flow_lines
from components.format import format_change
from components.nav import create_nav
from components.tables import create_region_table
from indicators.catalogue import CATALOGUE
from queries.db import get_db
from queries.errors import JinjianError
from queries.overview import home_data
from settings import Settings

logger = logging.getLogger(__name__)

dash.register_page(__name__, path="/", title="金监 · 智慧监管指挥平台", name="首页")

CARDS = [  # (card id, indicator id, label); labels say which period they cover
    ("home-card-total", "entity_stock", "存续市场主体"),
    ("home-card-enterprise", "enterprise_stock", "企业"),
    ("home-card-individual", "individual_stock", "个体工商户"),
    ("home-card-cooperative", "cooperative_stock", "农民专业合作社"),
    ("home-card-new-month", "new_registrations", "本月新设立"),
    ("home-card-cancel-month", "cancellations", "本月注销"),
]
TABLE_COLUMNS = {"entity_stock": "存续主体", "enterprise_stock": "企业", "individual_stock": "个体工商户",
                 "cooperative_stock": "农民专业合作社", "new_registrations": "本月新设立",
                 "cancellations": "本月注销"}
REFRESH_MS = 30_000


def layout(**_: object) -> html.Div:
    return html.Div(className="page home", children=[
        create_nav("/"),
        html.Header(className="page-header", children=[
            html.H1("金监 · 智慧监管指挥平台"),
            html.Div(id="home-region-name", className="region-name"),
            html.Div(id="home-updated", className="updated"),
        ]),
        html.Div(id="home-banner", className="banner hidden", role="alert"),
        html.Div(className="card-row", children=[create_stat_card(cid, label, None, CATALOGUE[ind].unit)
                                                 for cid, ind, label in CARDS]),
        html.Div(className="home-body", children=[
            html.Div(className="panel", children=[html.H2("下级区域市场主体"),
                                                  html.Div(create_region_table("home-table", TABLE_COLUMNS),
                                                           className="table-box")]),
            html.Div(className="panel", children=[dcc.Graph(id="home-children-chart", config={"displayModeBar": False},
                                                            style={"height": "50%"}),
                                                  dcc.Graph(id="home-flow-chart", config={"displayModeBar": False},
                                                            style={"height": "50%"})]),
        ]),
        dcc.Interval(id="home-refresh", interval=REFRESH_MS),
    ])


@callback(
    [Output(cid, "children") for cid, _, _ in CARDS]
    + [Output("home-region-name", "children"), Output("home-table", "rowData"),
       Output("home-children-chart", "figure"), Output("home-flow-chart", "figure"),
       Output("home-updated", "children"), Output("home-banner", "children"),
       Output("home-banner", "className")],
    Input("home-refresh", "n_intervals"),
)
def refresh(_n: int | None):
    region = Settings.from_env().root_region
    today = dt.date.today()
    try:
        data = home_data(get_db(), region, today)
    except JinjianError as exc:
        logger.warning("home refresh failed: %s", exc.detail)
        keep = [no_update] * (len(CARDS) + 5)
        return keep + [exc.user_message, "banner"]
    cards = []
    for cid, ind_id, label in CARDS:
        row = data["cards"].loc[ind_id]
        note = None
        if CATALOGUE[ind_id].kind == "flow":
            note = f"环比 {format_change(row['mom'])}  同比 {format_change(row['yoy'])}"
        cards.append(create_stat_card(cid, label, int(row["value"]), CATALOGUE[ind_id].unit, note).children)
    node = data["node"]
    path = " › ".join(node.path["name"])
    table: pd.DataFrame = data["table"]
    chart = create_children_bar(table, {"enterprise_stock": "企业", "individual_stock": "个体工商户",
                                         "cooperative_stock": "农民专业合作社"}, f"{node.name} 下级区域存续市场主体")
    flows = create_flow_lines(data["daily"], "近 90 天新设立与注销吊销（户/日）")
    stamp = f"刷新于 {dt.datetime.now():%Y-%m-%d %H:%M:%S}"
    return cards + [path, table.to_dict("records"), chart, flows, stamp, "", "banner hidden"]


