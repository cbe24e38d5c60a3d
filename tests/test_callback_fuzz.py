"""Issue 28 item 5 (the callbacks): every callback checks its own inputs. Every server-side
Dash callback of every page is called with generated wrong inputs — each argument in turn
replaced by a wrong JSON type, a wrong shape one level down (a click without a code, rows
that are not rows), an impossible date, an unknown choice, a huge or hostile string — as
the local administrator over the demo data; every page's layout is drawn with hostile URL
parameters (repeated keys, impossible dates, unknown choices). Fails on any 5xx, on any
logged traceback, and whenever the app's callback error handler (auth/callback_errors.py,
the net for what no check foresaw) logs "input refused": the callbacks (pages/inputs.py)
must refuse such input themselves.

Dash's own page router (dash/dash.py, no page code) parses ``_pages_location`` before any
layout runs: the gate (auth/guard.py) refuses a pathname or search that is not text, or a
pathname not starting with '/', with 400 before Dash sees it.

Bounded and repeatable: hypothesis draws ``CALLBACK_FUZZ_EXAMPLES`` (default 4) values per
argument, derandomised. Deeper local runs: ``CALLBACK_FUZZ_EXAMPLES=50``."""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir

from tests.test_auth_probe import TOWN, _layout_values, _payload, _router

EXAMPLES = int(os.environ.get("CALLBACK_FUZZ_EXAMPLES", "4"))
set_hypothesis_home_dir(Path(os.environ["JINJIAN_DATA_DIR"]).parent / "hypothesis")

#: Right outer type, wrong inside: clicks, grid rows, stores and export parameters.
NESTED = [
    {"properties": {"code": ["441900003"]}}, {"properties": "4419"}, {"points": [{"customdata": ["overdue_mild"]}]},
    {"points": "x"}, {"points": [None]}, [{"id": "x", "task_id": ["T1"], "batch_no": {}, "name": 1, "code": None}],
    [None, "row"], {"fileName": ["a.csv"], "region": 4419, "period": [], "date": 20261120, "digest": []},
    {"region": "4419", "period": "weekly", "date": "2026-02-30"}, ["entity_stock", 3], [{"category": None}],
]
WRONG = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-10**12, max_value=10**12), st.floats(allow_nan=True),
    st.sampled_from(["", "2026-02-30", "9999-99-99", "0001-01-01", "not-a-date", "x" * 5000,
                     "<script>alert(1)</script>", "' OR 1=1 --", "../../etc/passwd", "44190000300100１", "T" + "9" * 30,
                     "all", "root", "\u0000", "🙂", "²"]),
    st.sampled_from(NESTED),
    st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
    st.text(max_size=40),
)
#: Page URL parameters: repeated keys (Dash passes a list), impossible dates, unknown choices.
HOSTILE_QUERIES = [
    "?region=4419&region=441900003&date=2026-02-30&date=x&grain=day&grain=week&period=daily&period=weekly"
    "&type=clue&type=x&status=open&status=y&bucket=z&bucket=due_soon&dept=1&dept=2&source=a&source=b"
    "&category=c&category=d&indicator=entity_stock&indicator=x&grid=1&grid=2&q=1&q=2&start=1&start=2&end=1&end=2",
    "?date=9999-99-99&grain=hour&period=yearly&type=x&status=y&bucket=z&dept=%27%3B%20DROP&source=weather"
    "&category=%00&indicator=%3Cscript%3E&grid=441900003001&start=0001-01-01&end=2026-13-01&q=" + "x" * 3000,
    "?region=&date=&grain=&period=&start=&end=&indicator=,,,",
]


def test_no_callback_answers_500_logs_a_traceback_or_reaches_the_net(dongguan, flask_server, caplog):
    import dash

    from auth.callback_errors import logger as net_logger

    client = flask_server.test_client()
    deps = [d for d in client.get("/_dash-dependencies").get_json() if not d.get("clientside_function")]
    values = _layout_values(client)
    assert len(deps) >= 40 and len(values) > 100
    caplog.set_level(logging.WARNING)
    failures: list[str] = []
    reached: list[str] = []
    calls = [0]

    def net_lines() -> int:
        return sum(r.name == net_logger.name for r in caplog.records)

    def post(body: dict[str, Any], what: str) -> None:
        before = net_lines()
        resp = client.post("/_dash-update-component", json=body)
        calls[0] += 1
        if resp.status_code >= 500:
            failures.append(f"{what}: {resp.status_code}")
        if net_lines() > before:
            line = [r for r in caplog.records if r.name == net_logger.name][-1].getMessage()
            reached.append(f"{what}: {line[:200]}")

    def fuzz(dep: dict, base: list, i: int, slot: dict) -> None:
        @settings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=None,
                  suppress_health_check=list(HealthCheck))
        @given(WRONG)
        def call(value):
            args = list(base)
            args[i] = value
            post(_payload(dep, args), f"{dep['output'][:70]} with {slot['id']}.{slot['property']}={value!r:.60}")

        call()

    for dep in deps:
        slots = list(dep["inputs"]) + list(dep["state"])
        base = [values.get(str(s["id"]), {}).get(s["property"]) for s in slots]
        for i, slot in enumerate(slots):
            fuzz(dep, base, i, slot)
    for page in dash.page_registry.values():
        path = (page.get("path_template") or page["path"]).replace("<code>", TOWN)
        for query in HOSTILE_QUERIES:
            post(_router(path, query), f"layout of {path} with {query[:60]}")
    tracebacks = [r for r in caplog.records if r.exc_info or "Traceback" in r.getMessage()]
    assert calls[0] > 300
    assert not failures, f"{len(failures)} of {calls[0]} calls answered 5xx:\n" + "\n".join(failures[:40])
    assert not tracebacks, "\n".join(f"{r.name}: {r.getMessage()[:200]}" for r in tracebacks[:20])
    assert not reached, (f"{len(reached)} of {calls[0]} calls reached the callback error handler "
                         "(check the input in the callback, pages/inputs.py):\n" + "\n".join(reached[:40]))


def test_pattern_matching_ids_pass_the_gate(dongguan, flask_server):
    """A callback on pattern-matching ids (dict ids: /tasks' ageing columns) answers through the
    gate (auth/guard.py once failed on a dict id with 500); a dict id of the wrong shape is no 5xx."""
    import json

    from components.ageing_chart import BAR_TYPE
    from supervision.rules import BUCKETS

    client = flask_server.test_client()

    def body(clicks: Any, bar: Any) -> dict[str, Any]:
        ids = [{"type": BAR_TYPE, "bucket": b} for b in BUCKETS]
        return {"output": "tasks-bucket.value", "outputs": {"id": "tasks-bucket", "property": "value"},
                "inputs": [[{"id": i, "property": "n_clicks", "value": clicks if i == bar else 0} for i in ids]],
                "state": [{"id": "tasks-bucket", "property": "value", "value": None}],
                "changedPropIds": [json.dumps(bar, sort_keys=True, separators=(",", ":")) + ".n_clicks"]}

    bar = {"type": BAR_TYPE, "bucket": "overdue_mild"}
    resp = client.post("/_dash-update-component", json=body(1, bar))
    assert resp.status_code == 200, resp.status_code
    assert resp.get_json()["response"]["tasks-bucket"]["value"] == "overdue_mild"
    for clicks, wrong in ((1, {"type": BAR_TYPE, "bucket": ["x"]}), ("1", bar), (1, {"type": [1], "bucket": {}})):
        resp = client.post("/_dash-update-component", json=body(clicks, wrong))
        assert resp.status_code < 500, (clicks, wrong, resp.status_code)
