"""Benchmark at national scale (issue 10): generation, every wall / drill-down
callback over HTTP (cold and warm), rollups against raw tables, and 100 wall
screens refreshing at once. Prints figures; asserts nothing about timing.

    .venv/bin/python bench/scale.py --quick                    # 100 k entities, 10 s load run
    .venv/bin/python bench/scale.py --entities 1000000         # 1 M (generated once, then reused)
    nohup nice -n 10 .venv/bin/python bench/scale.py --entities 10000000 > /work/scale-10m.log 2>&1 &

Data lives outside the repository (``--data-dir``, default /work/scale-data): with
``--engine server`` (default) one ClickHouse server (tests.chserver.ClickHouseServer,
base dir ``<data-dir>/ch``, fixed ports ``--tcp-port``/``--http-port``; a server
already answering on the port is reused) holding one database per scale
(``scale_<entities>``); with ``--engine chdb`` embedded chDB under
``<data-dir>/chdb-<entities>``. Generation is skipped when the database already
holds the requested scale (``load_log`` kind ``scale`` and the entity count agree;
``--regenerate`` forces it). ``--sections`` picks what runs after that
(gen,callbacks,drill,load).

Settings read: JINJIAN_ROLLUPS (1/0, toggled in-process for the side-by-side),
JINJIAN_CACHE_SECONDS / JINJIAN_CACHE_URL (the shared query cache; cleared before
every cold request), JINJIAN_QUERY_TIMEOUT. Today's risk snapshot is built before the
measurements (and its build timed) unless a current one exists.

Modules: ``bench/scale_gen.py`` (chunked data), ``bench/scale_data.py`` (section 1: the
data present or generated, the risk snapshot), ``bench/scale_http.py`` (the app on
loopback, callback requests, the load client), ``bench/scale_sections.py`` (the
measuring sections), ``bench/scale_probe.py`` (printing, caches, the query log).
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT_DIR))

from bench.scale_data import (disk_mb, ensure_data, ensure_risk_snapshot, print_generation,  # noqa: E402
                              table_counts)
from bench.scale_http import AppServer, Harness, run_load_client  # noqa: E402  (no app settings read at import)
from bench.scale_probe import CacheOverride, cache_stats, install_log, say  # noqa: E402
from bench.scale_sections import (region_set, section_callbacks, section_drill, section_ingest,  # noqa: E402
                                  section_load)
from bench.stats import machine, md_table  # noqa: E402

CACHE_SECONDS_2A = "600"  # warm = within the TTL, however slow the cold request was


# ============================================================================ arguments, output
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--entities", type=int, default=None,
                    help="market entities (default 1,000,000; --quick: 100,000)")
    ap.add_argument("--quick", action="store_true",
                    help="100 k entities, few regions, 10 s load run: checks the script end to end")
    ap.add_argument("--chunk", type=int, default=250_000, help="entities generated and inserted at a time")
    ap.add_argument("--root", default="44", help="region filled with data and used as the jurisdiction")
    ap.add_argument("--days", type=int, default=800, help="days of event history")
    ap.add_argument("--activity", type=float, default=12.5,
                    help="multiplies the demo's event rates (12.5: about 10 events per entity over 800 days)")
    ap.add_argument("--seed", type=int, default=20151)
    ap.add_argument("--engine", choices=("server", "chdb"), default="server")
    ap.add_argument("--data-dir", type=Path, default=Path("/work/scale-data"))
    ap.add_argument("--tcp-port", type=int, default=19000)
    ap.add_argument("--http-port", type=int, default=18123)
    ap.add_argument("--server-cache-mb", type=int, default=1024,
                    help="mark cache of the benchmark server (the test config's 64 MB is for tiny data)")
    ap.add_argument("--regenerate", action="store_true", help="generate even if the scale is present")
    ap.add_argument("--if-present", action="store_true",
                    help="(the default) reuse data already holding the requested scale")
    ap.add_argument("--sections", default="gen,callbacks,drill,load,ingest",
                    help="comma-separated: gen,callbacks,drill,load,ingest (ingest adds rows: last)")
    ap.add_argument("--ingest-rows", type=int, default=20_000, help="rows per file in the ingest section")
    ap.add_argument("--children", type=int, default=None, help="children of the root timed (default all)")
    ap.add_argument("--grandchildren", type=int, default=5, help="grandchildren timed (one per child)")
    ap.add_argument("--warm", type=int, default=1, help="warm repeats per callback and region")
    ap.add_argument("--raw-budget", type=float, default=300.0,
                    help="seconds of raw-table runs per drill query after which its remaining regions are skipped")
    ap.add_argument("--screens", type=int, default=100)
    ap.add_argument("--interval", type=float, default=5.0, help="seconds between a screen's refreshes")
    ap.add_argument("--load-seconds", type=float, default=60.0)
    ap.add_argument("--live-poll", action="store_true",
                    help="screens also poll the wall's 1 s data-version callback during the load run")
    ap.add_argument("--load-client", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    explicit_load = any(a.startswith("--load-seconds") for a in (argv if argv is not None else sys.argv))
    if args.quick:
        args.entities = args.entities or 100_000
        args.chunk = min(args.chunk, 50_000)
        args.children = 5 if args.children is None else args.children
        args.grandchildren = min(args.grandchildren, 2)
        if not explicit_load:
            args.load_seconds = 10.0
    args.entities = args.entities or 1_000_000
    return args


def scale_label(n: int) -> str:
    if n % 1_000_000 == 0:
        return f"{n // 1_000_000}m"
    if n % 1000 == 0:
        return f"{n // 1000}k"
    return str(n)


# ============================================================================ engine
def setup_env(args: argparse.Namespace) -> dict[str, Any]:
    """Start (or reuse) the server and set JINJIAN_* before any app module reads them."""
    label = scale_label(args.entities)
    info: dict[str, Any] = {"label": label}
    os.environ.update({
        "JINJIAN_ROOT_REGION": args.root, "JINJIAN_AUTH": "0", "JINJIAN_INBOX": "0",
        "JINJIAN_SIMULATOR": "0", "JINJIAN_REPORT_SCHEDULER": "0", "JINJIAN_LOG_LEVEL": "WARNING",
    })
    args.data_dir.mkdir(parents=True, exist_ok=True)
    if args.engine == "server":
        from tests.chserver import ClickHouseServer, _port_open

        class BenchServer(ClickHouseServer):
            """The test server with a mark cache sized for millions of rows."""

            def _write_config(self) -> Path:
                path = super()._write_config()
                size = args.server_cache_mb * 1024 * 1024
                text = path.read_text().replace("<mark_cache_size>67108864</mark_cache_size>",
                                                f"<mark_cache_size>{size}</mark_cache_size>")
                path.write_text(text)
                return path

        server = BenchServer(args.data_dir / "ch", tcp_port=args.tcp_port, http_port=args.http_port,
                             name="scale")
        if _port_open(args.tcp_port):
            info["server"] = f"reused the server already on 127.0.0.1:{args.tcp_port}"
        else:
            t = time.perf_counter()
            server.start(timeout=120)
            info["server"] = (f"started in {time.perf_counter() - t:.1f} s, base dir {server.base_dir}, "
                              f"mark cache {args.server_cache_mb} MB")
            info["server_obj"] = server
        os.environ["JINJIAN_CLICKHOUSE_URL"] = f"clickhouse://default@127.0.0.1:{args.tcp_port}/scale_{args.entities}"
        os.environ["JINJIAN_DATA_DIR"] = str(args.data_dir / f"app-{label}")
    else:
        os.environ.pop("JINJIAN_CLICKHOUSE_URL", None)
        os.environ["JINJIAN_DATA_DIR"] = str(args.data_dir / f"chdb-{label}")
    Path(os.environ["JINJIAN_DATA_DIR"]).mkdir(parents=True, exist_ok=True)
    return info


def server_version(db: Any) -> str:
    from store.executor import run

    try:
        return str(run(db, "bench_version", "SELECT version() AS v")["v"].iloc[0])
    except Exception:  # noqa: BLE001 - informational only
        return "?"


def server_rss_mb(args: argparse.Namespace) -> float | None:
    """RSS of the process listening on the server's TCP port."""
    if args.engine != "server":
        return None
    try:
        import psutil

        for c in psutil.net_connections(kind="tcp"):
            if c.status == "LISTEN" and c.laddr and c.laddr.port == args.tcp_port and c.pid:
                return psutil.Process(c.pid).memory_info().rss / 1024 / 1024
    except Exception:  # noqa: BLE001
        return None
    return None


# ============================================================================ main
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.load_client:
        run_load_client(args.load_client)
        return 0
    import faulthandler
    import signal

    faulthandler.register(signal.SIGUSR1, all_threads=True)  # kill -USR1 <pid>: where is it stuck?
    sections = {s.strip() for s in args.sections.split(",") if s.strip()}
    info = setup_env(args)
    user_cache = os.environ.get("JINJIAN_CACHE_SECONDS")
    qlog = install_log()

    from store.db import get_db

    db = get_db()
    started = dt.datetime.now().replace(microsecond=0)
    note = ensure_data(db, args)
    counts = table_counts(db, ("entities", "events", "tasks", "task_events", "regions", "grid_workers"))
    say("\n# Jinjian scale benchmark (bench/scale.py)")
    say(md_table(["", ""], [
        ["machine", machine()],
        ["engine", f"{db.name} {server_version(db)} ({info.get('server', os.environ['JINJIAN_DATA_DIR'])})"],
        ["database", f"{db.database}; {disk_mb(db) or 0:,.0f} MB on disk (active parts)"],
        ["scale", f"root {args.root}; entities {counts['entities']:,}, events {counts['events']:,}, "
                  f"tasks {counts['tasks']:,}, task_events {counts['task_events']:,}, "
                  f"grids+regions {counts['regions']:,}, grid workers {counts['grid_workers']:,}"],
        ["settings", f"JINJIAN_ROLLUPS={os.environ.get('JINJIAN_ROLLUPS', '')!r} (empty = 1), "
                     f"JINJIAN_CACHE_SECONDS={user_cache!r}, JINJIAN_CACHE_URL="
                     f"{os.environ.get('JINJIAN_CACHE_URL', '')!r}"],
        ["started", started.isoformat(sep=" ")],
    ]))
    if "gen" in sections:
        print_generation(note, counts, db)
    ensure_risk_snapshot(db, args.root)
    need_http = bool(sections & {"callbacks", "load"})
    regions, child = region_set(db, args.root, args.children, args.grandchildren)
    srv = h = None
    if need_http:
        os.environ["JINJIAN_CACHE_SECONDS"] = user_cache if user_cache not in (None, "") else CACHE_SECONDS_2A
        srv = AppServer()
        h = Harness(srv)  # its first request starts the app's background work
        from queries import geo

        t = time.perf_counter()
        ready = geo.wait_prepared(300)
        say(f"region maps of the root and its children prepared in the background at start-up "
            f"({'done' if ready else 'not finished'} after waiting {time.perf_counter() - t:.1f} s; "
            "JINJIAN_MAP_PREPARE=1, the default)")
    try:
        if "callbacks" in sections and h:
            section_callbacks(h, db, regions, child, args, qlog)
        if "drill" in sections:
            section_drill(db, regions, args, qlog)
        if "load" in sections and h:
            if user_cache is None:
                os.environ.pop("JINJIAN_CACHE_SECONDS", None)
            else:
                os.environ["JINJIAN_CACHE_SECONDS"] = user_cache
            from store.cache import CacheSettings

            settings = CacheSettings.from_env()
            with CacheOverride(settings.seconds, settings.view_seconds):
                section_load(h, regions, args, qlog, user_cache or "")
        if "ingest" in sections:
            section_ingest(db, args)
    finally:
        if srv:
            srv.stop()
    rss = server_rss_mb(args)
    from bench.scale_gen import peak_rss_mb

    say(f"\npeak RSS of this process {peak_rss_mb():,.0f} MB"
        + (f"; ClickHouse server RSS now {rss:,.0f} MB" if rss else "")
        + f"; {cache_stats()}; finished {dt.datetime.now().replace(microsecond=0).isoformat(sep=' ')}")
    return 0


if __name__ == "__main__":
    from store.db import run_command

    run_command(main)  # ends in order on every path (store/lifecycle.py)
