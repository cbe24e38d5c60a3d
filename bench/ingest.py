"""Benchmark: ingestion throughput and event-to-screen lag (embedded chDB).

Runs on a benchmark data set made once with ``python -m etl init`` and
``python -m etl demo`` in its own data dir (default
``/tmp/jinjian-bench-ingest/base-<root>-<entities>-<days>``, reused when present).
Every measurement starts from a fresh copy of that data set, so the figures do not
depend on earlier runs. It prints:

1. file ingestion: ``Ingestor.ingest_file`` on generated CSV files (registrations
   with valid credit codes in real grids, inspections of loaded entities, and a
   registration file with 10 % bad rows): rows/s and where the time goes
   (read, field checks, grid list, lookups, transform, quarantine, stage, publish), and the
   raw baseline: the rows the file put into each table inserted as they are into a fresh copy
   (views feeding), with the ratio of the two rates (issue 20);
2. small batches as the live simulator sends them (5-record JSON lines per
   source): ms per batch, SQL statements per batch, and a cProfile of one batch;
3. API ingestion: the real app (``python app.py``) in a subprocess, one client
   posting JSON-lines bodies of 1, 100 and 5,000 complaints to
   ``POST /api/v1/ingest/complaint``: requests/s, rows/s, p50/p95 latency;
4. event-to-screen lag: the wall ``/`` open in headless Chromium; one registration
   posted through the API, then the time until the 市场主体总量 tile changes
   (target p95 ≤ 5 s).

A benchmark, not a test: it prints figures and asserts nothing. Everything is
offline (Debian's Chromium, no browser download).

    .venv/bin/python bench/ingest.py [--quick] [--root 4419 --entities 50000 --days 400]
                                     [--sections files,small,api,lag] [--samples 30]
    .venv/bin/python bench/ingest.py --root 44 --entities 200000 --days 800   # the default demo

Modules: ``bench/ingest_data.py`` (the data set, child processes, generated records),
``bench/ingest_files.py`` (sections 1 and 2), ``bench/ingest_api.py`` (sections 3 and 4).
"""
from __future__ import annotations

import argparse
import platform
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.ingest_api import App, api_throughput, screen_lag  # noqa: E402
from bench.ingest_data import (Records, base_dataset, fresh_copy, in_child, jsonl, load_avg,  # noqa: E402
                               now_stamp, survey, write_csv)
from bench.ingest_files import load_file, print_files, print_small, raw_insert, small_batches  # noqa: E402
from bench.stats import machine as cores_and_memory  # noqa: E402

DEFAULT_DIR = Path("/tmp/jinjian-bench-ingest")
SECTIONS = ("files", "small", "api", "lag")


# ---------------------------------------------------------------------------- machine
def machine() -> str:
    import chdb

    return f"machine: {cores_and_memory()}, {platform.machine()}, embedded chDB {chdb.__version__}; {load_avg()} at start"


# ---------------------------------------------------------------------------- main
def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", default="4419", help="demo root region (default 4419 Dongguan)")
    ap.add_argument("--entities", type=int, default=50_000)
    ap.add_argument("--days", type=int, default=400)
    ap.add_argument("--dir", type=Path, default=DEFAULT_DIR, help="benchmark data sets and run copies")
    ap.add_argument("--quick", action="store_true", help="small files, few repeats (a couple of minutes)")
    ap.add_argument("--sections", default=",".join(SECTIONS), help=f"comma-separated subset of {','.join(SECTIONS)}")
    ap.add_argument("--samples", type=int, default=None, help="event-to-screen samples (default 30; quick 8)")
    ap.add_argument("--keep", action="store_true", help="keep the run copies (data dirs, files, app log)")
    args = ap.parse_args()
    sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        ap.error(f"unknown sections {sorted(unknown)}")
    q = args.quick
    started = time.perf_counter()
    print(machine())
    base = base_dataset(args)
    info = in_child(base, survey, args.root)
    print(f"data set: root {args.root} {info['name']}, {len(info['codes']):,} entities "
          f"({sum(info['active']):,} active), {len(info['grids']):,} grids, {info['events']:,} events "
          f"({info['span'][0]}..{info['span'][1]}), {info['tasks']:,} tasks, {info['task_events']:,} task events; "
          f"{base}{'; --quick' if q else ''}")
    recs = Records(info)
    files_dir = args.dir / "files"
    files_dir.mkdir(parents=True, exist_ok=True)
    copies: list[Path] = []
    ok = False
    try:
        if "files" in sections:
            n_small, n_big = (1_000, 10_000) if q else (10_000, 100_000)
            plan = [(f"registration {n_small:,}", "registration", recs.registrations(n_small), 0.0),
                    (f"registration {n_big:,}", "registration", recs.registrations(n_big), 0.0),
                    (f"inspection {n_big:,}", "inspection", recs.inspections(n_big), 0.0),
                    (f"registration {n_small:,}, 10 % bad", "registration", recs.registrations(n_small), 0.1)]
            results = []
            for i, (label, source, rows, bad) in enumerate(plan):
                if bad:
                    recs.spoil(rows, bad)
                path = files_dir / f"{i}-{source}-{len(rows)}{'-bad' if bad else ''}.csv"
                write_csv(path, source, rows)
                warm = {"registration": jsonl(recs.registrations(1, stamp=now_stamp())),
                        "inspection": jsonl(recs.inspections(1))}
                copy = fresh_copy(base, f"file{i}")
                copies.append(copy)
                dump = files_dir / f"{i}-rows"
                dump.mkdir(exist_ok=True)
                result = in_child(copy, load_file, str(path), source, args.root, warm, str(dump))
                raw_copy = fresh_copy(base, f"raw{i}")
                copies.append(raw_copy)
                result["raw"] = in_child(raw_copy, raw_insert, str(dump))
                results.append((label, result))
                if not args.keep:
                    for c in (copy, raw_copy):
                        shutil.rmtree(c, ignore_errors=True)
            print_files(results)
        if "small" in sections:
            copy = fresh_copy(base, "small")
            copies.append(copy)
            print_small(in_child(copy, small_batches, args.root, 5 if q else 20, 5), 5)
        if "api" in sections or "lag" in sections:
            copy = fresh_copy(base, "app")
            copies.append(copy)
            app = App(copy, args.root)
            try:
                ready = app.wait_ready()
                print(f"app: python app.py on {app.url} (ready in {ready:.1f} s; embedded chDB on a fresh copy; "
                      "simulator, inbox and report scheduler off; log {})".format(app.log.name))
                if "api" in sections:
                    plan = [(1, 20), (100, 10), (5000, 2)] if q else [(1, 100), (100, 40), (5000, 8)]
                    api_throughput(app, recs, args.root, plan)
                if "lag" in sections:
                    screen_lag(app, recs, args.root, args.samples or (8 if q else 30))
            finally:
                app.stop()
        ok = True
    finally:
        if ok and not args.keep:
            for c in copies:
                shutil.rmtree(c, ignore_errors=True)
            shutil.rmtree(files_dir, ignore_errors=True)
    print(f"bench run time {time.perf_counter() - started:.0f} s; {load_avg()} at the end")
    return 0


if __name__ == "__main__":
    from store.db import run_command

    run_command(main)  # ends in order on every path (store/lifecycle.py)
