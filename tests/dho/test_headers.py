"""A Content-Security-Policy without 'unsafe-inline' that the pages actually obey,
a Permissions-Policy, and flash messages that never carry a patient's name in a cookie."""

import base64
import binascii
import datetime
import os
import re
import subprocess
import sys
import zlib
from html.parser import HTMLParser
from pathlib import Path

from csp.middleware import CSPMiddleware
from django.conf import settings
from django.http import HttpResponse
from django.template import engines

from tests.factories import PatientFactory
from tests.patients.test_access_log import made_pdf
from triage.models import Alert

TEMPLATES = Path(settings.BASE_DIR) / "templates"


def _policy(response) -> dict[str, list[str]]:
    header = response.headers.get("Content-Security-Policy", "")
    assert header, f"ingen Content-Security-Policy på {response.request['PATH_INFO']}"
    directives = {}
    for part in header.split(";"):
        name, *sources = part.split()
        directives[name] = sources
    return directives


class _InlineFinder(HTMLParser):
    """Everything in a page that a CSP without 'unsafe-inline' blocks, unless it carries the nonce."""

    def __init__(self, nonce: str | None):
        super().__init__()
        self.nonce = nonce
        self.blocked: list[str] = []
        self._in_script: tuple | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for name, value in attrs.items():
            if name == "style" or name.startswith("on"):
                self.blocked.append(f"<{tag} {name}={value!r}>")
            if name in ("href", "src", "action") and (value or "").strip().lower().startswith("javascript:"):
                self.blocked.append(f"<{tag} {name}={value!r}>")
        nonced = self.nonce is not None and attrs.get("nonce") == self.nonce
        if tag == "style" and not nonced:
            self.blocked.append("<style> uten nonce")
        data_block = (attrs.get("type") or "").endswith("json")
        if tag == "script" and "src" not in attrs and not nonced and not data_block:
            self._in_script = True

    def handle_data(self, data):
        if self._in_script and data.strip():
            self.blocked.append(f"<script>{data.strip()[:60]}…")

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = None


def _blocked(response) -> list[str]:
    sources = _policy(response).get("script-src", [])
    nonces = [s[len("'nonce-") : -1] for s in sources if s.startswith("'nonce-")]
    finder = _InlineFinder(nonces[0] if nonces else None)
    finder.feed(response.content.decode())
    return finder.blocked


def _alert(patient, colour="red"):
    return Alert.objects.create(
        patient=patient, municipality=patient.municipality, kind="out_of_range", colour=colour,
        reason="SpO2 86 % – rød under 90", measurement="spo2",
    )  # fmt: skip


def test_the_policy_allows_no_inline_script_or_style_and_no_framing(world, client):
    directives = _policy(client.get("/login/"))
    header = " ".join(" ".join([k, *v]) for k, v in directives.items())
    assert "'unsafe-inline'" not in header and "'unsafe-eval'" not in header
    assert directives["default-src"] == ["'self'"]
    assert directives["script-src"][0] == "'self'" and directives["style-src"][0] == "'self'"
    assert directives["object-src"] == ["'none'"]
    assert directives["base-uri"] == ["'self'"]
    assert directives["form-action"] == ["'self'"]
    assert directives["frame-ancestors"] == ["'none'"]


def test_the_api_and_healthz_carry_the_policy_too(world, login):
    assert _policy(login(world.u.nurse).get("/api/v1/patients/"))["default-src"] == ["'self'"]
    assert _policy(login(world.u.nurse).get("/healthz"))["frame-ancestors"] == ["'none'"]


def test_a_nonce_is_fresh_for_each_response_and_only_there_when_a_page_uses_it(db, client, rf):
    template = engines["django"].from_string('<script nonce="{{ request.csp_nonce }}">1</script>')
    middleware = CSPMiddleware(lambda request: HttpResponse(template.render({}, request)))
    first, second = (middleware(rf.get("/")) for _ in range(2))
    first_nonce = re.search(r"'nonce-([^']+)'", first["Content-Security-Policy"]).group(1)
    assert f'nonce="{first_nonce}"' in first.content.decode()
    assert first_nonce not in second["Content-Security-Policy"]
    # A response that uses none gets none in its header: nothing inline runs there at all.
    assert "'nonce-" not in client.get("/healthz")["Content-Security-Policy"]


def test_no_template_has_inline_script_style_or_event_handler():
    """Every HTML template a browser gets (the *_pdf.html ones only ever go to WeasyPrint)."""
    inline_script = re.compile(r"<script(?![^>]*\b(?:src|nonce)=)(?![^>]*type=\"application/(?:ld\+)?json\")[^>]*>")
    problems = []
    for path in sorted(TEMPLATES.rglob("*.html")):
        if path.name.endswith("_pdf.html"):
            continue
        text = re.sub(r"{#.*?#}|{% comment %}.*?{% endcomment %}", "", path.read_text(), flags=re.S)
        checks = {
            "inline <script>": inline_script,
            "<style> uten nonce": re.compile(r"<style(?![^>]*\bnonce=)[^>]*>"),
            "style-attributt": re.compile(r"<[a-zA-Z][^>]*\sstyle\s*=", re.S),
            "hendelsesattributt (on…=)": re.compile(r"<[a-zA-Z][^>]*\son[a-z]+\s*=", re.S),
            "javascript:-lenke": re.compile(r"=\s*[\"']\s*javascript:", re.I),
        }
        problems += [f"{path.relative_to(TEMPLATES)}: {what}" for what, rx in checks.items() if rx.search(text)]
    assert problems == []


def test_the_pages_with_scripts_obey_the_policy_as_rendered(world, login):
    """Worklist rows and charts are HTML built in Python: check what a nurse's browser really gets."""
    alert = _alert(world.p.gjerdrum)
    nurse = login(world.u.nurse)
    handled = nurse.post(
        f"/worklist/alerts/{alert.pk}/handle/",
        {"actions": ["called_reached"], "note": "Ringte, alt vel.", "seen_colour": alert.colour},
    )
    assert handled.status_code == 302
    _alert(world.p.gjerdrum, colour="yellow")
    pages = {
        "/worklist/": "js/worklist.js",
        f"/patients/{world.p.gjerdrum.pk}/": "js/copy-note.js",
        "/followup/": None,
        "/patients/": None,
        "/forlop/": None,
    }
    for path, script in pages.items():
        response = nurse.get(path)
        assert response.status_code == 200, path
        assert _blocked(response) == [], path
        if script:
            assert f'src="/static/{script}"' in response.content.decode(), path
    worklist = nurse.get("/worklist/").content.decode()
    assert '"includeIndicatorStyles": false' in worklist  # htmx would otherwise inject a <style>


def test_the_other_roles_pages_obey_the_policy_as_rendered(world, login):
    pages = {
        world.u.finance: ["/billing/"],
        world.u.admin: ["/billing/prismodell/"],
        world.u.coordinator: ["/forlop/", "/worklist/", "/billing/grunnlag/"],
        world.u.gp: ["/approvals/", f"/patients/{world.p.gjerdrum.pk}/"],
    }
    for user, paths in pages.items():
        client = login(user)
        for path in paths:
            response = client.get(path, follow=True)
            assert response.status_code == 200, (user.username, path)
            assert _blocked(response) == [], (user.username, path)


def test_the_admin_pages_obey_the_policy(world, login, client):
    assert _blocked(client.get("/admin/login/")) == []
    admin_index = login(world.u.admin).get("/admin/")
    assert admin_index.status_code == 200
    assert _blocked(admin_index) == []


def test_the_static_scripts_exist_where_the_templates_point():
    for name in ("js/worklist.js", "js/copy-note.js", "vendor/htmx-2.0.11.min.js"):
        assert (Path(settings.BASE_DIR) / "static" / name).is_file(), name


def test_every_response_denies_camera_microphone_and_location(world, client, login):
    for response in (client.get("/login/"), login(world.u.nurse).get("/worklist/"), client.get("/healthz")):
        policy = dict(item.strip().split("=", 1) for item in response["Permissions-Policy"].split(","))
        assert policy["camera"] == policy["microphone"] == policy["geolocation"] == "()"
        assert policy["payment"] == policy["usb"] == "()"
        assert policy["clipboard-write"] == "(self)"  # «Kopier til journal» needs it


def _cookie_texts(response) -> list[str]:
    """Each cookie's value as sent, and decoded as far as Django's signing would let anyone decode it."""
    texts = []
    for morsel in response.cookies.values():
        texts.append(morsel.value)
        payload = morsel.value.strip('"').split(":")[0]
        compressed = payload.startswith(".")
        try:
            raw = base64.urlsafe_b64decode(payload.lstrip(".") + "=" * (-len(payload.lstrip(".")) % 4))
            texts.append((zlib.decompress(raw) if compressed else raw).decode("utf-8", "replace"))
        except (binascii.Error, zlib.error, ValueError):
            pass
    return texts


def test_a_message_naming_a_patient_travels_in_no_cookie(world, login):
    alert = _alert(world.p.gjerdrum)
    nurse = login(world.u.nurse)
    taken = nurse.post(f"/worklist/alerts/{alert.pk}/take/")
    assert taken.status_code == 302
    assert "messages" not in taken.cookies
    for text in _cookie_texts(taken):
        assert "Gjerdrum" not in text, text
    # The message still reaches the nurse, from the session.
    shown = nurse.get("/worklist/").content.decode()
    assert "Du har tatt varselet for Rune Gjerdrum." in shown
    assert "Du har tatt varselet" not in nurse.get("/worklist/").content.decode()  # shown once


def test_a_patient_on_another_page_is_not_in_a_cookie_either(world, login):
    patient = PatientFactory(municipality=world.m.gjerdrum, name="Åse Ærlig Øverby")
    nurse = login(world.u.nurse)
    alert = _alert(patient)
    response = nurse.post(
        f"/worklist/alerts/{alert.pk}/handle/", {"actions": ["called_reached"], "seen_colour": alert.colour}
    )
    assert response.status_code == 302
    assert all("Øverby" not in text and "\\u00d8verby" not in text for text in _cookie_texts(response))
    assert "Varselet for Åse Ærlig Øverby er håndtert og lukket." in nurse.get("/worklist/").content.decode()


# --- Cache-Control and HSTS ----------------------------------------------------------------------


def test_it_tells_every_cache_to_keep_no_page_api_answer_pdf_or_export(world, login, token_client):
    """Shared kommune PCs: nothing with patient (or finance) data may stay in a browser's or proxy's
    cache for the next user of the machine."""
    from django.utils import timezone

    month = (timezone.localdate().replace(day=1) - datetime.timedelta(days=1)).strftime("%Y-%m")
    nurse, finance, admin = login(world.u.nurse), login(world.u.finance), login(world.u.admin)
    answers = {
        "page": nurse.get(f"/patients/{world.p.gjerdrum.pk}/"),
        "API (session)": nurse.get("/api/v1/patients/"),
        "API (token)": token_client(world.u.nurse).get(f"/api/v1/patients/{world.p.gjerdrum.pk}/"),
        "PDF": made_pdf(nurse, world.p.gjerdrum),
        "CSV": finance.get(f"/billing/{month}/allocation.csv"),
        "XLSX": finance.get(f"/billing/{month}/allocation.xlsx"),
        "admin": admin.get("/admin/tenants/auditevent/"),
        "API-nøkler": nurse.get("/api-nokler/"),
    }
    assert answers["PDF"]["Content-Type"] == "application/pdf"
    assert answers["CSV"]["Content-Type"].startswith("text/csv")
    assert "spreadsheetml" in answers["XLSX"]["Content-Type"]
    for what, response in answers.items():
        assert response.status_code == 200, what
        assert response["Cache-Control"] == "no-store, private", what
    # Static files (versioned, no patient data) keep their own caching.
    assert "no-store" not in nurse.get("/static/js/worklist.js").get("Cache-Control", "")


def test_it_asks_for_hsts_preloading_only_when_told_to(world, client, settings):
    settings.SECURE_HSTS_SECONDS = 31536000
    answer = client.get("/login/", secure=True)
    assert answer["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
    script = "import django; django.setup(); from django.conf import settings; print(settings.SECURE_HSTS_PRELOAD)"
    production = {**os.environ, "DJANGO_SETTINGS_MODULE": "dho.settings", "DHO_TESTING": "0", "DHO_DEBUG": "0",
                  "SECRET_KEY": "x" * 60}  # fmt: skip
    for preload, expected in ((None, "False"), ("1", "True")):
        env = {k: v for k, v in production.items() if k != "DHO_HSTS_PRELOAD"}
        env |= {"DHO_HSTS_PRELOAD": preload} if preload else {}
        result = subprocess.run([sys.executable, "-c", script], cwd=settings.BASE_DIR, env=env, capture_output=True,
                                text=True, timeout=60)  # fmt: skip
        assert result.stdout.strip() == expected, result.stderr
