"""`make run`: migrate, load the demo, then web + Celery worker + beat until Ctrl-C or SIGTERM.

Run it through `python -m dho.embedded with-services -- python -m dho.run` (the Makefile does), so
DATABASE_URL and REDIS_URL point at real or embedded servers for every child process. `migrate` and
`seed_demo` are given the owner's DATABASE_URL; the web server, worker and beat only the app role's
address (`server_env`), as in docker compose. While it runs it records those settings
(`dho.embedded.recorded_run`) for a bare `manage.py` in another terminal.

Each server runs in a session of its own, so Ctrl-C reaches only this process, which stops every
server and everything a server started (a gunicorn worker, a Celery pool process) within
STOP_GRACE seconds; what is left then is killed. The wrapper then stops the embedded servers.

A server that dies on its own is started again after a back-off (dho/supervise.py: 1 s, doubling to
30 s, afresh after a minute's run), its leftovers killed first; the log says so. The others run on.
"""

import os
import signal
import subprocess
import sys
import time

from dho import embedded, supervise
from dho.demo_logins import LOGINS

ADDRESS = os.environ.get("DHO_RUN_ADDRESS", "127.0.0.1:8000")
# Well inside the 10 s in which `make run` promises to be gone, the embedded servers included.
STOP_GRACE = 5


class Stopped(Exception):
    """Ctrl-C or SIGTERM arrived before the platform was up."""


class Platform:
    """The processes of one `make run`. A signal only sets `stopping`; the main loop acts on it, so
    no process can be started half-way and forgotten."""

    def __init__(self):
        self.stopping = False
        self.step: subprocess.Popen | None = None  # migrate or seed_demo while it runs
        self.servers: list[supervise.Child] = []

    def on_signal(self, signum, frame):
        self.stopping = True
        if self.step is not None:
            self.step.terminate()  # a SIGTERM sent to the wrapper alone never reached it

    def manage(self, *args: str) -> None:
        if self.stopping:
            raise Stopped
        self.step = subprocess.Popen([sys.executable, "manage.py", *args])
        if self.stopping:  # the signal came while it was being started
            self.step.terminate()
        returncode = self.step.wait()
        self.step = None
        if self.stopping:
            raise Stopped
        if returncode:
            raise subprocess.CalledProcessError(returncode, ["manage.py", *args])

    def start(self, name: str, args: list[str]) -> None:
        if self.stopping:
            raise Stopped
        print(f"Starter {name}: {' '.join(args)}", flush=True)
        # A session of its own: the terminal's Ctrl-C does not reach it behind our back, and its
        # process group holds everything it forks, for stop_servers() and a restart.
        server = supervise.Child(
            name, lambda: subprocess.Popen([sys.executable, *args], start_new_session=True, env=server_env())
        )
        self.servers.append(server)
        server.start()

    def wait(self) -> None:
        """Until Ctrl-C or SIGTERM: a server that died is started again after its back-off."""
        while not self.stopping:
            for server in self.servers:
                server.check()
            time.sleep(0.2)
        print("\nStopper …", flush=True)

    def stop_servers(self) -> None:
        # Whatever is left in a server's group after the grace (a worker still holding the port after
        # its master exited, a master that did not stop in time) is killed.
        supervise.stop_all([server.process for server in self.servers if server.process], grace=STOP_GRACE)


def server_env(environ=None) -> dict:
    """The environment of the web server, worker and beat: the app role's address (DATABASE_APP_URL,
    or the owner's with the app role's name and password in their place) and not the owner's, so
    they run under row-level security and cannot connect as the owner."""
    env = dict(os.environ if environ is None else environ)
    owner = env.pop("DATABASE_URL", "")
    if owner and not env.get("DATABASE_APP_URL"):
        role = env.get("DHO_DB_APP_ROLE") or "dho_app"
        password = env.get("DHO_DB_APP_PASSWORD") or embedded.DEVELOPMENT_APP_PASSWORD
        env["DATABASE_APP_URL"] = embedded.app_database_url(owner, role, password)
    return env


def banner() -> None:
    print("\n" + "=" * 72)
    print(f"DHO kjører på http://{ADDRESS}/   (Ctrl-C stopper alt)")
    print("Demo-pålogginger, passord «demo»:")
    for username, *_, what in LOGINS:
        print(f"  {username:<24} {what}")
    if os.environ.get("DHO_HELSEID_ISSUER"):
        print("«Logg inn med HelseID» går til HelseID-stand-in-en: velg en testperson der (dho/demo_persons.py).")
    print("=" * 72 + "\n", flush=True)


def serve(platform: Platform) -> None:
    platform.manage("migrate", "--no-input", "-v", "0")
    platform.manage("seed_demo")
    platform.start("Celery-worker", ["-m", "celery", "-A", "dho", "worker", "-l", "info", "--concurrency", "2"])
    platform.start("Celery beat", ["-m", "celery", "-A", "dho", "beat", "-l", "info"])
    # gunicorn as in production (whitenoise serves static files; no query strings in the log).
    platform.start(
        "webserver",
        ["-m", "gunicorn", "-c", "dho/gunicorn_conf.py", "--bind", ADDRESS, "--workers", "2", "dho.wsgi:application"],
    )
    banner()
    platform.wait()


def record() -> dict:
    """What a bare `manage.py` in another terminal needs to use this platform (see manage.py).
    No SECRET_KEY: a platform that is not in debug mode lends none."""
    return {
        "pid": os.getpid(),
        "address": ADDRESS,
        "DHO_DEBUG": os.environ["DHO_DEBUG"],
        "DATABASE_URL": os.environ.get("DATABASE_URL", ""),
        "REDIS_URL": os.environ.get("REDIS_URL", ""),
    }


def main() -> int:
    os.environ.setdefault("DHO_DEBUG", "1")
    platform = Platform()
    # SIGHUP: the terminal was closed, which no longer reaches the servers in their own sessions.
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, platform.on_signal)
    with embedded.recorded_run(record()):
        try:
            serve(platform)
        except Stopped:
            print("\nStoppet under oppstart.", flush=True)
        finally:
            platform.stop_servers()
    return 0


if __name__ == "__main__":
    sys.exit(main())
