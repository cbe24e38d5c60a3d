"""Measuring sections of ``bench/scale.py``: callbacks over HTTP cold and warm (and the
whole wall refresh), drill queries with rollups against raw tables, and the load run of
many wall screens. Each prints its figures; none asserts anything about time."""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable

from bench.scale_http import PAGES, Harness, load_bodies, payload, response_error, trigger
from bench.scale_probe import CacheOverride, QueryLog, cache_stats, clear_all_caches, say, top_queries
from bench.stats import md_table, ms, pct


# ============================================================================ section 2a: callbacks over HTTP
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


def _wall_refresh(h: Harness, bodies: list[dict[str, Any]]) -> tuple[float, list[int]]:
    """Both wall refresh callbacks posted at once, as the browser fires them: the time
    until the last answer, and the statuses."""
    with ThreadPoolExecutor(len(bodies)) as pool:
        t = time.perf_counter()
        answers = list(pool.map(h.post, bodies))
        return 1000 * (time.perf_counter() - t), [a[1] for a in answers]


def section_callbacks(h: Harness, db: Any, regions: list[str], child: dict[str, str], args: argparse.Namespace,
                      qlog: QueryLog) -> dict[str, dict[str, Any]]:
    say("\n## 2a. Callbacks over HTTP (POST /_dash-update-component), cold and warm")
    say(f"regions: {len(regions)} ({regions[0]}, {len(regions) - 1} below it: {', '.join(regions[1:8])}"
        f"{' …' if len(regions) > 8 else ''}); cold = query cache, region nodes, data-version memo and risk "
        f"snapshot list cleared before the request; warm = the same request again ×{args.warm} "
        f"(JINJIAN_CACHE_SECONDS={os.environ.get('JINJIAN_CACHE_SECONDS', '')!r} for this section); "
        f"JINJIAN_ROLLUPS={os.environ.get('JINJIAN_ROLLUPS', '1 (default)')}; the last row is the whole wall "
        "refresh: its two refresh callbacks posted at once, as the browser does, until the last answer")
    results: dict[str, dict[str, Any]] = {}
    all_cold_queries: list[tuple[str, float]] = []
    t_section = time.perf_counter()

    def record(name: str, kind: str, t: float, statuses: list[int], err: str | None, region: str) -> None:
        r = results.setdefault(name, {"cold": [], "warm": [], "errors": 0, "first_error": "",
                                      "status": defaultdict(int)})
        r[kind].append(t)
        for status in statuses:
            r["status"][status] += 1
        if err:
            r["errors"] += 1
            r["first_error"] = r["first_error"] or f"{region}: {err}"

    wall_bodies = load_bodies(h, regions, live=False)
    for page, (url, store) in PAGES.items():
        layout = h.layout_values(*url(regions[0]))
        deps = h.page_deps(layout)
        for region in regions:
            values = dict(layout)
            values[store] = region
            values.update({k: 1 for k in values if k.endswith(".n_intervals")})
            for dep in deps:
                name = f"{page.split()[0]}: {h.srv.callback_name(dep['output'])}"
                v = dict(values)
                body = payload(dep, v, trigger(dep, v, child.get(region)))
                clear_all_caches()
                qlog.take()
                qlog.on = True
                t, status, data = h.post(body)
                queries, warns = qlog.take()
                qlog.on = False
                all_cold_queries += queries
                err = (f"HTTP {status}" if status >= 400 else None) or response_error(data) or (
                    warns[0] if warns else None)
                record(name, "cold", t, [status], err, region)
                for _ in range(args.warm):
                    t, status, _data = h.post(body)
                    record(name, "warm", t, [status], None, region)
    for region in regions:
        bodies = list(wall_bodies[region].values())
        clear_all_caches()
        t, statuses = _wall_refresh(h, bodies)
        record("wall refresh (both callbacks at once)", "cold", t, statuses,
               next((f"HTTP {s}" for s in statuses if s >= 400), None), region)
        for _ in range(args.warm):
            t, statuses = _wall_refresh(h, bodies)
            record("wall refresh (both callbacks at once)", "warm", t, statuses, None, region)
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
    from queries.indicator_values import compute
    from indicators.periods import period_to_date
    from store.filters import Filter
    from queries.overview import wall_data

    say("\n## 2b. Drill queries with rollups and on raw tables (in-process, caches cleared, no HTTP)")
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
    modes = [("rollups", "1"), ("raw", "0")]
    times: dict[tuple[str, str], list[float]] = defaultdict(list)
    queries: dict[str, list[tuple[str, float]]] = defaultdict(list)
    errors: dict[tuple[str, str], str] = {}
    skipped: list[str] = []
    try:
        for label, fn in cases:
            for mode, flag in modes:
                os.environ["JINJIAN_ROLLUPS"] = flag
                for r in regions:
                    if mode == "raw" and sum(times[(label, mode)]) > 1000 * args.raw_budget:
                        skipped.append(f"{label} [raw]: {len(times[(label, mode)])} of {len(regions)} regions "
                                       f"(the raw runs took over --raw-budget {args.raw_budget:g} s)")
                        break
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
    say(f"regions: {len(regions)}; JINJIAN_ROLLUPS toggled per run; risk from the snapshot both ways")
    say(md_table(["query", "n", "rollup p50 ms", "rollup p95 ms", "raw p50 ms", "raw p95 ms", "raw max ms",
                  "raw/rollup (p50)"], rows))
    for (label, mode), e in errors.items():
        say(f"  error [{mode}] {label}: {e}")
    for line in skipped:
        say(f"  measured on fewer regions: {line}")
    for mode, _ in modes:
        say(f"queries by total time, {mode}:")
        say(top_queries(queries[mode], 6))


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
        f"{cache_seconds!r} (empty = the wall refresh interval); {cache_stats().split(':')[0]}; caches cleared "
        "before the start, so each view's first request computes it")
    spec = {"url": h.srv.url, "screens": args.screens, "interval": args.interval, "seconds": args.load_seconds,
            "bodies": [bodies[r] for r in screen_regions]}
    spec_path = args.data_dir / f"load-spec-{os.getpid()}.json"
    spec_path.write_text(json.dumps(spec))
    clear_all_caches()
    qlog.take()
    qlog.on = True
    cpu0 = os.times()
    t = time.perf_counter()
    script = Path(__file__).resolve().with_name("scale.py")
    proc = subprocess.run([sys.executable, str(script), "--load-client", str(spec_path)],
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

    def figures(label: str, group: list[list[Any]]) -> list[Any]:
        lat = [r[1] for r in group]
        steady = [r[1] for r in group if r[4] >= args.interval]
        return [label, len(lat), f"{len(lat) / args.load_seconds:.1f}", ms(statistics.median(lat)),
                ms(pct(lat, 0.95)), ms(max(lat)), ms(statistics.median(steady) if steady else None),
                ms(pct(steady, 0.95) if steady else None),
                len([r for r in group if r[3]])]

    rows = [figures(name, by[name]) for name in sorted(by)]
    lat_all = [r[1] for r in res]
    errs_all = [r for r in res if r[3]]
    if lat_all:
        rows.append(figures("all", res))
    say(md_table(["callback", "requests", "req/s", "p50 ms", "p95 ms", "max ms", "steady p50 ms",
                  "steady p95 ms", "errors"], rows))
    say(f"steady = requests started after the first {args.interval:g} s interval (the first interval is the "
        "cold start: every screen asks at once before any view is cached)")
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



# ============================================================================ section 3: ingestion at scale
def section_ingest(db: Any, args: argparse.Namespace) -> None:
    """Department files through the app's own loader (validation, lookups against the
    whole database, stage and publish, the views feeding every rollup): rows per second."""
    from bench.ingest_data import Records, write_csv
    from etl.ingest.batch import Ingestor
    from store.executor import run

    say(f"\n## 3. Ingestion through the loader ({args.ingest_rows:,} rows per file, CSV, into this database)")
    like = {"like": f"{args.root}%"}
    ents = run(db, "bench_sample_entities", "SELECT credit_code, reg_date, status FROM entities "
               "WHERE grid_code LIKE %(like)s AND status = 'active' LIMIT 50000", like)
    grids = run(db, "bench_grids", "SELECT code FROM regions WHERE level = 6 AND code LIKE %(like)s", like)
    name = run(db, "bench_root_name", "SELECT name FROM regions WHERE code = %(c)s", {"c": args.root})
    recs = Records({"name": str(name["name"].iloc[0]) if len(name) else args.root, "grids": grids["code"].tolist(),
                    "codes": ents["credit_code"].tolist(), "reg_dates": ents["reg_date"].tolist(),
                    "active": [True] * len(ents)}, seed=args.seed)
    folder = args.data_dir / "ingest-files"
    folder.mkdir(parents=True, exist_ok=True)
    ing = Ingestor(db)
    rows = []
    for source, make in (("registration", lambda n: recs.registrations(n, days_back=0)),
                         ("inspection", recs.inspections),
                         ("complaint", lambda n: recs.complaints(n, f"S{int(time.time())}"))):
        path = folder / f"{source}-{int(time.time())}.csv"
        write_csv(path, source, make(args.ingest_rows))
        t = time.perf_counter()
        res = ing.ingest_file(path, source)
        secs = time.perf_counter() - t
        rows.append([source, f"{res.rows_in:,}", f"{res.rows_loaded:,}", f"{res.rows_rejected:,}", f"{secs:.1f}",
                     f"{res.rows_loaded / secs:,.0f}", res.state])
    say(md_table(["source", "rows in", "loaded", "rejected", "seconds", "rows/s", "state"], rows))
