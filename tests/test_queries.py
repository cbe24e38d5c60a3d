"""Query layer against an independent pandas computation over the same rows,
on embedded chDB and on a real ClickHouse server."""
from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from domain.regions import load_region_table
from queries.entities import entity_counts_by_child, entity_totals, registration_flow, registration_flows
from domain.errors import InvalidParameter, RegionNotFound, ScopeViolation
from store.filters import Filter, RegionScope
from queries.regions import region_node
from tests.conftest import DEMO_END

DG = "4419"


def _town(demo_data) -> str:
    return demo_data.entities["grid_code"].str[:9].value_counts().index[0]


def _village(demo_data) -> str:
    return demo_data.entities["grid_code"].str[:12].value_counts().index[0]


def _expected_children(demo_data, region: str, child_codes: list[str], active_only=False) -> pd.Series:
    ent = demo_data.entities
    if active_only:
        ent = ent[ent["status"] == "active"]
    n = len(child_codes[0])
    inside = ent[ent["grid_code"].str.startswith(region)]
    counts = inside["grid_code"].str[:n].value_counts()
    return counts.reindex(child_codes, fill_value=0).astype("int64")


@pytest.mark.parametrize("level", ["national", "province", "city", "town", "village"])
def test_entity_counts_by_child_equal_pandas(demo_db, demo_data, level):
    region = {"national": "", "province": "44", "city": DG, "town": _town(demo_data),
              "village": _village(demo_data)}[level]
    got = entity_counts_by_child(demo_db, Filter(region=region))
    expected = _expected_children(demo_data, region, list(got["child_code"]))
    assert got["entities"].tolist() == expected.tolist()
    assert got["entities"].sum() == demo_data.entities["grid_code"].str.startswith(region).sum()
    if level == "city":  # Dongguan drills straight to its 36 towns
        assert len(got) == 36 and got["child_code"].str.len().eq(9).all()
    if level == "village":  # a village's children are its grids
        grids = demo_data.grids[demo_data.grids["parent"] == region]["code"]
        assert sorted(got["child_code"]) == sorted(grids)


def test_active_counts_and_breakdown(demo_db, demo_data):
    got = entity_counts_by_child(demo_db, Filter(region=DG), active_only=True)
    expected = _expected_children(demo_data, DG, list(got["child_code"]), active_only=True)
    assert got["entities"].tolist() == expected.tolist()
    for by in ("entity_type", "industry", "status", "credit_grade"):
        got = entity_counts_by_child(demo_db, Filter(region=DG), by=by)
        ent = demo_data.entities
        exp = (ent.assign(child_code=ent["grid_code"].str[:9]).groupby(["child_code", by]).size()
               .rename("entities").reset_index().sort_values(["child_code", by]).reset_index(drop=True))
        pd.testing.assert_frame_equal(got[["child_code", by, "entities"]].astype({by: str}),
                                      exp.astype({by: str, "entities": "int64"}), check_dtype=False)


def test_entity_totals(demo_db, demo_data):
    got = entity_totals(demo_db, Filter(region=DG)).set_index(["entity_type", "status"])["entities"]
    exp = demo_data.entities.groupby(["entity_type", "status"]).size()
    assert got.sort_index().to_dict() == {k: int(v) for k, v in exp.sort_index().items()}


@pytest.mark.parametrize("grain", ["day", "week", "month", "quarter", "year"])
def test_registration_flow_equal_pandas(demo_db, demo_data, grain):
    start, end = DEMO_END - dt.timedelta(days=500), DEMO_END
    got = registration_flow(demo_db, Filter(region=DG, start=start, end=end, grain=grain))
    ev = demo_data.events
    ev = ev[(ev["event_date"] >= pd.Timestamp(start)) & (ev["event_date"] <= pd.Timestamp(end))]
    freq = {"day": "D", "week": "W-SUN", "month": "M", "quarter": "Q", "year": "Y"}[grain]
    period = ev["event_date"].dt.to_period(freq).dt.start_time
    for col, kind in (("registered", "registration"), ("cancelled", "cancellation"), ("revoked", "revocation")):
        exp = ev[ev["event_type"] == kind].groupby(period).size()
        series = got.set_index("period")[col]
        assert series.sum() == exp.sum()
        assert (series.reindex(exp.index) == exp).all()
        assert (series.drop(exp.index, errors="ignore") == 0).all()  # zero-filled elsewhere
    # every period present, no gaps
    assert got["period"].is_monotonic_increasing and got["period"].is_unique
    if grain == "day":
        assert len(got) == 501
    assert (got["net"] == got["registered"] - got["cancelled"] - got["revoked"]).all()


def _flow_expected(demo_data, start: dt.date, end: dt.date, grain: str) -> pd.DataFrame:
    """Registrations, cancellations and revocations per period in plain pandas, zero-filled."""
    ev = demo_data.events
    ev = ev[(ev["event_date"] >= pd.Timestamp(start)) & (ev["event_date"] <= pd.Timestamp(end))]
    freq = {"day": "D", "week": "W-SUN", "month": "M", "quarter": "Q", "year": "Y"}[grain]
    first = pd.Timestamp(start).to_period(freq).start_time
    index = pd.period_range(first, pd.Timestamp(end), freq=freq).start_time
    out = pd.DataFrame({"period": index})
    for col, kind in (("registered", "registration"), ("cancelled", "cancellation"), ("revoked", "revocation")):
        rows = ev[ev["event_type"] == kind]
        counts = rows.groupby(rows["event_date"].dt.to_period(freq).dt.start_time).size()
        out[col] = counts.reindex(index, fill_value=0).to_numpy()
    out["net"] = out["registered"] - out["cancelled"] - out["revoked"]
    return out


def test_registration_flows_of_several_windows_equal_pandas(demo_db, demo_data):
    """The wall's and region page's two trend series from one query: each equals pandas
    (including a window with no events at all)."""
    windows = {"daily": ("day", DEMO_END - dt.timedelta(days=29), DEMO_END),
               "monthly": ("month", dt.date(DEMO_END.year - 1, DEMO_END.month, 1), DEMO_END),
               "weekly": ("week", DEMO_END - dt.timedelta(days=60), DEMO_END - dt.timedelta(days=3)),
               "future": ("day", DEMO_END + dt.timedelta(days=400), DEMO_END + dt.timedelta(days=402))}
    got = registration_flows(demo_db, Filter(region=DG), windows)
    assert set(got) == set(windows)
    for name, (grain, start, end) in windows.items():
        exp = _flow_expected(demo_data, start, end, grain)
        have = got[name][["period", "registered", "cancelled", "revoked", "net"]]
        pd.testing.assert_frame_equal(have.reset_index(drop=True), exp, check_dtype=False)
    assert got["monthly"]["registered"].sum() > 0 and got["future"]["registered"].sum() == 0


def test_region_node_and_path(demo_db, demo_data):
    node = region_node(demo_db, DG)
    assert node.name == "东莞市" and node.level == 2
    assert len(node.children) == 36  # the pseudo-county 441900 is skipped
    town = node.children["code"].iloc[0]
    tnode = region_node(demo_db, town)
    assert list(tnode.path["code"]) == ["", "44", DG, town]  # no 441900 in the breadcrumb
    assert list(tnode.path["name"][:3]) == ["全国", "广东省", "东莞市"]
    village = _village(demo_data)
    vnode = region_node(demo_db, village)
    assert vnode.level == 5 and vnode.child_length == 15
    grid = vnode.children["code"].iloc[0]
    gnode = region_node(demo_db, grid)
    assert gnode.level == 6 and gnode.children.empty and gnode.path["code"].iloc[-2] == village
    nat = region_node(demo_db, "")
    assert len(nat.children) == 31


def test_region_node_is_loaded_once_for_callers_at_once(demo_db, monkeypatch):
    """A page's callbacks ask for the same region together: one loads it, the others wait
    for that node instead of each running the region queries again."""
    import threading
    import time
    from collections import Counter
    from concurrent.futures import ThreadPoolExecutor

    from queries import regions as mod

    mod.clear_region_cache()
    calls: Counter = Counter()
    lock, real = threading.Lock(), mod.run

    def counting(db, name, *args, **kwargs):
        with lock:
            calls[name] += 1
        time.sleep(0.05)  # a slow database: the others arrive while the first is loading
        return real(db, name, *args, **kwargs)

    monkeypatch.setattr(mod, "run", counting)
    with ThreadPoolExecutor(6) as pool:
        nodes = list(pool.map(lambda _: region_node(demo_db, DG), range(6)))
    assert calls["region_node"] == 1 and all(n is nodes[0] for n in nodes)
    assert region_node(demo_db, DG) is nodes[0] and calls["region_node"] == 1


def test_region_node_beijing_skips_shixiaqu(demo_db):
    node = region_node(demo_db, "11")
    assert len(node.children) == len(load_region_table("1101").query("level == 3"))
    assert node.children["code"].str.len().eq(6).all()


def test_region_errors(demo_db):
    with pytest.raises(RegionNotFound):
        region_node(demo_db, "449999")
    with pytest.raises(InvalidParameter):
        region_node(demo_db, "44x9")
    with pytest.raises(ScopeViolation):
        region_node(demo_db, "4401", RegionScope("4419"))
    with pytest.raises(ScopeViolation):
        Filter(region="44", scope=RegionScope("4419"))
    with pytest.raises(InvalidParameter):
        Filter(region="44", grain="hour")  # type: ignore[arg-type]
    with pytest.raises(InvalidParameter):
        Filter(region="44", start=dt.date(2026, 2, 1), end=dt.date(2026, 1, 1))


def test_scope_limits_rows(demo_db, demo_data):
    """A town-scoped filter sees only that town's entities."""
    town = _town(demo_data)
    got = entity_counts_by_child(demo_db, Filter(region=town, scope=RegionScope(town)))
    assert got["entities"].sum() == demo_data.entities["grid_code"].str.startswith(town).sum()


def test_engines_return_equal_frames(both_dbs, demo_data):
    flt = Filter(region=DG, start=DEMO_END - dt.timedelta(days=90), end=DEMO_END, grain="week")
    calls = [lambda db: entity_counts_by_child(db, Filter(region=DG)),
             lambda db: entity_counts_by_child(db, Filter(region=DG), by="industry"),
             lambda db: entity_totals(db, Filter(region=_town(demo_data))),
             lambda db: registration_flow(db, flt),
             lambda db: region_node(db, _village(demo_data)).children]
    for call in calls:
        a, b = call(both_dbs["chdb"]), call(both_dbs["server"])
        pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True), check_dtype=False)
