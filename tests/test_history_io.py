"""Export and import (issue #6, part 4): Chatlab JSON round trips byte for byte, ChatGPT's
conversations.json (a sample built here in its real shape), Markdown, and hostile files."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.services.tokens import api_token_create
from conversations.models import Conversation, ImportJob, Message
from conversations.services.errors import ChatError
from conversations.services.history_export import export_json, export_markdown, exportable
from conversations.services.history_import import import_bytes, read_file
from conversations.services.messages import reply_regenerate
from tests.factories import ConversationFactory, MessageFactory, UserFactory

HOSTILE_TEXT = '<script>alert("x")</script><img src=x onerror=alert(1)> & "quotes" 日本語 🙂'


@pytest.fixture
def api(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_token_create(user=user, name='t')[1]}")
    return client


def rich_history(user, bot) -> list[Conversation]:
    """Two conversations with every field set: a pin, an archive, a summary, a regenerated
    reply (previous version), a failed reply, tokens and timings, HTML and non-Latin text."""
    first = ConversationFactory(owner=user, bot=bot, title="Soup " + HOSTILE_TEXT)
    asked = MessageFactory(conversation=first, content="How do I make soup? " + HOSTILE_TEXT)
    MessageFactory(conversation=first, role=Message.Role.ASSISTANT, reply_to=asked,
                   content="Boil water.", model="demo", prompt_tokens=12,
                   completion_tokens=3, ttft_ms=40, total_ms=90)
    old = Message.objects.filter(conversation=first, role="assistant").get()
    new = reply_regenerate(user=user, message_id=old.pk)
    Message.objects.filter(pk=new.pk).update(status="failed", error="The reply failed.")
    now = timezone.now()
    Conversation.objects.filter(pk=first.pk).update(
        pinned_at=now, summary="They talked about soup.", summary_through=asked.created_at)
    second = ConversationFactory(owner=user, bot=bot, title="Archived")
    MessageFactory(conversation=second, content="Hello")
    Conversation.objects.filter(pk=second.pk).update(archived_at=now - timedelta(days=1))
    return [first, second]


def test_export_import_export_is_byte_identical(user, demo_bot):
    rich_history(user, demo_bot)
    original = export_json(exportable(user))
    data = json.loads(original)
    assert data["format"] == "chatlab" and data["version"] == 1
    assert len(data["conversations"]) == 2
    first = data["conversations"][0]
    assert [m["superseded_at"] is not None for m in first["messages"]] == [False, True, False]
    assert first["messages"][2]["reply_to"] == 0 and first["messages"][2]["status"] == "failed"

    other = UserFactory()
    assert import_bytes(user=other, raw=original.encode()) == (2, 0)
    assert export_json(exportable(other)) == original
    assert set(Conversation.objects.filter(owner=other).values_list("channel", flat=True)) == {
        "import"}
    # The importer's rows are new rows: the original owner's are untouched.
    assert Conversation.objects.filter(owner=user).count() == 2
    assert export_json(exportable(user)) == original
    # Importing into the same account adds copies and overwrites nothing.
    assert import_bytes(user=user, raw=original.encode()) == (2, 0)
    assert Conversation.objects.filter(owner=user).count() == 4


def test_markdown_export_reads_like_the_thread(user, demo_bot):
    rich_history(user, demo_bot)
    text = export_markdown(exportable(user))
    assert text.startswith("# Soup ")
    assert "**You:**\n\nHow do I make soup?" in text
    assert "(previous version)" in text and "Boil water." in text


def chatgpt_sample() -> bytes:
    """conversations.json as ChatGPT's data export writes it: a list of conversations, each a
    tree of nodes in `mapping`, the shown branch ending at `current_node`."""
    def node(id_, parent, children, role=None, parts=None, t=None):
        message = None
        if role:
            message = {"id": id_, "author": {"role": role, "name": None, "metadata": {}},
                       "create_time": t, "update_time": None,
                       "content": {"content_type": "text", "parts": parts},
                       "status": "finished_successfully", "end_turn": True, "weight": 1.0,
                       "metadata": {"model_slug": "gpt-4o"} if role == "assistant" else {},
                       "recipient": "all"}
        return {"id": id_, "message": message, "parent": parent, "children": children}

    mapping = {
        "root": node("root", None, ["sys"]),
        "sys": node("sys", "root", ["u1"], "system", [""], None),
        "u1": node("u1", "sys", ["a1"], "user", ["Wie koche ich Suppe? " + HOSTILE_TEXT], 1700000000.5),
        "a1": node("a1", "u1", ["u2a", "u2b"], "assistant", ["Wasser kochen."], 1700000005.0),
        "u2a": node("u2a", "a1", ["a2a"], "user", ["Abandoned branch"], 1700000010.0),
        "a2a": node("a2a", "u2a", [], "assistant", ["Not shown"], 1700000011.0),
        "u2b": node("u2b", "a1", ["tool"], "user", ["Und dann?"], 1700000020.0),
        "tool": node("tool", "u2b", ["a2b"], "tool", ["search results"], 1700000021.0),
        "a2b": node("a2b", "tool", [], "assistant", ["Gemüse ", "hinzufügen."], 1700000022.0),
    }
    return json.dumps([
        {"title": "Suppe kochen", "create_time": 1700000000.1, "update_time": 1700000030.0,
         "mapping": mapping, "moderation_results": [], "current_node": "a2b",
         "plugin_ids": None, "conversation_id": "abc", "conversation_template_id": None,
         "gizmo_id": None, "is_archived": False, "safe_urls": [], "default_model_slug": "gpt-4o",
         "id": "abc"},
        {"title": "Empty", "create_time": 1700000100.0, "update_time": 1700000100.0,
         "mapping": {"r": {"id": "r", "message": None, "parent": None, "children": []}},
         "current_node": "r"},
    ]).encode()


def test_chatgpt_conversations_json_imports_the_shown_branch(user, demo_bot):
    assert import_bytes(user=user, raw=chatgpt_sample()) == (2, 0)
    soup = Conversation.objects.get(owner=user, title="Suppe kochen")
    thread = list(soup.messages.order_by("created_at").values_list("role", "content"))
    assert thread == [
        ("user", "Wie koche ich Suppe? " + HOSTILE_TEXT),
        ("assistant", "Wasser kochen."),
        ("user", "Und dann?"),
        ("assistant", "Gemüse \n\nhinzufügen."),
    ]
    assert soup.created_at.timestamp() == pytest.approx(1700000000.1)
    replies = soup.messages.filter(role="assistant").select_related("reply_to")
    assert all(r.reply_to.role == "user" for r in replies)
    assert set(replies.values_list("model", flat=True)) == {"gpt-4o"}


@pytest.mark.parametrize("raw, reason", [
    (b"", "empty"),
    (b"\xff\xfe\x00garbage", "not UTF-8"),
    (b'{"format": "chatlab", "version": 1, "conversations": [', "not valid JSON"),
    (b'{"hello": "world"}', "neither"),
    (b'{"format": "chatlab", "version": 99, "conversations": []}', "version 99"),
    (b'{"format": "chatlab", "version": "1", "conversations": []}', "no valid version"),
    (b"[" * 100_000 + b"]" * 100_000, "nested"),
])
def test_bad_files_are_refused_with_a_reason(user, demo_bot, raw, reason):
    with pytest.raises(ChatError) as refused:
        import_bytes(user=user, raw=raw)
    assert reason in refused.value.message and refused.value.status in (400, 413)
    assert not Conversation.objects.exists()


def test_a_file_over_the_limit_is_refused(user, demo_bot, settings):
    settings.CHATLAB_IMPORT_MAX_BYTES = 2048
    with pytest.raises(ChatError) as refused:
        read_file(b" " * 4096)
    assert refused.value.status == 413 and "limit" in refused.value.message


def test_bad_conversations_are_skipped_whole_and_others_kept(user, other_user, demo_bot):
    theirs = ConversationFactory(owner=other_user, bot=demo_bot, title="theirs")
    their_message = MessageFactory(conversation=theirs, content="their words")
    good = {"title": "ok", "bot": "demo", "created_at": "2026-01-01T00:00:00+00:00",
            "updated_at": "2026-01-01T00:00:00+00:00",
            "messages": [{"role": "user", "content": "fine\x00", "created_at": "2026-01-01T00:00:00"}]}
    bad_role = {**good, "messages": [{**good["messages"][0], "role": "system"}]}
    bad_ref = {**good, "messages": [{**good["messages"][0], "reply_to": 5}]}
    half_bad = {**good, "messages": [good["messages"][0], {"role": "assistant", "content": 5,
                                                           "created_at": "2026-01-01T00:00:01"}]}
    bad_date = {**good, "created_at": "yesterday"}
    # Someone else's ids in the file change nothing: ids are never read from a file.
    foreign = {**good, "id": str(theirs.pk), "title": "mine now",
               "messages": [{**good["messages"][0], "id": str(their_message.pk)}]}
    raw = json.dumps({"format": "chatlab", "version": 1,
                      "conversations": [good, bad_role, bad_ref, half_bad, bad_date, "x", foreign]})
    assert import_bytes(user=user, raw=raw.encode()) == (2, 5)
    mine = Conversation.objects.filter(owner=user)
    assert sorted(mine.values_list("title", flat=True)) == ["mine now", "ok"]
    assert Message.objects.filter(conversation__owner=user).count() == 2  # no half conversation
    assert Message.objects.filter(conversation__owner=user, content="fine").count() == 2
    theirs.refresh_from_db()
    their_message.refresh_from_db()
    assert theirs.owner == other_user and theirs.title == "theirs"
    assert their_message.content == "their words"


def test_an_import_job_through_the_api_reports_progress(api, user, demo_bot,
                                                      django_capture_on_commit_callbacks):
    upload = SimpleUploadedFile("conversations.json", chatgpt_sample(), "application/json")
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post("/api/v1/imports/", {"file": upload}, format="multipart")
    assert response.status_code == 202
    job = response.json()
    # Embedded mode runs the task at once; with a broker the client polls the same URL.
    polled = api.get(f"/api/v1/imports/{job['id']}/").json()
    assert polled["status"] == "done" and polled["format"] == "chatgpt"
    assert (polled["total"], polled["done"], polled["imported"]) == (2, 2, 2)
    assert not ImportJob.objects.get(pk=job["id"]).file  # the upload is not kept


def test_a_refused_import_job_says_why(api, user, demo_bot, django_capture_on_commit_callbacks):
    upload = SimpleUploadedFile("x.json", b'{"truncated": ', "application/json")
    with django_capture_on_commit_callbacks(execute=True):
        job = api.post("/api/v1/imports/", {"file": upload}, format="multipart").json()
    job = api.get(f"/api/v1/imports/{job['id']}/").json()
    assert job["status"] == "failed" and "not valid JSON" in job["error"]
    assert api.post("/api/v1/imports/", {}, format="multipart").status_code == 400


def test_export_endpoints(api, user, demo_bot):
    first, _ = rich_history(user, demo_bot)
    one = api.get(f"/api/v1/conversations/{first.pk}/export/")
    assert one.status_code == 200 and one["Content-Type"].startswith("application/json")
    assert len(json.loads(one.getvalue())["conversations"]) == 1
    md = api.get(f"/api/v1/conversations/{first.pk}/export/?format=markdown")
    assert md["Content-Type"].startswith("text/markdown") and b"# Soup" in md.getvalue()
    everything = api.get("/api/v1/export/")
    assert len(json.loads(everything.getvalue())["conversations"]) == 2
    assert api.get("/api/v1/export/?format=pdf").status_code == 400


def test_the_import_page_uploads_and_shows_the_outcome(logged_in, user, demo_bot,
                                                      django_capture_on_commit_callbacks):
    upload = SimpleUploadedFile("conversations.json", chatgpt_sample(), "application/json")
    with django_capture_on_commit_callbacks(execute=True):
        response = logged_in.post("/import/", {"file": upload})
    body = logged_in.get(response["Location"]).content.decode()
    assert "2 imported, 0 skipped" in body
    bad = SimpleUploadedFile("bad.json", b"nope", "application/json")
    with django_capture_on_commit_callbacks(execute=True):
        logged_in.post("/import/", {"file": bad})
    body = logged_in.get("/import/").content.decode()
    assert "not valid JSON" in body
    export = logged_in.get("/export.json")
    assert export.status_code == 200 and len(json.loads(export.getvalue())["conversations"]) == 2
    assert logged_in.get("/export.pdf").status_code == 404


def test_administrators_see_import_jobs_read_only(client, user, django_assert_max_num_queries):
    for n in range(3):
        ImportJob.objects.create(owner=user, filename=f"export-{n}.json", format="chatgpt",
                                 status="failed", error="Not a ChatGPT export.")
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    # One page of jobs with their owners: a fixed number of queries, not one per job.
    with django_assert_max_num_queries(12):
        page = client.get("/admin/conversations/importjob/")
    assert page.status_code == 200
    body = page.content.decode()
    assert "export-2.json" in body and "Not a ChatGPT export." in body and user.email in body
    assert client.get("/admin/conversations/importjob/add/").status_code == 403
    job = ImportJob.objects.first()
    response = client.post(f"/admin/conversations/importjob/{job.pk}/change/",
                           {"status": "done", "error": ""})
    assert response.status_code == 403
    job.refresh_from_db()
    assert job.status == "failed"
