"""The web and worker processes freeze what they loaded, so the garbage collector stops walking it
(a 1,000-reading batch spent some 15 ms of its CPU there). Each in a fresh interpreter: freezing
the test process itself would prove nothing."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

GUNICORN = """
import gc, runpy
conf = runpy.run_path("dho/gunicorn_conf.py")
assert gc.get_freeze_count() == 0
conf["post_worker_init"](None)
print(gc.get_freeze_count())
"""

WORKER = """
import gc, os
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dho.settings")
import django
django.setup()
from celery.signals import worker_process_init
import dho.celery  # noqa: F401  (registers dho.worker's hooks; its lower CPU priority is this child's alone)
assert gc.get_freeze_count() == 0
worker_process_init.send(sender=None)
print(gc.get_freeze_count())
"""


def _frozen(code: str) -> int:
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return int(done.stdout.strip().splitlines()[-1])


def test_a_gunicorn_worker_freezes_the_heap_it_loaded():
    assert _frozen(GUNICORN) > 1_000


def test_a_celery_pool_process_freezes_the_heap_it_inherited():
    assert _frozen(WORKER) > 10_000
