"""Independent pandas oracle of the entity risk score (docs/risk.md), written from
the documented formula over the demo frames:

    points(f) = weight(f) × min(count(f), cap(f)) / cap(f);  score = round(Σ points, 2)

counts at the end of ``end``: complaints and failed inspections in the 365 days up to
``end`` (event_date > end − 365 days), penalties in the 730 days, list flags as
stored, batches the entity handled (any sampling event up to ``end``) that failed
sampling anywhere — in the whole data set, not just the region — in the 365 days,
open verification tasks past their deadline (state from the task events), credit
grade A/B/C/D = 0/1/2/3, industry H/Q = 2, F/C/A = 1, else 0.
"""
from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from etl.demo import DemoData
from tests import oracle_tasks as T

CAPS = {"complaints": 5, "penalties": 3, "abnormal": 1, "dishonest": 1, "failed_batches": 2,
        "failed_inspections": 2, "overdue_verifications": 1, "credit": 3, "industry": 2}
WEIGHTS = {"complaints": 15, "penalties": 15, "abnormal": 10, "dishonest": 20, "failed_batches": 10,
           "failed_inspections": 5, "overdue_verifications": 5, "credit": 10, "industry": 10}


def scores(data: DemoData, region: str, end: dt.date, weights: dict[str, float] | None = None,
           grades: tuple[float, float, float] = (15, 30, 50)) -> pd.DataFrame:
    """One row per alive entity in ``region`` at ``end`` (index credit_code): counts, score, grade."""
    w = {**WEIGHTS, **(weights or {})}
    e = data.entities
    e = e[e["grid_code"].str.startswith(region)]
    t = pd.Timestamp(end)
    reg, st = pd.to_datetime(e["reg_date"]), pd.to_datetime(e["status_date"])
    e = e[(reg <= t) & ((e["status"] == "active") | (st > t))].set_index("credit_code")
    ev = data.events
    day = pd.to_datetime(ev["event_date"])
    y1, y2 = t - pd.Timedelta(days=365), t - pd.Timedelta(days=730)
    mine = ev[ev["credit_code"].isin(e.index) & (day <= t)]
    mday = pd.to_datetime(mine["event_date"])

    def count(mask: pd.Series) -> pd.Series:
        return mine[mask].groupby("credit_code").size().reindex(e.index, fill_value=0)

    c = pd.DataFrame(index=e.index)
    c["complaints"] = count((mine["event_type"] == "complaint") & (mday > y1))
    c["penalties"] = count((mine["event_type"] == "penalty") & (mday > y2))
    c["failed_inspections"] = count((mine["event_type"] == "inspection") & (mine["result"] == "fail") & (mday > y1))
    failed = set(ev.loc[(ev["event_type"] == "sampling") & (ev["result"] == "fail") & (day > y1) & (day <= t),
                        "batch_no"])
    handled = mine[(mine["event_type"] == "sampling") & mine["batch_no"].isin(failed)]
    c["failed_batches"] = handled.groupby("credit_code")["batch_no"].nunique().reindex(e.index, fill_value=0)
    o = T.open_at(data, region, end)
    late = o[o["task_type"].isin(["verify_registration", "verify_change"]) & (pd.to_datetime(o["due_date"]) < t)]
    c["overdue_verifications"] = late.groupby("credit_code").size().reindex(e.index, fill_value=0)
    c["abnormal"], c["dishonest"] = e["abnormal"].astype(int), e["dishonest"].astype(int)
    c["credit"] = e["credit_grade"].map({"A": 0, "B": 1, "C": 2, "D": 3})
    c["industry"] = np.select([e["industry"].isin(["H", "Q"]), e["industry"].isin(["F", "C", "A"])], [2, 1], 0)
    total = sum(w[f] * np.minimum(c[f], cap) / cap for f, cap in CAPS.items())
    c["score"] = np.round(total.astype(float), 2)
    y, o_, r = grades
    c["grade"] = np.select([c["score"] >= r, c["score"] >= o_, c["score"] >= y], ["red", "orange", "yellow"], "blue")
    c["grid_code"] = e["grid_code"]
    return c
