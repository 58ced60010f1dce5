"""Worker-side hooks: a heartbeat thread so /healthz knows a worker is alive, not only beat."""

import threading

from celery.signals import task_prerun, worker_process_init, worker_ready, worker_shutdown

_stop = threading.Event()


def _beat_loop():
    from dho.health import heartbeat_write
    from tenants import outages

    while not _stop.wait(10):
        try:
            heartbeat_write()
        except Exception as error:  # Redis down: /healthz says so; one line each way in the log
            outages.failed("Redis", "Celery-workerens hjerteslag skrives ikke", error)
        else:
            outages.succeeded("Redis")


@worker_ready.connect
def _start_heartbeat(**kwargs):
    from dho.health import heartbeat_write

    heartbeat_write()
    threading.Thread(target=_beat_loop, name="dho-heartbeat", daemon=True).start()


@worker_shutdown.connect
def _stop_heartbeat(**kwargs):
    _stop.set()


@worker_process_init.connect
def _yield_to_web(**kwargs):
    # On a shared machine the web processes answer gateways and nurses while scoring runs in the
    # background: a lower CPU priority keeps single POSTs fast, and scoring has a 2 s budget to spare.
    import os

    os.nice(int(os.environ.get("DHO_WORKER_NICE", "10")))


@worker_process_init.connect
def _tune_gc(**kwargs):
    # As the web processes do (dho/wsgi.py): a chunk of scoring's allocations set off collections
    # that walked everything the pool process inherited.
    from dho.heap import tune_gc

    tune_gc()


@task_prerun.connect
def _scope_clear(**_kwargs) -> None:
    """A task on a reused connection starts with no scope (tenants.rls.session_scope_clear)."""
    from tenants.rls import session_scope_clear

    session_scope_clear()
