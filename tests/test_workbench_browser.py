"""The grid workbench in a phone's browser (Playwright, headless Chromium at 390×844 with
touch), on both engines: a task from push to close through each role by tapping the
pages; a photo attached; the network dropped while submitting (the draft is kept, says
已保存草稿, and is sent once when the network is back); a double tap records one step; no
page scrolls sideways."""
from __future__ import annotations

import contextlib
import threading

import pytest

from tests.authkit import PASSWORD
from tests.test_workbench import png
from tests.workkit import work_env  # noqa: F401 - the fixture

pytestmark = pytest.mark.browser
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True, "device_scale_factor": 2}


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    from reports.pdf import chromium_path

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=chromium_path(), headless=True, args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture
def base_url(work_env):
    from werkzeug.serving import make_server

    srv = make_server("127.0.0.1", 0, work_env.server, threaded=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_port}"
    srv.shutdown()


def _phone(browser, base: str, user: str):
    ctx = browser.new_context(**PHONE)
    page = ctx.new_page()
    page.goto(f"{base}/login")
    page.fill("#username", user)
    page.fill("#password", PASSWORD)
    page.click("#login-submit")
    page.wait_for_url(f"{base}/work", timeout=20_000)  # a work role starts on 我的任务
    page.wait_for_selector(".work-count", state="attached")
    page.wait_for_function("document.querySelector('.work-count').textContent.startsWith('待办')", timeout=30_000)
    return ctx, page


@contextlib.contextmanager
def _phones(browser, base: str, *users: str):
    """A signed-in phone (browser context, page) per user, closed afterwards."""
    phones: dict = {}
    try:
        for user in users:
            phones[user] = _phone(browser, base, user)
        yield phones
    finally:
        for ctx, _page in phones.values():
            ctx.close()


def _no_sideways_scroll(page) -> None:
    w = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert w[0] <= w[1], w


def _step(page, base: str, task: str, outcome: str, *, double_tap: bool = False) -> None:
    page.goto(f"{base}/work/task?id={task}")
    form = page.locator(".work-form").filter(has=page.locator(f'[data-outcome="{outcome}"]'))
    form.locator(f'[data-outcome="{outcome}"]').tap()
    _no_sideways_scroll(page)
    submit = form.locator(".work-submit")
    submit.tap()
    if double_tap:
        submit.tap()
    page.wait_for_function("[...document.querySelectorAll('.work-status')].some(s => s.textContent.startsWith('已提交'))",
                           timeout=30_000)


def _report(page, action: str) -> str:
    """Tap 上报 on the ``action`` form and wait for 已上报: the task id it names."""
    form = page.locator(f'.work-form[data-action="{action}"]')
    form.locator(".work-submit").tap()
    form.locator(".work-status").filter(has_text="已上报").wait_for(timeout=30_000)
    _no_sideways_scroll(page)
    return form.locator(".work-status").inner_text().split("任务编号 ")[1].rstrip("）")


def test_phone_task_from_push_to_close(work_env, browser, base_url, tmp_path):
    env, base = work_env, base_url
    task = env.push_registration()
    with _phones(browser, base, "disp", "gw", "town") as contexts:
        disp, gw, town = (contexts[u][1] for u in ("disp", "gw", "town"))
        # The dispatcher finds the task in 我的任务 and dispatches it.
        disp.wait_for_selector(f'a.work-card[href*="{task}"]', timeout=30_000)
        _no_sideways_scroll(disp)
        disp.locator(f'a.work-card[href*="{task}"]').tap()
        disp.wait_for_selector(".work-form", timeout=30_000)
        _step(disp, base, task, "inspecting")
        # The worker records the first check with a photo — while the network drops.
        gw.goto(f"{base}/work/task?id={task}")
        form = gw.locator('.work-form[data-action="check"]')
        form.locator('[data-outcome="notice"]').tap()
        form.locator(".work-note").fill("招牌与登记名称不符，已下达整改通知")
        photo = tmp_path / "site.png"
        photo.write_bytes(png(32))
        form.locator(".work-photo-input").set_input_files(str(photo))
        gw.wait_for_selector(".work-photo-list img", timeout=10_000)
        contexts["gw"][0].set_offline(True)
        form.locator(".work-submit").tap()
        gw.wait_for_function("document.querySelector('.work-form[data-action=\"check\"] .work-status')"
                             ".textContent.includes('已保存草稿')", timeout=15_000)
        assert list(env.steps(task)["status"]) == ["pending", "inspecting"]  # nothing sent yet
        contexts["gw"][0].set_offline(False)
        gw.wait_for_function("[...document.querySelectorAll('.work-status')].some(s => s.textContent.startsWith('已提交'))",
                             timeout=40_000)
        steps = env.steps(task)
        assert list(steps["status"]) == ["pending", "inspecting", "notice"]
        assert steps["note"].iloc[-1] == "招牌与登记名称不符，已下达整改通知"
        from etl.work_actions import task_actions

        assert [len(a["photos"]) for a in task_actions(task)] == [0, 1]
        # The recheck, tapped twice: one step.
        _step(gw, base, task, "joint", double_tap=True)
        _step(disp, base, task, "town")
        _step(town, base, task, "closed")
        # The page redraws itself after the step: the task is shown closed, with no form left.
        town.wait_for_function("(document.querySelector('.work-stage') || {}).textContent === '办结'", timeout=30_000)
        assert town.locator(".work-form").count() == 0
        assert list(env.steps(task)["status"]) == ["pending", "inspecting", "notice", "joint", "town", "closed"]
        assert town.evaluate("Object.keys(localStorage).filter(k => k.startsWith('jinjian-work-draft')).length") == 0
        # 上报线索: the worker finds a business of their grids by name and reports what they saw.
        from store.executor import run

        name = run(env.db, "t_phone_clue", "SELECT name FROM entities WHERE grid_code IN %(g)s AND status = 'active' "
                   "ORDER BY credit_code LIMIT 1", {"g": env.grids})["name"].iloc[0]
        gw.goto(f"{base}/work")
        gw.locator("a.work-clue-link").tap()
        gw.fill("#work-clue-q", name[1:5])
        gw.press("#work-clue-q", "Enter")
        gw.locator("#work-clue-entity label").first.wait_for(timeout=30_000)
        gw.locator("#work-clue-entity label").first.tap()
        form = gw.locator('.work-form[data-action="clue"]')
        form.locator('[data-outcome="食品安全隐患"]').tap()
        clue = _report(gw, "clue")
        assert list(env.steps(clue)["status"]) == ["town"]
        # 无证照经营线索: a business with no registration; the typed fields survive a reload
        # as a draft, and the grid list holds the worker's grids only.
        form = gw.locator('.work-form[data-action="unlicensed"]')
        form.locator(".work-submit").tap()
        assert form.locator(".work-status").inner_text() == "请先选择线索类型"
        form.locator('[data-outcome="无证无照经营"]').tap()
        form.locator('textarea[name="name"]').fill("阿珍糖水铺")
        gw.wait_for_function("document.querySelectorAll('#work-unl-grid option').length === 2", timeout=30_000)
        assert sorted(gw.eval_on_selector_all("#work-unl-grid option", "os => os.map(o => o.value)")) == sorted(env.grids)
        form.locator("select").select_option(env.grids[1])
        gw.reload()
        form = gw.locator('.work-form[data-action="unlicensed"]')
        form.locator(".work-status").filter(has_text="已保存草稿").wait_for(timeout=30_000)
        assert form.locator('textarea[name="name"]').input_value() == "阿珍糖水铺"
        gw.wait_for_function(f"document.querySelector('#work-unl-grid').value === '{env.grids[1]}'", timeout=30_000)
        form.locator(".work-submit").tap()
        assert form.locator(".work-status").inner_text() == "请填写经营地址"
        form.locator('textarea[name="address"]').fill("东城街道桑园市场北门")
        unl = _report(gw, "unlicensed")
        assert list(env.steps(unl)["status"]) == ["town"]
        assert form.locator('textarea[name="name"]').input_value() == ""
        # The town's phone shows the business by the name the worker gave.
        town.goto(f"{base}/work/task?id={unl}")
        town.locator(".work-entity-name").filter(has_text="无证照经营线索").wait_for(timeout=30_000)
        assert "无证无照经营：阿珍糖水铺（东城街道桑园市场北门）" in town.locator(".work-entity").inner_text()
        # A dashboard page is not theirs.
        resp = town.goto(f"{base}/tasks")
        assert resp.status == 403


def test_phone_reassign_to_the_other_grid_worker(work_env, browser, base_url):
    """改派 at phone size: the dispatcher lists the tasks at the first check, opens one and
    gives it to the village's other grid worker, who then has it (and its own worker not)."""
    env, base = work_env, base_url
    task = env.push_registration()
    with _phones(browser, base, "disp", "gw", "gw2") as contexts:
        disp, gw, gw2 = (contexts[u][1] for u in ("disp", "gw", "gw2"))
        _step(disp, base, task, "inspecting")
        disp.goto(f"{base}/work?stage=inspecting")
        disp.wait_for_selector(f'a.work-card[href*="{task}"]', timeout=30_000)
        _no_sideways_scroll(disp)
        disp.locator(f'a.work-card[href*="{task}"]').tap()
        disp.wait_for_selector('.work-form[data-action="reassign"]', timeout=30_000)
        assert disp.locator('.work-form[data-action="reassign"] [data-outcome="gw_other"]').count() == 0
        _step(disp, base, task, "gw2")
        assert "已改派给gw2" in disp.locator('.work-form[data-action="reassign"] .work-status').inner_text()
        for page, has in ((gw2, True), (gw, False)):
            page.goto(f"{base}/work")
            page.wait_for_selector(".work-count", state="attached")
            page.wait_for_function("document.querySelector('.work-count').textContent.startsWith('待办')",
                                   timeout=30_000)
            assert (page.locator(f'a.work-card[href*="{task}"]').count() == 1) is has
        assert list(env.steps(task)["status"]) == ["pending", "inspecting"]  # not a step of the task


def test_the_wall_shows_a_new_record_by_itself(work_env, browser, base_url, monkeypatch):
    """A record loaded while the wall is open reaches its tiles without a reload: the wall's
    live check (which rests a moment after each redraw, so a busy feed does not keep the
    screen redrawing back to back) still finds the new data version and redraws."""
    env, base = work_env, base_url
    monkeypatch.setenv("JINJIAN_WALL_REFRESH_SECONDS", "3600")  # only the live check can bring it
    ctx = browser.new_context(viewport={"width": 1920, "height": 1080})
    try:
        page = ctx.new_page()
        page.goto(f"{base}/login")
        page.fill("#username", "viewer")
        page.fill("#password", PASSWORD)
        page.click("#login-submit")
        page.wait_for_url(f"{base}/", timeout=20_000)
        value = "((document.getElementById('wall-kpi-stock-value') || {dataset: {}}).dataset.value || '')"
        page.wait_for_function(f"{value} !== ''", timeout=40_000)
        before = int(page.evaluate(value).replace(",", ""))
        env.push_registration()
        page.wait_for_function(f"{value}.replace(/,/g, '') === '{before + 1}'", timeout=20_000)
        assert page.url.rstrip("/") == base  # the same page, not reloaded
    finally:
        ctx.close()
