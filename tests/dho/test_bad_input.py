"""No input crashes us: malformed, deeply nested, wrongly typed or oversized
bodies answer 400 (an OperationOutcome on the FHIR endpoints) on every endpoint, the unauthenticated
token endpoint included. The schemathesis run (test_schemathesis.py) fuzzes the rest."""

import json

import pytest
from django.test import Client
from django.urls import get_resolver
from drf_spectacular.generators import SchemaGenerator

from measurements.models import QuarantinedItem, Reading
from measurements.services import integration_create
from patients.services import referral_register
from tests.factories import synthetic_national_id

NESTED = "[" * 100_000
NESTED_OBJECTS = '{"a":' * 100_000
FHIR = "application/fhir+json"


@pytest.fixture
def gateway(world):
    _, token = integration_create(centre=world.centres.ovre, name="Testgateway")
    return Client(HTTP_AUTHORIZATION=f"Bearer {token}", raise_request_exception=False)


def _post(client, path, body, content_type="application/json"):
    return client.post(path, body if isinstance(body, str | bytes) else json.dumps(body), content_type=content_type)


def _detail(response) -> str:
    return json.dumps(response.json(), ensure_ascii=False)


# --- the cases ----------------------------------------------------------------------------


@pytest.mark.parametrize("body", [NESTED, NESTED_OBJECTS])
def test_deeply_nested_json_on_the_unauthenticated_token_endpoint_is_a_400(db, body):
    response = _post(Client(raise_request_exception=False), "/api/v1/auth/token/", body)
    assert response.status_code == 400
    assert "nøstet for dypt" in _detail(response) or "ikke gyldig JSON" in _detail(response)


@pytest.mark.parametrize("path", ["/api/v1/readings", "/api/v1/answers", "/api/v1/fhir", "/api/v1/fhir/Observation"])
def test_deeply_nested_json_from_a_gateway_is_a_400(world, gateway, path):
    response = _post(gateway, path, NESTED)
    assert response.status_code == 400
    assert "nøstet for dypt" in _detail(response)


def test_a_json_body_just_inside_the_depth_limit_is_read(world, gateway):
    from tenants.api_input import MAX_DEPTH

    body = {"readings": [json.loads("[" * (MAX_DEPTH - 3) + "]" * (MAX_DEPTH - 3))]}
    response = _post(gateway, "/api/v1/readings", body)
    assert response.status_code == 200, response.content  # read, then the item is rejected on its own
    assert response.json()["rejected"] == 1


def test_a_bundle_whose_entry_is_not_an_object_is_a_400_operation_outcome(world, gateway):
    response = _post(gateway, "/api/v1/fhir", {"resourceType": "Bundle", "type": "batch", "entry": ["x"]}, FHIR)
    assert response.status_code == 400
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["expression"] == ["Bundle.entry[0]"]
    assert "entry[0] må være et objekt" in outcome["issue"][0]["diagnostics"]
    assert not Reading.objects.exists()


@pytest.mark.parametrize(
    ("entry", "expression"),
    [
        ("x", "Bundle.entry"),
        ({"resource": {}}, "Bundle.entry"),
        ([None], "Bundle.entry[0]"),
        ([{"fullUrl": {"a": 1}, "resource": {}}], "Bundle.entry[0].fullUrl"),
    ],
)
def test_a_bundle_built_wrong_is_a_400_saying_where(world, gateway, entry, expression):
    response = _post(gateway, "/api/v1/fhir", {"resourceType": "Bundle", "type": "batch", "entry": entry}, FHIR)
    assert response.status_code == 400
    assert response.json()["issue"][0]["expression"] == [expression]


def test_a_bundle_entry_without_a_resource_is_rejected_alone(world, gateway):
    response = _post(gateway, "/api/v1/fhir", {"resourceType": "Bundle", "type": "batch", "entry": [{}, 5]}, FHIR)
    assert response.status_code == 400  # 5 is no entry at all
    response = _post(gateway, "/api/v1/fhir", {"resourceType": "Bundle", "type": "batch", "entry": [{}]}, FHIR)
    assert response.status_code == 200
    assert response.json()["entry"][0]["response"]["status"] == "400 Bad Request"
    assert QuarantinedItem.objects.count() == 1


def _submitted_plan(world, token_client):
    patient = world.p.gjerdrum
    nurse = token_client(world.u.nurse)
    base = f"/api/v1/patients/{patient.pk}/plan"
    assert _post(nurse, f"{base}/draft/", {"template": "kols"}).status_code in (201, 403)
    return base, nurse


@pytest.mark.parametrize("version", ["abc", [], {"a": 1}, 0, 2**80, 1.5, True])
def test_a_version_that_is_not_a_number_on_plan_approve_is_a_400(world, token_client, version):
    patient = world.p.gjerdrum
    gp = token_client(world.u.gp)
    response = _post(gp, f"/api/v1/patients/{patient.pk}/plan/approve/", {"version": version})
    assert response.status_code == 400, response.content
    assert "version" in response.json()


@pytest.mark.parametrize("step", ["submit", "approve", "return"])
def test_a_comment_that_is_not_text_is_a_400(world, token_client, step):
    user = world.u.nurse if step == "submit" else world.u.gp
    response = _post(token_client(user), f"/api/v1/patients/{world.p.gjerdrum.pk}/plan/{step}/", {"comment": {"x": 1}})
    assert response.status_code == 400
    assert "comment" in response.json()


@pytest.mark.parametrize("body", ["[]", '"tekst"', "5", "null", "true"])
def test_a_json_body_that_is_not_an_object_is_a_400(world, token_client, body):
    response = _post(token_client(world.u.nurse), f"/api/v1/patients/{world.p.gjerdrum.pk}/plan/draft/", body)
    assert response.status_code == 400
    assert "må være et JSON-objekt" in response.json()["detail"]


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"content": []}, "content", 'Forventet en dictionary av flere ting, men fikk typen "list".'),
        ({"content": "tekst"}, "content", 'Forventet en dictionary av flere ting, men fikk typen "str".'),
        ({"template": {"a": 1}}, "template", "Må være tekst."),
        ({"template": ["kols"]}, "template", "Må være tekst."),
    ],
)
def test_a_draft_of_the_wrong_shape_is_a_400_naming_the_field(world, token_client, body, field, message):
    response = _post(token_client(world.u.nurse), f"/api/v1/patients/{world.p.gjerdrum.pk}/plan/draft/", body)
    assert response.status_code == 400
    assert response.json()[field] == [message]


def test_a_referral_of_the_wrong_types_is_told_so_in_norwegian(world, token_client):
    body = {"name": ["x"], "gp_outside_offered": "maybe"}
    response = _post(token_client(world.u.coordinator), "/api/v1/referrals/", body)
    assert response.status_code == 400
    assert response.json()["name"] == ["Må være tekst."]
    assert response.json()["gp_outside_offered"] == ["Må være true eller false."]


def test_a_time_beyond_the_calendar_is_told_so_in_norwegian(world, token_client):
    body = {"actions": ["called_not_reached"], "retry_at": "9999-12-31T23:59:59-01:00"}  # year 10000 in Oslo
    response = _post(token_client(world.u.nurse), f"/api/v1/alerts/{_objects(world)['alert_id']}/handle/", body)
    assert response.status_code == 400
    assert response.json()["retry_at"] == ["Tidspunktet er utenfor det som kan lagres."]


def _drf_messages() -> dict[str, object]:
    """Every message DRF answers with by itself: its fields' (serializers and relations included)
    `default_error_messages`, its exceptions' details and its validators' messages, by where they are."""
    from rest_framework import exceptions, fields, relations, serializers, validators

    def family(cls):
        yield cls
        for sub in cls.__subclasses__():
            yield from family(sub)

    modules = {module.__name__ for module in (exceptions, fields, relations, serializers, validators)}
    messages = {}
    for cls in family(fields.Field):
        for key, message in vars(cls).get("default_error_messages", {}).items():
            if cls.__module__ in modules and message is not None:
                messages[f"{cls.__name__}.{key}"] = message
    for cls in family(exceptions.APIException):
        for name in ("default_detail", "extra_detail_singular", "extra_detail_plural"):
            if cls.__module__ in modules and name in vars(cls):
                messages[f"{cls.__name__}.{name}"] = vars(cls)[name]
    for name, cls in vars(validators).items():
        if isinstance(cls, type) and vars(cls).get("message") is not None and cls.__module__ in modules:
            messages[f"{name}.message"] = vars(cls)["message"]
    return messages


def test_every_message_of_drf_is_norwegian():
    """A DRF upgrade that adds a message fails here until locale/nb/LC_MESSAGES/django.po has it."""
    import string

    from django.utils import translation

    def placeholders(text):
        return sorted(f"{name}:{spec}" for _, name, spec, _ in string.Formatter().parse(text) if name is not None)

    messages = _drf_messages()
    assert len(messages) > 80
    english, placeholders_changed = {}, {}
    for where, message in messages.items():
        with translation.override(None):
            msgid = str(message)
        with translation.override("nb"):
            text = str(message)
        if text == msgid:
            english[where] = msgid
        elif placeholders(text) != placeholders(msgid):
            placeholders_changed[where] = (msgid, text)
    assert english == {}
    assert placeholders_changed == {}


def test_a_draft_whose_content_is_wrong_inside_is_a_400_per_field(world, token_client):
    body = {"content": {"thresholds": {"spo2": {"value": {"red_below": "lav"}}}, "goals": ["ikke", "tekst"]}}
    response = _post(token_client(world.u.nurse), f"/api/v1/patients/{world.p.gjerdrum.pk}/plan/draft/", body)
    assert response.status_code == 400
    fields = {e["field"] for e in response.json()["errors"]}
    assert "goals" in fields


def test_a_trend_rule_without_its_kind_is_told_which_kinds_there_are(world, token_client):
    body = {"content": {"trend_rules": [{"kg": 2, "days": 3}]}}
    response = _post(token_client(world.u.nurse), f"/api/v1/patients/{world.p.gjerdrum.pk}/plan/draft/", body)
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {"field": "trend_rules.0.kind", "message": "trend_rules.0.kind: mangler (bruk weight_gain eller spo2_drop)"}
    ]


# --- what no body may carry -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('{"goals": "a\\u0000b"}', "NUL-tegn"),
        ('{"goals\\u0000": "x"}', "NUL-tegn"),
        ('{"content": {"goals": NaN}}', "ikke gyldig JSON"),
        ('{"content": {"goals": Infinity}}', "ikke gyldig JSON"),
        ('{"content": {"weight": 1e400}}', "for stort tall"),
        ('{"content": ', "ikke gyldig JSON"),
        (b'{"goals": "\xff\xfe"}', "ikke gyldig JSON"),
    ],
)
def test_a_body_that_cannot_be_stored_is_a_400_saying_why(world, token_client, body, message):
    response = _post(token_client(world.u.nurse), f"/api/v1/patients/{world.p.gjerdrum.pk}/plan/draft/", body)
    assert response.status_code == 400, response.content
    assert message in response.json()["detail"]


@pytest.mark.parametrize("key", ["readings", "answers"])
@pytest.mark.parametrize("text", ["\\ud800", "x\\udfff", "\\u0000"])
def test_a_gateway_item_with_an_unstorable_character_is_a_400(world, gateway, key, text):
    # Each would have been kept in the quarantine's JSON column, which PostgreSQL refuses.
    response = _post(gateway, f"/api/v1/{key}", f'{{"{key}": [{{"external_id": "{text}"}}]}}')
    assert response.status_code == 400
    assert "kan ikke lagres" in response.json()["detail"]
    assert not QuarantinedItem.objects.exists()


def test_a_whole_surrogate_pair_is_a_character_like_any_other(world, gateway):
    response = _post(gateway, "/api/v1/readings", '{"readings": [{"external_id": "\\ud83d\\ude00"}]}')
    assert response.status_code == 200 and response.json()["rejected"] == 1  # read; rejected for what it lacks
    assert QuarantinedItem.objects.get().payload == {"external_id": "\U0001f600"}


def test_an_oversized_body_is_a_400(world, gateway, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 64 * 1024
    body = {"readings": [{"external_id": "x" * 1000}] * 100}
    response = _post(gateway, "/api/v1/readings", body)
    assert response.status_code == 400
    assert "for stor: høyst 0,1 MB" in _detail(response)
    token = _post(Client(raise_request_exception=False), "/api/v1/auth/token/", {"username": "x" * 100_000})
    assert token.status_code == 400 and "for stor" in _detail(token)


def test_an_oversized_fhir_body_is_an_operation_outcome(world, gateway, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    response = _post(gateway, "/api/v1/fhir", {"resourceType": "Bundle", "entry": ["x" * 2000]}, FHIR)
    assert response.status_code == 400
    assert response.json()["resourceType"] == "OperationOutcome"
    assert "for stor" in response.json()["issue"][0]["diagnostics"]


def test_an_oversized_csv_import_is_a_400(world, token_client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    csv = "type,model,serial\n" + "oximeter,Nonin,OX-1\n" * 200
    response = token_client(world.u.nurse).post("/api/v1/devices/import/", csv, content_type="text/csv")
    assert response.status_code == 400
    assert "for stor" in response.json()["detail"]


def test_too_many_form_fields_is_a_400(world, token_client, settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 10
    form = "&".join(f"f{i}=x" for i in range(50))
    response = token_client(world.u.nurse).post(
        "/api/v1/referrals/", form, content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 400
    assert "For mange felt" in response.json()["detail"]


# --- the FHIR endpoints answer every error as an OperationOutcome ---------------------------------


@pytest.mark.parametrize(
    ("headers", "body", "content_type", "code", "status"),
    [
        ({}, "ikke json", FHIR, "invalid", 400),
        ({}, "<xml/>", "application/xml", "not-supported", 415),
        ({"HTTP_AUTHORIZATION": "Bearer feil"}, "{}", FHIR, "login", 401),
    ],
)
def test_fhir_errors_are_operation_outcomes(world, gateway, headers, body, content_type, code, status):
    client = Client(raise_request_exception=False, **headers) if headers else gateway
    response = client.post("/api/v1/fhir/Observation", body, content_type=content_type)
    assert response.status_code == status
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["code"] == code and outcome["issue"][0]["diagnostics"]


# --- wrong shapes on the gateway's JSON batches are per-item rejections, never a crash ------------


@pytest.mark.parametrize("items", [["x", 5, None, [], {"external_id": {"a": 1}}, {"value": "høy"}]])
@pytest.mark.parametrize("key", ["readings", "answers"])
def test_items_of_the_wrong_type_are_rejected_one_by_one(world, gateway, key, items):
    response = _post(gateway, f"/api/v1/{key}", {key: items})
    assert response.status_code == 200
    assert response.json()["rejected"] == len(items)


@pytest.mark.parametrize("body", [{"readings": "x"}, {"readings": {}}, {"readings": None}, {}])
def test_a_batch_that_is_not_a_list_is_a_400(world, gateway, body):
    assert _post(gateway, "/api/v1/readings", body).status_code == 400


# --- every endpoint that takes a body ---------------------------------------------------------------


def _objects(world) -> dict:
    """An alert already handled (a step on it reads no body: its refusal is the 400) and a stopped
    delivery (the nurse sees it, but resending is the centre admin's: 403)."""
    import uuid

    from journaling.models import Delivery
    from triage.models import Alert, Contact

    patient = world.p.gjerdrum
    alert = Alert.objects.create(patient=patient, municipality=patient.municipality, kind="out_of_range",
                                 colour="red", reason="x", status="closed")  # fmt: skip
    contact = Contact.objects.create(patient=patient, municipality_id=patient.municipality_id, kind="routine",
                                     actions=["called_reached"], by=world.u.nurse)  # fmt: skip
    delivery = Delivery.objects.create(municipality_id=patient.municipality_id, patient=patient, contact=contact,
                                       bundle_id=uuid.uuid4(), transport="jft", state="dead")  # fmt: skip
    return {"alert_id": alert.pk, "delivery_id": delivery.pk}


def _post_paths(world, referral_id) -> list[str]:
    """Every POST path of the API schema, its ids filled with ones the nurse may act on."""
    schema = SchemaGenerator(patterns=get_resolver().url_patterns).get_schema(request=None, public=True)
    values = {"patient_id": world.p.gjerdrum.pk, "referral_id": referral_id, "serial": "OX-1", "month": "2026-01",
              "token_key": "abcdefgh", **_objects(world)}  # fmt: skip
    paths = []
    for path, operations in schema["paths"].items():
        if "post" in operations:
            paths.append(path.format(**values))
    return paths


@pytest.mark.parametrize("body", [NESTED, "[]", '{"a": "\\u0000"}', "{", '"x"'])
def test_no_post_endpoint_gives_a_5xx_for_a_body_it_cannot_read(world, token_client, gateway, body):
    referral = referral_register(user=world.u.coordinator, national_id=synthetic_national_id(), name="Kari Nordmann",
                                 municipality=world.m.gjerdrum, referrer="hospital", reason="Test")  # fmt: skip
    nurse = token_client(world.u.nurse)
    answers = {}
    for path in _post_paths(world, referral.pk):
        client = gateway if path.startswith(("/api/v1/readings", "/api/v1/answers", "/api/v1/fhir")) else nurse
        answers[path] = _post(client, path, body).status_code
        if path == "/api/v1/auth/token/":
            answers[path] = _post(Client(raise_request_exception=False), path, body).status_code
    assert len(answers) >= 25
    assert {path: code for path, code in answers.items() if code >= 500} == {}
    # Reached the body: a 400, unless the nurse may not take the step at all (403) or the id is not hers (404).
    assert set(answers.values()) <= {400, 403, 404, 415}
    assert sum(code == 400 for code in answers.values()) >= 20


# --- the address: a NUL character never reaches a query ----------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/patients/?search=%00",
        "/api/v1/patients/?municipality=%00",
        "/api/v1/alerts/?status=%00&colour=%00&municipality=%00",
        "/patients/?search=%00",
        "/worklist/?municipality=%00",
        "/forlop/?municipality=%00",
    ],
)
def test_a_nul_in_the_query_is_a_400(world, token_client, login, path):
    api = token_client(world.u.nurse)
    page = login(world.u.nurse)
    page.raise_request_exception = False
    for response in (api.get(path), api.post(path), page.get(path)):
        assert response.status_code == 400, (path, response.status_code)
        assert "NUL-tegn" in response.content.decode()
    if path.startswith("/api/"):
        assert api.get(path).json()["detail"].startswith("Adressen inneholder et NUL-tegn")


@pytest.mark.parametrize("path", ["/api/v1/devices/OX%00/return/", "/api/v1/devices/%00/clean/", "/patients/%00/"])
def test_a_nul_in_the_path_names_nothing_a_404(world, token_client, path):
    response = token_client(world.u.nurse).post(path)
    assert response.status_code == 404
    if path.startswith("/api/"):
        assert response.json() == {"detail": "Ikke funnet."}


def test_an_ordinary_percent_sign_in_a_search_is_no_nul(world, token_client):
    response = token_client(world.u.nurse).get("/api/v1/patients/?search=%2500")  # «%00», typed
    assert response.status_code == 200


def test_an_api_address_that_matches_no_route_is_a_json_404(world, token_client, login):
    response = token_client(world.u.nurse).get("/api/v1/patients/ikke-en-uuid/")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json" and response.json() == {"detail": "Ikke funnet."}
    page = login(world.u.nurse).get("/finnes-ikke/")
    assert page.status_code == 404 and page["Content-Type"].startswith("text/html")
