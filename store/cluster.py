"""A ClickHouse cluster's servers as the app sees them (docs/deploy.md §3).

``system.clusters`` on the server in ``JINJIAN_CLICKHOUSE_URL`` lists the cluster's shards
and their replicas. From it:

- :func:`shard_engines`: one engine per shard, connected to its first replica and failing
  over to the others (clickhouse-driver's ``alt_hosts``): per-shard deletes and reads of
  ``<table>_local`` keep working while one replica is down;
- :func:`node_engines`: one engine per server, grouped by shard: ``etl init`` creates the
  tables on every one of them;
- :func:`is_replicated`: a shard has more than one replica, so tables are created with
  Replicated engines (:mod:`store.replication`) and ZooKeeper/Keeper must be configured.

Engines are made with ``type(db)`` (a :class:`store.engine.ServerEngine`), so this module
does not import the engine module.
"""
from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

from clickhouse_driver import Client

from settings import ConfigError

logger = logging.getLogger(__name__)


def topology(db: Any) -> list[list[tuple[str, int]]]:
    """(host, port) of every replica, grouped by shard in shard order."""
    rows = db._execute(db._thread_client(), "SELECT shard_num, replica_num, host_address, port FROM system.clusters "
                       "WHERE cluster = %(c)s ORDER BY shard_num, replica_num", {"c": db.cluster})
    if not rows:
        raise ConfigError(f"JINJIAN_CLICKHOUSE_CLUSTER={db.cluster!r}: the server knows no such cluster "
                          "(remote_servers)")
    shards: dict[int, list[tuple[str, int]]] = {}
    for shard, _, host, port in rows:
        shards.setdefault(int(shard), []).append((str(host), int(port)))
    return list(shards.values())


def _has_replicas(layout: list[list[tuple[str, int]]]) -> bool:
    return any(len(replicas) > 1 for replicas in layout)


def is_replicated(db: Any) -> bool:
    """Whether a shard of the cluster has more than one replica."""
    return _has_replicas(topology(db))


def _engine(db: Any, host: str, port: int, alt: list[tuple[str, int]], replicated: bool) -> Any:
    auth = quote(db._user) + (f":{quote(db._password)}" if db._password else "")
    scheme = "clickhouses" if db._secure else "clickhouse"
    return type(db)(f"{scheme}://{auth}@{host}:{port}/{db.database}", timeout=db.timeout,
                    connect_timeout=db.connect_timeout, alt_hosts=",".join(f"{h}:{p}" for h, p in alt),
                    replicated=replicated)


def shard_engines(db: Any) -> list[Any]:
    """One engine per shard: its first replica, failing over to the others."""
    layout = topology(db)
    replicated = _has_replicas(layout)
    return [_engine(db, *replicas[0], replicas[1:], replicated) for replicas in layout]


def node_engines(db: Any) -> list[list[Any]]:
    """One engine per server (no failover: each statement is meant for that server), by shard."""
    layout = topology(db)
    replicated = _has_replicas(layout)
    groups = [[_engine(db, host, port, [], replicated) for host, port in replicas] for replicas in layout]
    if replicated:
        for node in (n for g in groups for n in g):
            check_macros(node)
    return groups


def check_macros(node: Any) -> None:
    """A server of a replicated cluster must name its shard and replica (``<macros>``), which
    the Replicated tables' ZooKeeper paths use, and reach a ZooKeeper."""
    have = {r[0] for r in node._execute(node._thread_client(), "SELECT macro FROM system.macros")}
    missing = [m for m in ("shard", "replica") if m not in have]
    if missing:
        raise ConfigError(f"ClickHouse server {node._host}:{node._port} of cluster with replicas has no "
                          f"<macros> {', '.join(missing)} (docs/deploy.md §3)")
    try:
        node._execute(node._thread_client(), "SELECT count() FROM system.zookeeper WHERE path = '/'")
    except Exception as exc:  # noqa: BLE001 - any failure: no usable ZooKeeper
        raise ConfigError(f"ClickHouse server {node._host}:{node._port} of a cluster with replicas reaches no "
                          f"ZooKeeper/Keeper (<zookeeper> in its config): {getattr(exc, 'detail', exc)}") from None


def health(db: Any) -> dict[str, Any]:
    """Every server of the cluster as ``/healthz`` reports it: up or not and, on a cluster with
    replicas, how far its replicas lag (seconds, parts waiting). ``shards_down`` counts
    shards with no server up: their rows are out of reach and screens show the outage."""
    layout = topology(db)
    replicated = _has_replicas(layout)
    shards, down, shards_down = [], 0, 0
    for number, replicas in enumerate(layout, 1):
        servers = []
        for host, port in replicas:
            entry: dict[str, Any] = {"server": f"{host}:{port}", "up": False}
            try:  # a bare connection: a health probe creates nothing (no CREATE DATABASE)
                client = Client(host=host, port=port, user=db._user, password=db._password, secure=db._secure,
                                connect_timeout=db.connect_timeout, send_receive_timeout=db.connect_timeout + 5)
                try:
                    rows = client.execute("SELECT max(absolute_delay), sum(queue_size), sum(is_readonly) "
                                          "FROM system.replicas WHERE database = %(d)s", {"d": db.database})
                finally:
                    client.disconnect()
                delay, queue, readonly = rows[0] if rows else (0, 0, 0)
                entry.update(up=True, **({"delay_seconds": int(delay or 0), "queue": int(queue or 0),
                                          "readonly_tables": int(readonly or 0)} if replicated else {}))
            except Exception as exc:  # noqa: BLE001 - a server that does not answer is down, whatever the cause
                logger.warning("cluster health: %s:%s: %s", host, port, getattr(exc, "detail", exc))
            servers.append(entry)
        down += sum(not s["up"] for s in servers)
        shards_down += not any(s["up"] for s in servers)
        shards.append({"shard": number, "servers": servers})
    return {"name": db.cluster, "shards": shards, "servers_down": down, "shards_down": shards_down}
