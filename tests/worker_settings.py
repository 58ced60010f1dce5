"""The settings of a Celery worker a test starts (tests/conftest.py, worker_factory): the platform's,
with the cache keys of the test run that started it (DHO_TEST_CACHE_PREFIX, set in pytest_configure),
so its heartbeat lands where that run's /healthz looks and nowhere a parallel run looks."""

import os

from dho.settings import *  # noqa: F403
from dho.settings import CACHES

CACHES["default"]["KEY_PREFIX"] = os.environ.get("DHO_TEST_CACHE_PREFIX", "")
