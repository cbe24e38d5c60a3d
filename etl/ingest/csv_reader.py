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

from etl.ingest.raw import FileRejected, RawTable, RowProblem, columns, decode

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


def read_csv(data: bytes, line_offset: int = 0) -> RawTable:
    """The CSV file ``data`` as a :class:`RawTable` (header, rows, unparseable records),
    held column-wise. A file without any quote character is split line by line with
    ``str.split`` (what the csv module does to such a line); any other by the csv module.
    ``line_offset``: added to every record's line number (a part of a larger file,
    :mod:`etl.ingest.parts`: its records keep the file's line numbers)."""
    text, encoding = decode(data, allow_gb18030=True)
    plain = _plain_lines(text)
    uniform = _split_uniform(plain, line_offset) if plain is not None else None
    if uniform is not None:
        names, line_nos, by_column, raws = uniform
        cols = columns(names, [])  # (every column is named: no data row can sit under a blank name)
        data_cols = {name: [v.strip() for v in by_column[j]] for j, name in cols}
        return RawTable.from_columns("csv", encoding, [name for _, name in cols], data_cols, line_nos, raws, [])
    if plain is not None:
        names, records = _split_plain(plain, line_offset)
    else:
        names, records = _split_quoted(text, line_offset)
    width = len(names)
    cols = columns(names, [f for _, f, _, _ in records if f is not None])
    problems = [RowProblem(line_no, reason, raw) for line_no, fields, raw, reason in records if fields is None]
    good = [r for r in records if r[1] is not None]
    if good:
        line_nos, fields, raws, _ = zip(*good)
        by_column = list(zip(*fields)) if width else []
    else:
        line_nos, raws, by_column = (), (), []
    data_cols = {name: [v.strip() for v in by_column[j]] for j, name in cols} if good else {n: [] for _, n in cols}
    return RawTable.from_columns("csv", encoding, [name for _, name in cols], data_cols, list(line_nos), list(raws),
                                 problems)


Record = tuple[int, "list[str] | None", str, str]  # (line no, fields | None, raw, reason), in file order


def _plain_lines(text: str) -> list[str] | None:
    """The physical lines of ``text`` without their ends, if no record can span lines or
    need the csv module: no quote character and no lone carriage return. None otherwise."""
    if '"' in text:
        return None
    if "\r" in text:
        text = text.replace("\r\n", "\n")
        if "\r" in text:
            return None
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def _split_uniform(lines: list[str], offset: int = 0) -> tuple[list[str], list[int], list[list[str]], list[str]] | None:
    """The common case of plain lines, as whole columns: every line after the header holds
    exactly the header's number of fields, some not blank, and every header name is given.
    (header names, line numbers, fields by column, raw lines) — or None when any line is
    otherwise (then :func:`_split_plain` reads it record by record)."""
    i, n = 0, len(lines)
    while i < n and not lines[i].strip():
        i += 1
    if i >= n:
        return None
    names = [f.strip() for f in lines[i].split(",")]
    width, body = len(names), lines[i + 1:]
    commas = width - 1
    if not all(names) or not all(line.count(",") == commas and line.replace(",", "").strip() for line in body):
        return None
    flat = ",".join(body).split(",") if body else []
    return names, list(range(i + 2 + offset, i + 2 + offset + len(body))), [flat[j::width] for j in range(width)], body


def _split_plain(lines: list[str], offset: int = 0) -> tuple[list[str], list[Record]]:
    """Header names and records of a file of plain lines (:func:`_plain_lines`)."""
    i, n = 0, len(lines)
    while i < n and not lines[i].strip():
        i += 1
    names = [f.strip() for f in lines[i].split(",")] if i < n else []
    width = len(names)
    records: list[Record] = []
    for k in range(i + 1, n):
        line = lines[k]
        if not line.strip():
            continue  # a blank line
        _add_record(records, k + 1 + offset, line.split(","), line, width)
    return names, records


def _add_record(records: list[Record], line_no: int, fields: list[str], raw: str, width: int) -> None:
    """Append a split record: skipped when every field is blank (",,,," — an empty formatted
    row from a spreadsheet export), unparsable when its field count is not the header's."""
    if not "".join(fields).strip():  # (as any(f.strip() …), without a generator per record)
        return
    if len(fields) != width:
        records.append((line_no, None, raw, f"字段数与表头不符：应为 {width} 个，实为 {len(fields)} 个"))
    else:
        records.append((line_no, fields, raw, ""))


def _split_quoted(text: str, offset: int = 0) -> tuple[list[str], list[Record]]:
    """Header names and records by the csv module, broken quoting recovered line by line."""
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
    records: list[Record] = []
    while skip_blank():
        start, fields = _csv_record(src, reader, width)
        line_no = start + 1 + offset
        if fields is _BROKEN:
            records.append((line_no, None, _strip_eol(lines[start]), f"引号不匹配（第 {line_no} 行）"))
            continue
        _add_record(records, line_no, fields, _strip_eol("".join(lines[start:src.pos])), width)
    return names, records
