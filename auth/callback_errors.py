"""The last line of defence for Dash callbacks (docs/security.md, "Bad input"): an input
a callback did not expect — a wrong JSON type, an impossible date, an unknown choice —
must never become a 500 with a traceback in the log.

``on_callback_error`` is the app's ``on_error``: a refusal (:class:`ScopeViolation`,
:class:`PermissionDenied`) goes on to the gate, which answers 403 with one audit entry;
anything else is logged as one line (the callback, the exception type and message — no
traceback) and the callback answers "no change" (204), so the page keeps what it shows.
Callbacks still validate what they can and show their own Chinese messages; this catches
what they did not foresee.

Before any callback runs, the gate refuses (400) a request body that is not a call of one of
the app's callbacks as the browser sends it (:func:`body_problem`); and a component-suite
path of no registered file is a 404 (:func:`install`). Dash answers both with a 500.
"""
from __future__ import annotations

import logging
from typing import Any

import flask
from dash import ctx
from dash.exceptions import DependencyException, PreventUpdate

from auth.current import PermissionDenied
from domain.errors import ScopeViolation

logger = logging.getLogger(__name__)


def on_callback_error(exc: Exception) -> None:
    if isinstance(exc, (ScopeViolation, PermissionDenied)):
        raise exc
    try:
        outs = ctx.outputs_list if isinstance(ctx.outputs_list, list) else [ctx.outputs_list]
        where = ",".join(f"{o.get('id')}.{o.get('property')}" for o in outs if isinstance(o, dict))
    except Exception:  # noqa: BLE001 - naming the callback must not fail the net
        where = "?"
    logger.warning("callback %s: input refused (%s: %s); no change", where[:160], type(exc).__name__, str(exc)[:300])
    raise PreventUpdate


# ----------------------------------------------------------------------------- requests Dash cannot take
def install(server: flask.Flask) -> None:
    """Answer a component-suite path of no registered file 404 (Dash raises
    ``DependencyException`` there, a 500 with a traceback)."""
    server.register_error_handler(DependencyException, on_dependency_error)


def on_dependency_error(exc: Exception) -> flask.Response:
    logger.info("no such component file %s: %s", flask.request.path[:160], " ".join(str(exc).split())[:160])
    return flask.Response("未找到该文件", status=404, mimetype="text/plain")


def _dash_app() -> Any:
    """The Dash app serving this request (its ``/_dash-dependencies`` view is a bound method of it)."""
    view = flask.current_app.view_functions.get("/_dash-dependencies")
    return getattr(view, "__self__", None)


def _shaped(slot: Any) -> bool:
    """An input, state or output entry: {"id": ..., "property": ...} (a list of them for a
    pattern-matching ALL)."""
    return all(isinstance(s, dict) and isinstance(s.get("id"), (str, dict)) and isinstance(s.get("property"), str)
               for s in (slot if isinstance(slot, list) else [slot]))


def _same(slot: Any, want: dict[str, Any]) -> bool:
    """``slot`` names the component property the callback declares (for a pattern-matching
    id: any dict id)."""
    prop = str(want.get("property", "")).split("@")[0]
    items = slot if isinstance(slot, list) else [slot]
    if str(want.get("id", "")).startswith("{"):
        return _shaped(slot) and all(isinstance(s["id"], dict) and s["property"].split("@")[0] == prop for s in items)
    return _shaped(slot) and isinstance(slot, dict) and slot["id"] == want.get("id") and \
        slot["property"].split("@")[0] == prop


def _declared_outputs(output: str) -> list[dict[str, str]]:
    parts = output[2:-2].split("...") if output.startswith("..") else [output]
    return [dict(zip(("id", "property"), p.rsplit(".", 1))) for p in parts]


def body_problem(body: dict[str, Any]) -> str | None:
    """Why a ``/_dash-update-component`` body is not a call of one of the app's callbacks as
    the browser sends it, or None. Dash itself answers such a body (an unknown output, inputs
    of the wrong number or shape, outputs that do not match) with a 500 and a traceback."""
    output = body.get("output")
    if not isinstance(output, str):
        return "output is not text"
    app = _dash_app()
    spec = app.callback_map.get(output) if app is not None else None
    if app is not None and spec is None:
        return "no callback has this output"
    for key in ("inputs", "state"):
        slots = body.get(key, [])
        if not isinstance(slots, list) or not all(map(_shaped, slots)):
            return f"{key} is not a list of component properties"
        if spec is not None and (len(slots) != len(spec[key]) or not all(map(_same, slots, spec[key]))):
            return f"{key} do not match the callback's"
    outputs = body.get("outputs", [])
    declared = _declared_outputs(output)
    if not (spec or {}).get("no_output"):
        given = outputs if output.startswith("..") else [outputs]
        if not isinstance(given, list) or len(given) != len(declared) or not all(map(_same, given, declared)):
            return "outputs do not match the output"
    changed = body.get("changedPropIds", [])
    if not isinstance(changed, list) or not all(isinstance(c, str) for c in changed):
        return "changedPropIds is not a list of text"
    return None
