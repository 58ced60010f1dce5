"""schemathesis over the OpenAPI schema (/api/schema/) against a live server: every
operation, with a bounded number of generated requests each, as the device gateway, a nurse, a
koordinator, a fastlege, finance and someone not logged in, must never answer 5xx, and must answer
only what the schema documents (status code, media type, body), so that the schema is the API's.

Path ids are mostly the test world's own (a patient the role may or may not see, a referral, a
device, a month), so the generated bodies reach validation and the services instead of stopping at
a 404; now and then schemathesis's own (a wrong one included).
Both schema-conforming (positive) and schema-violating (negative) requests are sent, from a fixed
seed (a run is repeatable). The count of requests is printed (and put in the failure message).
DHO_FUZZ_EXAMPLES sets how many per operation, role and mode (default 5, to stay near two minutes on
two cores; 50 looks much further), DHO_FUZZ_SEED another seed. Select it with `pytest -m schemathesis`.

The operations are dealt out to SHARDS tests (each its own world and live server), so that parallel
workers (`make test`) share the fuzzing instead of one worker carrying all of it; together the shards
send every operation exactly what one test would, and each shard meets the request count of its share.
"""

import datetime
import logging
import os
import time
from collections import Counter

import pytest
import redis
import requests
import schemathesis
from django.urls import get_resolver
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.validation import validate_schema
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import Failure, FailureGroup, ServerError
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from ebp import services as plan_services
from measurements.services import integration_create
from patients.services import referral_register
from patients.services.equipment import device_register
from tests.dho.conftest import user_token
from tests.factories import synthetic_national_id

pytestmark = pytest.mark.schemathesis

EXAMPLES = int(os.environ.get("DHO_FUZZ_EXAMPLES", "5"))
ANONYMOUS_EXAMPLES = 2  # turned away before the body is read: a few show it
PLAN = {"diagnoses": ["kols"], "thresholds": {"spo2": {"value": {"red_below": 88, "yellow_below": 92}}}}
SEED = int(os.environ.get("DHO_FUZZ_SEED", "12"))
USERS = ("nurse", "coordinator", "gp", "finance")
MODES = (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE)
# No 5xx, and every answer is one the schema documents (status code, media type, body).
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
SHARDS = 4  # tests the operations are dealt out to (tests/conftest.py spreads them over the workers)


def test_the_schema_is_valid_openapi_and_documents_every_error():
    schema = SchemaGenerator(patterns=get_resolver().url_patterns).get_schema(request=None, public=True)
    validate_schema(schema)  # OpenAPI 3.0: the plan content's pydantic schema too (dho.api_schema)
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            codes = set(operation["responses"])
            if operation.get("requestBody"):
                assert {"400", "415"} <= codes, (method, path, codes)
            if "{" in path:
                assert "404" in codes, (method, path, codes)
            for code, response in operation["responses"].items():
                assert code < "400" or "content" in response, (method, path, code)  # errors are JSON too


@pytest.fixture
def private_queue(settings):
    """Scoring tasks queued by the fuzzed ingest go to a queue of this test's own, emptied after it:
    no worker on the shared Redis ever sees ids from this database."""
    from dho.celery import app

    queue = f"fuzz-{os.getpid()}-{time.monotonic_ns()}"
    previous = app.conf.task_default_queue
    app.conf.task_default_queue = queue
    yield queue
    app.conf.task_default_queue = previous
    redis.Redis.from_url(settings.REDIS_URL).delete(queue)


def _credentials(world) -> dict[str, dict]:
    """role → the headers it sends. Users by API token (created directly: no password, no second
    factor, whatever the login asks), the gateway by its Integration token."""
    _, gateway = integration_create(centre=world.centres.ovre, name="Fuzzgateway")
    headers = {role: {"Authorization": f"Token {user_token(getattr(world.u, role))}"} for role in USERS}
    return headers | {"gateway": {"Authorization": f"Bearer {gateway}"}, "anonymous": {}}


def _path_values(world) -> dict:
    """Real ids for the path parameters, so a request reaches its body's validation."""
    referral = referral_register(user=world.u.coordinator, municipality=world.m.gjerdrum,
                                 national_id=synthetic_national_id(), name="Kari Nordmann", referrer="hospital",
                                 reason="Hyppige innleggelser.")  # fmt: skip
    for type_, serial in (("pulsoksymeter", "OX-1"), ("blodtrykk", "BP-1")):
        device_register(centre=world.centres.ovre, user=world.u.nurse, type=type_, serial=serial)
    # A plan waiting for each fastlege patient's approval, so approve and return have one to act on.
    for patient, nurse in ((world.p.gjerdrum, world.u.nurse), (world.p.grimstad, world.u.nurse_agder)):
        draft = plan_services.draft_start(patient=patient, user=nurse, content=PLAN)
        plan_services.draft_submit(version=draft, user=nurse)
    this_month = timezone.localdate().replace(day=1)
    last_month = (this_month - datetime.timedelta(days=1)).replace(day=1)
    return {
        **_alert_and_delivery(world),
        "patient_id": {str(p.pk): name for name, p in vars(world.p).items()},
        "referral_id": [str(referral.pk)],
        "serial": ["OX-1", "BP-1"],
        "month": [f"{this_month:%Y-%m}", f"{last_month:%Y-%m}"],
    }


def _alert_and_delivery(world) -> dict:
    """An open alert to take and handle, and a stopped delivery to read and resend (the Gjerdrum patient's)."""
    import uuid

    from journaling.models import Delivery
    from triage.models import Alert, Contact

    patient = world.p.gjerdrum
    alert = Alert.objects.create(patient=patient, municipality=patient.municipality, kind="out_of_range",
                                 colour="red", reason="SpO2 86 %")  # fmt: skip
    contact = Contact.objects.create(patient=patient, municipality_id=patient.municipality_id, kind="routine",
                                     actions=["called_reached"], by=world.u.nurse)  # fmt: skip
    delivery = Delivery.objects.create(municipality_id=patient.municipality_id, patient=patient, contact=contact,
                                       bundle_id=uuid.uuid4(), transport="jft", state="dead")  # fmt: skip
    return {"alert_id": [str(alert.pk)], "delivery_id": [str(delivery.pk)]}


def _path_ids(world, path_values, operation, role) -> dict:
    """Strategies for the operation's path ids: mostly ours, the patients those the role sees (and one
    it does not: a 404), now and then (None) what schemathesis made up, a wrong one included."""
    fixed = {}
    for name, values in path_values.items():
        if f"{{{name}}}" not in operation.path:
            continue
        if name == "patient_id":
            seen = [pk for pk, patient in values.items() if patient in world.sees.get(role, ())]
            unseen = [pk for pk, patient in values.items() if patient not in world.sees.get(role, ())]
            values = seen + unseen[:1]
        fixed[name] = st.sampled_from([*values, None])
    return fixed


def _roles(operation) -> tuple[str, ...]:
    """Who sends this operation: the gateway its endpoints, the users theirs, everyone anonymously too."""
    schemes = {name for requirement in operation.definition.raw.get("security") or [] for name in requirement}
    if "integrationToken" in schemes:
        return ("gateway", "anonymous")
    if schemes:
        return (*USERS, "anonymous")
    return ("anonymous",)


@pytest.fixture
def quiet_client_errors():
    """Thousands of 4xx answers are the point here, not news: only 5xx (with tracebacks) are logged."""
    loggers = [logging.getLogger(name) for name in ("django.request", "axes")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    yield
    for logger, level in zip(loggers, levels, strict=True):
        logger.setLevel(level)


@pytest.fixture
def http(live_server):
    """One kept-alive connection to the live server. Closed after the test, so that the server's
    handler thread ends and closes its database connection (the test database can be dropped)."""
    session = requests.Session()
    # Each generated request on a connection of its own: a request the test server refuses at the
    # transport level (http.server's own HTML error page) cannot leave bytes on a kept-alive
    # connection that the next request would read as its status line.
    session.headers["Connection"] = "close"
    session.base_url = live_server.url
    yield session
    session.close()


def _requests_planned(operation) -> int:
    return sum(examples for role in _roles(operation) for _mode, examples in _plan(operation, role))


def _shards(operations) -> list[list]:
    """The operations dealt out to SHARDS hands, the most requests first and round the table, so each
    hand gets as many operations (±1) and a like mix of heavy and light ones."""
    ranked = sorted(operations, key=lambda op: (-_requests_planned(op), op.label))
    return [ranked[shard::SHARDS] for shard in range(SHARDS)]


@pytest.mark.parametrize("shard", range(SHARDS), ids=[f"shard{n + 1}of{SHARDS}" for n in range(SHARDS)])
def test_no_generated_request_gets_a_5xx_or_an_undocumented_answer(
    shard, world, http, private_queue, quiet_client_errors, capsys
):
    credentials = _credentials(world)
    path_values = _path_values(world)
    # The schema is for signed-in users only (dho.api_schema.SchemaReaders): read it as the nurse.
    schema = schemathesis.openapi.from_url(f"{http.base_url}/api/schema/", headers=credentials["nurse"], timeout=60)
    every_operation = [result.ok() for result in schema.get_all_operations()]
    assert len(every_operation) >= 40, [op.label for op in every_operation]
    hands = _shards(every_operation)
    # Every operation is fuzzed, by exactly one shard.
    assert sorted(op.label for hand in hands for op in hand) == sorted(op.label for op in every_operation)
    operations = hands[shard]

    sent, statuses, server_errors, wrong_schema, started = Counter(), Counter(), [], [], time.monotonic()
    for operation in operations:
        for role in _roles(operation):
            fixed = _path_ids(world, path_values, operation, role)
            for mode, examples in _plan(operation, role):
                _fuzz(operation, role, mode, examples, credentials[role], fixed, http, sent, statuses, server_errors,
                      wrong_schema)  # fmt: skip
    elapsed = time.monotonic() - started

    total = sum(sent.values())
    summary = (
        f"schemathesis shard {shard + 1}/{SHARDS}: {total} requests over {len(operations)} of "
        f"{len(every_operation)} operations "
        f"({len({label for label, _ in sent})} fuzzed; roles {', '.join((*USERS, 'gateway', 'anonymous'))}; "
        f"≤{EXAMPLES} per operation, role and mode; seed {SEED}) in {elapsed:.0f} s: {len(server_errors)} server "
        f"errors, {len(wrong_schema)} answers the schema does not describe"
        f"\n  answers: {', '.join(f'{code}×{n}' for code, n in sorted(statuses.items()))}"
    )
    with capsys.disabled():
        print(f"\n{summary}")
    # The shards' counts add up to the whole run's: len(every_operation) * len(USERS) * EXAMPLES * 0.8.
    assert total >= len(operations) * len(USERS) * EXAMPLES * 0.8, summary
    assert server_errors == [], summary + "\n" + "\n\n".join(server_errors[:20])
    # The schema says what the API answers: its status codes, media type and body.
    assert wrong_schema == [], summary + "\n" + "\n\n".join(wrong_schema[:20])


def _plan(operation, role) -> list[tuple]:
    """(mode, examples) to send. Someone not logged in is turned away before the body is read: a
    few requests show that. An operation with nothing but path ids (which are ours) has nothing to
    send wrong."""
    if role == "anonymous" and operation.definition.raw.get("security"):
        return [(MODES[0], ANONYMOUS_EXAMPLES)]
    if not (operation.body or operation.query):
        return [(MODES[0], EXAMPLES)]
    return [(mode, EXAMPLES) for mode in MODES]


def _fuzz(operation, role, mode, examples, headers, fixed, http, sent, statuses, server_errors, wrong_schema) -> None:
    cases = operation.as_strategy(generation_mode=mode)
    paths = st.fixed_dictionaries(fixed)

    @seed(SEED)
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=cases, path=paths)
    def send(case, path):
        ours = {name: value for name, value in path.items() if value is not None}
        if ours:
            case.path_parameters = {**(case.path_parameters or {}), **ours}
        response = case.call(base_url=http.base_url, headers=headers, timeout=60, session=http)
        sent[(operation.label, role)] += 1
        statuses[response.status_code] += 1
        try:
            case.validate_response(response, checks=CHECKS, headers=headers)
        except (Failure, FailureGroup) as failure:
            found = failure.exceptions if isinstance(failure, FailureGroup) else [failure]
            server = any(isinstance(f, ServerError) for f in found)
            (server_errors if server else wrong_schema).append(
                f"{role} {mode.value} {operation.label} → {response.status_code}: "
                f"{'; '.join(f.title for f in found)}\n{case.as_curl_command(headers=headers)}"
            )

    send()
