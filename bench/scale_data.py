"""Section 1 of ``bench/scale.py``: the data at the requested scale (reused when the
database already holds it, else generated chunk by chunk by ``bench/scale_gen.py``),
its generation figures, today's risk snapshot and the database's size on disk."""
from __future__ import annotations

import argparse
import datetime as dt
import json
import time
from typing import Any

from bench.scale_probe import say
from bench.stats import md_table


# ============================================================================ section 1: data
def table_counts(db: Any, tables: tuple[str, ...]) -> dict[str, int]:
    from store.schema import row_count

    return {t: row_count(db, t) for t in tables}


def present_scale(db: Any, args: argparse.Namespace) -> dict[str, Any] | None:
    """The load_log entry of this scale if the database holds it."""
    from store.schema import outdated_tables, row_count
    from store.executor import run

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
            or note.get("days") != args.days or note.get("activity", 1.0) != args.activity):
        return None
    if row_count(db, "entities") < args.entities:  # the ingest section adds some
        return None
    stale = outdated_tables(db)
    if stale:
        say(f"  data present but the schema changed since ({', '.join(stale)}): regenerating")
        return None
    note["loaded_at"] = str(row["loaded_at"])
    return note


def wipe(db: Any) -> None:
    """Drop every table and view of the scratch database."""
    from store.executor import run
    from store.sql import execute

    objs = run(db, "bench_tables", "SELECT name, engine FROM system.tables WHERE database = %(db)s",
               {"db": db.database})
    views = objs[objs["engine"].isin(["MaterializedView", "View"])]["name"].tolist()
    for name in views + [n for n in objs["name"] if n not in views]:
        if not name.startswith(".inner"):
            execute(db, "bench_drop", f"DROP TABLE IF EXISTS {name}")


def ensure_data(db: Any, args: argparse.Namespace) -> dict[str, Any]:
    from bench.scale_gen import LOG_KIND, config, generate_and_load, peak_rss_mb
    from etl.load import load_regions, record_load
    from store.schema import init_schema

    t = time.perf_counter()
    init_schema(db)  # idempotent: adds tables (and rollups) a newer schema declares
    say(f"etl init on the data present: {time.perf_counter() - t:.1f} s (builds what a newer schema declares)")
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
    stats = generate_and_load(db, cfg, args.chunk, args.activity, say=say)
    stats.add("regions (NBS tree)", n_regions, regions_s)
    note = {"entities": args.entities, "chunk": args.chunk, "days": args.days, "activity": args.activity,
            "end_date": end.isoformat(), "stats": json.loads(stats.to_json()), "wall_s": time.perf_counter() - t0,
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
    say("rollups: filled by their materialized views during the inserts (store/rollups.py); sizes below are rows "
        "as stored, merges still to come included")
    ent = max(counts.get("entities", 0), 1)
    say(f"events per entity: {counts.get('events', 0) / ent:.2f} (demo rates × --activity {note.get('activity', 1.0):g} "
        f"over {note['days']} days); tasks per entity {counts.get('tasks', 0) / ent:.2f}, task events per entity "
        f"{counts.get('task_events', 0) / ent:.2f}")
    from store import batch_index
    from store.rollups import rollup_tables

    sizes = {t: _count(db, t) for t in [*rollup_tables(), *batch_index.TABLES]}
    say("rollup and index tables: " + ", ".join(f"{t} {n:,}" for t, n in sizes.items()))


def ensure_risk_snapshot(db: Any, root: str) -> None:
    """Today's risk snapshot of the jurisdiction (queries/risk_snapshots.py), built unless current."""
    from queries import risk_snapshots as rs
    from supervision.risk import RiskRules

    rules, today = RiskRules.from_env(), dt.date.today()
    rs.clear_cache()
    if not rs.due(db, root, today, rules):
        say(f"risk snapshot: current one reused ({rs.usable(db, root, today, rules)})")
        return
    t = time.perf_counter()
    snap = rs.build(db, root, today, rules)
    from store.executor import run

    n = int(run(db, "bench_snapshot_size", "SELECT count() AS n FROM risk_scores WHERE snapshot_id = %(s)s",
                {"s": snap.id})["n"].iloc[0])
    say(f"risk snapshot: {n:,} entities scored in {time.perf_counter() - t:.1f} s (snapshot {snap.id}); the "
        f"refresher does this in the background when data changed, at most every "
        f"{rs.snapshot_seconds():g} s")


def _count(db: Any, table: str) -> int:
    from store.executor import run

    return int(run(db, "bench_count", f"SELECT count() AS n FROM {table}")["n"].iloc[0])


def disk_mb(db: Any) -> float | None:
    from store.executor import run

    try:
        df = run(db, "bench_disk", "SELECT sum(bytes) AS b FROM system.parts WHERE database = %(db)s AND active",
                 {"db": db.database})
        return float(df["b"].iloc[0]) / 1024 / 1024
    except Exception:  # noqa: BLE001
        return None
