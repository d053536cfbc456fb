"""REST endpoints for images: thin views over imaging.services and imaging.selectors."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.roles import policy_for
from conversations.api.views import ERRORS, _valid
from conversations.services.errors import ChatError

from .. import selectors
from ..files_view import serve_image
from ..services import image_delete, image_job_create, image_payload, job_payload, model_payload
from . import serializers as s


class Pages(PageNumberPagination):
    """Like the rest of the API, but `?page=` must be a page number: anything else is a 404."""

    def paginate_queryset(self, queryset: Any, request: Request, view: Any = None) -> Any:
        page = request.query_params.get(self.page_query_param)
        if page is not None and not page.isdigit():
            raise ChatError("not_found", "Invalid page.", status=404)
        return super().paginate_queryset(queryset, request, view)


def _not_found() -> ChatError:
    return ChatError("not_found", "Not found.", status=404)


class ImageModelList(APIView):
    @extend_schema(responses={200: s.ImageModelSerializer(many=True), **ERRORS},
                   summary="The image models I may use, their sizes, qualities and counts")
    def get(self, request: Request) -> Response:
        policy = policy_for(request.user)
        if policy is not None and policy.images_per_day == 0:
            return Response([])
        return Response([model_payload(m) for m in selectors.image_models_for(policy)])


class ImageJobList(generics.ListAPIView):
    serializer_class = s.ImageJobOutSerializer
    pagination_class = Pages

    def get_queryset(self) -> Any:
        jobs = selectors.jobs_for(self.request.user).prefetch_related("images")
        return jobs.order_by("-created_at")

    @extend_schema(responses={200: s.ImageJobOutSerializer(many=True), **ERRORS},
                   summary="My image jobs, newest first")
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(request=s.ImageJobCreateSerializer,
                   responses={202: s.ImageJobSerializer, **ERRORS},
                   summary="Ask for images; the job runs in the background (follow its url)")
    def post(self, request: Request) -> Response:
        data = _valid(s.ImageJobCreateSerializer, request)
        job = image_job_create(
            user=request.user, prompt=data["prompt"], model=data.get("model"),
            size=data.get("size"), quality=data.get("quality"), count=data.get("count", 1),
            conversation_id=data.get("conversation"), channel="api",
        )
        job.refresh_from_db()
        return Response(job_payload(job), status=status.HTTP_202_ACCEPTED)


class ImageJobDetail(APIView):
    @extend_schema(responses={200: s.ImageJobSerializer, **ERRORS},
                   summary="A job's state, progress, reason for failing, and its images")
    def get(self, request: Request, job_id: Any) -> Response:
        job = selectors.job_get(request.user, job_id)
        if job is None:
            raise _not_found()
        return Response(job_payload(job))


class ImageList(generics.ListAPIView):
    serializer_class = s.ImageOutSerializer
    pagination_class = Pages

    def get_queryset(self) -> Any:
        return selectors.images_for(self.request.user)

    @extend_schema(responses={200: s.ImageOutSerializer(many=True), **ERRORS},
                   summary="My images, newest first")
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class ImageDetail(APIView):
    @extend_schema(responses={200: s.ImageSerializer, **ERRORS}, summary="One of my images")
    def get(self, request: Request, image_id: Any) -> Response:
        image = selectors.image_get(request.user, image_id)
        if image is None:
            raise _not_found()
        return Response(image_payload(image))

    @extend_schema(responses={204: None, **ERRORS}, summary="Delete an image and its files")
    def delete(self, request: Request, image_id: Any) -> Response:
        image_delete(user=request.user, image_id=image_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ImageFile(APIView):
    def perform_content_negotiation(self, request: Request, force: bool = False) -> Any:
        # The answer is a picture whatever the client accepts; errors stay JSON.
        return super().perform_content_negotiation(request, force=True)

    @extend_schema(
        parameters=[OpenApiParameter("download", int, description="1: as an attachment"),
                    OpenApiParameter("thumbnail", int, description="1: the thumbnail (WebP)")],
        responses={(200, "image/*"): bytes, 302: None, **ERRORS},
        summary="The picture itself (or a redirect to a short-lived signed URL)",
    )
    def get(self, request: Request, image_id: Any) -> Any:
        image = selectors.image_get(request.user, image_id)
        if image is None:
            raise _not_found()
        return serve_image(image, thumbnail=request.query_params.get("thumbnail") == "1",
                           download=request.query_params.get("download") == "1")
