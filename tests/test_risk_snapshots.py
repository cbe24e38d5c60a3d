"""Risk snapshots (queries/risk_snapshots.py): what a snapshot gives equals the live
computation and the pandas oracle; it is used only while it fits (day, rules, region,
freshness); the refresher's rule of when to build; old snapshots are pruned.
Both engines."""
from __future__ import annotations

import datetime as dt
import logging
import math

import pandas as pd
import pytest

from queries import risk_snapshots as rs
from indicators.catalogue import CATALOGUE
from queries.indicator_values import compute
from indicators.periods import Period
from queries import risk as rq
from store.executor import run
from store.filters import Filter
from supervision.risk import RiskRules
from tests.conftest import DEMO_END, DEMO_ROOT
from tests.oracle import oracle_value

RISK = [i for i in CATALOGUE.values() if any(m is not None and m.source == "entity_risk"
                                             for m in (i.numerator, i.denominator))]
DAY = Period(DEMO_END, DEMO_END)


@pytest.fixture
def snapshot(demo_db, monkeypatch):
    """Snapshots on (300 s), one built for the jurisdiction on the demo's last day."""
    monkeypatch.setenv("JINJIAN_RISK_SNAPSHOT_SECONDS", "300")
    rs.clear_cache()
    snap = rs.build(demo_db, DEMO_ROOT, DEMO_END, RiskRules.from_env())
    yield snap
    rs.clear_cache()


def _regions(db) -> list[str]:
    grid = str(run(db, "t", "SELECT min(grid_code) AS g FROM entities WHERE grid_code LIKE '4419%%'")["g"].iloc[0])
    return [DEMO_ROOT, grid[:6], grid[:9], grid[:12]]


def _live(monkeypatch, fn, *args):
    monkeypatch.setenv("JINJIAN_RISK_SNAPSHOT_SECONDS", "0")
    try:
        return fn(*args)
    finally:
        monkeypatch.setenv("JINJIAN_RISK_SNAPSHOT_SECONDS", "300")


@pytest.mark.parametrize("by_child", [False, True])
def test_indicators_from_a_snapshot_equal_live_and_oracle(demo_db, demo_data, snapshot, monkeypatch, caplog,
                                                          by_child) -> None:
    names = []
    with caplog.at_level(logging.INFO, logger="store.sql"):
        for region in _regions(demo_db):
            flt = Filter(region=region)
            seen = len(caplog.records)
            fast = compute(demo_db, RISK, flt, DAY, by_child=by_child)
            names += [r.getMessage() for r in caplog.records[seen:]]
            slow = _live(monkeypatch, compute, demo_db, RISK, flt, DAY, by_child)
            pd.testing.assert_frame_equal(fast, slow, check_exact=False, rtol=1e-9, obj=region)
            if not by_child:
                for ind in RISK:
                    want = oracle_value(demo_data, ind.id, region, DEMO_END, DEMO_END)
                    got = float(fast.set_index("indicator_id").loc[ind.id, "value"])
                    assert math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-9) or (math.isnan(got) and math.isnan(want))
    names = " ".join(names)
    assert "indicators_risk_grades_" in names and "indicators_risk_scores" in names  # both paths ran
    assert "indicators_entity_risk" not in names


def test_risk_screens_from_a_snapshot_equal_live(demo_db, snapshot, monkeypatch) -> None:
    rules = RiskRules.from_env()
    for region in _regions(demo_db):
        flt = Filter(region=region)
        for fn, args in ((rq.grade_distribution, ()), (rq.top_entities, (40,)), (rq.high_risk_points, (500,))):
            fast = fn(demo_db, flt, DEMO_END, rules, *args)
            slow = _live(monkeypatch, fn, demo_db, flt, DEMO_END, rules, *args)
            assert len(fast) > 0 or len(region) == 12, (fn.__name__, region)  # a village may have none
            pd.testing.assert_frame_equal(fast.reset_index(drop=True), slow.reset_index(drop=True),
                                          check_dtype=False, obj=f"{fn.__name__} {region}")
        fast = rq.risk_by_child(demo_db, flt, DEMO_END, rules)
        slow = _live(monkeypatch, rq.risk_by_child, demo_db, flt, DEMO_END, rules)
        cols = ["region_code", "entities", "high", "high_share", "grade"]
        pd.testing.assert_frame_equal(fast[cols], slow[cols], check_dtype=False, obj=f"risk_by_child {region}")
        assert ((fast["avg_score"] - slow["avg_score"]).abs().fillna(0) < 0.005).all()  # hundredths
    top = rq.top_entities(demo_db, Filter(region=DEMO_ROOT), DEMO_END, rules, 1)
    code = top["credit_code"].iloc[0]
    assert rq.entity_risk(demo_db, Filter(region=DEMO_ROOT), DEMO_END, rules, code) == \
        _live(monkeypatch, rq.entity_risk, demo_db, Filter(region=DEMO_ROOT), DEMO_END, rules, code)


def test_a_snapshot_is_used_only_where_it_fits(demo_db, snapshot, monkeypatch) -> None:
    rules = RiskRules.from_env()
    assert rs.usable(demo_db, "441900003", DEMO_END, rules) == rs.usable(demo_db, DEMO_ROOT, DEMO_END, rules)
    assert rs.usable(demo_db, DEMO_ROOT, DEMO_END, rules).id == snapshot.id
    assert rs.usable(demo_db, "44", DEMO_END, rules) is None            # wider than the snapshot's root
    assert rs.usable(demo_db, "4401", DEMO_END, rules) is None          # elsewhere
    assert rs.usable(demo_db, DEMO_ROOT, DEMO_END - dt.timedelta(days=1), rules) is None  # another day
    monkeypatch.setenv("JINJIAN_RISK_GRADES", "10,30,60")
    assert rs.usable(demo_db, DEMO_ROOT, DEMO_END, RiskRules.from_env()) is None  # other thresholds
    monkeypatch.delenv("JINJIAN_RISK_GRADES")
    monkeypatch.setenv("JINJIAN_RISK_SNAPSHOT_SECONDS", "0")
    assert rs.usable(demo_db, DEMO_ROOT, DEMO_END, rules) is None       # snapshots off
    # Data loaded since: still read (the refresher replaces it; screens show its time).
    import store.versions as batch

    monkeypatch.setattr(batch, "data_version", lambda db, max_age=0.5: snapshot.data_version + 1)
    monkeypatch.setenv("JINJIAN_RISK_SNAPSHOT_SECONDS", "300")
    assert rs.usable(demo_db, DEMO_ROOT, DEMO_END, rules).id == snapshot.id


def test_tomorrow_is_built_ahead_late_in_the_evening() -> None:
    day = dt.date(2026, 12, 31)
    assert rs.days_to_build(dt.datetime(2026, 12, 31, 23, 39)) == [day]
    assert rs.days_to_build(dt.datetime(2026, 12, 31, 23, 40)) == [day, dt.date(2027, 1, 1)]
    assert rs.days_to_build(dt.datetime(2027, 1, 1, 0, 0)) == [dt.date(2027, 1, 1)]


def test_when_the_refresher_builds(demo_db, snapshot, monkeypatch) -> None:
    import store.versions as batch

    rules = RiskRules.from_env()
    assert not rs.due(demo_db, DEMO_ROOT, DEMO_END, rules)                        # current
    assert rs.due(demo_db, DEMO_ROOT, DEMO_END + dt.timedelta(days=1), rules)     # a new day
    assert rs.due(demo_db, "441900003", DEMO_END, rules)                          # another root
    monkeypatch.setattr(batch, "data_version", lambda db, max_age=0.5: snapshot.data_version + 1)
    assert not rs.due(demo_db, DEMO_ROOT, DEMO_END, rules)                        # data changed, interval not over
    later = snapshot.id / 1000 + 301
    assert rs.due(demo_db, DEMO_ROOT, DEMO_END, rules, now=later)
    # Another process building: wait for it (until its lease runs out).
    rs._mark(demo_db, int(later * 1000), DEMO_ROOT, DEMO_END, rules, 0, "building", dt.datetime.now())
    rs.clear_cache()
    assert not rs.due(demo_db, DEMO_ROOT, DEMO_END, rules, now=later + 1)
    assert rs.due(demo_db, DEMO_ROOT, DEMO_END, rules, now=later + rs.BUILD_LEASE_S + 1)
    rs._mark(demo_db, int(later * 1000), DEMO_ROOT, DEMO_END, rules, 0, "failed", dt.datetime.now())
    rs.clear_cache()


def test_old_snapshots_are_pruned(demo_db, snapshot) -> None:
    rules = RiskRules.from_env()
    ids = [snapshot.id] + [rs.build(demo_db, DEMO_ROOT, DEMO_END, rules).id for _ in range(2)]
    kept = set(run(demo_db, "t", "SELECT DISTINCT snapshot_id FROM risk_scores")["snapshot_id"].astype(int))
    assert kept == set(ids[-rs.KEEP:])
    assert set(run(demo_db, "t", "SELECT DISTINCT snapshot_id FROM risk_grades")["snapshot_id"].astype(int)) == kept
    assert rs.usable(demo_db, DEMO_ROOT, DEMO_END, rules).id == ids[-1]


def test_the_risk_page_says_when_scores_were_computed(flask_server, dongguan, snapshot, monkeypatch) -> None:
    from pages import risk as page

    note = page.refresh_summary(DEMO_ROOT, DEMO_END.isoformat())[-1]
    stored = rs.usable(dongguan, DEMO_ROOT, DEMO_END, RiskRules.from_env())
    assert stored.id == snapshot.id and "风险评分快照" in note and f"{stored.finished:%m-%d %H:%M}" in note
    monkeypatch.setenv("JINJIAN_RISK_SNAPSHOT_SECONDS", "0")
    assert page.refresh_summary(DEMO_ROOT, DEMO_END.isoformat())[-1].endswith("评分实时计算")


def test_pruning_spares_a_snapshot_another_process_is_finishing(demo_db, snapshot) -> None:
    """Scores of a build under way (a fresh ``building`` row) survive another build's
    pruning; once its lease has run out they do not."""
    rules = RiskRules.from_env()
    sid = snapshot.id - 1  # older than every done one
    demo_db.insert("risk_scores", pd.DataFrame({"snapshot_id": [sid], "credit_code": ["X"],
                                                "grid_code": ["441900003001001"]}))
    rs._mark(demo_db, sid, DEMO_ROOT, DEMO_END, rules, 0, "building", dt.datetime.now())
    rs.build(demo_db, DEMO_ROOT, DEMO_END, rules)
    ids = set(run(demo_db, "t", "SELECT DISTINCT snapshot_id FROM risk_scores")["snapshot_id"].astype(int))
    assert sid in ids
    rs._mark(demo_db, sid, DEMO_ROOT, DEMO_END, rules, 0, "failed", dt.datetime.now())
    rs.clear_cache()
    rs.prune(demo_db)
    ids = set(run(demo_db, "t", "SELECT DISTINCT snapshot_id FROM risk_scores")["snapshot_id"].astype(int))
    assert sid not in ids
