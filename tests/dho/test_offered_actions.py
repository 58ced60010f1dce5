"""A page offers exactly the steps its user may take: every demo login walks the site from its home
page (the links it is shown, one page per kind of page and per relation to the patient), submits
every form it is offered with the values the form already holds, and never meets a 403 (nor a 500).

A refusal of the step as asked (a 400, a message, a form error) is fine: the form's defaults are
often not a valid answer. A 403 is not: it means the page offered a step the policy
(patients.access, ebp.access) does not allow this user, as a nurse of one kommune who is also the
fastlege of a patient elsewhere met «Oppstart» on that patient's page when the templates asked for the
user's roles anywhere instead of their relation to this patient."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import pytest
from django.test import Client
from django.urls import Resolver404, resolve

from dho.demo_logins import LOGINS
from patients.models import Patient
from tenants.models import Centre, Membership, Municipality, Role
from tenants.selectors import role_for_patient
from tests.conftest import verified_client
from tests.database_roles import every_municipality
from tests.dho import test_demo
from tests.factories import UserFactory
from triage.models import Alert

SKIPPED = ("/logout/", "/login/", "/account/", "/session/", "/api/", "/static/", "/healthz")
MAX_REQUESTS = 150  # per login: far more than one of each kind of page, and a bound on the walk
DETAIL_BY_STATUS = {"patients:detail", "ebp:plan"}  # what they offer depends on the forløp's status too
FASTLEGE_NURSE = "sykepleier.agder.fastlege"
demo, demo_seeded = test_demo.demo, test_demo.demo_seeded  # the demo world, seeded once for this module


# --- reading a page: its links and its forms, with the values a browser would send ------------------


@dataclass
class Form:
    action: str
    method: str
    fields: list[tuple[str, str]] = field(default_factory=list)
    submitter: tuple[str, str] | None = None  # the first submit button with a name: what Enter sends


class Page(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self.forms: list[Form] = []
        self._form: Form | None = None
        self._select: tuple[str, list[tuple[str, bool]]] | None = None
        self._option: str | None = None
        self._textarea: tuple[str, list[str]] | None = None

    def handle_starttag(self, tag, attrs):
        a = {k: (v or "") for k, v in attrs}
        if tag == "a" and a.get("href"):
            self.links.append(a["href"])
        elif tag == "form":
            self._form = Form(a.get("action", ""), a.get("method", "get").lower())
            self.forms.append(self._form)
        elif self._form is None or "disabled" in a:
            return
        elif tag == "input":
            kind, name = a.get("type", "text").lower(), a.get("name")
            if kind == "submit" and name and self._form.submitter is None:
                self._form.submitter = (name, a.get("value", ""))
            elif (
                name
                and kind not in ("submit", "button", "file", "image", "reset")
                and (kind not in ("checkbox", "radio") or "checked" in a)
            ):
                self._form.fields.append((name, a.get("value", "on" if kind == "checkbox" else "")))
        elif tag == "button" and a.get("type", "submit") == "submit":
            if a.get("name") and self._form.submitter is None:
                self._form.submitter = (a["name"], a.get("value", ""))
        elif tag == "select" and a.get("name"):
            self._select = (a["name"], [])
        elif tag == "option" and self._select is not None:
            self._option = a.get("value")
            self._select[1].append((self._option or "", "selected" in a))
        elif tag == "textarea" and a.get("name"):
            self._textarea = (a["name"], [])

    def handle_data(self, data):
        if self._textarea is not None:
            self._textarea[1].append(data)
        elif self._select is not None and self._option is None and self._select[1]:
            value, selected = self._select[1][-1]
            self._select[1][-1] = (value or data.strip(), selected)

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None
        elif tag == "option":
            self._option = None
        elif tag == "select" and self._select is not None and self._form is not None:
            name, options = self._select
            chosen = [value for value, selected in options if selected] or [value for value, _ in options[:1]]
            self._form.fields += [(name, value) for value in chosen]
            self._select = None
        elif tag == "textarea" and self._textarea is not None and self._form is not None:
            self._form.fields.append((self._textarea[0], "".join(self._textarea[1]).lstrip("\n")))
            self._textarea = None


def parsed(response) -> Page:
    page = Page()
    page.feed(response.content.decode())
    return page


# --- the walk -------------------------------------------------------------------------------------


def _same_site(base: str, href: str) -> str | None:
    url = urlsplit(urljoin(base, href))
    if url.scheme not in ("http", "") or url.netloc not in ("", "testserver") or url.path.startswith(SKIPPED):
        return None
    return url.path + (f"?{url.query}" if url.query else "")


@dataclass(frozen=True)
class Seen:
    """What a walk knows of a patient: enough to tell its relation to the user and its status."""

    municipality_id: int
    gp_id: int | None
    status: str


def _patients() -> tuple[dict[str, Seen], dict[str, str]]:
    """Every patient (by id) and every alert's patient id, read in two queries for the whole walk."""
    with every_municipality():
        rows = Patient.objects.values_list("pk", "municipality_id", "gp_id", "status")
        patients = {str(pk): Seen(municipality_id, gp_id, status) for pk, municipality_id, gp_id, status in rows}
        alerts = {str(pk): str(patient_id) for pk, patient_id in Alert.objects.values_list("pk", "patient_id")}
    return patients, alerts


@dataclass
class Walk:
    user: object
    client: Client
    problems: list[str] = field(default_factory=list)
    requests: int = 0
    visited: set = field(default_factory=set)
    submitted: set = field(default_factory=set)
    pages: int = 0
    forms: int = 0
    known: dict = field(default_factory=dict)  # path → its key, until a step changes what a page offers
    world: tuple | None = None  # _patients(), read again after a step

    def key(self, path: str) -> tuple | None:
        """One visit per kind of page (its view), per relation to the patient in it (the role that
        opens the patient: a nurse who is also fastlege elsewhere walks each patient page once per
        role; on the patient's own pages its status too), and per page of a list."""
        if path not in self.known:
            self.known[path] = self._key(path)
        return self.known[path]

    def _key(self, path: str) -> tuple | None:
        url = urlsplit(path)
        try:
            match = resolve(url.path)
        except Resolver404:
            return None
        page = parse_qs(url.query).get("page", [""])[:1]
        relation: tuple = ()
        self.world = self.world or _patients()
        patients, alerts = self.world
        patient_id = str(match.kwargs.get("patient_id") or alerts.get(str(match.kwargs.get("alert_id")), ""))
        patient = patients.get(patient_id)
        if patient is not None:
            role = role_for_patient(self.user, municipality_id=patient.municipality_id, gp_id=patient.gp_id)
            relation = (role, patient.status) if match.view_name in DETAIL_BY_STATUS else (role,)
        return (match.view_name, *relation, *[p for p in page if p])

    def ask(self, method: str, path: str, data=None):
        self.requests += 1
        response = getattr(self.client, method)(path, data or {})
        if response.status_code in (403, 500):
            detail = response.content.decode(errors="replace")[:200].replace("\n", " ")
            self.problems.append(f"{self.user.username} {method.upper()} {path} → {response.status_code}: {detail}")
        return response

    def run(self) -> None:
        queue: deque[str] = deque(["/"])
        while queue and self.requests < MAX_REQUESTS:
            path = queue.popleft()
            key = self.key(path)
            if key is None or key in self.visited:
                continue
            self.visited.add(key)
            response = self.ask("get", path)
            if response.status_code in (301, 302) and (target := _same_site(path, response["Location"])):
                queue.append(target)
            if response.status_code != 200 or "text/html" not in response.get("Content-Type", ""):
                continue
            self.pages += 1
            page = parsed(response)
            queue.extend(url for href in page.links if (url := _same_site(path, href)))
            self.submit_forms(path, page, queue)

    def submit_forms(self, path: str, page: Page, queue: deque) -> None:
        """Each form the page offers, once per kind (its action, relation and fields); after a step
        that may have changed what the page offers, the page is read again before the next form."""
        while self.requests < MAX_REQUESTS:
            offered = [(form, key) for form in page.forms if (key := self._form_key(path, form)) not in self.submitted]
            if not offered:
                return
            form, key = offered[0]
            self.submitted.add(key)
            self.forms += 1
            action = _same_site(path, form.action or path)
            if action is None:
                continue
            data = form.fields + ([form.submitter] if form.submitter else [])
            if form.method == "post":
                response = self.ask("post", action, _multi(data))
                if response.status_code not in (301, 302):
                    continue  # refused as asked (the form again, with its errors): nothing changed
                self.known.clear()
                self.world = None
                if target := _same_site(action, response["Location"]):
                    queue.append(target)
                again = self.ask("get", path)
                if again.status_code != 200 or "text/html" not in again.get("Content-Type", ""):
                    return
                page = parsed(again)
            else:
                queue.append(f"{urlsplit(action).path}?{urlencode(data)}")

    def _form_key(self, path: str, form: Form):
        action = _same_site(path, form.action or path) or form.action
        names = tuple(sorted({name for name, _ in form.fields if name != "csrfmiddlewaretoken"}))
        return (self.key(action), form.method, names, form.submitter)


def _multi(pairs: list[tuple[str, str]]) -> dict[str, list[str]]:
    data: dict[str, list[str]] = {}
    for name, value in pairs:
        data.setdefault(name, []).append(value)
    return data


def walk(user) -> Walk:
    client = verified_client(user, Client(enforce_csrf_checks=True, raise_request_exception=False))
    result = Walk(user, client)
    result.run()
    return result


# --- who walks ------------------------------------------------------------------------------------


def fastlege_nurse():
    """A demo-like login: a nurse at the Agder centre who is also the fastlege of one Gjerdrum patient
    (waiting for oppstart when the demo has one): on that patient's pages a fastlege, not a nurse."""
    with every_municipality():
        user = UserFactory(username=FASTLEGE_NURSE, first_name="Nils", last_name="Aune")
        Membership.objects.create(user=user, role=Role.NURSE, centre=Centre.objects.get(slug="agder"))
        gjerdrum = Municipality.objects.get(number="3230")
        Membership.objects.create(user=user, role=Role.GP, municipality=gjerdrum)
        patients = Patient.objects.filter(municipality=gjerdrum).order_by("name")
        patient = patients.filter(status="pending").first() or patients.filter(status="active").first()
        patient.gp = user
        patient.save(update_fields=["gp"])  # the fastlege's object permission follows (patients.signals)
    return user, patient


@pytest.mark.usefixtures("demo")
@pytest.mark.parametrize("username", [login[0] for login in LOGINS])
def test_every_offered_action_of_every_demo_login_is_allowed(username):
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.get(username=username)
    result = walk(user)
    assert result.problems == []
    assert result.pages >= 2, f"{username} reached {sorted(result.visited)}"


@pytest.mark.usefixtures("demo")
def test_a_nurse_who_is_fastlege_elsewhere_is_offered_only_the_fastleges_steps_there():
    user, patient = fastlege_nurse()
    result = walk(user)
    with every_municipality():
        role = role_for_patient(user, municipality_id=patient.municipality_id, gp_id=patient.gp_id)
    assert role == Role.GP
    assert ("patients:detail", Role.GP, patient.status) in result.visited, "the walk reached the patient's page"
    assert ("patients:detail", Role.NURSE, "active") in result.visited, "and an Agder patient's, as their nurse"
    assert result.problems == []
