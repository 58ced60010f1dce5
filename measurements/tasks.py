"""Celery tasks of measurements: thin wrappers over measurements.partitions."""

from celery import shared_task

from measurements import partitions


@shared_task(name="measurements.partitions_ensure")
def partitions_ensure() -> list[str]:
    """This month's partitions of readings and answers and the next three months' (the beat, daily).
    No system scope: it reads no row, and the owner's function makes the tables; what it made is audited."""
    return partitions.partitions_ensure()
