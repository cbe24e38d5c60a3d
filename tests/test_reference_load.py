"""Loading grid files (etl.reference) on embedded chDB and on a ClickHouse server:

* every format (GeoJSON, GBK CSV with WKT, CSV with lon/lat only, XLSX, zipped
  Shapefile with a GBK DBF with and without .cpg): nothing lost, and the grids read
  back (regions level 6, region_geo) equal the file's;
* a corpus of bad records, each with its reason code, in ``reference_rejects`` and in a
  rejection report in the file's own format;
* GCJ-02 input converted back to WGS-84;
* at most once: the same file again changes nothing; a crash while publishing or before
  staging is finished by ``recover()``;
* a second version of a grid file: removal (with the entities on the removed grid
  listed), rename, addition, and a rejected grid keeping its loaded version.

Each test works in a town of Dongguan of its own (a file replaces its region only).
"""
from __future__ import annotations

import datetime as dt
import json

import pandas as pd
import pytest
import shapely
from shapely.geometry import Polygon

from etl.ingest.docs import REASON_CODES as INGEST_CODES
from etl.reference import loader as loader_mod
from etl.reference.checks import REASON_CODES as REF_CODES
from etl.reference.loader import ReferenceLoader
from store.executor import run
from tests.ingestkit import report_rows
from tests.refkit import (
    RefEnv, ref_env_fixture,
    batch_row, geo_rows, grids_csv, grids_geojson, grids_shapefile_zip, grids_xlsx,
    ingestor, level6, make_grids, problem_codes, ref_counts, registrations_csv, rejects_of,
    same_shape, shifted, to_gcj02,
)

ALL_CODES = set(REF_CODES) | set(INGEST_CODES)
CHINESE_DBF = ("网格编码", "网格名称", "村居编码")


Env = RefEnv


env = ref_env_fixture("load")


def assert_loaded(env: Env, res, rows_in: int, loaded: int) -> None:
    """The outcome, the batch row and the rejects agree; nothing is lost."""
    assert res.state == "loaded", res.message
    assert (res.rows_in, res.rows_loaded, res.rows_rejected) == (rows_in, loaded, rows_in - loaded)
    b = batch_row(env.db, res.batch_id)
    assert (b["state"], int(b["rows_in"]), int(b["rows_loaded"]), int(b["rows_rejected"])) == (
        "loaded", rows_in, loaded, rows_in - loaded)
    assert len(rejects_of(env.db, res.batch_id)) == rows_in - loaded
    stages = run(env.db, "t_stages", "SELECT count() AS n FROM system.tables WHERE database = currentDatabase() "
                 "AND name LIKE 'ref_stage_%%'")
    assert int(stages["n"].iloc[0]) == 0, "stage tables are dropped once published"


def assert_grids(env: Env, prefix: str, df: pd.DataFrame, polygons: bool = True) -> pd.DataFrame:
    """``regions`` and ``region_geo`` under ``prefix`` hold exactly ``df``'s grids."""
    want = df.sort_values("code").reset_index(drop=True)
    got = level6(env.db, prefix)
    assert list(got.itertuples(index=False, name=None)) == list(zip(want["code"], want["name"], want["village"]))
    geo = geo_rows(env.db, prefix)
    assert list(geo["code"]) == list(want["code"])
    for g, w in zip(geo.itertuples(index=False), want.itertuples(index=False)):
        if polygons:
            assert same_shape(g.geometry, w.geometry), g.code
            assert g.geometry.contains(shapely.Point(g.lon, g.lat)), "the representative point lies inside"
        else:
            assert g.geometry is None
    return geo


# --------------------------------------------------------------------------- formats

TOWN_FORMATS = "441900003"  # 东城街道


@pytest.mark.parametrize("fmt", ["geojson", "csv_gbk", "csv_lonlat", "xlsx", "shp_cpg", "shp_no_cpg"])
def test_grids_each_format(env, fmt):
    df = make_grids(TOWN_FORMATS, 3, 2)
    data, name, encoding = {
        "geojson": lambda: (grids_geojson(df), "网格.geojson", "utf-8"),
        "csv_gbk": lambda: (grids_csv(df, "gbk"), "网格.csv", "gb18030"),
        "csv_lonlat": lambda: (grids_csv(df, geometry="lonlat"), "网格中心点.csv", "utf-8"),
        "xlsx": lambda: (grids_xlsx(df), "网格.xlsx", None),
        "shp_cpg": lambda: (grids_shapefile_zip(df, "gbk", cpg=True, fields=CHINESE_DBF), "网格.zip", "gb18030"),
        "shp_no_cpg": lambda: (grids_shapefile_zip(df, "gbk", cpg=False, fields=CHINESE_DBF), "网格.zip", "gb18030"),
    }[fmt]()
    res = env.loader().load_bytes("grids", data, file_name=name)
    assert_loaded(env, res, 6, 6)
    assert res.region == TOWN_FORMATS and not res.problems and res.report is None
    assert not [w for w in res.warnings if "忽略" in w], res.warnings
    if encoding:
        assert batch_row(env.db, res.batch_id)["encoding"] == encoding
    geo = assert_grids(env, TOWN_FORMATS, df, polygons=fmt != "csv_lonlat")
    if fmt == "csv_lonlat":  # the point given is the grid's point
        pts = [g.representative_point() for g in df.sort_values("code")["geometry"]]
        assert all(abs(r.lon - p.x) < 1e-6 and abs(r.lat - p.y) < 1e-6 for r, p in zip(geo.itertuples(), pts))
    else:
        assert set(geo["batch_id"]) == {res.batch_id}
    assert set(geo["workers_planned"]) == ({2} if fmt == "geojson" else {0})


def test_shapefile_pinyin_field_names(env):
    """DBF field names are at most 10 bytes; exporters abbreviate 网格编码/网格名称/村居编码 as
    WGBM/WGMC/CJBM. All three must be recognised: a CJBM that contradicts the code is rejected."""
    town = "441900005"  # 万江街道
    df = make_grids(town, 2, 2)
    wrong = df.copy()
    wrong.loc[3, "village"] = df.loc[0, "village"]  # CJBM names another village
    res = env.loader().load_bytes("grids", grids_shapefile_zip(wrong, "gbk", fields=("WGBM", "WGMC", "CJBM")),
                                  file_name="wg.zip")
    assert not [w for w in res.warnings if "忽略" in w], res.warnings
    assert problem_codes(res) == {4: {"not_under_parent"}}
    assert_loaded(env, res, 4, 3)


# --------------------------------------------------------------------------- bad records

TOWN_CORPUS = "441900004"  # 南城街道
TOWN_OTHER = "441900006"   # 莞城街道 (outside the corpus's --region)


def _bowtie(inside: Polygon) -> Polygon:
    c = inside.representative_point()
    d = 0.0005
    return Polygon([(c.x - d, c.y - d), (c.x + d, c.y + d), (c.x + d, c.y - d), (c.x - d, c.y + d)])


def test_corpus_csv(env):
    """Each bad record rejected with its reason; the good ones (a repaired bow-tie, a point
    inside) loaded; the rejects table and the CSV report list exactly the rejected rows."""
    good = make_grids(TOWN_CORPUS, 2, 2)
    v1, v2 = good["village"].iloc[0], good["village"].iloc[2]
    poly = good["geometry"].iloc[0]
    other = make_grids(TOWN_OTHER, 1, 1).iloc[0]
    inside = poly.representative_point()
    far = shifted(inside, dlat=0.5)
    rows = [[r.code, r.name, r.village, shapely.to_wkt(r.geometry, rounding_precision=8), "", ""]
            for r in good.itertuples()]
    bad = [  # (row, reason code or None = loaded)
        ([v1[:11] + "001", "位数不对", "", poly.wkt, "", ""], "bad_code"),
        ([TOWN_CORPUS + "999001", "无此村居", "", poly.wkt, "", ""], "unknown_village"),
        ([v1 + "011", "村居不符", v2, poly.wkt, "", ""], "not_under_parent"),
        ([good["code"].iloc[1], "重复", v1, poly.wkt, "", ""], "duplicate_in_batch"),
        ([other.code, "辖区外", other.village, other.geometry.wkt, "", ""], "out_of_scope"),
        ([v1 + "012", "无法解析", v1, "POLYGON ((113.7 23.0, 113.8", "", ""], "bad_geometry"),
        ([v1 + "013", "线", v1, "LINESTRING (113.7 23.0, 113.71 23.01)", "", ""], "bad_geometry"),
        ([v1 + "014", "投影坐标", v1, "POLYGON ((500000 2500000, 500100 2500000, 500100 2500100, 500000 2500000))",
          "", ""], "bad_geometry"),
        ([v1 + "015", "蝴蝶结", v1, _bowtie(poly).wkt, "", ""], None),
        ([v1 + "016", "偏移", v1, shifted(poly, dlat=0.5).wkt, "", ""], "outside_parent"),
        ([v1 + "017", "中心点外", v1, "", round(far.x, 6), round(far.y, 6)], "outside_parent"),
        ([v1 + "018", "中心点", v1, "", round(inside.x, 6), round(inside.y, 6)], None),
        ([v1 + "019", "只有经度", v1, "", round(inside.x, 6), ""], "required"),
        ([v1 + "020", "纬度不是数", v1, "", round(inside.x, 6), "北纬23度"], "bad_number"),
    ]
    rows += [r for r, _ in bad]
    from tests.refkit import _csv

    data = _csv(["网格编码", "网格名称", "村居编码", "边界", "经度", "纬度"], rows, "utf-8")
    res = env.loader().load_bytes("grids", data, file_name="坏网格.csv", scope=TOWN_CORPUS)
    want = {i + len(good) + 2: {code} for i, (_, code) in enumerate(bad) if code}  # row 1 is the header
    assert problem_codes(res) == want
    assert rejects_of(env.db, res.batch_id) == want
    assert set().union(*want.values()) <= ALL_CODES
    assert_loaded(env, res, len(rows), len(good) + 2)
    assert res.region == TOWN_CORPUS
    assert report_rows(res.report) == sorted(want) and res.report.suffix == ".csv"
    outside = [p for p in res.problems if p.code == "outside_parent"]
    assert {p.field for p in outside} == {"边界", "经度"}
    assert all("441900" in p.reason for p in outside), [p.reason for p in outside]
    assert any("修复" in w for w in res.warnings), res.warnings
    geo = geo_rows(env.db, TOWN_CORPUS).set_index("code")
    assert sorted(geo.index) == sorted([*good["code"], v1 + "015", v1 + "018"])
    tie = geo.loc[v1 + "015", "geometry"]
    assert tie.is_valid and tie.geom_type == "MultiPolygon" and abs(tie.area - 2 * 0.0005 ** 2) < 1e-9
    point = geo.loc[v1 + "018"]
    assert point["geometry"] is None and abs(point["lon"] - inside.x) < 1e-6 and abs(point["lat"] - inside.y) < 1e-6
    assert list(level6(env.db, TOWN_OTHER)["code"]) == []  # the out-of-scope grid was not loaded


def test_shapefile_rejects_report(env):
    """A Shapefile's rejection report is GeoJSON (a DBF cannot carry the reasons)."""
    town = "441900119"  # 长安镇
    good = make_grids(town, 1, 3)
    bad = good.copy()
    bad.loc[1, "geometry"] = shifted(good["geometry"][1], dlat=0.5)
    res = env.loader().load_bytes("grids", grids_shapefile_zip(bad, fields=CHINESE_DBF), file_name="网格.zip")
    assert problem_codes(res) == {2: {"outside_parent"}}
    assert_loaded(env, res, 3, 2)
    feats = json.loads(res.report.read_text(encoding="utf-8"))["features"]
    assert res.report.suffix == ".geojson" and [f["properties"]["_row"] for f in feats] == [2]
    assert feats[0]["properties"]["网格编码"] == good["code"][1]
    assert same_shape(shapely.geometry.shape(feats[0]["geometry"]), bad["geometry"][1])
    assert_grids(env, town, good.drop(index=1))


def test_corpus_geojson_report(env):
    """A GeoJSON file's report is GeoJSON: one feature per rejected record with its properties,
    geometry, row and reasons; a feature that is not an object is an unparsable row."""
    town = "441900102"  # 石龙镇
    good = make_grids(town, 1, 2)
    village, poly = good["village"].iloc[0], good["geometry"].iloc[0]

    def feat(code, geom):
        return {"type": "Feature", "properties": {"网格编码": code, "网格名称": "坏", "村居编码": village},
                "geometry": geom}

    extra = [feat(village + "011", {"type": "LineString", "coordinates": [[113.6, 23.0], [113.7, 23.1]]}),
             feat(village + "012", shapely.geometry.mapping(shifted(poly, dlat=0.5))),
             42,
             feat(village + "013", {"type": "Polygon", "coordinates": "不是坐标"})]
    res = env.loader().load_bytes("grids", grids_geojson(good, extra=extra), file_name="网格.geojson")
    want = {3: {"bad_geometry"}, 4: {"outside_parent"}, 5: {"unparsable"}, 6: {"bad_geometry"}}
    assert problem_codes(res) == want and rejects_of(env.db, res.batch_id) == want
    assert set().union(*want.values()) <= ALL_CODES
    assert_loaded(env, res, 6, 2)
    assert res.report.suffix == ".geojson"
    report = json.loads(res.report.read_text(encoding="utf-8"))
    feats = report["features"]
    assert [f["properties"]["_row"] for f in feats] == [3, 4, 5, 6]
    assert feats[0]["properties"]["网格编码"] == village + "011" and feats[0]["geometry"]["type"] == "LineString"
    assert "_raw" in feats[2]["properties"] and all(f["properties"]["_reasons"] for f in feats)
    assert_grids(env, town, good)


# --------------------------------------------------------------------------- GCJ-02

@pytest.mark.parametrize("fmt", ["geojson", "lonlat"])
def test_gcj02(env, fmt):
    town = "441900101"  # 石碣镇
    df = make_grids(town, 2, 2)
    mars = df.assign(geometry=[to_gcj02(g) for g in df["geometry"]])
    assert all(g.hausdorff_distance(m) > 1e-3 for g, m in zip(df["geometry"], mars["geometry"]))  # a real shift
    if fmt == "geojson":
        data, name = grids_geojson(mars), "高德.geojson"
    else:  # the GCJ-02 image of a point inside each grid
        from tests.refkit import _csv

        pts = {r.code: to_gcj02(r.geometry.representative_point()) for r in df.itertuples()}
        data = _csv(["网格编码", "网格名称", "村居编码", "经度", "纬度"],
                    [[r.code, r.name, r.village, f"{pts[r.code].x:.8f}", f"{pts[r.code].y:.8f}"]
                     for r in df.itertuples()], "utf-8")
        name = "高德.csv"
    res = env.loader().load_bytes("grids", data, file_name=name, crs="gcj02")
    assert_loaded(env, res, 4, 4)
    if fmt == "geojson":
        assert_grids(env, town, df)
    else:
        geo = assert_grids(env, town, df, polygons=False)
        for r, g in zip(geo.itertuples(), df.sort_values("code")["geometry"]):
            p = g.representative_point()
            assert abs(r.lon - p.x) < 1e-5 and abs(r.lat - p.y) < 1e-5, (r.code, r.lon, r.lat, p)


# --------------------------------------------------------------------------- at most once

def test_same_file_twice(env):
    town = "441900104"  # 石排镇
    df = make_grids(town, 2, 1)
    extra = [{"type": "Feature", "properties": {"网格编码": "123"}, "geometry": None}]
    data = grids_geojson(df, extra=extra)
    first = env.loader().load_bytes("grids", data, file_name="a.geojson")
    assert_loaded(env, first, 3, 2)
    before = ref_counts(env.db)
    again = env.loader().load_bytes("grids", data, file_name="again.geojson")
    assert again.already and again.batch_id == first.batch_id and again.state == "loaded"
    assert (again.rows_in, again.rows_loaded, again.rows_rejected) == (3, 2, 1)
    assert ref_counts(env.db) == before
    assert_grids(env, town, df)


def test_crash_while_publishing_then_recover(env, monkeypatch):
    """The process dies after the first table was published: the batch stays ``staged``;
    recover() publishes it again (delete + insert) and nothing is doubled."""
    town = "441900106"  # 横沥镇
    df = make_grids(town, 2, 2)
    data = grids_geojson(df)
    real = loader_mod.execute
    calls = []

    def crashing(db, name, sql, *a, **kw):
        if name == "reference_publish":
            calls.append(sql)
            if len(calls) == 2:
                raise RuntimeError("simulated crash")
        return real(db, name, sql, *a, **kw)

    monkeypatch.setattr(loader_mod, "execute", crashing)
    with pytest.raises(RuntimeError, match="simulated crash"):
        env.loader().load_bytes("grids", data, file_name="crash.geojson")
    monkeypatch.setattr(loader_mod, "execute", real)
    bid = loader_mod.batch_id_for("grids", data, "", "wgs84")
    assert batch_row(env.db, bid)["state"] == "staged"
    assert len(level6(env.db, town)) == 4 and geo_rows(env.db, town).empty  # half published
    out = env.loader().recover()
    assert [r.batch_id for r in out] == [bid] and out[0].state == "loaded"
    assert_loaded(env, out[0], 4, 4)
    assert_grids(env, town, df)
    again = env.loader().load_bytes("grids", data, file_name="crash.geojson")
    assert again.already


def test_crash_before_staging_then_recover(env, monkeypatch):
    """The process dies after recording ``received``: recover() loads the archived file."""
    town = "441900107"  # 桥头镇
    df = make_grids(town, 1, 3)
    data = grids_csv(df, "gbk")

    def boom(*a, **kw):
        raise RuntimeError("simulated crash")

    monkeypatch.setattr(ReferenceLoader, "_stage", boom)
    with pytest.raises(RuntimeError):
        env.loader().load_bytes("grids", data, file_name="crash.csv", crs="gcj02")
    monkeypatch.undo()
    bid = loader_mod.batch_id_for("grids", data, "", "gcj02")
    assert batch_row(env.db, bid)["state"] == "received" and level6(env.db, town).empty
    out = env.loader().recover()
    assert [r.batch_id for r in out] == [bid]
    assert_loaded(env, out[0], 3, 3)
    geo = geo_rows(env.db, town)  # recovered with the crs it was sent with: GCJ-02 → shifted back
    from etl.reference.gcj02 import transform_geometry_gcj02
    import numpy as np

    want = transform_geometry_gcj02(np.array(list(df.sort_values("code")["geometry"]), dtype=object))
    assert all(same_shape(g, w) for g, w in zip(geo["geometry"], want))


# --------------------------------------------------------------------------- a second version

def test_second_version(env):
    """v2 removes grid X (which holds entities), renames Y, adds Z and breaks W's polygon."""
    town = "441900103"  # 茶山镇
    v1 = make_grids(town, 2, 3)
    first = env.loader().load_bytes("grids", grids_geojson(v1), file_name="v1.geojson")
    assert_loaded(env, first, 6, 6)
    x, y, w = v1["code"].iloc[2], v1["code"].iloc[0], v1["code"].iloc[4]
    village2 = v1["village"].iloc[3]
    reg, frame = registrations_csv([x, x, x, y, y], 5, seed=11, start=dt.date.today() - dt.timedelta(days=90))
    ing = ingestor(env.db, env.tmp).ingest_bytes("registration", reg, file_name="登记.csv")
    assert ing.state == "loaded" and ing.rows_loaded == 5, ing.message
    on_x = sorted(frame.loc[frame["网格编码"] == x, "统一社会信用代码"])

    from domain.boundaries import child_polygons

    z = village2 + "004"
    v2 = v1[v1["code"] != x].copy()
    v2.loc[v2["code"] == y, "name"] = "改名后的网格"
    v2 = pd.concat([v2, pd.DataFrame([{"code": z, "name": "新增网格", "village": village2,
                                       "geometry": child_polygons(village2, [*v1["code"][3:], z])[z]}])])
    broken = v2.copy()
    broken.loc[broken["code"] == w, "geometry"] = shapely.LineString([(113.6, 23.0), (113.7, 23.1)])
    data = grids_geojson(broken)

    before = ref_counts(env.db)
    dry = env.loader().load_bytes("grids", data, file_name="v2.geojson", dry_run=True)
    assert dry.state == "checked" and dry.removed == [x] and (dry.rows_loaded, dry.rows_rejected) == (5, 1)
    assert ref_counts(env.db) == before
    assert_grids(env, town, v1)

    res = env.loader().load_bytes("grids", data, file_name="v2.geojson")
    assert_loaded(env, res, 6, 5)
    assert res.removed == [x] and problem_codes(res) == {list(broken["code"]).index(w) + 1: {"bad_geometry"}}
    listed = pd.read_csv(res.affected, dtype=str, encoding="utf-8-sig")
    assert sorted(listed["统一社会信用代码"]) == on_x and set(listed["原网格编码"]) == {x}
    assert set(listed["未办结任务数"].astype(int)) == {1}  # each new registration's verification task
    ents = run(env.db, "t_ents", "SELECT credit_code FROM entities WHERE grid_code = %(g)s ORDER BY credit_code",
               {"g": x})
    assert list(ents["credit_code"]) == on_x  # nothing moves silently
    expected = v2.copy()
    expected.loc[expected["code"] == w, "geometry"] = v1.loc[v1["code"] == w, "geometry"].iloc[0]  # kept
    geo = assert_grids(env, town, expected)
    assert geo.set_index("code").loc[w, "batch_id"] == first.batch_id
    assert level6(env.db, town).set_index("code").loc[y, "name"] == "改名后的网格"


@pytest.mark.parametrize("problem", ["bad_number", "required", "too_long"])
def test_rejected_record_keeps_loaded_version(env, problem):
    """A loaded grid whose record in the new version is rejected — whatever the field — keeps
    its loaded version; it is neither replaced nor removed."""
    town = {"bad_number": "441900113", "required": "441900114", "too_long": "441900115"}[problem]
    v1 = make_grids(town, 1, 3)
    first = env.loader().load_bytes("grids", grids_geojson(v1), file_name="v1.geojson")
    assert_loaded(env, first, 3, 3)
    v2 = v1.assign(name=[n + "（新）" for n in v1["name"]])
    if problem == "bad_number":
        extra_props = {"网格员人数": "很多"}
    else:
        v2.loc[1, "name"] = "" if problem == "required" else "长" * 101
        extra_props = {}
    data = json.loads(grids_geojson(v2))
    data["features"][1]["properties"].update(extra_props)
    res = env.loader().load_bytes("grids", json.dumps(data, ensure_ascii=False).encode(), file_name="v2.geojson")
    assert problem_codes(res) == {2: {problem}}
    assert res.removed == [], f"the rejected grid was removed: {res.removed}"
    assert_loaded(env, res, 3, 2)
    expected = v2.copy()
    expected.loc[1, "name"] = v1.loc[1, "name"]  # the loaded version, untouched
    assert_grids(env, town, expected)


def test_unreadable_file_changes_nothing(env):
    """A file rejected whole (a projected coordinate system) is recorded ``failed``; nothing else moves."""
    town = "441900116"  # 塘厦镇
    df = make_grids(town, 1, 2)
    assert_loaded(env, env.loader().load_bytes("grids", grids_geojson(df), file_name="ok.geojson"), 2, 2)
    before = ref_counts(env.db)
    data = grids_geojson(df.assign(name="投影"), crs="EPSG:3857")
    res = env.loader().load_bytes("grids", data, file_name="投影.geojson")
    assert res.state == "failed" and "坐标系" in res.message and "EPSG:3857" in res.message
    b = batch_row(env.db, res.batch_id)
    assert b["state"] == "failed" and b["message"] == res.message
    after = ref_counts(env.db)
    assert {k: v for k, v in after.items() if not k.startswith("batch")} == \
        {k: v for k, v in before.items() if not k.startswith("batch")}
    assert after["batches"] == before["batches"] + 1
    assert_grids(env, town, df)


def test_a_file_spanning_provinces_needs_its_region(env: Env):
    """Grids of two provinces with no --region would replace the whole country's grids:
    refused with a message naming --region; with CN (the whole country) it loads."""
    gd, gx = make_grids("441900118", 1, 1), make_grids("450102001", 1, 1)  # Dongguan; Nanning 兴宁区
    data = grids_geojson(pd.concat([gd, gx], ignore_index=True))
    before = ref_counts(env.db)
    res = env.loader().load_bytes("grids", data, file_name="两省.geojson")
    assert res.state == "failed" and "--region" in res.message and "CN" in res.message
    after = ref_counts(env.db)
    assert after["batches"] == before["batches"] + 1  # the failed batch is recorded, nothing else written
    assert {k: v for k, v in after.items() if not k.startswith("batch")} == {
        k: v for k, v in before.items() if not k.startswith("batch")}
    assert_loaded(env, env.loader().load_bytes("grids", data, file_name="两省.geojson", scope="CN"), 2, 2)
    got = level6(env.db, "")
    assert set(gd["code"]) | set(gx["code"]) <= set(got["code"])
