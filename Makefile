# Two commands for a fresh machine with Python 3 and git: `make run` and `make test`.
# Each creates .venv and installs the locked dependencies on first use (and when the lock changes).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export XDG_RUNTIME_DIR ?= /tmp

.PHONY: run test lint lock bench-ingest bench-worklist bench-billing clean-var

$(PY):
	$(PYTHON) -m venv $(VENV)

# uv --native-tls: the system's certificate store, as pip uses it (a TLS-inspecting proxy's CA included).
$(STAMP): requirements.lock | $(PY)
	$(PY) -m pip install -q --disable-pip-version-check uv
	$(VENV)/bin/uv pip install -q --native-tls --python $(PY) -r requirements.lock
	touch $(STAMP)

## The platform: embedded PostgreSQL/Redis when none is configured, demo data, web + worker + beat.
## `exec`: no shell between make and the wrapper, so a SIGTERM make passes on reaches the wrapper,
## which stops the platform and the embedded servers before make returns.
run: $(STAMP)
	DHO_DEBUG=1 exec $(PY) -m dho.embedded with-services -- $(PY) -m dho.run

## The whole suite against a real PostgreSQL and Redis (DATABASE_URL/REDIS_URL, else embedded ones).
test: $(STAMP)
	@sh scripts/ensure-chromium.sh
	DHO_TESTING=1 exec $(PY) -m dho.embedded with-services -- $(PY) -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

## Re-resolve requirements.lock from pyproject.toml.
lock: $(STAMP)
	$(VENV)/bin/uv pip compile --native-tls --python-version 3.11 pyproject.toml --extra dev -o requirements.lock

## Benchmarks (figures, not pass/fail): a real gunicorn + Celery worker on the configured or embedded services.
bench-ingest: $(STAMP)
	$(PY) -m dho.embedded with-services -- $(PY) bench/ingest.py

bench-worklist: $(STAMP)
	$(PY) -m dho.embedded with-services -- $(PY) bench/worklist.py

bench-billing: $(STAMP)
	$(PY) -m dho.embedded with-services -- $(PY) bench/billing.py

clean-var:
	rm -rf var
