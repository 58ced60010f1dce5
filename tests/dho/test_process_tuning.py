"""The web and worker processes freeze what they loaded, so the garbage collector stops walking it
on every older generation's collection (dho.heap), and gunicorn's threads hand the interpreter lock
on sooner. Each in a fresh interpreter: tuning the test process itself would prove nothing."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

WEB = """
import gc
assert gc.get_freeze_count() == 0
import dho.wsgi  # what a gunicorn worker imports
print(gc.get_freeze_count(), gc.get_threshold()[0])
"""

SWITCH = """
import runpy, sys
conf = runpy.run_path("dho/gunicorn_conf.py")
conf["post_worker_init"](None)
print(sys.getswitchinterval())
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
print(gc.get_freeze_count(), gc.get_threshold()[0])
"""


def _tuned(code: str) -> tuple[int, int]:
    env = {"ALLOWED_HOSTS": "127.0.0.1", **os.environ}  # what the web process refuses to start without
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    frozen, threshold = done.stdout.strip().splitlines()[-1].split()
    return int(frozen), int(threshold)


def test_a_web_process_freezes_the_heap_it_loaded():
    frozen, threshold = _tuned(WEB)
    assert frozen > 10_000 and threshold == 50_000


def test_a_celery_pool_process_freezes_the_heap_it_inherited():
    frozen, threshold = _tuned(WORKER)
    assert frozen > 10_000 and threshold == 50_000


def test_a_gunicorn_worker_hands_the_interpreter_lock_on_within_half_a_millisecond():
    """A one-reading request beside a batch in the same worker waits for the lock after each round trip."""
    done = subprocess.run([sys.executable, "-c", SWITCH], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert float(done.stdout.strip()) == 0.0005
