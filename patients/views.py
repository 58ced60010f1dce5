from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.paginator import Paginator
from django.shortcuts import redirect
from django.views.generic import TemplateView

from patients.selectors import get_patient_for, search_patients, visible_patients
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
        return super().get_context_data(patient=self.patient, **kwargs)
