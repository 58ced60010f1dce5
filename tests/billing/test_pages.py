"""Finance's pages: who sees which kommuner (a kommune's finance only their own, everyone else a 404),
the months, a month's lines and its lock with a confirmation step, the year, the price model (edited
by the centre admin only) with its simulation, and the koordinator's patient-level basis."""

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from billing.calculation import Month
from billing.models import LockedMonth, PriceModel
from billing.selectors import price_model_for
from patients.models import Device, DeviceLoan, StatusChange
from tenants.models import AuditEvent
from tenants.norwegian import kr
from tests.factories import MembershipFactory, UserFactory

OCT = "2026-10"  # 31 days, over: «today» is pinned to 23 November 2026 below
TODAY = datetime.date(2026, 11, 23)


@pytest.fixture(autouse=True)
def today(monkeypatch):
    """Pins the date the pages, selectors and services call today (the last twelve months, which
    months are over), so the figures below do not move with the calendar."""
    real = timezone.localdate
    monkeypatch.setattr(
        timezone, "localdate", lambda value=None, timezone=None: real(value, timezone) if value else TODAY
    )
    return TODAY


@pytest.fixture
def priced(world):
    """Øvre's price model from January (the seed's figures), Rune (Gjerdrum) active since May,
    Jens (Nannestad) started on 16 October, a pulse oximeter lent to Rune."""
    PriceModel.objects.create(
        centre=world.centres.ovre, valid_from=datetime.date(2026, 1, 1), follow_up_ore=121_200, licence_ore=89_600,
        equipment_ore={"pulsoksymeter": 10_000},
    )  # fmt: skip
    start(world, world.p.gjerdrum, datetime.date(2026, 5, 3))
    start(world, world.p.nannestad, datetime.date(2026, 10, 16))
    device = Device.objects.create(centre=world.centres.ovre, type="pulsoksymeter", serial="PO-77", state="lent")
    DeviceLoan.objects.create(device=device, patient=world.p.gjerdrum, municipality=world.m.gjerdrum,
                              lent_on=datetime.date(2026, 5, 3), lent_by=world.u.nurse)  # fmt: skip
    return world


def start(world, patient, day, event="started"):
    return StatusChange.objects.create(
        patient=patient, municipality=patient.municipality, event=event, effective_date=day, by=world.u.nurse
    )


@pytest.fixture
def okonomi_gjerdrum(world):
    user = UserFactory(username="okonomi.gjerdrum")
    MembershipFactory(user=user, role="finance", municipality=world.m.gjerdrum)
    return user


@pytest.fixture
def finance_agder(world):
    user = UserFactory(username="okonomi.agder")
    MembershipFactory(user=user, role="finance", centre=world.centres.agder)
    return user


def no_patient_in(world, body: str) -> None:
    for patient in vars(world.p).values():
        assert patient.name not in body and patient.national_id not in body and str(patient.pk) not in body


def finance_urls() -> list[str]:
    month = ["", "las/", "allocation.csv", "allocation.xlsx", "3230.pdf"]
    return ["/billing/", "/billing/ar/2026/", *(f"/billing/{OCT}/{rest}" for rest in month)]


# --- who sees what ----------------------------------------------------------------------------------


def test_the_centre_finance_sees_every_kommune_of_the_month_and_no_patient(priced, login):
    body = login(priced.u.finance).get(f"/billing/{OCT}/").content.decode()
    for name in ("Gjerdrum", "Nannestad"):  # the host has no patient this month (and the model no base)
        assert f">{name} <" in body
    assert kr(121_200 + 89_600 + 10_000) in body  # Rune's full month: follow-up, licence, his oximeter
    assert "Agder" not in body and "Grimstad" not in body
    no_patient_in(priced, body)


def test_a_kommunes_finance_sees_only_their_own_kommune(priced, login, okonomi_gjerdrum):
    client = login(okonomi_gjerdrum)
    for url in ("/billing/", f"/billing/{OCT}/", "/billing/ar/2026/"):
        response = client.get(url)
        assert response.status_code == 200, url
        body = response.content.decode()
        assert "Gjerdrum" in body, url
        assert "Nannestad" not in body and "Ullensaker" not in body, url
        no_patient_in(priced, body)
    assert "Lås måneden" not in client.get(f"/billing/{OCT}/").content.decode()
    assert client.get(f"/billing/{OCT}/3238.pdf").status_code == 404  # Nannestad's is not theirs


@pytest.mark.parametrize("role", ["nurse", "gp", "coordinator", "specialist", "admin", "nurse_agder"])
def test_everyone_who_is_not_finance_gets_404(priced, login, role):
    client = login(getattr(priced.u, role))
    before = AuditEvent.objects.count()
    for url in finance_urls():
        assert client.get(url).status_code == 404, f"{role} {url}"
    assert client.post(f"/billing/{OCT}/las/").status_code == 404
    assert not LockedMonth.objects.exists()
    assert AuditEvent.objects.count() == before


def test_another_centres_finance_gets_404_for_this_centre(priced, login, finance_agder):
    client = login(finance_agder)
    assert client.get(f"/billing/{OCT}/").status_code == 200  # Agder's own month
    assert "Gjerdrum" not in client.get(f"/billing/{OCT}/").content.decode()
    for url in finance_urls():
        assert client.get(url + "?centre=ovre").status_code == 404, url
    assert client.get(f"/billing/{OCT}/3230.pdf").status_code == 404  # Gjerdrum is Øvre's kommune
    assert client.post(f"/billing/{OCT}/las/?centre=ovre").status_code == 404
    assert not LockedMonth.objects.exists()


def test_the_finance_of_two_centres_picks_one(priced, login):
    MembershipFactory(user=priced.u.finance, role="finance", centre=priced.centres.agder)
    PriceModel.objects.create(centre=priced.centres.agder, valid_from=datetime.date(2026, 1, 1), licence_ore=50_000)
    start(priced, priced.p.grimstad, datetime.date(2026, 9, 1))
    client = login(priced.u.finance)
    agder = client.get(f"/billing/{OCT}/?centre=agder").content.decode()
    assert "Grimstad" in agder and "Gjerdrum" not in agder
    assert 'href="/billing/2026-10/allocation.csv?centre=agder"' in agder  # the links keep the centre
    assert client.get(f"/billing/{OCT}/?centre=nowhere").status_code == 404


def test_a_month_that_is_not_one_is_404(priced, login):
    client = login(priced.u.finance)
    assert client.get("/billing/2026-13/").status_code == 404
    assert client.get("/billing/ar/1899/").status_code == 404


# --- the landing, a month, the year ---------------------------------------------------------------


def test_the_landing_shows_twelve_months_with_status_totals_and_shares(priced, login):
    body = login(priced.u.finance).get("/billing/").content.decode()
    assert body.count('class="share-bar"') == 12
    assert "oktober 2026" in body and "desember 2025" in body and "november 2025" not in body
    # October: Rune's month plus Jens's 16 days (16–31 October) of follow-up and licence.
    jens = round(121_200 * 16 / 31) + round(89_600 * 16 / 31)
    total = 121_200 + 89_600 + 10_000 + jens
    assert kr(total) in body and kr(jens) in body
    share = f"{(121_200 + 89_600 + 10_000) * 100 / total:.1f}".replace(".", ",")
    assert f"Gjerdrum {share}\u00a0%" in body  # the bar's text alternative names each kommune's share


def test_a_month_shows_each_line_with_its_calculation(priced, login):
    body = login(priced.u.finance).get(f"/billing/{OCT}/").content.decode()
    assert "Utstyr: Pulsoksymeter" in body
    assert f"31 pasientdøgn × {kr(121_200)} ÷ 31 = {kr(121_200)}" in body
    assert f"16 pasientdøgn × {kr(121_200)} ÷ 31 = {kr(round(121_200 * 16 / 31))}" in body
    assert "Utkast" in body and "Lås måneden" in body
    assert "/billing/2026-10/3230.pdf" in body and "/billing/2026-10/allocation.xlsx" in body


def test_the_year_shows_each_kommunes_months_and_the_year_total(priced, login):
    body = login(priced.u.finance).get("/billing/ar/2026/").content.decode()
    rune = 121_200 + 89_600 + 10_000
    may = round(121_200 * 29 / 31) + round(89_600 * 29 / 31) + round(10_000 * 29 / 31)  # from 3 May
    cell = '<td class="amount">{}</td>'.format
    assert cell(kr(rune, unit=False)) in body and cell(kr(may, unit=False)) in body  # kroner said once, above
    # June to October in full, and November: the current month's draft counts to its end. The foot
    # holds each kommune's year (Gjerdrum's column) and the year's total (Jens in Nannestad too).
    foot = body[body.index("<tfoot>") :]
    assert cell(kr(may + 6 * rune, unit=False)) in foot
    assert '<td class="amount">–</td>' in body  # December has not begun


# --- locking ----------------------------------------------------------------------------------------


def test_locking_asks_first_and_says_what_it_means(priced, login):
    client = login(priced.u.finance)
    page = client.get(f"/billing/{OCT}/las/").content.decode()
    assert "endres aldri igjen" in page and "korrigeringslinje i neste åpne måned" in page
    assert not LockedMonth.objects.exists()  # the confirmation step writes nothing
    response = client.post(f"/billing/{OCT}/las/", follow=True)
    locked = LockedMonth.objects.get()
    assert locked.month == datetime.date(2026, 10, 1) and locked.locked_by == priced.u.finance
    body = response.content.decode()
    assert "Oktober 2026 er låst" in body and "Låst av" in body and "Lås måneden" not in body
    assert client.get(f"/billing/{OCT}/las/").status_code == 302  # nothing left to confirm


def test_a_refused_lock_is_shown_as_a_message(priced, login, okonomi_gjerdrum):
    response = login(okonomi_gjerdrum).post(f"/billing/{OCT}/las/", follow=True)
    assert "Bare senterets økonomiansvarlige kan låse en måned." in response.content.decode()
    response = login(priced.u.finance).post("/billing/2026-11/las/", follow=True)  # not over yet
    assert "2026-11 er ikke over ennå" in response.content.decode()
    assert not LockedMonth.objects.exists()


# --- the price model and the simulation ---------------------------------------------------------------


def price_form(prefix="", **values) -> dict:
    data = {"valid_from": "2027-01", "base": "", "base_key": "equal", "base_equal_percent": "100",
            "host_in_base": "on", "own_follow_up_in_base": "on", "follow_up": "1 212,00", "paused_percent": "0",
            "licence": "896", "start_fee": "", "action": "save", **values}  # fmt: skip
    return {(f"{prefix}-{k}" if prefix and k != "action" else k): v for k, v in data.items()}


def test_the_centre_admin_adds_a_version_in_kroner(priced, login):
    client = login(priced.u.admin)
    response = client.post("/billing/prismodell/", price_form(follow_up="1 300,50", equipment_nettbrett="200"))
    assert response.status_code == 302
    model = PriceModel.objects.get(valid_from=datetime.date(2027, 1, 1))
    assert (model.follow_up_ore, model.licence_ore, model.equipment_ore) == (130_050, 89_600, {"nettbrett": 20_000})
    assert model.created_by == priced.u.admin
    assert "Januar 2027" in client.get("/billing/prismodell/").content.decode()


def test_a_wrong_amount_is_shown_by_its_field_in_norwegian(priced, login):
    client = login(priced.u.admin)
    body = client.post("/billing/prismodell/", price_form(follow_up="12,345", licence="mye")).content.decode()
    assert "«12,345»: beløp har høyst to desimaler (øre)." in body
    assert "«mye» er ikke et beløp i kroner" in body
    assert 'id="id_follow_up_error"' in body
    assert not PriceModel.objects.filter(valid_from=datetime.date(2027, 1, 1)).exists()


def test_a_version_in_a_locked_month_is_refused_above_the_form(priced, login):
    login(priced.u.finance).post(f"/billing/{OCT}/las/")
    body = login(priced.u.admin).post("/billing/prismodell/", price_form(valid_from="2026-10")).content.decode()
    assert "2026-10 eller en senere måned er låst" in body
    assert PriceModel.objects.count() == 1


def test_finance_reads_the_price_model_but_may_not_change_it(priced, login, okonomi_gjerdrum):
    for user in (priced.u.finance, okonomi_gjerdrum):
        client = login(user)
        body = client.get("/billing/prismodell/").content.decode()
        assert "Januar 2026" in body and kr(121_200) in body and "Ny versjon" not in body
        assert client.post("/billing/prismodell/", price_form()).status_code == 403
    assert PriceModel.objects.count() == 1


@pytest.mark.parametrize("role", ["nurse", "gp", "coordinator", "specialist"])
def test_the_price_model_is_404_for_the_others(priced, login, role):
    client = login(getattr(priced.u, role))
    assert client.get("/billing/prismodell/").status_code == 404
    assert client.post("/billing/prismodell/", price_form(action="simulate")).status_code == 404


def test_the_simulation_shows_each_kommune_under_both_models(priced, login):
    client = login(priced.u.finance)
    data = price_form("sim", valid_from=OCT, follow_up="1 500", licence="896", action="simulate")
    response = client.post("/billing/prismodell/", data)
    assert response.status_code == 200
    assert price_model_for(priced.centres.ovre, Month.parse(OCT)).follow_up_ore == 121_200  # never in effect
    body = response.content.decode()
    # Gjerdrum: Rune's full month; the draft has no equipment price, so his oximeter is not charged.
    now, then = 121_200 + 89_600 + 10_000, 150_000 + 89_600
    assert f'<td class="amount">{kr(now)}</td><td class="amount">{kr(then)}</td>' in body
    assert f"+{kr(then - now)}" in body
    jens_now = round(121_200 * 16 / 31) + round(89_600 * 16 / 31)
    jens_then = round(150_000 * 16 / 31) + round(89_600 * 16 / 31)
    assert f'{kr(jens_now)}</td><td class="amount">{kr(jens_then)}' in body
    no_patient_in(priced, body)


def test_a_kommunes_finance_simulates_on_their_own_kommune_only(priced, login, okonomi_gjerdrum):
    client = login(okonomi_gjerdrum)
    body = client.post("/billing/prismodell/", price_form("sim", valid_from=OCT, action="simulate")).content.decode()
    assert "oktober 2026: dagens modell og utkastet" in body
    assert "Gjerdrum" in body and "Nannestad" not in body


def test_a_simulation_needs_a_month_that_is_over(priced, login):
    data = price_form("sim", valid_from="2026-11", action="simulate")
    body = login(priced.u.finance).post("/billing/prismodell/", data).content.decode()
    assert "2026-11 er ikke over ennå" in body
    assert PriceModel.objects.count() == 1


def test_a_month_outside_the_billed_years_is_an_error_by_its_field(priced, login):
    for month in ("9999-12", "0001-01"):
        data = price_form("sim", valid_from=month, action="simulate")
        response = login(priced.u.finance).post("/billing/prismodell/", data)
        assert response.status_code == 200
        message = f"«{month}» er utenfor årene plattformen fakturerer: velg en måned fra 2000-01 til 2100-12."
        assert f'id="id_sim-valid_from_error">{message}' in response.content.decode()
        saved = login(priced.u.admin).post("/billing/prismodell/", price_form(valid_from=month))
        assert saved.status_code == 200 and f'id="id_valid_from_error">{message}' in saved.content.decode()
    assert PriceModel.objects.count() == 1


@pytest.mark.parametrize("who", ["finance", "okonomi_gjerdrum", "admin"])
def test_it_computes_a_simulation_and_writes_no_row(priced, login, okonomi_gjerdrum, who):
    user = okonomi_gjerdrum if who == "okonomi_gjerdrum" else getattr(priced.u, who)
    client = login(user)
    client.get("/billing/prismodell/")  # the session is written before, not by, the simulation
    before = PriceModel.objects.count()
    data = price_form("sim", valid_from=OCT, follow_up="1 500", action="simulate")
    with CaptureQueriesContext(connection) as queries:
        body = client.post("/billing/prismodell/", data).content.decode()
    assert "oktober 2026: dagens modell og utkastet" in body and kr(150_000 + 89_600) in body
    writes = [q["sql"] for q in queries if q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))]
    assert writes == []
    assert PriceModel.objects.count() == before == 1


# --- the koordinator's basis ------------------------------------------------------------------------


def test_the_koordinator_sees_the_patients_behind_their_kommunes_lines(priced, login):
    client = login(priced.u.coordinator)
    before = AuditEvent.objects.count()
    body = client.get(f"/billing/{OCT}/3230/grunnlag/").content.decode()
    assert "Rune Gjerdrum" in body and "PO-77" in body and "Jens Nannestad" not in body
    assert '<td class="amount">31</td>' in body
    event = AuditEvent.objects.get(pk__gt=0, object_type="billing_basis", patient_id__isnull=False)
    assert event.patient_id == priced.p.gjerdrum.pk and event.action == "view"
    assert AuditEvent.objects.count() == before + 2  # and the list's own event
    assert client.get("/billing/grunnlag/").url == "/billing/2026-10/3230/grunnlag/"


@pytest.mark.parametrize("role", ["nurse", "gp", "finance", "admin", "specialist"])
def test_the_basis_is_404_for_everyone_but_the_kommunes_koordinator(priced, login, role):
    client = login(getattr(priced.u, role))
    assert client.get(f"/billing/{OCT}/3230/grunnlag/").status_code == 404
    assert client.get("/billing/grunnlag/").status_code == 404


def test_the_koordinator_gets_404_for_another_kommunes_basis(priced, login):
    client = login(priced.u.coordinator)
    for number in ("3238", "3209", "4202", "9999"):
        assert client.get(f"/billing/{OCT}/{number}/grunnlag/").status_code == 404
    assert not AuditEvent.objects.filter(object_type="billing_basis").exists()


# --- a session that acts for one of several organisations («Velg virksomhet») ----------------------


def _acts_for(client, kind: str, pk: int) -> None:
    assert client.post("/virksomhet/", {"organisation": f"{kind}:{pk}"}).status_code == 302


def test_the_basis_follows_the_organisation_the_session_acts_for(priced, login):
    """A nurse at Øvre who is Grimstad's koordinator too gets Grimstad's basis only while acting for Grimstad."""
    MembershipFactory(user=priced.u.nurse, role="coordinator", municipality=priced.m.grimstad)
    client = login(priced.u.nurse)
    _acts_for(client, "centre", priced.centres.ovre.pk)
    assert client.get(f"/billing/{OCT}/4202/grunnlag/").status_code == 404
    assert client.get("/billing/grunnlag/").status_code == 404
    assert not AuditEvent.objects.filter(object_type="billing_basis").exists()
    _acts_for(client, "municipality", priced.m.grimstad.pk)
    assert client.get(f"/billing/{OCT}/4202/grunnlag/").status_code == 200
    assert client.get("/billing/grunnlag/").url == f"/billing/{OCT}/4202/grunnlag/"


def test_finance_and_the_price_model_follow_the_organisation_the_session_acts_for(priced, login):
    """Finance at Øvre and in Grimstad, and Øvre's admin: acting for Grimstad, Øvre's months and its
    price model are 404; acting for Øvre, Grimstad's (Agder's) months are."""
    user = priced.u.finance
    MembershipFactory(user=user, role="finance", municipality=priced.m.grimstad)
    MembershipFactory(user=user, role="admin", centre=priced.centres.ovre)
    client = login(user)
    _acts_for(client, "municipality", priced.m.grimstad.pk)
    assert client.get(f"/billing/{OCT}/?centre=agder").status_code == 200
    for url in finance_urls():
        assert client.get(url + "?centre=ovre").status_code == 404, url
    assert client.get("/billing/prismodell/?centre=ovre").status_code == 404
    _acts_for(client, "centre", priced.centres.ovre.pk)
    assert client.get(f"/billing/{OCT}/?centre=ovre").status_code == 200
    assert client.get(f"/billing/{OCT}/?centre=agder").status_code == 404
    assert "Lagre versjonen" in client.get("/billing/prismodell/?centre=ovre").content.decode()
