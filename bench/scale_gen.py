"""Chunked national-scale demo data for ``bench/scale.py`` (issue 10).

``etl.demo_build.build`` makes every table of a data set in one pandas pass, which
does not fit 10 M entities in memory. Here the region-bound tables (grids, grid
workers, departments) are made once and the entity-bound ones (entities, events,
tasks, task events) chunk by chunk, each chunk with its own random stream
(``default_rng([seed, chunk])``; chunk 0 = ``build(DemoConfig(seed=seed))``'s
stream), using the same generator functions as ``etl demo``. Across chunks:

- credit codes stay distinct (``domain.uscc.generate`` is unique within one call
  only): a sorted array of 64-bit hashes of every code so far; clashes are redrawn
  with ``uscc.generate`` for the same division and entity type;
- event ids are offset by the events of earlier chunks, so task ids
  (``T`` + 10-digit source event id) are distinct too;
- sampling batch numbers are offset so that one batch number is one batch.

Each chunk is inserted through the app's own ``Engine.insert`` and dropped before
the next one, so memory stays about one chunk's worth.
"""
from __future__ import annotations

import datetime as dt
import json
import resource
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd

from domain import boundaries, uscc
from etl.demo import DemoConfig, make_departments, make_entities, make_grids, make_workers
from etl.demo_events import make_events
from etl.demo_tasks import make_tasks
from domain.regions import load_region_table
from store.engine import Engine

LOG_KIND = "scale"
ENTITY_TABLES = ("entities", "events", "tasks", "task_events")


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, MB (Linux reports KB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@dataclass
class GenStats:
    """Rows and seconds per table (generation and insert kept apart)."""

    rows: dict[str, int] = field(default_factory=dict)
    insert_s: dict[str, float] = field(default_factory=dict)
    generate_s: float = 0.0
    total_s: float = 0.0
    chunks: int = 0
    redrawn_codes: int = 0
    peak_rss_mb: float = 0.0

    def add(self, table: str, rows: int, secs: float) -> None:
        self.rows[table] = self.rows.get(table, 0) + rows
        self.insert_s[table] = self.insert_s.get(table, 0.0) + secs

    def to_json(self) -> str:
        return json.dumps(self.__dict__, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "GenStats":
        return cls(**json.loads(text))


def _hashes(codes: np.ndarray) -> np.ndarray:
    return pd.util.hash_array(np.asarray(codes, dtype=object)).astype(np.uint64)


def _in_sorted(sorted_arr: np.ndarray, values: np.ndarray) -> np.ndarray:
    if len(sorted_arr) == 0:
        return np.zeros(len(values), dtype=bool)
    pos = np.searchsorted(sorted_arr, values)
    pos[pos == len(sorted_arr)] = 0
    return sorted_arr[pos] == values


def distinct_codes(rng: np.random.Generator, ent: pd.DataFrame, seen: np.ndarray) -> tuple[np.ndarray, int]:
    """Redraw the credit codes of ``ent`` (in place) that earlier chunks already used;
    returns the new sorted hash set and how many codes were redrawn."""
    codes = ent["credit_code"].to_numpy(dtype=object).copy()
    h = _hashes(codes)
    clash = np.flatnonzero(_in_sorted(seen, h))
    redrawn = 0
    while clash.size:
        redrawn += clash.size
        division = [c[2:8] for c in codes[clash]]
        etype = ent["entity_type"].to_numpy(dtype=object)[clash].tolist()
        codes[clash] = uscc.generate(rng, division, etype)
        h[clash] = _hashes(codes[clash])
        others = np.sort(np.delete(h, clash))
        bad = _in_sorted(seen, h[clash]) | _in_sorted(others, h[clash])
        bad |= pd.Series(h[clash]).duplicated().to_numpy()
        clash = clash[bad]
    ent["credit_code"] = codes
    return np.sort(np.concatenate([seen, h])), redrawn


def _offset_batches(events: pd.DataFrame, offset: int) -> int:
    """Shift sampling batch numbers by ``offset``; returns the next free offset."""
    m = events["batch_no"].to_numpy(dtype=object) != ""
    if not m.any():
        return offset
    nums = pd.Series(events.loc[m, "batch_no"]).str[2:].astype("int64") + offset
    events.loc[m, "batch_no"] = ("PC" + nums.astype(str).str.zfill(7)).to_numpy(dtype=object)
    return int(nums.max()) + 1


def generate_and_load(db: Engine, cfg: DemoConfig, chunk: int, activity: float = 1.0,
                      say: Callable[[str], None] = print) -> GenStats:
    """Generate ``cfg.entities`` entities in chunks of ``chunk`` and insert them
    (the schema and region tree must exist; tables should be empty); ``activity``
    multiplies the demo's event rates (``etl.demo_events.make_events``)."""
    stats = GenStats()
    t_all = time.perf_counter()
    t = time.perf_counter()
    rng = np.random.default_rng(cfg.seed)
    tree = load_region_table(cfg.root)
    grids = make_grids(rng, tree[tree["level"] == 5])
    workers = make_workers(rng, grids)
    city = load_region_table(cfg.root[:4]) if len(cfg.root) > 4 else tree.iloc[:0]
    depts = make_departments(pd.concat([city[city["level"] == 2], tree], ignore_index=True))
    stats.generate_s += time.perf_counter() - t
    for name, df in (("regions", grids), ("grid_workers", workers), ("departments", depts)):
        t = time.perf_counter()
        db.insert(name, df)
        stats.add(name, len(df), time.perf_counter() - t)
    start, end = np.datetime64(cfg.start_date), np.datetime64(cfg.end_date)
    seen = np.zeros(0, dtype=np.uint64)
    event_offset = 0
    batch_offset = 0
    n_chunks = -(-cfg.entities // chunk)
    for i in range(n_chunks):
        n = min(chunk, cfg.entities - i * chunk)
        t = time.perf_counter()
        if i:  # chunk 0 continues the stream that made the grids, as etl.demo_build.build does
            rng = np.random.default_rng([cfg.seed, i])
        c_cfg = DemoConfig(root=cfg.root, entities=n, days=cfg.days, seed=cfg.seed, end_date=cfg.end_date)
        ent = make_entities(rng, c_cfg, tree, grids)
        seen, redrawn = distinct_codes(rng, ent, seen)
        stats.redrawn_codes += redrawn
        ent = boundaries.with_village_points(rng, ent)
        ev = make_events(rng, ent, start, end, activity)
        ev["event_id"] = ev["event_id"].to_numpy(dtype="uint64") + np.uint64(event_offset)
        event_offset += len(ev)
        batch_offset = _offset_batches(ev, batch_offset)
        tasks, task_events = make_tasks(rng, ev, end, workers)
        gen_s = time.perf_counter() - t
        stats.generate_s += gen_s
        t_ins = time.perf_counter()
        for name, df in (("entities", ent), ("events", ev), ("tasks", tasks), ("task_events", task_events)):
            t = time.perf_counter()
            db.insert(name, df)
            stats.add(name, len(df), time.perf_counter() - t)
        stats.chunks += 1
        stats.peak_rss_mb = peak_rss_mb()
        say(f"  chunk {i + 1}/{n_chunks}: {n:,} entities, {len(ev):,} events, {len(tasks):,} tasks, "
            f"{len(task_events):,} task events; generated {gen_s:.0f} s, inserted "
            f"{time.perf_counter() - t_ins:.0f} s; peak RSS {stats.peak_rss_mb:,.0f} MB"
            + (f"; {redrawn} credit codes redrawn" if redrawn else ""))
        del ent, ev, tasks, task_events
    stats.total_s = time.perf_counter() - t_all
    stats.peak_rss_mb = peak_rss_mb()
    return stats


def config(root: str, entities: int, days: int, seed: int, end_date: dt.date) -> DemoConfig:
    return DemoConfig(root=root, entities=entities, days=days, seed=seed, end_date=end_date)
