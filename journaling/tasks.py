"""Celery tasks of the outbox: thin wrappers over journaling.services. The services declare their
own named system scope per transaction (the send must not hold a transaction open over the network),
so the tasks do not wrap them in one."""

import logging

from celery import shared_task

from journaling import services

log = logging.getLogger(__name__)


@shared_task(name="journaling.send_delivery")
def send_delivery(delivery_id: int) -> str:
    """Queued after the commit that wrote the row (or a resend): send it now if no one else is, then
    look at its receipt again shortly (`poll_delivery`)."""
    row = services.delivery_send(delivery_id)
    services.delivery_follow_up(row, 0)
    return row.state if row is not None else ""


@shared_task(name="journaling.poll_delivery")
def poll_delivery(delivery_id: int, step: int) -> str:
    """A quick look at a just-sent delivery's receipt, queued after the send and again after each
    look until it is journaled (services.quick_polls(), DHO_JOURNAL_QUICK_POLLS); the beat's
    `poll_sent` follows after."""
    row = services.delivery_poll(delivery_id)
    services.delivery_follow_up(row, step)
    return row.state if row is not None else ""


@shared_task(name="journaling.send_due")
def send_due() -> int:
    """The sweep: new rows whose task was lost, retries that are due, and rows a dead worker held."""
    return services.deliveries_send_due()


@shared_task(name="journaling.poll_sent")
def poll_sent() -> int:
    """Follows the receipts of what was sent: registered, read, journaled."""
    return services.deliveries_poll_due()


@shared_task(name="journaling.overdue_check")
def overdue_check() -> int:
    """Flags what is not journaled in time for the centre admin."""
    return services.deliveries_overdue_flag()
