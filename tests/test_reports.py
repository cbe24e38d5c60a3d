"""Periodic reports: periods, the data builder against the query layer and the
independent oracle (both engines), real PDFs printed by headless Chromium and
checked with poppler (text, fonts, pages, PNG), Excel, bad arguments, the CLI,
schedules, the archive and its download route."""
from __future__ import annotations

import datetime as dt
import io
import math
import os
import re
import struct
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from components.report_views import headline_frame, report_tables
from indicators.catalogue import CATALOGUE
from queries.indicator_values import compute
from indicators.periods import Period
from store import db as dbmod
from store.filters import Filter, RegionScope
from reports.build import check_request, render_pdf
from queries.report_data import HEADLINES, build_report
from queries.report_wording import fmt_value
from queries.report_periods import ReportError, last_complete, report_period
from settings import ROOT
from tests.conftest import DEMO_END, DEMO_ROOT
from tests.oracle import oracle_value

TODAY = dt.date(2026, 11, 24)
WEEK = "2026-11-18"       # a Wednesday: the ISO week 2026-11-16 … 2026-11-22 (data ends 2026-11-20)
MONTH = "2026-10-09"      # October 2026
EMPTY_REGION = "4401"     # Guangzhou: in the jurisdiction (44), no data in the test set


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


# ----------------------------------------------------------------------------- periods
def test_periods():
    w = report_period("weekly", WEEK, TODAY)
    assert (w.start, w.end, w.full_end, w.partial) == (dt.date(2026, 11, 16), dt.date(2026, 11, 22),
                                                         dt.date(2026, 11, 22), False)
    assert w.start.weekday() == 0 and w.label == "2026年第47周（11月16日—11月22日）" and w.key == "2026-W47"
    m = report_period("monthly", MONTH, TODAY)
    assert (m.start, m.end, m.label) == (dt.date(2026, 10, 1), dt.date(2026, 10, 31), "2026年10月")
    q = report_period("quarterly", "2026-08-31", TODAY)
    assert (q.start, q.end, q.label) == (dt.date(2026, 7, 1), dt.date(2026, 9, 30), "2026年第3季度")
    d = report_period("daily", "2024-02-29", TODAY)
    assert d.start == d.end == dt.date(2024, 2, 29)
    # the current period is period-to-date, and says so
    cur = report_period("monthly", "2026-11-02", TODAY)
    assert cur.partial and cur.end == TODAY and "本期尚未结束" in cur.range_text
    # schedules file the last complete period
    assert last_complete("weekly", TODAY).start == dt.date(2026, 11, 16)
    assert last_complete("monthly", TODAY).start == dt.date(2026, 10, 1)
    assert last_complete("quarterly", TODAY).start == dt.date(2026, 7, 1)
    assert last_complete("daily", TODAY).start == dt.date(2026, 11, 23)


@pytest.mark.parametrize("kind, day, fragment", [
    ("weekly", "2026-12-01", "报告期尚未开始"),
    ("weekly", "2026-13-01", "日期格式不正确"),
    ("weekly", "20261116", "日期格式不正确"),
    ("weekly", "", "日期格式不正确"),
    ("yearly", "2026-11-16", "报告周期不正确"),
])
def test_bad_periods(kind, day, fragment):
    with pytest.raises(ReportError) as err:
        report_period(kind, day, TODAY)
    assert fragment in err.value.user_message


# ----------------------------------------------------------------------------- data vs query layer vs oracle
@pytest.fixture
def use_db(demo_db, monkeypatch):
    monkeypatch.setenv("JINJIAN_ROOT_REGION", "44")
    dbmod.set_db(demo_db)
    yield demo_db
    dbmod.set_db(None)


def _check_headlines(db, data, demo_data, kind: str, day: str) -> None:
    period = report_period(kind, day, TODAY)
    expected = compute(db, [CATALOGUE[i] for i in HEADLINES], Filter(DEMO_ROOT, RegionScope("44")),
                       Period(period.start, period.end)).set_index("indicator_id")["value"]
    for ind_id in HEADLINES:
        got = data.value(ind_id)
        oracle = oracle_value(demo_data, ind_id, DEMO_ROOT, period.start, period.end)
        assert got == pytest.approx(float(expected[ind_id]), rel=1e-9, nan_ok=True), ind_id
        assert got == pytest.approx(oracle, rel=1e-6, abs=1e-9, nan_ok=True), ind_id


@pytest.mark.parametrize("kind, day", [("weekly", WEEK), ("monthly", MONTH)])
def test_report_numbers_equal_query_layer_and_oracle(use_db, demo_data, kind, day):
    data = build_report(use_db, DEMO_ROOT, kind, day, RegionScope("44"), today=TODAY)
    assert data.has_data and data.region_name == "东莞市" and data.title == f"东莞市市场监管{'周报' if kind == 'weekly' else '月报'}"
    _check_headlines(use_db, data, demo_data, kind, day)
    new = fmt_value(CATALOGUE["new_registrations"], data.value("new_registrations"))
    this = "本周" if kind == "weekly" else "本月"
    assert any(s.startswith(f"{this}新设立市场主体 {new} 户，环比") and "同比" in s for s in data.summary)
    # overdue list: the most overdue open tasks at the period end, as many as the indicator counts (≤ the cap)
    assert len(data.overdue) == min(data.overdue_total, 150) and data.overdue_total > 0
    assert list(data.overdue["逾期工作日"]) == sorted(data.overdue["逾期工作日"], reverse=True)
    # the data-quality note names the late source (the test data end on DEMO_END, inside this week)
    if kind == "weekly":
        assert any("尚未报送" in n and DEMO_END.isoformat() in n for n in data.quality_notes)


def test_no_data_report_says_so(use_db):
    data = build_report(use_db, EMPTY_REGION, "weekly", WEEK, RegionScope("44"), today=TODAY)
    assert not data.has_data and data.region_name == "广州市"
    assert "本期无数据" in data.summary[0]
    assert data.value("new_registrations") == 0 and data.overdue.empty and data.alerts.empty


@pytest.mark.parametrize("region, root, fragment", [
    ("4499", "44", "未找到区划代码 4499"),
    ("44x9", "44", "区划代码"),
    ("4401", "4419", "不在本平台辖区范围内"),
])
def test_bad_region(use_db, region, root, fragment):
    with pytest.raises(ReportError) as err:
        check_request(use_db, region, "weekly", WEEK, RegionScope(root), today=TODAY)
    assert fragment in err.value.user_message


def test_excel_holds_the_tables(use_db):
    from openpyxl import load_workbook

    from reports.excel import workbook_bytes

    data = build_report(use_db, DEMO_ROOT, "weekly", WEEK, RegionScope("44"), today=TODAY)
    wb = load_workbook(io.BytesIO(workbook_bytes(report_tables(data))), read_only=True)
    assert {"概要", "主要指标", "逾期任务", "高风险主体", "数据质量"} <= set(wb.sheetnames)
    heads = pd.read_excel(io.BytesIO(workbook_bytes(report_tables(data))), sheet_name="主要指标", dtype=str)
    assert list(heads["本期"]) == list(headline_frame(data)["本期"])
    assert len(pd.read_excel(io.BytesIO(workbook_bytes(report_tables(data))), sheet_name="逾期任务")) == len(data.overdue)


# ----------------------------------------------------------------------------- PDFs
@pytest.fixture(scope="module")
def renderer():
    from reports.pdf import PdfRenderer

    r = PdfRenderer()
    yield r
    r.close()


@pytest.fixture
def chdb_app(flask_server, both_dbs, monkeypatch, tmp_path):
    monkeypatch.setenv("JINJIAN_ROOT_REGION", "44")
    monkeypatch.setenv("JINJIAN_REPORT_SCHEDULER", "0")
    monkeypatch.setenv("JINJIAN_REPORT_DIR", str(tmp_path / "archive"))
    monkeypatch.setenv("JINJIAN_METADATA_URL", f"sqlite:///{tmp_path / 'meta.sqlite'}")
    dbmod.set_db(both_dbs["chdb"])
    yield flask_server
    dbmod.set_db(None)


def _poppler(tool: str, *args: str) -> str:
    return subprocess.run([tool, *args], capture_output=True, text=True, check=True, timeout=60).stdout


def _pages(pdf: Path) -> list[str]:
    n = int(re.search(r"Pages:\s+(\d+)", _poppler("pdfinfo", str(pdf))).group(1))
    return [_poppler("pdftotext", "-layout", "-f", str(i), "-l", str(i), str(pdf), "-") for i in range(1, n + 1)]


def _check_pdf(pdf: Path, data, tmp_path: Path) -> list[str]:
    assert pdf.read_bytes()[:5] == b"%PDF-"
    info = _poppler("pdfinfo", str(pdf))
    assert re.search(r"Page size:\s+595\.\d+ x 84[12]\.\d+ pts \(A4\)", info), info
    pages = _pages(pdf)
    text = _squash("".join(pages))
    # title, region, period and every headline figure (as the query layer computed them), row by row
    assert data.title in text and _squash(f"{data.region_path}（{data.region}）") in text
    assert data.region_name in text and _squash(data.period.label) in text
    for row in headline_frame(data).itertuples(index=False):
        assert _squash("".join(row)) in text, row
    for sentence in data.summary:
        assert _squash(sentence) in text
    # footer on every page: 第 N 页 / 共 M 页, M = the page count
    for i, page in enumerate(pages, start=1):
        assert f"第{i}页/共{len(pages)}页" in _squash(page)
    # fonts: all embedded (CJK included), with Unicode maps (selectable text)
    fonts = [ln.split() for ln in _poppler("pdffonts", str(pdf)).splitlines()[2:] if ln.strip()]
    assert fonts and all(f[-5] == "yes" and f[-3] == "yes" for f in fonts), fonts
    # page 1 renders to a PNG of A4 proportions
    _poppler("pdftoppm", "-r", "40", "-png", "-f", "1", "-l", "1", "-singlefile", str(pdf), str(tmp_path / "p1"))
    png = (tmp_path / "p1.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    w, h = struct.unpack(">II", png[16:24])
    assert abs(h / w - 297 / 210) < 0.01
    return pages


@pytest.mark.parametrize("kind, day", [("weekly", WEEK), ("monthly", MONTH)])
def test_pdf(chdb_app, renderer, demo_data, tmp_path, kind, day):
    db = dbmod.get_db()
    data = build_report(db, DEMO_ROOT, kind, day, RegionScope("44"), today=TODAY)
    _check_headlines(db, data, demo_data, kind, day)
    pdf = tmp_path / "r.pdf"
    pdf.write_bytes(render_pdf(chdb_app, DEMO_ROOT, kind, day, renderer=renderer))
    pages = _pages(pdf)
    _check_pdf(pdf, data, tmp_path)
    # the long overdue table continues over pages, its header repeated, no row lost
    with_head = [i for i, p in enumerate(pages) if "任务编号" in p and "逾期工作日" in p and "统一社会信用代码" in p]
    assert len(pages) >= 3 and len(with_head) >= 2
    text = _squash("".join(pages))
    assert all(task in text for task in data.overdue["任务编号"])


def test_pdf_for_a_period_without_data(chdb_app, renderer, tmp_path):
    db = dbmod.get_db()
    data = build_report(db, EMPTY_REGION, "weekly", WEEK, RegionScope("44"), today=TODAY)
    pdf = tmp_path / "empty.pdf"
    pdf.write_bytes(render_pdf(chdb_app, EMPTY_REGION, "weekly", WEEK, renderer=renderer))
    pages = _check_pdf(pdf, data, tmp_path)
    text = _squash("".join(pages))
    assert "本期无数据" in text and "期末无逾期任务" in text and "该区域尚无任何业务数据接入" in text
    assert len(pages) <= 3


def test_page_error_is_reported_not_printed(chdb_app, renderer):
    from reports.build import Checked, report_url

    bad = Checked("4499", "4499", report_period("weekly", WEEK, TODAY))  # skips the up-front check
    with pytest.raises(ReportError) as err:
        render_pdf(chdb_app, "4499", "weekly", WEEK, renderer=renderer, checked=bad)
    assert "4499" in err.value.user_message
    assert "/report/print?region=4499" in report_url("http://x", "4499", "weekly", WEEK)
    with pytest.raises(ReportError):  # the Dash page's marker says "error" too
        render_pdf(chdb_app, "4499", "weekly", WEEK, renderer=renderer, checked=bad, route="/report")


def test_dash_page_prints_the_same_report(chdb_app, renderer, tmp_path):
    """The interactive page (/report) sets its ready marker only once the charts'
    SVG and the tables are in the DOM; printing it gives the same document."""
    db = dbmod.get_db()
    data = build_report(db, DEMO_ROOT, "weekly", WEEK, RegionScope("44"), today=TODAY)
    pdf = tmp_path / "page.pdf"
    pdf.write_bytes(render_pdf(chdb_app, DEMO_ROOT, "weekly", WEEK, renderer=renderer, route="/report"))
    pages = _check_pdf(pdf, data, tmp_path)
    assert "生成报告" not in _squash("".join(pages))  # the controls do not print


def _browser_pids() -> set[int]:
    """Main Chromium processes descending from this test process (started by its renderers)."""
    parents, cmds = {}, {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                parents[int(d.name)] = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
                cmds[int(d.name)] = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except (OSError, IndexError, ValueError):
                continue

    def mine(pid: int) -> bool:
        while pid > 1:
            pid = parents.get(pid, 0)
            if pid == os.getpid():
                return True
        return False

    return {pid for pid, cmd in cmds.items()
            if "chromium" in cmd and "--headless" in cmd and "--type=" not in cmd and mine(pid)}


def test_dead_browser_is_relaunched(chdb_app, tmp_path):
    import signal

    from reports.pdf import PdfRenderer

    before = _browser_pids()
    r = PdfRenderer()
    try:
        render_pdf(chdb_app, EMPTY_REGION, "weekly", WEEK, renderer=r)
        mine = _browser_pids() - before
        assert len(mine) == 1 and r.launches == 1
        os.kill(mine.pop(), signal.SIGKILL)
        pdf = render_pdf(chdb_app, EMPTY_REGION, "weekly", WEEK, renderer=r)
        assert pdf[:5] == b"%PDF-" and r.launches == 2
    finally:
        r.close()


def test_missing_chromium_names_the_setting(monkeypatch):
    from reports.pdf import PdfError, PdfRenderer

    monkeypatch.setenv("JINJIAN_CHROMIUM", "/nonexistent/chromium")
    with pytest.raises(PdfError) as err:
        PdfRenderer().render("http://127.0.0.1:9/")
    assert "JINJIAN_CHROMIUM" in err.value.detail  # the operator's log names the setting ...
    assert "JINJIAN" not in err.value.user_message and "请联系系统管理员" in err.value.user_message  # the screen does not


# ----------------------------------------------------------------------------- schedules, archive, downloads
def test_schedule_archive_and_download(chdb_app, renderer, tmp_path):
    from reports.config import ScheduleSpec
    from reports.scheduler import run_due
    from reports.store import ReportStore

    store = ReportStore(os.environ["JINJIAN_METADATA_URL"])
    ok_id = store.add_schedule(ScheduleSpec("weekly", DEMO_ROOT, "08:00"))
    bad_id = store.add_schedule(ScheduleSpec("weekly", "4499", "08:00"))  # unknown region: fails, logged
    store.add_schedule(ScheduleSpec("monthly", DEMO_ROOT, "23:00"))       # not due yet at 09:00
    runs = run_due(chdb_app, now=dt.datetime(2026, 11, 24, 9, 0), store=store, renderer=renderer)
    by_schedule = {r["schedule_id"]: r for r in runs}
    assert set(by_schedule) == {ok_id, bad_id}
    ok, bad = by_schedule[ok_id], by_schedule[bad_id]
    assert ok["status"] == "ok" and ok["period_key"] == "2026-W47"
    assert Path(ok["pdf_path"]).read_bytes()[:5] == b"%PDF-" and Path(ok["xlsx_path"]).stat().st_size > 0
    assert Path(ok["pdf_path"]).is_relative_to(tmp_path / "archive")
    assert bad["status"] == "failed" and "4499" in bad["error"]
    # each schedule files each period once
    assert run_due(chdb_app, now=dt.datetime(2026, 11, 24, 9, 1), store=store, renderer=renderer) == []

    client = chdb_app.test_client()
    res = client.get(f"/reports/file/{ok['id']}.pdf")
    assert res.status_code == 200 and res.data[:5] == b"%PDF-" and "attachment" in res.headers["Content-Disposition"]
    assert client.get(f"/reports/file/{ok['id']}.xlsx").status_code == 200
    assert client.get(f"/reports/file/{bad['id']}.pdf").status_code == 404
    assert client.get(f"/reports/file/{ok['id']}.sh").status_code == 404
    res = client.get("/reports/file/..%2F..%2Fetc%2Fpasswd")  # not a run id: never a file (Dash's 404 page)
    assert b"root:" not in res.data and "attachment" not in res.headers.get("Content-Disposition", "")
    # a recorded path outside the archive is never served
    outside = store.start_run("weekly", DEMO_ROOT, "x", "cli")
    store.finish_run(outside, "ok", pdf_path=str(ROOT / "README.md"))
    assert client.get(f"/reports/file/{outside}.pdf").status_code == 404

    # the archive page lists both, the failure with its error text
    from pages.reports_archive import refresh
    runs_view, schedules_view = refresh(None, None)
    html_text = str(runs_view)
    assert f"/reports/file/{ok['id']}.pdf" in html_text and "4499" in html_text and "失败" in html_text
    assert "monthly" not in str(schedules_view) or "月报" in str(schedules_view)


def test_schedule_setting_is_parsed():
    from reports.config import parse_schedules
    from settings import ConfigError

    specs = parse_schedules("weekly@4419@08:00, monthly@44@7:30")
    assert [str(s) for s in specs] == ["weekly@4419@08:00", "monthly@44@07:30"]
    for bad in ("weekly@4419", "yearly@44@08:00", "weekly@44x@08:00", "weekly@44@25:00"):
        with pytest.raises(ConfigError) as err:
            parse_schedules(bad)
        assert "JINJIAN_REPORT_SCHEDULES" in str(err.value)


# ----------------------------------------------------------------------------- command line (server engine)
def _cli(ch_server, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JINJIAN_")}
    env.update({"JINJIAN_CLICKHOUSE_URL": ch_server.url.rsplit("/", 1)[0] + "/test_demo",
                "JINJIAN_DATA_DIR": str(tmp_path / "data"), "JINJIAN_ROOT_REGION": "44",
                "JINJIAN_REPORT_SCHEDULER": "0"})
    return subprocess.run([sys.executable, "-m", "reports", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=180)


@pytest.mark.parametrize("args, fragment", [
    (("--region", "4499", "--date", WEEK), "未找到区划代码 4499"),
    (("--region", "4419", "--date", "2099-01-05"), "报告期尚未开始"),
    (("--region", "4419", "--date", "2026-11-31"), "日期格式不正确"),
])
def test_cli_bad_arguments(both_dbs, ch_server, tmp_path, args, fragment):
    out = tmp_path / "r.pdf"
    res = _cli(ch_server, tmp_path, "build", "--period", "weekly", *args, "--out", str(out), "--xlsx",
               str(tmp_path / "r.xlsx"))
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0], res.stderr
    assert not out.exists() and not (tmp_path / "r.xlsx").exists() and list(tmp_path.glob("*.pdf")) == []


def test_cli_builds_pdf_and_excel(both_dbs, ch_server, demo_data, tmp_path):
    out, xlsx = tmp_path / "r.pdf", tmp_path / "r.xlsx"
    res = _cli(ch_server, tmp_path, "build", "--period", "weekly", "--date", WEEK, "--region", DEMO_ROOT,
               "--out", str(out), "--xlsx", str(xlsx))
    assert res.returncode == 0, res.stderr
    text = _squash(_poppler("pdftotext", "-layout", str(out), "-"))
    period = report_period("weekly", WEEK, TODAY)
    for ind_id in ("entity_stock", "new_registrations", "tasks_overdue"):
        figure = fmt_value(CATALOGUE[ind_id], oracle_value(demo_data, ind_id, DEMO_ROOT, period.start, period.end))
        assert f"{CATALOGUE[ind_id].name_zh}{CATALOGUE[ind_id].unit}{figure}" in text
    heads = pd.read_excel(xlsx, sheet_name="主要指标", dtype=str)
    assert not math.isnan(float(heads.loc[heads["指标"] == "市场主体总量", "本期"].iloc[0].replace(",", "")))
