"""Database engines behind one interface: embedded chDB and a ClickHouse server.

Both take fully rendered SQL from :mod:`store.executor` (one SQL text serves
both; see the portable subset in DESIGN.md §4) and return pandas DataFrames.
"""
from __future__ import annotations

import contextlib
import logging
import queue
import threading
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import unquote, urlparse

import pandas as pd

from domain.errors import DatabaseUnavailable, QueryFailed, QueryTimeout
from store.columns import empty_dtype, to_python
from settings import ConfigError, Settings

logger = logging.getLogger(__name__)

DEFAULT_DATABASE = "jinjian"
_INSERT_CHUNK = 200_000
#: Socket timeout of a bulk statement (Engine.bulk): silence this long means the server is gone.
BULK_SOCKET_S = 6 * 3600


class Engine(ABC):
    """A place that runs SQL. ``database`` is used for unqualified table names."""

    name: str = "engine"
    #: The ClickHouse cluster whose Distributed tables this engine reads (server mode), or None.
    cluster: str | None = None

    def __init__(self, database: str) -> None:
        if not database.replace("_", "").isalnum():
            raise ConfigError(f"database name {database!r} must be letters, digits and _")
        self.database = database
        self._local = threading.local()
        self._topology_lock = threading.Lock()

    @property
    def identity(self) -> str:
        """Where this engine's data lives (kind, location, database): a cache key."""
        return f"{self.name}:{getattr(self, 'url', getattr(self, 'path', ''))}/{self.database}"

    @abstractmethod
    def query(self, sql: str) -> pd.DataFrame:
        """Run a SELECT and return its rows."""

    @abstractmethod
    def command(self, sql: str) -> None:
        """Run a statement that returns nothing (DDL)."""

    def bulk(self, sql: str) -> None:
        """Run a long statement of background work (a backfill, a snapshot build): the
        screens' time limit does not apply; the statement names its own settings."""
        self.command(sql)

    @abstractmethod
    def insert(self, table: str, df: pd.DataFrame) -> None:
        """Append the rows of ``df`` (columns named as the table's) to ``table``."""

    def shards(self) -> list["Engine"]:
        """The engines holding this engine's sharded tables: itself unless on a cluster."""
        return [self]

    def nodes(self) -> list[list["Engine"]]:
        """Every server holding this engine's tables, grouped by shard: itself unless on a cluster."""
        return [[self]]

    @property
    def replicated(self) -> bool:
        """Whether tables are created with Replicated engines (a cluster with replicas)."""
        return False

    def close(self) -> None:  # pragma: no cover - trivial
        """Release connections."""

    @contextlib.contextmanager
    def pinned(self) -> Iterator[None]:
        """This thread's statements stay on the server they started on: a lost connection
        fails them instead of moving on to another server (a load's stage tables are that
        server's own)."""
        before = getattr(self._local, "pinned", False)
        self._local.pinned = True
        try:
            yield
        finally:
            self._local.pinned = before


#: Server error codes that mean a server the query needs is out of reach, not a bad query:
#: all replicas of a shard down (279), a network error or time-out between servers (209,
#: 210), ZooKeeper lost (999) and so a replica read-only (242).
_UNREACHABLE = {209, 210, 242, 279, 999}


def _map_error(exc: Exception) -> Exception:
    text = " ".join(str(exc).split("Stack trace")[0].split()) or type(exc).__name__
    code = getattr(exc, "code", None)
    if code == 159 or "TIMEOUT_EXCEEDED" in text or "Timeout exceeded" in text:
        return QueryTimeout(text[:300])
    if code in _UNREACHABLE:
        return DatabaseUnavailable(text[:500])
    return QueryFailed(text[:500])


# ---------------------------------------------------------------- embedded chDB
_CHDB_LOCK = threading.Lock()
_CHDB_PATH: Path | None = None


class ChdbEngine(Engine):
    """Embedded chDB. One data directory per process (a chDB limit); a small pool
    of sessions on that path lets queries run in parallel."""

    name = "chdb"

    def __init__(self, data_dir: Path, database: str = DEFAULT_DATABASE,
                 sessions: int = 4, timeout: int = 30) -> None:
        super().__init__(database)
        global _CHDB_PATH
        path = (Path(data_dir) / "chdb").resolve()
        try:
            path.mkdir(parents=True, exist_ok=True)
            probe = path / ".write-test"
            probe.write_text("ok")
            probe.unlink()
        except OSError as exc:
            raise ConfigError(f"JINJIAN_DATA_DIR={data_dir} is not writable: {exc.strerror or exc}") from None
        with _CHDB_LOCK:
            if _CHDB_PATH is not None and _CHDB_PATH != path:
                raise ConfigError(
                    f"embedded chDB is already open at {_CHDB_PATH}; one process can open one data dir")
            _CHDB_PATH = path
        self.path = path
        self.timeout = timeout
        self._max = sessions
        self._pool: queue.LifoQueue[Any] = queue.LifoQueue()
        self._created = 0
        self._lock = threading.Lock()
        # Fail early (lock held by another process, corrupt dir) with a clear message.
        self.command(f"CREATE DATABASE IF NOT EXISTS {self.database}")

    def _new_session(self) -> Any:
        from chdb import session as chs

        try:
            sess = chs.Session(str(self.path))
            sess.query(f"CREATE DATABASE IF NOT EXISTS {self.database}")
            sess.query(f"USE {self.database}")
            sess.query(f"SET max_execution_time = {int(self.timeout)}")
        except Exception as exc:  # chdb raises RuntimeError subclasses
            first = str(exc).splitlines()[0][:300]
            raise DatabaseUnavailable(f"cannot open embedded database at {self.path}: {first}") from None
        return sess

    def _borrow(self) -> Any:
        try:
            return self._pool.get_nowait()
        except queue.Empty:
            pass
        with self._lock:
            if self._created < self._max:
                self._created += 1
                try:
                    return self._new_session()
                except Exception:
                    self._created -= 1
                    raise
        return self._pool.get()

    def _run(self, sql: str, fmt: str, **kw: Any) -> Any:
        sess = self._borrow()
        try:
            return sess.query(sql, fmt, **kw)
        except Exception as exc:
            raise _map_error(exc) from None
        finally:
            self._pool.put(sess)

    def query(self, sql: str) -> pd.DataFrame:
        return self._run(sql, "DataFrame")

    def command(self, sql: str) -> None:
        self._run(sql, "CSV")

    def close(self) -> None:
        """Close the idle pooled sessions (new ones open on the next query)."""
        while True:
            try:
                sess = self._pool.get_nowait()
            except queue.Empty:
                return
            with self._lock:
                self._created -= 1
            try:
                sess.close()
            except Exception as exc:  # noqa: BLE001 - best effort: a session that fails to close is gone
                logger.warning("closing a chDB session failed: %s", exc)

    def insert(self, table: str, df: pd.DataFrame) -> None:
        cols = ", ".join(df.columns)
        sess = self._borrow()
        try:
            for start in range(0, len(df), _INSERT_CHUNK * 5):
                chunk = df.iloc[start:start + _INSERT_CHUNK * 5]  # noqa: F841 - read by Python()
                sess.query(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM Python(chunk)")
        except Exception as exc:
            raise _map_error(exc) from None
        finally:
            self._pool.put(sess)


# ---------------------------------------------------------------- ClickHouse server
class ServerEngine(Engine):
    """A ClickHouse server over the native protocol (clickhouse-driver)."""

    name = "server"

    def __init__(self, url: str, database: str | None = None, timeout: int = 30,
                 connect_timeout: int = 3, cluster: str | None = None, alt_hosts: str = "",
                 replicated: bool | None = None) -> None:
        parsed = urlparse(url)
        if parsed.scheme not in ("clickhouse", "clickhouses") or not parsed.hostname:
            raise ConfigError(f"JINJIAN_CLICKHOUSE_URL={url!r} is not clickhouse://host:port/db")
        db = database or (parsed.path.strip("/") or DEFAULT_DATABASE)
        super().__init__(db)
        self.url = url
        self._host = parsed.hostname
        self._port = parsed.port or (9440 if parsed.scheme == "clickhouses" else 9000)
        self._user = unquote(parsed.username or "default")
        self._password = unquote(parsed.password or "")
        self._secure = parsed.scheme == "clickhouses"
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self._types: dict[str, dict[str, str]] = {}
        self.cluster = cluster or None
        #: Other servers to connect to when this one is down ("host:port,…", clickhouse-driver's alt_hosts).
        self.alt_hosts = alt_hosts
        self._replicated = replicated
        self._shards: list[ServerEngine] | None = None
        self._nodes: list[list[ServerEngine]] | None = None
        self._ensure_database()

    def _client(self, database: str | None = None) -> Any:
        from clickhouse_driver import Client

        return Client(host=self._host, port=self._port, user=self._user, password=self._password,
                      database=database or self.database, secure=self._secure,
                      connect_timeout=self.connect_timeout, send_receive_timeout=self.timeout + 5,
                      alt_hosts=self.alt_hosts or None,
                      # insert_deduplicate=0: a Replicated table would drop a block equal to a recent one
                      # (two batches' identical rollup rows); batches are kept at most once by ingestion.
                      settings={"max_execution_time": self.timeout, "insert_deduplicate": 0,
                                "allow_experimental_low_cardinality_type": 1, **self._cluster_settings()})

    def _cluster_settings(self) -> dict[str, Any]:
        """On a cluster: a subquery or JOIN over a Distributed table inside a distributed query
        reads each shard's local table (rows are sharded by credit code, so per-entity joins are
        shard-local), and an insert returns once every shard has its rows."""
        if not self.cluster:
            return {}
        # in_order: reads, inserts and the per-shard deletes waited on all go to a shard's first
        # replica that answers, so a load reads back what it wrote (not a replica still fetching).
        return {"distributed_product_mode": "local", "insert_distributed_sync": 1, "load_balancing": "in_order"}

    def shards(self) -> list["ServerEngine"]:
        """One engine per shard of :attr:`cluster` (its first replica, failing over to the
        others), on the same database."""
        if not self.cluster:
            return [self]
        with self._topology_lock:
            if self._shards is None:
                from store.cluster import shard_engines

                self._shards = shard_engines(self)
        return self._shards

    def nodes(self) -> list[list["ServerEngine"]]:
        """One engine per server of :attr:`cluster`, grouped by shard (``etl init`` creates
        tables on each)."""
        if not self.cluster:
            return [[self]]
        with self._topology_lock:
            if self._nodes is None:
                from store.cluster import node_engines

                self._nodes = node_engines(self)
        return self._nodes

    @property
    def replicated(self) -> bool:
        if self._replicated is None:
            from store.cluster import is_replicated

            self._replicated = bool(self.cluster) and is_replicated(self)
        return self._replicated

    def _ensure_database(self) -> None:
        client = self._client(database="default")
        try:
            self._execute(client, f"CREATE DATABASE IF NOT EXISTS {self.database}")
        finally:
            client.disconnect()

    def _thread_client(self) -> Any:
        client = getattr(self._local, "client", None)
        if client is None:
            client = self._local.client = self._client()
        return client

    def _execute(self, client: Any, sql: str, data: Any = None, **kw: Any) -> Any:
        from clickhouse_driver import errors as cherr

        try:
            if data is None:
                return client.execute(sql, **kw)
            return client.execute(sql, data, **kw)
        except (cherr.NetworkError, cherr.SocketTimeoutError, EOFError, OSError) as exc:
            client.disconnect()
            lost = DatabaseUnavailable(f"ClickHouse server {self._host}:{self._port} unreachable: {exc}")
            lost.connection_lost = True  # not a server's answer: the connection went (ServerEngine.query)
            raise lost from None
        except cherr.Error as exc:
            raise _map_error(exc) from None

    def query(self, sql: str) -> pd.DataFrame:
        client = self._thread_client()
        was_connected = bool(client.connection.connected)
        try:
            rows, cols = self._execute(client, sql, with_column_types=True)
        except DatabaseUnavailable as exc:
            if not (getattr(exc, "connection_lost", False) and self.alt_hosts and was_connected) \
                    or getattr(self._local, "pinned", False):
                raise
            # The server went away under an open connection: a read is safe to repeat, and the
            # new connection goes to the first server of host and alt_hosts that answers.
            logger.warning("%s:%d went away; reading from another server", self._host, self._port)
            rows, cols = self._execute(self._thread_client(), sql, with_column_types=True)
        names = [c[0] for c in cols]
        df = pd.DataFrame.from_records(rows, columns=names) if rows else pd.DataFrame(
            {n: pd.Series(dtype=empty_dtype(t)) for n, t in cols})
        for name, ch_type in cols:
            base = ch_type.replace("Nullable(", "").replace("LowCardinality(", "")
            if base.startswith(("Date", "DateTime")) and len(df):
                df[name] = pd.to_datetime(df[name])
        return df

    def command(self, sql: str) -> None:
        self._execute(self._thread_client(), sql)

    def bulk(self, sql: str) -> None:
        # Its own connection: the pooled ones give up on a silent socket after the query
        # timeout, and a GROUP BY spilled to disk sends nothing while it merges.
        client = self._client()
        client.connection.send_receive_timeout = BULK_SOCKET_S
        try:
            self._execute(client, sql, settings={"max_execution_time": 0})
        finally:
            client.disconnect()

    def _column_types(self, table: str) -> dict[str, str]:
        if table not in self._types:
            rows = self._execute(self._thread_client(), f"DESCRIBE TABLE {table}")
            self._types[table] = {r[0]: r[1] for r in rows}
        return self._types[table]

    def insert(self, table: str, df: pd.DataFrame) -> None:
        types = self._column_types(table)
        cols = list(df.columns)
        for start in range(0, len(df), _INSERT_CHUNK):
            chunk = df.iloc[start:start + _INSERT_CHUNK]
            data = [to_python(chunk[c], types.get(c, "")) for c in cols]
            self._execute(self._thread_client(), f"INSERT INTO {table} ({', '.join(cols)}) VALUES",
                          data, columnar=True)

    def close(self) -> None:
        client = getattr(self._local, "client", None)
        if client is not None:
            client.disconnect()


def make_engine(settings: Settings, database: str | None = None) -> Engine:
    """The engine the settings ask for: a server if a URL is set, else embedded chDB."""
    if settings.clickhouse_url:
        return ServerEngine(settings.clickhouse_url, database=database, timeout=settings.query_timeout,
                            connect_timeout=settings.connect_timeout, cluster=settings.clickhouse_cluster or None,
                            alt_hosts=settings.clickhouse_alt_hosts)
    return ChdbEngine(settings.data_dir, database=database or DEFAULT_DATABASE,
                      sessions=settings.chdb_sessions, timeout=settings.query_timeout)

