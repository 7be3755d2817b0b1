"""The accounts chain records refused directory sign-ins and an administrator's relinking (accounts/directory.py)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("responses", "0019_ioc_archive_names"),
    ]

    operations = [
        migrations.AlterField(
            model_name="accountevent",
            name="kind",
            field=models.CharField(
                choices=[
                    ("user_created", "Account created"),
                    ("user_changed", "Account changed"),
                    ("user_deleted", "Account deleted"),
                    ("groups_changed", "Groups changed"),
                    ("device_added", "2FA device added"),
                    ("device_removed", "2FA device removed"),
                    ("sign_in_refused", "Directory sign-in refused"),
                    ("identity_relinked", "Directory identity relinked"),
                ],
                max_length=20,
            ),
        ),
    ]
