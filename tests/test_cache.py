"""The shared cache of screen queries (store/cache.py): what it caches, its key,
and that an answer cached for one region scope is never served to another."""
from __future__ import annotations

import datetime as dt
import os
import threading

import pandas as pd
import pytest
from cachelib import SimpleCache

from store import cache
from store.executor import run
from store.filters import RegionScope, default_scope, set_scope_provider
from settings import ConfigError
from tests.authkit import USERS, auth_on, dash_post, logged_in, wall_body  # noqa: F401 - fixture

END = "2026-11-20"
TOWN = "441900003"


class ScopeCheckingCache(SimpleCache):
    """A backend that remembers the viewer scope each entry was stored under and
    records every read that returns an entry stored under another scope."""

    def __init__(self) -> None:
        super().__init__(threshold=10_000)
        self.owner: dict[str, str] = {}
        self.crossed: list[tuple[str, str]] = []
        self.sets = 0
        self.timeouts: list[float | None] = []

    def set(self, key, value, timeout=None):  # noqa: ANN001
        self.owner[key] = default_scope().prefix
        self.sets += 1
        self.timeouts.append(timeout)
        return super().set(key, value, timeout)

    def get(self, key):  # noqa: ANN001
        value = super().get(key)
        if value is not None and self.owner.get(key) != default_scope().prefix:
            self.crossed.append((self.owner.get(key, "?"), default_scope().prefix))
        return value


@pytest.fixture
def backend():
    import store.filters as filters

    provider = filters._scope_provider  # the access layer's, when the app was created
    b = ScopeCheckingCache()
    cache.configure(b, 60)
    yield b
    cache.configure(None, 0)
    set_scope_provider(provider)


COUNT_SQL = "SELECT count() AS n FROM entities WHERE grid_code LIKE %(like)s"


def test_settings_defaults_and_errors() -> None:
    s = cache.CacheSettings.from_env({"JINJIAN_WALL_REFRESH_SECONDS": "7"})
    assert (s.seconds, s.url, s.view_seconds) == (7, "", 300)
    assert cache.CacheSettings.from_env({"JINJIAN_VIEW_CACHE_SECONDS": "0"}).view_seconds == 0
    with pytest.raises(ConfigError, match="JINJIAN_VIEW_CACHE_SECONDS"):
        cache.CacheSettings.from_env({"JINJIAN_VIEW_CACHE_SECONDS": "soon"})
    assert s.flask_config()["CACHE_TYPE"] == "SimpleCache"
    r = cache.CacheSettings.from_env({"JINJIAN_CACHE_SECONDS": "3", "JINJIAN_CACHE_URL": "redis://10.0.0.9:6379/1"})
    assert r.flask_config() == {"CACHE_TYPE": "RedisCache", "CACHE_REDIS_URL": "redis://10.0.0.9:6379/1",
                                "CACHE_DEFAULT_TIMEOUT": 3.0, "CACHE_KEY_PREFIX": "jinjian:"}
    with pytest.raises(ConfigError, match="JINJIAN_CACHE_URL"):
        cache.CacheSettings.from_env({"JINJIAN_CACHE_URL": "memcached://x"})
    with pytest.raises(ConfigError, match="JINJIAN_CACHE_SECONDS"):
        cache.CacheSettings.from_env({"JINJIAN_CACHE_SECONDS": "-1"})


def test_only_screen_aggregates_are_cacheable(backend) -> None:
    assert cache.cacheable("indicators_entities") and cache.cacheable("registration_flow")
    for name in ("entity_list_page", "entity_profile", "ingest_data_version", "registration_flow_x", "grid_workers"):
        assert not cache.cacheable(name), name
    cache.configure(None, 0)
    assert not cache.cacheable("indicators_entities")


def test_hit_miss_copy_and_version(demo_db, backend, monkeypatch) -> None:
    import store.versions as versions

    params = {"like": "4419%"}
    a = run(demo_db, "indicators_entities", COUNT_SQL, params)
    b = run(demo_db, "indicators_entities", COUNT_SQL, params)
    assert cache.stats() == {"hits": 1, "misses": 1}
    assert a.equals(b)
    b.loc[0, "n"] = -1  # a caller changing its frame does not change the cached one
    assert int(run(demo_db, "indicators_entities", COUNT_SQL, params)["n"].iloc[0]) == int(a["n"].iloc[0])
    run(demo_db, "entity_list_count", COUNT_SQL, params)  # not cacheable: runs, stores nothing
    assert backend.sets == 1
    monkeypatch.setattr(versions, "data_version_or_zero", lambda db: 123)  # a new batch was loaded
    run(demo_db, "indicators_entities", COUNT_SQL, params)
    assert backend.sets == 2 and cache.stats()["misses"] == 2


def test_same_sql_under_two_scopes_is_two_entries(demo_db, backend) -> None:
    params = {"like": f"{TOWN}%"}
    set_scope_provider(lambda: RegionScope("4419"))
    city_view = run(demo_db, "indicators_entities", COUNT_SQL, params)
    set_scope_provider(lambda: RegionScope(TOWN))
    town_view = run(demo_db, "indicators_entities", COUNT_SQL, params)
    assert cache.stats() == {"hits": 0, "misses": 2} and backend.sets == 2
    assert city_view.equals(town_view)
    run(demo_db, "indicators_entities", COUNT_SQL, params)
    assert cache.stats()["hits"] == 1 and backend.crossed == []


def test_concurrent_misses_run_one_query(demo_db, backend, monkeypatch) -> None:
    import store.sql as sqlmod

    calls = []
    real = sqlmod.run_text

    def counting(db, name, text):  # noqa: ANN001
        calls.append(name)
        return real(db, name, text)

    monkeypatch.setattr(sqlmod, "run_text", counting)
    barrier = threading.Barrier(8)
    out: list[pd.DataFrame] = []

    def screen() -> None:
        barrier.wait()
        out.append(run(demo_db, "indicators_entities", COUNT_SQL, {"like": "4419%"}))

    threads = [threading.Thread(target=screen) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(out) == 8 and calls == ["indicators_entities"]
    assert all(o.equals(out[0]) for o in out)


def test_a_broken_cache_does_not_break_screens(demo_db) -> None:
    class Down:
        def get(self, key):  # noqa: ANN001
            raise ConnectionError("redis down")

        def set(self, key, value, timeout=None):  # noqa: ANN001
            raise ConnectionError("redis down")

        def clear(self) -> None:
            pass

    cache.configure(Down(), 5)
    try:
        df = run(demo_db, "indicators_entities", COUNT_SQL, {"like": "4419%"})
        assert int(df["n"].iloc[0]) > 0
    finally:
        cache.configure(None, 0)


def test_http_users_of_two_scopes_never_share_entries(flask_server, auth_on, backend, demo_data) -> None:
    """A city leader and a town viewer ask for the same region, indicator and date
    through the API, alternately, twice each: every hit is the asker's own entry, and
    both answers equal a pandas count of the town's entities alive then."""
    city = logged_in(flask_server, "city_leader")
    town = logged_in(flask_server, "town_view")
    path = f"/api/v1/indicators/entity_stock/values?region={TOWN}&date={END}"
    answers = []
    for client in (city, town, city, town):
        resp = client.get(path)
        assert resp.status_code == 200, resp.get_data(as_text=True)[:300]
        answers.append(resp.get_json())
    assert backend.crossed == []
    assert cache.stats()["hits"] >= 2  # each user's second request was served from its own entry
    scopes = {backend.owner[k] for k in backend.owner}
    assert scopes == {"4419", TOWN}
    ent = demo_data.entities
    end = pd.Timestamp(END)
    town_ents = ent[ent["grid_code"].str.startswith(TOWN)]
    status_date = pd.to_datetime(town_ents["status_date"])
    alive = (pd.to_datetime(town_ents["reg_date"]) <= end) & (
        (town_ents["status"] == "active") | status_date.isna() | (status_date > end))
    values = [a["items"][0]["value"] for a in answers]
    assert values == [float(alive.sum())] * 4


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory):
    """A real redis-server on a free loopback port (installed by scripts/install_debian_deps.sh)."""
    import shutil
    import subprocess
    import time

    import redis

    from tests.chserver import free_port

    binary = shutil.which("redis-server")
    if binary is None:
        if os.environ.get("JINJIAN_REQUIRE_SERVER") == "1":
            pytest.fail("redis-server is not installed (scripts/install_debian_deps.sh installs it)")
        pytest.skip("redis-server is not installed")
    port = free_port()
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--dir", str(tmp_path_factory.mktemp("redis"))], stdout=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 10
    while True:
        try:
            redis.Redis.from_url(url).ping()
            break
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                proc.kill()
                raise
            time.sleep(0.05)
    yield url
    proc.terminate()
    proc.wait(10)


def test_workers_share_one_redis_cache(demo_db, redis_url) -> None:
    """Two Flask servers (two workers) with JINJIAN_CACHE_URL pointing at one Redis:
    the second finds the first one's answer; a different scope still misses."""
    import flask

    settings = cache.CacheSettings.from_env({"JINJIAN_CACHE_SECONDS": "30", "JINJIAN_CACHE_URL": redis_url})
    import store.filters as filters

    provider = filters._scope_provider
    params = {"like": "4419%"}
    try:
        cache.install(flask.Flask("worker1"), settings)
        cache.clear()
        first = run(demo_db, "indicators_entities", COUNT_SQL, params)
        assert cache.stats() == {"hits": 0, "misses": 1}
        cache.install(flask.Flask("worker2"), settings)  # a new client, as a second worker process has
        assert run(demo_db, "indicators_entities", COUNT_SQL, params).equals(first)
        assert cache.stats() == {"hits": 1, "misses": 0}
        set_scope_provider(lambda: RegionScope("4419"))
        run(demo_db, "indicators_entities", COUNT_SQL, params)
        assert cache.stats() == {"hits": 1, "misses": 1}
    finally:
        set_scope_provider(provider)
        cache.configure(None, 0)


def test_shared_views_are_per_scope_and_data_version(demo_db, backend, monkeypatch) -> None:
    """A screen's outputs are computed once per view, viewer scope and data version."""
    import store.versions as versions

    calls: list[str] = []

    def view(tag: str) -> list:
        calls.append(tag)
        return [{"props": {"children": tag}}, 1.5]

    set_scope_provider(lambda: RegionScope("4419"))
    first = cache.shared_view(demo_db, "wall_refresh", ("4419", "zh"), lambda: view("a"))
    assert cache.shared_view(demo_db, "wall_refresh", ("4419", "zh"), lambda: view("b")) == first
    assert calls == ["a"]
    cache.shared_view(demo_db, "wall_refresh", ("4419", "en"), lambda: view("c"))  # other inputs
    set_scope_provider(lambda: RegionScope(TOWN))
    cache.shared_view(demo_db, "wall_refresh", ("4419", "zh"), lambda: view("d"))  # other viewer scope
    monkeypatch.setattr(versions, "data_version_or_zero", lambda db: 99)
    cache.shared_view(demo_db, "wall_refresh", ("4419", "zh"), lambda: view("e"))  # a batch was loaded
    assert calls == ["a", "c", "d", "e"] and backend.crossed == []
    assert set(backend.timeouts) == {60}  # the fixture's: views live as long as queries unless told
    cache.configure(backend, 60, view_seconds=300)
    cache.shared_view(demo_db, "wall_refresh", ("4419", "fr"), lambda: view("x"))
    assert backend.timeouts[-1] == 300
    cache.configure(backend, 60, view_seconds=0)  # views not shared: computed every time
    cache.shared_view(demo_db, "wall_refresh", ("4419", "fr"), lambda: view("y"))
    assert calls[-1] == "y"
    cache.configure(None, 0)
    cache.shared_view(demo_db, "wall_refresh", ("4419", "zh"), lambda: view("f"))  # cache off: always computed
    cache.shared_view(demo_db, "wall_refresh", ("4419", "zh"), lambda: view("g"))
    assert calls[-2:] == ["f", "g"]


def test_wall_screens_of_two_scopes_never_share_views(flask_server, auth_on, backend, demo_data) -> None:
    """The wall refresh of the same town for a city leader and a town viewer, alternately:
    each second request is served from the asker's own entries, never another scope's, and
    the stock tile shows the pandas count of the town's living entities."""
    city = logged_in(flask_server, "city_leader")
    town = logged_in(flask_server, "town_view")
    shown = []
    for client in (city, town, city, town):
        resp = dash_post(client, wall_body(client, TOWN))
        assert resp.status_code == 200, resp.get_data(as_text=True)[:300]
        shown.append(_data_value(resp.get_json()["response"]["wall-kpi-stock"], "wall-kpi-stock-value"))
    assert backend.crossed == [] and cache.stats()["hits"] >= 2
    assert {backend.owner[k] for k in backend.owner} == {"4419", TOWN}
    ent = demo_data.entities
    town_ents = ent[ent["grid_code"].str.startswith(TOWN)]
    end = pd.Timestamp(dt.date.today())
    status_date = pd.to_datetime(town_ents["status_date"])
    alive = (pd.to_datetime(town_ents["reg_date"]) <= end) & (
        (town_ents["status"] == "active") | status_date.isna() | (status_date > end))
    assert shown == [f"{int(alive.sum()):,}"] * 4


def _data_value(node, element_id: str) -> str | None:
    """The data-value of the element ``element_id`` inside a callback response's JSON."""
    if isinstance(node, dict):
        props = node.get("props", {})
        if isinstance(props, dict) and props.get("id") == element_id:
            return props.get("data-value")
        for value in node.values():
            found = _data_value(value, element_id)
            if found is not None:
                return found
    elif isinstance(node, list):
        for value in node:
            found = _data_value(value, element_id)
            if found is not None:
                return found
    return None


def test_fractional_lifetimes_give_no_warning_per_entry():
    """JINJIAN_CACHE_SECONDS=2.5 is a valid setting; cachelib warns on every float timeout,
    which drowned an operator's log in identical lines (issue 30): whole seconds are passed."""
    import warnings

    cache.configure(SimpleCache(), 2.5)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert cache.cached("fractional-key", lambda: 41) == 41
            assert cache.cached("fractional-key", lambda: 42) == 41
    finally:
        cache.configure(None, 0)
