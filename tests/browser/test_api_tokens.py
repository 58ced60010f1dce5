import re

import pytest
from knox.crypto import hash_token
from knox.models import AuthToken
from playwright.sync_api import expect

from tests.conftest import second_factor_device, totp_code

pytestmark = pytest.mark.browser


def test_a_user_makes_an_api_token_sees_it_once_and_revokes_it_by_keyboard(world, browser_login, axe_violations):
    page = browser_login(world.u.coordinator)
    page.get_by_role("link", name="API-nøkler").click()
    expect(page.get_by_role("heading", name="API-nøkler", exact=True)).to_be_visible()
    expect(page.get_by_text("Du har ingen aktive API-nøkler.")).to_be_visible()
    assert axe_violations(page) == []

    # The second factor again: a fresh code from the app (the login's was spent).
    page.get_by_label("Kode fra autentiseringsappen").fill(totp_code(second_factor_device(world.u.coordinator)))
    page.get_by_role("button", name="Lag en ny API-nøkkel").click()
    secret = page.get_by_label("Nøkkel", exact=True).input_value()
    [token] = AuthToken.objects.filter(user=world.u.coordinator)
    assert token.digest == hash_token(secret)
    expect(page.get_by_text("Den vises ikke igjen", exact=False)).to_be_visible()
    assert axe_violations(page) == []

    page.goto("/api-nokler/")
    expect(page.get_by_label("Nøkkel", exact=True)).to_have_count(0)  # never shown again
    revoke = page.get_by_role("button", name=re.compile(f"^Slett nøkkelen som begynner med {token.token_key}"))
    revoke.focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("status")).to_contain_text("er slettet")
    expect(page.get_by_text("Du har ingen aktive API-nøkler.")).to_be_visible()
    assert not AuthToken.objects.filter(user=world.u.coordinator).exists()
