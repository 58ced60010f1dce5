"""The alert history's events by an index-only scan: `alert_event_history` (alert, at) INCLUDE what
the patient page shows of an event (and municipality, which the row-level security policy reads)
replaces `alert_event_alert_time` (the same key without them). An alert's events lie in a heap page
each; at 30,000 patients a page's thirty alerts read some eighty heap pages, mostly not in memory.

Built CONCURRENTLY (events go on being written meanwhile), so not in a transaction; the old index is
dropped after the new one is valid.
"""

from django.contrib.postgres.operations import AddIndexConcurrently, RemoveIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY

    dependencies = [
        ("triage", "0008_alertevent_patient"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="alertevent",
            index=models.Index(
                fields=["alert", "at"],
                include=["id", "municipality", "kind", "colour", "previous_colour", "reason", "by"],
                name="alert_event_history",
            ),
        ),
        RemoveIndexConcurrently(model_name="alertevent", name="alert_event_alert_time"),
    ]
