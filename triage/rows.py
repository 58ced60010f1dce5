"""One worklist row as HTML, built in Python. Every control has a stable id, so that when the list
refreshes itself (htmx swaps it every 5 s) a keyboard user's focus is put back where it was.

Why not a template: the list holds up to a few hundred rows and refreshes every 5 s for every nurse
on duty. Django's template engine spends ~0.5 ms per row of this size (variable lookups, escaping,
url reversing). Nor format_html: its lazy-aware escaping (conditional_escape, keep_lazy, SafeString
at every step) was most of a row's time. A row is one f-string of pieces escaped once with
`html.escape` (what django.utils.html.escape does, without the wrappers); what is the same on every
row (urls, the csrf form's start, labels, a colour's badge, whether the user is a patient's nurse)
is escaped or asked once per request. Everything that comes from data goes through `_e`; the rest of
the page stays in templates/triage/_worklist.html.
"""

from __future__ import annotations

from html import escape

from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

from patients.access import can_follow_up
from tenants.norwegian import datetime_text, time_text
from tenants.people import display_name
from triage.templatetags.triage_tags import colour_word, minutes_since
from triage.trends import sparkline_svg

MARKER = "00000000-0000-0000-0000-000000000000"


def _e(value) -> str:
    """django.utils.html.escape's output (html.escape of the text), as a plain str."""
    return escape(str(value))


class RowRenderer:
    """Renders rows for one request: urls, labels, the csrf token and the user's role per kommune and
    fastlege are looked up (and escaped) once."""

    def __init__(self, request, csrf_token: str, now=None):
        self.now = now or timezone.now()
        self.today = timezone.localdate(self.now)
        self.user = request.user
        next_path = request.get_full_path()
        back = _e(urlencode({"next": next_path}))
        self.urls = {
            "take": reverse("triage:alert-take", args=[MARKER]),
            "handle": reverse("triage:alert-handle", args=[MARKER]),
            "patient": reverse("patients:detail", args=[MARKER]),
        }
        self.text = {
            "take_label": _("Jeg tar varselet for %(name)s"),
            "handle_label": _("Følg opp %(name)s"),
            "taken": _("Tatt av %(who)s"),
            "retry": _("Prøv igjen %(when)s"),
        }
        self.new_badge = f' <span class="badge new">{_e(_("Ny"))}</span>'
        self.overdue_badge = f' <span class="badge overdue">{_e(_("Forfalt"))}</span>'
        self.take_text = _e(_("Jeg tar denne"))
        self.handle_text = _e(_("Følg opp"))
        # the take form around the alert's id: the action url's two halves, then the hidden fields
        before, after = (_e(part) for part in self.urls["take"].split(MARKER))
        self.take_form = (
            f'<form method="post" action="{before}',
            f'{after}"><input type="hidden" name="csrfmiddlewaretoken" value="{_e(csrf_token)}">'
            f'<input type="hidden" name="next" value="{_e(next_path)}">',
        )
        before, after = (_e(part) for part in self.urls["handle"].split(MARKER))
        self.handle_href = (before, f"{after}?{back}")
        self.patient_href = tuple(_e(part) for part in self.urls["patient"].split(MARKER))
        self._badge: dict[str, str] = {}
        self._nurse: dict[tuple, bool] = {}
        self._kind: dict[str, str] = {}

    def _url(self, name: str, pk) -> str:
        return self.urls[name].replace(MARKER, str(pk))

    def _colour_badge(self, colour: str) -> str:
        found = self._badge.get(colour)
        if found is None:
            found = self._badge[colour] = f'<span class="badge band-{_e(colour)}">{_e(colour_word(colour))}</span>'
        return found

    def _badges(self, row) -> str:
        a = row.alert
        out = self._colour_badge(a.colour)
        if row.new:
            out += self.new_badge
        if row.overdue:
            out += self.overdue_badge
        if a.patient.status == "paused":
            out += f' <span class="badge paused">{_e(a.patient.pause_text(self.today))}</span>'
        return out

    @staticmethod
    def _trend(row) -> str:
        if not row.trend:
            return "–"
        values = " → ".join(f'<span class="tv-{p["colour"]}">{_e(p["text"])}</span>' for p in row.trend)
        return f'{sparkline_svg(row.trend)}<span class="trend-values">{values}</span>'  # escaped above

    def _is_nurse(self, patient) -> bool:
        # the policy the take and handle steps refuse by; it reads the kommune and the fastlege only
        key = (patient.municipality_id, patient.gp_id)
        found = self._nurse.get(key)
        if found is None:
            found = self._nurse[key] = can_follow_up(self.user, patient)
        return found

    def _retry_when(self, retry_at) -> str:
        """«10:00» today; with its date on any other day, so that tomorrow's retry (or one mistyped
        months ahead) does not read as one due this morning."""
        retry = timezone.localtime(retry_at)
        return time_text(retry) if retry.date() == self.today else datetime_text(retry)

    def _who(self, row) -> str:
        a = row.alert
        out = ""
        if a.taken_by_id:
            who = display_name(a.taken_by)
            out += f'<span class="taken">{_e(self.text["taken"] % {"who": who})}</span>'
            if a.retry_at:
                retry = self.text["retry"] % {"when": self._retry_when(a.retry_at)}
                out += f'<br><span class="muted">{_e(retry)}</span>'
        if not self._is_nurse(a.patient):
            return out
        pk, name = str(a.pk), a.patient.name
        if not a.taken_by_id:
            out += (
                f"{self.take_form[0]}{pk}{self.take_form[1]}"
                f'<button type="submit" id="take-{pk}" aria-label="{_e(self.text["take_label"] % {"name": name})}">'
                f"{self.take_text}</button></form>"
            )
        before, after = self.handle_href
        label = _e(self.text["handle_label"] % {"name": name})
        link = f'<a class="button" id="handle-{pk}" href="{before}{pk}{after}" aria-label="{label}">'
        return f"{out} {link}{self.handle_text}</a>"

    def _kind_text(self, kind: str, alert) -> str:
        found = self._kind.get(kind)
        if found is None:
            found = self._kind[kind] = (
                "" if kind == "out_of_range" else f'<br><span class="muted">{_e(alert.get_kind_display())}</span>'
            )
        return found

    def render(self, row) -> SafeString:
        a, patient = row.alert, row.alert.patient
        classes = f"alert-row colour-{_e(a.colour)}{' is-new' if row.new else ''}{' is-overdue' if row.overdue else ''}"
        pk = str(a.pk)
        since = timezone.localtime(row.since)
        before, after = self.patient_href
        return mark_safe(  # every piece from data escaped above or here
            f'<tr class="{classes}" data-alert="{pk}"><td>{self._badges(row)}</td>'
            f'<td><a id="patient-{pk}" href="{before}{patient.pk}{after}">{_e(patient.name)}</a>'
            f'<br><span class="mono muted">{_e(patient.national_id_masked)}</span> · {_e(a.municipality.name)}</td>'
            f"<td>{_e(a.reason)}{self._kind_text(a.kind, a)}</td>"
            f'<td><time datetime="{since.isoformat()}">{_e(minutes_since(row.since, self.now))}</time>'
            f'<br><span class="muted">{_e(datetime_text(since))}</span></td>'
            f"<td>{self._trend(row)}</td><td>{self._who(row)}</td></tr>"
        )

    def render_all(self, rows) -> SafeString:
        """The rows of the list as one piece of HTML (the template outputs it once, not per row)."""
        return mark_safe("".join([self.render(row) for row in rows]))  # each row escaped in render
