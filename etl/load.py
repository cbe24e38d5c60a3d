"""Loading the region tree and generated data sets into the database."""
from __future__ import annotations

import datetime as dt
import logging
from typing import Callable

import pandas as pd

from domain.regions import load_region_table
from store.schema import TABLES, drop_data_tables, init_schema, row_count
from store.engine import Engine
from store.executor import run

logger = logging.getLogger(__name__)


class DataPresent(Exception):
    """Demo data would overwrite data that is already loaded."""

    def __init__(self, rows: int) -> None:
        super().__init__(f"the database already holds {rows:,} entities; pass --replace to regenerate")
        self.user_message = f"数据库中已有 {rows:,} 户市场主体数据；如需重新生成请加 --replace"


def load_regions(db: Engine) -> int:
    """Load the national NBS tree (levels 1-5) unless it is already there."""
    tree = load_region_table()
    have = int(run(db, "count_nbs_regions", "SELECT count() AS n FROM regions WHERE level <= 5")["n"].iloc[0])
    if have == len(tree):
        logger.info("region tree already loaded (%d rows)", have)
        return 0
    if have:
        raise RuntimeError(f"regions table holds {have} NBS rows, expected {len(tree)}; run etl demo --replace")
    db.insert("regions", tree.assign(level=tree["level"].astype("uint8")))
    from queries.regions import clear_region_cache

    clear_region_cache()
    logger.info("loaded %d regions", len(tree))
    return len(tree)


def load_tables(db: Engine, tables: dict[str, pd.DataFrame],
                progress: Callable[[str], None] | None = None) -> dict[str, int]:
    """Insert each data frame into the table of the same name, in schema order."""
    from queries.regions import clear_region_cache

    clear_region_cache()
    counts: dict[str, int] = {}
    for name in TABLES:
        df = tables.get(name)
        if df is None or df.empty:
            continue
        db.insert(name, df)
        counts[name] = len(df)
        if progress:
            progress(name)
    return counts


def record_load(db: Engine, kind: str, root: str, seed: int, rows: int, note: str = "") -> None:
    db.insert("load_log", pd.DataFrame({
        "loaded_at": [pd.Timestamp(dt.datetime.now().replace(microsecond=0))], "kind": [kind],
        "root": [root], "seed": [seed], "rows": [rows], "note": [note]}))


def prepare(db: Engine, replace: bool) -> None:
    """Create the schema; with ``replace`` drop existing data first, else refuse
    to overwrite loaded entities."""
    if replace:
        drop_data_tables(db)
    init_schema(db)
    rows = row_count(db, "entities")
    if rows:
        raise DataPresent(rows)
