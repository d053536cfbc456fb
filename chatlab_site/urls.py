from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from conversations.api import openai_endpoint

from .health import healthz

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("api/v1/", include("conversations.api.urls")),
    # OpenAI-compatible: the SDKs call these paths without a trailing slash.
    path("v1/chat/completions", openai_endpoint.chat_completions, name="openai-chat-completions"),
    path("v1/models", openai_endpoint.models, name="openai-models"),
    path("v1/models/<str:model>", openai_endpoint.models, name="openai-model"),
    path("api/schema/", SpectacularAPIView.as_view(permission_classes=[]), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema", permission_classes=[]),
         name="api-docs"),
    path("accounts/", include("accounts.urls")),
    path("accounts/", include("allauth.urls")),
    path("", include("conversations.urls")),
]
