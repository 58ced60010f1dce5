from django.db.models import Prefetch
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import exceptions, generics, serializers
from rest_framework.parsers import BaseParser
from rest_framework.response import Response
from rest_framework.views import APIView

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
    Device,
    DeviceLoan,
    DeviceState,
    DeviceType,
    Diagnosis,
    EndReason,
    Kit,
    MoveNotice,
    Patient,
    Referral,
    ReferralStatus,
    Referrer,
    StatusChange,
    StatusEvent,
)
from patients.selectors import (
    device_type_labels,
    devices_for,
    get_device_for,
    get_move_notice_for,
    get_patient_for,
    get_referral_for,
    kits_for,
    loans_of,
    loans_out_for,
    move_notices_for,
    search_patients,
    visible_patients,
    visible_referrals,
)
from patients.services import (
    ContactInfoRefused,
    FastlegeRefused,
    ReferralRefused,
    StatusRefused,
    appeal_decide,
    appeal_register,
    assessment_record,
    can_change_status,
    consent_record,
    contact_info_set,
    decision_record,
    fastlege_label,
    fastlege_named,
    fastlege_search,
    offered_fastleger,
    patient_end,
    patient_gp_set,
    patient_start,
    referral_municipality_ids,
    referral_register,
    status_change_record,
)
from patients.services.equipment import (
    EquipmentRefused,
    EquipmentRoleRequired,
    device_clean,
    device_discard,
    device_register,
    device_return,
    devices_import_csv,
    devices_lend,
    kit_create,
    kit_for,
    register_centre_ids,
)
from patients.services.moves import ANSWER_ROLE_REFUSED, MoveRefused, move_answer
from patients.services.status import NoPatientYet
from tenants.api_input import read_capped
from tenants.models import AuditAction, Centre, Municipality
from tenants.people import display_name
from tenants.selectors import (
    ACCESS_LOG_REFUSED,
    AccessLogPeriodError,
    access_log,
    access_log_period,
    access_rows,
    may_read_access_log,
)
from tenants.services import audit_record, audit_record_list, audit_record_many


class PatientScopedAPIView(APIView):
    """Base for every API view under /patients/{patient_id}/: binds the patient once, after
    authentication and before the handler, so a foreign or missing patient is a 404 for every method."""

    patient: Patient

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        self.patient = get_patient_for(request.user, kwargs["patient_id"])


class MunicipalityOutSerializer(serializers.Serializer):
    number = serializers.CharField()
    name = serializers.CharField()


class PatientOutSerializer(serializers.ModelSerializer):
    national_id = serializers.CharField(source="national_id_masked", help_text="Maskert: 010180 *****")
    municipality = MunicipalityOutSerializer()
    gp = serializers.SerializerMethodField()

    class Meta:
        model = Patient
        fields = ["id", "name", "national_id", "birth_date", "municipality", "status", "diagnoses", "gp", "phone",
                  "next_of_kin"]  # fmt: skip

    def get_gp(self, patient) -> str | None:
        return display_name(patient.gp) if patient.gp else None


@extend_schema(
    parameters=[
        OpenApiParameter("search", str, description="Navn eller starten av fødselsnummeret"),
        OpenApiParameter("municipality", str, description="Kommunenummer, fire sifre"),
    ]
)
class PatientListAPI(generics.ListAPIView):
    serializer_class = PatientOutSerializer

    def get_queryset(self):
        return search_patients(
            visible_patients(self.request.user).select_related("municipality", "gp"),
            search=self.request.query_params.get("search", ""),
            municipality=self.request.query_params.get("municipality", ""),
        ).order_by("name", "id")

    def paginate_queryset(self, queryset):
        page = super().paginate_queryset(queryset)
        audit_record_many(action=AuditAction.VIEW, object_type="patient_list", patients=page, request=self.request)
        return page


class PatientDetailAPI(PatientScopedAPIView, generics.GenericAPIView):
    serializer_class = PatientOutSerializer

    def get(self, request, patient_id):
        audit_record(
            action=AuditAction.VIEW,
            object_type="patient",
            object_id=self.patient.pk,
            patient=self.patient,
            request=request,
        )
        return Response(self.get_serializer(self.patient).data)


# --- the call sheet: fastlege, phone and pårørende -------------------------------------------------------


class FastlegeOutSerializer(serializers.Serializer):
    username = serializers.CharField()
    name = serializers.SerializerMethodField()
    municipalities = serializers.ListField(child=serializers.CharField(), source="gp_municipalities")
    hpr_numbers = serializers.SerializerMethodField()

    def get_name(self, gp) -> str:
        return fastlege_label(gp)

    def get_hpr_numbers(self, gp) -> list[str]:
        return [n for n in gp.gp_hpr_numbers if n]


def _patient_out(patient: Patient) -> dict:
    return PatientOutSerializer(Patient.objects.select_related("municipality", "gp").get(pk=patient.pk)).data


class PatientGpOutSerializer(serializers.Serializer):
    gp = serializers.CharField(allow_null=True, help_text="Fastlegens brukernavn, eller null")
    offered = FastlegeOutSerializer(many=True, help_text="Fastlegene som tilbys for pasientens kommune, først")
    found = FastlegeOutSerializer(many=True, help_text="Med ?search=: andre fastleger på plattformen")


class PatientGpInSerializer(serializers.Serializer):
    gp = serializers.CharField(
        allow_blank=True, allow_null=True,  # no max_length: a refusal has one message
        help_text="Fastlegens brukernavn eller HPR-nummer; tom eller null: ingen fastlege registrert",
    )  # fmt: skip
    gp_outside_offered = serializers.BooleanField(
        required=False, default=False,
        help_text="Bevisst valg av en fastlege utenfor listen som tilbys for kommunen (logges)",
    )  # fmt: skip


class PatientGpAPI(PatientScopedAPIView, generics.GenericAPIView):
    """The patient's fastlege. GET: the current one and the offered list (with ?search=, name or HPR
    number: other fastleger on the platform). POST: set or change it, one rule with the patient page
    (patients.services.fastlege); the fastlege's access to the patient moves with it."""

    serializer_class = PatientGpInSerializer

    @extend_schema(
        parameters=[OpenApiParameter("search", str, description="Navn eller HPR-nummer")],
        responses={200: PatientGpOutSerializer},
    )
    def get(self, request, patient_id):
        ids = [self.patient.municipality_id]
        search = request.query_params.get("search", "").strip()
        try:
            found = fastlege_search(ids, search) if search else []
        except FastlegeRefused as exc:
            return _refused(exc)
        audit_record(action=AuditAction.VIEW, object_type="patient_gp", object_id=self.patient.pk,
                     patient=self.patient, request=request)  # fmt: skip
        gp = self.patient.gp
        return Response(PatientGpOutSerializer(
            {"gp": gp.username if gp else None, "offered": offered_fastleger(ids), "found": found}
        ).data)  # fmt: skip

    @extend_schema(responses={200: PatientOutSerializer})
    def post(self, request, patient_id):
        given = self.get_serializer(data=request.data)
        given.is_valid(raise_exception=True)
        name, outside = given.validated_data["gp"], given.validated_data["gp_outside_offered"]
        try:
            gp = fastlege_named([self.patient.municipality_id], name, outside_offered=outside)[0] if name else None
            patient = patient_gp_set(patient=self.patient, user=request.user, gp=gp, outside_offered=outside,
                                     request=request)  # fmt: skip
        except FastlegeRefused as exc:
            return Response({"gp": [str(exc)]}, status=400)
        return Response(
            PatientOutSerializer(Patient.objects.select_related("municipality", "gp").get(pk=patient.pk)).data
        )


class PatientContactInSerializer(serializers.Serializer):
    phone = serializers.CharField(allow_blank=True, max_length=20)
    next_of_kin = serializers.CharField(allow_blank=True, max_length=2000)


class PatientContactAPI(PatientScopedAPIView, generics.GenericAPIView):
    """POST: the patient's phone and pårørende (both replaced), by its nurses and koordinator."""

    serializer_class = PatientContactInSerializer

    @extend_schema(responses={200: PatientOutSerializer})
    def post(self, request, patient_id):
        given = self.get_serializer(data=request.data)
        given.is_valid(raise_exception=True)
        try:
            patient = contact_info_set(patient=self.patient, user=request.user, request=request,
                                       **given.validated_data)  # fmt: skip
        except ContactInfoRefused as exc:
            return _refused(exc)
        return Response(
            PatientOutSerializer(Patient.objects.select_related("municipality", "gp").get(pk=patient.pk)).data
        )


# --- innsyn i logg: who accessed the patient's record ---------------------------------------------------


class AccessLogRowSerializer(serializers.Serializer):
    at = serializers.DateTimeField(help_text="Når")
    name = serializers.CharField(help_text="Personens navn (brukernavnet hvis navnet mangler)")
    username = serializers.CharField()
    role = serializers.CharField(help_text="Rollen som ga tilgang: nurse, coordinator, gp, specialist, finance, admin")
    role_label = serializers.CharField(help_text="Rollen på norsk")
    organisation = serializers.CharField(help_text="Senteret eller kommunen der personen har rollen")
    action = serializers.ChoiceField(choices=AuditAction.choices, help_text="view, create, update, delete, export")
    action_label = serializers.CharField(help_text="Handlingen på norsk")
    object_type = serializers.CharField(help_text="Hva som ble lest eller endret, som i revisjonsloggen")
    what = serializers.CharField(help_text="Det samme på norsk")


@extend_schema(
    summary="Innsyn i logg: hvem har lest eller endret pasientens opplysninger",
    description=(
        "Pasientens sykepleiere og koordinatorer (403 for andre som ser pasienten, 404 utenfor tilgangen). "
        "Nyeste først; målinger fra utstyret og systemets egne kontroller er ikke med. Oppslaget logges selv."
    ),
    parameters=[
        OpenApiParameter("from", OpenApiTypes.DATE, description="Fra og med (standard: 30 dager før til-datoen)"),
        OpenApiParameter("to", OpenApiTypes.DATE, description="Til og med (standard: i dag)"),
    ],
)
class AccessLogAPI(PatientScopedAPIView, generics.ListAPIView):
    serializer_class = AccessLogRowSerializer

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)  # the patient through the scope: a 404 outside it
        patient = self.patient
        if not may_read_access_log(request.user, municipality_id=patient.municipality_id, gp_id=patient.gp_id):
            raise exceptions.PermissionDenied(ACCESS_LOG_REFUSED)

    def get_queryset(self):
        params = self.request.query_params
        try:
            period = access_log_period(params.get("from", ""), params.get("to", ""))
        except AccessLogPeriodError as exc:
            raise serializers.ValidationError({key: [message] for key, message in exc.errors.items()}) from None
        return access_log(self.patient.pk, period)

    def paginate_queryset(self, queryset):
        rows = access_rows(super().paginate_queryset(queryset))
        audit_record(action=AuditAction.VIEW, object_type="access_log", object_id=self.patient.pk,
                     patient=self.patient, request=self.request)  # fmt: skip
        return rows


# --- the henvisning process: henvisning → vurdering → vedtak (klage) → samtykke ------------------------


class ReferralScopedAPIView(APIView):
    """Base for every API view under /referrals/{referral_id}/: binds the referral through the scope
    selector after authentication, so a foreign or missing referral is a 404 for every method."""

    referral: Referral

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        self.referral = get_referral_for(request.user, kwargs["referral_id"])


def _refused(exc: Exception) -> Response:
    return Response({"detail": str(exc)}, status=400)


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
            try:
                data["gp"], _ = fastlege_named([data["municipality"].pk], given,
                                               outside_offered=data["gp_outside_offered"])  # fmt: skip
            except FastlegeRefused as exc:
                raise serializers.ValidationError({"gp": [str(exc)]}) from None
        return data


class ReferralCreatedSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.CharField()


class ReferralOutSerializer(serializers.ModelSerializer):
    national_id = serializers.CharField(source="national_id_masked", help_text="Maskert: 010180 *****")
    municipality = MunicipalityOutSerializer()

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
        referrals = visible_referrals(self.request.user).select_related("municipality", "patient")
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
        try:
            referral = referral_register(user=request.user, request=request, **given.validated_data)
        except ReferralRefused as exc:
            return _refused(exc)
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
        try:
            result = self.step(given.validated_data)
        except ReferralRefused as exc:
            return _refused(exc)
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
        try:
            consent = consent_record(patient=self.patient, user=request.user, request=request, **given.validated_data)
        except ReferralRefused as exc:
            return _refused(exc)
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
        try:
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
        except StatusRefused as exc:
            return Response({"detail": str(exc)}, status=400)
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


# --- equipment: the centre's device register and a patient's loans --------------------------------


class DeviceLoanShortSerializer(serializers.Serializer):
    lent_on = serializers.DateField()
    patient_id = serializers.UUIDField(allow_null=True, help_text="Bare for en pasient du har tilgang til")
    municipality = serializers.CharField(help_text="Kommunenummeret til pasienten som har enheten")


class DeviceOutSerializer(serializers.ModelSerializer):
    centre = serializers.CharField(source="centre.slug")
    type_label = serializers.CharField(source="get_type_display")
    state_label = serializers.CharField(source="get_state_display")
    loan = serializers.SerializerMethodField()

    class Meta:
        model = Device
        fields = ["serial", "type", "type_label", "model", "state", "state_label", "centre", "note", "loan"]

    @extend_schema_field(DeviceLoanShortSerializer(allow_null=True))
    def get_loan(self, device) -> dict | None:
        """The open loan; its patient only for someone who may see that patient."""
        loan = next(iter(getattr(device, "open_loans", [])), None)
        if loan is None:
            return None
        shown = loan.patient_id in self.context.get("patients", ())
        return {
            "lent_on": loan.lent_on,
            "patient_id": str(loan.patient_id) if shown else None,
            "municipality": loan.municipality.number,
        }


class DeviceInSerializer(serializers.Serializer):
    type = serializers.CharField(help_text=f"Enhetstype: {', '.join(DeviceType.values)}")
    model = serializers.CharField(required=False, allow_blank=True, max_length=100)
    serial = serializers.CharField(max_length=100)
    note = serializers.CharField(required=False, allow_blank=True, max_length=2000)
    centre = serializers.SlugField(required=False, help_text="Senterets slug, når du arbeider ved flere sentre")


def _equipment_refused(exc: EquipmentRefused) -> Response:
    return Response({"detail": str(exc)}, status=400)


def _register_centre(user, slug: str = "") -> Centre:
    """The centre whose register the request is about: the user's only one, or the one named."""
    centres = Centre.objects.filter(id__in=register_centre_ids(user))
    if slug:
        centres = centres.filter(slug=slug)
    found = list(centres[:2])
    if not found:
        raise EquipmentRoleRequired("Bare sykepleiere og administratorer ved et senter har et utstyrsregister.")
    if len(found) > 1:
        raise EquipmentRefused("Du arbeider ved flere sentre; oppgi senteret (centre).")
    return found[0]


@extend_schema(parameters=[OpenApiParameter("state", str, description=f"Tilstand: {', '.join(DeviceState.values)}")])
class DeviceListAPI(generics.ListAPIView):
    """The register of the user's centres (GET), and a new device in it (POST: 201)."""

    serializer_class = DeviceOutSerializer

    def get_queryset(self):
        open_loans = DeviceLoan.objects.filter(returned_on__isnull=True).select_related("municipality")
        devices = devices_for(self.request.user).select_related("centre")
        state = self.request.query_params.get("state", "")
        if state:
            devices = devices.filter(state=state)
        return devices.prefetch_related(Prefetch("loans", queryset=open_loans, to_attr="open_loans")).order_by(
            "centre__name", "type", "serial"
        )

    def list(self, request, *args, **kwargs):
        state = request.query_params.get("state", "")
        if state and state not in DeviceState.values:
            return Response({"detail": f"Ukjent tilstand «{state}»; bruk {', '.join(DeviceState.values)}."}, 400)
        return super().list(request, *args, **kwargs)

    def paginate_queryset(self, queryset):
        page = super().paginate_queryset(queryset)
        lent_to = {loan.patient_id for device in page for loan in device.open_loans}
        shown = list(visible_patients(self.request.user).filter(id__in=lent_to).only("id", "municipality_id", "gp_id"))
        self.shown_patients = {p.pk for p in shown}
        if shown:  # the register itself is no patient's data; a borrower's name is
            audit_record_many(action=AuditAction.VIEW, object_type="device_list", patients=shown, request=self.request)
        return page

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "patients": getattr(self, "shown_patients", set())}

    @extend_schema(request=DeviceInSerializer, responses={201: DeviceOutSerializer})
    def post(self, request):
        given = DeviceInSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        data = given.validated_data
        try:
            device = device_register(
                centre=_register_centre(request.user, data.get("centre", "")),
                user=request.user,
                type=data["type"],
                serial=data["serial"],
                model=data.get("model", ""),
                note=data.get("note", ""),
            )
        except EquipmentRefused as exc:
            return _equipment_refused(exc)
        return Response(DeviceOutSerializer(device).data, status=201)


class KitOutSerializer(serializers.ModelSerializer):
    centre = serializers.CharField(source="centre.slug")
    diagnosis_label = serializers.CharField(
        source="get_diagnosis_display", help_text="Tom når settet ikke gjelder en bestemt diagnose"
    )
    # Plain strings, not enums: the device and referral serializers already name these choice sets.
    diagnosis = serializers.CharField(help_text=f"{', '.join(Diagnosis.values)}, eller tom")
    device_types = serializers.ListField(
        child=serializers.CharField(), help_text=f"Enhetstypene: {', '.join(DeviceType.values)}"
    )
    device_type_labels = serializers.SerializerMethodField()

    class Meta:
        model = Kit
        fields = ["id", "name", "diagnosis", "diagnosis_label", "device_types", "device_type_labels", "centre"]

    def get_device_type_labels(self, kit) -> list[str]:
        return device_type_labels(kit.device_types)


class KitInSerializer(serializers.Serializer):
    # Plain strings: the service checks them and says in Norwegian which value is wrong and what to use.
    name = serializers.CharField(
        max_length=200, allow_blank=True, help_text="Navnet på settet, unikt ved senteret (høyst 100 tegn)"
    )
    diagnosis = serializers.CharField(
        required=False,
        allow_blank=True,
        help_text=f"Diagnosen settet er for: {', '.join(Diagnosis.values)} (eller tom)",
    )
    device_types = serializers.ListField(
        child=serializers.CharField(max_length=100),
        help_text=f"Enhetstypene som lånes ut sammen: {', '.join(DeviceType.values)}",
    )
    centre = serializers.SlugField(required=False, help_text="Senterets slug, når du arbeider ved flere sentre")


class KitListAPI(generics.ListAPIView):
    """The kits of the user's centres (GET), and a new kit (POST: 201). Who may: as for the device
    register, the centre's nurses and admins; another centre's kit is never listed."""

    serializer_class = KitOutSerializer

    def get_queryset(self):
        return kits_for(self.request.user).order_by("centre__name", "name", "id")

    @extend_schema(request=KitInSerializer, responses={201: KitOutSerializer})
    def post(self, request):
        given = KitInSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        data = given.validated_data
        try:
            kit = kit_create(
                centre=_register_centre(request.user, data.get("centre", "")),
                user=request.user,
                name=data["name"],
                diagnosis=data.get("diagnosis", ""),
                device_types=data["device_types"],
            )
        except EquipmentRefused as exc:
            return _equipment_refused(exc)
        return Response(KitOutSerializer(kit).data, status=201)


class CSVParser(BaseParser):
    media_type = "text/csv"

    def parse(self, stream, media_type=None, parser_context=None):
        raw = read_capped(stream)  # at most DATA_UPLOAD_MAX_MEMORY_SIZE, else a 400
        try:
            return raw.decode("utf-8-sig")
        except UnicodeDecodeError:  # Excel on Windows saves CSV as Windows-1252 (å in «Blodtrykksmåler»)
            return raw.decode("cp1252", errors="replace")


class PlainTextParser(CSVParser):
    media_type = "text/plain"


class DeviceImportAPI(APIView):
    """A CSV file (`type,model,serial`, one device a line) into the register: one result per line, the
    valid lines stored even when a neighbour is rejected."""

    parser_classes = [CSVParser, PlainTextParser]

    @extend_schema(
        request={"text/csv": {"type": "string"}},
        parameters=[OpenApiParameter("centre", str, description="Senterets slug, når du arbeider ved flere")],
        responses={200: dict},
    )
    def post(self, request):
        if not isinstance(request.data, str):
            return Response({"detail": "Send CSV-filen som text/csv med overskriften type,model,serial."}, 400)
        try:
            centre = _register_centre(request.user, request.query_params.get("centre", ""))
            lines = devices_import_csv(centre=centre, user=request.user, text=request.data)
        except EquipmentRefused as exc:
            return _equipment_refused(exc)
        created = sum(1 for line in lines if line.status == "created")
        body = {"created": created, "rejected": len(lines) - created, "lines": [line.as_dict() for line in lines]}
        return Response(body, status=200)


class DeviceScopedAPIView(APIView):
    """Base for /devices/{serial}/…: binds the device of the user's centres once (?centre= when the
    serial is in two of them); another centre's device is a 404, like a missing one."""

    device: Device

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        self.device = get_device_for(request.user, kwargs["serial"], request.query_params.get("centre", ""))


class ReturnInSerializer(serializers.Serializer):
    returned_on = serializers.DateField(required=False, help_text="Returdato (standard: i dag)")


class DeviceReturnAPI(DeviceScopedAPIView):
    """The device is back: its loan closes and it waits for cleaning («returnert – til rengjøring»)."""

    @extend_schema(request=ReturnInSerializer, responses={200: DeviceOutSerializer})
    def post(self, request, serial):
        given = ReturnInSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        try:
            loan = device_return(
                device=self.device, user=request.user, returned_on=given.validated_data.get("returned_on"),
                request=request,
            )  # fmt: skip
        except EquipmentRefused as exc:
            return _equipment_refused(exc)
        return Response(DeviceOutSerializer(loan.device).data)


class DeviceCleanAPI(DeviceScopedAPIView):
    """A returned device is cleaned and may be lent again; any other is a 400 saying why."""

    @extend_schema(request=None, responses={200: DeviceOutSerializer})
    def post(self, request, serial):
        try:
            device = device_clean(device=self.device, user=request.user)
        except EquipmentRefused as exc:
            return _equipment_refused(exc)
        return Response(DeviceOutSerializer(device).data)


class DiscardInSerializer(serializers.Serializer):
    lost = serializers.BooleanField(default=False, help_text="Tapt (ellers kassert)")
    note = serializers.CharField(required=False, allow_blank=True, max_length=2000)


class DeviceDiscardAPI(DeviceScopedAPIView):
    """Out of use: kassert (not while lent), or tapt (a lent one's loan ends today)."""

    @extend_schema(request=DiscardInSerializer, responses={200: DeviceOutSerializer})
    def post(self, request, serial):
        given = DiscardInSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        data = given.validated_data
        try:
            device = device_discard(
                device=self.device, user=request.user, lost=data["lost"], note=data.get("note", ""), request=request
            )
        except EquipmentRefused as exc:
            return _equipment_refused(exc)
        return Response(DeviceOutSerializer(device).data)


class LoanOutSerializer(serializers.ModelSerializer):
    serial = serializers.CharField(source="device.serial")
    type = serializers.CharField(source="device.type")
    lent_by = serializers.CharField(source="lent_by.username")
    returned_by = serializers.CharField(source="returned_by.username", allow_null=True, default=None)

    class Meta:
        model = DeviceLoan
        fields = ["id", "serial", "type", "lent_on", "returned_on", "lent_by", "returned_by"]


class LendInSerializer(serializers.Serializer):
    devices = serializers.ListField(
        child=serializers.CharField(max_length=100), allow_empty=False, help_text="Serienumrene som lånes ut"
    )
    kit = serializers.CharField(required=False, max_length=100, help_text="Utstyrspakken de utgjør (navn)")
    lent_on = serializers.DateField(required=False, help_text="Utlånsdato (standard: i dag)")


class PatientLoansAPI(PatientScopedAPIView, generics.GenericAPIView):
    """The patient's loans (GET; ?out=1: what is still out), and devices lent to them (POST: 201)."""

    serializer_class = LoanOutSerializer
    pagination_class = None  # one list (and so in the schema)

    @extend_schema(
        parameters=[OpenApiParameter("out", bool, description="Bare det som ikke er returnert")],
        responses=LoanOutSerializer(many=True),
    )
    def get(self, request, patient_id):
        audit_record(
            action=AuditAction.VIEW, object_type="device_loans", object_id=self.patient.pk, patient=self.patient,
            request=request,
        )  # fmt: skip
        out = request.query_params.get("out", "") in ("1", "true")
        loans = loans_out_for(self.patient) if out else loans_of(self.patient)
        return Response(self.get_serializer(loans, many=True).data)

    @extend_schema(request=LendInSerializer, responses={201: LoanOutSerializer(many=True)})
    def post(self, request, patient_id):
        given = LendInSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        data = given.validated_data
        try:
            loans = devices_lend(
                patient=self.patient,
                user=request.user,
                serials=data["devices"],
                kit=kit_for(self.patient, data["kit"]) if data.get("kit") else None,
                lent_on=data.get("lent_on"),
                request=request,
            )
        except EquipmentRefused as exc:
            return _equipment_refused(exc)
        return Response(LoanOutSerializer(loans, many=True).data, status=201)


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
        try:
            change = patient_start(patient=self.patient, user=request.user, request=request, **given.validated_data)
        except StatusRefused as exc:
            return _refused(exc)
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
        try:
            change = patient_end(
                patient=self.patient, user=request.user, reason=data["reason"],
                effective_date=data.get("effective_date"), note=data.get("note", ""), returned=data["return"],
                request=request,
            )  # fmt: skip
        except StatusRefused as exc:
            return _refused(exc)
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

    def _require_role(self, request):
        if not can_change_status(request.user, self.patient):
            raise exceptions.PermissionDenied(ANSWER_ROLE_REFUSED)

    @extend_schema(responses=MoveNoticeOutSerializer(many=True))
    def get(self, request, patient_id):
        self._require_role(request)
        audit_record(action=AuditAction.VIEW, object_type="move_notice", object_id=self.patient.pk,
                     patient=self.patient, request=request)  # fmt: skip
        notices = [n for n in move_notices_for(request.user) if n.patient_id == self.patient.pk]
        return Response(MoveNoticeOutSerializer(notices, many=True).data)

    @extend_schema(responses={200: MoveNoticeOutSerializer})
    def post(self, request, patient_id):
        self._require_role(request)
        given = self.get_serializer(data=request.data)
        given.is_valid(raise_exception=True)
        notice = get_move_notice_for(request.user, patient=self.patient, notice_id=given.validated_data["notice"])
        try:
            move_answer(notice=notice, answer=given.validated_data["answer"], user=request.user, request=request)
        except MoveRefused as exc:
            return Response({"detail": str(exc)}, status=400)
        notice.refresh_from_db()
        return Response(MoveNoticeOutSerializer(notice).data)
