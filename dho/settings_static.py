"""Settings for the checks that read the code without running it (`make lint`): mypy's Django
plugin (pyproject.toml [tool.django-stubs]) and `makemigrations --check`. They are dho.settings as
production has them (no debug, no test mode), given what those need at import time from a shell
with nothing exported.

dho.settings starts the embedded PostgreSQL and Redis when DATABASE_URL / REDIS_URL are unset and
refuses to load without SECRET_KEY; these checks need neither a server nor a secret, only the
models, the names and the types. So the addresses below lead nowhere (the .invalid domain never
resolves) and replace whatever the shell holds, and the database is Django's dummy backend, which
never connects: a process started on this module by mistake can reach no database and serve
nothing. (makemigrations then skips comparing with a database's applied migrations; `make test`
migrates a real one.)"""

import os

os.environ |= {
    "DATABASE_URL": "postgres://static@static.invalid:5432/static",
    "REDIS_URL": "redis://static.invalid:6379/0",
    "SECRET_KEY": "static-checks-only-never-a-server-and-never-anyone-s-secret",
}
os.environ.pop("DATABASE_APP_URL", None)

from dho.settings import *  # noqa: F403

DATABASES = {"default": {"ENGINE": "django.db.backends.dummy"}}
