"""The forløp's API: henvisning → vurdering → vedtak (klage) → samtykke → oppstart → pause and
gjenopptak → avslutning, the status history and the «mulig flytting» answers."""

import uuid

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from patients.access import referral_municipality_ids
from patients.api.base import PatientScopedAPIView
from patients.api.equipment import LoanOutSerializer
from patients.api.record import MunicipalityOutSerializer
from patients.models import (
    ASSESSMENT_CRITERIA,
    Appeal,
    AppealOutcome,
    Assessment,
    ConsentGivenBy,
    ConsentMethod,
    CriterionAnswer,
    Decision,
    DecisionOutcome,
    Diagnosis,
    EndReason,
    MoveNotice,
    Referral,
    ReferralStatus,
    Referrer,
    StatusChange,
    StatusEvent,
)
from patients.selectors import (
    get_move_notice_for,
    get_referral_for,
    loans_out_for,
    move_notices_for,
    visible_referrals,
    with_visible_patient,
)
from patients.services import (
    appeal_decide,
    appeal_register,
    assessment_record,
    consent_record,
    decision_record,
    fastlege_named,
    patient_end,
    patient_start,
    referral_register,
    status_change_record,
)
from patients.services.evaluation import EvaluationOutcome, evaluation_record
from patients.services.moves import ANSWER_ROLE_REFUSED, move_answer
from patients.services.status import NoPatientYet
from tenants.errors import refused_field
from tenants.models import AuditAction, Municipality
from tenants.services import audit_record, audit_record_list, audit_record_many

# --- the henvisning process: henvisning → vurdering → vedtak (klage) → samtykke ------------------------


class ReferralScopedAPIView(APIView):
    """Base for every API view under /referrals/{referral_id}/: binds the referral through the scope
    selector after authentication, so a foreign or missing referral is a 404 for every method."""

    referral: Referral

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        self.referral = get_referral_for(request.user, kwargs["referral_id"])


def _audit_referral(request, referral: Referral, object_type: str, object_id, action=AuditAction.VIEW) -> None:
    subject = referral.patient or NoPatientYet(municipality_id=referral.municipality_id)
    audit_record(action=action, object_type=object_type, object_id=object_id, patient=subject, request=request)


class ReferralInSerializer(serializers.Serializer):
    national_id = serializers.CharField(max_length=20, help_text="Fødselsnummer eller D-nummer, 11 sifre")
    name = serializers.CharField(max_length=200)
    municipality = serializers.CharField(max_length=4, help_text="Kommunenummer, fire sifre")
    referrer = serializers.ChoiceField(choices=Referrer.choices, help_text="Hvem henviste")
    referrer_name = serializers.CharField(required=False, allow_blank=True, max_length=200)
    diagnoses = serializers.ListField(child=serializers.ChoiceField(choices=Diagnosis.choices), required=False)
    reason = serializers.CharField(max_length=5000, help_text="Begrunnelse for henvisningen")
    gp = serializers.CharField(
        required=False, allow_blank=True,  # no max_length: a refusal of the gp has one message (validate)
        help_text="Fastlegens brukernavn eller HPR-nummer: en av fastlegene som tilbys for kommunen, eller "
                  "(med gp_outside_offered) en annen fastlege på plattformen",
    )  # fmt: skip
    gp_outside_offered = serializers.BooleanField(
        required=False, default=False,
        help_text="Bevisst valg av en fastlege utenfor listen som tilbys for kommunen (logges)",
    )  # fmt: skip
    phone = serializers.CharField(required=False, allow_blank=True, max_length=20)
    next_of_kin = serializers.CharField(required=False, allow_blank=True, max_length=2000)
    received_on = serializers.DateField(required=False, help_text="Mottatt (standard: i dag)")

    def validate_municipality(self, number):
        # The user's own referral municipalities only: another one is answered like a missing one.
        user = self.context["request"].user
        found = Municipality.objects.filter(number=number, id__in=referral_municipality_ids(user)).first()
        if found is None:
            raise serializers.ValidationError(f"Du kan ikke registrere henvisninger for kommunenummer {number}.")
        return found

    def validate(self, data):
        # One rule with the form (patients.services.fastlege): outside the offered list only with the
        # explicit flag, and every refusal in the same words whatever was named.
        given = data.pop("gp", "")
        data["gp"] = None
        if given and data.get("municipality"):
            with refused_field("gp"):  # answered as this serializer's error on «gp»
                data["gp"], _ = fastlege_named([data["municipality"].pk], given,
                                               outside_offered=data["gp_outside_offered"])  # fmt: skip
        return data


class ReferralCreatedSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.CharField()


class ReferralOutSerializer(serializers.ModelSerializer):
    national_id = serializers.CharField(source="national_id_masked", help_text="Maskert: 010180 *****")
    municipality = MunicipalityOutSerializer()
    patient = serializers.SerializerMethodField(help_text="Pasienten, der brukeren har tilgang til den")

    def get_patient(self, referral) -> uuid.UUID | None:
        # The patient as the selector gave it (patients.selectors.with_visible_patient): none for the
        # old kommune after a move, though the referral still links the record (patient_id).
        return referral.patient.pk if referral.patient else None

    class Meta:
        model = Referral
        fields = ["id", "name", "national_id", "municipality", "status", "referrer", "diagnoses", "patient",
                  "created_at"]  # fmt: skip


class AssessmentOutSerializer(serializers.ModelSerializer):
    assessed_by = serializers.CharField(source="assessed_by.username")

    class Meta:
        model = Assessment
        fields = ["id", "criteria", "what_matters", "assessed_by", "assessed_at"]


class AppealOutSerializer(serializers.ModelSerializer):
    class Meta:
        model = Appeal
        fields = ["id", "received_on", "note", "outcome", "outcome_on"]


class DecisionOutSerializer(serializers.ModelSerializer):
    decided_by = serializers.CharField(source="decided_by.username")
    appeals = AppealOutSerializer(many=True)

    class Meta:
        model = Decision
        fields = ["outcome", "reason", "legal_basis", "period_from", "period_to", "evaluation_date", "decided_by",
                  "decided_at", "appeals"]  # fmt: skip


class ReferralDetailSerializer(ReferralOutSerializer):
    gp = serializers.SerializerMethodField()
    assessment = serializers.SerializerMethodField()
    decision = serializers.SerializerMethodField()
    history = serializers.SerializerMethodField()

    class Meta(ReferralOutSerializer.Meta):
        fields = [*ReferralOutSerializer.Meta.fields, "referrer_name", "reason", "gp", "phone", "next_of_kin",
                  "assessment", "decision", "history"]  # fmt: skip

    def get_gp(self, referral) -> str | None:
        return referral.gp.username if referral.gp else None

    def get_assessment(self, referral) -> dict | None:
        latest = referral.assessments.select_related("assessed_by").first()
        return AssessmentOutSerializer(latest).data if latest else None

    def get_decision(self, referral) -> dict | None:
        decision = Decision.objects.select_related("decided_by").filter(referral=referral).first()
        return DecisionOutSerializer(decision).data if decision else None

    def get_history(self, referral) -> list[dict]:
        return StatusChangeOutSerializer(referral.status_changes.select_related("by"), many=True).data


@extend_schema(parameters=[OpenApiParameter("status", str, description="Henvisningens status")])
class ReferralListAPI(generics.ListCreateAPIView):
    """GET: the referrals of the user's municipalities. POST: register a henvisning; the answer is the
    same whether or not the person exists outside the user's scope (patients.services.referrals)."""

    def get_serializer_class(self):
        return ReferralInSerializer if self.request.method == "POST" else ReferralOutSerializer

    def get_queryset(self):
        referrals = with_visible_patient(visible_referrals(self.request.user), self.request.user)
        status = self.request.query_params.get("status", "")
        if status and status not in ReferralStatus.values:
            raise serializers.ValidationError({"status": f"Ukjent status: {status}."})
        return (referrals.filter(status=status) if status else referrals).order_by("-created_at", "id")

    def paginate_queryset(self, queryset):
        page = super().paginate_queryset(queryset)
        # One INSERT for the page; a referral before the grant has its municipality as subject.
        shown = [(r.pk, r.patient or NoPatientYet(municipality_id=r.municipality_id)) for r in page]
        audit_record_list(object_type="referral_list", objects=shown, request=self.request)
        return page

    @extend_schema(responses={201: ReferralCreatedSerializer})
    def post(self, request):
        given = self.get_serializer(data=request.data)
        given.is_valid(raise_exception=True)
        referral = referral_register(user=request.user, request=request, **given.validated_data)
        return Response({"id": str(referral.pk), "status": referral.status}, status=201)


class ReferralDetailAPI(ReferralScopedAPIView, generics.GenericAPIView):
    serializer_class = ReferralDetailSerializer

    def get(self, request, referral_id):
        _audit_referral(request, self.referral, "referral", self.referral.pk)
        return Response(self.get_serializer(self.referral).data)


class CriterionInSerializer(serializers.Serializer):
    answer = serializers.ChoiceField(choices=CriterionAnswer.choices)
    comment = serializers.CharField(required=False, allow_blank=True, max_length=2000)


class AssessmentInSerializer(serializers.Serializer):
    criteria = serializers.DictField(
        child=CriterionInSerializer(), help_text=f"Ett svar for hvert kriterium: {', '.join(ASSESSMENT_CRITERIA)}"
    )
    what_matters = serializers.CharField(required=False, allow_blank=True, max_length=5000,
                                         help_text="Kartleggingen: «Hva er viktig for deg?»")  # fmt: skip


class DecisionInSerializer(serializers.Serializer):
    outcome = serializers.ChoiceField(choices=DecisionOutcome.choices)
    reason = serializers.CharField(allow_blank=True, max_length=10000, help_text="Begrunnelse (påkrevd)")
    period_from = serializers.DateField(required=False, help_text="Innvilget: periodens start (standard: i dag)")
    period_to = serializers.DateField(required=False, help_text="Innvilget: periodens slutt")
    evaluation_date = serializers.DateField(required=False, help_text="Innvilget: innenfor perioden")


class AppealInSerializer(serializers.Serializer):
    received_on = serializers.DateField(help_text="Når klagen ble mottatt")
    note = serializers.CharField(required=False, allow_blank=True, max_length=5000)


class AppealDecideInSerializer(serializers.Serializer):
    outcome = serializers.ChoiceField(choices=[AppealOutcome.UPHELD, AppealOutcome.REVERSED])
    decided_on = serializers.DateField(required=False, help_text="Avgjort (standard: i dag)")
    note = serializers.CharField(required=False, allow_blank=True, max_length=5000)


class ReferralStepOutSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="Vurderingens, vedtakets eller klagens id")
    status = serializers.ChoiceField(choices=ReferralStatus.choices, help_text="Henvisningens status etter steget")
    outcome = serializers.CharField(required=False, help_text="Vedtak og klageavgjørelse: utfallet")
    patient_id = serializers.UUIDField(required=False, allow_null=True, help_text="Innvilget vedtak: pasienten")


class ConsentOutSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    referral_id = serializers.UUIDField(allow_null=True, help_text="Det innvilgede vedtakets henvisning")


class _ReferralStepAPI(ReferralScopedAPIView, generics.GenericAPIView):
    """POST one step of the henvisning: 201 with the step and the referral's status; a step out of
    order is a 400 saying why; a user who may not take it a 403."""

    def step(self, data: dict):
        raise NotImplementedError

    def answer(self, result) -> dict:
        return {"id": result.pk}

    @extend_schema(responses={201: ReferralStepOutSerializer})
    def post(self, request, referral_id):
        given = self.get_serializer(data=request.data)
        given.is_valid(raise_exception=True)
        result = self.step(given.validated_data)
        self.referral.refresh_from_db()
        return Response({**self.answer(result), "status": self.referral.status}, status=201)


class AssessmentAPI(_ReferralStepAPI):
    serializer_class = AssessmentInSerializer

    def step(self, data):
        return assessment_record(referral=self.referral, user=self.request.user, request=self.request, **data)


class DecisionAPI(_ReferralStepAPI):
    serializer_class = DecisionInSerializer

    def step(self, data):
        return decision_record(referral=self.referral, user=self.request.user, request=self.request, **data)

    def answer(self, decision) -> dict:
        patient_id = decision.referral.patient_id
        return {"id": decision.pk, "outcome": decision.outcome, "patient_id": str(patient_id) if patient_id else None}


class AppealAPI(_ReferralStepAPI):
    serializer_class = AppealInSerializer

    def step(self, data):
        return appeal_register(referral=self.referral, user=self.request.user, request=self.request, **data)


class AppealDecideAPI(_ReferralStepAPI):
    serializer_class = AppealDecideInSerializer

    def step(self, data):
        return appeal_decide(referral=self.referral, user=self.request.user, request=self.request, **data)

    def answer(self, appeal) -> dict:
        return {"id": appeal.pk, "outcome": appeal.outcome}


class ConsentInSerializer(serializers.Serializer):
    given_by = serializers.ChoiceField(choices=ConsentGivenBy.choices)
    representative_name = serializers.CharField(required=False, allow_blank=True, max_length=200)
    representative_role = serializers.CharField(required=False, allow_blank=True, max_length=100,
                                                help_text="For eksempel verge eller fullmektig")  # fmt: skip
    method = serializers.ChoiceField(choices=ConsentMethod.choices)
    given_on = serializers.DateField()


class ConsentAPI(PatientScopedAPIView, generics.GenericAPIView):
    serializer_class = ConsentInSerializer

    @extend_schema(responses={201: ConsentOutSerializer})
    def post(self, request, patient_id):
        given = self.get_serializer(data=request.data)
        given.is_valid(raise_exception=True)
        consent = consent_record(patient=self.patient, user=request.user, request=request, **given.validated_data)
        return Response({"id": consent.pk, "referral_id": consent.referral_id}, status=201)


# --- the forløp's status history ------------------------------------------------------------------


class StatusChangeOutSerializer(serializers.ModelSerializer):
    by = serializers.SerializerMethodField()

    class Meta:
        model = StatusChange
        fields = ["id", "event", "effective_date", "until", "end_reason", "note", "by", "at"]

    def get_by(self, change) -> str | None:
        return change.by.username if change.by else None


class StatusInSerializer(serializers.Serializer):
    effective_date = serializers.DateField(
        required=False, help_text="Gjelder fra (standard: i dag); kan tilbakedateres, ikke før siste endring"
    )
    note = serializers.CharField(required=False, allow_blank=True, max_length=2000)


class PauseInSerializer(StatusInSerializer):
    until = serializers.DateField(help_text="Pause til og med")


class EndInSerializer(StatusInSerializer):
    reason = serializers.ChoiceField(choices=EndReason.choices, help_text="Årsak til avslutningen")


class _StatusStepAPI(PatientScopedAPIView, generics.GenericAPIView):
    """POST one step of the forløp: 201 with the new row and the patient's status; a step that does
    not fit the history is a 400 saying why; a user who may not change it a 403."""

    event: str
    serializer_class = StatusInSerializer

    @extend_schema(responses={201: StatusChangeOutSerializer})
    def post(self, request, patient_id):
        given = self.get_serializer(data=request.data)
        given.is_valid(raise_exception=True)
        data = given.validated_data
        change = status_change_record(
            patient=self.patient,
            user=request.user,
            event=self.event,
            effective_date=data.get("effective_date"),
            until=data.get("until"),
            end_reason=data.get("reason", ""),
            note=data.get("note", ""),
            request=request,
        )
        body = {**StatusChangeOutSerializer(change).data, "status": change.patient.status}
        return Response(body, status=201)


class PauseAPI(_StatusStepAPI):
    event = StatusEvent.PAUSED
    serializer_class = PauseInSerializer


class ResumeAPI(_StatusStepAPI):
    event = StatusEvent.RESUMED


class HistoryAPI(PatientScopedAPIView, generics.GenericAPIView):
    serializer_class = StatusChangeOutSerializer
    pagination_class = None  # the whole history, one list (and so in the schema)

    @extend_schema(responses=StatusChangeOutSerializer(many=True))
    def get(self, request, patient_id):
        audit_record(
            action=AuditAction.VIEW, object_type="status_history", object_id=self.patient.pk, patient=self.patient,
            request=request,
        )  # fmt: skip
        changes = self.patient.status_changes.select_related("by")
        return Response(self.get_serializer(changes, many=True).data)


# --- oppstart ---------------------------------------------------------------------------------------


class StartInSerializer(serializers.Serializer):
    devices = serializers.ListField(
        child=serializers.CharField(max_length=100), required=False, default=list,
        help_text="Serienumrene som lånes ut ved oppstart",
    )  # fmt: skip
    kit = serializers.CharField(required=False, allow_blank=True, max_length=100,
                                help_text="Utstyrspakken enhetene utgjør (navn)")  # fmt: skip
    own_phone = serializers.BooleanField(default=False, help_text="Bruker egen telefon (ellers et utlånt nettbrett)")
    training = serializers.CharField(required=False, allow_blank=True, max_length=5000, help_text="Opplæring gitt")
    trial_until = serializers.DateField(required=False, allow_null=True, help_text="Innkjøringsperioden til")
    started_on = serializers.DateField(required=False, help_text="Oppstartsdato (standard: i dag)")


class StartOutSerializer(StatusChangeOutSerializer):
    status = serializers.CharField(help_text="Pasientens status etter oppstart: active")
    loans = LoanOutSerializer(many=True, help_text="Utstyret pasienten har")

    class Meta(StatusChangeOutSerializer.Meta):
        fields = [*StatusChangeOutSerializer.Meta.fields, "status", "loans"]


class StartAPI(PatientScopedAPIView, generics.GenericAPIView):
    """Oppstart: 201 with the `started` row, the patient's status and what is lent; out of order (no
    samtykke, no granted vedtak, already started, a device on loan or not cleaned) a 400 saying why."""

    serializer_class = StartInSerializer

    @extend_schema(responses={201: StartOutSerializer})
    def post(self, request, patient_id):
        given = self.get_serializer(data=request.data)
        given.is_valid(raise_exception=True)
        change = patient_start(patient=self.patient, user=request.user, request=request, **given.validated_data)
        audit_record(
            action=AuditAction.VIEW, object_type="device_loans", object_id=self.patient.pk, patient=self.patient,
            request=request,
        )  # fmt: skip
        loans = LoanOutSerializer(loans_out_for(self.patient), many=True).data
        body = {**StatusChangeOutSerializer(change).data, "status": change.patient.status, "loans": loans}
        return Response(body, status=201)


# --- avslutning ----------------------------------------------------------------------------------


class EndReturnInSerializer(EndInSerializer):
    def get_fields(self):
        # «return» is a Python keyword, so the field cannot be a class attribute.
        returned = serializers.ListField(
            child=serializers.CharField(max_length=100), required=False, default=list,
            help_text="Serienumrene som leveres tilbake nå (resten står som utlånt)",
        )  # fmt: skip
        return super().get_fields() | {"return": returned}


class EndOutSerializer(StatusChangeOutSerializer):
    status = serializers.CharField(help_text="Pasientens status etter steget")
    still_out = LoanOutSerializer(many=True, help_text="Utstyr som fortsatt er utlånt til pasienten")

    class Meta(StatusChangeOutSerializer.Meta):
        fields = [*StatusChangeOutSerializer.Meta.fields, "status", "still_out"]


class EndAPI(_StatusStepAPI):
    """Avslutning with a reason and a date; devices named in `return` are taken back in the same
    step, and the answer lists what is still out (returned later through /devices/{serial}/return/)."""

    event = StatusEvent.ENDED
    serializer_class = EndReturnInSerializer

    @extend_schema(responses={201: EndOutSerializer})
    def post(self, request, patient_id):
        given = self.get_serializer(data=request.data)
        given.is_valid(raise_exception=True)
        data = given.validated_data
        change = patient_end(
            patient=self.patient, user=request.user, reason=data["reason"],
            effective_date=data.get("effective_date"), note=data.get("note", ""), returned=data["return"],
            request=request,
        )  # fmt: skip
        audit_record(
            action=AuditAction.VIEW, object_type="device_loans", object_id=self.patient.pk, patient=self.patient,
            request=request,
        )  # fmt: skip
        still_out = LoanOutSerializer(loans_out_for(self.patient), many=True).data
        body = {**StatusChangeOutSerializer(change).data, "status": change.patient.status, "still_out": still_out}
        return Response(body, status=201)


# --- «mulig flytting»: the side that has the record answers another kommune's grant ---------------


class MoveNoticeOutSerializer(serializers.ModelSerializer):
    patient_id = serializers.UUIDField()
    patient_name = serializers.CharField(source="patient.name")
    other_municipality = MunicipalityOutSerializer(help_text="Kommunen som innvilget (request) eller godtok")

    class Meta:
        model = MoveNotice
        fields = ["id", "kind", "state", "patient_id", "patient_name", "other_municipality", "requested_on",
                  "decided_at"]  # fmt: skip


class MoveAnswerInSerializer(serializers.Serializer):
    notice = serializers.IntegerField(help_text="Meldingens id")
    answer = serializers.ChoiceField(
        choices=[("accept", "Godta flytting"), ("decline", "Avslå"), ("seen", "Merk som lest")],
        help_text="accept/decline svarer på «mulig flytting»; seen kvitterer for «flytting godtatt»",
    )


class MoveNoticeListAPI(generics.ListAPIView):
    """The open «mulig flytting» requests and unread «flytting godtatt» notices of the kommuner whose
    forløp the user handles (the board's box), newest first."""

    serializer_class = MoveNoticeOutSerializer
    pagination_class = None

    def get_queryset(self):
        notices = move_notices_for(self.request.user)
        audit_record_many(action=AuditAction.VIEW, object_type="move_notice", request=self.request,
                          patients=list({n.patient_id: n.patient for n in notices}.values()))  # fmt: skip
        return notices


class PatientMoveAPI(PatientScopedAPIView, generics.GenericAPIView):
    """GET this patient's open notices; POST an answer. The patient's nurses and koordinator only
    (403 for others who see the patient); an answered notice is a 400 saying so."""

    serializer_class = MoveAnswerInSerializer
    pagination_class = None  # a handful at most, one list (and so in the schema)

    policy_step = "answer_move"
    not_allowed = ANSWER_ROLE_REFUSED

    @extend_schema(responses=MoveNoticeOutSerializer(many=True))
    def get(self, request, patient_id):
        audit_record(action=AuditAction.VIEW, object_type="move_notice", object_id=self.patient.pk,
                     patient=self.patient, request=request)  # fmt: skip
        notices = [n for n in move_notices_for(request.user) if n.patient_id == self.patient.pk]
        return Response(MoveNoticeOutSerializer(notices, many=True).data)

    @extend_schema(responses={200: MoveNoticeOutSerializer})
    def post(self, request, patient_id):
        given = self.get_serializer(data=request.data)
        given.is_valid(raise_exception=True)
        notice = get_move_notice_for(request.user, patient=self.patient, notice_id=given.validated_data["notice"])
        move_answer(notice=notice, answer=given.validated_data["answer"], user=request.user, request=request)
        notice.refresh_from_db()
        return Response(MoveNoticeOutSerializer(notice).data)


# --- evaluering -----------------------------------------------------------------------------------


class EvaluationInSerializer(serializers.Serializer):
    outcome = serializers.ChoiceField(
        choices=list(EvaluationOutcome.LABELS.items()), help_text="continue, adjust (åpner et planutkast) eller end"
    )
    next_date = serializers.DateField(required=False, allow_null=True, help_text="Neste evaluering (continue, adjust)")
    end_reason = serializers.ChoiceField(choices=EndReason.choices, required=False, help_text="Årsak (end)")
    note = serializers.CharField(required=False, allow_blank=True, max_length=5000)


class EvaluationOutSerializer(serializers.Serializer):
    contact_id = serializers.IntegerField()
    evaluated = StatusChangeOutSerializer()
    ended = StatusChangeOutSerializer(allow_null=True)
    draft_version = serializers.IntegerField(allow_null=True, help_text="Adjust: planutkastets versjonsnummer")
    status = serializers.CharField(help_text="Pasientens status etter evalueringen")


class EvaluationAPI(PatientScopedAPIView, generics.GenericAPIView):
    """An evaluation of the forløp: 201 with the `evaluated` row (and the `ended` row, or the plan
    draft's number); a step that does not fit the forløp is a 400 saying why, a user without the
    role a 403."""

    serializer_class = EvaluationInSerializer

    @extend_schema(responses={201: EvaluationOutSerializer})
    def post(self, request, patient_id):
        given = self.get_serializer(data=request.data)
        given.is_valid(raise_exception=True)
        result = evaluation_record(patient=self.patient, user=request.user, request=request, **given.validated_data)
        self.patient.refresh_from_db(fields=["status", "status_until"])
        body = {
            "contact_id": result.contact.pk,
            "evaluated": StatusChangeOutSerializer(result.change).data,
            "ended": StatusChangeOutSerializer(result.ended).data if result.ended else None,
            "draft_version": result.draft.number if result.draft else None,
            "status": self.patient.status,
        }
        return Response(body, status=201)
