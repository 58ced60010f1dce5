"""PgBouncer in transaction mode in front of a PostgreSQL, for development, the tests and the benchmarks.

    python -m dho.embedded with-services --pooler -- <command>     (or DHO_POOLER=1; `make test-pooler`)

starts the PostgreSQL and Redis the wrapper always starts (or uses the configured ones), then Debian's
`pgbouncer` as a child process on a free port of 127.0.0.1, and hands the command
- DATABASE_URL (and DATABASE_APP_URL, when set) through the pooler: same roles, passwords and database;
- DHO_DIRECT_DATABASE_URL, the server itself, for what must bypass it: the test suite creates, copies
  (CREATE DATABASE … TEMPLATE refuses while anyone holds a connection to the template) and drops its
  databases there, and takes its session-wide advisory lock there (tests/database_roles.py);
- DHO_DB_POOLER=pgbouncer, which the settings read (no server-side cursors; docs/operations.md,
  «Connection pooler»).
Production runs its own pooler (docker-compose.yml's `pgbouncer`); this module is the one in tests.

Transaction mode: a client holds a server connection only for a transaction, so two transactions of
one Django connection may run on two server connections and two clients' transactions on one. The
platform keeps nothing between transactions (tenants/rls.py: the scope is SET LOCAL, and the one
session-wide set_config only ever clears it); tests/dho/test_pooler.py proves it through this pooler.

Authentication: the pooler knows the roles it is given (the owner of DATABASE_URL, the app role) and
their passwords (userlist.txt, to log in to the server as them): a role with a password must give it
(SCRAM), a role without one is let in as the server lets it in from here; any other role is refused.
The directory (config, userlist, log) is a private temporary one, removed when the pooler stops.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

POOL_MODE = "transaction"
# Server connections per (database, role): enough for a test run's web threads and Celery worker, few
# enough that five developers' poolers stay inside one PostgreSQL's max_connections (100 by default).
DEFAULT_POOL_SIZE = 10
# A loaded machine (a test run's workers, a parallel build) may take tens of seconds to start a process
# and let it log in to the server for the first time; a pooler that fails to start fails the command.
START_TIMEOUT = 60
PROBE_TIMEOUT = 10
STOP_TIMEOUT = 10
# Where Debian puts it (/usr/sbin is not on a non-root user's PATH).
CANDIDATES = ("pgbouncer", "/usr/sbin/pgbouncer", "/usr/bin/pgbouncer")
INSTALL_HINT = "PgBouncer mangler: kjør `sh scripts/ensure-pgbouncer.sh` (som root: apt-get install pgbouncer)."


def binary() -> str | None:
    """The pgbouncer executable, or None when it is not installed."""
    for candidate in CANDIDATES:
        found = shutil.which(candidate)
        if found:
            return found
    return None


@dataclass
class Address:
    """Where a PostgreSQL URL points: a host (or a unix socket directory) and a port."""

    host: str
    port: int

    @classmethod
    def of(cls, url: str) -> Address:
        # A socket directory comes quoted (%2Fvar%2Frun…), so a raw «:» before digits is always the port,
        # with or without one: postgres://u@%2Fdir:5432/db and postgres://u@%2Fdir/db alike.
        where = urlsplit(url).netloc.rpartition("@")[2]
        host, _, port = where.rpartition(":")
        if not port.isdigit():
            host, port = where, ""
        return cls(unquote(host).strip("[]") or "localhost", int(port or 5432))


def credentials(url: str) -> tuple[str, str]:
    """(role, password) of a PostgreSQL URL; the password is "" when it has none."""
    who = urlsplit(url).netloc.rpartition("@")[0]
    user, _, password = who.partition(":")
    return unquote(user), unquote(password)


@dataclass
class Pooler:
    """A running pgbouncer, the child of this process."""

    process: subprocess.Popen
    port: int
    directory: Path
    log: Path
    roles: dict[str, str] = field(default_factory=dict)

    def url(self, upstream_url: str) -> str:
        """The same role, password, database and options as `upstream_url`, through the pooler."""
        parts = urlsplit(upstream_url)
        who = parts.netloc.rpartition("@")[0]
        return urlunsplit(parts._replace(netloc=f"{who + '@' if who else ''}127.0.0.1:{self.port}"))

    def stop(self) -> None:
        """SIGTERM (pgbouncer's immediate shutdown: open transactions are the server's to roll back),
        then SIGKILL if it lingers; its directory goes with it."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.directory, ignore_errors=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _quoted(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'


def config_write(directory: Path, upstream: Address, roles: dict[str, str], port: int, pool_size: int) -> Path:
    """pgbouncer.ini, userlist.txt and hba.conf in `directory`; returns the ini's path."""
    userlist = "".join(f"{_quoted(role)} {_quoted(password)}\n" for role, password in roles.items())
    hba = "".join(
        f"host all {_quoted(role)} 127.0.0.1/32 {'scram-sha-256' if password else 'trust'}\n"
        for role, password in roles.items()
    )
    (directory / "userlist.txt").write_text(userlist)
    (directory / "hba.conf").write_text(hba)
    ini = directory / "pgbouncer.ini"
    ini.write_text(
        "[databases]\n"
        # Every database of the server under its own name (the suite's test databases, the benchmarks').
        f"* = host={upstream.host} port={upstream.port}\n"
        "[pgbouncer]\n"
        f"listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n"
        f"auth_type = hba\nauth_hba_file = {directory / 'hba.conf'}\nauth_file = {directory / 'userlist.txt'}\n"
        # The first role (DATABASE_URL's owner) may use the admin console (the `pgbouncer` database:
        # SHOW POOLS; KILL/RESUME a database, as tests/dho/test_recovery.py drops kept connections).
        f"admin_users = {next(iter(roles), '')}\n"
        f"pool_mode = {POOL_MODE}\ndefault_pool_size = {pool_size}\nmax_client_conn = 500\n"
        # Let go of idle server connections soon: a test database is dropped at the end of a run.
        "server_idle_timeout = 30\n"
        # psycopg sends none of these, other drivers (JDBC, some psql versions) do.
        "ignore_startup_parameters = extra_float_digits\n"
        # The log (stdout, into the directory's pgbouncer.log): errors and why each connection closed,
        # not a line per login (a test run makes tens of thousands).
        "log_connections = 0\n"
        f"pidfile = {directory / 'pgbouncer.pid'}\n"
    )
    return ini


def _run_as() -> dict:
    # pgbouncer refuses to run as root: as root, run it as the embedded PostgreSQL's user (it may reach
    # that server's socket) or Debian's postgres.
    if os.geteuid() != 0:
        return {}
    import pwd

    for name in ("pgserver", "postgres", "nobody"):
        with contextlib.suppress(KeyError):
            user = pwd.getpwnam(name)
            return {"user": user.pw_uid, "group": user.pw_gid}
    return {}


def start(upstream_url: str, roles: dict[str, str], *, pool_size: int = DEFAULT_POOL_SIZE) -> Pooler:
    """pgbouncer in transaction mode in front of the server of `upstream_url`, for these roles
    ({role: password}); returns once a query as the URL's role passes through it to the server."""
    executable = binary()
    if executable is None:
        raise RuntimeError(INSTALL_HINT)
    directory = Path(tempfile.mkdtemp(prefix="dho-pgbouncer-"))
    port = _free_port()
    ini = config_write(directory, Address.of(upstream_url), roles, port, pool_size)
    user = _run_as()
    if user:
        for path in (directory, *directory.iterdir()):
            os.chown(path, user["user"], user["group"])
    log = directory / "pgbouncer.log"
    # No -q: pgbouncer logs to stdout only, and quiet it would log nothing at all (a failed start included).
    with log.open("ab") as output:
        process = subprocess.Popen(
            [executable, str(ini)], stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, **user
        )
    pooler = Pooler(process=process, port=port, directory=directory, log=log, roles=dict(roles))
    try:
        _wait_until_it_answers(pooler, upstream_url)
    except BaseException:
        pooler.stop()
        raise
    return pooler


def _wait_until_it_answers(pooler: Pooler, upstream_url: str) -> None:
    import psycopg

    deadline = time.monotonic() + START_TIMEOUT
    problem: Exception | None = None
    while time.monotonic() < deadline:
        if pooler.process.poll() is not None:
            break
        try:
            # The maintenance database: the URL's own may not exist yet (the suite creates its own).
            probe = urlunsplit(urlsplit(pooler.url(upstream_url))._replace(path="/postgres", query=""))
            with psycopg.connect(probe, connect_timeout=PROBE_TIMEOUT, autocommit=True) as conn:
                conn.execute("SELECT 1")
            return
        except psycopg.OperationalError as exc:
            problem = exc
            time.sleep(0.1)
    log = pooler.log.read_text(errors="replace")[-2000:] if pooler.log.exists() else ""
    raise RuntimeError(f"PgBouncer svarte ikke på port {pooler.port} ({problem}).\n{log}")


# --- what `python -m dho.embedded with-services --pooler` calls -------------------------------------


def roles_for(env: dict, development_password: str) -> dict[str, str]:
    """The roles a pooler for this environment lets in: DATABASE_URL's owner, DATABASE_APP_URL's role,
    and the app role the settings derive (DHO_DB_APP_ROLE with DHO_DB_APP_PASSWORD, or in debug and
    test mode the development password, as dho/settings.py does)."""
    roles = {}
    for name in ("DATABASE_URL", "DATABASE_APP_URL"):
        if env.get(name):
            role, password = credentials(env[name])
            roles[role or "postgres"] = password
    app = env.get("DHO_DB_APP_ROLE") or "dho_app"
    roles.setdefault(app, env.get("DHO_DB_APP_PASSWORD") or development_password)
    return roles


def environment_through(env: dict, started: list, development_password: str) -> dict[str, str]:
    """Starts a pooler in front of env's DATABASE_URL, puts its stop first in `started`, and returns what
    a command is given to use it (the module docstring)."""
    direct = env["DATABASE_URL"]
    pool_size = int(env.get("DHO_POOLER_POOL_SIZE") or DEFAULT_POOL_SIZE)
    pooler = start(direct, roles_for(env, development_password), pool_size=pool_size)
    started.insert(0, pooler.stop)  # stopped before the server it stands in front of
    through = {"DATABASE_URL": pooler.url(direct), "DHO_DIRECT_DATABASE_URL": direct, "DHO_DB_POOLER": "pgbouncer"}
    if env.get("DATABASE_APP_URL"):
        through["DATABASE_APP_URL"] = pooler.url(env["DATABASE_APP_URL"])
    return through


def safe_url(url: str) -> str:
    """The URL without its password (for a line on stderr)."""
    parts = urlsplit(url)
    who, _, where = parts.netloc.rpartition("@")
    role = who.partition(":")[0]
    return urlunsplit(parts._replace(netloc=f"{role + '@' if role else ''}{where}"))
