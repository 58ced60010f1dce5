"""The centre admin's «Journalføring»: the kommuner the centre serves, each with its route to the EPJ
(a form through services.route_save), the route's health, and the deliveries that wait, failed or
stopped, each of these two with «Send på nytt» (services.delivery_resend). Thin: who sees which
kommune is journaling.selectors' (a 404 for anyone else), who may change anything the services'
(a 403), and every list of deliveries is audited as a list (they are patient data)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views import View
from django.views.generic import TemplateView

from tenants.errors import RefusalMixin
from tenants.models import AuditAction, Role
from tenants.services import audit_record_list

from . import selectors, services
from .access import can_open_journaling
from .forms import RouteForm
from .models import DeliveryState, Route
from .presentation import outcome_lines, source_text, state_text

PAGE_SIZE = 50
LISTS = (
    ("pending", DeliveryState.PENDING, "Venter på sending"),
    ("failed", DeliveryState.FAILED, "Feilet – prøver igjen"),
    ("dead", DeliveryState.DEAD, "Stoppet – trenger oppfølging"),
)
LIST_OBJECT_TYPE = "journal_deliveries"


class JournalingAdminMixin(LoginRequiredMixin):
    """The page is the centre admin's (and a superuser's); anyone else gets a 404, as for a page
    that does not exist."""

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated and not (
            can_open_journaling(request.user) and selectors.manageable_municipalities(request.user)
        ):
            raise Http404
        return super().dispatch(request, *args, **kwargs)


class JournalingHomeView(JournalingAdminMixin, TemplateView):
    """The kommuner the admin looks after: each one's route, its problem and how many deliveries are
    in each state (counts, no patient)."""

    template_name = "journaling/home.html"

    def get_context_data(self, **kwargs):
        municipalities = selectors.managed_municipalities(self.request.user)
        ids = [m.pk for m in municipalities]
        routes, counts = selectors.routes_of(ids), selectors.state_counts(ids)
        rows = [{"municipality": m, "route": routes.get(m.pk), "counts": counts.get(m.pk, {})} for m in municipalities]
        return super().get_context_data(rows=rows, **kwargs)


class DeliveryRow:
    """One delivery on the admin's list: what it is and how it stands, the patient's name only when
    the admin may see the patient (the scope selector)."""

    def __init__(self, delivery, patient_name: str):
        self.delivery = delivery
        self.patient_name = patient_name
        self.source = source_text(delivery)
        self.state = state_text(delivery)
        self.outcome = outcome_lines(delivery.outcome)


class MunicipalityJournalingView(RefusalMixin, JournalingAdminMixin, TemplateView):
    template_name = "journaling/municipality.html"

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated:
            self.municipality = selectors.get_managed_municipality(request.user, kwargs["kommune"])
        return super().dispatch(request, *args, **kwargs)

    def get(self, request, *args, **kwargs):
        route = selectors.route_of(self.municipality.pk)
        return self.render_to_response(
            self._context(RouteForm(instance=route or Route(municipality=self.municipality)))
        )

    def post(self, request, *args, **kwargs):
        # The saved route (if any) as the instance, so the model's checks take it for itself, not a
        # second route of the kommune; the write is route_save's, on the row it locks.
        route = selectors.route_of(self.municipality.pk) or Route(municipality=self.municipality)
        form = RouteForm(request.POST, instance=route)
        if form.is_valid():
            try:
                services.route_save(municipality=self.municipality, user=request.user, request=request,
                                    **form.cleaned_data)  # fmt: skip
            except services.DeliveryRefused as exc:
                form.add_error(None, str(exc))
            else:
                messages.success(request, f"Ruten til journalsystemet for {self.municipality.name} er lagret.")
                return redirect(self._url())
        return self.render_to_response(self._context(form), status=400)

    def _url(self) -> str:
        return reverse("journaling:municipality", args=[self.municipality.number])

    def _context(self, form):
        user = self.request.user
        pages = {
            key: Paginator(selectors.deliveries_in_state(self.municipality.pk, state).select_related("patient"),
                           PAGE_SIZE).get_page(self.request.GET.get(f"{key}_page"))
            for key, state, _label in LISTS
        }  # fmt: skip
        shown = [d for page in pages.values() for d in page.object_list]
        names = selectors.patient_names_seen(user, {d.patient_id for d in shown})
        lists = [
            {"key": key, "label": label, "page": pages[key],
             "rows": [DeliveryRow(d, names.get(d.patient_id, "")) for d in pages[key].object_list]}
            for key, _state, label in LISTS
        ]  # fmt: skip
        # One list read: its own event and one per delivery shown, each under its patient, so the
        # patient's «innsyn i logg» names the list; the page is the centre admin's, read as admin.
        audit_record_list(
            action=AuditAction.VIEW, object_type=LIST_OBJECT_TYPE, objects=[(d.pk, d.patient) for d in shown],
            request=self.request, role=Role.ADMIN,
        )  # fmt: skip
        return self.get_context_data(
            municipality=self.municipality,
            form=form,
            health=selectors.route_health(self.municipality.pk),
            lists=lists,
            query={k: v for k, v in self.request.GET.items() if v},
            resend_next=self.request.get_full_path(),
        )


class DeliveryResendView(RefusalMixin, LoginRequiredMixin, View):
    """«Send på nytt»: a failed or stopped delivery back to pending (services.delivery_resend: the
    centre admin of its kommune; a 403 for who only sees the patient, a 404 for anyone else)."""

    def post(self, request, delivery_id):
        found = selectors.get_delivery_for(request.user, delivery_id)
        self.municipality_number = found.delivery.municipality.number
        services.delivery_resend(delivery=found.delivery, user=request.user, request=request)
        messages.success(request, f"Sendingen {found.delivery.bundle_id} sendes på nytt.")
        return self.after_refusal()

    def after_refusal(self):
        # back to the list the button was on (its page kept), else the kommune's page
        target = self.request.POST.get("next", "")
        if target.startswith(reverse("journaling:home")) and url_has_allowed_host_and_scheme(
            target, allowed_hosts={self.request.get_host()}
        ):
            return redirect(target)
        number = getattr(self, "municipality_number", None)
        return redirect(reverse("journaling:municipality", args=[number]) if number else reverse("journaling:home"))
