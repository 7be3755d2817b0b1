# AccountEvent moves from responses to accounts (issue 25): the model's state only. The table
# (responses_accountevent), its rows and its append-only triggers stay as they are.

import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("accounts", "0004_servers_server_scope"),
        ("responses", "0027_servers_scope_event_kind"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.CreateModel(
                    name='AccountEvent',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                        ('seq', models.PositiveBigIntegerField(unique=True)),
                        ('prev_hash', models.CharField(max_length=64)),
                        ('hash', models.CharField(max_length=64)),
                        ('kind', models.CharField(choices=[('user_created', 'Account created'), ('user_changed', 'Account changed'), ('user_deleted', 'Account deleted'), ('groups_changed', 'Groups changed'), ('device_added', '2FA device added'), ('device_removed', '2FA device removed'), ('sign_in_refused', 'Directory sign-in refused'), ('identity_relinked', 'Directory identity relinked'), ('scope_changed', 'KSC servers (tenants) changed')], max_length=20)),
                        ('actor_username', models.CharField(max_length=150)),
                        ('subject_username', models.CharField(max_length=150)),
                        ('detail', models.JSONField(blank=True, default=dict)),
                    ],
                    options={
                        'db_table': 'responses_accountevent',
                        'ordering': ['-seq'],
                        'abstract': False,
                    },
                ),
            ],
        ),
    ]
