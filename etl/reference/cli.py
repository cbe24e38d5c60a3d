"""``python -m etl grids | boundaries | workers | departments | inspectors load FILE`` and
``python -m etl check``: a locality's own reference data (docs/onboarding.md)."""
from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

from settings import Settings

COMMANDS = ("grids", "boundaries", "workers", "departments", "inspectors", "check", "golive")
_KIND = {"grids": "grids", "workers": "grid_workers", "departments": "departments", "inspectors": "inspectors"}
_HELP = {
    "grids": "grids (网格): GeoJSON, Shapefile (zip), CSV/XLSX with WKT or lon/lat columns",
    "boundaries": "real town or village boundaries (镇街/村居边界): GeoJSON, Shapefile (zip), CSV/XLSX with WKT",
    "workers": "grid workers (网格员名录): CSV/XLSX",
    "departments": "departments (部门名录): CSV/XLSX",
    "inspectors": "inspectors for random inspections (执法人员名录): CSV/XLSX; departments loaded first",
}


def add_commands(sub: argparse._SubParsersAction) -> None:
    for name, text in _HELP.items():
        p = sub.add_parser(name, help=text)
        actions = p.add_subparsers(dest="action", required=True)
        load = actions.add_parser("load", help=f"load a file of {name}; it replaces the {name} of its region")
        load.add_argument("file", type=Path)
        load.add_argument("--region", default="", help="the region the file covers, CN for the whole country "
                          "(default: the narrowest region holding all its records); its old records are replaced")
        load.add_argument("--unit", default="", help="the sending unit")
        load.add_argument("--dry-run", action="store_true", help="check and show what would change; load nothing")
        if name in ("grids", "boundaries"):
            load.add_argument("--crs", choices=("wgs84", "gcj02"), default="wgs84",
                              help="coordinates: WGS-84/CGCS2000 (default) or GCJ-02 (converted to WGS-84)")
        if name == "boundaries":
            load.add_argument("--level", choices=("town", "village"), required=True)
    g = sub.add_parser("golive", help="go-live dates (上线日期): records dated before them load as history, no task")
    g.add_argument("action", choices=("set", "list"))
    g.add_argument("--region", default="", help="region code (set)")
    g.add_argument("--date", type=_date, default=None, help="YYYY-MM-DD (set; 1970-01-01 removes it)")
    c = sub.add_parser("check", help="say what a jurisdiction still lacks (grids, workers, departments, users, holidays)")
    c.add_argument("--region", default=None, help="region code (default JINJIAN_ROOT_REGION)")


def run_command(args: argparse.Namespace, settings: Settings) -> int:
    from store.schema import init_schema
    from store.db import get_db

    db = get_db()  # the process engine: closed in order by store.db.run_command
    init_schema(db)
    if args.cmd == "golive":
        return _golive(db, args)
    if args.cmd == "check":
        from etl.readiness import check, render

        region = settings.root_region if args.region is None else args.region
        findings = check(db, region, users=_users())
        print(render(findings, region))
        return 1 if any(f.severity == "missing" for f in findings) else 0
    from etl.reference.loader import NATIONAL, ReferenceLoader
    from domain.regions import validate_code

    loader = ReferenceLoader(db)
    loader.recover()
    if not args.file.is_file():
        print(f"error: {args.file} is not a file", file=sys.stderr)
        return 2
    if args.region not in ("", NATIONAL):
        validate_code(args.region)  # InvalidRegionCode: one line, exit status 2 (etl.__main__)
    kind = _KIND.get(args.cmd) or f"boundaries_{args.level}"
    res = loader.load_file(args.file, kind, scope=args.region, unit=args.unit, crs=getattr(args, "crs", "wgs84"),
                           dry_run=args.dry_run)
    where = f"region {res.region or 'CN'}"
    print(f"{args.file.name}: {res.summary()} ({where}, batch {res.batch_id[:12]}, {res.seconds:.1f} s)"
          + ("  [dry run: nothing loaded]" if args.dry_run else ""))
    for w in res.warnings:
        print(f"  warning: {w}")
    for p in sorted(res.problems, key=lambda p: p.row_no)[:20]:
        print(f"  row {p.row_no}: {p.field or '整行'}: {p.reason}")
    if len(res.problems) > 20:
        print(f"  … {len(res.problems) - 20} more problems")
    if res.removed:
        shown = "、".join(res.removed[:10]) + (" …" if len(res.removed) > 10 else "")
        print(f"  {'would remove' if args.dry_run else 'removed'} {len(res.removed)}: {shown}")
    if res.affected:
        print(f"entities on removed grids (they keep their grid code until re-assigned): {res.affected}")
    if res.report:
        print(f"rejection report: {res.report}")
    return 0 if res.state in ("loaded", "checked") else 1


def _users() -> list | None:
    try:
        from auth.audit import store

        return store().list_users()
    except Exception as exc:  # noqa: BLE001 - the metadata store is optional for the check
        print(f"warning: user accounts not checked: {exc}", file=sys.stderr)
        return None


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def _golive(db, args: argparse.Namespace) -> int:  # noqa: ANN001 - an engine
    from domain.regions import region_name, validate_code
    from etl.reference.golive import set_go_live
    from queries.golive import UNSET, go_live_dates

    if args.action == "set":
        if args.date is None or args.date > dt.date.today():
            print("error: golive set needs --date YYYY-MM-DD, not in the future", file=sys.stderr)
            return 2
        if args.region:
            validate_code(args.region)
        set_go_live(db, args.region, args.date)
        shown = "removed" if args.date == UNSET else str(args.date)
        print(f"go-live date of {args.region or 'CN'} ({region_name(args.region) or '全国'}): {shown}")
        return 0
    for code, day in sorted(go_live_dates(db).items()):
        print(f"{code or 'CN':15s} {region_name(code) or '':12s} {day}")
    return 0
