"""Shared helpers of the reference-data tests (tests/test_reference_*.py).

* :func:`blank_db` — a database holding the vendored NBS region tree and nothing else,
  with every process-wide cache of grids, regions and loaded boundaries forgotten;
* :func:`ref_loader` / :func:`ingestor` — a :class:`ReferenceLoader` / :class:`Ingestor`
  writing archives and reports under a temporary folder;
* :func:`make_grids` — deterministic grids of a town's first villages, with polygons
  from :func:`domain.boundaries.child_polygons` (inside the real county polygon);
* file builders for every kind of reference file (GeoJSON, CSV in any encoding and
  with WKT / lon-lat / no geometry, XLSX, zipped Shapefile with a GBK DBF) and a
  registration file for the ingestor.
"""
from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import json
import zipfile
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pandas as pd
import shapely
from shapely.geometry import mapping

from domain import uscc
from etl.ingest.batch import Ingestor
from etl.ingest.config import IngestSettings
from etl.reference.loader import ReferenceLoader
from store.engine import Engine

#: 东城街道, Dongguan (no county level: pseudo-county 441900).
TOWN = "441900003"
GRID_HEADERS = ("网格编码", "网格名称", "村居编码")
WORKER_HEADERS = ("网格员编号", "姓名", "手机号码", "网格编码")
DEPT_HEADERS = ("部门编码", "部门名称", "所属区划代码", "部门类型", "审批行业")
REG_HEADERS = ("统一社会信用代码", "名称", "主体类型", "行业门类", "网格编码", "成立日期", "法定代表人")


# --------------------------------------------------------------------------- the database

def forget_caches() -> None:
    """Forget every process-wide cache a reference load or a previous database left."""
    from domain import boundaries
    from etl.ingest.lookups import clear_grid_cache
    from etl.reference import geometry
    from queries import shapes
    from store.versions import forget_versions
    from queries.regions import clear_region_cache

    clear_grid_cache()
    clear_region_cache()
    forget_versions()
    shapes._synced.clear()  # else a later sync_boundaries of an earlier database would skip re-installing its shapes
    boundaries.use_loaded({}, key=None)
    geometry.clear_cache()


def blank_db(kind: str, request, database: str) -> Engine:
    """A database ``database`` of engine ``kind`` ('chdb' | 'server') holding the NBS tree only."""
    from etl.load import load_regions
    from store.schema import drop_data_tables, init_schema
    from tests.conftest import make_test_engine

    db = make_test_engine(kind, request, database)
    drop_data_tables(db)
    init_schema(db)
    load_regions(db)
    forget_caches()
    return db


def settings(tmp: Path) -> IngestSettings:
    return dataclasses.replace(IngestSettings.from_env(), ingest_dir=Path(tmp))


def ref_loader(db: Engine, tmp: Path) -> ReferenceLoader:
    return ReferenceLoader(db, settings(tmp))


def ingestor(db: Engine, tmp: Path) -> Ingestor:
    return Ingestor(db, settings(tmp))


# --------------------------------------------------------------------------- grids

def villages_of(town: str) -> list[str]:
    from domain.regions import children_codes

    return children_codes(town)


def make_grids(town: str, villages: int, per_village: int) -> pd.DataFrame:
    """Grids of the first ``villages`` villages of ``town``: codes ``village + '001'…``,
    names 网格名, polygons splitting each (schematic) village polygon. Columns code, name,
    village, geometry (shapely). Deterministic as long as no boundaries are in use
    (:func:`blank_db` / :func:`forget_caches` leave none)."""
    from domain.boundaries import child_polygons
    from domain.regions import region_name

    rows = []
    for village in villages_of(town)[:villages]:
        codes = [f"{village}{i:03d}" for i in range(1, per_village + 1)]
        polys = child_polygons(village, codes)
        vname = region_name(village) or village
        for i, code in enumerate(codes, 1):
            rows.append({"code": code, "name": f"{vname}第{i}网格", "village": village, "geometry": polys[code]})
    return pd.DataFrame(rows, columns=["code", "name", "village", "geometry"])


def _grid_props(r: Any) -> dict[str, Any]:
    return {"网格编码": r.code, "网格名称": r.name, "村居编码": r.village, "网格员人数": 2}


def _feature(props: dict[str, Any], geom: Any) -> dict[str, Any]:
    return {"type": "Feature", "properties": props, "geometry": None if geom is None else mapping(geom)}


def _geojson(features: Iterable[dict], crs: str | None) -> bytes:
    doc: dict[str, Any] = {"type": "FeatureCollection"}
    if crs:
        doc["crs"] = {"type": "name", "properties": {"name": crs}}
    doc["features"] = list(features)
    return json.dumps(doc, ensure_ascii=False).encode("utf-8")


def grids_geojson(df: pd.DataFrame, extra: Iterable[dict] = (), crs: str | None = None) -> bytes:
    """FeatureCollection of ``df``'s grids, then the ``extra`` features as given."""
    feats = [_feature(_grid_props(r), r.geometry) for r in df.itertuples(index=False)]
    return _geojson([*feats, *extra], crs)


def _csv(header: Iterable[str], rows: Iterable[Iterable[Any]], encoding: str) -> bytes:
    buf = io.StringIO(newline="")
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(list(header))
    for r in rows:
        w.writerow(["" if v is None else v for v in r])
    return buf.getvalue().encode(encoding)


def _grid_table(df: pd.DataFrame, geometry: str) -> tuple[list[str], list[list[Any]]]:
    header = list(GRID_HEADERS)
    if geometry == "wkt":
        header.append("边界")
    elif geometry == "lonlat":
        header += ["经度", "纬度"]
    elif geometry != "none":
        raise ValueError(geometry)
    rows = []
    for r in df.itertuples(index=False):
        row: list[Any] = [r.code, r.name, r.village]
        if geometry == "wkt":
            row.append("" if r.geometry is None else shapely.to_wkt(r.geometry, rounding_precision=8))
        elif geometry == "lonlat":
            p = r.geometry.representative_point()
            row += [round(p.x, 7), round(p.y, 7)]
        rows.append(row)
    return header, rows


def grids_csv(df: pd.DataFrame, encoding: str = "utf-8", geometry: str = "wkt") -> bytes:
    """CSV with headers 网格编码,网格名称,村居编码 and 边界 (WKT) or 经度,纬度 (a point inside
    each polygon) or nothing else (``geometry`` 'wkt' | 'lonlat' | 'none')."""
    header, rows = _grid_table(df, geometry)
    return _csv(header, rows, encoding)


def _xlsx(header: list[str], rows: list[list[Any]]) -> bytes:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(header)
    for r in rows:
        ws.append(r)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def grids_xlsx(df: pd.DataFrame, geometry: str = "wkt") -> bytes:
    header, rows = _grid_table(df, geometry)
    return _xlsx(header, rows)


def grids_shapefile_zip(df: pd.DataFrame, encoding: str = "gbk", cpg: bool = True,
                        fields: tuple[str, str, str] = ("WGBM", "WGMC", "CJBM")) -> bytes:
    """A zip of grids.shp/.shx/.dbf (+ grids.cpg naming ``encoding`` when ``cpg``), DBF text in
    ``encoding``; the DBF field names (≤ 10 bytes) are ``fields`` (code, name, village)."""
    import shapefile

    shp, shx, dbf = io.BytesIO(), io.BytesIO(), io.BytesIO()
    w = shapefile.Writer(shp=shp, shx=shx, dbf=dbf, shapeType=shapefile.POLYGON, encoding=encoding)
    w.field(fields[0], "C", 15)
    w.field(fields[1], "C", 100)
    w.field(fields[2], "C", 12)
    for r in df.itertuples(index=False):
        polys = list(getattr(r.geometry, "geoms", [r.geometry]))
        parts = []
        for p in polys:
            # shapefile rings: exterior clockwise, holes counter-clockwise
            parts.append(list(shapely.geometry.polygon.orient(p, -1.0).exterior.coords))
            parts += [list(h.coords) for h in shapely.geometry.polygon.orient(p, -1.0).interiors]
        w.poly(parts)
        w.record(r.code, r.name, r.village)
    w.close()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("grids.shp", shp.getvalue())
        zf.writestr("grids.shx", shx.getvalue())
        zf.writestr("grids.dbf", dbf.getvalue())
        zf.writestr("grids.prj", 'GEOGCS["GCS_WGS_1984",DATUM["D_WGS_1984",SPHEROID["WGS_1984",6378137.0,'
                                 '298.257223563]],PRIMEM["Greenwich",0.0],UNIT["Degree",0.0174532925199433]]')
        if cpg:
            zf.writestr("grids.cpg", encoding.upper())
    return out.getvalue()


# --------------------------------------------------------------------------- boundaries

def boundaries_geojson(codes_with_geoms: dict[str, Any], names: dict[str, str] | None = None) -> bytes:
    """FeatureCollection of town or village boundaries (properties 区划代码, 名称)."""
    from domain.regions import region_name

    names = names or {}
    return _geojson([_feature({"区划代码": c, "名称": names.get(c) or region_name(c) or c}, g)
                     for c, g in codes_with_geoms.items()], None)


# --------------------------------------------------------------------------- workers, departments

def _table(rows: list[dict], header: tuple[str, ...]) -> tuple[list[str], list[list[Any]]]:
    cols = list(header) + [k for k in dict.fromkeys(k for r in rows for k in r) if k not in header]
    return cols, [[r.get(c, "") for c in cols] for r in rows]


def workers_csv(rows: list[dict], encoding: str = "utf-8") -> bytes:
    """Headers 网格员编号,姓名,手机号码,网格编码 (plus any other key of ``rows``)."""
    return _csv(*_table(rows, WORKER_HEADERS), encoding)


def workers_xlsx(rows: list[dict]) -> bytes:
    return _xlsx(*_table(rows, WORKER_HEADERS))


def inspectors_csv(rows: list[dict]) -> bytes:
    """Headers 人员编号,姓名,部门编码,执法证号,所属区划代码 (the 执法人员名录)."""
    return _csv(*_table(rows, ("人员编号", "姓名", "部门编码", "执法证号", "所属区划代码")), "utf-8")


def departments_csv(rows: list[dict], encoding: str = "utf-8") -> bytes:
    """Headers 部门编码,部门名称,所属区划代码,部门类型,审批行业."""
    return _csv(*_table(rows, DEPT_HEADERS), encoding)


# --------------------------------------------------------------------------- registrations

def registrations_csv(grid_codes: list[str], n: int, seed: int, start: dt.date,
                      industries: str = "FHQGAC", end: dt.date | None = None) -> tuple[bytes, pd.DataFrame]:
    """``n`` registrations on ``grid_codes`` (cycled), valid credit codes, dates between
    ``start`` and ``end`` (default today; never in the future); the CSV and its frame (the
    oracle's input)."""
    rng = np.random.default_rng(seed)
    codes = uscc.generate(rng, ["441900"] * n, ["enterprise"] * n)
    today = min(end or dt.date.today(), dt.date.today())
    span = max((today - start).days, 0)
    days = rng.integers(0, span + 1, n) if span else np.zeros(n, dtype=int)
    frame = pd.DataFrame({
        "统一社会信用代码": codes,
        "名称": [f"东莞市参考测试{seed}-{i}号商贸有限公司" for i in range(n)],
        "主体类型": "企业",
        "行业门类": [industries[i % len(industries)] for i in range(n)],
        "网格编码": [grid_codes[i % len(grid_codes)] for i in range(n)],
        "成立日期": [(start + dt.timedelta(days=int(d))).isoformat() for d in days],
        "法定代表人": [f"法人{i}" for i in range(n)],
    }, columns=list(REG_HEADERS))
    return _csv(REG_HEADERS, frame.itertuples(index=False), "utf-8"), frame


# --------------------------------------------------------------------------- reading back

def level6(db: Engine, prefix: str) -> pd.DataFrame:
    """Grid rows of ``regions`` under ``prefix`` (code, name, parent), ordered by code."""
    from store.executor import run

    return run(db, "refkit_level6", "SELECT code, name, parent FROM regions WHERE level = 6 AND code LIKE %(p)s "
               "ORDER BY code", {"p": prefix + "%"}).reset_index(drop=True)


def geo_rows(db: Engine, prefix: str, level: int = 6) -> pd.DataFrame:
    """``region_geo`` rows under ``prefix`` at ``level``: code, geometry (shapely or None), lon,
    lat, workers_planned, batch_id, ordered by code."""
    from store.executor import run

    df = run(db, "refkit_geo", "SELECT code, geometry AS text, lon, lat, workers_planned, batch_id FROM region_geo "
             "WHERE level = %(level)s AND code LIKE %(p)s ORDER BY code", {"p": prefix + "%", "level": level})
    geoms = [shapely.from_geojson(t) if t else None for t in df["text"]]
    return df.assign(geometry=geoms).reset_index(drop=True)


def same_shape(a: Any, b: Any, tol: float = 1e-5) -> bool:
    """Two polygons equal within ``tol`` degrees (Hausdorff distance: vertex order and ring
    orientation do not matter)."""
    return a is not None and b is not None and a.hausdorff_distance(b) < tol


def ref_counts(db: Engine) -> dict[str, int]:
    """Row counts of every table a reference load writes (batches: distinct ids)."""
    from store.executor import run

    row = run(db, "refkit_counts", """
        SELECT (SELECT count() FROM regions WHERE level = 6) AS grids, (SELECT count() FROM region_geo) AS geo,
               (SELECT count() FROM grid_workers) AS workers, (SELECT count() FROM departments) AS departments,
               (SELECT count() FROM reference_rejects) AS rejects,
               (SELECT uniqExact(batch_id) FROM reference_batches) AS batches,
               (SELECT count() FROM reference_batches) AS batch_rows,
               (SELECT count() FROM entities) AS entities""").iloc[0]
    return {k: int(v) for k, v in row.items()}


def batch_row(db: Engine, batch_id: str) -> dict:
    """The newest ``reference_batches`` row of ``batch_id``."""
    from store.executor import run

    df = run(db, "refkit_batch", """
        SELECT toString(state) AS state, kind, region_code, fmt, encoding, rows_in, rows_loaded, rows_rejected, message
        FROM reference_batches WHERE batch_id = %(b)s ORDER BY version DESC LIMIT 1""", {"b": batch_id})
    assert not df.empty, f"reference batch {batch_id} not recorded"
    return df.iloc[0].to_dict()


def rejects_of(db: Engine, batch_id: str) -> dict[int, set[str]]:
    """``reference_rejects`` of a batch: row number → reason codes."""
    from store.executor import run

    df = run(db, "refkit_rejects", "SELECT row_no, reason_code, reason FROM reference_rejects WHERE batch_id = %(b)s",
             {"b": batch_id})
    out: dict[int, set[str]] = {}
    for r in df.itertuples(index=False):
        assert r.reason, "every rejected record has a reason"
        out.setdefault(int(r.row_no), set()).add(r.reason_code)
    return out


def problem_codes(res: Any) -> dict[int, set[str]]:
    out: dict[int, set[str]] = {}
    for p in res.problems:
        out.setdefault(p.row_no, set()).add(p.code)
    return out


def shifted(geom: Any, dlon: float = 0.0, dlat: float = 0.0) -> Any:
    return shapely.transform(geom, lambda xy: xy + np.array([dlon, dlat]))


def to_gcj02(geom: Any) -> Any:
    """A WGS-84 geometry in GCJ-02 coordinates (the forward transform)."""
    from etl.reference.gcj02 import wgs84_to_gcj02

    return shapely.transform(geom, lambda xy: np.column_stack(wgs84_to_gcj02(xy[:, 0], xy[:, 1])))


@dataclasses.dataclass
class RefEnv:
    """A database of one engine kind and a folder for its archives and reports."""

    kind: str
    db: Engine
    tmp: Path

    def loader(self) -> ReferenceLoader:
        return ref_loader(self.db, self.tmp)

    def load(self, kind: str, data: bytes, name: str, **kw: Any):  # noqa: ANN201 - RefResult
        """Load and check the invariants every reference batch keeps."""
        res = self.loader().load_bytes(kind, data, file_name=name, **kw)
        assert res.state in ("loaded", "checked"), res.message
        assert res.rows_in == res.rows_loaded + res.rows_rejected
        assert len(rejects_of(self.db, res.batch_id)) == (0 if kw.get("dry_run") else res.rows_rejected)
        return res


KINDS = ("chdb", "server")


def ref_env_fixture(name: str):  # noqa: ANN201 - a pytest fixture
    """A module-scoped fixture, parametrised over both engines: a blank database
    ``test_ref_<name>`` (schema and region tree only) and a folder for its files."""
    import pytest

    @pytest.fixture(scope="module", params=KINDS)
    def env(request, tmp_path_factory):  # noqa: ANN001, ANN202
        db = blank_db(request.param, request, f"test_ref_{name}")
        yield RefEnv(request.param, db, tmp_path_factory.mktemp(f"ref-{name}-{request.param}"))
        forget_caches()

    return env
