"""CSV files for ``etl.ingest.readers``: records split into fields, broken quoting recovered.

Comma-delimited; UTF-8 (BOM stripped) or GB18030 (superset of GBK/GB2312). A record that
cannot be split into fields — an unterminated quote that would swallow the following lines, or
a field count different from the header's — becomes a :class:`RowProblem` on its own line,
and the lines after an unterminated quote are parsed again on their own, so no record is lost.
"""
from __future__ import annotations

import csv
import io
from typing import Any

from etl.ingest.raw import FileRejected, RawRow, RawTable, RowProblem, columns, decode

__all__ = ["read_csv"]

#: Large enough that no field of an accepted file can hit it (fields are length-checked later).
_CSV_FIELD_LIMIT = 2**31 - 1


def _strip_eol(line: str) -> str:
    if line.endswith("\r\n"):
        return line[:-2]
    if line.endswith(("\n", "\r")):
        return line[:-1]
    return line


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


def read_csv(data: bytes) -> RawTable:
    """The CSV file ``data`` as a :class:`RawTable` (header, rows, unparseable records)."""
    text, encoding = decode(data, allow_gb18030=True)
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
        if not "".join(fields).strip():  # (as any(f.strip() …), without a generator per record)
            continue  # ",,,," — an empty formatted row from a spreadsheet export: blank, not a record
        if len(fields) != width:
            records.append((start + 1, None, raw, f"字段数与表头不符：应为 {width} 个，实为 {len(fields)} 个"))
        else:
            records.append((start + 1, fields, raw, ""))

    cols = columns(names, [f for _, f, _, _ in records if f is not None])
    rows: list[RawRow] = []
    problems: list[RowProblem] = []
    for line_no, fields, raw, reason in records:
        if fields is None:
            problems.append(RowProblem(line_no, reason, raw))
        else:
            rows.append(RawRow(line_no, {name: fields[j].strip() for j, name in cols}, raw))
    return RawTable("csv", encoding, [name for _, name in cols], rows, problems)
