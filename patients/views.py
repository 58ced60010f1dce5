from urllib.parse import urlencode

import weasyprint
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy
from django.views.generic import FormView, TemplateView, View

from patients.forms import (
    AppealForm,
    AppealOutcomeForm,
    AssessmentForm,
    ConsentForm,
    DecisionForm,
    DeviceForm,
    DeviceImportForm,
    DeviceReturnForm,
    EndForm,
    KitForm,
    PatientContactForm,
    PatientGpForm,
    PauseForm,
    ReferralForm,
    ResumeForm,
    StartForm,
)
from patients.models import (
    ASSESSMENT_CRITERIA,
    AppealOutcome,
    Decision,
    DeviceState,
    DeviceType,
    Diagnosis,
    StatusEvent,
)
from patients.pdf import norwegian_date, vedtak_context, vedtak_pdf
from patients.selectors import (
    board_audit_subjects,
    board_municipalities,
    device_type_labels,
    forlop_board,
    get_device_for,
    get_move_notice_for,
    get_patient_for,
    get_referral_for,
    kits_for,
    loans_open_for_device,
    loans_out_for,
    move_notices_for,
    referral_fastleger,
    register_centres,
    register_devices,
    search_patients,
    start_kits,
    visible_patients,
)
from patients.services import (
    ContactInfoRefused,
    EquipmentRefused,
    FastlegeRefused,
    ReferralRefused,
    ReturnCondition,
    StatusRefused,
    appeal_decide,
    appeal_register,
    assessment_record,
    can_change_status,
    can_edit_contact_info,
    can_set_fastlege,
    consent_record,
    contact_info_set,
    decision_preview,
    decision_record,
    device_clean,
    device_register,
    device_return,
    devices_import_csv,
    free_devices,
    kit_create,
    offered_fastleger,
    patient_end,
    patient_gp_set,
    patient_start,
    referral_municipality_ids,
    referral_register,
    register_centre_ids,
    serial_key,
    status_change_record,
)
from patients.services.moves import ANSWER_ROLE_REFUSED, move_answer
from patients.services.status import NoPatientYet
from tenants.errors import RefusalMixin
from tenants.models import AuditAction
from tenants.selectors import (
    ACCESS_LOG_REFUSED,
    AccessLogPeriodError,
    access_log,
    access_log_period,
    access_rows,
    may_read_access_log,
    visible_municipalities,
)
from tenants.services import audit_record, audit_record_list, audit_record_many


class PatientPageMixin(LoginRequiredMixin):
    """Binds `self.patient` through the scope selector before any handler runs (404 outside it)."""

    patient = None

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated:
            self.patient = get_patient_for(request.user, kwargs["patient_id"])
        return super().dispatch(request, *args, **kwargs)


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
        user = self.request.user
        return super().get_context_data(
            patient=self.patient, status_changes=changes,
            # the call sheet: samtykke and what the patient has on loan, beside the phone and pårørende
            consents=self.patient.consents.filter(municipality_id=self.patient.municipality_id)
            .select_related("recorded_by"),
            loans=loans_out_for(self.patient),
            keeps=register_centre_ids(self.request.user),  # «Ta imot» only where the register is kept
            may_set_gp=can_set_fastlege(user, self.patient),
            may_edit_contact=can_edit_contact_info(user, self.patient),
            **kwargs,
        )  # fmt: skip


# --- innsyn i logg: who accessed the patient's record, for the patient ---------------------------------

ACCESS_LOG_PDF_ROWS = 5000  # a letter stays printable; a longer log asks for a shorter period


class AccessLogMixin(PatientPageMixin):
    """The patient's nurses and koordinatorer (a 403 for others who see the patient, a 404 outside the
    scope, from PatientPageMixin); the period from ?from=&to= (default the last 30 days), or its errors
    by parameter."""

    def prepare(self, request) -> None:
        patient = self.patient
        if not may_read_access_log(request.user, municipality_id=patient.municipality_id, gp_id=patient.gp_id):
            raise PermissionDenied(ACCESS_LOG_REFUSED)
        self.raw = {"from": request.GET.get("from", ""), "to": request.GET.get("to", "")}
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
        return super().get_context_data(patient=self.patient, period=self.period, errors=self.period_errors,
                                        raw=self.raw, page=page, query=query, **kwargs)  # fmt: skip


class AccessLogPdfView(AccessLogMixin, View):
    """The same period as a letter to hand the patient (weasyprint), all its rows up to a limit."""

    def get(self, request, *args, **kwargs):
        self.prepare(request)
        if self.period is None:
            return HttpResponseBadRequest(" ".join(self.period_errors.values()), content_type="text/plain")
        events = list(access_log(self.patient.pk, self.period)[: ACCESS_LOG_PDF_ROWS + 1])
        rows = access_rows(events[:ACCESS_LOG_PDF_ROWS])
        self.audit(AuditAction.EXPORT)
        context = {
            "patient": self.patient, "rows": rows, "truncated": len(events) > ACCESS_LOG_PDF_ROWS,
            "limit": ACCESS_LOG_PDF_ROWS, "start": norwegian_date(self.period.start),
            "end": norwegian_date(self.period.end), "made": norwegian_date(timezone.localdate()),
        }  # fmt: skip
        html = render_to_string("patients/access_log_pdf.html", context)
        pdf = weasyprint.HTML(string=html, base_url=str(settings.BASE_DIR)).write_pdf()
        response = HttpResponse(pdf, content_type="application/pdf")
        response["Content-Disposition"] = f'inline; filename="innsyn-i-logg-{self.period.end:%Y-%m-%d}.pdf"'
        return response


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


# --- the forløp: board, henvisning and the steps before oppstart -----------------------------------


def _audit_referral(request, referral, action=AuditAction.VIEW) -> None:
    audit_record(
        action=action, object_type="referral", object_id=referral.pk, request=request,
        patient=referral.patient or NoPatientYet(municipality_id=referral.municipality_id),
    )  # fmt: skip


class BoardView(LoginRequiredMixin, TemplateView):
    """The forløp board: the koordinator's landing page, and the centre nurses' for their scope
    (a municipality filter). A 404 for anyone who handles no municipality's referrals."""

    template_name = "patients/board.html"

    def get_context_data(self, **kwargs):
        municipalities = board_municipalities(self.request.user)
        if not municipalities:
            raise Http404
        municipality = self.request.GET.get("municipality", "")
        sections = forlop_board(self.request.user, municipality=municipality)
        patients, referrals = board_audit_subjects(sections)
        # One INSERT for the whole board: the patients shown, and the referrals that have none yet
        # (their municipality is the subject), so the page costs the same whatever its length.
        shown = [(p.pk, p) for p in patients]
        shown += [(row.pk, NoPatientYet(municipality_id=row.municipality_id)) for row in referrals]
        notices = move_notices_for(self.request.user)
        shown += [(n.patient_id, n.patient) for n in notices]
        audit_record_list(object_type="forlop_board", objects=shown, request=self.request)
        return super().get_context_data(
            sections=sections,
            municipalities=municipalities,
            municipality=municipality,
            move_notices=notices,
            **kwargs,
        )


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


class ReferralCreateView(ForlopFormView):
    template_name = "patients/referral_form.html"
    form_class = ReferralForm
    success_message = gettext_lazy("Henvisningen er registrert.")

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated:
            self.municipalities = board_municipalities(request.user)
            if not self.municipalities:
                raise Http404
        return super().dispatch(request, *args, **kwargs)

    def get_form_kwargs(self):
        gps = referral_fastleger(self.request.user)  # the API's and referral_register's rule too
        return {**super().get_form_kwargs(), "municipalities": self.municipalities, "gps": gps}

    def perform(self, form):
        data = form.cleaned_data
        self.referral = referral_register(
            user=self.request.user, municipality=data["municipality"], national_id=data["national_id"],
            name=data["name"], referrer=data["referrer"], referrer_name=data["referrer_name"],
            diagnoses=data["diagnoses"], reason=data["reason"], gp=data["gp"],
            gp_outside_offered=data["gp_outside_offered"], phone=data["phone"],
            next_of_kin=data["next_of_kin"], received_on=data["received_on"], request=self.request,
        )  # fmt: skip

    def get_success_url(self):
        return reverse("patients:referral", args=[self.referral.pk])


class ReferralMixin(LoginRequiredMixin):
    """Binds `self.referral` through the scope selector before any handler runs (404 outside it)."""

    referral = None

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated:
            self.referral = get_referral_for(request.user, kwargs["referral_id"])
        return super().dispatch(request, *args, **kwargs)

    def get_success_url(self):
        return reverse("patients:referral", args=[self.referral.pk])

    def get_context_data(self, **kwargs):
        if self.request.method == "GET":
            _audit_referral(self.request, self.referral)
        return super().get_context_data(referral=self.referral, **kwargs)


class ReferralDetailView(ReferralMixin, TemplateView):
    """A henvisning and its forløp: the facts, the vurdering, the vedtak (with its letter and any
    klage), the samtykke and the history, with the next step offered."""

    template_name = "patients/referral.html"

    def get_context_data(self, **kwargs):
        referral = self.referral
        assessment = referral.assessments.select_related("assessed_by").first()
        decision = Decision.objects.select_related("decided_by").filter(referral=referral).first()
        appeals = list(decision.appeals.all()) if decision else []
        consents = list(referral.patient.consents.all()) if referral.patient else []
        criteria = [
            (label, (assessment.criteria.get(code) or {}) if assessment else {})
            for code, label in ASSESSMENT_CRITERIA.items()
        ]
        return super().get_context_data(
            assessment=assessment, criteria=criteria, decision=decision, appeals=appeals, consents=consents,
            pending_appeal=any(a.outcome == AppealOutcome.PENDING for a in appeals),
            diagnoses=[str(dict(Diagnosis.choices).get(code, code)) for code in referral.diagnoses],
            changes=referral.status_changes.select_related("by", "municipality", "previous_municipality"),
            **kwargs,
        )  # fmt: skip


class AssessmentView(ReferralMixin, ForlopFormView):
    template_name = "patients/assessment_form.html"
    form_class = AssessmentForm
    success_message = gettext_lazy("Vurderingen er lagret.")

    def perform(self, form):
        assessment_record(referral=self.referral, user=self.request.user, criteria=form.criteria(),
                          what_matters=form.cleaned_data["what_matters"], request=self.request)  # fmt: skip


class DecisionView(ReferralMixin, ForlopFormView):
    """«Fatt vedtak» in two steps: the form, then a confirmation showing the letter as it will be
    sent (the PDF's own text, hjemmel included); only «Bekreft» records the vedtak. «Endre» goes
    back to the form with what was written."""

    template_name = "patients/decision_form.html"
    form_class = DecisionForm
    success_message = gettext_lazy("Vedtaket er registrert.")

    def form_valid(self, form):
        if "edit" in self.request.POST:
            return self.render_to_response(self.get_context_data(form=self.form_class(initial=form.cleaned_data)))
        if "confirm" in self.request.POST:
            return super().form_valid(form)
        try:
            decision = decision_preview(referral=self.referral, user=self.request.user, **self._fields(form))
        except ReferralRefused as exc:
            form.add_error(None, str(exc))
            return self.form_invalid(form)
        decision.decided_at = timezone.now()
        letter = {**vedtak_context(decision), "preview": True}
        hidden = [field.as_hidden() for field in form]
        return self.response_class(request=self.request, template="patients/decision_confirm.html",
                                   context=self.get_context_data(form=form, letter=letter, hidden=hidden))  # fmt: skip

    @staticmethod
    def _fields(form) -> dict:
        data = form.cleaned_data
        names = ("outcome", "reason", "period_from", "period_to", "evaluation_date")
        return {name: data[name] for name in names}

    def perform(self, form):
        decision_record(referral=self.referral, user=self.request.user, request=self.request, **self._fields(form))


class AppealView(ReferralMixin, ForlopFormView):
    template_name = "patients/appeal_form.html"
    form_class = AppealForm
    success_message = gettext_lazy("Klagen er registrert.")

    def perform(self, form):
        appeal_register(referral=self.referral, user=self.request.user, request=self.request, **form.cleaned_data)


class AppealOutcomeView(ReferralMixin, ForlopFormView):
    template_name = "patients/appeal_outcome_form.html"
    form_class = AppealOutcomeForm
    success_message = gettext_lazy("Utfallet av klagen er registrert.")

    def perform(self, form):
        appeal_decide(referral=self.referral, user=self.request.user, request=self.request, **form.cleaned_data)


class ConsentView(PatientPageMixin, ForlopFormView):
    """The samtykke, on the patient (it exists from the grant on). The patient's nurses and
    koordinator record it; anyone else who sees the patient gets a 403."""

    template_name = "patients/consent_form.html"
    form_class = ConsentForm
    success_message = gettext_lazy("Samtykket er registrert.")

    def get(self, request, *args, **kwargs):
        self._require_role()
        return super().get(request, *args, **kwargs)

    def post(self, request, *args, **kwargs):
        self._require_role()
        return super().post(request, *args, **kwargs)

    def _require_role(self):
        if self.patient.municipality_id not in referral_municipality_ids(self.request.user):
            raise PermissionDenied("Bare koordinator og sykepleiere som følger opp kommunen, registrerer samtykke.")

    def get_context_data(self, **kwargs):
        if self.request.method == "GET":
            audit_record(action=AuditAction.VIEW, object_type="consent", object_id=self.patient.pk,
                         patient=self.patient, request=self.request)  # fmt: skip
        return super().get_context_data(patient=self.patient, consents=self.patient.consents.all(), **kwargs)

    def perform(self, form):
        consent_record(patient=self.patient, user=self.request.user, request=self.request, **form.cleaned_data)

    def get_success_url(self):
        return reverse("patients:detail", args=[self.patient.pk])


class PatientStepView(PatientPageMixin, ForlopFormView):
    """A step of a patient's forløp (oppstart, pause, gjenopptak, avslutning), or a fact of the patient
    edited on its own page (PatientFactFormView): those `may()` allows make it; anyone else who sees
    the patient gets a 403 with `not_allowed`, anyone outside a 404."""

    template_name = "patients/patient_step_form.html"
    refused = (StatusRefused,)
    title = ""
    button = ""
    not_allowed = "Bare sykepleiere og koordinatorer for pasienten kan endre forløpet."

    def may(self) -> bool:
        return can_change_status(self.request.user, self.patient)

    def get(self, request, *args, **kwargs):
        self._require_role()
        return super().get(request, *args, **kwargs)

    def post(self, request, *args, **kwargs):
        self._require_role()
        return super().post(request, *args, **kwargs)

    def _require_role(self):
        if not self.may():
            raise PermissionDenied(self.not_allowed)

    def get_context_data(self, **kwargs):
        if self.request.method == "GET":
            audit_record(action=AuditAction.VIEW, object_type="patient", object_id=self.patient.pk,
                         patient=self.patient, request=self.request)  # fmt: skip
        return super().get_context_data(patient=self.patient, title=self.title, button=self.button, **kwargs)

    def get_success_url(self):
        return reverse("patients:detail", args=[self.patient.pk])


class StartView(PatientStepView):
    """Oppstart. Choosing a kit proposes a free device of each of its types (htmx fetches the page
    again with ?kit= and swaps the kit's part; without script, «Foreslå enheter» posts back), and the
    nurse swaps any of them for another free device of that type before starting."""

    template_name = "patients/start_form.html"
    form_class = StartForm
    title = gettext_lazy("Oppstart")
    button = gettext_lazy("Start forløpet")
    success_message = gettext_lazy("Forløpet er startet.")

    def _kit(self):
        kits = {kit.name: kit for kit in start_kits(self.patient)}
        source = self.request.POST if self.request.method == "POST" else self.request.GET
        return kits, kits.get(source.get("kit", ""))

    def get_initial(self):
        _kits, kit = self._kit()
        return {**super().get_initial(), "kit": kit.name if kit else ""}

    def get_form_kwargs(self):
        kits, kit = self._kit()
        free = free_devices(self.patient, kit.device_types) if kit else None
        kwargs = {**super().get_form_kwargs(), "kits": list(kits), "kit": kit, "free": free}
        if self.request.method == "POST" and "propose" in self.request.POST:
            kwargs.pop("data", None)  # «Foreslå enheter» without script: the same form, kit part new
            kwargs.pop("files", None)
            kwargs["initial"] = {**kwargs.get("initial", {}), **self.request.POST.dict()}
        return kwargs

    def get_form(self, form_class=None):
        form = super().get_form(form_class)
        form.fields["kit"].widget.attrs.update({
            "hx-get": reverse("patients:start", args=[self.patient.pk]), "hx-trigger": "change",
            "hx-target": "#kit-devices", "hx-select": "#kit-devices", "hx-swap": "outerHTML",
            "aria-controls": "kit-devices",
        })  # fmt: skip
        return form

    def post(self, request, *args, **kwargs):
        if "propose" in request.POST:
            self._require_role()
            return self.render_to_response(self.get_context_data(form=self.get_form()))
        return super().post(request, *args, **kwargs)

    def perform(self, form):
        data = form.cleaned_data
        patient_start(
            patient=self.patient, user=self.request.user, devices=form.serials(), kit=data["kit"] or None,
            own_phone=data["own_phone"], training=data["training"], trial_until=data["trial_until"],
            started_on=data["started_on"], request=self.request,
        )  # fmt: skip


class PauseView(PatientStepView):
    form_class = PauseForm
    title = gettext_lazy("Pause")
    button = gettext_lazy("Sett på pause")
    success_message = gettext_lazy("Forløpet er satt på pause.")

    def perform(self, form):
        status_change_record(patient=self.patient, user=self.request.user, event=StatusEvent.PAUSED,
                             request=self.request, **form.cleaned_data)  # fmt: skip


class ResumeView(PatientStepView):
    form_class = ResumeForm
    title = gettext_lazy("Gjenoppta")
    button = gettext_lazy("Gjenoppta forløpet")
    success_message = gettext_lazy("Forløpet er gjenopptatt.")

    def perform(self, form):
        status_change_record(patient=self.patient, user=self.request.user, event=StatusEvent.RESUMED,
                             request=self.request, **form.cleaned_data)  # fmt: skip


class EndView(PatientStepView):
    """«Avslutt forløpet» in two steps: the form (reason, date, the devices handed back), then a
    confirmation listing the devices that stay out on loan (each with its «Ta imot») and the open
    alerts the end closes; only «Bekreft» ends the forløp. A device left out stays an open loan: the
    equipment page and this page list it until the centre takes it back."""

    form_class = EndForm
    title = gettext_lazy("Avslutt forløpet")
    button = gettext_lazy("Gå videre til bekreftelse")
    success_message = gettext_lazy("Forløpet er avsluttet.")

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "out": list(loans_out_for(self.patient))}

    def form_valid(self, form):
        if "edit" in self.request.POST:
            return self.render_to_response(self.get_context_data(form=self.get_form_class()(
                initial=form.cleaned_data, out=list(loans_out_for(self.patient)))))  # fmt: skip
        if "confirm" in self.request.POST:
            return super().form_valid(form)
        returned = {serial_key(s) for s in form.cleaned_data["returned"]}
        out = list(loans_out_for(self.patient))
        context = self.get_context_data(
            form=form, hidden=[field.as_hidden() for field in form],
            back=[loan for loan in out if serial_key(loan.device.serial) in returned],
            left_out=[loan for loan in out if serial_key(loan.device.serial) not in returned],
            reason_label=dict(form.fields["reason"].choices).get(form.cleaned_data["reason"], ""),
            end_date=form.cleaned_data["effective_date"] or timezone.localdate(),
        )  # fmt: skip
        return self.response_class(request=self.request, template="patients/end_confirm.html", context=context)

    def perform(self, form):
        patient_end(patient=self.patient, user=self.request.user, request=self.request, **form.cleaned_data)

    def get_context_data(self, **kwargs):
        # «Ta imot» is the centre's page (its register): linked for those who keep that register.
        keeps = register_centre_ids(self.request.user)
        return super().get_context_data(still_out=loans_out_for(self.patient), keeps=keeps, **kwargs)


# --- the centre's equipment ------------------------------------------------------------------------------


class EquipmentView(LoginRequiredMixin, TemplateView):
    """The device register of the user's centres: the list (state filter) with what is out and with
    whom, a device registered, a CSV imported (one result per line), return and cleaning. A 404 for
    anyone who keeps no register. A borrower's name shows only to someone who may see that patient."""

    template_name = "patients/equipment.html"
    page_size = 100

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated:
            self.centres = register_centres(request.user)
            if not self.centres:
                raise Http404
        return super().dispatch(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        state = self.request.GET.get("state", "")
        state = state if state in DeviceState.values else ""
        type_ = self.request.GET.get("type", "")
        type_ = type_ if type_ in DeviceType.values else ""
        search = self.request.GET.get("q", "").strip()[:100]
        devices = register_devices(self.request.user, state=state, type=type_, search=search)
        page = Paginator(devices, self.page_size).get_page(self.request.GET.get("page"))
        query = urlencode({k: v for k, v in (("state", state), ("type", type_), ("q", search)) if v})
        lent_to = {loan.patient_id for device in page.object_list for loan in device.open_loans}
        shown = list(visible_patients(self.request.user).filter(id__in=lent_to).only("id", "municipality_id", "gp_id"))
        if shown:  # the register itself is no patient's data; a borrower's name is
            audit_record_many(action=AuditAction.VIEW, object_type="device_list", patients=shown, request=self.request)
        kwargs.setdefault("device_form", DeviceForm(centres=self.centres))
        kwargs.setdefault("import_form", DeviceImportForm(centres=self.centres))
        kwargs.setdefault("kit_form", KitForm(centres=self.centres))
        kits = list(kits_for(self.request.user).order_by("centre__name", "name"))
        for kit in kits:
            kit.device_type_labels = device_type_labels(kit.device_types)
        return super().get_context_data(
            page=page, state=state, states=DeviceState.choices, type=type_, types=DeviceType.choices,
            search=search, query=query, centres=self.centres, shown={p.pk for p in shown}, kits=kits, **kwargs,
        )  # fmt: skip

    def post(self, request):
        form = DeviceForm(request.POST, centres=self.centres)
        if form.is_valid():
            data = form.cleaned_data
            try:
                device = device_register(centre=data["centre"], user=request.user, type=data["type"],
                                         serial=data["serial"], model=data["model"])  # fmt: skip
            except EquipmentRefused as exc:
                form.add_error(None, str(exc))
            else:
                messages.success(request, f"{device} er registrert.")
                return redirect("patients:equipment")
        return self.render_to_response(self.get_context_data(device_form=form))


class DeviceImportView(EquipmentView):
    def get(self, request, *args, **kwargs):
        raise Http404  # the form lives on the register page

    def post(self, request):
        form = DeviceImportForm(request.POST, request.FILES, centres=self.centres)
        results = None
        if form.is_valid():
            try:
                results = devices_import_csv(centre=form.cleaned_data["centre"], user=request.user,
                                             text=form.cleaned_data["text"])  # fmt: skip
            except EquipmentRefused as exc:
                form.add_error(None, str(exc))
        return self.render_to_response(self.get_context_data(import_form=form, results=results))


class KitCreateView(EquipmentView):
    """A kit made on the register page («Sett»); its errors are shown by the form there."""

    def get(self, request, *args, **kwargs):
        raise Http404  # the form lives on the register page

    def post(self, request):
        form = KitForm(request.POST, centres=self.centres)
        if form.is_valid():
            data = form.cleaned_data
            try:
                kit = kit_create(centre=data["centre"], user=request.user, name=data["name"],
                                 diagnosis=data["diagnosis"], device_types=data["device_types"])  # fmt: skip
            except EquipmentRefused as exc:
                form.add_error(None, str(exc))
            else:
                messages.success(request, f"Settet «{kit.name}» er lagret.")
                return redirect(reverse("patients:equipment") + "#kits")
        return self.render_to_response(self.get_context_data(kit_form=form))


def _back_to_register(request):
    back = request.POST.get("back", "")
    return redirect(reverse("patients:equipment") + (f"?{back}" if back else ""))


class DeviceStepView(RefusalMixin, LoginRequiredMixin, View):
    """Cleaning of one device of the user's centres (another centre's is a 404), from its row; a
    refusal is a message on the register."""

    def post(self, request, serial):
        device = get_device_for(request.user, serial, request.POST.get("centre", ""))
        self.perform(device)
        messages.success(request, self.done.format(device=device))
        return _back_to_register(request)

    def after_refusal(self):
        return _back_to_register(self.request)


class DeviceReturnView(LoginRequiredMixin, TemplateView):
    """«Ta imot»: a page that confirms the return of one device of the user's centres (another
    centre's is a 404): who has it since when, the date it came back (today by default; not in the
    future, not before the loan began) and the state it came back in. The return is audited on the
    borrower (the service); the page's read of the loan too. The patient page links here."""

    template_name = "patients/device_return.html"

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated:
            self.device = get_device_for(request.user, kwargs["serial"], request.GET.get("centre") or
                                         request.POST.get("centre", ""))  # fmt: skip
            self.loan = loans_open_for_device(self.device)
        return super().dispatch(request, *args, **kwargs)

    def get(self, request, *args, **kwargs):
        form = DeviceReturnForm(initial={"returned_on": timezone.localdate(), "condition": ReturnCondition.OK,
                                         "centre": self.device.centre.slug})  # fmt: skip
        return self.render_to_response(self.get_context_data(form=form))

    def get_context_data(self, **kwargs):
        shown = None
        if self.loan is not None and visible_patients(self.request.user).filter(pk=self.loan.patient_id).exists():
            shown = self.loan.patient
            audit_record(action=AuditAction.VIEW, object_type="device_loan", object_id=self.loan.pk, patient=shown,
                         request=self.request)  # fmt: skip
        back = self.request.GET.get("back", "") or self.request.POST.get("back", "")
        return super().get_context_data(device=self.device, loan=self.loan, borrower=shown, back=back, **kwargs)

    def post(self, request, *args, **kwargs):
        form = DeviceReturnForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                device_return(device=self.device, user=request.user, returned_on=data["returned_on"],
                              condition=data["condition"], note=data["note"], request=request)  # fmt: skip
            except EquipmentRefused as exc:
                form.add_error(None, str(exc))
            else:
                messages.success(request, RETURNED[data["condition"]].format(device=self.device))
                return _back_to_register(request)
        return self.render_to_response(self.get_context_data(form=form))


RETURNED = {
    ReturnCondition.OK: "{device} er tatt imot og venter på rengjøring.",
    ReturnCondition.DAMAGED: "{device} er tatt imot skadet og er kassert.",
    ReturnCondition.MISSING: "{device} er ikke levert og er meldt tapt; utlånet er avsluttet.",
}


class DeviceCleanView(DeviceStepView):
    done = "{device} er rengjort og kan lånes ut igjen."

    def perform(self, device):
        device_clean(device=device, user=self.request.user)


# --- «mulig flytting»: the side that has the record answers another kommune's grant ---------------


class MoveView(RefusalMixin, PatientPageMixin, TemplateView):
    """The open move notices of one patient: what accepting does, the devices still out, and the
    answer (accept, decline; «sett» for the requesting side's «flytting godtatt»). The patient's
    nurses and koordinator only (403 for others who see the patient, 404 outside the scope)."""

    template_name = "patients/move.html"

    def after_refusal(self):
        return redirect("patients:move", patient_id=self.patient.pk)

    def _require_role(self):
        if not can_change_status(self.request.user, self.patient):
            raise PermissionDenied(ANSWER_ROLE_REFUSED)

    def get(self, request, *args, **kwargs):
        self._require_role()
        audit_record(action=AuditAction.VIEW, object_type="move_notice", object_id=self.patient.pk,
                     patient=self.patient, request=request)  # fmt: skip
        return super().get(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        notices = [n for n in move_notices_for(self.request.user) if n.patient_id == self.patient.pk]
        return super().get_context_data(patient=self.patient, notices=notices, loans=loans_out_for(self.patient),
                                        **kwargs)  # fmt: skip

    def post(self, request, *args, **kwargs):
        self._require_role()
        notice = get_move_notice_for(request.user, patient=self.patient, notice_id=request.POST.get("notice"))
        answer = request.POST.get("answer", "")
        move_answer(notice=notice, answer=answer, user=request.user, request=request)  # refused: a message here
        messages.success(request, MOVE_ANSWERED[answer])
        return redirect("patients:detail", patient_id=self.patient.pk)


MOVE_ANSWERED = {
    "accept": gettext_lazy("Flyttingen er godtatt. Journalen er flyttet, og den andre kommunen har fått beskjed."),
    "decline": gettext_lazy("Flyttingen er avslått. Journalene holdes adskilt."),
    "seen": gettext_lazy("Meldingen er lest."),
}


# --- the call sheet: the patient's fastlege, phone and pårørende, edited on the patient page ----------


class PatientFactFormView(PatientStepView):
    """A fact of the patient edited on its own page (fastlege, phone and pårørende): each view's
    `may()` says who; the rest is the step view's."""

    button = gettext_lazy("Lagre")
    not_allowed = "Bare sykepleiere og koordinatorer for pasienten kan endre dette."


class PatientGpView(PatientFactFormView):
    """Set or change the patient's fastlege: the offered list, or another fastlege found by name or
    HPR number as an explicit choice (patients.services.fastlege). The permission moves with it."""

    form_class = PatientGpForm
    refused = (FastlegeRefused,)
    title = gettext_lazy("Fastlege")
    success_message = gettext_lazy("Fastlegen er lagret.")

    def may(self) -> bool:
        return can_set_fastlege(self.request.user, self.patient)

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

    def may(self) -> bool:
        return can_edit_contact_info(self.request.user, self.patient)

    def get_initial(self):
        return {"phone": self.patient.phone, "next_of_kin": self.patient.next_of_kin}

    def perform(self, form):
        contact_info_set(patient=self.patient, user=self.request.user, request=self.request, **form.cleaned_data)
