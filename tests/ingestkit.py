"""Shared helpers of the ingestion tests (tests/test_ingest*.py).

* :func:`ingest_db_fixture` — a module-scoped fixture, parametrised over embedded
  chDB and the test server, holding the fixed demo data set in a database of
  its own (ingestion mutates data: the shared ``demo_db`` is never used) plus
  one extra grid of another city (Guangzhou), so that scope checks have a real
  grid outside Dongguan;
* :class:`IngestEnv` — that database, an ingestion folder in tmp, pools of real
  rows (active entities, grids, open tasks) handed out once each so tests never
  touch each other's records, and the record builders of every source;
* file builders (CSV in any encoding, XLSX with an optional two-row merged
  header, JSON lines) and readers of the rejection report;
* :func:`check_batch` — the invariants every batch must keep, checked against
  the database and the report file.
"""
from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import itertools
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from domain import uscc
from etl.ingest.batch import BatchResult, Ingestor
from etl.ingest.config import IngestSettings
from domain.sources import SOURCES
from store.schema import STAGED_TABLES
from store.engine import Engine
from store.executor import run

KINDS = ("chdb", "server")
#: The table whose rows tagged with a batch are the batch's loaded records (one per record).
TARGET = {**{s: "events" for s in SOURCES}, "task_feedback": "task_events"}
#: Tables whose row counts must not move when nothing is loaded.
COUNTED = ("entities", "events", "tasks", "task_events", "ingest_keys", "quarantine")
#: Chinese headers of a registration record: credit code, grid, date of establishment.
CODE, GRID, TIME = "统一社会信用代码", "网格编码", "成立日期"


# --------------------------------------------------------------------------- the database

def load_demo(db: Engine, demo_data) -> str:
    """``conftest._loaded_engine``'s steps into ``db``, plus one grid of Guangzhou; returns that grid."""
    from etl.ingest.lookups import clear_grid_cache
    from etl.load import load_regions, load_tables
    from store.schema import drop_data_tables, init_schema
    from queries.regions import clear_region_cache

    drop_data_tables(db)
    init_schema(db)
    load_regions(db)
    load_tables(db, demo_data.tables())
    village = run(db, "kit_gz_village", "SELECT min(code) AS first FROM regions WHERE level = 5 AND code LIKE %(p)s",
                  {"p": "4401%"})
    other = str(village["first"].iloc[0]) + "001"
    db.insert("regions", pd.DataFrame({"code": [other], "name": ["测试网格（广州）"], "level": np.uint8(6),
                                       "parent": [other[:12]]}))
    clear_grid_cache()
    clear_region_cache()
    return other


def ingest_db_fixture(name: str):
    """A module-scoped fixture yielding an :class:`IngestEnv` per engine kind, in database
    ``test_ingest_<name>`` (loaded once per module and engine)."""

    @pytest.fixture(scope="module", params=KINDS)
    def _fixture(request, demo_data, tmp_path_factory):
        from tests.conftest import make_test_engine

        db = make_test_engine(request.param, request, f"test_ingest_{name}")
        other_grid = load_demo(db, demo_data)
        env = IngestEnv(request.param, db, tmp_path_factory.mktemp(f"ingest-{name}-{request.param}"), other_grid)
        yield env
        from etl.ingest.lookups import clear_grid_cache

        clear_grid_cache()

    return _fixture


def scalar(db: Engine, sql: str, params: dict | None = None) -> int:
    return int(run(db, "kit_scalar", sql, params)["n"].iloc[0])


def counts(db: Engine) -> dict[str, int]:
    """Row counts of every table ingestion writes (batches: distinct batch ids)."""
    parts = [f"(SELECT count() FROM {t}) AS {t}" for t in COUNTED]
    parts += [f"(SELECT count() FROM stage_{t}) AS stage_{t}" for t in STAGED_TABLES]
    parts.append("(SELECT uniqExact(batch_id) FROM ingest_batches) AS batches")
    row = run(db, "kit_counts", "SELECT " + ", ".join(parts)).iloc[0]
    return {k: int(v) for k, v in row.items()}


def batch_counts(db: Engine, batch_id: str) -> dict[str, int]:
    """Rows tagged with ``batch_id`` in each table; ``quarantine_rows`` = distinct rejected row numbers."""
    parts = [f"(SELECT count() FROM {t} WHERE batch_id = %(b)s) AS {t}" for t in COUNTED]
    parts += [f"(SELECT count() FROM stage_{t} WHERE batch_id = %(b)s) AS stage_{t}" for t in STAGED_TABLES]
    parts.append("(SELECT uniqExact(row_no) FROM quarantine WHERE batch_id = %(b)s) AS quarantine_rows")
    row = run(db, "kit_batch_counts", "SELECT " + ", ".join(parts), {"b": batch_id}).iloc[0]
    return {k: int(v) for k, v in row.items()}


def batch_state(db: Engine, batch_id: str) -> dict:
    df = run(db, "kit_batch_state", """
        SELECT toString(state) AS state, rows_in, rows_loaded, rows_rejected, message, encoding, region_code
        FROM ingest_batches WHERE batch_id = %(b)s ORDER BY version DESC LIMIT 1""", {"b": batch_id})
    assert not df.empty, f"batch {batch_id} not recorded"
    return df.iloc[0].to_dict()


# --------------------------------------------------------------------------- files

def _header(rows: list[dict]) -> list[str]:
    return list(dict.fromkeys(k for r in rows for k in r))


def to_csv(rows: list[dict], encoding: str = "utf-8", header: list[str] | None = None) -> bytes:
    header = header or _header(rows)
    buf = io.StringIO(newline="")
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    for r in rows:
        w.writerow([r.get(h, "") for h in header])
    return buf.getvalue().encode(encoding)


def to_jsonl(rows: list[dict]) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode()


def to_xlsx(rows: list[dict], groups: list[tuple[str, int]] | None = None) -> bytes:
    """One sheet; with ``groups`` [(title, number of columns)], a two-row header whose first
    row holds merged group titles (a one-column group is merged down over both rows)."""
    from openpyxl import Workbook

    header = _header(rows)
    wb = Workbook()
    ws = wb.active
    top = 1
    if groups:
        assert sum(n for _, n in groups) == len(header)
        col = 1
        for title, n in groups:
            if n == 1:  # a cell merged vertically: the name is in the first row only
                ws.cell(row=1, column=col, value=header[col - 1])
                ws.merge_cells(start_row=1, start_column=col, end_row=2, end_column=col)
            else:
                ws.cell(row=1, column=col, value=title)
                ws.merge_cells(start_row=1, start_column=col, end_row=1, end_column=col + n - 1)
                for j in range(col, col + n):
                    ws.cell(row=2, column=j, value=header[j - 1])
            col += n
        top = 2
    else:
        for j, name in enumerate(header, 1):
            ws.cell(row=1, column=j, value=name)
    for i, r in enumerate(rows, top + 1):
        for j, name in enumerate(header, 1):
            ws.cell(row=i, column=j, value=r.get(name, ""))
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def report_rows(path: Path) -> list[int]:
    """The row numbers a rejection report lists, in its order."""
    path = Path(path)
    if path.suffix == ".jsonl":
        return [json.loads(line)["_row"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if path.suffix == ".xlsx":
        from openpyxl import load_workbook

        wb = load_workbook(path, read_only=True)
        try:
            ws = wb.worksheets[0]
            assert ws.title == "退回记录"
            rows = list(ws.iter_rows(values_only=True))
        finally:
            wb.close()
        assert list(rows[0][:3]) == ["行号", "问题字段", "问题原因"]
        return [int(r[0]) for r in rows[1:]]
    data = path.read_bytes()
    text = data[3:].decode("utf-8") if data.startswith(b"\xef\xbb\xbf") else data.decode("gb18030")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows[0][:3] == ["行号", "问题字段", "问题原因"]
    return [int(r[0]) for r in rows[1:]]


# --------------------------------------------------------------------------- the environment

def zh(source: str, rec: dict[str, Any]) -> dict[str, Any]:
    """A record keyed by field keys → keyed by the Chinese headers departments use."""
    src = SOURCES[source]
    names = {f.key: f.zh for f in src.fields}
    return {names.get(k, k): v for k, v in rec.items()}


def en(source: str, rec: dict[str, Any]) -> dict[str, Any]:
    """A record keyed by Chinese headers → keyed by the fields' English keys."""
    keys = {f.zh: f.key for f in SOURCES[source].fields}
    return {keys.get(k, k): v for k, v in rec.items()}


def stamp(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%d %H:%M:%S")


@dataclasses.dataclass
class IngestEnv:
    kind: str
    db: Engine
    ingest_dir: Path
    other_grid: str  # a grid of Guangzhou (outside Dongguan)

    def __post_init__(self) -> None:
        ents = run(self.db, "kit_entities", """
            SELECT credit_code, grid_code, reg_date FROM entities
            WHERE status = 'active' AND grid_code LIKE %(p)s ORDER BY cityHash64(credit_code)""", {"p": "4419%"})
        self._entities = iter(ents.itertuples(index=False))
        self.grids = sorted(run(self.db, "kit_grids", "SELECT code FROM regions WHERE level = 6 AND code LIKE %(p)s "
                                "AND code IN (SELECT grid_code FROM entities)", {"p": "4419%"})["code"])
        tasks = run(self.db, "kit_tasks", """
            SELECT task_id, toString(task_type) AS task_type, toString(status) AS status, grid_code FROM tasks
            ORDER BY task_id""")
        self.tasks = tasks
        self._open = {(t, s): iter(g["task_id"].tolist()) for (t, s), g in tasks.groupby(["task_type", "status"])}
        self._serial = itertools.count(1)
        self._rng = np.random.default_rng(20240611 + (self.kind == "server"))

    # ------------------------------------------------------------------ ingestion
    def cfg(self) -> IngestSettings:
        return dataclasses.replace(IngestSettings.from_env(), ingest_dir=self.ingest_dir)

    def ingestor(self) -> Ingestor:
        return Ingestor(self.db, self.cfg())

    def load(self, source: str, data: bytes, name: str, **kw: Any) -> BatchResult:
        return self.ingestor().ingest_bytes(source, data, file_name=name, **kw)

    def counts(self) -> dict[str, int]:
        return counts(self.db)

    # ------------------------------------------------------------------ pools of real rows
    def entity(self) -> Any:
        """An active Dongguan entity no other test has used (credit_code, grid_code, reg_date)."""
        return next(self._entities)

    def entities(self, n: int) -> list[Any]:
        return [self.entity() for _ in range(n)]

    def task(self, task_type: str, status: str) -> str:
        """An existing task of that type and status no other test has used."""
        return next(self._open[(task_type, status)])

    def new_codes(self, n: int, grid: str | None = None) -> list[str]:
        """Valid credit codes of entities not registered yet."""
        division = (grid or self.grids[0])[:6]
        codes = uscc.generate(self._rng, [division] * n, ["enterprise"] * n)
        taken = set(run(self.db, "kit_taken", "SELECT credit_code FROM entities WHERE credit_code IN %(c)s",
                        {"c": tuple(codes)})["credit_code"])
        return [c for c in codes if c not in taken][:n] if not taken else self.new_codes(n, grid)

    def next_id(self, prefix: str) -> str:
        return f"{prefix}{self.kind[:2].upper()}{next(self._serial):07d}"

    def grid(self, i: int = 0) -> str:
        return self.grids[(7 * i) % len(self.grids)]

    # ------------------------------------------------------------------ records (keyed by Chinese headers)
    def registration(self, n: int = 1, when: dt.datetime | None = None, grid: str | None = None,
                     **over: Any) -> list[dict]:
        when = when or dt.datetime.now() - dt.timedelta(hours=1)
        out = []
        for i, code in enumerate(self.new_codes(n)):
            rec = {"credit_code": code, "name": f"东莞市测试{next(self._serial)}号商贸有限公司",
                   "entity_type": "企业", "industry": "F", "grid_code": grid or self.grid(i),
                   "event_time": when.strftime("%Y-%m-%d"), "legal_rep": "张三", "capital": "100"}
            out.append(zh("registration", {**rec, **over}))
        return out

    def event(self, source: str, ent: Any = None, when: dt.datetime | None = None, **over: Any) -> dict:
        """One record of an entity-referring source (not registration) for ``ent`` (a fresh entity)."""
        ent = ent or self.entity()
        t = stamp(when or dt.datetime.now() - dt.timedelta(hours=1))
        code = ent if isinstance(ent, str) else ent.credit_code
        rec: dict[str, Any] = {
            "change": lambda: {"record_id": self.next_id("BG"), "credit_code": code, "event_time": t,
                               "change_item": "经营范围", "new_value": "增加经营项目"},
            "cancellation": lambda: {"credit_code": code, "event_time": t, "kind": "注销", "reason": "决议解散"},
            "licence": lambda: {"licence_no": self.next_id("XK"), "credit_code": code, "event_time": t,
                                "licence_item": "食品经营许可"},
            "penalty": lambda: {"decision_no": self.next_id("CF"), "credit_code": code, "event_time": t,
                                "amount": "5000", "violation": "无照经营"},
            "complaint": lambda: {"complaint_no": self.next_id("TS"), "credit_code": code, "event_time": t,
                                  "channel": "12315", "content": "商品质量问题"},
            "inspection": lambda: {"record_id": self.next_id("JC"), "credit_code": code, "event_time": t,
                                   "result": "未发现问题", "inspector": "李四", "note": "日常检查"},
            "sampling": lambda: {"sample_no": self.next_id("CY"), "credit_code": code, "event_time": t,
                                 "batch_no": "PC00001", "product": "大米", "result": "合格"},
            "credit_list": lambda: {"record_id": self.next_id("LR"), "credit_code": code, "event_time": t,
                                    "list": "经营异常名录", "action": "列入", "reason": "未按期公示年度报告"},
        }[source]()
        return zh(source, {**rec, **over})

    def events(self, source: str, n: int, **over: Any) -> list[dict]:
        return [self.event(source, **over) for _ in range(n)]

    def feedback(self, task_id: str, status: str, when: dt.datetime | None = None, **over: Any) -> dict:
        actor_kind = {"inspecting": "网格员", "notice": "网格员", "joint": "网格员", "town": "村居",
                      "transferred": "镇街", "closed": "部门"}[status]
        rec = {"feedback_id": self.next_id("FK"), "task_id": task_id,
               "event_time": stamp(when or dt.datetime.now() - dt.timedelta(minutes=1)),
               "status": {"inspecting": "核查中", "closed": "办结", "notice": "限期整改", "joint": "村居联合处置",
                          "town": "镇街处置", "transferred": "部门办理"}[status],
               "actor": "王五", "actor_kind": actor_kind}
        return zh("task_feedback", {**rec, **over})


def bad_check_char(code: str) -> str:
    """``code`` with a wrong GB 32100 check character."""
    last = code[-1]
    return code[:-1] + next(c for c in uscc.ALPHABET if c != last)


# --------------------------------------------------------------------------- invariants

def problem_rows(res: BatchResult) -> dict[int, set[str]]:
    out: dict[int, set[str]] = {}
    for p in res.problems:
        out.setdefault(p.row_no, set()).add(p.code)
    return out


def check_batch(env: IngestEnv, res: BatchResult, *, rows_in: int | None = None,
                target: str | None = None) -> dict[str, int]:
    """Nothing lost: rows in = loaded + rejected, and the database and report agree with the result."""
    assert res.state == "loaded", res.message
    if rows_in is not None:
        assert res.rows_in == rows_in
    assert res.rows_in == res.rows_loaded + res.rows_rejected
    got = batch_counts(env.db, res.batch_id)
    tgt = target or TARGET[res.source]
    assert got[tgt] == res.rows_loaded, (tgt, got)
    assert got["ingest_keys"] == res.rows_loaded
    assert got["quarantine_rows"] == res.rows_rejected
    assert all(got[f"stage_{t}"] == 0 for t in STAGED_TABLES), got  # stage partitions dropped
    state = batch_state(env.db, res.batch_id)
    assert (state["state"], int(state["rows_in"]), int(state["rows_loaded"]), int(state["rows_rejected"])) == (
        "loaded", res.rows_in, res.rows_loaded, res.rows_rejected)
    if not res.already:
        rejected = sorted(problem_rows(res))
        assert len(rejected) == res.rows_rejected
        q = run(env.db, "kit_quarantine", "SELECT DISTINCT row_no FROM quarantine WHERE batch_id = %(b)s "
                "ORDER BY row_no", {"b": res.batch_id})
        assert [int(r) for r in q["row_no"]] == rejected
        if rejected:
            assert res.report is not None and res.report.exists()
            assert report_rows(res.report) == rejected
        else:
            assert res.report is None
    return got


def quarantine_codes(env: IngestEnv, batch_id: str) -> dict[int, set[str]]:
    q = run(env.db, "kit_quarantine_codes", "SELECT row_no, reason_code, reason FROM quarantine "
            "WHERE batch_id = %(b)s", {"b": batch_id})
    out: dict[int, set[str]] = {}
    for r in q.itertuples(index=False):
        assert r.reason, "every quarantined problem has a reason"
        out.setdefault(int(r.row_no), set()).add(r.reason_code)
    return out


def has_chinese(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


def copy_mismatches(query) -> list[str]:
    """The sorted copies (``store.batch_index``: entities_by_code, tasks_by_id,
    task_events_by_id) that differ from their tables: row count and an order-free hash of
    key, grid (time for task events) and batch. ``query(sql)`` → DataFrame (an engine's
    ``run`` or a subprocess's)."""
    out = []
    for table, copy, key in (("entities", "entities_by_code", "credit_code"), ("tasks", "tasks_by_id", "task_id"),
                             ("task_events", "task_events_by_id", "task_id")):
        second = "event_time" if table == "task_events" else "grid_code"
        sql = "SELECT count() AS n, sum(cityHash64({k}, {s}, batch_id)) AS h FROM {t}"
        a, b = (query(sql.format(k=key, s=second, t=t)).iloc[0].to_dict() for t in (table, copy))
        if {k: int(v) for k, v in a.items()} != {k: int(v) for k, v in b.items()}:
            out.append(f"{copy}: {b} != {table}: {a}")
    return out
