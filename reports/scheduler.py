"""Scheduled reports: each enabled schedule files the last complete period of its
kind once, after its time of day (local time).

``run_due`` runs what is due once (``python -m reports run-due`` from cron); the
web app runs it every minute in a daemon thread (:func:`start_scheduler`), unless
JINJIAN_REPORT_SCHEDULER=0. A run is claimed in the store before it starts (unique
per schedule and period), so overlapping schedulers never file a report twice;
a failed run is recorded with its error and not retried automatically (generate it
again from /reports).
"""
from __future__ import annotations

import datetime as dt
import logging
import threading
from typing import Any

from reports.config import ReportSettings
from queries.report_periods import last_complete
from reports.store import ReportStore, Schedule
from store import lifecycle

logger = logging.getLogger(__name__)

INTERVAL_S = 60.0


def due(store: ReportStore, now: dt.datetime) -> list[tuple[Schedule, str]]:
    """(schedule, date in its last complete period) for every schedule due at ``now``."""
    out = []
    for s in store.list_schedules(enabled_only=True):
        if now.strftime("%H:%M") < s.time_of_day:
            continue
        period = last_complete(s.kind, now.date())
        if not store.has_run(s.id, period.key):
            out.append((s, period.start.isoformat()))
    return out


def run_due(flask_app: Any, now: dt.datetime | None = None, store: ReportStore | None = None,
            renderer: Any = None) -> list[dict[str, Any]]:
    """Run every due schedule once; returns the runs made (ok or failed)."""
    from reports.build import generate, shown_error

    settings = ReportSettings.from_env()
    store = store or ReportStore(settings.metadata_url)
    store.sync_settings(settings.schedules)
    now = now or dt.datetime.now()
    done = []
    for schedule, day in due(store, now):
        try:
            run = generate(flask_app, schedule.region, schedule.kind, day, "schedule", schedule_id=schedule.id,
                           store=store, renderer=renderer, today=now.date())
        except Exception as exc:  # noqa: BLE001 - a bad schedule must not stop the others
            detail = getattr(exc, "detail", None) or f"{type(exc).__name__}: {exc}"
            logger.error("schedule %d (%s@%s) failed: %s", schedule.id, schedule.kind, schedule.region, detail)
            period = last_complete(schedule.kind, now.date())
            run_id = store.start_run(schedule.kind, schedule.region, period.key, "schedule", schedule.id)
            if run_id is not None:
                store.finish_run(run_id, "failed", error=shown_error(exc)[:2000], period_label=period.label)
                run = store.get_run(run_id)
            else:
                run = None
        if run is not None:
            done.append(run)
    return done


class Scheduler(threading.Thread):
    """Wakes every minute and runs due schedules."""

    def __init__(self, flask_app: Any, interval: float = INTERVAL_S) -> None:
        super().__init__(name="report-scheduler", daemon=True)
        self.flask_app = flask_app
        self.interval = interval
        self.stopped = threading.Event()

    def run(self) -> None:
        logger.info("report scheduler started (every %.0f s)", self.interval)
        while not self.stopped.is_set():
            try:
                if ReportSettings.from_env().scheduler:  # re-read: 0 pauses a running scheduler
                    run_due(self.flask_app)
            except Exception:  # noqa: BLE001 - keep the thread alive, say why
                logger.exception("report scheduler pass failed")
            self.stopped.wait(self.interval)

    def stop(self) -> None:
        self.stopped.set()


_scheduler: Scheduler | None = None
_lock = threading.Lock()


def start_scheduler(flask_app: Any) -> Scheduler | None:
    """Start the process's scheduler once (None when JINJIAN_REPORT_SCHEDULER=0)."""
    global _scheduler
    with _lock:
        if _scheduler is not None and _scheduler.is_alive():
            return _scheduler
        try:
            enabled = ReportSettings.from_env().scheduler
        except Exception as exc:  # noqa: BLE001 - a bad setting is logged, the app still serves
            logger.error("report scheduler not started: %s", exc)
            return None
        if not enabled:
            return None
        _scheduler = Scheduler(flask_app)
        _scheduler.start()
        lifecycle.register("report scheduler", _scheduler.stop, _scheduler)  # a report being built finishes
        return _scheduler
