"""Open API (JSON) on the Dash app's Flask server: ``register_api(app.server)``.

Version 1 lives under ``/api/v1`` (:mod:`api.v1`), described by the OpenAPI 3.0
document at ``/api/v1/openapi.json`` (:mod:`api.openapi`); docs/api.md explains it.
"""
from __future__ import annotations

import logging

import flask

logger = logging.getLogger(__name__)

__all__ = ["register_api"]


def register_api(server: flask.Flask) -> None:
    """Mount every API version on ``server`` (idempotent per server)."""
    from werkzeug.exceptions import MethodNotAllowed, NotFound

    import api.ingest  # noqa: F401 - adds the ingestion routes to the blueprint
    import api.random  # noqa: F401 - adds 双随机抽查
    import api.tasks  # noqa: F401 - adds the efficiency route to the blueprint
    import api.work  # noqa: F401 - adds the grid workbench's routes
    from api.v1 import bp, on_routing_error

    if bp.name in server.blueprints:
        return
    server.register_blueprint(bp)
    from api.serving import install as install_healthz

    install_healthz(server)  # /healthz for load balancers
    server.register_error_handler(MethodNotAllowed, on_routing_error)
    server.register_error_handler(NotFound, on_routing_error)  # the API's JSON, or a Chinese page
    logger.debug("registered API blueprint %s at %s", bp.name, bp.url_prefix)
