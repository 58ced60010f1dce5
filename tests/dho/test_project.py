"""The project's own wiring: docker-compose, production settings, migrations and lint."""

import os
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


def test_compose_has_the_five_services():
    assert set(_compose_services()) == {"db", "redis", "web", "worker", "beat"}
    assert _compose_services()["db"]["image"].startswith("postgres:16")
    assert _compose_services()["redis"]["image"].startswith("redis:7")


@pytest.mark.parametrize("service", ["web", "worker", "beat"])
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


def test_check_deploy_passes_with_the_documented_production_settings():
    # The browser tests' async-safety override is a test-only setting, not part of production.
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    env["DHO_TESTING"] = "0"
    for line in (ROOT / ".env.example").read_text().splitlines():
        if line and not line.startswith("#"):
            key, value = line.split("=", 1)
            env[key] = value
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


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
