"""One HTTP/1.1 request over TLS written byte by byte, for what requests will not send (a negative or
malformed Content-Length, a chunked body beside it): the stand-ins' answers to those."""

import socket
import ssl
from urllib.parse import urlsplit


def raw_request(url: str, ca_file: str, head: str, body: bytes = b"", *, timeout: float = 5) -> tuple[int, bytes]:
    """(status, the whole answer as read until the server closed or went quiet: 0 for none). `head`
    is the request's header lines, each ending in CRLF; ask for `Connection: close`."""
    parts = urlsplit(url)
    context = ssl.create_default_context(cafile=ca_file)
    with (
        socket.create_connection((parts.hostname, parts.port), timeout=timeout) as sock,
        context.wrap_socket(sock, server_hostname=parts.hostname) as tls,
    ):
        answer = b""
        try:
            tls.sendall(f"POST {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\n{head}\r\n".encode() + body)
            while chunk := tls.recv(65536):
                answer += chunk
        except TimeoutError:
            pass  # a server still waiting for more body: what it answered so far (nothing, say)
        except OSError:
            pass  # a server that answered and closed with the body unread: what it answered
    status = int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1 ") else 0
    return status, answer
