"""Read grid (网格) polygons and town/village boundaries from GeoJSON or a zipped Shapefile.

Same :class:`RawTable` as ``etl.ingest.readers``: one :class:`RawRow` per feature, ``values`` =
attributes as text plus ``"geometry"`` (compact GeoJSON, '' when null), or a :class:`RowProblem`.

* GeoJSON: FeatureCollection (or one Feature), UTF-8 or GB18030, streamed feature by feature
  (ijson); a top-level ``crs`` must be longitude/latitude (CRS84, EPSG:4326, CGCS2000 EPSG:4490).
* Shapefile: a zip with one .shp + .shx + .dbf; a projected .prj is rejected; the DBF encoding
  is the .cpg's (tried first), else UTF-8, then GB18030. GCJ-02 input: see ``gcj02``.
"""
from __future__ import annotations

import codecs
import datetime as dt
import io
import json
import logging
import re
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import ijson
import shapefile

from etl.ingest.cell_readers import json_text
from etl.ingest.raw import FileRejected, RawRow, RawTable, RowProblem, decode, too_large
from etl.ingest.readers import read_bytes
from etl.ingest.rejects import Entry, write_rejects

logger = logging.getLogger(__name__)

__all__ = ["detect_reference_format", "read_geojson", "read_reference", "read_shapefile_zip", "write_geojson_rejects"]

_FORMATS = {".geojson": "geojson", ".json": "geojson", ".zip": "shp", ".csv": "csv", ".txt": "csv", ".xlsx": "xlsx"}
GEOMETRY = "geometry"
_RAW_MAX = 4000
#: Accepted top-level GeoJSON ``crs`` names (upper-cased): CRS84, WGS-84 (4326), CGCS2000 (4490).
_CRS_OK = re.compile(r"(?:URN:OGC:DEF:CRS:OGC:[\d.]*:|HTTPS?://WWW\.OPENGIS\.NET/DEF/CRS/OGC/[\d.]+/|OGC:)?CRS84"
                     r"|(?:URN:OGC:DEF:CRS:)?EPSG:(?:[\d.]*:)?(?:4326|4490)"
                     r"|HTTPS?://WWW\.OPENGIS\.NET/DEF/CRS/EPSG/[\d.]+/(?:4326|4490)")
#: .cpg names (upper-cased, '-' and '_' removed) → codec; GB18030 is a superset of GBK/GB2312.
_CPG = {"UTF8": "utf-8", **dict.fromkeys(("GBK", "GB2312", "936", "CP936", "GB18030"), "gb18030")}
#: The files inside a Shapefile zip may add up to this many times ``max_bytes`` (zip bombs).
_UNZIP_FACTOR = 5
_CRS_MESSAGE = "坐标系 {} 不受支持：请导出为经纬度坐标（WGS-84 或 CGCS2000）"
_FORMATS_ZH = "GeoJSON、Shapefile（zip）、CSV、XLSX"


def _compact(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def detect_reference_format(name: str) -> str:
    """'geojson' | 'shp' | 'csv' | 'xlsx' from the file name; FileRejected('format') otherwise."""
    suffix = Path(name).suffix.lower()  # 'grids.shp.zip' → '.zip'
    try:
        return _FORMATS[suffix]
    except KeyError:
        shown = suffix or "（无扩展名）"
        raise FileRejected("format", f"不支持的文件类型“{shown}”：请提交 {_FORMATS_ZH} 格式的文件",
                           f"unsupported reference file type {suffix!r} ({name!r})") from None


def read_reference(data: bytes, fmt: str, *, max_bytes: int) -> RawTable:
    """Parse ``data`` in format ``fmt`` ('geojson' | 'shp' | 'csv' | 'xlsx')."""
    if fmt in ("geojson", "shp"):
        return (read_geojson if fmt == "geojson" else read_shapefile_zip)(data, max_bytes=max_bytes)
    if fmt in ("csv", "xlsx"):
        return read_bytes(data, fmt, max_bytes=max_bytes)
    raise FileRejected("format", f"不支持的文件格式“{fmt}”：请提交 {_FORMATS_ZH} 格式的文件",
                       f"unsupported reference format {fmt!r}")


def read_geojson(data: bytes, *, max_bytes: int) -> RawTable:
    """A GeoJSON FeatureCollection (or a single Feature) → one row per feature (``fmt='geojson'``)."""
    if len(data) > max_bytes:
        raise too_large(len(data), max_bytes)
    text, encoding = decode(data, allow_gb18030=True)  # rejects empty, binary, undecodable
    body = text.encode("utf-8") if encoding == "gb18030" else data.removeprefix(codecs.BOM_UTF8)
    del text
    parsed: list[tuple[int, dict[str, str] | None, str, str]] = []
    try:
        top = _head(body)
        _check_crs(top.get("crs"))
        if "crs" not in top and b'"crs"' in body:  # maybe a crs after the features: one more (C-speed) pass
            _check_crs(next(ijson.items(io.BytesIO(body), "crs"), None))
        if isinstance(top.get("features"), list):
            for feat in ijson.items(io.BytesIO(body), "features.item", use_float=True):
                parsed.append(_feature(len(parsed) + 1, feat))
    except ijson.JSONError as exc:
        n, msg = len(parsed), (str(exc).splitlines() or [repr(exc)])[0]
        what = "文件不完整，可能被截断" if "premature EOF" in msg else "不是有效的 JSON"
        where = f"（已正常读取 {n} 个要素，其后出错）" if n else ""
        raise FileRejected("format", f"GeoJSON 无法解析：{what}{where}，请重新导出后提交",
                           f"invalid JSON after {n} features: {msg}") from None
    if top.get("type") == "Feature" and "features" not in top:
        parsed.append(_feature(1, {k: v for k, v in top.items() if k != "crs"}))
    elif not isinstance(top.get("features"), list):
        raise FileRejected("format", "不是 GeoJSON 要素集合：缺少 features 数组（应为 FeatureCollection 或 Feature）",
                           f"no 'features' array (top-level type {top.get('type')!r})")
    if not parsed:
        raise FileRejected("empty", "GeoJSON 中没有任何要素（features 为空）", "no features")
    names = [*dict.fromkeys(k for _, values, _, _ in parsed for k in values or () if k != GEOMETRY), GEOMETRY]
    rows = [RawRow(n, {k: values.get(k, "") for k in names}, raw) for n, values, raw, _ in parsed if values is not None]
    problems = [RowProblem(n, reason, raw) for n, values, raw, reason in parsed if values is None]
    logger.debug("read geojson (%s): %d features, %d problems", encoding, len(rows), len(problems))
    return RawTable("geojson", encoding, names, rows, problems)


def _head(body: bytes) -> dict[str, Any]:
    """The top-level members before the ``features`` array (``"features": []`` marks its start), or
    all of them when there is none (a single Feature). The features are read by ``ijson.items``."""
    top: dict[str, Any] = {}
    builder: ijson.ObjectBuilder | None = None
    key: str | None = None  # the current top-level member; None before the first one
    depth = 0
    for prefix, event, value in ijson.parse(io.BytesIO(body), use_float=True):
        if builder is None:
            if key is None and event not in ("start_map", "map_key", "end_map"):
                raise FileRejected("format", "GeoJSON 的最外层不是 JSON 对象（应为 FeatureCollection 或 Feature）",
                                   f"top level starts with {event}, not an object")
            if prefix == "" and (event in ("map_key", "end_map") or key is None):
                key = value
                continue
            if prefix == "features" and event == "start_array":
                top["features"] = []
                break
            builder, depth = ijson.ObjectBuilder(), 0
        builder.event(event, value)
        depth += (event in ("start_map", "start_array")) - (event in ("end_map", "end_array"))
        if depth == 0:
            top[str(key)] = builder.value
            builder = None
    return top


def _feature(n: int, feat: Any) -> tuple[int, dict[str, str] | None, str, str]:
    """(row_no, values or None, raw, reason) of the ``n``-th feature."""
    if not isinstance(feat, dict):
        return n, None, _compact(feat)[:_RAW_MAX], f"第 {n} 个要素不是有效的 GeoJSON 要素（不是 JSON 对象）"
    props = {} if feat.get("properties") is None else feat["properties"]  # null: allowed by RFC 7946
    if not isinstance(props, dict):
        return n, None, _compact(feat)[:_RAW_MAX], f"第 {n} 个要素不是有效的 GeoJSON 要素（properties 不是对象）"
    values = {str(k).strip(): json_text(v) for k, v in props.items()}  # None → '', 3.0 → '3', stripped
    geometry = values[GEOMETRY] = "" if feat.get("geometry") is None else _compact(feat["geometry"])
    # The record as sent, less its coordinates (they are in values[GEOMETRY]; a rejected
    # feature's report carries them from there): a second copy of every polygon's text
    # would double the memory of a large file.
    shape = feat.get("geometry")
    kind = shape.get("type") if isinstance(shape, dict) else None
    raw = _compact({"type": "Feature", "properties": props, "geometry": {"type": kind} if kind else None})
    return n, values, raw[:_RAW_MAX], ""


def _check_crs(crs: Any) -> None:
    """Accept no crs, CRS84, EPSG:4326 and EPSG:4490; FileRejected('crs') for anything else."""
    if crs is None:
        return
    props = crs.get("properties") if isinstance(crs, dict) else None
    props = props if isinstance(props, dict) else {}
    name = props.get("name")
    if name is None and "code" in props:  # the 2008 spec: {"type": "EPSG", "properties": {"code": 4326}}
        name = f"EPSG:{props['code']}"
    if isinstance(name, str) and _CRS_OK.fullmatch(name.strip().upper()):
        return
    shown = name.strip() if isinstance(name, str) else _compact(crs)[:200]
    raise FileRejected("crs", _CRS_MESSAGE.format(shown), f"unsupported crs {shown!r}")


def read_shapefile_zip(data: bytes, *, max_bytes: int) -> RawTable:
    """A zip holding one Shapefile → one row per record (``fmt='shp'``)."""
    if len(data) > max_bytes:
        raise too_large(len(data), max_bytes)
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            files = _unzip(zf, max_bytes)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, RuntimeError, EOFError, OSError) as exc:
        raise FileRejected("format", "不是有效的 zip 压缩包（或压缩包已损坏、已加密）：请将同名的 .shp、.shx、.dbf"
                           "（及 .prj、.cpg）文件一起压缩为 zip 后提交", f"cannot unzip: {exc!r}") from None
    m = re.search(r'PROJ(?:CS|CRS)\s*\[\s*"?([^",\]]*)', files.get(".prj", b"").decode("utf-8", "replace"), re.I)
    if m:
        raise FileRejected("crs", _CRS_MESSAGE.format(f"{m.group(1)}（投影坐标）"), f"projected CRS in .prj: {m.group(0)!r}")
    cpg = _cpg_encoding(files[".cpg"]) if ".cpg" in files else None
    candidates = list(dict.fromkeys(e for e in (cpg, "utf-8", "gb18030") if e))
    for encoding in candidates:
        try:
            header, rows, problems = _read_shp(files, encoding)
        except Exception as exc:  # noqa: BLE001 - pyshp, struct and zip errors alike
            if isinstance(exc, shapefile.dbfFileException) and "decode" in str(exc):
                continue  # pyshp's only signal of DBF text in another encoding: try the next one
            raise FileRejected("format", "无法读取 Shapefile：文件已损坏或不完整，请重新导出后提交",
                               f"cannot read shapefile: {exc!r}") from None
        if not rows and not problems:
            raise FileRejected("empty", "Shapefile 中没有任何记录", "no records")
        logger.debug("read shp (%s): %d records, %d problems", encoding, len(rows), len(problems))
        return RawTable("shp", encoding, header, rows, problems)
    raise FileRejected("encoding", "属性表（.dbf）的文字编码无法识别：请以 UTF-8 或 GBK 编码导出（并附带 .cpg 文件）后重新提交",
                       f"dbf text not decodable as any of {candidates}")


def _unzip(zf: zipfile.ZipFile, max_bytes: int) -> dict[str, bytes]:
    """{'.shp': ..., '.shx': ..., '.dbf': ..., optional '.prj', '.cpg'} of the one layer in ``zf``."""
    infos = [i for i in zf.infolist() if not i.is_dir() and not i.filename.startswith("__MACOSX/")]
    shps = [i.filename for i in infos if i.filename.lower().endswith(".shp")]
    if not shps:
        raise FileRejected("format", "压缩包中没有 .shp 文件：请将 Shapefile 的 .shp、.shx、.dbf 文件一起压缩后提交",
                           f"no .shp among {len(infos)} files")
    if len(shps) > 1:
        raise FileRejected("format", f"压缩包中有多个 .shp 文件（{'、'.join(shps)}）：每个压缩包只能包含一个图层，请分开提交",
                           f"several .shp files: {shps}")
    stem = shps[0][:-4]
    by_name = {i.filename.lower(): i for i in infos}
    found = {ext: by_name[(stem + ext).lower()] for ext in (".shp", ".shx", ".dbf", ".prj", ".cpg")
             if (stem + ext).lower() in by_name}
    for ext in (".shx", ".dbf"):
        if ext not in found:
            raise FileRejected("format", f"压缩包中缺少 {Path(stem).name}{ext} 文件：Shapefile 需要同名的 .shp、.shx、.dbf 三个文件",
                               f"missing {stem}{ext}")
    total = sum(i.file_size for i in found.values())
    if total > max_bytes * _UNZIP_FACTOR:
        raise too_large(total, max_bytes * _UNZIP_FACTOR)
    return {ext: zf.read(info) for ext, info in found.items()}


def _cpg_encoding(raw: bytes) -> str | None:
    """The Python codec named by a .cpg file, or None when unknown."""
    name = raw.decode("ascii", "replace").strip().upper().replace("-", "").replace("_", "")
    if name not in _CPG:
        logger.warning("shapefile .cpg names an unknown encoding %r; trying UTF-8, then GB18030", name)
    return _CPG.get(name)


def _read_shp(files: dict[str, bytes], encoding: str) -> tuple[list[str], list[RawRow], list[RowProblem]]:
    with shapefile.Reader(shp=io.BytesIO(files[".shp"]), shx=io.BytesIO(files[".shx"]),
                          dbf=io.BytesIO(files[".dbf"]), encoding=encoding) as reader:
        names = [f.name.strip() for f in reader.fields[1:]]  # fields[0] is the deletion flag
        if reader.numShapes != reader.numRecords:  # zip() below would drop records
            raise shapefile.ShapefileException(f"{reader.numShapes} shapes but {reader.numRecords} records")
        rows: list[RawRow] = []
        problems: list[RowProblem] = []
        pairs = zip(reader.iterShapes(), reader.iterRecords(deleted_as_None=True))
        for n, (shape, record) in enumerate(pairs, start=1):
            if record is None:  # marked deleted in the DBF: not part of the layer
                continue
            texts = [v.isoformat() if isinstance(v, dt.date) else json_text(v) for v in record]
            raw = "\t".join([*texts, shape.shapeTypeName])
            values = dict(zip(names, texts))
            try:
                values[GEOMETRY] = "" if shape.shapeType == shapefile.NULL else _compact(shape.__geo_interface__)
            except Exception as exc:  # noqa: BLE001 - pyshp's GeoJSON_Error and malformed parts
                logger.debug("shapefile record %d: %r", n, exc)
                problems.append(RowProblem(n, f"第 {n} 条记录的图形无法读取（{shape.shapeTypeName}）", raw))
                continue
            rows.append(RawRow(n, values, raw))
    return [*names, GEOMETRY], rows, problems


def write_geojson_rejects(table: RawTable, rejected: Mapping[int, list[tuple[str, str]]], path: str | Path) -> Path:
    """Write the report of a 'geojson' / 'shp' table as a GeoJSON FeatureCollection, one feature per rejected
    record in row order: its properties (``_raw`` when unparseable) + ``_row``, ``_fields``, ``_reasons``."""
    return write_rejects(table, rejected, path, writer=_write_features)


def _write_features(table: RawTable, entries: list[Entry], path: Path) -> None:  # noqa: ARG001
    with path.open("w", encoding="utf-8", newline="\n") as fh:
        fh.write('{"type":"FeatureCollection","features":[\n')
        for k, (row_no, items, record) in enumerate(entries):
            fh.write((",\n" if k else "") + json.dumps(_reject_feature(row_no, items, record), ensure_ascii=False))
        fh.write("\n]}\n")


def _reject_feature(row_no: int, items: list[tuple[str, str]], record: RawRow | RowProblem | None) -> dict[str, Any]:
    props: dict[str, Any] = {"_raw": record.raw} if isinstance(record, RowProblem) else {}
    geometry = None
    if isinstance(record, RawRow):
        props = {k: v for k, v in record.values.items() if k != GEOMETRY}
        try:
            geometry = json.loads(record.values.get(GEOMETRY) or "null")
        except ValueError:
            pass
    props.update(_row=row_no, _fields=[f for f, _ in items], _reasons=[r for _, r in items])
    return {"type": "Feature", "properties": props, "geometry": geometry if isinstance(geometry, dict) else None}
