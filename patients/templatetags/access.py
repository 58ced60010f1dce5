"""The policy (patients.access) for templates: a page offers a step only when the step's predicate
says this user may take it for this patient, the same predicate the service refuses by.

    {% load access %}
    {% may "start" patient as may_start %}{% if may_start %}<a …>Oppstart</a>{% endif %}
    {% if user|may_open:"board" %}<li><a …>Forløp</a></li>{% endif %}

The names are patients.access.ACTIONS and PAGES (ebp, triage and billing name theirs in their own
access modules), looked up by patients.access.may and may_open, as views and services do; an unknown
name fails the page instead of hiding the step."""

from django import template

from patients import access

register = template.Library()


@register.simple_tag(takes_context=True)
def may(context, name: str, patient) -> bool:
    """Whether the request's user may take the named step for this patient."""
    try:
        return access.may(context["request"].user, name, patient)
    except access.UnknownName as exc:
        raise template.TemplateSyntaxError(str(exc)) from None


@register.filter
def may_open(user, name: str) -> bool:
    """Whether the user may open the named page (the main menu offers it then)."""
    try:
        return access.may_open(user, name)
    except access.UnknownName as exc:
        raise template.TemplateSyntaxError(str(exc)) from None
