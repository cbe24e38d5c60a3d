"""Exports safe to open (issue #23, item 4; OWASP CSV injection): text a department typed —
``=cmd|' /C calc'!A0`` as an entity's name, ``@SUM(1)`` as a legal representative — never
reaches a spreadsheet as a formula: CSV cells that start with = + - @ tab or CR get a
leading ', and XLSX strings are stored as text. Checked on every file the product writes
that can carry such text: rejection reports (CSV and XLSX, as written and as masked for
download), the task list's Excel export, the Excel reports, the reference loader's list."""
from __future__ import annotations

import csv
import io

import pandas as pd
import pytest
from openpyxl import load_workbook

from domain.cells import FORMULA_STARTS, csv_safe
from etl.ingest.masking import masked_report
from domain.sources import SOURCES
from tests.ingestkit import ingest_db_fixture, to_csv, to_xlsx

env = ingest_db_fixture("safety")
EVIL = ["=cmd|' /C calc'!A0", "@SUM(1)", "+1+1", "-2+3", "\t=1", "\r=1"]


def _unsafe(value: object) -> bool:
    return isinstance(value, str) and value.startswith(FORMULA_STARTS)


def test_csv_safe():
    assert [csv_safe(v) for v in EVIL] == ["'" + v for v in EVIL]
    assert csv_safe("东莞市某公司") == "东莞市某公司" and csv_safe(-5) == -5 and csv_safe(None) is None
    assert csv_safe(csv_safe("=1")) == "'=1"  # once only
    numbers = ["-3.20%", "+1,024", "-5", "-0.5"]  # a signed number is no formula: left as it is
    assert [csv_safe(v) for v in numbers] == numbers
    assert [csv_safe(v) for v in ("-1+1", "-", "+A1", "-.5")] == ["'-1+1", "'-", "'+A1", "'-.5"]


def _rows(env, n: int) -> list[dict]:
    """Registrations with formula-like text in every column but the code, grid and date
    (so each is rejected: the type and industry are not valid choices)."""
    rows = env.registration(n)
    for i, r in enumerate(rows):
        for key in r:
            if key not in ("统一社会信用代码", "网格编码", "成立日期"):
                r[key] = EVIL[i % len(EVIL)]
    return rows


def test_rejection_reports_hold_no_formulas(env):
    rows = _rows(env, len(EVIL))
    res = env.load("registration", to_csv(rows), "evil.csv")
    assert res.rows_loaded == 0 and res.rows_rejected == res.rows_in >= len(EVIL) and res.report is not None
    for data in (res.report.read_bytes(), masked_report(res.report, SOURCES["registration"])):
        cells = [c for row in csv.reader(io.StringIO(data.decode("utf-8-sig"))) for c in row]
        assert not [c for c in cells if _unsafe(c)], [c for c in cells if _unsafe(c)][:5]
        assert "'=cmd|' /C calc'!A0" in cells and "'@SUM(1)" in cells
    res = env.load("registration", to_xlsx(_rows(env, len(EVIL))), "evil.xlsx")
    assert res.rows_loaded == 0 and res.rows_rejected == res.rows_in == len(EVIL) and res.report is not None
    for book in (res.report.read_bytes(), masked_report(res.report, SOURCES["registration"])):
        ws = load_workbook(io.BytesIO(book)).active
        strings = [c for row in ws.iter_rows() for c in row if isinstance(c.value, str)]
        assert strings and all(c.data_type == "s" for c in strings)
        assert any(c.value.startswith("=") for c in strings)  # shown as typed, as text


@pytest.mark.parametrize("writer", ["tasks", "report"])
def test_excel_exports_store_text_not_formulas(writer, flask_server):  # the app: pages import
    frame = pd.DataFrame({"主体名称": EVIL, "处置说明": list(reversed(EVIL)), "件数": range(len(EVIL))})
    if writer == "tasks":
        from pages import tasks

        data = tasks._xlsx(frame)
    else:
        from reports.excel import workbook_bytes

        data = workbook_bytes({"主要指标": frame})
    ws = load_workbook(io.BytesIO(data)).active
    cells = [c for row in ws.iter_rows(min_row=2) for c in row]
    texts = [c for c in cells if isinstance(c.value, str)]
    assert len(texts) == 2 * len(EVIL) and all(c.data_type == "s" for c in texts)
    assert sorted(c.value for c in texts) == sorted(EVIL * 2)
    assert [c.value for c in cells if c.column == 3] == list(range(len(EVIL)))  # numbers stay numbers
