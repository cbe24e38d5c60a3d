"""The last line of defence for Dash callbacks (docs/security.md, "Bad input"): an input
a callback did not expect — a wrong JSON type, an impossible date, an unknown choice —
must never become a 500 with a traceback in the log.

``on_callback_error`` is the app's ``on_error``: a refusal (:class:`ScopeViolation`,
:class:`PermissionDenied`) goes on to the gate, which answers 403 with one audit entry;
anything else is logged as one line (the callback, the exception type and message — no
traceback) and the callback answers "no change" (204), so the page keeps what it shows.
Callbacks still validate what they can and show their own Chinese messages; this catches
what they did not foresee.
"""
from __future__ import annotations

import logging

from dash import ctx
from dash.exceptions import PreventUpdate

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
