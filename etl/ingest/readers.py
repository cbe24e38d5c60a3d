"""Read a department's file (CSV, XLSX or JSONL) into raw text rows, never losing a record.

Every record of the file ends up either in :attr:`RawTable.rows` (parsed into fields) or
in :attr:`RawTable.problems` (could not be split into fields: wrong field count, broken
quoting, malformed JSON), so ``rows_in`` is exactly the number of records in the file.
Values are text only; types, lengths and codes are checked later (``etl.ingest.validate``).

A file that cannot be read at all raises :class:`FileRejected` with a Chinese message for
the source unit (empty, undecodable, binary, no/duplicate/blank header, broken XLSX, ...).

* CSV: comma-delimited; UTF-8 (BOM stripped) or GB18030 (superset of GBK/GB2312). An
  unterminated quote that would swallow the following lines is reported as one problem
  (``引号不匹配``) on its own line, and the lines after it are parsed again on their own.
* XLSX: first worksheet, one header row or a two-row header whose first row holds merged
  group titles (see :func:`_xlsx_header`).
* JSONL: one object per line, UTF-8.
"""
from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import json
import logging
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from etl.ingest.errors import IngestError

logger = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_MAX_BYTES", "FileRejected", "RawRow", "RawTable", "RowProblem",
    "detect_format", "read_bytes", "read_file",
]

DEFAULT_MAX_BYTES = 200 * 1024 * 1024
_FORMATS = {".csv": "csv", ".txt": "csv", ".xlsx": "xlsx", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl"}
#: Large enough that no field of an accepted file can hit it (fields are length-checked later).
_CSV_FIELD_LIMIT = 2**31 - 1


# --------------------------------------------------------------------------- data types

@dataclass(frozen=True)
class RawRow:
    """One parsed record: header name → stripped cell text ('' when empty)."""

    row_no: int  #: CSV: physical line where the record starts; XLSX: sheet row; JSONL: line
    values: dict[str, str]
    raw: str  #: the record as written (CSV line(s) without the final newline; XLSX cells joined by tab)


@dataclass(frozen=True)
class RowProblem:
    """A record that could not be split into fields; ``reason`` is Chinese."""

    row_no: int
    reason: str
    raw: str


@dataclass(frozen=True)
class RawTable:
    """A whole file: header, parsed rows and unparseable records, both in file order."""

    fmt: str  #: 'csv' | 'xlsx' | 'jsonl'
    encoding: str  #: 'utf-8' or 'gb18030'
    header: list[str]
    rows: list[RawRow]
    problems: list[RowProblem]

    @property
    def rows_in(self) -> int:
        """Number of records in the file (parsed + unparseable)."""
        return len(self.rows) + len(self.problems)


class FileRejected(IngestError):
    """The whole file cannot be read. ``user_message`` (Chinese), ``detail`` (English), ``code``.

    Codes: ``empty``, ``encoding``, ``binary``, ``no_header``, ``duplicate_header``,
    ``blank_header``, ``xlsx``, ``format``, ``too_large``.
    """

    code = "file_rejected"

    def __init__(self, code: str, user_message: str, detail: str = "") -> None:
        super().__init__(user_message, detail)
        self.code = code


# --------------------------------------------------------------------------- entry points

def detect_format(name: str) -> str:
    """'csv' | 'xlsx' | 'jsonl' from the file name's extension; FileRejected('format') otherwise."""
    suffix = Path(name).suffix.lower()
    try:
        return _FORMATS[suffix]
    except KeyError:
        shown = suffix or "（无扩展名）"
        raise FileRejected("format", f"不支持的文件类型“{shown}”：请提交 CSV、XLSX 或 JSONL 文件",
                           f"unsupported file type {suffix!r} ({name!r})") from None


def read_file(path: str | Path, *, max_bytes: int = DEFAULT_MAX_BYTES) -> RawTable:
    """Read ``path``; the format comes from its extension (:func:`detect_format`)."""
    path = Path(path)
    fmt = detect_format(path.name)
    size = path.stat().st_size
    if size > max_bytes:
        raise _too_large(size, max_bytes)
    return read_bytes(path.read_bytes(), fmt, max_bytes=max_bytes)


def read_bytes(data: bytes, fmt: str, *, max_bytes: int = DEFAULT_MAX_BYTES) -> RawTable:
    """Parse ``data`` in format ``fmt`` ('csv' | 'xlsx' | 'jsonl')."""
    if fmt not in ("csv", "xlsx", "jsonl"):
        raise FileRejected("format", f"不支持的文件格式“{fmt}”：请提交 CSV、XLSX 或 JSONL 文件",
                           f"unsupported format {fmt!r}")
    if len(data) > max_bytes:
        raise _too_large(len(data), max_bytes)
    if not data.removeprefix(codecs.BOM_UTF8).strip():
        raise FileRejected("empty", "文件为空，没有任何内容", "file is empty or whitespace only")
    table = {"csv": _read_csv, "xlsx": _read_xlsx, "jsonl": _read_jsonl}[fmt](data)
    logger.debug("read %s (%s): %d columns, %d rows, %d problems", fmt, table.encoding,
                 len(table.header), len(table.rows), len(table.problems))
    return table


def _too_large(size: int, max_bytes: int) -> FileRejected:
    mb = 1024 * 1024
    return FileRejected("too_large", f"文件过大（{size / mb:.1f} MB），上限为 {max_bytes / mb:.0f} MB，请拆分后分批提交",
                        f"file has {size} bytes, limit {max_bytes}")


# --------------------------------------------------------------------------- text decoding

def _decode(data: bytes, *, allow_gb18030: bool) -> tuple[str, str]:
    """(text, encoding) of ``data``: UTF-8 (BOM stripped), else GB18030 when allowed."""
    if b"\x00" in data:
        offset = data.index(b"\x00")
        raise FileRejected("binary", "文件包含空字节（NUL），不是文本文件：可能是二进制文件或 UTF-16 编码，"
                           "请另存为 UTF-8 编码后重新提交", f"NUL byte at offset {offset}: not a text file")
    bom = data.startswith(codecs.BOM_UTF8)
    body = data[len(codecs.BOM_UTF8):] if bom else data
    try:
        text, encoding = body.decode("utf-8"), "utf-8"
    except UnicodeDecodeError as exc:
        offset = exc.start + (len(codecs.BOM_UTF8) if bom else 0)
        text = None
        if allow_gb18030 and not bom:  # a BOM says UTF-8: a bad byte after it is damage, not GBK
            try:
                text, encoding = body.decode("gb18030"), "gb18030"
            except UnicodeDecodeError:
                text = None
        if text is None:
            accepted = "UTF-8 或 GB18030（GBK）" if allow_gb18030 else "UTF-8"
            raise FileRejected("encoding", f"文件编码无法识别：不是 {accepted} 编码（第 {offset + 1} 个字节起无法解码），"
                               "请另存为 UTF-8 编码后重新提交",
                               f"not {'UTF-8 or GB18030' if allow_gb18030 else 'UTF-8'}: "
                               f"first bad byte under UTF-8 at offset {offset}") from None
    if not text.strip():
        raise FileRejected("empty", "文件为空，没有任何内容", "file is whitespace only")
    return text, encoding


def _strip_eol(line: str) -> str:
    if line.endswith("\r\n"):
        return line[:-2]
    if line.endswith(("\n", "\r")):
        return line[:-1]
    return line


# --------------------------------------------------------------------------- header checks

def _columns(names: Sequence[str], data_rows: Sequence[Sequence[str]], *,
             label: Any = lambda j: f"第 {j + 1} 列") -> list[tuple[int, str]]:
    """(index, name) of the usable columns. Rejects duplicate names and unnamed columns with
    data; an unnamed column without data (e.g. a trailing comma, a formatted empty column) is
    ignored."""
    if not any(names):
        raise FileRejected("no_header", "文件没有表头行（第一行非空行中没有列名）", "header row has no names")
    seen: dict[str, int] = {}
    for j, name in enumerate(names):
        if not name:
            continue
        if name in seen:
            raise FileRejected("duplicate_header",
                               f"表头列名重复：“{name}”同时出现在{label(seen[name])}和{label(j)}，请修改列名后重新提交",
                               f"duplicate header {name!r} in columns {seen[name] + 1} and {j + 1}")
        seen[name] = j
    for j, name in enumerate(names):
        if not name and any(j < len(r) and r[j].strip() for r in data_rows):
            raise FileRejected("blank_header", f"{label(j)}有数据但表头为空，请补全列名后重新提交",
                               f"column {j + 1} has data but no header name")
    for j in range(len(names), max((len(r) for r in data_rows), default=0)):
        if any(j < len(r) and r[j].strip() for r in data_rows):  # only possible for XLSX
            raise FileRejected("blank_header", f"{label(j)}有数据但表头为空，请补全列名后重新提交",
                               f"column {j + 1} has data but no header name")
    return [(j, name) for j, name in enumerate(names) if name]


# --------------------------------------------------------------------------- CSV

class _Lines:
    """Iterator over physical lines whose position can be moved back (re-parsing)."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        self.pos = 0

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        if self.pos >= len(self.lines):
            raise StopIteration
        self.pos += 1
        return self.lines[self.pos - 1]


def _ends_in_quote(line: str) -> bool:
    """True if a single CSV line leaves a quoted field open (an unterminated quote)."""
    in_quote, at_start = False, True
    i, n = 0, len(line)
    while i < n:
        c = line[i]
        if in_quote:
            if c == '"':
                if i + 1 < n and line[i + 1] == '"':
                    i += 1  # doubled quote: a literal '"'
                else:
                    in_quote = False
            at_start = False
        else:
            in_quote = c == '"' and at_start
            at_start = c == ","
        i += 1
    return in_quote


_BROKEN = object()


def _csv_record(src: _Lines, reader: Any, width: int | None) -> tuple[int, Any]:
    """Next record from ``src.pos``: (start index, fields) or (start index, _BROKEN).

    Broken quoting — a record spanning several lines that ends at EOF inside quotes, hits a
    quoting error, or has the wrong field count; or a single last line with an open quote —
    rewinds ``src`` to the line after the start so the following lines are read again.
    """
    start = src.pos
    try:
        fields = next(reader)
    except csv.Error:
        if src.pos - start <= 1 and not _ends_in_quote(src.lines[start]):
            # e.g. '"abc"def' on one line: accepted as the lenient reader reads it ('abcdef')
            return start, next(csv.reader([src.lines[start]]))
        src.pos = start + 1
        return start, _BROKEN
    if src.pos - start > 1 and width is not None and len(fields) != width:
        src.pos = start + 1
        return start, _BROKEN
    return start, fields


def _read_csv(data: bytes) -> RawTable:
    text, encoding = _decode(data, allow_gb18030=True)
    if csv.field_size_limit() < _CSV_FIELD_LIMIT:
        csv.field_size_limit(_CSV_FIELD_LIMIT)
    lines = io.StringIO(text, newline="").readlines()
    src = _Lines(lines)
    reader = csv.reader(src, strict=True)

    def skip_blank() -> bool:
        while src.pos < len(lines) and not lines[src.pos].strip():
            src.pos += 1
        return src.pos < len(lines)

    skip_blank()
    start, header_fields = _csv_record(src, reader, None)
    if header_fields is _BROKEN:
        raise FileRejected("no_header", f"表头行（第 {start + 1} 行）引号不匹配，无法识别列名",
                           f"broken quoting in header line {start + 1}")
    names = [n.strip() for n in header_fields]
    width = len(names)

    # (line no, fields | None, raw, reason) in file order
    records: list[tuple[int, list[str] | None, str, str]] = []
    while skip_blank():
        start, fields = _csv_record(src, reader, width)
        if fields is _BROKEN:
            records.append((start + 1, None, _strip_eol(lines[start]), f"引号不匹配（第 {start + 1} 行）"))
            continue
        raw = _strip_eol("".join(lines[start:src.pos]))
        if not any(f.strip() for f in fields):
            continue  # ",,,," — an empty formatted row from a spreadsheet export: blank, not a record
        if len(fields) != width:
            records.append((start + 1, None, raw, f"字段数与表头不符：应为 {width} 个，实为 {len(fields)} 个"))
        else:
            records.append((start + 1, fields, raw, ""))

    cols = _columns(names, [f for _, f, _, _ in records if f is not None])
    rows: list[RawRow] = []
    problems: list[RowProblem] = []
    for line_no, fields, raw, reason in records:
        if fields is None:
            problems.append(RowProblem(line_no, reason, raw))
        else:
            rows.append(RawRow(line_no, {name: fields[j].strip() for j, name in cols}, raw))
    return RawTable("csv", encoding, [name for _, name in cols], rows, problems)


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


def _read_xlsx(data: bytes) -> RawTable:
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
        cols = _columns(names, [texts[i] for i in data_idx],
                        label=lambda j: f"第 {get_column_letter(j + 1)} 列")
        out = [RawRow(i + 1, {name: texts[i][j].strip() if j < len(texts[i]) else "" for j, name in cols},
                      "\t".join(texts[i]).rstrip("\t"))
               for i in data_idx]
    finally:
        wb.close()
    return RawTable("xlsx", "utf-8", [name for _, name in cols], out, [])


# --------------------------------------------------------------------------- JSONL

def _json_text(value: Any) -> str:
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


def _read_jsonl(data: bytes) -> RawTable:
    text, encoding = _decode(data, allow_gb18030=False)
    header: dict[str, None] = {}
    parsed: list[tuple[int, dict[str, str] | None, str, str]] = []
    for i, line in enumerate(text.split("\n")):
        line = line.removesuffix("\r")
        if not line.strip():
            continue
        try:
            obj = json.loads(line, parse_float=Decimal, parse_constant=str)
        except json.JSONDecodeError as exc:
            parsed.append((i + 1, None, line, f"JSON 格式错误：第 {exc.colno} 列附近（{exc.msg}）"))
            continue
        if not isinstance(obj, dict):
            parsed.append((i + 1, None, line, "JSON 行不是对象"))
            continue
        values = {str(k).strip(): _json_text(v) for k, v in obj.items()}
        header.update(dict.fromkeys(values))
        parsed.append((i + 1, values, line, ""))
    names = list(header)
    rows = [RawRow(n, {k: values.get(k, "") for k in names}, raw) for n, values, raw, _ in parsed if values is not None]
    problems = [RowProblem(n, reason, raw) for n, values, raw, reason in parsed if values is None]
    return RawTable("jsonl", encoding, names, rows, problems)
