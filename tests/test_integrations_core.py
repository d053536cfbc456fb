"""The platform-neutral parts: the messenger sink, splitting, retries, Telegram's HTML, and the
profile page's link codes."""

from __future__ import annotations

import asyncio
import re

import pytest

from conversations.models import Message
from integrations.models import LinkCode, MessengerIdentity
from integrations.services.people import identity_resolve, link_code_redeem
from integrations.services.sink import MessengerSink
from integrations.telegram.render import markdown_to_telegram_html
from integrations.transports.base import Target, TransportError, split_text, with_retries


class RecordingTransport:
    def __init__(self, *, max_chars: int = 4096, edit_interval: float = 0.05,
                 fail_with: TransportError | None = None) -> None:
        self.max_chars = max_chars
        self.edit_interval = edit_interval
        self.calls: list[tuple[str, str, str]] = []
        self.fail_with = fail_with
        self.texts: dict[str, str] = {}
        self.times: list[float] = []

    async def send(self, target: Target, text: str) -> str:
        if self.fail_with is not None:
            self.calls.append(("send-failed", "", text))
            raise self.fail_with
        ref = str(len(self.texts) + 1)
        self.calls.append(("send", ref, text))
        self.times.append(asyncio.get_running_loop().time())
        self.texts[ref] = text
        return ref

    async def edit(self, target: Target, ref: str, text: str) -> None:
        self.calls.append(("edit", ref, text))
        self.times.append(asyncio.get_running_loop().time())
        self.texts[ref] = text

    async def send_image(self, target: Target, data: bytes, filename: str, caption: str) -> None:
        raise NotImplementedError

    def render(self, markdown: str) -> str:
        return markdown


async def _stream(sink: MessengerSink, tokens: list[str], gap: float, status: str = "complete",
                  error: str = "") -> None:
    for index, token in enumerate(tokens):
        await sink.deliver({"kind": "delta", "id": "m", "seq": index + 1, "text": token})
        await asyncio.sleep(gap)
    await sink.deliver({"kind": "done", "id": "m", "seq": len(tokens),
                        "message": {"status": status, "error": error}})
    await sink.finish()


async def test_the_sink_edits_at_the_interval_never_per_token():
    transport = RecordingTransport(edit_interval=0.1)
    sink = MessengerSink(transport, Target("1"), integration_id=0)
    tokens = [f"word{i} " for i in range(100)]
    started = asyncio.get_running_loop().time()
    await _stream(sink, tokens, gap=0.004)  # about 0.4 s of streaming (more on a busy machine)
    took = asyncio.get_running_loop().time() - started
    assert transport.calls[0][0] == "send"
    assert 2 <= len(transport.calls) <= took / 0.1 + 2 < 100  # not per token
    gaps = [b - a for a, b in zip(transport.times, transport.times[1:])]
    assert all(gap >= 0.095 for gap in gaps[:-1]), gaps  # the final edit may follow at once
    assert transport.texts == {"1": "".join(tokens)}  # the last edit is the whole reply


async def test_the_sink_splits_at_the_limit_into_more_messages():
    transport = RecordingTransport(max_chars=50)
    sink = MessengerSink(transport, Target("1"), integration_id=0)
    tokens = [f"token{i:03d} " for i in range(40)]  # 360 characters
    await _stream(sink, tokens, gap=0)
    assert len(transport.texts) >= 8
    assert all(len(text) <= 50 for text in transport.texts.values())
    assert "".join(transport.texts[str(i)] for i in range(1, len(transport.texts) + 1)) == \
        "".join(tokens)


async def test_a_failed_reply_shows_its_reason():
    transport = RecordingTransport()
    sink = MessengerSink(transport, Target("1"), integration_id=0)
    await _stream(sink, ["Half an ans"], gap=0, status=Message.Status.FAILED,
                  error="The model is unavailable.")
    assert transport.texts["1"] == "Half an ans\n\n⚠️ The model is unavailable."


@pytest.mark.django_db(transaction=True)
async def test_a_permanent_error_stops_the_edits_and_is_recorded(telegram_integration):
    transport = RecordingTransport(fail_with=TransportError("Telegram: revoked", permanent=True))
    sink = MessengerSink(transport, Target("1"), integration_id=telegram_integration.pk)
    await _stream(sink, ["a ", "b ", "c "], gap=0.06)
    assert [c[0] for c in transport.calls] == ["send-failed"]
    await telegram_integration.arefresh_from_db()
    assert telegram_integration.last_error == "Telegram: revoked"


@pytest.fixture
def telegram_integration(demo_bot):
    from integrations.models import Integration

    integration = Integration(platform="telegram", name="T", bot=demo_bot)
    integration.set_credentials(token="1:abcdef")
    integration.save()
    return integration


async def test_retries_stop_at_the_limit_and_honour_retry_after(settings):
    settings.CHATLAB_MESSENGER_RETRIES = 3
    attempts: list[float] = []
    loop = asyncio.get_running_loop()

    async def flaky() -> str:
        attempts.append(loop.time())
        if len(attempts) < 3:
            raise TransportError("slow down", retry_after=0.2)
        return "ok"

    assert await with_retries(flaky) == "ok"
    assert attempts[1] - attempts[0] >= 0.19 and attempts[2] - attempts[1] >= 0.19

    async def down() -> str:
        attempts.append(loop.time())
        raise TransportError("502")

    attempts.clear()
    with pytest.raises(TransportError):
        await with_retries(down)
    assert len(attempts) == 3

    async def revoked() -> str:
        attempts.append(loop.time())
        raise TransportError("401", permanent=True)

    attempts.clear()
    with pytest.raises(TransportError):
        await with_retries(revoked)
    assert len(attempts) == 1

    settings.CHATLAB_MESSENGER_MAX_RETRY_AFTER = 1
    attempts.clear()

    async def far() -> str:
        attempts.append(loop.time())
        raise TransportError("429", retry_after=3600)

    with pytest.raises(TransportError):
        await with_retries(far)
    assert len(attempts) == 1  # an hour is not waited out


def test_split_text_keeps_every_character_and_prefers_breaks():
    text = ("A paragraph of words. " * 30 + "\n\n") * 5 + "x" * 300
    pieces = split_text(text, 200)
    assert "".join(pieces) == text
    assert all(len(p) <= 200 for p in pieces)
    assert sum(p.endswith((" ", "\n")) for p in pieces) >= len(pieces) - 3
    assert split_text("short", 10) == ["short"]


def test_telegram_html_escapes_and_keeps_only_its_tags():
    html = markdown_to_telegram_html(
        "# Plan\n\n**Bold** _it_ ~~gone~~ `a<b>` & <script>alert(1)</script>\n\n"
        "```python\nif a < b: print('&')\n```\n\n- one\n- two\n\n[site](https://x.org/?a=1&b=2) "
        "[bad](javascript:alert(1))")
    assert "<b>Plan</b>" in html and "<b>Bold</b>" in html and "<i>it</i>" in html
    assert "<s>gone</s>" in html and "<code>a&lt;b&gt;</code>" in html
    assert "&lt;script&gt;" in html and "<script>" not in html
    assert '<pre><code class="language-python">if a &lt; b: print(\'&amp;\')</code></pre>' in html
    assert "• one\n• two" in html
    assert '<a href="https://x.org/?a=1&amp;b=2">site</a>' in html
    assert "javascript" not in re.findall(r'href="([^"]*)"', html).__str__()
    tags = set(re.findall(r"</?([a-z]+)", html))
    assert tags <= {"b", "i", "s", "code", "pre", "a", "blockquote"}


def test_unfinished_markdown_renders_as_far_as_it_goes():
    assert markdown_to_telegram_html("**half bold") == "**half bold"
    assert markdown_to_telegram_html("```\ncode still open") == \
        "<pre><code>code still open</code></pre>"


# -- link codes on the profile page ----------------------------------------------------------

@pytest.mark.django_db
def test_profile_shows_the_link_block_and_makes_a_one_time_code(client, user):
    client.force_login(user)
    profile = client.get("/accounts/profile/").content.decode()
    assert "Link a messenger" in profile and "No messenger linked yet." in profile
    assert client.get("/integrations/link/").status_code == 405
    page = client.post("/integrations/link/")
    assert page.status_code == 200 and page["Cache-Control"].startswith("max-age=0")
    code = re.search(r'id="link-code">/link ([A-Z0-9-]+)<', page.content.decode()).group(1)
    link = LinkCode.objects.get()
    assert code.replace("-", "") not in link.digest  # only the digest is kept
    identity = identity_resolve(platform="telegram", external_id="55", name="Bo")
    assert link_code_redeem(identity=identity, code=code) == user
    profile = client.get("/accounts/profile/").content.decode()
    assert "<td>Bo</td>" in profile and "Unlink" in profile


@pytest.mark.django_db
def test_a_new_code_replaces_the_old_one_and_guests_cannot_make_codes(client, user):
    client.force_login(user)
    first = re.search(r"/link ([A-Z0-9-]+)<", client.post("/integrations/link/").content.decode())
    client.post("/integrations/link/")
    identity = identity_resolve(platform="telegram", external_id="56")
    from conversations.services.errors import ChatError

    with pytest.raises(ChatError):
        link_code_redeem(identity=identity, code=first.group(1))
    client.logout()
    assert client.post("/integrations/link/").status_code == 302  # to the login page
    assert not LinkCode.objects.filter(user__is_guest=True).exists()


@pytest.mark.django_db
def test_unlink_is_for_the_owner_only(client, user, other_user):
    identity = identity_resolve(platform="telegram", external_id="57", name="Cy")
    MessengerIdentity.objects.filter(pk=identity.pk).update(user=user)
    client.force_login(other_user)
    assert client.post(f"/integrations/link/{identity.pk}/unlink/").status_code == 404
    client.force_login(user)
    assert client.post(f"/integrations/link/{identity.pk}/unlink/").status_code == 302
    identity.refresh_from_db()
    assert identity.user != user and identity.user.is_guest and identity.linked_at is None


@pytest.mark.django_db(transaction=True)
def test_with_a_broker_an_accepted_update_goes_to_the_chat_queue(settings, monkeypatch,
                                                                 telegram_integration):
    from chatlab_site.celery import app
    from integrations import tasks
    from integrations.services.inbound import Inbound, inbound_accept

    settings.CELERY_TASK_ALWAYS_EAGER = False
    sent: list[tuple[tuple, dict]] = []
    monkeypatch.setattr(tasks.handle_inbound, "apply_async",
                        lambda args, **options: sent.append((args, options)))
    inbound = Inbound(integration_id=telegram_integration.pk, delivery_key="u-1", sender_id="9",
                      sender_name="Di", chat_id="9", text="hi")
    assert inbound_accept(inbound) is True
    assert inbound_accept(inbound) is False  # the same delivery again: nothing queued
    [(args, options)] = sent
    assert args == (inbound.to_dict(),) and options["queue"] == "chat"
    route = app.amqp.router.route({}, "integrations.tasks.handle_inbound")
    assert route["queue"].name == "chat"


@pytest.mark.django_db
def test_old_deliveries_and_spent_codes_are_forgotten(telegram_integration, user):
    from datetime import timedelta

    from django.utils import timezone
    from django_celery_beat.models import PeriodicTask

    from integrations.models import Delivery
    from integrations.services.people import link_code_create
    from integrations.tasks import forget_deliveries

    old = Delivery.objects.create(integration=telegram_integration, key="old")
    Delivery.objects.filter(pk=old.pk).update(received_at=timezone.now() - timedelta(days=4))
    Delivery.objects.create(integration=telegram_integration, key="new")
    link_code_create(user=user)
    LinkCode.objects.update(expires_at=timezone.now() - timedelta(days=2))
    assert forget_deliveries() == 2
    assert list(Delivery.objects.values_list("key", flat=True)) == ["new"]
    assert not LinkCode.objects.exists()
    # The schedule (made by a data migration; an earlier transactional test may have emptied
    # the table, so it is made again here the same way).
    from django.apps import apps
    from importlib import import_module

    import_module("integrations.migrations.0002_cleanup_schedule").schedule(apps, None)
    task = PeriodicTask.objects.get(task="integrations.tasks.forget_deliveries")
    assert task.queue == "maintenance" and task.interval.period == "days"
