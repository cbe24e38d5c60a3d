"""Integration tests for tests/chserver.py against a real ClickHouse 18.16 server."""

from __future__ import annotations

import re
import socket
from pathlib import Path

import pytest
from clickhouse_driver.errors import NetworkError

from tests.chserver import ClickHouseServer, find_clickhouse_server, make_remote_servers_xml

pytestmark = pytest.mark.skipif(
    find_clickhouse_server() is None,
    reason="clickhouse-server not installed (run scripts/install_debian_deps.sh or `make test`)",
)

ROWS = [(i, f"region-{i % 3}") for i in range(1, 1001)]


def _create_and_fill(server: ClickHouseServer) -> None:
    client = server.client()
    try:
        client.execute(
            "CREATE TABLE t (a UInt32, b LowCardinality(String)) ENGINE = MergeTree ORDER BY a"
        )
        client.execute("INSERT INTO t (a, b) VALUES", ROWS)
    finally:
        client.disconnect()


def _read_back(server: ClickHouseServer) -> list[tuple[int, str]]:
    client = server.client()
    try:
        return client.execute("SELECT a, b FROM t ORDER BY a")
    finally:
        client.disconnect()


def test_roundtrip_stop_and_restart_keeps_data(tmp_path: Path) -> None:
    server = ClickHouseServer(tmp_path / "ch")
    with server:
        assert server.running
        assert re.fullmatch(r"clickhouse://default@127\.0\.0\.1:\d+/default", server.url)
        assert server.url.endswith(f":{server.tcp_port}/default")
        _create_and_fill(server)
        assert _read_back(server) == ROWS
        client = server.client()
        assert client.execute("SELECT toTypeName(b) FROM t LIMIT 1") == [("LowCardinality(String)",)]
        assert client.execute("SELECT b, count() FROM t GROUP BY b ORDER BY b") == [
            ("region-0", 333),
            ("region-1", 334),
            ("region-2", 333),
        ]
        client.disconnect()

        server.stop()
        assert not server.running
        with pytest.raises(NetworkError):
            server.client(connect_timeout=1).execute("SELECT 1")

        server.start()
        assert server.running
        assert _read_back(server) == ROWS
    assert not server.running
    assert (tmp_path / "ch" / "data" / "metadata" / "default" / "t.sql").exists()


def test_listens_on_loopback_only_with_expected_settings(tmp_path: Path) -> None:
    with ClickHouseServer(tmp_path, name="probe") as server:
        client = server.client()
        settings = dict(
            client.execute(
                "SELECT name, value FROM system.settings WHERE name IN "
                "('allow_experimental_low_cardinality_type', 'max_memory_usage')"
            )
        )
        assert settings["allow_experimental_low_cardinality_type"] == "1"
        assert 3_000_000_000 <= int(settings["max_memory_usage"]) <= 5_000_000_000
        assert client.execute("SELECT version()")[0][0].startswith("18.16")
        client.disconnect()
        for port in (server.tcp_port, server.http_port):
            with socket.create_connection(("127.0.0.1", port), timeout=2):
                pass
        assert server.error_log.parent == tmp_path / "log"


def test_two_servers_at_once_on_distinct_ports(tmp_path: Path) -> None:
    a = ClickHouseServer(tmp_path / "a", name="a")
    b = ClickHouseServer(tmp_path / "b", name="b")
    xml = make_remote_servers_xml("two_shards", [a.address, b.address])
    a.remote_servers_xml = b.remote_servers_xml = xml
    with a, b:
        assert len({a.tcp_port, a.http_port, b.tcp_port, b.http_port}) == 4
        for server in (a, b):
            client = server.client()
            assert client.execute("SELECT 1") == [(1,)]
            shards = client.execute(
                "SELECT shard_num, port FROM system.clusters WHERE cluster = 'two_shards' ORDER BY shard_num"
            )
            assert shards == [(1, a.tcp_port), (2, b.tcp_port)]
            client.disconnect()


def test_start_failure_reports_log_tail(tmp_path: Path) -> None:
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen()
    try:
        taken = blocker.getsockname()[1]
        server = ClickHouseServer(tmp_path, tcp_port=taken)
        with pytest.raises(RuntimeError, match="Address already in use"):
            server.start(timeout=15)
        assert not server.running
    finally:
        blocker.close()
