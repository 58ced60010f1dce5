"""Celery beat: its schedule names only tasks a worker has, and its scheduler starts where docker
compose keeps the schedule file (dho/celery.py, dho/beat.py)."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_beat_entry_names_a_task_the_worker_registers(tmp_path):
    # As a worker process finds its tasks (autodiscovery of each app's tasks module), in a process
    # of its own: a misspelt name is a job that silently never runs.
    code = (
        "import os, django; os.environ['DJANGO_SETTINGS_MODULE'] = 'dho.settings'\n"
        "from dho.celery import app\n"
        "django.setup(); app.loader.import_default_modules()\n"
        "missing = [f'{k}: {v[\"task\"]}' for k, v in app.conf.beat_schedule.items() if v['task'] not in app.tasks]\n"
        "print(len(app.conf.beat_schedule), missing)"
    )
    env = os.environ | {"DHO_VAR_DIR": str(tmp_path)}
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=120)  # fmt: skip
    assert result.returncode == 0, result.stderr
    count, missing = result.stdout.strip().split(" ", 1)
    assert int(count) >= 7 and missing == "[]", result.stdout


def test_beat_makes_the_schedule_files_directory(tmp_path):
    # docker compose's beat: `--schedule /tmp/dho/celerybeat-schedule`, a directory no image layer
    # makes. Celery's own scheduler stopped beat there with a FileNotFoundError, and the restart
    # policy only repeated it: no sweep, no silence check, no partitions made ahead.
    from dho.beat import Scheduler
    from dho.celery import app

    name = tmp_path / "not" / "yet" / "celerybeat-schedule"
    scheduler = Scheduler(app, schedule_filename=str(name), lazy=True)
    scheduler.setup_schedule()
    try:
        assert "sweep-unscored" in scheduler.schedule
        scheduler.sync()
    finally:
        scheduler.close()
    assert list(name.parent.glob("celerybeat-schedule*"))
