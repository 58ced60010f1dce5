"""Who may do what to a plan is ebp.access's policy, asked by every step in ebp.services, so a caller
that skips the pages and the API (a later endpoint, a task, the shell) meets the same rules; refusals
are typed, never matched by text."""

import pytest
from django.core.exceptions import PermissionDenied

from ebp import access, services
from ebp.models import PlanVersion
from tenants.errors import NotAllowed, Refused
from tests.ebp.test_workflow import OLAV_LIKE


@pytest.fixture
def submitted(world):
    draft = services.draft_start(patient=world.p.gjerdrum, user=world.u.nurse, content=OLAV_LIKE)
    return services.draft_submit(version=draft, user=world.u.nurse)


def test_it_refuses_a_draft_from_anyone_but_a_nurse_in_the_service(world):
    for user in (world.u.coordinator, world.u.gp):
        with pytest.raises(access.NurseRequired, match="Bare sykepleiere") as refused:
            services.draft_start(patient=world.p.gjerdrum, user=user, content=OLAV_LIKE)
        # A missing right, not a refusal of the step as asked: Django's (and the API's) 403.
        assert isinstance(refused.value, NotAllowed) and isinstance(refused.value, PermissionDenied)
        assert not isinstance(refused.value, (services.PlanRefused, Refused))
    assert not PlanVersion.objects.exists()


def test_it_refuses_submit_and_edit_from_the_fastlege_in_the_service(world):
    draft = services.draft_start(patient=world.p.gjerdrum, user=world.u.nurse, content=OLAV_LIKE)
    with pytest.raises(access.NurseRequired):
        services.draft_update(version=draft, user=world.u.gp, content={**OLAV_LIKE, "goals": "endret"})
    with pytest.raises(access.NurseRequired):
        services.draft_submit(version=draft, user=world.u.gp)
    draft.refresh_from_db()
    assert (draft.status, draft.content["goals"]) == ("draft", OLAV_LIKE["goals"])


def test_it_lets_only_the_patients_own_fastlege_decide_in_the_service(world, submitted):
    for user in (world.u.nurse, world.u.coordinator):
        with pytest.raises(access.OwnGpRequired, match="egen fastlege"):
            services.version_approve(version=submitted, user=user)
        with pytest.raises(access.OwnGpRequired):
            services.version_return(version=submitted, user=user, comment="Endre pulsen")
    assert not access.can_approve_plan(world.u.nurse, world.p.gjerdrum)
    assert access.can_approve_plan(world.u.gp, world.p.gjerdrum)
    assert services.version_approve(version=submitted, user=world.u.gp).status == "active"


def test_it_asks_for_a_comment_with_its_own_exception_type(world, submitted):
    with pytest.raises(services.CommentRequired, match="kommentar") as refused:
        services.version_return(version=submitted, user=world.u.gp, comment="  ")
    assert not isinstance(refused.value, PermissionDenied)  # the fastlege may do it; the form asks again
    assert isinstance(refused.value, services.PlanRefused) and isinstance(refused.value, Refused)
    submitted.refresh_from_db()
    assert submitted.status == "submitted"


def test_it_saves_a_draft_by_creating_it_first_and_replacing_it_after(world):
    patient, nurse = world.p.gjerdrum, world.u.nurse
    first, created = services.draft_save(patient=patient, user=nurse, template="kols")
    assert created and first.number == 1 and first.content["thresholds"]["spo2"]["value"]["red_below"] == 88
    again, created = services.draft_save(patient=patient, user=nurse, content={**OLAV_LIKE, "goals": "Trappene"})
    assert not created and again.pk == first.pk and again.content["goals"] == "Trappene"
    # Without content there is nothing to replace: a second draft is refused while one is open.
    with pytest.raises(services.PlanRefused, match="fullfør den"):
        services.draft_save(patient=patient, user=nurse)
    with pytest.raises(access.NurseRequired):
        services.draft_save(patient=patient, user=world.u.coordinator, content=OLAV_LIKE)
    assert PlanVersion.objects.count() == 1


def test_it_shows_the_missing_comment_on_the_page_and_answers_403_to_a_nurse(world, login, submitted):
    url = f"/patients/{world.p.gjerdrum.pk}/plan/versions/{submitted.number}/"
    gp = login(world.u.gp)
    response = gp.post(f"{url}decision/", {"decision": "return", "comment": " "}, follow=True)
    assert response.redirect_chain == [(url, 302)]
    assert "Skriv en kommentar" in response.content.decode()
    refused = login(world.u.nurse).post(f"{url}decision/", {"decision": "approve"})
    assert refused.status_code == 403 and "egen fastlege" in refused.content.decode()
    submitted.refresh_from_db()
    assert submitted.status == "submitted"


def test_it_hides_the_decision_from_all_but_the_own_fastlege_and_the_draft_form_from_all_but_nurses(
    world, login, submitted
):
    # What the page offers is the policy's answer (ebp.access, asked by the template's {% may %}).
    url = f"/patients/{world.p.gjerdrum.pk}/plan/versions/{submitted.number}/"
    assert "Godkjenn planen" in login(world.u.gp).get(url).content.decode()
    assert "Godkjenn planen" not in login(world.u.nurse).get(url).content.decode()
    services.version_approve(version=submitted, user=world.u.gp)  # no open version: a new draft may start
    plan = f"/patients/{world.p.gjerdrum.pk}/plan/"
    assert "Start kladd" in login(world.u.nurse).get(plan).content.decode()
    assert "Start kladd" not in login(world.u.gp).get(plan).content.decode()
    refused = login(world.u.gp).get(f"{plan}draft/")
    assert refused.status_code == 403 and "Bare sykepleiere" in refused.content.decode()
