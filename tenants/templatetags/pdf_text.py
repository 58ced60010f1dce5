"""{{ value|css_string }}: a text as a quoted CSS string, for the running footer of a PDF
(`@bottom-center { content: "Innsyn i logg – " {{ patient.name|css_string }} … }`).

Inside `<style>` HTML's escaping does not apply: the browser (and weasyprint) reads the text as it
stands, so Django's `&#x27;` would be printed as such in every footer («Kari O&#x27;Neill»), and a
backslash or a quote would break the string. Here every character that means something to CSS or
could end the `<style>` element is written as a CSS escape instead."""

from django import template
from django.utils.safestring import SafeString, mark_safe

register = template.Library()

_SPECIAL = frozenset("\\\"'<>&")


def css_string(value) -> SafeString:
    out = []
    for char in "" if value is None else str(value):
        if char in _SPECIAL or ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\{ord(char):x} ")  # CSS takes the one space after a hex escape as its end
        else:
            out.append(char)
    return mark_safe('"' + "".join(out) + '"')  # every character that could break out is escaped


register.filter("css_string", css_string)
