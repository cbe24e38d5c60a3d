"""``python -m etl load | inbox | token | batches``: the ingestion commands."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from settings import Settings


def add_commands(sub: argparse._SubParsersAction) -> None:
    from domain.sources import SOURCES

    p = sub.add_parser("load", help="load department files (CSV, XLSX or JSON lines): one file, many, or folders")
    p.add_argument("file", type=Path, nargs="+", help="files or folders (walked; files load in name order)")
    p.add_argument("--source", required=True, choices=list(SOURCES), help="data source (docs/ingest.md)")
    p.add_argument("--unit", default="", help="name of the sending unit (shown on the data-quality page)")
    p.add_argument("--region", default="", help="the unit's region code; rows outside it are rejected")
    p.add_argument("--history", action="store_true",
                   help="the file is history (a bulk load of the past): it counts in every figure but pushes no task")
    p = sub.add_parser("inbox", help="load the files waiting in the inbox folder")
    p.add_argument("--watch", action="store_true", help="keep watching (server mode; in embedded mode the app does this)")
    p = sub.add_parser("token", help="ingestion API tokens: add, revoke, list")
    p.add_argument("action", choices=["add", "revoke", "list"])
    p.add_argument("--source", choices=list(SOURCES))
    p.add_argument("--unit", default="")
    p.add_argument("--region", default="")
    p.add_argument("--id", type=int, help="token id (revoke)")
    sub.add_parser("batches", help="list the latest ingestion batches")


def run_command(args: argparse.Namespace, settings: Settings) -> int:
    if args.cmd == "token":
        return _token(args)
    from etl.ingest.batch import Ingestor
    from store.schema import init_schema
    from store.db import get_db

    db = get_db()  # the process engine: closed in order by store.db.run_command
    init_schema(db)
    ing = Ingestor(db)
    ing.recover()
    if args.cmd == "load":
        return _load(ing, args)
    if args.cmd == "inbox":
        from etl.ingest.inbox import Inbox

        box = Inbox(ing)
        if args.watch:  # in a thread the process's end stops and waits for: a file being loaded finishes
            import threading

            from store import lifecycle

            stop = threading.Event()
            watcher = threading.Thread(target=box.watch, args=(stop,), name="jinjian-inbox", daemon=True)
            watcher.start()
            lifecycle.register("inbox watcher", stop.set, watcher)
            try:
                while watcher.is_alive():
                    # SIGTERM arrives in this thread: while it sleeps, not in a join (an interrupted
                    # join can leave the watcher marked as ended, and the end would not wait for it)
                    time.sleep(1.0)
            except lifecycle.Terminated:  # the normal way a watcher is stopped
                print("stopping: the file being loaded is finished first", file=sys.stderr)
            return 0
        for path, res in box.scan_once():
            print(f"{path.name}: {res.summary()}")
        return 0
    from store.executor import run

    df = run(db, "ingest_batch_list", """
        SELECT argMax(received_at, version) AS received_at, batch_id, argMax(source, version) AS source,
               argMax(toString(state), version) AS state, argMax(rows_in, version) AS rows_in,
               argMax(rows_loaded, version) AS loaded, argMax(rows_rejected, version) AS rejected,
               argMax(file_name, version) AS file_name
        FROM ingest_batches GROUP BY batch_id ORDER BY received_at DESC LIMIT 50""")
    print(df.assign(batch_id=df["batch_id"].str[:12]).to_string(index=False) if not df.empty else "no batches")
    return 0


def _load(ing, args: argparse.Namespace) -> int:
    from etl.ingest.bulk import PathProblem, collect, load_all

    try:
        files = collect(args.file)
    except PathProblem as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    part_bytes = min(ing.cfg.part_bytes, ing.cfg.max_bytes // 4)  # a part can grow to 3× its size: under the cap
    if len(files) > 1 or files[0].stat().st_size > part_bytes:  # many files, or one read in parts
        totals = load_all(ing, files, args.source, unit=args.unit, scope=args.region, history=args.history,
                          part_bytes=part_bytes)
        print(totals.summary())
        return 0 if totals.failed == 0 else 1
    return _load_one(ing, files[0], args)


def _load_one(ing, path: Path, args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from etl.ingest.raw import FileRejected

    with tqdm(desc=f"{path.name}", unit="row", disable=None) as bar:
        try:
            res = ing.ingest_file(path, args.source, unit=args.unit, scope=args.region, tick=bar.update,
                                  history=args.history)
        except FileRejected as exc:
            print(f"error: {exc.user_message}", file=sys.stderr)
            return 2
    print(f"{path.name}: {res.summary()} (batch {res.batch_id[:12]}, {res.seconds:.1f} s)")
    for w in res.warnings:
        print(f"  warning: {w}")
    for p in sorted(res.problems, key=lambda p: p.row_no)[:20]:
        print(f"  row {p.row_no}: {p.field or '整行'}: {p.reason}")
    if res.report:
        print(f"rejection report: {res.report}")
    return 0 if res.state == "loaded" else 1


def _token(args: argparse.Namespace) -> int:
    from etl.ingest.service import token_store

    store = token_store()
    if args.action == "add":
        if not args.source or not args.unit:
            print("error: token add needs --source and --unit", file=sys.stderr)
            return 2
        tid, token = store.add(args.source, args.unit, args.region)
        print(f"token {tid} for {args.source} / {args.unit} / region {args.region or 'all'}:\n{token}\n"
              "(shown once; keep it secret)")
        return 0
    if args.action == "revoke":
        if args.id is None:
            print("error: token revoke needs --id", file=sys.stderr)
            return 2
        ok = store.revoke(args.id)
        print(f"token {args.id} revoked" if ok else f"token {args.id} not found or already revoked")
        return 0 if ok else 1
    for t in store.list():
        print(f"{t.id:4d} {t.source:14s} {t.region or 'all':12s} {'active' if t.active else 'revoked':8s} {t.unit}")
    return 0
