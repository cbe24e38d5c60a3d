"""etl.reference.geofiles (GeoJSON / Shapefile readers, GeoJSON rejection report) and etl.reference.gcj02."""
from __future__ import annotations

import codecs
import io
import json
import warnings
import zipfile

import numpy as np
import prcoords
import pytest
import shapefile
import shapely
from shapely.geometry import Polygon

from etl.ingest.raw import FileRejected
from etl.reference.gcj02 import gcj02_to_wgs84, transform_geometry_gcj02, wgs84_to_gcj02
from etl.reference.geofiles import (
    detect_reference_format,
    read_geojson,
    read_reference,
    read_shapefile_zip,
    write_geojson_rejects,
)

MAX = 10 * 1024 * 1024
SQUARE = {"type": "Polygon", "coordinates": [[[113.7, 23.0], [113.7, 23.1], [113.8, 23.1], [113.8, 23.0], [113.7, 23.0]]]}


def _compact(obj) -> str:
    return json.dumps(obj, separators=(",", ":"))


def _fc(features, **top) -> dict:
    return {"type": "FeatureCollection", **top, "features": features}


def _feature(props, geometry=SQUARE) -> dict:
    return {"type": "Feature", "properties": props, "geometry": geometry}


def _bytes(obj, encoding="utf-8") -> bytes:
    return json.dumps(obj, ensure_ascii=False).encode(encoding)


THREE = [
    _feature({"code": 441900003001001, "name": " 莞城网格 ", "area": 1.5, "workers": 3.0, "note": None, "ok": True}),
    _feature({"code": 441900003001002, "name": "东城网格", "extra": "x"}, geometry=None),
    _feature({"code": "441900003001003", "name": "南城网格", "area": 2},
             geometry={"type": "Point", "coordinates": [113.75, 23.05]}),
]


# --------------------------------------------------------------------------- GeoJSON

def test_geojson_feature_collection_values_header_and_raw():
    table = read_geojson(_bytes(_fc(THREE)), max_bytes=MAX)
    assert (table.fmt, table.encoding) == ("geojson", "utf-8")
    assert table.header == ["code", "name", "area", "workers", "note", "ok", "extra", "geometry"]
    assert table.problems == [] and table.rows_in == 3
    assert [r.row_no for r in table.rows] == [1, 2, 3]
    first, second, third = (r.values for r in table.rows)
    assert first == {"code": "441900003001001", "name": "莞城网格", "area": "1.5", "workers": "3", "note": "",
                     "ok": "1", "extra": "", "geometry": _compact(SQUARE)}
    assert second["geometry"] == "" and second["extra"] == "x" and second["area"] == ""
    assert third["code"] == "441900003001003" and third["area"] == "2"
    assert json.loads(third["geometry"]) == {"type": "Point", "coordinates": [113.75, 23.05]}
    # raw: the feature as sent less its coordinates (they are in values["geometry"])
    assert json.loads(table.rows[0].raw) == {**THREE[0], "geometry": {"type": THREE[0]["geometry"]["type"]}}
    assert json.loads(table.rows[1].raw)["geometry"] is None
    assert list(table.rows[0].values) == table.header


def test_geojson_bom_and_single_feature():
    table = read_geojson(codecs.BOM_UTF8 + _bytes(THREE[0]), max_bytes=MAX)
    assert table.rows_in == 1 and table.rows[0].values["code"] == "441900003001001"
    assert table.rows[0].values["geometry"] == _compact(SQUARE)


def test_geojson_bad_features_are_problems_not_lost():
    features = ["abc", THREE[0], {"type": "Feature", "properties": [1, 2], "geometry": None}, 7,
                {"type": "Feature", "properties": None, "geometry": None}]
    table = read_geojson(_bytes(_fc(features)), max_bytes=MAX)
    assert table.rows_in == 5
    assert [r.row_no for r in table.rows] == [2, 5]
    assert table.rows[1].values == dict.fromkeys(table.header, "")  # properties null: an empty record
    assert [p.row_no for p in table.problems] == [1, 3, 4]
    assert table.problems[0].reason.startswith("第 1 个要素不是有效的 GeoJSON 要素")
    assert table.problems[0].raw == '"abc"'
    assert "properties" in table.problems[1].reason


def test_geojson_long_raw_is_cut():
    big = _feature({"name": "x" * 10_000})
    assert len(read_geojson(_bytes(_fc([big])), max_bytes=MAX).rows[0].raw) == 4000


@pytest.mark.parametrize("cut", [10, 200, -3])
def test_geojson_truncated_is_rejected(cut):
    data = _bytes(_fc(THREE))[:cut]
    with pytest.raises(FileRejected) as exc:
        read_geojson(data, max_bytes=MAX)
    assert exc.value.code == "format"
    assert "GeoJSON 无法解析" in exc.value.user_message and "截断" in exc.value.user_message


def test_geojson_truncated_message_says_where():
    data = _bytes(_fc(THREE * 3))
    with pytest.raises(FileRejected) as exc:
        read_geojson(data[: len(data) // 2], max_bytes=MAX)
    assert "已正常读取" in exc.value.user_message


@pytest.mark.parametrize("data, code", [
    (b"hello world", "format"),
    (b"[1, 2, 3]", "format"),
    (b'{"type": "FeatureCollection"}', "format"),
    (b"{}", "format"),
    (b'{"type": "FeatureCollection", "features": {"a": 1}}', "format"),
    (b'{"type": "FeatureCollection", "features": []}', "empty"),
    (b"   \n", "empty"),
    (b'{"features": []} trailing', "format"),
])
def test_geojson_whole_file_problems(data, code):
    with pytest.raises(FileRejected) as exc:
        read_geojson(data, max_bytes=MAX)
    assert exc.value.code == code


def test_geojson_too_large():
    with pytest.raises(FileRejected) as exc:
        read_geojson(_bytes(_fc(THREE)), max_bytes=100)
    assert exc.value.code == "too_large"


def _named_crs(name) -> dict:
    return {"type": "name", "properties": {"name": name}}


@pytest.mark.parametrize("name", ["urn:ogc:def:crs:EPSG::3857", "EPSG:4547", "urn:ogc:def:crs:EPSG::2385"])
@pytest.mark.parametrize("after_features", [False, True])
def test_geojson_projected_crs_is_rejected(name, after_features):
    fc = _fc(THREE)
    if after_features:
        fc["crs"] = _named_crs(name)
    else:
        fc = _fc(THREE, crs=_named_crs(name))
    with pytest.raises(FileRejected) as exc:
        read_geojson(_bytes(fc), max_bytes=MAX)
    assert exc.value.code == "crs"
    assert exc.value.user_message == f"坐标系 {name} 不受支持：请导出为经纬度坐标（WGS-84 或 CGCS2000）"


@pytest.mark.parametrize("crs", [
    _named_crs("EPSG:4490"), _named_crs("urn:ogc:def:crs:EPSG::4490"), _named_crs("EPSG:4326"),
    _named_crs("urn:ogc:def:crs:EPSG::4326"), _named_crs("urn:ogc:def:crs:OGC:1.3:CRS84"),
    _named_crs("http://www.opengis.net/def/crs/EPSG/0/4490"), {"type": "EPSG", "properties": {"code": 4326}}, None,
])
def test_geojson_lon_lat_crs_is_accepted(crs):
    table = read_geojson(_bytes(_fc(THREE, crs=crs)), max_bytes=MAX)
    assert table.rows_in == 3


def test_geojson_gb18030():
    fc = _fc([_feature({"网格编码": 441900003001001, "网格名称": "莞城街道第一网格"}),
              _feature({"网格编码": 441900003001002, "网格名称": "䶮鿏网格"})])  # outside GBK: GB18030 only
    table = read_geojson(_bytes(fc, "gb18030"), max_bytes=MAX)
    assert table.encoding == "gb18030"
    assert table.header == ["网格编码", "网格名称", "geometry"]
    assert [r.values["网格名称"] for r in table.rows] == ["莞城街道第一网格", "䶮鿏网格"]
    assert "莞城街道第一网格" in table.rows[0].raw


def test_geojson_streams_many_features():
    n = 20_000
    parts = ",".join(
        _compact(_feature({"code": 441900003000000 + i, "name": f"网格{i}"},
                          {"type": "Polygon", "coordinates": [[[113 + i * 1e-5, 23], [113.01, 23], [113.01, 23.01],
                                                               [113 + i * 1e-5, 23]]]}))
        for i in range(n))
    data = ('{"type":"FeatureCollection","features":[' + parts + "]}").encode()
    table = read_geojson(data, max_bytes=len(data))
    assert len(table.rows) == n and not table.problems
    assert table.rows[-1].row_no == n
    assert table.rows[-1].values["code"] == str(441900003000000 + n - 1)


# --------------------------------------------------------------------------- Shapefile

CW = [[113.7, 23.0], [113.7, 23.1], [113.8, 23.1], [113.8, 23.0], [113.7, 23.0]]  # clockwise: an outer ring
CW2 = [[113.9, 23.0], [113.9, 23.2], [114.0, 23.2], [114.0, 23.0], [113.9, 23.0]]
PROJ_PRJ = ('PROJCS["CGCS2000_3_Degree_GK_CM_114E",GEOGCS["GCS_China_Geodetic_Coordinate_System_2000",'
            'DATUM["D_China_2000",SPHEROID["CGCS2000",6378137.0,298.257222101]],PRIMEM["Greenwich",0.0],'
            'UNIT["Degree",0.0174532925199433]],PROJECTION["Gauss_Kruger"],UNIT["Meter",1.0]]')
GEO_PRJ = ('GEOGCS["GCS_China_Geodetic_Coordinate_System_2000",DATUM["D_China_2000",'
           'SPHEROID["CGCS2000",6378137.0,298.257222101]],PRIMEM["Greenwich",0.0],UNIT["Degree",0.0174532925199433]]')


def _shapefile(encoding: str = "gbk") -> dict[str, bytes]:
    shp, shx, dbf = io.BytesIO(), io.BytesIO(), io.BytesIO()
    w = shapefile.Writer(shp=shp, shx=shx, dbf=dbf, shapeType=shapefile.POLYGON, encoding=encoding)
    w.field("CODE", "N", 15, 0)
    w.field("NAME", "C", 40)
    w.field("AREA", "N", 12, 3)
    w.field("DAY", "D")
    w.poly([CW])
    w.record(441900003001001, "莞城网格", 1.5, "20240102")
    w.null()
    w.record(441900003001002, "东城网格", None, None)
    w.poly([CW, CW2])
    w.record(441900003001003, "南城网格", 2.25, "20241231")
    w.close()
    return {".shp": shp.getvalue(), ".shx": shx.getvalue(), ".dbf": dbf.getvalue()}


def _zip(files: dict[str, bytes], stem: str = "grids/网格") -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr("__MACOSX/grids/._网格.shp", b"resource fork")  # ignored
        for ext, data in files.items():
            zf.writestr(stem + ext, data)
    return out.getvalue()


def _check_three_records(table):
    assert table.fmt == "shp" and table.rows_in == 3 and not table.problems
    assert table.header == ["CODE", "NAME", "AREA", "DAY", "geometry"]
    first, second, third = table.rows
    assert first.row_no == 1 and third.row_no == 3
    assert first.values == {"CODE": "441900003001001", "NAME": "莞城网格", "AREA": "1.5", "DAY": "2024-01-02",
                            "geometry": first.values["geometry"]}
    geom = json.loads(first.values["geometry"])
    assert geom["type"] == "Polygon" and shapely.geometry.shape(geom).equals(Polygon(CW))
    assert second.values == {"CODE": "441900003001002", "NAME": "东城网格", "AREA": "", "DAY": "", "geometry": ""}
    assert json.loads(third.values["geometry"])["type"] == "MultiPolygon"
    assert first.raw == "441900003001001\t莞城网格\t1.5\t2024-01-02\tPOLYGON"
    assert second.raw.endswith("\tNULL")


def test_shapefile_gbk_with_cpg():
    table = read_shapefile_zip(_zip({**_shapefile("gbk"), ".cpg": b"GBK", ".prj": GEO_PRJ.encode()}), max_bytes=MAX)
    assert table.encoding == "gb18030"
    _check_three_records(table)


def test_shapefile_gbk_without_cpg_falls_back():
    table = read_shapefile_zip(_zip(_shapefile("gbk")), max_bytes=MAX)
    assert table.encoding == "gb18030"
    _check_three_records(table)


def test_shapefile_utf8_without_cpg_and_upper_case_extensions():
    files = {ext.upper(): data for ext, data in _shapefile("utf-8").items()}
    table = read_shapefile_zip(_zip(files, stem="Grids"), max_bytes=MAX)
    assert table.encoding == "utf-8"
    _check_three_records(table)


def test_shapefile_projected_prj_is_rejected():
    with pytest.raises(FileRejected) as exc:
        read_shapefile_zip(_zip({**_shapefile(), ".prj": PROJ_PRJ.encode()}), max_bytes=MAX)
    assert exc.value.code == "crs"
    assert "CGCS2000_3_Degree_GK_CM_114E" in exc.value.user_message
    assert "不受支持：请导出为经纬度坐标（WGS-84 或 CGCS2000）" in exc.value.user_message


@pytest.mark.parametrize("drop", [".dbf", ".shx"])
def test_shapefile_missing_member_is_rejected(drop):
    files = {ext: data for ext, data in _shapefile().items() if ext != drop}
    with pytest.raises(FileRejected) as exc:
        read_shapefile_zip(_zip(files), max_bytes=MAX)
    assert exc.value.code == "format" and drop in exc.value.user_message


@pytest.mark.filterwarnings("ignore::shapefile.PossiblyCorruptFileHeader")
def test_shapefile_zip_problems():
    with pytest.raises(FileRejected) as exc:
        read_shapefile_zip(b"not a zip at all", max_bytes=MAX)
    assert exc.value.code == "format"
    two = io.BytesIO()
    with zipfile.ZipFile(two, "w") as zf:
        for stem in ("a", "b"):
            for ext, data in _shapefile().items():
                zf.writestr(stem + ext, data)
    with pytest.raises(FileRejected) as exc:
        read_shapefile_zip(two.getvalue(), max_bytes=MAX)
    assert exc.value.code == "format" and "a.shp" in exc.value.user_message and "b.shp" in exc.value.user_message
    with pytest.raises(FileRejected) as exc:
        read_shapefile_zip(_zip({".txt": b"hello"}), max_bytes=MAX)
    assert exc.value.code == "format" and ".shp" in exc.value.user_message
    broken = _shapefile()
    broken[".shp"] = broken[".shp"][:150]
    with pytest.raises(FileRejected) as exc:
        read_shapefile_zip(_zip(broken), max_bytes=MAX)
    assert exc.value.code == "format"


# --------------------------------------------------------------------------- format detection, dispatch

@pytest.mark.parametrize("name, fmt", [
    ("grids.geojson", "geojson"), ("网格.JSON", "geojson"), ("grids.zip", "shp"), ("grids.shp.zip", "shp"),
    ("workers.csv", "csv"), ("workers.TXT", "csv"), ("depts.xlsx", "xlsx"),
])
def test_detect_reference_format(name, fmt):
    assert detect_reference_format(name) == fmt


@pytest.mark.parametrize("name", ["grids.kml", "grids.shp", "noext", "old.xls"])
def test_detect_reference_format_rejects(name):
    with pytest.raises(FileRejected) as exc:
        detect_reference_format(name)
    assert exc.value.code == "format" and "GeoJSON、Shapefile（zip）、CSV、XLSX" in exc.value.user_message


def test_read_reference_dispatches():
    assert read_reference(_bytes(_fc(THREE)), "geojson", max_bytes=MAX).fmt == "geojson"
    assert read_reference(_zip(_shapefile()), "shp", max_bytes=MAX).fmt == "shp"
    csv_table = read_reference("编码,名称\n1,莞城\n".encode(), "csv", max_bytes=MAX)
    assert csv_table.fmt == "csv" and csv_table.rows[0].values == {"编码": "1", "名称": "莞城"}
    with pytest.raises(FileRejected):
        read_reference(b"x", "kml", max_bytes=MAX)


# --------------------------------------------------------------------------- rejection report

def test_write_geojson_rejects_round_trip(tmp_path):
    table = read_geojson(_bytes(_fc([*THREE, "broken"])), max_bytes=MAX)
    rejected = {3: [("geometry", "不是面")], 1: [("name", "名称重复"), ("code", "编码不在辖区内"), ("name", "名称重复")]}
    path = write_geojson_rejects(table, rejected, tmp_path / "out" / "退回.geojson")
    assert path == tmp_path / "out" / "退回.geojson"
    assert [p.name for p in path.parent.iterdir()] == ["退回.geojson"]  # no temp file left
    report = json.loads(path.read_text(encoding="utf-8"))
    assert report["type"] == "FeatureCollection"
    feats = report["features"]
    assert [f["properties"]["_row"] for f in feats] == [1, 3, 4]
    first = feats[0]["properties"]
    assert first["_fields"] == ["name", "code"] and first["_reasons"] == ["名称重复", "编码不在辖区内"]
    assert first["code"] == "441900003001001" and first["name"] == "莞城网格" and "geometry" not in first
    assert feats[0]["geometry"] == SQUARE
    assert feats[1]["geometry"] == {"type": "Point", "coordinates": [113.75, 23.05]}
    assert feats[1]["properties"]["_fields"] == ["geometry"]
    problem = feats[2]
    assert problem["geometry"] is None and problem["properties"]["_raw"] == '"broken"'
    assert problem["properties"]["_fields"] == [""] and "第 4 个要素" in problem["properties"]["_reasons"][0]


def test_write_geojson_rejects_shapefile_null_geometry(tmp_path):
    table = read_shapefile_zip(_zip(_shapefile()), max_bytes=MAX)
    path = write_geojson_rejects(table, {2: [("AREA", "面积为空")], 3: [("CODE", "重复")]}, tmp_path / "r.geojson")
    feats = json.loads(path.read_text(encoding="utf-8"))["features"]
    assert feats[0]["geometry"] is None and feats[0]["properties"]["NAME"] == "东城网格"
    assert shapely.geometry.shape(feats[1]["geometry"]).equals(shapely.geometry.MultiPolygon([Polygon(CW), Polygon(CW2)]))


# --------------------------------------------------------------------------- GCJ-02

def _china_points(n=200, seed=3):
    rng = np.random.default_rng(seed)
    return rng.uniform(73.5, 134.5, n), rng.uniform(18.5, 53.0, n)


def test_gcj02_forward_matches_prcoords():
    lon, lat = _china_points()
    glon, glat = wgs84_to_gcj02(lon, lat)
    ref = np.array([prcoords.wgs_gcj((a, o)) for o, a in zip(lon, lat)])  # prcoords: (lat, lon)
    np.testing.assert_allclose(glat, ref[:, 0], rtol=0, atol=1e-9)
    np.testing.assert_allclose(glon, ref[:, 1], rtol=0, atol=1e-9)
    assert np.abs(glon - lon).max() > 1e-3  # it does move points


def test_gcj02_inverse_matches_prcoords_bored():
    glon, glat = _china_points(seed=5)
    wlon, wlat = gcj02_to_wgs84(glon, glat)
    ref = np.array([prcoords.gcj_wgs_bored((a, o)) for o, a in zip(glon, glat)])
    np.testing.assert_allclose(wlat, ref[:, 0], rtol=0, atol=1e-6)
    np.testing.assert_allclose(wlon, ref[:, 1], rtol=0, atol=1e-6)
    back_lon, back_lat = wgs84_to_gcj02(wlon, wlat)  # and it really is the inverse
    np.testing.assert_allclose(back_lon, glon, rtol=0, atol=1e-9)
    np.testing.assert_allclose(back_lat, glat, rtol=0, atol=1e-9)


def test_gcj02_outside_china_and_nan_unchanged():
    lon, lat = np.array([2.3522, -74.006, 150.0, np.nan]), np.array([48.8566, 40.7128, 30.0, np.nan])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no RuntimeWarning from NaN either
        wlon, wlat = gcj02_to_wgs84(lon, lat)
    np.testing.assert_array_equal(wlon, lon)
    np.testing.assert_array_equal(wlat, lat)
    np.testing.assert_array_equal(wgs84_to_gcj02(lon, lat)[0], lon)


def test_transform_geometry_gcj02():
    poly = Polygon([(113.70, 23.00), (113.70, 23.05), (113.76, 23.05), (113.76, 23.00)])
    hole = Polygon([(113.70, 23.00), (113.70, 23.05), (113.76, 23.05), (113.76, 23.00)],
                   [[(113.72, 23.01), (113.74, 23.01), (113.74, 23.03), (113.72, 23.01)]])
    out = transform_geometry_gcj02(np.array([poly, None, hole], dtype=object))
    assert out[1] is None
    for before, after in ((poly, out[0]), (hole, out[2])):
        src, dst = shapely.get_coordinates(before), shapely.get_coordinates(after)
        assert src.shape == dst.shape
        lon, lat = gcj02_to_wgs84(src[:, 0], src[:, 1])
        np.testing.assert_allclose(dst, np.column_stack([lon, lat]), rtol=0, atol=1e-12)
        shift_m = np.hypot((src[:, 0] - dst[:, 0]) * 102_000, (src[:, 1] - dst[:, 1]) * 111_000)
        assert ((shift_m > 100) & (shift_m < 1000)).all()  # GCJ-02 offsets are a few hundred metres
        assert np.ptp(shift_m) < 5  # and almost constant over a few kilometres
    assert len(out[2].interiors) == 1 and out[2].is_valid
