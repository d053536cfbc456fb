"""For channels without a socket (Telegram, Discord, Slack: issue #9): connect a receiver to
`image_job_finished` to deliver the pictures, or the reason, when a job ends.

    image_job_finished.connect(receiver)  # receiver(sender, job: ImageJob, **kwargs)

Sent by the worker once a job is `done` or `failed`; `job.channel` says who asked.
"""

from django.dispatch import Signal

image_job_finished = Signal()
