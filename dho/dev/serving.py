"""What every stand-in server does the same way: bind a free localhost port behind TLS, say where it
is in a ready file, run background work, and stop on SIGTERM/SIGINT or when the process that started
it is gone. Each stand-in (dho/dev/helseid.py, dho/dev/jft.py) brings its request handler and state.

    serve(_Server, _Handler, config, ready_file, parent_pid,
          build=lambda base: MyStandin(base=base, …), ready=lambda standin: {"base": standin.base})
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from dho.dev import refuse_outside_development

refuse_outside_development()

PARENT_POLL = 0.5  # seconds between looks at whether the launcher is still there


class BodyRefused(Exception):
    """A request whose body's length is not declared as HTTP/1.1 needs it to be read safely: `status`
    (400, or 411 for a body without Content-Length) and why, in Norwegian."""

    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status, self.description = status, description


def body_length(headers: Message) -> int:
    """The request body's length: one `Content-Length` of decimal digits (0 without a body).
    `BodyRefused` for a chunked body (`Transfer-Encoding`: the stand-ins read declared lengths
    only) and for a negative, malformed or twice-given length — read as it stood, `-1` would read
    until the client closes, past any size limit. The refused body stays unread: the caller closes
    the connection after its answer."""
    if headers.get("Transfer-Encoding") is not None:
        raise BodyRefused(411, "Transfer-Encoding tas ikke imot: send Content-Length")
    values = headers.get_all("Content-Length") or []
    if not values:
        return 0
    if len(set(values)) != 1 or not re.fullmatch(r"[0-9]+", values[0].strip()):
        raise BodyRefused(400, "Content-Length må være ett ikke-negativt heltall")
    return int(values[0])


class StandinServer(ThreadingHTTPServer):
    """A threading HTTPS server holding its stand-in's state in `standin`."""

    daemon_threads = True
    standin: Any


def serve(
    server_class: type[StandinServer],
    handler: type[BaseHTTPRequestHandler],
    config: Mapping[str, Any],
    ready_file: Path,
    parent_pid: int | None,
    *,
    build: Callable[[str], Any],
    ready: Callable[[Any], dict[str, Any]],
    background: Callable[[Any, threading.Event], None] | None = None,
) -> None:
    """Serves until SIGTERM/SIGINT or until `parent_pid` is no longer this process's parent.
    `build(base)` makes the stand-in's state for its address (`https://127.0.0.1:<port>`);
    `ready(standin)` is what goes to `ready_file` (with the pid) once it listens; `background`, when
    given, runs in a thread of its own with an event set when the server stops."""
    server = server_class(("127.0.0.1", 0), handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(config["tls_cert"], config["tls_key"])
    server.socket = context.wrap_socket(server.socket, server_side=True)
    server.standin = build(f"https://127.0.0.1:{server.server_address[1]}")
    stopping = threading.Event()

    def stop(*_: Any) -> None:
        stopping.set()
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if background is not None:
        threading.Thread(target=background, args=(server.standin, stopping), daemon=True).start()
    if parent_pid:

        def watch_parent() -> None:
            # Orphaned (the launcher was killed and could not stop us): stop too.
            while os.getppid() == parent_pid:
                time.sleep(PARENT_POLL)
            stop()

        threading.Thread(target=watch_parent, daemon=True).start()
    tmp = ready_file.with_suffix(".tmp")
    tmp.write_text(json.dumps({**ready(server.standin), "pid": os.getpid()}))
    tmp.replace(ready_file)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()


def main(description: str, run: Callable[[Mapping[str, Any], Path, int | None], None], argv: list[str] | None) -> None:
    """The command line every stand-in takes from the launcher (dho/dev/standins.py)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--config", required=True, type=Path)
    parser.add_argument("--ready-file", required=True, type=Path)
    parser.add_argument("--parent-pid", type=int)
    args = parser.parse_args(argv)
    run(json.loads(args.config.read_text()), args.ready_file, args.parent_pid)
