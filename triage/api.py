from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers

from tenants.models import AuditAction
from tenants.services import audit_record_many
from triage.models import Alert
from triage.selectors import alerts_for_list, with_findings


class ReadingOutSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    type = serializers.CharField()
    value = serializers.FloatField(allow_null=True)
    systolic = serializers.FloatField(allow_null=True)
    diastolic = serializers.FloatField(allow_null=True)
    measured_at = serializers.DateTimeField()
    received_at = serializers.DateTimeField()
    colour = serializers.CharField()
    reason = serializers.CharField()


class AnswerOutSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    questionnaire = serializers.CharField()
    total = serializers.IntegerField(allow_null=True)
    answered_at = serializers.DateTimeField()
    colour = serializers.CharField()
    reason = serializers.CharField()


class AlertOutSerializer(serializers.ModelSerializer):
    patient = serializers.UUIDField(source="patient_id")
    patient_name = serializers.CharField(source="patient.name")
    municipality = serializers.SerializerMethodField()
    readings = ReadingOutSerializer(many=True)
    answers = AnswerOutSerializer(many=True)

    class Meta:
        model = Alert
        fields = [
            "id", "patient", "patient_name", "municipality", "kind", "subject", "colour", "reason", "without_plan",
            "status", "opened_at", "raised_at", "updated_at", "closed_at", "readings", "answers",
        ]  # fmt: skip

    def get_municipality(self, alert) -> dict:
        return {"number": alert.municipality.number, "name": alert.municipality.name}


@extend_schema(
    parameters=[
        OpenApiParameter("status", str, description="open eller closed"),
        OpenApiParameter("municipality", str, description="Kommunenummer"),
        OpenApiParameter("colour", str, description="yellow eller red"),
        OpenApiParameter("patient", str, description="Pasientens UUID"),
    ]
)
class AlertListAPI(generics.ListAPIView):
    """Alerts in the user's scope, red before yellow, oldest first within a colour."""

    serializer_class = AlertOutSerializer

    def get_queryset(self):
        params = self.request.query_params
        return alerts_for_list(
            self.request.user,
            status=params.get("status", ""),
            municipality=params.get("municipality", ""),
            colour=params.get("colour", ""),
            patient=params.get("patient", ""),
        ).order_by("-colour", "opened_at", "id")  # "red" > "yellow" alphabetically: red first

    def paginate_queryset(self, queryset):
        page = with_findings(super().paginate_queryset(queryset))  # each alert's readings and answers
        audit_record_many(
            action=AuditAction.VIEW, object_type="alert", patients=[a.patient for a in page], request=self.request
        )
        return page
