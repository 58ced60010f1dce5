"""The alerts' API: the list in the user's scope, and the nurse's two steps on one alert, taking it
and handling it, with the handle page's rules and answers (triage.services: the same refusals, 400
for a handling that cannot be taken as asked, 409 for one asked against a colour the alert no longer
has, 403 for who is not the patient's nurse; an alert outside the scope is a 404 from
triage.selectors.get_alert_for)."""

from django.db.models import Case, Value, When
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from measurements.types import RANK
from tenants.models import AuditAction
from tenants.services import audit_record_many
from triage import services
from triage.models import Alert, AlertColour, AlertStatus, ContactAction, JournalNote
from triage.selectors import alerts_for_list, get_alert_for, with_findings


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


class AlertFilterIn(serializers.Serializer):
    """The list's filters: a wrong one is a 400 naming it, not an empty list an integration would
    read as «no alerts»."""

    status = serializers.ChoiceField(choices=AlertStatus.choices, required=False)
    municipality = serializers.RegexField(r"^\d{4}$", required=False, error_messages={
        "invalid": "Et kommunenummer har fire sifre."})  # fmt: skip
    colour = serializers.ChoiceField(choices=AlertColour.choices, required=False)
    patient = serializers.UUIDField(required=False)


@extend_schema(parameters=[AlertFilterIn])
class AlertListAPI(generics.ListAPIView):
    """Alerts in the user's scope, red before yellow, oldest first within a colour."""

    serializer_class = AlertOutSerializer

    def get_queryset(self):
        given = AlertFilterIn(data={k: v for k, v in self.request.query_params.items() if v != ""})
        given.is_valid(raise_exception=True)
        filters = {key: str(value) for key, value in given.validated_data.items()}
        # Red first (by the colours' rank, not their names: "red" sorts before "yellow"), oldest first.
        worst_first = Case(*(When(colour=c, then=Value(-rank)) for c, rank in RANK.items()), default=Value(0))
        return alerts_for_list(self.request.user, **filters).order_by(worst_first, "opened_at", "id")

    def paginate_queryset(self, queryset):
        page = with_findings(super().paginate_queryset(queryset))  # each alert's readings and answers
        audit_record_many(
            action=AuditAction.VIEW, object_type="alert", patients=[a.patient for a in page], request=self.request
        )
        return page


# --- the nurse's steps on one alert ---------------------------------------------------------------

ACTION_CODES = ", ".join(ContactAction.values)


class AlertStepOutSerializer(serializers.ModelSerializer):
    """The alert after a step: open or closed, whose it is, when to try again."""

    taken_by = serializers.CharField(source="taken_by.username", allow_null=True, default=None)

    class Meta:
        model = Alert
        fields = ["id", "status", "colour", "taken_by", "taken_at", "retry_at", "closed_at"]


class AlertHandleInSerializer(serializers.Serializer):
    actions = serializers.ListField(
        child=serializers.ChoiceField(
            choices=ContactAction.choices,
            error_messages={"invalid_choice": f"«{{input}}» er ikke et tiltak. Tiltakene er: {ACTION_CODES}."},
        ),
        help_text="Hva ble gjort: tiltakene handle-siden tilbyr. «called_not_reached» holder varselet åpent "
        "(ikke nådd, nytt forsøk ved retry_at, ellers om en time); ellers lukkes det og journalnotatet skrives.",
    )
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=10000,
                                 help_text="Sykepleierens notat")  # fmt: skip
    retry_at = serializers.DateTimeField(
        required=False, allow_null=True, default=None,
        help_text="Nytt forsøk fra (bare når pasienten ikke ble nådd; ikke i fortiden)",
    )  # fmt: skip
    # Optional, so a client from before it keeps working; one that sends it is checked (409).
    seen_colour = serializers.ChoiceField(
        choices=AlertColour.choices, required=False,
        help_text="Varselets farge slik sykepleieren så det (colour i varsellisten). Er varselet hevet siden, "
        "avvises steget med 409 og ingenting lagres: les varselet på nytt og følg opp etter den nye fargen.",
    )  # fmt: skip

    def validate(self, data):
        problems = services.handle_problems(data["actions"], data.get("retry_at"))
        if problems:
            raise serializers.ValidationError({field: [problem] for field, problem in problems.items()})
        return data


class AlertHandledOutSerializer(serializers.Serializer):
    contact_id = serializers.IntegerField()
    reached = serializers.BooleanField(help_text="false: ikke nådd, varselet står åpent")
    journal_note_id = serializers.IntegerField(allow_null=True, help_text="Journalnotatet når varselet ble lukket")
    alert = AlertStepOutSerializer()


class AlertTakeAPI(APIView):
    """«Jeg tar denne»: the first nurse to take the alert has it; a second is told who (400)."""

    @extend_schema(request=None, responses={200: AlertStepOutSerializer})
    def post(self, request, alert_id):
        alert = get_alert_for(request.user, alert_id)
        alert = services.alert_take(alert=alert, user=request.user, request=request)
        return Response(AlertStepOutSerializer(alert).data)


class AlertHandleAPI(generics.GenericAPIView):
    """What was done: closes the alert and writes its journal note (201), or «ikke nådd» keeps it
    open, taken by this nurse, with a time to try again."""

    serializer_class = AlertHandleInSerializer

    @extend_schema(
        responses={
            201: AlertHandledOutSerializer,
            409: OpenApiResponse(description="Varselet er hevet siden seen_colour: hva det er nå står i svaret"),
        }
    )
    def post(self, request, alert_id):
        alert = get_alert_for(request.user, alert_id)
        given = self.get_serializer(data=request.data)
        given.is_valid(raise_exception=True)
        contact = services.alert_handle(alert=alert, user=request.user, request=request, **given.validated_data)
        alert = Alert.objects.select_related("taken_by").get(pk=alert.pk)
        note = JournalNote.objects.filter(contact=contact).values_list("pk", flat=True).first()
        body = {"contact_id": contact.pk, "reached": contact.reached, "journal_note_id": note,
                "alert": AlertStepOutSerializer(alert).data}  # fmt: skip
        return Response(body, status=201)
