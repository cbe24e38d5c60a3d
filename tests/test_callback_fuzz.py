"""Issue 28 item 5 (in part): no input reaches a 500. Every server-side Dash callback of
every page is called with generated wrong inputs — each argument in turn replaced by a
wrong JSON type, an impossible date, an unknown choice, a huge or hostile string — as the
local administrator over the demo data. Fails on any 5xx and on any logged traceback.

Bounded and repeatable: hypothesis draws ``CALLBACK_FUZZ_EXAMPLES`` (default 4) values per
argument, derandomised. Deeper local runs: ``CALLBACK_FUZZ_EXAMPLES=50``."""
from __future__ import annotations

import logging
import os
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir

from tests.test_auth_probe import _layout_values, _payload

EXAMPLES = int(os.environ.get("CALLBACK_FUZZ_EXAMPLES", "4"))
set_hypothesis_home_dir(Path(os.environ["JINJIAN_DATA_DIR"]).parent / "hypothesis")

WRONG = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-10**12, max_value=10**12), st.floats(allow_nan=True),
    st.sampled_from(["", "2026-02-30", "9999-99-99", "not-a-date", "x" * 5000, "<script>alert(1)</script>",
                     "' OR 1=1 --", "../../etc/passwd", "44190000300100１", "T" + "9" * 30, "all", "root",
                     "\u0000", "🙂"]),
    st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
    st.text(max_size=40),
)


def test_no_callback_answers_500_or_logs_a_traceback(dongguan, flask_server, caplog):
    client = flask_server.test_client()
    deps = [d for d in client.get("/_dash-dependencies").get_json() if not d.get("clientside_function")]
    values = _layout_values(client)
    assert len(deps) >= 40 and len(values) > 100
    caplog.set_level(logging.WARNING)
    failures: list[str] = []
    calls = [0]

    def fuzz(dep: dict, base: list, i: int, slot: dict) -> None:
        @settings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=None,
                  suppress_health_check=list(HealthCheck))
        @given(WRONG)
        def call(value):
            args = list(base)
            args[i] = value
            resp = client.post("/_dash-update-component", json=_payload(dep, args))
            calls[0] += 1
            if resp.status_code >= 500:
                failures.append(f"{dep['output'][:70]} with {slot['id']}.{slot['property']}={value!r:.60}: "
                                f"{resp.status_code}")

        call()

    for dep in deps:
        slots = list(dep["inputs"]) + list(dep["state"])
        base = [values.get(str(s["id"]), {}).get(s["property"]) for s in slots]
        for i, slot in enumerate(slots):
            fuzz(dep, base, i, slot)
    tracebacks = [r for r in caplog.records if r.exc_info or "Traceback" in r.getMessage()]
    assert calls[0] > 300
    assert not failures, f"{len(failures)} of {calls[0]} calls answered 5xx:\n" + "\n".join(failures[:40])
    assert not tracebacks, "\n".join(f"{r.name}: {r.getMessage()[:200]}" for r in tracebacks[:20])
