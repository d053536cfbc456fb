"""Schedules the usage rollup (every ten minutes: today and yesterday) and the nightly
popular-topics analysis, both on the `maintenance` queue."""

from django.db import migrations

ROLLUP = "analytics.tasks.rollup_usage"
TOPICS = "analytics.tasks.find_topics"


def schedule(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every_ten_minutes, _ = IntervalSchedule.objects.get_or_create(every=600, period="seconds")
    PeriodicTask.objects.get_or_create(
        name="Roll up usage analytics",
        defaults={"task": ROLLUP, "interval": every_ten_minutes, "queue": "maintenance"},
    )
    nightly, _ = CrontabSchedule.objects.get_or_create(
        minute="23", hour="2", day_of_week="*", day_of_month="*", month_of_year="*"
    )
    PeriodicTask.objects.get_or_create(
        name="Find popular topics",
        defaults={"task": TOPICS, "crontab": nightly, "queue": "maintenance"},
    )


def unschedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(
        task__in=[ROLLUP, TOPICS]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("analytics", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(schedule, unschedule)]
