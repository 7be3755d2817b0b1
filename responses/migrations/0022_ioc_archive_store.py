"""IOC archives uploaded with a preview, kept server-side by their SHA-256 until filed (issue 23, point 16).

The signed preview names the archive by its digest instead of carrying it to the browser and back;
the keeper deletes rows older than the preview's lifetime (responses/ioc_store.py).
"""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('responses', '0021_integrity_reproof'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='StoredIocArchive',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('sha256', models.CharField(max_length=64)),
                ('data', models.BinaryField()),
                ('stored_at', models.DateTimeField(db_index=True, default=django.utils.timezone.now)),
                ('user', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'constraints': [models.UniqueConstraint(fields=('user', 'sha256'), name='stored_ioc_archive_once_per_user')],
            },
        ),
    ]
