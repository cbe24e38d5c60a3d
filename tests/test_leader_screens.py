"""What a leader reads, in real headless Chromium (issue 30 items 3 and 4, the browser half).

Every page a leader or supervisor reaches — the wall, the drill-down at province, city,
town, village and grid level, /risk, /tasks (each of its views), /reports, one report,
/quality, /indicators, an entity, /random and /joint — is walked at 1920×1080 and
3840×2160, signed in (JINJIAN_AUTH=1) as a province administrator and as a town
supervisor, over the fixed Dongguan demo data plus three ingestion batches of today (so
/quality lists batches and rejection reasons, and the wall a traceability warning). Once a
page has settled (no Dash callback in flight):

* its visible text (``document.body.innerText``, the text of its charts, the placeholders of
  empty input boxes) holds no
  setting name, file name or path, Python traceback, ``None`` / ``nan``, snake_case id or
  Latin word outside ``tests.screenkit.LATIN_OK``;
* no text element is truncated (``scrollWidth > clientWidth`` where its style clips:
  overflow hidden, ellipsis, nowrap) or cut by a box that hides its overflow, and every
  table has room for its header and a row;
* on the wall every visible element lies inside the viewport.

At 4K the wall's fonts, map legend and zoom buttons scale with the screen. A broken holiday
file or task rule is told in Chinese with who fixes it (请联系系统管理员), its detail in the
log only. English appears only when the user picks EN on the wall; that is not walked here.
``test_the_checks_catch_bad_screens`` plants each kind of fault in a live page and requires
every check to report it, so none of them can pass vacuously.

One app and one browser serve the whole module (about two and a half minutes).
``LEADER_SCREENS_SHOTS=/some/folder`` saves a screenshot of every page walked.
"""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import DEMO_END, make_test_engine
from tests.pagekit import wait
from tests.screenkit import CUT_JS, SETTLED_JS, TEXT_JS, WALL_SIZES_JS, language_faults

ADMIN, SUPERVISOR = "prov_admin", "town_sup"
PASSWORD = "Passw0rd-2026"
ROOT = "44"            # the deployment's jurisdiction: Guangdong (the demo data are Dongguan's)
CITY, TOWN = "4419", "441900003"
WEEK = "2026-11-18"    # a report week with data (as tests/test_reports.py)
VIEWPORTS = ((1920, 1080), (3840, 2160))
#: /tasks' other views (tabs), each walked by its link.
TASK_VIEWS = tuple((f"tasks {v}", f"/tasks?date={DEMO_END}&view={v}") for v in ("eff", "push", "random"))
#: A folder to save a screenshot of every page walked in (optional; for a person reading a failure).
SHOTS = os.environ.get("LEADER_SCREENS_SHOTS", "")
ROLES = {ADMIN: ("admin", ROOT, "省级系统管理员"), SUPERVISOR: ("supervisor", TOWN, "镇街监管人员")}

# ----------------------------------------------------------------------------- the app and the browser
def _demo_entity(db, town: str) -> str:
    """An active entity of ``town`` with events and tasks (a full entity page)."""
    from store.executor import run

    df = run(db, "leader_entity", """
        SELECT credit_code FROM entities
        WHERE status = 'active' AND grid_code LIKE %(p)s
          AND credit_code IN (SELECT credit_code FROM tasks) AND credit_code IN (SELECT credit_code FROM events)
        ORDER BY credit_code LIMIT 1""", {"p": town + "%"})
    return str(df["credit_code"].iloc[0])


def _child(db, parent: str) -> str:
    from store.executor import run

    df = run(db, "leader_child", """
        SELECT min(r.code) AS first FROM regions AS r WHERE r.parent = %(p)s
          AND r.code IN (SELECT substring(grid_code, 1, length(%(p)s) + 3) FROM entities)""", {"p": parent})
    return str(df["first"].iloc[0])


def _batches(db, demo_data, tmp: Path) -> None:
    """Batches as departments send them, received today: one clean, one with a rejected
    record, one of sampling results failing a product batch."""
    from tests.ingestkit import IngestEnv, to_csv, to_xlsx

    env = IngestEnv("chdb", db, tmp / "ingest", other_grid="")
    env.load("registration", to_csv(env.registration(6)), "东莞市登记_20261206.csv", unit="东莞市市场监督管理局", scope=CITY)
    rows = env.events("complaint", 4)
    rows[1]["统一社会信用代码"] = "不是信用代码"
    env.load("complaint", to_xlsx(rows), "complaints_2026-12-06.xlsx", unit="东莞市12345热线", scope=CITY)
    # a product batch failing its sampling today: the wall's traceability warning line
    fails = [env.event("sampling", batch_no="PC20261206A01", result="不合格", product="散装大米") for _ in range(3)]
    env.load("sampling", to_csv(fails), "sampling.csv", unit="东莞市质量检验中心", scope=CITY)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def site(request, demo_data, tmp_path_factory):
    """The app with JINJIAN_AUTH=1 (jurisdiction Guangdong) over its own copy of the demo
    data plus today's batches (ingestion writes: not the shared ``demo_db``), served once,
    and one browser; yields a :class:`Site`."""
    from dash.testing.application_runners import ThreadedRunner
    from dash.testing.composite import DashComposite

    from auth.audit import _store
    from auth.store import AuthStore
    from etl.ingest.lookups import clear_grid_cache
    from queries.regions import clear_region_cache
    from store import db as dbmod
    from tests.ingestkit import load_demo

    tmp = tmp_path_factory.mktemp("leader")
    mp = pytest.MonkeyPatch()
    url = f"sqlite:///{tmp / 'meta.sqlite'}"
    for key, value in {"JINJIAN_AUTH": "1", "JINJIAN_METADATA_URL": url, "JINJIAN_ROOT_REGION": ROOT,
                       "JINJIAN_REPORT_SCHEDULER": "0", "JINJIAN_REPORT_DIR": str(tmp / "archive"),
                       "JINJIAN_INGEST_DIR": str(tmp / "ingest")}.items():
        mp.setenv(key, value)
    db = make_test_engine("chdb", request, "test_leader")
    load_demo(db, demo_data)
    _batches(db, demo_data, tmp)
    dbmod.set_db(db)
    clear_region_cache()
    _store.cache_clear()
    store = AuthStore(url)
    for user, (role, scope, display) in ROLES.items():
        store.add_user(user, PASSWORD, role, scope, display_name=display)
    pages = {
        ADMIN: [("wall", "/"), ("province", "/region/root"), ("city", f"/region/{CITY}"),
                ("town", f"/region/{TOWN}"), ("village", f"/region/{_child(db, TOWN)}"),
                ("risk", "/risk"), ("tasks", "/tasks"), *TASK_VIEWS, ("reports", "/reports"),
                ("report", f"/report?region={CITY}&period=weekly&date={WEEK}"), ("quality", "/quality"),
                ("indicators", "/indicators"), ("entity", f"/entity/{_demo_entity(db, TOWN)}"),
                ("random", "/random"), ("joint", "/joint")],
        SUPERVISOR: [("wall", "/"), ("town", "/region/root"), ("village", f"/region/{_child(db, TOWN)}"),
                     ("grid", f"/region/{_child(db, _child(db, TOWN))}"),
                     ("risk", "/risk"), ("tasks", f"/tasks?date={DEMO_END}"), *TASK_VIEWS, ("reports", "/reports"),
                     ("report", f"/report?region={TOWN}&period=weekly&date={WEEK}"), ("quality", "/quality"),
                     ("indicators", "/indicators"), ("entity", f"/entity/{_demo_entity(db, TOWN)}"),
                     ("random", "/random"), ("joint", "/joint")],
    }
    from app import create_app

    try:
        with ThreadedRunner() as runner, DashComposite(
                server=runner, browser="Chrome", headless=True,
                options=request.config.hook.pytest_setup_options(),
                download_path=str(tmp / "download")) as duo:
            # a free port of its own: another test session on this machine may hold Dash's usual 58050
            duo.start_server(create_app(), navigate=False, port=_free_port())
            yield Site(duo, duo.server.url.rstrip("/"), pages)
    finally:
        dbmod.set_db(None)
        _store.cache_clear()
        clear_region_cache()
        clear_grid_cache()
        mp.undo()


class Site:
    def __init__(self, duo: Any, base: str, pages: dict[str, list[tuple[str, str]]]) -> None:
        self.duo, self.base, self.pages = duo, base, pages
        self.user: str | None = None
        self.size: tuple[int, int] | None = None

    @property
    def driver(self) -> Any:
        return self.duo.driver

    def js(self, script: str, *args: Any) -> Any:
        return self.driver.execute_script(script, *args)

    def sign_in(self, user: str) -> None:
        if self.user == user:
            return
        self.driver.delete_all_cookies()
        self.driver.get(self.base + "/login")
        wait(lambda: self.driver.find_elements("css selector", "#username"), what="the login form")
        self.driver.find_element("css selector", "#username").send_keys(user)
        self.driver.find_element("css selector", "#password").send_keys(PASSWORD)
        self.driver.find_element("css selector", "#login-submit").click()
        wait(lambda: self.driver.find_elements("css selector", "#wall-root"), what=f"the wall after {user} signs in")
        self.user = user

    def resize(self, w: int, h: int) -> None:
        if self.size == (w, h):
            return
        self.driver.set_window_size(w, h)
        self.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                                    {"width": w, "height": h, "deviceScaleFactor": 1, "mobile": False})
        wait(lambda: self.js("return [innerWidth, innerHeight]") == [w, h], what=f"a {w}×{h} viewport")
        self.size = (w, h)

    def settle(self, timeout: float = 45.0) -> None:
        """Until no callback is pending at three polls in a row (0.3 s apart)."""
        quiet, end = 0, time.time() + timeout
        while quiet < 3:
            assert time.time() < end, f"{self.driver.current_url} did not settle within {timeout} s"
            time.sleep(0.3)
            try:
                quiet = quiet + 1 if self.js(SETTLED_JS) == 0 else 0
            except Exception:  # noqa: BLE001 — a navigation in progress
                quiet = 0

    def open(self, path: str) -> None:
        self.driver.get(self.base + path)
        self.settle()
        if path == "/":  # the wall has drawn: tiles filled and the map's polygons there
            wait(lambda: self.js("return document.querySelector('#wall-kpi-stock-value').textContent.trim()")
                 not in ("", "—"), what="the wall's tiles")
            wait(lambda: self.js("return document.querySelectorAll('path.leaflet-interactive').length"),
                 what="the wall's map")
            self.settle()


# ----------------------------------------------------------------------------- the walk
def _faults(site: Site, page: str, path: str, where: str) -> list[str]:
    text = site.js(TEXT_JS)
    out = [f"{where} {page} ({path}): {what}: {ctx}" for what, ctx in dict.fromkeys(language_faults(text))]
    for f in site.js(CUT_JS, path == "/"):
        out.append(f"{where} {page} ({path}): {f['kind']}: {f['text']!r} ({f['el']}, {f['detail']})")
    return out


@pytest.mark.browser
@pytest.mark.parametrize("viewport", VIEWPORTS, ids=lambda v: f"{v[0]}x{v[1]}")
@pytest.mark.parametrize("user", [ADMIN, SUPERVISOR])
def test_every_page_speaks_chinese_and_nothing_is_cut_off(site, user, viewport):
    site.sign_in(user)
    site.resize(*viewport)
    where = f"[{viewport[0]}×{viewport[1]} {ROLES[user][0]} {user}]"
    found: list[str] = []
    for page, path in site.pages[user]:
        site.open(path)
        assert "/login" not in site.driver.current_url, f"{where} {page}: signed out"
        found += _faults(site, page, path, where)
        if SHOTS:  # to look at what the checks found
            site.driver.save_screenshot(str(Path(SHOTS) / f"{user}-{viewport[0]}-{page}.png"))
    assert not found, f"{len(found)} problems a leader would see:\n" + "\n".join(found)


#: Settings an operator gets wrong that pages read while running: (setting, bad value, what the log names).
BROKEN = (("JINJIAN_HOLIDAY_FILE", "/nonexistent/节假日安排.csv", "holiday file"),
          ("JINJIAN_TASK_OVERDUE_BUCKETS", "三到五天", "task rules"))
#: Pages that compute task indicators: each must say what is wrong and who fixes it.
TOLD_ON = ("/", "/tasks", "/region/root", "/indicators")


@pytest.mark.browser
@pytest.mark.parametrize("setting,value,logged", BROKEN, ids=[b[0] for b in BROKEN])
def test_a_broken_setting_is_told_in_plain_chinese(site, monkeypatch, caplog, setting, value, logged):
    """A broken holiday file or task rule: every page still settles in plain Chinese, the ones
    it concerns say so and who fixes it (请联系系统管理员), the wall still shows what it can,
    and the technical detail (which setting, which file) is in the log only."""
    monkeypatch.setenv(setting, value)
    site.sign_in(SUPERVISOR)
    site.resize(1920, 1080)
    where = f"[1920×1080 supervisor {SUPERVISOR}, {setting} broken]"
    found: list[str] = []
    for path in ("/", "/tasks", "/region/root", "/indicators", "/quality", "/risk"):
        site.open(path)
        found += _faults(site, path, path, where)
        text = site.js(TEXT_JS)
        if path in TOLD_ON and "请联系系统管理员" not in text:
            found.append(f"{where} {path}: does not say what is wrong and who fixes it (请联系系统管理员)")
        for page, card in (("/", "#wall-kpi-stock-value"), ("/region/root", "#region-card-stock-value")):
            if path != page:
                continue
            stock = site.js(f"return (document.querySelector('{card}') || {{}}).textContent || ''").strip()
            if stock in ("", "—"):
                found.append(f"{where} {page}: shows nothing (市场主体 {stock!r}), not only the task figures")
    assert not found, "\n".join(found)
    assert any(logged in r.getMessage() for r in caplog.records), f"the log does not name the {logged}"


@pytest.mark.browser
def test_wall_scales_with_a_4k_screen(site):
    site.sign_in(ADMIN)
    sizes = {}
    for w, h in VIEWPORTS:
        site.resize(w, h)
        site.open("/")
        # the charts are drawn in px for the screen's scale (wall-scale store): wait for the redraw
        wait(lambda: site.js(WALL_SIZES_JS)["chart tick font"], what="the wall's charts")
        sizes[w] = site.js(WALL_SIZES_JS)
    small, big = sizes[1920], sizes[3840]
    missing = [k for k, v in small.items() if v is None or big[k] is None]
    assert not missing, f"not found on the wall: {missing}"
    flat = [f"{k}: {small[k]:.1f} px at 1920×1080, {big[k]:.1f} px at 3840×2160"
            for k in small if big[k] < 1.8 * small[k]]
    assert not flat, "at 4K these do not scale with the screen:\n" + "\n".join(flat)


@pytest.mark.browser
def test_the_checks_catch_bad_screens(site):
    """Every check reports a fault planted in a live page: a label of each forbidden kind
    (one drawn in a chart, one an input's placeholder), a truncated badge, a grid header cut off, a box cutting its
    inline text, a table with no room for its rows, and on the wall an element off screen
    and a ticker line cut by its panel."""
    site.sign_in(SUPERVISOR)
    site.resize(1920, 1080)
    site.open("/tasks?view=push")
    site.js("""
        const d = document.createElement('div'); d.id = 'planted';
        d.innerText = '配置 JINJIAN_HOLIDAY_FILE 有误 见 data/holidays.csv 与 /work/main/x 指标 entity_stock 值 None 比率 nan '
                    + 'Traceback 来源 registration';
        document.querySelector('.page').prepend(d);
        const b = document.createElement('span'); b.id = 'planted-badge'; b.textContent = '逾期（红色预警）超过三十个工作日';
        Object.assign(b.style, {display: 'inline-block', width: '40px', overflow: 'hidden', whiteSpace: 'nowrap',
                                textOverflow: 'ellipsis'});
        d.append(b);
        document.querySelector('#tasks-push-grid').parentElement.style.height = '60px';  // no room for a row
        const h = document.querySelector('#tasks-push-grid .ag-header-cell-text');  // a header that no longer wraps
        h.textContent = '一个非常' + '非常'.repeat(40) + '长的表头名称'; h.style.whiteSpace = 'nowrap';
        const w = document.createElement('div'); w.id = 'planted-inline';  // a box cutting its inline text
        Object.assign(w.style, {width: '60px', overflow: 'hidden', whiteSpace: 'nowrap'});
        w.innerHTML = '<span>东莞市某某科技有限公司</span>'; d.append(w);
        d.insertAdjacentHTML('beforeend', '<svg width="300" height="24"><text x="0" y="18">图例 chart_label</text></svg>'
                                          + '<input placeholder="Search indicators">');
    """)
    found = "\n".join(_faults(site, "tasks", "/tasks?view=push", "[check]"))
    for needle in ("setting name: 'JINJIAN_HOLIDAY_FILE'", "file name: 'holidays.csv'", "path: 'data/holidays.csv'",
                   "path: '/work/main/x'", "internal id: 'entity_stock'", "None: 'None'", "nan: 'nan'",
                   "Python traceback: 'Traceback'", "Latin word: 'registration'",
                   "truncated: '逾期（红色预警）超过三十个工作日' (span#planted-badge", "truncated: '一个非常",
                   "truncated: '东莞市某某科技有限公司' (div#planted-inline", "table squeezed: '",
                   "(div#tasks-push-grid", "internal id: 'chart_label'", "Latin word: 'Search'"):
        assert needle in found, f"the check missed {needle!r}:\n{found}"
    site.open("/")
    site.js("""
        const t = document.querySelector('.ticker-item');
        t.style.marginTop = (t.parentElement.getBoundingClientRect().height - t.getBoundingClientRect().height / 2) + 'px';
        const k = document.querySelector('.kpi-title'); k.style.position = 'fixed'; k.style.left = (innerWidth - 20) + 'px';
        k.id = 'planted-off';
    """)
    found = "\n".join(_faults(site, "wall", "/", "[check]"))
    assert "cut by its box" in found and "ticker" in found, found
    assert "outside the viewport" in found and "planted-off" in found, found
