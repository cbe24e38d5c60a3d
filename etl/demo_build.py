"""Generate the demo data set (:mod:`etl.demo`, :mod:`etl.demo_events`) and load it."""
from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from tqdm import tqdm

from domain import boundaries
from etl.demo import DemoConfig, DemoData, make_departments, make_entities, make_grids, make_inspectors, make_workers
from etl.demo_events import clip_to, make_events
from etl.demo_joint import make_joint
from etl.demo_random import make_random
from etl.demo_tasks import make_tasks
from etl.load import load_regions, load_tables, record_load
from domain.regions import load_region_table, validate_code
from store.engine import Engine

logger = logging.getLogger(__name__)


def build(cfg: DemoConfig, bar: tqdm | None = None) -> DemoData:
    """All demo tables for ``cfg`` (pure: same config → equal frames)."""
    if cfg.root:
        validate_code(cfg.root)
    rng = np.random.default_rng(cfg.seed)
    step = bar.update if bar else (lambda n=1: None)
    tree = load_region_table(cfg.root)
    if tree.empty:
        raise ValueError(f"region {cfg.root!r} is not in the region tree")
    if not (tree["level"] == 5).any():
        raise ValueError(f"region {cfg.root!r} has no villages to place entities in")
    grids = make_grids(rng, tree[tree["level"] == 5])
    workers = make_workers(rng, grids)
    city = load_region_table(cfg.root[:4]) if len(cfg.root) > 4 else tree.iloc[:0]
    depts = make_departments(pd.concat([city[city["level"] == 2], tree], ignore_index=True))
    step()
    entities = make_entities(rng, cfg, tree, grids)
    step()
    entities = boundaries.with_village_points(rng, entities)
    step()
    start, end = np.datetime64(cfg.start_date), np.datetime64(cfg.end_date)
    events = make_events(rng, entities, start, end)
    if cfg.end_time is not None:  # generated today: the day stops now
        entities, events = clip_to(entities, events, cfg.until)
    step()
    tasks, task_events = make_tasks(rng, events, cfg.until, workers)
    step()
    inspectors = make_inspectors(cfg.seed, depts)
    plans, items = make_random(cfg.seed, cfg.until, entities, depts, inspectors, events)
    cases, actions = make_joint(cfg.seed, cfg.until, entities, events, depts)
    return DemoData(grids, workers, depts, entities, events, tasks, task_events, inspectors, plans, items, cases, actions)


def build_and_load(db: Engine, cfg: DemoConfig) -> dict[str, int]:
    """Build the demo data and load it with the region tree; returns rows per table."""
    with tqdm(total=7, desc="demo", unit="step", disable=None) as bar:
        load_regions(db)
        bar.update()
        data = build(cfg, bar)
        counts = load_tables(db, data.tables())
        bar.update()
    record_load(db, "demo", cfg.root, cfg.seed, len(data.entities),
                note=f"{cfg.start_date}..{cfg.end_date} entities={cfg.entities}")
    return counts
