"""Search, the quota check and the conversation list at scale on PostgreSQL (issue #20).

- Every message carries its conversation's owner (`owner_id`), kept by triggers, so that a
  person's search and today's usage read their own rows through an index instead of probing
  each of their conversations. Triggers rather than code: every writer (sends, edits, imports,
  bulk inserts, a guest's conversation moving to a new account) stays right without knowing.
- A stored search vector per message (`search`, a generated column): the words stemmed in the
  message's own language (its detected `language` mapped to a text search configuration) plus
  the words as written ("simple"), so exact words, stop words and stems all match, and no query
  recomputes `to_tsvector`. Titles get one too (`title_search`).
- An index in the sidebar's own order (pinned first, then newest), so a page of the list is a
  walk of an index whatever the number of conversations.

None of the three columns is a model field: only PostgreSQL's search and quota code reads them
(services.search, accounts.services.quotas), and SQLite keeps its plain path.
"""

from django.db import migrations

# ISO 639-1 code (Message.language) -> PostgreSQL text search configuration; others: "simple".
# Keep in step with conversations.services.search.LANGUAGE_CONFIGS.
LANGUAGE_CONFIGS = {
    "en": "english", "ru": "russian", "de": "german", "es": "spanish", "fr": "french",
    "it": "italian", "pt": "portuguese", "nl": "dutch",
}
_CASE = "CASE language {} ELSE 'simple'::regconfig END".format(
    " ".join(f"WHEN '{code}' THEN '{config}'::regconfig"
             for code, config in LANGUAGE_CONFIGS.items())
)

FORWARD = f"""
ALTER TABLE conversations_message ADD COLUMN owner_id bigint;
UPDATE conversations_message m SET owner_id = c.owner_id
  FROM conversations_conversation c WHERE c.id = m.conversation_id;

CREATE FUNCTION conversations_message_owner() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.owner_id := (SELECT owner_id FROM conversations_conversation
                   WHERE id = NEW.conversation_id);
  RETURN NEW;
END $$;
CREATE TRIGGER conversations_message_owner
  BEFORE INSERT OR UPDATE OF conversation_id ON conversations_message
  FOR EACH ROW EXECUTE FUNCTION conversations_message_owner();

CREATE FUNCTION conversations_conversation_owner_moved() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE conversations_message SET owner_id = NEW.owner_id WHERE conversation_id = NEW.id;
  RETURN NULL;
END $$;
CREATE TRIGGER conversations_conversation_owner_moved
  AFTER UPDATE OF owner_id ON conversations_conversation
  FOR EACH ROW WHEN (OLD.owner_id IS DISTINCT FROM NEW.owner_id)
  EXECUTE FUNCTION conversations_conversation_owner_moved();

ALTER TABLE conversations_message ADD COLUMN search tsvector GENERATED ALWAYS AS (
  to_tsvector({_CASE}, content) || to_tsvector('simple'::regconfig, content)
) STORED;
ALTER TABLE conversations_conversation ADD COLUMN title_search tsvector GENERATED ALWAYS AS (
  to_tsvector('simple'::regconfig, title)
) STORED;

DROP INDEX IF EXISTS msg_content_fts;
CREATE INDEX msg_search ON conversations_message USING gin (search);
CREATE INDEX conv_title_search ON conversations_conversation USING gin (title_search);
CREATE INDEX msg_owner_time ON conversations_message (owner_id, created_at);
CREATE INDEX conv_owner_listed ON conversations_conversation
  (owner_id, pinned_at DESC NULLS LAST, updated_at DESC) WHERE deleted_at IS NULL;
"""

BACKWARD = """
DROP INDEX IF EXISTS conv_owner_listed;
DROP INDEX IF EXISTS msg_owner_time;
DROP INDEX IF EXISTS conv_title_search;
DROP INDEX IF EXISTS msg_search;
ALTER TABLE conversations_conversation DROP COLUMN title_search;
ALTER TABLE conversations_message DROP COLUMN search;
DROP TRIGGER conversations_conversation_owner_moved ON conversations_conversation;
DROP FUNCTION conversations_conversation_owner_moved();
DROP TRIGGER conversations_message_owner ON conversations_message;
DROP FUNCTION conversations_message_owner();
ALTER TABLE conversations_message DROP COLUMN owner_id;
CREATE INDEX msg_content_fts ON conversations_message
  USING gin (to_tsvector('simple'::regconfig, COALESCE(content, '')));
"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARD, params=None)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKWARD, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("conversations", "0009_bot_capabilities"),
    ]
    operations = [
        migrations.RunPython(forward, backward),
    ]
