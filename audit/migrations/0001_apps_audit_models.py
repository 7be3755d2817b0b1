# The anchors and the kept verifications move from responses to audit (issue 25): the models' state
# only. The tables (responses_auditanchor, responses_chainverification), their rows and the
# anchors' append-only triggers stay as they are.

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
        ("responses", "0027_servers_scope_event_kind"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.CreateModel(
                    name='AuditAnchor',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                        ('seq', models.PositiveBigIntegerField(unique=True)),
                        ('prev_hash', models.CharField(max_length=64)),
                        ('hash', models.CharField(max_length=64)),
                        ('heads', models.JSONField(default=dict)),
                    ],
                    options={
                        'db_table': 'responses_auditanchor',
                        'ordering': ['-seq'],
                        'abstract': False,
                    },
                ),
                migrations.CreateModel(
                    name='ChainVerification',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('started_at', models.DateTimeField()),
                        ('finished_at', models.DateTimeField(db_index=True)),
                        ('source', models.CharField(choices=[('user', 'an auditor'), ('schedule', 'the scheduled check'), ('command', 'manage.py verify_audit')], max_length=10)),
                        ('username', models.CharField(blank=True, max_length=150)),
                        ('intact', models.BooleanField()),
                        ('events', models.PositiveBigIntegerField(default=0)),
                        ('request_chains', models.PositiveBigIntegerField(default=0)),
                        ('account_events', models.PositiveBigIntegerField(default=0)),
                        ('anchors', models.PositiveBigIntegerField(default=0)),
                        ('unanchored', models.PositiveBigIntegerField(default=0)),
                        ('latest_anchor', models.DateTimeField(blank=True, null=True)),
                        ('against', models.CharField(blank=True, max_length=500)),
                        ('problems', models.JSONField(blank=True, default=list)),
                        ('problem_count', models.PositiveIntegerField(default=0)),
                        ('user', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        'db_table': 'responses_chainverification',
                        'ordering': ['-finished_at', '-id'],
                    },
                ),
            ],
        ),
    ]
