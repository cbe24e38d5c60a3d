"""Loading one reference file (grids, boundaries, grid workers, departments, inspectors): all or
nothing, at most once, re-loadable, with the same protocol as ingestion batches
(:mod:`etl.ingest.batch`, docs/onboarding.md):

1. the file is archived and the batch recorded ``received`` in ``reference_batches``
   (its id: SHA-256 of kind, region, coordinate system and bytes — the same file again
   changes nothing, unless none of its records was loaded: then it is checked again);
2. every record is checked (:mod:`etl.reference.checks`); rejected ones go to
   ``reference_rejects`` and a rejection report in the file's own format; the rows
   each table receives go to stage tables (``ref_stage_<batch>_<table>``), and the
   batch becomes ``staged`` with its region;
3. publish: a file is the whole reference of its region (``--region``, else the
   narrowest region holding all its records): each table's rows under that region are
   deleted and the staged rows inserted; the batch becomes ``loaded``.

A record that is rejected but already loaded keeps its loaded version (carried into the
stage), so a broken polygon in a new version never removes a grid. Grids, workers and
departments that the new version leaves out are removed, and the outcome lists them
with the entities and open tasks on each removed grid (a CSV beside the rejection
report): nothing moves silently. A crash leaves the batch ``received`` (redone from the
archive) or ``staged`` (published again: delete + insert is idempotent).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from domain.cells import csv_safe
from etl.ingest import lookups, rejects
from etl.ingest.batch import LOCK, delete_rows, nothing_loaded, record_state
from etl.ingest.raw import FileRejected, RawTable
from etl.ingest.config import IngestSettings
from etl.ingest.validate import Problem
from etl.reference import checks, geofiles, geometry
from etl.reference.kinds import KINDS, Kind
from domain.regions import LEVEL_LENGTHS
from queries import shapes
from store.engine import Engine
from store.executor import run
from store.sql import execute
from store.versions import forget_versions

logger = logging.getLogger(__name__)

EXT = {"geojson": "geojson", "shp": "zip", "csv": "csv", "xlsx": "xlsx", "jsonl": "jsonl"}
CRS = ("wgs84", "gcj02")


@dataclass
class RefResult:
    """What happened to one reference file."""

    batch_id: str
    kind: str
    state: str                      # loaded | failed | checked (dry run)
    rows_in: int = 0
    rows_loaded: int = 0
    rows_rejected: int = 0
    region: str = ""                # the region the file replaced
    problems: list[Problem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    message: str = ""
    report: Path | None = None
    removed: list[str] = field(default_factory=list)   # keys the new version left out
    affected: Path | None = None    # CSV of the entities on removed grids
    already: bool = False
    seconds: float = 0.0

    def summary(self) -> str:
        if self.state == "failed":
            return f"文件未导入：{self.message}"
        text = f"共 {self.rows_in} 条：{'可导入' if self.state == 'checked' else '导入'} {self.rows_loaded} 条，" \
               f"退回 {self.rows_rejected} 条"
        if self.removed:
            text += f"；{'将' if self.state == 'checked' else '已'}移除 {len(self.removed)} 条原有记录"
        return text + ("（该文件此前已导入，本次未作改动）" if self.already else "")


def batch_id_for(kind: str, data: bytes, scope: str, crs: str) -> str:
    return hashlib.sha256(f"ref\0{kind}\0{scope}\0{crs}\0".encode() + data).hexdigest()


#: ``--region CN``: a file that is the reference of the whole country (a national deployment).
NATIONAL = "CN"


def _scope_of(codes: pd.Series) -> str:
    """The narrowest region (2/4/6/9/12 digits) holding every code ('' when they span provinces)."""
    codes = [c for c in codes.astype(str) if c]
    common = os.path.commonprefix(codes) if codes else ""
    fits = [n for n in LEVEL_LENGTHS.values() if n <= min(len(common), 12)]
    return common[:max(fits)] if fits else ""


def _like(region: str) -> str:
    """The LIKE pattern of a region ('CN': every code)."""
    return ("" if region == NATIONAL else region) + "%"


class ReferenceLoader:
    """Loads reference files into one database."""

    def __init__(self, db: Engine, cfg: IngestSettings | None = None) -> None:
        self.db = db
        self.cfg = cfg or IngestSettings.from_env()

    def load_file(self, path: str | Path, kind: str, **kw: object) -> RefResult:
        path = Path(path)
        return self.load_bytes(kind, path.read_bytes(), file_name=path.name, **kw)  # type: ignore[arg-type]

    def load_bytes(self, kind: str, data: bytes, *, file_name: str, unit: str = "", scope: str = "",
                   crs: str = "wgs84", fmt: str | None = None, dry_run: bool = False) -> RefResult:
        k = KINDS[kind]
        if crs not in CRS:
            raise ValueError(f"crs must be one of {CRS}")
        fmt = fmt or geofiles.detect_reference_format(file_name)
        batch_id = batch_id_for(kind, data, scope, crs)
        t0 = time.perf_counter()
        with LOCK, self.db.pinned():  # the stage tables are one server's: a lost server fails the load
            prior = self.state(batch_id)
            if dry_run:
                res = self._check(k, batch_id, data, fmt, scope, crs, None)
            elif prior is not None and prior["state"] == "loaded" and not nothing_loaded(prior):
                res = self._stored(prior, already=True)
            elif prior is not None and prior["state"] == "staged" and self._staged_here(k, batch_id):
                self._publish(k, prior)
                res = self._stored(self.state(batch_id))
            else:
                if prior is not None:
                    self._unstage(k, batch_id)
                res = self._check(k, batch_id, data, fmt, scope, crs,
                                  {"file_name": file_name[:200], "unit": unit, "data": data})
        res.seconds = time.perf_counter() - t0
        logger.info("reference %s %s (%s): %s in %.2f s", kind, file_name, batch_id[:12], res.summary(), res.seconds)
        return res

    def recover(self) -> list[RefResult]:
        """Finish every reference batch an earlier process left ``received`` or ``staged``."""
        pending = run(self.db, "reference_unfinished", """
            SELECT batch_id, argMax(toString(state), version) AS state, argMax(kind, version) AS kind,
                   argMax(file_name, version) AS file_name, argMax(fmt, version) AS fmt,
                   argMax(unit, version) AS unit, argMax(region_code, version) AS region_code,
                   argMax(message, version) AS message
            FROM reference_batches GROUP BY batch_id HAVING state IN ('received', 'staged')""")
        self._sweep_stages(set(pending.loc[pending["state"] == "staged", "batch_id"].str[:16]))
        out = []
        for r in pending.itertuples(index=False):
            path = self.archive_path(r.kind, r.batch_id, r.fmt)
            if r.state == "received" and not path.exists():
                logger.error("reference batch %s cannot be recovered: %s is missing", r.batch_id, path)
                continue
            logger.warning("recovering interrupted reference batch %s (%s, %s)", r.batch_id[:12], r.kind, r.state)
            crs = r.message.split("crs=", 1)[-1][:6] if "crs=" in r.message else "wgs84"
            scope = r.region_code if r.state == "received" else ""
            if r.state == "staged" and not self._staged_here(KINDS[r.kind], r.batch_id) and path.exists():
                scope = r.region_code  # staged on a server since lost: loaded again from the archive
                out.append(self.load_bytes(r.kind, path.read_bytes(), file_name=r.file_name, unit=r.unit,
                                           scope=scope, crs=crs, fmt=r.fmt))
            elif r.state == "staged":
                self._publish(KINDS[r.kind], self.state(r.batch_id))
                out.append(self._stored(self.state(r.batch_id)))
            else:
                out.append(self.load_bytes(r.kind, path.read_bytes(), file_name=r.file_name, unit=r.unit,
                                           scope=scope, crs=crs, fmt=r.fmt))
        return out

    # ------------------------------------------------------------------ bookkeeping
    def state(self, batch_id: str) -> dict | None:
        df = run(self.db, "reference_batch_state", """
            SELECT batch_id, kind, unit, region_code, file_name, fmt, encoding, received_at, finished_at,
                   toString(state) AS state, rows_in, rows_loaded, rows_rejected, message, version
            FROM reference_batches WHERE batch_id = %(b)s ORDER BY version DESC LIMIT 1""", {"b": batch_id})
        return None if df.empty else df.iloc[0].to_dict()

    def _record(self, info: dict, state: str, **changes: object) -> dict:
        return record_state(self.db, "reference_batches", info, state, **changes)

    def archive_path(self, kind: str, batch_id: str, fmt: str) -> Path:
        return self.cfg.ingest_dir / "archive" / "reference" / kind / f"{batch_id}.{EXT.get(fmt, 'dat')}"

    def report_path(self, kind: str, batch_id: str, fmt: str, suffix: str = "") -> Path:
        ext = "geojson" if fmt in ("geojson", "shp") else EXT.get(fmt, "dat")
        return self.cfg.ingest_dir / "reports" / "reference" / kind / f"{batch_id}{suffix}.{ext if not suffix else 'csv'}"

    def _stored(self, info: dict, already: bool = False) -> RefResult:
        report = self.report_path(info["kind"], info["batch_id"], info["fmt"])
        affected = self.report_path(info["kind"], info["batch_id"], info["fmt"], "-removed")
        return RefResult(info["batch_id"], info["kind"], info["state"], int(info["rows_in"]), int(info["rows_loaded"]),
                         int(info["rows_rejected"]), info["region_code"], message=info["message"],
                         report=report if report.exists() else None,
                         affected=affected if affected.exists() else None, already=already)

    # ------------------------------------------------------------------ the steps
    def _check(self, k: Kind, batch_id: str, data: bytes, fmt: str, scope: str, crs: str,
               load: dict | None) -> RefResult:
        now = pd.Timestamp(dt.datetime.now().replace(microsecond=0))
        info: dict = {}
        if load is not None:
            archive = self.archive_path(k.id, batch_id, fmt)
            archive.parent.mkdir(parents=True, exist_ok=True)
            tmp = archive.with_suffix(".part")
            tmp.write_bytes(data)
            os.replace(tmp, archive)
            info = self._record({"batch_id": batch_id, "kind": k.id, "unit": load["unit"], "region_code": scope,
                                 "file_name": load["file_name"], "fmt": fmt, "encoding": "", "received_at": now,
                                 "finished_at": pd.Timestamp("1970-01-01"), "rows_in": 0, "rows_loaded": 0,
                                 "rows_rejected": 0, "message": f"crs={crs}"}, "received")
        try:
            table = geofiles.read_reference(data, fmt, max_bytes=self.cfg.max_bytes)
        except FileRejected as exc:
            if info:
                self._record(info, "failed", message=exc.user_message)
            return RefResult(batch_id, k.id, "failed", message=exc.user_message)
        shapes.sync_boundaries(self.db)
        geometry.clear_cache()
        grids = lookups.known_grids(self.db) if k.id == "grid_workers" else frozenset(
            f"{d}:{g}" for d, g in lookups.departments(self.db)[["dept_id", "region_code"]].itertuples(index=False)
        ) if k.id == "inspectors" else frozenset()
        out = checks.check(k, table, scope="" if scope == NATIONAL else scope, crs=crs, grids=grids)
        ck = out.checked
        if out.repaired:
            ck.warnings.append(f"{out.repaired} 个多边形无效（如自相交），已自动修复后导入")
        region = scope or _scope_of(next(iter(out.frames.values()))[k.code_column[k.tables[0]]])
        if not region and not ck.rows.empty:  # it would replace the whole country's records
            message = ("文件中的记录分属多个省份：请用 --region 指明本次导入覆盖的区域（该区域原有记录将被替换；"
                       f"全国用 --region {NATIONAL}）")
            if info:
                self._record(info, "failed", message=message)
            return RefResult(batch_id, k.id, "failed", table.rows_in, message=message)
        carried = self._carry(k, region, out.named_keys - out.valid_keys)
        kept = out.valid_keys | {x for df in carried.values() for x in df.get(k.key_column[k.tables[0]], [])}
        removed = self._removed(k, region, kept) if not ck.rows.empty else []
        loaded, rejected = len(ck.rows), ck.rejected_rows
        if loaded + rejected != table.rows_in:  # the invariant: nothing is lost
            raise AssertionError(f"reference batch {batch_id}: {table.rows_in} in != {loaded} + {rejected}")
        res = RefResult(batch_id, k.id, "checked", table.rows_in, loaded, rejected, region, ck.problems,
                        ck.warnings, removed=removed)
        if load is None:
            return res
        res.report = self._quarantine(k, info, table, ck.problems)
        if removed and k.id == "grids":
            res.affected = self._affected(k, info, removed)
        if ck.rows.empty:  # nothing valid: the loaded reference stays as it was
            self._record(info, "loaded", encoding=table.encoding, rows_in=table.rows_in, rows_rejected=rejected,
                         message="；".join(["没有可导入的记录，原有数据未作改动", *ck.warnings]))
            res.state, res.removed, res.message = "loaded", [], "没有可导入的记录，原有数据未作改动"
            return res
        self._stage(k, batch_id, out.frames, carried)
        info = self._record(info, "staged", encoding=table.encoding, region_code=region, rows_in=table.rows_in,
                            rows_loaded=loaded, rows_rejected=rejected, message="；".join(ck.warnings))
        self._publish(k, info)
        res.state, res.message = "loaded", info["message"]
        return res

    def _carry(self, k: Kind, region: str, keys: set[str]) -> dict[str, pd.DataFrame]:
        """Loaded rows of records this file names but rejected: they stay as they are."""
        out = {}
        for table in k.tables:
            if not keys:
                break
            df = lookups.chunked(self.db, "reference_carry", f"SELECT * FROM {table} WHERE "
                                 f"{self._where(k, table)} AND {k.key_column[table]} IN %(keys)s",
                                 sorted(keys), like=_like(region), level=k.level)
            if not df.empty:
                out[table] = df
        return out

    def _where(self, k: Kind, table: str) -> str:
        level = " AND level = %(level)s" if table in ("regions", "region_geo") else ""
        return f"{k.code_column[table]} LIKE %(like)s{level}"

    def _removed(self, k: Kind, region: str, kept: set[str]) -> list[str]:
        table = k.tables[0]
        have = run(self.db, "reference_existing", f"SELECT DISTINCT {k.key_column[table]} AS k FROM {table} "
                   f"WHERE {self._where(k, table)}", {"like": _like(region), "level": k.level})["k"]
        return sorted(set(have.astype(str)) - kept)

    def _affected(self, k: Kind, info: dict, removed: list[str]) -> Path | None:
        """CSV of the entities on removed grids, with each one's open tasks."""
        ents = lookups.chunked(self.db, "reference_removed_entities", """
            SELECT grid_code, credit_code, any(name) AS name, toString(any(status)) AS status FROM entities
            WHERE grid_code IN %(keys)s GROUP BY grid_code, credit_code ORDER BY grid_code, credit_code""", removed)
        if ents.empty:
            return None
        tasks = lookups.chunked(self.db, "reference_removed_tasks", """
            SELECT credit_code, count() AS open_tasks FROM tasks WHERE grid_code IN %(keys)s
              AND status != 'closed' GROUP BY credit_code""", removed)
        ents = ents.merge(tasks, on="credit_code", how="left").fillna({"open_tasks": 0})
        path = self.report_path(k.id, info["batch_id"], info["fmt"], "-removed")
        path.parent.mkdir(parents=True, exist_ok=True)
        ents.rename(columns={"grid_code": "原网格编码", "credit_code": "统一社会信用代码", "name": "主体名称",
                             "status": "状态", "open_tasks": "未办结任务数"}).map(csv_safe).to_csv(
            path, index=False, encoding="utf-8-sig", quoting=1)  # names as text, never formulas
        logger.warning("grid file %s removes %d grids holding %d entities (listed in %s)", info["batch_id"][:12],
                       len(removed), len(ents), path)
        return path

    def _quarantine(self, k: Kind, info: dict, table: RawTable, problems: list[Problem]) -> Path | None:
        if not problems:
            return None
        raw = table.raw_texts([p.row_no for p in problems])
        self.db.insert("reference_rejects", pd.DataFrame({
            "batch_id": info["batch_id"], "kind": k.id, "row_no": [p.row_no for p in problems],
            "field": [p.field for p in problems], "reason_code": [p.code for p in problems],
            "reason": [p.reason for p in problems],
            "raw": [raw.get(p.row_no, "")[:4000] for p in problems]}).astype({"row_no": "uint32"}))
        by_row: dict[int, list[tuple[str, str]]] = {}
        for p in problems:
            if p.code != "unparsable":
                by_row.setdefault(p.row_no, []).append((p.field, p.reason))
        path = self.report_path(k.id, info["batch_id"], info["fmt"])
        if table.fmt in ("geojson", "shp"):
            return geofiles.write_geojson_rejects(table, by_row, path)
        return rejects.write_rejects(table, by_row, path)

    def _stage_name(self, batch_id: str, table: str) -> str:
        return f"ref_stage_{batch_id[:16]}_{table}"

    def _stage(self, k: Kind, batch_id: str, frames: dict[str, pd.DataFrame], carried: dict[str, pd.DataFrame]) -> None:
        for table in k.tables:
            name = self._stage_name(batch_id, table)
            execute(self.db, "reference_stage_create", f"CREATE TABLE IF NOT EXISTS {name} AS {table} "
                    "ENGINE = MergeTree ORDER BY tuple()")  # scratch: never a replica of the table it copies
            df = frames[table].assign(batch_id=batch_id) if table == "region_geo" else frames[table]
            df = pd.concat([df, carried[table]], ignore_index=True) if table in carried else df
            if not df.empty:
                self.db.insert(name, df)

    def _publish(self, k: Kind, info: dict) -> None:
        batch_id, region = info["batch_id"], info["region_code"]
        for table in k.tables:
            delete_rows(self.db, table, self._where(k, table), {"like": _like(region), "level": k.level})
            execute(self.db, "reference_publish", f"INSERT INTO {table} SELECT * FROM {self._stage_name(batch_id, table)}")
        self._record(info, "loaded")
        self._drop_stage(k, batch_id)
        self._forget()

    def _sweep_stages(self, keep: set[str]) -> None:
        """Drop stage tables a crash left behind after their batch was published (or never staged)."""
        names = run(self.db, "reference_stage_tables", "SELECT name FROM system.tables WHERE database = %(db)s "
                    "AND substring(name, 1, 10) = 'ref_stage_'", {"db": self.db.database})["name"]
        for name in names:
            if name.split("_")[2] not in keep:
                execute(self.db, "reference_stage_drop", f"DROP TABLE IF EXISTS {name}")

    def _staged_here(self, k: Kind, batch_id: str) -> bool:
        """Whether this server holds the batch's stage tables (a cluster server's own)."""
        names = [self._stage_name(batch_id, t) for t in k.tables]
        have = run(self.db, "reference_staged_here", "SELECT count() AS n FROM system.tables WHERE database = %(db)s "
                   "AND name IN %(n)s", {"db": self.db.database, "n": names})["n"].iloc[0]
        return int(have) == len(names)

    def _drop_stage(self, k: Kind, batch_id: str) -> None:
        for table in k.tables:
            execute(self.db, "reference_stage_drop", f"DROP TABLE IF EXISTS {self._stage_name(batch_id, table)}")

    def _unstage(self, k: Kind, batch_id: str) -> None:
        self._drop_stage(k, batch_id)
        n = run(self.db, "reference_rejected", "SELECT count() AS n FROM reference_rejects WHERE batch_id = %(b)s",
                {"b": batch_id})["n"].iloc[0]
        if int(n):
            delete_rows(self.db, "reference_rejects", "batch_id = %(b)s", {"b": batch_id})

    def _forget(self) -> None:
        from queries.regions import clear_region_cache

        forget_versions()
        lookups.clear_grid_cache()
        geometry.clear_cache()
        clear_region_cache()
