"""The gevinst's parts of the patients app's pages, registered into patients' extension points
(`patients/extensions.py`) in InsightConfig.ready(): patients sits far below insight and imports
nothing of it. The patient page gets «Gevinst» (what is due, the service-use registrations and the
survey answers, with the links to register) for the forløp's people; the forløp board marks each
patient with a registration due, a mark per point (one query pair for the whole board each)."""

from __future__ import annotations

from insight.gevinst.access import can_register_gevinst
from insight.gevinst.presentation import (
    field_labels,
    point_text,
    question_labels,
    registration_rows,
    survey_rows_shown,
)
from insight.gevinst.schedule import DUE
from insight.gevinst.selectors import patient_gevinst


def gevinst_section(context) -> str:
    """Renders `insight/gevinst/_patient_section.html` in the page's own context, for who may register
    (a nurse or the koordinator of the patient's kommune); nothing for anyone else. The page has the
    patient from the scope selector and audits its read."""
    request, patient = context["request"], context["patient"]
    if not can_register_gevinst(request.user, patient):
        return ""
    # The page's «Forløp» section reads the patient's whole status history (patients' view puts it in
    # the context as `status_changes`, in its own order): the forløp is worked out from those rows,
    # which the section then shows without asking again, instead of a query of its own.
    changes = context.get("status_changes")
    found = patient_gevinst(patient, changes=list(changes) if changes is not None else None)
    shown = {
        "gevinst_points": [{"label": p.label, "text": point_text(p), "due": p.state == DUE} for p in found.schedule],
        "gevinst_fields": field_labels(units=True),
        "gevinst_questions": question_labels(),
        "gevinst_registrations": registration_rows(found.registrations),
        "gevinst_surveys": survey_rows_shown(found.surveys),
    }
    with context.push(**shown):
        return context.template.engine.get_template("insight/gevinst/_patient_section.html").render(context)
