"""Setting a region's go-live date (``python -m etl golive set``; read by
:mod:`queries.golive`)."""
from __future__ import annotations

import datetime as dt
import time

import pandas as pd

from store.engine import Engine


def set_go_live(db: Engine, region: str, day: dt.date, by: str = "cli") -> None:
    """Record ``day`` as the go-live date of ``region`` ('' = the country); 1970-01-01 removes it."""
    db.insert("go_live", pd.DataFrame({
        "region_code": [region], "go_live": [pd.Timestamp(day)], "set_by": [by],
        "set_at": [pd.Timestamp(dt.datetime.now().replace(microsecond=0))], "version": [time.time_ns()]}))
