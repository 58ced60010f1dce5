"""The insight figures as JSON (token or session): GET /api/v1/insight/. Figures only, never a
patient; a figure computed from fewer than 5 people is null, with the reason under `suppressed`.
Who sees what: insight.access (anyone without figures, or a kommune outside them, gets 404).
The parameters, the report and the aggregate audit event are insight.reads', shared with the pages."""

from __future__ import annotations

from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from insight.figures import COLOURS, END_REASONS, KIND_KEYS, SECTIONS, STAGES, public
from insight.reads import QueryError, insight_query, insight_read
from insight.selectors import Report
from tenants.models import Municipality

PARAMETERS = [
    OpenApiParameter(
        "from",
        str,
        description="Første dag, åååå-mm-dd (standard: den første i måneden for elleve måneder siden til-datoen)",
    ),
    OpenApiParameter("to", str, description="Siste dag, åååå-mm-dd (standard og høyst: i dag)"),
    OpenApiParameter(
        "granularity",
        str,
        enum=["week", "month"],
        description="Inndeling: ISO-uker (fra mandag) eller måneder (standard: month)",
    ),
    OpenApiParameter("municipality", str, description="Kommunenummer (fire sifre): bare den kommunens tall"),
    OpenApiParameter("centre", str, description="Senterets slug, når brukeren ser tall for flere sentre"),
]


def _suppressed():
    return serializers.DictField(
        child=serializers.CharField(),
        help_text="Tall som ikke vises (verdien er null): feltets navn (med punktum for nestede felt, "
        "«by_colour.red.alerts») → hvorfor, f.eks. «færre enn 5 personer».",
    )


def _number(help_text: str, **kwargs):
    return serializers.FloatField(allow_null=True, help_text=help_text, **kwargs)


def _count(help_text: str):
    return serializers.IntegerField(allow_null=True, help_text=help_text)


class CapacitySerializer(serializers.Serializer):
    active_patients = _number("Aktive pasienter i snitt: aktive pasientdøgn ÷ dager i perioden")
    paused_patients = _number("Pasienter på pause i snitt: pausedøgn ÷ dager i perioden")
    active_at_end = _count("Aktive pasienter den siste dagen i perioden")
    paused_at_end = _count("Pasienter på pause den siste dagen i perioden")
    nurse_fte = _number("Sykepleierårsverk ved senteret, vektet per dag (bare for hele senteret)")
    patients_per_fte = _number("Aktive pasienter i snitt per sykepleierårsverk")
    reference_per_fte = serializers.IntegerField(help_text="Referanselinjen: pasienter per årsverk tjenesten er "
                                                 "dimensjonert for (Ullensaker: 80)")  # fmt: skip
    reaches_reference_on = serializers.DateField(
        allow_null=True,
        help_text="Datoen aktive pasienter når referanselinjen × årsverk, med dagens inntakstakt (netto nye aktive "
        "per måned siste 3 måneder); periodens siste dag om den er nådd, null om takten ikke øker",
    )
    suppressed = _suppressed()


class AlertsPerSerializer(serializers.Serializer):
    alerts = _count("Varsler åpnet i perioden")
    per_patient_week = _number("Varsler per pasientuke")


class ByColourSerializer(serializers.Serializer):
    red = AlertsPerSerializer()
    yellow = AlertsPerSerializer()


class ByKindSerializer(serializers.Serializer):
    measurement = AlertsPerSerializer(help_text="Måling utenfor grenseverdi")
    questionnaire = AlertsPerSerializer(help_text="Avvikende svar på spørreskjema")
    missing_measurement = AlertsPerSerializer(help_text="Manglende måling")
    missing_questionnaire = AlertsPerSerializer(help_text="Manglende svar på spørreskjema")
    inactive = AlertsPerSerializer(help_text="Inaktiv pasient")


class TimesSerializer(serializers.Serializer):
    alerts = _count("Varsler åpnet i perioden")
    taken_median_minutes = _number("Minutter fra varselet ble åpnet til en sykepleier først tok det (tok, ikke "
                                   "nådd eller håndterte), median")  # fmt: skip
    taken_p90_minutes = _number("Det samme, 90-persentil")
    handled_median_minutes = _number("Minutter fra åpnet til håndtert, median")
    handled_p90_minutes = _number("Minutter fra åpnet til håndtert, 90-persentil")


class AlarmBurdenSerializer(TimesSerializer):
    patient_weeks = _number("Aktive pasientuker: aktive pasientdøgn ÷ 7")
    alerts_per_patient_week = _number("Varsler per pasientuke (et nederlandsk program så 3,4)")
    by_colour = ByColourSerializer()
    by_kind = ByKindSerializer()
    inside_opening_hours = TimesSerializer(help_text="Varsler åpnet innenfor senterets åpningstid")
    outside_opening_hours = TimesSerializer(help_text="Varsler åpnet utenfor åpningstiden")
    handled_within_response_time_share = _number(
        "Andel håndterte varsler håndtert innen responstiden: arbeidslistens regel (rødt innen én åpen time, gult "
        "innen én arbeidsdag åpningstid), fra 0 til 1"
    )
    not_reached_retries = _count("«Ikke nådd, nytt forsøk» registrert i perioden")
    alerts_per_nurse_day = _number("Varsler per sykepleierdag: varsler ÷ (årsverk × dager), bare for hele senteret")
    suppressed = _suppressed()


class TypeAdherenceSerializer(serializers.Serializer):
    expected = _number("Forventede målinger etter planen")
    received = _number("Mottatte målinger (høyst planens antall per dag)")
    share = _number("Mottatt ÷ forventet")


class AdherenceSerializer(serializers.Serializer):
    expected = _number("Målinger den godkjente planens måleplan forventer på aktive dager")
    received = _number("Mottatte målinger av de forventede typene, høyst planens antall per dag")
    share = _number("Mottatt ÷ forventet, fra 0 til 1")
    patient_weeks = _number("Aktive pasientuker med godkjent plan")
    expected_per_patient_week = _number("Forventede målinger per pasientuke")
    received_per_patient_week = _number("Mottatte målinger per pasientuke")
    patients_without_plan = _count("Aktive pasienter uten godkjent plan noen dag i perioden")
    by_type = serializers.DictField(child=TypeAdherenceSerializer(), help_text="Per måletype (spo2, pulse …)")
    suppressed = _suppressed()


def _fields(serializer_name: str, names, help_text: str, field) -> type[serializers.Serializer]:
    return type(serializer_name, (serializers.Serializer,), {name: field(help_text % name) for name in names})


ConversionSerializer = _fields("ConversionSerializer", ("assessed", "granted", "consented", "started"),
                               "Andel for steget «%s»: vurdert ÷ henvisninger, innvilget ÷ vedtak, samtykke ÷ "
                               "innvilget, oppstart ÷ samtykke (samme periode)", _number)  # fmt: skip
MedianDaysSerializer = _fields("MedianDaysSerializer", STAGES, "Dager fra forrige steg til «%s», median", _number)
EndingsSerializer = _fields("EndingsSerializer", END_REASONS, "Avsluttet med årsak «%s»", _count)


class FunnelSerializer(serializers.Serializer):
    referrals = _count("Henvisninger mottatt (etter mottatt-dato)")
    assessed = _count("Henvisninger vurdert")
    granted = _count("Innvilget")
    refused = _count("Avslått")
    consented = _count("Samtykker gitt")
    started = _count("Oppstarter")
    ended = _count("Avsluttede forløp")
    complaints = _count("Klager mottatt")
    conversion = ConversionSerializer()
    median_days = MedianDaysSerializer()
    endings_by_reason = EndingsSerializer()
    median_days_in_service = _number("Dager fra oppstart til avslutning for forløp avsluttet i perioden, median")
    suppressed = _suppressed()


class SectionsSerializer(serializers.Serializer):
    capacity = CapacitySerializer(allow_null=True)
    alarm_burden = AlarmBurdenSerializer(allow_null=True)
    adherence = AdherenceSerializer(allow_null=True, help_text="null for økonomi")
    funnel = FunnelSerializer(allow_null=True, help_text="null for økonomi")


class BucketSerializer(SectionsSerializer):
    label = serializers.CharField(help_text="«2026-W09» (ISO-uke) eller «2026-03»")
    to_date = serializers.DateField(help_text="Siste dag i uken eller måneden, innenfor perioden")
    days = serializers.IntegerField()


BucketSerializer._declared_fields["from"] = serializers.DateField(help_text="Første dag, innenfor perioden")
BucketSerializer._declared_fields["to"] = BucketSerializer._declared_fields.pop("to_date")


class PlaceSerializer(serializers.Serializer):
    number = serializers.CharField()
    name = serializers.CharField()


class CentreSerializer(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()


class InsightSerializer(SectionsSerializer):
    centre = CentreSerializer()
    municipality = PlaceSerializer(allow_null=True, help_text="Den valgte kommunen; null: alle brukerens kommuner")
    municipalities = PlaceSerializer(many=True, help_text="Kommunene tallene gjelder")
    whole_centre = serializers.BooleanField(help_text="Tallene er hele senterets (bemanning og senterets totaler med)")
    to_date = serializers.DateField(help_text="Siste dag (høyst i dag)")
    granularity = serializers.ChoiceField(choices=["week", "month"])
    buckets = BucketSerializer(many=True)


InsightSerializer._declared_fields["from"] = serializers.DateField(help_text="Første dag")
InsightSerializer._declared_fields["to"] = InsightSerializer._declared_fields.pop("to_date")


def _sections(figures: dict) -> dict:
    out = {name: public(figures[name]) if name in figures else None for name in SECTIONS}
    if out["adherence"] is not None:
        out["adherence"].setdefault("by_type", {})  # no plan with a schedule: no type, yet the field is there
    return out


def report_data(report: Report) -> dict:
    centre, chosen = report.view.centre, report.selection.municipality
    shown = Municipality.objects.filter(pk__in=report.selection.municipality_ids).order_by("name")
    return {
        "centre": {"slug": centre.slug, "name": centre.name},
        "municipality": {"number": chosen.number, "name": chosen.name} if chosen is not None else None,
        "municipalities": [{"number": m.number, "name": m.name} for m in shown],
        "whole_centre": report.whole_centre,
        "from": report.period.first,
        "to": report.period.last,
        "granularity": report.period.granularity,
        **_sections(report.figures.total),
        "buckets": [
            {"label": bucket.label, "from": bucket.first, "to": bucket.last, "days": bucket.days, **_sections(figures)}
            for bucket, figures in zip(report.period.buckets, report.figures.buckets, strict=True)
        ],
    }


class InsightAPI(APIView):
    """The figures of the user's centre or kommune for a period, by week or month."""

    @extend_schema(
        parameters=PARAMETERS,
        responses={
            200: InsightSerializer,
            400: OpenApiResponse(description="En parameter er feil: {parameter: [hva som var galt]}"),
            404: OpenApiResponse(description="Brukeren ser ingen tall, eller kommunen ligger utenfor det brukeren ser"),
        },
    )
    def get(self, request):
        try:
            query = insight_query(request.user, request.query_params, today=timezone.localdate())
        except QueryError as exc:
            raise serializers.ValidationError({key: [message] for key, message in exc.errors.items()}) from None
        return Response(report_data(insight_read(request, query)))


# Keep KIND_KEYS and COLOURS in step with the serializers above (the schema names each key).
assert set(ByKindSerializer._declared_fields) == set(KIND_KEYS.values())
assert set(ByColourSerializer._declared_fields) == set(COLOURS)
