"""ChainVerification: each verification of the audit chains, kept for the pages (docs/audit-chain.md)."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('responses', '0017_decision_and_event_kinds'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
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
                'ordering': ['-finished_at', '-id'],
            },
        ),
    ]
