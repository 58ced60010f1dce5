"""A patient's effective thresholds come from one selector (ebp.selectors.thresholds_for and its batch
form): scoring, the plan page and the alert page read the same content — the approved plan in force,
else the defaults of the centre serving the patient's kommune."""

from ebp import selectors, services
from ebp.models import CentreThresholds
from triage.services.scoring import Plans


def _approve(world, patient, red_below: int):
    version = services.draft_start(patient=patient, user=world.u.nurse)
    content = {"thresholds": {"spo2": {"value": {"red_below": red_below, "yellow_below": red_below + 2}}}}
    services.draft_update(version=version, user=world.u.nurse, content=content)
    services.draft_submit(version=version, user=world.u.nurse)
    return services.version_approve(version=version, user=world.u.gp)


def _spo2_red_below(content):
    return content.thresholds["spo2"]["value"].red_below


def test_without_a_plan_each_reader_gets_the_centre_defaults(world):
    CentreThresholds.objects.update_or_create(
        centre=world.centres.ovre, defaults={"thresholds": {"spo2": {"value": {"red_below": 85}}}}
    )
    patient = world.p.gjerdrum
    one = selectors.thresholds_for(patient)
    batch = Plans({patient.pk: patient.municipality_id})
    assert not one.approved and batch.version_id(patient.pk) is None and one.version is None
    assert _spo2_red_below(one.content) == _spo2_red_below(batch.content(patient.pk)) == 85


def test_one_kommunes_defaults_in_one_statement_are_those_the_batch_finds(world):
    """The patient page's read (one compiled statement) and scoring's (centres_of, then the rows) agree
    for a partner, a host, a kommune whose agreement has ended and one no centre serves."""
    import datetime

    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from tenants.models import Agreement
    from tests.factories import MunicipalityFactory

    CentreThresholds.objects.update_or_create(
        centre=world.centres.ovre, defaults={"thresholds": {"spo2": {"value": {"red_below": 85}}}}
    )
    CentreThresholds.objects.update_or_create(
        centre=world.centres.agder, defaults={"thresholds": {"spo2": {"value": {"red_below": 86}}}}
    )
    ended = MunicipalityFactory(number="3201", name="Bærum")
    Agreement.objects.create(centre=world.centres.ovre, municipality=ended, follow_up_by="centre",
                             valid_from=timezone.localdate() - datetime.timedelta(days=400),
                             valid_to=timezone.localdate() - datetime.timedelta(days=1))  # fmt: skip
    nobody = MunicipalityFactory(number="1103", name="Stavanger")
    kommuner = {"gjerdrum": world.m.gjerdrum.pk, "ullensaker": world.m.ullensaker.pk, "arendal": world.m.arendal.pk,
                "grimstad": world.m.grimstad.pk, "ended": ended.pk, "nobody": nobody.pk}  # fmt: skip
    many = selectors.centre_defaults_many(kommuner.values())
    found = {}
    for name, pk in kommuner.items():
        with CaptureQueriesContext(connection) as captured:
            one = selectors.centre_default_thresholds(pk)
        assert len(captured) == 1, name
        assert one.thresholds == many[pk].thresholds, name
        found[name] = one.thresholds.get("spo2", {}).get("value")
        found[name] = found[name].red_below if found[name] else None
    assert found == {"gjerdrum": 85, "ullensaker": 85, "arendal": 86, "grimstad": 86, "ended": None, "nobody": None}


def test_with_an_approved_plan_scoring_and_the_page_read_the_plan(world, login):
    patient = world.p.gjerdrum
    version = _approve(world, patient, red_below=87)
    one = selectors.thresholds_for(patient)
    batch = Plans({patient.pk: patient.municipality_id})
    assert one.version == version and one.version_id == batch.version_id(patient.pk) == version.pk
    assert one.approved_at == batch.approved_at(patient.pk) == version.decided_at is not None
    assert _spo2_red_below(one.content) == _spo2_red_below(batch.content(patient.pk)) == 87
    page = login(world.u.nurse).get(f"/patients/{patient.pk}/plan/")
    assert page.status_code == 200
    assert page.context["content"] is one.content  # the cached parse of the version in force


def test_a_batch_mixes_plans_and_defaults_per_centre(world):
    CentreThresholds.objects.update_or_create(
        centre=world.centres.agder, defaults={"thresholds": {"spo2": {"value": {"red_below": 86}}}}
    )
    _approve(world, world.p.gjerdrum, red_below=88)
    grimstad = world.p.grimstad
    batch = selectors.thresholds_for_many(
        {world.p.gjerdrum.pk: world.p.gjerdrum.municipality_id, grimstad.pk: grimstad.municipality_id}
    )
    assert _spo2_red_below(batch[world.p.gjerdrum.pk].content) == 88
    assert _spo2_red_below(batch[grimstad.pk].content) == 86 and not batch[grimstad.pk].approved


def test_a_batch_reads_the_centres_defaults_in_a_fixed_number_of_queries_and_sees_an_edit_at_once(world):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from patients.models import Patient
    from tenants.models import Municipality
    from tenants.selectors import centre_of, centres_of

    # every kommune of the world: hosts, partners, and any no centre serves, as centre_of finds them one by one
    ids = list(Municipality.objects.values_list("pk", flat=True))
    expected = {m: centre.pk for m in ids if (centre := centre_of(m)) is not None}
    assert centres_of(ids) == expected and len(set(expected.values())) > 1
    patients = {p.pk: p.municipality_id for p in Patient.objects.all()}
    with CaptureQueriesContext(connection) as queries:
        batch = selectors.thresholds_for_many(patients)
    assert len({p.municipality_id for p in Patient.objects.all()}) > 3 and len(queries) <= 4
    before = _spo2_red_below(batch[world.p.grimstad.pk].content)
    CentreThresholds.objects.update_or_create(
        centre=world.centres.agder, defaults={"thresholds": {"spo2": {"value": {"red_below": before - 1}}}}
    )
    again = selectors.thresholds_for_many({world.p.grimstad.pk: world.p.grimstad.municipality_id})
    assert (
        _spo2_red_below(again[world.p.grimstad.pk].content) == before - 1
    )  # a save moves updated_at: not the old parse


def test_a_versions_content_is_read_once_per_process_and_kept_on_the_version(world):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    patient = world.p.gjerdrum
    version = _approve(world, patient, red_below=86)
    selectors._APPROVED.clear()  # a process that has not parsed it yet
    with CaptureQueriesContext(connection) as first:
        one = selectors.thresholds_for(patient)
    with CaptureQueriesContext(connection) as again:
        two = selectors.thresholds_for(patient)
    assert len(first) == 2 and len(again) == 1  # the version, its content; then the version alone
    assert _spo2_red_below(one.content) == 86 and two.content is one.content
    assert one.version.content == version.content  # read with the thresholds: the plan page shows it
