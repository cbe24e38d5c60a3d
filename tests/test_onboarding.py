"""Onboarding a real jurisdiction end to end (issue #19), on embedded chDB and on the
test ClickHouse server: a blank database (schema + NBS tree) → readiness says what is
missing and a registration file is rejected with ``unknown_grid`` → grids of two towns of
Dongguan from GeoJSON (one broken and one misplaced polygon), a GBK CSV with WKT and a
zipped Shapefile → village boundaries, grid workers, departments → ~200 registrations in
two batches, whose verification tasks go to the grid and the town's market regulator.

Every figure (tasks, region tree, maps, API values, region and task page callbacks, the
wall) is compared with a pandas computation over the input files; the last test loads
a second version of a grid file (one grid removed, one renamed) and checks nothing is lost.
"""
from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest
import shapely
from dash import html
from shapely.affinity import translate

from etl.readiness import check as readiness
from store import db as dbmod
from domain.errors import RegionNotFound
from store.executor import run
from queries.geo import children_features
from queries.regions import region_node
from supervision.rules import FIRST_STAGE
from tests.pagekit import ids as _ids
from tests.refkit import (blank_db, boundaries_geojson, departments_csv, forget_caches, grids_csv,
                          grids_geojson, grids_shapefile_zip, ingestor, make_grids, ref_loader, registrations_csv,
                          villages_of, workers_csv)

DG = "4419"
A, B = "441900003", "441900004"  # 东城街道 (GeoJSON), 南城街道 (GBK CSV + Shapefile)
INDS = ("entity_stock", "new_registrations", "tasks_open")
FIRST = FIRST_STAGE["verify_registration"]  # (status, deadline key) of a new verification task


def _depts() -> list[dict]:
    rows = [{"部门编码": "4419-SJ", "部门名称": "东莞市市场监督管理局", "所属区划代码": DG, "部门类型": "市场监管",
             "审批行业": "H,F,C"},
            {"部门编码": "4419-WJ", "部门名称": "东莞市卫生健康局", "所属区划代码": DG, "部门类型": "审批部门",
             "审批行业": "Q"}]
    for town, zh in ((A, "东城街道"), (B, "南城街道")):
        rows += [{"部门编码": f"{town}-SJS", "部门名称": f"{zh}市场监管所", "所属区划代码": town, "部门类型": "市场监管"},
                 {"部门编码": f"{town}-ZZB", "部门名称": f"{zh}综治办", "所属区划代码": town, "部门类型": "综治办"}]
    return rows


def _finding(findings, word: str):
    return next(f for f in findings if word in f.zh)


class Onboarded:
    """What the module fixture did, with the inputs (the oracle's only source)."""


def _onboard(kind: str, request, tmp) -> Onboarded:
    ob = Onboarded()
    ob.kind, ob.today = kind, dt.date.today()
    ob.db = db = blank_db(kind, request, "test_onboard")
    loader, ing = ref_loader(db, tmp), ingestor(db, tmp)
    # 1. nothing but the region tree
    ob.ready_before = readiness(db, DG, users=[])
    early, ob.early_frame = registrations_csv([f"{villages_of(A)[0]}001", f"{villages_of(B)[0]}001"], 6, seed=5,
                                              start=ob.today - dt.timedelta(days=3))
    ob.early = ing.ingest_bytes("registration", early, file_name="早到的登记.csv", scope=DG)
    ob.entities_after_early = int(run(db, "t", "SELECT count() AS n FROM entities")["n"].iloc[0])
    # 2. grids: town A from GeoJSON with a broken and a misplaced polygon; town B half CSV, half Shapefile
    ga, gb = make_grids(A, 3, 3), make_grids(B, 2, 3)
    va = list(ga["village"].unique())
    ob.broken, ob.outside = va[0] + "008", va[1] + "009"
    extra = [{"type": "Feature", "geometry": {"type": "LineString", "coordinates": [[113.75, 23.0], [113.76, 23.01]]},
              "properties": {"网格编码": ob.broken, "网格名称": "断线网格", "村居编码": va[0]}},
             {"type": "Feature", "geometry": shapely.geometry.mapping(translate(ga["geometry"].iloc[3], yoff=0.5)),
              "properties": {"网格编码": ob.outside, "网格名称": "错位网格", "村居编码": va[1]}}]
    ob.res_a = loader.load_bytes("grids", grids_geojson(ga, extra=extra), file_name="东城街道网格.geojson", scope=A)
    # A file replaces every grid of its region, so each half of town B names its own village as
    # the region (with the town as region for both, the second file would remove the first's grids).
    vb = list(gb["village"].unique())
    gb1, gb2 = gb[gb["village"] == vb[0]], gb[gb["village"] == vb[1]]
    ob.res_b1 = loader.load_bytes("grids", grids_csv(gb1, "gbk", "wkt"), file_name="南城网格一.csv", scope=vb[0])
    ob.res_b2 = loader.load_bytes("grids", grids_shapefile_zip(gb2), file_name="南城网格二.zip", scope=vb[1])
    ob.grids = pd.concat([ga, gb], ignore_index=True)
    from domain.boundaries import region_polygon

    ob.village_shapes = {v: region_polygon(v)[0] for v in villages_of(A)}
    ob.res_bound = loader.load_bytes("boundaries_village", boundaries_geojson(ob.village_shapes),
                                     file_name="东城村居边界.geojson", scope=A)
    workers = [{"网格员编号": f"W{i:03d}", "姓名": f"网格员{i}", "手机号码": f"138{i:08d}", "网格编码": c}
               for i, c in enumerate(ob.grids["code"])]
    ob.res_workers = loader.load_bytes("grid_workers", workers_csv(workers), file_name="网格员.csv")
    ob.depts = pd.DataFrame(_depts())
    ob.res_depts = loader.load_bytes("departments", departments_csv(_depts()), file_name="部门名录.csv")
    # 3. registrations over the loaded grids, the last 30 days, two batches
    codes = list(ob.grids["code"])
    start = ob.today - dt.timedelta(days=29)
    f1, r1 = registrations_csv(codes, 120, seed=11, start=start)
    f2, r2 = registrations_csv(codes[::-1], 80, seed=12, start=start)
    ob.batches = [ing.ingest_bytes("registration", f, file_name=f"登记{i}.csv", scope=DG)
                  for i, f in enumerate((f1, f2), 1)]
    ob.regs = pd.concat([r1, r2], ignore_index=True).rename(columns={
        "统一社会信用代码": "credit_code", "网格编码": "grid_code", "成立日期": "reg_date", "名称": "name"})
    ob.regs["reg_date"] = pd.to_datetime(ob.regs["reg_date"])
    ob.ready_after = readiness(db, DG, users=[])
    ob.loader, ob.ga = loader, ga
    return ob


@pytest.fixture(scope="module", params=["chdb", "server"])
def ob(request, tmp_path_factory):
    yield _onboard(request.param, request, tmp_path_factory.mktemp(f"onboard-{request.param}"))
    forget_caches()  # no loaded boundaries or grid caches of this database leak into later modules


@pytest.fixture
def served(ob, monkeypatch, flask_server):
    monkeypatch.setenv("JINJIAN_ROOT_REGION", DG)
    dbmod.set_db(ob.db)
    try:
        yield flask_server.test_client()
    finally:
        dbmod.set_db(None)


def _count(regs: pd.DataFrame, prefixes, since: pd.Timestamp | None = None) -> dict[str, int]:
    """Registrations (= entities = open tasks) per region prefix, pandas only."""
    if since is not None:
        regs = regs[regs["reg_date"] >= since]
    return {p: int(regs["grid_code"].str.startswith(p).sum()) for p in prefixes}


def _get(client, url: str) -> dict:
    resp = client.get(url)
    assert resp.status_code == 200, (url, resp.get_data(as_text=True)[:300])
    return json.loads(resp.get_data(as_text=True))


# ----------------------------------------------------------------------------- 1. a blank database
def test_blank_database_says_what_is_missing_and_rejects_registrations(ob):
    assert _finding(ob.ready_before, "网格").severity == "missing"
    assert _finding(ob.ready_before, "部门").severity == "missing"
    res, n = ob.early, len(ob.early_frame)
    assert (res.state, res.rows_in, res.rows_loaded, res.rows_rejected) == ("loaded", n, 0, n)
    assert {p.code for p in res.problems} == {"unknown_grid"} and len(res.problems) == n
    assert sorted(p.row_no for p in res.problems) == list(range(2, n + 2))  # CSV rows after the header
    assert all(g in p.reason for p, g in zip(sorted(res.problems, key=lambda p: p.row_no),
                                             ob.early_frame["网格编码"]))
    assert res.report is not None and res.report.exists()
    assert ob.entities_after_early == 0


# ----------------------------------------------------------------------------- 2. reference files
def test_reference_files_outcomes(ob):
    ga = ob.ga
    a = ob.res_a
    assert (a.state, a.rows_in, a.rows_loaded, a.rows_rejected, a.region) == ("loaded", len(ga) + 2, len(ga), 2, A)
    by_row = {p.row_no: p.code for p in a.problems}
    assert by_row == {len(ga) + 1: "bad_geometry", len(ga) + 2: "outside_parent"}, a.problems
    assert a.report is not None and {f["properties"]["网格编码"] for f in json.loads(
        a.report.read_text("utf-8"))["features"]} == {ob.broken, ob.outside}
    for res, n in ((ob.res_b1, 3), (ob.res_b2, 3)):
        assert (res.state, res.rows_loaded, res.rows_rejected, res.removed) == ("loaded", n, 0, []), res.problems
    assert ob.loader.state(ob.res_b1.batch_id)["encoding"] in ("gbk", "gb18030")
    assert ob.loader.state(ob.res_b2.batch_id)["encoding"] in ("gbk", "gb18030")
    assert (ob.res_bound.state, ob.res_bound.rows_loaded, ob.res_bound.rows_rejected) == \
        ("loaded", len(ob.village_shapes), 0), ob.res_bound.problems
    assert (ob.res_workers.rows_loaded, ob.res_workers.rows_rejected) == (len(ob.grids), 0), ob.res_workers.problems
    assert (ob.res_depts.rows_loaded, ob.res_depts.rows_rejected) == (len(ob.depts), 0), ob.res_depts.problems
    assert _finding(ob.ready_after, "网格 ").severity == "warning"  # covers few villages, but present
    assert _finding(ob.ready_after, "部门 ").severity == "ok"
    assert not any(f.severity == "missing" and ("网格" in f.zh or "部门" in f.zh) for f in ob.ready_after)
    got = run(ob.db, "t", "SELECT dept_id, name, region_code, toString(kind) AS kind, industries FROM departments "
              "ORDER BY dept_id")
    want = ob.depts.sort_values("部门编码")
    assert list(got["dept_id"]) == list(want["部门编码"]) and list(got["name"]) == list(want["部门名称"])
    assert {d: set(filter(None, i.split(","))) for d, i in zip(got["dept_id"], got["industries"])} == {
        r["部门编码"]: set(filter(None, r.get("审批行业", "").split(","))) for r in _depts()}


# ----------------------------------------------------------------------------- 3. registrations and tasks
def test_every_registration_loaded_and_task_routed(ob):
    assert [(b.state, b.rows_loaded, b.rows_rejected) for b in ob.batches] == [("loaded", 120, 0), ("loaded", 80, 0)]
    regs = ob.regs.set_index("credit_code")
    ent = run(ob.db, "t", "SELECT credit_code, grid_code, reg_date, toString(status) AS status FROM entities")
    assert len(ent) == len(regs) and set(ent["credit_code"]) == set(regs.index)
    ent = ent.set_index("credit_code")
    assert (ent["grid_code"] == regs["grid_code"].reindex(ent.index)).all()
    assert (pd.to_datetime(ent["reg_date"]) == regs["reg_date"].reindex(ent.index)).all()
    tasks = run(ob.db, "t", "SELECT credit_code, grid_code, dept_id, task_type, toString(status) AS status FROM tasks")
    assert len(tasks) == len(regs) and tasks["credit_code"].is_unique
    tasks = tasks.set_index("credit_code").reindex(regs.index)
    assert (tasks["task_type"] == "verify_registration").all()
    assert (tasks["grid_code"] == regs["grid_code"]).all()
    want_dept = regs["grid_code"].str[:9] + "-SJS"  # the town's 市场监管所 in the departments file
    assert (tasks["dept_id"] == want_dept).all(), tasks.loc[tasks["dept_id"] != want_dept, "dept_id"].head()
    assert not any(b.warnings for b in ob.batches)  # no "task without a department" warning


# ----------------------------------------------------------------------------- region tree and maps
def test_region_tree_holds_exactly_the_loaded_grids(ob):
    from domain.regions import load_region_table

    db = ob.db
    towns = region_node(db, DG).children
    assert {A, B} <= set(towns["code"]) and len(towns) == 36
    tree = load_region_table(DG)
    for town in (A, B):
        kids = region_node(db, town).children
        want = tree[(tree["level"] == 5) & tree["code"].str.startswith(town)]
        assert list(kids["code"]) == sorted(want["code"]) and list(kids["name"]) == list(want.sort_values("code")["name"])
    for village, grids in ob.grids.groupby("village"):
        kids = region_node(db, village).children
        assert list(kids["code"]) == sorted(grids["code"]), village
        assert dict(zip(kids["code"], kids["name"])) == dict(zip(grids["code"], grids["name"]))
        assert set(kids["level"]) == {6}
    for code in (ob.broken, ob.outside):
        with pytest.raises(RegionNotFound):
            region_node(db, code)
    n = int(run(db, "t", "SELECT count() AS n FROM regions WHERE level = 6")["n"].iloc[0])
    assert n == len(ob.grids)


def _same_vertices(got, want, tol: float = 1e-5) -> bool:
    """The same vertices, each within ``tol`` degrees (the map rounds to 1e-5°)."""
    g, w = (np.unique(shapely.get_coordinates(x), axis=0) for x in (got, want))
    d = np.abs(g[:, None, :] - w[None, :, :]).max(axis=2)
    return len(g) == len(w) and d.min(axis=1).max() <= tol and d.min(axis=0).max() <= tol


def test_maps_show_the_loaded_polygons(ob):
    for village, grids in ob.grids.groupby("village"):
        fc = children_features(ob.db, village)
        feats = {f["properties"]["code"]: f for f in fc["features"]}
        assert set(feats) == set(grids["code"]) and fc["missing"] == []
        for r in grids.itertuples(index=False):
            f = feats[r.code]
            assert f["properties"]["schematic"] is False and f["properties"]["name"] == r.name
            got = shapely.geometry.shape(f["geometry"])
            assert _same_vertices(got, r.geometry), (r.code, f["geometry"], r.geometry.wkt)
            assert shapely.hausdorff_distance(got, r.geometry) < 1e-5
    a = children_features(ob.db, A)["features"]
    assert {f["properties"]["code"] for f in a} == set(ob.village_shapes)
    assert all(f["properties"]["schematic"] is False for f in a)
    for f in a:
        assert shapely.hausdorff_distance(shapely.geometry.shape(f["geometry"]),
                                          ob.village_shapes[f["properties"]["code"]]) < 2e-4
    b = children_features(ob.db, B)["features"]
    assert b and all(f["properties"]["schematic"] is True for f in b)


# ----------------------------------------------------------------------------- API, pages, wall
def _api_values(client, ind: str, region: str, day: str) -> dict[str, float]:
    body = _get(client, f"/api/v1/indicators/{ind}/values?region={region}&date={day}&grain=month&children=true")
    return {i["region_code"]: i["value"] for i in body["items"]}


def test_api_figures_equal_pandas(ob, served):
    day, month = ob.today.isoformat(), pd.Timestamp(ob.today.replace(day=1))
    levels = {DG: list(region_node(ob.db, DG).children["code"]), A: villages_of(A), B: villages_of(B)}
    levels.update({v: sorted(g["code"]) for v, g in ob.grids.groupby("village")})
    for parent, kids in levels.items():
        stock = _count(ob.regs, kids)
        assert _api_values(served, "entity_stock", parent, day) == stock, parent
        assert _api_values(served, "tasks_open", parent, day) == stock, parent
        assert _api_values(served, "new_registrations", parent, day) == _count(ob.regs, kids, since=month), parent
    assert sum(_api_values(served, "entity_stock", DG, day).values()) == len(ob.regs)
    for grid, n in ob.regs["grid_code"].value_counts().items():
        body = _get(served, f"/api/v1/entities?region={grid}&page_size=500")
        assert body["total"] == n and {i["credit_code"] for i in body["items"]} == set(
            ob.regs.loc[ob.regs["grid_code"] == grid, "credit_code"])
    village = ob.grids["village"].iloc[0]
    body = _get(served, f"/api/v1/regions/{village}")
    want = ob.grids[ob.grids["village"] == village]
    assert {c["code"]: c["name"] for c in body["children"]} == dict(zip(want["code"], want["name"]))


@pytest.fixture
def pages(served):
    from app import create_app

    create_app()
    from pages import region, tasks
    return region, tasks


def test_region_page_drills_to_village_and_grid(ob, pages):
    region, _ = pages
    day, month = ob.today.isoformat(), pd.Timestamp(ob.today.replace(day=1))
    for village, grids in ob.grids.groupby("village"):
        rows, _cols, _csv, note = region.refresh_table(village, day, "month", list(INDS))
        assert note == "" and [r["code"] for r in rows] == sorted(grids["code"])
        stock = _count(ob.regs, grids["code"])
        assert {r["code"]: r["entity_stock"] for r in rows} == stock
        assert {r["code"]: r["tasks_open"] for r in rows} == stock
        assert {r["code"]: r["new_registrations"] for r in rows} == _count(ob.regs, grids["code"], since=month)
        assert {r["code"]: r["name"] for r in rows} == dict(zip(grids["code"], grids["name"]))
    grid = ob.grids.iloc[4]
    rows, _cols, _csv, note = region.refresh_table(grid["code"], day, "month", list(INDS))
    assert rows == [] and note == "网格为最小单元，无下级区域"
    out = region.refresh(grid["code"], day, "month")
    assert out[0] == grid["name"] and [p["code"] for p in out[2]][-2:] == [grid["village"], grid["code"]]
    cards = {ind: html.Div(c) for (_cid, ind, _l), c in zip(region.CARDS, out[6:6 + len(region.CARDS)])}
    n = _count(ob.regs, [grid["code"]])[grid["code"]]
    for cid, ind in (("region-card-stock", "entity_stock"), ("region-card-open", "tasks_open")):
        value = _ids(cards[ind])[f"{cid}-value"].to_plotly_json()["props"]["data-value"]
        assert value == f"{n:,}", (ind, value)


def _open_card(cards) -> str:
    from components.task_views import SUMMARY_CARDS

    cid = next(cid for cid, key, _l in SUMMARY_CARDS if key == "open")
    card = next(c for (i, _k, _l), c in zip(SUMMARY_CARDS, cards) if i == cid)
    return _ids(html.Div(card))[f"{cid}-value"].to_plotly_json()["props"]["data-value"]


def test_tasks_page_shows_the_pushed_tasks(ob, pages):
    from components.task_views import SUMMARY_CARDS

    _, tasks = pages
    n_cards, day = len(SUMMARY_CARDS), ob.today.isoformat()
    names = dict(zip(ob.depts["部门编码"], ob.depts["部门名称"]))
    gnames = dict(zip(ob.grids["code"], ob.grids["name"]))
    for region in (DG, A, B, ob.grids["village"].iloc[0]):
        want = ob.regs[ob.regs["grid_code"].str.startswith(region)]
        out = tasks.refresh(region, day, None, None, "open", None)
        assert out[n_cards + 5] == "banner hidden", out[n_cards + 4]
        rows = out[n_cards + 1]
        assert _open_card(out[:n_cards]) == f"{len(want):,}"
        assert sorted(r["credit_code"] for r in rows) == sorted(want["credit_code"])
        by = {r["credit_code"]: r for r in rows}
        for reg in want.itertuples(index=False):
            r = by[reg.credit_code]
            assert r["grid"] == f"{gnames[reg.grid_code]}（{reg.grid_code}）", r["grid"]
            assert (r["dept_id"], r["dept"]) == (reg.grid_code[:9] + "-SJS", names[reg.grid_code[:9] + "-SJS"])
            assert (r["task_type"], r["type_zh"], r["status"]) == ("verify_registration", "新设登记核查", FIRST[0])
    options = tasks.dept_choices(A, None, None)
    assert {o["value"] for o in options} == {"4419-SJ", "4419-WJ", f"{A}-SJS", f"{A}-ZZB"}


def test_tasks_page_filters_by_a_loaded_department(ob, pages):
    """The department ids are the locality's own (the departments file allows any id of
    letters, digits and -_/.#): filtering the task page by one must work."""
    from components.task_views import SUMMARY_CARDS

    _, tasks = pages
    n_cards, day = len(SUMMARY_CARDS), ob.today.isoformat()
    for town in (A, B):
        want = ob.regs[ob.regs["grid_code"].str.startswith(town)]
        out = tasks.refresh(town, day, f"{town}-SJS", None, "open", None)
        assert (out[n_cards + 4], out[n_cards + 5]) == ("", "banner hidden")  # no error banner
        assert _open_card(out[:n_cards]) == f"{len(want):,}"
        assert sorted(r["credit_code"] for r in out[n_cards + 1]) == sorted(want["credit_code"])
        out = tasks.refresh(town, day, f"{town}-ZZB", None, "open", None)
        assert out[n_cards + 5] == "banner hidden" and out[n_cards + 1] == []


def test_wall_equals_pandas(ob, served):
    from queries.overview import wall_data

    data = wall_data(ob.db, DG, ob.today)
    assert data.headlines[("entity_stock", "day")][0] == len(ob.regs)
    assert data.headlines[("tasks_open", "day")][0] == len(ob.regs)
    month = pd.Timestamp(ob.today.replace(day=1))
    assert data.headlines[("new_registrations", "month")][0] == int((ob.regs["reg_date"] >= month).sum())
    today = pd.Timestamp(ob.today)
    assert data.headlines[("new_registrations", "day")][0] == int((ob.regs["reg_date"] == today).sum())
    got = dict(zip(data.children["region_code"], data.children["value"]))
    assert got == _count(ob.regs, list(got))
    per_day = ob.regs["reg_date"].value_counts()
    assert dict(zip(data.daily["period"], data.daily["registered"])) == {
        p: int(per_day.get(p, 0)) for p in pd.date_range(today - pd.Timedelta(days=29), today)}


# ----------------------------------------------------------------------------- a second version (last)
def test_second_grid_version_removes_and_renames_without_losing_entities(ob, served):
    ga, regs = ob.ga, ob.regs
    on_grid = regs["grid_code"].value_counts()
    gone = next(c for c in ga["code"] if on_grid.get(c, 0) > 0)
    renamed = next(c for c in ga["code"] if c != gone and c[:12] == gone[:12])
    v2 = ga[ga["code"] != gone].copy()
    v2.loc[v2["code"] == renamed, "name"] = "岗贝第二网格（更名）"
    day = ob.today.isoformat()
    before = _api_values(served, "entity_stock", DG, day)
    res = ob.loader.load_bytes("grids", grids_geojson(v2), file_name="东城街道网格-v2.geojson", scope=A)
    assert (res.state, res.rows_loaded, res.rows_rejected, res.removed) == ("loaded", len(v2), 0, [gone])
    assert res.affected is not None
    aff = pd.read_csv(res.affected, dtype=str, encoding="utf-8-sig")
    want = regs[regs["grid_code"] == gone]
    assert sorted(aff["统一社会信用代码"]) == sorted(want["credit_code"]) and set(aff["原网格编码"]) == {gone}
    assert sorted(aff["主体名称"]) == sorted(want["name"]) and set(aff["未办结任务数"]) == {"1"}
    # nothing lost: the town and the city keep every entity, and the API still finds them
    after = _api_values(served, "entity_stock", DG, day)
    assert after == before == _count(regs, list(before))
    assert _get(served, f"/api/v1/entities?region={A}&page_size=500")["total"] == _count(regs, [A])[A]
    kids = region_node(ob.db, gone[:12]).children
    assert gone not in set(kids["code"]) and dict(zip(kids["code"], kids["name"]))[renamed] == "岗贝第二网格（更名）"
    assert list(kids["code"]) == sorted(v2.loc[v2["village"] == gone[:12], "code"])
    with pytest.raises(RegionNotFound):
        region_node(ob.db, gone)
    feats = {f["properties"]["code"]: f["properties"]["name"] for f in children_features(ob.db, gone[:12])["features"]}
    assert gone not in feats and feats[renamed] == "岗贝第二网格（更名）"
