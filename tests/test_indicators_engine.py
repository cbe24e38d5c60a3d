"""Indicator computation mechanics: both engines agree, comparisons, grades."""
from __future__ import annotations

import datetime as dt
import logging
import math

import pandas as pd
import pytest

from indicators.catalogue import CATALOGUE, INDICATORS, get_indicator
from queries.indicator_values import compute, compute_with_comparisons
from indicators.model import CATEGORIES, Thresholds
from indicators.periods import Period, period_to_date, previous_period, year_ago
from domain.errors import InvalidParameter
from store.filters import Filter
from tests.conftest import DEMO_END

DG = "4419"


def test_catalogue_shape():
    assert len(CATALOGUE) >= 40
    for ind in INDICATORS:
        assert ind.name_zh and ind.name_en and ind.definition_zh and ind.definition_en and ind.unit
        assert ind.category in CATEGORIES
        public = ind.public()
        assert "expr" not in str(public) and "SELECT" not in str(public)  # users never see SQL
    with pytest.raises(InvalidParameter):
        get_indicator("nope")


def test_engines_agree_on_every_indicator(both_dbs):
    period = period_to_date(DEMO_END, "month")
    frames = {k: compute(db, INDICATORS, Filter(region=DG), period, by_child=True)
              for k, db in both_dbs.items()}
    pd.testing.assert_frame_equal(frames["chdb"], frames["server"], check_dtype=False)
    assert len(frames["chdb"]) == len(INDICATORS) * 36


def test_children_sum_to_parent_for_counts(demo_db):
    period = Period(DEMO_END - dt.timedelta(days=90), DEMO_END)
    additive = [i for i in INDICATORS if not i.is_ratio and i.id != "failed_batches"]
    whole = compute(demo_db, additive, Filter(region=DG), period).set_index("indicator_id")["value"]
    kids = compute(demo_db, additive, Filter(region=DG), period, by_child=True)
    summed = kids.groupby("indicator_id")["value"].sum()
    for ind in additive:
        assert math.isclose(summed[ind.id], whole[ind.id], rel_tol=1e-9, abs_tol=1e-6), ind.id


def test_comparisons(demo_db):
    inds = [CATALOGUE["new_registrations"], CATALOGUE["abnormal_listed"]]
    out = compute_with_comparisons(demo_db, inds, Filter(region=DG), period_to_date(DEMO_END, "month"),
                                   "month").set_index("indicator_id")
    prev = compute(demo_db, inds[:1], Filter(region=DG), Period(dt.date(2026, 10, 1), dt.date(2026, 10, 20)))
    yoy = compute(demo_db, inds[:1], Filter(region=DG), Period(dt.date(2025, 11, 1), dt.date(2025, 11, 20)))
    row = out.loc["new_registrations"]
    assert row["prev_value"] == prev["value"].iloc[0] and row["yoy_value"] == yoy["value"].iloc[0]
    assert math.isclose(row["mom"], (row["value"] - row["prev_value"]) / row["prev_value"])
    assert math.isnan(out.loc["abnormal_listed", "mom"])  # current-state indicators have no 环比


def test_periods():
    assert previous_period(Period(dt.date(2026, 3, 1), dt.date(2026, 3, 31)), "month") == \
        Period(dt.date(2026, 2, 1), dt.date(2026, 2, 28))
    assert previous_period(period_to_date(dt.date(2026, 11, 25), "week"), "week") == \
        Period(dt.date(2026, 11, 16), dt.date(2026, 11, 18))
    assert period_to_date(dt.date(2026, 8, 15), "quarter").start == dt.date(2026, 7, 1)
    assert year_ago(Period(dt.date(2024, 2, 29), dt.date(2024, 2, 29))).start == dt.date(2023, 2, 28)


@pytest.mark.parametrize("value, grade", [(1, "normal"), (3, "blue"), (4.5, "yellow"), (5, "orange"),
                                          (9, "red"), (float("nan"), None)])
def test_grades_higher_worse(value, grade):
    assert Thresholds("higher_worse", 3, 4, 5, 8).grade(value) == grade


def test_grades_higher_better():
    t = Thresholds("higher_better", 98, 97, 95, 90)
    assert [t.grade(v) for v in (99, 98, 96, 94, 80)] == ["normal", "blue", "yellow", "orange", "red"]
    with pytest.raises(ValueError):
        Thresholds("higher_better", 90, 95, 97, 98)


def test_catalogue_document_is_current():
    from indicators.docs import render
    from settings import ROOT

    assert (ROOT / "docs" / "indicators.md").read_text(encoding="utf-8") == render(), \
        "run: python -m indicators.docs > docs/indicators.md"


@pytest.mark.parametrize("rollups", ["1", "0"])
@pytest.mark.parametrize("by_child", [False, True])
def test_several_periods_in_one_query_equal_one_period_each(demo_db, monkeypatch, caplog, rollups, by_child):
    """Flows of several periods (overlapping, disjoint, a single day, one with no data) from
    one query per source, and stocks of several ends from one query per rollup (ends in any
    order, one before any data), equal each period computed alone, for every indicator,
    from rollups and from raw tables, per region and per child."""
    from queries.indicator_values import compute_periods

    monkeypatch.setenv("JINJIAN_ROLLUPS", rollups)
    periods = [period_to_date(DEMO_END, "month"), Period(DEMO_END - dt.timedelta(days=90), DEMO_END),
               Period(DEMO_END, DEMO_END), Period(dt.date(2025, 2, 1), dt.date(2025, 2, 28)),
               Period(dt.date(2001, 1, 1), dt.date(2001, 1, 31))]
    with caplog.at_level(logging.INFO, logger="store.sql"):
        together = compute_periods(demo_db, INDICATORS, Filter(region=DG), periods, by_child=by_child)
    names = [r.args[0] for r in caplog.records if r.name == "store.sql" and r.msg.startswith("query ")]
    if rollups == "1":  # each stock rollup once for the five ends (warning buckets: once per end)
        for family, per_end in (("entities", 0), ("tasks", 5)):
            ran = [n for n in names if n.startswith(f"indicators_rollup_{family}_")]
            assert sum(n.endswith("_periods") for n in ran) == 1 and len(ran) == 1 + per_end, names
    for period, got in zip(periods, together):
        alone = compute(demo_db, INDICATORS, Filter(region=DG), period, by_child=by_child)
        pd.testing.assert_frame_equal(got, alone, check_exact=False, rtol=1e-9, obj=str(period))
    flows = together[1][together[1]["indicator_id"].isin(["new_registrations", "inspections", "tasks_created"])]
    assert (flows["value"] > 0).any()
