"""The access probe: signed in as a town-scoped user, call every route of the Flask
server and every Dash callback with regions outside the town and with tampered
parameters, and find no leak.

Routes come from ``app.url_map`` and callbacks from ``/_dash-dependencies``, so a new
route or callback is probed without editing this file; a route whose parameters the
probe does not know how to tamper fails the test until it is classified below.

What counts as a leak (checked on every response):
- a refused request that is not refused: any tampered request to a data route, and
  any tampered region/entity/page argument of a callback, must answer 400–404;
- any response (refused or not) that names something outside the town: the name or
  code of a sibling town, or the credit code or name of an entity outside the town.
Every 403 must leave exactly one audit entry.
"""
from __future__ import annotations

import re
from typing import Any, Iterator
from urllib.parse import quote

import pytest

from tests.authkit import auth_on, logged_in  # noqa: F401
from tests.pagekit import callback_outputs

TOWN = "441900003"
USER = "town_sup"  # a supervisor: export and personal data allowed, so only the scope stops a leak
DATE = "2026-11-20"
#: Routes that serve no regional data: a tampered parameter is ignored (200 is fine),
#: but their bodies are still searched for leaks.
DATA_FREE = {
    "/static/<path:filename>", "/assets/<path:filename>", "/_dash-component-suites/<string:package_name>/<path:fingerprinted_path>",
    "/_dash-layout", "/_dash-dependencies", "/_reload-hash", "/_favicon.ico", "/login", "/logout",
    "/api/v1/openapi.json", "/api/v1/health", "/api/v1/indicators", "/api/v1/indicators/<indicator_id>",
    "/api/v1/<path:rest>", "/healthz",
}
#: Routes with their own authentication (a bearer token, not the session).
OWN_AUTH = {"/api/v1/ingest/<source>", "/api/v1/ingest/<source>/batches/<batch_id>/rejects", "/wall/<token>"}
REFUSED = {400, 401, 403, 404}


class Probe:
    """Sentinels and tamper values from the data (plain pandas, independent of the app)."""

    def __init__(self, db: Any, demo_data: Any) -> None:
        regions = db.query("SELECT code, name, level FROM regions WHERE code LIKE '4419%'")
        regions["code"] = regions["code"].astype(str)
        inside = regions[regions["code"].str.startswith(TOWN)]
        ancestors = {"4419", "441900"}
        outside = regions[~regions["code"].str.startswith(TOWN) & ~regions["code"].isin(ancestors)]
        towns = outside[outside["code"].str.len() == 9]
        assert len(towns) >= 3, "the probe needs sibling towns"
        self.sibling = str(towns["code"].iloc[0])
        ent = self.entities = demo_data.entities
        mine = ent[ent["grid_code"].str.startswith(TOWN)]
        other = ent[~ent["grid_code"].str.startswith(TOWN)]
        assert len(mine) > 100 and len(other) > 1000
        own_text = " ".join(inside["name"]) + " " + " ".join(mine["name"])
        self.outside_entity = str(other["credit_code"].iloc[0])
        self.inside_entity = str(mine["credit_code"].iloc[0])
        # Town names and codes of every sibling town (a code as a whole token or the start of one, not
        # inside a credit code); names only where they cannot occur inside the town's own text.
        self.codes = re.compile(r"(?<![0-9A-Za-z])(" + "|".join(towns["code"]) + r")[0-9]{0,6}(?![0-9A-Za-z])")
        self.sentinels: dict[str, str] = {}
        for name in towns["name"]:
            if len(name) >= 3 and name not in own_text:
                self.sentinels[str(name)] = f"sibling town name {name}"
        sample = other.sample(n=min(400, len(other)), random_state=1)
        for r in sample.itertuples():
            self.sentinels[str(r.credit_code)] = f"outside entity {r.credit_code}"
            if len(str(r.name)) >= 6 and str(r.name) not in own_text:
                self.sentinels[str(r.name)] = f"outside entity name {r.name}"
        self.regions = ["4419", self.sibling, self.sibling + "001", "4401", "44", "", "all"]

    def leaks(self, body: str, sent: object = None) -> list[str]:
        """What ``body`` names outside the town; ``sent``: the tampered value, which an
        error message may quote back (that is no leak)."""
        echo = str(sent) if sent is not None else "\0"
        found = [f"sibling town code {m.group(0)}" for m in self.codes.finditer(body) if m.group(0) not in echo]
        return (found + [why for s, why in self.sentinels.items() if s in body and s not in echo])[:5]


@pytest.fixture
def probe(auth_on, dongguan, demo_data, flask_server):  # noqa: F811
    return Probe(dongguan, demo_data), logged_in(flask_server, USER), auth_on


def _denials(store: Any) -> int:
    return sum(1 for r in store.audit_rows(username=USER) if not r["ok"])


def _check(p: Probe, what: str, resp: Any, must_refuse: bool, problems: list[str], sent: object = None) -> None:
    body = resp.get_data().decode("utf-8", "replace") if resp.status_code != 204 else ""
    found = p.leaks(body, sent)
    if found:
        problems.append(f"{what}: {resp.status_code} leaks {found}")
    if must_refuse and resp.status_code not in REFUSED and resp.status_code != 204:
        problems.append(f"{what}: answered {resp.status_code}, expected a refusal")


def _hidden(p: Probe, sent: str, resp: Any, problems: list[str]) -> int:
    """A request naming the entity outside the town: answered exactly as for an unknown one
    (200 with the not-found panel, or 404) — never 403, which would tell that it exists — and
    audited once (issue 28 item 7). 1 when this was such a request."""
    if p.outside_entity not in sent:
        return 0
    if resp.status_code not in (200, 404):
        problems.append(f"{sent[:80]}: {resp.status_code} for an entity outside the town (tells that it exists)")
    return 1


# ----------------------------------------------------------------------------- routes
def _page_urls(p: Probe, template: str) -> Iterator[str]:
    """Tampered URLs of a Dash page: every region argument, every out-of-town code."""
    if template.startswith("/entity/"):  # answered as an unknown entity (not refused): see _hidden
        yield template.replace("<code>", p.outside_entity)
        return
    for code in p.regions:
        if "<code>" in template:  # /region/<code>
            yield template.replace("<code>", code or "all")
        elif code:  # a blank query value means the page's default (the user's own region)
            for key in ("region", "grid"):
                yield f"{template}?{key}={quote(code)}"


def _route_urls(p: Probe, rule: Any) -> Iterator[tuple[str, bool]]:
    """(url, must_refuse) for one url_map rule; raises for unknown parameters."""
    import dash

    rule_s = rule.rule
    if rule_s == "/<path:path>" or rule_s == "/":
        for page in dash.page_registry.values():
            template = page.get("path_template") or page["path"]
            for url in _page_urls(p, template):
                yield url, p.outside_entity not in url
        return
    if rule_s in OWN_AUTH or rule_s in DATA_FREE:
        samples = {"filename": "dash_theme.css", "package_name": "dash", "fingerprinted_path": "dcc/dash_core_components.js",
                   "indicator_id": "entity_stock", "rest": "regions/4419", "source": "registration",
                   "batch_id": "0" * 64, "token": "jjw_not_a_token"}
        url = rule_s
        for arg in rule.arguments:
            url = re.sub(rf"<(?:[a-z]+:)?{arg}>", samples[arg], url)
        for code in ("4419", "", "4401"):
            yield f"{url}?region={quote(code)}&grid={quote(code)}", rule_s in OWN_AUTH and "GET" in rule.methods
        return
    values: dict[str, list[str]] = {
        "code": p.regions, "credit_code": [p.outside_entity], "indicator_id": ["entity_stock"],
        "run_id": ["{run}"], "ext": ["pdf", "xlsx"], "batch_id": ["{batch}"],
        "task_id": ["T1"], "name": ["k-1.jpg"],  # the workbench's photos: a work role's only
    }
    unknown = set(rule.arguments) - set(values)
    if unknown:
        raise AssertionError(f"the probe does not know how to tamper {sorted(unknown)} of {rule_s}: classify it")
    urls = [rule_s]
    for arg in rule.arguments:
        urls = [re.sub(rf"<(?:[a-z]+:)?{arg}>", v, u) for u in urls for v in values[arg]]
    scoped_path = bool(set(rule.arguments) - {"indicator_id"})  # the path itself names a region or an object
    for url in urls:
        if scoped_path:
            yield f"{url}?date={DATE}", True
            yield f"{url}?region={TOWN}&date={DATE}", True
        else:  # tamper the query (an API region='' is the whole country; a page's blank is its default)
            for code in p.regions:
                if code or url.startswith("/api/"):
                    yield f"{url}?region={quote(code)}&date={DATE}&period=weekly", True


def test_every_route_refuses_outside_the_town(probe, flask_server):
    p, client, store = probe
    from reports.store import ReportStore

    run = ReportStore(store.engine.url.render_as_string(hide_password=False)).start_run("weekly", "4419", "2026-W46", "cli")
    problems: list[str] = []
    refused = hidden = 0
    before = _denials(store)
    probed_rules = 0
    for rule in flask_server.url_map.iter_rules():
        methods = rule.methods - {"HEAD", "OPTIONS"}
        if "GET" not in methods:
            continue  # POST routes: the callbacks below; ingestion has its own token (tests/test_ingest_api.py)
        probed_rules += 1
        for url, must_refuse in _route_urls(p, rule):
            # A batch of another town needs an ingestion database; here: an unknown id.
            url = url.replace("{run}", str(run)).replace("{batch}", "f" * 64)
            resp = client.get(url)
            # The ingestion API answers for its bearer token, outside the session and the audit log.
            refused += resp.status_code == 403 and not rule.rule.startswith("/api/v1/ingest/")
            hidden += _hidden(p, url, resp, problems)
            _check(p, f"GET {url}", resp, must_refuse, problems, sent=url)
    assert not problems, "\n".join(problems[:40])
    assert probed_rules >= 20 and refused >= 50 and hidden >= 2, (probed_rules, refused, hidden)
    assert _denials(store) - before == refused + hidden, "every 403 and every hidden probe: one audit entry"


def test_in_town_requests_are_served(probe):
    """The control: the same routes with the town's own codes answer with data."""
    p, client, _store = probe
    for url in (f"/region/{TOWN}", f"/risk?region={TOWN}", f"/tasks?region={TOWN}", f"/?region={TOWN}",
                f"/api/v1/regions/{TOWN}", f"/api/v1/entities/{p.inside_entity}", f"/entity/{p.inside_entity}",
                f"/api/v1/indicators/entity_stock/values?region={TOWN}&date={DATE}",
                f"/api/v1/entities?region={TOWN}", f"/report/print?region={TOWN}&period=weekly&date={DATE}"):
        resp = client.get(url)
        assert resp.status_code == 200, (url, resp.status_code, resp.get_data(as_text=True)[:200])
        assert not p.leaks(resp.get_data(as_text=True)), url
    body = client.get(f"/api/v1/entities?region={TOWN}").get_json()
    ent = p.entities
    assert body["total"] == int(ent["grid_code"].str.startswith(TOWN).sum()) > 0


# ----------------------------------------------------------------------------- callbacks
def _router(pathname: str, search: str = "") -> dict[str, Any]:
    inputs = [{"id": "_pages_location", "property": "pathname", "value": pathname},
              {"id": "_pages_location", "property": "search", "value": search}]
    return {"output": ".._pages_content.children..._pages_store.data..",
            "outputs": [{"id": "_pages_content", "property": "children"}, {"id": "_pages_store", "property": "data"}],
            "inputs": inputs, "state": [], "changedPropIds": ["_pages_location.pathname"]}


def _collect(node: Any, out: dict[str, dict[str, Any]]) -> None:
    if isinstance(node, dict):
        props = node.get("props")
        if isinstance(props, dict) and isinstance(props.get("id"), str):
            out.setdefault(props["id"], props)
        for v in node.values():
            _collect(v, out)
    elif isinstance(node, list):
        for v in node:
            _collect(v, out)


def _layout_values(client: Any) -> dict[str, dict[str, Any]]:
    """Initial props of every component of every page, as the town user gets them
    (through the page router callback, as the browser does)."""
    import dash

    values: dict[str, dict[str, Any]] = {"_pages_location": {"pathname": "/tasks", "search": ""}}
    for page in dash.page_registry.values():
        template = page.get("path_template") or page["path"]
        path = template.replace("<code>", TOWN)
        resp = client.post("/_dash-update-component", json=_router(path, f"?region={TOWN}"))
        if resp.status_code == 200:
            _collect(resp.get_json(), values)
    return values


def _payload(dep: dict[str, Any], values: list[Any]) -> dict[str, Any]:
    slots = [dict(i) for i in dep["inputs"]] + [dict(s) for s in dep["state"]]
    filled = [{**slot, "value": v} for slot, v in zip(slots, values)]
    n_in = len(dep["inputs"])
    first = dep["inputs"][0]
    return {"output": dep["output"], "outputs": callback_outputs(dep["output"]), "inputs": filled[:n_in],
            "state": filled[n_in:], "changedPropIds": [f"{first['id']}.{first['property']}"]}


def _tampers(p: Probe, slot: dict[str, str], base: Any) -> list[tuple[Any, bool]]:
    """(value, must_refuse) for one callback argument."""
    from auth.guard import REGION_INPUT

    cid, prop = str(slot["id"]), slot["property"]
    if cid == "_pages_location":
        if prop == "pathname":
            import dash

            urls = [u for page in dash.page_registry.values()
                    for u in _page_urls(p, page.get("path_template") or page["path"])]
            return [(u.split("?")[0], p.outside_entity not in u) for u in urls if "?" not in u] or []
        return [(f"?region={quote(c)}", True) for c in p.regions if c] + [(f"?grid={p.sibling}001", True)]
    if REGION_INPUT.search(cid):
        return [(c, True) for c in p.regions]
    if cid == "entity-code":  # answered as an unknown entity, audited (_hidden)
        return [(p.outside_entity, False)]
    if isinstance(base, dict) and "region" in base:
        return [({**base, "region": c}, True) for c in p.regions if c not in ("", "all")]  # '' = the default
    return [(p.sibling, False), (p.outside_entity, False)]


def test_every_callback_refuses_outside_the_town(probe, flask_server):
    p, client, store = probe
    deps = client.get("/_dash-dependencies").get_json()
    values = _layout_values(client)
    assert len(values) > 100, "the page layouts were not collected"
    problems: list[str] = []
    served = refused = hidden = 0
    before = _denials(store)
    server_side = [d for d in deps if not d.get("clientside_function")]
    assert len(server_side) >= 40
    for dep in server_side:
        slots = list(dep["inputs"]) + list(dep["state"])
        base = [values.get(str(s["id"]), {}).get(s["property"]) for s in slots]
        for slot, v in zip(slots, base):  # a region-carrying argument must be one the gate recognises
            from auth.guard import REGION_INPUT

            if (isinstance(v, str) and v.startswith(TOWN) and v.isdigit()
                    and not REGION_INPUT.search(str(slot["id"])) and slot["id"] != "_pages_location"):
                problems.append(f"{slot['id']}.{slot['property']} carries a region code but is not named *-region")
        resp = client.post("/_dash-update-component", json=_payload(dep, base))
        _check(p, f"{dep['output'][:60]} (as is)", resp, False, problems)
        if resp.status_code == 200:
            served += 1
        elif resp.status_code == 403:
            refused += 1
            if not dep["output"].lstrip(".").startswith("admin-"):
                problems.append(f"{dep['output'][:60]}: refused for the town's own values")
        for i, slot in enumerate(slots):
            for value, must_refuse in _tampers(p, slot, base[i]):
                args = list(base)
                args[i] = value
                resp = client.post("/_dash-update-component", json=_payload(dep, args))
                refused += resp.status_code == 403
                if slot["id"] in ("entity-code", "_pages_location"):  # where a credit code names an entity
                    hidden += _hidden(p, str(value), resp, problems)
                _check(p, f"{dep['output'][:60]} with {slot['id']}.{slot['property']}={str(value)[:40]!r}",
                       resp, must_refuse, problems, sent=value)
    assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems[:60])
    assert served >= 30 and refused >= 100 and hidden >= 3, (served, refused, hidden)
    assert _denials(store) - before == refused + hidden, "every 403 and every hidden probe: one audit entry"
