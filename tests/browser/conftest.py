"""Headless Debian Chromium driven by Playwright (never a browser that Playwright downloads)."""

import functools
import os
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip("Debians chromium mangler (/usr/bin/chromium); `make test` installerer den som root")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the ORM calls the tests make are
    # still plain synchronous code, so Django's async-safety guard does not apply.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(base_url=live_server.url, locale="nb-NO")
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


def sign_in(page, user, password="korrekt-hest-batteri"):
    """Logs the user in through the real pages: the password, then the code from their
    authenticator app (tests/conftest.py makes one if they have none)."""
    from tests.conftest import second_factor_device, totp_code

    user.set_password(password)
    user.save()
    device = second_factor_device(user)
    page.goto("/login/")
    page.get_by_label("Brukernavn").fill(user.username)
    page.get_by_label("Passord").fill(password)
    page.get_by_role("button", name="Logg inn").click()
    page.get_by_label("Kode").fill(totp_code(device))
    page.get_by_role("button", name="Bekreft").click()
    page.wait_for_url(lambda url: "/login/" not in url)
    return page


@pytest.fixture
def browser_login(page):
    def _login(user, password="korrekt-hest-batteri"):
        return sign_in(page, user, password)

    return _login


# axe-core's WCAG 2.1 A/AA rules. Only the violations are read: passes and the rest come back one node
# each (axe's resultTypes), not every element of the page serialized to Python.
AXE_OPTIONS = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]},
               "resultTypes": ["violations"]}  # fmt: skip


@functools.cache
def axe_source() -> str:
    """axe-core itself (axe-playwright-python's copy), read from disk once per run."""
    from axe_playwright_python.sync_playwright import Axe

    return Axe().axe_script


def axe_preload(page) -> None:
    """axe in every page the context opens from now on (an init script), so a walk that checks every
    page it visits does not send and evaluate axe's 570 KB again after each navigation."""
    page.context.add_init_script(script=axe_source())


@pytest.fixture
def axe_violations():
    """axe_violations(page) → the WCAG 2.1 A/AA violations of impact serious or critical, as text."""
    source = axe_source()

    def _check(page):
        if page.evaluate("typeof axe === 'undefined'"):  # not preloaded (axe_preload): put it in now
            page.evaluate(source)
        results = page.evaluate("options => axe.run(document, options)", AXE_OPTIONS)
        serious = [v for v in results["violations"] if v["impact"] in ("serious", "critical")]
        return [f"{v['id']}: {v['help']} ({len(v['nodes'])} elementer)" for v in serious]

    return _check
