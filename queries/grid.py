"""Small lookups behind the 风险预警 grid details panel and the warning feed:
the grid workers of a region (phones masked here, so a full number never leaves
this module) and entity names for a list of credit codes.

Every query is limited to the filter's region by ``grid_code LIKE``; every value
is bound.
"""
from __future__ import annotations

import logging
from typing import Iterable

import pandas as pd

from store.engine import Engine
from store.executor import run
from store.filters import Filter

logger = logging.getLogger(__name__)

__all__ = ["grid_workers", "entity_names", "mask_phone", "MAX_WORKERS", "MAX_NAMES"]

MAX_WORKERS = 200
MAX_NAMES = 2000


def mask_phone(value: str | None) -> str:
    """A phone number with its middle digits hidden: '13812345678' → '138****5678'.

    Shorter numbers keep at most their first 2 and last 2 characters; '' stays ''.
    """
    text = "".join(str(value or "").split())
    if not text:
        return ""
    if len(text) >= 11:
        return f"{text[:3]}{'*' * (len(text) - 7)}{text[-4:]}"
    if len(text) >= 7:
        return f"{text[:2]}{'*' * (len(text) - 4)}{text[-2:]}"
    return "*" * len(text)


def grid_workers(db: Engine, flt: Filter, limit: int = MAX_WORKERS) -> pd.DataFrame:
    """Grid workers inside ``flt.region`` (worker_id, grid_code, name, phone with
    the middle digits masked), ordered by grid and worker id."""
    df = run(db, "grid_workers", """
        SELECT worker_id, grid_code, name, phone FROM grid_workers
        WHERE grid_code LIKE %(like)s ORDER BY grid_code, worker_id LIMIT %(limit)s""",
             {"like": flt.like, "limit": max(1, min(int(limit), MAX_WORKERS))})
    df["phone"] = [mask_phone(p) for p in df["phone"]]
    return df.reset_index(drop=True)


def entity_names(db: Engine, flt: Filter, codes: Iterable[str]) -> dict[str, str]:
    """Names of the entities ``codes`` inside ``flt.region`` (unknown codes left out)."""
    wanted = sorted({str(c) for c in codes if c})[:MAX_NAMES]
    if not wanted:
        return {}
    df = run(db, "entity_names", """
        SELECT credit_code, any(name) AS name FROM entities
        WHERE grid_code LIKE %(like)s AND credit_code IN %(codes)s GROUP BY credit_code""",
             {"like": flt.like, "codes": wanted})
    return dict(zip(df["credit_code"].astype(str), df["name"].astype(str)))
