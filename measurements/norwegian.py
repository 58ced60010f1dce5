"""Pydantic's validation errors as Norwegian field messages (ingest items, FHIR Observations and plan
contents say the same thing about the same mistake).

Pure Python, like measurements.types.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from pydantic import ValidationError

from tenants.norwegian import number

__all__ = ["pydantic_errors"]

_MESSAGES = {
    "missing": "mangler",
    "extra_forbidden": "ukjent felt",
    "float_parsing": "må være et tall",
    "float_type": "må være et tall",
    "int_parsing": "må være et heltall",
    "int_type": "må være et heltall",
    "int_from_float": "må være et heltall",
    "bool_parsing": "må være true eller false",
    "bool_type": "må være true eller false",
    "enum": "ukjent verdi",
    "literal_error": "ukjent verdi",
    "uuid_parsing": "må være en UUID",
    "uuid_type": "må være en UUID",
    "timezone_aware": "tidspunktet mangler tidssone (f.eks. +01:00)",
    "datetime_parsing": "må være et tidspunkt i ISO 8601 med tidssone",
    "datetime_from_date_parsing": "må være et tidspunkt i ISO 8601 med tidssone",
    "datetime_type": "må være et tidspunkt i ISO 8601 med tidssone",
    "date_parsing": "må være en dato (ÅÅÅÅ-MM-DD)",
    "date_from_datetime_parsing": "må være en dato (ÅÅÅÅ-MM-DD)",
    "date_from_datetime_inexact": "må være en dato (ÅÅÅÅ-MM-DD)",
    "date_type": "må være en dato (ÅÅÅÅ-MM-DD)",
    "time_parsing": "må være et klokkeslett (TT:MM)",
    "time_type": "må være et klokkeslett (TT:MM)",
    "string_type": "må være tekst",
    "string_pattern_mismatch": "har ugyldige tegn",
    "model_type": "må være et objekt",
    "model_attributes_type": "må være et objekt",
    "dict_type": "må være et objekt",
    "list_type": "må være en liste",
}
# Errors about a limit name it: (the limit in pydantic's context, the message around it).
_LIMITS = {
    "string_too_short": ("min_length", "er for kort (minst {} tegn)"),
    "string_too_long": ("max_length", "er for lang (høyst {} tegn)"),
    "too_short": ("min_length", "har for få elementer (minst {})"),
    "too_long": ("max_length", "har for mange elementer (høyst {})"),
    "greater_than": ("gt", "er for lav (må være over {})"),
    "greater_than_equal": ("ge", "er for lav (minst {})"),
    "less_than": ("lt", "er for høy (må være under {})"),
    "less_than_equal": ("le", "er for høy (høyst {})"),
}
_SHOWS_INPUT = {"enum", "literal_error", "float_parsing", "int_parsing", "int_from_float"}
# A discriminated union's tag (`kind` of a trend rule): missing, or none of the union's.
_TAG_ERRORS = {"union_tag_not_found", "union_tag_invalid"}


def _tag_name(err: dict) -> str:
    return str((err.get("ctx") or {}).get("discriminator", "")).strip("'")


def _tag_message(err: dict, tags: Mapping[str, Iterable[str]]) -> str:
    """«mangler (bruk weight_gain eller spo2_drop)», «ukjent verdi (fikk «x»; bruk …)». pydantic names
    the tags only when the one given is wrong ("'weight_gain', 'spo2_drop'"); when it is missing, the
    caller's `tags` do."""
    ctx = err.get("ctx") or {}
    expected = ctx.get("expected_tags")
    allowed = [t.strip().strip("'") for t in expected.split(",")] if expected else list(tags.get(_tag_name(err), ()))
    use = ""
    if allowed:
        use = "bruk " + (f"{', '.join(allowed[:-1])} eller {allowed[-1]}" if len(allowed) > 1 else allowed[0])
    if err["type"] == "union_tag_not_found":
        return f"mangler ({use})" if use else "mangler"
    return f"ukjent verdi (fikk «{str(ctx.get('tag'))[:40]}»{'; ' + use if use else ''})"


def _message(err: dict, tags: Mapping[str, Iterable[str]]) -> str:
    kind, ctx = err["type"], err.get("ctx") or {}
    if kind in _TAG_ERRORS:
        return _tag_message(err, tags)
    if kind == "list_type" and "field" in ctx:  # fhir.resources: a null among a list's elements
        return "null er ikke tillatt som element i listen"
    if kind == "string_too_short" and ctx.get("min_length") == 1:
        return "kan ikke være tom"
    if kind in _LIMITS:
        name, text = _LIMITS[kind]
        limit = ctx.get(name)
        return text.format(number(limit) if isinstance(limit, int | float) else limit)
    # Anything not listed keeps pydantic's text; our own validators (PydanticCustomError) write Norwegian.
    message = _MESSAGES.get(kind, err["msg"])
    if kind in _SHOWS_INPUT:
        message += f" (fikk «{str(err.get('input'))[:40]}»)"
    return message


def _path(err: dict) -> tuple[str, ...]:
    path = tuple(str(p) for p in err["loc"] if p != "[key]")
    # A union's tag is a field of the object: `trend_rules.0.kind`, as a missing or unknown field is named.
    return (*path, _tag_name(err)) if err["type"] in _TAG_ERRORS and _tag_name(err).isidentifier() else path


def pydantic_errors(
    exc: ValidationError, *, tags: Mapping[str, Iterable[str]] | None = None
) -> list[tuple[tuple[str, ...], str]]:
    """(path, Norwegian message) for each error; the path names the field as the sender wrote it
    (`thresholds.kols`, not pydantic's `thresholds.kols.[key]`). `tags`: the values each discriminated
    union's tag takes, by its name (`{"kind": ("weight_gain", "spo2_drop")}`), for the message when it is missing."""
    return [(_path(err), _message(err, tags or {})) for err in exc.errors()]
