"""Demo data: deterministic, valid, realistic, and loaded completely."""
from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from domain import uscc
from etl.demo import DemoConfig
from etl.demo_build import build
from domain.regions import load_region_table
from store.executor import run
from tests.conftest import DEMO_END, DEMO_ENTITIES, DEMO_ROOT, DEMO_SEED


def _small(seed: int) -> DemoConfig:
    return DemoConfig(root="441900003", entities=500, days=400, seed=seed, end_date=DEMO_END)


def test_same_seed_same_data():
    a, b = build(_small(1)), build(_small(1))
    for name, df in a.tables().items():
        pd.testing.assert_frame_equal(df, b.tables()[name], obj=name)


def test_other_seed_other_data():
    a, b = build(_small(1)), build(_small(2))
    assert not a.entities["credit_code"].equals(b.entities["credit_code"])


def test_credit_codes_valid_and_unique(demo_data):
    codes = demo_data.entities["credit_code"]
    assert codes.is_unique
    assert all(uscc.is_valid(c) for c in codes)
    # the division part names the entity's county (Dongguan: the pseudo-county 441900)
    assert (codes.str[2:8] == "441900").all()


def test_owner_ids_only_for_individual_businesses(demo_data):
    ent = demo_data.entities
    assert (ent.loc[ent["entity_type"] == "individual", "owner_id"].str.len() == 18).all()
    assert (ent.loc[ent["entity_type"] != "individual", "owner_id"] == "").all()


def test_dongguan_grids_and_workers(demo_data):
    """The source documents cite 2,952 grids and 9,550 grid workers for Dongguan."""
    villages = load_region_table(DEMO_ROOT).query("level == 5")
    assert len(villages) == 609
    assert set(demo_data.grids["parent"]) == set(villages["code"])  # every village has grids
    assert 2_700 <= len(demo_data.grids) <= 3_300
    assert 8_600 <= len(demo_data.grid_workers) <= 10_500
    assert demo_data.grids["code"].str.len().eq(15).all()
    assert (demo_data.grids["code"].str[:12] == demo_data.grids["parent"]).all()


def test_every_dongguan_unit_holds_entities(demo_data):
    tree = load_region_table(DEMO_ROOT)
    towns, villages = tree.query("level == 4")["code"], tree.query("level == 5")["code"]
    assert len(towns) == 36
    grid_codes = demo_data.entities["grid_code"]
    assert set(towns) <= set(grid_codes.str[:9])
    assert set(villages) <= set(grid_codes.str[:12])
    assert set(demo_data.grids["code"]) <= set(grid_codes)


def test_mixes_are_realistic(demo_data):
    ent = demo_data.entities
    share = ent["entity_type"].value_counts(normalize=True)
    assert 0.55 < share["individual"] < 0.70 and 0.28 < share["enterprise"] < 0.42
    assert set(ent["status"]) == {"active", "cancelled", "revoked"}
    assert ent["industry"].nunique() >= 15
    ev = demo_data.events
    assert set(ev["event_type"]) >= {"registration", "change", "cancellation", "licence", "penalty",
                                     "complaint", "inspection", "sampling", "list_entry"}
    # two years of history: registrations in each of the last 24 months
    months = ev.loc[ev["event_type"] == "registration", "event_date"].dt.to_period("M").unique()
    assert len(months) >= 25
    # sampling batches shared across entities
    batches = ev.loc[ev["event_type"] == "sampling"].groupby("batch_no")["credit_code"].nunique()
    assert (batches > 1).any()


def test_events_consistent_with_entities(demo_data):
    ent = demo_data.entities.set_index("credit_code")
    reg = demo_data.events[demo_data.events["event_type"] == "registration"]
    assert (ent.loc[reg["credit_code"], "reg_date"].to_numpy() == reg["event_date"].to_numpy()).all()
    start = pd.Timestamp(DEMO_END - dt.timedelta(days=799))
    in_window = ent[(ent["reg_date"] >= start)]
    assert len(reg) == len(in_window)
    assert demo_data.events["event_id"].is_unique
    assert demo_data.events["event_date"].max() <= pd.Timestamp(DEMO_END)


def test_tasks_have_deadlines_and_late_ones(demo_data):
    tasks = demo_data.tasks
    verify = tasks[tasks["task_type"] == "verify_registration"]
    assert len(verify) == (demo_data.events["event_type"] == "registration").sum()
    assert (tasks["due_date"] > tasks["created_at"].dt.normalize()).all()
    open_overdue = tasks[(tasks["status"] != "closed") & (tasks["due_date"] < pd.Timestamp(DEMO_END))]
    assert len(open_overdue) > 0
    late_closed = tasks[(tasks["status"] == "closed") & (tasks["closed_at"].dt.normalize() > tasks["due_date"])]
    assert len(late_closed) > 0
    # pushed after the triggering event: within one hour but for the demo's late feeds (≤ 20 days)
    ev = demo_data.events.set_index("event_id")
    first = verify.assign(eid=verify["task_id"].str[1:].astype(int))
    lag = first["created_at"].to_numpy() - ev.loc[first["eid"], "event_time"].to_numpy()
    assert (lag > np.timedelta64(0, "s")).all() and (lag <= np.timedelta64(21, "D")).all()
    assert 0.005 < (lag > np.timedelta64(3600, "s")).mean() < 0.05  # registrations: 2 % late
    assert set(demo_data.task_events["task_id"]) == set(tasks["task_id"])


def test_coordinates_inside_region(demo_data):
    ent = demo_data.entities
    assert ent["lon"].between(113.5, 114.3).all() and ent["lat"].between(22.6, 23.2).all()


def test_all_rows_loaded(demo_db, demo_data):
    for table, df in demo_data.tables().items():
        where = " WHERE level = 6" if table == "regions" else ""
        n = int(run(demo_db, "t_count", f"SELECT count() AS n FROM {table}{where}")["n"].iloc[0])
        assert n == len(df), table


def test_whole_default_scale_parameters():
    cfg = DemoConfig()
    assert cfg.root == "44" and cfg.days >= 730 and cfg.entities >= 100_000
    assert DEMO_ENTITIES < cfg.entities and DEMO_SEED != cfg.seed


@pytest.mark.parametrize("bad", ["4x", "99"])
def test_bad_root(bad):
    with pytest.raises(Exception) as err:
        build(DemoConfig(root=bad, entities=10, days=30, end_date=DEMO_END))
    assert bad in str(err.value)


def test_demo_generated_midday_ends_at_that_moment():
    """Generated at 11:05, the demo's last day stops at 11:05: no event, task event or push
    after it; entities registered later that day do not exist yet (nor their events), and a
    cancellation still to come leaves the entity active. The same seed generated at the end
    of the day has those later events — the part before 11:05 is the same day."""
    whole = build(DemoConfig(root="441900003", entities=6000, days=400, seed=5, end_date=DEMO_END))
    cfg = DemoConfig(root="441900003", entities=6000, days=400, seed=5, end_date=DEMO_END,
                     end_time=dt.time(11, 5))
    part = build(cfg)
    until = pd.Timestamp(dt.datetime.combine(DEMO_END, dt.time(11, 5)))
    assert part.events["event_time"].max() <= until
    assert part.task_events["event_time"].max() <= until
    assert part.tasks["created_at"].max() <= until
    assert (part.tasks["closed_at"].dropna() <= until).all()
    later = whole.events[whole.events["event_time"] > until]
    assert len(later) > 0  # the full day has events after 11:05 (else this test proves nothing)
    unborn = set(later.loc[later["event_type"] == "registration", "credit_code"])
    assert unborn and not unborn & set(part.entities["credit_code"])
    assert set(part.events["credit_code"]) <= set(part.entities["credit_code"])
    assert set(part.task_events["task_id"]) == set(part.tasks["task_id"])
    # Events up to 11:05 are the full day's, minus those of the entities not yet registered.
    before = whole.events[(whole.events["event_time"] <= until) & ~whole.events["credit_code"].isin(unborn)]
    cols = ["event_time", "event_type", "credit_code"]
    pd.testing.assert_frame_equal(before[cols].reset_index(drop=True), part.events[cols].reset_index(drop=True))
    assert (part.events["event_id"].to_numpy() == np.arange(1, len(part.events) + 1)).all()
    # An entity whose cancellation is after 11:05 is still active, with no end date.
    ending = set(later.loc[later["event_type"].isin(["cancellation", "revocation"]), "credit_code"]) - unborn
    still = part.entities[part.entities["credit_code"].isin(ending)]
    assert len(still) == len(ending) and (still["status"] == "active").all() and still["status_date"].isna().all()
    # A task's stage that would end after 11:05 is still open: every task's state is its last event's.
    last = part.task_events.sort_values("event_time").groupby("task_id")["status"].last()
    assert (part.tasks.set_index("task_id")["status"] == last.reindex(part.tasks["task_id"]).to_numpy()).all()


def test_demo_end_date_in_the_future_is_refused(tmp_path):
    import subprocess
    import sys

    tomorrow = dt.date.today() + dt.timedelta(days=1)
    env = {**__import__("os").environ, "JINJIAN_DATA_DIR": str(tmp_path), "JINJIAN_CLICKHOUSE_URL": ""}
    out = subprocess.run([sys.executable, "-m", "etl", "demo", "--entities", "10", "--end-date", tomorrow.isoformat()],
                         capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 2 and "lies in the future" in out.stderr
