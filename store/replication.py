"""Replicated engines for a cluster with replicas (docs/deploy.md §3).

The DDL in :mod:`store.schema`, :mod:`store.rollup_tables`, :mod:`store.batch_index` and
:mod:`store.risk_tables` names plain ``…MergeTree`` engines. On a cluster whose shards have
replicas, :func:`ddl_for` turns each into its ``Replicated…MergeTree`` twin:

- a shard's table (``<name>_local``: facts, rollups, the batch index) is replicated within
  its shard: ``/clickhouse/tables/{shard}/<db>/<name>_local`` with replica ``{replica}``;
- every other table (regions, departments, ingestion bookkeeping, risk snapshots, 双随机,
  联合惩戒…) is replicated to every server of the cluster:
  ``/clickhouse/tables/all/<db>/<name>`` with replica ``{shard}-{replica}``, so any server
  can take over as the app's (``JINJIAN_CLICKHOUSE_ALT_HOSTS``).

``{shard}`` and ``{replica}`` are each server's ``<macros>``. Scratch tables (a batch's
``stage_*`` tables) stay plain on every server: a load that loses its server is recovered
from its archived file, not from the stage.
"""
from __future__ import annotations

import re
from typing import Any

ZK_ROOT = "/clickhouse/tables"
#: Tables a batch stages its rows in: plain tables, never replicated.
SCRATCH_PREFIXES = ("stage_", "ref_stage_", "lookup_keys_")
_NAME = re.compile(r"CREATE TABLE (?:IF NOT EXISTS )?(\w+)")
_ENGINE = re.compile(r"ENGINE = (\w*?)MergeTree(?:\(([^()]*)\))?")


def replicated(ddl: str, database: str) -> str:
    """``ddl`` (one CREATE TABLE) with its MergeTree-family engine replicated."""
    found = _NAME.search(ddl)
    if found is None:
        raise ValueError("not a CREATE TABLE statement")
    name = found.group(1)
    if name.startswith(SCRATCH_PREFIXES):
        return ddl
    if name.endswith("_local"):
        path, replica = f"{ZK_ROOT}/{{shard}}/{database}/{name}", "{replica}"
    else:
        path, replica = f"{ZK_ROOT}/all/{database}/{name}", "{shard}-{replica}"

    def engine(m: re.Match[str]) -> str:
        args = f"'{path}', '{replica}'" + (f", {m.group(2)}" if m.group(2) else "")
        return f"ENGINE = Replicated{m.group(1)}MergeTree({args})"

    return _ENGINE.sub(engine, ddl, count=1)


def ddl_for(db: Any, ddl: str) -> str:
    """``ddl`` as ``db`` must run it: replicated on a cluster with replicas, else unchanged."""
    return replicated(ddl, db.database) if db.replicated else ddl
