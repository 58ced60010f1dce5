"""List pages and their filters show each role exactly the patients in its scope: never a foreign
one, whatever the query string names (another municipality, another patient's id, name or national
id), and every page shows someone to some role, so an empty page cannot pass for a safe one.

The list pages are found in the URL configuration; a new one fails `test_it_knows_every_list_page`
until it is added to LIST_PAGES (or to NOT_LISTS with the reason).
"""

import pytest
from django.urls import resolve

from tenants.models import AuditEvent
from tests.test_isolation_matrix import (
    ADMIN_PATIENT_DATA,
    CONVERTER,
    DRAFTED,
    PROJECT_APPS,
    ROLES,
    _admin_objects,
    _routes,
    build_records,
)

NURSE_AREA = ("nurse", "nurse_nordrefollo", "nurse_agder", "coordinator")
GEVINST_ROLES = (*NURSE_AREA, "leder")
INSIGHT_ROLES = (*GEVINST_ROLES, "finance")  # finance: capacity and alarm burden only
# Whose worklist a ?municipality= may ask for: the scope table's municipalities, written out.
WORKLIST_MUNICIPALITIES = {
    "nurse": {"ullensaker", "gjerdrum", "nannestad"},
    "nurse_nordrefollo": {"nordrefollo"},
    "nurse_agder": {"arendal", "grimstad"},
    "coordinator": {"gjerdrum"},
}


def _in_scope(world, role) -> set[str]:
    return set(world.sees[role])


def _waiting_for_them(world, role) -> set[str]:
    # The approval queue: submitted versions of the patients whose own fastlege the user is.
    user = getattr(world.u, role)
    return {k for k in world.sees[role] if getattr(world.p, k).gp_id == user.pk and k not in DRAFTED}


def _nobody(world, role) -> set[str]:
    return set()


def _referrals(world, role) -> set[str]:
    # Every patient has a referral (build_records); only its municipality's nurses and koordinator see it.
    return set(world.sees[role]) if role in NURSE_AREA else set()


# The device register shows a device's borrower to the centre's nurses who may see that patient
# (build_records lends every patient a device of the centre serving its kommune; Agder's: Grimstad).
REGISTER_CENTRE = {"nurse": "ovre", "nurse_agder": "agder", "admin": "ovre"}


def _borrowers(world, role) -> set[str]:
    centre = REGISTER_CENTRE.get(role)
    return {k for k in world.sees[role] if centre == ("agder" if k == "grimstad" else "ovre")}


# route → (the roles it opens for, None for all; the patients it shows them). Others get a 404.
LIST_PAGES = {
    "patients/": (None, _in_scope),
    "api/v1/patients/": (None, _in_scope),
    "api/v1/alerts/": (None, _in_scope),
    "api/v1/devices/": (None, _borrowers),
    "api/v1/referrals/": (None, _referrals),
    "worklist/": (NURSE_AREA, _in_scope),
    "followup/": (NURSE_AREA, _in_scope),
    "approvals/": (None, _waiting_for_them),
    "billing/": (("finance",), _nobody),  # counts, never a patient
    "api/v1/billing/months/": (("finance",), _nobody),  # the same as JSON
    "billing/prismodell/": (("finance", "admin"), _nobody),  # the price model: read by finance, edited by the admin
    # The centre admin's journaling page: its kommuner's routes and delivery counts, never a patient
    # (a kommune's own page, with its deliveries, is walked in tests/test_isolation_matrix.py).
    "journalforing/": (("admin",), _nobody),
    "forlop/": (NURSE_AREA, _referrals),  # the forløp board: the municipalities' referrals and patients
    "utstyr/": (tuple(REGISTER_CENTRE), _borrowers),  # the register page: 404 for who keeps none
    "api/v1/kits/": (None, _nobody),  # the centre's kits: names and device types, never a patient
    # Open «mulig flytting» notices of the user's kommuner: none in these records (the notices' own
    # scope — the asker sees none, the side that has the record its own — is tests/patients/test_moves.py).
    "api/v1/move-notices/": (None, _nobody),
    # Innsikt (insight): the figures of the centre or kommune the role sees, never a patient (the small
    # cells hidden: tests/insight/test_pages.py); its CSV per section and XLSX are below.
    "innsikt/": (INSIGHT_ROLES, _nobody),
    # The gevinst (insight.gevinst): figures of the kommuner the role sees every figure of, never a patient
    # (the small cells hidden: tests/insight/test_gevinst*.py); the leder's too, finance's not.
    "innsikt/gevinst/": (GEVINST_ROLES, _nobody),
    "api/v1/insight/gevinst/": (GEVINST_ROLES, _nobody),
    # The kommune's comparison group (anonymous rows) and the EPJ import's form: who keeps its forløp.
    "innsikt/gevinst/sammenligning/": (NURSE_AREA, _nobody),
    "innsikt/gevinst/import/": (NURSE_AREA, _nobody),
}
NOT_LISTS = {
    "": "the home page redirects by role",
    "innlogging/helseid/": "starts a HelseID login: a redirect to HelseID, no data",
    "logout/": "ends the session (and a HelseID session through HelseID's end_session), no data",
    "virksomhet/": "«Velg virksomhet»: the user's own memberships to choose between, no patient data",
    "innlogging/helseid/callback/": "HelseID's answer to a login: logs the person in or refuses, no list",
    "innlogging/helseid/backchannel-logout/": "HelseID's logout token (a server's POST): ends sessions, no data",
    "healthz": "service health, no data",
    "api/v1/readings": "gateway ingest: POST with an integration token, scope in tests/measurements",
    "api/v1/answers": "gateway ingest, as above",
    "api/v1/fhir/Observation": "gateway ingest, as above",
    "api/v1/fhir": "gateway ingest, as above",
    "api/v1/fhir/": "gateway ingest, as above (the FHIR base with its trailing slash)",
    "api/v1/fhir/metadata": "the FHIR CapabilityStatement: what the server takes, no patient data",
    "api/v1/devices/import/": "POST a CSV into the centre's register: per-line results, no patient",
    "forlop/ny/": "the henvisning form: a list of municipalities, no patient (404 for other roles)",
    "utstyr/import/": "POST a CSV into the register: the register page with per-line results (GET: 404)",
    "billing/grunnlag/": "redirects a koordinator to last month's basis of their own kommune (404 for others)",
    "utstyr/sett/": "POST a kit into the register: the register page with the form's errors (GET: 404)",
    "api/v1/auth/token/": "POST a username and password for an API token: no patient",
    "api/v1/auth/tokens/": "the user's own API tokens: no patient (tests/tenants/test_tokens.py)",
    "api/v1/reference/populations/": "innbyggertall of the admin's kommuner: no patient (test_reference_data)",
    "api/v1/reference/staffing/": "the admin's centre's staffing: no patient (test_reference_data)",
    "api/v1/insight/": "figures of a centre or kommune, never a patient; small cells suppressed (tests/insight/)",
    "innsikt/innsikt.xlsx": "the Innsikt page's figures as XLSX; 404 for other roles (tests/insight/test_pages.py)",
    "innsikt/kapasitet.csv": "a section of the Innsikt page as CSV, as above",
    "innsikt/varsler.csv": "as above",
    "innsikt/etterlevelse.csv": "as above",
    "innsikt/forlop.csv": "as above",
    "innsikt/gevinst/rapport.pdf": "the gevinst page's figures as a PDF; 404 for other roles (test_gevinst_pages)",
    "innsikt/gevinst/rapport.xlsx": "the same as XLSX, as above",
    "api-nokler/": "the user's own API tokens as a page, as above",
    "login/": "the password form",
    "login/code/": "a new password with the code from the centre admin: a form, no data",
    "login/verify/": "the second factor's code form",
    "login/setup/": "setting up the authenticator app: a QR code of the user's own",
    "account/backup-codes/": "the user's own backup codes",
    "session/keepalive/": "POST: keeps the session alive, no data",
    "session/status/": "when the session ends, as JSON",
}
# route → the query parameters that name a patient or a municipality, and what each is given.
FILTERS = {
    "patients/": {"municipality": "number", "search": "name"},
    "api/v1/patients/": {"municipality": "number", "search": "national_id"},
    "api/v1/alerts/": {"municipality": "number", "patient": "pk"},
    "worklist/": {"municipality": "number"},
    "forlop/": {"municipality": "number"},
}


@pytest.fixture
def records(world):
    return build_records(world)


def _project_view(route: str) -> bool:
    match = resolve("/" + route)
    view = getattr(match.func, "view_class", None) or getattr(match.func, "cls", None) or match.func
    return view.__module__.split(".")[0] in (*PROJECT_APPS, "dho")


def _shown(world, response, echoed: str = "") -> set[str]:
    """The patients whose name, id or national id the response contains, besides the search term
    the page echoes back to the user."""
    body = response.content.decode().replace(echoed, "") if echoed else response.content.decode()
    return {key for key, p in vars(world.p).items() if p.name in body or str(p.pk) in body or p.national_id in body}


def test_it_knows_every_list_page():
    for route in _routes():
        if route.startswith("admin/") or CONVERTER.search(route) or not _project_view(route):
            continue
        assert route in LIST_PAGES or route in NOT_LISTS, f"/{route}: add it to LIST_PAGES, or to NOT_LISTS with why"
    assert set(FILTERS) <= set(LIST_PAGES)


def _audited_patients(since: int) -> set:
    events = AuditEvent.objects.filter(pk__gt=since, patient_id__isnull=False)
    return set(events.values_list("patient_id", flat=True))


def _last_event() -> int:
    last = AuditEvent.objects.order_by("-pk").values_list("pk", flat=True).first()
    return last or 0


@pytest.mark.parametrize("role", ROLES)
def test_each_list_page_shows_a_role_exactly_its_scope(world, records, login, role):
    client = login(getattr(world.u, role))
    since = _last_event()
    for route, (roles, shows) in LIST_PAGES.items():
        response = client.get("/" + route)
        if roles is not None and role not in roles:
            assert response.status_code == 404, f"{role} /{route}"
            continue
        assert response.status_code == 200, f"{role} /{route}"
        assert _shown(world, response) == shows(world, role), f"{role} /{route}"
    seen = {getattr(world.p, key).pk for key in world.sees[role]}
    assert _audited_patients(since) <= seen, f"{role}: the log names a patient outside the scope"


def test_every_list_page_shows_someone(world):
    # The positive control of the test above: each page lists a patient for at least one role.
    for route, (_roles, shows) in LIST_PAGES.items():
        if shows is not _nobody:
            assert any(shows(world, role) for role in ROLES), f"/{route} shows no one to anyone"


def _filter_value(world, key: str, given: str) -> str:
    patient = getattr(world.p, key)
    return patient.municipality.number if given == "number" else str(getattr(patient, given))


@pytest.mark.parametrize("role", ROLES)
def test_filters_naming_a_patient_show_that_patient_only_in_scope(world, records, login, role):
    """Each filter is tried with every patient's value: in scope it shows that one patient (the
    filter works), outside it nothing at all (an empty list), and the worklist of a municipality
    outside the scope does not exist (404, as the page says)."""
    client = login(getattr(world.u, role))
    since = _last_event()
    for route, params in FILTERS.items():
        roles, _shows = LIST_PAGES[route]
        if roles is not None and role not in roles:
            continue  # the page itself is a 404 for this role (above)
        for param, given in params.items():
            for key in vars(world.p):
                value = _filter_value(world, key, given)
                url = f"/{route}?{param}={value}"
                response = client.get(url)
                if route == "worklist/" and key not in WORKLIST_MUNICIPALITIES[role]:
                    assert response.status_code == 404, f"{role} {url}"
                    continue
                assert response.status_code == 200, f"{role} {url}"
                assert _shown(world, response, value) == {key} & world.sees[role], f"{role} {url}"
    seen = {getattr(world.p, key).pk for key in world.sees[role]}
    assert _audited_patients(since) <= seen, f"{role}: the log names a patient outside the scope"


# Admin models whose filters offer only the centre's own values (another centre's value is ignored).
RELATED_ONLY_FILTERED = ("measurements.quarantineditem", "measurements.reading")


def _admin_filters(model: str, patient, gateway) -> list[str]:
    """The admin list filters that name what a patient's centre owns."""
    if model in ("tenants.auditevent", "measurements.reading"):
        return [f"q={patient.pk}", f"municipality__id__exact={patient.municipality_id}"]
    return [f"integration__id__exact={gateway.pk}"]


@pytest.mark.parametrize("model", ADMIN_PATIENT_DATA)
@pytest.mark.parametrize("centre", ["ovre", "agder"])
def test_admin_lists_with_patient_data_show_only_the_centres_own(world, records, login, model, centre):
    """The admin's list of a model with patient data, plain and filtered by each centre's patient,
    municipality or gateway: the centre's own object where it belongs, another centre's never."""
    from measurements.models import Integration

    client = login(records.admins[centre])
    app, name = model.split(".")
    objects = _admin_objects(world, records, model)
    link = {slug: f"/admin/{app}/{name}/{pk}/change/" for slug, (pk, _marks) in objects.items()}
    [other] = [slug for slug in objects if slug != centre]
    queries = {"": centre}  # query → whose object it should list
    for slug, patient in records.centre_patient.items():
        gateway = Integration.objects.get(centre__slug=slug)
        queries.update(dict.fromkeys(_admin_filters(model, patient, gateway), slug))
    for query, lists in queries.items():
        url = f"/admin/{app}/{name}/?{query}"
        response = client.get(url)
        assert response.status_code == 200, url
        param, _, value = query.partition("=")
        body = response.content.decode()
        body = body.replace(value, "") if param == "q" else body  # not the search box's echo
        assert link[other] not in body and not [m for m in objects[other][1] if m in body], (
            f"{centre} admin {url} shows another centre's patient"
        )
        if lists == centre or model not in RELATED_ONLY_FILTERED:
            assert (link[centre] in body) == (lists == centre), f"{centre} admin {url}: the centre's own object"
        # else: a filter on another centre's gateway (or municipality) is not offered
        # (RelatedOnlyFieldListFilter) and Django ignores it, so the admin's own list may show;
        # another centre's rows never (above).


@pytest.mark.parametrize("role", NURSE_AREA)
def test_the_follow_up_pages_missing_plan_list_shows_exactly_the_scope(world, login, role):
    # Without build_records no patient has a plan: every started patient is listed «Mangler godkjent
    # plan», so a list that leaked another scope's patient would show it here.
    response = login(getattr(world.u, role)).get("/followup/")
    assert response.status_code == 200
    listed = {key for key, p in vars(world.p).items() if p in response.context["no_plan"]}
    assert listed == _in_scope(world, role), role
    section = response.content.decode().split('id="no-plan"')[1].split("</section>")[0]
    assert {key for key, p in vars(world.p).items() if p.name in section} == _in_scope(world, role), role
