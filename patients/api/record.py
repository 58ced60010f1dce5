"""The patient record's API: the list, the patient, the call sheet (fastlege, phone, pårørende)
and the innsyn i logg."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, generics, serializers
from rest_framework.response import Response

from patients.api.base import PatientScopedAPIView
from patients.models import (
    Patient,
)
from patients.selectors import (
    search_patients,
    visible_patients,
)
from patients.services import (
    contact_info_set,
    fastlege_label,
    fastlege_named,
    fastlege_search,
    offered_fastleger,
    patient_gp_set,
)
from tenants.errors import refused_field
from tenants.models import AuditAction
from tenants.people import display_name
from tenants.selectors import (
    ACCESS_LOG_REFUSED,
    AccessLogPeriodError,
    access_log,
    access_log_period,
    access_rows,
    may_read_access_log,
)
from tenants.services import audit_record, audit_record_many


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
        found = fastlege_search(ids, search) if search else []
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
        with refused_field("gp"):  # a refusal is about the fastlege named: {"gp": [message]}
            gp = fastlege_named([self.patient.municipality_id], name, outside_offered=outside)[0] if name else None
            patient = patient_gp_set(patient=self.patient, user=request.user, gp=gp, outside_offered=outside,
                                     request=request)  # fmt: skip
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
        patient = contact_info_set(patient=self.patient, user=request.user, request=request,
                                   **given.validated_data)  # fmt: skip
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
    login_method = serializers.CharField(help_text="Hvordan personen var logget inn: helseid, password, api_token")
    login_method_label = serializers.CharField(help_text="Det samme på norsk")


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
