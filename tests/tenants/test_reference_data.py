"""The reference data the centre's admin keeps: innbyggertall per kommune and year (one figure, a second
set corrects it, audited before → after; a CSV from SSB with good and bad lines) and the centre's nurse
staffing per period (never overlapping). Only the centre's admin writes, for its own centre and the
kommuner it serves: the services refuse anyone else, the API answers 403 for a wrong role and 404
outside the admin's centre, and the admin pages are scoped the same way."""

import datetime
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import IntegrityError, transaction

from tenants.models import AuditEvent, Population, Staffing
from tenants.reference import (
    ReferenceAdminRequired,
    ReferenceRefused,
    population_set,
    populations_import_csv,
    staffing_end,
    staffing_save,
)
from tenants.selectors import populations_for, staffing_between, staffing_on
from tests.factories import MembershipFactory, UserFactory

JAN = datetime.date(2026, 1, 1)
NBSP = "\u00a0"


@pytest.fixture
def agder_admin(world):
    admin = UserFactory(username="admin_agder", is_staff=True)
    MembershipFactory(user=admin, role="admin", centre=world.centres.agder)
    return admin


def _events(object_type: str) -> list[tuple[str, str, int | None]]:
    events = AuditEvent.objects.filter(object_type=object_type).order_by("pk")
    return [(e.action, e.object_id, e.municipality_id) for e in events]


# --- innbyggertall ---------------------------------------------------------------------------------


def test_a_figure_is_set_once_per_year_and_a_second_set_corrects_it_audited_before_and_after(world):
    admin, gjerdrum = world.u.admin, world.m.gjerdrum
    first = population_set(municipality=gjerdrum, year=2026, population=7_400, user=admin)
    assert first.created and first.changed
    corrected = population_set(municipality=gjerdrum, year=2026, population=7_512, user=admin)
    assert not corrected.created and corrected.changed and corrected.row.pk == first.row.pk
    again = population_set(municipality=gjerdrum, year=2026, population=7_512, user=admin)
    assert not again.changed  # the same figure writes nothing (and billing sees no change)
    assert Population.objects.filter(municipality=gjerdrum).count() == 1
    assert _events("population") == [
        ("create", "3230/2026: –→7400", gjerdrum.pk),
        ("update", "3230/2026: 7400→7512", gjerdrum.pk),
    ]
    assert AuditEvent.objects.filter(object_type="population").first().role == "admin"


def test_billing_reads_the_year_of_the_month_else_the_latest_before_else_the_register(world):
    admin, m = world.u.admin, world.m
    population_set(municipality=m.gjerdrum, year=2025, population=7_300, user=admin)
    population_set(municipality=m.gjerdrum, year=2026, population=7_512, user=admin)
    population_set(municipality=m.nannestad, year=2024, population=14_900, user=admin)
    found = populations_for([m.gjerdrum.pk, m.nannestad.pk, m.ullensaker.pk], 2026)
    assert found == {m.gjerdrum.pk: (7_512, 2026), m.nannestad.pk: (14_900, 2024), m.ullensaker.pk: (42_000, None)}
    assert populations_for([m.gjerdrum.pk], 2025) == {m.gjerdrum.pk: (7_300, 2025)}


@pytest.mark.parametrize(
    ("year", "population", "says"),
    [(2026, 0, "Innbyggertallet må være et helt tall fra 1"), (1850, 7_000, "Året må være et årstall mellom 1900"),
     (2026, 20_000_000, "Innbyggertallet må være")],
)  # fmt: skip
def test_a_figure_that_cannot_be_is_refused_saying_what_was_wrong(world, year, population, says):
    with pytest.raises(ReferenceRefused, match=says):
        population_set(municipality=world.m.gjerdrum, year=year, population=population, user=world.u.admin)
    assert not Population.objects.exists()


def test_only_the_admin_of_a_centre_that_serves_the_kommune_sets_its_figure(world, agder_admin):
    for user in (world.u.nurse, world.u.finance, world.u.coordinator):
        with pytest.raises(ReferenceAdminRequired, match="Bare senterets administrator"):
            population_set(municipality=world.m.gjerdrum, year=2026, population=7_500, user=user)
    with pytest.raises(ReferenceAdminRequired, match="Grimstad er ikke vertskommune eller samarbeidskommune"):
        population_set(municipality=world.m.grimstad, year=2026, population=24_500, user=world.u.admin)
    # The host and a kommune that follows up its own patients are the centre's too.
    population_set(municipality=world.m.ullensaker, year=2026, population=42_000, user=world.u.admin)
    population_set(municipality=world.m.nordrefollo, year=2026, population=62_000, user=world.u.admin)
    population_set(municipality=world.m.grimstad, year=2026, population=24_500, user=agder_admin)
    assert Population.objects.count() == 3


CSV = (
    "\ufeffkommunenummer;år;innbyggertall\n"
    "3230;2026;7 512\n"  # 2: a space between the thousands
    f"3238;2026;15{NBSP}600\n"  # 3: a no-break space (Excel)
    "4202;2026;24 500\n"  # 4: Agder's kommune: not Øvre's
    "3209;2026;42x00\n"  # 5: not a number
    "\n"  # 6: empty, skipped
    "32O9;2026;42 000\n"  # 7: the letter O in the kommunenummer
    "3207;26x;62 000\n"  # 8: not a year
    "3230;2026;7 600\n"  # 9: the same kommune and year again
    "3207;2026\n"  # 10: a column missing
    '"3209 Ullensaker";2025;"42.100"\n'  # 11: SSB's «number name», quoted, a dot between thousands
)


def test_a_csv_file_sets_its_valid_lines_and_says_of_each_bad_one_where_and_what(world):
    population_set(municipality=world.m.gjerdrum, year=2026, population=7_400, user=world.u.admin)
    results = populations_import_csv(text=CSV, user=world.u.admin)
    by_line = {r.line: r for r in results}
    assert {n: r.status for n, r in by_line.items()} == {
        2: "updated", 3: "created", 4: "rejected", 5: "rejected", 7: "rejected", 8: "rejected", 9: "rejected",
        10: "rejected", 11: "created",
    }  # fmt: skip
    assert (by_line[4].column, by_line[5].column, by_line[7].column, by_line[8].column) == (1, 3, 1, 2)
    assert by_line[4].where == "linje 4, kolonne 1 (kommunenummer)"
    assert "kommune 4202 er ikke vertskommune eller samarbeidskommune" in by_line[4].reason
    assert "«42x00» er ikke et helt tall" in by_line[5].reason
    assert by_line[5].where == "linje 5, kolonne 3 (innbyggertall)"
    assert "«32O9» er ikke et kommunenummer" in by_line[7].reason
    assert "«26x» er ikke et årstall" in by_line[8].reason
    assert "står allerede på linje 2" in by_line[9].reason
    assert "linjen har 2 felt" in by_line[10].reason and by_line[10].where == "linje 10"
    stored = {(p.municipality.number, p.year): p.inhabitants for p in Population.objects.select_related("municipality")}
    assert stored == {("3230", 2026): 7_512, ("3238", 2026): 15_600, ("3209", 2025): 42_100}
    assert [e[1] for e in _events("population")][1:] == ["3230/2026: 7400→7512", "3238/2026: –→15600",
                                                         "3209/2025: –→42100"]  # fmt: skip
    assert _events("population_import") == [("create", "created=2 updated=1 unchanged=0 rejected=6", None)]


def test_a_comma_separated_file_without_a_bom_reads_the_same(world):
    results = populations_import_csv(text="Kommunenummer,År,Innbyggertall\r\n3230,2026,7512\r\n", user=world.u.admin)
    assert [(r.line, r.status, r.population) for r in results] == [(2, "created", 7_512)]


def test_a_tab_separated_file_reads_the_same(world):
    """Excel's «Unicode-tekst» and cells copied from a sheet are separated by tabs."""
    results = populations_import_csv(
        text="Kommunenummer\tÅr\tInnbyggertall\r\n3230\t2026\t7 512\r\n", user=world.u.admin
    )
    assert [(r.line, r.status, r.population) for r in results] == [(2, "created", 7_512)]


def test_an_empty_file_or_someone_not_an_admin_is_refused(world):
    with pytest.raises(ReferenceRefused, match="Filen er tom"):
        populations_import_csv(text="\ufeff\n\n", user=world.u.admin)
    with pytest.raises(ReferenceAdminRequired):
        populations_import_csv(text=CSV, user=world.u.nurse)
    assert not Population.objects.exists()


def test_a_file_with_a_nul_character_or_a_quote_left_open_is_refused_naming_the_line(world, login):
    with pytest.raises(ReferenceRefused, match=r"^Linje 3 inneholder et NUL-tegn \(\\u0000\), som ikke kan lagres\.$"):
        populations_import_csv(text="kommunenummer;år;innbyggertall\n3230;2026;7512\n3238;20\x0026;1\n",
                               user=world.u.admin)  # fmt: skip
    left_open = 'kommunenummer;år;innbyggertall\n3230;2026;7512\n"3238;2026;15600\n' + "3209;2026;42000\n" * 10_000
    with pytest.raises(ReferenceRefused, match=r"^Filen kunne ikke leses som CSV \(linje 3\): et felt er lengre enn"):
        populations_import_csv(text=left_open, user=world.u.admin)
    upload = SimpleUploadedFile("07459.csv", b"kommunenummer;\x00r;innbyggertall\n3230;2026;7512\n")
    page = login(world.u.admin).post("/admin/tenants/population/import/", {"file": upload})
    assert page.status_code == 200 and "Linje 1 inneholder et NUL-tegn" in page.content.decode()
    assert not Population.objects.exists()


# --- staffing --------------------------------------------------------------------------------------


def test_staffing_periods_follow_each_other_and_the_selectors_read_them(world):
    ovre, admin = world.centres.ovre, world.u.admin
    old = staffing_save(centre=ovre, valid_from=datetime.date(2025, 12, 1), valid_to=None, nurse_fte="3.6",
                        user=admin).row  # fmt: skip
    staffing_end(staffing=old, valid_to=datetime.date(2026, 8, 31), user=admin)
    new = staffing_save(centre=ovre, valid_from=datetime.date(2026, 9, 1), valid_to=None, nurse_fte=Decimal("4.6"),
                        note="To nye stillinger", user=admin)  # fmt: skip
    assert new.created and new.row.nurse_fte == Decimal("4.60")
    assert staffing_on(ovre, datetime.date(2026, 8, 31)).nurse_fte == Decimal("3.60")
    assert staffing_on(ovre, datetime.date(2026, 9, 1)).pk == new.row.pk
    assert staffing_on(ovre, datetime.date(2025, 11, 30)) is None
    assert staffing_on(world.centres.agder, datetime.date(2026, 9, 1)) is None
    between = staffing_between(ovre, datetime.date(2026, 8, 1), datetime.date(2026, 9, 30))
    assert [s.nurse_fte for s in between] == [Decimal("3.60"), Decimal("4.60")]
    assert staffing_between(ovre, datetime.date(2024, 1, 1), datetime.date(2024, 12, 31)) == []
    assert [(a, o.split(": ", 1)[1]) for a, o, _m in _events("staffing")] == [
        ("create", "–→2025-12-01.. 3.60"),
        ("update", "2025-12-01.. 3.60→2025-12-01..2026-08-31 3.60"),
        ("create", "–→2026-09-01.. 4.60"),
    ]
    assert {m for _a, _o, m in _events("staffing")} == {world.m.ullensaker.pk}  # filed under the host


def test_an_overlapping_period_is_refused_naming_the_one_it_meets(world, agder_admin):
    ovre, admin = world.centres.ovre, world.u.admin
    staffing_save(centre=ovre, valid_from=datetime.date(2026, 1, 1), valid_to=None, nurse_fte="3.6", user=admin)
    with pytest.raises(ReferenceRefused, match=r"Perioden overlapper bemanningen 01\.01\.2026– \(3,6 årsverk\)"):
        staffing_save(centre=ovre, valid_from=datetime.date(2026, 9, 1), valid_to=None, nurse_fte="4.6", user=admin)
    with pytest.raises(ReferenceRefused, match="Til-datoen"):
        staffing_save(centre=ovre, valid_from=datetime.date(2025, 9, 1), valid_to=datetime.date(2025, 8, 1),
                      nurse_fte="2", user=admin)  # fmt: skip
    with pytest.raises(ReferenceRefused, match="høyst to desimaler"):
        staffing_save(centre=ovre, valid_from=datetime.date(2025, 1, 1), valid_to=datetime.date(2025, 6, 30),
                      nurse_fte="2.125", user=admin)  # fmt: skip
    # Another centre's periods are its own.
    staffing_save(centre=world.centres.agder, valid_from=datetime.date(2026, 1, 1), valid_to=None, nurse_fte="2.8",
                  user=agder_admin)  # fmt: skip
    assert Staffing.objects.count() == 2


def test_the_database_refuses_overlapping_periods_whoever_writes_them(world):
    """The exclusion constraint: two writers that both passed the service's check cannot both win."""
    ovre = world.centres.ovre
    Staffing.objects.create(centre=ovre, valid_from=datetime.date(2026, 1, 1), valid_to=None, nurse_fte=3)
    with pytest.raises(IntegrityError), transaction.atomic():
        Staffing.objects.create(centre=ovre, valid_from=datetime.date(2027, 1, 1), valid_to=None, nurse_fte=4)
    Staffing.objects.create(centre=world.centres.agder, valid_from=datetime.date(2026, 1, 1), nurse_fte=2)


def test_only_the_centres_admin_writes_its_staffing(world, agder_admin):
    for user in (world.u.nurse, world.u.finance):
        with pytest.raises(ReferenceAdminRequired):
            staffing_save(centre=world.centres.ovre, valid_from=JAN, valid_to=None, nurse_fte="4", user=user)
    with pytest.raises(ReferenceAdminRequired, match="Bare administratoren ved Øvre"):
        staffing_save(centre=world.centres.ovre, valid_from=JAN, valid_to=None, nurse_fte="4", user=agder_admin)
    assert not Staffing.objects.exists()


# --- the API ---------------------------------------------------------------------------------------


def test_populations_api_answers_201_for_a_new_figure_and_200_for_a_correction(world, login):
    client = login(world.u.admin)
    body = {"municipality": "3230", "year": 2026, "population": 7512}
    created = client.post("/api/v1/reference/populations/", body, content_type="application/json")
    assert created.status_code == 201, created.content
    assert created.json() | {"updated_at": None} == {
        "municipality": "3230", "municipality_name": "Gjerdrum", "year": 2026, "population": 7512, "updated_at": None,
    }  # fmt: skip
    corrected = client.post("/api/v1/reference/populations/", body | {"population": 7520},
                            content_type="application/json")  # fmt: skip
    assert corrected.status_code == 200 and corrected.json()["population"] == 7520
    client.post("/api/v1/reference/populations/", body | {"year": 2025}, content_type="application/json")
    client.post("/api/v1/reference/populations/", {"municipality": "3238", "year": 2026, "population": 15600},
                content_type="application/json")  # fmt: skip
    listed = client.get("/api/v1/reference/populations/", {"municipality": "3230"}).json()
    assert [(r["municipality"], r["year"], r["population"]) for r in listed] == [("3230", 2026, 7520),
                                                                              ("3230", 2025, 7512)]  # fmt: skip
    by_year = client.get("/api/v1/reference/populations/", {"year": "2026"}).json()
    assert [r["municipality"] for r in by_year] == ["3230", "3238"]
    assert [e[1] for e in _events("population")][:2] == ["3230/2026: –→7512", "3230/2026: 7512→7520"]


def test_populations_api_refuses_with_400_404_and_403_as_the_contract_says(world, login, agder_admin):
    admin = login(world.u.admin)
    url = "/api/v1/reference/populations/"
    bad = admin.post(url, {"municipality": "32300", "year": 2026, "population": 0}, content_type="application/json")
    assert bad.status_code == 400 and set(bad.json()) == {"municipality", "population"}
    # Grimstad is Agder's, 9999 is nobody's: both are missing to Øvre's admin.
    for number in ("4202", "9999"):
        body = {"municipality": number, "year": 2026, "population": 24500}
        assert admin.post(url, body, content_type="application/json").status_code == 404
        assert admin.get(url, {"municipality": number}).status_code == 404
    assert admin.get(url, {"year": "tjue"}).status_code == 400
    nurse = login(world.u.nurse).post(url, {"municipality": "3230", "year": 2026, "population": 7500},
                                      content_type="application/json")  # fmt: skip
    assert nurse.status_code == 403 and "Bare senterets administrator" in nurse.json()["detail"]
    assert login(world.u.finance).get(url).status_code == 403
    assert login(agder_admin).get(url, {"municipality": "4202"}).json() == []
    assert not Population.objects.exists()


def test_staffing_api_creates_corrects_and_refuses_an_overlap_with_400(world, login, agder_admin):
    client = login(world.u.admin)
    url = "/api/v1/reference/staffing/"
    first = {"centre": "ovre", "valid_from": "2025-12-01", "valid_to": None, "nurse_fte": 3.6}
    created = client.post(url, first, content_type="application/json")
    assert created.status_code == 201, created.content
    assert created.json()["nurse_fte"] == 3.6 and created.json()["valid_to"] is None
    overlapping = client.post(url, first | {"valid_from": "2026-09-01", "nurse_fte": 4.6},
                              content_type="application/json")  # fmt: skip
    assert overlapping.status_code == 400
    assert "overlapper bemanningen 01.12.2025–" in overlapping.json()["detail"]
    ended = client.post(url, first | {"valid_to": "2026-08-31"}, content_type="application/json")
    assert ended.status_code == 200 and ended.json()["valid_to"] == "2026-08-31"
    second = client.post(url, first | {"valid_from": "2026-09-01", "nurse_fte": 4.6}, content_type="application/json")
    assert second.status_code == 201
    listed = client.get(url, {"centre": "ovre"}).json()
    assert [(r["valid_from"], r["valid_to"], r["nurse_fte"]) for r in listed] == [
        ("2025-12-01", "2026-08-31", 3.6), ("2026-09-01", None, 4.6)]  # fmt: skip
    assert client.post(url, first | {"centre": "agder"}, content_type="application/json").status_code == 404
    assert client.get(url, {"centre": "agder"}).status_code == 404
    assert client.post(url, first | {"nurse_fte": -1}, content_type="application/json").status_code == 400
    assert login(world.u.nurse).post(url, first, content_type="application/json").status_code == 403
    assert login(agder_admin).get(url).json() == []


def test_the_reference_endpoints_are_in_the_schema(world, login):
    schema = login(world.u.admin).get("/api/schema/", HTTP_ACCEPT="application/json").json()
    populations = schema["paths"]["/api/v1/reference/populations/"]
    assert {"200", "201", "400", "403", "404"} <= set(populations["post"]["responses"])
    assert "/api/v1/reference/staffing/" in schema["paths"]


# --- the admin pages ---------------------------------------------------------------------------------


def test_the_admin_adds_and_corrects_a_figure_and_sees_only_its_kommuner(world, login, agder_admin):
    population_set(municipality=world.m.grimstad, year=2026, population=24_500, user=agder_admin)
    client = login(world.u.admin)
    form = client.get("/admin/tenants/population/add/")
    assert form.status_code == 200
    assert "Gjerdrum" in form.content.decode() and "Grimstad" not in form.content.decode()
    data = {"municipality": world.m.gjerdrum.pk, "year": 2026, "inhabitants": "7 400"}
    assert client.post("/admin/tenants/population/add/", data).status_code == 302
    response = client.post("/admin/tenants/population/add/", data | {"inhabitants": "7 512"}, follow=True)
    assert "er rettet til 7" in response.content.decode()
    assert Population.objects.get(municipality=world.m.gjerdrum).inhabitants == 7_512
    listed = client.get("/admin/tenants/population/").content.decode()
    assert "Gjerdrum" in listed and "Grimstad" not in listed
    grimstad = Population.objects.get(municipality=world.m.grimstad)
    assert client.get(f"/admin/tenants/population/{grimstad.pk}/change/").status_code == 302  # missing to them
    refused = client.post("/admin/tenants/population/add/", data | {"municipality": world.m.grimstad.pk})
    assert refused.status_code == 200 and Population.objects.get(pk=grimstad.pk).inhabitants == 24_500
    assert [e[1] for e in _events("population")][-2:] == ["3230/2026: –→7400", "3230/2026: 7400→7512"]
    assert login(world.u.nurse).get("/admin/tenants/population/").status_code == 302  # no staff: to the login


def test_the_admin_imports_a_csv_file_and_reads_the_result_per_line(world, login):
    client = login(world.u.admin)
    assert "Importer CSV fra SSB" in client.get("/admin/tenants/population/").content.decode()
    upload = SimpleUploadedFile("07459.csv", CSV.encode("utf-8"), content_type="text/csv")
    page = client.post("/admin/tenants/population/import/", {"file": upload})
    text = page.content.decode()
    assert page.status_code == 200
    assert "3 lagt inn, 0 rettet, 0 uendret, 6 avvist." in text
    assert "linje 5, kolonne 3 (innbyggertall): «42x00» er ikke et helt tall" in text
    assert Population.objects.count() == 3
    latin1 = SimpleUploadedFile("gammel.csv", "kommunenummer;år;innbyggertall\n3230;2024;7 100\n".encode("cp1252"))
    assert client.post("/admin/tenants/population/import/", {"file": latin1}).status_code == 200
    assert Population.objects.filter(year=2024).count() == 1


def test_the_admin_keeps_the_centres_staffing_and_is_told_of_an_overlap(world, login, agder_admin):
    staffing_save(centre=world.centres.agder, valid_from=JAN, valid_to=None, nurse_fte="2.8", user=agder_admin)
    client = login(world.u.admin)
    form = client.get("/admin/tenants/staffing/add/").content.decode()
    assert "Øvre" in form and "Agder" not in form
    data = {"centre": world.centres.ovre.pk, "valid_from": "01.01.2026", "valid_to": "", "nurse_fte": "3,6",
            "note": ""}  # fmt: skip
    saved = client.post("/admin/tenants/staffing/add/", data)
    assert saved.status_code == 302, saved.content.decode()[:2000]
    overlap = client.post("/admin/tenants/staffing/add/", data | {"valid_from": "01.09.2026", "nurse_fte": "4,6"})
    assert "Perioden overlapper bemanningen 01.01.2026–" in overlap.content.decode()
    period = Staffing.objects.get(centre=world.centres.ovre)
    ended = client.post(f"/admin/tenants/staffing/{period.pk}/change/", data | {"valid_to": "31.08.2026"})
    assert ended.status_code == 302
    assert client.post("/admin/tenants/staffing/add/", data | {"valid_from": "01.09.2026"}).status_code == 302
    assert Staffing.objects.filter(centre=world.centres.ovre).count() == 2
    assert [a for a, _o, _m in _events("staffing")][-3:] == ["create", "update", "create"]
    agder = Staffing.objects.get(centre=world.centres.agder)
    assert client.get(f"/admin/tenants/staffing/{agder.pk}/change/").status_code == 302  # missing to them
    listed = client.get("/admin/tenants/staffing/").content.decode()
    assert "inntil videre" in listed and "2,80" not in listed and "2.80" not in listed


def test_a_staffing_period_stays_with_its_centre_when_changed(world, login):
    """An admin of two centres is offered both: a saved period's centre is read-only, as the service says
    (the form handed it the row already moved, and the period went to the other centre)."""
    MembershipFactory(user=world.u.admin, role="admin", centre=world.centres.agder)
    period = staffing_save(centre=world.centres.ovre, valid_from=JAN, valid_to=None, nurse_fte="3.6",
                           user=world.u.admin).row  # fmt: skip
    client = login(world.u.admin)
    url = f"/admin/tenants/staffing/{period.pk}/change/"
    data = {"centre": world.centres.agder.pk, "valid_from": "01.01.2026", "valid_to": "", "nurse_fte": "4,0",
            "note": ""}  # fmt: skip
    assert client.post(url, data).status_code == 302
    period.refresh_from_db()
    assert (period.centre, period.nurse_fte) == (world.centres.ovre, Decimal("4.00"))
    assert client.post(url, data | {"valid_from": "01.01.2025", "valid_to": "31.12.2025"}).status_code == 302
    staffing_save(centre=world.centres.ovre, valid_from=JAN, valid_to=None, nurse_fte="3.6", user=world.u.admin)
    overlap = client.post(url, data | {"valid_from": "01.01.2025"})  # open-ended: meets its centre's next period
    assert "Perioden overlapper bemanningen 01.01.2026–" in overlap.content.decode()
