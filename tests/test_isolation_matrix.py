"""Every URL that takes a patient (or an object of one), for every role, answers 404 outside the
user's scope and writes nothing; and answers something else than 404 for someone inside it, so a
route that 404s for everyone cannot pass. A new URL that forgets the scope selector makes this fail.

URLs are found by walking the URL configuration, so nobody has to remember to add them here; a URL
argument this matrix does not know how to fill (a new uuid or int kwarg, a new admin model) fails
`test_it_knows_every_url_argument` until it is added. List pages and their filters are walked in
tests/test_isolation_lists.py.
"""

import datetime
import re
import uuid
from types import SimpleNamespace

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.urls import URLPattern, URLResolver, get_resolver, resolve
from django.utils import timezone

from tenants.models import AuditEvent

PROJECT_APPS = ("tenants", "patients", "ebp", "measurements", "triage", "billing", "journaling", "insight")
ROLES = ["nurse", "nurse_nordrefollo", "nurse_agder", "coordinator", "gp", "specialist", "finance", "admin", "leder"]
METHODS = ("get", "post", "put", "patch", "delete")
SAMPLES = {"int": "1", "str": "x", "slug": "x", "path": "x", "uuid": str(uuid.UUID(int=1)), "month": "2026-10"}
CONVERTER = re.compile(r"<(?:(\w+):)?(\w+)>")

# Every uuid in a URL names a patient or an object of one; each kind is walked below.
SCOPED_KWARGS = ("patient_id", "alert_id", "referral_id")
# A referral is the municipality's case: its nurses and koordinator handle it, a fastlege or a
# specialist who sees the patient by permission does not (patients.selectors.visible_referrals).
REFERRAL_ROLES = ("nurse", "nurse_nordrefollo", "nurse_agder", "coordinator")
# Other arguments of a URL under a patient name an object of that patient, and are filled with one
# every patient has (build_records), so a 404 for a foreign patient can only come from the scope.
OPEN_VERSION = 2  # every patient: v1 active, v2 open
PATIENT_OBJECT_KWARGS = {"number": OPEN_VERSION, "mtype": "spo2"}  # mtype: a trend chart's type
# A device of a centre's register, by its serial (/devices/<serial>/…): walked by test_…_device_…,
# with the centres whose register each role keeps; another centre's device is a 404 like a missing one.
DEVICE_KWARGS = ("serial",)
DEVICE_CENTRES = {"nurse": {"ovre"}, "nurse_agder": {"agder"}, "admin": {"ovre"}}
# An API token of the user's own, by its id (/api/v1/auth/tokens/<token_key>/): walked by
# test_it_answers_404_for_another_users_token; anyone else's token is a 404 like a missing one.
TOKEN_KWARGS = ("token_key",)
# A reading a device gateway stored, by its id (/api/v1/fhir/Observation/<observation_id>, and its one
# version, …/_history/<version_id>): read by that gateway only, never by a user or another gateway; walked
# by test_a_gateways_reading_is_read_by_that_gateway_only, the version filled with this value.
GATEWAY_READING_KWARGS = {"observation_id": None, "version_id": "1"}
# A month, a year and a kommunenummer name finance's figures, never a patient (/billing/<month>/…):
# walked by test_finance_urls_…, with these values; the kommune is Gjerdrum, an Øvre partner.
BILLING_KWARGS = {"month": "2026-10", "year": 2026, "municipality": "3230"}
# A delivery to a kommune's EPJ, by its id (/api/v1/journal-deliveries/<delivery_id>/…, the admin page's
# «Send på nytt»): reached through its patient (who sees the patient) or through its kommune (the admin of
# a centre serving it, who resends); walked by test_it_answers_404_for_a_delivery_…, with these kommuner.
DELIVERY_KWARGS = ("delivery_id",)
DELIVERY_MANAGES = {"admin": {"ullensaker", "gjerdrum", "nannestad", "nordrefollo"}}  # Øvre serves them
# A kommune by its kommunenummer on the centre admin's journaling page (/journalforing/<kommune>/): walked by
# test_journaling_urls_…; Gjerdrum is an Øvre partner, Grimstad Agder's.
JOURNALING_KWARGS = {"kommune": "3230"}
# Admin object ids. Models that hold patient data are walked by test_admin_…; the others hold
# configuration and are named here with the reason they are not.
ADMIN_OBJECT_KWARGS = ("object_id", "item_id", "id")
ADMIN_PATIENT_DATA = ("tenants.auditevent", "measurements.quarantineditem", "measurements.reading")
ADMIN_NO_PATIENT_DATA = {
    "auth.user": "accounts; the centre admin's own users (tests/tenants/test_admin_centre.py)",
    "auth.group": "superusers only",
    "knox.authtoken": "API tokens: digests, never a secret; the centre admin's users' (tests/tenants/test_tokens.py)",
    "tenants.municipality": "master data",
    "tenants.centre": "master data",
    "tenants.agreement": "master data",
    "tenants.population": "innbyggertall per kommune and year: public statistics (test_reference_data)",
    "tenants.staffing": "the centre's nurse staffing per period (test_reference_data)",
    "tenants.membership": "who has which role; superusers only",
    "otp_totp.totpdevice": "users' authenticator apps (never the secret); the centre admin's users'",
    "axes.accessattempt": "failed logins (username, address); the centre admin's users'",
    "axes.accesslog": "logins (username, address); superusers only",
    "axes.accessfailurelog": "failed logins; superusers only",
    "tenants.loginlock": "lock-outs (username, address, when); the centre admin's users'",
    "tenants.activationcode": "activation codes (a hash, never the code); the centre admin's users'",
    "ebp.plantemplate": "the centre's plan templates",
    "ebp.centrethresholds": "the centre's default thresholds",
    "measurements.integration": "gateway credentials",
    "measurements.quarantinenotice": "a full quarantine on a day: counts, no payload",
    "tenants.loginrefusal": "refused HelseID logins: name, HPR number, never the fødselsnummer (test_helseid_login)",
}
# admin/r/<content_type_id>/<object_id>/ (Django's «view on site») is walked by test_admin_view_on_site_…
ADMIN_SHORTCUT = "admin/r/"


def _routes(resolver=None, prefix=""):
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        route = str(entry.pattern)
        if isinstance(entry, URLResolver):
            yield from _routes(entry, prefix + route)
        elif isinstance(entry, URLPattern):
            yield prefix + route


def patient_routes(kwarg: str = "patient_id") -> list[str]:
    routes = []
    for route in _routes():
        assert not route.startswith("^") or "patient" not in route, f"regex route with a patient: {route}"
        if any(name == kwarg for _conv, name in CONVERTER.findall(route)):
            routes.append(route)
    return routes


def _url(route: str, object_id, kwarg: str = "patient_id", values: dict | None = None) -> str:
    """The route with `kwarg` set to object_id, other arguments from `values` or a sample."""

    def fill(match):
        conv, name = match.group(1) or "str", match.group(2)
        if name == kwarg:
            return str(object_id)
        return str((values or {}).get(name, SAMPLES[conv]))

    return "/" + CONVERTER.sub(fill, route)


def _methods(url: str) -> list[str]:
    func = resolve(url).func
    view = getattr(func, "view_class", None) or getattr(func, "cls", None)
    if view is None:
        return ["get", "post"]
    return [m for m in METHODS if hasattr(view, m)]


def _request(client, method: str, url: str, **kwargs):
    return getattr(client, method)(url, data={} if method == "get" else None, **kwargs)


def _rolled_back(client, method: str, url: str, **kwargs):
    """A request whose writes are undone, so probes in scope do not depend on each other's order."""
    with transaction.atomic():
        response = _request(client, method, url, **kwargs)
        transaction.set_rollback(True)
    return response


def _row_counts() -> int:
    return sum(
        model.objects.count()
        for model in apps.get_models()
        if model._meta.app_label in PROJECT_APPS and not model._meta.abstract
    )


# --- the records every patient has -------------------------------------------------------------

# Whose open plan version is a draft; the others' waits for the fastlege. Both kinds exist so that
# every plan step has someone in scope it does not 404 for.
DRAFTED = ("nordrefollo", "grimstad")
MARKER = "KARANTENE-{}"  # in the external id of a centre's quarantined item
READING_MARKER = "MALING-{}"  # in the external id of a reading of a centre's patient (the readings admin)


def _plan_versions(patient, world, content, long_ago, drafted: bool) -> None:
    from ebp.models import Plan, PlanVersion, VersionStatus

    plan = Plan.objects.create(patient=patient, municipality_id=patient.municipality_id)
    common = {"plan": plan, "municipality_id": patient.municipality_id, "content": content, "created_by": world.u.nurse}
    sent = {"submitted_by": world.u.nurse, "submitted_at": long_ago}
    active = PlanVersion.objects.create(
        number=1, status=VersionStatus.ACTIVE, decided_by=world.u.gp, decided_at=long_ago, **common, **sent
    )
    if drafted:
        PlanVersion.objects.create(number=OPEN_VERSION, status=VersionStatus.DRAFT, based_on=active, **common)
    else:
        PlanVersion.objects.create(
            number=OPEN_VERSION, status=VersionStatus.SUBMITTED, based_on=active, **common, **sent
        )


def _quarantined(centre, patient) -> None:
    from measurements.services import integration_create, readings_ingest

    integration, _token = integration_create(centre=centre, name=f"Gateway {centre.slug}")
    at = (timezone.localtime() - datetime.timedelta(minutes=1)).isoformat()
    item = {"external_id": MARKER.format(centre.slug), "patient_id": str(patient.pk), "type": "spo2", "value": 101,
            "unit": "%", "measured_at": at}  # fmt: skip
    [result] = readings_ingest(integration=integration, items=[item])
    assert result.status == "rejected"  # 101 % is impossible: kept in the centre's quarantine


def _stored_reading(slug, patient) -> None:
    from measurements.models import Reading

    at = timezone.now() - datetime.timedelta(minutes=2)
    Reading.objects.create(patient=patient, municipality_id=patient.municipality_id, type="spo2", value=95,
                           measured_at=at, external_id=READING_MARKER.format(slug))  # fmt: skip


def _granted_referral(patient, world):
    from patients.models import Decision, Referral

    referral = Referral.objects.create(
        municipality_id=patient.municipality_id, patient=patient, national_id=patient.national_id, name=patient.name,
        referrer="gp", reason="x", status="granted", created_by=world.u.nurse,
    )  # fmt: skip
    today = timezone.localdate()
    Decision.objects.create(
        referral=referral, outcome="granted", reason="x", legal_basis="x", period_from=today,
        period_to=today + datetime.timedelta(days=180), evaluation_date=today + datetime.timedelta(days=90),
        decided_by=world.u.nurse,
    )  # fmt: skip
    return referral


def _lent_devices(world) -> dict[str, tuple[str, str]]:
    """Every patient borrows a device of the centre serving its kommune (Nordre Follo's from Øvre,
    lent by its own nurse): patient key → (centre slug, serial)."""
    from patients.services import device_register, devices_lend

    lent = {}
    for key, patient in vars(world.p).items():
        slug, staff = ("agder", world.u.nurse_agder) if key == "grimstad" else ("ovre", world.u.nurse)
        serial = f"ISO-{key}"
        device_register(centre=getattr(world.centres, slug), user=staff, type="pulsoksymeter", serial=serial)
        lender = world.u.nurse_nordrefollo if key == "nordrefollo" else staff
        devices_lend(patient=patient, user=lender, serials=[serial])
        lent[key] = (slug, serial)
    return lent


def build_records(world) -> SimpleNamespace:
    """What every patient has, so that a 404 for a foreign one can only come from the scope: an
    active plan (v1) and an open version (v2), an open alert, a creation date long enough ago that
    routine contact and evaluation are due. Each centre has an admin, a quarantined item and an
    audit event of one of its patients (what a centre admin may read in /admin/). Every patient has
    a granted referral (henvisning with its vedtak) in the patient's municipality."""
    from ebp.content import dump, parse_content
    from patients.models import Patient
    from tenants.services import audit_record
    from tests.factories import MembershipFactory, UserFactory
    from triage.models import Alert

    long_ago = timezone.now() - datetime.timedelta(days=200)
    content = dump(parse_content({"thresholds": {"spo2": {"value": {"red_below": 88}}}}))
    alerts = {}
    for key, patient in vars(world.p).items():
        _plan_versions(patient, world, content, long_ago, drafted=key in DRAFTED)
        alerts[key] = Alert.objects.create(
            patient=patient, municipality=patient.municipality, kind="out_of_range", colour="red", reason="x"
        )
    Patient.objects.filter(pk__in=[p.pk for p in vars(world.p).values()]).update(created_at=long_ago)
    referrals = {key: _granted_referral(patient, world) for key, patient in vars(world.p).items()}

    devices = _lent_devices(world)
    admin_agder = UserFactory(username="admin_agder", is_staff=True)
    MembershipFactory(user=admin_agder, role="admin", centre=world.centres.agder)
    own = {"ovre": world.p.gjerdrum, "agder": world.p.grimstad}  # a patient each centre serves
    for slug, patient in own.items():
        _quarantined(getattr(world.centres, slug), patient)
        _stored_reading(slug, patient)
        audit_record(action="view", object_type="patient", object_id=patient.pk, patient=patient, user=world.u.gp)
    return SimpleNamespace(
        alerts=alerts,
        devices=devices,
        referrals=referrals,
        admins={"ovre": world.u.admin, "agder": admin_agder},
        centre_patient=own,
    )


@pytest.fixture
def records(world):
    return build_records(world)


# --- the URL configuration ---------------------------------------------------------------------


def _admin_model(route: str) -> str | None:
    """«tenants.auditevent» for admin/tenants/auditevent/…, None for the admin's own pages."""
    parts = route.split("/")
    return f"{parts[1]}.{parts[2]}" if route.startswith("admin/") and len(parts) > 3 else None


def admin_object_routes(model: str) -> list[str]:
    return [r for r in _routes() if _admin_model(r) == model and CONVERTER.search(r)]


def test_it_finds_patient_urls_for_pages_and_api():
    routes = patient_routes()
    assert any(r.startswith("patients/") for r in routes), routes
    assert any(r.startswith("api/v1/") for r in routes), routes
    assert any("<int:number>" in r for r in routes), routes


def test_it_walks_the_steps_on_an_alert():
    # Taking, releasing («Slipp») and handling an alert are walked for every role by the alert walks below.
    routes = patient_routes("alert_id")
    for step in ("take", "release", "handle"):
        assert f"worklist/alerts/<uuid:alert_id>/{step}/" in routes, routes


def test_it_rejects_uuid_kwargs_it_does_not_know():
    # An object under another kwarg name would escape this matrix: add it to SCOPED_KWARGS and below.
    for route in _routes():
        for conv, name in CONVERTER.findall(route):
            if conv == "uuid":
                assert name in SCOPED_KWARGS, f"{route}: uuid kwarg {name} is not covered by the isolation matrix"


def test_it_knows_every_url_argument():
    """Every argument of every URL is filled by one of the walks here, whatever its converter."""
    for route in _routes():
        names = {name for _conv, name in CONVERTER.findall(route)}
        if "(?P<" in route:
            assert route.startswith("admin/"), f"{route}: a regex route the matrix cannot fill"
            continue  # the admin's app index and catch-all: no object ids
        if not names or route.startswith(ADMIN_SHORTCUT):
            continue
        model = _admin_model(route)
        if model:
            assert names <= set(ADMIN_OBJECT_KWARGS), f"{route}: admin argument not covered: {names}"
            assert model in ADMIN_PATIENT_DATA or model in ADMIN_NO_PATIENT_DATA, (
                f"{route}: say whether {model} holds patient data (ADMIN_PATIENT_DATA) or not"
            )
            continue
        if names == set(DEVICE_KWARGS):
            continue  # a device of the user's centres: test_it_answers_404_for_another_centres_device
        if names == set(TOKEN_KWARGS):
            continue  # the user's own API token: test_it_answers_404_for_another_users_token
        if "observation_id" in names and names <= set(GATEWAY_READING_KWARGS):
            continue  # a gateway's own reading: test_a_gateways_reading_is_read_by_that_gateway_only
        if names == set(DELIVERY_KWARGS):
            continue  # a delivery by its patient or its kommune: test_it_answers_404_for_a_delivery_…
        if names <= set(JOURNALING_KWARGS):
            continue  # a kommune's journaling page: test_journaling_urls_answer_404_to_all_but_…
        if names <= set(BILLING_KWARGS):
            continue  # finance's figures: test_finance_urls_answer_404_to_everyone_but_their_reader
        scoped = names & set(SCOPED_KWARGS)
        assert len(scoped) == 1, f"{route}: no patient or alert id among {names}"
        others = names - scoped
        assert not others or scoped == {"patient_id"}, f"{route}: {others} under an alert"
        unknown = others - set(PATIENT_OBJECT_KWARGS)
        assert not unknown, f"{route}: {unknown} is not filled by the matrix; add it to PATIENT_OBJECT_KWARGS"


def test_it_knows_which_admin_models_hold_patient_data():
    for model in admin.site._registry:
        label = model._meta.label_lower
        fields = {f.name for f in model._meta.get_fields()}
        if fields & {"patient", "patient_id"}:
            assert label in ADMIN_PATIENT_DATA, f"{label} holds patient data: walk it in the admin matrix"
        assert label in ADMIN_PATIENT_DATA or label in ADMIN_NO_PATIENT_DATA, f"{label}: patient data or not?"
    assert set(ADMIN_PATIENT_DATA) <= {m._meta.label_lower for m in admin.site._registry}


# --- patient and alert URLs, every role --------------------------------------------------------


def _foreign(world, role) -> list[str]:
    return [key for key in vars(world.p) if key not in world.sees[role]]


@pytest.mark.parametrize("role", ROLES)
def test_it_answers_404_outside_scope_for_every_patient_url(world, records, login, role):
    client = login(getattr(world.u, role))
    foreign = _foreign(world, role)
    assert foreign
    before_rows, before_audit = _row_counts(), AuditEvent.objects.count()
    for route in patient_routes():
        for key in foreign:
            url = _url(route, getattr(world.p, key).pk, values=PATIENT_OBJECT_KWARGS)
            for method in _methods(url):
                response = _request(client, method, url)
                assert response.status_code == 404, f"{role} {method.upper()} {url} → {response.status_code}"
    assert _row_counts() == before_rows, "a refused request wrote something"
    assert AuditEvent.objects.count() == before_audit, "a refused request was logged as an access"


@pytest.mark.parametrize("role", ROLES)
def test_it_answers_404_outside_scope_for_every_alert_url(world, records, login, role):
    client = login(getattr(world.u, role))
    foreign = _foreign(world, role)
    routes = patient_routes("alert_id")
    assert routes and foreign
    before_rows, before_audit = _row_counts(), AuditEvent.objects.count()
    for route in routes:
        for key in foreign:
            url = _url(route, records.alerts[key].pk, "alert_id")
            for method in _methods(url):
                response = _request(client, method, url)
                assert response.status_code == 404, f"{role} {method.upper()} {url} → {response.status_code}"
    assert _row_counts() == before_rows, "a refused request wrote something"
    assert AuditEvent.objects.count() == before_audit, "a refused request was logged as an access"


def referral_sees(world, role) -> set[str]:
    """Whose referrals a role handles: its patients' municipalities, nurses and koordinator only."""
    return set(world.sees[role]) if role in REFERRAL_ROLES else set()


@pytest.mark.parametrize("role", ROLES)
def test_it_answers_404_outside_scope_for_every_referral_url(world, records, login, role):
    # The fastlege and the specialist see some of these patients, but none of their referrals.
    client = login(getattr(world.u, role))
    foreign = [key for key in vars(world.p) if key not in referral_sees(world, role)]
    routes = patient_routes("referral_id")
    assert routes and foreign
    before_rows, before_audit = _row_counts(), AuditEvent.objects.count()
    for route in routes:
        for key in foreign:
            url = _url(route, records.referrals[key].pk, "referral_id")
            for method in _methods(url):
                response = _request(client, method, url)
                assert response.status_code == 404, f"{role} {method.upper()} {url} → {response.status_code}"
    assert _row_counts() == before_rows, "a refused request wrote something"
    assert AuditEvent.objects.count() == before_audit, "a refused request was logged as an access"


@pytest.mark.parametrize("role", ROLES)
def test_each_role_opens_exactly_the_patients_in_its_scope(world, login, role):
    # The specialist included: the one shared patient opens, every other is a 404 (above).
    client = login(getattr(world.u, role))
    for key in vars(world.p):
        expected = 200 if key in world.sees[role] else 404
        patient_id = getattr(world.p, key).pk
        for url in (f"/patients/{patient_id}/", f"/api/v1/patients/{patient_id}/"):
            assert client.get(url).status_code == expected, f"{role} GET {url}"


def _in_scope(world, records, login, kwarg: str) -> list[tuple]:
    """(role, patient key, client, object id) for every patient (or its alert) each role sees."""
    found = []
    for role in ROLES:
        sees = referral_sees(world, role) if kwarg == "referral_id" else world.sees[role]
        client = login(getattr(world.u, role)) if sees else None
        for key in sorted(sees):
            targets = {"patient_id": getattr(world.p, key), "alert_id": records.alerts[key]}
            target = targets[kwarg] if kwarg in targets else records.referrals[key]
            found.append((role, key, client, target.pk))
    return found


@pytest.mark.parametrize("kwarg", SCOPED_KWARGS)
def test_every_scoped_url_answers_someone_in_scope(world, records, login, kwarg):
    """The positive control: each route and method answers something other than 404 for at least one
    user in scope, so a route that 404s for everyone (a broken lookup, a missing object) cannot pass
    the matrix above. Writes are rolled back: each probe sees the same records."""
    routes, in_scope = patient_routes(kwarg), _in_scope(world, records, login, kwarg)
    assert routes
    for route in routes:
        for method in _methods(_url(route, uuid.UUID(int=1), kwarg)):
            answers = []
            for role, key, client, target in in_scope:
                url = _url(route, target, kwarg, values=PATIENT_OBJECT_KWARGS)
                status = _rolled_back(client, method, url).status_code
                answers.append(f"{role}/{key}: {status}")
                if status != 404:
                    break
            else:
                pytest.fail(f"{method.upper()} /{route} is 404 for everyone in scope: {answers}")


# --- device URLs, every role --------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_it_answers_404_for_another_centres_device(world, records, login, role):
    client = login(getattr(world.u, role))
    own = DEVICE_CENTRES.get(role, set())
    foreign = [serial for slug, serial in records.devices.values() if slug not in own]
    routes = patient_routes("serial")
    assert routes and foreign
    before_rows, before_audit = _row_counts(), AuditEvent.objects.count()
    for route in routes:
        for serial in foreign:
            url = _url(route, serial, "serial")
            for method in _methods(url):
                response = _request(client, method, url)
                assert response.status_code == 404, f"{role} {method.upper()} {url} → {response.status_code}"
    assert _row_counts() == before_rows, "a refused request wrote something"
    assert AuditEvent.objects.count() == before_audit, "a refused request was logged as an access"


def test_every_device_url_answers_someone_at_its_centre(world, records, login):
    """The positive control of the test above: each route and method answers something other than
    404 for a nurse or admin of the device's centre (writes rolled back)."""
    routes = patient_routes("serial")
    assert routes
    for route in routes:
        for method in _methods(_url(route, "x", "serial")):
            answers = []
            for role, slugs in DEVICE_CENTRES.items():
                client = login(getattr(world.u, role))
                for slug, serial in records.devices.values():
                    if slug in slugs:
                        status = _rolled_back(client, method, _url(route, serial, "serial")).status_code
                        answers.append(f"{role}/{serial}: {status}")
            assert any(not a.endswith(": 404") for a in answers), f"{method.upper()} /{route}: {answers}"


# --- API tokens, every role -----------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_it_answers_404_for_another_users_token(world, login, role):
    """Every token URL answers 404 for another user's token and leaves it alone; the user's own
    answers something else (the positive control, rolled back)."""
    from knox.models import AuthToken

    from tenants.tokens import token_create

    client = login(getattr(world.u, role))
    others = [token_create(user=getattr(world.u, r))[0] for r in ROLES if r != role]
    own, _secret = token_create(user=getattr(world.u, role))
    routes = patient_routes("token_key")
    assert routes
    for route in routes:
        for token in others:
            url = _url(route, token.token_key, "token_key")
            for method in _methods(url):
                response = _request(client, method, url)
                assert response.status_code == 404, f"{role} {method.upper()} {url} → {response.status_code}"
        url = _url(route, own.token_key, "token_key")
        for method in _methods(url):
            assert _rolled_back(client, method, url).status_code != 404, f"{role} {method.upper()} {url}: own token"
    assert AuthToken.objects.filter(pk__in=[t.pk for t in others]).count() == len(others)


# --- a gateway's own readings (the FHIR read) ---------------------------------------------------


def test_a_gateways_reading_is_read_by_that_gateway_only(world, login):
    """Every URL of a gateway's reading answers that gateway, a 404 to another gateway (of the same
    centre too) and no reading to any user (the gateway API takes no user credential)."""
    from django.test import Client

    from measurements.services import integration_create, readings_ingest

    integration, token = integration_create(centre=world.centres.ovre, name="Matrisegateway")
    at = (timezone.localtime() - datetime.timedelta(minutes=1)).isoformat()
    item = {"external_id": "matrise-1", "patient_id": str(world.p.gjerdrum.pk), "type": "spo2", "value": 95,
            "unit": "%", "measured_at": at}  # fmt: skip
    [result] = readings_ingest(integration=integration, items=[item])
    others = [Client(HTTP_AUTHORIZATION=f"Bearer {integration_create(centre=c, name='Annen')[1]}")
              for c in (world.centres.ovre, world.centres.agder)]  # fmt: skip
    routes = patient_routes("observation_id")
    assert routes
    for route in routes:
        url = _url(route, result.id, "observation_id", GATEWAY_READING_KWARGS)
        for method in _methods(url):
            own = _request(Client(HTTP_AUTHORIZATION=f"Bearer {token}"), method, url)
            assert own.status_code == 200, f"{method.upper()} {url}: the gateway's own reading"
            for other in others:
                assert _request(other, method, url).status_code == 404, f"{method.upper()} {url}: another gateway"
            for role in ROLES:
                response = _request(login(getattr(world.u, role)), method, url)
                assert response.status_code in (401, 403), f"{role} {method.upper()} {url} → {response.status_code}"


# --- finance's months and the koordinator's basis (billing), every role --------------------------


def billing_routes() -> list[str]:
    return [
        r
        for r in _routes()
        if not r.startswith("admin/") and CONVERTER.search(r)
        and {name for _conv, name in CONVERTER.findall(r)} <= set(BILLING_KWARGS)
    ]  # fmt: skip


def _billing_reader(route: str) -> str:
    # The patient-level basis of a kommune's lines is its koordinator's; the figures are finance's.
    return "coordinator" if route.endswith("grunnlag/") else "finance"


@pytest.mark.parametrize("role", ROLES)
def test_finance_urls_answer_404_to_everyone_but_their_reader(world, records, login, role):
    """Øvre's finance opens every month, year and kommune URL (the positive control) and everyone
    else gets a 404 with nothing written; the koordinator opens the basis of their own kommune
    only. Writes are rolled back, so each probe sees the same records."""
    client = login(getattr(world.u, role))
    routes = billing_routes()
    assert any(r.endswith("grunnlag/") for r in routes) and any(r.endswith(".pdf") for r in routes)
    before_rows, before_audit = _row_counts(), AuditEvent.objects.count()
    for route in routes:
        urls = [_url(route, None, "", values=BILLING_KWARGS)]
        if role == "coordinator" and "<str:municipality>" in route:  # Nannestad is not theirs
            urls.append(_url(route, None, "", values={**BILLING_KWARGS, "municipality": "3238"}))
        for url in urls:
            for method in _methods(url):
                status = _rolled_back(client, method, url).status_code
                opens = role == _billing_reader(route) and "3238" not in url
                assert (status != 404) == opens, f"{role} {method.upper()} {url} → {status}"
    assert _row_counts() == before_rows, "a request wrote something"
    assert AuditEvent.objects.count() == before_audit


# --- deliveries to the kommune's EPJ and the centre admin's journaling page (journaling) ---------


def _deliveries(world) -> dict:
    """A stopped delivery of a routine contact for every patient (what «Send på nytt» takes)."""
    from journaling.models import Delivery
    from triage.models import Contact

    found = {}
    for key, patient in vars(world.p).items():
        contact = Contact.objects.create(patient=patient, municipality_id=patient.municipality_id, kind="routine",
                                         actions=["called_reached"], by=world.u.nurse)  # fmt: skip
        found[key] = Delivery.objects.create(
            municipality_id=patient.municipality_id, patient=patient, contact=contact, bundle_id=uuid.uuid4(),
            transport="jft", state="dead", last_error="x",
        )  # fmt: skip
    return found


@pytest.mark.parametrize("role", ROLES)
def test_it_answers_404_for_a_delivery_neither_by_its_patient_nor_its_kommune(world, login, role):
    """Every delivery URL answers 404 unless the user sees the delivery's patient or keeps its kommune's
    route, and something else then (a 403 for who sees the patient but may not resend: the positive
    control); requests rolled back, so nothing is left written either way."""
    deliveries = _deliveries(world)
    client = login(getattr(world.u, role))
    reach = set(world.sees[role]) | DELIVERY_MANAGES.get(role, set())
    routes = patient_routes("delivery_id")
    assert len(routes) >= 3, routes
    before_rows, before_audit = _row_counts(), AuditEvent.objects.count()
    for route in routes:
        for key, delivery in deliveries.items():
            url = _url(route, delivery.pk, "delivery_id")
            for method in _methods(url):
                status = _rolled_back(client, method, url).status_code
                assert (status != 404) == (key in reach), f"{role} {method.upper()} {url} ({key}) → {status}"
    assert _row_counts() == before_rows
    assert AuditEvent.objects.count() == before_audit


def journaling_routes() -> list[str]:
    return [r for r in _routes() if {name for _conv, name in CONVERTER.findall(r)} == set(JOURNALING_KWARGS)]


@pytest.mark.parametrize("role", ROLES)
def test_journaling_urls_answer_404_to_all_but_the_kommunes_centre_admin(world, login, role):
    """Øvre's admin opens Gjerdrum's journaling page (the positive control); Grimstad's (Agder's) is a
    404 for them as for everyone else, with nothing written."""
    client = login(getattr(world.u, role))
    routes = journaling_routes()
    assert routes
    before_rows, before_audit = _row_counts(), AuditEvent.objects.count()
    for route in routes:
        for number, opens in (("3230", role == "admin"), ("4202", False)):
            url = _url(route, None, "", values={"kommune": number})
            for method in _methods(url):
                status = _rolled_back(client, method, url).status_code
                assert (status != 404) == opens, f"{role} {method.upper()} {url} → {status}"
    assert _row_counts() == before_rows
    assert AuditEvent.objects.count() == before_audit


# --- the admin ----------------------------------------------------------------------------------


def _admin_objects(world, records, model: str) -> dict:
    """centre slug → (the object's id, strings that identify its patient) for one admin model."""
    from measurements.models import QuarantinedItem, Reading

    found = {}
    for slug, patient in records.centre_patient.items():
        if model == "tenants.auditevent":
            obj = AuditEvent.objects.filter(patient_id=patient.pk, username=world.u.gp.username).get()
        elif model == "measurements.reading":
            obj = Reading.objects.get(external_id=READING_MARKER.format(slug))
        else:
            obj = QuarantinedItem.objects.get(centre__slug=slug)
        found[slug] = (obj.pk, [str(patient.pk), patient.name, MARKER.format(slug)])
    return found


def _answer(client, method: str, url: str, object_id, rolled_back: bool = False):
    """(status, where the redirects ended with the id blanked out) and the final body."""
    call = _rolled_back if rolled_back else _request
    response = call(client, method, url, follow=True)
    path = response.request["PATH_INFO"].replace(f"/{object_id}/", "/<id>/")
    return (response.status_code, path), response.content.decode()


@pytest.mark.parametrize("model", ADMIN_PATIENT_DATA)
@pytest.mark.parametrize("centre", ["ovre", "agder"])
def test_admin_object_pages_answer_for_another_centres_object_as_for_a_missing_one(
    world, records, login, model, centre
):
    """The admin answers a missing id with a redirect (and a 403 where the model admin refuses the
    action whatever the object): another centre's object must get exactly that answer, nothing of
    its patient, and no write; the centre's own object must get another answer (positive control)."""
    client = login(records.admins[centre])
    objects = _admin_objects(world, records, model)
    own_id, own_marks = objects[centre]
    [(foreign_id, foreign_marks)] = [v for k, v in objects.items() if k != centre]
    missing_id = max(own_id, foreign_id) + 1000
    routes = admin_object_routes(model)
    assert routes
    before_rows, before_audit = _row_counts(), AuditEvent.objects.count()
    for route in routes:
        for method in ("get", "post"):
            kwarg = CONVERTER.search(route).group(2)
            missing, _body = _answer(client, method, _url(route, missing_id, kwarg), missing_id)
            foreign, body = _answer(client, method, _url(route, foreign_id, kwarg), foreign_id)
            where = f"{centre} admin {method.upper()} /{route}"
            assert foreign == missing, f"{where}: another centre's object {foreign}, a missing one {missing}"
            assert not [m for m in foreign_marks if m in body], f"{where}: shows another centre's patient"
            own, own_body = _answer(client, method, _url(route, own_id, kwarg), own_id, rolled_back=True)
            if missing[0] == 403:  # refused whatever the object (no deleting, no editing the log): alike
                assert own == missing, f"{where}: the centre's own object {own}, a missing one {missing}"
            else:
                assert own != missing, f"{where}: the centre's own object is answered as a missing one"
            if own[0] == 200 and method == "get" and route.endswith("/change/"):
                assert any(m in own_body for m in own_marks), f"{where}: the centre's own object is not shown"
    assert _row_counts() == before_rows, "a refused request wrote something"
    assert AuditEvent.objects.count() == before_audit


def test_admin_view_on_site_does_not_tell_which_patients_exist(world, records, login):
    """Django's «view on site» redirects to an object's page when its model has one; for patients
    and alerts that would answer differently for an existing and a made-up id."""
    from patients.models import Patient
    from triage.models import Alert

    client = login(world.u.admin)
    for model, objects in ((Patient, vars(world.p).values()), (Alert, records.alerts.values())):
        content_type = ContentType.objects.get_for_model(model).pk
        for object_id in [o.pk for o in objects] + [uuid.uuid4()]:
            response = client.get(f"/{ADMIN_SHORTCUT}{content_type}/{object_id}/")
            assert response.status_code == 404, f"{model.__name__} {object_id} → {response.status_code}"
