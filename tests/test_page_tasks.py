"""The 任务督办 page: pure factories, callbacks against the demo data on both
engines (cards equal the independent pandas oracle of tests/oracle_tasks.py),
errors as banners, then a real headless Chromium filtering and exporting Excel."""
from __future__ import annotations

import datetime as dt
import io
import time
from pathlib import Path

import pandas as pd
import pytest
from dash import html
from dash.development.base_component import Component

from components import ageing_chart, task_views as tv
from components.nav import NAV_ITEMS
from domain.cells import csv_safe
from indicators.model import GRADES
from indicators.periods import period_to_date, previous_period
from store import db as dbmod
from store.engine import Engine
from domain.errors import DatabaseUnavailable
from store.filters import Filter, RegionScope
from queries.tasks import TaskQuery, task_list
from supervision.rules import BUCKETS, STATUS_ZH, TASK_TYPE_ZH, TaskRules
from tests.conftest import DEMO_END
from tests.oracle_tasks import buckets_at, closed_on_time, open_at
from tests.test_export_safety import EVIL as EVIL_CELLS
from tests.test_app import ExplodingEngine
from tests.pagekit import choose, walk as _walk, ids as _ids, text as _text, wait as _wait, js as _js

DAY = DEMO_END.isoformat()
RULES = TaskRules()
LABELS = RULES.bucket_labels()
N_CARDS = len(tv.SUMMARY_CARDS)


@pytest.fixture
def page():
    from app import create_app

    create_app()
    from pages import tasks
    return tasks


def _events(tree) -> list[Component]:
    """The timeline's event items."""
    kinds = ("tasks-ev", "tasks-ev tasks-ev-late-item")
    return [c for c in _walk(html.Div(tree)) if getattr(c, "className", None) in kinds]


def _card_values(cards) -> dict[str, int]:
    """Summary key → the exact number in each card's data-value."""
    out = {}
    for (cid, key, _label), children in zip(tv.SUMMARY_CARDS, cards):
        value = _ids(html.Div(children))[f"{cid}-value"].to_plotly_json()["props"]["data-value"]
        out[key] = int(value.replace(",", ""))
    return out


def _oracle_summary(data, region: str, mask=None) -> dict[str, int]:
    """The cards from the task events alone (tests/oracle_tasks.py)."""
    o = open_at(data, region, DEMO_END)
    b = buckets_at(data, region, DEMO_END)
    if mask is not None:
        keep = o[mask(o)]["task_id"]
        b = b[b.index.isin(set(keep))]
    counts = b.value_counts()
    out = {k: int(counts.get(k, 0)) for k in BUCKETS}
    out["open"] = len(b)
    out["overdue"] = sum(out[k] for k in BUCKETS if k.startswith("overdue"))
    return {k: out[k] for _, k, _ in tv.SUMMARY_CARDS}


# ----------------------------------------------------------------------------- pure factories
def test_nav_lists_tasks_after_region():
    paths = [p for p, _ in NAV_ITEMS]
    assert paths.index("/tasks") == paths.index("/region/root") + 1
    assert dict(NAV_ITEMS)["/tasks"] == "任务督办"


def _columns(chart) -> list:
    """The ageing chart's bucket columns (components/ageing_chart.py)."""
    return [c for c in _walk(chart) if getattr(c, "className", "").split()[:1] == ["ageing-col"]]


def test_ageing_chart_columns_segments_and_selection():
    df = pd.DataFrame([(b, t, i + j) for i, b in enumerate(BUCKETS) for j, t in enumerate(TASK_TYPE_ZH)],
                      columns=["bucket", "task_type", "tasks"])
    chart = ageing_chart.create_ageing_chart(df, LABELS)
    cols = _columns(chart)
    assert [c.id["bucket"] for c in cols] == list(BUCKETS)  # one column per bucket, in order
    top = max(sum(i + j for j in range(len(TASK_TYPE_ZH))) for i in range(len(BUCKETS)))
    colours = {"normal": "normal", "due_soon": "blue", "overdue_mild": "yellow", "overdue_moderate": "orange",
               "overdue_severe": "red"}
    for i, (b, col) in enumerate(zip(BUCKETS, cols)):
        want = {TASK_TYPE_ZH[t]: i + j for j, t in enumerate(TASK_TYPE_ZH) if i + j}
        segs = [c for c in _walk(col) if getattr(c, "className", "").startswith("ageing-seg")]
        # a segment per task type with tasks: its count in the tooltip, its height against the tallest column
        assert {c.title.split("：")[0]: int(c.title.split("：")[1].split(" ")[0]) for c in segs} == want
        assert [float(c.style["height"].rstrip("%")) for c in segs] == pytest.approx(
            [100 * n / top for n in want.values()], abs=0.01)
        assert {c.style["backgroundColor"] for c in segs} == {GRADES[colours[b]][1]}
        assert len({c.className for c in segs}) == len(segs)  # task types told apart by pattern
        assert col.to_plotly_json()["props"]["data-value"] == str(sum(want.values()))
        assert "ageing-dimmed" not in col.className
    dimmed = ageing_chart.create_ageing_chart(df, LABELS, "overdue_mild")
    assert [("ageing-dimmed" in c.className) for c in _columns(dimmed)] == [b != "overdue_mild" for b in BUCKETS]
    # Zeros for missing combinations; nothing drawn before the data are known.
    empty = ageing_chart.create_ageing_chart(df.iloc[:0], LABELS)
    assert not [c for c in _walk(empty) if getattr(c, "className", "").startswith("ageing-seg")]
    def totals(chart):
        return [c.children for c in _walk(chart) if getattr(c, "className", "") == "ageing-total"]
    assert totals(empty) == ["0"] * len(BUCKETS) and totals(ageing_chart.create_ageing_chart(None, LABELS)) == [
        ""] * len(BUCKETS)


def test_summary_and_cards():
    df = pd.DataFrame({"bucket": ["normal", "due_soon", "overdue_mild", "overdue_severe", "normal"],
                       "task_type": ["clue", "clue", "clue", "disclosure", "disclosure"], "tasks": [3, 2, 4, 1, 10]})
    s = tv.ageing_summary(df)
    assert s == {"normal": 13, "due_soon": 2, "overdue_mild": 4, "overdue_moderate": 0, "overdue_severe": 1,
                 "overdue": 5, "open": 20}
    cards = tv.create_summary_cards(s, LABELS)
    assert _card_values([c.children for c in cards]) == {k: s[k] for _, k, _ in tv.SUMMARY_CARDS}
    texts = [_text(c) for c in cards]
    assert "在办任务" in texts[0] and "其中正常 13 件" in texts[0]
    assert "逾期1–5个工作日" in texts[3] and "黄色预警 · 占在办 20.0%" in texts[3]
    assert "红色预警" in texts[5]
    blank = tv.create_summary_cards(None, LABELS)
    assert all(_ids(c)[f"{cid}-value"].children == "—" for c, (cid, _, _) in zip(blank, tv.SUMMARY_CARDS))


def test_task_rows_columns_and_excel_frame():
    df = pd.DataFrame({
        "task_id": ["T1", "T2"], "task_type": ["clue", "disclosure"], "status": ["town", "closed"],
        "bucket": ["overdue_severe", ""], "due_date": pd.to_datetime(["2026-11-01", "2026-10-01"]),
        "created_at": pd.to_datetime(["2026-10-20 09:05:03", "2026-09-21 14:00:00"]),
        "last_time": pd.to_datetime(["2026-10-22", "2026-09-30"]), "grid_code": ["441900003001001"] * 2,
        "dept_id": ["4419-01", "441900003-02"], "credit_code": ["91441900X", None], "detail": ["无照经营", "公示"]})
    rows = tv.build_task_rows(df, LABELS, {"4419-01": "东莞市市场监督管理局"}, {"441900003001001": "一网格"})
    assert rows[0]["type_zh"] == "线索移送" and rows[0]["status_zh"] == STATUS_ZH["town"]
    assert rows[0]["bucket_label"] == LABELS["overdue_severe"] and rows[0]["bucket_rank"] == 4
    assert rows[0]["due_date"] == "2026-11-01" and rows[0]["created_at"] == "2026-10-20 09:05"
    assert rows[0]["grid"] == "一网格（441900003001001）" and rows[0]["dept"] == "东莞市市场监督管理局"
    assert rows[1]["bucket_label"] == "已办结" and rows[1]["dept"] == "441900003-02" and rows[1]["credit_code"] == ""
    change = tv.build_task_rows(df.assign(task_type="verify_change", detail=["scope", "其他"]), LABELS, {}, {})
    assert [r["detail"] for r in change] == ["经营范围变更", "其他"]
    cols = tv.task_column_defs()
    assert [c["headerName"] for c in cols] == ["任务编号", "类型", "当前环节", "预警", "期限", "推送时间", "网格",
                                               "责任部门", "统一社会信用代码", "事项"]
    warn = cols[3]
    assert warn["field"] == "bucket_rank" and set(warn["cellClassRules"]) == {f"tasks-bucket-{b}" for b in BUCKETS}
    assert tv.csv_params("任务督办_4419_2026-11-20.csv")["fileName"] == "任务督办_4419_2026-11-20.csv"
    frame = tv.excel_frame(rows)
    assert list(frame.columns) == [c["headerName"] for c in cols] and frame["任务编号"].tolist() == ["T1", "T2"]
    assert tv.list_note(1000, 9792) == "共 9,792 件，显示前 1,000 件（全部请导出 Excel）" and tv.list_note(3, 3) == "共 3 件"
    assert tv.export_name("4419", DAY, "csv") == "任务督办_4419_2026-11-20.csv"
    assert tv.page_href(tv.page_query("4419", DAY, dept=None, type="clue")) == \
        "/tasks?region=4419&date=2026-11-20&type=clue"


def test_timeline_marks_late_stages():
    ev = pd.DataFrame({
        "event_time": pd.to_datetime(["2026-11-02 09:00", "2026-11-05 10:00", "2026-11-20 16:30"]),
        "from_status": ["none", "pending", "inspecting"], "status": ["pending", "inspecting", "closed"],
        "due_date": pd.to_datetime(["2026-11-06", "2026-11-19", "2026-11-19"]),
        "stage_due": pd.to_datetime(["1970-01-01", "2026-11-06", "2026-11-19"]),
        "stage_wd": [0, 3, 11], "late_stages": [0, 0, 1], "actor": ["system", "W001", "4419-01"],
        "actor_kind": ["system", "grid_worker", "department"], "note": ["推送", "派单", "办结"],
        "dept_id": ["4419-01"] * 3})
    out = tv.create_timeline({"task_id": "T9", "type_zh": "线索移送", "bucket": "", "bucket_label": "已办结"}, ev,
                             {"4419-01": "东莞市市场监督管理局"})
    items = _events(out)
    assert len(items) == 3 and [i.className.endswith("late-item") for i in items] == [False, False, True]
    text = _text(out)
    assert "推送 → 待核查" in text and "核查中 → 办结" in text and "超期（上一环节期限 2026-11-19）" in text
    assert "部门 · 东莞市市场监督管理局" in text and "用时 11 个工作日" in text
    assert "点击任务清单" in _text(tv.create_timeline(None, None))


def test_efficiency_rows_ranked_with_change():
    cols = ["unit", "closed", "ontime", "overdue", "open", "ontime_rate", "avg_workdays"]
    cur = pd.DataFrame([("441900003", 10, 9, 1, 4, 90.0, 5.25), ("441900004", 4, 4, 0, 1, 100.0, 3.0),
                        ("441900005", 0, 0, 2, 3, float("nan"), float("nan"))], columns=cols)
    prev = pd.DataFrame([("441900003", 8, 6, 0, 1, 75.0, 6.0)], columns=cols)
    rows = tv.build_efficiency_rows(cur, prev, {"441900003": "莞城街道"})
    assert [r["unit"] for r in rows] == ["441900004", "441900003", "441900005"]
    assert [r["rank"] for r in rows] == [1, 2, None]
    assert rows[1]["name"] == "莞城街道" and rows[1]["mom_pp"] == 15.0 and rows[0]["mom_pp"] is None
    assert rows[1]["avg_workdays"] == 5.2 and rows[1]["ontime_rate"] == 90.0 and rows[2]["mom_pp"] is None
    assert [c["headerName"] for c in tv.efficiency_column_defs("镇街")] == [
        "排名", "镇街", "办结件数", "按期办结率(%)", "平均办理工作日", "逾期件数", "按期率环比(百分点)"]


def test_workday_notice_text():
    assert tv.workday_notice([]) == ""
    assert tv.workday_notice([2027]) == ("注意：2027年法定节假日安排未配置，工作日按周一至周五计算"
                                         "（请系统管理员补充节假日安排）")
    assert tv.workday_notice([2027, 2028]).startswith("注意：2027、2028年")


# ----------------------------------------------------------------------------- layout (no database)
def test_layout_makes_no_database_calls_and_reads_url(monkeypatch, page):
    monkeypatch.setenv("JINJIAN_ROOT_REGION", "4419")
    monkeypatch.setattr(dbmod, "_engine", ExplodingEngine())
    tree = page.layout(region="441900003", date=DAY, dept="4419-01", type="clue", status="open",
                       bucket="overdue_mild")
    found = _ids(tree)
    assert found["tasks-region"].value == "441900003" and found["tasks-date"].date == DAY
    assert (found["tasks-dept"].value, found["tasks-type"].value) == ("4419-01", "clue")
    assert (found["tasks-status"].value, found["tasks-bucket"].value) == ("open", "overdue_mild")
    assert found["tasks-share"].href == ("/tasks?region=441900003&date=2026-11-20&dept=4419-01&type=clue"
                                         "&status=open&bucket=overdue_mild")
    assert [o["value"] for o in found["tasks-bucket"].options] == list(BUCKETS)
    # Defaults: the jurisdiction and today; unknown values are dropped.
    found = _ids(page.layout(type="bogus", status="nope", bucket="x", dept="'; DROP", date="2026-13-01"))
    assert found["tasks-region"].value == "4419" and found["tasks-date"].date == dt.date.today().isoformat()
    assert all(found[i].value is None for i in ("tasks-dept", "tasks-type", "tasks-status", "tasks-bucket"))
    all_ids = [c.id for c in _walk(page.layout()) if isinstance(getattr(c, "id", None), str)]
    assert len(all_ids) == len(set(all_ids)) and all(i.startswith("tasks-") for i in all_ids)


# ----------------------------------------------------------------------------- callbacks on both engines
def _refresh(page, region="4419", dept=None, ttype=None, status=None, bucket=None, date=DAY):
    out = page.refresh(region, date, dept, ttype, status, bucket)
    cards = out[:N_CARDS]
    fig, rows, csv, note, banner, banner_cls, share, notice, notice_cls = out[N_CARDS:]
    return {"cards": cards, "fig": fig, "rows": rows, "csv": csv, "note": note, "banner": banner,
            "banner_cls": banner_cls, "share": share, "notice": notice, "notice_cls": notice_cls}


def _column_totals(chart) -> dict[str, int]:
    return {c.id["bucket"]: int(c.to_plotly_json()["props"]["data-value"]) for c in _columns(chart)}


def test_cards_equal_oracle_with_filters(dongguan, demo_data, page):
    out = _refresh(page)
    assert out["banner_cls"] == "banner hidden"
    assert _card_values(out["cards"]) == _oracle_summary(demo_data, "4419")
    # A task type filter and a department filter: the oracle filtered the same way.
    out = _refresh(page, ttype="verify_registration")
    assert _card_values(out["cards"]) == _oracle_summary(demo_data, "4419",
                                                         lambda o: o["task_type"] == "verify_registration")
    assert {r["task_type"] for r in out["rows"]} == {"verify_registration"}
    out = _refresh(page, dept="4419-01")
    want = _oracle_summary(demo_data, "4419", lambda o: o["dept_id"] == "4419-01")
    assert _card_values(out["cards"]) == want and want["open"] > 0
    # The chart's columns add up to the cards; a bucket filter narrows the list, not the chart.
    assert sum(_column_totals(out["fig"]).values()) == want["open"]
    town = "441900111"
    out = _refresh(page, region=town, bucket="overdue_mild")
    want = _oracle_summary(demo_data, town)
    assert _card_values(out["cards"]) == want
    per = buckets_at(demo_data, town, DEMO_END).value_counts()
    assert _column_totals(out["fig"]) == {b: int(per.get(b, 0)) for b in BUCKETS}
    b = buckets_at(demo_data, town, DEMO_END)
    assert sorted(r["task_id"] for r in out["rows"]) == sorted(b[b == "overdue_mild"].index)
    assert out["note"] == f"共 {want['overdue_mild']} 件"


def test_task_list_open_status_and_truncation(dongguan, demo_data, page):
    out = _refresh(page, status="open")
    o = open_at(demo_data, "4419", DEMO_END)
    assert sorted(r["task_id"] for r in out["rows"]) == sorted(o["task_id"]) and out["note"] == f"共 {len(o)} 件"
    assert {r["status_zh"] for r in out["rows"]} <= set(STATUS_ZH.values()) - {"办结"}
    first = out["rows"][0]
    assert first["bucket"] == "overdue_severe"  # most overdue first
    assert first["dept"] != first["dept_id"] and "（44190" in first["grid"]  # names resolved
    assert out["csv"]["fileName"] == "任务督办_4419_2026-11-20.csv"
    assert out["share"] == "/tasks?region=4419&date=2026-11-20&status=open"
    # All statuses: more than the list holds.
    total = demo_data.task_events.loc[pd.to_datetime(demo_data.task_events["event_date"]) <= pd.Timestamp(DEMO_END),
                                      "task_id"].nunique()
    out = _refresh(page)
    assert len(out["rows"]) == 1000 and out["note"] == f"共 {total:,} 件，显示前 1,000 件（全部请导出 Excel）"
    # A stage.
    out = _refresh(page, status="notice")
    assert sorted(r["task_id"] for r in out["rows"]) == sorted(o.loc[o["status"] == "notice", "task_id"])
    # 2027 has no statutory holidays in chinese-calendar 1.11: the notice names it.
    assert "2027年法定节假日安排未配置" in out["notice"] and out["notice_cls"] == "tasks-notice"


def test_departments_and_region_name(dongguan, demo_data, page):
    name, cls, value = page.update_region("4419", None)
    assert name == "东莞市" and "error" not in cls and value is page.no_update
    depts = demo_data.departments
    everyone = list(depts["dept_id"][:12]) + sorted(depts["dept_id"][12:])  # city bureaus first
    assert len(everyone) > page.DEPT_OPTIONS + 10
    options = page.dept_choices("4419", None, None)  # the first 50, and a line saying how many more
    assert [o["value"] for o in options[:-1]] == everyone[:page.DEPT_OPTIONS]
    assert options[-1]["disabled"] and f"另有 {len(everyone) - page.DEPT_OPTIONS:,} 个部门" in options[-1]["label"]
    # Typing finds any of them, by name or code; the chosen one stays among the choices.
    last = depts.set_index("dept_id").loc[everyone[-1]]
    found = page.dept_choices("4419", everyone[-1], None)
    assert [o["value"] for o in found] == [everyone[-1]] and last["name"] in found[0]["label"]
    want = [d for d in everyone if last["name"] in depts.set_index("dept_id").loc[d, "name"]]
    assert [o["value"] for o in page.dept_choices("4419", last["name"], None) if not o.get("disabled")] == \
        want[:page.DEPT_OPTIONS]
    kept = page.dept_choices("4419", "4419-01", everyone[-1])
    assert [o["value"] for o in kept] == [everyone[-1], "4419-01"]
    name, cls, value = page.update_region("441900111", "441900003-01")
    assert value is None
    values = [o["value"] for o in page.dept_choices("441900111", "", None) if not o.get("disabled")]
    assert "441900111-01" in values and "4419-01" in values and not any(v.startswith("441900003") for v in values)
    # A province (no level above it) and the whole country list every department.
    assert len(page.departments_in(dongguan, "44")) == len(page.departments_in(dongguan, "")) == len(depts)
    name, cls, value = page.update_region("44x", None)
    assert "tasks-region-error" in cls and value is page.no_update
    assert page.dept_choices("44x", None, None) is page.no_update


def test_efficiency_equals_oracle(dongguan, demo_data, page):
    town_rows, dept_rows, period, note = page.refresh_efficiency("4419", DAY)
    assert note == "" and "2026-11-01 至 2026-11-20" in period and "2026-10-01 至 2026-10-20" in period
    ontime, closed = closed_on_time(demo_data, "4419", dt.date(2026, 11, 1), DEMO_END)
    assert sum(r["closed"] for r in town_rows) == closed == sum(r["closed"] for r in dept_rows)
    assert sum(r["ontime"] for r in town_rows) == ontime
    o = open_at(demo_data, "4419", DEMO_END)
    assert sum(r["overdue"] for r in town_rows) == int((pd.to_datetime(o["due_date"]) < pd.Timestamp(DEMO_END)).sum())
    ranked = [r for r in town_rows if r["rank"] is not None]
    assert [r["rank"] for r in ranked] == list(range(1, len(ranked) + 1))
    rates = [r["ontime_rate"] for r in ranked]
    assert rates == sorted(rates, reverse=True) and all(not r["name"].isdigit() for r in town_rows)
    assert any(r["name"] == "东莞市市场监督管理局" for r in dept_rows)
    # 环比: the previous month's same stretch, per town.
    prev = previous_period(period_to_date(DEMO_END, "month"), "month")
    r0 = next(r for r in ranked if r["mom_pp"] is not None)
    p_ontime, p_closed = closed_on_time(demo_data, r0["unit"], prev.start, prev.end)
    assert r0["mom_pp"] == pytest.approx(r0["ontime_rate"] - p_ontime / p_closed * 100, abs=0.11)


def test_timeline_callback(dongguan, demo_data, page):
    te = demo_data.task_events
    late = te[(te["from_status"] != "none") & (pd.to_datetime(te["event_date"]) > pd.to_datetime(te["stage_due"]))]
    task_id = late["task_id"].iloc[0]
    out = page.show_timeline([{"task_id": task_id, "type_zh": "x", "bucket": "", "bucket_label": "已办结"}], "4419")
    items = _events(out)
    assert len(items) == int((te["task_id"] == task_id).sum())
    assert sum(i.className.endswith("late-item") for i in items) == int((late["task_id"] == task_id).sum())
    assert "点击任务清单" in _text(page.show_timeline(None, "4419"))
    assert "任务编号不正确" in _text(page.show_timeline([{"task_id": "x'--"}], "4419"))


def test_excel_export_callback(dongguan, page):
    data, note = page.export_excel(1, "4419", DAY, None, "clue", "open", None)
    assert data["filename"] == "任务督办_4419_2026-11-20.xlsx" and note == ""
    frame = pd.read_excel(io.BytesIO(__import__("base64").b64decode(data["content"])), dtype=str)
    q = TaskQuery(Filter(region="4419", scope=RegionScope("4419")), DEMO_END, task_type="clue", status="open")
    df, _total = task_list(dongguan, q, RULES)
    assert frame["任务编号"].tolist() == df["task_id"].tolist() and set(frame["类型"]) == {"线索移送"}


def test_chart_click_picks_bucket(page):
    bar = {"type": ageing_chart.BAR_TYPE, "bucket": "overdue_mild"}
    assert page.bucket_after(bar, 1, None) == "overdue_mild"
    assert page.bucket_after(bar, 2, "overdue_mild") is None  # a second click clears it
    assert page.bucket_after(bar, 0, None) is page.no_update  # a column redrawn is no click
    assert page.bucket_after({"type": ageing_chart.BAR_TYPE, "bucket": "bogus"}, 1, None) is page.no_update
    assert page.bucket_after(None, None, None) is page.no_update


class DownEngine(Engine):
    name = "down"

    def __init__(self) -> None:
        super().__init__("down")

    def query(self, sql):
        raise DatabaseUnavailable("connection refused")

    command = insert = query


def test_errors_are_banners(dongguan, page, monkeypatch, tmp_path):
    for region, text in (("44x", "区划"), ("441999999", "未找到区划代码"), ("4401", "无权查看")):
        out = _refresh(page, region=region)
        assert out["banner_cls"] == "banner" and text in out["banner"], (region, out["banner"])
        assert all(c is page.no_update for c in out["cards"]) and out["rows"] is page.no_update
    out = _refresh(page, status="closed", bucket="overdue_mild")
    assert out["banner"] == "预警等级只适用于在办任务"
    out = _refresh(page, date="2026-13-01")
    assert out["banner"].startswith("日期格式不正确")
    monkeypatch.setenv("JINJIAN_TASK_OVERDUE_BUCKETS", "9,3")
    assert _refresh(page)["banner"] == page.RULES_MESSAGE
    monkeypatch.delenv("JINJIAN_TASK_OVERDUE_BUCKETS")
    bad = tmp_path / "holidays.csv"
    bad.write_text("not,a,holiday file\n", encoding="utf-8")
    monkeypatch.setenv("JINJIAN_HOLIDAY_FILE", str(bad))
    assert _refresh(page)["banner"] == page.CALENDAR_MESSAGE
    monkeypatch.delenv("JINJIAN_HOLIDAY_FILE")
    assert _refresh(page)["banner_cls"] == "banner hidden"
    dbmod.set_db(DownEngine())
    out = _refresh(page)
    assert out["banner"] == "数据库暂时无法连接，正在自动重试" and out["banner_cls"] == "banner"
    assert page.refresh_efficiency("4419", DAY)[-1] == "数据库暂时无法连接，正在自动重试"
    assert page.export_excel(1, "4419", DAY, None, None, None, None)[1] == "数据库暂时无法连接，正在自动重试"


# ----------------------------------------------------------------------------- browser
def _grid_count(dash_duo) -> int:
    return _js(dash_duo, "var api = dash_ag_grid.getApi('tasks-grid'); return api ? api.getDisplayedRowCount() : -1;")


def _view(dash_duo, label: str) -> None:
    """Choose one of the page's views by its tab."""
    assert _js(dash_duo, """const t = Array.from(document.querySelectorAll('#tasks-view .tasks-view-tab'))
        .find(e => e.innerText.trim() === arguments[0]); if (t) { t.click(); } return !!t;""", label), label


@pytest.mark.browser
def test_tasks_page_in_browser(dash_duo, dongguan, demo_data, tmp_path: Path):
    from app import create_app

    app = create_app()
    dash_duo.start_server(app)
    driver = dash_duo.driver
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": 1920, "height": 1080, "deviceScaleFactor": 1, "mobile": False})
    driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(tmp_path)})
    dash_duo.wait_for_page(url=f"{dash_duo.server_url}/tasks?region=4419&date={DAY}", timeout=30)
    dash_duo.wait_for_contains_text("#tasks-region-name", "东莞市", timeout=30)

    want = _oracle_summary(demo_data, "4419")
    _wait(lambda: _js(dash_duo, "return document.getElementById('tasks-card-open-value').getAttribute('data-value');")
          == f"{want['open']:,}", what="open card")
    total = demo_data.task_events["task_id"].nunique()
    dash_duo.wait_for_text_to_equal("#tasks-table-note", f"共 {total:,} 件，显示前 1,000 件（全部请导出 Excel）", timeout=30)
    _wait(lambda: _grid_count(dash_duo) == 1000, what="1000 rows")
    dash_duo.wait_for_contains_text("#tasks-workday-note", "2027年法定节假日安排未配置", timeout=10)
    # the ageing columns: each bucket's total as pandas counts it (HTML, no plotly on this view)
    per = buckets_at(demo_data, "4419", DEMO_END).value_counts()
    _wait(lambda: _js(dash_duo, "return Array.from(document.querySelectorAll('#tasks-ageing .ageing-col'))"
                                ".map(e => e.getAttribute('data-value'));") == [str(int(per.get(b, 0))) for b in BUCKETS],
          what="ageing columns")
    assert _js(dash_duo, "return typeof window.Plotly;") == "undefined"
    # The other views are not built until shown: no grid of theirs in the page yet.
    assert _js(dash_duo, "return document.querySelectorAll('#tasks-eff-town, #tasks-push-grid').length;") == 0
    assert _js(dash_duo, "return document.getElementById('tasks-pane-eff').offsetParent;") is None  # hidden
    # 推送时效: one row per town, the note with this month's rate; the share link names the view.
    _view(dash_duo, "推送时效")
    dash_duo.wait_for_contains_text("#tasks-push-note", "推送时限 1小时；推送", timeout=30)
    _wait(lambda: _js(dash_duo, "return document.querySelectorAll('#tasks-push-grid .ag-row').length;") > 0,
          what="push rows")
    assert "view=push" in dash_duo.find_element("#tasks-share").get_attribute("href")
    assert _js(dash_duo, "return document.getElementById('tasks-pane-list').offsetParent;") is None
    _view(dash_duo, "效能监察")
    _wait(lambda: _js(dash_duo, "return document.querySelectorAll('#tasks-eff-town .ag-row').length;") > 0,
          what="efficiency rows")
    # a view left holds nothing of its own (no old figures when it is chosen again)
    _wait(lambda: _js(dash_duo, "return document.querySelectorAll('#tasks-push-grid').length;") == 0,
          what="the push view emptied")
    _view(dash_duo, "双随机与联合惩戒")
    dash_duo.wait_for_contains_text("#tasks-random-note", "多头检查", timeout=30)
    # Its chart is drawn by plotly.js's basic bundle (api/plotly_bundle.py): only its trace types.
    _wait(lambda: _js(dash_duo, "return document.querySelectorAll('#tasks-random-classes .main-svg').length;") > 0,
          what="the class chart drawn")
    assert sorted(_js(dash_duo, "return Object.keys(Plotly.PlotSchema.get().traces);")) == ["bar", "pie", "scatter"]
    _view(dash_duo, "督办清单")
    assert "view=" not in dash_duo.find_element("#tasks-share").get_attribute("href")

    # Filter in the UI: 办理状态 = 在办 → only the open tasks are listed.
    choose(dash_duo, "tasks-status", tv.STATUS_FILTER_ZH["open"])
    dash_duo.wait_for_text_to_equal("#tasks-table-note", f"共 {want['open']} 件", timeout=30)
    _wait(lambda: _grid_count(dash_duo) == want["open"], what="open rows")
    # A click on a column filters by its bucket; a second click clears the filter.
    dash_duo.find_element("#tasks-ageing .ageing-col[data-bucket='overdue_moderate']").click()
    dash_duo.wait_for_text_to_equal("#tasks-table-note", f"共 {want['overdue_moderate']} 件", timeout=30)
    dash_duo.find_element("#tasks-ageing .ageing-col[data-bucket='overdue_moderate']").click()
    dash_duo.wait_for_text_to_equal("#tasks-table-note", f"共 {want['open']} 件", timeout=30)
    # 预警等级 = 逾期1–5个工作日 → those tasks only; the cards keep the breakdown.
    choose(dash_duo, "tasks-bucket", LABELS["overdue_mild"])
    dash_duo.wait_for_text_to_equal("#tasks-table-note", f"共 {want['overdue_mild']} 件", timeout=30)
    _wait(lambda: _grid_count(dash_duo) == want["overdue_mild"], what="mild rows")
    cells = _js(dash_duo, "return Array.from(document.querySelectorAll('#tasks-grid .tasks-bucket-overdue_mild'))"
                          ".map(e => e.innerText.trim());")
    assert cells and set(cells) == {LABELS["overdue_mild"]}
    assert "status=open" in dash_duo.find_element("#tasks-share").get_attribute("href")

    # A row click shows its timeline.
    first = _js(dash_duo, "return dash_ag_grid.getApi('tasks-grid').getDisplayedRowAtIndex(0).data.task_id;")
    dash_duo.find_element(f"#tasks-grid .ag-pinned-left-cols-container .ag-row[row-id='{first}']").click()
    dash_duo.wait_for_contains_text("#tasks-timeline", first, timeout=30)
    n_events = int((demo_data.task_events["task_id"] == first).sum())
    _wait(lambda: len(dash_duo.find_elements("#tasks-timeline .tasks-ev")) == n_events, what="timeline items")

    # Excel export of the filtered list.
    dash_duo.find_element("#tasks-export-xlsx").click()
    target = tmp_path / "任务督办_4419_2026-11-20.xlsx"
    _wait(lambda: target.exists() and not list(tmp_path.glob("*.crdownload")), what="xlsx download")
    frame = pd.read_excel(target, dtype=str)
    q = TaskQuery(Filter(region="4419", scope=RegionScope("4419")), DEMO_END, status="open", bucket="overdue_mild")
    df, _total = task_list(dongguan, q, RULES)
    assert frame["任务编号"].tolist() == df["task_id"].tolist() and len(frame) == want["overdue_mild"]
    assert set(frame["预警"]) == {LABELS["overdue_mild"]}
    # The browser's CSV: the grid's own cell rule is the server's (domain/cells.py), and a
    # formula planted in a shown cell leaves the export as text.
    samples = [*EVIL_CELLS, "-3.20%", "+1,024", "东莞市某公司", "-1+1"]
    assert _js(dash_duo, "return arguments[0].map(v => dashAgGridFunctions.csvSafeCell({value: v}));",
               samples) == [csv_safe(v) for v in samples]
    planted = _js(dash_duo, """const n = dash_ag_grid.getApi('tasks-grid').getDisplayedRowAtIndex(1);
        n.setDataValue('detail', '=HYPERLINK("http://127.0.0.1/x","点击")'); return n.data.task_id;""")
    dash_duo.find_element("#tasks-export-csv").click()  # the CSV export must not fail in the page
    csv_file = tmp_path / "任务督办_4419_2026-11-20.csv"
    _wait(lambda: csv_file.exists() and not list(tmp_path.glob("*.crdownload")), what="csv download")
    time.sleep(0.3)
    csv = pd.read_csv(csv_file, dtype=str, encoding="utf-8-sig")
    assert list(csv.columns) == [h for _, h in tv.TASK_COLUMNS]
    assert sorted(csv["任务编号"]) == sorted(frame["任务编号"]) and set(csv["预警"]) == {LABELS["overdue_mild"]}
    assert csv.set_index("任务编号").loc[planted, "事项"] == "'=HYPERLINK(\"http://127.0.0.1/x\",\"点击\")"
    assert not [v for v in csv.drop(columns=["任务编号"]).stack() if str(v).startswith(("=", "+", "@"))]
    time.sleep(0.5)
    driver.save_screenshot("/tmp/tasks.png")
    _view(dash_duo, "效能监察")
    time.sleep(0.5)
    driver.save_screenshot("/tmp/tasks-efficiency.png")
    assert _js(dash_duo, "return window.innerWidth;") == 1920
    logs = [e for e in dash_duo.get_logs() or [] if e.get("level") == "SEVERE"]
    assert logs == []
