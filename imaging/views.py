"""Pages: the gallery of my images, the files themselves, a job's state for the chat page."""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from conversations.services.errors import ChatError

from . import selectors
from .files_view import serve_image
from .services import image_delete, job_payload

PAGE_SIZE = 48


@login_required
@require_GET
def gallery(request: HttpRequest) -> HttpResponse:
    images = selectors.images_for(request.user).select_related("job")
    page = Paginator(images, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "imaging/gallery.html", {"page": page})


@login_required
@require_POST
def delete(request: HttpRequest, image_id: uuid.UUID) -> HttpResponse:
    try:
        image_delete(user=request.user, image_id=image_id)
    except ChatError:
        raise Http404("Image not found") from None
    messages.success(request, _("The image was deleted."))
    return redirect("gallery")


def _mine(request: HttpRequest, image_id: uuid.UUID):  # type: ignore[no-untyped-def]
    image = selectors.image_get(request.user, image_id) if request.user.is_authenticated else None
    if image is None:
        raise Http404("Image not found")
    return image


@require_GET
def image_file(request: HttpRequest, image_id: uuid.UUID) -> HttpResponse:
    return serve_image(_mine(request, image_id), download=request.GET.get("download") == "1")


@require_GET
def image_thumbnail(request: HttpRequest, image_id: uuid.UUID) -> HttpResponse:
    return serve_image(_mine(request, image_id), thumbnail=True)


@require_GET
def media_file(request: HttpRequest, name: str) -> HttpResponse:
    """MEDIA_URL itself: a stored picture's own path answers only its owner."""
    image = selectors.image_by_name(request.user, name) if request.user.is_authenticated else None
    if image is None:
        raise Http404("Not found")
    return serve_image(image, thumbnail=name == image.thumbnail)


@require_GET
def job_state(request: HttpRequest, job_id: uuid.UUID) -> JsonResponse:
    """For the chat page: the state of a job it shows (the socket pushes changes too)."""
    job = selectors.job_get(request.user, job_id) if request.user.is_authenticated else None
    if job is None:
        raise Http404("Not found")
    return JsonResponse(job_payload(job))
