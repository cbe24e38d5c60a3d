"""plotly.js for the charts: the basic bundle (bar, scatter, pie), 1.2 MB instead of 4.8 MB.

Dash loads plotly.js only on a page with a graph: ``dcc.Graph`` adds a script for
``/_dash-component-suites/plotly/package_data/plotly.min.js`` (the full bundle of the Python
package ``plotly``). Evaluating that bundle was the largest single piece of main-thread work
on every page with a chart (0.8–1.0 s of a cold load on this machine kind; issue 30). Every
figure of the app goes through ``components.figures.create_figure``, which allows only the
trace types of plotly.js's basic bundle (:data:`components.figures.TRACE_TYPES`), so this
module answers that path with the basic bundle, which ``scripts/fetch_plotly_basic.sh``
(``make install``) puts in ``vendor/`` — pinned to the same plotly.js version and checked by
its checksum. Without the file, or when its version is not the one the Python package
carries, Dash's full bundle is served as before and the log says why, once.
"""
from __future__ import annotations

import logging
import re
from pathlib import Path

import flask

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[1]
#: Where dcc.Graph asks for plotly.js (dash-renderer: ``_dashPlotlyJSURL`` when serving locally).
BUNDLE_PATH = "/_dash-component-suites/plotly/package_data/plotly.min.js"
VENDOR = ROOT / "vendor" / "plotly-basic.min.js"
_VERSION = re.compile(rb"plotly\.js \(basic - minified\) v(\d+\.\d+\.\d+)")


def basic_bundle(path: Path = VENDOR) -> Path | None:
    """The basic bundle when it is there and of the plotly.js version the app's ``plotly``
    carries; None (with the reason logged) otherwise."""
    from plotly.offline import get_plotlyjs_version

    if not path.is_file():
        logger.warning("plotly.js basic bundle not found (%s; make install fetches it): charts load the full "
                       "4.8 MB bundle", path)
        return None
    with path.open("rb") as fh:
        found = _VERSION.search(fh.read(400))
    want = get_plotlyjs_version()
    if found is None or found.group(1).decode() != want:
        logger.warning("plotly.js basic bundle %s is version %s, the app's plotly carries %s: charts load the "
                       "full bundle", path, found.group(1).decode() if found else "unknown", want)
        return None
    return path


def install(server: flask.Flask, path: Path = VENDOR) -> Path | None:
    """Serve the basic bundle at :data:`BUNDLE_PATH` on ``server`` (when it can be used)."""
    bundle = basic_bundle(path)
    if bundle is None:
        return None

    def serve_basic() -> flask.Response | None:
        if flask.request.path != BUNDLE_PATH:
            return None
        return flask.send_file(bundle, mimetype="application/javascript", conditional=True, etag=True)

    server.before_request_funcs.setdefault(None, []).insert(0, serve_basic)
    logger.info("charts use plotly.js's basic bundle (%s)", bundle)
    return bundle
