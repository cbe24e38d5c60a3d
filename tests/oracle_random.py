"""Oracles of the 双随机抽查 indicators (docs/double_random.md), plain pandas over the demo's
``random_items`` — every row a firm of a plan at one version. As of the period end the firm is
its newest row among those entered (``entered_at``) on or before the end:

- drawn: every such firm; done: its result is not ``pending``;
- overdue: not done and ``due_date`` < end;
- rates: problems (or absent) among the done, per class when named; NaN without any done.
"""
from __future__ import annotations

import datetime as dt

import pandas as pd

from etl.demo import DemoData
from tests.oracle import ORACLES, _ratio, _rows_in


COLUMNS = ["plan_id", "credit_code", "credit_class", "grid_code", "dept_id", "drawn_at", "due_date", "result",
           "result_at", "entered_at", "version"]


def asof_rows(items: pd.DataFrame, end: dt.date) -> pd.DataFrame:
    """``random_items`` rows (any source: the demo's frames or a database read back) as the
    records stood at the end of ``end``: each firm's newest row entered by then."""
    items = items if not items.empty else pd.DataFrame(columns=COLUMNS)
    items = items[pd.to_datetime(items["entered_at"]).dt.normalize() <= pd.Timestamp(end)]
    return items.sort_values("version").groupby(["plan_id", "credit_code"]).tail(1)


def random_figures(items: pd.DataFrame, region: str, end: dt.date) -> dict[str, int]:
    """drawn, done, overdue, problems, absent of ``region`` as of ``end`` (queries.random_checks.figures)."""
    part = _rows_in(asof_rows(items, end), region)
    done = part["result"] != "pending"
    return {"drawn": len(part), "done": int(done.sum()),
            "overdue": int((~done & (pd.to_datetime(part["due_date"]) < pd.Timestamp(end))).sum()),
            "problems": int((part["result"] == "problem").sum()), "absent": int((part["result"] == "absent").sum())}


def _asof(data: DemoData, end: dt.date) -> pd.DataFrame:
    return asof_rows(data.random_items, end)


def _items(data: DemoData, region: str, end: dt.date) -> tuple[pd.DataFrame, pd.Series]:
    """The region's drawn firms as of ``end`` and which of them had a result by then."""
    items = _rows_in(_asof(data, end), region)
    return items, items["result"] != "pending"


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


# ------------------------------------------------------------------ 涉企检查 (supervision/discipline.py)
WINDOW_DAYS, MAX_PER_YEAR, SPARE_DAYS = 30, 2, 365  # the defaults of JINJIAN_INSPECT_* and the clean record


def _inspections(data: DemoData, region: str, end: dt.date) -> pd.DataFrame:
    """Every on-site inspection within the 365 days up to ``end``: inspection events and done
    双随机 items (newest version), with credit_code, grid_code, dept_id and the day."""
    ev = data.events[data.events["event_type"] == "inspection"]
    ev = pd.DataFrame({"credit_code": ev["credit_code"], "grid_code": ev["grid_code"], "dept_id": ev["dept_id"],
                       "day": pd.to_datetime(ev["event_time"]).dt.normalize()})
    items = _asof(data, end)
    items = items[items["result"] != "pending"]
    rd = pd.DataFrame({"credit_code": items["credit_code"], "grid_code": items["grid_code"],
                       "dept_id": items["dept_id"], "day": pd.to_datetime(items["result_at"]).dt.normalize()})
    rows = _rows_in(pd.concat([ev, rd], ignore_index=True), region)
    day = pd.Timestamp(end)
    return rows[(rows["day"] > day - pd.Timedelta(days=365)) & (rows["day"] <= day)]


def _firm_flags(data: DemoData, region: str, end: dt.date) -> pd.DataFrame:
    rows = _inspections(data, region, end)
    recent = rows[(rows["day"] > pd.Timestamp(end) - pd.Timedelta(days=WINDOW_DAYS)) & (rows["dept_id"] != "")]
    return pd.DataFrame({"times": rows.groupby("credit_code").size(),
                         "depts": recent.groupby("credit_code")["dept_id"].nunique()}).fillna(0)


def spared(data: DemoData, region: str, end: dt.date) -> pd.DataFrame:
    """无事不扰 on ``end``: alive class-A firms on no list, without a penalty, complaint or failed
    inspection within SPARE_DAYS days up to ``end``."""
    from tests.oracle import alive

    ent = alive(data, region, end)
    ev = data.events
    day = pd.Timestamp(end)
    when = pd.to_datetime(ev["event_date"])
    bad = ev[(ev["event_type"].isin(["penalty", "complaint"]) | ((ev["event_type"] == "inspection")
                                                                 & (ev["result"] == "fail")))
             & (when > day - pd.Timedelta(days=SPARE_DAYS)) & (when <= day)]
    return ent[(ent["credit_grade"] == "A") & (ent["abnormal"] == 0) & (ent["dishonest"] == 0)
               & ~ent["credit_code"].isin(set(bad["credit_code"]))]


ORACLES["inspected_firms"] = lambda data, region, start, end: float(len(_firm_flags(data, region, end)))
ORACLES["multi_dept_inspected"] = lambda data, region, start, end: float(
    (_firm_flags(data, region, end)["depts"] >= 2).sum())
ORACLES["frequent_inspected"] = lambda data, region, start, end: float(
    (_firm_flags(data, region, end)["times"] > MAX_PER_YEAR).sum())
ORACLES["spared_firms"] = lambda data, region, start, end: float(len(spared(data, region, end)))


def _spared_share(data: DemoData, region: str, start: dt.date, end: dt.date) -> float:  # noqa: ARG001
    from tests.oracle import alive

    return _ratio(float(len(spared(data, region, end))), float(len(alive(data, region, end))), 100.0)


ORACLES["spared_share"] = _spared_share
