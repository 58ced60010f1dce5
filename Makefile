# Two commands for a fresh machine with Python 3 and git: `make run` and `make test`.
# Each creates .venv and installs the locked dependencies on first use (and when the lock changes):
# `make run` the runtime lock (requirements.lock, what production installs), `make test`, `lint` and
# the benchmarks the development lock (requirements-dev.lock: the same pins plus the test tools).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
UV := $(VENV)/bin/uv
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev
export XDG_RUNTIME_DIR ?= /tmp

.PHONY: run test test-pooler lint lock bench-ingest bench-worklist bench-billing bench-insight bench-journaling bench-national bench-patient-page clean-var

$(PY):
	$(PYTHON) -m venv $(VENV)

$(UV): | $(PY)
	$(PY) -m pip install -q --disable-pip-version-check uv

# uv --native-tls: the system's certificate store, as pip uses it (a TLS-inspecting proxy's CA included).
# --compile-bytecode: the packages' .pyc files are written once, here, on every core; every process
# after (each test worker, each server and Celery worker a test starts) loads them instead of compiling
# Django and the rest again, which it would do each time under PYTHONDONTWRITEBYTECODE.
$(STAMP): requirements.lock | $(UV)
	$(UV) pip install -q --native-tls --compile-bytecode --python $(PY) -r requirements.lock
	touch $(STAMP)

$(DEV_STAMP): requirements-dev.lock | $(UV)
	$(UV) pip install -q --native-tls --compile-bytecode --python $(PY) -r requirements-dev.lock
	touch $(DEV_STAMP)

## The platform: embedded PostgreSQL/Redis when none is configured, the HelseID and JFT stand-ins when
## no real ones are (`--standins`, debug mode only), demo data, web + worker + beat.
## `exec`: no shell between make and the wrapper, so a SIGTERM make passes on reaches the wrapper,
## which stops the platform and the embedded servers before make returns.
run: $(STAMP)
	DHO_DEBUG=1 exec $(PY) -m dho.embedded with-services --standins -- $(PY) -m dho.run

## The whole suite against a real PostgreSQL and Redis (DATABASE_URL/REDIS_URL, else embedded ones),
## in parallel: a pytest-xdist worker per core, each with its own test database. Each test goes to the
## next free worker, the long ones first, a file's tests together where they share a module-scoped
## fixture (tests/conftest.py); --no-loadscope-reorder keeps that order.
## PYTEST_ARGS narrows a run (`PYTEST_ARGS=tests/billing`); `PYTEST_ARGS="-n 0 …"` runs it in one process.
test: $(DEV_STAMP)
	@sh scripts/ensure-chromium.sh
	@sh scripts/ensure-pgbouncer.sh
	DHO_TESTING=1 exec $(PY) -m dho.embedded with-services -- $(PY) -m pytest -n auto --dist loadgroup --no-loadscope-reorder $(PYTEST_ARGS)

## The same suite through PgBouncer in transaction mode in front of the same PostgreSQL (dho/pooler.py,
## docs/operations.md «Connection pooler»): what production's pooler allows, nothing kept between
## transactions. The test databases are made, copied and dropped on the server itself.
test-pooler: $(DEV_STAMP)
	@sh scripts/ensure-chromium.sh
	@sh scripts/ensure-pgbouncer.sh
	DHO_TESTING=1 exec $(PY) -m dho.embedded with-services --pooler -- $(PY) -m pytest -n auto --dist loadgroup --no-loadscope-reorder $(PYTEST_ARGS)

## Needs no database or Redis and nothing exported: the Django checks read dho/settings_static.py.
## mypy checks what pyproject.toml's [tool.mypy] lists; makemigrations finds no model change without a migration.
lint: $(DEV_STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy
	$(PY) -m django makemigrations --check --dry-run --settings dho.settings_static

## Re-resolve both locks from pyproject.toml: the development lock (runtime + the dev extra), then the
## runtime lock without the dev extra, constrained to the development lock's pins (the same versions).
LOCK := $(UV) pip compile --native-tls --python-version 3.11 --custom-compile-command "make lock" pyproject.toml
lock: | $(UV)
	$(LOCK) --extra dev -o requirements-dev.lock
	$(LOCK) -c requirements-dev.lock -o requirements.lock

## Benchmarks (figures, not pass/fail): a real gunicorn + Celery worker on the configured or embedded services.
bench-ingest: $(DEV_STAMP)
	$(PY) -m dho.embedded with-services -- $(PY) bench/ingest.py

bench-worklist: $(DEV_STAMP)
	$(PY) -m dho.embedded with-services -- $(PY) bench/worklist.py

bench-billing: $(DEV_STAMP)
	$(PY) -m dho.embedded with-services -- $(PY) bench/billing.py

bench-insight: $(DEV_STAMP)
	$(PY) -m dho.embedded with-services -- $(PY) bench/insight.py

## A year of readings at 30,000 patients against 3,000 (BENCH_SCALE=0.1 for a quick run); see docs/operations.md.
bench-national: $(DEV_STAMP)
	$(PY) -m dho.embedded with-services -- $(PY) bench/national.py

## The nurse's patient page (90-day trends) timed in-process on bench-national's 3,000-patient database: CPU per page, statements, BENCH_PROFILE=1.
bench-patient-page: $(DEV_STAMP)
	$(PY) -m dho.embedded with-services -- $(PY) bench/patient_page.py

## Starts the HelseID and JFT stand-ins itself (dho.dev.standins.running); what it measures runs with production settings.
bench-journaling: $(DEV_STAMP)
	$(PY) -m dho.embedded with-services -- $(PY) bench/journaling.py

clean-var:
	rm -rf var
