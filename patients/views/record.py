"""The patient record's pages: the list, the patient page, the call sheet's facts and the innsyn i logg."""

from urllib.parse import urlencode

from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.paginator import Paginator
from django.http import HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.utils.translation import gettext_lazy
from django.views.generic import TemplateView, View

from patients.access import register_centre_ids
from patients.forms.record import (
    PatientContactForm,
    PatientGpForm,
)
from patients.selectors import (
    record_page,
    search_patients,
    visible_patients,
)
from patients.services import (
    ACCESS_LOG_PDF_ROWS,
    ACCESS_LOG_PDF_TTL,
    ContactInfoRefused,
    FastlegeRefused,
    access_log_pdf_file,
    access_log_pdf_job,
    access_log_pdf_start,
    contact_info_set,
    offered_fastleger,
    patient_gp_set,
)
from patients.views.base import PatientPageMixin, PatientStepView
from tenants.models import AuditAction
from tenants.selectors import (
    ACCESS_LOG_REFUSED,
    AccessLogPeriodError,
    access_log,
    access_log_period,
    access_rows,
    visible_municipalities,
)
from tenants.services import audit_record, audit_record_many


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
    registered into patients/extensions.py and rendered by `{% patient_sections %}`: patients does
    not import triage."""

    template_name = "patients/detail.html"

    def get_context_data(self, **kwargs):
        audit_record(
            action=AuditAction.VIEW,
            object_type="patient",
            object_id=self.patient.pk,
            patient=self.patient,
            request=self.request,
        )
        # the forløp's timeline, and the call sheet's samtykke and equipment beside the phone and pårørende
        shown = record_page(self.patient)
        return super().get_context_data(
            patient=self.patient, status_changes=shown.status_changes, consents=shown.consents, loans=shown.loans,
            keeps=register_centre_ids(self.request.user),  # «Ta imot» only where the register is kept
            **kwargs,
        )  # fmt: skip


# --- innsyn i logg: who accessed the patient's record, for the patient ---------------------------------


class AccessLogMixin(PatientPageMixin):
    """The patient's nurses and koordinatorer (a 403 for others who see the patient, a 404 outside the
    scope, from PatientPageMixin); the period from ?from=&to= (default the last 30 days), or its errors
    by parameter."""

    policy_step = "see_access_log"
    not_allowed = ACCESS_LOG_REFUSED

    def prepare(self, request, data=None) -> None:
        data = request.GET if data is None else data
        self.raw = {"from": data.get("from", ""), "to": data.get("to", "")}
        try:
            self.period, self.period_errors = access_log_period(self.raw["from"], self.raw["to"]), {}
        except AccessLogPeriodError as exc:
            self.period, self.period_errors = None, exc.errors

    def audit(self, action) -> None:
        audit_record(action=action, object_type="access_log", object_id=self.patient.pk, patient=self.patient,
                     request=self.request)  # fmt: skip


class AccessLogView(AccessLogMixin, TemplateView):
    """The page: who, in which role and organisation, did what and when, a page of rows at a time."""

    template_name = "patients/access_log.html"
    page_size = 100

    def get(self, request, *args, **kwargs):
        self.prepare(request)
        return super().get(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        page, query = None, ""
        if self.period is not None:
            events = access_log(self.patient.pk, self.period)
            page = Paginator(events, self.page_size).get_page(self.request.GET.get("page"))
            page.rows = access_rows(page.object_list)
            self.audit(AuditAction.VIEW)  # after the read: the page shows who looked before
            query = urlencode({"from": f"{self.period.start:%Y-%m-%d}", "to": f"{self.period.end:%Y-%m-%d}"})
        count = page.paginator.count if page is not None else 0
        return super().get_context_data(patient=self.patient, period=self.period, errors=self.period_errors,
                                        raw=self.raw, page=page, query=query, pdf_rows=min(count, ACCESS_LOG_PDF_ROWS),
                                        pdf_truncated=count > ACCESS_LOG_PDF_ROWS, **kwargs)  # fmt: skip


class AccessLogPdfView(AccessLogMixin, View):
    """The same period as a letter to hand the patient (weasyprint), all its rows up to a limit, made
    in the background (patients.services.access_log_pdf): a POST («Lag PDF til pasienten») starts it
    and leads to this page's GET with `?jobb=`, which shows the job and polls itself (htmx) until the
    PDF is ready or failed. The job is the asking user's: anyone else, an unknown id and one whose
    time is up get the Norwegian 404 page. Without `?jobb=` the page leads back to the log."""

    template_name = "patients/access_log_pdf_status.html"

    def post(self, request, *args, **kwargs):
        self.prepare(request, request.POST)
        if self.period is None:
            return HttpResponseBadRequest(" ".join(self.period_errors.values()), content_type="text/plain")
        job = access_log_pdf_start(patient=self.patient, user=request.user, period=self.period)
        return redirect(f"{request.path}?{urlencode({'jobb': job.id})}")

    def get(self, request, *args, **kwargs):
        if "jobb" not in request.GET:
            return redirect("patients:access-log", patient_id=self.patient.pk)
        job = access_log_pdf_job(request.GET["jobb"], user=request.user, patient=self.patient)
        if job is None:
            return job_gone(request, self.patient)
        template = "patients/_access_log_pdf_job.html" if request.htmx else self.template_name
        context = {"patient": self.patient, "job": job, "period": job.period, "query": urlencode({"jobb": job.id}),
                   "kept_minutes": ACCESS_LOG_PDF_TTL // 60}  # fmt: skip
        return render(request, template, context)


class AccessLogPdfFileView(AccessLogMixin, View):
    """The made PDF, to the user who asked for it; each download is audited as an export of the log
    (the letter leaves the platform then)."""

    def get(self, request, *args, **kwargs):
        if "jobb" not in request.GET:
            return redirect("patients:access-log", patient_id=self.patient.pk)
        job = access_log_pdf_job(request.GET["jobb"], user=request.user, patient=self.patient)
        pdf = access_log_pdf_file(job) if job is not None else None
        if pdf is None:
            return job_gone(request, self.patient)
        self.audit(AuditAction.EXPORT)
        response = HttpResponse(pdf, content_type="application/pdf")
        response["Content-Disposition"] = f'inline; filename="{job.filename}"'
        return response


def job_gone(request, patient) -> HttpResponse:
    """A 404 in Norwegian: the PDF is not there (never made for this user, or its time is up)."""
    return render(request, "patients/access_log_pdf_gone.html", {"patient": patient}, status=404)


# --- the call sheet: the patient's fastlege, phone and pårørende, edited on the patient page ----------


class PatientFactFormView(PatientStepView):
    """A fact of the patient edited on its own page (fastlege, phone and pårørende): each view's
    `policy_step` names its rule in patients.access; the rest is the step view's."""

    button = gettext_lazy("Lagre")
    not_allowed = "Bare sykepleiere og koordinatorer for pasienten kan endre dette."


class PatientGpView(PatientFactFormView):
    """Set or change the patient's fastlege: the offered list, or another fastlege found by name or
    HPR number as an explicit choice (patients.services.fastlege). The permission moves with it."""

    form_class = PatientGpForm
    refused = (FastlegeRefused,)
    title = gettext_lazy("Fastlege")
    success_message = gettext_lazy("Fastlegen er lagret.")

    policy_step = "set_fastlege"

    def get_initial(self):
        return {"gp": self.patient.gp_id}

    def get_form_kwargs(self):
        gps = offered_fastleger([self.patient.municipality_id])  # the API's and the henvisning's rule too
        return {**super().get_form_kwargs(), "patient": self.patient, "gps": gps}

    def perform(self, form):
        data = form.cleaned_data
        patient_gp_set(patient=self.patient, user=self.request.user, gp=data["gp"],
                       outside_offered=data["gp_outside_offered"], request=self.request)  # fmt: skip


class PatientContactView(PatientFactFormView):
    """The patient's phone and pårørende (patients.services.contact_info_set)."""

    form_class = PatientContactForm
    refused = (ContactInfoRefused,)
    title = gettext_lazy("Telefon og pårørende")
    success_message = gettext_lazy("Telefon og pårørende er lagret.")

    policy_step = "edit_contact_info"

    def get_initial(self):
        return {"phone": self.patient.phone, "next_of_kin": self.patient.next_of_kin}

    def perform(self, form):
        contact_info_set(patient=self.patient, user=self.request.user, request=self.request, **form.cleaned_data)
