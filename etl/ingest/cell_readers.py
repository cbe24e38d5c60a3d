"""XLSX and JSONL files for ``etl.ingest.readers``: typed cell values turned into text.

* XLSX: first worksheet, one header row or a two-row header whose first row holds merged
  group titles (see :func:`_xlsx_header`); numbers and dates are written as a user reads
  them in Excel (:func:`_cell_text`).
* JSONL: one object per line, UTF-8; a line that is not a JSON object is a :class:`RowProblem`.
  :func:`json_text` (a JSON value as text) is also used for GeoJSON and Shapefile attributes
  (``etl.reference.geofiles``).
"""
from __future__ import annotations

import datetime as dt
import io
import json
import math
import warnings
from decimal import Decimal
from typing import Any

from etl.ingest.raw import FileRejected, RawRow, RawTable, RowProblem, columns, decode

__all__ = ["json_text", "read_jsonl", "read_xlsx"]


# --------------------------------------------------------------------------- XLSX

def _cell_text(value: Any) -> str:
    """Cell value → text as a user would read it in Excel."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _float_text(value)
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0):
            return value.strftime("%Y-%m-%d")
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, dt.date):
        return value.strftime("%Y-%m-%d")
    if isinstance(value, dt.time):
        return value.strftime("%H:%M:%S")
    return str(value)


def _float_text(value: float) -> str:
    """Integral floats without '.0'; others to Excel's 15 significant digits, no exponent."""
    if not math.isfinite(value):
        return str(value)
    if value.is_integer():
        return str(int(value))
    text = "%.15g" % value
    if "e" in text:
        text = format(Decimal(text), "f")
    return text


def _xlsx_header(ws: Any, rows: list[tuple[Any, ...]], first: int) -> tuple[list[str], int]:
    """(column names, number of header rows) for a header starting at 0-based row ``first``.

    Two rows when the first header row holds a merged range spanning several columns (group
    titles) or a range merged down over the next row: names come from the second row, or from
    the first where the second is empty (a cell merged vertically over both rows).
    """
    top = first + 1  # sheet row number
    two_rows = any(r.min_row == top and (r.max_col > r.min_col or r.max_row > top)
                   for r in ws.merged_cells.ranges)
    upper = [_cell_text(v).strip() for v in rows[first]]
    if not two_rows:
        return upper, 1
    lower = [_cell_text(v).strip() for v in rows[first + 1]] if first + 1 < len(rows) else []
    lower += [""] * (len(upper) - len(lower))
    return [lo or up for up, lo in zip(upper, lower)], 2


def read_xlsx(data: bytes) -> RawTable:
    """The first worksheet of the XLSX file ``data`` as a :class:`RawTable`."""
    from openpyxl import load_workbook
    from openpyxl.utils import get_column_letter

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            wb = load_workbook(io.BytesIO(data), data_only=True)
    except Exception as exc:  # noqa: BLE001 - zip, XML and openpyxl errors alike
        raise FileRejected("xlsx", "无法作为 Excel（.xlsx）文件打开：文件已损坏或不是 .xlsx 格式"
                           "（旧版 .xls 请在 Excel 中另存为 .xlsx）", f"cannot open as XLSX: {exc!r}") from None
    try:
        if not wb.worksheets:
            raise FileRejected("xlsx", "Excel 文件中没有工作表", "workbook has no worksheet")
        ws = wb.worksheets[0]
        rows = list(ws.iter_rows(values_only=True))
        texts = [[_cell_text(v) for v in row] for row in rows]
        nonempty = [i for i, row in enumerate(texts) if any(t.strip() for t in row)]
        if not nonempty:
            raise FileRejected("no_header", f"工作表“{ws.title}”为空，没有表头行", f"sheet {ws.title!r} is empty")
        first = nonempty[0]
        names, n_header = _xlsx_header(ws, rows, first)
        data_idx = [i for i in nonempty if i >= first + n_header]
        cols = columns(names, [texts[i] for i in data_idx],
                       label=lambda j: f"第 {get_column_letter(j + 1)} 列")
        out = [RawRow(i + 1, {name: texts[i][j].strip() if j < len(texts[i]) else "" for j, name in cols},
                      "\t".join(texts[i]).rstrip("\t"))
               for i in data_idx]
    finally:
        wb.close()
    return RawTable("xlsx", "utf-8", [name for _, name in cols], out, [])


# --------------------------------------------------------------------------- JSONL

def json_text(value: Any) -> str:
    """A JSON value as cell text: None → '', booleans → '1'/'0', strings stripped, numbers
    without exponent ('3.0' → '3'), arrays and objects as JSON."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal):
        if value.is_finite() and value == value.to_integral_value():
            return str(int(value))
        return format(value, "f") if value.is_finite() else str(value)
    if isinstance(value, float):
        return _float_text(value)
    return json.dumps(value, ensure_ascii=False, default=float)


def read_jsonl(data: bytes, line_offset: int = 0) -> RawTable:
    """The JSONL file ``data`` as a :class:`RawTable` (one object per line; ``line_offset``
    added to every line number, as :func:`etl.ingest.csv_reader.read_csv`)."""
    text, encoding = decode(data, allow_gb18030=False)
    header: dict[str, None] = {}
    parsed: list[tuple[int, dict[str, str] | None, str, str]] = []
    for i, line in enumerate(text.split("\n"), start=line_offset):
        line = line.removesuffix("\r")
        if not line.strip():
            continue
        try:
            obj = json.loads(line, parse_float=Decimal, parse_constant=str)
        except json.JSONDecodeError as exc:
            parsed.append((i + 1, None, line, f"JSON 格式错误：第 {exc.colno} 列附近（{exc.msg}）"))
            continue
        except RecursionError:  # nested deeper than the parser's stack: one bad line, not a failed batch
            parsed.append((i + 1, None, line, "JSON 嵌套层数过多"))
            continue
        if not isinstance(obj, dict):
            parsed.append((i + 1, None, line, "JSON 行不是对象"))
            continue
        values = {str(k).strip(): json_text(v) for k, v in obj.items()}
        header.update(dict.fromkeys(values))
        parsed.append((i + 1, values, line, ""))
    names = list(header)
    rows = [RawRow(n, {k: values.get(k, "") for k in names}, raw) for n, values, raw, _ in parsed if values is not None]
    problems = [RowProblem(n, reason, raw) for n, values, raw, reason in parsed if values is None]
    return RawTable("jsonl", encoding, names, rows, problems)
