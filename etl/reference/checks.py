"""Validation of reference files, column by column: every record is either valid or
rejected with its row, field and reason (the codes are in :data:`REASON_CODES`).

:func:`check` needs the vendored region tree, the loaded boundaries
(:mod:`domain.boundaries`) and, for grid workers, the set of loaded grids; it returns the
rows each table receives. Reading the file is :mod:`etl.reference.geofiles`' job.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import pandas as pd
import shapely

from etl.ingest.raw import RawTable
from domain.sources import INDUSTRY_SECTIONS, column_map
from etl.ingest.validate import Checked, Problem
from etl.reference import geometry
from etl.reference.kinds import Kind
from domain.regions import LEVEL_LENGTHS, LEVEL_NAMES_ZH, load_region_table
from supervision.routing import valid_dept_id

logger = logging.getLogger(__name__)

#: Reasons beyond those of ingestion (etl.ingest.docs.REASON_CODES) that a reference record gets.
REASON_CODES: dict[str, str] = {
    "bad_code": "区划或网格编码位数不对、含非数字字符",
    "unknown_village": "网格编码前 12 位不是区划库中的村居",
    "unknown_region": "区划代码不在区划库中，或层级与所导入的边界不符",
    "not_under_parent": "网格编码不在所填村居编码之下",
    "bad_geometry": "边界无法解析、不是多边形、坐标不是经纬度，或多边形无效且无法修复",
    "outside_parent": "边界或中心点超出上级区域的真实边界（超出部分多于容差）",
    "bad_phone": "电话号码不是 7–13 位数字（可带区号或国家码 86）",
}

_DIGITS = re.compile(r"^\d+$")
_ID = re.compile(r"^[0-9A-Za-z\u4e00-\u9fff_\-/.#]+$")
_SPLIT = re.compile(r"[;；,，、\s]+")


@dataclass
class Outcome:
    """Valid rows per table, the problems, and the codes/keys the file names."""

    checked: Checked
    frames: dict[str, pd.DataFrame] = field(default_factory=dict)
    named_keys: set[str] = field(default_factory=set)   # keys of every record with a well-formed key
    repaired: int = 0
    valid_keys: set[str] = field(default_factory=set)   # keys of the valid records


class _Rows:
    """The file's text as columns named by field key, and a problem collector."""

    def __init__(self, kind: Kind, table: RawTable) -> None:
        self.kind = kind
        cols, extra = column_map(kind.source, table.header)
        self.checked = Checked(rows=pd.DataFrame(), rows_in=table.rows_in)
        self.checked.problems.extend(Problem(p.row_no, "", "unparsable", p.reason) for p in table.problems)
        if extra:
            self.checked.warnings.append(f"忽略未识别的列：{'、'.join(extra)}")
        raw = pd.DataFrame.from_records([r.values for r in table.rows]) if table.rows else pd.DataFrame()
        self.row_no = np.array([r.row_no for r in table.rows], dtype=np.int64)
        self.text = {f.key: (_column(raw[cols[f.key]], strip=f.kind != "geometry")
                             if f.key in cols else np.full(len(self.row_no), "", dtype=object))
                     for f in kind.source.fields}
        self.bad = np.zeros(len(self.row_no), dtype=bool)
        for f in kind.source.fields:
            if f.required and f.key not in cols:
                self.reject(np.ones(len(self.row_no), bool), f.key, "missing_column", f"缺少必填列“{f.zh}”")
            elif f.key in cols:
                values = self.text[f.key]
                long = np.fromiter((len(v) > f.max_len for v in values), bool, len(values))
                self.reject(long, f.key, "too_long", f"字段过长，上限 {f.max_len} 个字符")
                if f.required:
                    self.reject(values == "", f.key, "required", "必填字段为空")

    def zh(self, key: str) -> str:
        return self.kind.source.field(key).zh

    def reject(self, mask: np.ndarray, key: str, code: str, reason: str | np.ndarray) -> None:
        """Problems for the rows of ``mask`` not rejected yet (one reason per record and field)."""
        mask = np.asarray(mask, bool) & ~self.bad
        reasons = reason if isinstance(reason, np.ndarray) else None
        for i in np.flatnonzero(mask):
            self.checked.problems.append(Problem(int(self.row_no[i]), self.zh(key) if key else "", code,
                                                 str(reasons[i]) if reasons is not None else str(reason)))
        self.bad |= mask

    def code(self, key: str, lengths: tuple[int, ...], what: str) -> np.ndarray:
        """Check a digits-only code column; return it."""
        v = self.text[key]
        ok = np.fromiter((bool(_DIGITS.match(x)) and len(x) in lengths for x in v), bool, len(v))
        shown = "/".join(str(n) for n in lengths)
        self.reject((v != "") & ~ok, key, "bad_code", np.array([f"{what}应为 {shown} 位数字，实为“{x[:20]}”" for x in v]))
        return v

    def scope(self, codes: np.ndarray, key: str, scope: str) -> None:
        if scope:
            out = np.fromiter((not c.startswith(scope) for c in codes), bool, len(codes))
            self.reject(out & (codes != ""), key, "out_of_scope", f"不在本次导入的辖区（{scope}）内")

    def unique(self, key: str) -> None:
        v = self.text[key]
        live = np.flatnonzero(~self.bad & (v != ""))
        keys = pd.Series(v[live])
        dup = keys.duplicated(keep="first").to_numpy()
        first = dict(zip(keys[~dup], self.row_no[live][~dup]))
        mask = np.zeros(len(v), dtype=bool)
        mask[live[dup]] = True
        self.reject(mask, key, "duplicate_in_batch",
                    np.array([f"与本批第 {first.get(k, 0)} 行重复（{self.zh(key)} {k}）" for k in v], dtype=object))

    def geometry(self, key: str, parents: np.ndarray, label: str, crs: str) -> tuple[np.ndarray, int]:
        """Parse, repair, convert GCJ-02 and check the polygons against their parents."""
        parsed = geometry.parse(self.text[key])
        self.reject(parsed.reason != "", key, "bad_geometry", parsed.reason)
        geoms = np.where(self.bad, None, parsed.geoms)
        if crs == "gcj02":
            from etl.reference.gcj02 import transform_geometry_gcj02

            have = ~pd.isna(geoms)
            geoms[have] = transform_geometry_gcj02(geoms[have])
        self.outside(geoms, parents, key, label)
        return np.where(self.bad, None, geoms), int((parsed.repaired & ~self.bad).sum())

    def outside(self, geoms: np.ndarray, parents: np.ndarray, key: str, label: str) -> None:
        share, against = geometry.outside_share(parents, geoms)
        far = share > geometry.MAX_OUTSIDE_SHARE
        if not far.any():
            return
        names = _names()
        reasons = np.array([f"{label}有 {s:.0%} 在{LEVEL_NAMES_ZH[_level(a)]}“{names.get(a, a)}”（{a}）的边界之外"
                            f"（容差 {geometry.TOLERANCE_M:.0f} 米、{geometry.MAX_OUTSIDE_SHARE:.0%}）" if a else ""
                            for s, a in zip(share, against)])
        self.reject(far, key, "outside_parent", reasons)

    def done(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The valid rows of ``frame`` (one row per record); ``checked.rows`` gets them with row_no."""
        keep = frame[~self.bad].reset_index(drop=True)
        self.checked.rows = keep.assign(row_no=self.row_no[~self.bad])
        return keep


def _column(values: pd.Series, strip: bool) -> np.ndarray:
    """A column's text ('' for missing); geometry text is used as read (cells arrive stripped),
    not copied again: a province's polygons are hundreds of megabytes."""
    if strip:
        return values.fillna("").astype(str).str.strip().to_numpy(dtype=object)
    return np.array(["" if v is None or v != v else str(v) for v in values], dtype=object)


def _level(code: str) -> int:
    return {v: k for k, v in LEVEL_LENGTHS.items()}.get(len(code), 0)


@lru_cache(maxsize=1)
def _names() -> dict[str, str]:
    tree = load_region_table()
    return dict(zip(tree["code"].to_numpy(dtype=object), tree["name"].to_numpy(dtype=object)))


@lru_cache(maxsize=8)
def _tree_codes(level: int | None = None) -> frozenset[str]:
    tree = load_region_table()
    codes = tree["code"].to_numpy(dtype=object)
    return frozenset(codes if level is None else codes[tree["level"].to_numpy() == level])


def _well_formed(keys: np.ndarray, ok) -> set[str]:  # noqa: ANN001 - a predicate
    """Keys that name a record whatever else is wrong with it: a rejected record with such a
    key keeps its loaded version (it is carried over, not removed)."""
    return {k for k in keys if k and ok(k)}


def _isin(values: np.ndarray, codes: frozenset[str]) -> np.ndarray:
    return np.fromiter((v in codes for v in values), bool, len(values))


def _numbers(r: _Rows, key: str, lo: float, hi: float, what: str) -> np.ndarray:
    v = pd.to_numeric(pd.Series(r.text[key]).str.replace(",", ""), errors="coerce").to_numpy(float)
    r.reject((r.text[key] != "") & ~((v >= lo) & (v <= hi)), key, "bad_number", f"{what}应为 {lo:g}–{hi:g} 之间的数字")
    return v


def check(kind: Kind, table: RawTable, *, scope: str = "", crs: str = "wgs84",
          grids: frozenset[str] = frozenset()) -> Outcome:
    """Validate ``table`` as ``kind``; ``grids``: the loaded grid codes (for grid workers)."""
    r = _Rows(kind, table)
    fn = {"grids": _grids, "grid_workers": _workers, "departments": _departments,
          "inspectors": _inspectors}.get(kind.id, _boundaries)
    out = fn(r, scope, crs, grids)
    out.valid_keys = set(r.text[kind.source.key][~r.bad])
    return out


def _grids(r: _Rows, scope: str, crs: str, grids: frozenset[str]) -> Outcome:  # noqa: ARG001
    code = r.code("grid_code", (15,), "网格编码")
    village = np.array([c[:12] for c in code], dtype=object)
    named = _well_formed(code, lambda c: bool(_DIGITS.match(c)) and len(c) == 15)
    r.reject(~_isin(village, _tree_codes(5)) & (code != ""), "grid_code", "unknown_village",
             np.array([f"网格编码前 12 位 {v} 不是区划库中的村居" for v in village]))
    given = r.text["village_code"]
    r.reject((given != "") & (given != village), "village_code", "not_under_parent",
             np.array([f"网格编码 {c} 不在村居 {g} 之下（网格编码应以所属村居编码开头）" for c, g in zip(code, given)]))
    r.scope(code, "grid_code", scope)
    r.unique("grid_code")
    workers = _numbers(r, "workers", 0, 999, "网格员人数")
    lon, lat = _numbers(r, "lon", 70, 140, "经度"), _numbers(r, "lat", 0, 60, "纬度")
    r.reject(np.isnan(lon) != np.isnan(lat), "lon", "required", "经度、纬度须同时填写或同时留空")
    if crs == "gcj02":
        from etl.reference.gcj02 import gcj02_to_wgs84

        lon, lat = gcj02_to_wgs84(lon, lat)
    geoms, repaired = r.geometry("geometry", village, "网格边界", crs)
    no_poly = shapely.is_missing(geoms)
    r.outside(np.where(no_poly, geometry.points(lon, lat), None), village, "lon", "网格中心点")
    plon, plat = geometry.representative(geoms)
    frame = pd.DataFrame({"code": code, "name": r.text["name"], "level": np.uint8(6), "parent": village,
                          "geometry": geometry.to_text(geoms),
                          "lon": np.where(no_poly, np.nan_to_num(lon), plon),
                          "lat": np.where(no_poly, np.nan_to_num(lat), plat),
                          "workers_planned": np.nan_to_num(workers).astype("uint16")})
    rows = r.done(frame)
    return Outcome(r.checked, {"regions": rows[["code", "name", "level", "parent"]],
                               "region_geo": rows[["code", "level", "geometry", "lon", "lat", "workers_planned"]]},
                   named, repaired)


def _boundaries(r: _Rows, scope: str, crs: str, grids: frozenset[str]) -> Outcome:  # noqa: ARG001
    level = r.kind.level
    code = r.code("code", (LEVEL_LENGTHS[level],), "区划代码")
    named = _well_formed(code, lambda c: bool(_DIGITS.match(c)) and len(c) == LEVEL_LENGTHS[level])
    r.reject(~_isin(code, _tree_codes(level)) & (code != ""), "code", "unknown_region",
             np.array([f"{c} 不是区划库中的{LEVEL_NAMES_ZH[level]}" for c in code]))
    r.scope(code, "code", scope)
    r.unique("code")
    parents = np.array([c[:LEVEL_LENGTHS[level - 1]] for c in code], dtype=object)
    geoms, repaired = r.geometry("geometry", parents, f"{LEVEL_NAMES_ZH[level]}边界", crs)
    lon, lat = geometry.representative(geoms)
    frame = pd.DataFrame({"code": code, "level": np.uint8(level), "geometry": geometry.to_text(geoms),
                          "lon": lon, "lat": lat, "workers_planned": np.uint16(0)})
    return Outcome(r.checked, {"region_geo": r.done(frame)}, named, repaired)


def _workers(r: _Rows, scope: str, crs: str, grids: frozenset[str]) -> Outcome:  # noqa: ARG001
    wid = r.text["worker_id"]
    r.reject(np.fromiter((bool(x) and not _ID.match(x) for x in wid), bool, len(wid)), "worker_id", "bad_id",
             "编号含不允许的字符")
    named = _well_formed(wid, lambda w: bool(_ID.match(w)))
    phone = np.array([re.sub(r"[\s\-()（）+]", "", p) for p in r.text["phone"]], dtype=object)
    r.reject((phone != "") & ~np.fromiter((bool(_DIGITS.match(p)) and 7 <= len(p) <= 13 for p in phone), bool,
                                          len(phone)), "phone", "bad_phone", "电话号码应为 7–13 位数字（手机 11 位，可带区号或 86）")
    lists = [[g for g in _SPLIT.split(x) if g] for x in r.text["grid_code"]]
    malformed = np.array([any(not (_DIGITS.match(g) and len(g) == 15) for g in gs) for gs in lists], bool)
    r.reject(malformed, "grid_code", "bad_grid", "网格编码应为 15 位数字（多个以分号分隔）")
    unknown = [[g for g in gs if g not in grids] for gs in lists]
    r.reject(np.array([bool(u) for u in unknown], bool), "grid_code", "unknown_grid",
             np.array([f"网格编码不存在：{'、'.join(u[:3])}（请先导入网格）" for u in unknown]))
    if scope:
        out = np.array([any(not g.startswith(scope) for g in gs) for gs in lists], bool)
        r.reject(out, "grid_code", "out_of_scope", f"网格不在本次导入的辖区（{scope}）内")
    r.unique("worker_id")
    frame = pd.DataFrame({"worker_id": wid, "name": r.text["name"], "phone": phone, "grid_code": lists})
    rows = r.done(frame).explode("grid_code").drop_duplicates(["worker_id", "grid_code"])
    rows = rows[["worker_id", "grid_code", "name", "phone"]].reset_index(drop=True)
    return Outcome(r.checked, {"grid_workers": rows}, named)


def _departments(r: _Rows, scope: str, crs: str, grids: frozenset[str]) -> Outcome:  # noqa: ARG001
    dept = r.text["dept_id"]
    r.reject(np.fromiter((bool(x) and not valid_dept_id(x) for x in dept), bool, len(dept)), "dept_id", "bad_id",
             "编号含不允许的字符")
    named = _well_formed(dept, valid_dept_id)
    region = r.code("region_code", (2, 4, 6, 9, 12), "区划代码")
    known = _isin(region, _tree_codes())
    r.reject(~known & (region != ""), "region_code", "unknown_region",
             np.array([f"区划代码 {c} 不在区划库中" for c in region]))
    r.scope(region, "region_code", scope)
    choices = r.kind.source.field("kind").choices
    kind = np.array([choices.get(k.casefold(), "") for k in r.text["kind"]], dtype=object)
    allowed = "、".join(k for k in dict.fromkeys(choices) if not k.isascii())
    r.reject((kind == "") & (r.text["kind"] != ""), "kind", "bad_enum", f"部门类型不在允许范围内（{allowed}）")
    sections = [[s.upper() for s in _SPLIT.split(x) if s] if not re.fullmatch(r"[A-Ta-t]+", x) else list(x.upper())
                for x in r.text["industries"]]
    wrong = np.array([any(s not in INDUSTRY_SECTIONS for s in ss) for ss in sections], bool)
    r.reject(wrong, "industries", "bad_enum", "审批行业应为 GB/T 4754 门类字母 A–T，多个以逗号分隔")
    r.unique("dept_id")
    frame = pd.DataFrame({"dept_id": dept, "name": r.text["name"], "region_code": region, "kind": kind,
                          "industries": [",".join(sorted(set(ss))) for ss in sections]})
    return Outcome(r.checked, {"departments": r.done(frame)}, named)


def _inspectors(r: _Rows, scope: str, crs: str, grids: frozenset[str]) -> Outcome:  # noqa: ARG001
    """执法人员名录; ``grids`` here: the known departments' ids (dept_id → its region in the
    loader's lookup, passed as 'dept_id:region' strings)."""
    who = r.text["inspector_id"]
    r.reject(np.fromiter((bool(x) and not _ID.match(x) for x in who), bool, len(who)), "inspector_id", "bad_id",
             "编号含不允许的字符")
    named = _well_formed(who, lambda w: bool(_ID.match(w)))
    region = r.code("region_code", (2, 4, 6, 9, 12), "区划代码")
    r.reject(~_isin(region, _tree_codes()) & (region != ""), "region_code", "unknown_region",
             np.array([f"区划代码 {c} 不在区划库中" for c in region]))
    r.scope(region, "region_code", scope)
    depts = dict(d.split(":", 1) for d in grids)
    dept = r.text["dept_id"]
    r.reject(np.array([bool(d) and d not in depts for d in dept], bool), "dept_id", "unknown_dept",
             np.array([f"部门编码 {d} 不在部门名录中（请先导入部门名录）" for d in dept]))
    r.reject(np.array([d in depts and bool(g) and not (g.startswith(depts[d]) or depts[d].startswith(g))
                       for d, g in zip(dept, region)], bool), "region_code", "out_of_scope",
             np.array([f"区划代码 {g} 与所属部门的辖区（{depts.get(d, '')}）不符" for d, g in zip(dept, region)]))
    r.unique("inspector_id")
    frame = pd.DataFrame({"inspector_id": who, "name": r.text["name"], "dept_id": dept, "region_code": region,
                          "cert_no": r.text["cert_no"]})
    return Outcome(r.checked, {"inspectors": r.done(frame)}, named)
