from __future__ import annotations

from celery import shared_task


@shared_task(name="imaging.tasks.run_image_job", acks_late=True)
def run_image_job(job_id: str) -> None:
    # The openai client does its own bounded retries; a Celery retry on top would multiply them.
    from .services.run import image_job_run

    image_job_run(job_id=job_id)


@shared_task(name="imaging.tasks.sweep_image_jobs", ignore_result=True)
def sweep_image_jobs() -> int:
    from .services.sweep import image_jobs_sweep

    return image_jobs_sweep()
