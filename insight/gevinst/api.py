"""The gevinst's API: a patient's service use (GET the registrations and what is due, POST one), the
brukerundersøkelse (GET the answers, POST one from paper), and the gevinstrapport as JSON
(GET /api/v1/insight/gevinst/). The patient's endpoints subclass patients.api.PatientScopedAPIView (a
404 outside the scope, a 403 for who sees the patient but may not register); the report is figures
only, the small-cell rule applied (a hidden figure is null, its reason under `suppressed`), a 404
for who sees no kommune's gevinst. Every read and write is audited."""

from __future__ import annotations

import datetime

from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from insight.access import selection_for
from insight.api import CentreSerializer, PlaceSerializer
from insight.figures import public
from insight.gevinst.access import REGISTER_REFUSED, gevinst_view_for
from insight.gevinst.figures import SECTIONS
from insight.gevinst.selectors import gevinst_period, gevinst_report, patient_gevinst
from insight.gevinst.services import COUNT_MAX, service_use_register, survey_register, use_problems
from insight.gevinst.views import OBJECT_TYPE
from insight.models import FIELD_NAMES, FOLLOW_UPS, SERVICE_FIELDS, ServiceUse, ServiceUseKind, Source
from insight.periods import PeriodError
from measurements.survey import QUESTIONS
from patients.api import PatientScopedAPIView
from tenants.models import AuditAction
from tenants.norwegian import date_text
from tenants.people import display_name
from tenants.services import audit_record

# --- a patient's service use -----------------------------------------------------------------------


def _figure_fields() -> dict:
    """The seven figures: hours per week with two decimals (0–168), the others whole counts."""
    out = {}
    for f in SERVICE_FIELDS:
        text = f"{f.label}, {f.unit}" + (" (snitt over perioden)" if f.per_week else " i perioden")
        if f.per_week:
            out[f.name] = serializers.DecimalField(
                max_digits=5, decimal_places=2, min_value=0, max_value=168, coerce_to_string=False, help_text=text
            )
        else:
            out[f.name] = serializers.IntegerField(min_value=0, max_value=COUNT_MAX, help_text=text)
    return out


class PeriodSerializer(serializers.Serializer):
    to = serializers.DateField(help_text="Siste dag perioden dekker (ikke fram i tid)")


PeriodSerializer._declared_fields = {
    "from": serializers.DateField(help_text="Første dag perioden dekker"),
    **PeriodSerializer._declared_fields,
}


def _sentences(problems) -> dict[str, list[str]]:
    """The services' problems by the body's field (the period's dates are under `period`)."""
    errors: dict[str, list[str]] = {}
    for field, message in problems:
        name = "period" if field in ("period_from", "period_to") else field
        errors.setdefault(name, []).append(message[:1].upper() + message[1:].rstrip(".") + ".")
    return errors


def _validate_use(self, data):
    """The period and the figures as the service checks them, each error under its field."""
    problems = use_problems(
        kind=data["kind"],
        period_from=data["period"]["from"],
        period_to=data["period"]["to"],
        values={n: data[n] for n in FIELD_NAMES},
        today=timezone.localdate(),
    )
    at = data.get("at")
    if at is not None and at > timezone.now() + datetime.timedelta(minutes=5):
        problems.append(("at", "registreringstidspunktet ligger fram i tid"))
    if problems:
        raise serializers.ValidationError(_sentences(problems))
    return data


ServiceUseInSerializer = type(
    "ServiceUseInSerializer",
    (serializers.Serializer,),
    {
        "validate": _validate_use,
        "kind": serializers.ChoiceField(
            choices=ServiceUseKind.choices, help_text="baseline (null-punkt ved oppstart), month_6, month_12 eller end"
        ),
        "period": PeriodSerializer(help_text="Perioden tallene gjelder, høyst 18 måneder"),
        "at": serializers.DateTimeField(required=False, help_text="Når registreringen ble gjort (standard: nå)"),
        **_figure_fields(),
    },
)

ServiceUseOutSerializer = type(
    "ServiceUseOutSerializer",
    (serializers.Serializer,),
    {
        "id": serializers.IntegerField(),
        "kind": serializers.ChoiceField(choices=ServiceUseKind.choices),
        "period": PeriodSerializer(),
        "source": serializers.ChoiceField(choices=Source.choices, help_text="form, import (EPJ-uttrekk) eller api"),
        "registered_by": serializers.CharField(help_text="Hvem som registrerte"),
        "at": serializers.DateTimeField(help_text="Når registreringen ble gjort"),
        **_figure_fields(),
    },
)


class PointSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=ServiceUseKind.choices)
    due_on = serializers.DateField(help_text="Oppstart, 6 og 12 måneder etter oppstart (mens forløpet varer), slutt")
    state = serializers.ChoiceField(
        choices=["due", "coming", "registered"], help_text="due: skal registreres nå; coming: senere; registered: gjort"
    )


class ServiceUseListSerializer(serializers.Serializer):
    registrations = ServiceUseOutSerializer(many=True)
    due = PointSerializer(many=True, help_text="Forløpets registreringer og hvor de står (tom før oppstart)")


def service_use_data(row: ServiceUse) -> dict:
    return {
        "id": row.pk,
        "kind": row.kind,
        "period": {"from": row.period_from, "to": row.period_to},
        "source": row.source,
        "registered_by": display_name(row.registered_by),
        "at": row.registered_at,
        **{name: getattr(row, name) for name in FIELD_NAMES},
    }


class ServiceUseAPI(PatientScopedAPIView):
    """The patient's service-use registrations and what is due; POST registers one (201). A period or
    figure that does not hold is a 400 naming the field, a user who is not the patient's nurse or
    koordinator a 403."""

    policy_step = "register_gevinst"
    not_allowed = REGISTER_REFUSED

    @extend_schema(responses={200: ServiceUseListSerializer})
    def get(self, request, patient_id):
        found = patient_gevinst(self.patient)
        audit_record(
            action=AuditAction.VIEW,
            object_type="service_use_list",
            object_id=self.patient.pk,
            patient=self.patient,
            request=request,
        )
        return Response(
            {
                "registrations": [service_use_data(row) for row in found.registrations],
                "due": [{"kind": p.kind, "due_on": p.due_on, "state": p.state} for p in found.schedule],
            }
        )

    @extend_schema(request=ServiceUseInSerializer, responses={201: ServiceUseOutSerializer})
    def post(self, request, patient_id):
        given = ServiceUseInSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        data = given.validated_data
        row = service_use_register(
            patient=self.patient,
            user=request.user,
            kind=data["kind"],
            period_from=data["period"]["from"],
            period_to=data["period"]["to"],
            values={n: data[n] for n in FIELD_NAMES},
            at=data.get("at"),
            source=Source.API,
            request=request,
        )
        return Response(service_use_data(row), status=201)


# --- the brukerundersøkelse ------------------------------------------------------------------------


def _answer_field(question, *, given: bool):
    return serializers.ChoiceField(
        choices=list(question.codes),
        required=False,
        allow_null=True,
        allow_blank=given,
        help_text=f"{question.text} ({', '.join(question.codes)}; tom eller null: ikke besvart)",
    )


def _validate_survey(self, data):
    answered_on = data.get("answered_on")
    problems = []
    if answered_on is not None and answered_on > timezone.localdate():
        problems.append(("answered_on", f"svardatoen ({date_text(answered_on)}) ligger fram i tid"))
    if not any(data.get(q.code) for q in QUESTIONS) and not (data.get("comment") or "").strip():
        problems.append(("non_field_errors", "skjemaet er tomt: gi minst ett svar eller en kommentar"))
    if problems:
        raise serializers.ValidationError(_sentences(problems))
    return data


SurveyInSerializer = type(
    "SurveyInSerializer",
    (serializers.Serializer,),
    {
        "validate": _validate_survey,
        "answered_on": serializers.DateField(required=False, help_text="Dagen pasienten svarte (standard: i dag)"),
        **{q.code: _answer_field(q, given=True) for q in QUESTIONS},
        "comment": serializers.CharField(required=False, allow_blank=True, max_length=5000, help_text="Fritekst"),
    },
)

SurveyOutSerializer = type(
    "SurveyOutSerializer",
    (serializers.Serializer,),
    {
        "id": serializers.CharField(
            help_text="«papir-12» (registrert fra papir) eller «nettbrett-34» (sendt fra nettbrett)"
        ),
        "answered_on": serializers.DateField(),
        **{q.code: _answer_field(q, given=False) for q in QUESTIONS},
        "comment": serializers.CharField(),
        "source": serializers.ChoiceField(choices=["paper", "device"]),
    },
)


def survey_data(shown) -> dict:
    return {
        "id": shown.id,
        "answered_on": shown.answered_on,
        "comment": shown.comment,
        "source": shown.source,
        **{q.code: shown.answers.get(q.code) for q in QUESTIONS},
    }


class SurveyAPI(PatientScopedAPIView):
    """The patient's brukerundersøkelser (from paper and from a tablet); POST enters one from paper (201)."""

    policy_step = "register_gevinst"
    not_allowed = REGISTER_REFUSED

    @extend_schema(responses={200: SurveyOutSerializer(many=True)})
    def get(self, request, patient_id):
        found = patient_gevinst(self.patient)
        audit_record(
            action=AuditAction.VIEW,
            object_type="survey_answer_list",
            object_id=self.patient.pk,
            patient=self.patient,
            request=request,
        )
        return Response([survey_data(s) for s in found.surveys])

    @extend_schema(request=SurveyInSerializer, responses={201: SurveyOutSerializer})
    def post(self, request, patient_id):
        given = SurveyInSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        data = given.validated_data
        answers = {q.code: data.get(q.code) or "" for q in QUESTIONS}
        row = survey_register(
            patient=self.patient,
            user=request.user,
            answered_on=data.get("answered_on") or timezone.localdate(),
            answers=answers,
            comment=data.get("comment", ""),
            request=request,
        )
        body = {
            "id": f"papir-{row.pk}",
            "answered_on": row.answered_on,
            "comment": row.comment,
            "source": "paper",
            **{q.code: getattr(row, q.code) or None for q in QUESTIONS},
        }
        return Response(body, status=201)


# --- the gevinstrapport ---------------------------------------------------------------------------


def _suppressed():
    return serializers.DictField(
        child=serializers.CharField(),
        help_text="Tall som ikke vises (verdien er null): "
        "feltets navn med punktum («before.bed_days») → hvorfor, f.eks. «færre enn 5 personer»",
    )


def _phase_serializer(name: str, help_text: str) -> serializers.Serializer:
    fields = {
        "patients": serializers.IntegerField(allow_null=True, help_text="Personer registreringene gjelder"),
        "patient_months": serializers.FloatField(allow_null=True, help_text="Dagene registreringene dekker ÷ 30,44"),
        **{
            f.name: serializers.FloatField(
                allow_null=True,
                help_text=f"{f.label}: " + ("timer" if f.per_week else str(f.unit)) + " per pasientmåned",
            )
            for f in SERVICE_FIELDS
        },
    }
    return type(name, (serializers.Serializer,), fields)(help_text=help_text)


ChangeSerializer = type(
    "GevinstChangeSerializer",
    (serializers.Serializer,),
    {
        f.name: serializers.FloatField(allow_null=True, help_text="Etter − før, per pasientmåned")
        for f in SERVICE_FIELDS
    },
)
ByKindSerializer = type(
    "GevinstAfterByKindSerializer",
    (serializers.Serializer,),
    {
        kind: _phase_serializer(f"GevinstPhase_{kind}_Serializer", str(ServiceUseKind(kind).label))
        for kind in FOLLOW_UPS
    },
)
ServiceUseFiguresSerializer = type(
    "GevinstServiceUseSerializer",
    (serializers.Serializer,),
    {
        "before": _phase_serializer("GevinstBeforeSerializer", "Null-punktet (perioden før oppstart)"),
        "after": _phase_serializer("GevinstAfterSerializer", "6 og 12 måneder og avslutning sammen"),
        "after_by_kind": ByKindSerializer(),
        "change": ChangeSerializer(),
        "suppressed": _suppressed(),
    },
)


def _question_serializer(question) -> serializers.Serializer:
    fields: dict = {"respondents": serializers.IntegerField(allow_null=True, help_text="Svarte på spørsmålet")}
    for option in question.options:
        fields[option.code] = serializers.IntegerField(allow_null=True, help_text=f"Svarte «{option.label}»")
        fields[f"{option.code}_share"] = serializers.FloatField(
            allow_null=True, help_text="Andel av dem som svarte, 0–1"
        )
    return type(f"GevinstSurvey_{question.code}_Serializer", (serializers.Serializer,), fields)(
        help_text=str(question.text)
    )


SurveyFiguresSerializer = type(
    "GevinstSurveySerializer",
    (serializers.Serializer,),
    {
        "respondents": serializers.IntegerField(
            allow_null=True, help_text="Pasienter med svar i perioden (siste svar)"
        ),
        **{q.code: _question_serializer(q) for q in QUESTIONS},
        "suppressed": _suppressed(),
    },
)


class GevinstSerializer(serializers.Serializer):
    centre = CentreSerializer()
    municipality = PlaceSerializer(allow_null=True, help_text="Den valgte kommunen; null: alle brukerens kommuner")
    municipalities = PlaceSerializer(many=True, help_text="Kommunene tallene gjelder")
    to_date = serializers.DateField(help_text="Siste dag: registreringer som slutter fra–til teller")
    service_use = ServiceUseFiguresSerializer(help_text="Pasientenes tjenestebruk per pasientmåned")
    comparison = ServiceUseFiguresSerializer(help_text="Sammenligningsgruppens tjenestebruk, på samme måte")
    survey = SurveyFiguresSerializer(help_text="Brukerundersøkelsen: hver pasients siste svar i perioden")


GevinstSerializer._declared_fields = {
    "from": serializers.DateField(help_text="Første dag"),
    **GevinstSerializer._declared_fields,
}
GevinstSerializer._declared_fields["to"] = GevinstSerializer._declared_fields.pop("to_date")

PARAMETERS = [
    OpenApiParameter(
        "from",
        str,
        description="Første dag, åååå-mm-dd (standard: den første i måneden for 23 måneder siden til-datoen)",
    ),
    OpenApiParameter("to", str, description="Siste dag, åååå-mm-dd (standard og høyst: i dag)"),
    OpenApiParameter("municipality", str, description="Kommunenummer (fire sifre): bare den kommunens tall"),
    OpenApiParameter("centre", str, description="Senterets slug, når brukeren ser tall for flere sentre"),
]


def report_data(report) -> dict:
    chosen = report.selection.municipality
    return {
        "centre": {"slug": report.view.centre.slug, "name": report.view.centre.name},
        "municipality": {"number": chosen.number, "name": chosen.name} if chosen else None,
        "municipalities": [{"number": m.number, "name": m.name} for m in report.municipalities],
        "from": report.period.first,
        "to": report.period.last,
        **{name: public(report.figures[name]) for name in SECTIONS},
    }


class GevinstAPI(APIView):
    """The gevinst of the user's kommune or centre for a period: registrations whose period ends in it."""

    @extend_schema(
        parameters=PARAMETERS,
        responses={
            200: GevinstSerializer,
            404: OpenApiResponse(
                description="Brukeren ser ingen gevinst, eller kommunen ligger utenfor det brukeren ser"
            ),
        },
    )
    def get(self, request):
        params = request.query_params
        view = gevinst_view_for(request.user, params.get("centre", ""))
        number = (params.get("municipality") or "").strip()
        if number and not (len(number) == 4 and number.isascii() and number.isdigit()):
            raise serializers.ValidationError(
                {"municipality": [f"Kommunenummeret «{number[:20]}» har ikke fire sifre."]}
            )
        try:
            period = gevinst_period(params.get("from", ""), params.get("to", ""), today=timezone.localdate())
        except PeriodError as exc:
            raise serializers.ValidationError({key: [message] for key, message in exc.errors.items()}) from None
        selection = selection_for(view, number)
        report = gevinst_report(view, selection, period)
        audit_record(
            action=AuditAction.VIEW,
            object_type=OBJECT_TYPE,
            object_id=request.get_full_path()[:64],
            request=request,
            role=view.role,
            municipality_id=chosen.pk if (chosen := selection.municipality) else None,
        )
        return Response(report_data(report))
