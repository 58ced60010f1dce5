"""The admin as a centre admin sees it is Norwegian: every changelist and change form reachable for
them (third-party models included: django-axes, django-otp, knox, auth) shows no English from a
deny-list, and no column header is a raw field name."""

import datetime
import html
import re

import pytest
from django.contrib import admin
from django.test import RequestFactory
from django.urls import reverse

from measurements.services import integration_create
from tenants.activation import activation_code_issue
from tenants.reference import population_set, staffing_save
from tenants.services import audit_record
from tests.conftest import second_factor_device

# Whole words or phrases that only English pages show (the admin's own and the apps' defaults).
DENY = [
    "Access attempts", "Access attempt", "Created at", "Created", "Axes", "kind", "Add ", "Change ", "Delete ",
    "Save", "Home", "Filter", "Search", "Select ", "History", "User agent", "Expiry", "Last used", "Confirmed",
    "Attempt time", "Failures", "Token key", "Digest", "Throttling", "Name", "Username", "Active", "Yes", "No",
    "Action", "Go", "Today", "Clear all filters", "Show all", "Any date", "Past 7 days", "This month", "View",
    "Static", "TOTP", "Group", "Permission", "Centre", "Municipality", "Integration", "Valid from", "Role",
    "Last login", "Staff", "Welcome", "Log out", "Documentation", "Django", "Recent actions", "Skip to",
    "Toggle theme", "Model name", "Auth tokens", "Otp",
]  # fmt: skip
TAGS = re.compile(r"<script.*?</script>|<style.*?</style>|<[^>]+>", re.S)
HEADER = re.compile(r'<th scope="col"\s+class="[^"]*column-(\w+)[^"]*">(.*?)</th>', re.S)


def _text(content: bytes) -> str:
    return html.unescape(TAGS.sub(" ", content.decode()))


def _english(text: str) -> list[str]:
    found = []
    for word in DENY:
        pattern = rf"(?<![\w-]){re.escape(word.strip())}(?![\w-])" + (r" " if word.endswith(" ") else "")
        if re.search(pattern, text):
            found.append(word)
    return found


def _pages(client, user) -> list[str]:
    """Every changelist, add form and one change form per model the centre admin may view."""
    request = RequestFactory().get("/admin/")
    request.user = user
    urls = [reverse("admin:index")]
    for model, model_admin in admin.site._registry.items():
        if not model_admin.has_view_permission(request):
            continue
        info = model._meta.app_label, model._meta.model_name
        urls.append(reverse("admin:{}_{}_changelist".format(*info)))
        if model_admin.has_add_permission(request):
            urls.append(reverse("admin:{}_{}_add".format(*info)))
        first = model_admin.get_queryset(request).first()
        if first is not None and model_admin.list_display_links is not None:
            urls.append(reverse("admin:{}_{}_change".format(*info), args=[first.pk]))
    return urls


@pytest.fixture
def filled(world):
    """One row in every list the centre admin reads (a gateway, an app, a code, a log event, a kommune's
    innbyggertall, a staffing period)."""
    integration_create(centre=world.centres.ovre, name="Gateway A")
    second_factor_device(world.u.nurse)
    activation_code_issue(user=world.u.coordinator, by=world.u.admin)
    audit_record(action="view", object_type="plan_version", patient=world.p.gjerdrum, user=world.u.gp)
    population_set(municipality=world.m.gjerdrum, year=2026, population=7_512, user=world.u.admin)
    staffing_save(centre=world.centres.ovre, valid_from=datetime.date(2026, 1, 1), valid_to=None, nurse_fte="4.6",
                  user=world.u.admin)  # fmt: skip
    return world


def test_it_shows_every_admin_page_of_the_centre_admin_in_norwegian(filled, login):
    client = login(filled.u.admin)
    pages = _pages(client, filled.u.admin)
    assert len(pages) > 20
    problems = {}
    for url in pages:
        response = client.get(url)
        assert response.status_code == 200, url
        content = response.content
        english = _english(_text(content))
        raw = [
            field
            for field, label in HEADER.findall(content.decode())
            if field != "action_checkbox" and _text(label.encode()).strip().lower() in {field, field.replace("_", " ")}
        ]
        if english or raw:
            problems[url] = {"english": english, "raw headers": raw}
    assert problems == {}


def test_it_names_audit_log_codes_in_norwegian(filled, login):
    client = login(filled.u.admin)
    page = client.get(reverse("admin:tenants_auditevent_changelist")).content.decode()
    roles = re.findall(r'class="field-role_shown">([^<]*)<', page)
    objects = re.findall(r'class="field-object_shown">([^<]*)<', page)
    assert "Fastlege" in roles and "planversjon" in objects
    assert not {"gp", "nurse", "admin", "coordinator"} & set(roles)
    assert "plan_version" not in _text(page.encode())  # neither in the rows nor in the filters
