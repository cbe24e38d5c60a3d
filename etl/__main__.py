"""Command line: ``python -m etl init | demo | status`` (ingestion: etl.ingest.cli;
grids, boundaries, workers, departments and ``check``: etl.reference.cli; users,
display tokens and the audit log: auth.cli).

Errors (bad settings, unreachable server, data already present) are printed as
one line on stderr with exit status 2, never as a traceback.
"""
from __future__ import annotations

import argparse
import datetime as dt
import logging
import sys
import time

from settings import ConfigError, Settings, configure_logging
from supervision import check_settings

logger = logging.getLogger("etl")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m etl", description="Jinjian data tools")
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("init", help="create the schema (idempotent) and load the region tree")
    d = sub.add_parser("demo", help="generate deterministic demo data")
    d.add_argument("--root", default="44", help="region code to fill (default 44 Guangdong; '' = country)")
    d.add_argument("--entities", type=int, default=200_000, help="number of market entities")
    d.add_argument("--days", type=int, default=800, help="days of event history (≥ 730 for YoY)")
    d.add_argument("--seed", type=int, default=20151, help="random seed")
    d.add_argument("--end-date", type=dt.date.fromisoformat, default=None,
                   help="last day of history (default today, ending now)")
    d.add_argument("--replace", action="store_true", help="drop existing data first")
    d.add_argument("--if-absent", action="store_true", help="do nothing when data is already loaded")
    sub.add_parser("status", help="print row counts")
    r = sub.add_parser("rollups", help="compare every rollup table with the raw rows, region by region "
                                       "(exit 1 when one differs)")
    how = r.add_mutually_exclusive_group(required=True)
    how.add_argument("--check", action="store_true", help="run the comparison")
    how.add_argument("--repair", action="store_true", help="add the differences to the rollups (run it while "
                                                           "no load is running), then compare")
    r.add_argument("--chunk-rows", type=int, default=None, help="rollup rows compared per query")
    from etl.ingest.cli import add_commands
    from etl.reference.cli import add_commands as add_reference_commands

    add_commands(sub)
    add_reference_commands(sub)
    from auth.cli import add_commands as add_auth_commands

    add_auth_commands(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from etl.load import DataPresent
    from domain.ingest_errors import IngestError
    from domain.regions import InvalidRegionCode
    from domain.errors import JinjianError

    try:
        settings = Settings.from_env()
        check_settings()
        configure_logging(settings.log_level if settings.log_level != "INFO" else "WARNING")
        return _run(args, settings)
    except (ConfigError, JinjianError) as exc:
        print(f"error: {getattr(exc, 'detail', None) or exc}", file=sys.stderr)
        return 2
    except IngestError as exc:
        print(f"error: {exc.user_message}", file=sys.stderr)
        return 2
    except (DataPresent, InvalidRegionCode) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace, settings: Settings) -> int:
    from auth.cli import COMMANDS as AUTH_COMMANDS

    if args.cmd in AUTH_COMMANDS:  # users, display tokens, audit: the metadata store only
        from auth.cli import run_command as run_auth_command

        return run_auth_command(args, settings)
    from etl.load import load_regions, prepare
    from store.schema import TABLES, init_schema, row_count
    from store.db import get_db

    if args.cmd in ("load", "inbox", "token", "batches"):
        from etl.ingest.cli import run_command

        return run_command(args, settings)
    from etl.reference.cli import COMMANDS as REFERENCE_COMMANDS

    if args.cmd in REFERENCE_COMMANDS:
        from etl.reference.cli import run_command as run_reference

        return run_reference(args, settings)
    db = get_db()  # the process engine: closed in order by store.db.run_command
    where = settings.clickhouse_url or str(settings.data_dir)
    if args.cmd == "init":
        init_schema(db)
        n = load_regions(db)
        print(f"schema ready in {where} ({len(TABLES)} tables); regions loaded: {n}")
        return 0
    if args.cmd == "rollups":
        return _check_rollups(db, args.chunk_rows, args.repair)
    if args.cmd == "status":
        init_schema(db)
        for table in TABLES:
            print(f"{table:14s} {row_count(db, table):>12,}")
        return 0
    # demo
    if args.end_date and args.end_date > dt.date.today():
        print(f"error: --end-date {args.end_date} lies in the future (demo data end when they are generated)",
              file=sys.stderr)
        return 2
    if args.if_absent:
        from store.schema import outdated_tables

        stale = outdated_tables(db)
        if stale and not row_count(db, "entities"):
            stale = {}
        if stale:
            # Demo data from an older schema is regenerated rather than queried wrongly.
            detail = "; ".join(f"{t} lacks {', '.join(c)}" for t, c in stale.items())
            print(f"demo data in {where} has an older schema ({detail}); regenerating")
            args.replace = True
        else:
            init_schema(db)
            if row_count(db, "entities"):
                print(f"demo data already present in {where}; nothing to do")
                return 0
    from etl.demo import DemoConfig
    from etl.demo_build import build_and_load

    now = dt.datetime.now().replace(microsecond=0)
    end_date = args.end_date or now.date()
    # Generated today, the demo ends now: nothing in it lies in the future.
    cfg = DemoConfig(root=args.root, entities=args.entities, days=args.days, seed=args.seed,
                     end_date=end_date, end_time=now.time() if end_date >= now.date() else None)
    t0 = time.perf_counter()
    prepare(db, replace=args.replace)
    counts = build_and_load(db, cfg)
    secs = time.perf_counter() - t0
    summary = ", ".join(f"{k} {v:,}" for k, v in counts.items())
    print(f"demo data for {cfg.root or 'CN'} ({cfg.start_date}..{cfg.end_date}) in {secs:.1f} s: {summary}")
    return 0


def _check_rollups(db, chunk_rows: int | None, repair: bool) -> int:  # noqa: ANN001 - an Engine
    from store.rollup_tables import VERIFY_CHUNK_ROWS, verify

    t0 = time.perf_counter()
    chunk_rows = max(1, chunk_rows or VERIFY_CHUNK_ROWS)
    if repair:
        fixed = verify(db, chunk_rows, repair=True)
        print(f"repaired: {sum(fixed.values()):,} keys in {sum(1 for n in fixed.values() if n)} tables")
    diffs = verify(db, chunk_rows)
    for table, n in diffs.items():
        print(f"{table:32s} {'exact' if n == 0 else f'{n:,} keys differ'}")
    bad = sum(1 for n in diffs.values() if n)
    print(f"{len(diffs)} rollup tables checked in {time.perf_counter() - t0:.1f} s: "
          + ("all equal the raw rows" if not bad else f"{bad} differ (python -m etl rollups --repair)"))
    return 1 if bad else 0


if __name__ == "__main__":
    from store.db import run_command

    run_command(main)
