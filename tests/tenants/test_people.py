"""A person is named one way everywhere: full name, else the username (tenants.people.display_name,
and the `display_name` template filter over it)."""

import re
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.template import Context, Template
from django.test.utils import CaptureQueriesContext

from tenants.people import display_name, people_named

ROOT = Path(__file__).resolve().parents[2]
APPS = ["tenants", "patients", "measurements", "ebp", "triage", "billing", "dho"]
# The admin's confirmation names each account by username *and* name: not a display name.
ALLOWED = {"tenants/people.py"}


def test_it_names_a_user_by_full_name_else_username():
    user_model = get_user_model()
    named = user_model(username="knordmann", first_name="Kari", last_name="Nordmann")
    unnamed = user_model(username="gateway-1")
    assert display_name(named) == "Kari Nordmann"
    assert display_name(unnamed) == "gateway-1"
    assert display_name(None) == ""
    rendered = Template("{% load people %}{{ a|display_name }}|{{ b|display_name }}").render(
        Context({"a": named, "b": unnamed})
    )
    assert rendered == "Kari Nordmann|gateway-1"


@pytest.mark.django_db
def test_a_pages_people_are_named_by_the_same_rule_in_one_query():
    user_model = get_user_model()
    named = user_model.objects.create(username="knordmann", first_name="Kari", last_name="Nordmann")
    unnamed = user_model.objects.create(username="gateway-1")
    with CaptureQueriesContext(connection) as queries:
        names = people_named([named.pk, None, unnamed.pk, named.pk])
    assert names == {named.pk: "Kari Nordmann", unnamed.pk: "gateway-1"}
    assert len(queries) == 1
    with CaptureQueriesContext(connection) as queries:
        assert people_named([None]) == {}
    assert len(queries) == 0


def test_no_other_code_or_template_works_out_a_users_name():
    files = [p for app in APPS for p in (ROOT / app).rglob("*.py")] + list((ROOT / "templates").rglob("*.html"))
    found = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in files
        if path.relative_to(ROOT).as_posix() not in ALLOWED
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if re.search(r"get_full_name", line)
    ]
    assert found == []
