"""The settings mypy's Django plugin reads (pyproject.toml [tool.mypy]): dho.settings as production
has them (no debug, no test mode), given what they need at import time from nobody's environment.

dho.settings starts the embedded PostgreSQL and Redis when DATABASE_URL / REDIS_URL are unset and
refuses to load without SECRET_KEY; the type checker needs neither a server nor a secret, only the
names and types the settings define. The addresses below lead nowhere (the .invalid domain never
resolves) and replace whatever the shell holds, so a process started on this module by mistake can
reach no database and serve nothing."""

import os

os.environ |= {
    "DATABASE_URL": "postgres://typecheck@typecheck.invalid:5432/typecheck",
    "REDIS_URL": "redis://typecheck.invalid:6379/0",
    "SECRET_KEY": "typecheck-only-never-a-server",
}
os.environ.pop("DATABASE_APP_URL", None)

from dho.settings import *  # noqa: F403
