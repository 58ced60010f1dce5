"""The nurses' pages: the worklist (live, htmx), taking and handling an alert, planned follow-up.
Thin: scope through the selectors (404 outside it), who may do what from the policy (triage.access for
the pages, patients.access and ebp.access for a patient's steps: the services refuse by the same rules,
patients.access.NurseRequired is a PermissionDenied, so a 403), audit on every read."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.paginator import Paginator
from django.http import Http404
from django.middleware.csrf import get_token
from django.shortcuts import redirect, render, resolve_url
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views import View
from django.views.generic import TemplateView
from django_htmx.http import HttpResponseClientRedirect

from ebp.selectors import thresholds_for
from measurements.types import SPECS
from patients.access import can_follow_up
from patients.models import Diagnosis
from patients.selectors import move_notices_for
from patients.views.base import PatientPageMixin
from tenants.errors import RefusalMixin
from tenants.models import AuditAction
from tenants.selectors import visible_municipalities
from tenants.services import audit_record, audit_record_many
from triage import selectors, services
from triage.access import can_open_worklist
from triage.forms import ContactForm, HandleForm
from triage.models import AlertStatus, ContactKind
from triage.patient_page import at_of_til, chart_days
from triage.rows import RowRenderer

SEEN_KEY = "worklist_seen"


class NurseAreaMixin(LoginRequiredMixin):
    """The worklist is for nurses, and for koordinatorer within their municipality; others get 404."""

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated:
            if not can_open_worklist(request.user):
                raise Http404
        elif request.htmx:
            # The session ran out while the list was refreshing itself: send the whole page to the
            # login, instead of swapping the login form into the list.
            return HttpResponseClientRedirect(f"{resolve_url(settings.LOGIN_URL)}?next={request.path}")
        return super().dispatch(request, *args, **kwargs)


def _filters(request) -> dict:
    municipality = request.GET.get("municipality", "")
    if municipality and not visible_municipalities(request.user).filter(number=municipality).exists():
        raise Http404  # another municipality's worklist does not exist for this user
    colour = request.GET.get("colour", "")
    diagnosis = request.GET.get("diagnosis", "")
    return {
        "municipality": municipality,
        "colour": colour if colour in ("red", "yellow") else "",
        "diagnosis": diagnosis if diagnosis in Diagnosis.values else "",
        "mine": request.GET.get("mine") == "1",
    }


def _query_with(request, **changes) -> str:
    """The page's query string with `changes` (None removes the key): the filters stay as they were."""
    query = request.GET.copy()
    for key, value in changes.items():
        query.pop(key, None)
        if value is not None:
            query[key] = value
    return query.urlencode()


def _pager(request, page) -> dict | None:
    """The links to the previous, next and first page, the filters kept; None when the list fits one page."""
    if not page.has_other_pages():
        return None
    return {
        "previous": _query_with(request, page=page.previous_page_number()) if page.has_previous() else "",
        "next": _query_with(request, page=page.next_page_number()) if page.has_next() else "",
        "first_page": _query_with(request, page=None),
    }


class WorklistView(NurseAreaMixin, TemplateView):
    template_name = "triage/worklist.html"

    def get_template_names(self):
        return ["triage/_worklist.html"] if self.request.htmx else [self.template_name]

    def get_context_data(self, **kwargs):
        filters = _filters(self.request)
        worklist = selectors.worklist(self.request.user, **filters, page=self.request.GET.get("page"))
        self._audit(worklist)
        rows_html = RowRenderer(self.request, get_token(self.request)).render_all(worklist.rows)
        return super().get_context_data(
            move_notices=self._move_notices(),
            worklist=worklist,
            rows_html=rows_html,
            filters=filters,
            municipalities=visible_municipalities(self.request.user),
            diagnoses=Diagnosis.choices,
            query=_query_with(self.request, page=worklist.page.number if worklist.page.number > 1 else None),
            pager=_pager(self.request, worklist.page),
            now=timezone.now(),
            **kwargs,
        )

    def _move_notices(self) -> list:
        # «Mulig flytting» above the list, on a full page load only (the refresh swaps the list alone).
        if self.request.htmx:
            return []
        notices = move_notices_for(self.request.user)
        if not notices:
            return []  # an empty box shows no one: nothing read to log (the worklist's own event stands)
        audit_record_many(action=AuditAction.VIEW, object_type="move_notice", request=self.request,
                          patients=list({n.patient_id: n.patient for n in notices}.values()))  # fmt: skip
        return notices

    def _audit(self, worklist) -> None:
        # The page refreshes every few seconds: log each patient when their row first appears on this
        # nurse's screen (and on every full page load), not at every refresh.
        shown = {str(row.alert.pk): row.alert.patient for row in worklist.rows}
        seen = set(self.request.session.get(SEEN_KEY, [])) if self.request.htmx else set()
        fresh = [patient for alert_id, patient in shown.items() if alert_id not in seen]
        if fresh or not self.request.htmx:  # a refresh that shows no one new is no new read
            audit_record_many(action=AuditAction.VIEW, object_type="worklist", patients=fresh, request=self.request)
        seen_now = sorted(seen | set(shown))
        if seen_now != self.request.session.get(SEEN_KEY):  # an unchanged list writes no session
            self.request.session[SEEN_KEY] = seen_now


def _back(request, default="triage:worklist"):
    target = request.POST.get("next") or request.GET.get("next")
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return redirect(target)
    return redirect(default)


class AlertMixin(NurseAreaMixin):
    alert = None

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated:
            self.alert = selectors.get_alert_for(request.user, kwargs["alert_id"])
        return super().dispatch(request, *args, **kwargs)


class AlertStepMixin(RefusalMixin, AlertMixin):
    """A step on one alert from a list: its refusal (services.AlertRefused) is a message, and the
    user goes back to the list either way."""

    def after_refusal(self):
        return _back(self.request)


class AlertTakeView(AlertStepMixin, View):
    def post(self, request, *args, **kwargs):
        services.alert_take(alert=self.alert, user=request.user, request=request)
        messages.success(request, f"Du har tatt varselet for {self.alert.patient.name}.")
        return _back(request)


class AlertReleaseView(AlertStepMixin, View):
    """«Slipp»: a taken alert back to untaken (services.alert_release says who may)."""

    def post(self, request, *args, **kwargs):
        services.alert_release(alert=self.alert, user=request.user, request=request)
        messages.success(request, f"Varselet for {self.alert.patient.name} er sluppet og kan tas av andre.")
        return _back(request)


class AlertHandleView(AlertMixin, TemplateView):
    template_name = "triage/handle.html"

    def get(self, request, *args, **kwargs):
        audit_record(
            action=AuditAction.VIEW,
            object_type="alert",
            object_id=self.alert.pk,
            patient=self.alert.patient,
            request=request,
        )
        return self.render_to_response(self._context(HandleForm()))

    def post(self, request, *args, **kwargs):
        form = HandleForm(request.POST)
        if form.is_valid():
            try:
                contact = services.alert_handle(
                    alert=self.alert,
                    user=request.user,
                    actions=form.cleaned_data["actions"],
                    note=form.cleaned_data["note"],
                    retry_at=form.cleaned_data["retry_at"],
                    seen_colour=form.cleaned_data["seen_colour"],
                    request=request,
                )
                if contact.reached:
                    messages.success(request, f"Varselet for {self.alert.patient.name} er håndtert og lukket.")
                else:
                    messages.info(request, f"Ikke nådd: varselet for {self.alert.patient.name} står åpent.")
                return _back(request)
            except services.AlertRefused as exc:
                form.add_error(None, str(exc))
                # Shown again as it is now (raised, closed, taken), the nurse's ticks and note kept: the
                # alert read before the step may be older than what the service refused by.
                self.alert = selectors.get_alert_for(request.user, self.alert.pk)
        return self.render_to_response(self._context(form), status=400)

    def _context(self, form):
        plan = thresholds_for(self.alert.patient)
        colour = self.alert.colour
        return self.get_context_data(
            alert=self.alert,
            patient=self.alert.patient,
            form=form,
            plan=plan,
            actions=getattr(plan.content.actions, colour),
            readings=selectors.alert_readings(self.alert).order_by("-measured_at")[:20],
            answers=selectors.alert_answers(self.alert).order_by("-answered_at")[:10],
            can_handle=self.alert.status == AlertStatus.OPEN and can_follow_up(self.request.user, self.alert.patient),
            next=self.request.GET.get("next", ""),
        )


class FollowUpView(NurseAreaMixin, TemplateView):
    """Patients due for their routine contact or their evaluation, and the started ones without an
    approved plan (sent to the fastlege, being drafted, not started), each list paged on its own;
    filtered by a kommune of the user's scope (another one is a 404, as on the worklist). A patient
    without a fastlege is flagged with the way to register one."""

    template_name = "triage/follow_up.html"
    page_size = 25
    SECTIONS = ("routine", "evaluation", "at_gp", "in_progress", "not_started")

    def get_context_data(self, **kwargs):
        municipality = _filters(self.request)["municipality"]
        due = selectors.follow_up_due(self.request.user, municipality=municipality)
        plans = selectors.plan_missing_split(self.request.user, municipality=municipality)
        lists = {"routine": due.routine, "evaluation": due.evaluation, "at_gp": plans.at_gp,
                 "in_progress": plans.in_progress, "not_started": plans.not_started}  # fmt: skip
        pages = {key: self._page(key, rows) for key, rows in lists.items()}
        shown = [getattr(row, "patient", row) for page in pages.values() for row in page.object_list]
        # the page is one list: one event for it and one per patient shown on it
        audit_record_many(action=AuditAction.VIEW, object_type="follow_up", patients=shown, request=self.request)
        return super().get_context_data(
            pages=pages, counts={key: len(rows) for key, rows in lists.items()},
            municipality=municipality, municipalities=visible_municipalities(self.request.user),
            query=self._query(), form=ContactForm(),
            due=due, no_plan=[*plans.at_gp, *plans.in_progress, *plans.not_started],  # the whole lists, unpaged
            **kwargs,
        )  # fmt: skip

    def _page(self, key: str, rows: list):
        return Paginator(rows, self.page_size).get_page(self.request.GET.get(f"{key}_page"))

    def _query(self) -> dict:
        # each pager's link keeps the filter and the other lists' pages
        return {key: value for key, value in self.request.GET.items() if value}


class ContactCreateView(RefusalMixin, PatientPageMixin, View):
    """Record a routine contact or an evaluation for a patient; a refusal is a message on the list."""

    def after_refusal(self):
        return _back(self.request, "triage:follow-up")

    def post(self, request, *args, **kwargs):
        form = ContactForm(request.POST)
        if not form.is_valid():
            messages.error(
                request, "Kontakten ble ikke lagret: " + "; ".join(e for errs in form.errors.values() for e in errs)
            )
            return _back(request, "triage:follow-up")
        services.contact_record(
            patient=self.patient,
            user=request.user,
            kind=form.cleaned_data["kind"],
            actions=form.cleaned_data["actions"],
            note=form.cleaned_data["note"],
            request=request,
        )
        label = ContactKind(form.cleaned_data["kind"]).label.lower()
        messages.success(request, f"{label.capitalize()} for {self.patient.name} er registrert.")
        return _back(request, "triage:follow-up")


class TrendNumbersView(PatientPageMixin, View):
    """The numbers of one trend chart of the patient page («Vis tallene»), fetched when the reader opens
    them (static/js/chart-numbers.js): the table alone for the page's script, a page of its own for
    the link in its place. Whoever sees the patient page sees them; each read is in the patient's log.
    `til` is the page's time (microseconds since the epoch): the table holds what the chart drew."""

    def get(self, request, *args, **kwargs):
        mtype = kwargs["mtype"]
        if mtype not in SPECS:
            raise Http404
        now = timezone.now()
        end = at_of_til(request.GET.get("til", ""))
        end = now if end is None or end > now else end
        days = selectors.chart_period(chart_days(request))
        table = selectors.trend_numbers(self.patient, mtype, days=days, end=end)
        audit_record(action=AuditAction.VIEW, object_type="reading_list", object_id=self.patient.pk,
                     patient=self.patient, request=request)  # fmt: skip
        if request.htmx:
            return render(request, "charts/_table.html", {"table": table})
        return render(request, "triage/trend_numbers.html", {"patient": self.patient, "table": table, "days": days})
