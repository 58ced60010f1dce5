"""Readings in the admin: read-only, the centre's own municipalities only, audited, and those measured
after the patient's forløp ended marked («Etter avsluttet forløp»), by the status history rather than
by the reason text scoring wrote."""

import datetime
import re

import pytest
from django.utils import timezone

from measurements.models import Reading
from patients.services import status_change_record
from tenants.models import AuditEvent
from tests.factories import MembershipFactory, UserFactory

LIST = "/admin/measurements/reading/"
TODAY = timezone.localdate


def _days_ago(days: int, hour: int = 12) -> datetime.datetime:
    day = TODAY() - datetime.timedelta(days=days)
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time(hour)))


def _reading(patient, measured_at, value=95, external_id="") -> Reading:
    return Reading.objects.create(
        patient=patient, municipality_id=patient.municipality_id, type="spo2", value=value, measured_at=measured_at,
        external_id=external_id,
    )  # fmt: skip


def _link(reading) -> str:
    return f"{LIST}{reading.pk}/change/"


def _change(world, patient, event, days_ago, **extra):
    status_change_record(patient=patient, user=world.u.nurse, event=event,
                         effective_date=TODAY() - datetime.timedelta(days=days_ago), **extra)  # fmt: skip


@pytest.fixture
def readings(world):
    """Jens (Nannestad, served by Øvre): ended 5 days ago, started again 2 days ago, with a reading
    before the end, one on the end day, one between, and one after the new start; Rune (Gjerdrum)
    never ended."""
    jens = world.p.nannestad
    r = {
        "before": _reading(jens, _days_ago(7)),
        "end_day": _reading(jens, _days_ago(5, hour=23), external_id="end-day"),  # 23:00 in Norway: the same day
        "between": _reading(jens, _days_ago(3), value=80, external_id="between"),
        "restarted": _reading(jens, _days_ago(1)),
        "never_ended": _reading(world.p.gjerdrum, _days_ago(3)),
    }
    # Recorded after the readings came in (back-dated): scoring marked none of them «etter avsluttet
    # forløp» in its reason, and the admin still tells which were measured after the end.
    _change(world, jens, "ended", 5, end_reason="no_benefit")
    _change(world, jens, "started", 2)
    return r


def test_it_marks_readings_measured_after_the_end_until_a_new_start(world, login, readings):
    client = login(world.u.admin)
    after = client.get(f"{LIST}?after_end=yes").content.decode()
    normal = client.get(f"{LIST}?after_end=no").content.decode()
    for key, reading in readings.items():
        expected = key in ("end_day", "between")
        assert (_link(reading) in after) == expected, key
        assert (_link(reading) in normal) != expected, key
    assert "Etter avsluttet forløp" in after  # the filter's title and the column's


def test_the_column_says_yes_or_no(world, login, readings):
    body = login(world.u.admin).get(f"{LIST}?q={world.p.nannestad.pk}").content.decode()
    rows = re.findall(r'/reading/(\d+)/change/.*?field-after_end"><img [^>]*alt="(True|False)"', body)
    marks = {pk: shown == "True" for pk, shown in rows}
    assert marks == {str(r.pk): k in ("end_day", "between") for k, r in readings.items() if k != "never_ended"}


def test_the_change_page_shows_it_read_only_and_is_audited(world, login, readings):
    client = login(world.u.admin)
    before = AuditEvent.objects.count()
    page = client.get(_link(readings["between"]))
    assert page.status_code == 200
    body = page.content.decode()
    assert str(world.p.nannestad.pk) in body and world.p.nannestad.name not in body  # by id, not by name
    assert 'name="_save"' not in body  # view only
    [event] = AuditEvent.objects.order_by("pk")[before:]
    assert (event.object_type, event.object_id, event.patient_id, event.role) == (
        "reading",
        str(readings["between"].pk),
        world.p.nannestad.pk,
        "admin",
    )
    refused = client.post(_link(readings["between"]), {"value": 99})
    assert refused.status_code == 403
    readings["between"].refresh_from_db()
    assert readings["between"].value == 80


def test_the_list_is_audited_per_patient_shown(world, login, readings):
    before = AuditEvent.objects.count()
    login(world.u.admin).get(f"{LIST}?after_end=yes")
    logged = AuditEvent.objects.order_by("pk")[before:]
    assert [(e.object_type, e.patient_id, e.role) for e in logged] == [
        ("reading_list", None, "admin"), ("reading_list", world.p.nannestad.pk, "admin"),
    ]  # fmt: skip


def test_another_centres_admin_sees_none_of_them(world, login, readings):
    admin_agder = UserFactory(username="admin_agder", is_staff=True)
    MembershipFactory(user=admin_agder, role="admin", centre=world.centres.agder)
    grimstad = _reading(world.p.grimstad, _days_ago(1))
    client = login(admin_agder)
    before = AuditEvent.objects.count()
    for query in ("", "?after_end=yes", "?after_end=no", f"?q={world.p.nannestad.pk}"):
        body = client.get(LIST + query).content.decode()
        assert not [k for k, r in readings.items() if _link(r) in body], query
        assert str(world.p.nannestad.pk) not in body.replace(f"q={world.p.nannestad.pk}", "").replace(
            f'value="{world.p.nannestad.pk}"', ""
        ), query
    assert _link(grimstad) in client.get(LIST).content.decode()  # the positive control: its own
    foreign = client.get(_link(readings["between"]), follow=True)
    assert foreign.redirect_chain[-1][0] == "/admin/"  # as for a missing reading
    assert "between" not in foreign.content.decode()
    assert (
        not AuditEvent.objects.filter(pk__gt=0, object_type="reading")
        .exclude(patient_id=world.p.grimstad.pk)
        .order_by("pk")[before:]
        .exists()
    )


def test_only_centre_admins_open_the_readings(world, login, readings):
    world.u.nurse.is_staff = True
    world.u.nurse.save()
    for user in (world.u.nurse, world.u.finance):
        response = login(user).get(LIST)
        assert response.status_code in (302, 403), user
