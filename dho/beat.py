"""Celery beat's scheduler (CELERY_BEAT_SCHEDULER): Celery's own, except that a due task beat could
not send because Redis does not answer is one line when the outage begins and one when it ends
(tenants.outages), not a traceback per task per tick. Nothing is lost meanwhile: the next tick sends
each job again, and each sweep catches up on what the missed ones would have done.

It makes the schedule file's directory first: docker compose's beat keeps it under DHO_VAR_DIR
(/tmp/dho), which no image layer creates, and Celery's own scheduler stops beat at its start there."""

from pathlib import Path

from celery.beat import PersistentScheduler

from tenants import outages


class Scheduler(PersistentScheduler):
    def setup_schedule(self):
        Path(self.schedule_filename).parent.mkdir(parents=True, exist_ok=True)
        super().setup_schedule()

    def apply_entry(self, entry, producer=None):
        try:
            self.apply_async(entry, producer=producer, advance=False)
        except Exception as error:
            if not outages.unreachable(error):
                return super().apply_entry(entry, producer)  # Celery's own report of anything else
            outages.failed("Redis", "beat sender ingen planlagte jobber; de sendes igjen ved neste tikk", error)
        else:
            outages.succeeded("Redis")
