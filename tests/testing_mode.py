"""The suite's test mode, however pytest is started (`make test`, `python -m pytest`, an editor's
runner): pyproject.toml's addopts loads this module as a plugin (`-p tests.testing_mode`), which pytest
imports before pytest-django reads the settings. The settings take test mode from DHO_TESTING only,
never from pytest being imported (dho/settings.py). An explicit DHO_TESTING=0 is left as it is."""

import os

os.environ.setdefault("DHO_TESTING", "1")
