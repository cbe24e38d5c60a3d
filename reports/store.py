"""Report schedules and runs in the metadata store (SQLAlchemy; SQLite file by
default, any SQLAlchemy URL via JINJIAN_METADATA_URL).

``report_schedules``: period kind, region, time of day, enabled, origin
(``setting`` = from JINJIAN_REPORT_SCHEDULES, ``page`` = added on /reports).
``report_runs``: one row per generated (or failed) report. A scheduled run is
unique per (schedule, period key): two schedulers (or two app processes) cannot
file the same report twice — the second insert fails and is skipped.
"""
from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (Boolean, Column, DateTime, Integer, MetaData, String, Table, Text, UniqueConstraint,
                        func, insert, select, update)
from sqlalchemy.exc import IntegrityError

from store.metastore import open_store
from reports.config import ScheduleSpec

logger = logging.getLogger(__name__)

metadata = MetaData()
schedules = Table(
    "report_schedules", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False),
    Column("region", String(15), nullable=False),
    Column("time_of_day", String(5), nullable=False),
    Column("enabled", Boolean, nullable=False, default=True),
    Column("origin", String(16), nullable=False, default="page"),
    Column("created_at", DateTime, nullable=False),
    UniqueConstraint("kind", "region", "time_of_day", name="uq_report_schedule"),
)
runs = Table(
    "report_runs", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("schedule_id", Integer, nullable=True),
    Column("trigger", String(16), nullable=False),   # schedule / page / cli
    Column("kind", String(16), nullable=False),
    Column("region", String(15), nullable=False),
    Column("region_name", String(64), nullable=False, default=""),
    Column("period_key", String(16), nullable=False),
    Column("period_label", String(64), nullable=False, default=""),
    Column("status", String(8), nullable=False),      # running / ok / failed
    Column("pdf_path", Text, nullable=True),
    Column("xlsx_path", Text, nullable=True),
    Column("error", Text, nullable=True),
    Column("started_at", DateTime, nullable=False),
    Column("finished_at", DateTime, nullable=True),
    Column("seconds", String(16), nullable=True),
    UniqueConstraint("schedule_id", "period_key", name="uq_report_run_schedule_period"),
)


@dataclass(frozen=True)
class Schedule:
    id: int
    kind: str
    region: str
    time_of_day: str
    enabled: bool
    origin: str


class ReportStore:
    """Schedules and runs. Every method is one short transaction."""

    def __init__(self, url: str) -> None:
        self.engine = open_store(url, metadata, "报告归档库")

    # -- schedules
    def add_schedule(self, spec: ScheduleSpec, origin: str = "page", enabled: bool = True) -> int:
        """Add (or re-enable) a schedule; returns its id."""
        with self.engine.begin() as con:
            row = con.execute(select(schedules.c.id).where(
                schedules.c.kind == spec.kind, schedules.c.region == spec.region,
                schedules.c.time_of_day == spec.time_of_day)).first()
            if row:
                con.execute(update(schedules).where(schedules.c.id == row.id).values(enabled=enabled))
                return int(row.id)
            res = con.execute(insert(schedules).values(kind=spec.kind, region=spec.region,
                                                       time_of_day=spec.time_of_day, enabled=enabled,
                                                       origin=origin, created_at=dt.datetime.now()))
            return int(res.inserted_primary_key[0])

    def set_enabled(self, schedule_id: int, enabled: bool) -> None:
        with self.engine.begin() as con:
            con.execute(update(schedules).where(schedules.c.id == schedule_id).values(enabled=enabled))

    def sync_settings(self, specs: tuple[ScheduleSpec, ...]) -> None:
        """Schedules of JINJIAN_REPORT_SCHEDULES are enabled; setting-made ones no
        longer listed are disabled (page-made ones are left alone)."""
        keep = {self.add_schedule(s, origin="setting") for s in specs}
        with self.engine.begin() as con:
            con.execute(update(schedules).where(schedules.c.origin == "setting",
                                                schedules.c.id.notin_(keep or {-1})).values(enabled=False))

    def list_schedules(self, enabled_only: bool = False) -> list[Schedule]:
        q = select(schedules).order_by(schedules.c.id)
        if enabled_only:
            q = q.where(schedules.c.enabled.is_(True))
        with self.engine.connect() as con:
            return [Schedule(r.id, r.kind, r.region, r.time_of_day, bool(r.enabled), r.origin)
                    for r in con.execute(q)]

    # -- runs
    def start_run(self, kind: str, region: str, period_key: str, trigger: str,
                  schedule_id: int | None = None) -> int | None:
        """Record a run as running; None when this schedule already filed this period."""
        try:
            with self.engine.begin() as con:
                res = con.execute(insert(runs).values(
                    schedule_id=schedule_id, trigger=trigger, kind=kind, region=region, period_key=period_key,
                    status="running", started_at=dt.datetime.now()))
                return int(res.inserted_primary_key[0])
        except IntegrityError:
            return None

    def finish_run(self, run_id: int, status: str, *, pdf_path: str | None = None, xlsx_path: str | None = None,
                   error: str | None = None, region_name: str = "", period_label: str = "",
                   seconds: float | None = None) -> None:
        with self.engine.begin() as con:
            con.execute(update(runs).where(runs.c.id == run_id).values(
                status=status, pdf_path=pdf_path, xlsx_path=xlsx_path, error=error, region_name=region_name,
                period_label=period_label, finished_at=dt.datetime.now(),
                seconds=None if seconds is None else f"{seconds:.1f}"))

    def has_run(self, schedule_id: int, period_key: str) -> bool:
        with self.engine.connect() as con:
            return con.execute(select(func.count()).select_from(runs).where(
                runs.c.schedule_id == schedule_id, runs.c.period_key == period_key)).scalar_one() > 0

    def list_runs(self, limit: int = 200, scope: str = "") -> list[dict[str, Any]]:
        """The newest runs of regions within ``scope`` (a region code prefix)."""
        with self.engine.connect() as con:
            rows = con.execute(select(runs).where(runs.c.region.startswith(scope, autoescape=True))
                               .order_by(runs.c.id.desc()).limit(limit))
            return [dict(r._mapping) for r in rows]

    def get_run(self, run_id: int) -> dict[str, Any] | None:
        with self.engine.connect() as con:
            row = con.execute(select(runs).where(runs.c.id == run_id)).first()
            return dict(row._mapping) if row else None
