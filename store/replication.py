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
``stage_*`` tables) stay plain on every server: a load stays on its server
(:meth:`store.engine.Engine.pinned`), and one whose server is lost is loaded again from its
bytes when sent again (``Ingestor._staged_here``).
"""
from __future__ import annotations

import re
from typing import Any

from settings import ConfigError

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


def homes(db: Any) -> list[Any]:
    """The servers holding the tables that are not sharded: every server of a cluster with
    replicas, else the one the app connects to."""
    return [node for group in db.nodes() for node in group] if db.replicated else [db]


def check_engines(nodes: list[Any]) -> None:
    """Refuse a cluster with replicas whose servers still hold plain ``…MergeTree`` tables of
    this database (made by a release before replication, or by hand): ``CREATE … IF NOT
    EXISTS`` would keep them, and the app's server would then not share them with the
    others. They are moved by hand (docs/deploy.md §3)."""
    from store.executor import run

    for node in nodes:
        df = run(node, "replication_plain_tables", "SELECT name FROM system.tables WHERE database = %(db)s "
                 "AND engine LIKE '%%MergeTree' AND engine NOT LIKE 'Replicated%%'", {"db": node.database})
        plain = sorted(n for n in df["name"] if not n.startswith(SCRATCH_PREFIXES))
        if plain:
            raise ConfigError(f"database {node.database} on {node.url}: tables without replication on a cluster "
                              f"with replicas: {', '.join(plain[:8])}{' …' if len(plain) > 8 else ''}; move them to "
                              "Replicated engines first (docs/deploy.md §3)")
