"""docker compose's health checks: `python -m dho.container_health web|worker|beat` exits 0 when the
process in this container does its work, else 1 with one line saying why (docker inspect shows it).

Each asks only about its own container: the web server answers HTTP (a 503 from /healthz is still an
answer — it says a database or Redis is down, which restarting the web server would not mend), the
Celery worker of this host answers a ping through the broker, beat has written its schedule file lately
(it does every three minutes while it sends jobs). Health feeds `depends_on: service_healthy` and the
operator's monitoring; the restart policy (`restart: unless-stopped`) is what brings back a process
that exited.
"""

import os
import socket
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

BEAT_SILENT_AFTER = 600  # seconds: beat syncs its schedule file every 180 s while it runs


def _served_host() -> str:
    """A name the web server serves (ALLOWED_HOSTS' first): asked as 127.0.0.1, Django refused every
    probe with a DisallowedHost error and its traceback in the log, twice a minute, before it reached
    /healthz. A wildcard's domain («.kommune.no») is one of its names; «*» serves any."""
    for host in os.environ.get("ALLOWED_HOSTS", "").split(","):
        host = host.strip().lstrip(".")
        if host and host != "*":
            return host
    return "localhost"


def web() -> str | None:
    port = os.environ.get("DHO_BIND", "0.0.0.0:8000").rpartition(":")[2]
    probe = urllib.request.Request(f"http://127.0.0.1:{port}/healthz", headers={"Host": _served_host()})
    try:
        urllib.request.urlopen(probe, timeout=5)  # noqa: S310 - http://127.0.0.1, built here
    except urllib.error.HTTPError:
        return None  # it answered
    except OSError as error:
        return f"webserveren svarer ikke på port {port}: {error}"
    return None


def worker() -> str | None:
    from dho.celery import app

    node = f"celery@{socket.gethostname()}"
    if app.control.ping(destination=[node], timeout=5):
        return None
    return f"Celery-workeren {node} svarer ikke på ping"


def beat() -> str | None:
    from django.conf import settings

    name = settings.CELERY_BEAT_SCHEDULE_FILENAME  # compose's --schedule names the same file
    files = list(Path(name).parent.glob(Path(name).name + "*"))
    if not files:
        return f"beat har ikke skrevet {name}"
    age = time.time() - max(f.stat().st_mtime for f in files)
    return None if age < BEAT_SILENT_AFTER else f"beat har ikke skrevet {name} på {age:.0f} s"


CHECKS = {"web": web, "worker": worker, "beat": beat}


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in CHECKS:
        print(f"bruk: python -m dho.container_health {'|'.join(CHECKS)}", file=sys.stderr)
        return 2
    if argv[0] != "web":
        import django

        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dho.settings")
        django.setup()
    problem = CHECKS[argv[0]]()
    print(problem or "ok")
    return 1 if problem else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
