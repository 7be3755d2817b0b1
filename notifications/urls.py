from __future__ import annotations

from django.urls import path

from notifications import chat_views, views

app_name = "notifications"
urlpatterns = [
    path("preferences/", views.preferences, name="preferences"),
    path("live.json", views.live, name="live"),
    path("mailbox/", views.mailbox_view, name="mailbox"),
    # Chat buttons (notifications/chat_views.py): verified by signature, hence without CSRF tokens.
    path("chat/slack/interactions/", chat_views.slack_interactions, name="slack_interactions"),
    path("chat/mattermost/actions/", chat_views.mattermost_actions, name="mattermost_actions"),
    path("chat/mattermost/dialog/", chat_views.mattermost_dialog, name="mattermost_dialog"),
]
