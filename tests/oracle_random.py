"""Oracles of the 双随机抽查 indicators (docs/double_random.md), plain pandas over the demo's
``random_items`` — every row a firm of a plan at one version; the newest version counts:

- drawn by the period end: the date of ``drawn_at`` <= end;
- done: drawn, result not ``pending`` and the date of ``result_at`` <= end;
- overdue: drawn, ``due_date`` < end and not done;
- rates: problems (or absent) among the done, per class when named; NaN without any done.
"""
from __future__ import annotations

import datetime as dt

import pandas as pd

from etl.demo import DemoData
from tests.oracle import ORACLES, _ratio, _rows_in


def _items(data: DemoData, region: str, end: dt.date) -> tuple[pd.DataFrame, pd.Series]:
    """The region's drawn items by ``end`` (newest version of each) and which were done by then."""
    items = data.random_items
    if items.empty:
        return items, pd.Series(dtype=bool)
    items = items.sort_values("version").groupby(["plan_id", "credit_code"]).tail(1)
    items = _rows_in(items, region)
    day = pd.Timestamp(end)
    items = items[pd.to_datetime(items["drawn_at"]).dt.normalize() <= day]
    done = (items["result"] != "pending") & (pd.to_datetime(items["result_at"]).dt.normalize() <= day)
    return items, done


def _drawn(data: DemoData, region: str, start: dt.date, end: dt.date) -> float:  # noqa: ARG001
    return float(len(_items(data, region, end)[0]))


def _done(data: DemoData, region: str, start: dt.date, end: dt.date) -> float:  # noqa: ARG001
    return float(_items(data, region, end)[1].sum())


def _completion(data: DemoData, region: str, start: dt.date, end: dt.date) -> float:  # noqa: ARG001
    items, done = _items(data, region, end)
    return _ratio(float(done.sum()), len(items), 100.0)


def _overdue(data: DemoData, region: str, start: dt.date, end: dt.date) -> float:  # noqa: ARG001
    items, done = _items(data, region, end)
    return float((~done & (pd.to_datetime(items["due_date"]) < pd.Timestamp(end))).sum())


def _rate(result: str, cls: str | None = None):  # noqa: ANN202 - an oracle
    def oracle(data: DemoData, region: str, start: dt.date, end: dt.date) -> float:  # noqa: ARG001
        items, done = _items(data, region, end)
        if cls is not None:
            done = done & (items["credit_class"] == cls)
        return _ratio(float((done & (items["result"] == result)).sum()), float(done.sum()), 100.0)
    return oracle


ORACLES["random_drawn"] = _drawn
ORACLES["random_done"] = _done
ORACLES["random_completion"] = _completion
ORACLES["random_overdue"] = _overdue
ORACLES["random_problem_rate"] = _rate("problem")
for _c in "ABCD":
    ORACLES[f"random_problem_rate_{_c.lower()}"] = _rate("problem", _c)
ORACLES["random_absent_rate"] = _rate("absent")
