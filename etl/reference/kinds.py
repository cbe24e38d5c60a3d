"""The kinds of reference data a locality loads before its first registration
(docs/onboarding.md): grids (网格), town and village boundaries (镇街、村居边界), grid
workers (网格员), departments (部门名录) and, for 双随机 draws, inspectors (执法人员名录).

Each kind is an :class:`domain.sources.Source` (fields with Chinese headers and
aliases, matched the same way as ingestion headers) plus what it replaces: the tables
it writes and the column that puts a row inside a region (a new file replaces the rows
of its region, see :mod:`etl.reference.loader`).
"""
from __future__ import annotations

from dataclasses import dataclass

from domain.sources import Field, Source, _choices

DEPT_KIND_CHOICES = _choices({
    "market_regulator": ("市场监管", "市场监管部门", "市场监督管理局", "市场监督管理所", "市场监管所", "市场监管局"),
    "licensing": ("审批部门", "许可部门", "行业主管部门", "职能部门", "行业审批部门"),
    "town_office": ("综治办", "镇街综治办", "综合治理办公室", "镇街"),
    "other": ("其他",),
})

_GEOMETRY = Field("geometry", "边界", "geometry", required=False, max_len=5_000_000,
                  aliases=("wkt", "geom", "几何", "边界wkt", "shape", "多边形"),
                  doc="多边形：GeoJSON、Shapefile 自带；CSV/XLSX 中为 WKT 文本（POLYGON / MULTIPOLYGON）")
_LON = Field("lon", "经度", "coord", required=False, aliases=("lng", "x", "中心点经度"),
             doc="网格中心点经度（无边界时填写）")
_LAT = Field("lat", "纬度", "coord", required=False, aliases=("y", "中心点纬度"))


@dataclass(frozen=True)
class Kind:
    """One kind of reference data: its fields and what a load replaces."""

    source: Source
    tables: tuple[str, ...]        # tables it writes, in publish order
    code_column: dict[str, str]    # table → column holding the region/grid code that scopes a row
    key_column: dict[str, str]     # table → column identifying a record (carried over when rejected)
    level: int = 0                 # boundaries: 4 town, 5 village

    @property
    def id(self) -> str:
        return self.source.id

    @property
    def zh(self) -> str:
        return self.source.zh


GRIDS = Kind(Source("grids", "网格", "grid_code", (
    Field("grid_code", "网格编码", "grid", max_len=15, aliases=("网格代码", "网格编号", "code", "wgbm"),
          doc="15 位：所属村居 12 位统计用区划代码 + 3 位序号"),
    Field("name", "网格名称", "text", max_len=100, aliases=("名称", "name", "wgmc")),
    Field("village_code", "村居编码", "text", required=False, max_len=12,
          aliases=("村（社区）编码", "社区编码", "所属村居编码", "village", "cjbm"), doc="可空；填写时须与网格编码前 12 位一致"),
    Field("workers", "网格员人数", "count", required=False, max_len=6, aliases=("网格员数", "workers"),
          doc="可空；计划配备的网格员人数"),
    _GEOMETRY, _LON, _LAT,
), "网格划分：网格编码、名称、所属村居，可附边界或中心点。新版本替换本辖区原有网格；"
   "被移除网格上的市场主体逐户列出，不会丢失。", entity_ref=False),
    tables=("regions", "region_geo"), code_column={"regions": "code", "region_geo": "code"},
    key_column={"regions": "code", "region_geo": "code"}, level=6)


def boundaries_kind(level: int) -> Kind:
    """Town (4) or village (5) boundaries."""
    if level not in (4, 5):
        raise ValueError(f"boundaries are loaded for towns (4) or villages (5), not level {level}")
    zh = "镇街边界" if level == 4 else "村居边界"
    return Kind(Source(f"boundaries_{'town' if level == 4 else 'village'}", zh, "code", (
        Field("code", "区划代码", "text", max_len=12, aliases=("统计用区划代码", "行政区划代码", "编码", "code", "gb")),
        Field("name", "名称", "text", required=False, max_len=100, aliases=("name",)),
        Field("geometry", "边界", "geometry", max_len=5_000_000, aliases=_GEOMETRY.aliases, doc=_GEOMETRY.doc),
    ), f"{zh}：真实边界替换示意边界，地图图例随之注明。", entity_ref=False),
        tables=("region_geo",), code_column={"region_geo": "code"}, key_column={"region_geo": "code"}, level=level)


WORKERS = Kind(Source("grid_workers", "网格员", "worker_id", (
    Field("worker_id", "网格员编号", "id", max_len=40, aliases=("工号", "编号", "人员编号")),
    Field("name", "姓名", "text", max_len=50, aliases=("网格员姓名", "name")),
    Field("phone", "手机号码", "phone", required=False, max_len=20, aliases=("联系电话", "电话", "手机", "phone"),
          doc="可空；页面按权限脱敏显示"),
    Field("grid_code", "网格编码", "grid_list", max_len=400, aliases=("所属网格", "负责网格", "网格"),
          doc="负责的网格编码，多个以分号、逗号或顿号分隔；网格须已导入"),
), "网格员名录：每名网格员负责一个或多个网格。新版本替换本辖区原有名录。", entity_ref=False),
    tables=("grid_workers",), code_column={"grid_workers": "grid_code"}, key_column={"grid_workers": "worker_id"})

DEPARTMENTS = Kind(Source("departments", "部门名录", "dept_id", (
    Field("dept_id", "部门编码", "id", max_len=32, aliases=("单位编码", "编码")),
    Field("name", "部门名称", "text", max_len=100, aliases=("单位名称", "名称")),
    Field("region_code", "所属区划代码", "text", max_len=12, aliases=("区划代码", "辖区代码", "所属区划")),
    Field("kind", "部门类型", "enum", choices=DEPT_KIND_CHOICES, doc="市场监管 / 审批部门 / 综治办 / 其他"),
    Field("industries", "审批行业", "sections", required=False, max_len=80, aliases=("许可行业", "行业门类"),
          doc="该部门审批（许可）的行业门类字母 A–T，多个以逗号分隔；用于“谁审批、谁监管”的任务推送"),
), "部门名录：任务按所在地就近推送至市场监管部门、镇街综治办，许可类按行业推送至审批部门。", entity_ref=False),
    tables=("departments",), code_column={"departments": "region_code"}, key_column={"departments": "dept_id"})

INSPECTORS = Kind(Source("inspectors", "执法人员名录", "inspector_id", (
    Field("inspector_id", "人员编号", "id", max_len=40, aliases=("执法人员编号", "工号", "编号")),
    Field("name", "姓名", "text", max_len=50, aliases=("执法人员姓名", "name")),
    Field("dept_id", "部门编码", "id", max_len=32, aliases=("所属部门编码", "单位编码"),
          doc="所属部门，须已在部门名录中"),
    Field("cert_no", "执法证号", "text", max_len=40, aliases=("执法证件号", "执法证编号", "证件号"),
          doc="行政执法证件号；抽查公示和检查记录中注明"),
    Field("region_code", "所属区划代码", "text", max_len=12, aliases=("区划代码", "辖区代码", "所属区划"),
          doc="人员所在辖区（与所属部门的区划一致或在其下）"),
), "执法人员名录：双随机抽查从本部门名录中随机选派两名检查人员。新版本替换本辖区原有名录。", entity_ref=False),
    tables=("inspectors",), code_column={"inspectors": "region_code"}, key_column={"inspectors": "inspector_id"})

KINDS: dict[str, Kind] = {k.id: k for k in (GRIDS, boundaries_kind(4), boundaries_kind(5), WORKERS, DEPARTMENTS,
                                             INSPECTORS)}
