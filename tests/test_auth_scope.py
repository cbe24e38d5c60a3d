"""Access control end to end through the Flask server (JINJIAN_AUTH=1): the admin
page's role, masking of personal data, region scopes, exports and the report PDF
behind the login (render tickets). Every refusal is checked for its status *and*
its audit entry.

Runs on both engines (the ``dongguan`` fixture is parametrised over chDB and a
ClickHouse server): jurisdiction 4419, users from tests/authkit.py."""
from __future__ import annotations

import base64
import io
import json
import re
import subprocess
from urllib.parse import urlsplit

import pandas as pd
import pytest

from tests.authkit import (DG, END, TOWN, WEEK, audits, auth_on, dash_body, dash_post, location,  # noqa: F401
                           logged_in, one_audit, page_body, server, store, tasks_export_body)
from tests.conftest import DEMO_END


# ----------------------------------------------------------------------------- helpers
def response_text(resp) -> str:
    """A Dash callback's answer as text (non-ASCII unescaped, for searching)."""
    return json.dumps(resp.get_json(), ensure_ascii=False)


def town_entities(demo_data, town: str = TOWN) -> pd.DataFrame:
    ent = demo_data.entities
    return ent[ent["grid_code"].str.startswith(town)]


def individual_and_enterprise(demo_data) -> tuple[pd.Series, pd.Series]:
    ent = town_entities(demo_data)
    ind = ent[(ent["entity_type"] == "individual") & (ent["owner_id"].fillna("").str.len() == 18)
              & (ent["legal_rep"].fillna("").str.len() >= 2)]
    firm = ent[(ent["entity_type"] == "enterprise") & (ent["legal_rep"].fillna("").str.len() >= 2)]
    assert len(ind) and len(firm)
    return ind.sort_values("credit_code").iloc[0], firm.sort_values("credit_code").iloc[0]


def outside_entity(demo_data) -> pd.Series:
    ent = demo_data.entities
    return ent[~ent["grid_code"].str.startswith(TOWN)].sort_values("credit_code").iloc[0]


# ----------------------------------------------------------------------------- roles and regions named in the URL
@pytest.mark.parametrize("user,status", [("town_sup", 403), ("city_leader", 403), ("town_view", 403),
                                         ("city_admin", 200)])
def test_admin_page_needs_the_admin_role(server, store, user, status):
    client = logged_in(server, user)
    assert client.get("/admin").status_code == status
    if status == 403:
        row = one_audit(store, "perm_denied", username=user)
        assert "admin" in row["detail"]
        assert dash_post(client, page_body(client, "/admin")).status_code == 403
        assert len(audits(store, "perm_denied")) == 2


@pytest.mark.parametrize("query", [f"region={TOWN}&region={DG}", f"region={DG}&region={TOWN}",
                                   f"region=%20{DG}%20", "grid=441900004001001", f"grid={DG}", "region=all"])
def test_every_region_named_in_the_url_is_checked(server, store, query):
    client = logged_in(server, "town_sup")
    assert client.get(f"/tasks?{query}").status_code == 403
    one_audit(store, "scope_denied", username="town_sup")


# ----------------------------------------------------------------------------- masking
def masked_name(name: str) -> str:
    return name[0] + "*" * (len(name) - 1)


def masked_id(number: str) -> str:
    return number[:6] + "*" * 8 + number[-4:]


@pytest.mark.parametrize("user,pii", [("town_view", False), ("town_sup", True)])
def test_api_profile_masks_personal_data_without_pii(server, demo_data, user, pii):
    ind, firm = individual_and_enterprise(demo_data)
    client = logged_in(server, user)
    resp = client.get(f"/api/v1/entities/{ind['credit_code']}")
    assert resp.status_code == 200, resp.get_data(as_text=True)[:300]
    got = resp.get_json()["entity"]
    assert got["credit_code"] == ind["credit_code"] and got["name"] == ind["name"]
    if pii:
        assert (got["legal_rep"], got["owner_id"]) == (ind["legal_rep"], ind["owner_id"])
    else:
        assert got["legal_rep"] == masked_name(ind["legal_rep"]) != ind["legal_rep"]
        assert got["owner_id"] == masked_id(ind["owner_id"]) and ind["owner_id"] not in resp.get_data(as_text=True)
        assert re.fullmatch(r"[0-9]{6}\*{8}[0-9X]{4}", got["owner_id"])
    body = client.get(f"/api/v1/entities/{firm['credit_code']}").get_json()["entity"]
    assert body["legal_rep"] == firm["legal_rep"]  # an enterprise's legal representative is public
    assert body["owner_id"] in ("", None)


@pytest.mark.parametrize("user", ["city_leader", "city_admin"])
def test_leader_and_admin_see_masked_personal_data(server, demo_data, user):
    ind, firm = individual_and_enterprise(demo_data)
    client = logged_in(server, user)
    got = client.get(f"/api/v1/entities/{ind['credit_code']}").get_json()["entity"]
    assert got["legal_rep"] == masked_name(ind["legal_rep"]) and got["owner_id"] == masked_id(ind["owner_id"])
    assert client.get(f"/api/v1/entities/{firm['credit_code']}").get_json()["entity"]["legal_rep"] == firm["legal_rep"]


@pytest.mark.parametrize("user,pii", [("town_view", False), ("town_sup", True), ("city_leader", False)])
def test_entity_page_masks_personal_data_without_pii(server, demo_data, user, pii):
    ind, firm = individual_and_enterprise(demo_data)
    client = logged_in(server, user)
    assert client.get(f"/entity/{ind['credit_code']}").status_code == 200
    resp = dash_post(client, dash_body(client, "entity-title.children",
                                       {"entity-code.data": ind["credit_code"], "entity-date.date": END}))
    assert resp.status_code == 200, resp.get_data(as_text=True)[:300]
    text = response_text(resp)
    assert ind["name"] in text
    if pii:
        assert ind["legal_rep"] in text and ind["owner_id"] in text
    else:
        assert masked_name(ind["legal_rep"]) in text and masked_id(ind["owner_id"]) in text
        assert ind["owner_id"] not in text and ind["owner_id"][6:14] not in text
        assert ind["legal_rep"] not in text
    resp = dash_post(client, dash_body(client, "entity-title.children",
                                       {"entity-code.data": firm["credit_code"], "entity-date.date": END}))
    assert firm["legal_rep"] in response_text(resp)


def test_entity_list_api_carries_no_personal_data(server, demo_data):
    client = logged_in(server, "town_view")
    body = client.get(f"/api/v1/entities?region={TOWN}&page_size=500").get_json()
    text = json.dumps(body, ensure_ascii=False)
    ent = town_entities(demo_data)
    ids = ent.loc[ent["owner_id"].fillna("") != "", "owner_id"]
    assert not any(i in text for i in ids)
    assert all("legal_rep" not in item and "owner_id" not in item for item in body["items"])


# ----------------------------------------------------------------------------- scope
def alive(ent: pd.DataFrame, day: pd.Timestamp) -> pd.DataFrame:
    return ent[(ent["reg_date"] <= day) & ((ent["status"] == "active") | (ent["status_date"] > day))]


def test_town_supervisor_sees_the_town_with_right_numbers(server, dongguan, demo_data, store):
    from store.filters import NATIONAL
    from queries.regions import region_node

    client = logged_in(server, "town_sup")
    ent = town_entities(demo_data)
    body = client.get(f"/api/v1/regions/{TOWN}").get_json()
    assert body["node"]["code"] == TOWN and body["node"]["level"] == 4
    node = region_node(dongguan, TOWN, NATIONAL)
    assert [c["code"] for c in body["children"]] == list(node.children["code"])
    assert set(ent["grid_code"].str[:12]) <= {c["code"] for c in body["children"]}
    assert [p["code"] for p in body["path"]] == ["", "44", DG, TOWN]
    # entity list: the town's entities, by default (the user's scope) and by name
    listed = client.get(f"/api/v1/entities?region={TOWN}&page_size=500").get_json()
    assert listed["total"] == len(ent)
    default = client.get("/api/v1/entities?page_size=500").get_json()
    assert default["total"] == len(ent)
    codes = {i["credit_code"] for p in range(1, default["pages"] + 1)
             for i in client.get(f"/api/v1/entities?page_size=500&page={p}").get_json()["items"]}
    assert codes == set(ent["credit_code"])
    for etype in ("individual", "enterprise"):
        got = client.get(f"/api/v1/entities?entity_type={etype}&page_size=1").get_json()["total"]
        assert got == (ent["entity_type"] == etype).sum()
    # an indicator value: the number of live entities at the end of the data
    val = client.get(f"/api/v1/indicators/entity_stock/values?region={TOWN}&date={END}").get_json()
    assert val["region"]["code"] == TOWN
    assert val["items"][0]["value"] == len(alive(ent, pd.Timestamp(DEMO_END)))
    default = client.get(f"/api/v1/indicators/entity_stock/values?date={END}").get_json()
    assert default["region"]["code"] == TOWN and default["items"][0]["value"] == val["items"][0]["value"]
    assert audits(store, "scope_denied") == []


@pytest.mark.parametrize("url,region", [
    (f"/api/v1/regions/{DG}", DG), ("/api/v1/regions/4401", "4401"), ("/api/v1/regions", ""),
    ("/api/v1/regions/441900004", "441900004"), ("/api/v1/regions/44", "44"),
    (f"/api/v1/indicators/entity_stock/values?region={DG}&date={END}", DG),
    (f"/api/v1/indicators/entity_stock/values?region=&date={END}", ""),
    (f"/api/v1/entities?region={DG}", DG), ("/api/v1/entities?region=441900004", "441900004"),
])
def test_town_supervisor_is_refused_outside_the_town(server, store, url, region):
    client = logged_in(server, "town_sup")
    resp = client.get(url)
    assert resp.status_code == 403, (url, resp.get_data(as_text=True)[:300])
    assert resp.get_json()["error"]["code"] == "scope_violation"
    row = one_audit(store, "scope_denied", ok=False, username="town_sup", scope=TOWN)
    assert row["region"] == region and row["target"] == urlsplit(url).path
    assert (region or "全国") in row["detail"]
    assert len(audits(store, "scope_denied")) == 1  # exactly one entry per refusal


def test_entity_outside_the_town_answers_exactly_like_an_unknown_one(server, store, demo_data):
    """Issue 28: a town account cannot tell whether a credit code exists in another town —
    the API, the entity page and its callback answer as for a code that exists nowhere;
    each probe is audited (scope_denied, refused)."""
    from domain import uscc

    client = logged_in(server, "town_sup")
    out = outside_entity(demo_data)
    body8 = "MA000001"
    first17 = "91441900" + body8 + uscc.org_check_char(body8)
    unknown = first17 + uscc.check_char(first17)
    assert uscc.is_valid(unknown) and unknown not in set(demo_data.entities["credit_code"])
    answers = {}
    for code in (out["credit_code"], unknown):
        resp = client.get(f"/api/v1/entities/{code}")
        body = resp.get_json()["error"]
        answers[code] = (resp.status_code, body["code"], body["message"].replace(code, "<code>"),
                         body["detail"].replace(code, "<code>"))
        assert out["name"] not in resp.get_data(as_text=True) and out["grid_code"][:9] not in body["detail"]
    assert answers[out["credit_code"]] == answers[unknown] and answers[unknown][:2] == (404, "entity_not_found")
    row = one_audit(store, "scope_denied", ok=False, username="town_sup")
    assert row["region"] == out["grid_code"] and out["credit_code"] in row["detail"]
    assert "not found" in row["detail"]
    # the entity page and its callback: the not-found panel, as for an unknown code
    pages = [client.get(f"/entity/{c}") for c in (out["credit_code"], unknown)]
    assert [p.status_code for p in pages] == [200, 200]
    panels = []
    for code in (out["credit_code"], unknown):
        resp = dash_post(client, dash_body(client, "entity-title.children",
                                           {"entity-code.data": code, "entity-date.date": END}))
        assert resp.status_code == 200 and out["name"] not in response_text(resp)
        panels.append(response_text(resp).replace(code, "<code>"))
    assert panels[0] == panels[1] and "未找到该市场主体" in panels[0]
    assert len(audits(store, "scope_denied")) == 3  # the API, the page, the callback: each probe once


@pytest.mark.parametrize("path", [f"/region/{DG}", f"/tasks?region={DG}", f"/risk?region={DG}",
                                  "/region/441900004", f"/?region={DG}", f"/indicators?region={DG}"])
def test_pages_outside_the_town_are_403(server, store, path):
    client = logged_in(server, "town_sup")
    resp = client.get(path)
    assert resp.status_code == 403 and resp.mimetype == "text/html"
    assert "无权" in resp.get_data(as_text=True)
    one_audit(store, "scope_denied", username="town_sup")
    # and the same through the page router's callback (client-side navigation)
    p, _, q = path.partition("?")
    assert dash_post(client, page_body(client, p, f"?{q}" if q else "")).status_code == 403
    assert len(audits(store, "scope_denied")) == 2


def test_pages_inside_the_town_are_200(server, store):
    client = logged_in(server, "town_sup")
    for path in (f"/region/{TOWN}", f"/tasks?region={TOWN}", "/tasks", "/", f"/?region={TOWN}", "/risk"):
        assert client.get(path).status_code == 200, path
        p, _, q = path.partition("?")
        assert dash_post(client, page_body(client, p, f"?{q}" if q else "")).status_code == 200, path
    assert audits(store, "scope_denied") == []


def test_callback_with_a_region_outside_the_scope_is_403(server, store):
    client = logged_in(server, "town_sup")
    ok = dash_post(client, dash_body(client, "tasks-region-name.children", {"tasks-region.value": TOWN}))
    assert ok.status_code == 200
    resp = dash_post(client, dash_body(client, "tasks-region-name.children", {"tasks-region.value": DG}))
    assert resp.status_code == 403
    row = one_audit(store, "scope_denied", username="town_sup", region=DG)
    assert "tasks-region-name" in row["target"]


def test_viewer_cannot_export_tasks(server, store):
    client = logged_in(server, "town_view")
    resp = dash_post(client, tasks_export_body(client, TOWN))
    assert resp.status_code == 403, resp.get_data(as_text=True)[:300]
    assert '"content"' not in resp.get_data(as_text=True)
    row = one_audit(store, "perm_denied", ok=False, username="town_view", role="viewer")
    assert "export" in row["detail"] and "tasks-download" in row["target"]
    assert audits(store, "export_xlsx") == []
    # the CSV export's server check too
    resp = dash_post(client, dash_body(client, "tasks-grid.exportDataAsCsv", {
        "tasks-export-csv.n_clicks": 1, "tasks-grid.csvExportParams": {"fileName": "x.csv"},
        "tasks-region.value": TOWN}))
    assert resp.status_code == 403
    assert audits(store, "export_csv") == [] and len(audits(store, "perm_denied")) == 2


def test_supervisor_export_is_audited(server, store, demo_data):
    client = logged_in(server, "town_sup")
    resp = dash_post(client, tasks_export_body(client, TOWN))
    assert resp.status_code == 200, resp.get_data(as_text=True)[:300]
    data = resp.get_json()["response"]["tasks-download"]["data"]
    assert data["filename"].endswith(".xlsx") and TOWN in data["filename"]
    raw = base64.b64decode(data["content"])
    assert raw[:2] == b"PK"
    frame = pd.read_excel(io.BytesIO(raw))
    tasks = demo_data.tasks
    town_tasks = set(tasks.loc[tasks["grid_code"].str.startswith(TOWN), "task_id"].astype(str))
    id_col = next(c for c in frame.columns if "编号" in str(c))
    assert len(frame) and set(frame[id_col].astype(str)) <= town_tasks
    row = one_audit(store, "export_xlsx", ok=True, username="town_sup", region=TOWN)
    assert f"{len(frame)} rows" in row["target"]
    # the leader may export the whole city; the supervisor may not export it
    assert dash_post(client, tasks_export_body(client, DG)).status_code == 403
    one_audit(store, "scope_denied", username="town_sup", region=DG)
    assert len(audits(store, "export_xlsx")) == 1


def report_params(region: str) -> dict:
    return {"region": region, "period": "weekly", "date": WEEK}


def test_report_page_is_scoped(server, store):
    """The report page's store (report-params) is not an input the gate recognises: the
    query layer refuses the city for a town user, and the response is still a 403."""
    client = logged_in(server, "town_sup")
    ok = dash_post(client, dash_body(client, "report-body.children", {"report-params.data": report_params(TOWN)}))
    assert ok.status_code == 200 and '"ok"' in ok.get_data(as_text=True)
    resp = dash_post(client, dash_body(client, "report-body.children", {"report-params.data": report_params(DG)}))
    assert resp.status_code == 403
    assert "东莞市市场监管" not in response_text(resp)
    one_audit(store, "scope_denied", username="town_sup", region=DG)
    assert client.get(f"/report?region={DG}").status_code == 403


def test_report_excel_export_needs_export_and_is_audited(server, store):
    body = {"report-xlsx.n_clicks": 1, "report-params.data": report_params(TOWN)}
    viewer = logged_in(server, "town_view")
    resp = dash_post(viewer, dash_body(viewer, "report-download.data", body, changed=["report-xlsx.n_clicks"]))
    assert resp.status_code == 403 and '"content"' not in resp.get_data(as_text=True)
    assert "export" in one_audit(store, "perm_denied", username="town_view")["detail"]
    sup = logged_in(server, "town_sup")
    resp = dash_post(sup, dash_body(sup, "report-download.data", body, changed=["report-xlsx.n_clicks"]))
    assert resp.status_code == 200, resp.get_data(as_text=True)[:300]
    data = resp.get_json()["response"]["report-download"]["data"]
    assert base64.b64decode(data["content"])[:2] == b"PK" and data["filename"].endswith(".xlsx")
    one_audit(store, "export_xlsx", username="town_sup", region=TOWN)
    city = {"report-xlsx.n_clicks": 1, "report-params.data": report_params(DG)}
    resp = dash_post(sup, dash_body(sup, "report-download.data", city, changed=["report-xlsx.n_clicks"]))
    assert resp.status_code == 403 and '"content"' not in resp.get_data(as_text=True)
    assert len(audits(store, "export_xlsx")) == 1


def test_audit_rows_are_scoped(server, store):
    logged_in(server, "town_sup").get(f"/api/v1/regions/{DG}")
    logged_in(server, "city_leader").get("/api/v1/regions/4401")
    town_rows = store.audit_rows(scope=TOWN)
    assert town_rows and {r["username"] for r in town_rows} == {"town_sup"}
    assert {r["username"] for r in store.audit_rows(scope=DG)} >= {"town_sup", "city_leader"}


# ----------------------------------------------------------------------------- the report PDF
@pytest.fixture(scope="module")
def renderer():
    from reports.pdf import PdfRenderer

    r = PdfRenderer()
    yield r
    r.close()


@pytest.mark.slow
def test_report_pdf_for_the_town_through_the_render_ticket(server, dongguan, store, renderer, tmp_path, caplog,
                                                           monkeypatch):
    import logging

    from auth import render
    from store.filters import NATIONAL
    from queries.regions import region_node
    from reports.build import render_pdf

    name = region_node(dongguan, TOWN, NATIONAL).name
    client = logged_in(server, "town_sup")
    with client:
        assert client.get(f"/report?region={TOWN}").status_code == 200
        from auth.current import current

        assert (current().name, current().scope) == ("town_sup", TOWN)
        issued = []
        original = render.ticket_for
        monkeypatch.setattr("reports.build.ticket_for", lambda *a: issued.append(original(*a)) or issued[-1])
        caplog.set_level(logging.INFO)
        pdf = render_pdf(server, TOWN, "weekly", WEEK, renderer=renderer)
    assert pdf[:5] == b"%PDF-"
    # the ticket was used, and no log line (the access log included) holds it
    assert len(issued) == 1 and render.redeem(issued[0], {"region": TOWN, "period": "weekly", "date": WEEK}) is None
    lines = [r.getMessage() for r in caplog.records]
    assert any("/report/print" in m for m in lines) and not any(issued[0] in m for m in lines)
    assert any("ticket=[已隐去]" in m for m in lines)
    path = tmp_path / "town.pdf"
    path.write_bytes(pdf)
    text = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True,
                          timeout=60).stdout
    squashed = re.sub(r"\s+", "", text)
    assert name in squashed and TOWN in squashed and "登录" not in squashed
    # nothing refused on the way (not even Chromium's own /favicon.ico request)
    refused = [(r["action"], r["target"]) for r in store.audit_rows(ok=False)]
    assert refused == []


def test_report_print_with_a_town_ticket_is_scoped(server, store, dongguan):
    """A ticket opens its one report, once; the session it opens reaches the report routes
    of that report's region only."""
    from auth.render import ticket_for

    url = f"/report/print?region={TOWN}&period=weekly&date={WEEK}"
    ticket = ticket_for(TOWN, TOWN, "weekly", WEEK)
    client = server.test_client()
    ok = client.get(f"{url}&ticket={ticket}")
    assert ok.status_code == 200 and 'data-state="ok"' in ok.get_data(as_text=True)
    # single use: the same ticket again, from anywhere, opens nothing
    again = server.test_client().get(f"{url}&ticket={ticket}")
    assert again.status_code == 302 and urlsplit(location(again)).path == "/login"
    # the renderer's session: this report's region only, the report routes only
    resp = client.get(f"/report/print?region={DG}&period=weekly&date={WEEK}")
    assert resp.status_code == 403
    body = resp.get_data(as_text=True)
    assert "data-state=\"ok\"" not in body and "东莞市市场监管" not in body
    row = one_audit(store, "scope_denied", ok=False, region=DG)
    assert row["username"] == "renderer" and row["scope"] == TOWN
    assert client.get(f"/api/v1/regions/{TOWN}").status_code == 403
    assert client.get(f"/tasks?region={TOWN}").status_code == 403
    one_audit(store, "perm_denied", username="renderer")
    # ... and of the Dash callbacks, the report page's own: no other page's, even in its region
    other_page = dash_post(client, dash_body(client, "tasks-region-name.children", {"tasks-region.value": TOWN}))
    assert other_page.status_code == 403
    assert any("tasks-region-name" in f"{r['detail']} {r['target']}"
               for r in audits(store, "perm_denied", username="renderer"))
    own = dash_post(client, dash_body(client, "report-go.href", {"report-region.value": TOWN}))
    assert own.status_code in (200, 204), own.get_data(as_text=True)[:300]
    # a ticket for another report, one whose report lies outside its scope, a forged one: the login
    other = ticket_for(TOWN, TOWN, "monthly", WEEK)
    for bad in ("", "forged.ticket.value", ticket[:-3] + "abc", ticket_for(DG, DG, "weekly", WEEK) + "x", other,
                ticket_for(TOWN, DG, "weekly", WEEK)):
        r = server.test_client().get(f"/report/print?region={TOWN}&period=weekly&date={WEEK}&ticket={bad}")
        assert r.status_code == 302 and urlsplit(location(r)).path == "/login", bad
    # a ticket presented for another report is not spent: it still opens its own
    assert server.test_client().get(f"/report/print?region={TOWN}&period=monthly&date={WEEK}&ticket={other}"
                                    ).status_code == 200


def test_render_session_favicon_is_not_a_refusal(server, store, dongguan):
    from auth.render import ticket_for

    client = server.test_client()
    ok = client.get(f"/report/print?region={TOWN}&period=weekly&date={WEEK}"
                    f"&ticket={ticket_for(TOWN, TOWN, 'weekly', WEEK)}")
    assert ok.status_code == 200
    client.get("/favicon.ico")
    assert audits(store, "perm_denied") == []


def test_report_print_ticket_expires(server, monkeypatch):
    from auth import render

    ticket = render.ticket_for(TOWN, TOWN, "weekly", WEEK)
    monkeypatch.setattr(render, "TICKET_SECONDS", -1)
    resp = server.test_client().get(f"/report/print?region={TOWN}&period=weekly&date={WEEK}&ticket={ticket}")
    assert resp.status_code == 302


def test_redaction_of_secrets_in_log_lines():
    from auth.render import redact

    line = ('127.0.0.1 - - "GET /report/print?region=4419&period=weekly&date=2026-11-16&ticket=eyJhbGc.abc-_x HTTP/1.1"'
            " 200; {'region': '4419', 'ticket': 'eyJ.secret'}; GET /wall/jjw_AbC-123 HTTP/1.1")
    clean = redact(line)
    assert "eyJ" not in clean and "jjw_AbC" not in clean and clean.count("[已隐去]") == 3
    assert "region=4419&period=weekly" in clean


def test_report_print_needs_login_without_ticket(server):
    resp = server.test_client().get(f"/report/print?region={TOWN}&period=weekly&date={WEEK}")
    assert resp.status_code == 302 and urlsplit(location(resp)).path == "/login"
