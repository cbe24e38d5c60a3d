"""Loading boundaries, grid workers and departments (etl.reference) on embedded chDB and a
ClickHouse server, and what they change:

* village boundaries replace schematic polygons on the map and become the polygon grids
  are checked against;
* grid workers (CSV, XLSX): several grids per worker, bad rows rejected, phones masked;
* departments route tasks (supervision.routing): registrations to the town's market
  regulation office, licences by trade (谁审批、谁监管) with a fallback to the city's
  market regulator, clues found on inspection to the town's 综治办;
* ``python -m etl check`` (etl.readiness) before and after loading, and the command line
  end to end (chDB only).
"""
from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
import shapely

from etl.ingest.docs import REASON_CODES as INGEST_CODES
from etl.reference.checks import REASON_CODES as REF_CODES
from store.executor import run
from tests.ingestkit import report_rows, to_csv, zh
from tests.refkit import (
    KINDS, RefEnv, ref_env_fixture,
    blank_db, boundaries_geojson, departments_csv, forget_caches, geo_rows, grids_csv, grids_geojson, ingestor,
    make_grids, problem_codes, registrations_csv, rejects_of, same_shape, shifted,
    inspectors_csv, villages_of, workers_csv, workers_xlsx,
)

ALL_CODES = set(REF_CODES) | set(INGEST_CODES)
ROOT = Path(__file__).resolve().parents[1]


Env = RefEnv


env = ref_env_fixture("routing")


# --------------------------------------------------------------------------- boundaries

def test_village_boundaries(env):
    """Two villages' real boundaries: loaded at level 5, drawn as real on the town's map, and
    from then on the polygon their grids must lie in."""
    from domain.boundaries import region_polygon
    from queries.geo import children_features

    town = "441900104"  # 石排镇
    villages = villages_of(town)
    v0, v1 = villages[:2]
    polys = {v: region_polygon(v)[0] for v in (v0, v1)}
    # a grid of v0 drawn over the village of v0 farthest from it: inside the county, outside v0
    far = max(villages[2:], key=lambda v: region_polygon(v)[0].distance(polys[v0]))
    stray = pd.DataFrame([{"code": v0 + "001", "name": "错位网格", "village": v0,
                           "geometry": region_polygon(far)[0]}])
    before = env.load("grids", grids_geojson(stray), "错位.geojson", dry_run=True)
    assert before.rows_rejected == 0  # only the county's polygon to check against so far

    bad_village = villages[2]
    data = boundaries_geojson({**polys, bad_village: shifted(region_polygon(bad_village)[0], dlat=0.5),
                               town + "999": polys[v0]})
    res = env.load("boundaries_village", data, "村居边界.geojson")
    assert problem_codes(res) == {3: {"outside_parent"}, 4: {"unknown_region"}}
    assert res.rows_loaded == 2 and res.region == town
    geo = geo_rows(env.db, town, level=5)
    assert list(geo["code"]) == [v0, v1]
    assert all(same_shape(g, polys[c]) for c, g in zip(geo["code"], geo["geometry"]))

    fc = children_features(env.db, town)
    flags = {f["properties"]["code"]: f["properties"]["schematic"] for f in fc["features"]}
    assert set(flags) == set(villages)
    assert flags == {v: v not in (v0, v1) for v in villages}

    after = env.load("grids", grids_geojson(stray), "错位.geojson")
    assert problem_codes(after) == {1: {"outside_parent"}}
    reason = after.problems[0].reason
    from domain.regions import region_name

    assert v0 in reason and region_name(v0) in reason, reason


def test_tolerance_against_loaded_village(env):
    """A grid may stray TOLERANCE_M (200 m) outside its village's loaded boundary, and beyond
    that by at most MAX_OUTSIDE_SHARE (10 %) of its area. The village is loaded as a 400 m
    square, so the shares are known exactly."""
    import math

    from domain.boundaries import region_polygon
    from etl.reference.geometry import MAX_OUTSIDE_SHARE, TOLERANCE_M

    assert (TOLERANCE_M, MAX_OUTSIDE_SHARE) == (200, 0.10)
    town = "441900121"  # 虎门镇
    village = villages_of(town)[0]
    c = region_polygon(village)[0].representative_point()
    m = 1 / (111_320 * math.cos(math.radians(c.y)))  # degrees of longitude per metre
    box = shapely.box(c.x - 200 * m, c.y - 200 * m, c.x + 200 * m, c.y + 200 * m)
    assert env.load("boundaries_village", boundaries_geojson({village: box}), "村.geojson").rows_loaded == 1

    def grid(x0_m: float, x1_m: float, half_height_m: float = 100) -> bytes:
        """A rectangle from x0_m to x1_m metres east of the village's centre."""
        g = shapely.box(c.x + x0_m * m, c.y - half_height_m * m, c.x + x1_m * m, c.y + half_height_m * m)
        return grids_geojson(pd.DataFrame([{"code": village + "001", "name": "边缘", "village": village,
                                            "geometry": g}]))

    def outcome(data: bytes) -> dict:
        return problem_codes(env.load("grids", data, "边缘.geojson", dry_run=True))

    assert outcome(grid(300, 330, 15)) == {}                          # 100-130 m outside the edge
    assert outcome(grid(500, 530, 15)) == {1: {"outside_parent"}}     # 300 m outside
    inside = 400  # metres of the rectangle from the centre to the widened edge
    assert outcome(grid(0, 400 + inside * 0.05 / 0.95)) == {}         # 5 % beyond the tolerance
    far = env.load("grids", grid(0, 400 + inside * 0.15 / 0.85), "边缘.geojson", dry_run=True)
    assert problem_codes(far) == {1: {"outside_parent"}}              # 15 %
    assert "15%" in far.problems[0].reason and village in far.problems[0].reason, far.problems[0].reason


def test_town_boundary(env):
    """A town's real boundary (here: its schematic polygon shrunk by half) is drawn as real on the
    county's map, its villages' schematic polygons split it, and grids must lie inside it."""
    from domain.boundaries import region_polygon
    from queries.geo import children_features

    town = "441900118"  # 大岭山镇
    whole = region_polygon(town)[0]
    small = shapely.affinity.scale(whole, 0.5, 0.5)
    res = env.load("boundaries_town", boundaries_geojson({town: small}), "镇街边界.geojson")
    assert (res.rows_loaded, res.region) == (1, town)
    loaded = geo_rows(env.db, town, level=4)["geometry"][0]
    assert same_shape(loaded, small)
    flags = {f["properties"]["code"]: f["properties"]["schematic"] for f in children_features(env.db, "441900")["features"]}
    assert flags[town] is False and sum(not v for v in flags.values()) == 1
    villages = villages_of(town)
    cells = [region_polygon(v)[0] for v in villages]
    assert shapely.union_all(cells).symmetric_difference(loaded).area < 1e-6 * loaded.area  # they tile it
    p = whole.difference(small.buffer(0.01)).representative_point()
    square = shapely.box(p.x - 0.001, p.y - 0.001, p.x + 0.001, p.y + 0.001)  # in the county, not the town
    stray = pd.DataFrame([{"code": villages[0] + "001", "name": "镇外网格", "village": villages[0], "geometry": square}])
    out = env.load("grids", grids_geojson(stray), "镇外.geojson", dry_run=True)
    assert problem_codes(out) == {1: {"outside_parent"}} and town in out.problems[0].reason


def test_grid_map_marks_loaded_polygons(env):
    """On a village's map, grids loaded with a polygon are real, grids given as points schematic."""
    from queries.geo import children_features

    town = "441900109"  # 东坑镇
    df = make_grids(town, 1, 3)
    village = df["village"].iloc[0]
    from tests.refkit import _csv

    wkt = [shapely.to_wkt(g, rounding_precision=8) for g in df["geometry"]]
    p = df["geometry"].iloc[2].representative_point()
    data = _csv(["网格编码", "网格名称", "村居编码", "边界", "经度", "纬度"],
                [[*df.iloc[0][["code", "name", "village"]], wkt[0], "", ""],
                 [*df.iloc[1][["code", "name", "village"]], wkt[1], "", ""],
                 [*df.iloc[2][["code", "name", "village"]], "", p.x, p.y]], "utf-8")
    res = env.load("grids", data, "网格.csv")
    assert res.rows_loaded == 3
    fc = children_features(env.db, village)
    flags = {f["properties"]["code"]: f["properties"]["schematic"] for f in fc["features"]}
    assert flags == {df["code"][0]: False, df["code"][1]: False, df["code"][2]: True}


# --------------------------------------------------------------------------- grid workers

TOWN_WORKERS = "441900105"  # 企石镇


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_grid_workers(env, fmt):
    from store.filters import Filter
    from queries.grid import grid_workers

    df = make_grids(TOWN_WORKERS, 2, 2)
    g = list(df["code"])
    grids = env.load("grids", grids_geojson(df), "网格.geojson")
    assert grids.rows_loaded == 4
    rows = [
        {"网格员编号": "WG001", "姓名": "张三", "手机号码": "13800138000", "网格编码": g[0]},
        {"网格员编号": "WG002", "姓名": "李四", "手机号码": "139-0013-9000", "网格编码": f"{g[1]}；{g[2]}"},
        {"网格员编号": "WG003", "姓名": "王五", "手机号码": "13700137000", "网格编码": TOWN_WORKERS + "999999"},
        {"网格员编号": "WG004", "姓名": "赵六", "手机号码": "12345", "网格编码": g[3]},
        {"网格员编号": "WG001", "姓名": "张三", "手机号码": "13800138000", "网格编码": g[3]},
        {"网格员编号": "WG005", "姓名": "钱七", "手机号码": "", "网格编码": g[3]},
    ]
    data = workers_csv(rows, "gbk") if fmt == "csv" else workers_xlsx(rows)
    res = env.load("grid_workers", data, f"网格员.{fmt}")
    want = {4: {"unknown_grid"}, 5: {"bad_phone"}, 6: {"duplicate_in_batch"}}  # header = row 1
    assert problem_codes(res) == want and rejects_of(env.db, res.batch_id) == want
    assert set().union(*want.values()) <= ALL_CODES
    assert (res.rows_in, res.rows_loaded) == (6, 3) and res.region == TOWN_WORKERS
    assert res.report.suffix == f".{fmt}" and report_rows(res.report) == sorted(want)  # in the file's own format
    got = run(env.db, "t_workers", "SELECT worker_id, grid_code, name, phone FROM grid_workers "
              "WHERE grid_code LIKE %(p)s ORDER BY grid_code, worker_id", {"p": TOWN_WORKERS + "%"})
    assert list(got.itertuples(index=False, name=None)) == [
        ("WG001", g[0], "张三", "13800138000"), ("WG002", g[1], "李四", "13900139000"),
        ("WG002", g[2], "李四", "13900139000"), ("WG005", g[3], "钱七", "")]
    shown = grid_workers(env.db, Filter(TOWN_WORKERS))
    assert list(shown["phone"]) == ["138****8000", "139****9000", "139****9000", ""]


def test_grid_workers_second_version(env):
    """A new list replaces the town's: a worker left out is removed, a rejected one keeps his
    loaded rows, the others are replaced."""
    town = "441900117"  # 凤岗镇
    df = make_grids(town, 1, 4)
    g = list(df["code"])
    env.load("grids", grids_geojson(df), "网格.geojson")
    v1 = [{"网格员编号": "A1", "姓名": "甲", "手机号码": "13800000001", "网格编码": g[0]},
          {"网格员编号": "B1", "姓名": "乙", "手机号码": "13800000002", "网格编码": g[1]},
          {"网格员编号": "C1", "姓名": "丙", "手机号码": "13800000003", "网格编码": f"{g[2]};{g[3]}"}]
    assert env.load("grid_workers", workers_csv(v1), "v1.csv").rows_loaded == 3
    v2 = [{"网格员编号": "A1", "姓名": "甲", "手机号码": "000", "网格编码": g[1]},
          {"网格员编号": "C1", "姓名": "丙", "手机号码": "13900000003", "网格编码": g[3]},
          {"网格员编号": "D1", "姓名": "丁", "手机号码": "", "网格编码": g[2]}]
    dry = env.load("grid_workers", workers_xlsx(v2), "v2.xlsx", dry_run=True)
    assert dry.removed == ["B1"]
    res = env.load("grid_workers", workers_xlsx(v2), "v2.xlsx")
    assert res.removed == ["B1"] and problem_codes(res) == {2: {"bad_phone"}} and res.affected is None
    got = run(env.db, "t_workers2", "SELECT worker_id, grid_code, phone FROM grid_workers WHERE grid_code LIKE %(p)s "
              "ORDER BY worker_id, grid_code", {"p": town + "%"})
    assert list(got.itertuples(index=False, name=None)) == [
        ("A1", g[0], "13800000001"), ("C1", g[3], "13900000003"), ("D1", g[2], "")]


# --------------------------------------------------------------------------- departments and routing

TOWN_ROUTING = "441900110"  # 常平镇
CITY, HEALTH, TOWN_MS, TOWN_ZZB = "D4419SJJ", "D4419WJJ", "D110SJS", "D110ZZB"


def _departments() -> bytes:
    return departments_csv([
        {"部门编码": CITY, "部门名称": "东莞市市场监督管理局", "所属区划代码": "4419", "部门类型": "市场监管",
         "审批行业": "H,F,C"},
        {"部门编码": HEALTH, "部门名称": "东莞市卫生健康局", "所属区划代码": "4419", "部门类型": "审批部门",
         "审批行业": "Q"},
        {"部门编码": TOWN_MS, "部门名称": "常平市场监管所", "所属区划代码": TOWN_ROUTING, "部门类型": "市场监管所",
         "审批行业": ""},
        {"部门编码": TOWN_ZZB, "部门名称": "常平镇综治办", "所属区划代码": TOWN_ROUTING, "部门类型": "综治办",
         "审批行业": ""},
        {"部门编码": "D-BAD", "部门名称": "未知类型", "所属区划代码": TOWN_ROUTING, "部门类型": "宣传部",
         "审批行业": ""},
        {"部门编码": "D-BAD2", "部门名称": "错误行业", "所属区划代码": "4419", "部门类型": "审批部门",
         "审批行业": "Z9"},
    ])


def test_departments_route_tasks(env):
    df = make_grids(TOWN_ROUTING, 2, 2)
    env.load("grids", grids_geojson(df), "网格.geojson")
    res = env.load("departments", _departments(), "部门.csv")
    assert problem_codes(res) == {6: {"bad_enum"}, 7: {"bad_enum"}} and res.region == "4419"
    got = run(env.db, "t_depts", "SELECT dept_id, region_code, toString(kind) AS kind, industries FROM departments "
              "ORDER BY dept_id")
    assert list(got.itertuples(index=False, name=None)) == sorted([
        (CITY, "4419", "market_regulator", "C,F,H"), (HEALTH, "4419", "licensing", "Q"),
        (TOWN_MS, TOWN_ROUTING, "market_regulator", ""), (TOWN_ZZB, TOWN_ROUTING, "town_office", "")])

    reg, frame = registrations_csv(list(df["code"]), 6, seed=5, start=dt.date.today() - dt.timedelta(days=60),
                                   industries="FHQGAC")
    ing = ingestor(env.db, env.tmp)
    out = ing.ingest_bytes("registration", reg, file_name="登记.csv")
    assert out.state == "loaded" and out.rows_loaded == 6, out.message
    codes = list(frame["统一社会信用代码"])
    industry = dict(zip(codes, frame["行业门类"]))
    when = (dt.datetime.now() - dt.timedelta(minutes=2)).strftime("%Y-%m-%d %H:%M:%S")
    licences = [zh("licence", {"licence_no": f"XK{env.kind}{i}", "credit_code": c, "event_time": when,
                               "licence_item": "许可"}) for i, c in enumerate(codes)]
    assert ing.ingest_bytes("licence", to_csv(licences), file_name="许可.csv").rows_loaded == 6
    inspections = [zh("inspection", {"record_id": f"JC{env.kind}{i}", "credit_code": c, "event_time": when,
                                     "result": "发现问题" if i < 2 else "未发现问题", "inspector": "李四",
                                     "note": "现场检查"}) for i, c in enumerate(codes)]
    assert ing.ingest_bytes("inspection", to_csv(inspections), file_name="检查.csv").rows_loaded == 6

    tasks = run(env.db, "t_tasks", "SELECT credit_code, toString(task_type) AS t, dept_id FROM tasks "
                "WHERE credit_code IN %(c)s", {"c": tuple(codes)})
    got = {(r.credit_code, r.t): r.dept_id for r in tasks.itertuples(index=False)}
    # the expectation, written out: registrations → the town's office; licences → the trade's
    # licensing department (Q: health; F, H, C: the city bureau lists them; G, A: nobody → the city
    # bureau); clues → the town's 综治办
    want = {(c, "verify_registration"): TOWN_MS for c in codes}
    want |= {(c, "disclosure"): HEALTH if industry[c] == "Q" else CITY for c in codes}
    want |= {(c, "clue"): TOWN_ZZB for c in codes[:2]}
    assert got == want
    assert {industry[c] for c in codes} == set("FHQGAC")


TOWN_TRADES = "441900104"  # 石排镇
#: Licensing departments of the city and the trades they license (谁审批、谁监管).
LICENSING = {"D4419WJJ": "Q", "D4419JTJ": "G", "D4419WHJ": "R", "D4419JYJ": "P"}


def test_transferred_cases_follow_the_trade(env):
    """Feedback that transfers a case without naming a department sends it to the department
    licensing the entity's trade; a trade nobody lists goes to the city's market regulator."""
    df = make_grids(TOWN_TRADES, 1, 2)
    env.load("grids", grids_geojson(df), "网格.geojson", scope=TOWN_TRADES)
    depts = [{"部门编码": CITY, "部门名称": "东莞市市场监督管理局", "所属区划代码": "4419", "部门类型": "市场监管",
              "审批行业": "H,F,C"},
             {"部门编码": "D104SJS", "部门名称": "石排市场监管所", "所属区划代码": TOWN_TRADES, "部门类型": "市场监管",
              "审批行业": ""}]
    depts += [{"部门编码": d, "部门名称": f"审批部门{t}", "所属区划代码": "4419", "部门类型": "审批部门", "审批行业": t}
              for d, t in LICENSING.items()]
    assert env.load("departments", departments_csv(depts), "部门.csv", scope="4419").rows_loaded == len(depts)
    reg, frame = registrations_csv(list(df["code"]), 8, seed=11, start=dt.date.today() - dt.timedelta(days=30),
                                   industries="QGRPHFCA")
    ing = ingestor(env.db, env.tmp)
    assert ing.ingest_bytes("registration", reg, file_name="登记.csv").rows_loaded == 8
    codes = list(frame["统一社会信用代码"])
    tasks = run(env.db, "t_trade_tasks", "SELECT task_id, credit_code, created_at FROM tasks WHERE credit_code IN %(c)s "
                "AND task_type = 'verify_registration'", {"c": tuple(codes)})
    steps = (("inspecting", "网格员"), ("notice", "网格员"), ("joint", "村居"), ("town", "镇街"), ("transferred", "镇街"))
    rows = [zh("task_feedback", {"feedback_id": f"FB{env.kind}{t.task_id}{k}", "task_id": t.task_id,
                                 "event_time": (pd.Timestamp(t.created_at) + pd.Timedelta(seconds=k + 1)).strftime(
                                     "%Y-%m-%d %H:%M:%S"),
                                 "status": {"inspecting": "核查中", "notice": "限期整改", "joint": "村居联合处置",
                                            "town": "镇街处置", "transferred": "部门办理"}[status],
                                 "actor": "王五", "actor_kind": kind, "note": "", "problem_found": "是", "dept_id": ""})
            for t in tasks.itertuples(index=False) for k, (status, kind) in enumerate(steps)]
    res = ing.ingest_bytes("task_feedback", to_csv(rows), file_name="反馈.csv")
    assert res.rows_loaded == len(rows) == 40, res.problems[:3]
    got = run(env.db, "t_trade_depts", "SELECT credit_code, dept_id, toString(status) AS s FROM tasks "
              "WHERE task_id IN %(t)s", {"t": tuple(tasks["task_id"])})
    trade = dict(zip(codes, frame["行业门类"]))
    by_trade = {t: d for d, t in LICENSING.items()}
    want = {c: by_trade.get(trade[c], CITY) for c in codes}  # H, F, C: the city bureau lists them; A: nobody
    assert {r.credit_code: r.dept_id for r in got.itertuples(index=False)} == want
    assert set(got["s"]) == {"transferred"} and set(trade.values()) == set("QGRPHFCA")


# --------------------------------------------------------------------------- readiness

@pytest.mark.parametrize("kind", KINDS)
def test_readiness_check(request, tmp_path, kind):
    """``etl check`` on a town: grids and departments missing, then present."""
    from etl.readiness import check

    db = blank_db(kind, request, "test_ref_ready")
    env = Env(kind, db, tmp_path)
    town = "441900111"  # 寮步镇
    try:
        first = check(db, town, users=[])
        missing = [f.zh for f in first if f.severity == "missing"]
        assert any("没有网格" in m for m in missing) and any("没有部门名录" in m for m in missing), missing
        assert any("账号" in m for m in missing), missing

        df = make_grids(town, 2, 1)
        env.load("grids", grids_csv(df, geometry="lonlat"), "网格.csv")
        env.load("departments", departments_csv([
            {"部门编码": "M1", "部门名称": "寮步市场监管所", "所属区划代码": town, "部门类型": "市场监管"}]), "部门.csv")
        user = SimpleNamespace(disabled=False, scope="4419")
        found = check(db, town, users=[user])
        villages = villages_of(town)
        grids = next(f for f in found if f.zh.startswith("网格 "))
        assert grids.severity == "warning" and f"覆盖村居 2/{len(villages)} 个" in grids.zh, grids.zh
        assert all(v in grids.zh for v in villages[2:7]), grids.zh  # the first five villages without grids
        assert not [f for f in found if f.severity == "missing" and "节假日" not in f.zh], found
        depts = next(f for f in found if f.zh.startswith("部门"))
        assert depts.severity == "ok" and "部门 1 个" in depts.zh, depts.zh
        staff = next(f for f in found if f.zh.startswith("网格员"))
        assert staff.severity == "warning" and "2 个网格没有网格员" in staff.zh, staff.zh
        polys = next(f for f in found if f.zh.startswith("网格边界"))
        assert polys.severity == "warning" and "0/2" in polys.zh, polys.zh  # points only: schematic
        users = next(f for f in found if "账号" in f.zh)
        assert users.severity == "ok"
    finally:
        forget_caches()


def _etl(args: list[str], data_dir: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JINJIAN_")}
    env.update(JINJIAN_DATA_DIR=str(data_dir), JINJIAN_INBOX="0", JINJIAN_SIMULATOR="0")
    return subprocess.run([sys.executable, "-m", "etl", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)


def test_cli_end_to_end(tmp_path):
    """init → check (exit 1) → grids/departments load → check still 1 (no account) → user → check."""
    data_dir = tmp_path / "data"
    town = "441900112"  # 樟木头镇
    df = make_grids(town, 2, 1)
    (tmp_path / "网格.geojson").write_bytes(grids_geojson(df))
    (tmp_path / "部门.csv").write_bytes(departments_csv([
        {"部门编码": "M1", "部门名称": "樟木头市场监管所", "所属区划代码": town, "部门类型": "市场监管"}]))

    init = _etl(["init"], data_dir)
    assert init.returncode == 0, init.stderr
    c1 = _etl(["check", "--region", town], data_dir)
    assert c1.returncode == 1 and "[缺少]" in c1.stdout and "没有网格" in c1.stdout, c1.stdout + c1.stderr
    dry = _etl(["grids", "load", str(tmp_path / "网格.geojson"), "--dry-run"], data_dir)
    assert dry.returncode == 0 and "[dry run: nothing loaded]" in dry.stdout, dry.stdout + dry.stderr
    g = _etl(["grids", "load", str(tmp_path / "网格.geojson")], data_dir)
    assert g.returncode == 0 and "共 2 条：导入 2 条，退回 0 条" in g.stdout, g.stdout + g.stderr
    d = _etl(["departments", "load", str(tmp_path / "部门.csv")], data_dir)
    assert d.returncode == 0 and "导入 1 条" in d.stdout, d.stdout + d.stderr
    c2 = _etl(["check", "--region", town], data_dir)
    lines = [x for x in c2.stdout.splitlines() if x.startswith("[缺少]")]
    assert c2.returncode == 1 and lines and all("账号" in x or "节假日" in x for x in lines), c2.stdout
    assert "网格 2 个" in c2.stdout
    u = _etl(["users", "add", "chengcheng", "--role", "admin", "--scope", town], data_dir)
    assert u.returncode == 0, u.stdout + u.stderr
    c3 = _etl(["check", "--region", town], data_dir)
    lines = [x for x in c3.stdout.splitlines() if x.startswith("[缺少]")]
    assert all("节假日" in x for x in lines), c3.stdout
    assert c3.returncode == (1 if lines else 0), c3.stdout
    missing = _etl(["grids", "load", str(tmp_path / "没有.csv")], data_dir)
    assert missing.returncode == 2



def test_inspector_roster_loads_like_the_other_lists(env):
    """执法人员名录 (etl inspectors load): rows of known departments load; an unknown department, a
    malformed id, a region outside the department's and a repeated id are rejected with their
    reason; a second version replaces the region's roster."""
    # This test's own 部门名录 (the same file as an earlier test's would change nothing: loaded once)
    depts = _departments().decode() + "D-ZF,执法测试部门,4419,其他,\n"
    assert env.load("departments", depts.encode(), "部门-执法.csv").region == "4419"
    rows = [
        {"人员编号": "ZF001", "姓名": "王执法", "部门编码": CITY, "执法证号": "44190001", "所属区划代码": "4419"},
        {"人员编号": "ZF002", "姓名": "李执法", "部门编码": CITY, "执法证号": "44190002", "所属区划代码": TOWN_ROUTING},
        {"人员编号": "ZF003", "姓名": "陈卫健", "部门编码": HEALTH, "执法证号": "44190003", "所属区划代码": "4419"},
        {"人员编号": "ZF004", "姓名": "无部门", "部门编码": "D-NONE", "执法证号": "44190004", "所属区划代码": "4419"},
        {"人员编号": "ZF 5", "姓名": "坏编号", "部门编码": CITY, "执法证号": "44190005", "所属区划代码": "4419"},
        {"人员编号": "ZF006", "姓名": "跨区域", "部门编码": TOWN_MS, "执法证号": "44190006", "所属区划代码": "441900003"},
        {"人员编号": "ZF001", "姓名": "重复", "部门编码": CITY, "执法证号": "44190007", "所属区划代码": "4419"},
    ]
    res = env.load("inspectors", inspectors_csv(rows), "执法人员名录.csv")
    assert problem_codes(res) == {5: {"unknown_dept"}, 6: {"bad_id"}, 7: {"out_of_scope"},
                                  8: {"duplicate_in_batch"}}, problem_codes(res)  # row 1 is the header
    got = run(env.db, "t_inspectors", "SELECT inspector_id, name, dept_id, region_code, cert_no FROM inspectors "
              "ORDER BY inspector_id")
    loaded = set(got["inspector_id"])
    assert loaded == {"ZF001", "ZF002", "ZF003"} and res.rows_in == 7 and res.rows_loaded == 3
    assert got.set_index("inspector_id").loc["ZF001", "name"] == "王执法"  # the first of the repeated id
    reasons = {p.row_no: p.reason for p in res.problems}
    assert "部门名录" in reasons[5] and "441900003" in reasons[7]
    # A second version of the city's roster replaces it: ZF003 left out is removed.
    res = env.load("inspectors", inspectors_csv(rows[:2]), "执法人员名录-2.csv", scope="4419")
    again = set(run(env.db, "t_inspectors2", "SELECT inspector_id FROM inspectors")["inspector_id"])
    assert again == {"ZF001", "ZF002"} and res.removed == ["ZF003"]
