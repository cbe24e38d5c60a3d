"""The charts' plotly.js (api/plotly_bundle.py): the basic bundle served where dcc.Graph asks
for plotly.js, only when it is the version the Python package carries; every figure limited to
its trace types (components/figures.py). The browser half — a chart drawn with it and only its
trace types registered — is in tests/test_page_tasks.py::test_tasks_page_in_browser."""
from __future__ import annotations

import os
from pathlib import Path

import flask
import pytest
from plotly.offline import get_plotlyjs_version

from api import plotly_bundle
from components.figures import TRACE_TYPES, create_figure


def _server(path: Path) -> tuple[flask.Flask, Path | None]:
    server = flask.Flask(__name__)

    @server.route("/_dash-component-suites/<path:rest>")
    def dash_suite(rest: str) -> str:  # stands for Dash's own route (the full bundle)
        return "full bundle"

    return server, plotly_bundle.install(server, path)


def test_the_basic_bundle_answers_where_dcc_graph_asks():
    if not plotly_bundle.VENDOR.is_file():
        if os.environ.get("JINJIAN_REQUIRE_SERVER") == "1":  # make test: make install fetched it
            pytest.fail(f"{plotly_bundle.VENDOR} missing: scripts/fetch_plotly_basic.sh did not run")
        pytest.skip("no basic bundle here (run make install)")
    server, used = _server(plotly_bundle.VENDOR)
    assert used == plotly_bundle.VENDOR
    client = server.test_client()
    resp = client.get(plotly_bundle.BUNDLE_PATH)
    body = resp.get_data()
    assert resp.status_code == 200 and resp.mimetype == "application/javascript"
    assert f"plotly.js (basic - minified) v{get_plotlyjs_version()}".encode() in body[:400]
    assert len(body) < 2_000_000  # not the 4.8 MB full bundle
    again = client.get(plotly_bundle.BUNDLE_PATH, headers={"If-None-Match": resp.headers["ETag"]})
    assert again.status_code == 304  # a warm load revalidates, it does not download again
    assert client.get("/_dash-component-suites/dash/dcc/async-graph.js").get_data() == b"full bundle"


def test_a_missing_or_other_version_bundle_leaves_the_full_one(tmp_path, caplog):
    server, used = _server(tmp_path / "absent.min.js")
    assert used is None and server.test_client().get(plotly_bundle.BUNDLE_PATH).get_data() == b"full bundle"
    assert "not found" in caplog.text
    old = tmp_path / "plotly-basic.min.js"
    old.write_text("/**\n* plotly.js (basic - minified) v1.0.0\n*/\n")
    server, used = _server(old)
    assert used is None and server.test_client().get(plotly_bundle.BUNDLE_PATH).get_data() == b"full bundle"
    assert f"is version 1.0.0, the app's plotly carries {get_plotlyjs_version()}" in caplog.text


def test_figures_keep_to_the_basic_bundles_trace_types():
    assert TRACE_TYPES == {"bar", "scatter", "pie"}
    fig = create_figure([{"type": "bar", "x": [1], "y": [2]}, {"x": [1], "y": [1]}, {"type": "pie", "values": [1]}])
    assert [t.type for t in fig.data] == ["bar", "scatter", "pie"]
    with pytest.raises(ValueError, match="heatmap"):
        create_figure([{"type": "heatmap", "z": [[1]]}])
