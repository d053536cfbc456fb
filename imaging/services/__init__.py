"""Image generation services. Channels (web, API, terminal, messengers) call
`image_job_create`; a worker runs the job with `image_job_run`."""

from .jobs import image_delete, image_job_create, image_model_pick
from .payloads import image_payload, job_payload, model_payload

__all__ = ["image_job_create", "image_delete", "image_model_pick", "image_payload", "job_payload",
           "model_payload"]
