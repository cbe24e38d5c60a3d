"""Command line of periodic reports.

  python -m reports build --period weekly --date 2026-11-16 --region 4419 --out r.pdf [--xlsx r.xlsx]
  python -m reports build ... --server http://127.0.0.1:8050   # print via a running app
  python -m reports run-due [--now "2026-11-24 08:00"]          # cron: run due schedules once
  python -m reports schedules                                    # list schedules
  python -m reports runs                                         # list archived runs

Errors (bad region, future period, malformed date, missing Chromium, …) print one
line ``error: …`` on stderr, exit with status 2 and write no file.
"""
from __future__ import annotations

import argparse
import datetime as dt
import logging
import sys
import time
from pathlib import Path

from domain.errors import JinjianError
from queries.report_periods import KINDS
from settings import ConfigError, Settings, configure_logging
from supervision import check_settings

logger = logging.getLogger("reports")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m reports", description="金监 periodic reports (PDF / Excel)")
    p.add_argument("-v", "--verbose", action="store_true", help="log at JINJIAN_LOG_LEVEL instead of WARNING")
    sub = p.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="build one report")
    b.add_argument("--period", required=True, choices=list(KINDS), help="daily, weekly (ISO week), monthly, quarterly")
    b.add_argument("--date", required=True, help="any day in the period, YYYY-MM-DD")
    b.add_argument("--region", default=None, help="region code (default JINJIAN_ROOT_REGION)")
    b.add_argument("--out", type=Path, help="PDF file to write")
    b.add_argument("--xlsx", type=Path, help="Excel file of the report's tables to write")
    b.add_argument("--server", help="base URL of a running Jinjian app to print from (e.g. http://127.0.0.1:8050)")
    r = sub.add_parser("run-due", help="run the schedules that are due now, once")
    r.add_argument("--now", help="pretend it is this local time (YYYY-MM-DD HH:MM)")
    sub.add_parser("schedules", help="list report schedules")
    sub.add_parser("runs", help="list archived report runs")
    return p


def _message(exc: Exception) -> str:
    if isinstance(exc, JinjianError):
        user, detail = exc.user_message, exc.detail
        return user if detail in (user, "") else f"{user} ({detail})"
    return str(exc)


def _build(args: argparse.Namespace, settings: Settings) -> int:
    from store.db import get_db
    from store.filters import RegionScope
    from reports.build import Checked, check_request, render_pdf, write_atomic, xlsx_bytes
    from queries.report_periods import report_period

    if not args.out and not args.xlsx:
        raise ConfigError("nothing to write: give --out FILE.pdf and/or --xlsx FILE.xlsx")
    region = args.region or settings.root_region
    scope = RegionScope(settings.root_region)
    t0 = time.monotonic()
    if args.server and not args.xlsx:
        checked = Checked(region, region, report_period(args.period, args.date))  # the server checks the region
    else:
        checked = check_request(get_db(), region, args.period, args.date, scope)
    if args.out:
        from reports.pdf import shared_renderer
        from reports.server import stop_all

        server = None
        if not args.server:
            from app import create_app

            server = create_app().server
        try:
            pdf = render_pdf(server, checked.region, args.period, args.date, base_url=args.server, checked=checked)
        finally:
            shared_renderer().close()
            stop_all()
        write_atomic(args.out, pdf)
        print(f"{args.out}  {checked.region_name} {checked.period.title} {checked.period.label}  "
              f"{len(pdf):,} bytes")
    if args.xlsx:
        write_atomic(args.xlsx, xlsx_bytes(get_db(), checked, scope))
        print(f"{args.xlsx}")
    logger.info("built in %.1f s", time.monotonic() - t0)
    return 0


def _run_due(args: argparse.Namespace) -> int:
    from app import create_app
    from reports.pdf import shared_renderer
    from reports.scheduler import run_due
    from reports.server import stop_all

    now = None
    if args.now:
        try:
            now = dt.datetime.strptime(args.now.strip(), "%Y-%m-%d %H:%M")
        except ValueError:
            raise ConfigError(f"--now {args.now!r} is not YYYY-MM-DD HH:MM") from None
    try:
        runs = run_due(create_app().server, now=now)
    finally:
        shared_renderer().close()
        stop_all()
    for r in runs:
        print(f"run {r['id']}: {r['status']} {r['kind']} {r['region']} {r['period_key']} "
              f"{r.get('pdf_path') or r.get('error') or ''}")
    if not runs:
        print("nothing due")
    return 1 if any(r["status"] == "failed" for r in runs) else 0


def _list(command: str) -> int:
    from reports.config import ReportSettings
    from reports.store import ReportStore

    rs = ReportSettings.from_env()
    store = ReportStore(rs.metadata_url)
    if command == "schedules":
        store.sync_settings(rs.schedules)
        for s in store.list_schedules():
            print(f"{s.id:>4}  {s.kind:<9} {s.region:<15} {s.time_of_day}  "
                  f"{'enabled' if s.enabled else 'disabled':<8} {s.origin}")
        return 0
    for r in store.list_runs():
        print(f"{r['id']:>5}  {r['started_at']:%Y-%m-%d %H:%M}  {r['status']:<7} {r['kind']:<9} {r['region']:<15} "
              f"{r['period_key']:<16} {r.get('pdf_path') or r.get('error') or ''}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = Settings.from_env()
        check_settings()
        configure_logging(settings.log_level if args.verbose else "WARNING")
        if args.command == "build":
            return _build(args, settings)
        if args.command == "run-due":
            return _run_due(args)
        return _list(args.command)
    except (ConfigError, JinjianError) as exc:
        print(f"error: {_message(exc)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    from store.db import run_command

    run_command(main)
