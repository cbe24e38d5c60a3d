"""Helpers for page tests: walking a Dash component tree without a browser."""
from __future__ import annotations

import time
from typing import Any, Callable, Iterator

from dash.development.base_component import Component


def walk(node: Any) -> Iterator[Any]:
    """``node`` and every component below it (depth first)."""
    yield node
    children = getattr(node, "children", None)
    if isinstance(children, (list, tuple)):
        for c in children:
            yield from walk(c)
    elif isinstance(children, Component):
        yield from walk(children)


def ids(tree: Any) -> dict[str, Component]:
    """Components of ``tree`` by their (string) id."""
    return {c.id: c for c in walk(tree) if isinstance(getattr(c, "id", None), str)}


def text(tree: Any) -> str:
    """All text below ``tree``, space-separated."""
    if isinstance(tree, (list, tuple)):
        return " ".join(text(t) for t in tree)
    if isinstance(tree, Component):
        return text(getattr(tree, "children", None) or "")
    return "" if tree is None else str(tree)


def props(c: Component) -> dict:
    return c.to_plotly_json()["props"]


def wait(cond: Callable[[], Any], timeout: float = 30.0, what: str = "") -> Any:
    """Poll ``cond`` until it returns something truthy (exceptions count as not yet:
    elements go stale while a page redraws); fail naming ``what`` after ``timeout`` s."""
    end = time.time() + timeout
    last = None
    while time.time() < end:
        try:
            last = cond()
        except Exception as exc:  # noqa: BLE001
            last = exc
        if last and not isinstance(last, Exception):
            return last
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}: {last!r}")


def js(dash_duo: Any, script: str, *args: Any) -> Any:
    return dash_duo.driver.execute_script(script, *args)


def callback_outputs(spec: str) -> Any:
    """The ``outputs`` of a /_dash-update-component body from a dependency's ``output``
    string ('id.prop', or '..id1.prop1...id2.prop2..' for several)."""
    def one(s: str) -> dict[str, str]:
        cid, prop = s.rsplit(".", 1)
        return {"id": cid, "property": prop.split("@")[0]}

    if spec.startswith(".."):
        return [one(s) for s in spec[2:-2].split("...")]
    return one(spec)


def choose(dash_duo: Any, dropdown_id: str, text: str) -> None:
    """Open the dcc.Dropdown ``dropdown_id`` and click its option ``text``."""
    dash_duo.find_element(f"#{dropdown_id}").click()
    option = wait(lambda: next((o for o in dash_duo.find_elements(".dash-dropdown-option") if o.text == text), None),
                  what=f"option {text}")
    option.click()
