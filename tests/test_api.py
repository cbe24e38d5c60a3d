"""Open API v1 against the query layer and an independent pandas computation,
on embedded chDB and on a real ClickHouse server; every error case answers the
one JSON error shape with the documented status."""
from __future__ import annotations

import datetime as dt
import json
import math

import numpy as np
import pandas as pd
import pytest

import api.v1 as v1
from domain import uscc
from indicators.catalogue import CATALOGUE, INDICATORS
from queries.indicator_values import compute_with_comparisons
from indicators.periods import period_to_date
from store import db as dbmod
from store.engine import ServerEngine
from queries.entity_list import EntityFilter, entity_list, entity_profile, mask_id
from domain.errors import InvalidParameter, QueryTimeout
from store.filters import NATIONAL, Filter, RegionScope
from queries.regions import clear_region_cache, region_node
from tests.conftest import DEMO_END

DG = "4419"
END = DEMO_END.isoformat()


@pytest.fixture
def client(served_db, monkeypatch):
    """The API as a national deployment (JINJIAN_ROOT_REGION set but empty) sees it,
    without login (JINJIAN_AUTH=0): the scope is the whole country."""
    monkeypatch.setenv("JINJIAN_ROOT_REGION", "")
    return served_db.test_client()


def get(client, url: str, status: int = 200) -> dict:
    resp = client.get(url)
    assert resp.status_code == status, (url, resp.get_data(as_text=True)[:500])
    assert resp.mimetype == "application/json"
    return json.loads(resp.get_data(as_text=True))


def assert_error(client, url: str, status: int, code: str) -> dict:
    body = get(client, url, status)
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "detail"}, body
    assert body["error"]["code"] == code, body
    assert body["error"]["message"] and body["error"]["detail"]
    return body["error"]


def _same(api_value, expected) -> bool:
    if expected is None or (isinstance(expected, float) and math.isnan(expected)):
        return api_value is None
    if isinstance(expected, (float, np.floating)):
        return api_value == pytest.approx(float(expected))
    return api_value == expected


def _town(demo_data) -> str:
    return demo_data.entities["grid_code"].str[:9].value_counts().index[0]


# ---------------------------------------------------------------- health
def test_health_ok(client, demo_db):
    body = get(client, "/api/v1/health")
    assert set(body) == {"status", "engine", "database", "time"}
    assert (body["status"], body["database"], body["engine"]) == ("ok", "up", demo_db.name)
    assert dt.datetime.fromisoformat(body["time"]).tzinfo is not None


def test_health_503_when_server_down(flask_server, ch_server, both_dbs):
    db = ServerEngine(ch_server.url, database="test_demo")
    client = flask_server.test_client()
    ch_server.stop()
    try:
        dbmod.set_db(db)
        resp = client.get("/api/v1/health")
        assert resp.status_code == 503 and resp.mimetype == "application/json"
        body = resp.get_json()
        assert set(body) == {"status", "engine", "database", "time"}
        assert (body["status"], body["engine"], body["database"]) == ("degraded", "server", "down")
        # Data endpoints answer the error shape with 503 (region nodes are cached for
        # five minutes, so a cold cache is what must fail).
        clear_region_cache()
        assert_error(client, f"/api/v1/regions/{DG}", 503, "database_unavailable")
        assert_error(client, f"/api/v1/entities?region={DG}", 503, "database_unavailable")
    finally:
        dbmod.set_db(None)
        ch_server.start()
    dbmod.set_db(db)
    try:
        assert get(client, "/api/v1/health")["database"] == "up"
    finally:
        dbmod.set_db(None)


# ---------------------------------------------------------------- regions
def _region_rows(df: pd.DataFrame) -> list[dict]:
    return [{"code": r.code, "name": r.name, "level": int(r.level)} for r in df.itertuples()]


@pytest.mark.parametrize("code", ["", "44", DG, "town"])
def test_regions_equal_query_layer(client, demo_db, demo_data, code):
    code = _town(demo_data) if code == "town" else code
    body = get(client, f"/api/v1/regions/{code}" if code else "/api/v1/regions")
    node = region_node(demo_db, code, NATIONAL)
    assert body["node"] == {"code": node.code, "name": node.name, "level": node.level,
                            "level_name": {0: "全国", 1: "省", 2: "市", 4: "镇街"}[node.level]}
    assert body["children"] == _region_rows(node.children)
    assert body["path"] == _region_rows(node.path)
    if code == DG:  # Dongguan drills straight to its towns; the path skips nothing visible
        assert len(body["children"]) == 36 and [p["code"] for p in body["path"]] == ["", "44", DG]
    if code == "":
        assert len(body["children"]) == 31


def test_region_errors(client, monkeypatch):
    assert_error(client, "/api/v1/regions/12x", 400, "invalid_parameter")
    assert_error(client, "/api/v1/regions/123", 400, "invalid_parameter")
    assert_error(client, "/api/v1/regions/99", 404, "region_not_found")
    monkeypatch.setattr(v1, "request_scope", lambda: RegionScope(DG))
    assert get(client, f"/api/v1/regions/{DG}")["node"]["code"] == DG
    err = assert_error(client, "/api/v1/regions/4420", 403, "scope_violation")
    assert err["message"] == "无权查看该区域的数据"
    assert_error(client, "/api/v1/regions", 403, "scope_violation")


# ---------------------------------------------------------------- indicators
def _public(ind) -> dict:
    return json.loads(json.dumps(ind.public()))


def test_indicator_catalogue(client):
    body = get(client, "/api/v1/indicators")
    assert body["total"] == len(INDICATORS) and body["items"] == [_public(i) for i in INDICATORS]
    credit = get(client, "/api/v1/indicators?category=credit")
    assert credit["items"] == [_public(i) for i in INDICATORS if i.category == "credit"]
    assert credit["total"] == len(credit["items"]) > 0
    assert get(client, "/api/v1/indicators/entity_stock") == _public(CATALOGUE["entity_stock"])
    assert_error(client, "/api/v1/indicators?category=bogus", 400, "invalid_parameter")
    assert_error(client, "/api/v1/indicators?category=credit&category=risk", 400, "invalid_parameter")
    assert_error(client, "/api/v1/indicators/nope", 404, "indicator_not_found")
    assert_error(client, "/api/v1/indicators/nope/values", 404, "indicator_not_found")


@pytest.mark.parametrize("ind_id,children", [("entity_stock", False), ("entity_stock", True),
                                             ("new_registrations", True), ("enterprise_share", False)])
def test_indicator_values_equal_compute(client, demo_db, ind_id, children):
    url = (f"/api/v1/indicators/{ind_id}/values?region={DG}&date={END}&grain=month"
           f"&children={'true' if children else 'false'}")
    body = get(client, url)
    period = period_to_date(DEMO_END, "month")
    expected = compute_with_comparisons(demo_db, [CATALOGUE[ind_id]], Filter(region=DG), period, "month",
                                        by_child=children)
    assert body["period"] == {"start": "2026-11-01", "end": END}
    assert body["previous_period"] == {"start": "2026-10-01", "end": "2026-10-20", "until": None}
    assert body["year_ago_period"] == {"start": "2025-11-01", "end": "2025-11-20", "until": None}
    assert body["region"] == {"code": DG, "name": "东莞市", "level": 2}
    assert (body["date"], body["grain"], body["children"]) == (END, "month", children)
    assert len(body["items"]) == len(expected) == (36 if children else 1)
    for item, row in zip(body["items"], expected.to_dict("records")):
        assert item["region_code"] == row["region_code"] and item["region_name"] == row["region_name"]
        for col in ("value", "numerator", "denominator", "grade", "prev_value", "yoy_value", "mom", "yoy"):
            assert _same(item[col], row[col]), (col, item[col], row[col])


def test_indicator_values_equal_pandas(client, demo_data):
    body = get(client, f"/api/v1/indicators/entity_stock/values?region={DG}&date={END}")
    ent = demo_data.entities
    end = pd.Timestamp(DEMO_END)
    alive = ent[(ent["reg_date"] <= end) & ((ent["status"] == "active") | (ent["status_date"] > end))]
    assert body["items"][0]["value"] == len(alive)
    ev = demo_data.events
    body = get(client, f"/api/v1/indicators/new_registrations/values?region={DG}&date={END}&grain=year")
    year = ev[(ev["event_date"] >= "2026-01-01") & (ev["event_date"] <= END)]
    assert body["items"][0]["value"] == (year["event_type"] == "registration").sum()


def test_indicator_values_nan_is_null_and_national(client):
    """The whole country (region=''): provinces without data have a 0 denominator."""
    body = get(client, f"/api/v1/indicators/enterprise_share/values?region=&date={END}&children=true")
    assert body["region"] == {"code": "", "name": "全国", "level": 0} and len(body["items"]) == 31
    by_code = {i["region_code"]: i for i in body["items"]}
    assert by_code["44"]["value"] is not None and by_code["44"]["denominator"] > 0
    assert by_code["11"]["value"] is None and by_code["11"]["denominator"] == 0
    assert by_code["11"]["grade"] is None and by_code["11"]["mom"] is None


def test_indicator_values_defaults(client, monkeypatch):
    monkeypatch.setenv("JINJIAN_ROOT_REGION", DG)
    body = get(client, "/api/v1/indicators/entity_stock/values")
    today = dt.date.today()
    assert (body["region"]["code"], body["grain"], body["children"]) == (DG, "month", False)
    assert body["date"] == today.isoformat() and body["period"]["start"] == today.replace(day=1).isoformat()
    assert len(body["items"]) == 1


def test_current_indicator_has_no_comparison(client):
    ind = next(i for i in INDICATORS if i.kind == "current")
    body = get(client, f"/api/v1/indicators/{ind.id}/values?region={DG}&date={END}")
    assert body["previous_period"] is None and body["year_ago_period"] is None
    assert body["items"][0]["prev_value"] is None and body["items"][0]["mom"] is None


@pytest.mark.parametrize("query,status,code", [
    ("date=2026-13-01", 400, "invalid_parameter"),
    ("date=20261120", 400, "invalid_parameter"),
    ("date=2026-11-20T00:00:00", 400, "invalid_parameter"),
    ("date=abc", 400, "invalid_parameter"),
    ("date=1999-12-31", 400, "invalid_parameter"),
    ("date=2100-01-01", 400, "invalid_parameter"),
    ("grain=hour", 400, "invalid_parameter"),
    ("children=maybe", 400, "invalid_parameter"),
    ("region=12x", 400, "invalid_parameter"),
    ("region=4419&region=44", 400, "invalid_parameter"),
    ("region=99", 404, "region_not_found"),
])
def test_indicator_values_errors(client, query, status, code):
    assert_error(client, f"/api/v1/indicators/entity_stock/values?{query}", status, code)


def test_indicator_values_scope(client, monkeypatch):
    town = "441900003"
    monkeypatch.setattr(v1, "request_scope", lambda: RegionScope(town))
    assert_error(client, f"/api/v1/indicators/entity_stock/values?region={DG}&date={END}", 403,
                 "scope_violation")
    body = get(client, f"/api/v1/indicators/entity_stock/values?region={town}&date={END}")
    assert body["region"]["code"] == town


# ---------------------------------------------------------------- entities
def _pandas_entities(demo_data, region: str, **eq: str) -> pd.DataFrame:
    ent = demo_data.entities
    ent = ent[ent["grid_code"].str.startswith(region)]
    q = eq.pop("q", None)
    for col, value in eq.items():
        ent = ent[ent[col] == value]
    if q:
        ent = ent[ent["name"].str.contains(q, regex=False)]
    return ent.sort_values("credit_code")


@pytest.mark.parametrize("params", [
    {}, {"entity_type": "individual", "status": "active"}, {"industry": "H"}, {"q": "超市"},
    {"town": True, "status": "cancelled"},
])
def test_entity_list_equals_pandas(client, demo_db, demo_data, params):
    params = dict(params)
    region = _town(demo_data) if params.pop("town", False) else DG
    expected = _pandas_entities(demo_data, region, **params)
    query = "&".join(f"{k}={v}" for k, v in params.items())
    body = get(client, f"/api/v1/entities?region={region}&page=2&page_size=20&{query}"
               if len(expected) > 20 else f"/api/v1/entities?region={region}&page_size=20&{query}")
    assert body["total"] == len(expected) > 0
    assert body["pages"] == max(1, -(-len(expected) // 20)) and body["page_size"] == 20
    offset = (body["page"] - 1) * 20
    assert [i["credit_code"] for i in body["items"]] == list(expected["credit_code"].iloc[offset:offset + 20])
    # The query layer gives the same page.
    flt = EntityFilter(Filter(region=region), name_contains=params.get("q"),
                       entity_type=params.get("entity_type"), status=params.get("status"),
                       industry=params.get("industry"))
    page = entity_list(demo_db, flt, body["page"], 20)
    assert page.total == body["total"]
    assert list(page.rows["credit_code"]) == [i["credit_code"] for i in body["items"]]
    # Every field as generated.
    first = body["items"][0]
    row = expected.set_index("credit_code").loc[first["credit_code"]]
    assert set(first) == {"credit_code", "name", "entity_type", "industry", "grid_code", "reg_date", "status",
                          "credit_grade", "abnormal", "dishonest"}
    assert (first["name"], first["entity_type"], first["industry"], first["grid_code"], first["status"],
            first["credit_grade"]) == (row["name"], row["entity_type"], row["industry"], row["grid_code"],
                                       row["status"], row["credit_grade"])
    assert first["reg_date"] == row["reg_date"].date().isoformat()
    assert first["abnormal"] is bool(row["abnormal"]) and first["dishonest"] is bool(row["dishonest"])


def test_entity_list_default_region_and_totals(client, demo_data, monkeypatch):
    monkeypatch.setenv("JINJIAN_ROOT_REGION", DG)
    body = get(client, "/api/v1/entities")
    assert body["total"] == len(demo_data.entities) and (body["page"], body["page_size"]) == (1, 50)
    assert len(body["items"]) == 50
    assert_error(client, "/api/v1/entities?region=4420", 403, "scope_violation")  # outside the jurisdiction
    last = body["pages"]
    tail = get(client, f"/api/v1/entities?page={last}")
    assert len(tail["items"]) == len(demo_data.entities) - 50 * (last - 1)


@pytest.mark.parametrize("q", ["%", "_", "'", "\\", "' OR 1=1 --", "%(like)s", "东莞"])
def test_entity_name_query_is_bound(client, demo_data, q):
    from urllib.parse import quote

    body = get(client, f"/api/v1/entities?region={DG}&q={quote(q)}&page_size=500")
    assert body["total"] == len(_pandas_entities(demo_data, DG, q=q))


@pytest.mark.parametrize("query,status,code", [
    ("page=0", 400, "invalid_parameter"),
    ("page=-1", 400, "invalid_parameter"),
    ("page=abc", 400, "invalid_parameter"),
    ("page=1.5", 400, "invalid_parameter"),
    ("page=1000001", 400, "invalid_parameter"),
    ("page=999", 404, "page_out_of_range"),
    ("page_size=0", 400, "invalid_parameter"),
    ("page_size=501", 400, "invalid_parameter"),
    ("entity_type=company", 400, "invalid_parameter"),
    ("entity_type=", 400, "invalid_parameter"),
    ("status=dead", 400, "invalid_parameter"),
    ("industry=Z", 400, "invalid_parameter"),
    ("q=" + "x" * 51, 400, "invalid_parameter"),
    ("region=44190", 400, "invalid_parameter"),
    ("region=99", 200, None),
])
def test_entity_list_errors(client, query, status, code):
    if code is None:
        assert get(client, f"/api/v1/entities?{query}", status)["total"] == 0
    else:
        assert_error(client, f"/api/v1/entities?region={DG}&{query}", status, code)


def test_entity_list_scope(client, monkeypatch):
    monkeypatch.setattr(v1, "request_scope", lambda: RegionScope("441900003"))
    assert_error(client, f"/api/v1/entities?region={DG}", 403, "scope_violation")
    body = get(client, "/api/v1/entities?region=441900003&page_size=500")
    assert all(i["grid_code"].startswith("441900003") for i in body["items"])


def _busy_individual(demo_data) -> str:
    ent = demo_data.entities
    ind = ent[(ent["entity_type"] == "individual") & (ent["owner_id"] != "")]
    counts = demo_data.events["credit_code"].value_counts()
    return counts[counts.index.isin(ind["credit_code"])].index[0]


def test_entity_profile_equals_data(client, demo_db, demo_data):
    code = _busy_individual(demo_data)
    body = get(client, f"/api/v1/entities/{code}")
    row = demo_data.entities.set_index("credit_code").loc[code]
    e = body["entity"]
    # An individual owner's name is masked for a role without personal data (tests/test_auth_scope.py: with it).
    assert e["credit_code"] == code and e["name"] == row["name"]
    assert e["legal_rep"] == row["legal_rep"][0] + "*" * (len(row["legal_rep"]) - 1) != row["legal_rep"]
    assert e["owner_id"] == row["owner_id"][:6] + "********" + row["owner_id"][-4:] != row["owner_id"]
    assert row["owner_id"] not in json.dumps(body, ensure_ascii=False)
    assert e["capital"] == pytest.approx(row["capital"]) and e["grid_code"] == row["grid_code"]
    ev = demo_data.events[demo_data.events["credit_code"] == code].sort_values(
        ["event_time", "event_id"], ascending=False)
    assert [x["event_id"] for x in body["events"]] == list(ev["event_id"].head(200))
    assert body["events_total"] == len(ev) > 1
    assert body["events"][0]["event_time"] == ev["event_time"].iloc[0].isoformat(timespec="seconds")
    tasks = demo_data.tasks[demo_data.tasks["credit_code"] == code]
    assert sorted(t["task_id"] for t in body["tasks"]) == sorted(tasks["task_id"])
    assert body["tasks_total"] == len(tasks)
    # Lower case and spaces are normalised (GB 32100 allows no lower case).
    assert get(client, f"/api/v1/entities/{code.lower()}")["entity"]["credit_code"] == code
    # Query layer agrees.
    prof = entity_profile(demo_db, Filter(region=""), code)
    assert prof is not None and prof.entity["owner_id"] == e["owner_id"]
    assert list(prof.events["event_id"]) == [x["event_id"] for x in body["events"]]


def test_entity_profile_enterprise_has_empty_owner(client, demo_data):
    ent = demo_data.entities
    code = ent[ent["entity_type"] == "enterprise"]["credit_code"].iloc[0]
    assert get(client, f"/api/v1/entities/{code}")["entity"]["owner_id"] == ""


def test_entity_profile_errors(client, demo_data, monkeypatch):
    err = assert_error(client, "/api/v1/entities/abc", 400, "invalid_credit_code")
    assert err["message"] == "统一社会信用代码长度错误：应为18位，实为3位"
    code = demo_data.entities["credit_code"].iloc[0]
    bad_check = code[:17] + ("0" if code[17] != "0" else "1")
    assert_error(client, f"/api/v1/entities/{bad_check}", 400, "invalid_credit_code")
    unknown = next(c for c in uscc.generate(np.random.default_rng(99), ["441900"] * 20, ["enterprise"] * 20)
                   if c not in set(demo_data.entities["credit_code"]))
    assert_error(client, f"/api/v1/entities/{unknown}", 404, "entity_not_found")
    # Outside the caller's scope an existing entity answers like an unknown one (404; audited).
    monkeypatch.setattr(v1, "request_scope", lambda: RegionScope("4420"))
    assert_error(client, f"/api/v1/entities/{code}", 404, "entity_not_found")


# ---------------------------------------------------------------- query layer
def test_entity_filter_validation():
    with pytest.raises(InvalidParameter):
        EntityFilter(Filter(region=DG), entity_type="company")
    with pytest.raises(InvalidParameter):
        EntityFilter(Filter(region=DG), industry="AB")
    with pytest.raises(InvalidParameter):
        EntityFilter(Filter(region=DG), name_contains="x" * 51)
    where, params = EntityFilter(Filter(region=DG), status="active", name_contains="店").where()
    assert "%(q)s" in where and params == {"like": "4419%", "status": "active", "q": "店"}


def test_mask_id():
    assert mask_id("") == ""
    assert mask_id("441900198801188858") == "441900********8858"
    assert mask_id("12345") == "********"


# ---------------------------------------------------------------- plumbing
def test_unknown_paths_and_methods(client):
    assert_error(client, "/api/v1/nothing", 404, "not_found")
    assert_error(client, "/api/v1/regions/44/extra", 404, "not_found")
    resp = client.post("/api/v1/health")
    assert resp.status_code == 405 and resp.get_json()["error"]["code"] == "method_not_allowed"
    assert "GET" in resp.headers["Allow"]
    for method in ("PUT", "DELETE", "TRACE"):
        resp = client.open("/api/v1/entities", method=method)
        assert resp.status_code == 405 and resp.get_json()["error"]["code"] == "method_not_allowed"
    # The Dash pages are untouched.
    assert client.get("/").status_code == 200 and client.get("/anything").mimetype == "text/html"
    assert client.post("/").status_code == 405 and client.post("/").mimetype != "application/json"


def test_unexpected_errors_keep_the_shape(client, monkeypatch):
    def boom(*_a, **_k):
        raise ZeroDivisionError("bug")

    monkeypatch.setattr(v1, "region_node", boom)
    err = assert_error(client, "/api/v1/regions/44", 500, "internal_error")
    assert "bug" not in err["detail"]

    def slow(*_a, **_k):
        raise QueryTimeout("took too long")

    monkeypatch.setattr(v1, "region_node", slow)
    err = assert_error(client, "/api/v1/regions/44", 504, "query_timeout")
    assert err["message"] == QueryTimeout.user_message


def test_every_query_error_has_a_documented_code():
    from api.openapi import ERROR_CODES
    from domain.errors import JinjianError

    for cls in JinjianError.__subclasses__():
        assert v1.ERROR_CODES[cls] in ERROR_CODES, cls


def test_openapi_served(client):
    doc = get(client, "/api/v1/openapi.json")
    assert doc["openapi"].startswith("3.0") and "/api/v1/entities/{credit_code}" in doc["paths"]
    assert "Error" in doc["components"]["schemas"]
