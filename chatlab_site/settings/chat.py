"""Chat pipeline limits and tuning."""

from __future__ import annotations

from chatlab_site import env

from .base import REDIS_URL

# The longest message a person may send, in characters.
CHATLAB_MAX_MESSAGE_CHARS = env.integer("CHATLAB_MAX_MESSAGE_CHARS", 32_000, minimum=1)
# Deltas after the first are coalesced into frames of this many milliseconds.
CHATLAB_COALESCE_MS = env.integer("CHATLAB_COALESCE_MS", 50, minimum=0)
# Seconds until the first checkpoint of a growing reply; each later one waits CHECKPOINT_GROWTH
# times longer, so a reply costs a handful of writes however long it runs.
CHATLAB_CHECKPOINT_SECONDS = env.decimal("CHATLAB_CHECKPOINT_SECONDS", 30.0, minimum=0.1)
CHATLAB_CHECKPOINT_GROWTH = env.decimal("CHATLAB_CHECKPOINT_GROWTH", 4.0, minimum=1.0)
# Where those checkpoints go: "cache" (Redis) keeps a reply's database writes at a handful
# however long it runs, and the sweep saves the text from there if its process dies;
# "database" writes each one to the message. Embedded mode's cache dies with its process.
CHATLAB_CHECKPOINTS = env.choice(
    "CHATLAB_CHECKPOINTS", ("cache", "database"), "cache" if REDIS_URL else "database"
)
# In "cache" mode a growing reply is saved there at once and then every this many seconds (a
# cheap Redis write): what readers saw survives a process that dies early in a reply.
CHATLAB_CHECKPOINT_CACHE_SECONDS = env.decimal(
    "CHATLAB_CHECKPOINT_CACHE_SECONDS", 1.0, minimum=0.05)
# Hard limit on one reply, start to finish.
CHATLAB_REPLY_TIMEOUT = env.integer("CHATLAB_REPLY_TIMEOUT", 600, minimum=10)
# A pending or streaming reply that no process owns for this long is marked interrupted.
CHATLAB_STALE_REPLY_SECONDS = env.integer("CHATLAB_STALE_REPLY_SECONDS", 60, minimum=5)
# Threads (each with its own database connection) on which a web process stores chat messages,
# so sockets' writes overlap instead of queueing on one thread. 0 keeps them on Django's one
# shared thread; SQLite always does.
CHATLAB_CHAT_DB_THREADS = env.integer("CHATLAB_CHAT_DB_THREADS", 8, minimum=0)

# Seeds a real bot at start-up (`manage.py seed_bots`); without a key the demo bot is seeded.
OPENAI_API_KEY = env.string("OPENAI_API_KEY")
OPENAI_BASE_URL = env.url("OPENAI_BASE_URL", schemes=("http", "https"))
OPENAI_MODEL = env.string("OPENAI_MODEL", "gpt-4o-mini")
# ...and an image model on the same provider (empty: none; servers without images, like Ollama).
OPENAI_IMAGE_MODEL = env.string("OPENAI_IMAGE_MODEL", "gpt-image-1").strip()
# How fast the offline demo bot "types".
CHATLAB_DEMO_TOKENS_PER_SECOND = env.decimal("CHATLAB_DEMO_TOKENS_PER_SECOND", 40.0, minimum=0)

# Conversation memory (issue #6).
# Conversations in the trash are deleted for good after this many days (a nightly task).
CHATLAB_TRASH_RETENTION_DAYS = env.integer("CHATLAB_TRASH_RETENTION_DAYS", 30, minimum=1)
# The largest history file a person may import, in bytes (Chatlab or ChatGPT JSON).
CHATLAB_IMPORT_MAX_BYTES = env.integer("CHATLAB_IMPORT_MAX_BYTES", 50 * 1024 * 1024, minimum=1024)
# The most conversations one import may hold; a file with more is refused before any is written.
CHATLAB_IMPORT_MAX_CONVERSATIONS = env.integer("CHATLAB_IMPORT_MAX_CONVERSATIONS", 5000, minimum=1)
# Once a conversation's first exchange is complete, the bot's model writes it a short title in
# the conversation's language (Celery queue `chat`); otherwise the first message is the title.
CHATLAB_AUTO_TITLES = env.boolean("CHATLAB_AUTO_TITLES", True)
