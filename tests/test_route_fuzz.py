"""Issue 28 item 5, the routes half: no request parameter reaches a 500.

Every rule of the Flask server's ``url_map`` — so a new route is fuzzed without editing this
file — is requested with hostile values in its path variables and query parameters: wrong
types, impossible dates, huge strings, path traversal (plain and percent-encoded), NUL and
control characters, escapes of bytes that are not UTF-8, unicode, negative and enormous
numbers, SQL fragments, repeated and missing parameters, unknown extra parameters.

- The query parameters: those the route reads — an /api route's from the OpenAPI document,
  a page's from its layout's keyword arguments, the others from ``ROUTE_QUERY`` — and, for a
  route not described anywhere, all of them. Each example keeps the other parameters valid
  (drawn from each one's valid choices), so the hostile value reaches the code reading it.
- Every path variable of every rule also gets each value of ``PATH_SWEEP``, and every POST rule
  each body of ``_body_sweep`` (deterministic: the defects found so far, on every run).
- Every request carries hostile ``Authorization`` / ``X-Jinjian-Token`` headers or none.
- A route that takes POST also gets malformed bodies: forms with and without the session's
  CSRF token, broken JSON, callback bodies of the wrong shape, random bytes under each content
  type. (Well-formed callback bodies with wrong values: tests/test_callback_fuzz.py; the
  documented API parameters by their schema: tests/test_api_fuzz.py.)
- A URL answered with the Dash page shell is also rendered through the page router callback
  with the same path and query, as the browser does.

Signed in as a town supervisor (JINJIAN_AUTH=1) and as the local administrator
(JINJIAN_AUTH=0), on both engines. Fails on any 5xx, on any ERROR record or logged traceback,
on a page whose URL parameters only the callback error net stopped (a blank page), on an /api
error that is not the API's JSON error shape, and on a page error without a Chinese message.

Bounded and repeatable: hypothesis draws ``ROUTE_FUZZ_EXAMPLES`` (default 12) examples per
rule and method, derandomised, no example database. Deeper runs: ``ROUTE_FUZZ_EXAMPLES=200``, and
``ROUTE_FUZZ_RANDOM=1`` for fresh random inputs each run.
"""
from __future__ import annotations

import inspect
import json
import logging
import os
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir

from tests.authkit import COOKIE, auth_on, csrf_of, login, server  # noqa: F401
from tests.test_auth_probe import _router

EXAMPLES = int(os.environ.get("ROUTE_FUZZ_EXAMPLES", "12"))
DERANDOMIZE = os.environ.get("ROUTE_FUZZ_RANDOM") != "1"
set_hypothesis_home_dir(Path(os.environ["JINJIAN_DATA_DIR"]).parent / "hypothesis")

TOWN = "441900003"
DATE = "2026-11-20"
USER = "town_sup"
FUZZ_ADDR = "192.0.2.7"  # the fuzz's own address: its failed logins never lock the re-login


class Raw(str):
    """A value written into the URL or form body as it is: percent-escapes the server decodes
    (``%2e%2e/``), or escapes of bytes that are not UTF-8."""


OMIT, TWICE = "\x00<omit>", "\x00<twice>"  # the parameter left out / given twice
HOSTILE_TEXT = [
    "", " ", "0", "-1", "1.5", "1e309", "NaN", "-inf", "true", "null", "[]", "{}", "None", "undefined",
    "2026-02-30", "2026-13-01", "0000-00-00", "0001-01-01", "9999-12-31", "10000-01-01", "2026-W99", "20261120",
    "2026/11/20", "2026-11-20T25:00", "99999999999999999999999", str(-2**63), str(2**64), "0x10", "１２",
    "x" * 20_000, "区" * 3_000, "<script>alert(1)</script>", "' OR 1=1 --", "1; DROP TABLE entities; --",
    "\" UNION SELECT name FROM system.tables --", "4419' OR '1'='1", "../../etc/passwd", "..\\..\\win.ini",
    "/etc/passwd", "....//....//etc/passwd", "\x00", "a\x00b", "\r\nSet-Cookie: x=1", "\t", "\x1b[2J",
    "\u202e\u200b", "\ufeff", "🙂", "４４１９", f"{TOWN}\x00", f" {TOWN} ", "44190000300100１", "T" + "9" * 30,
    "all", "root", "*", "%", "_", "4419%", f"{TOWN}%' --", "{{7*7}}", "${jndi:ldap://x}", "javascript:alert(1)",
    "//evil.example/", "http://evil.example/",
]
RAW = [Raw("%2e%2e/%2e%2e/etc/passwd"), Raw("%2e%2e%2f"), Raw("%00"), Raw("%ff%fe"), Raw("%c0%ae%c0%ae/"),
       Raw("%"), Raw("%zz"), Raw("a%0d%0ab"), Raw("%E4%B8")]
HOSTILE = st.one_of(st.sampled_from(HOSTILE_TEXT), st.sampled_from(RAW), st.text(max_size=30),
                    st.integers(min_value=-10**30, max_value=10**30).map(str), st.floats().map(repr),
                    st.sampled_from([OMIT, TWICE]))
#: Every path variable of every rule gets each of these (the other parameters valid).
PATH_SWEEP = ["99999999999999999999999", "9223372036854775808", "-1", "0", "../../etc/passwd",
              Raw("%2e%2e%2f%2e%2e%2fetc%2fpasswd"), Raw("%00"), Raw("%ff%fe"), "x" * 20_000, "' OR 1=1 --", "🙂",
              " ", "2026-02-30", Raw("a%0d%0ab"), OMIT, TWICE]
TEXT = st.one_of(st.sampled_from(HOSTILE_TEXT), st.text(max_size=30))
EXTRA_KEYS = st.one_of(st.sampled_from(["region[]", "REGION", "date ", "__proto__", "", "a\x00", "参数"]),
                       st.text(min_size=1, max_size=8))
HEADER = st.one_of(st.sampled_from(["Bearer ", "Bearer " + "x" * 5000, "Bearer jji_nothing", "bearer\tx",
                                    "Basic Zm9vOmJhcg==", "Bearer ' OR 1=1 --", "Bearer ../../etc/passwd"]),
                   st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=255), max_size=40))
HEADERS = st.fixed_dictionaries({}, optional={"Authorization": HEADER, "X-Jinjian-Token": HEADER,
                                              "Accept-Language": HEADER})
JSON = st.recursive(st.none() | st.booleans() | st.integers(-10**20, 10**20) | st.floats() | TEXT,
                    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=8), c, max_size=3),
                    max_leaves=8)
CONTENT_TYPES = ["application/json", "application/x-www-form-urlencoded", "multipart/form-data; boundary=zz",
                 "multipart/form-data", "text/plain", "application/x-ndjson", "application/json; charset=latin-1",
                 "application/octet-stream"]
RAW_BODIES = [b"", b"{", b"null", b"[]", b'"x"', b"1e999", b'{"output":', b"\x00" * 16, b"\xff\xfe\xfd",
              b"--zz\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nb", b"a=%ff&b=%zz&&=&c", b'{"a":1}\n{',
              b"[" * 5000, b'{"output": "x.y", "inputs": [{"id": {"type": "x"}, "property": "value"}]}']
CSRF = "\x00<csrf>"  # replaced by the session's CSRF token when the form is sent
FORM = "application/x-www-form-urlencoded"

#: Query parameters of the routes that are neither /api (the OpenAPI document lists theirs) nor
#: pages (their layouts' keyword arguments): reports.web, auth.web, auth.guard.
ROUTE_QUERY = {"/report/print": ("region", "period", "date", "ticket"), "/login": ("next",),
               "/logout": ("next",)}
URL_KEYS = ("region", "grid", "ticket")  # read by the gate (auth.guard) on every page URL


def _valid_query(grid: str) -> dict[str, list[str]]:
    """Valid choices of every known query parameter (OMIT: leaving it out is valid too)."""
    from domain.codes import ENTITY_STATUSES, ENTITY_TYPES
    from domain.sources import SOURCES
    from indicators.model import CATEGORIES
    from queries.entity_list import INDUSTRY_SECTIONS
    from queries.report_periods import KINDS
    from queries.tasks import STATUS_FILTERS
    from store.filters import GRAIN_SQL
    from supervision.rules import BUCKETS, TASK_TYPE_ZH

    return {
        "region": [TOWN, grid, OMIT], "grid": [grid, OMIT], "date": [DATE, "2026-11-18", OMIT],
        "start": ["2026-10-01", OMIT], "end": [DATE, OMIT], "period": [*KINDS, OMIT], "grain": [*GRAIN_SQL, OMIT],
        "children": ["true", "false"], "category": [*CATEGORIES, OMIT], "page": ["1", "2"], "page_size": ["10", "100"],
        "q": ["东城", OMIT], "entity_type": [*ENTITY_TYPES, OMIT], "status": [*ENTITY_STATUSES, *STATUS_FILTERS, OMIT],
        "industry": [*list(INDUSTRY_SECTIONS)[:4], OMIT], "by": ["town", "department", "region", "source"],
        "indicator": ["entity_stock", OMIT], "type": [*TASK_TYPE_ZH, OMIT], "bucket": [*BUCKETS, OMIT],
        "source": [*list(SOURCES)[:3], OMIT], "next": ["/", "/risk"],
    }


def _route_query(rule: Any, layouts: set[str], api: dict[str, set[str]]) -> list[str]:
    """The query parameters ``rule`` reads (every known one for a route described nowhere)."""
    doc_path = re.sub(r"<(?:[a-z]+:)?(\w+)>", r"{\1}", rule.rule)
    if doc_path in api:
        return sorted(api[doc_path])
    if rule.rule in ROUTE_QUERY:
        return sorted(ROUTE_QUERY[rule.rule])
    if rule.rule in ("/", "/<path:path>"):  # the Dash pages
        return sorted(layouts | set(URL_KEYS))
    return sorted(set().union(*api.values(), *ROUTE_QUERY.values(), layouts, URL_KEYS))


def _api_query() -> dict[str, set[str]]:
    from api.openapi import build_openapi

    doc = build_openapi()
    out: dict[str, set[str]] = {}
    for path, item in doc["paths"].items():
        for op in item.values():
            for prm in op.get("parameters", []):
                prm = doc["components"]["parameters"][prm["$ref"].rsplit("/", 1)[1]] if "$ref" in prm else prm
                if prm["in"] == "query":
                    out.setdefault(path, set()).add(prm["name"])
            out.setdefault(path, set())
    return out


def _layout_query() -> set[str]:
    import dash

    return {name for page in dash.page_registry.values() if callable(page.get("layout"))
            for name, p in inspect.signature(page["layout"]).parameters.items()
            if p.kind is p.POSITIONAL_OR_KEYWORD and name != "code"}  # <code>: the path, not the query


def _encode(pairs: list[tuple[str, str]]) -> str:
    """A query string or form body; Raw values go in as they are."""
    def one(s: str) -> str:
        return s if isinstance(s, Raw) else quote(s, safe="")
    return "&".join(f"{one(k)}={one(v)}" for k, v in pairs)


def _url(rule: Any, values: dict[str, str], base: dict[str, str]) -> str:
    url = rule.rule
    for arg in rule.arguments:
        m = re.search(rf"<(?:([a-z]+)(?:\([^)]*\))?:)?{arg}>", url)
        assert m, (rule.rule, arg)
        value = values[arg]
        value = "" if value == OMIT else f"{base[arg]}/{base[arg]}" if value == TWICE else value
        text = value if isinstance(value, Raw) else quote(value, safe="/" if m.group(1) == "path" else "")
        url = url[:m.start()] + text + url[m.end():]
    return url


def _query(base: dict[str, str], hostile: dict[str, str], extra: list[tuple[str, str]]) -> str:
    pairs: list[tuple[str, str]] = []
    for key, valid in base.items():
        value = hostile.get(key, valid)
        if value == TWICE:
            pairs += [(key, valid if valid != OMIT else DATE)] * 2
        elif value != OMIT:
            pairs.append((key, value))
    return _encode(pairs + [(k, v) for k, v in extra if v not in (OMIT, TWICE)])


def _body_sweep(output: str) -> list[tuple[str, Any]]:
    """Every POST rule gets each of these bodies (deterministic)."""
    cb = {"output": output, "outputs": {"id": "x", "property": "y"}}
    return [(FORM, {"csrf_token": "区" * 43, "username": "x", "password": "y"}),
            (FORM, {"csrf_token": CSRF, "username": "区" * 100, "password": "\x00", "next": "//evil.example/"}),
            (FORM, {"csrf_token": Raw("%ff%fe")}), ("application/json", b"[" * 5000),
            ("application/json", json.dumps({"output": output}).encode()),
            ("application/json", json.dumps({**cb, "inputs": [], "state": [], "changedPropIds": "x"}).encode()),
            ("application/json", json.dumps({**cb, "inputs": [{"id": {"a": 1}, "property": "x"}, 5]}).encode()),
            ("text/plain", b"\xff\xfe"), ("multipart/form-data; boundary=zz", b"--zz\r\n")]


def _bodies(outputs: list[str]) -> Any:
    """(content type, bytes or a form dict) of a POST body; CSRF stands for the session's token."""
    value = st.one_of(TEXT, st.sampled_from(RAW))
    form = st.fixed_dictionaries({}, optional={
        "csrf_token": st.one_of(st.just(CSRF), value), "username": value, "password": value, "next": value,
        "region": value}).map(lambda d: (FORM, d))
    callback = st.fixed_dictionaries({}, optional={
        "output": st.one_of(st.sampled_from(outputs), JSON), "outputs": JSON, "inputs": JSON, "state": JSON,
        "changedPropIds": JSON}).map(lambda d: ("application/json", json.dumps(d).encode()))
    wrong_json = JSON.map(lambda v: ("application/json", json.dumps(v).encode()))
    raw = st.tuples(st.sampled_from(CONTENT_TYPES), st.one_of(st.sampled_from(RAW_BODIES), st.binary(max_size=200)))
    return st.one_of(form, callback, wrong_json, raw)


@dataclass
class Choices:
    """Valid values: of each path variable by name (an unknown one: "x"), of each query
    parameter, and the callback outputs a body may name."""

    paths: dict[str, list[str]]
    query: dict[str, list[str]]
    outputs: list[str]


@dataclass
class Run:
    """The fuzzing client, its principal and what it saw."""

    who: str
    client: Any
    csrf: str = ""
    statuses: Counter = field(default_factory=Counter)
    served: set = field(default_factory=set)  # rules that answered 2xx at least once
    failures: list[str] = field(default_factory=list)

    def refresh(self) -> None:
        """Sign in again when a fuzzed /logout ended the session, and re-read the CSRF token."""
        if self.who == USER and self.client.get_cookie(COOKIE) is None:
            login(self.client, USER)
        self.csrf = csrf_of(self.client)

    def send(self, rule: str, method: str, url: str, query: str, headers: dict, body: tuple | None) -> None:
        kw: dict[str, Any] = {"query_string": query, "headers": headers,
                              "environ_overrides": {"REMOTE_ADDR": FUZZ_ADDR}}
        what = f"{method} {url[:90]}?{query[:160]}"
        if body is not None:
            ctype, data = body
            if isinstance(data, dict):
                data = _encode([(k, self.csrf if v == CSRF else v) for k, v in data.items()]).encode()
            kw.update(data=data, content_type=ctype)
            what += f" body {ctype} {data[:100]!r}"
        resp = self.client.open(url, method=method, **kw)
        self._check(rule, url, what, resp)
        if method == "GET" and resp.status_code == 200 and b'id="react-entry-point"' in resp.get_data():
            page = self.client.post("/_dash-update-component", json=_router(url, "?" + query if query else ""),
                                    environ_overrides={"REMOTE_ADDR": FUZZ_ADDR})
            self.statuses[page.status_code] += 1
            if page.status_code >= 500 or page.status_code == 204:  # 204: only the callback error net stopped it
                self.failures.append(f"page of {what}: router answered {page.status_code}")
        if body is not None:
            self.refresh()

    def _check(self, rule: str, url: str, what: str, resp: Any) -> None:
        status = resp.status_code
        self.statuses[status] += 1
        if status < 300:
            self.served.add(rule)
        if status >= 500:
            self.failures.append(f"{what}: {status} {resp.get_data(as_text=True)[:120]!r}")
        elif url.startswith("/api/") and status >= 400:
            err = (resp.get_json(silent=True) or {}).get("error") if resp.is_json else None
            if not (isinstance(err, dict) and isinstance(err.get("code"), str) and err.get("message")):
                self.failures.append(f"{what}: {status} without the API's JSON error shape")
        elif status >= 400 and not url.startswith(("/_dash-", "/assets/", "/static/", "/_favicon")) \
                and not re.search("[\u4e00-\u9fff]", resp.get_data(as_text=True)):
            self.failures.append(f"{what}: {status} without a Chinese message")


@pytest.fixture(params=[USER, "local"])
def fuzz(request, server, auth_on, dongguan, demo_data, monkeypatch):  # noqa: F811
    """(Choices, Run) as the town supervisor or the local administrator; a report run with
    a file in the archive."""
    import dash

    from reports.store import ReportStore

    grids = dongguan.query(f"SELECT code FROM regions WHERE code LIKE '{TOWN}%' AND length(code) > 9 ORDER BY code")
    grid = str(grids["code"].iloc[0])
    ent = demo_data.entities
    entity = str(ent[ent["grid_code"].str.startswith(TOWN)]["credit_code"].iloc[0])
    reports = ReportStore(auth_on.engine.url.render_as_string(hide_password=False))
    run_id = reports.start_run("weekly", TOWN, "2026-W46", "cli")
    archive = Path(os.environ["JINJIAN_REPORT_DIR"])
    archive.mkdir(parents=True, exist_ok=True)
    (archive / "fuzz.pdf").write_bytes(b"%PDF-1.4\n%fuzz\n")
    reports.finish_run(run_id, "ok", pdf_path=str(archive / "fuzz.pdf"))
    pages = [(p.get("path_template") or p["path"]).strip("/").replace("<code>", entity if "entity" in p["path"]
                                                                       else TOWN) for p in dash.page_registry.values()]
    client = server.test_client()
    if request.param == "local":
        monkeypatch.setenv("JINJIAN_AUTH", "0")
    else:
        login(client, USER)
    paths = {
        "code": [TOWN, grid], "credit_code": [entity], "indicator_id": ["entity_stock", "task_ontime_rate"],
        "run_id": [str(run_id)], "ext": ["pdf", "xlsx"], "batch_id": ["f" * 64], "source": ["registration", "change"],
        "token": ["jjw_" + "a" * 40], "filename": ["login.css", "report.css"], "package_name": ["dash"],
        "fingerprinted_path": ["dcc/dash_core_components.js"], "path": [p for p in pages if p], "rest": ["x/y"],
    }
    outputs = [d["output"] for d in client.get("/_dash-dependencies").get_json()]
    fuzz_run = Run(request.param, client)
    fuzz_run.refresh()
    return Choices(paths, _valid_query(grid), outputs), fuzz_run


def _fuzz_rule(rule: Any, method: str, valid: Choices, query_keys: list[str], run: Run) -> None:
    """Hypothesis examples of one rule and method, then the deterministic path sweep."""
    names = sorted(rule.arguments)
    known = valid.query
    path_valid = st.fixed_dictionaries({a: st.sampled_from(valid.paths.get(a, ["x"])) for a in names})
    query_valid = st.fixed_dictionaries({k: st.sampled_from(known.get(k, [OMIT])) for k in sorted(set(known)
                                                                                               | set(query_keys))})
    path_hostile = st.dictionaries(st.sampled_from(names), HOSTILE, max_size=len(names)) if names else st.just({})
    query_hostile = st.dictionaries(st.sampled_from(query_keys or ["region"]), HOSTILE, max_size=2)
    extra = st.lists(st.tuples(EXTRA_KEYS, HOSTILE), max_size=2)
    body = _bodies(valid.outputs) if method == "POST" else st.none()

    @settings(max_examples=EXAMPLES, derandomize=DERANDOMIZE, database=None, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(path_valid, path_hostile, query_valid, query_hostile, extra, HEADERS, body)
    def request(pv, ph, qv, qh, ex, headers, data):
        run.send(rule.rule, method, _url(rule, {**pv, **ph}, pv), _query(qv, qh, ex), headers, data)

    request()
    base = {a: valid.paths.get(a, ["x"])[0] for a in names}  # the sweep: each path variable in turn
    query = _query({k: v[0] for k, v in known.items()}, {}, [])
    for arg in names:
        for value in PATH_SWEEP:
            run.send(rule.rule, method, _url(rule, {**base, arg: value}, base), query, {},
                     ("application/json", b"{}") if method == "POST" else None)
    for body in _body_sweep(valid.outputs[0]) if method == "POST" else []:
        run.send(rule.rule, method, _url(rule, base, base), query, {}, body)


def test_no_route_answers_500_or_logs_a_traceback(fuzz, server, caplog):  # noqa: F811
    valid, run = fuzz
    caplog.set_level(logging.WARNING)
    layouts, api = _layout_query(), _api_query()
    rules = [r for r in server.url_map.iter_rules() if r.methods & {"GET", "POST"}]
    started = time.perf_counter()
    for rule in rules:
        for method in sorted(rule.methods & {"GET", "POST"}):
            _fuzz_rule(rule, method, valid, _route_query(rule, layouts, api), run)
    seconds = time.perf_counter() - started
    logged = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info or "Traceback" in r.getMessage()]
    requests = sum(run.statuses.values())
    assert not run.failures, f"{len(run.failures)} of {requests} requests failed ({seconds:.0f} s):\n" + \
        "\n".join(run.failures[:40])
    assert not logged, "\n".join(f"{r.name}: {r.getMessage()[:300]}" for r in logged[:20])
    # The fuzz reached the code behind the parameters: most rules served their valid requests,
    # and hostile ones were refused as bad requests, unknown things, or out of scope.
    assert len(rules) >= 25 and requests >= len(rules) * EXAMPLES, (len(rules), requests)
    assert len(run.served) >= len(rules) * 3 // 4, sorted(r.rule for r in rules if r.rule not in run.served)
    assert run.statuses[200] > requests // 10 and run.statuses[400] > 50 and run.statuses[404] > 50, run.statuses
    print(f"route fuzz as {run.who}: {len(rules)} rules, {requests} requests, {seconds:.1f} s, {dict(run.statuses)}")
