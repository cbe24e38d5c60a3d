"""Risk queries (queries/risk.py) against the independent pandas formula
(tests/oracle_risk.py) on both engines; weights; traceability linkage."""
from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from domain.errors import InvalidParameter
from store.filters import Filter
from queries.risk import (batch_alerts, batch_fanout, entity_risk, grade_distribution, high_risk_points,
                          risk_by_child, top_entities, warning_feed, warning_trend)
from supervision.risk import FACTORS, RiskRules, parse_weights
from tests import oracle_risk as R
from tests.conftest import DEMO_END, DEMO_ROOT

RULES = RiskRules()
ASOF = [DEMO_END, dt.date(2026, 3, 31)]


@pytest.mark.parametrize("asof", ASOF, ids=str)
def test_distribution_and_top_entities_equal_pandas(demo_db, demo_data, asof):
    exp = R.scores(demo_data, DEMO_ROOT, asof)
    got = grade_distribution(demo_db, Filter(region=DEMO_ROOT), asof, RULES).set_index("grade")["entities"]
    assert got.to_dict() == {g: int((exp["grade"] == g).sum()) for g in ("red", "orange", "yellow", "blue")}
    assert got["red"] > 0 and got["orange"] > 0
    top = top_entities(demo_db, Filter(region=DEMO_ROOT), asof, RULES, limit=100)
    want = exp.reset_index().sort_values(["score", "credit_code"], ascending=[False, True]).head(100)
    assert list(top["credit_code"]) == list(want["credit_code"])
    assert np.allclose(top["score"], want["score"])
    points = top[[f"p_{f.id}" for f in FACTORS]].sum(axis=1)
    assert np.allclose(points.round(2), top["score"])  # the breakdown explains the score
    w = want.set_index("credit_code")
    for col in ("complaints", "penalties", "failed_inspections", "failed_batches", "overdue_verifications"):
        assert (top.set_index("credit_code")[col] == w[col]).all(), col


def test_region_aggregates_equal_pandas(demo_db, demo_data):
    got = risk_by_child(demo_db, Filter(region=DEMO_ROOT), DEMO_END, RULES).set_index("region_code")
    exp = R.scores(demo_data, DEMO_ROOT, DEMO_END)
    exp["town"] = exp["grid_code"].str[:9]
    g = exp.groupby("town").agg(entities=("score", "size"), high=("grade", lambda s: s.isin(["red", "orange"]).sum()),
                                avg_score=("score", "mean"))
    assert len(got) == 36
    for town, r in g.iterrows():
        assert got.loc[town, "entities"] == r["entities"] and got.loc[town, "high"] == r["high"]
        assert np.isclose(got.loc[town, "avg_score"], r["avg_score"])
        share = r["high"] / r["entities"] * 100
        assert np.isclose(got.loc[town, "high_share"], share)
        assert got.loc[town, "grade"] == RULES.area_grade(share)
    assert got["grade"].nunique() >= 2


def test_changing_a_weight_changes_scores_as_documented(demo_db, demo_data):
    heavier = RiskRules(weights=parse_weights("complaints=30,industry=0"))
    f = Filter(region="441900110")
    base = top_entities(demo_db, f, DEMO_END, RULES, limit=5000).set_index("credit_code")
    new = top_entities(demo_db, f, DEMO_END, heavier, limit=5000).set_index("credit_code")
    assert set(base.index) == set(new.index)
    new = new.loc[base.index]
    expected = (base["score"] + 15 * np.minimum(base["complaints"], 5) / 5 - 10 * base["industry_class"] / 2)
    assert np.allclose(new["score"], expected.round(2), atol=0.011)
    assert (new["p_industry"] == 0).all() and (new["score"] != base["score"]).any()
    exp = R.scores(demo_data, "441900110", DEMO_END, weights={"complaints": 30, "industry": 0})
    assert np.allclose(new["score"], exp.loc[new.index, "score"])
    assert (new["grade"] == exp.loc[new.index, "grade"]).all()


def _shared_failed_batch(data) -> tuple[str, pd.DataFrame]:
    ev = data.events
    s = ev[ev["event_type"] == "sampling"]
    failed = s.loc[(s["result"] == "fail") & (pd.to_datetime(s["event_date"]) > pd.Timestamp(DEMO_END) - pd.Timedelta(days=365)),
                   "batch_no"].unique()
    handlers = s[s["batch_no"].isin(failed)]
    towns = handlers.groupby("batch_no")["grid_code"].apply(lambda g: g.str[:9].nunique())
    batch = towns.idxmax()
    assert towns[batch] >= 2
    return batch, handlers[handlers["batch_no"] == batch]


def test_failing_batch_warns_exactly_its_handlers_across_regions(demo_db, demo_data):
    batch, handlers = _shared_failed_batch(demo_data)
    codes = set(handlers["credit_code"])
    # Every alive handler carries the batch in its SQL score breakdown …
    alive = sorted(codes & set(R.scores(demo_data, DEMO_ROOT, DEMO_END).index))
    assert len(alive) >= 2
    for code in alive:
        one = entity_risk(demo_db, Filter(region=DEMO_ROOT), DEMO_END, RULES, code)
        assert one is not None and one["failed_batches"] >= 1 and one["p_failed_batches"] > 0, code
    # … and every entity the SQL links handled some failed batch (no one else is warned).
    linked = top_entities(demo_db, Filter(region=DEMO_ROOT), DEMO_END, RULES, limit=5000)
    linked = linked[linked["failed_batches"] > 0]
    smp = demo_data.events[demo_data.events["event_type"] == "sampling"]
    failed = set(smp.loc[(smp["result"] == "fail") & (pd.to_datetime(smp["event_date"])
                                                      > pd.Timestamp(DEMO_END) - pd.Timedelta(days=365)), "batch_no"])
    handlers_of_failed = set(smp.loc[smp["batch_no"].isin(failed), "credit_code"])
    assert len(linked) > 0 and set(linked["credit_code"]) <= handlers_of_failed
    # Fan-out seen from one town: the handlers inside it, and a count of those outside.
    town = handlers["grid_code"].str[:9].iloc[0]
    inside, outside = batch_fanout(demo_db, Filter(region=town), batch)
    assert set(inside["credit_code"]) == set(handlers.loc[handlers["grid_code"].str.startswith(town), "credit_code"])
    assert outside == len(codes - set(inside["credit_code"])) and outside > 0
    alerts = batch_alerts(demo_db, Filter(region=DEMO_ROOT), DEMO_END - dt.timedelta(days=364), DEMO_END)
    row = alerts.set_index("batch_no").loc[batch]
    assert row["entities"] == len(codes) and row["towns"] == handlers["grid_code"].str[:9].nunique()
    with pytest.raises(InvalidParameter):
        batch_fanout(demo_db, Filter(region=town), "PC1' OR 1=1")


def test_warning_feed_trend_and_points(demo_db, demo_data):
    ev = demo_data.events
    warn = ev[ev["event_type"].isin(["complaint", "penalty", "list_entry"])
              | (ev["event_type"].isin(["inspection", "sampling"]) & (ev["result"] == "fail"))]
    start = DEMO_END - dt.timedelta(days=29)
    day = pd.to_datetime(warn["event_date"])
    w = warn[(day >= pd.Timestamp(start)) & (day <= pd.Timestamp(DEMO_END))]
    trend = warning_trend(demo_db, Filter(region=DEMO_ROOT), start, DEMO_END)
    assert trend["events"].sum() == len(w) > 0
    assert trend.groupby("event_type")["events"].sum().to_dict() == w.groupby("event_type").size().to_dict()
    town = demo_data.entities["grid_code"].str[:9].value_counts().index[5]
    # The city's last week has ten; a town's needs the wider searches (90 days, then all).
    for region, limit, end in ((DEMO_ROOT, 10, DEMO_END), (town, 10, DEMO_END), (town, 200, DEMO_END),
                               (DEMO_ROOT, 5, DEMO_END - dt.timedelta(days=100))):
        feed = warning_feed(demo_db, Filter(region=region), end, limit=limit)
        mine = warn[warn["grid_code"].str.startswith(region) & (pd.to_datetime(warn["event_date"]) <= pd.Timestamp(end))]
        newest = mine.sort_values(["event_time", "event_id"], ascending=False).head(limit)
        assert list(feed["credit_code"]) == list(newest["credit_code"]) and len(feed) > 0, (region, limit, end)
    pts = high_risk_points(demo_db, Filter(region=DEMO_ROOT), DEMO_END, RULES)
    exp = R.scores(demo_data, DEMO_ROOT, DEMO_END)
    assert set(pts["credit_code"]) == set(exp.index[exp["grade"].isin(["red", "orange"])])
    assert set(pts["grade"]) <= {"red", "orange"}


@pytest.mark.parametrize("listed", [5000, 1])
@pytest.mark.parametrize("limit", [1, 3, None])
def test_newest_batch_alerts_equal_pandas(demo_db, demo_data, monkeypatch, limit, listed):
    """The newest failed batches handled in a region (failed anywhere), their number, and
    each shown batch's handlers in the region, against pandas; a town sees fewer. With
    ``listed`` 1 the batches are read by subquery instead of a bound list."""
    import queries.risk as rq
    from queries.risk import newest_batch_alerts

    monkeypatch.setattr(rq, "_LISTED", listed)

    smp = demo_data.events[demo_data.events["event_type"] == "sampling"]
    day = pd.to_datetime(smp["event_date"])
    start, end = DEMO_END - dt.timedelta(days=89), DEMO_END
    fails = smp[(smp["result"] == "fail") & (day >= pd.Timestamp(start)) & (day <= pd.Timestamp(end))]
    first = fails.groupby("batch_no")["event_date"].min()
    handling = smp[smp["batch_no"].isin(set(first.index))]
    town = handling["grid_code"].str[:9].value_counts().index[0]  # the town handling most failed batches
    totals = []
    for region in (DEMO_ROOT, town):
        mine = smp[smp["grid_code"].str.startswith(region) & (day <= pd.Timestamp(end))]
        handled = first[first.index.isin(set(mine["batch_no"]))].reset_index().sort_values(
            ["event_date", "batch_no"], ascending=[False, True])
        rows, total = newest_batch_alerts(demo_db, Filter(region=region), start, end, limit)
        assert total == len(handled) > 0
        want = handled if limit is None else handled.head(limit)
        assert list(rows["batch_no"]) == list(want["batch_no"])
        for r in rows.itertuples(index=False):
            h = mine[mine["batch_no"] == r.batch_no]
            assert (r.entities, r.towns) == (h["credit_code"].nunique(), h["grid_code"].str[:9].nunique())
        totals.append(total)
    assert totals[1] < totals[0]
