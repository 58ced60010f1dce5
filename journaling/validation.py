"""Whether a built document may be sent, and why not.

fhir.resources (its R4B models, which are R4's for every resource a document holds; measurements/fhir.py
uses the same) parses the Bundle and each entry's resource strictly: an unknown element, a wrong type,
a missing required element. It reads no profile, binding or reference, so the rules of a VKP-DHO
document that the models cannot see are checked here: a document Bundle with an identifier and a
timestamp, the Composition first, every reference resolving to an entry, the patient identified by
fødselsnummer or D-nummer, the guide's codes where the guide fixes them, narrative that is XHTML and
says something, and no empty element (FHIR's JSON has none).

Every refusal is a `DocumentRefused` naming each problem by its path in the Bundle
(`Bundle.entry[3].resource.subject.reference`) in Norwegian. A document too large is refused whole,
never cut short: a shortened journal note is a wrong one.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from xml.parsers import expat

from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.bundle import Bundle
from pydantic import ValidationError

from measurements.norwegian import pydantic_errors
from tenants.errors import Refused
from tenants.norwegian import grouped

from . import vkp
from .document import document_bytes

MAX_BYTES = 1_000_000  # what one document may weigh when sent
SHOWN = 10  # problems named in the message; the rest are counted
DHO_ALERT_CODES = {code for code, _ in vkp.ALERT_CODES.values()}
SEVERITIES = {"high", "moderate", "low"}


@dataclass(frozen=True)
class Problem:
    path: str  # where in the Bundle, FHIRPath-like: Bundle.entry[0].resource.subject
    message: str  # Norwegian

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class DocumentRefused(Refused):
    """The document cannot be sent as it is: each problem with its path (message in Norwegian)."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        named = "; ".join(str(p) for p in problems[:SHOWN])
        more = f" (og {len(problems) - SHOWN} feil til)" if len(problems) > SHOWN else ""
        super().__init__(f"Journaldokumentet kan ikke sendes: {named}{more}.")


def document_checked(document: dict) -> bytes:
    """The bytes to send: the document validated, serialised (`document_bytes`) and weighed."""
    validate_document(document)
    data = document_bytes(document)
    check_size(data)
    return data


def check_size(data: bytes, limit: int = MAX_BYTES) -> None:
    """Refuses a document larger than `limit` bytes, whole: nothing is ever cut off to fit."""
    if len(data) > limit:
        raise DocumentRefused(
            [
                Problem(
                    "Bundle",
                    f"dokumentet er {grouped(len(data))} byte, mer enn grensen på {grouped(limit)} byte for én "
                    "sending. Det sendes ikke, og det kortes ikke ned: et avkortet journalnotat ville vært feil",
                )
            ]
        )


def validate_document(document: Any) -> None:
    """Refuses (DocumentRefused) a document that fhir.resources cannot parse strictly or that breaks
    a rule of a VKP-DHO document; returns None when it may be sent."""
    if not isinstance(document, dict) or document.get("resourceType") != "Bundle":
        raise DocumentRefused([Problem("Bundle.resourceType", "må være Bundle")])
    problems = _entries_parsed(document)
    problems += _bundle_parsed(document, already_found=bool(problems))
    problems += _document_rules(document)
    problems += [Problem(path, "kan ikke være tom (FHIR har ingen tomme elementer)") for path in _empty(document)]
    problems += list(_narrative(document))
    unique = list(dict.fromkeys(problems))
    if unique:
        raise DocumentRefused(unique)


# --- parsed by fhir.resources --------------------------------------------------------------------------


def _path(prefix: str, loc: tuple[str, ...]) -> str:
    path = prefix
    for part in loc:
        path += f"[{part}]" if part.isdigit() else f".{part}"
    return path


def _parsed(model, data: dict, prefix: str) -> list[Problem]:
    try:
        model.model_validate(data)
    except ValidationError as exc:
        return [Problem(_path(prefix, loc), message) for loc, message in pydantic_errors(exc)]
    return []


def _entries(document: dict) -> list:
    entries = document.get("entry")
    return entries if isinstance(entries, list) else []


def _entries_parsed(document: dict) -> list[Problem]:
    """Each entry's resource by its own model, so a problem is named inside the resource it is in."""
    problems = []
    for i, entry in enumerate(_entries(document)):
        where = f"Bundle.entry[{i}].resource"
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict):
            problems.append(Problem(where, "mangler ressurs"))
            continue
        kind = resource.get("resourceType")
        try:
            model = get_fhir_model_class(str(kind))
        except (ValueError, KeyError):
            problems.append(Problem(f"{where}.resourceType", f"ukjent ressurstype «{kind}»"))
            continue
        problems += _parsed(model, resource, where)
    return problems


def _bundle_parsed(document: dict, *, already_found: bool) -> list[Problem]:
    try:
        return _parsed(Bundle, document, "Bundle")
    except (KeyError, ValueError, TypeError):  # fhir.resources on a resource it cannot name (found above)
        return [] if already_found else [Problem("Bundle", "kan ikke leses som en FHIR R4 Bundle")]


# --- the document's own rules -------------------------------------------------------------------------


def _references(value: Any, path: str) -> Iterator[tuple[str, str]]:
    """(path, reference) of every Reference.reference at any depth."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "reference" and isinstance(item, str):
                yield f"{path}.reference", item
            else:
                yield from _references(item, f"{path}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _references(item, f"{path}[{i}]")


def _resources(document: dict) -> list[tuple[int, dict]]:
    return [
        (i, entry["resource"])
        for i, entry in enumerate(_entries(document))
        if isinstance(entry, dict) and isinstance(entry.get("resource"), dict)
    ]


def _codes(concept: Any, system: str) -> set[str]:
    codings = concept.get("coding") if isinstance(concept, dict) else None
    return {str(c.get("code")) for c in codings or [] if isinstance(c, dict) and c.get("system") == system}


def _bundle_rules(document: dict) -> list[Problem]:
    problems = []
    if document.get("type") != "document":
        problems.append(Problem("Bundle.type", f"må være «document», ikke «{document.get('type')}»"))
    identifier = document.get("identifier")
    if not (isinstance(identifier, dict) and identifier.get("system") and identifier.get("value")):
        problems.append(Problem("Bundle.identifier", "mangler (system og value): dokumentets faste identitet"))
    if not document.get("timestamp"):
        problems.append(Problem("Bundle.timestamp", "mangler"))
    entries = _entries(document)
    if not entries:
        problems.append(Problem("Bundle.entry", "mangler: dokumentet har ingen ressurser"))
    full_urls: dict[str, int] = {}
    for i, entry in enumerate(entries):
        full_url = entry.get("fullUrl") if isinstance(entry, dict) else None
        if not full_url:
            problems.append(Problem(f"Bundle.entry[{i}].fullUrl", "mangler"))
        elif full_url in full_urls:
            problems.append(Problem(f"Bundle.entry[{i}].fullUrl", f"er den samme som entry[{full_urls[full_url]}]"))
        else:
            full_urls[full_url] = i
    for path, reference in _references(document, "Bundle"):
        if reference not in full_urls:
            problems.append(Problem(path, f"«{reference}» finnes ikke i dokumentet"))
    return problems


def _subject_rules(composition: dict, where: str, by_url: dict[str, dict]) -> list[Problem]:
    subject = composition.get("subject")
    if not isinstance(subject, dict):
        return [Problem(f"{where}.subject", "mangler: pasienten dokumentet gjelder")]
    problems = []
    identifier = subject.get("identifier")
    system = identifier.get("system") if isinstance(identifier, dict) else None
    if system not in vkp.PATIENT_SYSTEMS:
        problems.append(
            Problem(
                f"{where}.subject.identifier.system",
                f"«{system}» er verken fødselsnummer ({vkp.FNR_SYSTEM}) eller D-nummer ({vkp.DNR_SYSTEM})",
            )
        )
    target = by_url.get(str(subject.get("reference")))
    if target is not None and target.get("resourceType") != "Patient":
        problems.append(Problem(f"{where}.subject.reference", "må peke på en Patient"))
    return problems


def _composition_rules(composition: dict, by_url: dict[str, dict]) -> list[Problem]:
    where = "Bundle.entry[0].resource"
    problems = []
    if vkp.COMPOSITION_PROFILE not in ((composition.get("meta") or {}).get("profile") or []):
        problems.append(Problem(f"{where}.meta.profile", f"mangler {vkp.COMPOSITION_PROFILE}"))
    if composition.get("status") != "final":
        problems.append(Problem(f"{where}.status", "må være «final»"))
    if vkp.COMPOSITION_TYPE["code"] not in _codes(composition.get("type"), vkp.LOINC):
        problems.append(Problem(f"{where}.type", f"må være LOINC {vkp.COMPOSITION_TYPE['code']}"))
    if not any(vkp.CATEGORY_DHO["code"] in _codes(c, vkp.CATEGORY_SYSTEM) for c in composition.get("category") or []):
        problems.append(Problem(f"{where}.category", f"må ha {vkp.CATEGORY_SYSTEM} kode {vkp.CATEGORY_DHO['code']}"))
    problems += _subject_rules(composition, where, by_url)
    for s, section in enumerate(composition.get("section") or []):
        if not _codes(section.get("code") if isinstance(section, dict) else None, vkp.SECTION_SYSTEM):
            problems.append(Problem(f"{where}.section[{s}].code", f"mangler en kode fra {vkp.SECTION_SYSTEM}"))
    if not composition.get("section"):
        problems.append(Problem(f"{where}.section", "mangler: sykepleierens oppfølging"))
    return problems


def _resource_rules(i: int, resource: dict) -> list[Problem]:
    where = f"Bundle.entry[{i}].resource"
    kind = resource.get("resourceType")
    problems = []
    if kind == "Composition" and i:
        problems.append(Problem(f"{where}.resourceType", "dokumentet har bare én Composition, og den står først"))
    if kind == "Patient":
        systems = [x.get("system") for x in resource.get("identifier") or [] if isinstance(x, dict)]
        if not set(systems) & set(vkp.PATIENT_SYSTEMS):
            problems.append(Problem(f"{where}.identifier", "mangler fødselsnummer eller D-nummer"))
    if kind == "DetectedIssue":
        if not _codes(resource.get("code"), vkp.ALERT_CODE_SYSTEM) & DHO_ALERT_CODES:
            known = ", ".join(sorted(DHO_ALERT_CODES))
            problems.append(Problem(f"{where}.code", f"må ha en kode fra {vkp.ALERT_CODE_SYSTEM} ({known})"))
        if resource.get("severity") not in SEVERITIES:
            problems.append(Problem(f"{where}.severity", "må være high, moderate eller low"))
    return problems


def _document_rules(document: dict) -> list[Problem]:
    problems = _bundle_rules(document)
    resources = _resources(document)
    by_url = {
        entry["fullUrl"]: entry["resource"]
        for entry in _entries(document)
        if isinstance(entry, dict) and isinstance(entry.get("resource"), dict) and entry.get("fullUrl")
    }
    first = resources[0][1] if resources and resources[0][0] == 0 else None
    if first is None or first.get("resourceType") != "Composition":
        found = first.get("resourceType") if first else None
        problems.append(Problem("Bundle.entry[0].resource", f"må være dokumentets Composition, ikke «{found}»"))
    else:
        problems += _composition_rules(first, by_url)
    for i, resource in resources:
        problems += _resource_rules(i, resource)
    return problems


def _empty(value: Any, path: str = "Bundle") -> Iterator[str]:
    if isinstance(value, dict):
        if not value:
            yield path
        for key, item in value.items():
            yield from _empty(item, f"{path}.{key}")
    elif isinstance(value, list):
        if not value:
            yield path
        for i, item in enumerate(value):
            yield from _empty(item, f"{path}[{i}]")
    elif isinstance(value, str) and not value.strip():
        yield path


def _narrative(value: Any, path: str = "Bundle") -> Iterator[Problem]:
    """Every Narrative.div: well-formed XHTML, one div in the XHTML namespace, with text in it."""
    if isinstance(value, list):
        for i, item in enumerate(value):
            yield from _narrative(item, f"{path}[{i}]")
        return
    if not isinstance(value, dict):
        return
    for key, item in value.items():
        if key == "div" and isinstance(item, str):
            message = _div_problem(item)
            if message:
                yield Problem(f"{path}.div", message)
        else:
            yield from _narrative(item, f"{path}.{key}")


def _div_problem(div: str) -> str:
    # expat: our own generated text; the standard library's parser resolves no external entity.
    parser = expat.ParserCreate(namespace_separator=" ")
    roots: list[str] = []
    text: list[str] = []
    parser.StartElementHandler = lambda name, attributes: roots.append(name)
    parser.CharacterDataHandler = text.append
    try:
        parser.Parse(div, True)
    except expat.ExpatError as exc:
        return f"er ikke gyldig XHTML ({expat.ErrorString(exc.code)}, linje {exc.lineno})"
    if not roots or roots[0] != f"{vkp.XHTML} div":
        return f'må være ett <div xmlns="{vkp.XHTML}">'
    if not "".join(text).strip():
        return "har ingen tekst"
    return ""
