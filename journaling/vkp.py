"""The national VKP-DHO guide's names, as the document to the kommune's EPJ uses them.

Source: HL7 Norway's Velferdsteknologi profiles, folder VKP-R4 (version 0.9.0, Direktoratet for
e-helse), from which every URL and code below is copied verbatim. The canonical URLs are not uniform
there, and the spellings are the guide's, not typos of ours: four Observation profiles live under
hl7.no, blood pressure and the general Observation under ehelse.no, and the QuestionnaireResponse
profile is spelt «QuestionnaireReponse». A receiver matches these strings exactly.
"""

from __future__ import annotations

from triage.models import AlertKind

# --- identifiers (the Norwegian OIDs; the same the FHIR ingest accepts, measurements/fhir.py) --------

FNR_SYSTEM = "urn:oid:2.16.578.1.12.4.1.4.1"  # fødselsnummer
DNR_SYSTEM = "urn:oid:2.16.578.1.12.4.1.4.2"  # D-nummer
HPR_SYSTEM = "urn:oid:2.16.578.1.12.4.1.4.4"  # Helsepersonellregisteret (HPR-nummer)
PATIENT_SYSTEMS = (FNR_SYSTEM, DNR_SYSTEM)  # what a document's subject may be identified by
URI_SYSTEM = "urn:ietf:rfc:3986"  # Bundle.identifier: the value is a URI (urn:uuid:…)

# --- terminologies -----------------------------------------------------------------------------------

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
XHTML = "http://www.w3.org/1999/xhtml"

# --- Composition (StructureDefinition/vkp-Composition-v090) ------------------------------------------

COMPOSITION_PROFILE = "http://ehelse.no/fhir/StructureDefinition/vkp-Composition-v090"
COMPOSITION_TYPE = {"system": LOINC, "code": "34133-9", "display": "Summary of episode note"}
# CodeSystem/vkp-composition-category-v090: 1 Trygghet og mestring, 2 Digital hjemmeoppfølging.
CATEGORY_SYSTEM = "http://ehelse.no/fhir/CodeSystem/vkp-composition-category-v090"
CATEGORY_DHO = {"system": CATEGORY_SYSTEM, "code": "2", "display": "Digital hjemmeoppfølging"}
# CodeSystem/vkp-composition-section-v090: 1.1 the follow-up (handling of an alert), 2 system-compiled text.
SECTION_SYSTEM = "http://ehelse.no/fhir/CodeSystem/vkp-composition-section-v090"
SECTION_FOLLOW_UP = {"system": SECTION_SYSTEM, "code": "1.1", "display": "beskrivelse av oppfølging"}
SECTION_COMPILED = {"system": SECTION_SYSTEM, "code": "2", "display": "sammenstilt tekst"}

# --- DetectedIssue (StructureDefinition/vkp-DetectedIssue-v090) ----------------------------------------

DETECTED_ISSUE_PROFILE = "http://ehelse.no/fhir/StructureDefinition/vkp-DetectedIssue-v090"
ALERT_CODE_SYSTEM = "http://ehelse.no/fhir/CodeSystem/vkp-alert-code-v090"
# The DHO branch of CodeSystem/vkp-alert-code-v090 is «5 Digital hjemmeoppfølging»: 5.2.1, 5.2.2, 5.3,
# 5.3.1, 5.3.2. (The same code system's 1.x are the medicine dispenser's: 1.1 is «Ikke utlevert».)
ALERT_CODES: dict[str, tuple[str, str]] = {
    AlertKind.OUT_OF_RANGE: ("5.2.1", "Måledata rapportert"),
    AlertKind.DEVIATING_ANSWER: ("5.2.2", "Skjemabesvarelse"),
    AlertKind.INACTIVE_PATIENT: ("5.3", "Inaktiv pasient"),
    AlertKind.MISSING_ANSWER: ("5.3.1", "Manglende skjemabesvarelse"),
    AlertKind.MISSING_MEASUREMENT: ("5.3.2", "Måling ikke rapportert"),
}
SEVERITY = {"red": "high", "yellow": "moderate", "green": "low"}  # DetectedIssue.severity by colour

# --- Observation and QuestionnaireResponse profiles ----------------------------------------------------

OBSERVATION_PROFILE = "http://ehelse.no/fhir/StructureDefinition/vkp-Observation-v090"  # any other type
# By measurement type (measurements.types.SPECS): the guide's profile and the SNOMED CT code its slice
# fixes. A type the guide has no profile for is sent with the general one.
OBSERVATION_PROFILES: dict[str, tuple[str, str]] = {
    "spo2": ("http://hl7.no/fhir/StructureDefinition/vkp-Observation-Oxygensat-v090", "431314004"),
    "pulse": ("http://hl7.no/fhir/StructureDefinition/vkp-Observation-Heartrate-v090", "364075005"),
    "blood_pressure": ("http://ehelse.no/fhir/StructureDefinition/vkp-Observation-Bloodpressure-v090", "75367002"),
    "weight": ("http://hl7.no/fhir/StructureDefinition/vkp-Observation-Bodyweight-v090", "27113001"),
    "temperature": ("http://hl7.no/fhir/StructureDefinition/vkp-Observation-Bodytemp-v090", "276885007"),
}
# The blood pressure profile's component slices (SNOMED CT), beside the LOINC codes of measurements.types.
COMPONENT_SNOMED = {"systolic": "271649006", "diastolic": "271650006"}
QUESTIONNAIRE_RESPONSE_PROFILE = "http://ehelse.no/fhir/StructureDefinition/vkp-QuestionnaireReponse-v090"
DISPLAY_EXTENSION = "http://hl7.org/fhir/StructureDefinition/display"  # the questionnaire's name (the QR profile)
