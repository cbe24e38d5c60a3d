"""The report's tables as one .xlsx workbook (a sheet per table)."""
from __future__ import annotations

import io
from typing import Mapping

import pandas as pd

from domain.cells import text_cells


def workbook_bytes(tables: Mapping[str, pd.DataFrame]) -> bytes:
    """One sheet per table (sheet names ≤ 31 characters), columns sized to fit."""
    buf = io.BytesIO()
    with pd.ExcelWriter(buf, engine="openpyxl") as writer:
        for name, frame in tables.items():
            sheet_name = name[:31]
            frame.to_excel(writer, sheet_name=sheet_name, index=False)
            sheet = writer.sheets[sheet_name]
            text_cells(sheet)  # strings as text, never formulas (domain.cells)
            sheet.freeze_panes = "A2"
            for i, col in enumerate(frame.columns):
                values = [str(v) for v in frame[col].head(300)]
                width = max([len(str(col)) * 2] + [len(v) * (2 if any(ord(ch) > 127 for ch in v) else 1)
                                                    for v in values])
                sheet.column_dimensions[sheet.cell(row=1, column=i + 1).column_letter].width = min(width + 2, 80)
    return buf.getvalue()
