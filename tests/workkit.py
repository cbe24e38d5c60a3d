"""Shared set-up of the grid workbench tests (tests/test_workbench*.py): a database of its own
per engine (actions mutate tasks), the work accounts of one village of 东城街道, a fresh
registration pushed into the worker's grid (a task from push to close), and the frames
of the database read back for the pandas oracles."""
from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pandas as pd
import pytest

from etl.demo import DemoData
from store.executor import run
from tests.authkit import PASSWORD
from tests.ingestkit import IngestEnv, load_demo, to_csv

TOWN = "441900003"
KINDS = ("chdb", "server")


@dataclasses.dataclass
class WorkEnv:
    kind: str
    ing: IngestEnv
    village: str
    grids: list[str]          # the grid worker's two grids
    store: Any                # auth.store.AuthStore
    server: Any               # the Flask app

    @property
    def db(self) -> Any:
        return self.ing.db

    def push_registration(self) -> str:
        """A new entity registered in the worker's first grid: its 新设登记核查 task (pending)."""
        rows = self.ing.registration(1, grid=self.grids[0], when=dt.datetime.now() - dt.timedelta(minutes=30))
        res = self.ing.load("registration", to_csv(rows), f"reg-{self.ing.next_id('R')}.csv")
        assert res.rows_loaded == 1, res.summary()
        code = rows[0]["统一社会信用代码"]
        task = run(self.db, "work_kit_task", "SELECT task_id FROM task_events WHERE credit_code = %(c)s "
                   "AND from_status = 'none'", {"c": code})
        assert len(task) == 1
        return str(task["task_id"].iloc[0])

    def steps(self, task_id: str) -> pd.DataFrame:
        return run(self.db, "work_kit_steps", """
            SELECT toString(from_status) AS from_status, toString(status) AS status, actor,
                   toString(actor_kind) AS actor_kind, event_time, note FROM task_events
            WHERE task_id = %(t)s ORDER BY event_time, status""", {"t": task_id})

    def frames(self) -> DemoData:
        """The database's tables read back as the oracle's input (tests/oracle.py)."""
        def table(name: str) -> pd.DataFrame:
            return run(self.db, f"work_kit_{name}", f"SELECT * FROM {name}")
        return DemoData(table("regions"), table("grid_workers"), table("departments"), table("entities"),
                        table("events"), table("tasks"), table("task_events"))


def make_work_env(request, demo_data, tmp_path_factory, flask_server, monkeypatch, tmp_path) -> WorkEnv:
    """Accounts (password ``PASSWORD``): gw (网格员, two grids), gw2 (网格员 of a third grid of the
    same village), gw_other (网格员 of another
    village), disp (社区调度员), town (镇街处置人员), viewer (只读用户 of the town)."""
    from auth.audit import _store
    from auth.store import AuthStore
    from store import db as dbmod

    ing = _ENVS.get(request.param)
    if ing is None:
        from tests.conftest import make_test_engine

        db = make_test_engine(request.param, request, "test_work")
        other = load_demo(db, demo_data)
        ing = _ENVS[request.param] = IngestEnv(request.param, db, tmp_path_factory.mktemp(f"work-{request.param}"),
                                               other)
    grids = run(ing.db, "work_kit_grids", "SELECT code FROM regions WHERE level = 6 AND code LIKE %(p)s ORDER BY code",
                {"p": TOWN + "%"})["code"].tolist()
    village = grids[0][:12]
    mine = [g for g in grids if g.startswith(village)][:2]
    theirs = [g for g in grids if g.startswith(village) and g not in mine][:1]  # gw2: the village's other worker
    assert theirs, "the test village needs a third grid"
    other_village = next(g[:12] for g in grids if not g.startswith(village))
    url = f"sqlite:///{tmp_path / 'meta.sqlite'}"
    monkeypatch.setenv("JINJIAN_AUTH", "1")
    monkeypatch.setenv("JINJIAN_METADATA_URL", url)
    monkeypatch.setenv("JINJIAN_ROOT_REGION", "4419")
    monkeypatch.setenv("JINJIAN_INGEST_DIR", str(ing.ingest_dir))
    _store.cache_clear()
    store = AuthStore(url)
    for name, role, scope, g in (("gw", "grid_worker", village, mine), ("gw2", "grid_worker", village, theirs),
                                 ("gw_other", "grid_worker", other_village, []),
                                 ("disp", "village_dispatcher", village, []), ("town", "town_handler", TOWN, []),
                                 ("viewer", "viewer", TOWN, [])):
        store.add_user(name, PASSWORD, role, scope, display_name=name)
        if g:
            store.set_grids(name, g)
    dbmod.set_db(ing.db)
    return WorkEnv(request.param, ing, village, mine, store, flask_server)


_ENVS: dict[str, IngestEnv] = {}


@pytest.fixture(params=KINDS)
def work_env(request, demo_data, tmp_path_factory, flask_server, monkeypatch, tmp_path):
    from auth.audit import _store
    from store import db as dbmod

    env = make_work_env(request, demo_data, tmp_path_factory, flask_server, monkeypatch, tmp_path)
    yield env
    dbmod.set_db(None)
    _store.cache_clear()
