"""Headline number cards."""
from __future__ import annotations

from dash import html

from components.format import format_cn


def create_stat_card(card_id: str, label: str, value: float | int | None, unit: str = "",
                     note: str | None = None) -> html.Div:
    """A card with a label, a big number formatted the Chinese way, a unit and a note.

    The exact value is kept in the tooltip and in the number's ``data-value``.
    """
    exact = "" if value is None else f"{value:,}"
    return html.Div(
        [html.Div(label, className="stat-label"),
         html.Div([html.Span(format_cn(value), className="stat-value", id=f"{card_id}-value",
                             **{"data-value": exact}),
                   html.Span(unit, className="stat-unit")], title=exact),
         html.Div(note or "", className="stat-note")],
        id=card_id, className="stat-card",
    )
