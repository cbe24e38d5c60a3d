"""The 主体画像 page: layout without the database, 404 for malformed / unknown /
out-of-jurisdiction codes, and on both engines the score and its breakdown equal
the independent pandas formula (tests/oracle_risk.py); identity, lists, events
and tasks equal the demo frames."""
from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from dash import html

from store import db as dbmod
from queries.regions import region_node
from supervision.risk import FACTORS, RISK_GRADES
from supervision.rules import STATUS_ZH, TASK_TYPE_ZH
from tests import oracle_risk as R
from tests.conftest import DEMO_END
from tests.test_app import ExplodingEngine
from tests.pagekit import walk as _walk, ids as _ids, text as _text, props as _props

DAY = DEMO_END.isoformat()


@pytest.fixture
def page():
    from app import create_app

    create_app()
    from pages import entity
    return entity


@pytest.fixture(scope="module")
def oracle(demo_data) -> pd.DataFrame:
    return R.scores(demo_data, "4419", DEMO_END)


def _out(page, code: str, date: str = DAY) -> dict:
    keys = ("title", "status", "status_cls", "main_cls", "identity", "credit", "events", "events_note", "tasks",
            "tasks_note", "banner", "banner_cls")
    return dict(zip(keys, page.refresh(code, date)))


# ----------------------------------------------------------------------------- layout (no database)
def test_layout_makes_no_database_calls(monkeypatch, page, demo_data):
    monkeypatch.setenv("JINJIAN_ROOT_REGION", "4419")
    monkeypatch.setattr(dbmod, "_engine", ExplodingEngine())
    code = str(demo_data.entities["credit_code"].iloc[0])
    found = _ids(page.layout(code=code.lower(), date=DAY))
    assert found["entity-code"].data == code and found["entity-date"].date == DAY  # normalised
    assert "hidden" in found["entity-status"].className and "hidden" not in found["entity-main"].className
    ids = [c.id for c in _walk(page.layout(code=code)) if isinstance(getattr(c, "id", None), str)]
    assert len(ids) == len(set(ids)) and all(i.startswith("entity-") for i in ids)
    for bad in (None, "", "123", code[:-1] + ("0" if code[-1] != "0" else "1"), "<script>"):
        found = _ids(page.layout(code=bad, date="nope"))
        assert found["entity-code"].data is None and "未找到该市场主体" in _text(found["entity-status"].children)
        assert "hidden" in found["entity-main"].className and found["entity-date"].date == dt.date.today().isoformat()
    assert page.refresh(None, DAY)[2] == "region-status" and page.refresh_risk("bad", DAY) == []


# ----------------------------------------------------------------------------- callbacks on both engines
def test_score_and_breakdown_equal_oracle(dongguan, oracle, page):
    top = oracle.sort_values("score", ascending=False, kind="stable")
    for code in list(top.index[:3]) + [top.index[len(top) // 2]]:
        want = oracle.loc[code]
        panel = page.refresh_risk(code, DAY)
        found = _ids(html.Div(panel))
        assert _props(found["entity-score"])["data-value"] == f"{want['score']:.2f}"
        assert _props(found["entity-grade"])["data-grade"] == want["grade"]
        assert found["entity-grade"].children == RISK_GRADES[want["grade"]]
        total = 0.0
        for f in FACTORS:
            exp = R.WEIGHTS[f.id] * min(want[f.id], R.CAPS[f.id]) / R.CAPS[f.id]
            got = float(_props(found[f"entity-factor-{f.id}"])["data-points"])
            assert got == pytest.approx(exp, abs=0.005), (code, f.id)
            assert f.definition_zh in _text(found[f"entity-factor-{f.id}"])
            total += got
        assert total == pytest.approx(want["score"], abs=0.05)
    assert oracle.loc[top.index[0], "grade"] in ("red", "orange")  # a high-risk entity was checked


def test_identity_lists_events_and_tasks(dongguan, demo_data, page):
    ents = demo_data.entities.set_index("credit_code")
    ev = demo_data.events
    # An individual business with list entries, events and tasks.
    listed = set(ev.loc[ev["event_type"] == "list_entry", "credit_code"])
    has_tasks = set(demo_data.tasks["credit_code"])
    pool = ents[(ents["entity_type"] == "individual") & ents.index.isin(listed & has_tasks)
                & (ents["owner_id"] != "")]
    code = str(pool.index[0])
    e = ents.loc[code]
    out = _out(page, code)
    assert out["title"] == e["name"] and out["status_cls"] == "region-status hidden" and out["main_cls"] == "entity-main"
    ident = _ids(html.Div(out["identity"]))
    text = _text(out["identity"])
    assert ident["entity-name"].children == e["name"] and "个体工商户" in text and code in text
    assert f"{e['owner_id'][:6]}********{e['owner_id'][-4:]}" in text and e["owner_id"] not in text
    assert pd.Timestamp(e["reg_date"]).strftime("%Y-%m-%d") in text
    # An individual owner's name is masked for a role without personal data (tests/test_auth_scope.py: with it).
    name = str(e["legal_rep"])
    assert name[0] + "*" * (len(name) - 1) in text and name not in text
    node = region_node(dongguan, e["grid_code"])
    assert [n for n in node.path["name"] if n in text] == [n for n in node.path["name"] if n != "全国" and n != "广东省"]
    assert _props(ident["entity-grid-parent"])["href"] == f"/region/{e['grid_code'][:12]}"
    assert f"/risk?region={e['grid_code'][:12]}&date={DAY}&grid={e['grid_code']}" in str(out["identity"])
    # Credit and lists.
    credit = _ids(html.Div(out["credit"]))
    assert credit["entity-credit-grade"].children.startswith(str(e["credit_grade"]))
    assert ("经营异常名录：已列入" in _text(credit["entity-flags"])) == bool(e["abnormal"])
    mine = ev[ev["credit_code"] == code].sort_values(["event_time", "event_id"], ascending=False)
    lists = mine[mine["event_type"].isin(["list_entry", "list_exit"])]
    assert len(credit["entity-lists"].children) == len(lists) > 0
    # Events: newest first, every one (fewer than 200).
    assert len(out["events"]) == len(mine) and out["events_note"] == f"共 {len(mine):,} 条"
    times = [li.children[0].children for li in out["events"]]
    assert times == [pd.Timestamp(t).strftime("%Y-%m-%d %H:%M") for t in mine["event_time"]]
    # Tasks with Chinese type and status.
    tasks = demo_data.tasks[demo_data.tasks["credit_code"] == code].sort_values(["created_at", "task_id"],
                                                                                ascending=False)
    rows = out["tasks"][0].children[1].children
    assert [r.children[0].children for r in rows] == list(tasks["task_id"])
    assert [r.children[1].children for r in rows] == [TASK_TYPE_ZH[t] for t in tasks["task_type"]]
    assert [r.children[2].children for r in rows] == [STATUS_ZH[s] for s in tasks["status"]]
    assert out["tasks_note"] == f"共 {len(tasks)} 件"


def test_not_found_outside_and_not_alive(dongguan, demo_data, page, monkeypatch):
    ents = demo_data.entities
    # Well-formed but unknown.
    from domain.uscc import check_char, is_valid, org_check_char
    unknown = "91441900" + "MA000000" + org_check_char("MA000000")
    unknown += check_char(unknown)
    assert is_valid(unknown) and unknown not in set(ents["credit_code"])
    for code in (unknown, "not-a-code"):
        out = _out(page, code)
        assert "未找到该市场主体" in _text(out["status"]) and "hidden" in out["main_cls"]
    # Outside the jurisdiction: the same 404 (existence is not revealed).
    other = ents[~ents["grid_code"].str.startswith("441900003")].iloc[0]
    monkeypatch.setenv("JINJIAN_ROOT_REGION", "441900003")
    out = _out(page, str(other["credit_code"]))
    assert "未找到该市场主体" in _text(out["status"])
    monkeypatch.setenv("JINJIAN_ROOT_REGION", "4419")
    # A cancelled entity has a profile but no score; before registration no score either.
    gone = ents[ents["status"] != "active"].iloc[0]
    assert "hidden" not in _out(page, str(gone["credit_code"]))["main_cls"]
    assert "不是存续状态" in _text(page.refresh_risk(str(gone["credit_code"]), DAY))
    young = ents[ents["status"] == "active"].sort_values("reg_date").iloc[-1]
    before = (pd.Timestamp(young["reg_date"]) - pd.Timedelta(days=1)).strftime("%Y-%m-%d")
    assert "不是存续状态" in _text(page.refresh_risk(str(young["credit_code"]), before))
    # A bad date: a message in the panel.
    assert "日期格式不正确" in _text(page.refresh_risk(str(young["credit_code"]), "2026-13-01"))
