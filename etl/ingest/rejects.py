"""The rejection report (退回记录) returned to the source unit, in the source's own format.

One line per rejected record, in row order: its row number, the fields at fault, the
reasons, then the record as the department sent it, so they can fix and resubmit it.

* csv: the input's encoding (GB18030 stays GB18030; UTF-8 gets a BOM so Excel opens it);
  columns :data:`REPORT_COLUMNS` + the original header. An unparseable record's raw text
  goes into the first original column.
* xlsx: one sheet "退回记录", same columns, bold header, first row frozen.
* jsonl: the original object (``{"_raw": ...}`` when it is not one) plus ``_row`` and the
  aligned lists ``_fields`` / ``_reasons``.
"""
from __future__ import annotations

import csv
import json
import logging
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Callable

from domain.cells import csv_safe_row
from etl.ingest.raw import RawRow, RawTable, RowProblem

logger = logging.getLogger(__name__)

__all__ = ["REPORT_COLUMNS", "SHEET_TITLE", "write_rejects"]

REPORT_COLUMNS = ("行号", "问题字段", "问题原因")
SHEET_TITLE = "退回记录"
#: Excel's limit on characters in one cell; longer texts are cut in the XLSX report.
_XLSX_CELL_MAX = 32767
_CUT_MARK = "…（已截断）"

#: (row_no, [(field, reason)], the record or None when the row number is not in the table)
Entry = tuple[int, list[tuple[str, str]], RawRow | RowProblem | None]


Writer = Callable[[RawTable, list[Entry], Path], None]


def write_rejects(table: RawTable, rejected: Mapping[int, list[tuple[str, str]]], path: str | Path,
                  writer: Writer | None = None) -> Path:
    """Write the report for ``table``'s unparseable records plus ``rejected`` (row_no →
    [(field, reason)], field '' for a whole-record problem) to ``path``; return the path.
    ``writer``: for a format other than csv / xlsx / jsonl (e.g. GeoJSON)."""
    path = Path(path)
    problems: dict[int, list[tuple[str, str]]] = {}
    for p in table.problems:
        problems.setdefault(p.row_no, []).append(("", p.reason))
    for row_no, items in rejected.items():
        problems.setdefault(int(row_no), []).extend((str(f or ""), str(r)) for f, r in items)
    records: dict[int, RawRow | RowProblem] = dict(table.records(list(problems)))
    records.update((p.row_no, p) for p in table.problems)
    unknown = sorted(set(problems) - set(records))
    if unknown:
        logger.warning("rejects: %d row numbers not in the table (first %s)", len(unknown), unknown[:5])
    entries = [(row_no, _dedupe(problems[row_no]), records.get(row_no)) for row_no in sorted(problems)]

    path.parent.mkdir(parents=True, exist_ok=True)
    writer = writer or {"csv": _write_csv, "xlsx": _write_xlsx, "jsonl": _write_jsonl}[table.fmt]
    fd, tmp = tempfile.mkstemp(prefix=".rejects-", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    try:
        writer(table, entries, Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    logger.debug("rejects: %d records written to %s", len(entries), path)
    return path


def _dedupe(items: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return list(dict.fromkeys(items))


def _summary(items: list[tuple[str, str]]) -> tuple[str, str]:
    """(fields joined by '、', reasons joined by '；'), each without repeats, in order."""
    fields = "、".join(dict.fromkeys(f for f, _ in items if f))
    reasons = "；".join(dict.fromkeys(r for _, r in items if r))
    return fields, reasons


def _original(table: RawTable, record: RawRow | RowProblem | None) -> list[str]:
    """The record's cells under the original header (raw text in the first for a RowProblem)."""
    if isinstance(record, RawRow):
        return [record.values.get(name, "") for name in table.header]
    cells = [""] * max(len(table.header), 1)
    if record is not None:
        cells[0] = record.raw
    return cells


def _report_header(table: RawTable) -> list[str]:
    return [*REPORT_COLUMNS, *(table.header or ["原始内容"])]


def _write_csv(table: RawTable, entries: list[Entry], path: Path) -> None:
    encoding = "gb18030" if table.encoding == "gb18030" else "utf-8-sig"
    with path.open("w", encoding=encoding, newline="") as fh:
        out = csv.writer(fh)
        out.writerow(csv_safe_row(_report_header(table)))
        for row_no, items, record in entries:  # the department's own text: never a formula (domain.cells)
            out.writerow(csv_safe_row([row_no, *_summary(items), *_original(table, record)]))


def _xlsx_text(value: str) -> str:
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    value = ILLEGAL_CHARACTERS_RE.sub("\ufffd", value)
    if len(value) > _XLSX_CELL_MAX:
        value = value[:_XLSX_CELL_MAX - len(_CUT_MARK)] + _CUT_MARK
    return value


def _write_xlsx(table: RawTable, entries: list[Entry], path: Path) -> None:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook()
    ws = wb.active
    ws.title = SHEET_TITLE
    bold = Font(bold=True)
    for j, name in enumerate(_report_header(table), start=1):
        head = ws.cell(row=1, column=j, value=_xlsx_text(name))
        head.font, head.data_type = bold, "s"
    for i, (row_no, items, record) in enumerate(entries, start=2):
        ws.cell(row=i, column=1, value=row_no)
        for j, text in enumerate([*_summary(items), *_original(table, record)], start=2):
            cell = ws.cell(row=i, column=j, value=_xlsx_text(text))
            cell.data_type = "s"  # never a formula, whatever the department typed ('=...')
    ws.freeze_panes = "A2"
    ws.column_dimensions["A"].width = 8
    ws.column_dimensions["B"].width = 20
    ws.column_dimensions["C"].width = 40
    wb.save(path)


def _write_jsonl(table: RawTable, entries: list[Entry], path: Path) -> None:  # noqa: ARG001
    with path.open("w", encoding="utf-8", newline="\n") as fh:
        for row_no, items, record in entries:
            obj: dict[str, Any]
            raw = record.raw if record is not None else ""
            try:
                parsed = json.loads(raw)
            except (ValueError, RecursionError):  # RecursionError: nested too deep (read_jsonl refused it)
                parsed = None
            obj = dict(parsed) if isinstance(parsed, dict) else {"_raw": raw}
            obj["_row"] = row_no
            obj["_fields"] = [f for f, _ in items]
            obj["_reasons"] = [r for _, r in items]
            fh.write(json.dumps(obj, ensure_ascii=False) + "\n")
