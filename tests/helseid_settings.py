"""The platform's HelseID login pointed at the stand-in (tests/conftest.py's `standins`), with the
demo client: what every test of the login through the stand-in sets first."""

from tenants import oidc


def login_at_standin(settings, standins, *, orgnr=()) -> None:
    """Settings for the login against the stand-in; the cached discovery and keys are dropped, so
    the next login reads the stand-in's. The caller clears them again after (`oidc.cache_clear`)."""
    settings.DHO_HELSEID_LOGIN = True
    settings.DHO_HELSEID_ISSUER = standins.helseid_issuer
    settings.DHO_HELSEID_LOGIN_CLIENT_ID = standins.client.client_id
    settings.DHO_HELSEID_LOGIN_KEY_FILE = str(standins.client.key_file)
    settings.DHO_HELSEID_LOGIN_KEY = ""
    settings.DHO_HELSEID_CA_FILE = str(standins.ca_file)
    settings.DHO_HELSEID_ORGNR = list(orgnr)
    oidc.cache_clear()
