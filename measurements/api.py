"""The device gateways' API: readings and answers as JSON batches, Observations as FHIR R4.

Authenticated by `Authorization: Bearer <token>` of an Integration (never a user session). The body is
checked as a whole first (400 with what is wrong); then every item gets its own result, and one bad
item never costs its neighbours their place.
"""

from django.db import transaction
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.plumbing import build_bearer_security_scheme_object
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed, ParseError
from rest_framework.parsers import JSONParser
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from measurements import fhir, services
from measurements.ingest import MAX_BATCH
from measurements.models import Integration


class IntegrationAuthentication(BaseAuthentication):
    keyword = b"bearer"

    def authenticate(self, request):
        header = get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword:
            return None
        if len(header) != 2:
            raise AuthenticationFailed("Authorization: Bearer <token> forventet.")
        integration = services.integration_for_token(header[1].decode(errors="replace"))
        if integration is None:
            raise AuthenticationFailed("Ukjent eller deaktivert integrasjonstoken.")
        request.integration = integration
        return (None, integration)

    def authenticate_header(self, request):
        return 'Bearer realm="dho"'


class IsIntegration(BasePermission):
    message = "Bare integrasjoner (enhetsgatewayer) kan sende målinger."

    def has_permission(self, request, view):
        return isinstance(request.auth, Integration)


class FhirJSONParser(JSONParser):
    media_type = "application/fhir+json"


class GatewayAPIView(APIView):
    authentication_classes = [IntegrationAuthentication]
    permission_classes = [IsIntegration]
    parser_classes = [JSONParser, FhirJSONParser]

    def body(self) -> object:
        try:
            return self.request.data
        except ParseError as exc:
            raise ParseError(f"Kroppen er ikke gyldig JSON: {exc.detail}") from None


def _batch(data, key: str) -> list:
    if not isinstance(data, dict) or key not in data:
        raise ParseError(f"Kroppen må være et JSON-objekt med listen «{key}».")
    items = data[key]
    if not isinstance(items, list):
        raise ParseError(f"«{key}» må være en liste.")
    if not items:
        raise ParseError(f"«{key}» er tom.")
    if len(items) > MAX_BATCH:
        raise ParseError(f"For mange elementer: {len(items)}; høyst {MAX_BATCH} per forespørsel.")
    return items


def _summary(results) -> dict:
    counts = {"created": 0, "duplicate": 0, "rejected": 0}
    for r in results:
        counts[r.status] += 1
    return {**counts, "results": [r.as_dict() for r in results]}


BatchOut = inline_serializer(
    "IngestResult",
    {
        "created": serializers.IntegerField(),
        "duplicate": serializers.IntegerField(),
        "rejected": serializers.IntegerField(),
        "results": serializers.ListField(child=serializers.DictField()),
    },
)


class ReadingsAPI(GatewayAPIView):
    @extend_schema(
        request=inline_serializer("ReadingsIn", {"readings": serializers.ListField(child=serializers.DictField())}),
        responses={
            200: BatchOut,
            400: OpenApiResponse(description="Kroppen er feil (ikke JSON, mangler readings, >1000)"),
        },
    )
    def post(self, request):
        items = _batch(self.body(), "readings")
        return Response(_summary(services.readings_ingest(integration=request.auth, items=items, request=request)))


class AnswersAPI(GatewayAPIView):
    @extend_schema(
        request=inline_serializer("AnswersIn", {"answers": serializers.ListField(child=serializers.DictField())}),
        responses={200: BatchOut},
    )
    def post(self, request):
        items = _batch(self.body(), "answers")
        return Response(_summary(services.answers_ingest(integration=request.auth, items=items, request=request)))


def _entry_response(result) -> dict:
    if result.status == "created":
        return {"status": "201 Created", "location": f"Observation/{result.id}"}
    if result.status == "duplicate":
        return {"status": "200 OK", "location": f"Observation/{result.id}",
                "outcome": fhir.information("Allerede mottatt; ikke lagret på nytt.")}  # fmt: skip
    return {"status": "400 Bad Request", "outcome": fhir.operation_outcome(result.errors)}


class FhirObservationAPI(GatewayAPIView):
    @extend_schema(request=dict, responses={201: dict, 200: dict, 400: dict})
    def post(self, request):
        resource = self.body()
        result = services.fhir_ingest(integration=request.auth, entries=[(resource, None)], request=request)[0]
        if result.status == "rejected":
            return Response(fhir.operation_outcome(result.errors), status=status.HTTP_400_BAD_REQUEST)
        code = status.HTTP_201_CREATED if result.status == "created" else status.HTTP_200_OK
        message = "Lagret." if result.status == "created" else "Allerede mottatt; ikke lagret på nytt."
        response = Response(fhir.information(message), status=code)
        response["Location"] = f"Observation/{result.id}"
        return response


class FhirBundleAPI(GatewayAPIView):
    """A batch or transaction Bundle of Observations. A transaction is answered entry by entry like
    a batch: the platform never drops a valid reading because another entry was bad."""

    @extend_schema(request=dict, responses={200: dict, 400: dict})
    def post(self, request):
        bundle = self.body()
        if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
            return self._invalid("Kroppen må være en FHIR Bundle.")
        if bundle.get("type") not in ("batch", "transaction"):
            return self._invalid("Bundle.type må være batch eller transaction.")
        entries = bundle.get("entry") or []
        if not entries or len(entries) > MAX_BATCH:
            return self._invalid(f"Bundle må ha 1–{MAX_BATCH} entry.")
        pairs = [((e or {}).get("resource"), (e or {}).get("fullUrl")) for e in entries]
        with transaction.atomic():
            results = services.fhir_ingest(integration=request.auth, entries=pairs, request=request)
        return Response(
            {
                "resourceType": "Bundle",
                "type": f"{bundle['type']}-response",
                "entry": [{"response": _entry_response(r)} for r in results],
            }
        )

    def _invalid(self, message: str) -> Response:
        outcome = {
            "resourceType": "OperationOutcome",
            "issue": [{"severity": "error", "code": "structure", "diagnostics": message}],
        }
        return Response(outcome, status=status.HTTP_400_BAD_REQUEST)


class IntegrationAuthenticationScheme(OpenApiAuthenticationExtension):
    """Documents the gateways' bearer token in the OpenAPI schema."""

    target_class = IntegrationAuthentication
    name = "integrationToken"

    def get_security_definition(self, auto_schema):
        return build_bearer_security_scheme_object(header_name="Authorization", token_prefix="Bearer")  # noqa: S106
