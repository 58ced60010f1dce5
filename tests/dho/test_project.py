"""The project's own wiring: docker-compose, production settings, migrations and lint."""

import os
import re
import secrets
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from django.core.management import call_command

ROOT = Path(__file__).resolve().parents[2]


def _compose_services() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]


APP_SERVERS = ("web", "worker", "beat")
# A value compose must be given (from .env): `${NAME:?why}`, never a password written in the file.
REQUIRED = re.compile(r"^\$\{[A-Z_]+:\?[^}]+\}$")
DATABASE_SECRETS = {"DATABASE_URL", "POSTGRES_PASSWORD", "DHO_DB_OWNER_PASSWORD", "DHO_DB_APP_PASSWORD"}


def test_compose_has_the_seven_services():
    assert set(_compose_services()) == {"db", "pgbouncer", "redis", "migrate", "web", "worker", "beat"}
    assert _compose_services()["db"]["image"].startswith("postgres:16")
    assert _compose_services()["redis"]["image"].startswith("redis:7")


def test_web_worker_and_beat_go_through_pgbouncer_in_transaction_mode_and_migrate_goes_direct():
    services = _compose_services()
    pooler = services["pgbouncer"]
    assert pooler["image"].startswith("edoburu/pgbouncer:v")  # a pinned version, never latest
    env = pooler["environment"]
    assert (env["POOL_MODE"], env["AUTH_TYPE"], env["DB_HOST"], env["DB_USER"]) == (
        "transaction",
        "scram-sha-256",
        "db",
        "dho_app",
    )
    assert pooler["depends_on"]["db"] == {"condition": "service_healthy"}
    assert "@db:5432/" in services["migrate"]["environment"]["DATABASE_URL"]
    for name in APP_SERVERS:
        spec = services[name]
        assert "@pgbouncer:5432/dho" in spec["environment"]["DATABASE_APP_URL"], name
        assert spec["environment"]["DHO_DB_POOLER"] == "pgbouncer", name  # no server-side cursors
        assert "pgbouncer" in spec["depends_on"], name


def test_it_migrates_once_as_the_owner_and_starts_the_app_after_it_succeeded():
    services = _compose_services()
    migrate = services["migrate"]
    assert migrate["command"] == ["python", "manage.py", "migrate", "--no-input"]
    assert migrate["restart"] == "no" and "ports" not in migrate  # one-shot: runs, exits, stays down
    assert migrate["environment"]["DATABASE_URL"].startswith("postgres://dho_owner:")
    assert migrate["depends_on"]["db"] == {"condition": "service_healthy"}
    for name in APP_SERVERS:
        spec = services[name]
        assert spec["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}, name
        assert not [word for word in spec["command"] if "migrate" in word], name


def test_it_gives_web_worker_and_beat_only_the_app_roles_address():
    services = _compose_services()
    for name in APP_SERVERS:
        env = services[name]["environment"]
        assert env["DATABASE_APP_URL"].startswith("postgres://dho_app:"), name
        assert not DATABASE_SECRETS & set(env), name
        assert not [k for k, v in env.items() if "OWNER" in k or "POSTGRES" in k or "dho_owner" in str(v)], name
    # Their settings file is made from .env.example and holds no database secret; none of them
    # (nor migrate) reads compose's .env, where the passwords are.
    example = [line.split("=", 1)[0] for line in (ROOT / ".env.example").read_text().splitlines()]
    assert not DATABASE_SECRETS & set(example)
    for name in ("migrate", *APP_SERVERS):
        assert services[name]["env_file"] == "dho.env", name


def test_it_writes_no_password_into_the_compose_file_and_migrates_as_no_superuser():
    services = _compose_services()
    for name, spec in services.items():
        for key, value in (spec.get("environment") or {}).items():
            if key.endswith("PASSWORD"):
                assert REQUIRED.match(str(value)), (name, key)
            for password in re.findall(r"^postgres://[^:/@]+:([^@]*)@", str(value)):
                assert REQUIRED.match(password), (name, key)
    db = services["db"]
    assert db["environment"]["POSTGRES_USER"] == "postgres"  # the superuser: initdb and the script only
    assert "./deploy/postgres:/docker-entrypoint-initdb.d:ro" in db["volumes"]
    script = (ROOT / "deploy/postgres/init-roles.sh").read_text()
    owner = re.search(r"CREATE ROLE dho_owner ([^;]+);", script).group(1).split()
    app = re.search(r"CREATE ROLE dho_app ([^;]+);", script).group(1).split()
    assert {"NOSUPERUSER", "BYPASSRLS", "NOCREATEROLE"} <= set(owner)
    assert {"NOSUPERUSER", "NOBYPASSRLS", "NOCREATEROLE"} <= set(app)
    assert "CREATE DATABASE dho OWNER dho_owner;" in script
    assert "-U dho_owner -d dho" in db["healthcheck"]["test"][-1]
    for ignore in (".gitignore", ".dockerignore"):
        assert {".env", "dho.env"} <= set((ROOT / ignore).read_text().split()), ignore


def test_the_image_never_migrates_by_itself():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "ENTRYPOINT" not in dockerfile
    assert not [line for line in dockerfile.splitlines() if "migrate" in line and not line.startswith("#")]
    serve = 'CMD ["gunicorn", "-c", "dho/gunicorn_conf.py", "dho.wsgi:application"]'
    assert dockerfile.rstrip().splitlines()[-1] == serve


def _settings_of(env: dict, tmp_path) -> subprocess.CompletedProcess:
    code = (
        "import os, django; os.environ['DJANGO_SETTINGS_MODULE'] = 'dho.settings'; django.setup()\n"
        "from django.conf import settings; db = settings.DATABASES['default']\n"
        "print(settings.DHO_DB_OWNER, db['USER'], db['HOST'])"
    )
    # Nothing of this run's own services leaks in: the process gets exactly what `env` names.
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE", "DHO_", "REDIS"))}
    base |= {"DHO_TESTING": "0", "DHO_DEBUG": "0", "SECRET_KEY": "x" * 50, "DHO_VAR_DIR": str(tmp_path)}
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=base | env, capture_output=True, text=True,
                          timeout=60)  # fmt: skip


def test_a_process_given_only_the_app_address_knows_no_owner_and_may_not_migrate(tmp_path):
    # As docker compose's web, worker and beat: the app role's address and a Redis, nothing else.
    app = {
        "DATABASE_APP_URL": "postgres://dho_app:secret@db.invalid:5432/dho",
        "REDIS_URL": "redis://redis.invalid:6379/0",
    }
    result = _settings_of(app, tmp_path)
    assert (result.returncode, result.stdout.strip()) == (0, "None dho_app db.invalid"), result.stderr
    refused = _settings_of(app | {"DHO_DB_AS_OWNER": "1"}, tmp_path)
    assert refused.returncode != 0 and "sett eierens adresse i DATABASE_URL" in refused.stderr
    assert not list(tmp_path.iterdir())  # and no embedded server was started for it


def test_behind_a_pooler_the_settings_open_no_server_side_cursor_and_prepare_nothing(tmp_path):
    code = (
        "import os, django; os.environ['DJANGO_SETTINGS_MODULE'] = 'dho.settings'; django.setup()\n"
        "from django.conf import settings; db = settings.DATABASES['default']\n"
        "print(db.get('DISABLE_SERVER_SIDE_CURSORS', False), db.get('OPTIONS', {}).get('prepare_threshold', '-'),"
        " settings.DHO_DB_DIRECT)"
    )
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE", "DHO_", "REDIS"))}
    base |= {"DHO_TESTING": "0", "DHO_DEBUG": "0", "SECRET_KEY": "x" * 50, "DHO_VAR_DIR": str(tmp_path)}
    base |= {"DATABASE_APP_URL": "postgres://dho_app:s@pgbouncer:5432/dho", "REDIS_URL": "redis://r.invalid:6379/0"}

    def settings_with(**env) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=base | env, capture_output=True, text=True,
                              timeout=60)  # fmt: skip

    assert settings_with().stdout.strip() == "False - None"  # straight to PostgreSQL: Django's defaults
    pooled = settings_with(DHO_DB_POOLER="pgbouncer", DHO_DIRECT_DATABASE_URL="postgres://o@db.invalid:5433/dho")
    assert pooled.stdout.strip() == "True None {'HOST': 'db.invalid', 'PORT': 5433}", pooled.stderr
    refused = settings_with(DHO_DB_POOLER="pgpool")
    assert refused.returncode != 0 and "DHO_DB_POOLER: «pgpool» er ukjent" in refused.stderr


def test_settings_with_no_redis_configured_and_none_running_refuse_and_start_none(tmp_path):
    # Before, importing the settings started an embedded Redis here and left it running.
    app = {"DATABASE_APP_URL": "postgres://dho_app:secret@db.invalid:5432/dho"}
    result = _settings_of(app, tmp_path)
    assert result.returncode != 0 and "REDIS_URL er ikke satt" in result.stderr, result.stderr
    assert not list(tmp_path.iterdir())


def test_production_settings_never_take_an_embedded_server_a_var_directory_names(tmp_path):
    # A var/ beside the process that names a running Redis (its port file) and PostgreSQL (a
    # postmaster.pid of a live process): production settings with no REDIS_URL or no database address
    # took those, a developer's `make run`, without a word.
    from urllib.parse import urlsplit

    (tmp_path / "redis").mkdir()
    (tmp_path / "redis" / "port").write_text(str(urlsplit(os.environ["REDIS_URL"]).port or 6379))
    (tmp_path / "pg").mkdir()
    (tmp_path / "pg" / "postmaster.pid").write_text(f"{os.getpid()}\n{tmp_path}\n0\n5432\n{tmp_path}\n")
    code = (
        "import os, django; os.environ['DJANGO_SETTINGS_MODULE'] = 'dho.settings'; django.setup()\n"
        "from django.conf import settings; print(settings.REDIS_URL, settings.DATABASES['default']['HOST'])"
    )
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE", "DHO_", "REDIS"))}
    base |= {"DHO_TESTING": "0", "DHO_DEBUG": "0", "SECRET_KEY": "x" * 50, "DHO_VAR_DIR": str(tmp_path)}

    def settings_with(**env) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=base | env, capture_output=True, text=True,
                              timeout=60)  # fmt: skip

    no_redis = settings_with(DATABASE_APP_URL="postgres://dho_app:x@db.invalid/dho")
    assert no_redis.returncode != 0 and "REDIS_URL er ikke satt" in no_redis.stderr, no_redis.stdout
    no_database = settings_with(REDIS_URL="redis://r.invalid:6379/0")
    assert no_database.returncode != 0 and "DATABASE_URL er ikke satt" in no_database.stderr, no_database.stdout
    assert "DATABASE_APP_URL" in no_database.stderr
    given = settings_with(REDIS_URL="redis://r.invalid:6379/0", DATABASE_APP_URL="postgres://a:b@db.invalid/dho")
    assert given.stdout.split() == ["redis://r.invalid:6379/0", "db.invalid"], given.stderr
    # In debug mode the running embedded servers are still what a bare command uses.
    debug = settings_with(DHO_DEBUG="1")
    assert debug.returncode == 0 and debug.stdout.split()[0].startswith("redis://127.0.0.1:"), debug.stderr


def test_production_refuses_synthetic_national_ids_unless_told_otherwise(tmp_path):
    # The default was to accept them everywhere: a production install that did not set
    # DHO_ALLOW_SYNTHETIC_IDS=0 took test persons (month + 80) into the register and the billing.
    code = (
        "import datetime, os, django; os.environ['DJANGO_SETTINGS_MODULE'] = 'dho.settings'; django.setup()\n"
        "from django.core.exceptions import ValidationError\n"
        "from patients import national_id; from patients.models import validate_national_id\n"
        "value = next(v for i in range(100, 200) if (v := national_id.synthetic(datetime.date(1950, 5, 17), i)))\n"
        "try:\n    validate_national_id(value); print('godtatt')\n"
        "except ValidationError as refused:\n    print(refused.messages[0])"
    )
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE", "DHO_", "REDIS"))}
    base |= {"SECRET_KEY": "x" * 50, "DHO_VAR_DIR": str(tmp_path), "DHO_TESTING": "0"}
    base |= {"DATABASE_APP_URL": "postgres://a:b@db.invalid/dho", "REDIS_URL": "redis://r.invalid:6379/0"}

    def answer(**env) -> str:
        result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=base | env, capture_output=True, text=True,
                                timeout=60)  # fmt: skip
        assert result.returncode == 0, result.stderr
        return result.stdout.strip()

    assert answer(DHO_DEBUG="0") == "Syntetiske testnumre er ikke tillatt i produksjon."
    assert answer(DHO_DEBUG="0", DHO_ALLOW_SYNTHETIC_IDS="1") == "godtatt"  # told otherwise
    assert answer(DHO_DEBUG="1") == "godtatt"  # the demo's patients


LONG_RUNNING = ["db", "pgbouncer", "redis", "web", "worker", "beat"]


@pytest.mark.parametrize("service", LONG_RUNNING)
def test_every_long_running_service_restarts_and_has_a_health_check(service):
    spec = _compose_services()[service]
    assert spec["restart"] == "unless-stopped"
    test = spec["healthcheck"]["test"]
    if service in ("web", "worker", "beat"):
        assert test == ["CMD", "python", "-m", "dho.container_health", service]
        assert spec["depends_on"]["redis"] == {"condition": "service_healthy"}
    assert _compose_services()["migrate"]["restart"] == "no"  # a one-shot: never again by itself


def test_the_container_health_checks_say_healthy_and_unhealthy(settings, monkeypatch, tmp_path):
    import socket
    import time

    from dho import container_health

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        monkeypatch.setenv("DHO_BIND", f"0.0.0.0:{sock.getsockname()[1]}")  # nothing listens there
        assert "svarer ikke" in container_health.web()
    settings.CELERY_BEAT_SCHEDULE_FILENAME = str(tmp_path / "celerybeat-schedule")
    assert "har ikke skrevet" in container_health.beat()
    (tmp_path / "celerybeat-schedule.db").write_text("")
    assert container_health.beat() is None
    old = time.time() - container_health.BEAT_SILENT_AFTER - 1
    os.utime(tmp_path / "celerybeat-schedule.db", (old, old))
    assert "på 6" in container_health.beat()


@pytest.mark.parametrize(
    ("allowed", "expected"),
    [("dho.example.kommune.no,other.no", "dho.example.kommune.no"), (".kommune.no", "kommune.no"), ("*", "localhost")],
)
def test_the_web_health_check_asks_for_a_host_the_server_serves(db, client, settings, monkeypatch, allowed, expected):
    # Asked as 127.0.0.1, production's Django refused every probe as a DisallowedHost (an ERROR with
    # its traceback in the log, twice a minute) before it reached /healthz.
    import http.server
    import threading

    from dho import container_health

    hosts = []

    class Recorder(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            hosts.append(self.headers["Host"])
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=server.handle_request, daemon=True).start()
    monkeypatch.setenv("DHO_BIND", f"0.0.0.0:{server.server_address[1]}")
    monkeypatch.setenv("ALLOWED_HOSTS", allowed)
    try:
        assert container_health.web() is None
    finally:
        server.server_close()
    assert hosts == [expected]
    settings.ALLOWED_HOSTS = allowed.split(",")
    assert client.get("/healthz", HTTP_HOST=hosts[0]).status_code in (200, 503)


@pytest.mark.parametrize("service", ["migrate", "web", "worker", "beat"])
def test_every_app_service_command_points_at_something_that_exists(service):
    spec = _compose_services()[service]
    assert spec["build"] == "."
    assert (ROOT / "Dockerfile").exists()
    words = shlex.split(" ".join(spec["command"][-1:])) if spec["command"][0] == "sh" else spec["command"]
    for i, word in enumerate(words):
        if word == "manage.py":
            assert (ROOT / "manage.py").exists()
        if word in ("-A",):  # celery app module
            assert (ROOT / words[i + 1] / "celery.py").exists()
        if word == "-c":  # gunicorn config file
            assert (ROOT / words[i + 1]).exists()
        if ":" in word and word.endswith(":application"):  # gunicorn wsgi module
            module = word.split(":")[0]
            assert (ROOT / (module.replace(".", "/") + ".py")).exists()
        if word in ("migrate", "worker", "beat"):
            assert word in {"migrate", "worker", "beat"}
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "requirements.lock" in dockerfile
    assert (ROOT / "requirements.lock").exists()


def test_compose_commands_name_real_celery_and_wsgi_targets():
    from dho.celery import app
    from dho.wsgi import application

    assert app.main == "dho"
    assert callable(application)


def test_check_deploy_passes_with_the_documented_production_settings(tmp_path):
    from dho.dev.standins import private_jwk_file

    # The browser tests' async-safety override is a test-only setting, not part of production.
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    env["DHO_TESTING"] = "0"
    for line in (ROOT / ".env.example").read_text().splitlines():
        if line and not line.startswith("#"):
            key, value = line.split("=", 1)
            env[key] = value
    # The two secrets are the deployment's own, as the example says (its values are refused below).
    env |= {"SECRET_KEY": secrets.token_urlsafe(50), "DHO_PERSON_HASH_KEY": secrets.token_urlsafe(50)}
    # The HelseID key is a secret the deployment mounts, never in the repository: one of the test's.
    assert env["DHO_HELSEID_KEY_FILE"].startswith("/run/secrets/")
    env["DHO_HELSEID_KEY_FILE"] = str(tmp_path / "helseid-client-key.json")
    private_jwk_file(tmp_path / "helseid-client-key.json", "EC")
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("changed", "refusal"),
    [
        ({}, "SECRET_KEY er eksempelverdien"),  # .env.example copied to dho.env as it is
        ({"SECRET_KEY": "<50+ random characters>"}, "SECRET_KEY er eksempelverdien"),  # the docs' export, pasted
        ({"SECRET_KEY": "s3cr3t-but-short"}, "SECRET_KEY er for kort (16 tegn)"),
        ({"SECRET_KEY": "dev-only-insecure-key-never-used-in-production-xx"}, "SECRET_KEY er eksempelverdien"),
        ({"SECRET_KEY": "a" * 50}, "DHO_PERSON_HASH_KEY er eksempelverdien"),
    ],
)
def test_production_settings_refuse_an_example_or_short_secret(tmp_path, changed, refusal):
    # A dho.env copied from .env.example and not edited ran production with a SECRET_KEY (sessions,
    # CSRF) and a fødselsnummer hash key that anyone reading the repository knows; check --deploy
    # passed it, being long enough.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE", "DHO_", "SECRET"))}
    for line in (ROOT / ".env.example").read_text().splitlines():
        if line and not line.startswith("#"):
            key, value = line.split("=", 1)
            env[key] = value
    env |= {"DATABASE_APP_URL": "postgres://dho_app:x@db.invalid/dho", "REDIS_URL": "redis://r.invalid:6379/0"}
    env |= {"DHO_VAR_DIR": str(tmp_path)} | changed
    code = "import os, django; os.environ['DJANGO_SETTINGS_MODULE'] = 'dho.settings'; django.setup()"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=60)  # fmt: skip
    assert result.returncode != 0 and refusal in result.stderr, result.stderr
    chosen = env | {"SECRET_KEY": secrets.token_urlsafe(50), "DHO_PERSON_HASH_KEY": secrets.token_urlsafe(50)}
    started = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=chosen, capture_output=True, text=True,
                             timeout=60)  # fmt: skip
    assert started.returncode == 0, started.stderr


def test_the_web_server_refuses_to_start_in_production_without_allowed_hosts(tmp_path):
    # It started, answered every request 400 (DisallowedHost), and its health check, which asks only
    # for an answer, called it healthy.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE", "DHO_", "SECRET", "ALLOWED"))}
    env |= {"DHO_DEBUG": "0", "SECRET_KEY": secrets.token_urlsafe(50), "DHO_VAR_DIR": str(tmp_path)}
    env |= {"DATABASE_APP_URL": "postgres://dho_app:x@db.invalid/dho", "REDIS_URL": "redis://r.invalid:6379/0"}

    def wsgi_of(**more) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-c", "import dho.wsgi"], cwd=ROOT, env=env | more,
                              capture_output=True, text=True, timeout=60)  # fmt: skip

    refused = wsgi_of()
    assert refused.returncode != 0 and "ALLOWED_HOSTS må settes" in refused.stderr, refused.stderr
    assert wsgi_of(ALLOWED_HOSTS="dho.kommune.no").returncode == 0
    celery = "from dho.celery import app; import django; django.setup(); print(app.main)"
    worker = subprocess.run([sys.executable, "-c", celery], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=60)  # fmt: skip
    assert (worker.returncode, worker.stdout.strip()) == (0, "dho"), worker.stderr  # the worker needs none


def test_settings_refuse_to_start_without_secret_key_outside_debug():
    env = {k: v for k, v in os.environ.items() if k != "SECRET_KEY"}
    env.update({"DHO_TESTING": "0", "DHO_DEBUG": "0"})
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import os, django; os.environ['DJANGO_SETTINGS_MODULE'] = 'dho.settings'; django.setup()",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_migrations_are_in_step_with_models(db):
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)


def test_ruff_is_clean():
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "."], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def test_gunicorn_never_logs_query_strings():
    # ?search=<fødselsnummer> must not reach the access log.
    conf = {}
    exec((ROOT / "dho/gunicorn_conf.py").read_text(), conf)  # noqa: S102 - our own config file
    assert "%(U)s" in conf["access_log_format"]
    assert "%(r)s" not in conf["access_log_format"] and "%(q)s" not in conf["access_log_format"]
