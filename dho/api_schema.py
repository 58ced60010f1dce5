"""The OpenAPI schema names the errors every endpoint really gives, not only its success.

drf-spectacular documents what a view declares; the answers that come from DRF itself (a body that
is not JSON or fails a serializer: 400; no or a wrong credential: 401/403; an id outside the
user's scope: 404; a body in a media type the view does not take: 415; a throttle's 429) and from
the services' refusals (tenants.errors, mapped once in tenants.api_input.exception_handler: a
`Refused` step is a 400, a `NotAllowed` one a 403, both {"detail": message}) would be missing, and
a client or schemathesis (tests/dho/test_schemathesis.py) could not tell them from a fault. Every
error has one body, the `Error` component below (or the view's own, FHIR's OperationOutcome).

The schema itself (`/api/schema/`) is for signed-in users only, outside debug mode: it maps every
endpoint and field of a patient system, which an anonymous visitor has no use for.
"""

from django.conf import settings
from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.plumbing import ResolvedComponent
from rest_framework.permissions import BasePermission

ERROR_SCHEMA = {
    "type": "object",
    "description": "«detail» sier hva som var feil; en feil per felt gir feltets navn med en liste meldinger.",
    "properties": {"detail": {"type": "string"}},
    "additionalProperties": True,
}

_DESCRIPTIONS = {
    "400": "Kroppen eller en parameter er feil, eller steget kan ikke tas slik det er bedt om: hva og hvor står i "
    "svaret",
    "401": "Mangler eller ugyldig nøkkel",
    "403": "Ikke innlogget, eller rollen kan ikke dette: hvorfor står i svaret",
    "404": "Finnes ikke, eller er utenfor brukerens tilgang",
    "415": "Kroppen har en medietype endepunktet ikke tar imot",
    "429": "For mange forespørsler: ingenting er tatt imot; send på nytt etter Retry-After (sekunder)",
}


class SchemaReaders(BasePermission):
    """Who may read /api/schema/: anyone signed in (session past the second factor, or an API token);
    anyone at all only in debug mode (`make run`'s demo)."""

    message = "Logg inn (eller send en API-nøkkel) for å lese API-beskrivelsen."

    def has_permission(self, request, view) -> bool:
        return settings.DEBUG or bool(request.user and request.user.is_authenticated)


class AutoSchema(SpectacularAutoSchema):
    def get_operation(self, *args, **kwargs):
        operation = super().get_operation(*args, **kwargs)
        if operation is None:
            return None
        parameters = operation.get("parameters", [])
        codes = []
        if "requestBody" in operation or parameters:
            codes.append("400")
        if operation.get("security") and {} not in operation["security"]:
            codes += ["401", "403", "429"]  # 429: dho.throttling, per user and per gateway
        # An id not in the user's scope, or a page past the last (DRF's pagination).
        if any(p["in"] == "path" or (p["in"], p["name"]) == ("query", "page") for p in parameters):
            codes.append("404")
        if "requestBody" in operation:
            codes.append("415")
        schema = self._error_schema()
        # In the view's own media types (FHIR: application/fhir+json first), else JSON.
        media_types = getattr(self.view, "error_media_types", ("application/json",))
        for code in codes:
            operation["responses"].setdefault(code, {"description": _DESCRIPTIONS[code]})
        for code, response in operation["responses"].items():
            if code.startswith(("4", "5")) and "content" not in response:  # an error is JSON all the same
                response["content"] = {media_type: {"schema": schema} for media_type in media_types}
        return operation

    def _error_schema(self) -> dict:
        # A view may answer errors in its own shape (FHIR: an OperationOutcome).
        own = getattr(self.view, "error_schema", None)
        if own is not None:
            return own
        component = ResolvedComponent(name="Error", type=ResolvedComponent.SCHEMA, object="Error", schema=ERROR_SCHEMA)
        self.registry.register_on_missing(component)
        return component.ref


def pydantic_to_oas30(result, generator, request, public):
    """drf-spectacular postprocessing hook. The plan's content is described by its pydantic model
    (ebp.content.PlanContent), whose JSON Schema is 2020-12: `{"type": "null"}` in an anyOf, `const`,
    a number as exclusiveMinimum. The schema is OpenAPI 3.0, which says the same with `nullable`,
    a one-value `enum` and a boolean exclusiveMinimum; written so, clients and schemathesis read it."""
    result["components"] = _oas30(result.get("components", {}))
    return result


def _oas30(node):
    if isinstance(node, list):
        return [_oas30(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _oas30(value) for key, value in node.items()}
    alternatives = node.get("anyOf")
    if alternatives and {"type": "null"} in alternatives:
        rest = [a for a in alternatives if a != {"type": "null"}]
        del node["anyOf"]
        if len(rest) == 1 and "$ref" not in rest[0]:
            node.update(rest[0])
        else:
            node["anyOf" if len(rest) > 1 else "allOf"] = rest
        node["nullable"] = True
    if "const" in node:
        node["enum"] = [node.pop("const")]
    for exclusive, bound in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if exclusive in node and not isinstance(node[exclusive], bool):
            node[bound], node[exclusive] = node[exclusive], True
    return node
