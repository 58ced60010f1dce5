from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect
from django.views.generic import TemplateView, View

from patients.models import Decision
from patients.pdf import vedtak_pdf
from patients.selectors import get_patient_for, get_referral_for, search_patients, visible_patients
from patients.services.status import NoPatientYet
from tenants.models import AuditAction, Role
from tenants.selectors import user_scope, visible_municipalities
from tenants.services import audit_record, audit_record_many


class PatientPageMixin(LoginRequiredMixin):
    """Binds `self.patient` through the scope selector before any handler runs (404 outside it)."""

    patient = None

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated:
            self.patient = get_patient_for(request.user, kwargs["patient_id"])
        return super().dispatch(request, *args, **kwargs)


class HomeView(LoginRequiredMixin, TemplateView):
    """Each role lands where its work is."""

    template_name = "home_no_role.html"

    def get(self, request, *args, **kwargs):
        scope = user_scope(request.user)
        if scope.has(Role.NURSE):
            return redirect("triage:worklist")
        if scope.has(Role.COORDINATOR) or scope.uses_object_permissions:
            return redirect("patients:list")
        if scope.has(Role.FINANCE):
            return redirect("billing:home")
        if scope.has(Role.ADMIN) and request.user.is_staff:
            return redirect("admin:index")
        return super().get(request, *args, **kwargs)


class PatientListView(LoginRequiredMixin, TemplateView):
    template_name = "patients/list.html"
    page_size = 50

    def get_context_data(self, **kwargs):
        search = self.request.GET.get("search", "")
        municipality = self.request.GET.get("municipality", "")
        patients = search_patients(
            visible_patients(self.request.user).select_related("municipality", "gp"),
            search=search,
            municipality=municipality,
        ).order_by("name", "id")
        page = Paginator(patients, self.page_size).get_page(self.request.GET.get("page"))
        audit_record_many(
            action=AuditAction.VIEW, object_type="patient_list", patients=page.object_list, request=self.request
        )
        return super().get_context_data(
            page=page,
            search=search,
            municipality=municipality,
            municipalities=visible_municipalities(self.request.user),
            **kwargs,
        )


class PatientDetailView(PatientPageMixin, TemplateView):
    """The patient's facts. The sections below them (open alert, trends, history, notes) are triage's,
    served into the template by its `{% patient_follow_up %}` tag: patients does not import triage."""

    template_name = "patients/detail.html"

    def get_context_data(self, **kwargs):
        audit_record(
            action=AuditAction.VIEW,
            object_type="patient",
            object_id=self.patient.pk,
            patient=self.patient,
            request=self.request,
        )
        changes = self.patient.status_changes.select_related("by", "municipality", "previous_municipality")
        return super().get_context_data(patient=self.patient, status_changes=changes, **kwargs)


class VedtakPdfView(LoginRequiredMixin, View):
    """The vedtaksbrev of a referral (scoped by get_referral_for: 404 outside the scope)."""

    def get(self, request, referral_id):
        referral = get_referral_for(request.user, referral_id)
        decision = Decision.objects.select_related("decided_by").filter(referral=referral).first()
        if decision is None:
            raise Http404("Henvisningen har ikke noe vedtak ennå.")
        decision.referral = referral
        audit_record(
            action=AuditAction.EXPORT, object_type="decision", object_id=decision.pk, request=request,
            patient=referral.patient or NoPatientYet(municipality_id=referral.municipality_id),
        )  # fmt: skip
        response = HttpResponse(vedtak_pdf(decision), content_type="application/pdf")
        response["Content-Disposition"] = f'inline; filename="vedtak-{decision.decided_at:%Y-%m-%d}.pdf"'
        return response
