"""The daily backup, the daily restore drill (both on the maintenance queue) and the retention
policy's row, with their defaults; edited in the admin afterwards."""

from django.db import migrations


def forwards(apps, schema_editor):
    from chatlab_site.ops.schedule import schedule_ensure

    schedule_ensure(periodic_task=apps.get_model("django_celery_beat", "PeriodicTask"),
                    crontab=apps.get_model("django_celery_beat", "CrontabSchedule"),
                    retention_policy=apps.get_model("ops", "RetentionPolicy"))


def backwards(apps, schema_editor):
    from chatlab_site.ops.schedule import TASKS

    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(
        task__in=[task for _name, task, _m, _h in TASKS]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("ops", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
