from django.contrib import admin
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.templatetags.static import static
from django.urls import include, path
from django.views.defaults import page_not_found
from django.views.i18n import JavaScriptCatalog
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from accounts.language_views import set_language
from conversations.api import openai_endpoint
from imaging import views as imaging_views

from .health import healthz

def favicon(request: HttpRequest) -> HttpResponse:
    """Browsers ask for /favicon.ico on pages that name no icon (the admin, a JSON answer)."""
    return HttpResponseRedirect(static("site/favicon.svg"))


urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("favicon.ico", favicon, name="favicon"),
    path("i18n/setlang/", set_language, name="set_language"),
    # The scripts' strings (gettext() in static/chat), in the page's language.
    path("jsi18n/", JavaScriptCatalog.as_view(domain="djangojs"), name="javascript-catalog"),
    path("admin/", admin.site.urls),
    path("api/v1/", include("conversations.api.urls")),
    path("api/v1/", include("imaging.api.urls")),
    # OpenAI-compatible: the SDKs call these paths without a trailing slash.
    path("v1/chat/completions", openai_endpoint.chat_completions, name="openai-chat-completions"),
    path("v1/models", openai_endpoint.models, name="openai-models"),
    path("v1/models/<str:model>", openai_endpoint.models, name="openai-model"),
    path("api/schema/", SpectacularAPIView.as_view(permission_classes=[]), name="api-schema"),
    # Swagger UI from drf-spectacular-sidecar's files; the split view serves its start-up script
    # as a file (?script) since the Content-Security-Policy allows no inline script.
    path("api/docs/", SpectacularSwaggerSplitView.as_view(
        url_name="api-schema", permission_classes=[], template_name="api/swagger_ui.html"),
         name="api-docs"),
    path("accounts/", include("accounts.urls")),
    path("accounts/", include("allauth.urls")),
    path("images/", include("imaging.urls")),
    path("integrations/", include("integrations.urls")),
    # MEDIA_URL: never served as plain files; each path answers its owner only.
    path("media/<path:name>", imaging_views.media_file, name="media"),
    path("", include("conversations.urls")),
]


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """Programs get a 404 in their API's own JSON shape (a malformed id, an unknown path);
    people get the page."""
    if request.path.startswith("/api/"):
        return JsonResponse({"error": {"code": "not_found", "message": "Not found."}}, status=404)
    if request.path.startswith("/v1/"):
        return openai_endpoint.not_found(request)
    return page_not_found(request, exception)


handler404 = not_found
