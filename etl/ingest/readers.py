"""Read a department's file (CSV, XLSX or JSONL) into raw text rows, never losing a record.

Every record of the file ends up either in :attr:`RawTable.rows` (parsed into fields) or
in :attr:`RawTable.problems` (could not be split into fields: wrong field count, broken
quoting, malformed JSON), so ``rows_in`` is exactly the number of records in the file.
Values are text only; types, lengths and codes are checked later (``etl.ingest.validate``).

A file that cannot be read at all raises :class:`FileRejected` with a Chinese message for
the source unit (empty, undecodable, binary, no/duplicate/blank header, broken XLSX, ...).

* CSV (``etl.ingest.csv_reader``): comma-delimited; UTF-8 (BOM stripped) or GB18030
  (superset of GBK/GB2312). An unterminated quote that would swallow the following lines is
  reported as one problem (``引号不匹配``) on its own line, and the lines after it are parsed
  again on their own.
* XLSX (``etl.ingest.cell_readers``): first worksheet, one header row or a two-row header
  whose first row holds merged group titles.
* JSONL (``etl.ingest.cell_readers``): one object per line, UTF-8.

This module holds the entry points; the data types and what the formats share are in
:mod:`etl.ingest.raw`.
"""
from __future__ import annotations

import codecs
import logging
from pathlib import Path

from etl.ingest.cell_readers import read_jsonl, read_xlsx
from etl.ingest.csv_reader import read_csv
from etl.ingest.raw import DEFAULT_MAX_BYTES, FileRejected, RawTable, too_large

logger = logging.getLogger(__name__)

__all__ = ["detect_format", "read_bytes", "read_file"]

_FORMATS = {".csv": "csv", ".txt": "csv", ".xlsx": "xlsx", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl"}


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
        raise too_large(size, max_bytes)
    return read_bytes(path.read_bytes(), fmt, max_bytes=max_bytes)


def read_bytes(data: bytes, fmt: str, *, max_bytes: int = DEFAULT_MAX_BYTES, line_offset: int = 0) -> RawTable:
    """Parse ``data`` in format ``fmt`` ('csv' | 'xlsx' | 'jsonl'); ``line_offset``: the
    records' line numbers in the whole file when ``data`` is a part of it (CSV, JSONL)."""
    if fmt not in ("csv", "xlsx", "jsonl"):
        raise FileRejected("format", f"不支持的文件格式“{fmt}”：请提交 CSV、XLSX 或 JSONL 文件",
                           f"unsupported format {fmt!r}")
    if len(data) > max_bytes:
        raise too_large(len(data), max_bytes)
    if not data.removeprefix(codecs.BOM_UTF8).strip():
        raise FileRejected("empty", "文件为空，没有任何内容", "file is empty or whitespace only")
    if line_offset and fmt == "xlsx":
        raise ValueError("an XLSX file is read whole: it has no parts")
    table = read_xlsx(data) if fmt == "xlsx" else {"csv": read_csv, "jsonl": read_jsonl}[fmt](data, line_offset)
    logger.debug("read %s (%s): %d columns, %d rows, %d problems", fmt, table.encoding,
                 len(table.header), table.n_rows, len(table.problems))
    return table
