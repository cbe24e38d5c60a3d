"""An entity's risk score explained factor by factor: pure component factories
shared by 风险预警 (the stacked factor bar and its text in the top-risk table,
``components.risk_views``) and 主体画像 (``pages/entity.py``).

- :func:`breakdown`: per factor its points, weight, count and zh definition;
- :func:`bar_background`: a CSS gradient with one segment per factor's points;
- :func:`breakdown_text`: the non-zero factors as text (the bar's tooltip);
- :func:`factor_breakdown`: the entity page's panel, a bar per factor.
"""
from __future__ import annotations

from typing import Any, Mapping

from dash import html

from components.format import finite_or_none
from supervision.risk import FACTORS, Factor

NONE = "—"
FACTOR_COLOURS: dict[str, str] = {
    "complaints": "#2ec7ff", "penalties": "#ff5b5b", "abnormal": "#ffb020", "dishonest": "#d94cff",
    "failed_batches": "#38d39f", "failed_inspections": "#a47cff", "overdue_verifications": "#ff7ab6",
    "credit": "#8fb3d9", "industry": "#4fd1c5"}
FACTOR_UNITS: dict[str, str] = {"complaints": "件", "penalties": "次", "failed_batches": "批",
                                "failed_inspections": "次", "overdue_verifications": "件"}


def factor_count(row: Mapping[str, Any], f: Factor) -> float:
    key = {"credit": "credit_class", "industry": "industry_class"}.get(f.id, f.id)
    return float(finite_or_none(row.get(key)) or 0.0)


def breakdown(row: Mapping[str, Any], weights: Mapping[str, float]) -> list[dict[str, Any]]:
    """Per factor: id, name, points, weight, count, definition (FACTORS order)."""
    return [{"id": f.id, "name": f.name_zh, "points": float(finite_or_none(row.get(f"p_{f.id}")) or 0.0),
             "weight": float(weights.get(f.id, f.weight)), "count": factor_count(row, f),
             "definition": f.definition_zh} for f in FACTORS]


def bar_background(row: Mapping[str, Any], max_score: float) -> str:
    """A CSS gradient: one segment per factor's points, scaled to ``max_score``."""
    stops, at = [], 0.0
    for f in FACTORS:
        p = float(finite_or_none(row.get(f"p_{f.id}")) or 0.0)
        if p <= 0:
            continue
        end = min(100.0, at + p / max_score * 100.0) if max_score > 0 else at
        stops.append(f"{FACTOR_COLOURS[f.id]} {at:.2f}% {end:.2f}%")
        at = end
    stops.append(f"rgba(120,170,255,0.10) {at:.2f}% 100%")
    return "linear-gradient(to right, " + ", ".join(stops) + ")"


def breakdown_text(row: Mapping[str, Any], weights: Mapping[str, float]) -> str:
    parts = [f"{b['name']} {b['points']:.2f}" for b in breakdown(row, weights) if b["points"] > 0]
    return "；".join(parts) or "各项均为 0 分"


def _count_text(f_id: str, row: Mapping[str, Any], b: Mapping[str, Any]) -> str:
    if f_id in ("abnormal", "dishonest"):
        return "已列入" if b["count"] else "未列入"
    if f_id == "credit":
        return f"信用等级 {row.get('credit_grade') or NONE}"
    if f_id == "industry":
        return f"行业门类 {row.get('industry') or NONE}（{['低', '中', '高'][min(int(b['count']), 2)]}）"
    return f"{int(b['count'])} {FACTOR_UNITS.get(f_id, '')}"


def factor_breakdown(row: Mapping[str, Any], weights: Mapping[str, float]) -> html.Div:
    """The entity's score explained: a bar per factor (points / weight, count, the
    zh definition as the "why"), factors with points first."""
    items = sorted(breakdown(row, weights), key=lambda b: -b["points"])
    out = []
    for b in items:
        pct = b["points"] / b["weight"] * 100 if b["weight"] > 0 else 0.0
        out.append(html.Div(className=f"entity-factor{' entity-factor-zero' if b['points'] <= 0 else ''}",
                            id=f"entity-factor-{b['id']}", **{"data-points": f"{b['points']:.2f}"}, children=[
            html.Div([html.Span(b["name"], className="entity-factor-name"),
                      html.Span(_count_text(b["id"], row, b), className="entity-factor-count"),
                      html.Span(f"{b['points']:.2f} / {b['weight']:g} 分", className="entity-factor-points")],
                     className="entity-factor-head"),
            html.Div(html.Div(className="entity-factor-fill",
                              style={"width": f"{pct:.1f}%", "backgroundColor": FACTOR_COLOURS[b["id"]]}),
                     className="entity-factor-bar"),
            html.Div(b["definition"], className="entity-factor-why"),
        ]))
    return html.Div(out, className="entity-factors")


__all__ = ["FACTOR_COLOURS", "breakdown", "bar_background", "breakdown_text", "factor_breakdown"]
