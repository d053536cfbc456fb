from celery import shared_task

from .guests import guests_purge


@shared_task(name="accounts.tasks.purge_guests", ignore_result=True)
def purge_guests() -> int:
    return guests_purge()
