"""What the fastlege approves from: the version page lists every change of every item (each trend
rule, question and contact in a row of its own, the diagnoses and each contact's «når» included) and
shows the whole version below the changes. The nurse's form keeps every trend rule a draft holds,
several of one kind too."""

from tests.ebp.test_workflow import OLAV_LIKE

WEIGHT_2_IN_3 = {"kind": "weight_gain", "kg": 2, "days": 3, "colour": "red"}
WEIGHT_1_IN_1 = {"kind": "weight_gain", "kg": 1, "days": 1, "colour": "red"}


def _api(api, user, patient, step, **body):
    answer = api(user).post(f"/api/v1/patients/{patient.pk}/plan/{step}/", body, format="json")
    assert answer.status_code in (200, 201), answer.content
    return answer.json()


def _approved_then_submitted(world, api, first: dict, second: dict):
    """Version 1 with `first` approved, version 2 with `second` waiting for the fastlege."""
    nurse, gp, patient = world.u.nurse, world.u.gp, world.p.gjerdrum
    _api(api, nurse, patient, "draft", content=first)
    _api(api, nurse, patient, "submit")
    _api(api, gp, patient, "approve")
    _api(api, nurse, patient, "draft", content=second)
    _api(api, nurse, patient, "submit")
    return patient


def _changes(review) -> list[tuple[str, str, str, str]]:
    return [(r.section, r.field, r.old, r.new) for r in review.context["diff"] if r.changed]


def test_it_shows_the_fastlege_a_second_trend_rule_of_the_same_kind(world, api, login):
    patient = _approved_then_submitted(
        world,
        api,
        dict(OLAV_LIKE, trend_rules=[WEIGHT_2_IN_3]),
        dict(OLAV_LIKE, trend_rules=[WEIGHT_2_IN_3, WEIGHT_1_IN_1]),
    )
    review = login(world.u.gp).get(f"/patients/{patient.pk}/plan/versions/2/")
    assert review.status_code == 200
    assert _changes(review) == [("Trendregler", "Vektøkning 2", "–", "vektøkning på minst 1 kg på 1 dager er rød")]
    assert review.context["changed_count"] == 1
    # The whole version is on the page too, every rule in it, above the approval.
    page = review.text
    assert "<li>Vektøkning 1: vektøkning på minst 2 kg på 3 dager er rød</li>" in page
    assert "<li>Vektøkning 2: vektøkning på minst 1 kg på 1 dager er rød</li>" in page
    assert page.index("Vektøkning 2: vektøkning") < page.index("Godkjenn planen")


def test_it_lists_changed_diagnoses_and_a_contacts_when(world, api, login):
    contact = {"name": "Senteret", "phone": "64 00 00 00", "when": "hverdager 8–15"}
    patient = _approved_then_submitted(
        world,
        api,
        dict(OLAV_LIKE, diagnoses=["kols"], contacts=[contact]),
        dict(OLAV_LIKE, diagnoses=["kols", "hjertesvikt"], contacts=[dict(contact, when="hele døgnet")]),
    )
    review = login(world.u.gp).get(f"/patients/{patient.pk}/plan/versions/2/")
    assert _changes(review) == [
        ("Mål", "Diagnoser", "KOLS", "KOLS, Hjertesvikt"),
        ("Kontakter", "Kontakt 1", "Senteret, 64 00 00 00 (hverdager 8–15)", "Senteret, 64 00 00 00 (hele døgnet)"),
    ]


def test_two_questions_with_the_same_text_each_have_their_row(world, api, login):
    first = {"code": "breath", "text": "Er du mer tungpustet?", "yellow_if": "yes"}
    second = {"code": "breath_rest", "text": "Er du mer tungpustet?", "red_if": "yes"}
    questions = {"daily_symptoms": [first, second]}
    patient = _approved_then_submitted(
        world,
        api,
        dict(OLAV_LIKE, questionnaires=questions),
        dict(OLAV_LIKE, questionnaires={"daily_symptoms": [dict(first, yellow_if=None), second]}),
    )
    review = login(world.u.gp).get(f"/patients/{patient.pk}/plan/versions/2/")
    assert _changes(review) == [
        (
            "Spørsmål",
            "Spørsmål 1",
            "«Er du mer tungpustet?» (breath): «ja» er gul",
            "«Er du mer tungpustet?» (breath): bare til informasjon",
        )
    ]


def _form_data(page) -> dict:
    data = {k: v for k, v in page.context["form"].initial.items() if v not in (None, [], "")}
    return {k: (str(v).replace(".", ",") if isinstance(v, float) else v) for k, v in data.items()}


def _rules(api, world, patient) -> list[dict]:
    versions = api(world.u.nurse).get(f"/api/v1/patients/{patient.pk}/plan/versions/").json()
    return [{k: r[k] for k in ("kg", "days", "colour")} for r in versions[0]["content"]["trend_rules"]]


def test_the_draft_form_keeps_every_trend_rule_and_adds_and_removes_one(world, api, login):
    nurse, patient = login(world.u.nurse), world.p.gjerdrum
    _api(api, world.u.nurse, patient, "draft", content=dict(OLAV_LIKE, trend_rules=[WEIGHT_2_IN_3, WEIGHT_1_IN_1]))
    url = f"/patients/{patient.pk}/plan/draft/"
    data = _form_data(nurse.get(url))
    assert nurse.post(url, data).status_code == 302
    assert _rules(api, world, patient) == [
        {"kg": 2.0, "days": 3, "colour": "red"},
        {"kg": 1.0, "days": 1, "colour": "red"},
    ]

    # The empty row adds a rule; emptying a row's numbers removes that rule.
    form = nurse.get(url)
    assert {"wg_2_kg", "wg_2_days", "wg_2_colour"} <= set(form.context["form"].fields)
    data = _form_data(form) | {"wg_2_kg": "3", "wg_2_days": "7", "wg_2_colour": "yellow"}
    data = {k: v for k, v in data.items() if not k.startswith("wg_0_")}
    assert nurse.post(url, data).status_code == 302
    assert _rules(api, world, patient) == [
        {"kg": 1.0, "days": 1, "colour": "red"},
        {"kg": 3.0, "days": 7, "colour": "yellow"},
    ]

    # An error is shown beside the row it belongs to.
    wrong = _form_data(nurse.get(url)) | {"wg_1_kg": "0"}
    page = nurse.post(url, wrong)
    assert page.status_code == 400
    assert page.context["form"].errors["wg_1_kg"]
