"""The demo world of `make run`: idempotent, and every demo login sees exactly its scope."""

import datetime
import io
import zipfile
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db.models import Count
from django.test import Client
from django.utils import timezone

from billing.calculation import Month
from billing.models import LockedMonth
from billing.selectors import coordinator_basis, finance_view_for, price_model_for, visible_allocation
from dho.demo import CANDIDATES, MUNICIPALITIES, NAMED_PATIENTS, _reading_sender, seed_demo
from insight.models import ComparisonServiceUse, ServiceUse, SurveyAnswer
from patients.models import Appeal, Decision, Device, DeviceLoan, Kit, MoveNotice, Patient, Referral, StatusChange
from patients.services import consent_given
from tenants.models import Agreement, AuditEvent, Centre, Membership, Municipality, Population, Staffing
from tenants.selectors import staffing_on
from tests.conftest import throttle_counters_clear
from tests.test_isolation_matrix import _url, patient_routes

User = get_user_model()
OVRE_ROMERIKE_CENTRE = {"3209", "3230", "3238", "3240", "3242", "3228"}


@pytest.fixture(scope="module")
def demo_seeded(django_db_setup, django_db_blocker):
    """The demo world seeded once for the module (seed_demo takes seconds), in a transaction that
    each test's own rolls back to: every test starts from the same freshly seeded world."""
    from django.db import transaction
    from django.test import override_settings

    from tests.database_roles import every_municipality

    with django_db_blocker.unblock():
        seeded = transaction.atomic()
        seeded.__enter__()
        with override_settings(DEBUG=True), every_municipality():
            seed_demo()
    yield
    with django_db_blocker.unblock():
        transaction.set_rollback(True)
        seeded.__exit__(None, None, None)


@pytest.fixture
def demo(demo_seeded, db, settings):
    settings.DEBUG = True
    # The logins are the same users in every test: their API throttle counts start at zero, as
    # a newly seeded user's would.
    throttle_counters_clear(settings)


def _client(username):
    client = Client()
    # Through the login page, as a demo user does (the lock-out's backend wants the request).
    response = client.post("/login/", {"username": username, "password": "demo"})
    assert response.status_code == 302, f"{username} cannot log in with «demo»"
    return client


def _listed_ids(client, path="/api/v1/patients/"):
    ids, url = set(), path
    while url:
        body = client.get(url).json()
        ids |= {row["id"] for row in body["results"]}
        url = body["next"]
    return ids


def _sample(patients, per_municipality=2):
    """A few patients of each municipality: every URL × every patient would take half a minute."""
    seen: dict[int, int] = {}
    for patient in patients.order_by("municipality_id", "name"):
        seen[patient.municipality_id] = seen.get(patient.municipality_id, 0) + 1
        if seen[patient.municipality_id] <= per_municipality:
            yield patient


def _patient_urls(patient):
    return [_url(route, patient.pk) for route in patient_routes()]


def test_the_command_refuses_without_debug(db, settings):
    settings.DEBUG = False
    # Counted before and after: in the worker that runs the module's seeded tests, the demo world of
    # their module fixture may still be there when this test runs.
    users, patients = User.objects.count(), Patient.objects.count()
    with pytest.raises(CommandError, match="DHO_DEBUG"):
        call_command("seed_demo")
    assert (User.objects.count(), Patient.objects.count()) == (users, patients)


def test_it_builds_the_documented_world_and_a_second_run_changes_nothing(demo, settings):
    models = (Municipality, Centre, Agreement, User, Membership, Patient, StatusChange, Referral, DeviceLoan, Device,
              Kit, Appeal, Population, Staffing, ServiceUse, SurveyAnswer, ComparisonServiceUse)  # fmt: skip
    counts = [m.objects.count() for m in models]
    call_command("seed_demo")
    assert [m.objects.count() for m in models] == counts
    assert min(counts[6:]) > 0, "the forløp rows exist, so the equal counts say something"

    # About 200 spread by population, and the year's new ones (dho/demo_history.py, with an oppstart row).
    assert 190 <= Patient.objects.filter(starts__isnull=True).count() <= 210
    assert 30 <= Patient.objects.filter(starts__isnull=False).count() <= 60
    ovre = Centre.objects.get(slug="ovre-romerike")
    assert ovre.host.number == "3209"
    assert set(ovre.agreements.filter(follow_up_by="centre").values_list("municipality__number", flat=True)) == {
        "3230", "3238", "3240", "3242", "3228"
    }  # fmt: skip
    assert list(ovre.agreements.filter(follow_up_by="municipality").values_list("municipality__number", flat=True)) == [
        "3207"
    ]
    agder = Centre.objects.get(slug="agder")
    assert agder.host.number == "4203"
    assert set(agder.agreements.values_list("municipality__number", flat=True)) == {"4202", "4214"}
    named = {p.name.split()[0]: p for p in Patient.objects.filter(name__in=[
        "Olav Haugen", "Rune Bakken", "Jens Lie", "Tove Nilsen", "Vigdis Strand"])}  # fmt: skip
    assert {k: v.municipality.number for k, v in named.items()} == {
        "Olav": "3209", "Rune": "3230", "Jens": "3238", "Tove": "4202", "Vigdis": "3207"
    }  # fmt: skip
    assert named["Olav"].age == 85 and set(named["Olav"].diagnoses) == {"kols", "hjertesvikt"}
    assert named["Rune"].age == 56 and named["Jens"].age == 62
    assert all(int(p.national_id[2:4]) > 80 for p in Patient.objects.all()), "only synthetic month + 80 ids"


def test_the_gjerdrum_coordinator_sees_only_gjerdrum(demo):
    client = _client("koordinator.gjerdrum")
    gjerdrum = {str(p) for p in Patient.objects.filter(municipality__number="3230").values_list("id", flat=True)}
    assert _listed_ids(client) == gjerdrum
    page = client.get("/patients/?page=1").content.decode()
    assert "Rune Bakken" in page and "Jens Lie" not in page
    for patient in _sample(Patient.objects.filter(municipality__number="3238"), per_municipality=10):
        for url in _patient_urls(patient):
            assert client.get(url).status_code == 404, url


def test_nurses_get_404_outside_their_centre(demo):
    agder = _client("sykepleier.agder")
    for patient in _sample(Patient.objects.filter(municipality__number__in=OVRE_ROMERIKE_CENTRE | {"3207"})):
        for url in _patient_urls(patient):
            assert agder.get(url).status_code == 404, url
    ullensaker = _client("sykepleier.ullensaker")
    for patient in _sample(Patient.objects.filter(municipality__number="3207"), per_municipality=10):
        for url in _patient_urls(patient):
            assert ullensaker.get(url).status_code == 404, url
    centre_patients = Patient.objects.filter(municipality__number__in=OVRE_ROMERIKE_CENTRE)
    assert _listed_ids(ullensaker) == {str(p.pk) for p in centre_patients}


def test_the_fastlege_sees_exactly_his_patients_across_municipalities(demo):
    berg = User.objects.get(username="fastlege.berg")
    own = Patient.objects.filter(gp=berg)
    assert own.values("municipality").distinct().count() >= 3
    client = _client("fastlege.berg")
    assert _listed_ids(client) == {str(p.pk) for p in own}
    other = Patient.objects.exclude(gp=berg).first()
    assert client.get(f"/patients/{other.pk}/").status_code == 404


def test_finance_gets_404_on_every_patient_url(demo):
    client = _client("okonomi.ullensaker")
    assert _listed_ids(client) == set()
    for patient in Patient.objects.filter(name__in=["Olav Haugen", "Vigdis Strand", "Tove Nilsen"]):
        for url in _patient_urls(patient):
            assert client.get(url).status_code == 404, url
    assert client.get("/billing/").status_code == 200
    # Finance in Gjerdrum kommune (the next issue's billing): not even its own kommune's patients.
    gjerdrum = _client("okonomi.gjerdrum")
    assert Membership.objects.filter(user__username="okonomi.gjerdrum", role="finance", municipality__number="3230")
    assert _listed_ids(gjerdrum) == set()
    assert _listed_ids(gjerdrum, "/api/v1/referrals/") == set()
    for patient in Patient.objects.filter(name="Rune Bakken"):
        for url in _patient_urls(patient):
            assert gjerdrum.get(url).status_code == 404, url


def test_the_leder_sees_the_centres_figures_and_no_patient(demo):
    client = _client("leder.ullensaker")
    assert _listed_ids(client) == set()
    for patient in Patient.objects.filter(name__in=["Olav Haugen", "Rune Bakken"]):
        for url in _patient_urls(patient):
            assert client.get(url).status_code == 404, url
    body = client.get("/api/v1/insight/").json()
    assert body["centre"]["slug"] == "ovre-romerike" and body["whole_centre"] is True
    assert body["capacity"]["active_patients"] > 0 and body["capacity"]["nurse_fte"] > 0


def test_the_gevinst_has_the_named_patients_registrations_and_figures_to_show(demo):
    named = ServiceUse.objects.filter(patient__name__in=[n.name for n in NAMED_PATIENTS])
    assert set(named.values_list("patient__name", "kind")) == {
        (n.name, kind) for n in NAMED_PATIENTS for kind in ("baseline", "month_6")}  # fmt: skip
    centre = _client("leder.ullensaker").get("/api/v1/insight/gevinst/").json()
    assert centre["service_use"]["before"]["patients"] >= 20 and centre["service_use"]["after"]["patients"] >= 20
    assert centre["service_use"]["after"]["home_nursing_hours_per_week"] is not None
    assert centre["survey"]["safer"]["yes"] == 12 and centre["survey"]["health"]["better_share"] is not None
    ullensaker = _client("sykepleier.ullensaker").get("/api/v1/insight/gevinst/?municipality=3209").json()
    assert ullensaker["service_use"]["before"]["patients"] >= 10
    assert ullensaker["service_use"]["after"]["bed_days"] is not None and ullensaker["survey"]["joy"]["more"] == 6
    assert ullensaker["comparison"]["before"]["patients"] == 6
    # Gjerdrum has two: its koordinator sees the rule at work.
    gjerdrum = _client("koordinator.gjerdrum").get("/api/v1/insight/gevinst/").json()
    assert gjerdrum["service_use"]["before"]["patients"] is None
    assert gjerdrum["service_use"]["suppressed"]["before.patients"] == "færre enn 5 personer"
    page = _client("koordinator.gjerdrum").get("/innsikt/gevinst/")
    assert page.status_code == 200 and "Tjenestebruk per pasientmåned" in page.content.decode()


def test_the_named_patients_have_the_documented_approved_plans(demo):
    from ebp.selectors import active_version, thresholds_for

    def bounds(name, mtype):
        return thresholds_for(Patient.objects.get(name=name)).content.thresholds[mtype]["value"]

    olav_spo2, olav_pulse = bounds("Olav Haugen", "spo2"), bounds("Olav Haugen", "pulse")
    assert (olav_spo2.red_below, olav_spo2.yellow_below) == (88, 92)
    assert (olav_pulse.yellow_above, olav_pulse.red_above) == (100, 120)
    rune = bounds("Rune Bakken", "spo2")
    assert (rune.red_below, rune.yellow_below) == (86, 90)
    vigdis = thresholds_for(Patient.objects.get(name="Vigdis Strand"))
    assert vigdis.approved
    assert [(r.kind, r.kg, r.days, r.colour) for r in vigdis.content.trend_rules] == [("weight_gain", 2, 3, "red")]
    assert active_version(Patient.objects.get(name="Jens Lie")) is not None
    from ebp.selectors import approval_queue

    # Jens's second version, and a Gjerdrum patient's first plan («utkast hos fastlegen» on /followup/)
    queue = [v.plan.patient.name for v in approval_queue(User.objects.get(username="fastlege.berg"))]
    assert queue == ["Jens Lie", "Ragnhild Iversen"]
    tove = Patient.objects.get(name="Tove Nilsen")
    assert active_version(tove) is None and not thresholds_for(tove).approved
    berg = User.objects.get(username="fastlege.berg")
    assert {active_version(Patient.objects.get(name=n)).decided_by for n in ("Olav Haugen", "Rune Bakken")} == {berg}


def test_the_demo_worklist_has_the_documented_alerts(demo):
    from triage.models import Alert

    open_alerts = {a.patient.name: a for a in Alert.objects.filter(status="open").select_related("patient")}
    assert open_alerts["Olav Haugen"].colour == "red"
    assert open_alerts["Olav Haugen"].reason.startswith("SpO2 87 % – rød under 88")
    assert open_alerts["Rune Bakken"].colour == "yellow"  # 89: yellow under 90, red under 86
    assert open_alerts["Tove Nilsen"].without_plan and open_alerts["Tove Nilsen"].colour == "red"
    assert open_alerts["Vigdis Strand"].colour == "red" and "økning" in open_alerts["Vigdis Strand"].reason
    assert "Jens Lie" not in open_alerts
    before = Alert.objects.count()
    seed_demo()
    assert Alert.objects.count() == before


def test_every_demo_patient_has_a_start_and_the_named_ones_six_months_back(demo):
    starts = StatusChange.objects.filter(event="started")
    # Every patient is started, except the granted candidates: they wait for samtykke or oppstart (four,
    # and Gjerdrum's own record of a Nannestad patient whose move waits for Nannestad's answer).
    waiting = Patient.objects.filter(referrals__status="granted")
    assert waiting.count() == 5 and not starts.filter(patient__in=waiting).exists()
    assert starts.count() == Patient.objects.count() - 5 == Patient.objects.filter(status_changes__in=starts).count()
    named = [n.name for n in NAMED_PATIENTS]
    six_months_ago = timezone.localdate() - datetime.timedelta(days=183)
    by_name = dict(starts.filter(patient__name__in=named).values_list("patient__name", "effective_date"))
    assert by_name == dict.fromkeys(named, six_months_ago)
    seed_demo()  # idempotent: a second run starts nobody again
    assert StatusChange.objects.filter(event="started").count() == Patient.objects.count() - 5


def _events(rows) -> list[str]:
    return [row.event for row in rows.order_by("effective_date", "at", "pk")]


def test_it_gives_gjerdrum_and_nannestad_a_forlop_in_every_stage(demo):
    """Candidates in every stage before oppstart, a pause and an ending, through the real services."""
    today = timezone.localdate()
    nurse = User.objects.get(username="sykepleier.ullensaker")
    for number, username in (("3230", "koordinator.gjerdrum"), ("3238", "koordinator.nannestad")):
        koordinator = User.objects.get(username=username)
        # The candidates (the granted move is test_a_move_waits_for_nannestads_answer's).
        moving = MoveNotice.objects.values("incoming_patient")
        named = [c.name for c in CANDIDATES if c.municipality == number]
        referrals = Referral.objects.filter(municipality__number=number, name__in=named).exclude(patient__in=moving)
        assert sorted(referrals.values_list("status", flat=True)) == [
            "assessed", "granted", "granted", "received", "refused", "refused"
        ]  # fmt: skip
        assert all(int(r.national_id[2:4]) > 80 for r in referrals), "synthetic national ids only"
        # Everything was done by the demo logins, and each referral has its history.
        rows = StatusChange.objects.filter(referral__in=referrals)
        assert set(rows.values_list("by__username", flat=True)) <= {username, "sykepleier.ullensaker"}
        assert rows.filter(by=koordinator).exists() and rows.filter(by=nurse).exists()
        assert _events(rows.filter(referral=referrals.get(status="received"))) == ["received"]
        assert _events(rows.filter(referral=referrals.get(status="assessed"))) == ["received", "assessed"]
        assert all(r.status_changes.get(event="received").effective_date < today for r in referrals)
        # Granted: one waits for samtykke, one has it and waits for oppstart.
        granted = list(referrals.filter(status="granted"))
        assert sorted(consent_given(r.patient) for r in granted) == [False, True]
        assert all(_events(rows.filter(referral=r)) == ["received", "assessed", "granted"] for r in granted)
        assert not StatusChange.objects.filter(patient__in=[r.patient for r in granted], event="started").exists()
        # Refused with a begrunnelse (the refused row says it too), one of them with a klage pending.
        refusals = Decision.objects.filter(referral__in=referrals, outcome="refused")
        assert refusals.count() == 2
        for decision in refusals:
            assert len(decision.reason) > 20
            assert decision.referral.status_changes.get(event="refused").note == decision.reason
        assert list(Appeal.objects.filter(decision__in=refusals).values_list("outcome", flat=True)) == ["pending"]
        # A patient on pause («pause til …») and one ended within the last 90 days, with histories.
        paused = Patient.objects.get(municipality__number=number, status="paused")
        assert paused.status_until > today and _events(paused.status_changes) == ["started", "paused"]
        ended = Patient.objects.get(municipality__number=number, status="ended", starts__isnull=True)
        assert _events(ended.status_changes) == ["started", "paused", "resumed", "ended"]
        end = ended.status_changes.get(event="ended")
        assert today - datetime.timedelta(days=90) <= end.effective_date < today and end.end_reason
        assert not ended.device_loans.filter(returned_on__isnull=True).exists(), "the kit came back at the end"
        assert paused.device_loans.filter(returned_on__isnull=True).exists()
        # The koordinator lists exactly the kommune's referrals.
        every = Referral.objects.filter(municipality__number=number)
        assert _listed_ids(_client(username), "/api/v1/referrals/") == {str(r.pk) for r in every}


def test_it_lends_the_named_patients_kits_with_serials_and_takes_runes_readings_by_serial(demo):
    from measurements.models import Reading

    ovre, agder = Centre.objects.get(slug="ovre-romerike"), Centre.objects.get(slug="agder")
    for centre, prefix in ((ovre, "OR"), (agder, "AG")):
        by_type = dict(Device.objects.filter(centre=centre).values_list("type").annotate(n=Count("id")))
        assert len(by_type) >= 6 and min(by_type.values()) >= 24, by_type
        assert not Device.objects.filter(centre=centre).exclude(serial__startswith=f"{prefix}-").exists()
        assert set(Kit.objects.filter(centre=centre).values_list("name", flat=True)) >= {"KOLS", "Hjertesvikt"}
    assert Device.objects.get(centre=ovre, serial="OR-PO-0001").type == "pulsoksymeter"

    def lent(name):
        loans = DeviceLoan.objects.filter(patient__name=name, returned_on__isnull=True).select_related("device")
        return {loan.device.type: loan for loan in loans}

    six_months_ago = timezone.localdate() - datetime.timedelta(days=183)
    kols, heart = {"pulsoksymeter", "nettbrett"}, {"pulsoksymeter", "nettbrett", "vekt", "blodtrykk"}
    expected = {"Olav Haugen": heart, "Rune Bakken": kols, "Jens Lie": kols, "Tove Nilsen": kols,
                "Vigdis Strand": heart}  # fmt: skip
    for name, types in expected.items():
        loans = lent(name)
        assert set(loans) == types, name
        assert {loan.lent_on for loan in loans.values()} == {six_months_ago}, "lent on the start date"
        assert all(loan.device.state == "lent" and loan.device.serial for loan in loans.values())
    assert lent("Tove Nilsen")["pulsoksymeter"].device.serial.startswith("AG-PO-")
    assert lent("Olav Haugen")["pulsoksymeter"].device.serial == "OR-PO-0001"  # docs/demo.md's table
    assert lent("Rune Bakken")["pulsoksymeter"].device.serial == "OR-PO-0002"
    # Rune's readings were sent by his pulse oximeter's serial: they are his, within the loan.
    rune = Patient.objects.get(name="Rune Bakken")
    oximeter = lent("Rune Bakken")["pulsoksymeter"]
    assert _reading_sender(rune, "spo2") == {"device_serial": oximeter.device.serial}
    readings = Reading.objects.filter(patient=rune, type="spo2")
    assert readings.count() == 7
    assert all(timezone.localtime(r.measured_at).date() >= oximeter.lent_on for r in readings)
    assert not Reading.objects.filter(patient=rune).exclude(type="spo2").exists()


def test_the_demo_bills_runes_full_month_at_2108_kr_and_has_locked_months(demo):
    """The reference case in the demo's price model: Rune (KOLS kit, followed by the centre)
    costs 1 212 kr follow-up + 896 kr licence and equipment in a month he was active throughout."""
    month = Month.of(timezone.localdate()).previous().previous()  # Rune started six months ago
    koordinator = get_user_model().objects.get(username="koordinator.gjerdrum")
    centre = finance_view_for(get_user_model().objects.get(username="okonomi.ullensaker")).centre
    rune = next(b for b in coordinator_basis(koordinator, centre, centre.agreements.get(
        municipality__number="3230").municipality, month) if b.patient.name == "Rune Bakken")  # fmt: skip
    assert rune.active_days == month.days and rune.paused_days == 0
    assert sorted(t for t, _serial, days in rune.devices if days == month.days) == ["Nettbrett", "Pulsoksymeter"]
    model = price_model_for(centre, month)
    kit = model.equipment_ore["nettbrett"] + model.equipment_ore["pulsoksymeter"]
    assert (model.follow_up_ore, model.licence_ore + kit) == (121_200, 89_600)
    okonomi = get_user_model().objects.get(username="okonomi.gjerdrum")
    gjerdrum = visible_allocation(finance_view_for(okonomi), month).municipalities
    assert [g.municipality.name for g in gjerdrum] == ["Gjerdrum"]
    assert LockedMonth.objects.filter(centre=centre).count() == 3
    seed_demo()  # idempotent: nothing locked twice
    assert LockedMonth.objects.filter(centre=centre).count() == 3


def test_the_demo_keeps_populations_for_two_years_and_each_centres_staffing_history(demo):
    """Written by the centres' admins through tenants.reference, as a person would (audited)."""
    assert Population.objects.filter(year=2025).count() == Population.objects.filter(year=2026).count() == 10
    assert Population.objects.get(municipality__number="3230", year=2026).inhabitants == 7_500
    ovre, today = Centre.objects.get(slug="ovre-romerike"), timezone.localdate()
    assert staffing_on(ovre, today).nurse_fte == Decimal("4.6")
    assert staffing_on(ovre, today - datetime.timedelta(days=200)).nurse_fte == Decimal("3.6")
    assert list(ovre.staffing.order_by("valid_from").values_list("valid_to", flat=True))[-1] is None
    assert staffing_on(Centre.objects.get(slug="agder"), today) is not None
    assert AuditEvent.objects.filter(object_type="population", username="admin.agder").exists()


@pytest.mark.parametrize("username", ["okonomi.ullensaker", "okonomi.gjerdrum"])
def test_no_finance_answer_or_export_names_a_demo_patient(demo, username):
    """Finance sees counts, never patients: the month's API answer, the CSV and the XLSX
    (its shared strings and sheets) are searched for every demo patient's name and national id."""
    client = _client(username)
    month = Month.of(timezone.localdate()).previous().previous()  # a locked month with every stage
    texts = [
        client.get("/api/v1/billing/months/").content.decode(),
        client.get(f"/api/v1/billing/months/{month}/").content.decode(),
        client.get(f"/billing/{month}/allocation.csv").content.decode("utf-8-sig"),
    ]
    xlsx = client.get(f"/billing/{month}/allocation.xlsx").content
    with zipfile.ZipFile(io.BytesIO(xlsx)) as archive:
        texts += [archive.read(name).decode() for name in archive.namelist() if name.endswith(".xml")]
    assert "Gjerdrum" in texts[2]  # the exports are not empty
    everything = "\n".join(texts)
    for name, national_id in Patient.objects.values_list("name", "national_id"):
        assert name not in everything and national_id not in everything, name


def test_a_move_waits_for_nannestads_answer(demo):
    """The demo's «mulig flytting»: Nannestad's koordinator sees it on the board; Gjerdrum's does not."""
    [notice] = MoveNotice.objects.all()
    assert (notice.municipality.number, notice.other_municipality.number, notice.state) == ("3238", "3230", "open")
    assert Patient.objects.filter(national_id=notice.patient.national_id).count() == 2
    board = _client("koordinator.nannestad").get("/forlop/")
    assert "Mulig flytting" in board.text and notice.patient.name in board.text
    assert "Mulig flytting" not in _client("koordinator.gjerdrum").get("/forlop/").text


def test_the_call_sheet_and_the_follow_up_page_have_something_to_show(demo):
    """Gjerdrum's and Nannestad's koordinator are offered fastleger (their kommune's first), every
    patient has a phone, and the follow-up page has contacts and evaluations due, a plan at the
    fastlege's, and a patient without a fastlege flagged with the way to register one."""
    from patients.selectors import referral_fastleger
    from triage.selectors import follow_up_due, plan_missing_split

    for username, gp in (("koordinator.gjerdrum", "fastlege.berg"), ("koordinator.nannestad", "fastlege.hansen")):
        offered = [u.username for u in referral_fastleger(User.objects.get(username=username))]
        assert gp in offered, username
    assert not Patient.objects.filter(phone="").exists()
    assert all(p.phone.startswith("900 ") for p in Patient.objects.all()[:20])
    assert Patient.objects.exclude(next_of_kin="").count() > 100
    nurse = User.objects.get(username="sykepleier.ullensaker")
    due = follow_up_due(nurse)
    assert due.routine and due.evaluation
    split = plan_missing_split(nurse, municipality="3230")
    assert [p.name for p in split.at_gp] == ["Ragnhild Iversen"]
    without = Patient.objects.get(municipality__number="3230", gp__isnull=True, status="active")
    page = _client("sykepleier.ullensaker").get("/followup/?municipality=3230").content.decode()
    assert f'href="/patients/{without.pk}/fastlege/"' in page


def test_make_runs_banner_and_the_readme_name_every_demo_login(demo, capsys):
    from pathlib import Path

    from dho.run import banner

    banner()
    printed = capsys.readouterr().out
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    logins = set(User.objects.exclude(password__startswith="!").values_list("username", flat=True))
    assert len(logins) == 11
    for username in logins:
        assert f"  {username} " in printed and f"`{username}`" in readme, username


# --- the journal routes: with `make run`'s stand-ins, the demo's notes go to the JFT stand-in ---------


def _route_events():
    return AuditEvent.objects.filter(object_type="journal_route")


def test_without_the_standins_settings_the_demo_writes_no_journal_route(demo, monkeypatch):
    from journaling.models import Route

    for name in ("DHO_JFT_BASE_URL", "DHO_HELSEID_CLIENT_ID", "DHO_HELSEID_KEY_FILE"):
        monkeypatch.delenv(name, raising=False)
    assert not Route.objects.exists()  # seeded without them (`seed_demo` in the suite)
    seed_demo()
    assert not Route.objects.exists() and not _route_events().exists()


def test_with_make_runs_standins_every_demo_kommune_sends_to_the_jft_standin_and_olav_is_journaled(
    demo, standins, monkeypatch
):
    """What `make run` gives seed_demo when it started the stand-ins (dho.embedded.standins_start):
    every demo kommune's route to the JFT stand-in, set by its centre's admin and audited, with the
    key's place and never the key; a second run writes nothing; and Olav's red alert, handled by the
    centre's nurse, is sent and comes back «Journalført» from the stand-in's EPJ."""
    import requests

    from dho.demo_orgnr import DEMO_ORGNR
    from journaling.models import Route

    for name, value in standins.environ().items():
        monkeypatch.setenv(name, value)
    seed_demo()
    routes = {r.municipality.number: r for r in Route.objects.select_related("municipality", "updated_by")}
    assert set(routes) == {number for number, *_ in MUNICIPALITIES} == set(DEMO_ORGNR)
    assert {n: r.orgnr for n, r in routes.items()} == DEMO_ORGNR
    assert len(set(DEMO_ORGNR.values())) == len(DEMO_ORGNR), "a distinct organisation per kommune"
    for number, route in routes.items():
        assert (route.kind, route.base_url, route.client_id) == (
            "jft",
            standins.jft_base_url,
            standins.client.client_id,
        )
        assert route.key_reference == str(standins.client.key_file) and "{" not in route.key_reference
        assert route.updated_by.username == ("admin.agder" if number.startswith("42") else "admin.ullensaker")
    assert _route_events().count() == 10
    seed_demo()  # idempotent: the same settings write nothing
    assert _route_events().count() == 10
    monkeypatch.delenv("DHO_JFT_BASE_URL")
    seed_demo()  # without the stand-ins (another terminal beside make run): the routes stay as they are
    assert Route.objects.filter(kind="jft").count() == 10 and _route_events().count() == 10
    monkeypatch.setenv("DHO_JFT_BASE_URL", standins.jft_base_url)

    # The stand-in of the suite registers the demo client for Ullensaker's number (312229544) alone.
    assert DEMO_ORGNR["3209"] == standins.client.organisations[0]

    def config(**values):
        response = requests.post(f"{standins.jft_base_url}/_standin/config", json=values,
                                 verify=str(standins.ca_file), timeout=10)  # fmt: skip
        response.raise_for_status()
        return response.json()

    before = config()
    config(ack_delay=0.5, epj=True)
    try:
        _olav_handled_and_journaled()
    finally:
        config(**before)


def _olav_handled_and_journaled():
    import time

    from journaling import services as journaling
    from journaling import tasks
    from journaling.models import Delivery, DeliveryState
    from triage import services as triage
    from triage.models import Alert

    nurse = User.objects.get(username="sykepleier.ullensaker")
    alert = Alert.objects.get(patient__name="Olav Haugen", status="open")
    triage.alert_handle(alert=alert, user=nurse, actions=["called_reached", "advised_ebp"], note="Ringte Olav.")
    delivery = Delivery.objects.get(journal_note__alert=alert)
    assert tasks.send_delivery(delivery.pk) == DeliveryState.SENT
    deadline = time.monotonic() + 10
    while (row := journaling.delivery_poll(delivery.pk)) is not None and row.state != DeliveryState.JOURNALED:
        assert time.monotonic() < deadline, row.state
        time.sleep(0.2)
    delivery.refresh_from_db()
    assert delivery.state == DeliveryState.JOURNALED and delivery.get_state_display() == "Journalført"


def test_after_make_run_restarts_a_note_sent_before_is_followed_at_the_standins_new_address(
    demo, standins, monkeypatch
):
    """`make run` again: the JFT stand-in keeps its events (dho/dev/jft.py) but listens on a new port.
    seed_demo points the routes at it and moves the receipts of the notes on their way there
    (journaling.services.status_urls_move), so Olav's note sent before the restart ends «Journalført»
    instead of staying «Sendt» until the overdue flag."""
    import requests

    from journaling import services as journaling
    from journaling import tasks
    from journaling.models import Delivery, DeliveryState, Route
    from triage import services as triage
    from triage.models import Alert

    for name, value in standins.environ().items():
        monkeypatch.setenv(name, value)

    def config(**values):
        response = requests.post(f"{standins.jft_base_url}/_standin/config", json=values,
                                 verify=str(standins.ca_file), timeout=10)  # fmt: skip
        response.raise_for_status()
        return response.json()

    seed_demo()
    before = config()
    config(epj=False)  # the EPJ has not read it when make run stops
    try:
        nurse = User.objects.get(username="sykepleier.ullensaker")
        alert = Alert.objects.get(patient__name="Olav Haugen", status="open")
        triage.alert_handle(alert=alert, user=nurse, actions=["called_reached"], note="Ringte Olav.")
        delivery = Delivery.objects.get(journal_note__alert=alert)
        assert tasks.send_delivery(delivery.pk) == DeliveryState.SENT
        # As the previous run left it: the routes and the receipt at that run's port.
        old, new = "https://127.0.0.1:9", standins.jft_base_url
        Route.objects.update(base_url=old)
        Delivery.objects.filter(pk=delivery.pk).update(status_url=Delivery.objects.get(pk=delivery.pk).status_url
                                                       .replace(new, old))  # fmt: skip
        row = journaling.delivery_poll(delivery.pk)
        assert row.state == DeliveryState.SENT and "Status kunne ikke hentes" in row.last_error

        config(epj=True, ack_delay=0)
        seed_demo()  # make run's seed with the stand-ins' new address
        row = Delivery.objects.get(pk=delivery.pk)
        assert row.status_url.startswith(f"{new}/v1/Bundle/") and set(
            Route.objects.values_list("base_url", flat=True)
        ) == {new}
        assert journaling.delivery_poll(delivery.pk).state == DeliveryState.JOURNALED
    finally:
        config(**before)


# --- the year of history (dho/demo_history.py): Innsikt has a story to tell ----------------------


def _year_period():
    from insight.periods import period_parse

    return period_parse(today=timezone.localdate())  # the last twelve months, Innsikt's default


def test_the_year_grows_month_by_month_through_every_step_of_the_forlop(demo):
    """The year's forløp, made through the services on the demo's clock: more oppstarter in its last
    quarter than in its first, refusals with a klage decided, endings with their reasons, and every
    step dated the day it was made (the vedtak's own stamp included)."""
    from patients.models import Start

    today = timezone.localdate()
    period = _year_period()
    starts = Start.objects.filter(started_on__gte=period.first)
    first = starts.filter(started_on__lt=period.first + datetime.timedelta(days=91)).count()
    last = starts.filter(started_on__gt=today - datetime.timedelta(days=91)).count()
    assert last > first > 0, (first, last)
    assert starts.values("municipality").distinct().count() >= 6
    for start in starts.select_related("referral"):
        referral = start.referral
        steps = dict(referral.status_changes.values_list("event", "effective_date"))
        consent = start.patient.consents.get()
        assert steps["received"] < steps["assessed"] < steps["granted"] <= consent.given_on < start.started_on
        decision = Decision.objects.get(referral=referral)
        assert timezone.localtime(decision.decided_at).date() == steps["granted"], "the vedtak stamped that day"
        assert start.patient.device_loans.filter(lent_on=start.started_on).exists(), "the kit lent at oppstart"
    refused = Decision.objects.filter(outcome="refused").exclude(referral__name__in=[c.name for c in CANDIDATES])
    decided = Appeal.objects.filter(decision__in=refused, outcome="upheld")
    assert refused.count() >= 3 and decided.count() >= 1
    assert all(a.received_on >= timezone.localtime(a.decision.decided_at).date() for a in decided)
    ended = StatusChange.objects.filter(event="ended", patient__starts__isnull=False)
    assert ended.values("end_reason").distinct().count() >= 3
    for change in ended:
        assert not change.patient.device_loans.filter(returned_on__isnull=True).exists(), "the kit came back"


def test_the_year_has_readings_and_alerts_handled_by_the_nurses_inside_and_outside_opening_hours(demo):
    from measurements.models import Reading
    from triage.models import Alert, AlertEvent
    from triage.opening_hours import OpeningHours

    period = _year_period()
    alerts = Alert.objects.filter(opened_at__date__gte=period.first, patient__starts__isnull=False)
    handled = alerts.filter(handled_at__isnull=False).select_related("municipality")
    assert handled.count() >= 40
    assert Reading.objects.filter(patient__starts__isnull=False).count() > 5_000
    hours = OpeningHours()  # the demo centres keep the default hours
    opened = [a.opened_at for a in handled]
    assert any(hours.is_open(at) for at in opened) and any(not hours.is_open(at) for at in opened)
    for alert in handled:
        assert alert.opened_at < alert.handled_at and alert.handled_by.username.startswith("sykepleier.")
        # Handled while the centre was open: what came in after closing waited for the morning.
        assert hours.is_open(alert.handled_at), alert.handled_at
    events = AlertEvent.objects.filter(alert__in=alerts)
    assert events.filter(kind="not_reached").exists() and events.filter(kind="taken").exists()


def _alerts_per_patient_week(centre) -> dict[str, float]:
    """Each kommune's alerts per patient-week over the year, from the rows by insight's own figures
    (before the small-cell rule, which is not what this asks about)."""
    from insight.figures import area_figures
    from insight.selectors import rows_for

    period = _year_period()
    ids = {m.pk: m.number for m in Municipality.objects.filter(
        pk__in=[centre.host_id, *centre.agreements.values_list("municipality_id", flat=True)])}  # fmt: skip
    rows = rows_for(centre, ids, period, whole_centre=False, sections={"alarm_burden"})
    return {number: area_figures(rows.only(frozenset({pk}), whole_centre=False), period.whole, ["alarm_burden"])
            ["alarm_burden"]["alerts_per_patient_week"].value or 0.0 for pk, number in ids.items()}  # fmt: skip


def test_eidsvolls_weight_rule_gives_it_the_highest_alarm_burden(demo):
    """Eidsvoll's heart patients' plans weigh against «1 kg på 2 døgn»: its alerts per patient-week are
    above every other kommune's, and the leder sees its figures on Innsikt."""
    from ebp.selectors import active_version

    eidsvoll = Patient.objects.filter(municipality__number="3240", starts__isnull=False,
                                      diagnoses__contains=["hjertesvikt"])  # fmt: skip
    assert eidsvoll.exists()
    for patient in eidsvoll:
        rules = active_version(patient).content.get("trend_rules", []) if patient.status != "ended" else None
        assert rules is None or rules == [{"kind": "weight_gain", "kg": 1, "days": 2, "colour": "yellow"}]
    burden = _alerts_per_patient_week(Centre.objects.get(slug="ovre-romerike"))
    others = {number: value for number, value in burden.items() if number != "3240"}
    assert burden["3240"] > 2 * max(others.values()), burden
    body = _client("leder.ullensaker").get("/api/v1/insight/?municipality=3240").json()
    assert body["alarm_burden"]["alerts_per_patient_week"] is not None
    assert body["alarm_burden"]["by_kind"]["measurement"]["alerts"] > 0


def test_the_named_patients_have_their_gevinst_dated_when_it_was_registered(demo):
    """The null-punkt registered in the forløp's first week and the 6 months after they ran out, for
    every named patient; the survey answers from paper on the day they were answered."""
    for named in NAMED_PATIENTS:
        rows = {u.kind: u for u in ServiceUse.objects.filter(patient__name=named.name)}
        assert set(rows) == {"baseline", "month_6"}, named.name
        started = timezone.localdate() - datetime.timedelta(days=183)
        registered = timezone.localtime(rows["baseline"].registered_at).date()
        assert started < registered <= started + datetime.timedelta(days=6)
        assert timezone.localtime(rows["month_6"].registered_at).date() >= rows["month_6"].period_to
    answers = SurveyAnswer.objects.all()
    assert answers.count() >= 12
    assert all(timezone.localtime(a.registered_at).date() == a.answered_on for a in answers)


def test_berg_has_one_hpr_number_in_helseid_and_in_his_memberships(demo):
    from dho.demo_persons import BERG_HPR, PERSONS

    [person] = [p for p in PERSONS if p[4] == "fastlege.berg"]
    assert person[1] == BERG_HPR
    memberships = Membership.objects.filter(user__username="fastlege.berg", role="gp")
    assert memberships.count() == 2 and set(memberships.values_list("hpr_number", flat=True)) == {BERG_HPR}
    from tenants.persons import user_for_person

    assert user_for_person(pid=person[0], hpr_number=BERG_HPR).user.username == "fastlege.berg"
