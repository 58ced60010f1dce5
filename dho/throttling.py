"""API throttles: per user and per device gateway, counted in Redis.

DRF checks throttles in `APIView.initial`, after authentication and before the handler reads the
body, so a refused request has stored nothing: a gateway's throttled batch is refused whole and the
gateway sends it again after `Retry-After` (tenants.api_input turns DRF's Throttled into the
Norwegian 429).

Counting is a fixed window per scope and client (`INCR` on a key that expires with the window): one
atomic Redis round trip, correct across gunicorn's processes and threads, where DRF's own throttles
read and rewrite a list of timestamps (two concurrent requests can both pass on the last slot). A
client may burst up to twice its rate across a window's edge; for a ceiling that is enough.

A Redis that does not answer lets the request through, with a warning in the log: ingest is built
to keep taking readings while Redis is down (docs/scoring-and-worklist.md, "Store, then score"), and a throttle must not
be what stops it.

Rates come from `DHO_THROTTLE_RATES` (settings, from `DHO_THROTTLE_USER` / `DHO_THROTTLE_GATEWAY`),
read at each request, in DRF's notation: "600/min", "20/s", "10000/day".
"""

from __future__ import annotations

import logging
import math
import time

from django.conf import settings
from django.core.cache import caches
from redis.exceptions import RedisError
from rest_framework.throttling import BaseThrottle

from measurements.models import Integration
from tenants import outages

log = logging.getLogger(__name__)

PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_rate(rate: str) -> tuple[int, int]:
    """ "600/min" → (600, 60): requests allowed and the window in seconds."""
    count, period = rate.strip().split("/", 1)
    return int(count), PERIODS[period.strip()[0]]


class FixedWindowThrottle(BaseThrottle):
    scope = ""

    def ident(self, request, view) -> str | None:
        """Whom this request counts against, or None when this throttle does not apply to it."""
        raise NotImplementedError

    def allow_request(self, request, view) -> bool:
        who = self.ident(request, view)
        rate = settings.DHO_THROTTLE_RATES.get(self.scope)
        if who is None or not rate:
            return True
        limit, period = parse_rate(rate)
        now = time.time()
        window = int(now // period)
        hits = _count(f"dho:throttle:{self.scope}:{who}:{window}", period)
        if hits is None or hits <= limit:
            return True
        self._wait = (window + 1) * period - now
        if hits == limit + 1:  # once per window: a client hammering away does not flood the log
            log.warning("API-struping: %s %s over %s", self.scope, who, rate)
        return False

    def wait(self) -> float:
        return max(1, math.ceil(self._wait))


def _count(key: str, period: int) -> int | None:
    """This request's number in its window (1 for the first); None when Redis does not answer.
    One round trip: the window's counter is created expiring with the window (SET NX EX) and
    incremented in the same pipeline."""
    cache = caches["default"]
    full_key = cache.make_and_validate_key(key)
    try:
        client = cache._cache.get_client(full_key, write=True)
        pipe = client.pipeline(transaction=False)
        pipe.set(full_key, 0, ex=period + 1, nx=True)
        pipe.incr(full_key)
        hits = int(pipe.execute()[1])
    except (RedisError, OSError) as error:
        if not outages.unreachable(error):
            log.warning("API-struping er av: Redis svarte med en feil", exc_info=True)
        # An outage: one line when it begins and one when it ends (tenants.outages), not one per request.
        outages.failed("Redis", "API-strupingen slipper alt gjennom", error)
        return None
    outages.succeeded("Redis")
    return hits


class UserThrottle(FixedWindowThrottle):
    """A signed-in user (session or API token), whatever endpoint: `DHO_THROTTLE_USER`."""

    scope = "user"

    def ident(self, request, view) -> str | None:
        user = request.user
        return str(user.pk) if user is not None and user.is_authenticated else None


class GatewayThrottle(FixedWindowThrottle):
    """A device gateway (its Integration token), across its endpoints: `DHO_THROTTLE_GATEWAY`."""

    scope = "gateway"

    def ident(self, request, view) -> str | None:
        return str(request.auth.pk) if isinstance(request.auth, Integration) else None
