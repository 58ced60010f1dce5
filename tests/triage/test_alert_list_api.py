"""GET /api/v1/alerts/: the filters narrow the list within the user's scope; a filter that is no
value of its kind is a 400 naming it, not an empty list an integration would read as «no alerts»."""

from triage.models import Alert


def _alert(patient, colour="red", status="open"):
    return Alert.objects.create(patient=patient, municipality=patient.municipality, kind="out_of_range",
                                colour=colour, status=status, reason="SpO2 85 %")  # fmt: skip


def _ids(response) -> set[str]:
    assert response.status_code == 200, response.content
    return {a["id"] for a in response.json()["results"]}


def test_the_filters_narrow_the_list(world, login):
    red, yellow = _alert(world.p.gjerdrum), _alert(world.p.nannestad, colour="yellow")
    closed = _alert(world.p.gjerdrum, status="closed")
    nurse = login(world.u.nurse)
    assert _ids(nurse.get("/api/v1/alerts/")) == {str(red.pk), str(yellow.pk), str(closed.pk)}
    assert _ids(nurse.get(f"/api/v1/alerts/?patient={world.p.gjerdrum.pk}&status=open")) == {str(red.pk)}
    assert _ids(nurse.get("/api/v1/alerts/?colour=yellow")) == {str(yellow.pk)}
    number = world.p.nannestad.municipality.number
    assert _ids(nurse.get(f"/api/v1/alerts/?municipality={number}&status=")) == {str(yellow.pk)}


def test_a_filter_that_is_no_value_of_its_kind_is_a_400_naming_it(world, login):
    _alert(world.p.gjerdrum)
    response = login(world.u.nurse).get("/api/v1/alerts/?patient=xyz&status=bogus&colour=green&municipality=Oslo")
    assert response.status_code == 400
    errors = response.json()
    assert set(errors) == {"patient", "status", "colour", "municipality"}
    assert "UUID" in errors["patient"][0] and "bogus" in errors["status"][0] and "green" in errors["colour"][0]
    assert errors["municipality"] == ["Et kommunenummer har fire sifre."]
    assert not any("valid" in message for messages in errors.values() for message in messages)  # Norwegian


def test_red_comes_before_yellow_then_the_oldest_first(world, login):
    """As the worklist: a red on page 1 whatever the yellows before it (by rank, not by the colours'
    names, which sort «red» before «yellow»)."""
    first_yellow, red, second_yellow = (
        _alert(world.p.gjerdrum, "yellow"),
        _alert(world.p.nannestad),
        _alert(world.p.gjerdrum, "yellow", "closed"),
    )
    listed = login(world.u.nurse).get("/api/v1/alerts/").json()["results"]
    assert [a["id"] for a in listed] == [str(red.pk), str(first_yellow.pk), str(second_yellow.pk)]
