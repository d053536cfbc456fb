"""Backups in the admin: the stored backups (size, age, drill result), "back up now" (queued),
downloads for superusers only, the run and drill history, the retention policy. Restoring is
deliberately not here: it runs from the command line (manage.py restore)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from .backups.errors import BackupError
from .backups.naming import MANIFEST_SUFFIX, is_backup_name
from .backups.storage import backup_storage, manifest_read
from .models import BackupRun, DrillRun, RetentionPolicy
from .selectors import backup_catalog


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(BackupRun)
class BackupRunAdmin(ReadOnlyAdmin):
    change_list_template = "admin/ops/backuprun/change_list.html"
    list_display = ["started_at", "status", "name", "size", "trigger", "attempt", "pruned",
                    "short_error"]
    list_filter = ["status", "trigger"]
    search_fields = ["name", "error"]

    @admin.display(description=gettext_lazy("error"))
    def short_error(self, run: BackupRun) -> str:
        return run.error[:160]

    def get_urls(self) -> list[Any]:
        return [
            path("run/", self.admin_site.admin_view(self.run_now), name="ops_backup_run"),
            # Not behind admin_view: anyone but a superuser gets 403 (staff) or 404.
            path("download/<str:name>/<str:part>/", self.download, name="ops_backup_download"),
        ] + super().get_urls()

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None) -> Any:
        extra: dict[str, Any] = {"can_run": request.user.has_perm("ops.run_backup"),
                                 "can_download": request.user.is_superuser,
                                 "policy": RetentionPolicy.current()}
        try:
            extra["catalog"] = backup_catalog()
        except BackupError as exc:
            extra["catalog"], extra["catalog_error"] = [], str(exc)
        extra["last_drill"] = DrillRun.objects.first()
        return super().changelist_view(request, {**(extra_context or {}), **extra})

    def run_now(self, request: HttpRequest) -> HttpResponse:
        return _run_now(request, self)

    def download(self, request: HttpRequest, name: str, part: str) -> HttpResponse:
        user = request.user
        if not (user.is_active and user.is_superuser):
            if self.admin_site.has_permission(request):
                raise PermissionDenied
            raise Http404
        if not is_backup_name(name):
            raise Http404
        try:
            manifest = manifest_read(name)
        except BackupError:
            manifest = None
        allowed = {MANIFEST_SUFFIX.lstrip(".")} | set(manifest["files"] if manifest else ())
        if part not in allowed:
            raise Http404
        stored = f"{name}.{part}"
        storage = backup_storage()
        if not storage.exists(stored):
            raise Http404
        return FileResponse(storage.open(stored, "rb"), as_attachment=True, filename=stored,
                            content_type="application/octet-stream")


@require_POST
def _run_now(request: HttpRequest, model_admin: BackupRunAdmin) -> HttpResponse:
    if not request.user.has_perm("ops.run_backup"):
        raise PermissionDenied
    from .tasks import backup_scheduled

    try:
        backup_scheduled.apply_async(
            kwargs={"trigger": BackupRun.Trigger.ADMIN, "requested_by_id": request.user.pk},
            queue="maintenance")
    except Exception as exc:  # the embedded mode runs it here; the run row records the failure
        messages.error(request, _("The backup failed: %(error)s") % {"error": exc})
    else:
        messages.success(request, _("A backup has been queued; it appears below when it is "
                                    "done."))
    return HttpResponseRedirect(reverse("admin:ops_backuprun_changelist"))


@admin.register(DrillRun)
class DrillRunAdmin(ReadOnlyAdmin):
    list_display = ["started_at", "status", "backup_name", "tables_checked", "rows_checked",
                    "files_checked", "short_detail"]
    list_filter = ["status"]

    @admin.display(description=gettext_lazy("detail"))
    def short_detail(self, drill: DrillRun) -> str:
        return drill.detail[:200]


@admin.register(RetentionPolicy)
class RetentionPolicyAdmin(admin.ModelAdmin):
    list_display = ["__str__", "keep_daily", "keep_weekly", "keep_monthly", "updated_at"]
    list_editable = ["keep_daily", "keep_weekly", "keep_monthly"]
    list_display_links = ["__str__"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return not RetentionPolicy.objects.exists()

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
