"""联合惩戒 on both engines (etl/joint.py, queries/joint.py, pages/joint.py): cases opened by hand
and for every entity on the serious-dishonesty list, one action per participating department
due five working days later; feedback and credit repair; the figures equal to pandas over the
rows read back; refusals that name their reason and write nothing; the page's callbacks as
each role (a viewer may not write: 403, audited) and in a real browser; the entity page's
measures in force."""
from __future__ import annotations

import datetime as dt
import json

import pandas as pd
import pytest

from domain.workdays import add_workdays
from etl.joint import CaseNotFound, CaseRefused, feedback, open_case, repair, sync_dishonest
from queries import joint as q
from store.executor import run
from store.filters import RegionScope
from supervision.joint import MEMORANDA
from tests.authkit import auth_on, dash_body, logged_in  # noqa: F401 - the fixture
from tests.pagekit import js as _js, wait as _wait
from tests.randomkit import random_app, random_db  # noqa: F401 - the fixtures

CITY = RegionScope("4419")
TOWN = "441900003"
NOW = dt.datetime(2026, 11, 20, 10, 0, 0)
EPOCH = pd.Timestamp("1970-01-01")


def _read(db) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Cases and actions read back, newest version of each."""
    c = run(db, "t_joint_cases", "SELECT * FROM joint_cases").sort_values("version").groupby("case_id").tail(1)
    a = run(db, "t_joint_actions", "SELECT * FROM joint_actions").sort_values("version")
    return c, a.groupby(["case_id", "dept_id"]).tail(1)


def _want(db, region: str, day: dt.date) -> dict[str, int]:
    """The figures by pandas over the rows read back: each action as its newest row entered by the day."""
    c = run(db, "t_joint_cases", "SELECT * FROM joint_cases").sort_values("version").groupby("case_id").tail(1)
    a = run(db, "t_joint_actions", "SELECT * FROM joint_actions")
    end = pd.Timestamp(day)
    a = a[a["entered_at"].dt.normalize() <= end].sort_values("version").groupby(["case_id", "dept_id"]).tail(1)
    c, a = c[c["grid_code"].str.startswith(region)], a[a["grid_code"].str.startswith(region)]
    closed = (c["closed_at"] > EPOCH) & (c["closed_at"].dt.normalize() <= end)
    reported = a["done_at"] > EPOCH
    due = a["due_date"] <= end
    return {"open": int(((c["opened_at"].dt.normalize() <= end) & ~closed).sum()), "due": int(due.sum()),
            "done": int(reported.sum()), "ontime": int((due & reported & (a["done_at"].dt.normalize() <= a["due_date"])).sum()),
            "overdue": int(((a["due_date"] < end) & ~reported).sum())}


def _town_entity(db, flag: str = "dishonest", on: bool = True, last: bool = False) -> str:
    """An active entity of the town on (or off) the list ``flag`` (the first or the last by code)."""
    df = run(db, "t_joint_entity", "SELECT credit_code FROM entities WHERE grid_code LIKE %(p)s AND status = 'active' "
             f"AND {flag} = {int(on)} ORDER BY credit_code {'DESC' if last else ''} LIMIT 1", {"p": TOWN + "%"})
    return str(df["credit_code"].iloc[0])


def test_cases_actions_feedback_repair_and_figures(random_db):
    db = random_db
    code = _town_entity(db, "dishonest")
    if not q.in_force(db, code, "4419").empty:  # the demo opened one when it entered the list: repair it first
        for old in q.in_force(db, code, "4419")["case_id"]:
            repair(db, old, CITY, "t", "已完成信用修复", NOW - dt.timedelta(days=1))
    case_id = open_case(db, code, "dishonest", CITY, "t", "行政处罚决定认定严重违法失信", NOW)
    c, a = _read(db)
    mine = a[a["case_id"] == case_id]
    depts = run(db, "t_joint_depts", "SELECT dept_id, region_code, toString(kind) AS kind FROM departments")
    grid = str(c.set_index("case_id").loc[case_id, "grid_code"])
    covers = pd.Series([grid.startswith(r) for r in depts["region_code"]], index=depts.index)
    want_depts = depts[covers & depts["kind"].isin(["licensing", "other"])]
    assert sorted(mine["dept_id"]) == sorted(want_depts["dept_id"]) and len(mine) > 3
    due = pd.Timestamp(add_workdays(pd.to_datetime([NOW.date()]).to_numpy().astype("datetime64[D]"), 5)[0])
    assert (mine["due_date"] == due).all() and (mine["done_at"] == EPOCH).all()
    assert mine["measures"].iloc[0] == "；".join(MEMORANDA["dishonest"].measures)
    assert c.set_index("case_id").loc[case_id, "dept_id"] == f"{TOWN}-01"  # the town's market-regulation office
    # A second case of the same memorandum is refused; a memorandum whose list the entity is not on too.
    with pytest.raises(CaseRefused) as err:
        open_case(db, code, "dishonest", CITY, "t", "重复", NOW)
    assert "在办案件" in err.value.user_message
    clean = _town_entity(db, "dishonest", on=False)
    with pytest.raises(CaseRefused) as err:
        open_case(db, clean, "dishonest", CITY, "t", "未列入名单", NOW)
    assert "未列入严重违法失信名单" in err.value.user_message
    # Feedback: one on time, one late; the figures on three days equal pandas over the rows.
    first, second = sorted(mine["dept_id"])[:2]
    feedback(db, case_id, first, RegionScope(TOWN), "t", "已限制参与政府采购", NOW + dt.timedelta(days=2))
    feedback(db, case_id, second, RegionScope(TOWN), "t", "已从严审核许可", NOW + dt.timedelta(days=12))
    feedback(db, case_id, first, RegionScope(TOWN), "t", "已限制参与政府采购并通报", NOW + dt.timedelta(days=15))
    acts = q.actions(db, case_id, TOWN).set_index("dept_id")
    assert acts.loc[first, "done_at"] == pd.Timestamp(NOW + dt.timedelta(days=2))  # a corrected report keeps its date
    for day in (NOW.date(), dt.date(2026, 11, 23), dt.date(2026, 11, 27), dt.date(2026, 12, 5)):
        for region in ("4419", TOWN):
            assert q.figures(db, region, day) == _want(db, region, day), (region, day)
    acts = q.actions(db, case_id, TOWN).set_index("dept_id")
    assert acts.loc[first, "note"] == "已限制参与政府采购并通报" and acts.loc[first, "dept_name"]
    assert list(q.in_force(db, code, "4419")["case_id"]) == [case_id]
    # Credit repair closes it: no measure in force, the case counts no more from that day.
    repair(db, case_id, RegionScope(TOWN), "t", "已完成信用修复", NOW + dt.timedelta(days=20))
    assert q.in_force(db, code, "4419").empty
    assert q.figures(db, TOWN, dt.date(2026, 12, 12)) == _want(db, TOWN, dt.date(2026, 12, 12))
    with pytest.raises(CaseRefused):
        repair(db, case_id, RegionScope(TOWN), "t", "再次修复", NOW + dt.timedelta(days=21))


def test_sync_opens_a_case_per_listed_entity_once(random_db):
    """Sync opens a case for a listed entity without one, once; a repair stands until the entity
    enters the list again."""
    db = random_db
    town = RegionScope(TOWN)
    code = _town_entity(db, "dishonest", last=True)
    for old in q.in_force(db, code, TOWN)["case_id"]:
        repair(db, old, town, "t", "已完成信用修复", NOW - dt.timedelta(days=2))
    listed = run(db, "t_joint_listed", "SELECT credit_code FROM entities WHERE grid_code LIKE %(p)s AND dishonest = 1 "
                 "AND status = 'active'", {"p": TOWN + "%"})["credit_code"]
    c, _ = _read(db)
    before = set(c.loc[(c["memo_id"] == "dishonest") & (c["closed_at"] == EPOCH), "credit_code"])
    repaired = set(c.loc[(c["memo_id"] == "dishonest") & (c["closed_at"] > EPOCH), "credit_code"])
    assert code in repaired
    opened = sync_dishonest(db, town, "t", NOW)
    c, _ = _read(db)
    assert sorted(c.set_index("case_id").loc[opened, "credit_code"]) == sorted(set(listed) - before - repaired)
    assert sync_dishonest(db, town, "t", NOW) == []  # once
    # The entity enters the list again after its repair: the next sync opens a case for it only.
    ev = run(db, "t_joint_event", "SELECT * FROM events WHERE credit_code = %(c)s LIMIT 1", {"c": code})
    again = NOW - dt.timedelta(days=1)
    db.insert("events", ev.assign(event_id=ev["event_id"] + 10 ** 12, event_type="list_entry", detail="严重违法失信名单",
                                  event_time=pd.Timestamp(again), event_date=pd.Timestamp(again.date())))
    reopened = sync_dishonest(db, town, "t", NOW)
    assert len(reopened) == 1 and q.case(db, reopened[0], TOWN)["credit_code"] == code


def test_refusals_name_their_reason_and_write_nothing(random_db):
    db = random_db
    c0, a0 = _read(db)
    town = RegionScope(TOWN)
    code = _town_entity(db)
    for args, says in (((code, "none", town, "t", "事由"), "备忘录"), ((code, "dishonest", town, "t", " "), "惩戒事由"),
                       (("91441900MA00000000", "dishonest", town, "t", "事由"), "统一社会信用代码"),
                       ((code, "dishonest", RegionScope("441900004"), "t", "事由"), "辖区内没有")):
        with pytest.raises(CaseRefused) as err:
            open_case(db, *args, now=NOW)
        assert says in err.value.user_message, (args, err.value.user_message)
    with pytest.raises(CaseNotFound):
        feedback(db, "LH-none", "4419-02", town, "t", "说明")
    with pytest.raises(CaseNotFound):
        repair(db, "LH-none", town, "t", "说明")
    c1, a1 = _read(db)
    assert len(c1) == len(c0) and len(a1) == len(a0)


def _callback(client, output: str, values: dict, changed: list[str] | None = None):
    body = dash_body(client, output, values, changed)
    return client.post("/_dash-update-component", data=json.dumps(body), content_type="application/json")


def test_callbacks_as_each_role(auth_on, flask_server, random_db):
    from store import db as dbmod

    db = random_db
    dbmod.set_db(db)  # after ``auth_on`` (whose ``dongguan`` set the shared demo database)
    sup, viewer = logged_in(flask_server, "town_sup"), logged_in(flask_server, "town_view")
    code = _town_entity(db, "abnormal", last=True)
    for old in q.in_force(db, code, TOWN)[lambda d: d["memo_id"] == "abnormal"]["case_id"]:
        repair(db, old, RegionScope(TOWN), "t", "已移出经营异常名录", NOW)
    values = {"joint-open.n_clicks": 1, "joint-code.value": code, "joint-memo.value": "abnormal",
              "joint-reason.value": "列入经营异常名录", "joint-version.data": 0}
    before = auth_on.audit_rows(limit=1)[0]["id"]
    assert _callback(viewer, "joint-open-msg.children", values).status_code == 403
    resp = _callback(sup, "joint-open-msg.children", values)
    assert resp.status_code == 200 and "已发起 1 件" in json.dumps(resp.get_json(), ensure_ascii=False)
    entries = [(r["action"], r["ok"]) for r in auth_on.audit_rows(limit=20) if r["id"] > before]
    assert ("perm_denied", False) in entries and ("joint_open", True) in entries
    case_id = q.in_force(db, code, TOWN)["case_id"].iloc[0]
    for client in (sup, viewer):  # both see the case and its departments
        resp = _callback(client, "joint-cases.rowData", {"joint-interval.n_intervals": 1, "joint-version.data": 1})
        assert case_id in {r["case_id"] for r in resp.get_json()["response"]["joint-cases"]["rowData"]}
    resp = _callback(sup, "joint-action-msg.children", {"joint-feedback.n_clicks": 1, "joint-case.data": case_id,
                                                        "joint-actions.selectedRows": [{"dept_id": "4419-02"}],
                                                        "joint-note.value": "已审慎审查许可申请", "joint-version.data": 1})
    assert "已记录" in json.dumps(resp.get_json(), ensure_ascii=False)
    assert q.actions(db, case_id, TOWN).set_index("dept_id").loc["4419-02", "note"] == "已审慎审查许可申请"
    resp = _callback(viewer, "joint-action-msg.children", {"joint-repair.n_clicks": 1, "joint-case.data": case_id,
                                                           "joint-note.value": "x", "joint-version.data": 1},
                     ["joint-repair.n_clicks"])
    assert resp.status_code == 403 and not q.in_force(db, code, TOWN).empty


def test_entity_page_shows_measures_in_force(flask_server, random_app):
    from dash.html import Div

    from pages.entity import refresh_inspect
    from tests.pagekit import text

    db = random_app
    code = _town_entity(db, "dishonest")
    if q.in_force(db, code, "4419").empty:
        open_case(db, code, "dishonest", CITY, "t", "列入严重违法失信名单", NOW)
    shown = text(Div(refresh_inspect(code, "2026-11-20")))
    assert f"联合惩戒（{MEMORANDA['dishonest'].name}" in shown and MEMORANDA["dishonest"].measures[0] in shown


@pytest.mark.browser
def test_joint_page_in_browser(dash_duo, random_app):
    from app import create_app

    db = random_app
    dash_duo.start_server(create_app())
    dash_duo.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                                    {"width": 1920, "height": 1080, "deviceScaleFactor": 1, "mobile": False})
    dash_duo.wait_for_page(url=f"{dash_duo.server_url}/joint", timeout=30)
    today = dt.date.today()
    want = _want(db, "4419", today)
    card = "var e = document.getElementById('joint-card-{}-value'); return e ? e.getAttribute('data-value') : null;"
    _wait(lambda: _js(dash_duo, card.format("open")) == f"{want['open']:,}", what="open card")
    assert _js(dash_duo, card.format("overdue")) == f"{want['overdue']:,}"
    dash_duo.find_element("#joint-sync").click()
    dash_duo.wait_for_contains_text("#joint-open-msg", "已", timeout=30)
    want = _want(db, "4419", today)
    _wait(lambda: _js(dash_duo, card.format("open")) == f"{want['open']:,}", what="open card after sync")
    rows = "var api = dash_ag_grid.getApi('joint-cases'); return api ? api.getDisplayedRowCount() : -1;"
    _wait(lambda: _js(dash_duo, rows) == len(q.cases(db, "4419")), what="case rows")
    first = _js(dash_duo, "var o = []; dash_ag_grid.getApi('joint-cases').forEachNode(n => o.push(n.data.case_id));"
                          " return o[0];")
    _js(dash_duo, f"dash_ag_grid.getApi('joint-cases').getRowNode('{first}').setSelected(true);")
    memo = MEMORANDA[q.case(db, first, "4419")["memo_id"]]
    dash_duo.wait_for_text_to_equal("#joint-measures", "惩戒措施：" + "；".join(memo.measures), timeout=30)
    acts = "var api = dash_ag_grid.getApi('joint-actions'); return api ? api.getDisplayedRowCount() : -1;"
    _wait(lambda: _js(dash_duo, acts) == len(q.actions(db, first, "4419")), what="department rows")
    logs = [e for e in dash_duo.get_logs() or [] if e.get("level") == "SEVERE"]
    assert not logs, [e["message"] for e in logs]
