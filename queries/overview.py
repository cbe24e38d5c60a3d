"""Compositions of queries that a page shows together (no Dash imports)."""
from __future__ import annotations

import datetime as dt

from queries.engine import Engine
from queries.entities import entity_counts_by_child, entity_totals, registration_flow
from queries.filters import Filter
from queries.regions import region_node


def home_data(db: Engine, region: str, today: dt.date) -> dict[str, object]:
    """Everything the page shows for ``region`` (a pure function of the database)."""
    flt = Filter(region=region)
    node = region_node(db, region)
    totals = entity_totals(db, flt)
    active = totals[totals["status"] == "active"]
    by_type = active.groupby("entity_type")["entities"].sum()
    kids = entity_counts_by_child(db, flt, by="entity_type", active_only=True)
    wide = kids.pivot_table(index=["child_code", "child_name"], columns="entity_type",
                            values="entities", aggfunc="sum", fill_value=0).reset_index()
    alls = entity_counts_by_child(db, flt)
    table = alls.rename(columns={"entities": "all"}).merge(wide, on=["child_code", "child_name"], how="left")
    for col in ("enterprise", "individual", "cooperative"):
        table[col] = table[col].fillna(0).astype("int64") if col in table else 0
    table["active"] = table["enterprise"] + table["individual"] + table["cooperative"]
    month_start = today.replace(day=1)
    prev_start = (month_start - dt.timedelta(days=1)).replace(day=1)
    prev_end = prev_start + (today - month_start)
    flow = registration_flow(db, Filter(region=region, start=month_start, end=today, grain="month"))
    prev = registration_flow(db, Filter(region=region, start=prev_start,
                                        end=min(prev_end, month_start - dt.timedelta(days=1)), grain="month"))
    daily = registration_flow(db, Filter(region=region, start=today - dt.timedelta(days=89), end=today))
    return {"node": node, "by_type": by_type, "table": table, "flow": flow, "prev": prev, "daily": daily}
