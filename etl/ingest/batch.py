"""One ingestion batch, loaded entirely or not at all, at most once.

A batch is identified by the SHA-256 of its source, region and bytes, so sending the
same file or API body again finds the batch already loaded and changes nothing
(a file that failed as a whole — unreadable, too large — is simply tried again, and so
is one none of whose records was loaded, e.g. registrations sent before their grids).
Its protocol (docs/ingest.md):

1. the input is archived (``archive/<source>/<batch_id>.<ext>``) and the batch
   recorded as ``received``;
2. every record is read and checked; rejected records go to ``quarantine`` with
   row, field and reason, and a rejection report in the source's own format is
   written; valid rows go to the ``stage_*`` tables; the batch becomes
   ``staged`` (rows in = loaded + rejected is asserted here);
3. publish: each stage table is copied into its table by one server-side
   ``INSERT … SELECT``; rows that replace older versions (entity changes, task
   feedback) delete those versions; the batch becomes ``loaded`` and its stage
   partitions are dropped.

A crash leaves the batch ``received`` or ``staged``. The next load of the same
input — or :meth:`Ingestor.recover`, run when the app, the inbox or the CLI
starts — first removes what the interrupted attempt wrote (stage partitions and
quarantine rows, or the published rows tagged with its batch id) and then runs
the missing steps, so a retry leaves neither duplicates nor gaps.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pandas as pd

from store import batch_index
from etl import joint
from etl.ingest import lookups, raw, readers, rejects, transform
from etl.ingest.config import IngestSettings
from domain.errors import DatabaseUnavailable
from domain.sources import get_source
from etl.ingest.validate import Problem, check_fields
from store.rollup_tables import grids_of, reconcile
from store.rollups import families_of
from store.schema import SHARDED, STAGED_TABLES, declared_columns, stage_table
from queries import shapes
from queries.golive import go_live_dates
from store.engine import Engine
from store.executor import run
from store.sql import execute
from store.versions import forget_versions
from supervision.rules import TaskRules

logger = logging.getLogger(__name__)

#: One batch at a time per process: duplicate checks and publishing must not interleave.
LOCK = threading.RLock()
RAW_LIMIT = 4000  # characters of a rejected record kept in ``quarantine`` (the archive keeps all)
EXTENSIONS = {"csv": "csv", "xlsx": "xlsx", "jsonl": "jsonl"}
#: Upsert keys: a table whose new rows replace older rows with the same key.
REPLACE_KEYS = {"entities": "credit_code", "tasks": "task_id"}
#: The sources whose rows replace older versions, and in which tables.
REPLACING = {"change": ("entities",), "cancellation": ("entities",), "credit_list": ("entities",),
             "task_feedback": ("tasks",)}


@dataclass
class BatchResult:
    """What happened to one batch (also the API's answer)."""

    batch_id: str
    source: str
    state: str                      # loaded | failed
    rows_in: int = 0
    rows_loaded: int = 0
    rows_rejected: int = 0
    problems: list[Problem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    message: str = ""
    report: Path | None = None      # the rejection report, when rows were rejected
    already: bool = False           # the same input was loaded before: nothing changed
    seconds: float = 0.0

    def summary(self) -> str:
        if self.state == "failed":
            return f"文件未导入：{self.message}"
        text = f"共 {self.rows_in} 条：导入 {self.rows_loaded} 条，退回 {self.rows_rejected} 条"
        return text + ("（该批次此前已导入，本次未作改动）" if self.already else "")


def batch_id_for(source: str, data: bytes, scope: str = "", history: bool = False, line_offset: int = 0) -> str:
    """The batch's identity: its source, the region it is checked against, whether it is
    loaded as history, where its lines start in their file (a part of a large file), and
    its bytes."""
    mark = ("history\0" if history else "") + (f"lines+{line_offset}\0" if line_offset else "")
    return hashlib.sha256(f"{source}\0{scope}\0{mark}".encode() + data).hexdigest()


def wait_mutations(db: Engine, table: str, timeout: float = 120.0) -> None:
    """Block until the table's ALTER … DELETE mutations are done (18.16 has no mutations_sync)."""
    deadline = time.monotonic() + timeout
    while True:
        n = int(run(db, "ingest_mutations_pending", "SELECT count() AS n FROM system.mutations WHERE "
                    "database = %(db)s AND table = %(t)s AND is_done = 0", {"db": db.database, "t": table})["n"].iloc[0])
        if n == 0:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"mutations on {table} still running after {timeout:.0f} s")
        time.sleep(0.05)


def delete_rows(db: Engine, table: str, where: str, params: dict) -> None:
    """Delete rows by mutation; on a cluster, on every shard's local table (18.16 cannot
    alter a Distributed table, and ON CLUSTER needs ZooKeeper)."""
    sharded = table in SHARDED or table in batch_index.TABLES
    targets = [(s, f"{table}_local") for s in db.shards()] if db.cluster and sharded else [(db, table)]
    for engine, name in targets:
        execute(engine, f"ingest_delete_{table}", f"ALTER TABLE {name} DELETE WHERE {where}", params)
    replicas = bool(db.cluster and sharded and db.replicated)  # every replica that answers, before a read
    for engine, name in [(n, f"{table}_local") for g in db.nodes() for n in g] if replicas else targets:
        try:
            wait_mutations(engine, name)
        except DatabaseUnavailable:
            if not replicas:
                raise  # (a replica that is down applies it when it is back)
    for copy in batch_index.copies_of(table):  # the sorted copies lose the same rows
        delete_rows(db, copy, where, params)


def record_state(db: Engine, table: str, info: dict, state: str, **changes: object) -> dict:
    """Append a batch's new state (``info`` updated with ``changes``) to ``table``
    (``ingest_batches`` or ``reference_batches``: the newest ``version`` is the state);
    a finished batch gets its finishing time. Returns the row written."""
    row = {**info, **changes, "state": state, "version": time.time_ns()}
    if state in ("loaded", "failed"):
        row["finished_at"] = pd.Timestamp(dt.datetime.now().replace(microsecond=0))
    db.insert(table, pd.DataFrame([row]))
    return row


def nothing_loaded(info: dict) -> bool:
    """A loaded batch none of whose records was loaded: sending it again checks it again,
    since reference data it was checked against (grids, entities) may have arrived since."""
    return int(info["rows_loaded"]) == 0 and int(info["rows_in"]) > 0


def _task_warnings(db: Engine, frames: transform.Frames) -> list[str]:
    """Records loaded as history (no task pushed); what the pushed tasks lack: a responsible
    department, a grid worker."""
    out = [f"{frames.history} 条记录早于上线日期或按历史数据导入，计入统计，不推送任务"] if frames.history else []
    if not frames.rows("tasks"):
        return out
    tasks = frames.tables["tasks"]
    unrouted = int((tasks["dept_id"] == "").sum())
    if unrouted:
        out.append(f"{unrouted} 件任务未找到负责部门：请先导入本辖区的部门名录")
    staffed = lookups.staffed_grids(db)
    if staffed:  # a locality that loaded grid workers: say which tasks reach a grid without one
        bare = int((~tasks["grid_code"].isin(staffed)).sum())
        if bare:
            out.append(f"{bare} 件任务推送到尚无网格员的网格")
    return out


class Ingestor:
    """Loads batches into one database (embedded chDB or a server)."""

    def __init__(self, db: Engine, cfg: IngestSettings | None = None, rules: TaskRules | None = None) -> None:
        self.db = db
        self.cfg = cfg or IngestSettings.from_env()
        self.rules = rules or TaskRules.from_env()

    # ------------------------------------------------------------------ entry points
    def ingest_file(self, path: str | Path, source: str, **kw: object) -> BatchResult:
        path = Path(path)
        return self.ingest_bytes(source, path.read_bytes(), file_name=path.name, **kw)  # type: ignore[arg-type]

    def ingest_bytes(self, source: str, data: bytes, *, file_name: str, unit: str = "", scope: str = "",
                     fmt: str | None = None, tick: Callable[[int], None] | None = None,
                     history: bool = False, line_offset: int = 0) -> BatchResult:
        """Load one batch; the same source and bytes again is a no-op returning the first outcome.
        ``history``: every record is history (a bulk load of the past): no task is pushed.
        ``line_offset``: ``data`` is a part of a larger file (:mod:`etl.ingest.parts`); its
        records keep their line numbers in that file."""
        src = get_source(source)
        fmt = fmt or readers.detect_format(file_name)
        batch_id = batch_id_for(src.id, data, scope, history, line_offset)
        load = (src.id, batch_id, data, file_name, fmt, unit, scope, tick, history, line_offset)
        t0 = time.perf_counter()
        with LOCK, self.db.pinned():  # the stage tables are one server's: a lost server fails the load
            prior = self.state(batch_id)
            if prior is not None and prior["state"] == "loaded" and nothing_loaded(prior):
                self._unstage(batch_id)  # it loaded no record: check it again (grids may exist now)
                res = self._load(*load)
            elif prior is not None and prior["state"] == "loaded":
                res = self._stored_result(prior)
            elif prior is not None and prior["state"] == "staged":
                self._unpublish(batch_id)
                if self._staged_here(batch_id, prior):
                    self._publish(batch_id, prior)
                    res = self._stored_result(self.state(batch_id), already=False)
                else:  # staged on a cluster server since lost: again from its bytes
                    self._unstage(batch_id)
                    res = self._load(*load)
            else:
                if prior is not None and prior["state"] != "failed":  # a failed file wrote nothing: just retry
                    self._unstage(batch_id)
                res = self._load(*load)
            if src.id == "credit_list" and res.state == "loaded":  # 联合惩戒 at once (again if sent again)
                res.warnings.extend(joint.cases_for_batch(self.db, res.batch_id, history))
        res.seconds = time.perf_counter() - t0
        logger.info("ingest %s %s (%s): %s in %.2f s", src.id, file_name, batch_id[:12], res.summary(), res.seconds)
        return res

    def recover(self) -> list[BatchResult]:
        """Finish every batch an earlier process left ``received`` or ``staged``."""
        lookups.drop_key_tables(self.db)
        pending = run(self.db, "ingest_unfinished", """
            SELECT batch_id, argMax(toString(state), version) AS state, argMax(source, version) AS source,
                   argMax(file_name, version) AS file_name, argMax(fmt, version) AS fmt,
                   argMax(unit, version) AS unit, argMax(region_code, version) AS region_code,
                   argMax(history, version) AS history, argMax(line_offset, version) AS line_offset
            FROM ingest_batches GROUP BY batch_id HAVING state IN ('received', 'staged')""")
        out = []
        for r in pending.itertuples(index=False):
            path = self.archive_path(r.source, r.batch_id, r.fmt)
            if not path.exists():
                logger.error("batch %s cannot be recovered: archived input %s is missing", r.batch_id, path)
                continue
            logger.warning("recovering interrupted batch %s (%s, %s)", r.batch_id[:12], r.source, r.state)
            out.append(self.ingest_bytes(r.source, path.read_bytes(), file_name=r.file_name, fmt=r.fmt,
                                         unit=r.unit, scope=r.region_code, history=bool(r.history),
                                         line_offset=int(r.line_offset)))
        return out

    # ------------------------------------------------------------------ bookkeeping
    def state(self, batch_id: str) -> dict | None:
        df = run(self.db, "ingest_batch_state", """
            SELECT batch_id, source, unit, region_code, file_name, fmt, encoding, received_at, finished_at,
                   toString(state) AS state, rows_in, rows_loaded, rows_rejected, data_from, data_to, message,
                   version, history, line_offset
            FROM ingest_batches WHERE batch_id = %(b)s ORDER BY version DESC LIMIT 1""", {"b": batch_id})
        return None if df.empty else df.iloc[0].to_dict()

    def _record(self, info: dict, state: str, **changes: object) -> dict:
        return record_state(self.db, "ingest_batches", info, state, **changes)

    def archive_path(self, source: str, batch_id: str, fmt: str) -> Path:
        return self.cfg.ingest_dir / "archive" / source / f"{batch_id}.{EXTENSIONS.get(fmt, 'dat')}"

    def report_path(self, info: dict) -> Path:
        return self.cfg.ingest_dir / "reports" / info["source"] / f"{info['batch_id']}.{EXTENSIONS.get(info['fmt'], 'dat')}"

    def _stored_result(self, info: dict, already: bool = True) -> BatchResult:
        report = self.report_path(info) if info["fmt"] in EXTENSIONS else None
        return BatchResult(info["batch_id"], info["source"], info["state"], int(info["rows_in"]),
                           int(info["rows_loaded"]), int(info["rows_rejected"]), message=info["message"],
                           report=report if report and report.exists() else None, already=already)

    # ------------------------------------------------------------------ the steps
    def _load(self, source: str, batch_id: str, data: bytes, file_name: str, fmt: str, unit: str, scope: str,
              tick: Callable[[int], None] | None, history: bool = False, line_offset: int = 0) -> BatchResult:
        src = get_source(source)
        now = dt.datetime.now().replace(microsecond=0)
        archive = self.archive_path(source, batch_id, fmt)
        if not archive.exists():
            archive.parent.mkdir(parents=True, exist_ok=True)
            tmp = archive.with_suffix(".part")
            tmp.write_bytes(data)
            os.replace(tmp, archive)
        epoch = pd.Timestamp("1970-01-01 00:00:00")
        info = self._record({
            "batch_id": batch_id, "source": source, "unit": unit, "region_code": scope, "file_name": file_name[:200],
            "fmt": fmt, "encoding": "", "received_at": pd.Timestamp(now), "finished_at": epoch, "rows_in": 0,
            "rows_loaded": 0, "rows_rejected": 0, "data_from": epoch, "data_to": epoch, "message": "",
            "history": int(history), "line_offset": line_offset}, "received")
        try:
            table = readers.read_bytes(data, fmt, max_bytes=self.cfg.max_bytes, line_offset=line_offset)
        except raw.FileRejected as exc:
            self._record(info, "failed", message=exc.user_message)
            return BatchResult(batch_id, source, "failed", message=exc.user_message)
        info["encoding"] = table.encoding
        checked = check_fields(src, table, now=now, grids=lookups.known_grids(self.db), scope=scope, tick=tick)
        found = lookups.check_loaded(self.db, src, checked, scope, self.rules)
        found["departments"] = lookups.departments(self.db)
        if src.id == "registration" and not checked.rows.empty:
            shapes.sync_boundaries(self.db)
            found["grid_shapes"] = shapes.grid_shapes_of(self.db, checked.rows["grid_code"].unique().tolist())
        go_live = go_live_dates(self.db)
        frames = transform.build(src, checked.rows, found, batch_id, now, self.rules, history=history, go_live=go_live)
        checked.warnings.extend(_task_warnings(self.db, frames))
        loaded, rejected = len(checked.rows), checked.rejected_rows
        if loaded + rejected != table.rows_in:  # the invariant: nothing is lost
            raise AssertionError(f"batch {batch_id}: {table.rows_in} in != {loaded} loaded + {rejected} rejected")
        report = self._quarantine(info, table, checked.problems)
        times = checked.rows["event_time"] if loaded else pd.Series([], dtype="datetime64[ns]")
        self._stage(batch_id, frames)
        message = "；".join(checked.warnings)
        info = self._record(info, "staged", rows_in=table.rows_in, rows_loaded=loaded, rows_rejected=rejected,
                            data_from=pd.Timestamp(times.min()) if loaded else epoch,
                            data_to=pd.Timestamp(times.max()) if loaded else epoch, message=message)
        self._publish(batch_id, info, frames.replaces, [t for t in STAGED_TABLES if frames.rows(t)])
        return BatchResult(batch_id, source, "loaded", table.rows_in, loaded, rejected, checked.problems,
                           checked.warnings, message, report)

    def _quarantine(self, info: dict, table: raw.RawTable, problems: list[Problem]) -> Path | None:
        if not problems:
            return None
        raw = table.raw_texts([p.row_no for p in problems])
        self.db.insert("quarantine", pd.DataFrame({
            "batch_id": info["batch_id"], "source": info["source"], "region_code": info["region_code"],
            "received_at": info["received_at"], "row_no": [p.row_no for p in problems],
            "field": [p.field for p in problems], "reason_code": [p.code for p in problems],
            "reason": [p.reason for p in problems],
            "raw": [raw.get(p.row_no, "")[:RAW_LIMIT] for p in problems]}).astype({"row_no": "uint32"}))
        by_row: dict[int, list[tuple[str, str]]] = {}
        for p in problems:
            if p.code != "unparsable":  # write_rejects adds the unparsed records itself
                by_row.setdefault(p.row_no, []).append((p.field, p.reason))
        return rejects.write_rejects(table, by_row, self.report_path(info))

    def _stage(self, batch_id: str, frames: transform.Frames) -> None:
        for name in STAGED_TABLES:
            df = frames.tables.get(name)
            if df is not None and not df.empty:
                self.db.insert(stage_table(name), df)
                if self.cfg.crash_at == "stage":
                    logger.critical("JINJIAN_INGEST_CRASH_AT=stage: exiting in the middle of batch %s", batch_id)
                    os._exit(75)

    def _publish(self, batch_id: str, info: dict, replaces: dict[str, list[str]] | None = None,
                 tables: list[str] | None = None) -> None:
        """Copy the staged rows into their tables (``tables``: those with rows; None: all)."""
        tables = list(STAGED_TABLES) if tables is None else tables
        if replaces is None:  # resuming: the replaced keys are the staged rows' keys
            replaces = {t: list(run(self.db, "ingest_staged_keys", f"SELECT {REPLACE_KEYS[t]} AS k FROM "
                                    f"{stage_table(t)} WHERE batch_id = %(b)s", {"b": batch_id})["k"])
                        for t in REPLACING.get(info["source"], ())}
        for name in tables:
            cols = ", ".join(declared_columns(name))
            execute(self.db, f"ingest_publish_{name}", f"INSERT INTO {name} ({cols}) SELECT {cols} "
                    f"FROM {stage_table(name)} WHERE batch_id = %(b)s", {"b": batch_id})
            if self.cfg.crash_at == "publish":
                logger.critical("JINJIAN_INGEST_CRASH_AT=publish: exiting in the middle of batch %s", batch_id)
                os._exit(75)
        for table, keys in replaces.items():
            touched: set[str] = set()
            for i in range(0, len(keys), lookups.CHUNK):
                where, params = (f"{REPLACE_KEYS[table]} IN %(keys)s AND batch_id != %(b)s",
                                 {"keys": tuple(keys[i:i + lookups.CHUNK]), "b": batch_id})
                if families_of(table):  # the old versions' grids (from the copy sorted by the key)
                    touched |= grids_of(self.db, batch_index.sorted_copy(table, REPLACE_KEYS[table]),
                                        f"{REPLACE_KEYS[table]} IN %(keys)s",
                                        {"keys": params["keys"]})
                delete_rows(self.db, table, where, params)
            if touched:
                reconcile(self.db, table, touched)
        self._record(info, "loaded")
        self._drop_stage(batch_id, tables)
        forget_versions()  # (region nodes are the tree of regions only: a batch leaves them as they are)

    def _staged_here(self, batch_id: str, info: dict) -> bool:
        """Whether this server's stage holds the batch (one key per loaded record). A batch
        staged on a cluster server since lost is not here: it is loaded again from its bytes."""
        n = int(run(self.db, "ingest_staged_here", "SELECT count() AS n FROM stage_ingest_keys WHERE batch_id = %(b)s",
                    {"b": batch_id})["n"].iloc[0])
        if n != int(info["rows_loaded"]):
            logger.warning("batch %s: %d of %d staged records on this server; loading it again", batch_id[:12], n,
                           int(info["rows_loaded"]))
        return n == int(info["rows_loaded"])

    def _drop_stage(self, batch_id: str, tables: list[str] | tuple[str, ...] = STAGED_TABLES) -> None:
        for name in tables:
            execute(self.db, f"ingest_drop_stage_{name}", f"ALTER TABLE {stage_table(name)} DROP PARTITION %(b)s",
                    {"b": batch_id})

    def _unstage(self, batch_id: str) -> None:
        """Undo an attempt that crashed before ``staged``: stage rows and quarantine rows."""
        self._drop_stage(batch_id)
        n = run(self.db, "ingest_quarantined", "SELECT count() AS n FROM quarantine WHERE batch_id = %(b)s",
                {"b": batch_id})["n"].iloc[0]
        if int(n):
            delete_rows(self.db, "quarantine", "batch_id = %(b)s", {"b": batch_id})

    def _unpublish(self, batch_id: str) -> None:
        """Undo an attempt that crashed while publishing: every row tagged with the batch."""
        for name in STAGED_TABLES:
            n = run(self.db, "ingest_published", f"SELECT count() AS n FROM {name} WHERE batch_id = %(b)s",
                    {"b": batch_id})["n"].iloc[0]
            if int(n):
                touched = grids_of(self.db, name, "batch_id = %(b)s", {"b": batch_id}) if families_of(name) else set()
                delete_rows(self.db, name, "batch_id = %(b)s", {"b": batch_id})  # and its copies
                if touched:
                    reconcile(self.db, name, touched)
