"""The chat page's own behaviour in Chromium (issue #21's "Bugs seen"): what a page shows right
after a send without a reload, the ⋯ menu, icons, the streaming cursor.

One stack and one browser serve the module; each test opens its own browser context and fails
on any console error or Content-Security-Policy violation.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser_support import (
    CONVERSATION_URL, Site, checked_page, fake_site, last_reply, new_context, open_chat,
    playwright_test, send, signed_in_chromium, wait_status, wait_until,
)
from tests.fakes.openai_server import Behaviour

pytestmark = pytest.mark.browser

SETUP = """
from accounts.models import User
from conversations.models import Bot, Provider
p = Provider.objects.create(name='F', kind='openai', base_url={url!r}, api_key='sk-x',
                            timeout=5, max_retries=1)
Bot.objects.update(is_default=False)
Bot.objects.create(name='Fake', slug='fake', provider=p, model='gpt-4o-mini', position=1,
                   is_default=True)
User.objects.create_user({email!r}, {password!r})
from accounts.models import RolePolicy
assert RolePolicy.objects.filter(role='guest').update(messages_per_day=2, all_bots=True) == 1
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    with fake_site(tmp_path_factory.mktemp("pages"), SETUP, person="pages") as site:
        yield site


@pytest.fixture(scope="module")
def browser(site: Site) -> Iterator[Browser]:
    with signed_in_chromium(site) as browser:
        yield browser


@pytest.fixture
def page(browser: Browser, site: Site) -> Iterator[Page]:
    with checked_page(browser, site) as page:
        yield page


def conversation_id(page: Page) -> str:
    return page.url.rstrip("/").rsplit("/", 1)[-1]


@playwright_test
def test_a_message_just_sent_can_be_edited_without_a_reload(page: Page, site: Site) -> None:
    site.fake.script(Behaviour(text="First answer.", rate=0), Behaviour(text="Second.", rate=0))
    open_chat(page, bot="fake")
    send(page, "What is a lighthouse?")
    wait_status(page, "complete")
    edit = page.locator("#messages article.message.user .meta button.edit")
    expect(edit).to_have_count(1)
    edit.click()
    page.fill("#messages .edit-form textarea", "What is a lightship?")
    page.locator("#messages .edit-form button[type=submit]").click()
    expect(last_reply(page).locator(".body")).to_have_text("Second.")
    wait_status(page, "complete")
    assert site.fake.requests[-1]["body"]["messages"][-1]["content"] == "What is a lightship?"
    # The question it replaced, with its answer, is listed under it as after a reload.
    versions = page.locator("#messages article.message.user details.versions")
    versions.locator("summary").click()
    expect(versions.locator(".version")).to_have_text(["What is a lighthouse?", "First answer."])
    page.reload()
    versions.locator("summary").click()
    expect(versions.locator(".version")).to_have_text(["What is a lighthouse?", "First answer."])


@playwright_test
def test_a_conversation_started_on_the_page_has_its_menu(page: Page, site: Site) -> None:
    site.fake.script(Behaviour(text="Hello.", rate=0))
    open_chat(page, bot="fake")
    expect(page.locator("#conversation-menu")).to_be_hidden()
    send(page, "Name me later")
    page.wait_for_url(CONVERSATION_URL)
    wait_status(page, "complete")
    menu = page.locator("#conversation-menu")
    expect(menu).to_be_visible()
    menu.locator("summary").click()
    expect(page.locator("#rename-title")).to_have_value("Name me later")
    page.fill("#rename-title", "Renamed on the page")
    page.locator("#conversation-menu .rename-form button[type=submit]").click()
    expect(page.locator("#chat-title")).to_have_text("Renamed on the page")
    expect(page).to_have_url(re.compile(f"/c/{conversation_id(page)}/$"))
    md = page.locator("#conversation-menu a[href$='export.md']")
    assert md.get_attribute("href") == f"/c/{conversation_id(page)}/export.md"


@playwright_test
def test_a_regenerated_reply_shows_the_earlier_one_at_once(page: Page, site: Site) -> None:
    site.fake.script(Behaviour(text="Version one.", rate=0), Behaviour(text="Version two.", rate=0))
    open_chat(page, bot="fake")
    send(page, "Say something")
    wait_status(page, "complete")
    last_reply(page).locator("button.action").click()
    expect(last_reply(page).locator(".body")).to_have_text("Version two.")
    versions = last_reply(page).locator("details.versions")
    expect(versions.locator("summary")).to_have_text(re.compile(r"\(1\)$"))
    versions.locator("summary").click()
    expect(versions.locator(".version")).to_have_text(["Version one."])
    expect(page.locator("#messages article.message.assistant")).to_have_count(1)



EMOJI_JS = "(sel) => [...document.querySelectorAll(sel)].map((e) => e.textContent).join(' ')"
ICON_DRAWN_JS = """(sel) => [...document.querySelectorAll(sel)].every(
    (u) => u.getBBox().width > 0 && u.getBBox().height > 0)"""


@playwright_test
def test_the_image_and_pin_controls_are_svg_icons_not_emoji(page: Page, site: Site) -> None:
    site.fake.script(Behaviour(text="Pinned.", rate=0))
    open_chat(page, bot="fake")
    send(page, "Pin me")
    wait_status(page, "complete")
    page.locator("#conversation-menu summary").click()
    page.locator("#pin-button").click()
    expect(page.locator("#conversation-list a[data-pinned] .pin svg")).to_have_count(1)
    # A stock desktop without an emoji font draws these as empty boxes: no emoji may be left.
    text = page.evaluate(EMOJI_JS, "#sidebar, .chat-head, #composer")
    assert not re.search(r"[\U0001F300-\U0001FAFF\u2600-\u27BF]", text.replace("☰", "")), text
    # The sprite is served from this site and its symbols are drawn (not a broken reference).
    wait_until(page, ICON_DRAWN_JS, "#image-button svg use, #conversation-list .pin svg use")
    page.screenshot(path="/tmp/pagefix-shots/icons-desktop.png")


@playwright_test
def test_escape_closes_the_conversation_menu(page: Page, site: Site) -> None:
    site.fake.script(Behaviour(text="Hi.", rate=0))
    open_chat(page, bot="fake")
    send(page, "Menu by keyboard")
    wait_status(page, "complete")
    summary = page.locator("#conversation-menu summary")
    summary.focus()
    page.keyboard.press("Enter")
    expect(page.locator("#conversation-menu")).to_have_attribute("open", "")
    page.keyboard.press("Escape")
    expect(page.locator("#conversation-menu")).not_to_have_attribute("open", "")
    expect(summary).to_be_focused()


# The streaming reply's height with its cursor and without: a cursor on a line of its own adds one.
CURSOR_LINE_JS = """() => {
  const el = [...document.querySelectorAll('#messages article.message.assistant')].pop();
  const body = el && el.querySelector('.body');
  if (!body || el.dataset.status !== 'streaming' || body.textContent.length < 20) return null;
  const withCursor = body.getBoundingClientRect().height;
  el.dataset.status = 'measuring';
  const without = body.getBoundingClientRect().height;
  el.dataset.status = 'streaming';
  return {withCursor, without, tag: body.lastElementChild.tagName};
}"""


@pytest.mark.parametrize(("markdown", "tag"), [("> ", "BLOCKQUOTE"), ("- ", "UL"),
                                                ("1. item\n   > ", "OL")])
@playwright_test
def test_the_streaming_cursor_stays_on_the_last_line(page: Page, site: Site, markdown: str,
                                                     tag: str) -> None:
    words = " ".join(f"word{i}" for i in range(60))
    site.fake.script(Behaviour(text=markdown + words, rate=8))
    open_chat(page, bot="fake")
    send(page, "Quote something")
    measured = wait_until(page, CURSOR_LINE_JS)
    page.locator("#stop").click()
    assert measured["tag"] == tag
    assert measured["withCursor"] == measured["without"], measured


@playwright_test
def test_a_guest_sees_the_allowance_count_down_and_a_sign_up_link(browser: Browser,
                                                                  site: Site) -> None:
    site.console_errors.clear()
    site.fake.reset()
    site.fake.script(Behaviour(text="One.", rate=0), Behaviour(text="Two.", rate=0))
    context = new_context(browser, site, logged_in=False)
    page = context.new_page()
    open_chat(page)
    banner = page.locator("#guest-banner")
    expect(banner).to_contain_text("2 messages left today.")
    send(page, "first")
    wait_status(page, "complete")
    expect(banner).to_contain_text("1 message left today.")
    send(page, "second")
    expect(last_reply(page).locator(".body")).to_have_text("Two.")
    expect(banner).to_contain_text("0 messages left today.")
    send(page, "third")
    expect(page.locator("#composer-error")).to_be_visible()
    expect(page.locator("#quota-sign-up")).to_have_attribute("href", "/accounts/signup/")
    page.reload()
    expect(banner).to_contain_text("0 messages left today.")
    context.close()
    assert site.console_errors == []


LONG_THREAD = """
from accounts.models import User
from conversations.models import Bot, Conversation
from tests.conversations.threads import long_thread
chat = Conversation.objects.create(owner=User.objects.get(email={email!r}),
                                   bot=Bot.objects.get(slug='fake'), title='Long one')
long_thread(chat, 300)
print(chat.pk)
"""


@playwright_test
def test_a_long_conversation_opens_at_the_newest_and_loads_earlier_ones_on_scroll(
        page: Page, site: Site) -> None:
    chat = site.stack.shell(LONG_THREAD.format(email=site.email)).strip().splitlines()[-1]
    site.fake.script(Behaviour(text="Still here.", rate=0))
    open_chat(page, f"/c/{chat}/")
    messages = page.locator("#messages article.message")
    expect(messages).to_have_count(50)
    expect(messages.last.locator(".body")).to_have_text("turn 299")
    expect(page.locator("#messages article.message", has_text=re.compile(r"^turn 0$"))).to_have_count(0)
    # At the top, the page before comes in above, and what was read stays where it was.
    page.evaluate("() => { document.getElementById('messages').scrollTop = 0; }")
    expect(messages).to_have_count(100)
    kept = wait_until(page, """() => {
      const list = document.getElementById('messages');
      const was_first = list.querySelectorAll('article.message')[50].getBoundingClientRect();
      const box = list.getBoundingClientRect();
      return list.scrollTop > 0 && Math.abs(was_first.top - box.top) < 80;
    }""")
    assert kept
    # Scrolling to the top again and again brings the earlier pages until the first message.
    for _ in range(40):
        if page.locator("#earlier").count() == 0:
            break
        page.evaluate("() => { document.getElementById('messages').scrollTop = 0; }")
        page.wait_for_timeout(150)
    expect(page.locator("#earlier")).to_have_count(0)
    expect(messages).to_have_count(300)
    texts = [t.strip() for t in messages.locator(".body").all_text_contents()]
    assert texts == [f"turn {n}" for n in range(300)]
    page.evaluate("() => { document.getElementById('messages').scrollTop = 0; }")
    expect(messages.first.locator(".body")).to_be_in_viewport()
    send(page, "And now?")
    expect(last_reply(page).locator(".body")).to_have_text("Still here.")
    wait_status(page, "complete")
    expect(messages).to_have_count(302)
    assert site.fake.requests[-1]["body"]["messages"][-1]["content"] == "And now?"
