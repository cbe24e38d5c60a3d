"""Which event types an indicator query can need: read from its measures' conditions, so
that the query reads only those types' rows (the events rollup is sorted by type first).

Sound by construction: a type set is returned only when every aggregate is conditional
(``…If(…, condition)``) and every alternative (top-level ``OR`` branch) of every condition
requires ``event_type = '…'`` or ``event_type IN (…)`` as one of its ``AND``-ed parts;
anything else gives None (no narrowing).
"""
from __future__ import annotations

import re
from typing import Iterable

_IF_CALL = re.compile(r"\b[A-Za-z]\w*If\(")
_PLAIN_AGGREGATE = re.compile(r"\b(count|sum|uniqExact|uniq|avg|min|max|any|argMax)\(")
_ONE = re.compile(r"^event_type\s*=\s*'(\w+)'$")
_SET = re.compile(r"^event_type\s+IN\s*\(\s*('\w+'(?:\s*,\s*'\w+')*)\s*\)$")


def event_types(exprs: Iterable[str]) -> tuple[str, ...] | None:
    """The sorted event types that rows must have to count in any of ``exprs``, or None."""
    types: set[str] = set()
    for expr in exprs:
        if _PLAIN_AGGREGATE.search(expr) or " NOT " in f" {expr.upper()} " or "!=" in expr:
            return None
        calls = list(_IF_CALL.finditer(expr))
        if not calls:
            return None
        for call in calls:
            args = _split(_inside(expr, call.end() - 1), ",")
            found = _required(args[-1].strip())
            if found is None:
                return None
            types |= found
    return tuple(sorted(types))


def _required(cond: str) -> set[str] | None:
    out: set[str] = set()
    for branch in _split(_unwrap(cond), " OR "):
        need = None
        for part in _split(_unwrap(branch.strip()), " AND "):
            part = _unwrap(part.strip())
            m = _ONE.match(part) or _SET.match(part)
            if m:
                need = {t.strip().strip("'") for t in m.group(1).split(",")}
                break
            if " OR " in part:  # a parenthesised alternative of its own
                need = _required(part)
                if need is not None:
                    break
        if need is None:
            return None
        out |= need
    return out


def _inside(text: str, open_at: int) -> str:
    """The text between the parenthesis at ``open_at`` and its match."""
    depth = 0
    for i in range(open_at, len(text)):
        depth += (text[i] == "(") - (text[i] == ")")
        if depth == 0:
            return text[open_at + 1:i]
    raise ValueError(f"unbalanced parentheses in {text!r}")


def _split(text: str, sep: str) -> list[str]:
    """``text`` split at ``sep`` outside parentheses and quotes."""
    parts, depth, quoted, start, i = [], 0, False, 0, 0
    while i < len(text):
        ch = text[i]
        if ch == "'":
            quoted = not quoted
        elif not quoted and ch in "()":
            depth += 1 if ch == "(" else -1
        elif not quoted and depth == 0 and text.startswith(sep, i):
            parts.append(text[start:i])
            i += len(sep)
            start = i
            continue
        i += 1
    parts.append(text[start:])
    return parts


def _unwrap(text: str) -> str:
    """``text`` without parentheses that enclose all of it."""
    while text.startswith("(") and text.endswith(")") and _inside(text, 0) == text[1:-1]:
        text = text[1:-1].strip()
    return text
