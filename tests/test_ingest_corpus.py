"""End-to-end ingestion (etl.ingest) on embedded chDB and on a ClickHouse server: a
corpus of bad inputs, each with its documented outcome, and nothing lost (rows in =
loaded + rejected, checked against the tables, the quarantine and the rejection
report); each input loaded twice changes nothing the second time.

Idempotency of every kind of write, the effects of each kind of record and the inbox
folder: tests/test_ingest.py.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Callable

import pytest

from store.executor import run
from tests.ingestkit import (
    CODE, GRID, IngestEnv, TARGET, has_chinese, bad_check_char, batch_counts, batch_state, check_batch,
    ingest_db_fixture, problem_rows, quarantine_codes, to_csv, to_jsonl, to_xlsx,
)

env = ingest_db_fixture("corpus")


@pytest.fixture(autouse=True)
def _lookups_through_key_tables(monkeypatch):
    """Every look-up of the corpus goes through a key table joined in the engine (the path
    of files with more than ``lookups.CHUNK`` keys); tests/test_ingest.py keeps the bound
    ``IN`` lists of small batches."""
    from etl.ingest import lookups

    monkeypatch.setattr(lookups, "CHUNK", 1)


# --------------------------------------------------------------------------- the corpus

@dataclasses.dataclass
class Case:
    source: str
    name: str
    data: bytes
    loaded: int = 0
    rejected: dict[int, str | set[str]] = dataclasses.field(default_factory=dict)  # row → reason code(s)
    failed: str = ""        # the whole file fails: a fragment of its Chinese message
    scope: str = ""
    warning: str = ""
    before: list[tuple[str, bytes, str]] = dataclasses.field(default_factory=list)  # batches loaded first
    check: Callable[[IngestEnv, object], None] | None = None


def _gbk(env: IngestEnv) -> Case:
    rows = env.registration(3)
    rows[1]["名称"] = "东莞市樟木头镇湘菜馆（个体工商户）"

    def check(env, res):
        assert batch_state(env.db, res.batch_id)["encoding"] == "gb18030"
        names = run(env.db, "t", "SELECT name FROM entities WHERE batch_id = %(b)s", {"b": res.batch_id})
        assert sorted(names["name"]) == sorted(r["名称"] for r in rows)  # Chinese text survives

    return Case("registration", "登记.csv", to_csv(rows, "gbk"), loaded=3, check=check)


def _undecodable(env: IngestEnv) -> Case:
    data = to_csv(env.registration(2)).replace("张三".encode(), b"\xff\xfe\x80", 1)
    return Case("registration", "坏编码.csv", data, failed="编码")


def _jsonl_gbk(env: IngestEnv) -> Case:  # JSON lines must be UTF-8
    return Case("complaint", "gbk.jsonl", to_jsonl(env.events("complaint", 2)).decode().encode("gbk"),
                failed="编码")


def _broken_quoting(env: IngestEnv) -> Case:
    lines = to_csv(env.registration(4)).decode().splitlines(keepends=True)
    lines[2] = lines[2].replace(",东莞市", ',"东莞市', 1)  # an opening quote never closed, mid-file
    return Case("registration", "引号.csv", "".join(lines).encode(), loaded=3, rejected={3: "unparsable"})


def _missing_column(env: IngestEnv) -> Case:
    rows = [{k: v for k, v in r.items() if k != "行业门类"} for r in env.registration(3)]
    return Case("registration", "缺列.csv", to_csv(rows), rejected={2: "missing_column", 3: "missing_column",
                                                                      4: "missing_column"})


def _extra_column(env: IngestEnv) -> Case:
    rows = [{**r, "备注": "系统导出"} for r in env.registration(2)]
    return Case("registration", "多列.csv", to_csv(rows), loaded=2, warning="备注")


def _empty(env: IngestEnv) -> Case:
    return Case("licence", "空.csv", b"", failed="文件为空")


def _blank(env: IngestEnv) -> Case:
    return Case("licence", "空白.csv", b"\xef\xbb\xbf \r\n\r\n", failed="文件为空")


def _header_only(env: IngestEnv) -> Case:
    header = list(env.registration(1)[0])
    return Case("registration", "表头.csv", to_csv([], header=header))


def _check_char(env: IngestEnv) -> Case:
    rows = env.registration(3)
    rows[1][CODE] = bad_check_char(rows[1][CODE])
    return Case("registration", "校验位.csv", to_csv(rows), loaded=2, rejected={3: "credit_code"})


def _unknown_grid(env: IngestEnv) -> Case:
    rows = env.registration(3)
    rows[0][GRID] = "441999999999999"  # 15 digits, no such grid
    rows[2][GRID] = "44190"
    return Case("registration", "网格.csv", to_csv(rows), loaded=1, rejected={2: "unknown_grid", 4: "bad_grid"})


def _grid_scope(env: IngestEnv) -> Case:
    rows = env.registration(3)
    rows[2][GRID] = env.other_grid  # a real grid of Guangzhou, sent by a Dongguan unit
    return Case("registration", "辖区.csv", to_csv(rows), loaded=2, rejected={4: "out_of_scope"}, scope="4419")


def _entity_scope(env: IngestEnv) -> Case:
    mine = env.entity()
    other = next(e for e in iter(env.entity, None) if e.grid_code[:9] != mine.grid_code[:9])
    rows = [env.event("penalty", mine), env.event("penalty", other)]
    return Case("penalty", "处罚.csv", to_csv(rows), loaded=1, rejected={3: "out_of_scope"},
                scope=mine.grid_code[:9])


def _future(env: IngestEnv) -> Case:
    rows = env.events("inspection", 3)
    rows[1]["检查时间"] = (dt.datetime.now() + dt.timedelta(days=3)).strftime("%Y-%m-%d %H:%M")
    rows[2]["检查时间"] = "2024-02-30"
    return Case("inspection", "检查.csv", to_csv(rows), loaded=1, rejected={3: "future_date", 4: "bad_date"})


def _huge(env: IngestEnv) -> Case:
    rows = env.events("complaint", 2)
    rows[1]["内容摘要"] = "投诉" * 5000  # 10,000 characters

    def check(env, res):
        q = run(env.db, "t", "SELECT max(lengthUTF8(raw)) AS n FROM quarantine WHERE batch_id = %(b)s",
                {"b": res.batch_id})
        assert 0 < int(q["n"].iloc[0]) <= 4000  # the quarantine keeps the start; the archive keeps all
        import csv
        import io

        report = list(csv.DictReader(io.StringIO(res.report.read_bytes().decode("utf-8-sig"))))
        assert report[0]["内容摘要"] == rows[1]["内容摘要"]  # the report returns the record whole

    return Case("complaint", "投诉.csv", to_csv(rows), loaded=1, rejected={3: "too_long"}, check=check)


def _dup_in_batch(env: IngestEnv) -> Case:
    rows = env.events("licence", 2)
    rows.insert(1, dict(rows[0]))  # the same record twice
    return Case("licence", "许可.csv", to_csv(rows), loaded=2, rejected={3: "duplicate_in_batch"})


def _dup_across(env: IngestEnv) -> Case:
    first = env.events("penalty", 2)
    again = [first[1], *env.events("penalty", 1)]
    return Case("penalty", "处罚2.csv", to_csv(again), loaded=1, rejected={2: "duplicate"},
                before=[("penalty", to_csv(first), "处罚1.csv")])


def _registered(env: IngestEnv) -> Case:
    rows = env.registration(2)
    rows[0][CODE] = env.entity().credit_code  # a demo entity, registered long ago
    return Case("registration", "已登记.csv", to_csv(rows), loaded=1, rejected={2: "duplicate"})


def _xlsx_merged(env: IngestEnv) -> Case:
    rows = env.registration(3)
    rows[1]["行业门类"] = "Z"
    data = to_xlsx(rows, groups=[(CODE, 1), ("主体信息", 3), ("登记信息", 4)])
    return Case("registration", "登记.xlsx", data, loaded=2, rejected={4: "bad_enum"})  # data from sheet row 3


def _unknown_entity(env: IngestEnv) -> Case:
    rows = [env.event("change"), env.event("change", env.new_codes(1)[0])]
    return Case("change", "变更.csv", to_csv(rows), loaded=1, rejected={3: "unknown_entity"})


def _bad_state(env: IngestEnv) -> Case:
    gone = run(env.db, "t", "SELECT credit_code FROM entities WHERE status = 'cancelled' ORDER BY credit_code "
               "LIMIT 1")["credit_code"].iloc[0]
    rows = [env.event("cancellation", gone), env.event("cancellation")]
    return Case("cancellation", "注销.csv", to_csv(rows), loaded=1, rejected={2: "bad_state"})


def _bad_transition(env: IngestEnv) -> Case:
    closed = env.task("verify_registration", "closed")
    rows = [env.feedback(env.task("verify_registration", "inspecting"), "joint"),  # inspecting → closed | notice
            env.feedback(closed, "inspecting"),                                  # closed: nothing follows
            env.feedback("T999999999", "closed"),
            env.feedback(env.task("verify_change", "inspecting"), "closed")]
    return Case("task_feedback", "反馈.csv", to_csv(rows), loaded=1,
                rejected={2: "bad_transition", 3: "bad_transition", 4: "unknown_task"})


def _jsonl_malformed(env: IngestEnv) -> Case:
    body = to_jsonl(env.events("sampling", 3)).decode().splitlines()
    body.insert(1, '{"抽样单编号": "CY1", "统一社会信用代码": ')
    body.insert(3, '["不是对象"]')
    return Case("sampling", "抽检.jsonl", "\n".join(body).encode(), loaded=3,
                rejected={2: "unparsable", 4: "unparsable"})


def _values(env: IngestEnv) -> Case:
    rows = env.events("penalty", 4)
    rows[0]["违法行为"] = ""
    rows[1]["罚没金额（元）"] = "-5"
    rows[1]["处罚决定日期"] = "去年"  # two problems in one record: two quarantine rows, one rejected row
    rows[2]["处罚决定书文号"] = "东市监罚〔2026〕1号 ; DROP TABLE"
    return Case("penalty", "处罚3.csv", to_csv(rows), loaded=1,
                rejected={2: "required", 3: {"bad_number", "bad_date"}, 4: "bad_id"})


def _blank_lines(env: IngestEnv) -> Case:
    rows = env.registration(3)
    rows[2][CODE] = bad_check_char(rows[2][CODE])
    lines = to_csv(rows).decode().splitlines(keepends=True)
    lines[2:2] = ["\n", ",,,,,,,\n", "  \n"]  # skipped, not counted; row numbers stay physical lines
    return Case("registration", "空行.csv", "".join(lines).encode(), loaded=2, rejected={7: "credit_code"})


CASES: dict[str, Callable[[IngestEnv], Case]] = {
    "gbk_chinese_headers": _gbk, "undecodable_bytes": _undecodable, "jsonl_not_utf8": _jsonl_gbk,
    "broken_quoting": _broken_quoting, "missing_column": _missing_column, "extra_column": _extra_column,
    "empty_file": _empty, "blank_file": _blank, "header_only": _header_only, "credit_code_check": _check_char,
    "unknown_grid": _unknown_grid, "grid_out_of_scope": _grid_scope, "entity_out_of_scope": _entity_scope,
    "future_date": _future, "huge_field": _huge, "duplicate_in_batch": _dup_in_batch,
    "duplicate_across_batches": _dup_across, "already_registered": _registered, "xlsx_merged_header": _xlsx_merged,
    "unknown_entity": _unknown_entity, "cancelled_entity": _bad_state, "bad_transition": _bad_transition,
    "jsonl_malformed_lines": _jsonl_malformed, "bad_values": _values, "blank_lines": _blank_lines,
}


@pytest.mark.parametrize("case_id", list(CASES))
def test_corpus(env: IngestEnv, case_id: str):
    case = CASES[case_id](env)
    for source, data, name in case.before:
        assert env.load(source, data, name).state == "loaded"
    before = env.counts()
    res = env.load(case.source, case.data, case.name, scope=case.scope)
    after = env.counts()
    if case.failed:
        assert res.state == "failed"
        assert case.failed in res.message and has_chinese(res.message), res.message
        assert (res.rows_in, res.rows_loaded, res.rows_rejected) == (0, 0, 0)
        state = batch_state(env.db, res.batch_id)
        assert state["state"] == "failed" and state["message"] == res.message
        assert after == {**before, "batches": before["batches"] + 1}  # nothing written but the batch record
    else:
        check_batch(env, res)
        assert res.rows_loaded == case.loaded
        assert problem_rows(res) == {r: {c} if isinstance(c, str) else c for r, c in case.rejected.items()}
        assert quarantine_codes(env, res.batch_id) == problem_rows(res)
        assert all(has_chinese(p.reason) for p in res.problems)
        target = TARGET[case.source]
        assert after[target] - before[target] == case.loaded
        assert after["ingest_keys"] - before["ingest_keys"] == case.loaded
        assert after["quarantine"] - before["quarantine"] == len(res.problems)
        assert after["batches"] - before["batches"] == 1
        if case.warning:
            assert any(case.warning in w for w in res.warnings)
            assert case.warning in batch_state(env.db, res.batch_id)["message"]
        else:
            assert not res.warnings
        if case.check:
            case.check(env, res)
    # the same bytes again: a loaded batch is answered from the first load, a failed file or
    # one that loaded no record is simply checked again (it wrote no record); either way
    # nothing changes
    again = env.load(case.source, case.data, case.name, scope=case.scope)
    assert again.already == (res.state == "loaded" and (res.rows_loaded > 0 or res.rows_in == 0))
    assert again.batch_id == res.batch_id
    assert (again.state, again.rows_in, again.rows_loaded, again.rows_rejected, again.message) == (
        res.state, res.rows_in, res.rows_loaded, res.rows_rejected, res.message)
    assert env.counts() == after


def test_header_only_writes_nothing(env: IngestEnv):
    res = env.load("complaint", to_csv([], header=list(env.event("complaint"))), "空表.csv")
    assert (res.state, res.rows_in, res.rows_loaded, res.rows_rejected, res.report) == ("loaded", 0, 0, 0, None)
    assert all(v == 0 for v in batch_counts(env.db, res.batch_id).values())


def test_rollups_equal_raw_after_the_corpus(env: IngestEnv):
    """Last in the module: after every batch of the corpus (rejected, partly loaded and
    replayed ones), each rollup equals pandas totals of the raw rows."""
    from tests.rollupkit import mismatches

    assert mismatches(env.db) == []


@pytest.mark.parametrize("case_id", list(CASES))
def test_column_checks_equal_the_row_checks(env: IngestEnv, case_id: str):
    """Issue 20: the column-wise checks give exactly the row-wise problems (same rows,
    fields, codes, reasons, order) and the same valid rows on every corpus input."""
    import datetime as dt

    import pandas as pd

    from domain.sources import get_source
    from etl.ingest import readers
    from etl.ingest.lookups import known_grids
    from etl.ingest.raw import FileRejected
    from etl.ingest.validate import check_fields
    from tests import rowwise_validate

    case = CASES[case_id](env)
    try:
        table = readers.read_bytes(case.data, readers.detect_format(case.name))
    except FileRejected:
        return  # a whole-file refusal happens before any field check
    now, grids = dt.datetime.now().replace(microsecond=0), known_grids(env.db)
    src = get_source(case.source)
    new = check_fields(src, table, now=now, grids=grids, scope=case.scope)
    old = rowwise_validate.check_fields(src, table, now=now, grids=grids, scope=case.scope)
    assert new.problems == old.problems and new.warnings == old.warnings and new.rows_in == old.rows_in
    pd.testing.assert_frame_equal(new.rows, old.rows)


@pytest.mark.parametrize("case_id", list(CASES))
def test_plain_csv_reads_as_the_csv_module(env: IngestEnv, case_id: str, monkeypatch: pytest.MonkeyPatch):
    """Issue 20: every CSV file of the corpus gives the same table (or the same refusal) split
    line by line as by the csv module (tests/test_csv_plain.py)."""
    from tests.test_csv_plain import read_both

    case = CASES[case_id](env)
    if not case.name.endswith(".csv"):
        pytest.skip("not a CSV file")
    fast, slow = read_both(case.data, monkeypatch)
    assert fast == slow


def test_no_key_table_is_left_behind(env: IngestEnv):
    """Each look-up's key table is dropped after it (and any an interrupted load left, at
    the next recovery)."""
    from etl.ingest.lookups import KEY_TABLE_PREFIX, key_table

    left = "SELECT count() AS n FROM system.tables WHERE database = currentDatabase() AND startsWith(name, %(p)s)"
    assert int(run(env.db, "t", left, {"p": KEY_TABLE_PREFIX})["n"].iloc[0]) == 0
    with key_table(env.db, ["a", "b", "a"]) as table:
        assert sorted(run(env.db, "t", f"SELECT k FROM {table}")["k"]) == ["a", "b"]
        env.ingestor().recover()  # what a restart does: the key table of the "interrupted" load goes
        assert int(run(env.db, "t", left, {"p": KEY_TABLE_PREFIX})["n"].iloc[0]) == 0
