"""The usage dashboard in the admin: who may see it, date ranges, a year of data in a fixed
number of queries, CSV exports, and topic examples only for those allowed."""

from __future__ import annotations

import csv
import io
import random
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import Role, RolePolicy
from analytics.models import (LATENCY_BOUNDS_MS, DailyLatency, DailyUsage, DailyUserUsage, Kind,
                              Outcome, Topic)
from tests.factories import ConversationFactory, UserFactory

pytestmark = pytest.mark.django_db
URL = reverse("admin:analytics_dailyusage_changelist")
TODAY = timezone.localdate()


def grant(user, *codenames):
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="analytics",
                                                         codename__in=codenames))


@pytest.fixture
def superuser(client):
    person = UserFactory(is_superuser=True, is_staff=True)
    client.force_login(person)
    return person


def make_year(days: int = 365, people: int = 25) -> dict:
    rng = random.Random(1)
    users = [UserFactory() for _ in range(people)]
    usage, per_person, latency = [], [], []
    totals = {"replies": 0, "tokens": 0, "failed": 0}
    for back in range(days):
        day = TODAY - timedelta(days=back)
        for channel in ("web", "api", "telegram", "slack"):
            for bot, model in (("Helper", "gpt-4o-mini"), ("Coder", "gpt-4o")):
                for outcome in (Outcome.OK, Outcome.FAILED):
                    n = rng.randint(1, 30) if outcome == Outcome.OK else rng.randint(0, 3)
                    tokens = n * 120
                    usage.append(DailyUsage(day=day, kind=Kind.REPLY, channel=channel, bot=bot,
                                            model=model, role=rng.choice(["user", "admin"]),
                                            language=rng.choice(["en", "ru"]), outcome=outcome,
                                            events=n, prompt_tokens=tokens, completion_tokens=0,
                                            cost=Decimal("0.01") * n))
                    totals["replies"] += n
                    totals["tokens"] += tokens
                    totals["failed"] += n if outcome == Outcome.FAILED else 0
        for person in rng.sample(users, 5):
            per_person.append(DailyUserUsage(day=day, user=person, role="user",
                                             replies=rng.randint(1, 9)))
        histogram = [0] * (len(LATENCY_BOUNDS_MS) + 1)
        histogram[3] = 10
        latency.append(DailyLatency(day=day, kind=Kind.REPLY, ttft=histogram, total=histogram))
    DailyUsage.objects.bulk_create(usage, batch_size=1000)
    DailyUserUsage.objects.bulk_create(per_person, batch_size=1000)
    DailyLatency.objects.bulk_create(latency, batch_size=1000)
    return totals


def test_it_refuses_those_without_the_right(client):
    assert client.get(URL).status_code == 302  # to the admin's login
    member = UserFactory()
    client.force_login(member)
    assert client.get(URL).status_code == 302  # not an admin at all
    staff = UserFactory(is_staff=True)
    client.force_login(staff)
    assert client.get(URL).status_code == 403
    assert client.get(URL + "?export=daily").status_code == 403
    grant(staff, "view_dashboard")
    assert client.get(URL).status_code == 200
    promoted = UserFactory()
    promoted.groups.add(RolePolicy.objects.get(role=Role.ADMIN).group)
    client.force_login(promoted)
    assert client.get(URL).status_code == 200


def test_the_admin_index_links_to_it_only_for_those_allowed(client, superuser):
    assert URL in client.get(reverse("admin:index")).content.decode()
    staff = UserFactory(is_staff=True)
    grant(staff, "view_errorevent")
    client.force_login(staff)
    assert URL not in client.get(reverse("admin:index")).content.decode()


@pytest.mark.parametrize(("query", "note"), [
    ("?start=2026-05-10&end=2026-05-01", "The start date was after the end date"),
    ("?start=yesterday&end=2026-13-01", "Dates must be written as YYYY-MM-DD"),
    ("?start=1900-01-01&end=2026-01-01", "A range is at most 731 days"),
])
def test_bad_ranges_get_a_clear_note(client, superuser, query, note):
    response = client.get(URL + query)
    assert response.status_code == 200
    assert note in response.content.decode()
    chosen = response.context["range"]
    assert chosen.start <= chosen.end and (chosen.end - chosen.start).days < 731


def test_an_inverted_range_is_swapped_and_an_empty_one_says_so(client, superuser):
    response = client.get(URL + "?start=2026-05-10&end=2026-05-01")
    assert (response.context["range"].start, response.context["range"].end) == (
        date(2026, 5, 1), date(2026, 5, 10))
    assert "No usage was recorded between 2026-05-01 and 2026-05-10" in response.content.decode()


def test_a_year_renders_in_a_fixed_number_of_queries(client, superuser):
    totals = make_year()
    start = (TODAY - timedelta(days=364)).isoformat()
    with CaptureQueriesContext(connection) as year:
        response = client.get(URL + f"?start={start}&end={TODAY.isoformat()}")
    assert response.status_code == 200
    # Nine reads of the rollup tables (the rest are the session, the user and the admin's own).
    assert len([q for q in year.captured_queries if '"analytics_' in q["sql"]]) == 9
    assert len(year.captured_queries) <= 12
    board = response.context["board"]
    assert board.totals["replies"] == totals["replies"] == sum(board.series["replies"])
    assert board.totals["tokens"] == totals["tokens"]
    assert board.totals["error_rate"] == round(100 * totals["failed"] / totals["replies"], 1)
    assert board.totals["active_users"] == 25
    assert {e["name"] for e in board.breakdowns["channel"]} == {"web", "api", "telegram", "slack"}
    assert sum(e["replies"] for e in board.breakdowns["bot"]) == totals["replies"]
    assert board.latency[0]["p50"] == LATENCY_BOUNDS_MS[3] and board.latency[0]["count"] == 3650
    assert len(board.top_users) == 20
    # A single week costs the same number of queries.
    with CaptureQueriesContext(connection) as week:
        client.get(URL + f"?start={(TODAY - timedelta(days=6)).isoformat()}")
    assert len(week.captured_queries) == len(year.captured_queries)


def test_every_table_exports_as_csv(client, superuser):
    make_year(days=5, people=6)
    DailyUsage.objects.create(day=TODAY, kind=Kind.REPLY, bot="=HYPERLINK(\"x\")", events=1)
    for table in ("daily", "bot", "model", "channel", "role", "language", "latency",
                  "top_users", "topics", "errors"):
        response = client.get(URL + f"?start={(TODAY - timedelta(days=4)).isoformat()}"
                              f"&export={table}")
        assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
        rows = list(csv.reader(io.StringIO(response.content.decode())))
        assert rows[0], table
        if table == "daily":
            assert len(rows) == 6 and rows[0][:3] == ["day", "replies", "images"]
        if table == "bot":
            assert ["'=HYPERLINK(\"x\")"] == [r[0] for r in rows if "HYPERLINK" in r[0]]
    assert client.get(URL + "?export=passwords").status_code == 400


def test_topic_examples_need_their_own_permission(client):
    conversation = ConversationFactory(title="My private trip to Lisbon")
    Topic.objects.create(period_start=TODAY - timedelta(days=7), period_end=TODAY,
                         label="Travel · Lisbon", keywords="travel, lisbon", conversations=3,
                         previous=1, examples=[str(conversation.pk)])
    staff = UserFactory(is_staff=True)
    grant(staff, "view_dashboard")
    client.force_login(staff)
    page = client.get(URL).content.decode()
    assert "Travel · Lisbon" in page and "▲ +2" in page
    assert "My private trip" not in page
    grant(staff, "view_topic_examples")
    page = client.get(URL).content.decode()
    assert "My private trip to Lisbon" in page


def test_roll_up_now_counts_todays_replies(client, superuser):
    from analytics.models import RollupRun
    from tests.factories import MessageFactory

    conversation = ConversationFactory(owner=superuser)
    MessageFactory(conversation=conversation, role="assistant", status="complete",
                   prompt_tokens=3, completion_tokens=4)
    response = client.post(URL, {"action": "rollup"})
    assert response.status_code == 302
    assert set(RollupRun.objects.values_list("day", flat=True)) == {TODAY, TODAY - timedelta(1)}
    page = client.get(URL)
    assert page.context["board"].totals["replies"] == 1
    assert "Today and yesterday were rolled up." in page.content.decode()
    staff = UserFactory(is_staff=True)
    client.force_login(staff)
    assert client.post(URL, {"action": "rollup"}).status_code == 403


def test_errors_are_browsable_in_the_admin(client, superuser):
    from analytics.models import ErrorEvent

    error = ErrorEvent.objects.create(
        fingerprint="f" * 64, logger="chatlab_site.ops.backups", level="ERROR",
        message="backup failed", exception="builtins.OSError", location="x.py:run",
        traceback="Traceback (most recent call last):\nOSError: disk full", count=3,
        first_seen=timezone.now(), last_seen=timezone.now(), last_request_id="abc123456")
    listing = client.get(reverse("admin:analytics_errorevent_changelist"))
    assert listing.status_code == 200 and "backup failed" in listing.content.decode()
    detail = client.get(reverse("admin:analytics_errorevent_change", args=[error.pk]))
    assert detail.status_code == 200 and "OSError: disk full" in detail.content.decode()
    assert client.get(reverse("admin:analytics_modelprice_add")).status_code == 200


def test_the_rollup_and_topics_are_scheduled_on_maintenance():
    from django_celery_beat.models import PeriodicTask

    tasks = {t.task: t for t in PeriodicTask.objects.filter(task__startswith="analytics.")}
    assert set(tasks) == {"analytics.tasks.rollup_usage", "analytics.tasks.find_topics"}
    assert {t.queue for t in tasks.values()} == {"maintenance"}
    assert tasks["analytics.tasks.rollup_usage"].interval.every == 600


def test_the_rollup_command_fills_past_days(capsys):
    from django.core.management import call_command

    from analytics.models import RollupRun

    call_command("analytics_rollup", "--since", (TODAY - timedelta(days=4)).isoformat())
    assert RollupRun.objects.count() == 5
    with pytest.raises(Exception, match="YYYY-MM-DD"):
        call_command("analytics_rollup", "--since", "last week")
