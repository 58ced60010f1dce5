"""Keeping `make run`'s processes running without a person: a Celery worker, beat or web server that
dies (dho/run.py) and the embedded Redis (dho/embedded.py) are started again after a back-off, and
the log says so in one line each way.

The back-off: 1 s after the first death, doubling up to 30 s while the process keeps dying, back to
1 s once it has run for a minute. A dead child's process group is killed before it is reaped (what it
forked — a gunicorn worker holding the port, a Celery pool process — must not outlive it), and a
group is only ever signalled while its leader is our unreaped child: a pid that is gone, or that
another process has taken since, is never signalled.

    python -m dho.supervise NAME -- CMD ...   keep CMD running (a test's stand-in for one of make run's servers)
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field

FIRST_WAIT = 1.0  # seconds before the first restart
LONGEST_WAIT = 30.0
HEALTHY_AFTER = 60.0  # a process that ran this long starts the back-off afresh when it dies


def say(line: str) -> None:
    # On stderr, as the wrapper's own lines: a command's output stays alone on stdout.
    print(line, file=sys.stderr, flush=True)


@dataclass
class Backoff:
    """The waits before restarts: doubled after each death, reset after a healthy run."""

    first: float = FIRST_WAIT
    longest: float = LONGEST_WAIT
    healthy_after: float = HEALTHY_AFTER
    wait: float = field(init=False)

    def __post_init__(self) -> None:
        self.wait = self.first

    def after_death(self, ran_for: float) -> float:
        """The wait before the next start of a process that died after running `ran_for` seconds."""
        if ran_for >= self.healthy_after:
            self.wait = self.first
        wait = self.wait
        self.wait = min(self.wait * 2, self.longest)
        return wait


# --- our children: noticed dead without reaping, their groups killed, then reaped -----------------


def exited(process: subprocess.Popen) -> int | None:
    """The child's exit status once it has ended (negative: the signal), None while it runs. It is
    not reaped here: while it is not, its pid — its process group's id — cannot go to another process."""
    if process.returncode is not None:
        return process.returncode
    try:
        info = os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:  # reaped elsewhere (Popen's own wait)
        return process.poll()
    if info is None or info.si_pid == 0:
        return None
    return info.si_status if info.si_code == os.CLD_EXITED else -info.si_status


def kill_group_and_reap(process: subprocess.Popen) -> None:
    """Kill everything left in the child's process group (started with start_new_session), then reap
    it. A reaped child's group is not signalled: its id may name someone else's processes by now."""
    if process.returncode is None:
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def stop_all(processes: list[subprocess.Popen], grace: float) -> None:
    """SIGTERM to each live child, `grace` seconds for all to end, then their groups are killed."""
    for process in processes:
        if exited(process) is None:
            process.send_signal(signal.SIGTERM)  # the leader stops its own workers gracefully
    deadline = time.monotonic() + grace
    while any(exited(p) is None for p in processes) and time.monotonic() < deadline:
        time.sleep(0.05)
    for process in processes:
        kill_group_and_reap(process)


def how_it_ended(status: int) -> str:
    if status < 0:
        return f"signal {-status}"
    return f"kode {status}"


# --- one kept-running thing -------------------------------------------------------------------------


class Supervised:
    """Something kept running: `start()` starts it, `ended()` says how it ended (None while it runs),
    `cleanup()` clears up after it ended. `check()`, called every tick, restarts it after its wait."""

    def __init__(self, name: str, start: Callable[[], None], ended: Callable[[], str | None],
                 cleanup: Callable[[], None] = lambda: None, backoff: Backoff | None = None):  # fmt: skip
        self.name, self._start, self._ended, self._cleanup = name, start, ended, cleanup
        self.backoff = backoff or Backoff()
        self.started_at = 0.0
        self.due: float | None = None  # when it is dead: the time of its next start
        self.restarts = 0

    def start(self) -> None:
        self._start()
        self.watch()

    def watch(self) -> None:
        """It runs from now (started here or by someone else)."""
        self.started_at = time.monotonic()

    def check(self) -> None:
        now = time.monotonic()
        if self.due is None:
            self._notice_death(now)
        elif now >= self.due:
            self._restart()

    def _notice_death(self, now: float) -> None:
        how = self._ended()
        if how is None:
            return
        self._cleanup()
        wait = self.backoff.after_death(now - self.started_at)
        self.due = now + wait
        say(f"{self.name} stoppet ({how}); startes igjen om {wait:g} s.")

    def _restart(self) -> None:
        self.restarts += 1
        say(f"Starter {self.name} igjen (omstart nr. {self.restarts}).")
        self.due = None
        try:
            self.start()
        except Exception as error:  # e.g. its port taken meanwhile: counts as one more death
            wait = self.backoff.after_death(0.0)
            self.due = time.monotonic() + wait
            say(f"{self.name} startet ikke ({error}); nytt forsøk om {wait:g} s.")


class Child(Supervised):
    """A child process in a session of its own, started by `popen()`."""

    def __init__(self, name: str, popen: Callable[[], subprocess.Popen], backoff: Backoff | None = None):
        self.process: subprocess.Popen | None = None
        self._popen = popen
        super().__init__(name, self._spawn, self._how_ended, self._reap, backoff)

    def _spawn(self) -> None:
        self.process = self._popen()

    def _how_ended(self) -> str | None:
        status = exited(self.process) if self.process else None
        return None if status is None else how_it_ended(status)

    def _reap(self) -> None:
        if self.process is not None:
            kill_group_and_reap(self.process)

    @property
    def alive(self) -> bool:
        return self.due is None and self.process is not None and exited(self.process) is None


# --- `python -m dho.supervise NAME -- CMD ...` -----------------------------------------------------


def keep_running(name: str, cmd: list[str], tick: float = 0.2) -> int:
    """Keep cmd running until SIGINT/SIGTERM, then stop it (its group included)."""
    stopping: list[int] = []
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda signum, frame: stopping.append(signum))
    child = Child(name, lambda: subprocess.Popen(cmd, start_new_session=True))
    child.start()
    while not stopping:
        child.check()
        time.sleep(tick)
    stop_all([child.process] if child.process else [], grace=5)
    return 0


def main(argv: list[str]) -> int:
    if len(argv) >= 3 and argv[1] == "--":
        return keep_running(argv[0], argv[2:])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
