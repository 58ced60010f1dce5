"""What a batch puts on the real Redis for scoring: chunks of SCORING_CHUNK ids, each message
carrying its ids in the body and a short description of them for logs and monitors."""

import base64
import json
import uuid

import redis

from measurements.services import BULK_PRIORITY, SCORING_CHUNK, enqueue_scoring


def test_a_batch_is_queued_in_chunks_whose_description_names_the_count_not_every_id(settings):
    from dho.celery import app

    queue = f"test-{uuid.uuid4().hex[:8]}"
    previous, app.conf.task_default_queue = app.conf.task_default_queue, queue
    client = redis.Redis.from_url(settings.REDIS_URL)
    try:
        ids = list(range(1001, 1001 + SCORING_CHUNK + 50))
        enqueue_scoring("reading", ids)
        # kombu keeps each priority step in its own list: the queue's name, a separator, the step.
        keys = [k for k in client.keys(f"{queue}*") if not k.startswith(b"_kombu")]
        messages = [json.loads(raw) for key in keys for raw in client.lrange(key, 0, -1)]
    finally:
        client.delete(*client.keys(f"{queue}*"))
        app.conf.task_default_queue = previous
    assert keys == [f"{queue}\x06\x16{BULK_PRIORITY}".encode()]
    first, rest = ids[:SCORING_CHUNK], ids[SCORING_CHUNK:]
    sent = {m["headers"]["argsrepr"]: json.loads(base64.b64decode(m["body"]))[0][0] for m in messages}
    assert sent == {f"[{SCORING_CHUNK} id-er: 1001…{first[-1]}]": first, f"[50 id-er: {rest[0]}…{rest[-1]}]": rest}
