"""Rejection reports as a role without personal data (``pii``) may see them.

A rejection report (退回记录) carries each rejected record as the department sent it, so it
may hold ID-card numbers, phone numbers and the names of natural persons. For a role
allowed personal data it is served as written; for any other role a copy is made on the
fly in the same format with:

- 经营者身份证号 (``owner_id``) as first 6 + ``********`` + last 4;
- 法定代表人/经营者 (``legal_rep``) as its first character + ``*`` … unless the record is
  an enterprise's (an enterprise's legal representative is public, 公示);
- anywhere in the record (free text, an unparseable line): an 18-character ID-card number
  (region, a real birth date, GB 11643 check character) and a mobile number (1[3-9] + 9
  digits) masked the same way.

The stored file is never changed.
"""
from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

from domain.cells import csv_safe_row
from domain.sources import Source, column_map
from queries.entity_list import mask_id, mask_name
from queries.grid import mask_phone

_ID = re.compile(r"(?<![0-9A-Za-z])\d{6}(?:19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[0-9Xx]"
                 r"(?![0-9A-Za-z])")
_PHONE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def _id_check_ok(text: str) -> bool:
    total = sum(int(c) * w for c, w in zip(text[:17], _WEIGHTS))
    return "10X98765432"[total % 11] == text[17].upper()


def mask_text(text: str) -> str:
    """ID-card and mobile numbers inside free text, masked."""
    text = _ID.sub(lambda m: mask_id(m[0]) if _id_check_ok(m[0]) else m[0], text)
    return _PHONE.sub(lambda m: mask_phone(m[0]), text)


def _enterprise(value: str) -> bool:
    return value.strip() in ("企业", "enterprise", "农民专业合作社", "cooperative")


def _mask_record(source: Source, values: dict[str, str]) -> dict[str, str]:
    """One record (original header → text) masked."""
    cols, _extra = column_map(source, list(values))
    out = {k: mask_text(v) if isinstance(v, str) else v for k, v in values.items()}
    if "owner_id" in cols and isinstance(out.get(cols["owner_id"]), str):
        out[cols["owner_id"]] = mask_id(str(values[cols["owner_id"]]).strip())
    kind = str(values.get(cols.get("entity_type", ""), "") or "")
    if "legal_rep" in cols and isinstance(out.get(cols["legal_rep"]), str) and not _enterprise(kind):
        out[cols["legal_rep"]] = mask_name(str(values[cols["legal_rep"]]))
    return out


def masked_report(path: Path, source: Source) -> bytes:
    """The report at ``path`` (csv, xlsx or jsonl) with personal data masked, same format."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _csv(path.read_bytes(), source)
    if suffix == ".xlsx":
        return _xlsx(path, source)
    return _jsonl(path.read_text(encoding="utf-8"), source)


def _csv(data: bytes, source: Source) -> bytes:
    try:
        text, encoding = data.decode("utf-8-sig"), "utf-8-sig"
    except UnicodeDecodeError:
        text, encoding = data.decode("gb18030"), "gb18030"
    rows = list(csv.reader(io.StringIO(text, newline="")))
    buf = io.StringIO(newline="")
    out = csv.writer(buf)
    if rows:
        header = rows[0]
        out.writerow(csv_safe_row(header))
        fixed = 3  # 行号, 问题字段, 问题原因 (etl.ingest.rejects.REPORT_COLUMNS)
        for row in rows[1:]:
            record = dict(zip(header[fixed:], row[fixed:]))
            masked = _mask_record(source, record)
            out.writerow(csv_safe_row([*(mask_text(c) for c in row[:fixed]), *(masked.get(h, "") for h in header[fixed:]),
                                       *(mask_text(c) for c in row[len(header):])]))
    return buf.getvalue().encode(encoding)


def _xlsx(path: Path, source: Source) -> bytes:
    from openpyxl import load_workbook

    wb = load_workbook(path)
    ws = wb.active
    rows = list(ws.iter_rows())
    if rows:
        header = [str(c.value or "") for c in rows[0]]
        for row in rows[1:]:
            record = {h: ("" if c.value is None else str(c.value)) for h, c in zip(header[3:], row[3:])}
            masked = _mask_record(source, record)
            for j, cell in enumerate(row):
                if not isinstance(cell.value, str):
                    continue
                cell.value = masked.get(header[j], cell.value) if j >= 3 else mask_text(cell.value)
                cell.data_type = "s"
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _jsonl(text: str, source: Source) -> bytes:
    lines = []
    for line in text.splitlines():
        obj = json.loads(line) if line.strip() else None
        if not isinstance(obj, dict):
            lines.append(mask_text(line))
            continue
        record = {k: v for k, v in obj.items() if not k.startswith("_")}
        masked = _mask_record(source, record)
        obj.update(masked)
        if isinstance(obj.get("_raw"), str):
            obj["_raw"] = mask_text(obj["_raw"])
        lines.append(json.dumps(obj, ensure_ascii=False))
    return ("\n".join(lines) + ("\n" if lines else "")).encode("utf-8")
