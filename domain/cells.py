"""Exports safe to open (OWASP CSV injection): a spreadsheet runs a cell that starts with
``=``, ``+``, ``-``, ``@``, a tab or a carriage return as a formula — ``=cmd|' /C calc'!A0``
typed into a department's file as an entity name would run on the desk of whoever opens
the rejection report. Every CSV the product writes passes its text cells through
:func:`csv_safe` (a leading ``'`` keeps them text), and every XLSX stores strings as text,
never formulas (:func:`text_cells`)."""
from __future__ import annotations

import re
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
#: A signed number ("-3.20%", "+1,024") is not a formula: it stays as it is.
_NUMBER = re.compile(r"[+-]?\d[\d,]*(\.\d+)?%?")


def csv_safe(value: Any) -> Any:
    """``value`` with a leading ``'`` when it is text a spreadsheet would run as a formula
    (the browser's grid exports use the same rule: assets/dashAgGridFunctions.js)."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS) and not _NUMBER.fullmatch(value):
        return "'" + value
    return value


def csv_safe_row(values: list[Any]) -> list[Any]:
    return [csv_safe(v) for v in values]


def text_cells(sheet: Any) -> None:
    """Every string cell of an openpyxl ``sheet`` stored as text (openpyxl takes a string
    starting with ``=`` for a formula)."""
    for row in sheet.iter_rows():
        for cell in row:
            if isinstance(cell.value, str):
                cell.data_type = "s"
