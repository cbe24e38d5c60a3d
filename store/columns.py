"""Column conversions between pandas and clickhouse-driver (:class:`store.engine.ServerEngine`)."""
from __future__ import annotations

from typing import Any

import pandas as pd


def empty_dtype(ch_type: str) -> str:
    if "Int" in ch_type:
        return "int64"
    if "Float" in ch_type or "Decimal" in ch_type:
        return "float64"
    if ch_type.startswith("Date"):
        return "datetime64[s]"
    return "object"


def to_python(series: pd.Series, ch_type: str) -> list[Any]:
    """A column as the Python values clickhouse-driver sends (vectorised: inserts of
    millions of rows spend their time here)."""
    base = ch_type.replace("Nullable(", "").replace("LowCardinality(", "").rstrip(")")
    if base == "Date" or base.startswith("DateTime"):
        values = pd.to_datetime(series)
        out = (values.dt.date if base == "Date" else values.dt.to_pydatetime()).tolist() \
            if not values.empty else []
        return [None if pd.isna(v) else v for v in out] if values.isna().any() else out
    if base.startswith(("Int", "UInt")):
        return series.astype("uint64" if base == "UInt64" else "int64").tolist()
    if base.startswith(("Float", "Decimal")):
        return series.astype("float64").tolist()
    return [None if v is None else (v if isinstance(v, str) else str(v)) for v in series.tolist()]
