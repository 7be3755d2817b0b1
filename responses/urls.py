from __future__ import annotations

from django.urls import path

from responses import attention_views, audit, comment_views, decide_views, host_views, views, workflow

app_name = "responses"
urlpatterns = [
    path("", views.home, name="home"),
    path("requests/new/", views.new_request, name="new"),
    path("requests/mine/", views.my_requests, name="mine"),
    path("requests/", views.all_requests, name="all"),
    path("requests/export.csv", views.export_csv, name="export"),
    path("requests/<uuid:key>/", views.request_detail, name="detail"),
    path("requests/<uuid:key>/approve/", views.act, {"action": workflow.APPROVE}, name="approve"),
    path("requests/<uuid:key>/reject/", views.act, {"action": workflow.REJECT}, name="reject"),
    path("requests/<uuid:key>/cancel/", views.act, {"action": workflow.CANCEL}, name="cancel"),
    path("requests/<uuid:key>/approve/confirm/", decide_views.approve_link, name="approve_link"),
    path("requests/<uuid:key>/comment/", comment_views.add_comment, name="comment"),
    path("requests/<uuid:key>/retry/", views.act, {"action": workflow.RETRY}, name="retry"),
    path("approvals/", views.approval_queue, name="queue"),
    path("attention/", attention_views.needs_attention, name="attention"),
    path("hosts/search", views.host_search, name="host_search"),
    path("hosts/<str:server>/<str:host_id>/", host_views.host_detail, name="host"),
    # Links from before several servers: the host on the user's default server.
    path("hosts/<str:host_id>/", host_views.host_on_default_server, name="host_default"),
    path("audit/export.jsonl", audit.export_jsonl, name="audit_export"),
    path("audit/accounts/", audit.account_events, name="account_events"),
    path("audit/chain/", audit.chain_status, name="audit_chain"),
    path("audit/chain/history/", audit.chain_history, name="audit_chain_history"),
]
