"""The device gateways' API: readings and answers as JSON batches, Observations as FHIR R4.

Authenticated by `Authorization: Bearer <token>` of an Integration (never a user session). The body is
checked as a whole first (400 with what is wrong); then every item gets its own result, and one bad
item never costs its neighbours their place, except in a FHIR transaction Bundle, which FHIR defines
as all or nothing (stored whole, or nothing stored and everything kept in the quarantine).

Two 429s: the gateway's throttle (dho.throttling; nothing of the request stored), and a quarantine
full for the day (the valid items stored, the rejected ones refused, not kept): either way the
gateway sends the request again after Retry-After, and what is stored already is a duplicate then.
"""

import re

from django.urls import reverse
from django.utils.http import http_date
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.plumbing import build_bearer_security_scheme_object
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view, inline_serializer
from rest_framework import serializers, status
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed, NotAcceptable, ParseError
from rest_framework.permissions import AllowAny, BasePermission
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from measurements import fhir, selectors, services
from measurements.ingest import ANSWER_VALUES, MAX_BATCH
from measurements.models import Integration
from measurements.types import SPECS
from tenants.api_input import JSONParser


class IntegrationAuthentication(BaseAuthentication):
    keyword = b"bearer"

    def authenticate(self, request):
        header = get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword:
            return None
        if len(header) != 2:
            raise AuthenticationFailed("Authorization: Bearer <token> forventet.")
        # The database shows a gateway the patients of the municipalities its centre serves: the
        # scope is set by the statement that finds the gateway.
        integration = services.integration_authenticate(header[1].decode(errors="replace"))
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
    """application/fhir+json, read like every JSON body: an object, bounded in size and depth."""

    media_type = "application/fhir+json"


class GatewayAPIView(APIView):
    """JSON only (no forms). The parser (tenants.api_input) has made sure the body is an object within
    the size and depth limits, with nothing PostgreSQL cannot store; else it was a 400 saying what."""

    authentication_classes = [IntegrationAuthentication]
    permission_classes = [IsIntegration]
    parser_classes = [JSONParser, FhirJSONParser]

    def body(self) -> dict:
        return self.request.data


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


def _batch_answer(results) -> Response:
    """200 with a result per item; 429 when rejected items were refused because the quarantine is full."""
    if services.quarantine_refused(results):
        body = {"detail": services.quarantine_full_message(results), "results": [r.as_dict() for r in results]}
        return Response(body, status=status.HTTP_429_TOO_MANY_REQUESTS, headers=_retry_after())
    return Response(_summary(results))


def _retry_after() -> dict:
    return {"Retry-After": str(services.quarantine_retry_after())}


def _quarantine_full_outcome(results) -> Response:
    outcome = fhir.error_outcome(services.quarantine_full_message(results), http_status=429)
    return Response(outcome, status=status.HTTP_429_TOO_MANY_REQUESTS, headers=_retry_after())


class ItemErrorOut(serializers.Serializer):
    field = serializers.CharField()
    message = serializers.CharField()
    code = serializers.CharField(
        required=False, help_text="conflict: samme external_id og tidspunkt som en lagret måling, men en annen verdi"
    )


class ItemResultOut(serializers.Serializer):
    index = serializers.IntegerField()
    status = serializers.ChoiceField(
        choices=["created", "duplicate", "rejected", "refused"],
        help_text="refused (bare i et 429-svar): avvist, og ikke tatt vare på fordi karantenen er full; send på nytt",
    )
    id = serializers.IntegerField(required=False, help_text="Den lagrede målingens id")
    errors = ItemErrorOut(many=True, required=False)


BatchOut = inline_serializer(
    "IngestResult",
    {
        "created": serializers.IntegerField(),
        "duplicate": serializers.IntegerField(),
        "rejected": serializers.IntegerField(),
        "results": ItemResultOut(many=True),
    },
)
QuarantineFull = OpenApiResponse(
    inline_serializer(
        "IngestQuarantineFull",
        {"detail": serializers.CharField(), "results": ItemResultOut(many=True, required=False)},
    ),
    description="For mange forespørsler, eller karantenen er full for i dag: send på nytt etter Retry-After "
    "(sekunder). Ved full karantene er de gyldige elementene lagret (results) og blir duplikater neste gang",
)
BatchRefused = OpenApiResponse(
    inline_serializer("IngestRefused", {"detail": serializers.CharField()}),
    description=f"Kroppen er feil: ikke JSON, ikke et objekt, mangler listen, tom eller over {MAX_BATCH} elementer",
)


class ReadingItemIn(serializers.Serializer):
    """One reading as the JSON ingest takes it (measurements.ingest.ReadingIn checks it)."""

    external_id = serializers.CharField(max_length=100, help_text="Gatewayens id; samme id igjen er et duplikat")
    patient_id = serializers.UUIDField(required=False, help_text="Pasienten (ellers device_serial)")
    device_serial = serializers.CharField(required=False, max_length=100, help_text="Utlånt enhet")
    type = serializers.ChoiceField(choices=list(SPECS), help_text="Målingstypen")
    value = serializers.FloatField(required=False, allow_null=True)
    systolic = serializers.FloatField(required=False, allow_null=True)
    diastolic = serializers.FloatField(required=False, allow_null=True)
    unit = serializers.CharField(max_length=20, help_text="UCUM-enhet")
    measured_at = serializers.DateTimeField(help_text="Med tidssone")


class AnswerItemIn(serializers.Serializer):
    """One questionnaire answer (measurements.ingest.AnswerIn checks it)."""

    external_id = serializers.CharField(max_length=100)
    patient_id = serializers.UUIDField()
    questionnaire = serializers.ChoiceField(
        choices=["daily_symptoms", "cat", "survey"],
        help_text="survey: brukerundersøkelsen (spørsmålene og svarene i docs/insight.md, «Gevinst»)",
    )
    answers = serializers.DictField(
        child=serializers.ChoiceField(choices=list(ANSWER_VALUES)), required=False,
        help_text="Daglige symptomer: kode → yes/no; brukerundersøkelsen: spørsmål → svaralternativ",
    )  # fmt: skip
    items = serializers.ListField(child=serializers.IntegerField(min_value=0, max_value=5), required=False,
                                  help_text="CAT: åtte svar, 0–5")  # fmt: skip
    answered_at = serializers.DateTimeField(help_text="Med tidssone")


class ReadingsAPI(GatewayAPIView):
    @extend_schema(
        request=inline_serializer("ReadingsIn", {"readings": ReadingItemIn(many=True)}),
        responses={200: BatchOut, 400: BatchRefused, 429: QuarantineFull},
    )
    def post(self, request):
        items = _batch(self.body(), "readings")
        return _batch_answer(services.readings_ingest(integration=request.auth, items=items, request=request))


class AnswersAPI(GatewayAPIView):
    @extend_schema(
        request=inline_serializer("AnswersIn", {"answers": AnswerItemIn(many=True)}),
        responses={200: BatchOut, 400: BatchRefused, 429: QuarantineFull},
    )
    def post(self, request):
        items = _batch(self.body(), "answers")
        return _batch_answer(services.answers_ingest(integration=request.auth, items=items, request=request))


# --- FHIR ----------------------------------------------------------------------------------------

FHIR_MEDIA_TYPE = "application/fhir+json"


class FhirJSONRenderer(JSONRenderer):
    """FHIR's own JSON media type (what FHIR clients ask for with Accept and expect back)."""

    media_type = FHIR_MEDIA_TYPE
    charset = "utf-8"


ETAG = f'W/"{fhir.VERSION_ID}"'


def _location(request, reading_id: int) -> str:
    """FHIR's create answers the new resource's id and version: [base]/Observation/[id]/_history/[vid]."""
    return request.build_absolute_uri(reverse("api-fhir-observation-vread", args=[reading_id, fhir.VERSION_ID]))


def _entry_location(reading_id: int) -> str:
    return f"Observation/{reading_id}/_history/{fhir.VERSION_ID}"


def _entry_response(result) -> dict:
    if result.status == "not-supported":
        return {"status": "405 Method Not Allowed", "outcome": fhir.request_outcome(result.errors)}
    if result.status == "created":
        return {"status": "201 Created", "location": _entry_location(result.id), "etag": ETAG}
    if result.status == "duplicate":
        return {"status": "200 OK", "location": _entry_location(result.id), "etag": ETAG,
                "outcome": fhir.information("Allerede mottatt; ikke lagret på nytt.")}  # fmt: skip
    return {"status": "400 Bad Request", "outcome": fhir.operation_outcome(result.errors)}


class FhirAPIView(GatewayAPIView):
    """A FHIR endpoint answers in application/fhir+json (application/json to a client that asks for
    it and not for fhir+json) and takes either for a body, through the same bounded parser
    (tenants.api_input). Every error is an OperationOutcome, as FHIR clients expect: a body that is
    not JSON, a wrong token, a wrong Bundle and an Accept it cannot answer (406) alike."""

    renderer_classes = [FhirJSONRenderer, JSONRenderer]
    error_schema = fhir.OUTCOME_SCHEMA  # dho.api_schema documents the errors in this shape
    error_media_types = (FHIR_MEDIA_TYPE, "application/json")

    def handle_exception(self, exc):
        if isinstance(exc, NotAcceptable):
            exc = NotAcceptable(f"Accept må tillate {FHIR_MEDIA_TYPE} eller application/json; andre formater gis ikke.")
        response = super().handle_exception(exc)
        if response.status_code >= 400 and not fhir.is_outcome(response.data):
            response.data = fhir.error_outcome(_detail_text(response.data), http_status=response.status_code)
        return response


def _detail_text(data) -> str:
    if isinstance(data, dict) and "detail" in data:
        return str(data["detail"])
    return str(data)


QUARANTINE_FULL_FHIR = (
    "For mange forespørsler, eller karantenen er full for i dag: send på nytt etter Retry-After (sekunder); "
    "det som alt er lagret, blir et duplikat"
)


class FhirMetadataAPI(FhirAPIView):
    """GET [base]/metadata without a token, on purpose: FHIR clients read the CapabilityStatement
    before they authenticate (to learn how to), and it holds no patient data, only what this server
    takes (generated from the catalogue) and how to authenticate. No authentication is tried at all,
    so a client that sends its token anyway (fhirclient does) is answered the same."""

    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(
        responses={200: OpenApiResponse(fhir.CAPABILITY_SCHEMA, description="FHIR R4 CapabilityStatement")},
        auth=[],
    )
    def get(self, request):
        base = request.build_absolute_uri(reverse("api-fhir-bundle"))
        return Response(fhir.capability_statement(base))


PREFERENCES = ("representation", "minimal", "OperationOutcome")


def _return_preference(request) -> str:
    """What `Prefer: return=…` asks a create to answer; representation (the stored Observation) when
    it asks for nothing we know, as HAPI and most FHIR servers do: clients such as fhirpy take the
    body of a create for the resource with its new id."""
    for part in request.headers.get("Prefer", "").replace(";", ",").split(","):
        name, _, value = part.strip().partition("=")
        if name.strip().lower() == "return" and value.strip().strip('"') in PREFERENCES:
            return value.strip().strip('"')
    return "representation"


CREATE_DESCRIPTION = (
    "Lagrer én vital måling. Svaret følger Prefer-headeren: `return=representation` (standard) gir den "
    "lagrede Observation med id, `return=minimal` tom kropp, `return=OperationOutcome` en OperationOutcome. "
    'Location peker på Observation/<id>/_history/1 (les den med GET), ETag er versjonen (W/"1").'
)


class FhirObservationAPI(FhirAPIView):
    @extend_schema(
        description=CREATE_DESCRIPTION,
        request={FHIR_MEDIA_TYPE: fhir.OBSERVATION_SCHEMA, "application/json": fhir.OBSERVATION_SCHEMA},
        responses={
            201: OpenApiResponse(fhir.CREATED_SCHEMA, description="Lagret; Location: …/Observation/<id>/_history/1"),
            200: OpenApiResponse(fhir.CREATED_SCHEMA, description="Allerede mottatt; ikke lagret på nytt"),
            400: OpenApiResponse(fhir.OUTCOME_SCHEMA, description="Avvist: hva som var feil, per felt"),
            429: OpenApiResponse(fhir.OUTCOME_SCHEMA, description=QUARANTINE_FULL_FHIR),
        },
    )
    def post(self, request):
        resource = self.body()
        result = services.fhir_ingest(integration=request.auth, entries=[(resource, None)], request=request)[0]
        if result.status == "refused":
            return _quarantine_full_outcome([result])
        if result.status == "rejected":
            return Response(fhir.operation_outcome(result.errors), status=status.HTTP_400_BAD_REQUEST)
        return self._stored(request, result)

    def _stored(self, request, result) -> Response:
        created = result.status == "created"
        code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
        prefer = _return_preference(request)
        if prefer == "OperationOutcome":
            body = fhir.information("Lagret." if created else "Allerede mottatt; ikke lagret på nytt.")
        elif prefer == "representation":
            reading = _stored_reading(request, result.id, read=not created)
            # None only for a duplicate whose patient has since moved out of the gateway's reach.
            body = fhir.reading_to_observation(reading) if reading else fhir.information("Allerede mottatt.")
        else:
            body = None
        headers = {"Location": _location(request, result.id), "ETag": ETAG}
        return Response(body, status=code, headers=headers)


def _stored_reading(request, reading_id: int, *, read: bool):
    """The reading a create stored. What was just written is the gateway's own and needs no read
    event (its create is audited); a duplicate's values were stored before, so showing them is a read."""
    if read:
        return selectors.integration_reading_read(integration=request.auth, reading_id=reading_id, request=request)
    return selectors.integration_reading(integration=request.auth, reading_id=reading_id)


READING_ID = re.compile("[0-9]{1,19}")  # ASCII digits only: "¹".isdigit() is true, int("¹") fails


def _not_found(observation_id: str) -> Response:
    message = f"Fant ingen Observation med id «{observation_id[:64]}» som denne integrasjonen har sendt."
    return Response(fhir.error_outcome(message, http_status=404), status=status.HTTP_404_NOT_FOUND)


class FhirObservationReadAPI(FhirAPIView):
    """GET [base]/Observation/<id>: a reading this gateway stored, as FHIR. Another gateway's reading
    (of the same centre too) and an unknown id are the same 404: a gateway reads back what it sent,
    never what others did. Each read is audited as the gateway, under the reading's patient.
    GET [base]/Observation/<id>/_history/<vid> (vread, where a create's Location points) is the same
    read for the only version a reading has (1); another version is a 404."""

    @extend_schema(
        responses={
            200: OpenApiResponse(fhir.OBSERVATION_OUT_SCHEMA, description="Målingen som FHIR R4 Observation"),
            404: OpenApiResponse(fhir.OUTCOME_SCHEMA, description="Ukjent id, eller en annen integrasjons måling"),
        },
    )
    def get(self, request, observation_id: str, version_id: str | None = None):
        if not READING_ID.fullmatch(observation_id) or int(observation_id) >= 2**63:  # the reading's bigint
            return _not_found(observation_id)
        if version_id is not None and version_id != fhir.VERSION_ID:
            message = f"Observation {observation_id} har ingen versjon «{version_id[:20]}»: "
            message += "en måling har bare versjon 1."
            return Response(fhir.error_outcome(message, http_status=404), status=status.HTTP_404_NOT_FOUND)
        reading = selectors.integration_reading_read(
            integration=request.auth, reading_id=int(observation_id), request=request
        )
        if reading is None:
            return _not_found(observation_id)
        response = Response(fhir.reading_to_observation(reading), headers={"ETag": ETAG})
        response["Last-Modified"] = http_date(reading.received_at.timestamp())
        return response


class BundleInvalid(Exception):
    def __init__(self, message: str, expression: str):
        super().__init__(message)
        self.message, self.expression = message, expression


def _request_errors(index: int, request) -> list[dict]:
    """What an entry asks to be done (`Bundle.entry.request`): this server only creates Observations,
    POST to Observation. An entry without a request is read as that, as it always was.
    Anything else (a DELETE, a GET, a PUT Observation/5, a POST Patient) is not done, and it is no
    reading to keep in the quarantine: → the errors of the entry (field as FHIRPath), none if it is a create."""
    if request is None:
        return []
    where = f"Bundle.entry[{index}].request"
    if not isinstance(request, dict):
        return [{"field": where, "message": "request må være et objekt med method og url", "code": "structure"}]
    method, url = request.get("method"), request.get("url")
    if method != "POST":
        message = f"request.method «{str(method)[:20]}» støttes ikke: bare POST (opprette en Observation) tas imot"
        return [{"field": f"{where}.method", "message": message, "code": "not-supported"}]
    if not isinstance(url, str) or url.strip().rstrip("/").rsplit("/", 1)[-1] != "Observation":
        message = f"request.url «{str(url)[:60]}» støttes ikke: bare POST til Observation tas imot"
        return [{"field": f"{where}.url", "message": message, "code": "not-supported"}]
    return []


def _bundle_entries(bundle: dict) -> tuple[list[tuple[object, str | None]], dict[int, list[dict]]]:
    """The (resource, fullUrl) of each entry, and the errors of the entries that ask for something
    other than a create (by index). The Bundle's own structure is checked here (400 for the whole
    Bundle); each resource is checked on its own in the ingest."""
    if bundle.get("resourceType") != "Bundle":
        raise BundleInvalid("Kroppen må være en FHIR Bundle.", "Bundle.resourceType")
    if bundle.get("type") not in ("batch", "transaction"):
        raise BundleInvalid("Bundle.type må være batch eller transaction.", "Bundle.type")
    entries = bundle.get("entry")
    if not isinstance(entries, list) or not 1 <= len(entries) <= MAX_BATCH:
        raise BundleInvalid(f"Bundle må ha 1–{MAX_BATCH} entry (en liste).", "Bundle.entry")
    pairs, unsupported = [], {}
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise BundleInvalid(f"entry[{index}] må være et objekt med resource.", f"Bundle.entry[{index}]")
        full_url = entry.get("fullUrl")
        if full_url is not None and not isinstance(full_url, str):
            raise BundleInvalid(f"entry[{index}].fullUrl må være en tekst.", f"Bundle.entry[{index}].fullUrl")
        pairs.append((entry.get("resource"), full_url))
        if errors := _request_errors(index, entry.get("request")):
            unsupported[index] = errors
    return pairs, unsupported


def _response_bundle(kind: str, results) -> dict:
    return {"resourceType": "Bundle", "type": f"{kind}-response",
            "entry": [{"response": _entry_response(r)} for r in results]}  # fmt: skip


TRANSACTION_QUARANTINE_FULL = (
    "Transaksjonen er avvist, og ingenting i den er lagret: {bad} var feil. Karantenen for denne "
    "integrasjonen er også full for i dag, så innholdet er ikke tatt vare på her: behold transaksjonen, "
    "rett feilen og send den på nytt etter Retry-After. Senterets administrator er varslet."
)


class FhirBundleAPI(FhirAPIView):
    """POST [base] (with or without a trailing slash): a batch or transaction Bundle of Observations.
    A batch is answered entry by entry (batch-response): one bad entry costs the others nothing, and
    it alone goes to the quarantine. A transaction is all or nothing, as FHIR defines it: one bad
    entry is a 400 OperationOutcome naming it, nothing is stored, and every entry is kept in the
    quarantine (measurements.services.fhir_transaction)."""

    @extend_schema(
        request={FHIR_MEDIA_TYPE: fhir.BUNDLE_SCHEMA, "application/json": fhir.BUNDLE_SCHEMA},
        responses={
            200: OpenApiResponse(
                fhir.BUNDLE_RESPONSE_SCHEMA,
                description="batch-response: ett svar per entry; transaction-response: alle lagret",
            ),
            400: OpenApiResponse(
                fhir.OUTCOME_SCHEMA,
                description="Bundle er feil bygd, eller en entry i en transaction er feil (ingenting lagret)",
            ),
            429: OpenApiResponse(fhir.OUTCOME_SCHEMA, description=QUARANTINE_FULL_FHIR),
        },
    )
    def post(self, request):
        bundle = self.body()
        try:
            pairs, unsupported = _bundle_entries(bundle)
        except BundleInvalid as exc:
            outcome = fhir.error_outcome(exc.message, code="structure", expression=exc.expression)
            return Response(outcome, status=status.HTTP_400_BAD_REQUEST)
        if bundle["type"] == "transaction":
            if unsupported:  # all or nothing: nothing is done, and nothing kept (no reading was sent)
                outcome = fhir.request_outcome([e for errors in unsupported.values() for e in errors], whole=True)
                return Response(outcome, status=status.HTTP_400_BAD_REQUEST)
            return self._transaction(request, pairs)
        results = services.fhir_ingest(
            integration=request.auth, entries=pairs, request=request, unsupported=unsupported
        )
        if services.quarantine_refused(results):
            return _quarantine_full_outcome(results)
        return Response(_response_bundle("batch", results))

    def _transaction(self, request, pairs) -> Response:
        outcome = services.fhir_transaction(integration=request.auth, entries=pairs, request=request)
        if outcome.stored:
            return Response(_response_bundle("transaction", outcome.results))
        if not outcome.kept:
            bad = ", ".join(f"entry[{index}]" for index, _raw, _errors in outcome.failed)
            message = TRANSACTION_QUARANTINE_FULL.format(bad=bad)
            return Response(fhir.error_outcome(message, http_status=429), status=status.HTTP_429_TOO_MANY_REQUESTS,
                            headers=_retry_after())  # fmt: skip
        failed = [(index, pairs[index][1], errors) for index, _raw, errors in outcome.failed]
        return Response(fhir.transaction_outcome(failed, len(pairs)), status=status.HTTP_400_BAD_REQUEST)


@extend_schema_view(post=extend_schema(operation_id="v1_fhir_base_slash_create"))
class FhirBundleSlashAPI(FhirBundleAPI):
    """The same endpoint at "[base]/", under its own name in the OpenAPI schema."""


class IntegrationAuthenticationScheme(OpenApiAuthenticationExtension):
    """Documents the gateways' bearer token in the OpenAPI schema."""

    target_class = IntegrationAuthentication
    name = "integrationToken"

    def get_security_definition(self, auto_schema):
        return build_bearer_security_scheme_object(header_name="Authorization", token_prefix="Bearer")  # noqa: S106
