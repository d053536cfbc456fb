"""The daily rollup against the raw rows it sums: replies from every channel, image jobs,
logins and errors, with roles, tokens, estimated cost and latency."""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.db.models import Sum

from accounts.models import Role, RolePolicy
from analytics import recorder
from analytics.models import (DailyLatency, DailyUsage, DailyUserUsage, Kind, ModelPrice,
                              Outcome, UsageEvent)
from analytics.selectors import percentile
from analytics.services.rollups import bucket_of, day_bounds, usage_rollup
from conversations.models import Channel, Message
from imaging.models import ImageJob
from tests.factories import BotFactory, ConversationFactory, MessageFactory, UserFactory

pytestmark = pytest.mark.django_db
DAY = date(2026, 3, 14)


def at(day: date, hour: int) -> datetime:
    return day_bounds(day)[0] + timedelta(hours=hour)


def reply(conversation, *, when, status="complete", model="gpt-4o-mini", prompt=100,
          completion=50, ttft=400, total=2000, language="en"):
    asked = MessageFactory(conversation=conversation, role=Message.Role.USER, language=language)
    answer = MessageFactory(conversation=conversation, role=Message.Role.ASSISTANT, status=status,
                            reply_to=asked, model=model, prompt_tokens=prompt,
                            completion_tokens=completion, ttft_ms=ttft, total_ms=total)
    Message.objects.filter(pk__in=[asked.pk, answer.pk]).update(created_at=when)
    return answer


@pytest.fixture
def people(db):
    admin = UserFactory(is_superuser=True, is_staff=True)
    guest = UserFactory(is_guest=True)
    member = UserFactory()
    promoted = UserFactory()
    promoted.groups.add(RolePolicy.objects.get(role=Role.ADMIN).group)
    return {"admin": admin, "guest": guest, "member": member, "promoted": promoted}


def test_a_day_rolls_up_to_the_raw_counts(people):
    ModelPrice.objects.create(model="gpt-4o*", input_per_million=Decimal("2.5"),
                              output_per_million=Decimal("10"))
    ModelPrice.objects.create(model="gpt-4o-mini", input_per_million=Decimal("0.15"),
                              output_per_million=Decimal("0.6"))
    ModelPrice.objects.create(model="dall-e-3", per_image=Decimal("0.04"))
    bot = BotFactory(name="Helper", model="gpt-4o")
    rng = random.Random(7)
    channels = [c for c in Channel.values if c != Channel.IMPORT]
    for channel in channels:
        for person in people.values():
            conversation = ConversationFactory(owner=person, bot=bot, channel=channel,
                                               language=rng.choice(["en", "ru"]))
            for _ in range(rng.randint(1, 4)):
                reply(conversation, when=at(DAY, rng.randint(0, 23)),
                      status=rng.choice(["complete", "complete", "failed", "cancelled"]),
                      model=rng.choice(["gpt-4o-mini", "gpt-4o-2024-08-06", ""]),
                      prompt=rng.randint(10, 900), completion=rng.randint(1, 500),
                      ttft=rng.randint(50, 4000), total=rng.randint(500, 40000),
                      language=conversation.language)
    # Not this day, not a reply, not finished, or imported: none of these count.
    other = ConversationFactory(owner=people["member"], bot=bot)
    reply(other, when=at(DAY + timedelta(days=1), 1))
    reply(other, when=at(DAY, 5), status="streaming")
    reply(ConversationFactory(owner=people["member"], bot=bot, channel=Channel.IMPORT),
          when=at(DAY, 6))
    job = ImageJob.objects.create(owner=people["member"], model="dall-e-3", prompt="a cat",
                                  size="1024x1024", status="done", channel="telegram",
                                  started_at=at(DAY, 3),
                                  finished_at=at(DAY, 3) + timedelta(seconds=9))
    ImageJob.objects.filter(pk=job.pk).update(created_at=at(DAY, 3))
    for index in range(2):
        job.images.create(owner=people["member"], index=index, file=f"f{index}.png",
                          thumbnail=f"t{index}.png", content_type="image/png", width=1, height=1,
                          bytes=1)
    failed_job = ImageJob.objects.create(owner=people["guest"], model="dall-e-3", prompt="x",
                                         size="1024x1024", status="failed", channel="web")
    ImageJob.objects.filter(pk=failed_job.pk).update(created_at=at(DAY, 4))
    recorder.record_event(kind=Kind.LOGIN, at=at(DAY, 8), user_id=people["member"].pk,
                          role=Role.USER, channel="web", request_id="r1", detail="password")
    recorder.record_event(kind=Kind.ERROR, at=at(DAY, 9), request_id="r2", detail="abc")
    recorder.flush()

    usage_rollup(day=DAY)

    counted = Message.objects.filter(role="assistant", created_at__gte=day_bounds(DAY)[0],
                                     created_at__lt=day_bounds(DAY)[1],
                                     status__in=["complete", "failed", "cancelled"]) \
        .exclude(conversation__channel=Channel.IMPORT)
    replies = DailyUsage.objects.filter(day=DAY, kind=Kind.REPLY)
    assert replies.aggregate(n=Sum("events"))["n"] == counted.count()
    for channel in channels:
        assert (replies.filter(channel=channel).aggregate(n=Sum("events"))["n"]
                == counted.filter(conversation__channel=channel).count()), channel
    assert replies.filter(channel=Channel.IMPORT).count() == 0
    for status, outcome in (("complete", Outcome.OK), ("failed", Outcome.FAILED),
                            ("cancelled", Outcome.CANCELLED)):
        assert (replies.filter(outcome=outcome).aggregate(n=Sum("events"))["n"]
                == counted.filter(status=status).count())
    assert (replies.aggregate(n=Sum("prompt_tokens"))["n"]
            == counted.aggregate(n=Sum("prompt_tokens"))["n"])
    assert (replies.aggregate(n=Sum("completion_tokens"))["n"]
            == counted.aggregate(n=Sum("completion_tokens"))["n"])
    # Roles as accounts.roles decides them: superuser and Admin group are admins.
    for role, person in (("admin", "admin"), ("guest", "guest"), ("user", "member"),
                         ("admin", "promoted")):
        mine = counted.filter(conversation__owner=people[person])
        assert (replies.filter(role=role).aggregate(n=Sum("events"))["n"] or 0) >= mine.count()
        row = DailyUserUsage.objects.get(day=DAY, user=people[person])
        assert row.replies == mine.count() and row.role == role
        assert row.failed == mine.filter(status="failed").count()
    # An empty model falls back to the bot's; prices: exact name first, then the longest prefix.
    expected = Decimal(0)
    for m in counted:
        model = m.model or "gpt-4o"
        per_in, per_out = ((Decimal("0.15"), Decimal("0.6")) if model == "gpt-4o-mini"
                           else (Decimal("2.5"), Decimal("10")))
        expected += (m.prompt_tokens * per_in + m.completion_tokens * per_out) / 1_000_000
    # Each stored group is exact to 10 places.
    assert abs(replies.aggregate(c=Sum("cost"))["c"] - expected) < Decimal("0.00000001")
    assert set(replies.values_list("model", flat=True)) == {"gpt-4o-mini", "gpt-4o-2024-08-06",
                                                             "gpt-4o"}
    assert set(replies.values_list("bot", flat=True)) == {"Helper"}
    assert set(replies.values_list("language", flat=True)) <= {"en", "ru"}
    # Latency: every complete reply timed once, in the right bucket.
    latency = DailyLatency.objects.get(day=DAY, kind=Kind.REPLY)
    complete = counted.filter(status="complete")
    assert sum(latency.ttft) == complete.count() == sum(latency.total)
    for m in complete:
        assert latency.ttft[bucket_of(m.ttft_ms)] > 0
    images = DailyUsage.objects.get(day=DAY, kind=Kind.IMAGE, outcome=Outcome.OK)
    assert (images.events, images.images, images.channel, images.cost) == (
        1, 2, "telegram", Decimal("0.080000"))
    assert DailyUsage.objects.get(day=DAY, kind=Kind.IMAGE, outcome=Outcome.FAILED).role == "guest"
    assert DailyLatency.objects.get(day=DAY, kind=Kind.IMAGE).total[bucket_of(9000)] == 1
    assert DailyUsage.objects.get(day=DAY, kind=Kind.LOGIN).events == 1
    assert DailyUsage.objects.get(day=DAY, kind=Kind.ERROR).events == 1
    assert DailyUserUsage.objects.get(day=DAY, user=people["member"]).logins == 1


def test_rolling_up_again_replaces_the_day(people):
    conversation = ConversationFactory(owner=people["member"])
    reply(conversation, when=at(DAY, 10))
    usage_rollup(day=DAY)
    reply(conversation, when=at(DAY, 11))
    usage_rollup(day=DAY)
    assert DailyUsage.objects.filter(day=DAY, kind=Kind.REPLY).aggregate(n=Sum("events"))["n"] == 2
    assert DailyUserUsage.objects.get(day=DAY, user=people["member"]).replies == 2
    assert DailyLatency.objects.filter(day=DAY).count() == 1


def test_a_deleted_person_leaves_no_broken_rows(people):
    conversation = ConversationFactory(owner=people["member"])
    reply(conversation, when=at(DAY, 10))
    recorder.record_event(kind=Kind.LOGIN, at=at(DAY, 1), user_id=people["guest"].pk, role="guest",
                          channel="web", request_id="x", detail="password")
    people["guest"].delete()
    assert recorder.flush() == 1
    assert UsageEvent.objects.get().user_id is None
    usage_rollup(day=DAY)
    assert DailyUsage.objects.filter(day=DAY, kind=Kind.LOGIN).get().events == 1


def test_percentiles_come_from_the_summed_buckets():
    histogram = [0] * 18
    for ms in [90] * 50 + [450] * 40 + [2500] * 9 + [200_000]:
        histogram[bucket_of(ms)] += 1
    assert percentile(histogram, 0.5) == 100
    assert percentile(histogram, 0.9) == 500
    assert percentile(histogram, 0.99) == 3000
    assert percentile(histogram, 1.0) == 120_000
    assert percentile([0] * 18, 0.5) is None


def test_role_groups_are_read_in_bulk(people, django_assert_max_num_queries):
    from analytics.services.rollups import roles_of

    extra = [UserFactory() for _ in range(30)]
    Group.objects.get(policy__role=Role.ADMIN).user_set.add(*extra[:3])
    with django_assert_max_num_queries(2):
        roles = roles_of([u.pk for u in extra] + [p.pk for p in people.values()])
    assert [roles[u.pk] for u in extra[:4]] == ["admin", "admin", "admin", "user"]
    assert roles[people["guest"].pk] == "guest"
