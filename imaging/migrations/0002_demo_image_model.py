from django.db import migrations


def demo_model(apps, schema_editor):
    # The built-in demo drawing, so images work offline on a fresh install.
    ImageModel = apps.get_model("imaging", "ImageModel")
    if not ImageModel.objects.exists():
        ImageModel.objects.create(name="Demo pictures", slug="demo", model="demo",
                                  provider=None, is_default=True)


class Migration(migrations.Migration):
    dependencies = [("imaging", "0001_initial")]
    operations = [migrations.RunPython(demo_model, migrations.RunPython.noop)]
