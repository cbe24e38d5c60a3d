"""``python -m etl rollups --check`` at scale: time and the largest per-query memory,
comparing one query per table (the old check) with the region chunks of
``store.rollup_tables.verify``, on the ClickHouse server of ``bench/scale.py``.

    .venv/bin/python bench/rollups_check.py --entities 1000000     # data of bench/scale.py

Memory comes from ``system.query_log`` (``memory_usage`` of each comparison query). The
server's per-query limit stays as ``tests/chserver.py`` configures it (4 GB); the old check
failed there at 1 M entities with Code 241.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _peak(db, since: float) -> tuple[int, float]:  # noqa: ANN001 - an Engine
    """Comparison queries finished since ``since`` and the largest memory one of them used (MB)."""
    from store.executor import run
    from store.sql import execute

    execute(db, "bench_flush_logs", "SYSTEM FLUSH LOGS")
    df = run(db, "bench_query_log", "SELECT count() AS n, max(memory_usage) AS m FROM system.query_log "
             "WHERE type = 2 AND event_time >= toDateTime(%(t)s) AND query LIKE %(q)s",
             {"t": int(since), "q": "SELECT count() AS n FROM (SELECT%"})
    top = run(db, "bench_query_log_top", "SELECT memory_usage AS m, extract(query, 'FROM (rollup_[a-z_]+) WHERE') AS t "
              "FROM system.query_log WHERE type = 2 AND event_time >= toDateTime(%(t)s) AND query LIKE %(q)s "
              "ORDER BY m DESC LIMIT 3", {"t": int(since), "q": "SELECT count() AS n FROM (SELECT%"})
    print("    largest:", ", ".join(f"{t} {m / 1024 / 1024:,.0f} MB" for t, m in zip(top["t"], top["m"])))
    return int(df["n"].iloc[0]), float(df["m"].iloc[0] or 0) / 1024 / 1024


def whole_tables(db) -> dict[str, int]:  # noqa: ANN001 - an Engine
    """The check as it was before issue 28: one comparison of each whole table, no spilling."""
    from store.executor import run
    from store.rollup_tables import _diff_sql
    from store.rollups import FAMILIES

    out = {}
    for family in FAMILIES.values():
        for table in family.tables():  # day, total and month tables
            diff = _diff_sql(family, table, "1", "1")
            out[table] = int(run(db, "bench_verify_whole", f"SELECT count() AS n FROM ({diff}) "
                                 "SETTINGS max_execution_time = 0")["n"].iloc[0])
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--entities", type=int, default=1_000_000)
    ap.add_argument("--data-dir", type=Path, default=Path("/work/scale-data"))
    ap.add_argument("--tcp-port", type=int, default=19000)
    ap.add_argument("--http-port", type=int, default=18123)
    ap.add_argument("--chunk-rows", type=int, default=None, help="as etl rollups --check --chunk-rows")
    args = ap.parse_args(argv)
    from tests.chserver import ClickHouseServer, _port_open

    class LoggingServer(ClickHouseServer):
        """The scale benchmark's server with its query log on (memory of each query)."""

        def _write_config(self) -> Path:
            path = super()._write_config()
            path.write_text(path.read_text().replace("</yandex>", "<query_log><database>system</database>"
                                                     "<table>query_log</table></query_log></yandex>"))
            users = self.base_dir / "users.xml"
            users.write_text(users.read_text().replace("<default>\n            <max_memory_usage>",
                                                       "<default>\n            <log_queries>1</log_queries>"
                                                       "<max_memory_usage>", 1))
            return path

    server = None
    if _port_open(args.tcp_port):
        raise SystemExit(f"a server already listens on {args.tcp_port}: stop it (its query log may be off)")
    server = LoggingServer(args.data_dir / "ch", tcp_port=args.tcp_port, http_port=args.http_port, name="scale")
    server.start(timeout=120)
    os.environ.update(JINJIAN_CLICKHOUSE_URL=f"clickhouse://default@127.0.0.1:{args.tcp_port}/scale_{args.entities}",
                      JINJIAN_DATA_DIR=str(args.data_dir / "rollups-check"), JINJIAN_LOG_LEVEL="WARNING")
    from settings import Settings
    from store.engine import make_engine
    from store.rollup_tables import VERIFY_CHUNK_ROWS, verify
    from store.schema import row_count

    db = make_engine(Settings.from_env())
    try:
        print(f"# rollups --check on {db.name} {db.database}: {row_count(db, 'entities'):,} entities, "
              f"{row_count(db, 'events'):,} events, {row_count(db, 'task_events'):,} task events")
        chunks = [args.chunk_rows] if args.chunk_rows else [VERIFY_CHUNK_ROWS, VERIFY_CHUNK_ROWS // 4]
        for label, chunk in [(f"chunks of {c:,} rows", c) for c in chunks] + [("one query per table", 0)]:
            t0 = time.time()
            try:
                diffs = verify(db, chunk) if chunk else whole_tables(db)
                outcome = "exact" if not any(diffs.values()) else f"{sum(1 for v in diffs.values() if v)} differ"
            except Exception as exc:  # noqa: BLE001 - the old way may hit the memory limit: report it
                outcome = f"failed: {str(exc)[:160]}"
            secs = time.time() - t0
            n, peak = _peak(db, t0)
            print(f"{label:28s} {secs:7.1f} s  {n:4d} queries  largest {peak:8,.0f} MB  {outcome}")
    finally:
        db.close()
        if server is not None:
            server.stop()
    return 0


if __name__ == "__main__":
    from store.db import run_command

    run_command(main)  # ends in order on every path (store/lifecycle.py)
