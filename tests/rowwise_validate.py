"""The row-by-row validation that ``etl.ingest.validate`` replaced with column-wise
checks (issue 20), kept as the reference: ``tests/test_validate_columns.py`` checks that
both give exactly the same problems and valid rows on the bad-input corpus and on
generated inputs. Not used by the product.

Original docstring: row validation: every input record is either valid or rejected with its row
number, the field and the reason (docs/ingest.md lists the reason codes).

:func:`check_fields` needs no database (types, enums, lengths, dates, region and
grid codes, duplicates inside the batch); :mod:`etl.ingest.lookups` then checks
rows against what is already loaded (duplicates across batches, unknown
entities and tasks, task transitions).
"""
from __future__ import annotations

import datetime as dt
import logging
import math
import re
from typing import Any, Callable

import pandas as pd

from domain import uscc
from etl.ingest.raw import RawTable
from domain.sources import Field, Source, column_map

logger = logging.getLogger(__name__)

#: Earliest date accepted (founding of the PRC; older dates are typing errors).
MIN_DATE = dt.datetime(1949, 10, 1)
#: Clock skew tolerated before a time counts as "in the future".
FUTURE_SLACK = dt.timedelta(minutes=10)
_DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%Y%m%d", "%Y.%m.%d")
_TIME_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M",
                 "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M")
_ZH_DATE = re.compile(r"^(\d{4})年(\d{1,2})月(\d{1,2})日$")
_GRID = re.compile(r"^\d{15}$")
_ID = re.compile(r"^[0-9A-Za-z\u4e00-\u9fff〔〕\[\]（）()【】_\-/.#号第字]+$")
_TASK = re.compile(r"^T\d{1,23}$")


from etl.ingest.validate import Checked, Problem  # the same types, so results compare equal


def parse_time(text: str) -> dt.datetime | None:
    """A date or date-time in one of the accepted formats, or None."""
    m = _ZH_DATE.match(text)
    if m:
        try:
            return dt.datetime(int(m[1]), int(m[2]), int(m[3]))
        except ValueError:
            return None
    for fmt in (_DATE_FORMATS if len(text) <= 10 else _TIME_FORMATS):
        try:
            return dt.datetime.strptime(text, fmt)
        except ValueError:
            continue
    return None


def _number(text: str) -> float | None:
    try:
        value = float(text.replace(",", ""))
    except ValueError:
        return None
    return value if math.isfinite(value) else None


Check = Callable[[str], tuple[Any, str, str]]  # value → (parsed, code, reason); code '' = ok


def _checker(f: Field, now: dt.datetime, grids: frozenset[str], scope: str) -> Check:
    def credit(v: str) -> tuple[Any, str, str]:
        try:
            return uscc.validate(v), "", ""
        except uscc.InvalidCreditCode as exc:
            return None, "credit_code", exc.user_message

    def grid(v: str) -> tuple[Any, str, str]:
        if not _GRID.match(v):
            return None, "bad_grid", f"网格编码应为15位数字，实为“{v[:20]}”"
        if v not in grids:
            return None, "unknown_grid", f"网格编码不存在：{v}"
        if not v.startswith(scope):
            return None, "out_of_scope", f"网格 {v} 不在本单位辖区（{scope}）内"
        return v, "", ""

    def when(v: str) -> tuple[Any, str, str]:
        t = parse_time(v)
        if t is None:
            return None, "bad_date", f"日期无法识别：“{v[:30]}”（应为 YYYY-MM-DD 或 YYYY-MM-DD HH:MM:SS）"
        if t < MIN_DATE:
            return None, "bad_date", f"日期早于1949-10-01：{v}"
        if t > now + FUTURE_SLACK:
            return None, "future_date", f"日期晚于当前时间：{v}"
        return t, "", ""

    def enum(v: str) -> tuple[Any, str, str]:
        c = f.choices.get(v.casefold())
        if c is None:
            allowed = "、".join(dict.fromkeys(k for k in f.choices if not k.isascii()) or f.choices)
            return None, "bad_enum", f"取值“{v[:30]}”不在允许范围内（{allowed}）"
        return c, "", ""

    def money(v: str) -> tuple[Any, str, str]:
        x = _number(v)
        if x is None or x < 0:
            return None, "bad_number", f"金额应为非负数字，实为“{v[:30]}”"
        return x, "", ""

    def coord(v: str) -> tuple[Any, str, str]:
        x = _number(v)
        lo, hi = (70.0, 140.0) if f.key == "lon" else (0.0, 60.0)
        if x is None or not lo <= x <= hi:
            return None, "bad_number", f"坐标应在 {lo:g}–{hi:g} 之间，实为“{v[:30]}”"
        return x, "", ""

    def ident(v: str) -> tuple[Any, str, str]:
        if not _ID.match(v):
            return None, "bad_id", f"编号含不允许的字符：“{v[:40]}”"
        return v, "", ""

    def task(v: str) -> tuple[Any, str, str]:
        if not _TASK.match(v):
            return None, "bad_id", f"任务编号应为 T 加数字，实为“{v[:30]}”"
        return v, "", ""

    return {"credit_code": credit, "grid": grid, "datetime": when, "enum": enum, "money": money,
            "coord": coord, "id": ident, "task_id": task}.get(f.kind, lambda v: (v, "", ""))


def check_fields(source: Source, table: RawTable, *, now: dt.datetime, grids: frozenset[str],
                 scope: str = "", tick: Callable[[int], None] | None = None) -> Checked:
    """Check every record of ``table`` against the source's fields (no database)."""
    out = Checked(rows=pd.DataFrame(), rows_in=table.rows_in)
    out.problems.extend(Problem(p.row_no, "", "unparsable", p.reason) for p in table.problems)
    cols, extra = column_map(source, table.header)
    if extra:
        out.warnings.append(f"忽略未识别的列：{'、'.join(extra)}")
    missing = [f for f in source.fields if f.required and f.key not in cols]
    checks = {f.key: _checker(f, now, grids, scope) for f in source.fields}
    good: list[dict[str, Any]] = []
    for i, row in enumerate(table.rows, 1):
        if tick and i % 1000 == 0:
            tick(1000)
        problems: list[Problem] = [Problem(row.row_no, f.zh, "missing_column", f"缺少必填列“{f.zh}”")
                                   for f in missing]
        rec: dict[str, Any] = {"row_no": row.row_no}
        for f in source.fields:
            text = row.values.get(cols[f.key], "") if f.key in cols else ""
            if len(text) > f.max_len:
                problems.append(Problem(row.row_no, f.zh, "too_long", f"字段过长：{len(text)} 个字符，上限 {f.max_len}"))
                continue
            if text == "":
                if f.required and f.key in cols:
                    problems.append(Problem(row.row_no, f.zh, "required", "必填字段为空"))
                rec[f.key] = None
                continue
            value, code, reason = checks[f.key](text)
            if code:
                problems.append(Problem(row.row_no, f.zh, code, reason))
            rec[f.key] = value
        problems.extend(_row_rules(source, rec))
        if problems:
            out.problems.extend(problems)
        else:
            good.append(rec)
    if tick:
        tick(len(table.rows) % 1000)
    keys = ["row_no", *(f.key for f in source.fields)]
    out.rows = pd.DataFrame(good, columns=keys)
    out.reject(_duplicates_in_batch(source, out.rows))
    logger.debug("%s: %d records, %d valid, %d problems", source.id, out.rows_in, len(out.rows), len(out.problems))
    return out


def _row_rules(source: Source, rec: dict[str, Any]) -> list[Problem]:
    """Rules that involve two fields of a record."""
    row = rec["row_no"]
    if source.id == "change" and rec.get("change_item") == "address" and not rec.get("new_grid_code"):
        return [Problem(row, "变更后网格编码", "required", "住所变更须填写变更后网格编码")]
    if source.id == "registration" and (rec.get("lon") is None) != (rec.get("lat") is None):
        return [Problem(row, "经度", "required", "经度、纬度须同时填写或同时留空")]
    return []


def _duplicates_in_batch(source: Source, rows: pd.DataFrame) -> list[Problem]:
    if rows.empty:
        return []
    key = rows[source.key]
    dup = key.duplicated(keep="first")
    first = rows.loc[~dup].set_index(source.key)["row_no"]
    label = source.field(source.key).zh
    return [Problem(int(r), label, "duplicate_in_batch", f"与本批第 {int(first[k])} 行重复（{label} {k}）")
            for r, k in zip(rows.loc[dup, "row_no"], key[dup])]
