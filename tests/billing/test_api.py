"""The finance API: the month's shape with kroner as decimal strings, the viewer's scope, locking, audit."""

import datetime
import json

import pytest

from billing.models import PriceModel
from patients.models import StatusChange
from tenants.models import AuditEvent
from tests.factories import AgreementFactory, CentreFactory, MembershipFactory, MunicipalityFactory, UserFactory


@pytest.fixture
def priced(world):
    PriceModel.objects.create(centre=world.centres.ovre, valid_from=datetime.date(2026, 1, 1),
                              follow_up_ore=121_200, licence_ore=89_600)  # fmt: skip
    for patient in (world.p.gjerdrum, world.p.nannestad):
        StatusChange.objects.create(patient=patient, municipality=patient.municipality, event="started",
                                    effective_date=datetime.date(2026, 5, 3), by=world.u.nurse)  # fmt: skip
    return world


def test_a_month_answers_with_kommuner_lines_and_kroner_strings(priced, login):
    client = login(priced.u.finance)
    body = client.get("/api/v1/billing/months/2026-10/").json()
    assert body["month"] == "2026-10" and body["status"] == "draft"
    gjerdrum = next(m for m in body["municipalities"] if m["number"] == "3230")
    assert gjerdrum["total"] == "2108.00"
    assert [(line["component"], line["quantity"], line["unit"], line["rate"], line["amount"])
            for line in gjerdrum["lines"]] == [
        ("follow_up", "31", "pasientdøgn", "1212.00", "1212.00"),
        ("licence", "31", "pasientdøgn", "896.00", "896.00"),
    ]  # fmt: skip
    assert body["total"] == "4216.00"
    assert AuditEvent.objects.filter(object_type="billing_month", object_id="ovre/2026-10").exists()


def test_the_month_list_is_newest_first(priced, login):
    months = login(priced.u.finance).get("/api/v1/billing/months/").json()
    assert len(months) == 12
    assert months[0]["month"] > months[1]["month"]


def test_locking_by_api_then_again_is_a_400_that_says_why(priced, login):
    client = login(priced.u.finance)
    first = client.post("/api/v1/billing/months/2026-10/lock/")
    assert first.status_code == 200 and first.json()["status"] == "locked"
    again = client.post("/api/v1/billing/months/2026-10/lock/")
    assert again.status_code == 400 and again.json() == {"detail": "2026-10 er allerede låst."}
    assert client.get("/api/v1/billing/months/2026-13/").status_code == 400


def test_a_month_outside_the_billed_years_is_a_400_naming_the_month(priced, login):
    client = login(priced.u.finance)
    for month in ("0001-01", "1999-12", "9999-12"):
        for response in (client.get(f"/api/v1/billing/months/{month}/"),
                         client.post(f"/api/v1/billing/months/{month}/lock/")):  # fmt: skip
            assert response.status_code == 400, response.content
            assert response.json() == {
                "month": f"«{month}» er utenfor årene plattformen fakturerer: velg en måned fra 2000-01 til 2100-12."
            }
    assert client.get("/api/v1/billing/months/2000-01/").status_code == 200
    assert client.get("/api/v1/billing/months/2100-12/").status_code == 200


def test_a_kommunes_finance_sees_only_their_own_kommune_and_no_patient(priced, login):
    okonomi = UserFactory(username="okonomi_gjerdrum")
    MembershipFactory(user=okonomi, role="finance", municipality=priced.m.gjerdrum)
    client = login(okonomi)
    body = client.get("/api/v1/billing/months/2026-10/").json()
    assert [m["name"] for m in body["municipalities"]] == ["Gjerdrum"]
    assert body["total"] == "2108.00"
    assert client.post("/api/v1/billing/months/2026-10/lock/").status_code == 400
    text = json.dumps(client.get("/api/v1/billing/months/").json())
    for patient in vars(priced.p).values():
        assert patient.name not in text and patient.national_id not in text


@pytest.mark.parametrize("who", ["nurse", "gp", "coordinator", "specialist", "admin", "nurse_agder"])
def test_everyone_else_gets_404(priced, login, who):
    client = login(getattr(priced.u, who))
    for url in ("/api/v1/billing/months/", "/api/v1/billing/months/2026-10/"):
        assert client.get(url).status_code == 404, url
    assert client.post("/api/v1/billing/months/2026-10/lock/").status_code == 404


def test_another_centres_finance_gets_404_for_this_centre(priced, login):
    other = CentreFactory(name="Annet", slug="annet", host=MunicipalityFactory(number="1101", name="Eigersund"))
    AgreementFactory(centre=other, municipality=MunicipalityFactory(number="1103", name="Stavanger"))
    finance = UserFactory(username="okonomi_annet")
    MembershipFactory(user=finance, role="finance", centre=other)
    client = login(finance)
    assert client.get("/api/v1/billing/months/2026-10/?centre=ovre").status_code == 404
    assert client.post("/api/v1/billing/months/2026-10/lock/?centre=ovre").status_code == 404
    body = client.get("/api/v1/billing/months/2026-10/").json()
    assert {m["name"] for m in body["municipalities"]} <= {"Eigersund", "Stavanger"}
