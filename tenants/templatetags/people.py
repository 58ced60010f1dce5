"""{{ user|display_name }}: a person's name as every page writes it (tenants.people.display_name)."""

from django import template

from tenants.people import display_name as _display_name

register = template.Library()


@register.filter
def display_name(user) -> str:
    return _display_name(user)
