"""The Celery app. The beat schedule lives here, one entry per job, each saying what it catches."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dho.settings")

app = Celery("dho")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

app.conf.beat_schedule = {
    # Proves to /healthz that beat can reach a worker: a worker that runs it refreshes the
    # heartbeat key even when its own heartbeat thread is gone.
    "worker-heartbeat": {"task": "dho.heartbeat", "schedule": 15.0},
    # Readings whose scoring task was lost (broker down, worker killed) are queued again after 2 min.
    "sweep-unscored": {"task": "triage.sweep_unscored", "schedule": 30.0},
    # Silence is a signal: missing measurements/answers per plan schedule, inactive patients.
    "silence-check": {"task": "triage.silence_check", "schedule": 15 * 60.0},
}

# Registers the worker heartbeat signals (imported for its side effect).
import dho.worker  # noqa: E402, F401
