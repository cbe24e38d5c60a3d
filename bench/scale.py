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
every cold request), JINJIAN_QUERY_TIMEOUT. Where a feature does not exist yet the
column says n/a.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable

ROOT_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT_DIR))

from bench.stats import pct  # noqa: E402  (no app settings read at import)

CACHE_SECONDS_2A = "600"  # warm = within the TTL, however slow the cold request was


# ============================================================================ arguments, output
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--entities", type=int, default=None,
                    help="market entities (default 1,000,000; --quick: 100,000)")
    ap.add_argument("--quick", action="store_true",
                    help="100 k entities, few regions, 10 s load run: checks the script end to end")
    ap.add_argument("--chunk", type=int, default=1_000_000, help="entities generated and inserted at a time")
    ap.add_argument("--root", default="44", help="region filled with data and used as the jurisdiction")
    ap.add_argument("--days", type=int, default=800, help="days of event history")
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
    ap.add_argument("--sections", default="gen,callbacks,drill,load",
                    help="comma-separated: gen,callbacks,drill,load")
    ap.add_argument("--children", type=int, default=None, help="children of the root timed (default all)")
    ap.add_argument("--grandchildren", type=int, default=5, help="grandchildren timed (one per child)")
    ap.add_argument("--warm", type=int, default=1, help="warm repeats per callback and region")
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


def md_table(headers: list[str], rows: list[list[Any]]) -> str:
    """A pipe table with aligned columns (numbers right-aligned)."""
    cells = [[str(h) for h in headers]] + [[("" if c is None else str(c)) for c in r] for r in rows]
    width = [max(3, max(len(r[i]) for r in cells)) for i in range(len(headers))]
    num = [all(_numeric(r[i]) for r in cells[1:] if r[i]) for i in range(len(headers))]

    def line(r: list[str]) -> str:
        return "| " + " | ".join(c.rjust(w) if n else c.ljust(w) for c, w, n in zip(r, width, num)) + " |"

    sep = "| " + " | ".join(("-" * (w - 1) + ":") if n else "-" * w for w, n in zip(width, num)) + " |"
    return "\n".join([line(cells[0]), sep] + [line(r) for r in cells[1:]])


def _numeric(s: str) -> bool:
    s = s.replace(",", "").replace("×", "").replace("%", "").replace(" ms", "").replace(" s", "")
    s = s.replace("MB", "").replace(">", "").strip()
    try:
        float(s)
        return True
    except ValueError:
        return s in ("n/a", "-", "")


def ms(x: float | None) -> str:
    if x is None:
        return "n/a"
    return f"{x:,.0f}" if x >= 10 else f"{x:.1f}"


def say(text: str = "") -> None:
    print(text, flush=True)


def machine() -> str:
    mem = "?"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.0f} GB"
    except OSError:
        pass
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores ({cpu}), {mem} RAM, Python {platform.python_version()}"


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
    from queries.executor import run

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


# ============================================================================ features that may not exist yet
def cache_clear_fn() -> Callable[[], None] | None:
    """The shared query cache's clear function (queries.cache), if there is one."""
    try:
        import queries.cache as qc  # type: ignore[import-not-found]
    except ImportError:
        return None
    for name in ("clear", "clear_cache", "cache_clear", "invalidate", "reset"):
        fn = getattr(qc, name, None)
        if callable(fn):
            return fn
    return None


def clear_all_caches() -> None:
    """Query cache, region nodes and the data-version memo: a cold request."""
    fn = cache_clear_fn()
    if fn:
        fn()
    from queries.regions import clear_region_cache

    clear_region_cache()
    try:
        from etl.ingest import batch

        batch._VERSION_CACHE.clear()
    except Exception:  # noqa: BLE001
        pass


class CacheOverride:
    """Set the installed query cache's time-to-live for a section (0 = off), then restore it."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.saved: tuple[Any, float] | None = None

    def __enter__(self) -> "CacheOverride":
        try:
            from queries import cache
        except ImportError:
            return self
        self.saved = (cache._state.backend, cache._state.seconds)
        backend = self.saved[0]
        if backend is None and self.seconds > 0:
            return self  # no cache installed (no app): nothing to turn on
        cache.configure(backend if self.seconds > 0 else None, self.seconds)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.saved is not None:
            from queries import cache

            cache.configure(*self.saved)


def cache_stats() -> str:
    try:
        from queries import cache

        s = cache.stats()
        on = cache._state.backend is not None
        return f"cache {'on, ' + format(cache._state.seconds, 'g') + ' s' if on else 'off'}: {s['hits']:,} hits, {s['misses']:,} misses"
    except (ImportError, AttributeError):
        return "cache n/a"


def production_cache_seconds() -> float:
    """The time-to-live the settings give (JINJIAN_CACHE_SECONDS, else the wall refresh interval)."""
    try:
        from queries.cache import CacheSettings

        return CacheSettings.from_env().seconds
    except ImportError:
        return 0.0


def rollups_supported() -> bool:
    src = (ROOT_DIR / "indicators" / "compute.py").read_text()
    return "JINJIAN_ROLLUPS" in src or "rollup" in src.lower()


def rollup_rebuild_fn() -> tuple[str, Callable[..., Any]] | None:
    """A function that rebuilds the rollup tables from the raw ones, if one exists."""
    import importlib
    import pkgutil

    import etl

    names = [m.name for m in pkgutil.iter_modules(etl.__path__)]
    for mod_name in [n for n in names if "rollup" in n] + ["schema", "load"]:
        try:
            mod = importlib.import_module(f"etl.{mod_name}")
        except Exception:  # noqa: BLE001
            continue
        for attr in dir(mod):
            low = attr.lower()
            if callable(getattr(mod, attr)) and "rollup" in (low + mod_name) and (
                    "rebuild" in low or "refill" in low or "backfill" in low or "populate" in low):
                return f"etl.{mod_name}.{attr}", getattr(mod, attr)
    return None


def rollup_tables(db: Any) -> list[str]:
    from queries.executor import run

    df = run(db, "bench_rollup_tables", "SELECT name FROM system.tables WHERE database = %(db)s "
             "AND name LIKE '%%rollup%%' AND engine NOT IN ('MaterializedView', 'View')", {"db": db.database})
    return df["name"].tolist()


# ============================================================================ section 1: data
def table_counts(db: Any, tables: tuple[str, ...]) -> dict[str, int]:
    from etl.schema import row_count

    return {t: row_count(db, t) for t in tables}


def present_scale(db: Any, args: argparse.Namespace) -> dict[str, Any] | None:
    """The load_log entry of this scale if the database holds it."""
    from etl.schema import outdated_tables, row_count
    from queries.executor import run

    if row_count(db, "load_log") == 0:
        return None
    log = run(db, "bench_scale_log", "SELECT loaded_at, root, seed, rows, note FROM load_log "
              "WHERE kind = 'scale' ORDER BY loaded_at DESC LIMIT 1")
    if log.empty:
        return None
    row = log.iloc[0]
    try:
        note = json.loads(row["note"])
    except ValueError:
        return None
    if (int(row["rows"]) != args.entities or str(row["root"]) != args.root or int(row["seed"]) != args.seed
            or note.get("days") != args.days):
        return None
    if row_count(db, "entities") != args.entities:
        return None
    stale = outdated_tables(db)
    if stale:
        say(f"  data present but the schema changed since ({', '.join(stale)}): regenerating")
        return None
    note["loaded_at"] = str(row["loaded_at"])
    return note


def wipe(db: Any) -> None:
    """Drop every table and view of the scratch database."""
    from queries.executor import execute, run

    objs = run(db, "bench_tables", "SELECT name, engine FROM system.tables WHERE database = %(db)s",
               {"db": db.database})
    views = objs[objs["engine"].isin(["MaterializedView", "View"])]["name"].tolist()
    for name in views + [n for n in objs["name"] if n not in views]:
        if not name.startswith(".inner"):
            execute(db, "bench_drop", f"DROP TABLE IF EXISTS {name}")


def ensure_data(db: Any, args: argparse.Namespace) -> dict[str, Any]:
    from bench.scale_gen import GenStats, LOG_KIND, config, generate_and_load, peak_rss_mb
    from etl.load import load_regions, record_load
    from etl.schema import init_schema

    init_schema(db)  # idempotent: adds tables (and rollups) a newer schema declares
    note = None if args.regenerate else present_scale(db, args)
    if note is not None:
        say(f"data present: {args.entities:,} entities loaded {note['loaded_at']} "
            f"(end date {note['end_date']}); generation skipped (--regenerate forces it)")
        note["reused"] = True
        return note
    say(f"generating {args.entities:,} entities under {args.root} in chunks of {args.chunk:,} ...")
    t0 = time.perf_counter()
    wipe(db)
    init_schema(db)
    t = time.perf_counter()
    n_regions = load_regions(db)
    regions_s = time.perf_counter() - t
    end = dt.date.today()
    cfg = config(args.root, args.entities, args.days, args.seed, end)
    stats = generate_and_load(db, cfg, args.chunk, say=say)
    stats.add("regions (NBS tree)", n_regions, regions_s)
    rebuild = rollup_rebuild_fn()
    rebuild_s = None
    if rebuild:
        name, fn = rebuild
        t = time.perf_counter()
        fn(db)
        rebuild_s = time.perf_counter() - t
        say(f"  rollups rebuilt by {name} in {rebuild_s:.1f} s")
    note = {"entities": args.entities, "chunk": args.chunk, "days": args.days, "end_date": end.isoformat(),
            "stats": json.loads(stats.to_json()), "wall_s": time.perf_counter() - t0,
            "rollup_rebuild": rebuild[0] if rebuild else None, "rollup_rebuild_s": rebuild_s,
            "peak_rss_mb": peak_rss_mb(), "engine": args.engine}
    record_load(db, LOG_KIND, args.root, args.seed, args.entities, note=json.dumps(note))
    note["loaded_at"] = dt.datetime.now().replace(microsecond=0).isoformat(sep=" ")
    note["reused"] = False
    return note


def print_generation(note: dict[str, Any], counts: dict[str, int], db: Any) -> None:
    s = note["stats"]
    say("\n## 1. Generation and load")
    how = "reused from an earlier run" if note.get("reused") else "this run"
    say(f"({how}; loaded {note['loaded_at']}; {note['entities']:,} entities in chunks of {note['chunk']:,}; "
        f"{note['days']} days ending {note['end_date']}; engine {note.get('engine', '?')})")
    rows = []
    for table in ["regions (NBS tree)", "regions", "grid_workers", "departments",
                  "entities", "events", "tasks", "task_events"]:
        if table in s["rows"]:
            n, secs = s["rows"][table], s["insert_s"][table]
            label = "regions (grids)" if table == "regions" else table
            rows.append([label, f"{n:,}", f"{secs:.1f}", f"{n / secs:,.0f}" if secs > 0 else "-"])
    say(md_table(["table", "rows", "insert s", "rows/s"], rows))
    say(f"generation (pandas/numpy) {s['generate_s']:.0f} s, inserts {sum(s['insert_s'].values()):.0f} s, "
        f"total wall time {note['wall_s']:.0f} s ({note['wall_s'] / 60:.1f} min); peak RSS of the generating "
        f"process {note['peak_rss_mb']:,.0f} MB; credit codes redrawn across chunks: {s['redrawn_codes']:,}")
    if note.get("rollup_rebuild"):
        say(f"rollup rebuild {note['rollup_rebuild']}: {note['rollup_rebuild_s']:.1f} s")
    else:
        say("rollups: filled by their materialized views during the inserts (etl.rollups; etl.schema.init_schema "
            "backfills rollups missing from an existing database); no separate rebuild step")
    ent = max(counts.get("entities", 0), 1)
    ratio = counts.get("events", 0) / ent
    say(f"events per entity: {ratio:.2f} (the demo generator's rates over {note['days']} days; the brief's "
        f"'about 10 events each' is NOT reached and not faked: {counts.get('events', 0):,} events for "
        f"{counts.get('entities', 0):,} entities)")
    try:
        tabs = rollup_tables(db)
        if tabs:
            rc = {t: _count(db, t) for t in tabs}
            say("rollup tables: " + ", ".join(f"{t} {n:,}" for t, n in rc.items()))
    except Exception as exc:  # noqa: BLE001
        say(f"rollup tables: n/a ({exc})")


def _count(db: Any, table: str) -> int:
    from queries.executor import run

    return int(run(db, "bench_count", f"SELECT count() AS n FROM {table}")["n"].iloc[0])


def disk_mb(db: Any) -> float | None:
    from queries.executor import run

    try:
        df = run(db, "bench_disk", "SELECT sum(bytes) AS b FROM system.parts WHERE database = %(db)s AND active",
                 {"db": db.database})
        return float(df["b"].iloc[0]) / 1024 / 1024
    except Exception:  # noqa: BLE001
        return None


# ============================================================================ query log (which query dominates)
#: Loggers whose warnings are not a callback failing (the holiday-calendar notice, the dev server).
NOT_ERRORS = ("werkzeug", "bench", "etl.workdays")


class QueryLog(logging.Handler):
    """Collects (name, ms) of every query the executor logs, and warnings from the app."""

    def __init__(self) -> None:
        super().__init__(level=logging.INFO)
        self.on = False
        self.queries: list[tuple[str, float]] = []
        self.warnings: list[str] = []
        self._mu = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        if not self.on:
            return
        with self._mu:
            if record.levelno >= logging.WARNING and not record.name.startswith(NOT_ERRORS):
                self.warnings.append(f"{record.name}: {record.getMessage()[:200]}")
            elif record.name == "queries.executor" and record.msg.startswith("query ") and len(record.args) >= 3:
                self.queries.append((str(record.args[0]), float(record.args[2])))

    def take(self) -> tuple[list[tuple[str, float]], list[str]]:
        with self._mu:
            q, w = self.queries, self.warnings
            self.queries, self.warnings = [], []
        return q, w


def install_log() -> QueryLog:
    h = QueryLog()
    root = logging.getLogger()
    root.addHandler(h)
    for name in ("queries.executor",):
        logging.getLogger(name).setLevel(logging.INFO)
    if root.level > logging.WARNING or root.level == 0:
        root.setLevel(logging.WARNING)
    # Nothing printed: the root logger has no stream handler; Python's last-resort
    # handler would print warnings, so give it a null sink.
    logging.lastResort = logging.NullHandler()  # type: ignore[assignment]
    return h


def top_queries(queries: list[tuple[str, float]], k: int = 8) -> str:
    agg: dict[str, list[float]] = defaultdict(list)
    for name, t in queries:
        agg[name].append(t)
    total = sum(t for _, t in queries) or 1.0
    rows = sorted(agg.items(), key=lambda kv: -sum(kv[1]))[:k]
    return md_table(["query (executor name)", "runs", "total s", "share", "p50 ms", "max ms"],
                    [[n, len(v), f"{sum(v) / 1000:.1f}", f"{100 * sum(v) / total:.0f}%",
                      ms(statistics.median(v)), ms(max(v))] for n, v in rows])


# ============================================================================ HTTP harness
class AppServer:
    """The app's Flask server on a loopback port in a thread (werkzeug, threaded)."""

    def __init__(self) -> None:
        from werkzeug.serving import WSGIRequestHandler, make_server

        from app import create_app

        class Quiet(WSGIRequestHandler):
            def log_request(self, *a: Any, **k: Any) -> None:
                pass

        self.app = create_app()
        self.httpd = make_server("127.0.0.1", 0, self.app.server, threaded=True, request_handler=Quiet)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="bench-http", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def callback_name(self, output: str) -> str:
        cb = self.app.callback_map.get(output) or {}
        fn = cb.get("callback")
        if fn is None:
            return output[:40]
        inner = getattr(fn, "__wrapped__", fn)
        return f"{inner.__module__.split('.')[-1]}.{inner.__name__}"


def _outputs(spec: str) -> Any:
    def one(s: str) -> dict[str, str]:
        cid, prop = s.rsplit(".", 1)
        return {"id": cid, "property": prop.split("@")[0]}

    if spec.startswith(".."):
        return [one(s) for s in spec[2:-2].split("...")]
    return one(spec)


def payload(dep: dict[str, Any], values: dict[str, Any], changed: str | None = None) -> dict[str, Any]:
    """A /_dash-update-component body for ``dep`` with 'id.prop' → value."""
    def fill(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{"id": i["id"], "property": i["property"], "value": values.get(f"{i['id']}.{i['property']}")}
                for i in items]

    inputs = fill(dep["inputs"])
    first = f"{dep['inputs'][0]['id']}.{dep['inputs'][0]['property']}"
    return {"output": dep["output"], "outputs": _outputs(dep["output"]), "inputs": inputs,
            "state": fill(dep["state"]), "changedPropIds": [changed or first]}


def _collect(node: Any, out: dict[str, Any]) -> None:
    if isinstance(node, dict):
        props = node.get("props")
        if isinstance(props, dict) and isinstance(props.get("id"), str):
            for k, v in props.items():
                if k not in ("children", "id"):
                    out.setdefault(f"{props['id']}.{k}", v)
            out.setdefault(f"{props['id']}.__present__", True)
        for v in node.values():
            _collect(v, out)
    elif isinstance(node, list):
        for v in node:
            _collect(v, out)


#: page → (URL for a region, the store that carries the region in the layout)
PAGES: dict[str, tuple[Callable[[str], tuple[str, str]], str]] = {
    "wall /": (lambda r: ("/", f"?region={r}"), "wall-region.data"),
    "drill /region": (lambda r: (f"/region/{r}", ""), "region-code.data"),
    "risk /risk": (lambda r: ("/risk", f"?region={r}"), "risk-region.data"),
}


class Harness:
    def __init__(self, srv: AppServer) -> None:
        import requests

        self.srv = srv
        self.http = requests
        self.deps = requests.get(srv.url + "/_dash-dependencies", timeout=30).json()
        self.router = next(d for d in self.deps if "_pages_content.children" in d["output"])

    def post(self, body: dict[str, Any], timeout: float = 300) -> tuple[float, int, Any]:
        t = time.perf_counter()
        resp = self.http.post(self.srv.url + "/_dash-update-component", json=body, timeout=timeout)
        elapsed = 1000 * (time.perf_counter() - t)
        data = None
        if resp.status_code == 200:
            try:
                data = resp.json()
            except ValueError:
                data = None
        return elapsed, resp.status_code, data

    def layout_values(self, path: str, search: str) -> dict[str, Any]:
        values = {"_pages_location.pathname": path, "_pages_location.search": search}
        _, status, data = self.post(payload(self.router, values))
        if status != 200:
            raise RuntimeError(f"page {path}{search}: HTTP {status}")
        out: dict[str, Any] = {}
        _collect(data, out)
        return out

    def page_deps(self, layout: dict[str, Any]) -> list[dict[str, Any]]:
        """Server-side callbacks whose inputs and states are all in the page."""
        present = {k.rsplit(".", 1)[0] for k in layout if k.endswith(".__present__")}
        out = []
        for d in self.deps:
            if d.get("clientside_function") or d is self.router:
                continue
            ids = {str(i["id"]) for i in d["inputs"] + d["state"]}
            if ids and ids <= present:
                out.append(d)
        return out


def _trigger(dep: dict[str, Any], values: dict[str, Any], child: str | None) -> str | None:
    """The input a user action fires for a prevent_initial_call callback (a map
    click on a child, a button press), with its value set in ``values``."""
    if not dep.get("prevent_initial_call"):
        return None
    for i in dep["inputs"]:
        key = f"{i['id']}.{i['property']}"
        if i["property"] == "clickData" and child:
            values[key] = {"type": "Feature", "properties": {"code": child}}
            return key
        if i["property"] == "n_clicks":
            values[key] = 1
            return key
    return None


def _response_error(data: Any) -> str | None:
    """A visible error banner in a callback's response, if any."""
    resp = (data or {}).get("response") if isinstance(data, dict) else None
    if not isinstance(resp, dict):
        return None
    for cid, props in resp.items():
        if "banner" in cid and isinstance(props, dict):
            cls = props.get("className")
            if isinstance(cls, str) and "hidden" not in cls.split():
                text = props.get("children")
                return f"{cid}: {str(text)[:120]}"
    return None


def region_set(db: Any, root: str, n_children: int | None, n_grand: int) -> tuple[list[str], dict[str, str]]:
    """Root, its children, and one grandchild from each of ``n_grand`` spread children;
    plus, per region, a child to click on."""
    from queries.regions import region_node

    kids = region_node(db, root).children["code"].astype(str).tolist()
    chosen = kids if n_children is None else kids[:n_children]
    grand: list[str] = []
    if kids and n_grand:
        step = max(len(kids) // n_grand, 1)
        for k in kids[::step][:n_grand]:
            g = region_node(db, k).children["code"].astype(str).tolist()
            if g:
                grand.append(g[0])
    regions = [root] + chosen + [g for g in grand if g not in chosen]
    first_child = {}
    for r in regions:
        c = region_node(db, r).children["code"].astype(str).tolist()
        first_child[r] = c[0] if c else ""
    return regions, first_child


def section_callbacks(h: Harness, db: Any, regions: list[str], child: dict[str, str], args: argparse.Namespace,
                      qlog: QueryLog) -> dict[str, dict[str, Any]]:
    say("\n## 2a. Callbacks over HTTP (POST /_dash-update-component), cold and warm")
    has_cache = cache_clear_fn() is not None
    say(f"regions: {len(regions)} ({regions[0]}, {len(regions) - 1} below it: {', '.join(regions[1:8])}"
        f"{' …' if len(regions) > 8 else ''}); cold = query cache"
        f"{'' if has_cache else ' (n/a: queries.cache has no clear function yet)'}, region-node cache and "
        f"data-version memo cleared before the request; warm = the same request again ×{args.warm} "
        f"(JINJIAN_CACHE_SECONDS={os.environ.get('JINJIAN_CACHE_SECONDS', '')!r} for this section); "
        f"JINJIAN_ROLLUPS={os.environ.get('JINJIAN_ROLLUPS', '1 (default)')}")
    results: dict[str, dict[str, Any]] = {}
    all_cold_queries: list[tuple[str, float]] = []
    t_section = time.perf_counter()
    for page, (url, store) in PAGES.items():
        layout = h.layout_values(*url(regions[0]))
        deps = h.page_deps(layout)
        for region in regions:
            values = dict(layout)
            values[store] = region
            values.update({k: 1 for k in values if k.endswith(".n_intervals")})
            for dep in deps:
                name = f"{page.split()[0]}: {h.srv.callback_name(dep['output'])}"
                r = results.setdefault(name, {"cold": [], "warm": [], "errors": 0, "first_error": "",
                                             "status": defaultdict(int), "page": page})
                v = dict(values)
                changed = _trigger(dep, v, child.get(region))
                body = payload(dep, v, changed)
                clear_all_caches()
                qlog.take()
                qlog.on = True
                t, status, data = h.post(body)
                queries, warns = qlog.take()
                all_cold_queries += queries
                r["cold"].append(t)
                r["status"][status] += 1
                err = (f"HTTP {status}" if status >= 400 else None) or _response_error(data) or (
                    warns[0] if warns else None)
                if err:
                    r["errors"] += 1
                    r["first_error"] = r["first_error"] or f"{region}: {err}"
                for _ in range(args.warm):
                    t, status, data = h.post(body)
                    r["warm"].append(t)
                    r["status"][status] += 1
                qlog.take()
                qlog.on = False
    rows = []
    for name, r in results.items():
        c, w = r["cold"], r["warm"]
        rows.append([name, len(c), ms(statistics.median(c)), ms(pct(c, 0.95)), ms(max(c)),
                     ms(statistics.median(w)) if w else "n/a", ms(pct(w, 0.95)) if w else "n/a",
                     r["errors"], " ".join(f"{k}×{v}" for k, v in sorted(r["status"].items()))])
    say(md_table(["callback", "n", "cold p50 ms", "cold p95 ms", "cold max ms", "warm p50 ms", "warm p95 ms",
                  "errors", "HTTP"], rows))
    errs = [f"  {n}: {r['first_error']}" for n, r in results.items() if r["errors"]]
    if errs:
        say("errors (first per callback):\n" + "\n".join(errs))
    say(cache_stats())
    say(f"queries run by the cold requests, by total time ({len(all_cold_queries):,} queries; "
        f"section took {time.perf_counter() - t_section:.0f} s):")
    say(top_queries(all_cold_queries))
    return results


# ============================================================================ section 2b: rollups vs raw
def section_drill(db: Any, regions: list[str], args: argparse.Namespace, qlog: QueryLog) -> None:
    from components.region_table import DEFAULT_INDICATORS
    from indicators.catalogue import CATALOGUE
    from indicators.compute import compute
    from indicators.periods import period_to_date
    from queries.filters import Filter
    from queries.overview import wall_data

    say("\n## 2b. Drill queries with rollups and on raw tables (in-process, caches cleared, no HTTP)")
    supported = rollups_supported()
    today = dt.date.today()
    month = period_to_date(today, "month")
    table_inds = [CATALOGUE[i] for i in DEFAULT_INDICATORS]
    every = list(CATALOGUE.values())
    cases: list[tuple[str, Callable[[str], Any]]] = [
        (f"compute by_child: region page's {len(table_inds)} default columns, this month",
         lambda r: compute(db, table_inds, Filter(region=r), month, by_child=True)),
        ("compute by_child: map (entity_stock), this month",
         lambda r: compute(db, [CATALOGUE["entity_stock"]], Filter(region=r), month, by_child=True)),
        (f"compute by_child: all {len(every)} indicators, this month",
         lambda r: compute(db, every, Filter(region=r), month, by_child=True)),
        ("queries.overview.wall_data (wall headline + ranking + trends)",
         lambda r: wall_data(db, r, today)),
    ]
    old_roll = os.environ.get("JINJIAN_ROLLUPS")
    off = CacheOverride(0).__enter__()
    modes = [("rollups", "1"), ("raw", "0")] if supported else [("raw", "0")]
    times: dict[tuple[str, str], list[float]] = defaultdict(list)
    queries: dict[str, list[tuple[str, float]]] = defaultdict(list)
    errors: dict[tuple[str, str], str] = {}
    try:
        for label, fn in cases:
            for mode, flag in modes:
                os.environ["JINJIAN_ROLLUPS"] = flag
                for r in regions:
                    clear_all_caches()
                    qlog.take()
                    qlog.on = True
                    t = time.perf_counter()
                    try:
                        fn(r)
                    except Exception as exc:  # noqa: BLE001 - reported, not fatal
                        errors.setdefault((label, mode), f"{r}: {type(exc).__name__}: "
                                          f"{getattr(exc, 'detail', exc)}"[:200])
                    times[(label, mode)].append(1000 * (time.perf_counter() - t))
                    qlog.on = False
                    queries[mode] += qlog.take()[0]
    finally:
        off.__exit__()
        if old_roll is None:
            os.environ.pop("JINJIAN_ROLLUPS", None)
        else:
            os.environ["JINJIAN_ROLLUPS"] = old_roll
    rows = []
    for label, _ in cases:
        raw = times[(label, "raw")]
        roll = times.get((label, "rollups"))
        ratio = (f"{statistics.median(raw) / statistics.median(roll):.1f}×"
                 if roll and statistics.median(roll) > 0 else "n/a")
        rows.append([label, len(raw),
                     ms(statistics.median(roll)) if roll else "n/a", ms(pct(roll, 0.95)) if roll else "n/a",
                     ms(statistics.median(raw)), ms(pct(raw, 0.95)), ms(max(raw)), ratio])
    say(f"regions: {len(regions)}; JINJIAN_ROLLUPS toggled per run"
        + ("" if supported else " — n/a: indicators/compute.py does not read JINJIAN_ROLLUPS yet, raw only"))
    say(md_table(["query", "n", "rollup p50 ms", "rollup p95 ms", "raw p50 ms", "raw p95 ms", "raw max ms",
                  "raw/rollup (p50)"], rows))
    for (label, mode), e in errors.items():
        say(f"  error [{mode}] {label}: {e}")
    for mode, _ in modes:
        say(f"queries by total time, {mode}:")
        say(top_queries(queries[mode], 6))


# ============================================================================ section 2c: load run
def load_bodies(h: Harness, regions: list[str], live: bool) -> dict[str, dict[str, Any]]:
    """Per region: the wall's refresh callbacks' bodies (and the live-version one)."""
    layout = h.layout_values("/", f"?region={regions[0]}")
    deps = h.page_deps(layout)
    out: dict[str, dict[str, Any]] = {}
    for r in regions:
        values = dict(layout)
        values["wall-region.data"] = r
        bodies = {}
        for dep in deps:
            trig = [f"{i['id']}.{i['property']}" for i in dep["inputs"]]
            name = h.srv.callback_name(dep["output"])
            if "wall-refresh.n_intervals" in trig:
                v = dict(values)
                v["wall-refresh.n_intervals"] = 1
                bodies[name] = payload(dep, v, "wall-refresh.n_intervals")
            elif live and "wall-live.n_intervals" in trig:
                v = dict(values)
                v["wall-live.n_intervals"] = 1
                bodies[name] = payload(dep, v, "wall-live.n_intervals")
        out[r] = bodies
    return out


def run_load_client(spec_path: Path) -> None:
    """(Subprocess) ``screens`` walls, each firing its refresh callbacks every
    ``interval`` s (the callbacks of one tick concurrently, as the browser does);
    a callback still running at its next tick fires as soon as it returns."""
    import requests

    spec = json.loads(spec_path.read_text())
    url = spec["url"] + "/_dash-update-component"
    t0 = time.monotonic() + 1.0
    stop = t0 + spec["seconds"]
    results: list[list[Any]] = []
    late = [0]
    lock = threading.Lock()

    def worker(screen: int, name: str, body: dict[str, Any], every: float) -> None:
        body = json.loads(json.dumps(body))
        sess = requests.Session()
        n = 0
        next_t = t0 + (screen / spec["screens"]) * spec["interval"]
        while next_t < stop:
            now = time.monotonic()
            if now < next_t:
                time.sleep(next_t - now)
            elif now - next_t > 1.0:
                with lock:
                    late[0] += 1
            n += 1
            for i in body["inputs"]:
                if i["property"] == "n_intervals":
                    i["value"] = n
            start = time.monotonic()
            status, err = 0, ""
            try:
                resp = sess.post(url, json=body, timeout=60)
                status = resp.status_code
                if status == 200:
                    data = resp.json()
                    e = _response_error(data)
                    err = e or ""
                    sig = ((data.get("response") or {}).get("wall-map-sig") or {}).get("data")
                    if sig is not None:
                        for s in body["state"]:
                            if s["id"] == "wall-map-sig":
                                s["value"] = sig
                elif status != 204:
                    err = f"HTTP {status}"
            except Exception as exc:  # noqa: BLE001
                err = type(exc).__name__
            elapsed = 1000 * (time.monotonic() - start)
            with lock:
                results.append([name, elapsed, status, err, start - t0])
            next_t += every
            if time.monotonic() > next_t + every:  # fell more than a whole period behind
                next_t = time.monotonic()

    threads = []
    for s in range(spec["screens"]):
        bodies = spec["bodies"][s % len(spec["bodies"])]
        for name, body in bodies.items():
            every = 1.0 if "live" in name else spec["interval"]
            th = threading.Thread(target=worker, args=(s, name, body, every), daemon=True)
            th.start()
            threads.append(th)
    for th in threads:
        th.join(timeout=spec["seconds"] + 120)
    print(json.dumps({"results": results, "late": late[0], "threads": len(threads)}))


def section_load(h: Harness, regions: list[str], args: argparse.Namespace, qlog: QueryLog,
                 cache_seconds: str | None) -> None:
    say(f"\n## 2c. Load: {args.screens} wall screens, each refreshing every {args.interval:g} s "
        f"for {args.load_seconds:g} s (HTTP on loopback)")
    screen_regions = regions[: max(1, min(len(regions), 22))]
    bodies = load_bodies(h, screen_regions, args.live_poll)
    names = sorted({n for b in bodies.values() for n in b})
    say(f"screens spread round-robin over {len(screen_regions)} regions (root and children); callbacks per "
        f"tick: {', '.join(names)}; clients in a separate process (requests, one thread per screen and "
        f"callback), server = werkzeug threaded in this process; JINJIAN_CACHE_SECONDS="
        f"{cache_seconds!r} (empty = the wall refresh interval); caches cleared before the start")
    spec = {"url": h.srv.url, "screens": args.screens, "interval": args.interval, "seconds": args.load_seconds,
            "bodies": [bodies[r] for r in screen_regions]}
    spec_path = args.data_dir / f"load-spec-{os.getpid()}.json"
    spec_path.write_text(json.dumps(spec))
    clear_all_caches()
    qlog.take()
    qlog.on = True
    cpu0 = os.times()
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--load-client", str(spec_path)],
                          capture_output=True, text=True, timeout=args.load_seconds + 300)
    wall_s = time.perf_counter() - t
    cpu1 = os.times()
    qlog.on = False
    queries, warns = qlog.take()
    spec_path.unlink(missing_ok=True)
    if proc.returncode != 0:
        say(f"load client failed ({proc.returncode}): {proc.stderr[-2000:]}")
        return
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    res = out["results"]
    by: dict[str, list[list[Any]]] = defaultdict(list)
    for row in res:
        by[row[0]].append(row)
    rows = []
    for name in sorted(by):
        lat = [r[1] for r in by[name]]
        errs = [r for r in by[name] if r[3]]
        rows.append([name, len(lat), f"{len(lat) / args.load_seconds:.1f}", ms(statistics.median(lat)),
                     ms(pct(lat, 0.95)), ms(max(lat)), len(errs)])
    lat_all = [r[1] for r in res]
    errs_all = [r for r in res if r[3]]
    if lat_all:
        rows.append(["all", len(lat_all), f"{len(lat_all) / args.load_seconds:.1f}",
                     ms(statistics.median(lat_all)), ms(pct(lat_all, 0.95)), ms(max(lat_all)), len(errs_all)])
    say(md_table(["callback", "requests", "req/s", "p50 ms", "p95 ms", "max ms", "errors"], rows))
    expected = args.screens * len(names) * args.load_seconds / args.interval
    cpu = (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)
    say(f"requests sent {len(lat_all):,} of {expected:,.0f} scheduled; ticks started >1 s late: {out['late']}; "
        f"server process CPU {cpu:.0f} s over {wall_s:.0f} s ({100 * cpu / wall_s:.0f}% of one core); "
        f"queries reaching the database: {len(queries):,}; app warnings: {len(warns)}; {cache_stats()}")
    if errs_all:
        kinds: dict[str, int] = defaultdict(int)
        for r in errs_all:
            kinds[r[3][:80]] += 1
        say("errors: " + "; ".join(f"{k} ×{v}" for k, v in sorted(kinds.items(), key=lambda kv: -kv[1])[:5]))
    if warns:
        say("first app warnings: " + " | ".join(warns[:3]))
    if queries:
        say(top_queries(queries, 6))


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

    from queries.db import get_db

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
                     f"{os.environ.get('JINJIAN_CACHE_URL', '')!r}, query cache "
                     f"{'present' if cache_clear_fn() else 'n/a (no queries.cache)'}, rollups "
                     f"{'read by indicators.compute' if rollups_supported() else 'n/a (not in indicators.compute)'}"],
        ["started", started.isoformat(sep=" ")],
    ]))
    if "gen" in sections:
        print_generation(note, counts, db)
    need_http = bool(sections & {"callbacks", "load"})
    regions, child = region_set(db, args.root, args.children, args.grandchildren)
    srv = h = None
    if need_http:
        os.environ["JINJIAN_CACHE_SECONDS"] = user_cache if user_cache not in (None, "") else CACHE_SECONDS_2A
        srv = AppServer()
        h = Harness(srv)
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
            with CacheOverride(production_cache_seconds()):
                section_load(h, regions, args, qlog, user_cache or "")
    finally:
        if srv:
            srv.stop()
    rss = server_rss_mb(args)
    from bench.scale_gen import peak_rss_mb

    say(f"\npeak RSS of this process {peak_rss_mb():,.0f} MB"
        + (f"; ClickHouse server RSS now {rss:,.0f} MB" if rss else "")
        + f"; finished {dt.datetime.now().replace(microsecond=0).isoformat(sep=' ')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
