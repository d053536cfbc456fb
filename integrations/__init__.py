"""Telegram, Discord and Slack bots over webhooks. Built by the messenger issue."""
