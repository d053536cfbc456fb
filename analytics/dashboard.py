"""The dashboard page (an admin view: see admin.py) and its CSV exports."""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.translation import gettext as _

from conversations.models import Conversation

from .selectors import BREAKDOWNS, Dashboard, dashboard_read

DEFAULT_DAYS = 30
TABLES = ("daily", *BREAKDOWNS, "latency", "top_users", "topics", "errors")


@dataclass
class DateRange:
    start: date
    end: date
    notes: list[str] = field(default_factory=list)


def _today() -> date:
    return timezone.localdate(timezone.now(), timezone.get_default_timezone())


def parse_range(params: Any) -> DateRange:
    """The range asked for, made sensible, with a note for each thing that was changed."""
    today = _today()
    notes: list[str] = []
    raw_start, raw_end = (params.get("start") or "").strip(), (params.get("end") or "").strip()
    try:
        end = date.fromisoformat(raw_end) if raw_end else today
        start = date.fromisoformat(raw_start) if raw_start else end - timedelta(DEFAULT_DAYS - 1)
    except ValueError:
        notes.append(_("Dates must be written as YYYY-MM-DD; showing the last %(days)d days.")
                     % {"days": DEFAULT_DAYS})
        end, start = today, today - timedelta(DEFAULT_DAYS - 1)
    if start > end:
        notes.append(_("The start date was after the end date: they were swapped."))
        start, end = end, start
    longest = settings.CHATLAB_DASHBOARD_MAX_DAYS
    if (end - start).days + 1 > longest:
        start = end - timedelta(days=longest - 1)
        notes.append(_("A range is at most %(days)d days: showing the %(days)d days up to "
                       "%(end)s.") % {"days": longest, "end": end.isoformat()})
    return DateRange(start, end, notes)


def _csv_rows(table: str, board: Dashboard) -> tuple[list[str], list[list[Any]]]:
    if table == "daily":
        names = list(board.series)
        return ["day", *names], [[day, *(board.series[n][i] for n in names)]
                                 for i, day in enumerate(board.days)]
    if table in BREAKDOWNS:
        columns = ["name", "replies", "images", "failed", "error_rate", "tokens", "cost"]
        return [table, *columns[1:]], [[e[c] for c in columns] for e in board.breakdowns[table]]
    if table == "latency":
        columns = ["kind", "metric", "count", "p50", "p90", "p95", "p99"]
        return columns, [[e[c] for c in columns] for e in board.latency]
    if table == "top_users":
        columns = ["user__email", "last_role", "n_replies", "n_images", "n_failed", "tokens",
                   "spent", "n_logins"]
        header = ["email", "role", "replies", "images", "failed", "tokens", "cost", "logins"]
        return header, [[e[c] for c in columns] for e in board.top_users]
    if table == "topics":
        header = ["topic", "keywords", "language", "conversations", "previous", "named_by"]
        return header, [[t.label, t.keywords, t.language, t.conversations, t.previous,
                         t.named_by] for t in board.topics]
    return (["message", "logger", "exception", "count", "last_seen"],
            [[e.message, e.logger, e.exception, e.count, e.last_seen] for e in board.errors])


def _cell(value: Any) -> Any:
    # A spreadsheet runs a cell that starts like a formula: make it text.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return "" if value is None else value


def export_csv(table: str, board: Dashboard) -> HttpResponse:
    header, rows = _csv_rows(table, board)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = (
        f'attachment; filename="chatlab-{table}-{board.start}-{board.end}.csv"')
    writer = csv.writer(response)
    writer.writerow(header)
    writer.writerows([[_cell(v) for v in row] for row in rows])
    return response


def _chart_data(board: Dashboard) -> dict[str, Any]:
    return {
        "days": board.days,
        "series": {name: [float(v) if name == "cost" else v for v in values]
                   for name, values in board.series.items()},
        "breakdowns": {name: [{"name": e["name"], "requests": e["replies"] + e["images"]}
                              for e in entries[:10]]
                       for name, entries in board.breakdowns.items()},
        "labels": {
            "replies": _("Replies"), "images": _("Image jobs"), "active_users": _("Active users"),
            "tokens": _("Tokens"), "cost": _("Estimated cost"), "errors": _("Errors"),
            "failed": _("Failed requests"), "logins": _("Logins"), "requests": _("Requests"),
        },
    }


def _roll_up_now(request: HttpRequest) -> HttpResponse:
    """Queues the rollup of today and yesterday (in the embedded mode, where no beat runs, it
    runs at once)."""
    from .tasks import rollup_usage

    rollup_usage.delay(2)
    if settings.CELERY_TASK_ALWAYS_EAGER:
        messages.success(request, _("Today and yesterday were rolled up."))
    else:
        messages.success(request, _("The rollup of today and yesterday was queued."))
    return HttpResponseRedirect(request.get_full_path())


def dashboard_view(request: HttpRequest, context: dict[str, Any]) -> HttpResponse:
    if request.method == "POST" and request.POST.get("action") == "rollup":
        return _roll_up_now(request)
    chosen = parse_range(request.GET)
    board = dashboard_read(start=chosen.start, end=chosen.end)
    examples = request.user.has_perm("analytics.view_topic_examples")
    table = request.GET.get("export")
    if table:
        if table not in TABLES:
            return HttpResponse(_("There is no table called %(name)s.") % {"name": table[:40]},
                                status=400, content_type="text/plain; charset=utf-8")
        return export_csv(table, board)
    titles: dict[str, str] = {}
    if examples:
        wanted = [i for t in board.topics for i in t.examples]
        titles = {str(pk): title or str(_("Untitled")) for pk, title in
                  Conversation.objects.filter(pk__in=wanted).values_list("pk", "title")}
    topic_rows = [{"topic": t, "examples": [(i, titles[i]) for i in t.examples if i in titles]}
                  for t in board.topics]
    labels = {"bot": _("Bot"), "model": _("Model"), "channel": _("Channel"), "role": _("Role"),
              "language": _("Language")}
    sections = [(name, labels[name], board.breakdowns[name]) for name in BREAKDOWNS]
    context.update(
        title=_("Usage dashboard"), board=board, range=chosen, notes=chosen.notes,
        sections=sections,
        chart_data=_chart_data(board), topic_rows=topic_rows, show_examples=examples,
        tables=TABLES, breakdown_names=BREAKDOWNS, today=_today(),
    )
    return TemplateResponse(request, "analytics/dashboard.html", context)
