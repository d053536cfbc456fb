"""A full-text index over message text on PostgreSQL (SQLite searches without one), and the
nightly task that empties expired trash."""

from django.db import migrations

TASK = "conversations.tasks.empty_trash"
INDEX = "msg_content_fts"


def _index():
    from django.contrib.postgres.indexes import GinIndex
    from django.contrib.postgres.search import SearchVector

    # The very expression conversations_search filters on, so PostgreSQL uses it.
    return GinIndex(SearchVector("content", config="simple"), name=INDEX)


def add_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.add_index(apps.get_model("conversations", "Message"), _index())


def drop_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.remove_index(apps.get_model("conversations", "Message"), _index())


def schedule(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    nightly, _ = CrontabSchedule.objects.get_or_create(
        minute="41", hour="3", day_of_week="*", day_of_month="*", month_of_year="*"
    )
    PeriodicTask.objects.get_or_create(
        name="Empty expired trash",
        defaults={"task": TASK, "crontab": nightly, "queue": "maintenance"},
    )


def unschedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(task=TASK).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("conversations", "0003_conversation_memory"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]
    operations = [
        migrations.RunPython(add_index, drop_index),
        migrations.RunPython(schedule, unschedule),
    ]
