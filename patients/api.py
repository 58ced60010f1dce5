from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from patients.models import Patient
from patients.selectors import get_patient_for, search_patients, visible_patients
from tenants.models import AuditAction
from tenants.services import audit_record, audit_record_many


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
        fields = ["id", "name", "national_id", "birth_date", "municipality", "status", "diagnoses", "gp"]

    def get_gp(self, patient) -> str | None:
        return (patient.gp.get_full_name() or patient.gp.username) if patient.gp else None


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
