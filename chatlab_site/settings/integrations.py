"""Messengers (issue #9): where the platforms' APIs live and how messenger replies behave.

The API base URLs are settings so tests point the real client libraries at local fakes; in
production they stay at their defaults. Integrations themselves (tokens, secrets, which bot) are
rows set up in the admin, not settings.
"""

from __future__ import annotations

from chatlab_site import env

# Telegram Bot API server (aiogram's TelegramAPIServer.from_base): a local Bot API server or a
# test fake; requests go to <URL>/bot<token>/<method>.
CHATLAB_TELEGRAM_API_URL = env.url(
    "CHATLAB_TELEGRAM_API_URL", schemes=("http", "https"), default="https://api.telegram.org"
)
# Slack's Web API (slack-sdk's base_url) and Discord's HTTP API (httpx's base_url).
CHATLAB_SLACK_API_URL = env.url(
    "CHATLAB_SLACK_API_URL", schemes=("http", "https"), default="https://slack.com/api/"
)
CHATLAB_DISCORD_API_URL = env.url(
    "CHATLAB_DISCORD_API_URL", schemes=("http", "https"), default="https://discord.com/api/v10"
)
# Seconds between edits of a growing Telegram reply: Telegram allows about one a second per chat.
CHATLAB_TELEGRAM_EDIT_INTERVAL = env.decimal("CHATLAB_TELEGRAM_EDIT_INTERVAL", 1.0, minimum=0.0)
# Minutes a one-time code from the profile page stays valid for /link.
CHATLAB_LINK_CODE_MINUTES = env.integer("CHATLAB_LINK_CODE_MINUTES", 10, minimum=1)
# Attempts at one call to a messenger's API when it answers 429 or 5xx (honouring retry_after),
# and the longest retry_after that is waited out instead of giving up.
CHATLAB_MESSENGER_RETRIES = env.integer("CHATLAB_MESSENGER_RETRIES", 3, minimum=1)
CHATLAB_MESSENGER_MAX_RETRY_AFTER = env.decimal(
    "CHATLAB_MESSENGER_MAX_RETRY_AFTER", 30.0, minimum=0.0
)
