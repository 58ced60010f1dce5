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
    # The journal outbox: rows whose send task was lost, retries due by their backoff, and rows a
    # killed worker left claimed are sent again (journaling/services.py). Each journaling sweep run
    # takes no new row after 20 s and skips when the last run is still going, so a hanging receiver
    # cannot hold the worker processes scoring needs (docs/journaling.md).
    "journaling-send-due": {"task": "journaling.send_due", "schedule": 30.0},
    # Receipts of what was sent: JFT's $status, registered → read → journaled.
    "journaling-poll-sent": {"task": "journaling.poll_sent", "schedule": 45.0},
    # Not journaled after DHO_JOURNALING_OVERDUE_HOURS: flagged for the centre admin.
    "journaling-overdue-check": {"task": "journaling.overdue_check", "schedule": 60 * 60.0},
    # Readings and answers are partitioned by month, with no default partition: this month's and the
    # next three months' partitions are made ahead (measurements/partitions.py), so an insert always
    # finds its month even if beat stood still for weeks.
    "measurements-partitions-ensure": {"task": "measurements.partitions_ensure", "schedule": 24 * 60 * 60.0},
}

# Registers the worker heartbeat signals (imported for its side effect).
import dho.worker  # noqa: E402, F401
