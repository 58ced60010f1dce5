"""`manage.py check --deploy`: is the production login HelseID, and is it configured?

- tenants.W001: HelseID login is not set up at all (health personnel log in with password and code
  only). DHO_HELSEID_LOGIN=0 says it is deliberate and silences it.
- tenants.E001: HelseID login is on but settings are missing (named).
- tenants.E002: the private key cannot be read as a private JWK (the file and what is wrong).
- tenants.E003: the CA file named does not exist.
- tenants.E004: an organisation number in DHO_HELSEID_ORGNR is not nine digits.
"""

from __future__ import annotations

import re
from pathlib import Path

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register

HINT = "Se docs/login-and-sessions.md, «Configuration» (under «Logg inn med HelseID»)."


@register(Tags.security, deploy=True)
def helseid_login_configured(app_configs=None, **kwargs) -> list:
    from tenants.helseid import HelseIdError, load_private_jwk
    from tenants.helseid_login import settings_missing

    if not settings.DHO_HELSEID_LOGIN:
        if settings.DHO_HELSEID_LOGIN_OFF:
            return []  # DHO_HELSEID_LOGIN=0: password and code on purpose
        return [Warning(
            "Innlogging med HelseID er ikke satt opp (DHO_HELSEID_ISSUER, DHO_HELSEID_CLIENT_ID og "
            "DHO_HELSEID_KEY_FILE mangler): helsepersonell logger inn med passord og kode. I produksjon skal de "
            "logge inn med HelseID; sett DHO_HELSEID_LOGIN=0 hvis passord og kode er et bevisst valg.",
            hint=HINT, id="tenants.W001",
        )]  # fmt: skip
    problems = []
    missing = settings_missing()
    if missing:
        problems.append(Error(
            f"Innlogging med HelseID er slått på, men mangler: {', '.join(missing)}.", hint=HINT, id="tenants.E001"
        ))  # fmt: skip
    key_file, key_value = settings.DHO_HELSEID_LOGIN_KEY_FILE, settings.DHO_HELSEID_LOGIN_KEY
    if key_file or key_value:
        try:
            load_private_jwk(path=key_file or None, value=None if key_file else key_value)
        except HelseIdError as wrong:
            where = f" ({key_file})" if key_file else ""
            problems.append(Error(f"HelseID-nøkkelen{where}: {wrong.reason}", hint=HINT, id="tenants.E002"))
    if settings.DHO_HELSEID_CA_FILE and not Path(settings.DHO_HELSEID_CA_FILE).is_file():
        problems.append(Error(f"DHO_HELSEID_CA_FILE: filen {settings.DHO_HELSEID_CA_FILE} finnes ikke.", hint=HINT,
                              id="tenants.E003"))  # fmt: skip
    wrong_numbers = [n for n in settings.DHO_HELSEID_ORGNR if not re.fullmatch(r"\d{9}", n)]
    if wrong_numbers:
        problems.append(Error(
            f"DHO_HELSEID_ORGNR: {', '.join(wrong_numbers)} er ikke organisasjonsnumre (ni sifre).",
            hint=HINT, id="tenants.E004",
        ))  # fmt: skip
    return problems
