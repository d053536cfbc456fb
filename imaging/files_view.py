"""Handing a stored picture to its owner: streamed from local disk, or a short-lived signed URL
to the S3-compatible store. Anyone else gets a 404, whichever path they try."""

from __future__ import annotations

from django.core.files.storage import FileSystemStorage
from django.http import FileResponse, HttpResponse, HttpResponseRedirect

from .models import GeneratedImage
from .services.files import image_storage


def serve_image(image: GeneratedImage, *, thumbnail: bool = False,
                download: bool = False) -> HttpResponse:
    storage = image_storage()
    name = image.thumbnail if thumbnail else image.file
    filename = f"chatlab-{str(image.pk)[:8]}.{name.rsplit('.', 1)[-1]}"
    if isinstance(storage, FileSystemStorage):
        response = FileResponse(storage.open(name, "rb"), as_attachment=download,
                                filename=filename,
                                content_type="image/webp" if thumbnail else image.content_type)
        response["Cache-Control"] = "private, max-age=3600"
        response["X-Content-Type-Options"] = "nosniff"
        return response
    parameters = {}
    if download:
        parameters["ResponseContentDisposition"] = f'attachment; filename="{filename}"'
    url = storage.url(name, parameters=parameters) if parameters else storage.url(name)
    response = HttpResponseRedirect(url)
    response["Cache-Control"] = "private, no-store"
    return response
