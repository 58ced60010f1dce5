"""Worker-side hooks: a heartbeat thread so /healthz knows a worker is alive, not only beat."""

import threading

from celery.signals import worker_ready, worker_shutdown

_stop = threading.Event()


def _beat_loop():
    from dho.health import heartbeat_write

    while not _stop.wait(10):
        try:
            heartbeat_write()
        except Exception:  # noqa: S112 - Redis down: /healthz will say so; keep trying
            continue


@worker_ready.connect
def _start_heartbeat(**kwargs):
    from dho.health import heartbeat_write

    heartbeat_write()
    threading.Thread(target=_beat_loop, name="dho-heartbeat", daemon=True).start()


@worker_shutdown.connect
def _stop_heartbeat(**kwargs):
    _stop.set()
