"""The access policy (patients.access, ebp.access, triage.access, billing.access, insight.gevinst.access) as a
table: user × patient × step → may, and user × page → may open. The services refuse by the same
predicates (the last tests: a step the table says no to is a NotAllowed, one it says yes to gets past
the check to the step's own rules), so what a page offers is what its service accepts."""

import datetime

import pytest
from django.utils import timezone

from insight.gevinst.services import service_use_register
from patients import access
from patients.services import consent_record, patient_gp_set, status_change_record
from tenants.errors import NotAllowed, Refused
from tenants.models import Role
from tenants.selectors import may_read_access_log
from tests.factories import MembershipFactory, UserFactory
from triage.services import contact_record

FORLOP = ("consent", "start", "pause", "resume", "end", "evaluation", "set_fastlege", "edit_contact_info",
          "answer_move", "see_access_log", "register_gevinst")  # fmt: skip
NURSE = ("follow_up", "edit_plan")
OWN_GP = ("approve_plan",)

# (user, patient) → which steps that user may take for that patient. The rest of every step: no.
MAY = {
    ("nurse", "ullensaker"): FORLOP + NURSE,
    ("nurse", "gjerdrum"): FORLOP + NURSE,
    ("nurse", "nannestad"): FORLOP + NURSE,
    ("nurse", "nordrefollo"): (),  # Nordre Follo follows its own patients up
    ("nurse", "grimstad"): (),  # another centre's
    ("nurse_nordrefollo", "nordrefollo"): FORLOP + NURSE,
    ("nurse_nordrefollo", "gjerdrum"): (),
    ("nurse_agder", "grimstad"): FORLOP + NURSE,
    ("nurse_agder", "gjerdrum"): (),
    ("coordinator", "gjerdrum"): FORLOP,  # the forløp, not the nurse's steps
    ("coordinator", "nannestad"): (),
    ("gp", "gjerdrum"): OWN_GP,
    ("gp", "grimstad"): OWN_GP,
    ("gp", "nannestad"): (),
    ("specialist", "nannestad"): (),  # sees the shared patient, takes no step
    ("finance", "gjerdrum"): (),
    ("admin", "ullensaker"): (),
    # a nurse at the Agder centre who is also the Nannestad patient's fastlege: a nurse for Grimstad,
    # that patient's fastlege for Nannestad, whatever roles they hold elsewhere
    ("nurse_gp", "grimstad"): FORLOP + NURSE,
    ("nurse_gp", "nannestad"): OWN_GP,
    ("nurse_gp", "gjerdrum"): (),
}

# user → the pages the main menu offers them
# Innsikt, the gevinstrapport, the comparison group and the EPJ import
GEVINST = {"insight", "gevinst", "gevinst_registers"}
OPENS = {
    "nurse": {"worklist", "board", "equipment", "follow_up", "patients", *GEVINST},
    "nurse_nordrefollo": {"worklist", "board", "follow_up", "patients", *GEVINST},  # keeps no centre's register
    "nurse_agder": {"worklist", "board", "equipment", "follow_up", "patients", *GEVINST},
    "coordinator": {"worklist", "board", "patients", "basis", *GEVINST},
    "gp": {"patients", "approvals"},
    "specialist": {"patients"},
    "finance": {"billing", "insight"},  # capacity and alarm burden
    "admin": {"equipment", "price_model", "journaling"},
    "nurse_gp": {"worklist", "board", "equipment", "follow_up", "patients", "approvals", *GEVINST},
    "leder": {"insight", "gevinst"},  # figures only
}


@pytest.fixture
def people(world):
    nurse_gp = UserFactory(username="nurse_gp")
    MembershipFactory(user=nurse_gp, role=Role.NURSE, centre=world.centres.agder)
    MembershipFactory(user=nurse_gp, role=Role.GP, municipality=world.m.nannestad)
    world.p.nannestad.gp = nurse_gp
    world.p.nannestad.save(update_fields=["gp"])
    world.u.nurse_gp = nurse_gp
    return world


def test_the_table_names_every_step_and_every_page():
    assert set(FORLOP + NURSE + OWN_GP) == set(access.ACTIONS)
    assert set().union(*OPENS.values()) == set(access.PAGES)


@pytest.mark.parametrize(("who", "whose"), MAY, ids=lambda key: str(key))
def test_each_user_may_take_exactly_the_steps_of_their_relation_to_the_patient(people, who, whose):
    user, patient = getattr(people.u, who), getattr(people.p, whose)
    allowed = {name for name in access.ACTIONS if access.may(user, name, patient)}
    assert allowed == set(MAY[(who, whose)])


@pytest.mark.parametrize("who", OPENS)
def test_each_user_may_open_exactly_their_pages(people, who):
    user = getattr(people.u, who)
    assert {name for name in access.PAGES if access.may_open(user, name)} == OPENS[who]


def test_an_unknown_name_is_an_error_not_a_quiet_no(people):
    with pytest.raises(access.UnknownName, match="«strat» is no step"):
        access.may(people.u.nurse, "strat", people.p.gjerdrum)
    with pytest.raises(access.UnknownName, match="«bord» is no page"):
        access.may_open(people.u.nurse, "bord")


def _render(source: str, user, patient=None) -> str:
    from django.template import Context, Template
    from django.test import RequestFactory

    request = RequestFactory().get("/")
    request.user = user
    return Template("{% load access %}" + source).render(Context({"request": request, "user": user,
                                                                   "patient": patient}))  # fmt: skip


@pytest.mark.parametrize(
    ("who", "whose"), [("nurse", "gjerdrum"), ("coordinator", "gjerdrum"), ("gp", "gjerdrum"), ("nurse", "grimstad")]
)
def test_the_template_tags_answer_what_the_policy_answers(people, who, whose):
    """`{% may %}` and `|may_open` are the policy's own `may` and `may_open`: the same answer for
    every name, so a page offers exactly what the service accepts."""
    user, patient = getattr(people.u, who), getattr(people.p, whose)
    steps = "".join(f'{{% may "{n}" patient as ok %}}{{% if ok %}}{n},{{% endif %}}' for n in sorted(access.ACTIONS))
    pages = "".join(f'{{% if user|may_open:"{n}" %}}{n},{{% endif %}}' for n in sorted(access.PAGES))
    assert _render(steps, user, patient).split(",")[:-1] == [n for n in sorted(access.ACTIONS)
                                                             if access.may(user, n, patient)]  # fmt: skip
    assert _render(pages, user).split(",")[:-1] == [n for n in sorted(access.PAGES) if access.may_open(user, n)]


def test_an_unknown_name_in_a_template_fails_the_page(people):
    from django.template import TemplateSyntaxError

    with pytest.raises(TemplateSyntaxError, match="«strat» is no step"):
        _render('{% may "strat" patient as ok %}', people.u.nurse, people.p.gjerdrum)
    with pytest.raises(TemplateSyntaxError, match="«bord» is no page"):
        _render('{% if user|may_open:"bord" %}x{% endif %}', people.u.nurse)


def test_the_access_log_rule_is_the_one_the_log_pages_ask(people):
    for who, whose in MAY:
        user, patient = getattr(people.u, who), getattr(people.p, whose)
        assert access.can_see_access_log(user, patient) == may_read_access_log(
            user, municipality_id=patient.municipality_id, gp_id=patient.gp_id
        )


# --- the services refuse by the same predicates ------------------------------------------------------


def _answer(step, user, patient) -> str:
    """«not allowed» (a 403), «refused» (past the check, the step's own rule said no) or «done»."""
    try:
        step(user, patient)
    except NotAllowed:
        return "not allowed"
    except Refused:
        return "refused"
    return "done"


STEPS = {
    # each made to fail its own rule after the check, so a table of calls changes nothing
    "pause": lambda user, patient: status_change_record(
        patient=patient, user=user, event="paused", effective_date=timezone.localdate() + datetime.timedelta(days=1)
    ),
    "consent": lambda user, patient: consent_record(
        patient=patient, user=user, given_by="nobody", method="written", given_on=timezone.localdate()
    ),
    "set_fastlege": lambda user, patient: patient_gp_set(patient=patient, user=user, gp=patient.gp),
    "follow_up": lambda user, patient: contact_record(patient=patient, user=user, kind="routine", actions=[]),
    "register_gevinst": lambda user, patient: service_use_register(
        patient=patient, user=user, kind="month_3", period_from=None, period_to=None, values={}
    ),
}


@pytest.mark.parametrize("step", STEPS)
def test_a_service_refuses_exactly_those_the_policy_does_not_allow(people, step):
    for who, whose in MAY:
        user, patient = getattr(people.u, who), getattr(people.p, whose)
        answer = _answer(STEPS[step], user, patient)
        assert (answer != "not allowed") == (step in MAY[(who, whose)]) == access.may(user, step, patient), (
            who, whose, answer,
        )  # fmt: skip
