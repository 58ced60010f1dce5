"""The Content-Security-Policy in a real browser: the worklist's live refresh (htmx) and the patient
page's «Kopier til journal» still work with their scripts moved to files, and Chromium reports no
violation, while an injected inline script is refused (the control that the policy is enforced)."""

import pytest
from playwright.sync_api import expect

from tests.database_roles import superuser_make
from triage.models import Alert

pytestmark = pytest.mark.browser

# Runs before any page script: every violation the browser reports lands in window.__csp.
RECORD_VIOLATIONS = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__csp.push(e.violatedDirective + " " + (e.blockedURI || "inline") + " " + (e.sample || ""));
});
"""


def _watch(page) -> list[str]:
    """Console messages about CSP or Permissions-Policy (blocked content, unknown features)."""
    seen = []
    page.add_init_script(RECORD_VIOLATIONS)
    words = ("Content Security Policy", "Content-Security-Policy", "Permissions-Policy", "Refused to")

    def on_console(message):
        if any(word in message.text for word in words):
            seen.append(message.text)

    page.on("console", on_console)
    return seen


def _violations(page) -> list[str]:
    return page.evaluate("window.__csp")


def test_the_live_worklist_and_the_copy_button_work_under_the_policy(world, page, browser_login, live_server):
    console = _watch(page)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    browser_login(world.u.nurse)
    expect(page).to_have_url(f"{live_server.url}/worklist/")
    expect(page.get_by_text("Ingen åpne varsler")).to_be_visible()
    # htmx is loaded from its file, configured by the meta tag, and has injected no <style>.
    assert page.evaluate("htmx.config.includeIndicatorStyles") is False
    assert page.evaluate("document.querySelectorAll('style').length") == 0

    # A new alert appears without a reload: the 5-second refresh runs under the policy.
    Alert.objects.create(
        patient=world.p.gjerdrum, municipality=world.m.gjerdrum, kind="out_of_range", colour="red",
        reason="SpO2 86 % – rød under 90", measurement="spo2",
    )  # fmt: skip
    with page.expect_request(lambda r: r.headers.get("x-csrftoken") is not None and "/worklist/" in r.url):
        pass  # worklist.js adds the CSRF header to htmx's requests
    row = page.locator("tr.alert-row", has_text="Rune Gjerdrum")
    expect(row).to_be_visible(timeout=20_000)

    # Handle it: the journal note gets a «Kopier til journal» button on the patient page.
    row.get_by_role("link", name="Følg opp Rune Gjerdrum").click()
    page.get_by_label("Ringte pasienten – fikk svar").check()
    page.get_by_label("Notat").fill("Rådet pasienten etter planen.")
    page.get_by_role("button", name="Lagre oppfølging").click()
    expect(page.get_by_text("er håndtert og lukket")).to_be_visible()
    page.goto(f"/patients/{world.p.gjerdrum.pk}/")
    button = page.get_by_role("button", name="Kopier til journal")
    button.click()
    expect(page.get_by_role("button", name="Kopiert")).to_be_visible()
    assert "Rådet pasienten etter planen." in page.evaluate("navigator.clipboard.readText()")

    assert _violations(page) == []
    assert console == []

    # The control: an inline script put into the page is refused, and the refusal is seen.
    page.evaluate(
        "() => { const s = document.createElement('script'); s.textContent = 'window.__ran = 1';"
        " document.body.appendChild(s); }"
    )
    page.wait_for_timeout(200)
    assert page.evaluate("window.__ran") is None
    assert any(v.startswith("script-src") for v in _violations(page))
    assert any("Content Security Policy" in m for m in console)


def test_the_admin_works_under_the_policy(world, page, browser_login):
    """Django's admin ships its scripts as files: lists, filters, the user form and the date pickers
    run without a violation (no exception for /admin/ in the policy)."""
    console = _watch(page)
    superuser_make(world.u.admin)
    browser_login(world.u.admin)
    for path in (
        "/admin/",
        "/admin/tenants/municipality/",
        "/admin/tenants/membership/add/",
        "/admin/measurements/reading/",
        f"/admin/auth/user/{world.u.nurse.pk}/change/",
        "/admin/tenants/agreement/add/",
    ):
        response = page.goto(path)
        assert response.status == 200, path
        page.wait_for_load_state("load")
        assert _violations(page) == [], path
    # The agreement form's «I dag» and calendar links are built by DateTimeShortcuts.js: it ran.
    expect(page.locator(".datetimeshortcuts").first).to_be_visible()
    assert console == []
