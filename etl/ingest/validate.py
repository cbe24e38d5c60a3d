"""Row validation: every input record is either valid or rejected with its row
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
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import numpy as np
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


@dataclass(frozen=True)
class Problem:
    """Why one record (or one of its fields) was rejected."""

    row_no: int
    field: str
    code: str
    reason: str


@dataclass
class Checked:
    """The outcome of validating one batch."""

    rows: pd.DataFrame                        # valid rows: row_no + one column per field key
    problems: list[Problem] = field(default_factory=list)
    rows_in: int = 0
    warnings: list[str] = field(default_factory=list)

    def reject(self, problems: Iterable[Problem]) -> None:
        """Add problems and drop their rows from the valid set."""
        new = list(problems)
        if not new:
            return
        self.problems.extend(new)
        bad = {p.row_no for p in new}
        self.rows = self.rows[~self.rows["row_no"].isin(bad)].reset_index(drop=True)

    @property
    def rejected_rows(self) -> int:
        return len({p.row_no for p in self.problems})


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


#: A column check: texts (non-empty, within length) → (parsed values, problem codes, reasons);
#: code '' = ok. Every check is over the whole column; values that are not in the common
#: canonical form fall back to the scalar rule, so results equal the row-wise rules exactly.
ColumnCheck = Callable[[pd.Series], tuple[pd.Series, pd.Series, pd.Series]]

_CANON_DATE = r"(?:19|20)\d{2}-\d{2}-\d{2}"  # years 1900–2099: inside pandas' range
_CANON_TIME = r"(?:19|20)\d{2}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}"


def _empty_result(s: pd.Series) -> tuple[pd.Series, pd.Series, pd.Series]:
    return (pd.Series([None] * len(s), index=s.index, dtype=object), pd.Series("", index=s.index, dtype=object),
            pd.Series("", index=s.index, dtype=object))


def parse_times(s: pd.Series) -> pd.Series:
    """:func:`parse_time` over a column (NaT where it gives None): canonical dates and
    date-times parsed as arrays, any other form by :func:`parse_time` itself."""
    out = pd.Series(pd.NaT, index=s.index, dtype="datetime64[ns]")
    for pattern, fmt in ((_CANON_DATE, "%Y-%m-%d"), (_CANON_TIME, "%Y-%m-%d %H:%M:%S")):
        hit = s.str.fullmatch(pattern).fillna(False).to_numpy(dtype=bool)
        if hit.any():
            out[hit] = pd.to_datetime(s[hit], format=fmt, errors="coerce")
    rest = out.isna().to_numpy()
    if rest.any():  # other forms, and canonical-looking texts pandas refused (checked again)
        parsed = {v: _in_range(parse_time(v)) for v in pd.unique(s[rest])}
        out[rest] = s[rest].map(parsed).to_numpy(dtype="datetime64[ns]")
    return out


def _in_range(t: dt.datetime | None) -> np.datetime64:
    """``t`` as datetime64[ns]: NaT for None; a year beyond the ns range as its earliest or
    latest instant (such a date is too early or in the future either way)."""
    if t is None:
        return np.datetime64("NaT", "ns")
    return np.datetime64(min(max(t, dt.datetime(1678, 1, 1)), dt.datetime(2262, 1, 1)), "ns")


def _numbers(s: pd.Series) -> pd.Series:
    """:func:`_number` over a column (NaN where it gives None): the scalar rule itself, a
    plain loop (faster than a regular expression over the column and exact by definition)."""
    nan = float("nan")
    return pd.Series([nan if (x := _number(v)) is None else x for v in s], index=s.index, dtype=float)


def _column_checker(f: Field, now: dt.datetime, grids: frozenset[str], scope: str) -> ColumnCheck | None:
    # Reasons are written for the failing cells only (``reason`` maps those cells' text to
    # theirs): building a message for every row of a 100,000-row column cost more than the check.
    def mark(s: pd.Series, codes: pd.Series, texts: pd.Series, bad: Any, code: str,
             reason: Callable[[pd.Series], pd.Series]) -> None:
        if bad.any():
            codes[bad], texts[bad] = code, reason(s[bad])

    def fail(s: pd.Series, bad: Any, code: str, reason: Callable[[pd.Series], pd.Series]):
        values, codes, texts = _empty_result(s)
        mark(s, codes, texts, bad, code, reason)
        return values, codes, texts

    def credit(s: pd.Series):
        got, messages = uscc.validate_many(s.tolist())
        values = pd.Series(got, index=s.index, dtype=object)
        texts = pd.Series(messages, index=s.index, dtype=object)
        return values, texts.where(texts == "", "credit_code"), texts

    def grid(s: pd.Series):
        shape = s.str.match(_GRID.pattern).fillna(False)
        known = s.isin(grids)
        values, codes, texts = _empty_result(s)
        for bad, code, reason in (
                (~shape, "bad_grid", lambda x: "网格编码应为15位数字，实为“" + x.str.slice(0, 20) + "”"),
                (shape & ~known, "unknown_grid", lambda x: "网格编码不存在：" + x),
                (shape & known & ~s.str.startswith(scope), "out_of_scope",
                 lambda x: "网格 " + x + f" 不在本单位辖区（{scope}）内")):
            mark(s, codes, texts, bad, code, reason)
        values[codes == ""] = s[codes == ""]
        return values, codes, texts

    def when(s: pd.Series):
        t = parse_times(s)
        values, codes, texts = _empty_result(s)
        for bad, code, reason in (
                (t.isna(), "bad_date",
                 lambda x: "日期无法识别：“" + x.str.slice(0, 30) + "”（应为 YYYY-MM-DD 或 YYYY-MM-DD HH:MM:SS）"),
                (t < MIN_DATE, "bad_date", lambda x: "日期早于1949-10-01：" + x),
                (t > now + FUTURE_SLACK, "future_date", lambda x: "日期晚于当前时间：" + x)):
            mark(s, codes, texts, bad, code, reason)
        ok = codes == ""
        if ok.any():
            values[ok] = pd.Series(t[ok].dt.to_pydatetime(), index=t[ok].index, dtype=object)
        return values, codes, texts

    def enum(s: pd.Series):
        c = s.str.casefold().map(f.choices)
        allowed = "、".join(dict.fromkeys(k for k in f.choices if not k.isascii()) or f.choices)
        values, codes, texts = fail(s, c.isna(), "bad_enum",
                                    lambda x: "取值“" + x.str.slice(0, 30) + f"”不在允许范围内（{allowed}）")
        values[c.notna()] = c[c.notna()]
        return values, codes, texts

    def number(lo: float | None, hi: float | None, reason: str):
        def check(s: pd.Series):
            x = _numbers(s)
            bad = x.isna() | (x < lo) if hi is None else x.isna() | ~x.between(lo, hi)
            head = reason.replace("{v}", "")
            values, codes, texts = fail(s, bad, "bad_number", lambda x: head + "“" + x.str.slice(0, 30) + "”")
            values[~bad] = x[~bad]
            return values, codes, texts
        return check

    def pattern(regex: re.Pattern, code: str, head: str, cut: int):
        def check(s: pd.Series):
            ok = s.str.match(regex.pattern).fillna(False)
            values, codes, texts = fail(s, ~ok, code, lambda x: head + "“" + x.str.slice(0, cut) + "”")
            values[ok] = s[ok]
            return values, codes, texts
        return check

    lo, hi = (70.0, 140.0) if f.key == "lon" else (0.0, 60.0)
    return {"credit_code": credit, "grid": grid, "datetime": when, "enum": enum,
            "money": number(0.0, None, "金额应为非负数字，实为"),
            "coord": number(lo, hi, f"坐标应在 {lo:g}–{hi:g} 之间，实为"),
            "id": pattern(_ID, "bad_id", "编号含不允许的字符：", 40),
            "task_id": pattern(_TASK, "bad_id", "任务编号应为 T 加数字，实为", 30)}.get(f.kind)


def check_fields(source: Source, table: RawTable, *, now: dt.datetime, grids: frozenset[str],
                 scope: str = "", tick: Callable[[int], None] | None = None) -> Checked:
    """Check every record of ``table`` against the source's fields (no database), column
    by column; problems come out in the row-wise order (by record, then field order)."""
    out = Checked(rows=pd.DataFrame(), rows_in=table.rows_in)
    out.problems.extend(Problem(p.row_no, "", "unparsable", p.reason) for p in table.problems)
    cols, extra = column_map(source, table.header)
    if extra:
        out.warnings.append(f"忽略未识别的列：{'、'.join(extra)}")
    n = table.n_rows
    row_no = pd.Series(table.row_numbers, dtype="int64")
    found: list[tuple[pd.Series, int, str, pd.Series, pd.Series]] = []  # (bad mask, order, field, codes, reasons)
    for k, f in enumerate(source.fields):
        if f.required and f.key not in cols:
            found.append((pd.Series(True, index=row_no.index), k, f.zh, pd.Series("missing_column", index=row_no.index),
                          pd.Series(f"缺少必填列“{f.zh}”", index=row_no.index)))
    data: dict[str, pd.Series] = {"row_no": row_no}
    for k, f in enumerate(source.fields):
        order = len(source.fields) + k
        name = cols.get(f.key)
        texts = table.column(name) if name else [""] * n
        text = pd.Series(texts, dtype=object)
        length = pd.Series(np.fromiter(map(len, texts), dtype=np.int64, count=n), index=text.index)
        long_ = length > f.max_len
        empty = length == 0
        codes = pd.Series("", index=text.index, dtype=object)
        reasons = pd.Series("", index=text.index, dtype=object)
        if long_.any():
            codes[long_] = "too_long"
            reasons[long_] = "字段过长：" + length[long_].astype(str) + f" 个字符，上限 {f.max_len}"
        if f.required and name and empty.any():
            codes[empty], reasons[empty] = "required", "必填字段为空"
        values = pd.Series([None] * n, dtype=object)
        todo = ~long_ & ~empty
        check = _column_checker(f, now, grids, scope)
        if todo.any():
            if check is None:
                values[todo] = text[todo]
            else:
                v, c, r = check(text[todo])
                values[todo], codes[todo], reasons[todo] = v, c, r
        found.append((codes != "", order, f.zh, codes, reasons))
        data[f.key] = values
    rules = _row_rules_columns(source, data)
    found.extend((bad, 2 * len(source.fields), label, pd.Series(code, index=row_no.index),
                  pd.Series(reason, index=row_no.index)) for bad, label, code, reason in rules)
    bad_rows = pd.Series(False, index=row_no.index)
    listed: list[tuple[int, int, Problem]] = []
    for bad, order, label, codes, reasons in found:
        bad = bad.to_numpy(dtype=bool)
        bad_rows |= bad
        for i in np.flatnonzero(bad).tolist():
            listed.append((i, order, Problem(int(row_no.iat[i]), label, codes.iat[i], reasons.iat[i])))
    listed.sort(key=lambda x: (x[0], x[1]))
    out.problems.extend(p for _i, _o, p in listed)
    if tick:
        tick(n)
    keys = ["row_no", *(f.key for f in source.fields)]
    good = ~bad_rows.to_numpy(dtype=bool)
    out.rows = (pd.DataFrame({k: (row_no if k == "row_no" else data[k])[good].tolist() for k in keys}, columns=keys)
                if good.any() else pd.DataFrame([], columns=keys))
    out.reject(_duplicates_in_batch(source, out.rows))
    logger.debug("%s: %d records, %d valid, %d problems", source.id, out.rows_in, len(out.rows), len(out.problems))
    return out


def _row_rules_columns(source: Source, data: dict[str, pd.Series]) -> list[tuple[pd.Series, str, str, str]]:
    """Rules that involve two fields of a record, over the columns: (rows, field, code, reason)."""
    if source.id == "change":
        need = (data["change_item"] == "address") & data["new_grid_code"].isna()
        return [(need, "变更后网格编码", "required", "住所变更须填写变更后网格编码")]
    if source.id == "registration":
        return [(data["lon"].isna() != data["lat"].isna(), "经度", "required", "经度、纬度须同时填写或同时留空")]
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
