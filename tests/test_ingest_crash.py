"""A load killed in the middle of a batch, then retried, leaves exact counts: no
duplicates, no loss, the batch ``loaded`` (etl.ingest.batch).

The loader runs in a subprocess (``python -m etl load``) with
``JINJIAN_INGEST_CRASH_AT=stage`` or ``=publish``, which makes it exit abruptly
(status 75) in the middle of the batch; the retry runs in another process, once
with the same file (``Ingestor.ingest_file``) and once without it (recovery at
the start of ``python -m etl batches`` uses the archived input).

Embedded chDB opens one data directory per process, so in chDB mode every step
is a subprocess over a data directory prepared with ``etl init`` + ``etl demo``;
in server mode the subprocesses use the test server through JINJIAN_CLICKHOUSE_URL.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from domain import uscc
from etl.ingest.batch import batch_id_for
from supervision.rules import allowed_next
from tests.ingestkit import KINDS, to_csv, zh

ROOT = Path(__file__).resolve().parents[1]
CRASH_EXIT = 75

#: Run in a subprocess over the configured database. argv[1] is a JSON list of steps, run
#: in order, each answered in the JSON list printed on the last line:
#: ["counts"], ["batch", id] (its counts and state), ["load", path, source] (a plain
#: Ingestor: no recovery first), ["recover"], ["sql", sql, params] (the rows).
SCRIPT = r"""
import json, sys
from settings import Settings
from store.engine import make_engine
from store.executor import run
from tests.ingestkit import batch_counts, batch_state, counts
from etl.ingest.batch import Ingestor

def result(r):
    return {"state": r.state, "already": r.already, "rows_in": r.rows_in, "rows_loaded": r.rows_loaded,
            "rows_rejected": r.rows_rejected, "batch_id": r.batch_id, "message": r.message}

db = make_engine(Settings.from_env())
out = []
for op, *args in json.loads(sys.argv[1]):
    if op == "counts":
        out.append(counts(db))
    elif op == "batch":
        out.append({**batch_counts(db, args[0]), "state": batch_state(db, args[0])["state"]})
    elif op == "load":
        out.append(result(Ingestor(db).ingest_file(args[0], args[1])))
    elif op == "recover":
        out.append([result(r) for r in Ingestor(db).recover()])
    elif op == "sql":
        out.append(json.loads(run(db, "crash_sql", args[0], args[1]).to_json(orient="records", date_format="iso")))
print(json.dumps(out, default=str))
"""


@dataclass
class Target:
    kind: str
    env: dict[str, str]
    tmp: Path

    def _run(self, args: list[str], crash: str = "", **extra: str) -> subprocess.CompletedProcess:
        env = {**self.env, "JINJIAN_INGEST_CRASH_AT": crash, **extra}
        return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)

    def etl(self, *args: str, crash: str = "", **extra: str) -> subprocess.CompletedProcess:
        return self._run(["-m", "etl", *args], crash, **extra)

    def ask(self, *steps: list) -> list:
        res = self._run(["-c", SCRIPT, json.dumps(steps, ensure_ascii=False)])
        assert res.returncode == 0, res.stderr[-3000:]
        return json.loads(res.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module", params=KINDS)
def target(request, tmp_path_factory) -> Target:
    tmp = tmp_path_factory.mktemp(f"crash-{request.param}")
    env = {k: v for k, v in os.environ.items() if not k.startswith("JINJIAN_")}
    env.update(JINJIAN_DATA_DIR=str(tmp / "data"), JINJIAN_INGEST_DIR=str(tmp / "ingest"), JINJIAN_INBOX="0",
               JINJIAN_SIMULATOR="0", PYTHONPATH=str(ROOT))
    t = Target(request.param, env, tmp)
    if request.param == "server":
        from tests.conftest import make_test_engine
        from tests.ingestkit import load_demo

        server = request.getfixturevalue("ch_server")
        load_demo(make_test_engine("server", request, "test_ingest_crash"), request.getfixturevalue("demo_data"))
        env["JINJIAN_CLICKHOUSE_URL"] = f"clickhouse://default@127.0.0.1:{server.tcp_port}/test_ingest_crash"
    else:  # a data directory of its own, filled by the CLI (one chDB process at a time); ``demo``
        # creates the schema and loads the region tree itself, as ``init`` would (saves a process)
        end = (dt.date.today() - dt.timedelta(days=2)).isoformat()
        res = t.etl("demo", "--root", "4419", "--entities", "2000", "--days", "40", "--end-date", end)
        assert res.returncode == 0, res.stderr[-3000:]
    return t


@pytest.fixture(scope="module")
def pool(target) -> dict:
    """Real rows of the target database: active entities, grids, open tasks (each test takes its own)."""
    ents, tasks, grids = target.ask(
        ["sql", "SELECT credit_code, grid_code FROM entities WHERE status = 'active' AND grid_code LIKE %(p)s "
                "ORDER BY cityHash64(credit_code) LIMIT 60", {"p": "4419%"}],
        ["sql", "SELECT task_id, toString(task_type) AS task_type, toString(status) AS status FROM tasks "
                "WHERE status != 'closed' ORDER BY task_id LIMIT 40", {}],
        ["sql", "SELECT DISTINCT grid_code FROM entities WHERE grid_code LIKE %(p)s ORDER BY grid_code",
         {"p": "4419%"}])
    assert len(ents) == 60 and len(tasks) >= 12 and len(grids) > 10
    return {"entities": iter(ents), "tasks": iter(tasks), "grids": [g["grid_code"] for g in grids],
            "rng": np.random.default_rng(5)}


def _when() -> str:
    return (dt.datetime.now() - dt.timedelta(minutes=5)).strftime("%Y-%m-%d %H:%M:%S")


def _delta(before: dict, after: dict) -> dict:
    return {k: after[k] - before[k] for k in before if after[k] != before[k]}


def _crash(target: Target, path: Path, source: str, point: str) -> None:
    res = target.etl("load", str(path), "--source", source, crash=point)
    assert res.returncode == CRASH_EXIT, (res.returncode, res.stdout, res.stderr[-2000:])
    assert f"JINJIAN_INGEST_CRASH_AT={point}" in res.stderr


def test_crash_while_staging_then_retry(target: Target, pool, tmp_path):
    grids = pool["grids"]
    codes = uscc.generate(pool["rng"], [grids[0][:6]] * 12, ["enterprise"] * 12)
    rows = [zh("registration", {"credit_code": c, "name": f"重试测试{i}号有限公司", "entity_type": "企业",
                                "industry": "F", "grid_code": grids[i % len(grids)], "event_time": _when()[:10],
                                "legal_rep": "赵六", "lon": "113.7", "lat": "22.9"})  # given: none drawn
            for i, c in enumerate(codes)]
    rows.insert(3, {**rows[0], "统一社会信用代码": codes[0][:-1] + ("0" if codes[0][-1] != "0" else "1")})
    rows.insert(7, {**rows[1], "统一社会信用代码": uscc.generate(pool["rng"], ["441900"], ["individual"])[0],
                    "网格编码": "441999999999999"})
    path = tmp_path / "登记.csv"
    path.write_bytes(to_csv(rows))
    bid = batch_id_for("registration", path.read_bytes())
    [before] = target.ask(["counts"])

    _crash(target, path, "registration", "stage")
    mid, retry, after, again, final = target.ask(["batch", bid], ["load", str(path), "registration"],
                                                 ["batch", bid], ["load", str(path), "registration"], ["counts"])
    assert mid["state"] == "received"
    assert mid["stage_entities"] == 12 and mid["stage_events"] == 0  # killed in the middle of staging
    assert mid["quarantine_rows"] == 2 and mid["entities"] == 0
    assert retry == {"state": "loaded", "already": False, "rows_in": 14, "rows_loaded": 12, "rows_rejected": 2,
                     "batch_id": bid, "message": ""}
    assert after["state"] == "loaded" and after["quarantine"] == 2  # the first attempt's rows are not doubled
    assert all(after[t] == 12 for t in ("entities", "events", "tasks", "task_events", "ingest_keys"))
    assert _delta(before, final) == {"entities": 12, "events": 12, "tasks": 12, "task_events": 12,
                                     "ingest_keys": 12, "quarantine": 2, "batches": 1}
    assert again["already"] and again["rows_loaded"] == 12  # loading it once more changes nothing


def test_crash_while_publishing_then_retry(target: Target, pool, tmp_path):
    ents = [next(pool["entities"]) for _ in range(8)]
    grids = pool["grids"]
    moves = {e["credit_code"]: next(g for g in grids[i:] + grids if g != e["grid_code"]) for i, e in enumerate(ents)}
    rows = [zh("change", {"record_id": f"BGCRASH{i:04d}", "credit_code": code, "event_time": _when(),
                          "change_item": "住所", "new_value": "新住所", "new_grid_code": grid})
            for i, (code, grid) in enumerate(moves.items())]
    rows.append(zh("change", {"record_id": "BGCRASH9999", "credit_code": uscc.generate(pool["rng"], ["441900"],
                              ["enterprise"])[0], "event_time": _when(), "change_item": "经营范围"}))
    path = tmp_path / "变更.csv"
    path.write_bytes(to_csv(rows))
    bid = batch_id_for("change", path.read_bytes())
    [before] = target.ask(["counts"])

    _crash(target, path, "change", "publish")
    sql = "SELECT credit_code, grid_code, batch_id FROM entities WHERE credit_code IN %(c)s"
    mid, mid_counts, retry, ents_after, final = target.ask(
        ["batch", bid], ["counts"], ["load", str(path), "change"], ["sql", sql, {"c": list(moves)}], ["counts"])
    assert mid["state"] == "staged"
    assert mid["entities"] == 8 and mid["events"] == 0  # half published: those entities are there twice
    assert mid_counts["entities"] == before["entities"] + 8
    assert (retry["state"], retry["already"], retry["rows_loaded"], retry["rows_rejected"]) == ("loaded", False, 8, 1)
    assert _delta(before, final) == {"events": 8, "tasks": 8, "task_events": 8, "ingest_keys": 8,
                                     "quarantine": 1, "batches": 1}
    assert len(ents_after) == 8  # one row per entity: the old versions gone, the new ones once
    assert {r["credit_code"]: (r["grid_code"], r["batch_id"]) for r in ents_after} == {
        c: (g, bid) for c, g in moves.items()}


@pytest.mark.parametrize("point", ["stage", "publish"])
def test_recovery_uses_the_archived_input(target: Target, pool, tmp_path, point):
    tasks = [next(pool["tasks"]) for _ in range(6)]
    rows = [zh("task_feedback", {"feedback_id": f"FKCRASH{point}{i}", "task_id": t["task_id"], "event_time": _when(),
                                 "status": allowed_next(t["task_type"], t["status"])[0], "actor": "钱七",
                                 "actor_kind": "网格员"}) for i, t in enumerate(tasks)]
    path = tmp_path / "反馈.csv"
    path.write_bytes(to_csv(rows))
    bid = batch_id_for("task_feedback", path.read_bytes())
    ids = [t["task_id"] for t in tasks]
    [before] = target.ask(["counts"])

    _crash(target, path, "task_feedback", point)
    path.unlink()  # the department's file is gone: recovery reads the archived copy
    steps = [["batch", bid],
             ["sql", "SELECT task_id, toString(status) AS status, batch_id FROM tasks WHERE task_id IN %(t)s",
              {"t": ids}],
             ["sql", "SELECT task_id, count() AS n FROM task_events WHERE batch_id = %(b)s GROUP BY task_id",
              {"b": bid}], ["counts"]]
    if point == "stage":  # every CLI command finishes interrupted batches first
        res = target.etl("batches")
        assert res.returncode == 0, res.stderr[-2000:]
        line = next(ln for ln in res.stdout.splitlines() if bid[:12] in ln).split()
        assert "loaded" in line and "task_feedback" in line
        after, task_rows, te, final = target.ask(*steps)
    else:  # Ingestor.recover() itself
        mid, recovered, after, task_rows, te, final = target.ask(["batch", bid], ["recover"], *steps)
        assert mid["state"] == "staged"
        assert [(r["batch_id"], r["state"], r["rows_loaded"], r["already"]) for r in recovered] == [
            (bid, "loaded", 6, False)]
    assert after["state"] == "loaded"
    assert _delta(before, final) == {"task_events": 6, "ingest_keys": 6, "batches": 1}
    want = {t["task_id"]: (allowed_next(t["task_type"], t["status"])[0], bid) for t in tasks}
    assert len(task_rows) == 6 and {r["task_id"]: (r["status"], r["batch_id"]) for r in task_rows} == want
    assert sorted(r["n"] for r in te) == [1] * 6
    assert all(v == 0 for k, v in after.items() if k.startswith("stage_"))


def test_rollups_equal_raw_after_crashes_and_retries(target: Target):
    """Last in the module: the batches above crashed mid-stage and mid-publish, were
    undone and loaded again; every rollup still equals pandas totals of the raw rows."""
    from tests.rollupkit import mismatches

    assert mismatches(lambda sql: pd.DataFrame(target.ask(["sql", sql, {}])[0])) == []


def test_bulk_load_of_a_folder_resumes_after_a_kill(target: Target, pool, tmp_path):
    """``etl load FOLDER``: files in name order, one batch each; killed in the middle of the
    second file and run again, the first stays, the second is finished from its archive, the
    third loads; a further run skips all three (at most once per file)."""
    grids = pool["grids"]
    folder = tmp_path / "历史登记"
    folder.mkdir()
    for k, name in enumerate(("2024-01.csv", "2024-02.csv", "2024-03.csv")):
        codes = uscc.generate(pool["rng"], [grids[0][:6]] * 5, ["enterprise"] * 5)
        rows = [zh("registration", {"credit_code": c, "name": f"批量{k}-{i}号有限公司", "entity_type": "企业",
                                    "industry": "F", "grid_code": grids[(k + i) % len(grids)],
                                    "event_time": f"2024-0{k + 1}-1{i}", "legal_rep": "钱七", "lon": "113.7",
                                    "lat": "22.9"}) for i, c in enumerate(codes)]
        (folder / name).write_bytes(to_csv(rows))
    (folder / "说明.txt").write_text("not data")  # ignored: not a data file
    [before] = target.ask(["counts"])
    first = target.etl("load", str(folder / "2024-01.csv"), "--source", "registration", "--history")
    assert first.returncode == 0, first.stderr[-2000:]
    killed = target.etl("load", str(folder), "--source", "registration", "--history", crash="publish")
    assert killed.returncode == CRASH_EXIT and "2024-01.csv: 已导入，跳过" in killed.stdout, killed.stdout
    resumed = target.etl("load", str(folder), "--source", "registration", "--history")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "3 files: 1 loaded, 2 already loaded (skipped), 0 failed; rows in 15, loaded 15" in resumed.stdout, \
        resumed.stdout
    [after] = target.ask(["counts"])
    assert _delta(before, after) == {"entities": 15, "events": 15, "ingest_keys": 15, "batches": 3}  # history: no task
    again = target.etl("load", str(folder), "--source", "registration", "--history")
    assert "3 files: 0 loaded, 3 already loaded (skipped)" in again.stdout, again.stdout
    assert target.ask(["counts"])[0] == after
    missing = target.etl("load", str(tmp_path / "没有这个目录"), "--source", "registration")
    assert missing.returncode == 2 and "no such file or folder" in missing.stderr


def test_a_large_file_loads_in_parts_and_resumes_after_a_kill(target: Target, pool, tmp_path):
    """Issue 20: ``etl load BIG.csv`` with parts of 2 KB: one batch per part, killed while
    publishing the first, run again: the first is finished from its archive and the rest load;
    rejected records keep their line numbers in the file; a third run skips every part."""
    grids = pool["grids"]
    codes = uscc.generate(pool["rng"], [grids[0][:6]] * 40, ["enterprise"] * 40)
    rows = [zh("registration", {"credit_code": c, "name": f"分段{i}号有限公司", "entity_type": "企业",
                                "industry": "F", "grid_code": grids[i % len(grids)],
                                "event_time": f"2024-05-{1 + i % 28:02d}", "legal_rep": "孙八", "lon": "113.7",
                                "lat": "22.9"}) for i, c in enumerate(codes)]
    for i in (5, 23, 38):  # line i + 2 of the file
        rows[i]["成立日期"] = "2024-13-45"
    path = tmp_path / "历史登记-大文件.csv"
    path.write_bytes(to_csv(rows))
    parts = {"JINJIAN_INGEST_PART_MB": "0.002"}
    [before] = target.ask(["counts"])
    killed = target.etl("load", str(path), "--source", "registration", "--history", crash="publish", **parts)
    assert killed.returncode == CRASH_EXIT, killed.stderr[-2000:]
    resumed = target.etl("load", str(path), "--source", "registration", "--history", **parts)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "（第 2–" in resumed.stdout and "rejected 3" in resumed.stdout, resumed.stdout
    [after] = target.ask(["counts"])
    assert _delta(before, after)["entities"] == 37 and _delta(before, after)["ingest_keys"] == 37
    [bad] = target.ask(["sql", "SELECT row_no, reason_code FROM quarantine WHERE batch_id IN (SELECT batch_id "
                        "FROM ingest_batches WHERE file_name LIKE '历史登记-大文件.csv%%') ORDER BY row_no", {}])
    assert [(r["row_no"], r["reason_code"]) for r in bad] == [(7, "bad_date"), (25, "bad_date"), (40, "bad_date")]
    again = target.etl("load", str(path), "--source", "registration", "--history", **parts)
    batches = int(again.stdout.split(" batches:")[0].split(" in ")[-1])
    assert batches >= 2 and f"0 loaded, {batches} already loaded (skipped)" in again.stdout, again.stdout
    assert target.ask(["counts"])[0] == after


def test_sorted_copies_equal_their_tables_after_crashes(target: Target):
    """Last in the module: the copies sorted by key (entities_by_code, tasks_by_id, task_events_by_id) lost
    exactly the rows their tables lost when batches were undone and versions replaced."""
    from tests.ingestkit import copy_mismatches

    assert copy_mismatches(lambda sql: pd.DataFrame(target.ask(["sql", sql, {}])[0])) == []
