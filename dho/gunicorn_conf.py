"""gunicorn settings (`gunicorn -c dho/gunicorn_conf.py dho.wsgi:application`)."""

import os
import sys

bind = os.environ.get("DHO_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("DHO_WEB_WORKERS", "3"))
accesslog = "-"
# Path without the query string: a search for a fødselsnummer (?search=…) must never reach a log.
access_log_format = '%(h)s %(t)s "%(m)s %(U)s" %(s)s %(b)s %(L)ss "%({x-request-id}o)s"'
# Threads per worker: a one-reading POST from a gateway is not queued behind a 1,000-reading batch
# that another request is validating (bench/ingest.py measures the difference).
threads = int(os.environ.get("DHO_WEB_THREADS", "4"))
# The scheme is the application's to decide (dho.middleware.ForwardedProtoMiddleware believes
# X-Forwarded-Proto only from DHO_TRUSTED_PROXIES): gunicorn must not set https from a header itself,
# which by default it does for any peer on 127.0.0.1.
secure_scheme_headers = {}
# How long a thread may hold the interpreter lock while another waits for it (Python's default 5 ms).
# A gateway's one-reading request that shares a worker process with a 1,000-reading batch waits for
# the lock after each of its dozen database and Redis round trips while the batch's thread computes:
# with 0.5 ms the single POST's p95 under the 2,000 readings/s load fell from 43 to 26 ms
# (bench/ingest.py, docs/readings-and-fhir.md), the batch throughput unchanged.
SWITCH_INTERVAL = 0.0005


def post_worker_init(worker):
    sys.setswitchinterval(SWITCH_INTERVAL)
