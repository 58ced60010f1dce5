"""The forløp's pages: the board, henvisning → vurdering → vedtak (klage) → samtykke → oppstart → pause
and gjenopptak → avslutning, the vedtaksbrev and the «mulig flytting» answers."""

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.http import Http404, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy
from django.views.generic import TemplateView, View

from patients.access import register_centre_ids
from patients.extensions import plan_approved_at, plan_may_edit
from patients.forlop import EVALUATION, offers
from patients.forms.forlop import (
    AppealForm,
    AppealOutcomeForm,
    AssessmentForm,
    ConsentForm,
    DecisionForm,
    EndForm,
    EvaluationForm,
    PauseForm,
    ReferralForm,
    ResumeForm,
    StartForm,
)
from patients.models import (
    ASSESSMENT_CRITERIA,
    AppealOutcome,
    Decision,
    Diagnosis,
    EndReason,
    StatusEvent,
)
from patients.pdf import vedtak_context, vedtak_pdf
from patients.selectors import (
    board_audit_subjects,
    board_municipalities,
    evaluation_due_on,
    evaluations_of,
    forlop_board,
    get_move_notice_for,
    get_referral_for,
    loans_out_for,
    move_notices_for,
    next_evaluation_default,
    referral_fastleger,
    start_kits,
)
from patients.services import (
    ReferralRefused,
    appeal_decide,
    appeal_register,
    assessment_record,
    consent_record,
    decision_preview,
    decision_record,
    free_devices,
    patient_end,
    patient_start,
    referral_register,
    serial_key,
    status_change_record,
)
from patients.services.evaluation import AdjustRefused, EvaluationOutcome, evaluation_record
from patients.services.moves import ANSWER_ROLE_REFUSED, move_answer
from patients.services.status import NoPatientYet, StatusRefused
from patients.views.base import ForlopFormView, PatientPageMixin, PatientStepView
from tenants.errors import RefusalMixin
from tenants.models import AuditAction
from tenants.norwegian import date_text
from tenants.services import audit_record, audit_record_list


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
        day = timezone.localdate(decision.decided_at)  # the letter's date, not the UTC day
        response["Content-Disposition"] = f'inline; filename="vedtak-{day:%Y-%m-%d}.pdf"'
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
    policy_step = "consent"
    not_allowed = "Bare koordinator og sykepleiere som følger opp kommunen, registrerer samtykke."

    def get_context_data(self, **kwargs):
        if self.request.method == "GET":
            audit_record(action=AuditAction.VIEW, object_type="consent", object_id=self.patient.pk,
                         patient=self.patient, request=self.request)  # fmt: skip
        return super().get_context_data(patient=self.patient, consents=self.patient.consents.all(), **kwargs)

    def perform(self, form):
        consent_record(patient=self.patient, user=self.request.user, request=self.request, **form.cleaned_data)

    def get_success_url(self):
        return reverse("patients:detail", args=[self.patient.pk])


class StartView(PatientStepView):
    """Oppstart. Choosing a kit proposes a free device of each of its types (htmx fetches the page
    again with ?kit= and swaps the kit's part; without script, «Foreslå enheter» posts back), and the
    nurse swaps any of them for another free device of that type before starting."""

    template_name = "patients/start_form.html"
    form_class = StartForm
    policy_step = "start"
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
        if "propose" in request.POST:  # the step was asked in dispatch
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
    policy_step = "pause"
    title = gettext_lazy("Pause")
    button = gettext_lazy("Sett på pause")
    success_message = gettext_lazy("Forløpet er satt på pause.")

    def perform(self, form):
        status_change_record(patient=self.patient, user=self.request.user, event=StatusEvent.PAUSED,
                             request=self.request, **form.cleaned_data)  # fmt: skip


class ResumeView(PatientStepView):
    form_class = ResumeForm
    policy_step = "resume"
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
    policy_step = "end"
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


# --- «mulig flytting»: the side that has the record answers another kommune's grant ---------------


class MoveView(RefusalMixin, PatientPageMixin, TemplateView):
    """The open move notices of one patient: what accepting does, the devices still out, and the
    answer (accept, decline; «sett» for the requesting side's «flytting godtatt»). The patient's
    nurses and koordinator only (403 for others who see the patient, 404 outside the scope)."""

    template_name = "patients/move.html"
    policy_step = "answer_move"
    not_allowed = ANSWER_ROLE_REFUSED

    def after_refusal(self):
        return redirect("patients:move", patient_id=self.patient.pk)

    def get(self, request, *args, **kwargs):
        audit_record(action=AuditAction.VIEW, object_type="move_notice", object_id=self.patient.pk,
                     patient=self.patient, request=request)  # fmt: skip
        return super().get(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        notices = [n for n in move_notices_for(self.request.user) if n.patient_id == self.patient.pk]
        return super().get_context_data(patient=self.patient, notices=notices, loans=loans_out_for(self.patient),
                                        **kwargs)  # fmt: skip

    def post(self, request, *args, **kwargs):
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


# --- evaluering ---------------------------------------------------------------------------------


class EvaluationView(PatientPageMixin, ForlopFormView):
    """Evaluering of a patient's forløp (patients.services.evaluation_record; triage and ebp do their
    part as receivers): it continues with a new date, the plan is adjusted (a nurse: a draft is
    opened) or it ends. The patient's nurses and koordinator record it, as the service allows; anyone
    else who sees the patient gets a 403, anyone outside a 404. A koordinator who chooses «adjust» is
    told why above the form, not sent to a bare 403."""

    template_name = "patients/evaluation_form.html"
    form_class = EvaluationForm
    refused = (StatusRefused,)
    policy_step = "evaluation"
    not_allowed = "Bare sykepleiere og koordinatorer for pasienten kan registrere evaluering."

    def get_initial(self):
        return {"next_date": next_evaluation_default(self.patient)}

    def get_context_data(self, **kwargs):
        if self.request.method == "GET":
            audit_record(action=AuditAction.VIEW, object_type="evaluation", object_id=self.patient.pk,
                         patient=self.patient, request=self.request)  # fmt: skip
        return super().get_context_data(
            patient=self.patient, due_on=evaluation_due_on(self.patient, plan_approved_at(self.patient)),
            evaluations=evaluations_of(self.patient), can_evaluate=offers(self.patient.status, EVALUATION.key),
            can_adjust=plan_may_edit(self.request.user, self.patient), **kwargs,
        )  # fmt: skip

    def perform(self, form):
        data = form.cleaned_data
        ends = data["outcome"] == EvaluationOutcome.END
        try:
            result = evaluation_record(
                patient=self.patient, user=self.request.user, outcome=data["outcome"],
                next_date=None if ends else data["next_date"], end_reason=data["end_reason"] if ends else "",
                note=data["note"], request=self.request,
            )  # fmt: skip
        except AdjustRefused:
            raise StatusRefused(
                "Bare sykepleiere som følger opp pasienten kan justere egenbehandlingsplanen. Velg «Fortsetter» "
                "og be sykepleieren åpne et nytt planutkast, eller la sykepleieren registrere evalueringen."
            ) from None
        self.success_message = self._done(data, result)

    def _done(self, data, result) -> str:
        if result.ended is not None:
            text = f"Evalueringen er registrert, og forløpet er avsluttet ({EndReason(data['end_reason']).label})."
            out = [str(loan.device) for loan in loans_out_for(self.patient)]
            if out:
                text += f" Utstyr som fortsatt er utlånt: {', '.join(out)}. Det tas imot på utstyrssiden."
            return text
        text = f"Evalueringen er registrert. Neste evaluering {date_text(data['next_date'])}."
        if result.draft is not None:
            text += f" Planen justeres: utkastet (versjon {result.draft.number}) er åpent under Egenbehandlingsplan."
        return text

    def get_success_url(self):
        return reverse("patients:detail", args=[self.patient.pk])
