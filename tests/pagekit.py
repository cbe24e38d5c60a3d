"""Helpers for page tests: walking a Dash component tree without a browser."""
from __future__ import annotations

from typing import Any, Iterator

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
