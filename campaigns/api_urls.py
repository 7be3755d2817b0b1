from __future__ import annotations

from django.urls import path

from campaigns import api
from responses import policy

app_name = "campaigns_api"
urlpatterns = [
    path("", api.CampaignListView.as_view(), name="list"),
    path("<str:key>/", api.CampaignDetailView.as_view(), name="detail"),
    path("<str:key>/hosts/", api.CampaignHostsView.as_view(), name="hosts"),
    *[
        path(f"<str:key>/{action}/", api.CampaignActionView.as_view(action_name=action), name=action)
        for action in (policy.APPROVE, policy.REJECT, policy.PAUSE, policy.RESUME, policy.ABORT, policy.REVERSE)
    ],
]
