"""One rule for every route that serves a file or personal data (issue 28 item 1): the
table of docs/security.md ("Routes by role"), walked as every role.

``TABLE`` mirrors that table exactly (the test reads the docs and compares). Each route
(a Flask rule, or a Dash callback that serves a file or personal data) is requested as
each principal — the four roles of tests/authkit.USERS (the town-scoped ones ask for
objects inside their town), a wall screen's display-token session, an anonymous visitor
and an ingestion token without a session — and the answer is classified:

- refused: ``refused 403`` (one audit entry, refused), ``refused 401`` or
  ``refused (login)`` (a redirect to /login; neither is audited);
- ``full``: the real values of the route's subject are in the answer;
- ``masked``: their masked forms are, the real ones are not, and no other ID-card number,
  mobile number or individual owner's name of the data set is;
- ``no personal data``: the route's own data is there (a marker per route), and no ID-card
  number, mobile number or individual owner's name of the data set is.

Real values come from the demo data with plain pandas: an individual business (个体工商户)
of the town (owner's name, ID number), a grid's workers (mobile numbers), every ID number,
grid worker's mobile number and individual owner's name. Files are read as what they are (XLSX cells,
PDF text, the base64 contents of a Dash download). Every answered download must leave
exactly one audit entry with the action of the table's last column; any other answer
that is not a 403 leaves none.

A new Flask rule fails the test until it is put in ``TABLE`` or in ``NO_PERSONAL_DATA``;
a callback whose code (or a function of its module it calls) sends a file, exports,
reads personal data or the audit log fails until a ``TABLE`` row names its output; the
rules of ``NO_PERSONAL_DATA`` are requested as the supervisor (who may see everything)
and must answer without personal data. Runs on both engines (``dongguan``)."""
from __future__ import annotations

import base64
import dis
import inspect
import io
import json
import re
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlsplit

import pandas as pd
import pytest

from tests.authkit import (END, TOWN, WEEK, USERS, auth_on, dash_body, logged_in, server, store)  # noqa: F401
from tests.randomkit import random_engine

ROLES = ("admin", "leader", "supervisor", "viewer", "display token", "anonymous", "ingest token")
USER_OF = {role: name for name, role, _scope in USERS}
FULL, MASKED, NONE = "full", "masked", "no personal data"
R403, R401, LOGIN = "refused 403", "refused 401", "refused (login)"
NO_AUDIT = "—"
#: Shorthands for the rows below (admin, leader, supervisor, viewer, display token, anonymous, ingest token).
PII = (MASKED, MASKED, FULL, MASKED, R403, R401, R401)
VIEW = (NONE, NONE, NONE, NONE, R403, R401, R401)
EXPORT = (NONE, NONE, NONE, R403, R403, R401, R401)
FILE = (NONE, NONE, NONE, R403, R403, LOGIN, LOGIN)

#: route → (answers in ROLES order, audit action of an answered request). Mirrors docs/security.md.
TABLE: dict[str, tuple[tuple[str, ...], str]] = {
    "`GET /api/v1/entities/<credit_code>`": (PII, NO_AUDIT),
    "`/entity/<code>`: callback `entity-title`": (PII, NO_AUDIT),
    "`GET /api/v1/entities`": (VIEW, NO_AUDIT),
    "`GET /api/v1/tasks/efficiency`": (VIEW, NO_AUDIT),
    "`GET /api/v1/tasks/push`": (VIEW, NO_AUDIT),
    "`/tasks`: callback `tasks-grid.rowData` (task list)": (VIEW, NO_AUDIT),
    "`/tasks`: callback `tasks-download` (Excel)": (EXPORT, "`export_xlsx`"),
    "`/tasks`: callback `tasks-grid.exportDataAsCsv`": (EXPORT, "`export_csv`"),
    "`/region/<code>`: callback `region-grid.exportDataAsCsv`": (EXPORT, "`export_csv`"),
    "`/indicators`: callback `ind-grid.exportDataAsCsv`": (EXPORT, "`export_csv`"),
    "`/risk`: callback `risk-details` (grid workers)": ((MASKED, MASKED, MASKED, MASKED, R403, R401, R401), NO_AUDIT),
    "`GET /report/print`": ((NONE, NONE, NONE, NONE, R403, LOGIN, LOGIN), NO_AUDIT),
    "`/report`: callback `report-download` (Excel)": (EXPORT, "`export_xlsx`"),
    "`/report`: callback `report-download` (PDF)": (EXPORT, "`export_pdf`"),
    "`/reports`: callback `reports-message` (generate PDF and Excel)": (EXPORT, "`report_generate`"),
    "`GET /reports/file/<run_id>.pdf`": (FILE, "`report_download`"),
    "`GET /reports/file/<run_id>.xlsx`": (FILE, "`report_download`"),
    "`GET /ingest/rejects/<batch_id>`": ((MASKED, MASKED, FULL, R403, R403, LOGIN, LOGIN), "`rejects_download`"),
    "`GET /api/v1/ingest/<source>/batches/<batch_id>/rejects`": ((R401,) * 6 + (FULL,), "`rejects_download`"),
    "`/random`: callback `random-download` (公示 CSV)": (EXPORT, "`export_csv`"),
    "`/random`: callback `random-download` (公示 PDF)": (EXPORT, "`export_pdf`"),
    "`/admin`: callbacks `admin-*` (users, tokens, audit log)": ((FULL, R403, R403, R403, R403, R401, R401), NO_AUDIT),
    "`GET /api/v1/work/tasks/<task_id>/photos/<name>` (workbench photos)": ((R403,) * 5 + (R401, R401), NO_AUDIT),
}
#: The Flask rule of each route row.
RULES = {
    "`GET /api/v1/entities/<credit_code>`": "/api/v1/entities/<credit_code>",
    "`GET /api/v1/entities`": "/api/v1/entities", "`GET /api/v1/tasks/efficiency`": "/api/v1/tasks/efficiency",
    "`GET /api/v1/tasks/push`": "/api/v1/tasks/push", "`GET /report/print`": "/report/print",
    "`GET /reports/file/<run_id>.pdf`": "/reports/file/<int:run_id>.<ext>",
    "`GET /reports/file/<run_id>.xlsx`": "/reports/file/<int:run_id>.<ext>",
    "`GET /ingest/rejects/<batch_id>`": "/ingest/rejects/<batch_id>",
    "`GET /api/v1/ingest/<source>/batches/<batch_id>/rejects`": "/api/v1/ingest/<source>/batches/<batch_id>/rejects",
    "`GET /api/v1/work/tasks/<task_id>/photos/<name>` (workbench photos)": "/api/v1/work/tasks/<task_id>/photos/<name>",
}
#: Every other Flask rule: it serves no file and no personal data. Rule → the URL requested as
#: the supervisor below (None: static files, POST-only, logout, a wall link). Dash pages are
#: shells: their data come from callbacks, classified by ``MARKERS``.
NO_PERSONAL_DATA = {
    "/": "/", "/<path:path>": "(every page)", "/_dash-layout": "/_dash-layout",
    "/_dash-dependencies": "/_dash-dependencies", "/_dash-update-component": None,  # callbacks: classified below
    "/_dash-component-suites/<string:package_name>/<path:fingerprinted_path>": None, "/_favicon.ico": "/_favicon.ico",
    "/_reload-hash": "/_reload-hash", "/assets/<path:filename>": None, "/static/<path:filename>": None,
    "/login": "/login", "/logout": None, "/wall/<token>": None, "/api/v1/<path:rest>": "/api/v1/nothing",
    "/api/v1/health": "/api/v1/health", "/api/v1/openapi.json": "/api/v1/openapi.json",
    "/api/v1/indicators": "/api/v1/indicators", "/api/v1/indicators/<indicator_id>": "/api/v1/indicators/entity_stock",
    "/api/v1/indicators/<indicator_id>/values": f"/api/v1/indicators/entity_stock/values?region={TOWN}&children=true",
    "/api/v1/regions": "/api/v1/regions", "/api/v1/regions/<code>": f"/api/v1/regions/{TOWN}",
    "/api/v1/ingest/<source>": None,  # POST: receives records (its answer lists line numbers and reasons)
    "/api/v1/work/tasks/<task_id>/actions": None,  # POST: a workbench step (its answer: the task's new status)
    "/api/v1/work/clues": None,  # POST: a clue from patrol (its answer: the task it pushed)
    "/healthz": "/healthz", "/api/v1/random/plans": f"/api/v1/random/plans?region={TOWN}",
}
#: What, in a callback's code, makes it serve a file or personal data.
MARKERS = re.compile(r"send_bytes|send_file|send_string|send_data_frame|exported\(|\bgenerate\(|entity_profile|"
                     r"grid_workers|masked_report|legal_rep|owner_id|audit_rows|list_users|list_tokens")


# ----------------------------------------------------------------------------- personal data of the data set
def masked_name(name: str) -> str:
    return name[0] + "*" * (len(name) - 1)


def masked_id(number: str) -> str:
    return number[:6] + "*" * 8 + number[-4:]


def masked_phone(number: str) -> str:
    return number[:3] + "****" + number[-4:]


class Facts:
    """Real values from the demo data (plain pandas)."""

    def __init__(self, demo_data: Any, town_name: str) -> None:
        ent, workers = demo_data.entities, demo_data.grid_workers
        self.town_name = town_name
        self.ids = set(ent.loc[ent["owner_id"].fillna("").str.len() == 18, "owner_id"])
        self.phones = set(workers["phone"].astype(str))
        people = ent[ent["entity_type"] == "individual"]["legal_rep"].fillna("")
        # three characters and more: a two-character name may occur inside ordinary text
        # grid workers and inspectors (执法人员) are public servants named on the screens they work on
        self.names = set(people[people.str.len() >= 3]) - set(workers["name"]) - set(demo_data.inspectors["name"])
        town = ent[ent["grid_code"].str.startswith(TOWN)]
        ind = town[(town["entity_type"] == "individual") & town["legal_rep"].isin(self.names)
                   & town["owner_id"].fillna("").str.len().eq(18)]
        self.ind = ind.sort_values("credit_code").iloc[0]
        self.firm = town[town["entity_type"] == "enterprise"].sort_values("credit_code").iloc[0]
        grids = workers[workers["grid_code"].str.startswith(TOWN)].groupby("grid_code")["phone"].count()
        self.grid = str(grids.index[grids.argmax()])
        self.grid_phones = list(workers.loc[workers["grid_code"] == self.grid, "phone"].astype(str))
        self.phone = sorted(p for p in workers.loc[workers["grid_code"].str.startswith(TOWN), "phone"])[0]

    def unmasked(self, text: str) -> list[str]:
        """ID numbers, mobile numbers and individual owners' names of the data set in ``text``."""
        found = [f"ID {m}" for m in set(re.findall(r"[0-9]{17}[0-9X]", text)) & self.ids]
        found += [f"phone {m}" for m in set(re.findall(r"1[3-9][0-9]{9}", text)) & self.phones]
        lengths = sorted({len(n) for n in self.names})
        runs = re.findall("[\u4e00-\u9fff]{%d,}" % lengths[0], text)  # names are runs of Chinese characters
        seen = {run[i:i + k] for run in runs for k in lengths for i in range(len(run) - k + 1)}
        return found + [f"name {n}" for n in sorted(seen & self.names)]


def body_text(resp: Any) -> str:
    """The answer as searchable text: JSON without escapes, files (also a Dash download's
    base64 content) as their cells or text."""
    data = resp.get_data()
    if resp.mimetype == "application/json":
        obj = json.loads(data)
        files = []

        def visit(node: Any) -> None:
            if isinstance(node, dict):
                if isinstance(node.get("content"), str) and node.get("base64"):
                    files.append(file_text(base64.b64decode(node["content"])))
                for v in node.values():
                    visit(v)
            elif isinstance(node, list):
                for v in node:
                    visit(v)

        visit(obj)
        return json.dumps(obj, ensure_ascii=False) + "\n".join(files)
    return file_text(data)


def file_text(data: bytes) -> str:
    if data[:2] == b"PK":
        from openpyxl import load_workbook

        book = load_workbook(io.BytesIO(data), read_only=True)
        return "\n".join(str(v) for ws in book.worksheets for row in ws.iter_rows(values_only=True) for v in row
                         if v is not None)
    if data[:5] == b"%PDF-":
        with tempfile.NamedTemporaryFile(suffix=".pdf") as fh:
            fh.write(data)
            fh.flush()
            out = subprocess.run(["pdftotext", fh.name, "-"], capture_output=True, text=True, check=True, timeout=60)
        return re.sub(r"\s+", "", out.stdout)
    text = data.decode("utf-8", "replace")
    lines = []
    for line in text.splitlines():  # JSON lines: unescaped
        try:
            lines.append(json.dumps(json.loads(line), ensure_ascii=False))
        except ValueError:
            lines.append(line)
    return "\n".join(lines)


# ----------------------------------------------------------------------------- the walk
@dataclass
class Subject:
    """What a route is about: ``real`` values (shown in full), their ``masked`` forms, and
    ``shown``: what an answer must hold to count as serving the route's data at all."""

    real: list[str] = field(default_factory=list)
    masked: list[str] = field(default_factory=list)
    shown: list[str] = field(default_factory=list)


@dataclass
class Walk:
    server: Any
    store: Any
    facts: Facts
    side_db: Any
    main_db: Any
    clients: dict[str, Any]
    ingest_token: str
    batch_id: str = ""
    run_id: int = 0
    plan_id: str = ""
    random_db: Any = None

    def client(self, role: str) -> Any:
        if role in self.clients:
            return self.clients[role]
        client = self.server.test_client()
        if role == "ingest token":
            client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {self.ingest_token}"
        return client

    def get(self, role: str, url: str) -> Any:
        return self.client(role).get(url)

    def callback(self, role: str, output: str, values: dict, changed: list[str] | None = None) -> Any:
        body = dash_body(self.clients["supervisor"], output, values, changed)
        return self.client(role).post("/_dash-update-component", data=json.dumps(body),
                                      content_type="application/json")

    def random(self, role: str, output: str, values: dict, changed: list[str] | None = None) -> Any:
        """A callback answered from the 双随机 tests' database (drawing plans writes rows)."""
        from store import db as dbmod

        dbmod.set_db(self.random_db)
        try:
            return self.callback(role, output, values, changed)
        finally:
            dbmod.set_db(self.main_db)

    def rejects(self, role: str, url: str) -> Any:
        from store import db as dbmod

        dbmod.set_db(self.side_db)  # the batch lives in a database of its own (ingestion writes)
        try:
            return self.get(role, url)
        finally:
            dbmod.set_db(self.main_db)


REPORT = {"region": TOWN, "period": "weekly", "date": WEEK}


def _walkers(w: Walk) -> dict[str, tuple[Callable[[str], Any], Subject]]:
    """route → (request as a role, what the answer is about)."""
    f = w.facts
    ind = f.ind
    person = Subject([ind["legal_rep"], ind["owner_id"]], [masked_name(ind["legal_rep"]), masked_id(ind["owner_id"])],
                     [ind["name"]])
    record = Subject(person.real + [f.phone], person.masked + [masked_phone(f.phone)], [ind["credit_code"]])
    tasks = {"tasks-region.value": TOWN, "tasks-date.date": END}
    return {
        "`GET /api/v1/entities/<credit_code>`": (lambda r: w.get(r, f"/api/v1/entities/{ind['credit_code']}"), person),
        "`/entity/<code>`: callback `entity-title`": (lambda r: w.callback(r, "entity-title.children", {
            "entity-code.data": ind["credit_code"], "entity-date.date": END}), person),
        "`GET /api/v1/entities`": (lambda r: w.get(r, f"/api/v1/entities?region={TOWN}&q={ind['name']}"),
                                   Subject(person.real, person.masked, [ind["credit_code"]])),
        "`GET /api/v1/tasks/efficiency`": (lambda r: w.get(r, f"/api/v1/tasks/efficiency?region={TOWN}&date={END}"
                                                           "&by=department"), Subject(shown=['"closed"'])),
        "`GET /api/v1/tasks/push`": (lambda r: w.get(r, f"/api/v1/tasks/push?region={TOWN}&date={END}"),
                                     Subject(shown=['"limit_minutes"'])),
        "`/tasks`: callback `tasks-grid.rowData` (task list)": (lambda r: w.callback(r, "tasks-grid.rowData", tasks),
                                                               Subject(shown=[TOWN])),
        "`/tasks`: callback `tasks-download` (Excel)": (lambda r: w.callback(r, "tasks-download.data", {
            "tasks-export-xlsx.n_clicks": 1, **tasks}), Subject(shown=["任务"])),
        "`/tasks`: callback `tasks-grid.exportDataAsCsv`": (lambda r: w.callback(r, "tasks-grid.exportDataAsCsv", {
            "tasks-export-csv.n_clicks": 1, "tasks-grid.csvExportParams": {"fileName": "tasks.csv"},
            "tasks-region.value": TOWN}), Subject(shown=['"exportDataAsCsv": true'])),
        "`/region/<code>`: callback `region-grid.exportDataAsCsv`": (lambda r: w.callback(
            r, "region-grid.exportDataAsCsv", {"region-export.n_clicks": 1, "region-code.data": TOWN,
                                               "region-grid.csvExportParams": {"fileName": "region.csv"}}),
            Subject(shown=['"exportDataAsCsv": true'])),
        "`/indicators`: callback `ind-grid.exportDataAsCsv`": (lambda r: w.callback(r, "ind-grid.exportDataAsCsv", {
            "ind-export.n_clicks": 1, "ind-region.value": TOWN, "ind-grid.csvExportParams": {"fileName": "i.csv"}}),
            Subject(shown=['"exportDataAsCsv": true'])),
        "`/risk`: callback `risk-details` (grid workers)": (lambda r: w.callback(r, "risk-details.children", {
            "risk-selected.data": f.grid, "risk-date.date": END, "risk-region.data": TOWN}),
            Subject(f.grid_phones, [masked_phone(p) for p in f.grid_phones], [f.grid])),
        "`GET /report/print`": (lambda r: w.get(r, f"/report/print?region={TOWN}&period=weekly&date={WEEK}"),
                                Subject(shown=['data-state="ok"', f.town_name])),
        "`/report`: callback `report-download` (Excel)": (lambda r: w.callback(r, "report-download.data", {
            "report-xlsx.n_clicks": 1, "report-params.data": REPORT}, ["report-xlsx.n_clicks"]),
            Subject(shown=[".xlsx", f.town_name])),
        "`/report`: callback `report-download` (PDF)": (lambda r: w.callback(r, "report-download.data", {
            "report-pdf.n_clicks": 1, "report-params.data": REPORT}, ["report-pdf.n_clicks"]),
            Subject(shown=[".pdf", f.town_name])),
        "`/reports`: callback `reports-message` (generate PDF and Excel)": (lambda r: w.callback(
            r, "reports-message.children", {"reports-generate.n_clicks": 1, "reports-region.value": TOWN,
                                            "reports-kind.value": "weekly", "reports-date.value": WEEK,
                                            "reports-changed.data": 0}), Subject(shown=["已生成"])),
        "`GET /reports/file/<run_id>.pdf`": (lambda r: w.get(r, f"/reports/file/{w.run_id}.pdf"),
                                             Subject(shown=[f.town_name])),
        "`GET /reports/file/<run_id>.xlsx`": (lambda r: w.get(r, f"/reports/file/{w.run_id}.xlsx"),
                                              Subject(shown=[f.town_name])),
        "`GET /ingest/rejects/<batch_id>`": (lambda r: w.rejects(r, f"/ingest/rejects/{w.batch_id}"), record),
        "`GET /api/v1/ingest/<source>/batches/<batch_id>/rejects`": (lambda r: w.rejects(
            r, f"/api/v1/ingest/registration/batches/{w.batch_id}/rejects"), record),
        "`/random`: callback `random-download` (公示 CSV)": (lambda r: w.random(r, "random-download.data", {
            "random-publish.n_clicks": 1, "random-plan.data": w.plan_id}), Subject(shown=["东城街道抽查结果公示测试", "待检查"])),
        "`/random`: callback `random-download` (公示 PDF)": (lambda r: w.random(r, "random-download.data", {
            "random-publish-pdf.n_clicks": 1, "random-plan.data": w.plan_id}, ["random-publish-pdf.n_clicks"]),
            Subject(shown=[".pdf", "东城街道抽查结果公示测试", "待检查"])),
        "`/admin`: callbacks `admin-*` (users, tokens, audit log)": (lambda r: w.callback(
            r, "admin-audit-grid.rowData", {"admin-refresh.n_clicks": 1}), Subject(["town_view", "127.0.0.1"])),
        "`GET /api/v1/work/tasks/<task_id>/photos/<name>` (workbench photos)": (lambda r: w.get(
            r, "/api/v1/work/tasks/T0000000001/photos/k-1.jpg"), Subject(shown=["JFIF"])),
    }


def verdict(resp: Any, text: str, subject: Subject, facts: Facts) -> str:
    """What the answer is, in the table's words (or why it is none of them)."""
    status = resp.status_code
    if status == 302 and urlsplit(resp.headers.get("Location", "")).path == "/login":
        return LOGIN
    if status in (401, 403):
        return f"refused {status}"
    if status != 200:
        return f"status {status}: {text[:200]}"
    missing = [s for s in subject.shown if s not in text]
    if missing:
        return f"200 without its data {missing}: {text[:300]}"
    if subject.real and all(v in text for v in subject.real):
        return FULL
    leaked = [v for v in subject.real if v in text] + facts.unmasked(text)
    if leaked:
        return f"unmasked personal data {leaked[:5]}"
    if subject.masked and all(v in text for v in subject.masked):
        return MASKED
    return NONE


# ----------------------------------------------------------------------------- set-up
_SIDE: dict[str, tuple[Any, str]] = {}


def _side_db(kind: str, request: Any, facts: Facts) -> tuple[Any, str]:
    """A database of the engine ``kind`` holding the ingestion batch (never the shared demo
    data), and the batch's id; made once per engine (its report under JINJIAN_INGEST_DIR)."""
    if kind not in _SIDE:
        from store.schema import drop_data_tables, init_schema
        from tests.conftest import make_test_engine

        db = make_test_engine(kind, request, "test_route_roles")
        drop_data_tables(db)
        init_schema(db)
        _SIDE[kind] = db, _rejected_batch(db, facts)
    return _SIDE[kind]


def _rejected_batch(db: Any, facts: Facts) -> str:
    """A registration batch of the town whose two records are rejected (an impossible date):
    an individual business with its owner's name, ID number and a mobile number, and an
    enterprise (its legal representative is public)."""
    from etl.ingest.batch import Ingestor
    from etl.ingest.config import IngestSettings

    def record(e: pd.Series, kind: str, extra: dict) -> str:
        return json.dumps({"统一社会信用代码": e["credit_code"], "名称": e["name"], "主体类型": kind,
                           "行业门类": e["industry"], "网格编码": e["grid_code"], "成立日期": "2026-02-30",
                           "法定代表人": e["legal_rep"], **extra}, ensure_ascii=False)

    ind, firm = facts.ind, facts.firm
    own = {"经营者身份证号": ind["owner_id"], "备注": f"联系电话{facts.phone}"}
    body = "\n".join([record(ind, "个体工商户", own), record(firm, "企业", {})]).encode()
    res = Ingestor(db, IngestSettings.from_env()).ingest_bytes("registration", body, file_name="登记.jsonl",
                                                               fmt="jsonl", unit="东城街道登记窗口", scope=TOWN)
    assert res.rows_rejected == 2 and res.report, res.summary()
    return res.batch_id


@pytest.fixture
def walk(server, store, dongguan, demo_data, request, monkeypatch, tmp_path_factory):  # noqa: F811
    from auth.admin import Actor, create_token
    from etl.ingest.service import token_store
    from store import db as dbmod

    folder = tmp_path_factory.getbasetemp() / f"route-roles-ingest-{dongguan.name}"
    monkeypatch.setenv("JINJIAN_INGEST_DIR", str(folder))
    facts = Facts(demo_data, str(dongguan.query(f"SELECT name FROM regions WHERE code = '{TOWN}'")["name"].iloc[0]))
    side, batch = _side_db(dongguan.name, request, facts)
    _, secret = create_token(store, Actor(None), "东城大屏", TOWN)
    wall = server.test_client()
    assert wall.get(f"/wall/{secret}").status_code == 302
    _, ingest = token_store().add("registration", "东城街道登记窗口", TOWN)
    clients = {role: logged_in(server, name) for role, name in USER_OF.items()}
    clients["display token"] = wall
    dbmod.set_db(dongguan)
    rdb = random_engine(dongguan.name, request, demo_data)
    return Walk(server, store, facts, side, dongguan, clients, ingest, batch, plan_id=_random_plan(rdb), random_db=rdb)


def _random_plan(db: Any) -> str:
    """A 双随机 plan with firms in the town (its publication list is one of the routes)."""
    import datetime as dt

    from etl.random_checks import PlanSpec, draw_plan
    from store.filters import RegionScope

    from store.executor import run

    dept = run(db, "t_roles_dept", "SELECT dept_id FROM departments WHERE region_code = '4419' "
               "AND kind = 'market_regulator'")["dept_id"].iloc[0]
    today = dt.date.today()
    return draw_plan(db, PlanSpec("东城街道抽查结果公示测试", str(dept), TOWN, today, today + dt.timedelta(days=9),
                                  entity_types=("individual",)), RegionScope(TOWN), by="test", seed=3)


# ----------------------------------------------------------------------------- the tests
def test_docs_table_is_the_test_table():
    text = (Path(__file__).resolve().parents[1] / "docs" / "security.md").read_text(encoding="utf-8")
    head = "| route | " + " | ".join(ROLES) + " | audited |"
    assert head in text, "docs/security.md lost its routes-by-role table"
    rows = []
    for line in text[text.index(head):].splitlines()[2:]:
        if not line.startswith("|"):
            break
        rows.append([c.strip() for c in line.strip().strip("|").split("|")])
    assert {r[0]: (tuple(r[1:-1]), r[-1]) for r in rows} == TABLE and [r[0] for r in rows] == list(TABLE)
    assert "tests/test_route_roles.py" in text


def test_every_route_as_every_role(walk):
    w = walk
    walkers = _walkers(w)
    assert list(walkers) == list(TABLE)
    problems: list[str] = []
    for route, (answers, action) in TABLE.items():
        ask, subject = walkers[route]
        for role, want in zip(ROLES, answers):
            before = max([r["id"] for r in w.store.audit_rows(limit=1)] or [0])
            resp = ask(role)
            text = body_text(resp) if resp.status_code == 200 else resp.get_data(as_text=True)
            got = verdict(resp, text, subject, w.facts)
            entries = [r for r in w.store.audit_rows(limit=50) if r["id"] > before]
            where = f"{route} as {role}"
            if got != want:
                problems.append(f"{where}: expected {want}, got {got}")
            if got == R403:
                expect = [False]
            elif got in (R401, LOGIN):
                expect = []
            else:
                expect = [True] if action != NO_AUDIT else []
            if [r["ok"] for r in entries] != expect or (expect == [True] and entries[0]["action"] != action.strip("`")):
                problems.append(f"{where}: audit entries {[(r['action'], r['ok']) for r in entries]}, "
                                f"expected {action if expect == [True] else expect}")
            if route.startswith("`/reports`") and role == "supervisor" and got == NONE:
                from reports.store import ReportStore

                runs = ReportStore(w.store.engine.url.render_as_string(hide_password=False)).list_runs(scope=TOWN)
                w.run_id = int(runs[0]["id"])  # the archive rows below download this run
    assert not problems, f"{len(problems)} answers differ from the table:\n" + "\n".join(problems)


def _reach(fn: Callable) -> str:
    """The source of ``fn`` and of the functions of its own module it calls (transitively)."""
    fn = inspect.unwrap(fn)
    module = inspect.getmodule(fn)
    seen, todo, parts = set(), [fn], []
    while todo:
        f = todo.pop()
        if f in seen:
            continue
        seen.add(f)
        try:
            parts.append(inspect.getsource(f))
        except (OSError, TypeError):
            continue
        for name in {i.argval for i in dis.get_instructions(f) if i.opname == "LOAD_GLOBAL"}:
            g = getattr(module, name, None)
            if inspect.isfunction(g) and inspect.getmodule(g) is module:
                todo.append(g)
    return "\n".join(parts)


def test_every_file_or_personal_data_route_is_in_the_table(flask_server, demo_data):
    """A new Flask rule or a new callback serving a file or personal data fails here until
    it is classified; the rules said to serve none answer the supervisor without any."""
    import dash

    rules = {r.rule: r for r in flask_server.url_map.iter_rules()}
    classified = set(RULES.values()) | set(NO_PERSONAL_DATA)
    assert set(rules) == classified, f"unclassified rules {sorted(set(rules) - classified)}, " \
                                     f"gone {sorted(classified - set(rules))}"
    for rule in NO_PERSONAL_DATA:
        view = flask_server.view_functions[rules[rule].endpoint]
        if inspect.getmodule(inspect.unwrap(view)).__name__.split(".")[0] in ("api", "auth", "reports", "etl", "pages"):
            assert not MARKERS.search(_reach(view)), f"{rule} reaches personal data or a file: put it in TABLE"
    flask_server.test_client().get("/_dash-dependencies")  # pages register their callbacks on the first request
    dispatch = flask_server.view_functions["/_dash-update-component"]
    apps = [c.cell_contents for c in dispatch.__closure__ or () if isinstance(c.cell_contents, dash.Dash)]
    assert len(apps) == 1, "the Dash app behind the server was not found"
    app = apps[0]
    named = [re.search(r"callbacks? `([a-z*-]+)", row).group(1).rstrip("*") for row in TABLE if "callback" in row]
    assert len(named) >= 10
    covered = set()
    for output, cb in app.callback_map.items():
        fn = cb.get("callback")
        ids = set(re.findall(r"([a-z_][a-z0-9_-]*)\.[a-zA-Z_]+", output))
        hit = {n for n in named if n in ids or (n.endswith("-") and any(i.startswith(n) for i in ids))}
        covered |= hit
        found = sorted(set(MARKERS.findall(_reach(fn)))) if fn is not None else []
        assert hit or not found, f"callback {output[:100]} ({inspect.unwrap(fn).__qualname__}) " \
                                 f"uses {found}: it serves a file or personal data, put it in TABLE"
    assert covered == set(named), f"table rows naming no callback: {set(named) - covered}"


def test_rules_without_personal_data_answer_the_supervisor_without_any(walk):
    """The supervisor may see personal data; the rules said to serve none still serve none."""
    import dash

    w, client = walk, walk.clients["supervisor"]
    urls = [u for u in NO_PERSONAL_DATA.values() if u and u.startswith("/")]
    for page in dash.page_registry.values():
        template = page.get("path_template") or page["path"]
        code = w.facts.ind["credit_code"] if template.startswith("/entity/") else TOWN
        urls.append(template.replace("<code>", code) + ("" if "<code>" in template else f"?region={TOWN}"))
    answered = 0
    for url in urls:
        resp = client.get(url)
        text = body_text(resp) if resp.status_code == 200 else resp.get_data(as_text=True)
        assert resp.status_code < 500, (url, resp.status_code, text[:200])
        assert not w.facts.unmasked(text), (url, w.facts.unmasked(text))
        assert w.facts.ind["owner_id"] not in text and masked_id(w.facts.ind["owner_id"]) not in text, url
        answered += resp.status_code == 200
    assert answered >= 20, answered
