"""Serve the app's Flask server on a free loopback port in a background thread,
so that the headless browser can load the report route from inside the process
(CLI, scheduler, the page's PDF button) whatever JINJIAN_HOST says."""
from __future__ import annotations

import logging
import threading
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from store import lifecycle

logger = logging.getLogger(__name__)

_servers: dict[int, "LocalServer"] = {}
_lock = threading.Lock()


class _QuietHandler(WSGIRequestHandler):
    """No access log line per asset request (the browser loads dozens per PDF)."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


class LocalServer:
    """A threaded WSGI server for ``app`` on 127.0.0.1:<free port>."""

    def __init__(self, app: Any) -> None:
        self._server: BaseWSGIServer = make_server("127.0.0.1", 0, app, threaded=True, request_handler=_QuietHandler)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="report-http", daemon=True)
        self._thread.start()
        logger.info("report renderer serves the app at %s", self.url)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


def local_url(app: Any) -> str:
    """The base URL of a loopback server for ``app`` (started once per app)."""
    with _lock:
        srv = _servers.get(id(app))
        if srv is None:
            srv = _servers[id(app)] = LocalServer(app)
            lifecycle.on_close(srv.stop)
        return srv.url


def stop_all() -> None:
    with _lock:
        servers = list(_servers.values())
        _servers.clear()
    for srv in servers:
        srv.stop()
