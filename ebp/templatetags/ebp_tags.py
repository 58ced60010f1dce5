from django import template

from ebp import selectors
from measurements.types import Colour, label

register = template.Library()

register.filter("trend_rule", selectors.trend_rule_text)
register.filter("schedule", selectors.schedule_text)
register.filter("answer_rule", selectors.answer_rule_text)
register.filter("measurement_label", label)
register.filter("diagnosis", selectors.diagnosis_label)
register.filter("trend_rule_rows", selectors.trend_rule_rows)


@register.filter
def action_blocks(content):
    """(colour, word, [(label, text)]) for the yellow and the red actions of a plan."""
    return [
        (
            colour.value,
            colour.label,
            [(text, getattr(getattr(content.actions, colour), name)) for name, text in selectors.ACTION_LABELS.items()],
        )
        for colour in (Colour.YELLOW, Colour.RED)
    ]
