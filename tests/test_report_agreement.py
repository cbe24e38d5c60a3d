"""A report says the same in its three forms (issue 30, item 5) and in a leader's language.

For one daily, one weekly and one monthly report (:data:`CASES`: Dongguan 4419 and a town):
**the page** ``/report`` loaded in the process's warm report browser (``shared_renderer``, the
one the PDF export uses) and read from the DOM once ready — every text block in order, table
cell and chart label; **the page's Excel**, its 导出 Excel button clicked there, read back with
openpyxl; **the PDF and the archived Excel** of a run filed by ``reports.build.generate`` (as
schedules and /reports do), the PDF read back with ``pdftotext -raw``. The report cache is
cleared before each, so each form builds its own data. What they share and what is compared:

- PDF ↔ page: everything. Every text block of the page (header, sentences, notes, table rows,
  each chart's labels) is in the PDF in the same order, and the PDF holds nothing else but its
  running header and footer (第 N 页 / 共 M 页) and table headers repeated on a new page. Only
  the generation time (生成时间) may differ.
- Excel ↔ page: the workbook has the tables and sentences, not the charts' drawing. 概要 =
  title, region, period and every sentence (summary, notes, overdue, data-quality and 双随机 notes);
  主要指标, 逾期任务, 高风险主体, 不合格批次, 数据质量, 双随机抽查 = the page's tables cell by cell; 新设立排名,
  逾期任务排名, 风险等级分布 = the bar charts' names (cut to 8 characters there) and values; 趋势
  holds every period, the chart shows its last values. The page's and the archive's workbooks
  hold the same cells (but the generation time).
- Within a report: the summary's figures and 环比/同比 words are the table's; the last trend
  period holds the period's registrations, cancellations and revocations; the overdue note's
  total is the 逾期任务 indicator, the list min(total, 150) rows; the risk chart's red and
  orange counts are the indicators; the data-quality table counts what they count.
- Against the independent pandas oracle (``tests/oracle.py``): every headline's 本期, 上期,
  上年同期, 环比 and 同比, the sub-region ranking, each source's records in the quality table.
- Language: no Latin word (but PDF, Excel, API), snake_case, ``JINJIAN_`` name, file path,
  None/nan or Traceback in the PDF, on the page or in the workbook; codes a leader reads
  (统一社会信用代码, 任务编号, 产品批号: capitals and digits) are allowed. Sources carry the
  registry's Chinese names and none is said to lack data while its rows are counted.
"""
from __future__ import annotations

import datetime as dt
import io
import math
import re
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pandas as pd
import pytest
from openpyxl import load_workbook

from domain.sources import SOURCES
from indicators.catalogue import CATALOGUE
from indicators.periods import previous_period, year_ago
from queries.report_data import HEADLINES, build_report, clear_cache
from queries.report_periods import report_period
from queries.report_quality import EVENT_SOURCE, SOURCE_NAMES, WARNINGS
from reports.build import generate
from reports.pdf import shared_renderer
from reports.server import local_url
from store import db as dbmod
from store.executor import run
from store.filters import RegionScope
from tests.conftest import DEMO_END, _loaded_engine
from tests.oracle import oracle_value

pytestmark = pytest.mark.browser

TOWN = "441900113"
CASES = [("daily", "4419", DEMO_END.isoformat()),  # the last day of the test data
         ("weekly", "4419", "2026-11-18"),          # 11-16 … 11-22: the data end on Friday 11-20
         ("monthly", TOWN, "2026-10-09")]           # a town's complete month
OVERDUE_ROWS = 150  # the overdue list's length (docs/reports.md)

# ----------------------------------------------------------------------------- language
#: The credit-risk classes A–D are their official names (A类 … D类, 信用风险分类).
ALLOWED_LATIN = {"PDF", "Excel", "API", "A", "B", "C", "D"} | {w for i in CATALOGUE.values()
                                                            for w in re.findall(r"[A-Za-z]+", i.unit)}
FORBIDDEN = re.compile(r"JINJIAN_|Traceback|\b(?:None|nan|NaN|null)\b|[A-Za-z0-9]+_[A-Za-z0-9_]+"
                       r"|(?:/[A-Za-z0-9_.-]+){2,}|\b[\w-]+\.(?:csv|xlsx?|json|py|pdf|txt|zip)\b", re.ASCII)
CODE = re.compile(r"[A-Z0-9]*[0-9][A-Z0-9]*")  # credit codes, task numbers, batch numbers


def latin_problems(text: str) -> list[str]:
    """What a leader should not read: technical names and Latin words outside the allow-list."""
    found = [m.group(0) for m in FORBIDDEN.finditer(text)]
    for token in re.findall(r"[A-Za-z0-9]+", text):
        if re.search(r"[A-Za-z]", token) and token not in ALLOWED_LATIN and not CODE.fullmatch(token):
            found.append(token)
    return found


def test_language_check_catches_ids():
    for bad in ("业务事件（registration）：本期没有收到数据", "8 个数据源（demo）", "entity_stock", "JINJIAN_CHROMIUM",
                "见 /srv/jinjian/data/a.csv", "登记.xlsx", "评分 nan", "None", "2026Q3 tasks"):
        assert latin_problems(bad), bad
    for good in ("导出 PDF、Excel 与 API", "92441900MA2848RF6K", "T0000015372 PC0000008", "东莞市（4419）", "第 1 页 / 共 5 页",
                 "5 / 7", "注销/吊销", "+5.2%"):
        assert not latin_problems(good), good


# ----------------------------------------------------------------------------- making the three forms
PAGE_JS = """() => {
  const body = document.getElementById('report-body');
  const q = (sel, root) => [...(root || body).querySelectorAll(sel)];
  const t = el => el.textContent;
  return {
    blocks: q('.report-org, h1, dt, dd, h2, h3, p, tr, figure.report-chart').map(el => [el.tagName.toLowerCase(), t(el)]),
    meta: q('.report-meta dt, .report-meta dd').map(t),
    title: t(body.querySelector('h1')),
    sentences: q('#report-summary p.report-sentence').map(t),
    notes: q('#report-summary p.report-note').map(t),
    overdue_note: q('#report-overdue p.report-foot').map(t),
    quality_notes: q('#report-quality p.report-note').map(t),
    random_note: q('#report-random p.report-note').map(t),
    tables: Object.fromEntries(q('table.report-table').map(tb => [tb.id, [...tb.rows].map(r => [...r.cells].map(t))])),
    colspans: Object.fromEntries(q('table.report-table').map(tb => [tb.id, q('td[colspan]', tb).length])),
    charts: Object.fromEntries(q('figure.report-chart').map(f => [f.id, q('svg text', f).map(t)])),
    text: body.innerText,
  };
}"""


def _read_page(page: Any) -> dict[str, Any]:
    """The page as shown, then its 导出 Excel download (from data built anew)."""
    shown = page.evaluate(PAGE_JS)
    clear_cache()
    with page.expect_download(timeout=60_000) as download:
        page.click("#report-xlsx")
    shown["xlsx"] = Path(download.value.path()).read_bytes()
    return shown


def _workbook(data: bytes) -> dict[str, list[list[Any]]]:
    wb = load_workbook(io.BytesIO(data), read_only=True)
    return {ws.title: [list(r) for r in ws.iter_rows(values_only=True)] for ws in wb.worksheets}


@pytest.fixture(scope="module")
def app(request, demo_data, flask_server, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("agreement")
    with pytest.MonkeyPatch.context() as mp:
        for name, value in {"JINJIAN_ROOT_REGION": "44", "JINJIAN_REPORT_SCHEDULER": "0", "JINJIAN_REPORT_DIR": str(
                tmp / "archive"), "JINJIAN_METADATA_URL": f"sqlite:///{tmp / 'meta.sqlite'}"}.items():
            mp.setenv(name, value)
        dbmod.set_db(_loaded_engine("chdb", request, demo_data))
        try:
            yield flask_server
        finally:
            dbmod.set_db(None)
            clear_cache()


@pytest.fixture(scope="module", params=CASES, ids=[f"{k}-{r}" for k, r, _ in CASES])
def made(request, app):
    """The page (DOM and its Excel download), the archived PDF's text and Excel of one report."""
    kind, region, day = request.param
    renderer = shared_renderer()
    clear_cache()
    url = f"{local_url(app)}/report?" + urlencode({"region": region, "period": kind, "date": day})
    page = renderer.inspect(url, _read_page)
    clear_cache()
    run = generate(app, region, kind, day, "page", renderer=renderer)
    assert run and run["status"] == "ok", run
    text = subprocess.run(["pdftotext", "-raw", run["pdf_path"], "-"], capture_output=True, text=True, check=True,
                          timeout=60).stdout
    return {"kind": kind, "region": region, "period": report_period(kind, day), "page": page, "pdf": text,
            "xlsx": _workbook(page["xlsx"]), "archived_xlsx": _workbook(Path(run["xlsx_path"]).read_bytes())}


# ----------------------------------------------------------------------------- helpers
def _squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def _num(text: str) -> float:
    """A shown figure: '13,088' → 13088.0; '—' → NaN."""
    text = text.strip()
    return math.nan if text in ("—", "") else float(text.replace(",", ""))


def _cell(v: Any) -> str:
    """An Excel cell as the page writes it (counts with thousands separators)."""
    if v is None:
        return ""
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    return f"{v:,}" if isinstance(v, int) and not isinstance(v, bool) else str(v)


def _rows(page_table: list[list[str]], colspans: int) -> list[list[str]]:
    return [] if colspans else page_table[1:]  # an empty table shows one spanning '无 …' row


def _headlines(made: dict) -> dict[str, dict[str, str]]:
    table = made["page"]["tables"]["report-table-headlines"]
    names = {CATALOGUE[i].name_zh: i for i in HEADLINES}
    return {names[r[0]]: dict(zip(table[0], r)) for r in table[1:]}


def _quality(made: dict) -> dict[str, dict[str, str]]:
    table = made["page"]["tables"]["report-table-quality"]
    return {r[0]: dict(zip(table[0], r)) for r in _rows(table, made["page"]["colspans"]["report-table-quality"])}


# ----------------------------------------------------------------------------- PDF ↔ page
def test_pdf_says_what_the_page_says(made):
    page, pdf = made["page"], _squash(made["pdf"])
    label = page["meta"][page["meta"].index("报告期") + 1].split("\u3000")[0]
    fillers = [re.escape(_squash(f"金监 · {page['title']}{label}")), r"第\d+页/共\d+页"]
    pdf = re.sub("|".join(fillers), "", pdf)
    heads = {_squash("".join(rows[0])) for rows in page["tables"].values()}
    pos, gaps, blocks = 0, [], page["blocks"]
    assert len(blocks) > 40
    for i, (tag, text) in enumerate(blocks):
        want = re.escape(_squash(text))
        if tag == "dd" and blocks[i - 1][1] == "生成时间":  # each form was built at its own minute
            want = r"\d{4}-\d{2}-\d{2}\d{2}:\d{2}"
        m = re.compile(want).search(pdf, pos)
        assert m, f"{tag} {text!r} is not in the PDF (after …{pdf[max(pos - 60, 0):pos]})"
        gaps.append(pdf[pos:m.start()])
        pos = m.end()
    gaps.append(pdf[pos:])
    extra = [g for g in (re.sub("|".join(map(re.escape, heads)), "", g) for g in gaps) if g]
    assert not extra, f"the PDF says more than the page: {extra}"


# ----------------------------------------------------------------------------- Excel ↔ page
def test_excel_holds_what_the_page_shows(made):
    page, book, period = made["page"], made["xlsx"], made["period"]
    summary = {r[0]: r[1] for r in book["概要"][1:]}
    meta = dict(zip(page["meta"][::2], page["meta"][1::2]))
    assert summary["标题"] == page["title"]
    assert f"{summary['区域']}（{summary['区划代码']}）" == meta["区域"] and summary["区划代码"] == made["region"]
    assert f"{summary['报告期']}\u3000{summary['统计期间']}" == meta["报告期"] and summary["报告期"] == period.label
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}", summary["生成时间"]) and meta["生成时间"][:10] == summary["生成时间"][:10]
    texts = [v for k, v in book["概要"][7:]]
    assert texts == page["sentences"] + page["notes"] + page["overdue_note"] + page["quality_notes"] + page["random_note"]

    tables = {"主要指标": "report-table-headlines", "逾期任务": "report-table-overdue", "高风险主体": "report-table-risk",
              "不合格批次": "report-table-alerts", "数据质量": "report-table-quality", "双随机抽查": "report-table-random"}
    for sheet, tid in tables.items():
        shown = page["tables"][tid]
        rows = [[_cell(v) for v in r] for r in book[sheet]]
        assert rows[0] == shown[0], sheet
        assert rows[1:] == _rows(shown, page["colspans"][tid]), sheet

    charts = page["charts"]
    for sheet, cid, unit in (("新设立排名", "report-chart-ranking", "户"), ("逾期任务排名", "report-chart-overdue", "件"),
                             ("风险等级分布", "report-chart-risk", "户")):
        rows = book[sheet][1:]
        bars = [x for r in rows for x in (str(r[0]), f"{_cell(r[-1])} {unit}")]  # a village: its short name
        assert [re.sub("(?<=.)(村|居)民委员会$", "", x) for x in bars] == (charts[cid][1:] if rows else []), sheet
        assert rows or len(charts[cid]) == 2 and "无" in charts[cid][1]  # an empty chart says so
        assert sheet == "风险等级分布" or (f"前 {len(rows)}）" in charts[cid][0]) == bool(rows)
    trend, labels = pd.DataFrame(book["趋势"][1:], columns=book["趋势"][0]), charts["report-chart-trend"]
    last, i = trend.iloc[-1], labels.index("新设立")
    assert f"近 {len(trend)} " in labels[0]
    assert labels[i - 1] == f"{int(last['新设立']):,}"
    assert labels[i + 1:i + 3] == [f"{int(last['注销']) + int(last['吊销']):,}", "注销/吊销"]
    assert pd.Timestamp(last["期间"]).date() == period.start

    archived = made["archived_xlsx"]
    assert archived.keys() == book.keys()
    for sheet in book:
        same = [r for r in book[sheet] if r[0] != "生成时间"]
        assert same == [r for r in archived[sheet] if r[0] != "生成时间"], sheet


# ----------------------------------------------------------------------------- within the report
def test_sections_agree(made):
    page, heads = made["page"], _headlines(made)
    shown = {i: _num(heads[i]["本期"]) for i in HEADLINES}
    text, this = " ".join(page["sentences"]), made["period"].this
    change = r"(持平|增长 [\d.]+%|下降 [\d.]+%|无可比数据)"
    m = re.search(this + r"新设立市场主体 (\S+) 户，环比" + change + "，同比" + change + "；", text)
    assert m and _num(m.group(1)) == shown["new_registrations"], text
    for word, col in ((m.group(2), "环比"), (m.group(3), "同比")):
        table = heads["new_registrations"][col]
        expect = {"持平": "持平", "无可比数据": "—"}.get(word) or ("+" if "增长" in word else "-") + word.split()[-1]
        assert table == expect, (word, table)
    for ind, words in (("complaints", "受理投诉举报 {} 件"), ("tasks_overdue", "期末逾期任务 {} 件"),
                       ("entity_stock", "期末存续市场主体 {} 户"), ("risk_red", "期末红色预警主体 {} 户")):
        assert words.format(heads[ind]["本期"]) in text, ind

    trend = made["xlsx"]["趋势"]
    last = dict(zip(trend[0], trend[-1]))
    assert (last["新设立"], last["注销"], last["吊销"], last["净增"]) == tuple(
        shown[i] for i in ("new_registrations", "cancellations", "revocations", "net_growth"))

    total = int(shown["tasks_overdue"])
    assert page["overdue_note"][0].startswith(f"期末逾期任务共 {total:,} 件")
    assert len(_rows(page["tables"]["report-table-overdue"], page["colspans"]["report-table-overdue"])) == min(total, OVERDUE_ROWS)
    grades = dict(zip(page["charts"]["report-chart-risk"][1::2], page["charts"]["report-chart-risk"][2::2]))
    assert grades["红色"] == f"{int(shown['risk_red']):,} 户" and grades["橙色"] == f"{int(shown['risk_orange']):,} 户"

    quality = _quality(made)
    counted = {"设立登记": shown["new_registrations"], "注销吊销": shown["cancellations"] + shown["revocations"],
               "投诉举报": shown["complaints"], "行政处罚": shown["penalties"], "监督检查": shown["inspections"]}
    for name, value in counted.items():
        assert _num(quality[name]["本期记录数"]) == value, name


# ----------------------------------------------------------------------------- against the oracle
def _change_ok(shown: str, cur: float, prev: float, rate: bool) -> bool:
    if rate:
        d = cur - prev
        if math.isnan(d):
            return shown == "—"
        return shown == "持平" if abs(d) < 0.05 else abs(float(shown.split()[0]) - d) <= 0.05 + 1e-9
    if not prev or math.isnan(prev) or math.isnan(cur):
        return shown == "—"
    pct = (cur - prev) / abs(prev) * 100
    return shown == "持平" if abs(pct) < 0.05 else abs(float(shown.rstrip("%")) - pct) <= 0.05 + 1e-9


def test_numbers_match_the_oracle(made, demo_data):
    region, period = made["region"], made["period"]
    now = dt.datetime.combine(period.end + dt.timedelta(days=30), dt.time(12))  # the period is over
    spans = {"本期": period.period, "上期": previous_period(period.period, period.grain, now),
             "上年同期": year_ago(period.period, now)}
    for ind_id, row in _headlines(made).items():
        ind = CATALOGUE[ind_id]
        values = {col: oracle_value(demo_data, ind_id, region, p.start, p.end) for col, p in spans.items()}
        for col, value in values.items():
            tol = 0.5 * 10 ** -max(ind.decimals, 1 if ind.is_ratio else 0) + 1e-9
            got = _num(row[col])
            assert (math.isnan(got) and math.isnan(value)) or abs(got - value) <= tol, (ind_id, col, got, value)
        for col, other in (("环比", "上期"), ("同比", "上年同期")):
            if not ind.comparable:
                assert row[col] == row[other] == "—", (ind_id, col)
                continue
            assert _change_ok(row[col], values["本期"], values[other], ind.unit == "%"), (ind_id, col, row[col])

    # sub-regions by new registrations: pandas over the events, top 15 by count then code
    ev = demo_data.events
    ev = ev[ev["grid_code"].str.startswith(region)
            & pd.to_datetime(ev["event_date"]).dt.date.between(period.start, period.end)]
    ranking = made["xlsx"]["新设立排名"][1:]
    width = len(ranking[0][1]) if ranking else 0
    counts = ev[ev["event_type"] == "registration"].groupby(ev["grid_code"].str[:width]).size()
    expect = sorted((-n, code) for code, n in counts.items())
    shown = [(-int(r[2]), r[1]) for r in ranking if r[2]]
    assert all(r[2] > 0 for r in ranking) and shown == expect[:15]

    # the data-quality table counts the records of each source
    src = ev["event_type"].astype(str).map(EVENT_SOURCE)
    te = demo_data.tables()["task_events"]
    te = te[te["grid_code"].str.startswith(region) & (te["from_status"] != "none") & (te["actor_kind"] != "system")
            & pd.to_datetime(te["event_date"]).dt.date.between(period.start, period.end)]
    by_source = {**src.value_counts().to_dict(), "task_feedback": len(te)}
    for sid, name in SOURCE_NAMES.items():
        row = _quality(made).get(name)
        assert (int(_num(row["本期记录数"])) if row else 0) == by_source.get(sid, 0), name


# ----------------------------------------------------------------------------- language and data completeness
def test_a_leaders_language_and_consistent_completeness(made):
    page = made["page"]
    for where, text in (("PDF", made["pdf"]), ("page", page["text"]),
                        ("Excel", "\n".join(f"{name} " + " ".join(_cell(v) for r in rows for v in r)
                                            for name, rows in made["xlsx"].items()))):
        assert not latin_problems(text), (where, latin_problems(text))

    quality = _quality(made)
    registry = {s.zh for s in SOURCES.values()} | set(SOURCE_NAMES.values())
    assert quality and set(quality) <= registry and {s.zh for s in SOURCES.values() if s.scheduled} <= set(quality)
    notes = page["quality_notes"]
    for name, row in quality.items():
        if _num(row["本期记录数"]) > 0:  # counted rows: never "no data"
            assert row["状态"] in ("正常", "迟报", "不完整"), row
            assert not any(n.startswith(name + "：") and ("没有" in n or "无数据" in n) for n in notes), name
        assert (row["状态"] in WARNINGS) == any(n.startswith(name + "：") for n in notes), row
    warned = [n for n, r in quality.items() if r["状态"] in WARNINGS]
    said = [s for s in page["sentences"] if s.startswith("数据质量提示")]
    if warned:
        assert len(said) == 1 and all(n in said[0] for n in warned), (said, warned)
    else:
        assert not said, said
    if made["kind"] == "weekly":  # the test data end on Friday 11-20: the weekend has not been delivered
        late = quality["设立登记"]
        assert late["状态"] == "迟报" and late["最新数据日期"] == DEMO_END.isoformat()
        assert any(n.startswith("设立登记：数据截至 2026-11-20，2026-11-21 至 2026-11-22") for n in notes)
    else:  # complete periods: every source on time — the test data have no ingestion batches at all
        assert not warned and notes == ["各数据源本期均按时、完整报送。"], notes
        assert int(run(dbmod.get_db(), "test_batches", "SELECT count() AS n FROM ingest_batches", {})["n"].iloc[0]) == 0


def test_a_day_still_running_is_not_called_late(app):
    """Today's records are still coming in: a report ending today judges its sources until
    yesterday. The day after the test data end, seen the next week, is late."""
    db, day = dbmod.get_db(), DEMO_END + dt.timedelta(days=1)
    running = build_report(db, "4419", "daily", day, RegionScope("44"), today=day)
    assert running.quality_notes == ["各数据源本期均按时、完整报送。"] and not running.has_data
    assert set(running.quality["状态"]) == {"本期无记录"}
    over = build_report(db, "4419", "daily", day, RegionScope("44"), today=day + dt.timedelta(days=3))
    row = over.quality.set_index("数据源").loc["设立登记"]
    assert (row["本期记录数"], row["状态"]) == (0, "迟报")
    assert f"设立登记：数据截至 {DEMO_END}，{day} 至 {day} 的数据尚未报送。" in over.quality_notes
    assert not over.has_data and over.summary[-1].startswith("数据质量提示：设立登记、")
    assert "数据质量提示" not in "".join(running.summary) and not over.notes
    assert running.notes[0].startswith(f"本期尚未结束，数据截至 {day} ")
