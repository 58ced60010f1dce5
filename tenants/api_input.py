"""What every API body goes through before a view sees it, and how a bad one is answered.

No body can crash the API: one that is not JSON, nested deeper than anything we take, carrying what
PostgreSQL cannot store (a NUL character, half a surrogate pair, a number beyond a double), larger
than DATA_UPLOAD_MAX_MEMORY_SIZE, or not a JSON object at the top (every JSON body of this API is
one) is a 400 that says what was wrong. Wrong shapes inside the object are each serializer's to
refuse (400 per field).

In tenants, the lowest layer, so that every app's API can build on it (measurements' FHIR parser);
settings.REST_FRAMEWORK names the parser and the exception handler.
"""

from __future__ import annotations

import logging
import math

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation, TooManyFieldsSent
from rest_framework import parsers
from rest_framework.exceptions import APIException, ParseError, Throttled, ValidationError
from rest_framework.utils import json

from tenants.csv_input import UNSTORABLE
from tenants.errors import Refused, Stale
from tenants.norwegian import fixed

# FHIR resources nest about ten levels (Bundle → entry → resource → component → code → coding);
# a plan's content five. Far below Python's recursion limit, which the rendering must stay under too.
MAX_DEPTH = 64


def _megabytes(size: int) -> str:
    return fixed(size / (1024 * 1024), 1)


def too_large() -> ParseError:
    return ParseError(f"Kroppen er for stor: høyst {_megabytes(settings.DATA_UPLOAD_MAX_MEMORY_SIZE)} MB.")


def read_capped(stream) -> bytes:
    """The whole body of a parser that reads the stream itself (CSV): DRF hands JSON and form
    parsers `request.body`, which Django caps; a raw stream it does not."""
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    raw = stream.read(limit + 1) if limit is not None else stream.read()
    if limit is not None and len(raw) > limit:
        raise too_large()
    return raw


def _unstorable(text: str) -> ParseError:
    if "\x00" in text:
        return ParseError("Kroppen inneholder et NUL-tegn (\\u0000); det kan ikke lagres.")
    return ParseError("Kroppen inneholder et halvt tegn (\\ud800–\\udfff uten sin andre halvdel); det kan ikke lagres.")


def check_json(data, *, strings: bool = True) -> None:
    """Depth, characters and numbers that cannot be stored, without recursion (the check must not
    fail the way it guards). `strings` False skips the characters: strict JSON can carry NUL or half
    a surrogate only as a \\u escape, so a body without one has none (a gateway's batch, usually)."""
    stack = [(data, 1)]
    while stack:
        container, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ParseError(f"Kroppen er nøstet for dypt: høyst {MAX_DEPTH} nivåer.")
        if isinstance(container, dict):
            if strings and any(UNSTORABLE.search(key) for key in container):
                raise _unstorable("".join(container))
            values = container.values()
        else:
            values = container
        for value in values:
            kind = type(value)
            if kind is dict or kind is list:
                stack.append((value, depth + 1))
            elif kind is str:
                if strings and UNSTORABLE.search(value):
                    raise _unstorable(value)
            elif kind is float and not math.isfinite(value):  # 1e400 reads as infinity: no column takes it
                raise ParseError("Kroppen har et for stort tall (1e400 og slikt kan ikke lagres).")


class JSONParser(parsers.JSONParser):
    """DRF's strict JSON parser (no NaN or Infinity), with a depth limit and the body an object."""

    def parse(self, stream, media_type=None, parser_context=None):
        encoding = parsers.get_encoding(parser_context or {})  # refuses a charset that is no text codec
        try:
            # DRF hands a JSON parser request.body, which Django has capped at DATA_UPLOAD_MAX_MEMORY_SIZE.
            text = stream.read().decode(encoding)
            data = json.loads(text, parse_constant=json.strict_constant if self.strict else None)
        except RecursionError:
            raise ParseError(f"Kroppen er nøstet for dypt: høyst {MAX_DEPTH} nivåer.") from None
        except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, NaN/Infinity, 5000-digit numbers
            raise ParseError(f"Kroppen er ikke gyldig JSON: {exc}") from None
        if not isinstance(data, dict):
            raise ParseError(f"Kroppen må være et JSON-objekt ({{…}}), ikke {_json_type(data)}.")
        check_json(data, strings="\\u" in text)
        return data


def _json_type(value) -> str:
    if isinstance(value, list):
        return "en liste"
    if isinstance(value, str):
        return "en tekst"
    if isinstance(value, bool):
        return "true/false"
    if value is None:
        return "null"
    return "et tall"


def too_many_requests(wait: float | None) -> Throttled:
    """A throttle's refusal (dho.throttling), in Norwegian. The throttle ran before the view read the
    body: nothing of the request was taken, so the client may send it again as it was."""
    seconds = max(1, math.ceil(wait or 1))
    unit = "sekund" if seconds == 1 else "sekunder"
    detail = (
        f"For mange forespørsler. Ingenting i denne forespørselen er tatt imot eller lagret; "
        f"send den på nytt om {seconds} {unit}."
    )
    refused = Throttled(detail=detail)  # given `wait`, DRF would add its own sentence to ours
    refused.wait = seconds  # DRF's handler sends it as Retry-After
    return refused


class RefusedRequest(APIException):
    """A service's `tenants.errors.Refused` as DRF answers it: 400, {"detail": message}."""

    status_code = 400
    default_code = "refused"


class StaleRequest(APIException):
    """A service's `tenants.errors.Stale` as DRF answers it: 409, {"detail": message}."""

    status_code = 409
    default_code = "stale"


def refusal(exc: Refused) -> APIException:
    """The one place a domain refusal becomes an API answer: 400 with the message, in the shape of
    every other API error, under the field's name when the refusal is about one field of the body
    (`tenants.errors.refused_field`); 409 when it is `Stale` (the client acted on an old state: read
    it again). `NotAllowed` is Django's PermissionDenied: DRF's 403 with the message."""
    if isinstance(exc, Stale):
        return StaleRequest(str(exc))
    if exc.field:
        return ValidationError({exc.field: [str(exc)]}, code="refused")
    return RefusedRequest(str(exc))


def exception_handler(exc, context):
    """DRF's handler, and what Django raises while reading a body becomes a 400 in JSON too.
    A service's refusal (tenants.errors) is a 400 (a Stale one 409), a NotAllowed a 403, all with the message.
    A throttle's 429 (with DRF's Retry-After) says in Norwegian what to do."""
    if isinstance(exc, Refused):
        exc = refusal(exc)
    elif isinstance(exc, Throttled):
        exc = too_many_requests(exc.wait)
    elif isinstance(exc, RequestDataTooBig):
        exc = too_large()
    elif isinstance(exc, TooManyFieldsSent):
        exc = ParseError(f"For mange felt: høyst {settings.DATA_UPLOAD_MAX_NUMBER_FIELDS}.")
    elif isinstance(exc, SuspiciousOperation):
        # Django logs these on its security logger; DRF would not see them at all.
        logging.getLogger(f"django.security.{exc.__class__.__name__}").warning("%s", exc)
        exc = ParseError("Forespørselen ble avvist som ugyldig.")
    # Not at the top: rest_framework.views reads DEFAULT_PARSER_CLASSES, this module, as it loads.
    from rest_framework.views import exception_handler as drf_exception_handler

    return drf_exception_handler(exc, context)
