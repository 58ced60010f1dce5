from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers
from rest_framework.response import Response

from patients.api.base import PatientScopedAPIView
from patients.api.forlop import StatusChangeOutSerializer
from patients.models import EndReason
from tenants.models import AuditAction
from tenants.services import audit_record_many
from triage.models import Alert
from triage.selectors import alerts_for_list, with_findings
from triage.services import EvaluationOutcome, evaluation_record


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
