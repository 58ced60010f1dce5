"""API tokens: a token for a username and password, and the user's own tokens listed and revoked.
The rules (hashing, expiry, the per-user limit) are in tenants/tokens.py."""

from django.contrib.auth import authenticate
from django.contrib.auth.models import update_last_login
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.plumbing import build_bearer_security_scheme_object
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from knox.models import AuthToken
from rest_framework import generics, serializers, status
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from tenants.login import step_up, step_up_message, step_up_refused_message
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
