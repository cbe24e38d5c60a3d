"""The 数据质量 page: its queries and the catalogue's 数据质量 indicators against an
independent pandas computation over the raw ``ingest_batches`` / ``quarantine`` rows
(tests/oracle_quality.py) on both engines, after ingesting real batches (good rows,
bad rows, an empty file, several sources, several region scopes) into a database of
its own; the late flag; the component factories; the rejection-report download
route; and the page in a real headless Chromium."""
from __future__ import annotations

import datetime as dt
import json
import math
import time
import urllib.request
from types import SimpleNamespace

import pandas as pd
import pytest
from dash import html

from components import quality_views as qv
from components.nav import NAV_ITEMS
from etl.ingest.config import IngestSettings
from domain.sources import SOURCES
from indicators.catalogue import CATALOGUE
from queries.indicator_values import compute
from indicators.periods import Period
from store import db as dbmod
from queries import quality as Q
from store.engine import Engine
from domain.errors import InvalidParameter, ScopeViolation
from store.filters import Filter
from tests import oracle_quality as O
from tests.conftest import make_test_engine
from tests.oracle import ORACLES
from tests.pagekit import ids as _ids, js as _js, text as _text, wait as _wait, walk as _walk

QUALITY_IDS = ["data_records_in", "data_records_rejected", "data_accuracy_rate", "data_timeliness_rate",
               "data_completeness_rate"]
TODAY = dt.date.today()
START = TODAY - dt.timedelta(days=29)
ROOT = "44"
LATE = dict(IngestSettings.from_env().late_hours)


def _lines(rows: list[dict]) -> bytes:
    return "\n".join(json.dumps(r, ensure_ascii=False) for r in rows).encode()


def _ingest_all(db: Engine, data) -> dict[str, object]:
    """The test batches (names → results), chosen so every figure has something to count."""
    from etl.ingest.batch import Ingestor

    ing = Ingestor(db, IngestSettings.from_env())
    e = data.entities
    ok = e[(e["status"] == "active") & (pd.to_datetime(e["reg_date"]) < pd.Timestamp("2026-01-01"))]
    codes = ok["credit_code"].tolist()
    town = ok["grid_code"].iloc[0][:9]
    in_town = ok[ok["grid_code"].str.startswith(town)]["credit_code"].tolist()
    recent = (dt.datetime.now() - dt.timedelta(hours=2)).strftime("%Y-%m-%d %H:%M:%S")
    old = "2026-11-20 10:00:00"

    def complaint(no: str, code: str, when: str, content: str = "食品安全", channel: str = "12315") -> dict:
        return {"complaint_no": no, "credit_code": code, "event_time": when, "channel": channel, "content": content}

    out = {}
    # Good rows, received two hours after the newest of them: timely.
    out["good"] = ing.ingest_bytes("complaint", _lines([complaint(f"DQG{i}", codes[i], recent) for i in range(3)]),
                                   file_name="good.jsonl", fmt="jsonl", unit="东莞12345热线", scope="4419")
    # Two good old rows (not timely), a bad credit code, a record with two problems
    # (a future date and an empty required field), and one with an empty required field.
    out["mixed"] = ing.ingest_bytes("complaint", _lines([
        complaint("DQM1", codes[3], old), complaint("DQM2", codes[4], old), complaint("DQM3", "123", old),
        complaint("DQM4", codes[5], "2031-01-01 10:00:00", content=""), complaint("DQM5", codes[6], old, content=""),
    ]), file_name="mixed.jsonl", fmt="jsonl", unit="东莞12315", scope="4419")
    # An empty file: the batch fails, nothing is loaded.
    out["failed"] = ing.ingest_bytes("complaint", b"", file_name="empty.jsonl", fmt="jsonl", unit="东莞12315",
                                     scope="4419")
    # A CSV without a required column: every record rejected as incomplete.
    csv = "检查记录编号,统一社会信用代码,检查时间,检查人员\n" + "".join(
        f"DQI{i},{codes[10 + i]},2026-11-19 09:00:00,张三\n" for i in range(2))
    out["missing_col"] = ing.ingest_bytes("inspection", csv.encode(), file_name="检查.csv", fmt="csv",
                                          unit="东莞检查科", scope="4419")
    # Another city's unit: its 4419 entity is out of its scope.
    out["other_city"] = ing.ingest_bytes("complaint", _lines([complaint("DQC1", codes[7], old)]),
                                         file_name="gz.jsonl", fmt="jsonl", unit="广州12315", scope="4401")
    # A town's unit: one timely record and one with an empty required field.
    out["town"] = ing.ingest_bytes("complaint", _lines([complaint("DQT1", in_town[0], recent),
                                                        complaint("DQT2", in_town[1], recent, content="")]),
                                   file_name="town.jsonl", fmt="jsonl", unit="镇街", scope=town)
    # A unit without region scope: the whole deployment's batch.
    out["national"] = ing.ingest_bytes("penalty", _lines([
        {"decision_no": "DQP1", "credit_code": codes[8], "event_time": old, "amount": "5000",
         "violation": "无照经营"}]), file_name="penalty.jsonl", fmt="jsonl", unit="省局", scope="")
    out["town_code"] = town
    return out


@pytest.fixture(scope="module", params=["chdb", "server"])
def quality_db(request, demo_data) -> SimpleNamespace:
    """A database of its own holding the demo data plus the test batches; ``raw`` is
    the oracle's input (the raw rows of ingest_batches and quarantine)."""
    from etl.load import load_regions, load_tables
    from store.schema import drop_data_tables, init_schema

    db = make_test_engine(request.param, request, "test_quality")
    drop_data_tables(db)
    init_schema(db)
    load_regions(db)
    load_tables(db, demo_data.tables())
    batches = _ingest_all(db, demo_data)
    raw = SimpleNamespace(ingest_batches=db.query("SELECT * FROM ingest_batches"),
                          quarantine=db.query("SELECT * FROM quarantine"))
    return SimpleNamespace(db=db, batches=batches, raw=raw, kind=request.param)


@pytest.fixture
def served(quality_db, monkeypatch):
    """The app's database is the quality database; the jurisdiction is Guangdong (44)."""
    monkeypatch.setenv("JINJIAN_ROOT_REGION", ROOT)
    dbmod.set_db(quality_db.db)
    yield quality_db
    dbmod.set_db(None)


def _same(a: float, b: float) -> bool:
    a, b = float(a), float(b)
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


# ----------------------------------------------------------------------------- the batches are what the tests need
def test_batches_ingested_as_designed(quality_db):
    b = quality_db.batches
    assert (b["good"].state, b["good"].rows_in, b["good"].rows_loaded, b["good"].rows_rejected) == ("loaded", 3, 3, 0)
    assert (b["mixed"].rows_in, b["mixed"].rows_loaded, b["mixed"].rows_rejected) == (5, 2, 3)
    assert b["failed"].state == "failed" and b["failed"].rows_in == 0
    assert (b["missing_col"].rows_loaded, b["missing_col"].rows_rejected) == (0, 2)
    assert {p.code for p in b["missing_col"].problems} == {"missing_column"}
    assert (b["other_city"].rows_loaded, b["other_city"].rows_rejected) == (0, 1)
    assert {p.code for p in b["other_city"].problems} == {"out_of_scope"}
    assert (b["town"].rows_loaded, b["town"].rows_rejected) == (1, 1)
    assert (b["national"].state, b["national"].rows_loaded) == ("loaded", 1)
    assert b["mixed"].report is not None and b["mixed"].report.is_file() and b["good"].report is None
    # Several state rows per batch: the queries must pick the newest.
    assert len(quality_db.raw.ingest_batches) > 7


# ----------------------------------------------------------------------------- queries == oracle
@pytest.mark.parametrize("region", ["44", "4419", "4401", "town"])
def test_batches_match_raw_rows(quality_db, region):
    region = quality_db.batches["town_code"] if region == "town" else region
    got = Q.batches(quality_db.db, region, START, TODAY, root=ROOT)
    want = O.period_batches(quality_db.raw, region, START, TODAY, ROOT)
    assert sorted(got["batch_id"]) == sorted(want["batch_id"]) and len(got) > 0
    want = want.set_index("batch_id")
    for r in got.itertuples(index=False):
        w = want.loc[r.batch_id]
        assert (r.state, int(r.rows_in), int(r.rows_loaded), int(r.rows_rejected), r.region_code, r.unit) == (
            w["state"], int(w["rows_in"]), int(w["rows_loaded"]), int(w["rows_rejected"]), w["region_code"], w["unit"])
    times = list(got["received_at"])
    assert times == sorted(times, reverse=True)  # newest first
    assert Q.batch_count(quality_db.db, region, START, TODAY, root=ROOT) == len(got)


def test_scope_rule(quality_db):
    """A 4419 viewer sees neither the 4401 batch nor the deployment-wide one; the root sees both."""
    b = quality_db.batches
    ids = lambda region: set(Q.batches(quality_db.db, region, START, TODAY, root=ROOT)["batch_id"])  # noqa: E731
    assert b["other_city"].batch_id not in ids("4419") and b["national"].batch_id not in ids("4419")
    assert b["mixed"].batch_id in ids("4419") and b["town"].batch_id in ids("4419")
    assert ids("4401") == {b["other_city"].batch_id}
    assert {b["other_city"].batch_id, b["national"].batch_id} <= ids("44")
    assert ids(b["town_code"]) == {b["town"].batch_id}
    # With Dongguan as the jurisdiction, its own view includes the deployment-wide batch.
    assert b["national"].batch_id in set(Q.batches(quality_db.db, "4419", START, TODAY, root="4419")["batch_id"])
    with pytest.raises(ScopeViolation):
        Q.batches(quality_db.db, "4401", START, TODAY, root="4419")
    with pytest.raises(InvalidParameter):
        Q.batches(quality_db.db, "4419", START, TODAY, source="weather", root=ROOT)
    with pytest.raises(InvalidParameter):
        Q.quality_totals(quality_db.db, "4419", TODAY, START, root=ROOT)
    # Source filter and an empty period.
    only = Q.batches(quality_db.db, "44", START, TODAY, source="inspection", root=ROOT)
    assert list(only["batch_id"]) == [b["missing_col"].batch_id]
    assert Q.batches(quality_db.db, "44", dt.date(2020, 1, 1), dt.date(2020, 1, 31), root=ROOT).empty


@pytest.mark.parametrize("source", [None, "complaint", "inspection", "registration"])
@pytest.mark.parametrize("region", ["44", "4419", "4401", "town"])
def test_totals_match_oracle(quality_db, region, source):
    region = quality_db.batches["town_code"] if region == "town" else region
    got = Q.quality_totals(quality_db.db, region, START, TODAY, source, root=ROOT)
    want = O.totals(quality_db.raw, region, START, TODAY, ROOT, source)
    assert set(got) == set(want)
    wrong = {k: (got[k], want[k]) for k in want if not _same(got[k], want[k])}
    assert not wrong


def test_totals_values(quality_db):
    """The figures of Dongguan by hand: 12 records in (3 + 5 + 2 + 2 of the town), 6 loaded."""
    t = Q.quality_totals(quality_db.db, "4419", START, TODAY, root=ROOT)
    assert (t["batches"], t["loaded"], t["failed"]) == (5, 4, 1)
    assert (t["rows_in"], t["rows_loaded"], t["rows_rejected"]) == (12, 6, 6)
    # Incomplete: DQM4, DQM5, the two records without the result column, DQT2.
    assert t["rows_complete"] == 12 - 5 and t["completeness_rate"] == pytest.approx(7 / 12 * 100)
    # Batches with records: good (timely), mixed (old records), town (timely).
    assert (t["data_batches"], t["timely"]) == (3, 2) and t["timeliness_rate"] == pytest.approx(200 / 3)
    assert t["accept_rate"] == pytest.approx(50.0)
    none = Q.quality_totals(quality_db.db, "4419", dt.date(2020, 1, 1), dt.date(2020, 1, 2), root=ROOT)
    assert none["rows_in"] == 0 and math.isnan(none["accept_rate"]) and math.isnan(none["timeliness_rate"])


def test_source_summary_and_late_flag(quality_db):
    now = dt.datetime.now()
    for region in ("44", "4419"):
        s = Q.source_summary(quality_db.db, region, START, TODAY, now, LATE, root=ROOT)
        assert list(s["source"]) == list(SOURCES) and list(s["source_zh"]) == [x.zh for x in SOURCES.values()]
        for r in s.itertuples(index=False):
            every = O.period_batches(quality_db.raw, region, START, TODAY, ROOT, r.source)
            loaded = every[every["state"] == "loaded"] if len(every) else every
            assert (r.batches, r.failed) == (len(every), int((every["state"] == "failed").sum()) if len(every) else 0)
            assert r.rows_in == (int(loaded["rows_in"].sum()) if len(loaded) else 0)
            assert r.rows_rejected == (int(loaded["rows_rejected"].sum()) if len(loaded) else 0)
            if len(loaded):
                assert r.last_received == loaded["received_at"].max() and not r.late
                with_data = loaded[loaded["rows_loaded"] > 0]
                want_data = with_data["data_to"].max() if len(with_data) else pd.NaT
                assert (pd.isna(r.last_data_time) and pd.isna(want_data)) or r.last_data_time == want_data
                assert 0 <= r.hours_since < 1
            elif SOURCES[r.source].scheduled:  # never reported: late
                assert r.late and pd.isna(r.last_received) and math.isnan(r.hours_since) and r.batches == 0
            else:  # sent when something is found (巡查线索): no limit, never late
                assert not r.late and math.isnan(r.late_hours) and r.batches == 0
    s = Q.source_summary(quality_db.db, "4419", START, TODAY, now, LATE, root=ROOT).set_index("source")
    assert not s.loc["complaint", "late"] and s.loc["registration", "late"] and s.loc["penalty", "late"]
    assert s.loc["complaint", "last_data_time"] > pd.Timestamp(now - dt.timedelta(hours=3))
    assert s.loc["complaint", "accept_rate"] == pytest.approx(6 / 10 * 100)
    assert s.loc["inspection", "rows_in"] == 2 and math.isnan(s.loc["registration", "accept_rate"])
    # The penalty batch was sent without scope: it counts for the jurisdiction root only.
    assert not Q.source_summary(quality_db.db, "44", START, TODAY, now, LATE, root=ROOT).set_index(
        "source").loc["penalty", "late"]
    # 25 hours later the complaints (24 h limit) are late, the inspections (72 h) not yet.
    later = Q.source_summary(quality_db.db, "4419", START, TODAY, now + dt.timedelta(hours=25), LATE,
                             root=ROOT).set_index("source")
    assert later.loc["complaint", "late"] and not later.loc["inspection", "late"]
    assert later.loc["complaint", "hours_since"] > 24
    # A configured limit counts: 200 hours for complaints.
    relaxed = Q.source_summary(quality_db.db, "4419", START, TODAY, now + dt.timedelta(hours=25),
                               {**LATE, "complaint": 200}, root=ROOT).set_index("source")
    assert not relaxed.loc["complaint", "late"] and relaxed.loc["complaint", "late_hours"] == 200
    assert not later.loc["patrol_clue", "late"] and math.isnan(later.loc["patrol_clue", "late_hours"])


@pytest.mark.parametrize("region", ["44", "4419"])
def test_top_reasons_match_oracle(quality_db, region):
    got = Q.top_reasons(quality_db.db, region, START, TODAY, limit=50, root=ROOT)
    loaded = O.period_batches(quality_db.raw, region, START, TODAY, ROOT, loaded=True)
    q = quality_db.raw.quarantine
    q = q[q["batch_id"].isin(set(loaded["batch_id"]))]
    total = len(q[["batch_id", "row_no"]].drop_duplicates())
    assert total == int(loaded["rows_rejected"].sum()) == got.attrs["total_records"]  # rows in = loaded + rejected
    want = (q.groupby(["reason_code", "field"])
            .agg(records=("row_no", lambda s: len(set(zip(q.loc[s.index, "batch_id"], s)))), reason=("reason", "min"))
            .reset_index())
    want = want.sort_values(["records", "reason_code", "field"], ascending=[False, True, True]).reset_index(drop=True)
    assert list(zip(got["reason_code"], got["field"], got["records"], got["reason"])) == list(
        zip(want["reason_code"], want["field"], want["records"], want["reason"]))
    assert list(got["share"]) == pytest.approx([r / total * 100 for r in want["records"]])
    assert {"required", "missing_column", "credit_code", "future_date"} <= set(got["reason_code"])
    assert len(Q.top_reasons(quality_db.db, region, START, TODAY, limit=2, root=ROOT)) == 2
    assert ("out_of_scope" in set(got["reason_code"])) == (region == "44")


# ----------------------------------------------------------------------------- indicators == oracle, with real batches
def _regions(quality_db) -> list[str]:
    return ["", "44", "4419", "4401", quality_db.batches["town_code"]]


def test_quality_indicators_have_oracles():
    assert set(QUALITY_IDS) <= set(CATALOGUE) and set(QUALITY_IDS) <= set(ORACLES)
    assert all(CATALOGUE[i].category == "data_quality" for i in QUALITY_IDS)
    # The demo data set has no batches: counts 0, rates NaN.
    demo = SimpleNamespace()
    for i in QUALITY_IDS:
        v = ORACLES[i](demo, "4419", START, TODAY)
        assert v == 0 or math.isnan(v)


@pytest.mark.parametrize("period", ["window", "today", "empty"])
def test_indicators_match_oracle(quality_db, monkeypatch, period):
    monkeypatch.setenv("JINJIAN_ROOT_REGION", ROOT)
    p = {"window": Period(START, TODAY), "today": Period(TODAY, TODAY),
         "empty": Period(dt.date(2020, 1, 1), dt.date(2020, 1, 31))}[period]
    inds = [CATALOGUE[i] for i in QUALITY_IDS]
    for region in _regions(quality_db):
        got = compute(quality_db.db, inds, Filter(region=region), p).set_index("indicator_id")
        for i in QUALITY_IDS:
            want = ORACLES[i](quality_db.raw, region, p.start, p.end)
            assert _same(got.loc[i, "value"], want), (i, region, period, got.loc[i, "value"], want)
    if period == "window":  # real values, and the same as the page's tiles
        got = compute(quality_db.db, inds, Filter(region="4419"), p).set_index("indicator_id")["value"]
        t = Q.quality_totals(quality_db.db, "4419", START, TODAY, root=ROOT)
        assert got["data_records_in"] == t["rows_in"] == 12 and got["data_records_rejected"] == t["rows_rejected"]
        assert got["data_accuracy_rate"] == pytest.approx(t["accept_rate"])
        assert got["data_completeness_rate"] == pytest.approx(t["completeness_rate"])
        assert got["data_timeliness_rate"] == pytest.approx(t["timeliness_rate"])


def test_indicators_by_child_match_oracle(quality_db, monkeypatch):
    monkeypatch.setenv("JINJIAN_ROOT_REGION", ROOT)
    inds = [CATALOGUE[i] for i in QUALITY_IDS]
    p = Period(START, TODAY)
    for region in ("44", "4419"):
        got = compute(quality_db.db, inds, Filter(region=region), p, by_child=True).set_index(
            ["indicator_id", "region_code"])
        children = sorted(set(got.index.get_level_values("region_code")))
        for i in QUALITY_IDS:
            for child in children:
                assert _same(got.loc[(i, child), "value"], ORACLES[i](quality_db.raw, child, p.start, p.end)), (
                    i, region, child)
    # Dongguan's only batch below city level is the town's: one child with records.
    got = compute(quality_db.db, [CATALOGUE["data_records_in"]], Filter(region="4419"), p, by_child=True)
    assert dict(zip(got.loc[got["value"] > 0, "region_code"], got.loc[got["value"] > 0, "value"])) == {
        quality_db.batches["town_code"]: 2.0}


# ----------------------------------------------------------------------------- components
def _card_values(cards) -> dict[str, str]:
    return {cid: _ids(c)[f"{cid}-value"].to_plotly_json()["props"]["data-value"]
            for c, (cid, _k, _l, _u) in zip(cards, qv.CARDS)}


def test_nav_lists_quality_after_reports():
    paths = [p for p, _ in NAV_ITEMS]
    assert paths.index("/quality") == paths.index("/reports") + 1 and dict(NAV_ITEMS)["/quality"] == "数据质量"


def test_cards():
    totals = {"batches": 5, "loaded": 4, "failed": 1, "in_progress": 0, "rows_in": 12, "rows_loaded": 6,
              "rows_rejected": 6, "rows_complete": 7, "data_batches": 3, "timely": 2, "accept_rate": 50.0,
              "completeness_rate": 7 / 12 * 100, "timeliness_rate": 200 / 3}
    cards = qv.create_quality_cards(totals, 7)
    values = _card_values(cards)
    assert values == {"dq-card-batches": "5", "dq-card-in": "12", "dq-card-loaded": "6", "dq-card-rejected": "6",
                      "dq-card-accuracy": "50.0", "dq-card-completeness": "58.3", "dq-card-timeliness": "66.7",
                      "dq-card-late": "7"}
    by_id = {c.id: c for c in cards}
    # Rates are graded by their catalogue indicator's thresholds (50 % accepted is red).
    assert by_id["dq-card-accuracy"].className == "stat-card dq-grade-red"
    assert by_id["dq-card-late"].className == "stat-card dq-grade-red"
    assert "导入 4 批 · 未导入 1 批 · 处理中 0 批" in _text(by_id["dq-card-batches"])
    busy = {c.id: c for c in qv.create_quality_cards({**totals, "batches": 7, "in_progress": 2}, 7)}
    assert "导入 4 批 · 未导入 1 批 · 处理中 2 批" in _text(busy["dq-card-batches"])  # 4 + 1 + 2 = 7
    assert "2 / 3 批在24小时内报送" in _text(by_id["dq-card-timeliness"])
    good = qv.create_quality_cards({**totals, "accept_rate": 99.5, "completeness_rate": math.nan}, 0)
    by_id = {c.id: c for c in good}
    assert by_id["dq-card-accuracy"].className == "stat-card dq-grade-normal"
    assert by_id["dq-card-completeness"].className == "stat-card" and _card_values(good)["dq-card-completeness"] == ""
    assert by_id["dq-card-late"].className == "stat-card" and "各来源均按时报送" in _text(by_id["dq-card-late"])
    blank = qv.create_quality_cards(None)
    assert [c.id for c in blank] == [c[0] for c in qv.CARDS]
    assert all(_ids(c)[f"{c.id}-value"].children == "—" for c in blank)


def _summary_frame(now: dt.datetime) -> pd.DataFrame:
    rows = []
    for i, (sid, s) in enumerate(SOURCES.items()):
        seen = i % 3 != 0 or not s.scheduled  # (a clue source has no limit: never late)
        rows.append({"source": sid, "source_zh": s.zh, "batches": i, "failed": 1 if i == 4 else 0, "rows_in": 10 * i,
                     "rows_loaded": 9 * i, "rows_rejected": i, "accept_rate": 90.0 if i else math.nan,
                     "last_received": pd.Timestamp(now - dt.timedelta(hours=i)) if seen else pd.NaT,
                     "last_data_time": pd.Timestamp("2026-11-20 10:00") if seen else pd.NaT,
                     "hours_since": float(i) if seen else math.nan,
                     "late_hours": 24.0 if s.scheduled else math.nan, "late": not seen})
    return pd.DataFrame(rows)


def test_freshness_table_flags_late_sources():
    now = dt.datetime(2026, 11, 25, 9, 30)
    rows = qv.build_freshness_rows(_summary_frame(now))
    assert [r["source"] for r in rows] == list(SOURCES)
    table = qv.create_freshness_table(rows, selected="change")
    trs = [c for c in _walk(table) if isinstance(c, html.Tr)][1:]
    assert len(trs) == len(SOURCES)
    late_rows = [tr for tr in trs if "dq-late" in tr.className]
    assert [tr.to_plotly_json()["props"]["data-source"] for tr in late_rows] == [
        sid for i, sid in enumerate(SOURCES) if i % 3 == 0 and SOURCES[sid].scheduled]
    clue = next(tr for tr in trs if tr.to_plotly_json()["props"]["data-source"] == "patrol_clue")
    assert "按发现报送" in _text(clue) and "dq-late" not in clue.className
    for tr in late_rows:
        assert qv.LATE_TEXT in _text(tr) and "从未报送" in _text(tr)
        flag = next(c for c in _walk(tr) if getattr(c, "className", "") == "dq-flag dq-flag-late")
        assert flag.children == "逾期未报送"
    ok = next(tr for tr in trs if tr.to_plotly_json()["props"]["data-source"] == "change")
    assert "dq-selected" in ok.className and "dq-late" not in ok.className and "正常" in _text(ok)
    assert "2026-11-25 08:30" in _text(ok) and "1.0 小时" in _text(ok) and "90.0%" in _text(ok)
    assert "（未导入 1）" in _text(trs[4])
    headers = [c.children for c in _walk(table) if isinstance(c, html.Th)]
    assert headers == list(qv.FRESH_HEADERS)
    assert qv.late_note(rows) == "逾期未报送：设立登记、行政许可、监督检查、任务反馈"
    assert qv.late_note([{**r, "late": False} for r in rows]) == "各数据来源均在报送时限内"
    assert (qv.since_text(0.25), qv.since_text(3.46), qv.since_text(50), qv.since_text(math.nan)) == (
        "15 分钟", "3.5 小时", "2 天 2 小时", "从未报送")


def test_batch_rows_and_columns():
    df = pd.DataFrame({
        "batch_id": ["a" * 64, "b" * 64], "source": ["complaint", "inspection"], "unit": ["东莞12315", ""],
        "region_code": ["4419", ""], "file_name": ["x.jsonl", "检查.csv"], "fmt": ["jsonl", "csv"],
        "encoding": ["utf-8", "utf-8"], "received_at": pd.to_datetime(["2026-11-25 09:01:02", "2026-11-24 08:00:00"]),
        "finished_at": pd.to_datetime(["2026-11-25 09:01:03", "1970-01-01 00:00:00"]), "state": ["loaded", "failed"],
        "rows_in": [5, 0], "rows_loaded": [2, 0], "rows_rejected": [3, 0],
        "data_from": pd.to_datetime(["2026-11-20", "1970-01-01"]), "data_to": pd.to_datetime(["2026-11-20"] * 2),
        "message": ["", "文件为空，没有任何内容"]})
    rows = qv.build_batch_rows(df, lambda b: f"/ingest/rejects/{b}", {"4419": "东莞市"})
    assert rows[0]["rejects_md"] == f"[下载退回记录](/ingest/rejects/{'a' * 64})" and rows[1]["rejects_md"] == ""
    assert (rows[0]["source_zh"], rows[0]["state_zh"], rows[0]["received_at"], rows[0]["region"]) == (
        "投诉举报", "已导入", "2026-11-25 09:01", "东莞市（4419）")
    assert (rows[1]["unit"], rows[1]["region"], rows[1]["state_zh"], rows[1]["message"]) == (
        "—", "全辖（未限定）", "未导入", "文件为空，没有任何内容")
    cols = qv.batch_column_defs()
    assert [c["headerName"] for c in cols] == ["接收时间", "批次", "数据来源", "报送单位", "报送辖区", "状态",
                                               "接收条数", "导入条数", "退回条数", "说明", "退回记录"]
    # a batch is called by who sent what when, in Chinese; the file's name is not shown
    assert [r["batch_name"] for r in rows] == ["东莞12315 11月25日 投诉举报数据", "11月24日 监督检查数据"]
    assert all("file_name" not in r and ".csv" not in str(r) and ".jsonl" not in str(r) for r in rows)
    link = cols[-1]
    assert link["cellRenderer"] == "markdown" and link["field"] == "rejects_md"
    assert set(cols[5]["cellClassRules"]) == {f"dq-state-{s}" for s in qv.STATE_ZH}
    grid = qv.create_batch_grid("dq-batches")
    assert grid.id == "dq-batches" and grid.getRowId == "params.data.batch_id"
    assert qv.list_note(500, 800) == "共 800 批，显示最近 500 批" and qv.list_note(3, 3) == "共 3 批"


def test_reasons_figure():
    df = pd.DataFrame({"reason_code": ["required", "credit_code", "new_code"], "field": ["内容摘要", "统一社会信用代码", ""],
                       "reason": ["必填字段为空", "长度错误", "x"], "records": [5, 2, 1], "share": [62.5, 25.0, 12.5]})
    fig = qv.create_reasons_figure(df)
    bar = fig.data[0]
    assert list(bar.y) == ["new_code", "信用代码不合规 · 统一社会信用代码", "必填字段为空 · 内容摘要"]  # largest on top
    assert list(bar.x) == [1, 2, 5] and list(bar.text) == ["12.5%", "25.0%", "62.5%"] and bar.orientation == "h"
    empty = qv.create_reasons_figure(df.iloc[:0])
    assert not empty.data and empty.layout.annotations[0].text == "本期没有退回记录"


def test_every_reason_code_has_a_label():
    from etl.ingest.docs import REASON_CODES

    assert set(REASON_CODES) == set(qv.REASON_ZH)


# ----------------------------------------------------------------------------- download route
def test_rejects_download(served, flask_server, monkeypatch):
    from domain.sources import SOURCES
    from etl.ingest.masking import masked_report

    client = flask_server.test_client()
    b = served.batches
    resp = client.get(f"/ingest/rejects/{b['mixed'].batch_id}")  # the local administrator: no pii, masked copy
    assert resp.status_code == 200 and resp.data == masked_report(b["mixed"].report, SOURCES["complaint"])
    assert "attachment" in resp.headers["Content-Disposition"] and resp.mimetype == "application/x-ndjson"
    assert len(resp.data.splitlines()) == 3  # the three rejected records
    csv = client.get(f"/ingest/rejects/{b['missing_col'].batch_id}")
    assert csv.status_code == 200 and csv.mimetype == "text/csv"
    assert csv.data == masked_report(b["missing_col"].report, SOURCES[b["missing_col"].source])
    resp = client.get(f"/ingest/rejects/{b['good'].batch_id}")
    assert resp.status_code == 404 and resp.get_data(as_text=True) == "该批次没有退回记录"
    resp = client.get(f"/ingest/rejects/{'0' * 64}")
    assert resp.status_code == 404 and resp.get_data(as_text=True) == "未找到该批次"
    for bad in ("g" * 64, b["mixed"].batch_id.upper(), "..", b["mixed"].batch_id[:12]):
        resp = client.get(f"/ingest/rejects/{bad}")
        assert resp.status_code == 404 and resp.get_data(as_text=True) == "未找到该批次", bad
    assert b"root:" not in client.get("/ingest/rejects/..%2F..%2F..%2Fetc%2Fpasswd").data
    # Guangdong's deployment may download another city's batch; Dongguan's may not.
    assert client.get(f"/ingest/rejects/{b['other_city'].batch_id}").status_code == 200
    monkeypatch.setenv("JINJIAN_ROOT_REGION", "4419")
    resp = client.get(f"/ingest/rejects/{b['other_city'].batch_id}")  # as for a batch that does not exist
    assert resp.status_code == 404 and resp.get_data(as_text=True) == "未找到该批次"
    assert client.get(f"/ingest/rejects/{b['mixed'].batch_id}").status_code == 200


def test_rejects_download_by_role(served, flask_server, monkeypatch, tmp_path):
    """viewer: refused (no export); leader: masked copy; supervisor (pii): the report as
    written; every answer audited; a batch outside the user's scope: as an unknown batch."""
    from auth.audit import _store
    from auth.store import AuthStore
    from domain.sources import SOURCES
    from etl.ingest.masking import masked_report
    from tests.authkit import PASSWORD, login

    url = f"sqlite:///{tmp_path / 'meta.sqlite'}"
    monkeypatch.setenv("JINJIAN_AUTH", "1")
    monkeypatch.setenv("JINJIAN_METADATA_URL", url)
    _store.cache_clear()
    store = AuthStore(url)
    for name, role, scope in (("v", "viewer", "4419"), ("l", "leader", "4419"), ("s", "supervisor", "4419"),
                              ("g", "supervisor", "4401")):
        store.add_user(name, PASSWORD, role, scope, display_name=name)
    b = served.batches
    path, src = b["mixed"].report, SOURCES["complaint"]
    href = f"/ingest/rejects/{b['mixed'].batch_id}"
    try:
        answers = {}
        for name in ("v", "l", "s", "g"):
            client = flask_server.test_client()
            login(client, name)
            answers[name] = client.get(href)
        assert answers["v"].status_code == 403
        assert answers["l"].status_code == 200 and answers["l"].data == masked_report(path, src)
        assert answers["s"].status_code == 200 and answers["s"].data == path.read_bytes()
        assert answers["g"].status_code == 404 and answers["g"].get_data(as_text=True) == "未找到该批次"
        rows = store.audit_rows()
        assert [r["username"] for r in rows if r["action"] == "perm_denied"] == ["v"]
        downloads = {r["username"]: r["detail"] for r in rows if r["action"] == "rejects_download"}
        assert downloads == {"l": "个人信息已脱敏", "s": "个人信息完整"}
        assert [r["username"] for r in rows if r["action"] == "scope_denied" and not r["ok"]] == ["g"]
    finally:
        _store.cache_clear()


# ----------------------------------------------------------------------------- page
@pytest.fixture
def page():
    from app import create_app

    create_app()
    from pages import quality
    return quality


def test_layout_ids_and_params(page, monkeypatch):
    monkeypatch.setenv("JINJIAN_ROOT_REGION", "4419")
    found = _ids(page.layout())
    assert found["dq-region"].value == "4419" and found["dq-source"].value is None
    first, last = qv.default_dates(TODAY)
    assert (found["dq-dates"].start_date, found["dq-dates"].end_date) == (first, last)
    assert (dt.date.fromisoformat(last) - dt.date.fromisoformat(first)).days == 29
    assert found["dq-interval"].interval == 30_000
    found = _ids(page.layout(region="441900003", start="2026-11-01", end="2026-11-20", source="complaint"))
    assert (found["dq-region"].value, found["dq-source"].value) == ("441900003", "complaint")
    assert (found["dq-dates"].start_date, found["dq-dates"].end_date) == ("2026-11-01", "2026-11-20")
    found = _ids(page.layout(start="2026-13-01", end="2026-11-01", source="weather"))
    assert found["dq-source"].value is None and found["dq-dates"].start_date == first
    all_ids = [c.id for c in _walk(page.layout()) if isinstance(getattr(c, "id", None), str)]
    assert len(all_ids) == len(set(all_ids)) and all(i.startswith("dq-") for i in all_ids)


def test_refresh_callback(served, page):
    out = page.refresh(1, "4419", START.isoformat(), TODAY.isoformat(), None)
    cards, fresh, late_note, fig, reasons_note, rows, note, name, updated, banner, banner_cls = out
    assert banner_cls == "banner hidden" and name == "东莞市" and "每30秒自动刷新" in updated
    t = O.totals(served.raw, "4419", START, TODAY, ROOT)
    assert _card_values(cards)["dq-card-in"] == f"{t['rows_in']:,}"
    assert _card_values(cards)["dq-card-rejected"] == f"{t['rows_rejected']:,}"
    want = O.period_batches(served.raw, "4419", START, TODAY, ROOT)
    assert sorted(r["batch_id"] for r in rows) == sorted(want["batch_id"]) and note == f"共 {len(want)} 批"
    links = {r["batch_id"]: r["rejects_href"] for r in rows if r["rejects_href"]}
    assert set(links) == set(want.loc[want["rows_rejected"] > 0, "batch_id"])
    assert all(h == f"/ingest/rejects/{b}" for b, h in links.items())
    assert "逾期未报送" in late_note and "设立登记" in late_note and "投诉举报" not in late_note
    assert "逾期未报送" in _text(fresh) and reasons_note == f"本期退回 {t['rows_rejected']} 条记录"
    assert sum(fig.data[0].x) >= t["rows_rejected"]
    # The source filter narrows the table and tiles, not the freshness table.
    out = page.refresh(1, "4419", START.isoformat(), TODAY.isoformat(), "inspection")
    assert [r["source"] for r in out[5]] == ["inspection"] and "dq-selected" in str(out[1])
    assert _card_values(out[0])["dq-card-in"] == "2"
    # Errors become the banner.
    for region, text in (("4401x", "区划"), ("5101", "无权查看")):
        out = page.refresh(1, region, START.isoformat(), TODAY.isoformat(), None)
        assert out[-1] == "banner" and text in out[-2] and out[5] is page.no_update
    out = page.refresh(1, "4419", TODAY.isoformat(), START.isoformat(), None)
    assert out[-2] == "开始日期晚于结束日期"


# ----------------------------------------------------------------------------- browser
@pytest.mark.browser
def test_quality_page_in_browser(dash_duo, served, monkeypatch):
    from app import create_app

    monkeypatch.setenv("JINJIAN_ROOT_REGION", "4419")
    app = create_app()
    dash_duo.start_server(app)
    driver = dash_duo.driver
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": 1920, "height": 1080, "deviceScaleFactor": 1, "mobile": False})
    dash_duo.wait_for_page(url=f"{dash_duo.server_url}/quality", timeout=30)
    dash_duo.wait_for_text_to_equal("#dq-region-name", "东莞市", timeout=30)
    # Dongguan is the jurisdiction: its batches and the deployment-wide one, not Guangzhou's.
    want = O.period_batches(served.raw, "4419", START, TODAY, "4419")
    assert served.batches["national"].batch_id in set(want["batch_id"])
    assert served.batches["other_city"].batch_id not in set(want["batch_id"])
    dash_duo.wait_for_text_to_equal("#dq-batches-note", f"共 {len(want)} 批", timeout=30)
    dash_duo.wait_for_contains_text("#dq-push-note", "推送时限 1小时", timeout=30)  # 推送时效 per source
    count = "var api = dash_ag_grid.getApi('dq-batches'); return api ? api.getDisplayedRowCount() : -1;"
    _wait(lambda: _js(dash_duo, count) == len(want), what="batch rows")
    shown = _js(dash_duo, "var out = []; dash_ag_grid.getApi('dq-batches').forEachNode(n => out.push(n.data.batch_id));"
                          " return out;")
    assert sorted(shown) == sorted(want["batch_id"])
    t = O.totals(served.raw, "4419", START, TODAY, "4419")
    _wait(lambda: _js(dash_duo, "return document.getElementById('dq-card-in-value').getAttribute('data-value');")
          == f"{t['rows_in']:,}", what="records-in tile")
    # Freshness: never-reported sources are late, in red, with 逾期未报送.
    _wait(lambda: len(dash_duo.find_elements("#dq-fresh tr.dq-fresh-row")) == len(SOURCES), what="freshness rows")
    late = _js(dash_duo, "return Array.from(document.querySelectorAll('#dq-fresh tr.dq-late'))"
                         ".map(tr => [tr.dataset.source, tr.innerText, getComputedStyle(tr.querySelector('.dq-flag'))"
                         ".backgroundColor]);")
    late_sources = {s for s, _t, _c in late}
    assert "registration" in late_sources and "complaint" not in late_sources
    assert all("逾期未报送" in text for _s, text, _c in late)
    assert all(colour.startswith("rgba(255, 59, 59") for _s, _t, colour in late)
    # The reasons chart has bars.
    _wait(lambda: len(dash_duo.find_elements("#dq-reasons .bars .point")) > 0, what="reason bars")
    # The download link of the mixed batch: its href answers with the report's bytes.
    mixed = served.batches["mixed"]
    sel = f"#dq-batches .ag-row[row-id='{mixed.batch_id}'] .dq-link-cell a"
    link = _wait(lambda: dash_duo.find_element(sel), what="download link")
    href = link.get_attribute("href")
    assert href.endswith(f"/ingest/rejects/{mixed.batch_id}") and link.text == "下载退回记录"
    resp = app.server.test_client().get(href[len(dash_duo.server_url):])
    assert resp.status_code == 200 and resp.data == mixed.report.read_bytes()
    with urllib.request.urlopen(href, timeout=10) as r:  # the running server, as the browser would fetch it
        assert r.read() == mixed.report.read_bytes()
    good_row = f"#dq-batches .ag-row[row-id='{served.batches['good'].batch_id}'] .dq-link-cell a"
    assert dash_duo.find_elements(good_row) == []
    # Choosing a source narrows the table.
    dash_duo.find_element("#dq-source").click()
    option = _wait(lambda: next((o for o in dash_duo.find_elements(".dash-dropdown-option") if o.text == "监督检查"),
                                None), what="source option")
    option.click()
    dash_duo.wait_for_text_to_equal("#dq-batches-note", "共 1 批", timeout=30)
    _wait(lambda: _js(dash_duo, count) == 1, what="one batch")
    time.sleep(0.5)
    driver.save_screenshot("/tmp/quality.png")
    logs = [e for e in dash_duo.get_logs() or [] if e.get("level") == "SEVERE"]
    assert logs == []
