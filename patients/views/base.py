"""The bases of the patient's pages and of the forløp's form steps (other apps subclass them)."""

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.urls import reverse
from django.views.generic import FormView

from patients.access import may
from patients.selectors import (
    get_patient_for,
)
from patients.services import (
    ReferralRefused,
    StatusRefused,
)
from tenants.models import AuditAction
from tenants.services import audit_record


class PatientPageMixin(LoginRequiredMixin):
    """Binds `self.patient` through the scope selector before any handler runs (404 outside it). A page
    that is one step of the patient's (`policy_step`, a name of patients.access.ACTIONS) asks the policy for
    it on every method, as the template that offered the step and the service that takes it do: a
    user who sees the patient but may not take the step gets a 403 with `not_allowed`."""

    patient = None
    policy_step = ""
    policy_step_required = False
    not_allowed = ""

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated:
            self.patient = get_patient_for(request.user, kwargs["patient_id"])
            if (self.policy_step or self.policy_step_required) and not self.may():
                raise PermissionDenied(self.not_allowed)
        return super().dispatch(request, *args, **kwargs)

    def may(self) -> bool:
        return may(self.request.user, self.policy_step, self.patient)


class ForlopFormView(LoginRequiredMixin, FormView):
    """A step of the forløp as a form: the service makes the step, and its refusal (in Norwegian)
    is shown above the form; a step made redirects to the referral's page."""

    refused = (ReferralRefused,)
    success_message = ""

    def form_valid(self, form):
        try:
            self.perform(form)
        except self.refused as exc:
            form.add_error(None, str(exc))
            return self.form_invalid(form)
        messages.success(self.request, self.success_message)
        return redirect(self.get_success_url())

    def perform(self, form):  # pragma: no cover - each step defines it
        raise NotImplementedError


class PatientStepView(PatientPageMixin, ForlopFormView):
    """A step of a patient's forløp (oppstart, pause, gjenopptak, avslutning), or a fact of the patient
    edited on its own page (PatientFactFormView): those `may()` allows make it; anyone else who sees
    the patient gets a 403 with `not_allowed`, anyone outside a 404."""

    template_name = "patients/patient_step_form.html"
    refused = (StatusRefused,)
    title = ""
    button = ""
    policy_step_required = True  # each step page names its step: one without fails closed (an unknown name)
    not_allowed = "Bare sykepleiere og koordinatorer for pasienten kan endre forløpet."

    def get_context_data(self, **kwargs):
        if self.request.method == "GET":
            audit_record(action=AuditAction.VIEW, object_type="patient", object_id=self.patient.pk,
                         patient=self.patient, request=self.request)  # fmt: skip
        return super().get_context_data(patient=self.patient, title=self.title, button=self.button, **kwargs)

    def get_success_url(self):
        return reverse("patients:detail", args=[self.patient.pk])
