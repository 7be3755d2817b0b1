from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("notifications", "0003_comment_escalation_kinds"),
    ]

    operations = [
        migrations.AddField(
            model_name="notification",
            name="next_try_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]
