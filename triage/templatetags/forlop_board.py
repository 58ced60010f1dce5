"""Triage's part of the forløp board. `patients/board.html` is the patients app's page, and patients
sits below ebp: it cannot tell which started patients lack an approved plan. This tag tells the
board, for all its rows in one query (CONTRIBUTING, "Layers")."""

from django import template

from ebp.selectors import plan_missing_among

register = template.Library()


@register.simple_tag
def plans_missing(sections) -> frozenset:
    """`{% plans_missing sections as no_plan %}`: the ids of the board's started patients without an
    approved plan (`{% if r.pk in no_plan %}` marks their rows «Mangler godkjent plan»)."""
    return plan_missing_among({row.pk for section in sections for row in section.rows if row.kind == "patient"})
