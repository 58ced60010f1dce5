"""What is due of a forløp's service-use registrations: the null-punkt at oppstart, 6 and 12 months
after oppstart while the forløp runs, the end; met by a registration of the forløp's own (its kommune,
after the forløp before it ended); on the forløp board (a mark per point) and on the patient page."""

from __future__ import annotations

import datetime

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from insight.gevinst.schedule import COMING, DUE, REGISTERED, Forlop, add_months, due_dates, schedule
from insight.gevinst.selectors import due_among, forlops_of, patient_gevinst, schedules_of
from insight.gevinst.services import service_use_register
from patients.services import patient_end, status_change_record
from tests.factories import PatientFactory
from tests.insight.conftest import gevinst_values

D = datetime.date


def test_months_are_added_to_the_same_day_or_the_months_last():
    assert add_months(D(2026, 1, 15), 6) == D(2026, 7, 15)
    assert add_months(D(2025, 8, 31), 6) == D(2026, 2, 28)
    assert add_months(D(2023, 8, 31), 6) == D(2024, 2, 29)
    assert add_months(D(2026, 11, 30), 12) == D(2027, 11, 30)
    assert add_months(D(2026, 3, 31), -6) == D(2025, 9, 30)


def test_the_points_of_a_forlop_that_ended_before_six_months():
    started = D(2026, 1, 10)
    assert due_dates(Forlop(1, started)) == [
        ("baseline", started),
        ("month_6", D(2026, 7, 10)),
        ("month_12", D(2027, 1, 10)),
    ]
    assert due_dates(Forlop(1, started, D(2026, 5, 1))) == [("baseline", started), ("end", D(2026, 5, 1))]
    assert [k for k, _d in due_dates(Forlop(1, started, D(2026, 7, 10)))] == ["baseline", "month_6", "end"]
    at = timezone.now()
    points = schedule(Forlop(1, started), {"baseline": at}, D(2026, 8, 1))
    assert [(p.kind, p.state) for p in points] == [("baseline", REGISTERED), ("month_6", DUE), ("month_12", COMING)]
    assert points[0].registered_at == at


def test_the_due_list_follows_the_registrations_of_this_forlop(world):
    nurse, today = world.u.nurse, timezone.localdate()
    started = today - datetime.timedelta(days=200)
    patient = PatientFactory(municipality=world.m.gjerdrum, name="Forfall")
    status_change_record(patient=patient, user=nurse, event="started", effective_date=started)
    assert {p.kind for p in due_among([patient.pk])[patient.pk]} == {"baseline", "month_6"}
    service_use_register(
        patient=patient,
        user=nurse,
        kind="baseline",
        period_from=started - datetime.timedelta(days=90),
        period_to=started - datetime.timedelta(days=1),
        values=gevinst_values(1, "baseline"),
    )
    assert [p.kind for p in due_among([patient.pk])[patient.pk]] == ["month_6"]
    service_use_register(
        patient=patient,
        user=nurse,
        kind="month_6",
        period_from=started,
        period_to=today - datetime.timedelta(days=1),
        values=gevinst_values(1, "month_6"),
    )
    assert patient.pk not in due_among([patient.pk])
    patient_end(patient=patient, user=nurse, reason="no_benefit", effective_date=today)
    assert [p.kind for p in due_among([patient.pk])[patient.pk]] == ["end"]


def test_a_new_forlop_wants_its_own_null_punkt(world):
    """The registrations of a forløp that ended do not meet the next one's points."""
    nurse, today = world.u.nurse, timezone.localdate()
    patient = PatientFactory(municipality=world.m.gjerdrum, name="To forløp")
    first_start, first_end = today - datetime.timedelta(days=300), today - datetime.timedelta(days=120)
    status_change_record(patient=patient, user=nurse, event="started", effective_date=first_start)
    service_use_register(
        patient=patient,
        user=nurse,
        kind="baseline",
        period_from=first_start - datetime.timedelta(days=60),
        period_to=first_start - datetime.timedelta(days=1),
        values=gevinst_values(2, "baseline"),
    )
    patient_end(patient=patient, user=nurse, reason="withdrew", effective_date=first_end)
    status_change_record(
        patient=patient, user=nurse, event="started", effective_date=today - datetime.timedelta(days=10)
    )
    forlop = forlops_of([patient.pk])[patient.pk]
    assert (forlop.started_on, forlop.ended_on, forlop.previous_end) == (
        today - datetime.timedelta(days=10),
        None,
        first_end,
    )
    assert [p.kind for p in due_among([patient.pk])[patient.pk]] == ["baseline"]
    # the patient page works it out from the registrations it reads anyway: the same points, fewer queries
    with CaptureQueriesContext(connection) as page:
        shown = patient_gevinst(patient)
    assert shown.schedule == schedules_of([patient.pk])[patient.pk] and len(shown.registrations) == 1
    assert [p.kind for p in shown.schedule if p.state == DUE] == ["baseline"] and len(page) == 4
    # with the status history the page reads for its «Forløp» section: the same forløp, one query less
    history = list(patient.status_changes.all())
    with CaptureQueriesContext(connection) as page:
        again = patient_gevinst(patient, changes=history)
    assert again == shown and len(page) == 3
    assert forlops_of([patient.pk], changes=history) == forlops_of([patient.pk])


def test_the_board_marks_each_point_that_is_due_and_the_patient_page_lists_them(gevinst, login):
    client = login(gevinst.world.u.coordinator)
    board = client.get("/forlop/").content.decode()
    g6, g1 = gevinst.g["g6"], gevinst.g["g1"]
    row = board[board.index(f"/patients/{g6.pk}/") :]
    row = row[: row.index("</li>")]
    assert "Tjenestebruk: 6 måneder skal registreres" in row and "Tjenestebruk: 12 måneder skal registreres" in row
    assert "null-punkt" not in row  # registered
    row = board[board.index(f"/patients/{g1.pk}/") :]
    row = row[: row.index("</li>")]
    assert "6 måneder skal registreres" not in row and "12 måneder skal registreres" in row
    page = client.get(f"/patients/{g6.pk}/").content.decode()
    section = page[page.index('id="gevinst"') :]
    assert "6 måneder</span> skal registreres" in section and "Null-punkt (oppstart)</strong> registrert" in section


def test_the_patient_page_reads_the_status_history_once_for_its_forlop_and_its_gevinst(gevinst, login):
    """The «Gevinst» section works out the forløp from the history the «Forløp» section shows."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = login(gevinst.world.u.coordinator)
    g6 = gevinst.g["g6"]
    client.get(f"/patients/{g6.pk}/")  # warm the session and the scope
    with CaptureQueriesContext(connection) as page:
        body = client.get(f"/patients/{g6.pk}/").content.decode()
    assert "6 måneder</span> skal registreres" in body[body.index('id="gevinst"') :]
    reads = [q for q in page.captured_queries if 'FROM "patients_statuschange"' in q["sql"]]
    assert len(reads) == 1


def test_the_board_reads_the_registrations_once_for_every_kind_of_mark(gevinst, login):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = login(gevinst.world.u.coordinator)
    client.get("/forlop/")  # warm the session and the scope
    with CaptureQueriesContext(connection) as board:
        body = client.get("/forlop/").content.decode()
    assert "6 måneder skal registreres" in body and "12 måneder skal registreres" in body
    reads = [q for q in board.captured_queries if 'FROM "insight_serviceuse"' in q["sql"]]
    assert len(reads) == 1  # four kinds of mark, one read of the registrations
