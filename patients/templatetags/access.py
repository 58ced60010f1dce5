"""The policy (patients.access) for templates: a page offers a step only when the step's predicate
says this user may take it for this patient, the same predicate the service refuses by.

    {% load access %}
    {% may "start" patient as may_start %}{% if may_start %}<a …>Oppstart</a>{% endif %}
    {% if user|may_open:"board" %}<li><a …>Forløp</a></li>{% endif %}

The names are patients.access.ACTIONS and PAGES (ebp, triage and billing name theirs in their own
access modules); an unknown name fails the page instead of hiding the step."""

from django import template

from patients.access import ACTIONS, PAGES

register = template.Library()


@register.simple_tag(takes_context=True)
def may(context, name: str, patient) -> bool:
    """Whether the request's user may take the named step for this patient."""
    if name not in ACTIONS:
        raise template.TemplateSyntaxError(f"«{name}» is no step of patients.access.ACTIONS")
    return ACTIONS[name](context["request"].user, patient)


@register.filter
def may_open(user, name: str) -> bool:
    """Whether the user may open the named page (the main menu offers it then)."""
    if name not in PAGES:
        raise template.TemplateSyntaxError(f"«{name}» is no page of patients.access.PAGES")
    return PAGES[name](user)
