from __future__ import annotations

import uuid
from typing import Any

from django.contrib import admin
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from .files_view import serve_image
from .models import GeneratedImage, ImageJob, ImageModel


@admin.register(ImageModel)
class ImageModelAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "provider", "model", "max_count", "is_default", "is_active"]
    list_editable = ["is_default", "is_active"]
    prepopulated_fields = {"slug": ["name"]}
    filter_horizontal = ["roles", "bots"]


class ImageInline(admin.TabularInline):
    model = GeneratedImage
    extra = 0
    can_delete = True
    fields = ["preview", "width", "height", "bytes", "content_type"]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description=_("image"))
    def preview(self, image: GeneratedImage) -> str:
        url = reverse("admin:imaging_generatedimage_file", args=[image.pk])
        return format_html(
            '<a href="{}"><img src="{}?thumbnail=1" alt="" style="max-height:96px"></a>', url, url)


@admin.register(ImageJob)
class ImageJobAdmin(admin.ModelAdmin):
    list_display = ["created_at", "owner", "model", "size", "count", "status", "channel",
                    "error_code"]
    list_filter = ["status", "channel", "model"]
    search_fields = ["prompt", "owner__email"]
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in ImageJob._meta.fields]
    inlines = [ImageInline]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def get_urls(self) -> list[Any]:
        # Admins see anyone's pictures, through a view that checks they may view images.
        return [
            path("image/<uuid:image_id>/", self.admin_site.admin_view(self.image_file),
                 name="imaging_generatedimage_file"),
        ] + super().get_urls()

    def image_file(self, request: HttpRequest, image_id: uuid.UUID) -> HttpResponse:
        if not self.has_view_permission(request):
            raise Http404
        image = GeneratedImage.objects.filter(pk=image_id).first()
        if image is None:
            raise Http404
        return serve_image(image, thumbnail=request.GET.get("thumbnail") == "1")
