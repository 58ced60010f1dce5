"""`make run`: migrate, load the demo, then web + Celery worker + beat until Ctrl-C.

Run it through `python -m dho.embedded with-services -- python -m dho.run` (the Makefile does), so
DATABASE_URL and REDIS_URL point at real or embedded servers for every child process.
"""

import os
import signal
import subprocess
import sys
import time

ADDRESS = os.environ.get("DHO_RUN_ADDRESS", "127.0.0.1:8000")
LOGINS = [
    ("sykepleier.ullensaker", "sykepleier, Oppfølgingssenteret Øvre Romerike"),
    ("sykepleier.nordrefollo", "sykepleier, Nordre Follo (følger opp egne pasienter)"),
    ("sykepleier.agder", "sykepleier, Regional TMS Agder"),
    ("koordinator.gjerdrum", "koordinator, Gjerdrum"),
    ("koordinator.nannestad", "koordinator, Nannestad"),
    ("fastlege.berg", "fastlege"),
    ("okonomi.ullensaker", "økonomi, Øvre Romerike"),
    ("admin.ullensaker", "senteradministrator, Øvre Romerike"),
]


def manage(*args: str) -> None:
    subprocess.run([sys.executable, "manage.py", *args], check=True)


def start(name: str, args: list[str]) -> subprocess.Popen:
    print(f"Starter {name}: {' '.join(args)}", flush=True)
    return subprocess.Popen([sys.executable, *args])


def banner() -> None:
    print("\n" + "=" * 72)
    print(f"DHO kjører på http://{ADDRESS}/   (Ctrl-C stopper alt)")
    print("Demo-pålogginger, passord «demo»:")
    for username, what in LOGINS:
        print(f"  {username:<24} {what}")
    print("=" * 72 + "\n", flush=True)


def main() -> int:
    os.environ.setdefault("DHO_DEBUG", "1")
    manage("migrate", "--no-input", "-v", "0")
    manage("seed_demo")
    children = [
        start("Celery-worker", ["-m", "celery", "-A", "dho", "worker", "-l", "info", "--concurrency", "2"]),
        start("Celery beat", ["-m", "celery", "-A", "dho", "beat", "-l", "info"]),
        # gunicorn as in production (whitenoise serves static files; no query strings in the log).
        start(
            "webserver",
            [
                "-m",
                "gunicorn",
                "-c",
                "dho/gunicorn_conf.py",
                "--bind",
                ADDRESS,
                "--workers",
                "2",
                "dho.wsgi:application",
            ],
        ),
    ]
    banner()
    try:
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
        print("En av prosessene stoppet; stopper resten.", file=sys.stderr)
    except KeyboardInterrupt:
        print("\nStopper …", flush=True)
    finally:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in children:
            try:
                child.wait(timeout=20)
            except subprocess.TimeoutExpired:
                child.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
