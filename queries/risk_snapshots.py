"""Risk snapshots (风险评分快照): every entity's risk score computed ahead for today.

An entity's score (``supervision.risk``) depends on sliding windows of its events and
tasks and on batches that failed anywhere, so it cannot be summed up ahead like a
rollup; computed live (``queries.risk_score.ENTITY_RISK``) it reads every row of the region:
about a second per million entities on 2 cores. A wall showing red and orange
entities for a whole province cannot wait for that.

So a background refresher scores every entity of the jurisdiction for today into
``risk_scores`` (one partition per snapshot) and counts them per grade at town,
county and city level into ``risk_grades``; a row in ``risk_snapshots`` marks the
snapshot done. Screens asking about a day read the newest done snapshot of that day
scored with the same weights and thresholds whose root covers the region
(:func:`usable`); its time is shown. Without one (another day, snapshots off) scores
are computed live as before.

The refresher (:class:`Refresher`) rebuilds when the day or the rules changed, and when
data was loaded, at most once per ``JINJIAN_RISK_SNAPSHOT_SECONDS``; late in the evening
it builds tomorrow's ahead, so there is one at midnight. Several processes share the
work through the ``building`` rows of ``risk_snapshots``. ``0`` turns snapshots off.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import threading
import time
from dataclasses import dataclass
from typing import Any

import pandas as pd

from store.rollups import LEVELS, SPILL, additive, counts_to_sums
from store.engine import Engine
from domain.errors import JinjianError
from store import lifecycle
from store.executor import run
from store.sql import execute
from store.risk_tables import SCORE_COLUMNS
from settings import _SPECS, parse_number
from supervision.risk import RiskRules

logger = logging.getLogger(__name__)

#: Snapshots kept (older partitions are dropped after a build).
KEEP = 2
#: A ``building`` row older than this no longer keeps other processes from building.
BUILD_LEASE_S = 1800


#: FROM items reading a snapshot (``%(sid)s``) within ``%(like)s``: scored entities, and
#: the counts per grade of one level's regions (``grades_from``).
SCORES_FROM = "(SELECT * FROM risk_scores WHERE snapshot_id = %(sid)s AND grid_code LIKE %(like)s)"
_GRADE_COLUMNS = {"grid_code", "grade", "linked", "n", "score_c"}


def grades_from(level: str) -> str:
    if level not in LEVELS:
        raise ValueError(f"no risk grade level {level!r}")
    return ("(SELECT grid_code, grade, linked, n, score_c FROM risk_grades WHERE snapshot_id = %(sid)s "
            f"AND level = '{level}' AND grid_code LIKE %(like)s)")


def rewrite_grades(expr: str) -> str | None:
    """A measure over scored entities (``countIf(grade = …)``, the summed score in
    hundredths, batch linkage) as the same sum over ``risk_grades``, or None."""
    out = expr.replace("sum(toInt64(round(score * 100)))", "sum(score_c)").replace("failed_batches > 0", "linked = 1")
    out = counts_to_sums(out, "n")
    return out if additive(out, _GRADE_COLUMNS) else None


def snapshot_seconds() -> float:
    """JINJIAN_RISK_SNAPSHOT_SECONDS (read per call)."""
    raw = os.environ.get("JINJIAN_RISK_SNAPSHOT_SECONDS", _SPECS["JINJIAN_RISK_SNAPSHOT_SECONDS"].default)
    return parse_number(raw, "JINJIAN_RISK_SNAPSHOT_SECONDS", 0, 86400)


def fingerprint(rules: RiskRules) -> str:
    """Identifies the weights and thresholds a snapshot was scored with."""
    return hashlib.sha1(json.dumps(rules.params(), sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Snapshot:
    id: int
    root: str
    as_of: dt.date
    rules: str
    data_version: int
    finished: dt.datetime

    def covers(self, region: str) -> bool:
        return region.startswith(self.root)


_LIST_CACHE: dict[str, tuple[float, list[Snapshot], dict[int, float]]] = {}


def _done(db: Engine, max_age: float = 1.0) -> tuple[list[Snapshot], dict[int, float]]:
    """Done snapshots, newest first, and the start times (epoch s) of builds under way
    (read at most once per ``max_age`` seconds per database)."""
    hit = _LIST_CACHE.get(db.identity)
    if hit and time.monotonic() - hit[0] < max_age:
        return hit[1], hit[2]
    df = run(db, "risk_snapshot_list", "SELECT snapshot_id, root, as_of, rules, data_version, state, started, "
             "finished FROM risk_snapshots ORDER BY snapshot_id DESC LIMIT 50")
    done = [Snapshot(int(r.snapshot_id), str(r.root), pd.Timestamp(r.as_of).date(), str(r.rules),
                     int(r.data_version), pd.Timestamp(r.finished).to_pydatetime())
            for r in df[df["state"] == "done"].itertuples(index=False)]
    finished = {s.id for s in done} | set(df.loc[df["state"] == "failed", "snapshot_id"].astype(int))
    building = {int(r.snapshot_id): pd.Timestamp(r.started).timestamp()
                for r in df[df["state"] == "building"].itertuples(index=False) if int(r.snapshot_id) not in finished}
    _LIST_CACHE[db.identity] = (time.monotonic(), done, building)
    return done, building


def clear_cache() -> None:
    _LIST_CACHE.clear()


def usable(db: Engine, region: str, as_of: dt.date, rules: RiskRules) -> Snapshot | None:
    """The snapshot screens asking about ``region`` on ``as_of`` should read: the newest
    done one for that day, scored with these rules, whose root covers the region; None
    (compute live) when there is none or snapshots are off. Its age is bounded by the
    refresher and shown by the screens."""
    if snapshot_seconds() <= 0:
        return None
    try:
        snaps, _ = _done(db)
    except JinjianError:  # tables not created yet
        return None
    want = fingerprint(rules)
    return next((s for s in snaps if s.as_of == as_of and s.rules == want and s.covers(region)), None)


def build(db: Engine, root: str, as_of: dt.date, rules: RiskRules) -> Snapshot:
    """Score every entity alive under ``root`` at the end of ``as_of`` into a new snapshot."""
    from store.versions import data_version
    from store.filters import Filter, RegionScope
    from queries.risk_score import ENTITY_RISK, risk_params

    version = data_version(db, max_age=0)
    sid = int(time.time() * 1000)
    started = dt.datetime.now().replace(microsecond=0)
    t0 = time.perf_counter()
    _mark(db, sid, root, as_of, rules, version, "building", started)
    try:
        cols = ", ".join(SCORE_COLUMNS)
        for part in _slices(db, root):  # one child region at a time: memory stays a slice's worth
            params = {**risk_params(Filter(region=part, scope=RegionScope(root)), as_of, rules), "sid": sid}
            execute(db, "risk_snapshot_scores", f"INSERT INTO risk_scores (snapshot_id, {cols}) "
                    f"SELECT %(sid)s, {cols} FROM {ENTITY_RISK} {SPILL}", params, bulk=True)
        for level, n in LEVELS.items():
            execute(db, "risk_snapshot_grades", f"""
                INSERT INTO risk_grades (snapshot_id, level, grid_code, grade, linked, n, score_c)
                SELECT %(sid)s, %(level)s, substring(grid_code, 1, {n}) AS g, grade, toUInt8(failed_batches > 0) AS l,
                       count(), sum(toInt64(round(score * 100)))
                FROM risk_scores WHERE snapshot_id = %(sid)s GROUP BY g, grade, l""", {"sid": sid, "level": level})
        entities = int(run(db, "risk_snapshot_count", "SELECT count() AS n FROM risk_scores WHERE snapshot_id = %(sid)s",
                           {"sid": sid})["n"].iloc[0])
    except Exception:
        _mark(db, sid, root, as_of, rules, version, "failed", started)
        _drop_partitions(db, [sid])
        raise
    seconds = time.perf_counter() - t0
    _mark(db, sid, root, as_of, rules, version, "done", started, entities, seconds)
    clear_cache()
    logger.info("risk snapshot %d for %s on %s: %d entities in %.1f s", sid, root or "CN", as_of, entities, seconds)
    prune(db)
    return Snapshot(sid, root, as_of, fingerprint(rules), version, dt.datetime.now())


def _slices(db: Engine, root: str) -> list[str]:
    """The regions a build scores one by one: the root's children (the root if it has none)."""
    from store.filters import RegionScope
    from queries.regions import region_node

    kids = region_node(db, root, RegionScope(root)).children["code"].astype(str).tolist()
    return kids or [root]


def _mark(db: Engine, sid: int, root: str, as_of: dt.date, rules: RiskRules, version: int, state: str,
          started: dt.datetime, entities: int = 0, seconds: float = 0.0) -> None:
    db.insert("risk_snapshots", pd.DataFrame({
        "snapshot_id": [sid], "root": [root], "as_of": [pd.Timestamp(as_of)], "rules": [fingerprint(rules)],
        "data_version": [version], "state": [state], "started": [pd.Timestamp(started)],
        "finished": [pd.Timestamp(dt.datetime.now().replace(microsecond=0))], "entities": [entities],
        "seconds": [seconds]}))


def _drop_partitions(db: Engine, ids: list[int]) -> None:
    for sid in ids:
        for table in ("risk_scores", "risk_grades"):
            execute(db, "risk_snapshot_drop", f"ALTER TABLE {table} DROP PARTITION %(sid)s", {"sid": sid})


def prune(db: Engine) -> list[int]:
    """Drop the scores of all but the newest :data:`KEEP` done snapshots (a screen may
    still be reading the one before the newest)."""
    parts = run(db, "risk_snapshot_partitions", "SELECT DISTINCT snapshot_id FROM risk_scores")
    done, building = _done(db, max_age=0)
    finishing = {sid for sid, started in building.items() if time.time() - started < BUILD_LEASE_S}
    keep = {s.id for s in done[:KEEP]} | finishing  # another process may be finishing one
    newest = max((s.id for s in done), default=0)
    old = [int(p) for p in parts["snapshot_id"] if int(p) not in keep and int(p) < newest]
    _drop_partitions(db, old)
    return old


def due(db: Engine, root: str, today: dt.date, rules: RiskRules, now: float | None = None) -> bool:
    """Whether a refresher should build now: no snapshot for today under these rules, or
    data loaded since the newest one and at least the interval passed since it started;
    and no other process building (unless its lease ran out)."""
    from store.versions import data_version

    now = time.time() if now is None else now
    snaps, building = _done(db, max_age=0)
    if any(now - started < BUILD_LEASE_S for started in building.values()):
        return False
    want = fingerprint(rules)
    mine = [s for s in snaps if s.root == root and s.as_of == today and s.rules == want]
    if not mine:
        return True
    newest = mine[0]
    return newest.data_version != data_version(db, max_age=0) and now - newest.id / 1000 >= snapshot_seconds()


#: From this time on, tomorrow's snapshot is built ahead, so screens have one at midnight.
PREBUILD_FROM = dt.time(23, 40)


def days_to_build(now: dt.datetime) -> list[dt.date]:
    """Today, and tomorrow late in the evening (scores as of the end of tomorrow from the
    data so far: what a build just after midnight would give)."""
    today = now.date()
    return [today] + ([today + dt.timedelta(days=1)] if now.time() >= PREBUILD_FROM else [])


class Refresher(threading.Thread):
    """Keeps today's snapshot of the jurisdiction current (checks every ``poll`` s)."""

    def __init__(self, poll: float = 10.0) -> None:
        super().__init__(name="risk-snapshots", daemon=True)
        self.poll = poll
        self.stopped = threading.Event()

    def run(self) -> None:
        from store.db import get_db
        from settings import Settings

        logger.info("risk snapshot refresher started")
        while not self.stopped.is_set():
            try:
                if snapshot_seconds() > 0:
                    db, root, rules = get_db(), Settings.from_env().root_region, RiskRules.from_env()
                    for day in days_to_build(dt.datetime.now()):
                        if due(db, root, day, rules):
                            build(db, root, day, rules)
            except Exception:  # noqa: BLE001 - keep the thread alive, say why
                logger.exception("risk snapshot refresh failed")
            self.stopped.wait(self.poll)

    def stop(self) -> None:
        self.stopped.set()


_refresher: Refresher | None = None
_lock = threading.Lock()


def start_refresher() -> Refresher | None:
    """Start the process's refresher once (None when JINJIAN_RISK_SNAPSHOT_SECONDS=0)."""
    global _refresher
    with _lock:
        if _refresher is not None and _refresher.is_alive():
            return _refresher
        try:
            if snapshot_seconds() <= 0:
                return None
        except Exception as exc:  # noqa: BLE001 - a bad setting is logged, the app still serves
            logger.error("risk snapshots not started: %s", exc)
            return None
        _refresher = Refresher()
        _refresher.start()
        lifecycle.register("risk snapshot refresher", _refresher.stop, _refresher)
        return _refresher


def install(server: Any) -> None:
    """Start the refresher on the first request the process serves."""
    started: list[bool] = []

    @server.before_request
    def _start_risk_snapshots() -> None:
        if not started:
            started.append(True)
            start_refresher()
