"""The forløp's state table (patients.forlop.NEXT_STEPS): the steps each status offers, in the
patient page's order, and the status rows the service allows after each status come from it."""

from patients.forlop import NEXT_STEPS, allowed_events, next_steps, offers
from patients.models import PatientStatus, StatusEvent
from patients.services.status import ALLOWED


def _labels(status) -> list[str]:
    return [str(step.label) for step in next_steps(status)]


def test_each_status_offers_its_steps_in_order():
    assert _labels("pending") == ["Registrer samtykke", "Oppstart", "Avslutt forløpet"]
    assert _labels("active") == ["Sett på pause", "Registrer evaluering", "Avslutt forløpet"]
    assert _labels("paused") == ["Gjenoppta", "Registrer evaluering", "Avslutt forløpet"]
    assert _labels("ended") == ["Ny oppstart"]
    assert next_steps("unknown") == ()
    assert set(NEXT_STEPS) == set(PatientStatus.values)


def test_every_step_names_a_page_of_the_patient():
    from django.urls import reverse

    for steps in NEXT_STEPS.values():
        for step in steps:
            assert reverse(step.url_name, args=["00000000-0000-0000-0000-000000000000"]).startswith("/patients/")


def test_the_services_refusals_read_the_same_table():
    assert ALLOWED["active"] == {StatusEvent.PAUSED, StatusEvent.EVALUATED, StatusEvent.ENDED, StatusEvent.MOVED}
    assert ALLOWED["paused"] == {StatusEvent.RESUMED, StatusEvent.EVALUATED, StatusEvent.ENDED, StatusEvent.MOVED}
    assert ALLOWED["ended"] == {StatusEvent.STARTED}
    assert ALLOWED["pending"] == {StatusEvent.STARTED, StatusEvent.ENDED}
    assert all(ALLOWED[status] == allowed_events(status) for status in PatientStatus.values)
    assert offers("ended", "start") and not offers("active", "start") and offers("paused", "evaluation")
