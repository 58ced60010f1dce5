"""The patients app's own template library: the forløp's next steps from the state table
(patients.forlop.NEXT_STEPS), and what the apps above patients registered into its pages
(patients/extensions.py) — so that no patients template loads an upper app's library."""

from django import template
from django.utils.safestring import SafeString, mark_safe

from patients import extensions
from patients.access import may
from patients.forlop import Step, next_steps

register = template.Library()


@register.simple_tag(takes_context=True)
def forlop_steps(context, patient) -> tuple[Step, ...]:
    """`{% forlop_steps patient as steps %}`: the steps the patient's status offers (the state table,
    patients.forlop), in order, that the request's user may take for this patient (the policy,
    patients.access: each step's key is the name of its predicate) — what the step's service accepts."""
    user = context["request"].user
    return tuple(step for step in next_steps(patient.status) if may(user, step.key, patient))


@register.simple_tag(takes_context=True)
def patient_sections(context) -> SafeString:
    """`{% patient_sections %}`: the sections the upper apps registered for the patient page (triage's
    follow-up), each rendered in the page's own context, in the order registered."""
    return mark_safe("".join(section.render(context) for section in extensions.patient_sections()))


@register.simple_tag
def board_marks(sections) -> dict:
    """`{% board_marks sections as marks %}`: patient id → the labels registered marks put on the
    board's row (ebp's «Mangler godkjent plan»), each mark asked once for the whole board."""
    ids = {row.pk for section in sections for row in section.rows if row.kind == "patient"}
    marks: dict = {}
    if not ids:
        return marks
    for mark in extensions.board_marks():
        for pk, labels in mark.labels(ids).items():
            marks.setdefault(pk, []).extend(labels)
    return marks


@register.filter
def marks_of(marks: dict, row) -> list:
    """`{% for label in marks|marks_of:r %}`: a board row's labels (a referral row has none)."""
    return marks.get(row.pk, []) if row.kind == "patient" else []


@register.simple_tag(takes_context=True)
def end_closes(context, patient) -> SafeString:
    """`{% end_closes patient %}`: what ending the forløp closes, as the upper apps registered it
    (triage's open alerts), each part's template rendered with the page's context and its own."""
    engine = context.template.engine
    parts = []
    for part in extensions.end_closes():
        with context.push(**part.context(patient)):
            parts.append(engine.get_template(part.template).render(context))
    return mark_safe("".join(parts))
