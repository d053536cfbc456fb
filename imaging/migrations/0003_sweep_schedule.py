"""Schedules the sweep that fails image jobs a dead worker left behind."""

from django.db import migrations

TASK = "imaging.tasks.sweep_image_jobs"


def schedule(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every_5_minutes, _ = IntervalSchedule.objects.get_or_create(every=300, period="seconds")
    PeriodicTask.objects.get_or_create(
        name="Fail interrupted image jobs",
        defaults={"task": TASK, "interval": every_5_minutes, "queue": "maintenance"},
    )


def unschedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(task=TASK).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("imaging", "0002_demo_image_model"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(schedule, unschedule)]
