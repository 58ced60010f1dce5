"""Request metadata the audit log can trust: the client's address, the scheme and the request id.

A header is the client's word, not a fact. `X-Forwarded-For`, `X-Forwarded-Proto` and `X-Request-ID`
are believed only when the peer that sent them (REMOTE_ADDR) is one of our own reverse proxies,
listed in `DHO_TRUSTED_PROXIES` (addresses or networks; none by default). Anything else in them is
ignored, and nothing in a header can make a request fail. Nor can a NUL character in the address.

The request id is always ours. A trusted proxy's own id for the request is kept beside it
(`request.upstream_request_id`: in the log lines and the audit log), so the two logs line up
without the proxy choosing the id our log is searched by.
"""

import ipaddress
import logging
import re
import uuid
from contextvars import ContextVar
from functools import lru_cache
from urllib.parse import unquote

from django.conf import settings
from django.http import Http404, HttpResponseBadRequest, JsonResponse

_request_id: ContextVar[str] = ContextVar("request_id", default="-")
_upstream_request_id: ContextVar[str] = ContextVar("upstream_request_id", default="-")
_VALID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
# A proxy chain longer than this is not ours: the rest is what the client wrote.
_MAX_HOPS = 10

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def _address(text: str) -> Address | None:
    """The address in `text` (IPv4, IPv6, an IPv4-mapped IPv6 as IPv4), or None for anything else.
    An IPv6 zone (`fe80::1%eth0`) is dropped: it names our network card, and PostgreSQL's inet
    column would refuse it."""
    try:
        address = ipaddress.ip_address(text.strip().split("%", 1)[0])
    except ValueError:
        return None
    mapped = getattr(address, "ipv4_mapped", None)
    return mapped or address


@lru_cache(maxsize=8)
def _networks(proxies: tuple[str, ...]) -> tuple:
    return tuple(ipaddress.ip_network(p, strict=False) for p in proxies)


def trusted_networks() -> tuple:
    return _networks(tuple(getattr(settings, "DHO_TRUSTED_PROXIES", ())))


def _is_trusted(address: Address | None) -> bool:
    return address is not None and any(address in network for network in trusted_networks())


def peer_is_trusted(request) -> bool:
    """Is the peer of this connection one of our reverse proxies (DHO_TRUSTED_PROXIES)?"""
    return _is_trusted(_address(request.META.get("REMOTE_ADDR") or ""))


def _forwarded_client(header: str, peer: Address) -> Address:
    """The client in X-Forwarded-For as our proxies saw it: the rightmost hop that is not one of
    them. Hops left of an untrusted one were written by the client and are never read; a hop that
    is not an address ends the walk at the last proxy we trust."""
    client = peer
    for hop in reversed(header.split(",")[-_MAX_HOPS:]):
        address = _address(hop)
        if address is None:
            return client
        client = address
        if not _is_trusted(address):
            return client
    return client


def client_ip(request) -> str | None:
    """The client's IP address for the audit log and lock-out: the peer, or, when the peer is a
    trusted proxy, the client that proxy names in X-Forwarded-For. None when there is no address."""
    peer = _address(request.META.get("REMOTE_ADDR") or "")
    if peer is None:
        return None
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if forwarded and _is_trusted(peer):
        return str(_forwarded_client(forwarded, peer))
    return str(peer)


def request_id(request) -> str:
    """Our own id for the request: always a fresh one, whoever sent an X-Request-ID. An id chosen
    upstream could repeat one already in the audit log, or be the same for many requests."""
    return uuid.uuid4().hex


def upstream_request_id(request) -> str:
    """The id our own proxy gave the request (its X-Request-ID), kept beside ours so its log and
    ours line up; "" when the peer is not our proxy or the id is not a sane one."""
    incoming = request.headers.get("X-Request-ID", "")
    if incoming and _VALID.match(incoming) and peer_is_trusted(request):
        return incoming
    return ""


class ForwardedProtoMiddleware:
    """X-Forwarded-Proto counts only from our own proxy. Django believes SECURE_PROXY_SSL_HEADER from
    anyone, so a client that writes `X-Forwarded-Proto: https` over plain HTTP would pass as HTTPS
    (no redirect, secure cookies sent, CSRF's HTTPS checks skipped). From any other peer the header
    is removed before Django reads it: the scheme is then the connection's own. First in MIDDLEWARE."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if "HTTP_X_FORWARDED_PROTO" in request.META and not peer_is_trusted(request):
            del request.META["HTTP_X_FORWARDED_PROTO"]
        return self.get_response(request)


class RequestIdMiddleware:
    """Gives every request our id, the proxy's id and the client address (`request.request_id`,
    `request.upstream_request_id`, `request.client_ip`), for the audit log (tenants.services reads
    them) and the log lines. The answer's X-Request-ID is ours."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.request_id = request_id(request)
        request.upstream_request_id = upstream_request_id(request)
        request.client_ip = client_ip(request)
        ours = _request_id.set(request.request_id)
        theirs = _upstream_request_id.set(request.upstream_request_id or "-")
        try:
            response = self.get_response(request)
        finally:
            _request_id.reset(ours)
            _upstream_request_id.reset(theirs)
        response["X-Request-ID"] = request.request_id
        return response


class RefuseNulMiddleware:
    """A NUL character in the address never reaches a view. PostgreSQL cannot compare a value with
    one in it (a search for «%00» would be a 500 deep in a query), and no real client sends it: in
    the query string it is a 400; in the path it names nothing that can exist, a 404 (JSON under
    /api/, dho.api_errors). Bodies are checked where they are read (tenants.api_input, the forms)."""

    MESSAGE = "Adressen inneholder et NUL-tegn (%00); det godtas ikke."

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if "\x00" in request.path_info:
            raise Http404(self.MESSAGE)
        if "\x00" in unquote(request.META.get("QUERY_STRING", "")):
            if request.path_info.startswith("/api/"):
                return JsonResponse({"detail": self.MESSAGE}, status=400)
            return HttpResponseBadRequest(self.MESSAGE, content_type="text/plain; charset=utf-8")
        return self.get_response(request)


class RequestIdLogFilter(logging.Filter):
    """Puts our request id and the proxy's (`-` when none) on every log line of the request."""

    def filter(self, record):
        record.request_id = _request_id.get()
        record.upstream_request_id = _upstream_request_id.get()
        return True
