"""The process's ingestion services: the ingestor over the app's database, the
token store, and the background threads (inbox watcher, live simulator)."""
from __future__ import annotations

import logging
from typing import Any, Callable

from etl.ingest.batch import Ingestor
from etl.ingest.config import IngestSettings
from etl.ingest.tokens import TokenStore
from settings import ConfigError
from store import lifecycle

logger = logging.getLogger(__name__)


def ingestor() -> Ingestor:
    """An ingestor over the app's current database (:func:`store.db.get_db`)."""
    from store.db import get_db

    return Ingestor(get_db(), IngestSettings.from_env())


def token_store() -> TokenStore:
    from store.metastore import metadata_url

    return TokenStore(metadata_url())


_started: list[bool] = []


def start_background() -> None:
    """In the serving process: finish interrupted batches, then watch the inbox and
    run the simulator as the settings say (each in a daemon thread)."""
    import threading

    if _started:
        return
    _started.append(True)
    try:
        cfg = IngestSettings.from_env()
    except ConfigError as exc:  # checked at start (app.check_all_settings); an app made otherwise still serves
        logger.error("background ingestion not started: %s", exc)
        return
    if not (cfg.inbox or cfg.simulator):
        return

    stop = threading.Event()  # set first thing at the process's end (store/lifecycle.py)

    def start(name: str, target: Callable[..., None], *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True, name=name)
        thread.start()
        lifecycle.register(name, stop.set, thread)  # a batch being loaded finishes before the close

    def run() -> None:
        from etl.ingest.inbox import Inbox
        from etl.ingest.simulator import Simulator
        from settings import Settings

        ing = ingestor()
        try:
            ing.recover()
        except Exception:  # noqa: BLE001 - logged; the app keeps serving
            logger.exception("recovering interrupted ingestion batches failed")
        if stop.is_set():
            return
        if cfg.inbox:
            start("jinjian-inbox", Inbox(ing).watch, stop)
        if cfg.simulator:
            start("jinjian-simulator", Simulator(ing, Settings.from_env().root_region, cfg.simulator_rate).run, stop)

    start("jinjian-ingest-start", run)


def install(server) -> None:  # noqa: ANN001 - a Flask app
    """Start the background work on the first request (never in the reloader's watcher)."""
    if getattr(server, "_jinjian_ingest", False):
        return
    server._jinjian_ingest = True
    server.before_request(lambda: start_background() if not _started else None)
