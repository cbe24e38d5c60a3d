"""Throwaway ClickHouse server for integration tests.

Starts Debian's ``clickhouse-server`` (18.16) as a plain background process
listening on 127.0.0.1 only, with all state (data, tmp, logs, preprocessed
configs) under one directory. No systemd, no service command, no root-owned
paths: it runs the same as root (CI) or as an ordinary user.

Typical use::

    with ClickHouseServer(tmp_path) as server:
        client = clickhouse_driver.Client.from_url(server.url)

``stop()`` keeps the data directory, so ``start()`` afterwards resumes with
the same tables (tests use this to simulate an outage).

Two-shard cluster (later issue): ports are chosen in the constructor, so make
both servers first, then give each the same ``<remote_servers>`` element
before starting::

    a = ClickHouseServer(tmp_path / "a", name="a")
    b = ClickHouseServer(tmp_path / "b", name="b")
    xml = make_remote_servers_xml("two_shards", [a.address, b.address])
    a.remote_servers_xml = b.remote_servers_xml = xml
    a.start(); b.start()

and create ``Distributed('two_shards', ...)`` tables with
``insert_distributed_sync=1`` (18.16 has no ``SYSTEM FLUSH DISTRIBUTED``).

The server binary is looked up by :func:`find_clickhouse_server`
(``$CLICKHOUSE_SERVER_BIN`` overrides it).
"""

from __future__ import annotations

import atexit
import ctypes
import logging
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any
from xml.sax.saxutils import escape

from clickhouse_driver import Client

logger = logging.getLogger(__name__)

#: Environment variable naming an explicit server binary.
BINARY_ENV = "CLICKHOUSE_SERVER_BIN"
_FALLBACK_PATHS = ("/usr/sbin/clickhouse-server", "/usr/bin/clickhouse-server")
_PR_SET_PDEATHSIG = 1
_ADDRESS_IN_USE = ("Address already in use", "EADDRINUSE")
_UNEXPECTED_PARTS = "doesn't look like the set of parts in ZooKeeper"
_LIVE: set[ClickHouseServer] = set()  # spawned and not yet stopped


def find_clickhouse_server() -> str | None:
    """Return the path of a ``clickhouse-server`` binary, or None if absent.

    Order: ``$CLICKHOUSE_SERVER_BIN``, ``PATH``, then the Debian locations
    (``/usr/sbin`` is often not on a non-root user's ``PATH``).
    """
    override = os.environ.get(BINARY_ENV)
    candidates = [override] if override else []
    found = shutil.which("clickhouse-server")
    candidates += [found] if found else []
    candidates += list(_FALLBACK_PATHS)
    for candidate in candidates:
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port that is free on ``host`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def make_remote_servers_xml(cluster: str, shards: Sequence[tuple[str, int] | Sequence[tuple[str, int]]]) -> str:
    """Build a ``<remote_servers>`` element: one shard per item, either one (host, tcp_port)
    (a single-replica shard) or a list of them (replicas, with ``internal_replication``: a
    Distributed insert writes to one replica and ReplicatedMergeTree copies it)."""
    shard_xml = ""
    for shard in shards:
        replicas = [shard] if isinstance(shard[0], str) else list(shard)
        internal = "<internal_replication>true</internal_replication>" if len(replicas) > 1 else ""
        shard_xml += "<shard>" + internal + "".join(
            f"<replica><host>{escape(host)}</host><port>{int(port)}</port></replica>" for host, port in replicas
        ) + "</shard>"
    return f"<remote_servers><{cluster}>{shard_xml}</{cluster}></remote_servers>"


def _port_open(port: int, host: str = "127.0.0.1") -> bool:
    """True if something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    """Ask Linux to SIGTERM the server if the process that spawned it dies."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass


class ClickHouseServer:
    """A ClickHouse server process owning ``base_dir``, on 127.0.0.1.

    Args:
        base_dir: directory for config, data and logs (created if missing).
        tcp_port: native-protocol port; None picks a free one.
        http_port: HTTP port; None picks a free one.
        name: label used in log messages and the ``display_name``.
        remote_servers_xml: a complete ``<remote_servers>...</remote_servers>``
            element inserted verbatim into config.xml (see
            :func:`make_remote_servers_xml`). It is a public attribute and may
            be set any time before :meth:`start`.
        timezone: optional server ``<timezone>`` (e.g. "Asia/Shanghai");
            None keeps the system time zone.
        zookeeper: (host, port) of a ZooKeeper (tests/zkserver.py) for replicated tables;
            with it the server gets ``<macros>`` (``shard``, ``replica``) and an
            ``interserver_http_port`` on loopback through which replicas fetch parts.
        macros: the ``<macros>`` values, e.g. ``{"shard": "01", "replica": "r1"}``.

    The server is spawned with PR_SET_PDEATHSIG so it dies with the spawning
    thread (start it from the main thread or a thread that outlives it), and
    any server still running at interpreter exit is stopped.
    """

    def __init__(
        self,
        base_dir: Path,
        tcp_port: int | None = None,
        http_port: int | None = None,
        name: str = "ch",
        remote_servers_xml: str | None = None,
        timezone: str | None = None,
        zookeeper: tuple[str, int] | None = None,
        macros: dict[str, str] | None = None,
    ) -> None:
        self.base_dir = Path(base_dir).resolve()
        self.name = name
        self.remote_servers_xml = remote_servers_xml
        self.timezone = timezone
        self._auto_ports = tcp_port is None and http_port is None
        self.tcp_port = tcp_port if tcp_port is not None else free_port()
        self.http_port = http_port if http_port is not None else free_port()
        while self.http_port == self.tcp_port:
            self.http_port = free_port()
        self.zookeeper = zookeeper
        self.macros = dict(macros or {})
        self.interserver_port = free_port() if zookeeper else None
        self._process: subprocess.Popen[bytes] | None = None
        self._err_offset = 0

    # -- public API ---------------------------------------------------------

    @property
    def url(self) -> str:
        """clickhouse_driver URL of the ``default`` database."""
        return f"clickhouse://default@127.0.0.1:{self.tcp_port}/default"

    @property
    def address(self) -> tuple[str, int]:
        """(host, tcp_port), e.g. for :func:`make_remote_servers_xml`."""
        return ("127.0.0.1", self.tcp_port)

    @property
    def running(self) -> bool:
        """True while the server process we spawned is alive."""
        return self._process is not None and self._process.poll() is None

    @property
    def error_log(self) -> Path:
        """Path of the server's error log."""
        return self.base_dir / "log" / "server.err.log"

    def client(self, **kwargs: Any) -> Client:
        """A new clickhouse_driver Client for this server (kwargs go to ``Client``)."""
        return Client("127.0.0.1", port=self.tcp_port, user="default", database="default", **kwargs)

    def start(self, timeout: float = 30.0) -> ClickHouseServer:
        """Write the config, spawn the server and wait until ``SELECT 1`` answers.

        Raises RuntimeError (with the tail of the server's logs) if it exits
        or does not answer within ``timeout`` seconds. If the ports were
        picked automatically (and no remote_servers_xml refers to them) and
        were taken in the meantime, new ones are picked and the start retried.
        """
        if self.running:
            return self
        binary = find_clickhouse_server()
        if binary is None:
            raise RuntimeError("clickhouse-server binary not found (apt-get install clickhouse-server)")
        retries = 2 if self._auto_ports and self.remote_servers_xml is None else 0
        while True:
            try:
                self._spawn(binary, timeout)
                return self
            except RuntimeError as exc:
                if not self._restore_flag.exists() and _UNEXPECTED_PARTS in self._errors_since_start():
                    # killed mid-insert: a part on disk that ZooKeeper never heard of. The
                    # operator's step (docs/deploy.md): the flag makes the server detach such
                    # parts and fetch what it lacks from its other replica.
                    logger.warning("%s: unexpected parts after a crash; starting with force_restore_data", self.name)
                    self._restore_flag.parent.mkdir(parents=True, exist_ok=True)
                    self._restore_flag.touch()
                    continue
                if retries == 0 or not any(s in str(exc) for s in _ADDRESS_IN_USE):
                    raise
                retries -= 1
                logger.warning("%s: port taken, retrying with new ports", self.name)
                self.tcp_port, self.http_port = free_port(), free_port()

    @property
    def _restore_flag(self) -> Path:
        return self.base_dir / "data" / "flags" / "force_restore_data"

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM the server, SIGKILL it after ``timeout`` s; keep the data dir."""
        process, self._process = self._process, None
        _LIVE.discard(self)
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            logger.warning("%s: no exit %.0f s after SIGTERM, killing", self.name, timeout)
            process.kill()
            process.wait()
        logger.info("%s: stopped", self.name)

    def kill(self) -> None:
        """SIGKILL the server, as a machine lost without warning; the data dir stays."""
        process, self._process = self._process, None
        _LIVE.discard(self)
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()
        logger.info("%s: killed", self.name)

    def __enter__(self) -> ClickHouseServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<ClickHouseServer {self.name} {state} tcp={self.tcp_port} dir={self.base_dir}>"

    # -- internals ----------------------------------------------------------

    def _spawn(self, binary: str, timeout: float) -> None:
        config = self._write_config()
        log_dir = self.base_dir / "log"
        self._err_offset = self.error_log.stat().st_size if self.error_log.exists() else 0
        started = time.monotonic()
        with open(log_dir / "console.log", "wb") as console:
            self._process = subprocess.Popen(
                [binary, f"--config-file={config}"],
                cwd=self.base_dir,
                stdin=subprocess.DEVNULL,
                stdout=console,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        _LIVE.add(self)
        try:
            self._wait_ready(started + timeout)
        except RuntimeError:
            self.stop(timeout=5.0)
            raise
        logger.info("%s: up on 127.0.0.1:%d in %.2f s", self.name, self.tcp_port, time.monotonic() - started)

    def _wait_ready(self, deadline: float) -> None:
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                raise RuntimeError(
                    f"clickhouse-server {self.name} exited with code {self._process.returncode}\n{self._log_tail()}"
                )
            if _port_open(self.tcp_port):  # cheap probe first: the driver logs every refused connect
                client = Client("127.0.0.1", port=self.tcp_port, connect_timeout=1, send_receive_timeout=2)
                try:
                    if client.execute("SELECT 1") == [(1,)]:
                        return
                except Exception as exc:  # noqa: BLE001 - not up yet; any failure means retry
                    last_error = exc
                finally:
                    client.disconnect()
            time.sleep(0.05)
        raise RuntimeError(
            f"clickhouse-server {self.name} did not answer on port {self.tcp_port} "
            f"(last error: {last_error!r})\n{self._log_tail()}"
        )

    def _errors_since_start(self) -> str:
        if not self.error_log.exists():
            return ""
        with open(self.error_log, "rb") as fh:
            fh.seek(self._err_offset)
            return fh.read().decode(errors="replace")

    def _log_tail(self, lines: int = 30) -> str:
        """Last lines this start wrote to the error log and console."""
        parts = []
        for path, offset in ((self.error_log, self._err_offset), (self.base_dir / "log" / "console.log", 0)):
            if path.exists():
                with open(path, "rb") as fh:
                    fh.seek(offset)
                    tail = fh.read().decode(errors="replace").splitlines()[-lines:]
                parts.append(f"--- {path} ---\n" + "\n".join(tail))
        return "\n".join(parts) or "(no server log written)"

    def _write_config(self) -> Path:
        data = self.base_dir / "data"
        for sub in ("log", "data/tmp", "data/user_files", "data/format_schemas"):
            (self.base_dir / sub).mkdir(parents=True, exist_ok=True)
        users = self.base_dir / "users.xml"
        users.write_text(_USERS_XML)
        timezone = f"<timezone>{escape(self.timezone)}</timezone>" if self.timezone else ""
        config = self.base_dir / "config.xml"
        config.write_text(
            _CONFIG_XML.format(
                log=escape(str(self.base_dir / "log" / "server.log")),
                errorlog=escape(str(self.error_log)),
                name=escape(self.name),
                tcp_port=self.tcp_port,
                http_port=self.http_port,
                path=escape(f"{data}/"),
                tmp_path=escape(f"{data}/tmp/"),
                user_files_path=escape(f"{data}/user_files/"),
                format_schema_path=escape(f"{data}/format_schemas/"),
                users=escape(str(users)),
                timezone=timezone,
                remote_servers=self.remote_servers_xml or "",
                replication=self._replication_xml(),
            )
        )
        return config


    def _replication_xml(self) -> str:
        if not self.zookeeper:
            return ""
        host, port = self.zookeeper
        macros = "".join(f"<{k}>{escape(v)}</{k}>" for k, v in self.macros.items())
        return (f"<zookeeper><node><host>{escape(host)}</host><port>{int(port)}</port></node>"
                "<session_timeout_ms>6000</session_timeout_ms></zookeeper>"
                f"<macros>{macros}</macros><interserver_http_port>{self.interserver_port}</interserver_http_port>"
                "<interserver_http_host>127.0.0.1</interserver_http_host>")


# 18.16 reads <yandex> as the root element. Caches are small: tests hold
# little data and several servers may share a 2-core CI box. The
# interserver_http_port (replication) listens only with a ZooKeeper.
_CONFIG_XML = """<?xml version="1.0"?>
<yandex>
    <logger>
        <level>warning</level>
        <log>{log}</log>
        <errorlog>{errorlog}</errorlog>
        <size>10M</size>
        <count>2</count>
    </logger>
    <display_name>{name}</display_name>
    <listen_host>127.0.0.1</listen_host>
    <tcp_port>{tcp_port}</tcp_port>
    <http_port>{http_port}</http_port>
    <max_connections>256</max_connections>
    <keep_alive_timeout>3</keep_alive_timeout>
    <max_concurrent_queries>50</max_concurrent_queries>
    <uncompressed_cache_size>67108864</uncompressed_cache_size>
    <mark_cache_size>67108864</mark_cache_size>
    <path>{path}</path>
    <tmp_path>{tmp_path}</tmp_path>
    <user_files_path>{user_files_path}</user_files_path>
    <format_schema_path>{format_schema_path}</format_schema_path>
    <users_config>{users}</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    {timezone}
    <mlock_executable>false</mlock_executable>
    <builtin_dictionaries_reload_interval>3600</builtin_dictionaries_reload_interval>
    <max_session_timeout>3600</max_session_timeout>
    <default_session_timeout>60</default_session_timeout>
    {remote_servers}
    {replication}
</yandex>
"""

_USERS_XML = """<?xml version="1.0"?>
<yandex>
    <profiles>
        <default>
            <max_memory_usage>4000000000</max_memory_usage>
            <allow_experimental_low_cardinality_type>1</allow_experimental_low_cardinality_type>
            <use_uncompressed_cache>0</use_uncompressed_cache>
            <load_balancing>in_order</load_balancing>
        </default>
    </profiles>
    <users>
        <default>
            <password></password>
            <networks>
                <ip>127.0.0.1</ip>
                <ip>::1</ip>
            </networks>
            <profile>default</profile>
            <quota>default</quota>
        </default>
    </users>
    <quotas>
        <default>
            <interval>
                <duration>3600</duration>
                <queries>0</queries>
                <errors>0</errors>
                <result_rows>0</result_rows>
                <read_rows>0</read_rows>
                <execution_time>0</execution_time>
            </interval>
        </default>
    </quotas>
</yandex>
"""


@atexit.register
def _stop_leftovers() -> None:
    """Stop servers a test forgot to stop, so none outlive the interpreter."""
    for server in list(_LIVE):
        server.stop(timeout=5.0)
