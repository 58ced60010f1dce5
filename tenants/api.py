"""API tokens: a token for a username and password, and the user's own tokens listed and revoked.
The rules (hashing, expiry, the per-user limit) are in tenants/tokens.py. And the reference data the
centre's admin keeps (innbyggertall, staffing): tenants/reference.py."""

import re
from decimal import Decimal

from django.contrib.auth import authenticate
from django.contrib.auth.models import update_last_login
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.plumbing import build_bearer_security_scheme_object
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from knox.models import AuthToken
from rest_framework import generics, serializers, status
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from tenants.login import password_login_refusal, step_up, step_up_message, step_up_refused_message
from tenants.models import Population, Staffing
from tenants.reference import MAX_FTE, MAX_POPULATION, YEARS, population_set, reference_admin_required, staffing_save
from tenants.selectors import reference_centres, reference_municipalities
from tenants.tokens import TokenAuthentication, TokenLimitReached, live_tokens, token_create, token_revoke
from tenants.two_factor import token_login_refusal

WRONG_CREDENTIALS = "Feil brukernavn eller passord. Sjekk begge og prøv igjen."


class TokenAuthenticationScheme(OpenApiAuthenticationExtension):
    """Documents the users' `Authorization: Token <secret>` in the OpenAPI schema."""

    target_class = TokenAuthentication
    match_subclasses = True  # dho.scope's, which sets the database scope after knox's check
    name = "userToken"

    def get_security_definition(self, auto_schema):
        return build_bearer_security_scheme_object(header_name="Authorization", token_prefix="Token")  # noqa: S106


class CredentialsSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=1024, trim_whitespace=False, style={"input_type": "password"})
    otp = serializers.CharField(
        max_length=64,
        required=False,
        allow_blank=True,
        help_text="Koden fra autentiseringsappen, eller en reservekode (kreves når tofaktorinnlogging er på)",
    )


class TokenIssuedSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="Nøkkelen; vises bare denne ene gangen")
    expiry = serializers.DateTimeField(allow_null=True, help_text="Når nøkkelen slutter å virke")


class TokenSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="token_key", help_text="Nøkkelens første tegn: id-en den slettes med")
    current = serializers.SerializerMethodField(help_text="Om denne forespørselen brukte nøkkelen")

    class Meta:
        model = AuthToken
        fields = ["id", "created", "expiry", "current"]

    def get_current(self, token) -> bool:
        used = self.context["request"].auth
        return isinstance(used, AuthToken) and used.pk == token.pk


# A 400 names what was wrong in DRF's shape: the credentials as a whole, or one field.
ERRORS = inline_serializer(
    "CredentialsError",
    {
        name: serializers.ListField(child=serializers.CharField(), required=False)
        for name in ("non_field_errors", "username", "password", "otp")
    },
)
DETAIL = inline_serializer("TokenDetail", {"detail": serializers.CharField()})


class ObtainTokenAPI(APIView):
    """POST username, password and the second factor's code `otp` (JSON or form) → a new token and
    its expiry. The password goes through django.contrib.auth.authenticate, so the login lock-out
    counts these attempts too (and while under attack wants `otp` there); the code is checked as on
    the web (tenants/two_factor.py)."""

    authentication_classes = []  # no session, so no CSRF: the credentials are the authentication
    permission_classes = [AllowAny]

    @extend_schema(
        request=CredentialsSerializer,
        responses={
            200: TokenIssuedSerializer,
            400: OpenApiResponse(ERRORS, description="Feil brukernavn, passord eller kode, eller et felt mangler"),
            403: OpenApiResponse(DETAIL, description="For mange aktive nøkler"),
            429: OpenApiResponse(
                DETAIL, description="For mange feil fra denne maskinen for brukeren: vent (Retry-After)"
            ),
        },
        auth=[],
    )
    def post(self, request):
        given = CredentialsSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        # The Django request, not DRF's wrapper: django-axes marks a locked-out attempt on the object
        # it is given, and its middleware looks for the mark on the Django request.
        django_request = request._request
        credentials = {k: given.validated_data[k] for k in ("username", "password")}
        code = given.validated_data.get("otp") or None
        user = authenticate(request=django_request, **credentials, otp=code)
        if user is None:
            raise self._refusal(django_request, code)
        switched_off = password_login_refusal(user)
        if switched_off:
            raise PermissionDenied(switched_off)
        verified = getattr(user, "otp_device", None) is not None  # the step-up checked the code already
        refusal = token_login_refusal(user, code, verified=verified)
        if refusal:
            raise serializers.ValidationError({"otp": [refusal]}, code="authorization")
        try:
            token, secret = token_create(user=user)
        except TokenLimitReached as refused:
            raise PermissionDenied(str(refused)) from None
        # Not user_logged_in: its receivers stamp a web session (tenants/sessions.py) the client has not got.
        update_last_login(None, user)
        return Response(TokenIssuedSerializer({"token": secret, "expiry": token.expiry}).data)

    @staticmethod
    def _refusal(django_request, code) -> serializers.ValidationError:
        """Wrong credentials; while under attack (tenants/lockout.py) the code belongs with them."""
        if step_up(django_request) is None:
            return serializers.ValidationError({"non_field_errors": [WRONG_CREDENTIALS]}, code="authorization")
        if not code:
            return serializers.ValidationError({"otp": [step_up_message()]}, code="authorization")
        return serializers.ValidationError({"non_field_errors": [step_up_refused_message()]}, code="authorization")


class TokenListAPI(generics.ListAPIView):
    """The signed-in user's tokens that still work, newest first; never a secret."""

    serializer_class = TokenSerializer

    def get_queryset(self):
        return live_tokens(self.request.user)


class TokenDetailAPI(APIView):
    """DELETE revokes one of the user's own tokens (by its id); another user's is a 404 like a missing one."""

    @extend_schema(request=None, responses={204: None, 404: OpenApiResponse(DETAIL, description="Ingen slik nøkkel")})
    def delete(self, request, token_key: str):
        if not token_revoke(user=request.user, token_key=token_key):
            raise NotFound("Du har ingen API-nøkkel med denne id-en.")
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- reference data: innbyggertall and staffing (tenants/reference.py) --------------------------------
# The centre's admin only (anyone else: 403, with why); a kommune or a centre outside the admin's
# (another centre's, or none at all) is a 404 like a missing one. A POST for a kommune and year that
# has a figure corrects it (200), a new one is 201; the same for a staffing period by its first day.

NOT_THEIRS = OpenApiResponse(description="Kommunen eller senteret finnes ikke, eller holdes ikke av brukerens senter")


class PopulationSerializer(serializers.Serializer):
    municipality = serializers.RegexField(r"^\d{4}$", max_length=4, help_text="Kommunenummeret, fire sifre",
                                          error_messages={"invalid": "Kommunenummeret har fire sifre."})  # fmt: skip
    municipality_name = serializers.CharField(read_only=True)
    year = serializers.IntegerField(min_value=YEARS[0], max_value=YEARS[1], help_text="Året; tallet gjelder 1. januar")
    population = serializers.IntegerField(min_value=1, max_value=MAX_POPULATION, help_text="Innbyggertallet")
    updated_at = serializers.DateTimeField(read_only=True)


def _population(row) -> dict:
    return {"municipality": row.municipality.number, "municipality_name": row.municipality.name, "year": row.year,
            "population": row.inhabitants, "updated_at": row.updated_at}  # fmt: skip


def _municipality_of(user, number: str):
    found = reference_municipalities(user).filter(number=number).first()
    if found is None:
        raise NotFound(f"Ingen kommune {number} som senteret ditt holder innbyggertallet for.")
    return found


class PopulationListAPI(APIView):
    """GET the innbyggertall of the admin's kommuner (filter by `municipality` and `year`); POST one
    figure: 201 for a new kommune and year, 200 for a correction of the one there is."""

    @extend_schema(
        parameters=[
            OpenApiParameter("municipality", str, description="Kommunenummer, fire sifre"),
            OpenApiParameter("year", int, description="Året"),
        ],
        responses={200: PopulationSerializer(many=True), 404: NOT_THEIRS},
    )
    def get(self, request):
        reference_admin_required(request.user)
        rows = Population.objects.filter(municipality__in=reference_municipalities(request.user))
        number = request.query_params.get("municipality")
        if number is not None:
            if not re.fullmatch(r"\d{4}", number):
                raise serializers.ValidationError({"municipality": ["Kommunenummeret har fire sifre."]})
            rows = rows.filter(municipality=_municipality_of(request.user, number))
        year = request.query_params.get("year")
        if year is not None:
            if not (year.isascii() and year.isdigit() and YEARS[0] <= int(year) <= YEARS[1]):
                raise serializers.ValidationError({"year": [f"Året er et årstall fra {YEARS[0]} til {YEARS[1]}."]})
            rows = rows.filter(year=int(year))
        rows = rows.select_related("municipality").order_by("municipality__number", "-year")
        return Response([_population(row) for row in rows])

    @extend_schema(
        request=PopulationSerializer,
        responses={201: PopulationSerializer, 200: PopulationSerializer, 404: NOT_THEIRS},
    )
    def post(self, request):
        reference_admin_required(request.user)
        given = PopulationSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        data = given.validated_data
        municipality = _municipality_of(request.user, data["municipality"])
        done = population_set(municipality=municipality, year=data["year"], population=data["population"],
                              user=request.user, request=request)  # fmt: skip
        return Response(_population(done.row), status=status.HTTP_201_CREATED if done.created else status.HTTP_200_OK)


class StaffingSerializer(serializers.Serializer):
    centre = serializers.SlugField(max_length=50, help_text="Senterets kortnavn (slug)")
    valid_from = serializers.DateField(help_text="Første dag perioden gjelder")
    valid_to = serializers.DateField(allow_null=True, required=False, default=None,
                                     help_text="Siste dag perioden gjelder; null: inntil videre")  # fmt: skip
    nurse_fte = serializers.DecimalField(max_digits=5, decimal_places=2, min_value=Decimal("0"),
                                         max_value=MAX_FTE, coerce_to_string=False,
                                         help_text="Sykepleierårsverk i perioden, for eksempel 4.6")  # fmt: skip
    note = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    updated_at = serializers.DateTimeField(read_only=True)

    def validate_valid_from(self, value):
        return _year_checked(value)

    def validate_valid_to(self, value):
        return _year_checked(value) if value is not None else None


def _year_checked(day):
    if not YEARS[0] <= day.year <= YEARS[1]:
        raise serializers.ValidationError(f"Datoen må ligge mellom år {YEARS[0]} og {YEARS[1]}.")
    return day


def _staffing(row) -> dict:
    return {"centre": row.centre.slug, "valid_from": row.valid_from, "valid_to": row.valid_to,
            "nurse_fte": row.nurse_fte, "note": row.note, "updated_at": row.updated_at}  # fmt: skip


def _centre_of(user, slug: str):
    found = reference_centres(user).filter(slug=slug).first()
    if found is None:
        raise NotFound(f"Ingen oppfølgingssenter «{slug}» som du er administrator for.")
    return found


class StaffingListAPI(APIView):
    """GET the staffing periods of the admin's centres (filter by `centre`); POST one period: 201 for
    a new one, 200 when the centre has a period from that day (its end, årsverk or note corrected).
    A period that overlaps another is a 400 naming the other."""

    @extend_schema(
        parameters=[OpenApiParameter("centre", str, description="Senterets kortnavn (slug)")],
        responses={200: StaffingSerializer(many=True), 404: NOT_THEIRS},
    )
    def get(self, request):
        reference_admin_required(request.user)
        rows = Staffing.objects.filter(centre__in=reference_centres(request.user))
        slug = request.query_params.get("centre")
        if slug is not None:
            rows = rows.filter(centre=_centre_of(request.user, slug))
        rows = rows.select_related("centre").order_by("centre__slug", "valid_from")
        return Response(StaffingSerializer([_staffing(row) for row in rows], many=True).data)

    @extend_schema(
        request=StaffingSerializer,
        responses={201: StaffingSerializer, 200: StaffingSerializer, 404: NOT_THEIRS},
    )
    def post(self, request):
        reference_admin_required(request.user)
        given = StaffingSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        data = given.validated_data
        centre = _centre_of(request.user, data["centre"])
        existing = Staffing.objects.filter(centre=centre, valid_from=data["valid_from"]).first()
        saved = staffing_save(centre=centre, valid_from=data["valid_from"], valid_to=data["valid_to"],
                              nurse_fte=data["nurse_fte"], note=data["note"], user=request.user, request=request,
                              staffing=existing)  # fmt: skip
        body = StaffingSerializer(_staffing(saved.row)).data
        return Response(body, status=status.HTTP_201_CREATED if saved.created else status.HTTP_200_OK)
