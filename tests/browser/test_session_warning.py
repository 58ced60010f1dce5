"""The warning before an idle session ends: it opens in time, «Fortsett innlogget» keeps the nurse
logged in (a real user action), and without it the worklist goes to the login, which says why.
The limits are shortened to seconds; the live refresh runs all along and extends nothing."""

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def _idle_deadline(page) -> float:
    return page.request.get("/session/status/").json()["idle_deadline"]


def test_the_worklist_warns_before_the_end_and_lets_the_nurse_stay(world, browser_login, axe_violations, settings):
    settings.DHO_SESSION_IDLE_SECONDS = 10
    settings.DHO_SESSION_WARNING_SECONDS = 6  # the warning 4 s after the last action
    page = browser_login(world.u.nurse)
    expect(page).to_have_url(re.compile(r"/worklist/$"))
    dialog = page.get_by_role("dialog", name="Du blir snart logget ut")
    expect(dialog).to_be_hidden()

    expect(dialog).to_be_visible(timeout=8_000)
    expect(dialog).to_contain_text("Du har ikke vært aktiv på en stund")
    stay = dialog.get_by_role("button", name="Fortsett innlogget")
    expect(stay).to_be_focused()  # a keyboard user is on the button at once
    assert axe_violations(page) == []
    before = _idle_deadline(page)  # asking is not an action: the deadline stands
    page.keyboard.press("Enter")
    expect(dialog).to_be_hidden()
    assert _idle_deadline(page) > before  # «Fortsett innlogget» moved it
    expect(page).to_have_url(re.compile(r"/worklist/$"))

    # Nobody answers the next warning: the session ends and the login says why.
    expect(dialog).to_be_visible(timeout=8_000)
    expect(page).to_have_url(re.compile(r"/login/\?next=(%2F|/)worklist"), timeout=12_000)
    expect(page.get_by_role("status")).to_contain_text("Du ble logget ut fordi du ikke hadde gjort noe")
    page.goto("/worklist/")
    expect(page).to_have_url(re.compile(r"/login/"))
