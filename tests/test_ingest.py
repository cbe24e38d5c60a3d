"""End-to-end ingestion (etl.ingest) on embedded chDB and on a ClickHouse server:

* loading the same batch twice changes nothing;
* the effects of each kind of record, checked independently over the rows read
  back (tasks pushed at once with the right deadline, task feedback moving a
  task along its lifecycle, changes and cancellations replacing the entity);
* the inbox folder: files picked up, loaded and moved to done/ or rejected/.

The corpus of bad inputs and their documented outcomes: tests/test_ingest_corpus.py.
"""
from __future__ import annotations

import datetime as dt
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

from etl.ingest import inbox as inbox_mod
from etl.ingest.batch import Ingestor, batch_id_for
from domain.workdays import add_workdays
from store.executor import run
from supervision.rules import TaskRules
from tests.ingestkit import (
    CODE, GRID, TIME, IngestEnv, batch_state, check_batch, ingest_db_fixture, problem_rows, report_rows, to_csv,
    to_jsonl,
)

env = ingest_db_fixture("main")


# --------------------------------------------------------------------------- idempotency

def test_reload_is_a_no_op(env: IngestEnv):
    """Every kind of write (new rows, replaced entities, moved tasks, quarantine) loaded twice."""
    regs = env.registration(3)
    reg = to_csv(regs)
    first = env.load("registration", reg, "a.csv")
    task = run(env.db, "t", "SELECT task_id FROM tasks WHERE batch_id = %(b)s ORDER BY task_id LIMIT 1",
               {"b": first.batch_id})["task_id"].iloc[0]
    other = env.entity()
    change = to_csv([env.event("change", change_item="住所", new_grid_code=env.grid(5)),
                     env.event("change", env.new_codes(1)[0])])
    feedback = to_csv([env.feedback(task, "inspecting", when=dt.datetime.now())])
    cancel = to_jsonl([env.event("cancellation", other)])
    batches = [("change", change, "b.csv"), ("task_feedback", feedback, "c.csv"), ("cancellation", cancel, "d.jsonl")]
    results = [first] + [env.load(s, d, n) for s, d, n in batches]
    assert [r.already for r in results] == [False] * 4 and all(r.rows_loaded == 1 for r in results[1:])
    before = env.counts()
    for (s, d, n), r in zip([("registration", reg, "a.csv"), *batches], results):
        again = env.load(s, d, "renamed-" + n)  # the same bytes under another name: still the same batch
        assert again.already and again.batch_id == r.batch_id == batch_id_for(s, d)
        assert (again.rows_in, again.rows_loaded, again.rows_rejected) == (r.rows_in, r.rows_loaded, r.rows_rejected)
        assert env.counts() == before
    assert results[1].report is not None and env.load(*batches[0][:2], "x.csv").report == results[1].report


# --------------------------------------------------------------------------- effects

def _frame(env: IngestEnv, sql: str, **params) -> pd.DataFrame:
    return run(env.db, "t", sql, params)


def test_registration_creates_entities_events_and_tasks(env: IngestEnv):
    rows = env.registration(4, grid=None)
    rows[3]["主体类型"] = "个体工商户"
    rows[3]["经度"], rows[3]["纬度"] = "113.75", "23.02"
    t0 = dt.datetime.now().replace(microsecond=0)
    res = env.load("registration", to_csv(rows), "新设.csv")
    t1 = dt.datetime.now()
    check_batch(env, res, rows_in=4)
    codes = tuple(r[CODE] for r in rows)
    want = pd.DataFrame({"credit_code": codes, "name": [r["名称"] for r in rows],
                         "grid_code": [r[GRID] for r in rows], "reg_date": [pd.Timestamp(r[TIME]) for r in rows],
                         "entity_type": ["enterprise"] * 3 + ["individual"]}).sort_values("credit_code")
    ents = _frame(env, "SELECT credit_code, name, grid_code, reg_date, toString(entity_type) AS entity_type, "
                  "toString(status) AS status, lon, lat FROM entities WHERE credit_code IN %(c)s "
                  "ORDER BY credit_code", c=codes)
    assert len(ents) == 4 and (ents["status"] == "active").all()
    pd.testing.assert_frame_equal(ents[list(want.columns)].reset_index(drop=True), want.reset_index(drop=True),
                                  check_dtype=False)
    assert ents.set_index("credit_code").loc[codes[3], ["lon", "lat"]].tolist() == [113.75, 23.02]
    assert ents[["lon", "lat"]].notna().all().all() and (ents["lon"].between(113, 115)).all()

    ev = _frame(env, "SELECT credit_code, toString(event_type) AS t, grid_code, event_date FROM events "
                "WHERE credit_code IN %(c)s ORDER BY credit_code", c=codes)
    assert ev["t"].tolist() == ["registration"] * 4
    assert ev["grid_code"].tolist() == want["grid_code"].tolist()

    tasks = _frame(env, "SELECT task_id, credit_code, grid_code, dept_id, toString(task_type) AS task_type, "
                   "toString(status) AS status, created_at, due_date, closed_at FROM tasks "
                   "WHERE credit_code IN %(c)s ORDER BY credit_code", c=codes)
    assert tasks["credit_code"].tolist() == want["credit_code"].tolist()  # exactly one task per entity
    assert (tasks["task_type"] == "verify_registration").all() and (tasks["status"] == "pending").all()
    assert tasks["closed_at"].isna().all()
    assert tasks["created_at"].between(pd.Timestamp(t0), pd.Timestamp(t1)).all()  # pushed at once
    limit = TaskRules.from_env().limit("inspection")
    for r in tasks.itertuples(index=False):
        due = add_workdays(np.array([r.created_at.date()], dtype="datetime64[D]"), limit)[0]
        assert pd.Timestamp(r.due_date) == pd.Timestamp(due)
        assert r.dept_id == r.grid_code[:9] + "-01"
    te = _frame(env, "SELECT task_id, toString(from_status) AS f, toString(status) AS s, event_time, due_date "
                "FROM task_events WHERE task_id IN %(t)s ORDER BY task_id", t=tuple(tasks["task_id"]))
    assert te["task_id"].tolist() == sorted(tasks["task_id"])
    assert (te["f"] == "none").all() and (te["s"] == "pending").all()
    merged = te.merge(tasks, on="task_id")
    assert (merged["event_time"] == merged["created_at"]).all() and (merged["due_date_x"] == merged["due_date_y"]).all()


def test_task_feedback_moves_the_task(env: IngestEnv):
    reg = env.load("registration", to_csv(env.registration(1)), "新设1.csv")
    task = _frame(env, "SELECT task_id, created_at FROM tasks WHERE batch_id = %(b)s", b=reg.batch_id).iloc[0]
    start = task["created_at"].to_pydatetime()
    rows = [env.feedback(task["task_id"], "closed", when=start + dt.timedelta(seconds=50), 处置说明="无问题，办结"),
            env.feedback(task["task_id"], "inspecting", when=start + dt.timedelta(seconds=20))]  # out of order
    res = env.load("task_feedback", to_csv(rows), "反馈.csv")
    check_batch(env, res, rows_in=2)
    assert res.rows_loaded == 2
    tasks = _frame(env, "SELECT toString(status) AS status, closed_at, batch_id, created_at FROM tasks "
                   "WHERE task_id = %(t)s", t=task["task_id"])
    assert len(tasks) == 1  # the older version is gone
    row = tasks.iloc[0]
    assert row["status"] == "closed" and row["batch_id"] == res.batch_id
    assert row["closed_at"] == pd.Timestamp(start + dt.timedelta(seconds=50))
    assert row["created_at"] == pd.Timestamp(start)
    te = _frame(env, "SELECT toString(from_status) AS f, toString(status) AS s, event_time, note FROM task_events "
                "WHERE task_id = %(t)s ORDER BY event_time", t=task["task_id"])
    assert list(zip(te["f"], te["s"])) == [("none", "pending"), ("pending", "inspecting"), ("inspecting", "closed")]
    assert te["note"].iloc[2] == "无问题，办结"
    # the lifecycle is checked against the new state: feedback to a closed task is refused
    late = env.load("task_feedback", to_csv([env.feedback(task["task_id"], "notice")]), "反馈2.csv")
    assert problem_rows(late) == {2: {"bad_transition"}} and late.rows_loaded == 0


def test_address_change_moves_the_entity(env: IngestEnv):
    moved, renamed = env.entity(), env.entity()
    new_grid = next(g for g in env.grids if g[:9] != moved.grid_code[:9])
    old = _frame(env, "SELECT * FROM entities WHERE credit_code IN %(c)s ORDER BY credit_code",
                 c=(moved.credit_code, renamed.credit_code)).set_index("credit_code")
    rows = [env.event("change", moved, change_item="住所", new_value="东莞市某路1号", new_grid_code=new_grid),
            env.event("change", renamed, change_item="名称", new_value="新名称有限公司")]
    res = env.load("change", to_csv(rows), "变更.csv")
    check_batch(env, res, rows_in=2)
    ents = _frame(env, "SELECT * FROM entities WHERE credit_code IN %(c)s ORDER BY credit_code",
                  c=(moved.credit_code, renamed.credit_code)).set_index("credit_code")
    assert len(ents) == 2  # exactly one row each
    assert ents.at[moved.credit_code, "grid_code"] == new_grid
    assert ents.at[renamed.credit_code, "name"] == "新名称有限公司"
    assert ents.at[renamed.credit_code, "grid_code"] == old.at[renamed.credit_code, "grid_code"]
    same = ["reg_date", "legal_rep", "capital", "industry"]
    pd.testing.assert_frame_equal(ents[same], old[same], check_dtype=False)
    tasks = _frame(env, "SELECT credit_code, toString(task_type) AS t, toString(status) AS s, grid_code, detail "
                   "FROM tasks WHERE batch_id = %(b)s", b=res.batch_id)
    assert tasks[["credit_code", "t", "s", "grid_code", "detail"]].values.tolist() == [
        [moved.credit_code, "verify_change", "pending", new_grid, "住所变更"]]  # a name change pushes none
    ev = _frame(env, "SELECT grid_code FROM events WHERE batch_id = %(b)s AND credit_code = %(c)s",
                b=res.batch_id, c=moved.credit_code)
    assert ev["grid_code"].tolist() == [new_grid]


def test_cancellation_sets_status(env: IngestEnv):
    a, b = env.entity(), env.entity()
    day = (dt.datetime.now() - dt.timedelta(days=1)).replace(hour=9, minute=0, second=0, microsecond=0)
    rows = [env.event("cancellation", a, when=day), env.event("cancellation", b, when=day, kind="吊销")]
    res = env.load("cancellation", to_jsonl(rows), "注销.jsonl")
    check_batch(env, res, rows_in=2)
    ents = _frame(env, "SELECT credit_code, toString(status) AS s, status_date FROM entities "
                  "WHERE credit_code IN %(c)s ORDER BY credit_code", c=(a.credit_code, b.credit_code))
    got = {r.credit_code: (r.s, pd.Timestamp(r.status_date)) for r in ents.itertuples(index=False)}
    assert len(ents) == 2 and got == {a.credit_code: ("cancelled", pd.Timestamp(day.date())),
                                       b.credit_code: ("revoked", pd.Timestamp(day.date()))}
    ev = _frame(env, "SELECT credit_code, toString(event_type) AS t FROM events WHERE batch_id = %(b)s "
                "ORDER BY credit_code", b=res.batch_id)
    assert dict(zip(ev["credit_code"], ev["t"])) == {a.credit_code: "cancellation", b.credit_code: "revocation"}


def test_failed_inspection_creates_a_clue_task(env: IngestEnv):
    bad, good = env.entity(), env.entity()
    rows = [env.event("inspection", bad, result="发现问题", note="无证经营"), env.event("inspection", good)]
    t0 = dt.datetime.now().replace(microsecond=0)
    res = env.load("inspection", to_csv(rows), "检查.csv")
    check_batch(env, res, rows_in=2)
    tasks = _frame(env, "SELECT credit_code, toString(task_type) AS t, toString(status) AS s, dept_id, detail, "
                   "due_date, created_at, task_id FROM tasks WHERE batch_id = %(b)s", b=res.batch_id)
    assert len(tasks) == 1
    t = tasks.iloc[0]
    assert (t["credit_code"], t["t"], t["s"], t["detail"]) == (bad.credit_code, "clue", "town", "无证经营")
    assert t["dept_id"] == bad.grid_code[:9] + "-02" and t["created_at"] >= pd.Timestamp(t0)
    limit = TaskRules.from_env().limit("clue_forward")
    assert pd.Timestamp(t["due_date"]) == pd.Timestamp(
        add_workdays(np.array([t["created_at"].date()], dtype="datetime64[D]"), limit)[0])
    te = _frame(env, "SELECT toString(status) AS s, toString(actor_kind) AS k, actor FROM task_events "
                "WHERE task_id = %(t)s", t=t["task_id"])
    assert te.values.tolist() == [["town", "grid_worker", "李四"]]
    res2 = _frame(env, "SELECT credit_code, toString(result) AS r FROM events WHERE batch_id = %(b)s",
                  b=res.batch_id)
    assert dict(zip(res2["credit_code"], res2["r"])) == {bad.credit_code: "fail", good.credit_code: "pass"}


def test_licence_and_penalty_push_disclosure(env: IngestEnv):
    for source in ("licence", "penalty"):
        res = env.load(source, to_csv(env.events(source, 2)), f"{source}.csv")
        check_batch(env, res, rows_in=2)
        tasks = _frame(env, "SELECT toString(task_type) AS t, toString(status) AS s FROM tasks "
                       "WHERE batch_id = %(b)s", b=res.batch_id)
        assert tasks.values.tolist() == [["disclosure", "pending"]] * 2


def test_disclosure_deadline_runs_from_the_decision(env: IngestEnv):
    """The 7 working days to publish a decision count from the decision date, across holidays
    and make-up working days (调休), not from the load: a late decision is overdue on arrival."""
    from tests.oracle_tasks import working_days_after

    def due_after(day: dt.date, n: int) -> dt.date:  # the n-th working day after ``day``, counted one by one
        d = day
        while working_days_after(day, d) < n:
            d += dt.timedelta(days=1)
        return d

    limit = TaskRules.from_env().limit("disclosure")
    decided = {"licence": dt.datetime(2025, 9, 30, 16, 0), "penalty": dt.datetime.now() - dt.timedelta(days=40)}
    for source, when in decided.items():
        ent = next(e for e in iter(env.entity, None) if pd.Timestamp(e.reg_date).date() < when.date())
        res = env.load(source, to_csv([env.event(source, ent, when=when)]), f"{source}-late.csv")
        check_batch(env, res, rows_in=1)
        task = _frame(env, "SELECT due_date, created_at FROM tasks WHERE batch_id = %(b)s", b=res.batch_id).iloc[0]
        assert pd.Timestamp(task["due_date"]).date() == due_after(when.date(), limit), source
        assert pd.Timestamp(task["due_date"]).date() < dt.date.today() <= pd.Timestamp(task["created_at"]).date()
    assert due_after(dt.date(2025, 9, 30), 5) == dt.date(2025, 10, 14)  # the oracle itself, on National Day 2025


def test_grid_cache_is_per_engine():
    """Two engines with the same database name (embedded and server) must not share cached grids."""
    from etl.ingest.lookups import clear_grid_cache, known_grids
    from store.engine import Engine

    class Stub(Engine):
        name = "stub"

        def __init__(self, where: str, grids: list[str]) -> None:
            super().__init__("jinjian")
            self.url, self.grids = where, grids

        def query(self, sql: str) -> pd.DataFrame:
            if "reference_batches" in sql:  # the reference version the cache is kept for
                return pd.DataFrame({"v": [0]})
            return pd.DataFrame({"code": self.grids})

        def command(self, sql: str) -> None: ...

        def insert(self, table: str, df: pd.DataFrame) -> None: ...

    clear_grid_cache()
    try:
        a, b = Stub("a", ["441900001001001"]), Stub("b", ["440103001001001"])
        assert known_grids(a) == {"441900001001001"} and known_grids(b) == {"440103001001001"}
    finally:
        clear_grid_cache()


# --------------------------------------------------------------------------- the inbox

def _drop(path: Path, data: bytes, age: float = 30.0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    past = time.time() - age
    os.utime(path, (past, past))
    return path


def test_inbox(env: IngestEnv, monkeypatch, tmp_path):
    monkeypatch.setenv("JINJIAN_INGEST_DIR", str(tmp_path))
    box = inbox_mod.Inbox(Ingestor(env.db))
    assert box.root == tmp_path
    inbox = tmp_path / "inbox"
    regs = to_csv(env.registration(2))
    mine = env.entity()
    other = next(e for e in iter(env.entity, None) if e.grid_code[:9] != mine.grid_code[:9])
    town = mine.grid_code[:9]
    changes = to_csv([env.event("change", mine), env.event("change", other)])
    good = _drop(inbox / "registration" / "新设登记.csv", regs)
    partial = _drop(inbox / "change" / town / "变更登记.csv", changes)
    empty = _drop(inbox / "licence" / "许可.csv", b"")
    old_excel = _drop(inbox / "penalty" / "处罚.xls", b"\xd0\xcf\x11\xe0 not supported")
    uploading = _drop(inbox / "complaint" / "投诉.csv.part", to_csv(env.events("complaint", 1)))
    fresh = _drop(inbox / "inspection" / "检查.csv", to_csv(env.events("inspection", 1)), age=-60)  # not settled
    leftover = _drop(tmp_path / "processing" / "sampling" / "抽检.jsonl", to_jsonl(env.events("sampling", 2)))

    results = {p.name: r for p, r in box.scan_once()}
    assert set(results) == {"新设登记.csv", "变更登记.csv", "许可.csv", "处罚.xls", "抽检.jsonl"}
    day = dt.date.today().strftime("%Y%m%d")
    assert (tmp_path / "done" / "registration" / day / good.name).read_bytes() == regs
    assert (tmp_path / "done" / "change" / day / partial.name).read_bytes() == changes
    assert (tmp_path / "rejected" / "licence" / day / empty.name).exists()
    assert (tmp_path / "done" / "sampling" / day / leftover.name).exists()
    assert results["许可.csv"].state == "failed" and "为空" in results["许可.csv"].message
    assert (tmp_path / "rejected" / "penalty" / day / old_excel.name).exists()
    assert results["处罚.xls"].state == "failed" and ".xls" in results["处罚.xls"].message
    assert results["新设登记.csv"].rows_loaded == 2 and results["抽检.jsonl"].rows_loaded == 2
    ch = results["变更登记.csv"]
    assert (ch.rows_loaded, problem_rows(ch)) == (1, {3: {"out_of_scope"}})  # the folder name is the scope
    assert batch_state(env.db, ch.batch_id)["region_code"] == town
    back = tmp_path / "rejected" / "change" / day / "变更登记_退回记录.csv"
    assert report_rows(back) == [3]
    assert not list((tmp_path / "rejected" / "registration").glob("**/*"))  # nothing returned for a clean file
    assert not [p for p in inbox.rglob("*") if p.is_file() and p not in (uploading, fresh)]
    assert uploading.exists() and fresh.exists()  # left alone
    assert not [p for p in (tmp_path / "processing").rglob("*") if p.is_file()]
    for name, r in results.items():
        if r.state == "loaded":
            check_batch(env, r)
    assert [p.name for p, _ in box.scan_once()] == []  # nothing else is settled
    os.utime(fresh, (time.time() - 30, time.time() - 30))
    assert [(p.name, r.rows_loaded) for p, r in box.scan_once()] == [("检查.csv", 1)]
    # the same file dropped again: already loaded, changes nothing, still moved out of the inbox
    before = env.counts()
    _drop(inbox / "registration" / "新设登记.csv", regs)
    [(path, again)] = box.scan_once()
    assert again.already and env.counts() == before
    assert (tmp_path / "done" / "registration" / day / "新设登记-2.csv").exists()


def test_inbox_error_on_one_file_does_not_block_the_others(env: IngestEnv, monkeypatch, tmp_path):
    """An unexpected failure leaves that file in processing/ (retried next scan); the rest still load."""
    monkeypatch.setenv("JINJIAN_INGEST_DIR", str(tmp_path))
    ing = Ingestor(env.db)
    box = inbox_mod.Inbox(ing)
    stuck = _drop(tmp_path / "processing" / "complaint" / "坏.jsonl", to_jsonl(env.events("complaint", 1)))
    good = _drop(tmp_path / "inbox" / "complaint" / "好.jsonl", to_jsonl(env.events("complaint", 1)))
    real = ing.ingest_file

    def flaky(path, source, **kw):
        if path.name == stuck.name:
            raise RuntimeError("disk error")
        return real(path, source, **kw)

    monkeypatch.setattr(ing, "ingest_file", flaky)
    results = {p.name: r for p, r in box.scan_once()}
    assert set(results) == {good.name} and results[good.name].rows_loaded == 1
    assert stuck.exists()  # kept for the next scan
    monkeypatch.setattr(ing, "ingest_file", real)
    assert {p.name for p, _ in box.scan_once()} == {stuck.name} and not stuck.exists()


def test_wall_live_version(env: IngestEnv, flask_server):  # the app registers the pages
    """The wall redraws when a batch lands — once, and not while the last redraw is still running."""
    from dash import no_update

    from store.versions import data_version
    from pages.home import live_version
    from store import db as dbmod

    dbmod.set_db(env.db)
    try:
        v0 = data_version(env.db, max_age=0)
        env.load("complaint", to_jsonl(env.events("complaint", 1)), "live.jsonl")
        v1 = data_version(env.db, max_age=0)
        assert v0 < v1 < 2 ** 53  # exact as a JavaScript number
        assert live_version(1, v0, v0) == v1  # new data, last redraw done → redraw
        assert live_version(2, v1, v0) is no_update  # redraw of v1 still running
        assert live_version(3, v1, v1) is no_update  # nothing new
        # The first draw says which version it drew: nothing more until it is done, and then
        # a redraw only for newer data (not the same data drawn twice on every load).
        assert live_version(4, None, None) is no_update
        assert live_version(5, None, v1) is no_update
        assert live_version(6, None, v0) == v1
    finally:
        dbmod.set_db(None)


def test_rollups_equal_raw_after_every_batch(env: IngestEnv):
    """Last in the module: after every batch above (registrations, changes that move
    entities, cancellations, feedback, rejected and replayed batches), each rollup
    equals pandas totals of the raw rows."""
    from tests.rollupkit import mismatches

    assert mismatches(env.db) == []


def test_sorted_copies_equal_their_tables(env: IngestEnv):
    """Last in the module: after entity changes, cancellations and task feedback replaced
    rows, the copies sorted by key equal their tables (store.batch_index)."""
    from tests.ingestkit import copy_mismatches

    assert copy_mismatches(lambda sql: run(env.db, "t_copies", sql)) == []
