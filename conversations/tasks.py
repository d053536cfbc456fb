"""Celery tasks: thin handles that call a service."""

from __future__ import annotations

from asgiref.sync import async_to_sync
from celery import shared_task

from .services.queued import reply_run_queued
from .services.sweep import sweep_interrupted_replies


@shared_task(name="conversations.tasks.generate_reply", acks_late=True, ignore_result=True)
def generate_reply(message_id: str) -> str:
    # No Celery retry here: the openai client already retries, and retries must stay bounded.
    return reply_run_queued(message_id)


@shared_task(name="conversations.tasks.sweep_interrupted_replies", ignore_result=True)
def sweep_interrupted() -> int:
    return async_to_sync(sweep_interrupted_replies)()


@shared_task(name="conversations.tasks.summarise_conversation", ignore_result=True)
def summarise_conversation(conversation_id: str) -> bool:
    from .services.summaries import conversation_summarise

    return conversation_summarise(conversation_id=conversation_id)


@shared_task(name="conversations.tasks.empty_trash", ignore_result=True)
def empty_trash() -> int:
    from .services.trash import trash_empty_expired

    return trash_empty_expired()


@shared_task(name="conversations.tasks.run_import", acks_late=True, ignore_result=True)
def run_import(job_id: str) -> str:
    from .services.history_import import import_job_run

    return import_job_run(job_id=job_id)


# Sent with queue="chat" (services/titles.py): titles are short model calls, like replies for
# messengers, not maintenance (DESIGN.md).
@shared_task(name="conversations.tasks.title_conversation", ignore_result=True)
def title_conversation(conversation_id: str) -> bool:
    from .services.titles import conversation_title

    # Whether it was retitled, not the title: what a task returns may be logged.
    return conversation_title(conversation_id=conversation_id) is not None
