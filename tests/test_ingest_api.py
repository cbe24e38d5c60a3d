"""``POST /api/v1/ingest/<source>`` (api/ingest.py) through the Flask test client, on
embedded chDB and on a ClickHouse server: token checks, JSON lines with bad lines,
idempotent re-posting, the token's region, the rejection report download, and the
one JSON error shape."""
from __future__ import annotations

import json

import pytest

from etl.ingest.batch import batch_id_for
from store import db as dbmod
from tests.ingestkit import IngestEnv, batch_counts, en, ingest_db_fixture, report_rows, to_jsonl

env = ingest_db_fixture("api")
URL = "/api/v1/ingest/"


@pytest.fixture
def api(env: IngestEnv, flask_server, monkeypatch, tmp_path):
    """The app's Flask client over ``env``'s database, with tokens in a metadata store in tmp."""
    from etl.ingest.service import token_store

    monkeypatch.setenv("JINJIAN_METADATA_URL", f"sqlite:///{tmp_path}/m.sqlite")
    monkeypatch.setenv("JINJIAN_INGEST_DIR", str(tmp_path / "ingest"))
    dbmod.set_db(env.db)
    try:
        yield flask_server.test_client(), token_store()
    finally:
        dbmod.set_db(None)


def post(client, source: str, body: bytes, token: str | None, status: int = 200, header: str = "Authorization"):
    headers = {} if token is None else {header: f"Bearer {token}" if header == "Authorization" else token}
    resp = client.post(URL + source, data=body, headers=headers, content_type="application/x-ndjson")
    assert resp.status_code == status, resp.get_data(as_text=True)[:800]
    assert resp.mimetype == "application/json"
    return json.loads(resp.get_data(as_text=True))


def error(body: dict, code: str) -> dict:
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "detail"}, body
    assert body["error"]["code"] == code, body
    assert body["error"]["message"] and body["error"]["detail"]
    assert any("\u4e00" <= ch <= "\u9fff" for ch in body["error"]["message"])  # Chinese for the unit
    return body["error"]


def test_tokens(env: IngestEnv, api):
    client, store = api
    body = to_jsonl(env.events("complaint", 1))
    before = env.counts()
    error(post(client, "complaint", body, None, 401), "missing_token")
    error(post(client, "complaint", body, "jj_complaint_not-a-real-token", 401), "invalid_token")
    tid, token = store.add("complaint", "东莞市12345热线", "4419")
    store.revoke(tid)
    error(post(client, "complaint", body, token, 401), "invalid_token")
    _, other = store.add("inspection", "某镇网格办", "4419")
    assert "监督检查" in error(post(client, "complaint", body, other, 403), "token_source_mismatch")["message"]
    error(post(client, "no_such_source", body, other, 404), "unknown_source")
    assert env.counts() == before  # nothing refused was loaded, not even a batch record
    _, good = store.add("complaint", "东莞市12345热线", "4419")
    ok = post(client, "complaint", body, good, header="X-Jinjian-Token")
    assert (ok["state"], ok["rows_loaded"]) == ("loaded", 1)


def test_json_lines(env: IngestEnv, api):
    client, store = api
    _, token = store.add("inspection", "某镇网格办", "4419")
    recs = [en("inspection", r) for r in env.events("inspection", 3)]  # English keys are accepted too
    lines = [json.dumps(recs[0], ensure_ascii=False), '{"检查记录编号": "JC-x", "统一社会信用代码": ',
             json.dumps(recs[1], ensure_ascii=False), "", "[1, 2]", "not json at all",
             json.dumps(recs[2], ensure_ascii=False)]
    body = "\n".join(lines).encode()
    before = env.counts()
    got = post(client, "inspection", body, token)
    assert got["batch_id"] == batch_id_for("inspection", body, "4419")
    assert (got["state"], got["already_loaded"], got["rows_in"], got["rows_loaded"], got["rows_rejected"]) == (
        "loaded", False, 6, 3, 3)
    assert [(r["line"], r["code"]) for r in got["rejected"]] == [(2, "unparsable"), (5, "unparsable"),
                                                                (6, "unparsable")]
    assert "JSON" in got["rejected"][0]["reason"] and "对象" in got["rejected"][1]["reason"]
    assert got["rejected_listed"] == 3 and got["report"].endswith(f"/batches/{got['batch_id']}/rejects")
    after = env.counts()
    assert after["events"] - before["events"] == 3 and after["quarantine"] - before["quarantine"] == 3
    assert batch_counts(env.db, got["batch_id"])["events"] == 3
    # the same body again: answered from the first load, nothing changes
    again = post(client, "inspection", body, token)
    assert again["already_loaded"] is True and again["batch_id"] == got["batch_id"]
    assert (again["rows_in"], again["rows_loaded"], again["rows_rejected"]) == (6, 3, 3)
    assert env.counts() == after


def test_scope_and_report(env: IngestEnv, api, tmp_path):
    client, store = api
    mine = env.entity()
    other = next(e for e in iter(env.entity, None) if e.grid_code[:9] != mine.grid_code[:9])
    town = mine.grid_code[:9]
    _, token = store.add("penalty", "某镇市场监管分局", town)
    _, neighbour = store.add("penalty", "另一镇市场监管分局", other.grid_code[:9])
    body = to_jsonl([env.event("penalty", mine), env.event("penalty", other), env.event("penalty", mine)])
    got = post(client, "penalty", body, token)
    assert (got["rows_loaded"], got["rows_rejected"]) == (2, 1)
    assert [(r["line"], r["code"]) for r in got["rejected"]] == [(2, "out_of_scope")]
    assert town in got["rejected"][0]["reason"]
    url = got["report"]
    resp = client.get(url, headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 200, resp.get_data(as_text=True)[:500]
    assert "attachment" in resp.headers["Content-Disposition"]
    (tmp_path / "退回.jsonl").write_bytes(resp.get_data())
    assert report_rows(tmp_path / "退回.jsonl") == [2]
    lines = [json.loads(ln) for ln in resp.get_data(as_text=True).splitlines() if ln.strip()]
    assert lines[0]["统一社会信用代码"] == other.credit_code and lines[0]["_fields"] == ["统一社会信用代码"]
    error(json.loads(client.get(url, headers={"Authorization": f"Bearer {neighbour}"}).get_data(as_text=True)),
          "batch_not_found")
    assert client.get(url, headers={"Authorization": f"Bearer {neighbour}"}).status_code == 404
    assert client.get(url).status_code == 401
    _, wrong_source = store.add("licence", "某镇市场监管分局", town)
    assert client.get(url, headers={"Authorization": f"Bearer {wrong_source}"}).status_code == 403
    bad = url.replace(got["batch_id"], "0" * 64)
    assert client.get(bad, headers={"Authorization": f"Bearer {token}"}).status_code == 404
    # a clean batch has no report
    clean = post(client, "penalty", to_jsonl([env.event("penalty", mine)]), token)
    assert clean["rows_rejected"] == 0 and clean["report"] is None
    resp = client.get(URL + f"penalty/batches/{clean['batch_id']}/rejects", headers={"Authorization": f"Bearer {token}"})
    error(json.loads(resp.get_data(as_text=True)), "no_rejects")


def test_empty_and_unreadable_bodies(env: IngestEnv, api):
    client, store = api
    _, token = store.add("sampling", "市食品检验所", "4419")
    before = env.counts()
    err = error(post(client, "sampling", b"", token, 400), "unreadable_body")
    assert "为空" in err["message"]
    err = error(post(client, "sampling", "坏".encode("gbk") + b"\n", token, 400), "unreadable_body")
    assert "编码" in err["message"]
    after = env.counts()
    assert {k: after[k] - before[k] for k in after if after[k] != before[k]} == {"batches": 2}


def test_ingest_endpoints_and_error_codes_documented():
    """Every error code the ingest endpoints answer with is in the OpenAPI error enum."""
    import re

    from api.openapi import ERROR_CODES, build_openapi
    from settings import ROOT

    doc = build_openapi()
    assert {"/api/v1/ingest/{source}", "/api/v1/ingest/{source}/batches/{batch_id}/rejects"} <= set(doc["paths"])
    assert doc["paths"]["/api/v1/ingest/{source}"]["post"]["security"] == [{"ingestToken": []}]
    api_codes = set(re.findall(r'ApiError\(\d+, "([a-z_]+)"', (ROOT / "api" / "ingest.py").read_text("utf-8")))
    assert {"missing_token", "invalid_token", "unknown_source", "unreadable_body"} <= api_codes
    assert api_codes - set(ERROR_CODES) == set()


def test_size_caps_apply_before_reading_chunked_bodies_too(env: IngestEnv, api, flask_server, monkeypatch):
    """Issue 28 item 4: over the cap, a body is refused with 413 whether it declares its
    length or is sent chunked — on the ingestion API (JINJIAN_INGEST_MAX_MB), a Dash
    callback and the login form (JINJIAN_MAX_BODY_KB) — and the server stops reading."""
    import http.client
    import threading

    from werkzeug.serving import make_server

    _client, tokens = api
    _tid, token = tokens.add("complaint", "东莞12315", "4419")
    monkeypatch.setenv("JINJIAN_INGEST_MAX_MB", "1")
    monkeypatch.setenv("JINJIAN_MAX_BODY_KB", "64")
    srv = make_server("127.0.0.1", 0, flask_server, threaded=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    sent: list[int] = []

    def chunks(total: int, size: int = 16 * 1024):
        for _ in range(total // size):
            sent.append(size)
            yield b"x" * size

    def send(path: str, total: int, chunked: bool, headers: dict | None = None) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", srv.server_port, timeout=30)
        try:
            if chunked:
                conn.request("POST", path, body=chunks(total), headers=headers or {}, encode_chunked=True)
            else:
                conn.request("POST", path, body=b"x" * total, headers=headers or {})
            resp = conn.getresponse()
            return resp.status, resp.read()
        except (BrokenPipeError, ConnectionResetError):  # the server answered and closed while we still sent
            return 413, b""
        finally:
            conn.close()

    try:
        auth = {"Authorization": f"Bearer {token}", "Content-Type": "application/x-ndjson"}
        for chunked in (False, True):
            status, body = send("/api/v1/ingest/complaint", 3 * 2**20, chunked, auth)
            assert status == 413, (chunked, status, body[:200])
            if body:
                assert json.loads(body)["error"]["code"] == "too_large"
            for path in ("/_dash-update-component", "/login"):
                assert send(path, 512 * 1024, chunked, {"Content-Type": "application/json"})[0] == 413, (path, chunked)
        # under the cap both kinds of body are read whole: one line that is not JSON, rejected
        for chunked in (False, True):
            status, body = send("/api/v1/ingest/complaint", 32 * 1024, chunked, auth)
            assert status == 200, (chunked, status, body[:200])
            assert (json.loads(body)["rows_in"], json.loads(body)["rows_rejected"]) == (1, 1)
    finally:
        srv.shutdown()
