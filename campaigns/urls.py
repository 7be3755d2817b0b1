from __future__ import annotations

from django.urls import path

from campaigns import views
from responses import policy

app_name = "campaigns"
urlpatterns = [
    path("", views.campaign_list, name="list"),
    path("new/", views.new, name="new"),
    path("<uuid:key>/", views.detail, name="detail"),
    *[
        path(f"<uuid:key>/{action}/", views.act, {"action": action}, name=action)
        for action in (policy.APPROVE, policy.REJECT, policy.PAUSE, policy.RESUME, policy.ABORT, policy.REVERSE)
    ],
]
