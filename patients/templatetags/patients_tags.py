"""The patients app's own template library: the forløp's next steps from the state table
(patients.forlop.NEXT_STEPS)."""

from django import template

from patients.forlop import Step, next_steps

register = template.Library()


@register.simple_tag
def forlop_steps(patient) -> tuple[Step, ...]:
    """`{% forlop_steps patient as steps %}`: the steps the patient's status offers, in order (each
    with `url_name` and `label`). Only about the status: who may take a step the page asks apart."""
    return next_steps(patient.status)
